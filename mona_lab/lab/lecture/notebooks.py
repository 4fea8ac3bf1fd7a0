"""The lecture's notebooks: find the numbered ones, pick some, and prepare a copy for export.

`discover_notebooks` lists ``NN_name.ipynb`` in numeric order and `select_notebooks` picks
by name, stem or number; `notebook_title` reads a notebook's first heading; on a copy about
to be exported, `add_plotly_html` gives plotly outputs an HTML rendering (the notebooks
store them only as ``application/vnd.plotly.v1+json``, which nbconvert's templates do not
render), `replace_widget_views` draws each live widget from the notebook's stored widget
state (a live widget needs a kernel and a widget renderer from a CDN; without stored state a
note stands there) and `mark_slides` opens a slide at each ``#`` / ``##`` section heading and
a continuation slide where a slide would grow taller than the screen
(`mona_lab.lab.lecture.slide_heights`).
"""
from __future__ import annotations

import copy
import os
import re
from collections.abc import Sequence
from pathlib import Path

from mona_lab.errors import MonaLabError
from mona_lab.lab.lecture.slide_heights import CONTENT_WIDTH, SLIDE_HEIGHT, cell_height, heading_at_bottom
from mona_lab.lab.lecture.widget_snapshot import (
    open_details,
    render_widget_view,
    snapshot_output_model,
    stored_widget_models,
    view_model_id,
)

NOTEBOOK_PATTERN = re.compile(r"^(\d+)_.+\.ipynb$")
PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"
SECTION_HEADING = re.compile(r"^ {0,3}#{1,2}(?:[ \t]|$)")
WIDGET_MIMETYPE = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = (
    '<p class="mona-widget-note">(An interactive panel stands here in the notebook: open it with '
    "<code>mona-lab lab</code> and run the cell to use it.)</p>"
)
WIDGET_CAPTION = "The panel as it was saved: open the notebook with mona-lab lab and run the cell to use it."


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
    """Give every live widget output (``application/vnd.jupyter.widget-view+json``) a static
    rendering and drop the notebook's stored widget state.

    An output that carries a picture or HTML of its own keeps it; otherwise, when the notebook
    stored the panel's state, the panel is drawn from it
    (`mona_lab.lab.lecture.widget_snapshot.render_widget_view`) and the panel's own snapshot
    output (`mona_lab.lab.panel_display`) beside it is dropped; without stored state the
    panel's snapshot output is opened in its place, and without either a note says that the
    panel runs in JupyterLab (``WIDGET_NOTE``).

    Changes ``nb`` in place (use a copy); returns the number of widget outputs replaced.
    """
    models = stored_widget_models(nb)
    nb.metadata.pop("widgets", None)
    snapshots = {snapshot_output_model(o) for cell in nb.cells for o in cell.get("outputs", [])} - {None}
    drawn: set[str] = set()
    replaced = 0
    for cell in nb.cells:
        kept = []
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_MIMETYPE not in data:
                kept.append(output)
                continue
            model_id = view_model_id(data.pop(WIDGET_MIMETYPE))
            replaced += 1
            if any(key.startswith("image/") or key == "text/html" for key in data):
                kept.append(output)
                continue
            picture = render_widget_view(models, model_id, caption=WIDGET_CAPTION) if model_id else None
            if picture is not None:
                data["text/html"] = picture
                drawn.add(model_id)
            elif model_id in snapshots:
                continue  # the panel's own snapshot output below stands in for it
            else:
                data["text/html"] = WIDGET_NOTE
            kept.append(output)
        if "outputs" in cell:
            cell.outputs = kept
    for cell in nb.cells:
        if "outputs" not in cell:
            continue
        kept = []
        for output in cell.outputs:
            shows = snapshot_output_model(output)
            if shows in drawn:
                continue
            if shows is not None and "text/html" in output.get("data", {}):
                output["data"]["text/html"] = open_details(str(output["data"]["text/html"]))
            kept.append(output)
        cell.outputs = kept
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


def mark_slides(nb, height_budget: int | None = SLIDE_HEIGHT, content_width: int = CONTENT_WIDTH) -> None:
    """Make every ``#`` / ``##`` section heading open a slide, and open a continuation slide
    (``subslide``) where a slide would grow taller than ``height_budget`` pixels (in place, on
    a copy).

    Markdown cells are split at such headings (`split_at_headings`); a cell that starts with
    one becomes a ``slide`` unless the notebook marks it ``skip``, ``notes`` or ``subslide``;
    every other cell keeps its own ``slideshow`` type (``fragment``, ``skip`` ...) or, without
    one, continues the current slide (the first cell opens slide 1).

    Heights are estimates (`mona_lab.lab.lecture.slide_heights.cell_height` at
    ``content_width``). A cell that would carry the running height of its slide past the
    budget opens a ``subslide`` instead of continuing; a cell is never split, so a cell taller
    than the budget stands on a continuation slide of its own; markdown cells ending in a
    heading move to the new slide with the cell they introduce, and a slide that holds only
    headings so far is not split (its heading stays with its content). ``height_budget=None``
    turns the continuation slides off. A ``-`` or ``fragment`` cell may become a ``subslide``;
    cells the notebook marks ``slide`` or ``subslide`` keep their type.
    """
    split_at_headings(nb)
    cells = nb.cells
    kinds, heights = [], []
    for k, cell in enumerate(cells):
        own = cell.metadata.get("slideshow", {}).get("slide_type")
        heading = cell.cell_type == "markdown" and _is_section_heading(cell.source.lstrip())
        if heading and own not in ("skip", "notes", "subslide"):
            kind = "slide"
        elif own:
            kind = own
        else:
            kind = "slide" if k == 0 else "-"
        kinds.append(kind)
        heights.append(0 if kind in ("skip", "notes") else cell_height(cell, content_width))
    if height_budget is not None:
        start, running = 0, 0
        for k, kind in enumerate(kinds):
            if kind in ("slide", "subslide"):
                start, running = k, heights[k]
                continue
            if kind in ("skip", "notes") or running + heights[k] <= height_budget:
                running += heights[k]
                continue
            first = k  # the new slide opens here, or earlier to take the headings leading into it
            while first - 1 > start and kinds[first - 1] in ("-", "fragment") and heading_at_bottom(cells[first - 1]):
                first -= 1
            before = [j for j in range(start, first) if kinds[j] not in ("skip", "notes")]
            if not before or all(heading_at_bottom(cells[j]) for j in before):
                running += heights[k]  # nothing but headings yet: keep the slide whole
                continue
            kinds[first] = "subslide"
            start, running = first, sum(heights[first : k + 1])
    for cell, kind in zip(cells, kinds):
        cell.metadata["slideshow"] = {"slide_type": kind}
