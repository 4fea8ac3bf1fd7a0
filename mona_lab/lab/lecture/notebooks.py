"""The lecture's notebooks: find the numbered ones, pick some, and prepare a copy for export.

`discover_notebooks` lists ``NN_name.ipynb`` in numeric order and `select_notebooks` picks
by name, stem or number; `notebook_title` reads a notebook's first heading; on a copy about
to be exported, `add_plotly_html` gives plotly outputs an HTML rendering (the notebooks
store them only as ``application/vnd.plotly.v1+json``, which nbconvert's templates do not
render), `replace_widget_views` puts a note where a live widget was (it needs a kernel and
a widget renderer from a CDN) and `mark_slides` opens a slide at each ``#`` / ``##`` section heading.
"""
from __future__ import annotations

import copy
import os
import re
from collections.abc import Sequence
from pathlib import Path

from mona_lab.errors import MonaLabError

NOTEBOOK_PATTERN = re.compile(r"^(\d+)_.+\.ipynb$")
PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"
SECTION_HEADING = re.compile(r"^ {0,3}#{1,2}(?:[ \t]|$)")
WIDGET_MIMETYPE = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = (
    '<p class="mona-widget-note">(An interactive panel stands here in the notebook: open it with '
    "<code>mona-lab lab</code> and run the cell to use it.)</p>"
)


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
    rendering that expects plotly.js already loaded by the page (the export copies
    ``plotly.min.js`` beside the pages and the templates load it once), so nbconvert's
    templates show it without network.

    Changes ``nb`` in place (use a copy); returns the number of outputs converted.
    """
    import plotly.io as pio

    converted = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if PLOTLY_MIMETYPE in data and "text/html" not in data:
                data["text/html"] = pio.to_html(data[PLOTLY_MIMETYPE], include_plotlyjs=False, full_html=False)
                converted += 1
    return converted


def replace_widget_views(nb) -> int:
    """Replace every live widget output (``application/vnd.jupyter.widget-view+json``) by a
    note that the panel runs in JupyterLab, unless the output also carries a picture or HTML
    of its own (then that is shown); drop the notebook's stored widget state.

    Changes ``nb`` in place (use a copy); returns the number of outputs replaced.
    """
    nb.metadata.pop("widgets", None)
    replaced = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_MIMETYPE not in data:
                continue
            del data[WIDGET_MIMETYPE]
            if not any(key.startswith("image/") or key == "text/html" for key in data):
                data["text/html"] = WIDGET_NOTE
            replaced += 1
    return replaced


def _is_section_heading(line: str) -> bool:
    return SECTION_HEADING.match(line) is not None


def split_at_headings(nb) -> int:
    """Split markdown cells before every ``#`` or ``##`` heading that is not their first
    line (outside fenced code), so each section heading starts a cell of its own.

    The pieces keep the cell's metadata and attachments; their ids get ``-1``, ``-2`` ...
    Changes ``nb`` in place (use a copy); returns the number of cells added.
    """
    cells, added = [], 0
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            cells.append(cell)
            continue
        pieces, fenced = [[]], False
        for line in cell.source.splitlines(keepends=True):
            if line.lstrip().startswith(("```", "~~~")):
                fenced = not fenced
            if not fenced and _is_section_heading(line) and "".join(pieces[-1]).strip():
                pieces.append([])
            pieces[-1].append(line)
        cells.append(cell)
        if len(pieces) == 1:
            continue
        cell.source = "".join(pieces[0]).rstrip("\n")
        for k, piece in enumerate(pieces[1:], start=1):
            extra = copy.deepcopy(cell)
            extra.source = "".join(piece).rstrip("\n")
            if "id" in extra:
                extra["id"] = f"{cell['id']}-{k}"
            cells.append(extra)
            added += 1
    nb.cells = cells
    return added


def mark_slides(nb) -> None:
    """Make every ``#`` / ``##`` section heading open a slide (in place, on a copy).

    Markdown cells are split at such headings (`split_at_headings`); a cell that starts with
    one becomes a ``slide`` unless the notebook marks it ``skip``, ``notes`` or ``subslide``;
    every other cell keeps its own ``slideshow`` type (``fragment``, ``skip`` ...) or, without
    one, continues the current slide (the first cell opens slide 1).
    """
    split_at_headings(nb)
    for k, cell in enumerate(nb.cells):
        own = cell.metadata.get("slideshow", {}).get("slide_type")
        heading = cell.cell_type == "markdown" and _is_section_heading(cell.source.lstrip())
        if heading and own not in ("skip", "notes", "subslide"):
            kind = "slide"
        elif own:
            kind = own
        else:
            kind = "slide" if k == 0 else "-"
        cell.metadata["slideshow"] = {"slide_type": kind}
