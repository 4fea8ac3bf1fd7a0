"""Export the lecture: execute the numbered notebooks, write HTML pages, reveal.js slides and an index.

``mona-lab lecture --out DIR [--fast]`` (or `export_lecture`) runs every notebook
``NN_name.ipynb`` of the notebook folder in numeric order with nbconvert's
``ExecutePreprocessor`` (a fresh ``python3`` kernel each, working directory = the notebook
folder, ``MONA_LAB_FAST=1`` in the kernels' environment with ``--fast``), then writes for
each one

- ``DIR/NN_name.html``: the page (nbconvert ``HTMLExporter``, lab template), and
- ``DIR/NN_name.slides.html``: reveal.js slides (nbconvert ``SlidesExporter``; a markdown
  cell that starts with a heading opens a new slide unless the notebook sets its own
  ``slideshow`` metadata; long slides scroll),

and finally ``DIR/index.html`` linking every page and slide deck in order. Every file is
written atomically (temporary name, then ``os.replace``); the index is written last, so
an index always points at complete pages.

Network: the pages load nothing for text and matplotlib figures (images are embedded),
but nbconvert's slides template loads **reveal.js from a CDN** (unpkg) by default, and
plotly figures are rendered with **plotly.js from its CDN** (``include_plotlyjs="cdn"``),
because the notebooks store plotly figures only as ``application/vnd.plotly.v1+json``,
which nbconvert's templates do not render; the export adds the HTML rendering to its own
copy. Viewing those parts offline needs a local copy of the two libraries.

Errors (`mona_lab.errors.MonaLabError`): nbconvert not installed, a missing folder, no
notebooks, an unknown name in ``notebooks``, or a notebook that fails to execute (the
message names the notebook and the error).

Three modules: `mona_lab.lab.lecture.notebooks` (finding, picking and preparing the
notebooks), `mona_lab.lab.lecture.export` (`export_lecture`) and
`mona_lab.lab.lecture.command` (the CLI command); every public name is importable from
``mona_lab.lab.lecture``.
"""
from __future__ import annotations

from mona_lab.lab.lecture.command import add_lecture_commands
from mona_lab.lab.lecture.export import LectureExport, LecturePage, atomic_write_text, export_lecture
from mona_lab.lab.lecture.notebooks import (
    NOTEBOOK_PATTERN,
    PLOTLY_MIMETYPE,
    add_plotly_html,
    discover_notebooks,
    mark_slides,
    notebook_title,
    select_notebooks,
)

__all__ = [
    "NOTEBOOK_PATTERN",
    "PLOTLY_MIMETYPE",
    "LectureExport",
    "LecturePage",
    "add_lecture_commands",
    "add_plotly_html",
    "atomic_write_text",
    "discover_notebooks",
    "export_lecture",
    "mark_slides",
    "notebook_title",
    "select_notebooks",
]
