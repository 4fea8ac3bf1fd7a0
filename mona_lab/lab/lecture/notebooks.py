"""The lecture's notebooks: find the numbered ones, pick some, and prepare a copy for export.

`discover_notebooks` lists ``NN_name.ipynb`` in numeric order and `select_notebooks` picks
by name, stem or number; `notebook_title` reads a notebook's first heading; on a copy about
to be exported, `add_plotly_html` gives plotly outputs an HTML rendering (the notebooks
store them only as ``application/vnd.plotly.v1+json``, which nbconvert's templates do not
render) and `mark_slides` opens a reveal.js slide at each markdown heading.
"""
from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from mona_lab.errors import MonaLabError

NOTEBOOK_PATTERN = re.compile(r"^(\d+)_.+\.ipynb$")
PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"


def discover_notebooks(notebooks_dir: str | os.PathLike) -> list[Path]:
    """The ``NN_name.ipynb`` files of a folder, sorted by their number (then name).

    Raises:
        MonaLabError: the folder does not exist.
    """
    folder = Path(notebooks_dir)
    if not folder.is_dir():
        raise MonaLabError(f"notebook folder {folder} does not exist")
    found = [p for p in folder.iterdir() if p.is_file() and NOTEBOOK_PATTERN.match(p.name)]
    return sorted(found, key=lambda p: (int(NOTEBOOK_PATTERN.match(p.name).group(1)), p.name))


def select_notebooks(available: Sequence[Path], wanted: Sequence[str] | None) -> list[Path]:
    """Pick notebooks by file name, stem or number prefix (``"05"``), keeping numeric order.

    Raises:
        MonaLabError: a name that matches no notebook (the message lists the available ones).
    """
    if wanted is None:
        return list(available)
    chosen: set[Path] = set()
    for name in wanted:
        key = Path(str(name)).name
        matches = [p for p in available if key in (p.name, p.stem) or p.name.split("_", 1)[0] == key]
        if not matches:
            raise MonaLabError(
                f"no notebook matches {name!r}; available: {', '.join(p.name for p in available) or 'none'}"
            )
        chosen.update(matches)
    return [p for p in available if p in chosen]


def notebook_title(nb) -> str:
    """The first markdown heading of a notebook (``#`` marks stripped), else ''."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.lstrip().startswith("#"):
                    return line.lstrip().lstrip("#").strip()
    return ""


def add_plotly_html(nb) -> int:
    """Give every plotly output (``application/vnd.plotly.v1+json``) a ``text/html``
    rendering that loads plotly.js from its CDN, so nbconvert's templates show it.

    Changes ``nb`` in place (use a copy); returns the number of outputs converted.
    """
    import plotly.io as pio

    converted = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if PLOTLY_MIMETYPE in data and "text/html" not in data:
                data["text/html"] = pio.to_html(data[PLOTLY_MIMETYPE], include_plotlyjs="cdn", full_html=False)
                converted += 1
    return converted


def mark_slides(nb) -> None:
    """If no cell carries ``slideshow`` metadata: markdown cells that start with a heading
    open a new slide, every other cell continues the current one (in place)."""
    if any("slideshow" in cell.metadata for cell in nb.cells):
        return
    for k, cell in enumerate(nb.cells):
        heading = cell.cell_type == "markdown" and cell.source.lstrip().startswith("#")
        cell.metadata["slideshow"] = {"slide_type": "slide" if heading or k == 0 else "-"}
