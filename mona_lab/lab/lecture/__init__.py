"""Export the lecture: execute the numbered notebooks, write HTML pages, slide decks and an index.

``mona-lab lecture --out DIR [--fast]`` (or `export_lecture`) runs every notebook
``NN_name.ipynb`` of the notebook folder in numeric order with nbconvert's
``ExecutePreprocessor`` (a fresh ``python3`` kernel each, working directory = the notebook
folder, ``MONA_LAB_FAST=1`` in the kernels' environment with ``--fast``), then writes for
each one

- ``DIR/NN_name.html``: the page (nbconvert's lab template), and
- ``DIR/NN_name.slides.html``: slides, one per ``#`` / ``##`` section heading (a markdown
  cell is split at a heading inside it), continued on further slides where a section would
  grow past ``SLIDE_HEIGHT`` (700 px, estimated by `mona_lab.lab.lecture.slide_heights`); a
  single taller cell scrolls inside its slide; Right, Left, PageDown, PageUp, Space, Home and
  End move, and ``#/3`` in the address opens slide 3,

and finally ``DIR/index.html`` linking every page and slide deck in order. Every file is
written atomically (temporary name, then ``os.replace``); the index is written last, so
an index always points at complete pages.

Offline: the written files load nothing from the network (a lecture hall with bad Wi-Fi).
Equations are converted to MathML at export time (``latex2mathml``; browsers draw MathML
natively), the slide script is this package's own (``static/mona_slides.js``, no
reveal.js or require.js), plotly figures (stored as ``application/vnd.plotly.v1+json``)
get an HTML rendering that uses ``DIR/plotly.min.js``, copied from the installed
``plotly`` package, and live widgets are drawn from the widget state the notebook saved
(`mona_lab.lab.lecture.widget_snapshot`; a note where no state was saved).
`external_references` lists what a written file would fetch; `mona_lab.lab.lecture.browser_check`
opens the files in headless Chromium with networking off.

Errors (`mona_lab.errors.MonaLabError`): nbconvert not installed, a missing folder, no
notebooks, an unknown name in ``notebooks``, or a notebook that fails to execute (the
message names the notebook and the error). An equation ``latex2mathml`` cannot convert
is shown as its LaTeX source and listed in `LecturePage.math_failures`.

Modules: `mona_lab.lab.lecture.notebooks` (finding, picking and preparing the notebooks),
`mona_lab.lab.lecture.widget_snapshot` (a widget panel's saved state as static HTML),
`mona_lab.lab.lecture.slide_heights` (how tall a cell will be on a slide),
`mona_lab.lab.lecture.offline_math` (LaTeX -> MathML), `mona_lab.lab.lecture.offline`
(the exporters), `mona_lab.lab.lecture.references` (the URL check), `mona_lab.lab.lecture.export` (`export_lecture`) and
`mona_lab.lab.lecture.command` (the CLI command); every public name is importable from
``mona_lab.lab.lecture``.
"""
from __future__ import annotations

from mona_lab.lab.lecture.command import add_lecture_commands
from mona_lab.lab.lecture.export import LectureExport, LecturePage, export_lecture, write_lecture_file
from mona_lab.lab.lecture.notebooks import (
    NOTEBOOK_PATTERN,
    PLOTLY_MIMETYPE,
    add_plotly_html,
    discover_notebooks,
    mark_slides,
    notebook_title,
    replace_widget_views,
    select_notebooks,
    split_at_headings,
)
from mona_lab.lab.lecture.references import external_references
from mona_lab.lab.lecture.slide_heights import SLIDE_HEIGHT, cell_height
from mona_lab.lab.lecture.widget_snapshot import render_widget_view, stored_widget_models
from mona_lab.lab.lecture.offline_math import MathConversionError, latex_to_mathml

__all__ = [
    "NOTEBOOK_PATTERN",
    "PLOTLY_MIMETYPE",
    "SLIDE_HEIGHT",
    "LectureExport",
    "MathConversionError",
    "LecturePage",
    "add_lecture_commands",
    "add_plotly_html",
    "cell_height",
    "discover_notebooks",
    "export_lecture",
    "external_references",
    "latex_to_mathml",
    "mark_slides",
    "notebook_title",
    "render_widget_view",
    "replace_widget_views",
    "select_notebooks",
    "split_at_headings",
    "stored_widget_models",
    "write_lecture_file",
]
