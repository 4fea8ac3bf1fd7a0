"""Lecture files that open without network: equations as MathML (the real notebooks' too),
nothing fetched from outside the folder, a slide per section heading, plotly.js beside the
pages, widgets replaced by a note; and, where Chromium is installed, the deck in a browser
with networking off (slide 3 is the third section, the plotly figure is drawn)."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from mona_lab.lab.lecture import (
    PLOTLY_MIMETYPE,
    MathConversionError,
    export_lecture,
    external_references,
    latex_to_mathml,
    mark_slides,
    replace_widget_views,
)
from mona_lab.lab.lecture.browser_check import find_chromium, heading_text, leaf_sections, present_slide, run_chromium
from mona_lab.lab.lecture.offline import markdown_to_html

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
FIGURE = {"data": [{"type": "bar", "x": ["head", "tail"], "y": [3, 1]}], "layout": {"title": {"text": "counts"}}}
WIDGET = {"model_id": "abc", "version_major": 2, "version_minor": 0}


def _deck_notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title\n\nThe loss $\\mathcal{L} = \\sum_c \\frac{1}{|\\mathcal P_c|}$ and\n\n"
                                      "$$ f_k \\propto k^{-s}, $$"),
        nbformat.v4.new_markdown_cell("## Section one\n\nText.\n\n## Section two\n\nWith a plot."),
        nbformat.v4.new_code_cell("fig"),
        nbformat.v4.new_markdown_cell("## Section three\n\nA panel:"),
        nbformat.v4.new_code_cell("panel"),
    ]
    nb.cells[2].outputs = [nbformat.v4.new_output("display_data", data={PLOTLY_MIMETYPE: FIGURE, "text/plain": "Figure"})]
    nb.cells[4].outputs = [nbformat.v4.new_output("display_data", data={
        "application/vnd.jupyter.widget-view+json": WIDGET, "text/plain": "VBox(children=(...))"})]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2}}
    nbformat.write(nb, path)


@pytest.fixture
def exported(tmp_path: Path):
    folder = tmp_path / "nb"
    folder.mkdir()
    _deck_notebook(folder / "01_deck.ipynb")
    return export_lecture(folder, tmp_path / "site", execute=False)


def test_latex_becomes_mathml_with_styled_letters_as_unicode() -> None:
    inline = latex_to_mathml(r"\frac{1}{|\mathcal P|}\sum_{p} h(\mathbf x; p)", display=False)
    assert inline.startswith("<math") and 'display="inline"' in inline and "<mfrac>" in inline
    assert "\U0001d4ab" in inline, "\\mathcal P as MATHEMATICAL SCRIPT CAPITAL P"
    assert "\U0001d431" in inline, "\\mathbf x as MATHEMATICAL BOLD SMALL X"
    assert 'mathvariant="script"' not in inline and 'mathvariant="bold"' not in inline
    assert "\u212c" in latex_to_mathml(r"\mathcal B", display=True), "a hole of the block: SCRIPT CAPITAL B"
    assert 'display="block"' in latex_to_mathml("x", display=True)
    with pytest.raises(MathConversionError, match="a & b"):
        latex_to_mathml("a & b", display=False)


def test_a_bad_equation_is_shown_as_source_and_reported() -> None:
    failures: list[str] = []
    rendered = markdown_to_html("ok $x_1$ and bad $a & b$", failures=failures)
    assert rendered.count("<math") == 1 and 'class="math-source"' in rendered and "$a &amp; b$" in rendered
    assert len(failures) == 1 and "a & b" in failures[0]


def test_every_equation_of_the_real_notebooks_renders() -> None:
    failures: list[str] = []
    equations = 0
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown":
                rendered = markdown_to_html(cell.source, failures=failures)
                equations += rendered.count("<math")
                assert "$$" not in re.sub(r"<code.*?</code>|<pre.*?</pre>", "", rendered, flags=re.DOTALL), path.name
    assert equations > 50 and failures == []


def test_external_references_finds_every_kind_of_load() -> None:
    page = """<html><head><script src="https://cdn.example.org/require.js"></script>
    <link rel="stylesheet" href="//unpkg.com/reveal.css"><style>@import "https://x.org/a.css";
    body { background: url(https://x.org/b.png) }</style>
    <script>require(["https://unpkg.com/reveal.js@4/dist/reveal.js"], function () {});</script></head>
    <body><img src="data:image/png;base64,AAAA"><img src="local.png"><a href="https://arxiv.org/abs/1">paper</a>
    <math xmlns="http://www.w3.org/1998/Math/MathML"></math><div style="background:url('//cdn.x/c.png')"></div>
    <script src="plotly.min.js"></script></body></html>"""
    assert external_references(page) == [
        "https://cdn.example.org/require.js", "//unpkg.com/reveal.css", "https://x.org/a.css",
        "https://x.org/b.png", "https://unpkg.com/reveal.js@4/dist/reveal.js", "//cdn.x/c.png",
    ]  # fmt: skip


def test_written_files_load_nothing_from_the_network(exported) -> None:
    written = sorted(exported.out.glob("*.html"))
    assert len(written) == 3
    for path in written:
        text = path.read_text()
        assert external_references(text) == [], path.name
        assert not re.search(r"mathjax|require\.js|unpkg|jsdelivr|cdnjs|cdn\.plot\.ly", text, re.IGNORECASE), path.name
    page, deck = exported.pages[0].page.read_text(), exported.pages[0].slides.read_text()
    for text in (page, deck):
        assert text.count("<math") == 2 and "$$" not in text and "\U0001d4ab" in text
        assert '<script src="plotly.min.js"></script>' in text and "Plotly.newPlot" in text
        assert "mona-widget-note" in text and "widget-view+json" not in text and "widget-state+json" not in text
    assert exported.pages[0].math_failures == []
    assert (exported.out / "plotly.min.js").read_bytes()[:200].count(b"plotly") > 0


def test_each_section_heading_is_one_slide(exported) -> None:
    slides = leaf_sections(exported.pages[0].slides.read_text())
    assert [heading_text(s) for s in slides] == ["Title", "Section one", "Section two", "Section three"]
    assert "plotly-graph-div" in slides[2] and "plotly-graph-div" not in slides[1]
    assert "mona-slide" in exported.pages[0].slides.read_text() and "Reveal.initialize" not in exported.pages[0].slides.read_text()


def test_split_keeps_fenced_code_and_own_slide_types() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# T\n\n```\n# not a heading\n```\n### minor\n\n## B\n\nx"),
                nbformat.v4.new_code_cell("1"), nbformat.v4.new_markdown_cell("notes")]
    nb.cells[2].metadata["slideshow"] = {"slide_type": "notes"}
    mark_slides(nb)
    assert [c.source.splitlines()[0] for c in nb.cells] == ["# T", "## B", "1", "notes"]
    assert [c.metadata["slideshow"]["slide_type"] for c in nb.cells] == ["slide", "slide", "-", "notes"]
    assert nb.cells[1].id == nb.cells[0].id + "-1"
    nbformat.validate(nb)


def test_widgets_keep_a_stored_picture() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("panel")]
    nb.cells[0].outputs = [nbformat.v4.new_output("display_data", data={
        "application/vnd.jupyter.widget-view+json": WIDGET, "image/png": "iVBORw0KGgo=", "text/plain": "VBox"})]
    assert replace_widget_views(nb) == 1
    assert set(nb.cells[0].outputs[0]["data"]) == {"image/png", "text/plain"}


@pytest.mark.skipif(find_chromium() is None, reason="no Chromium installed (Debian: apt-get install chromium)")
def test_the_deck_in_chromium_without_network(exported) -> None:
    deck = exported.pages[0].slides
    number, shown = present_slide(run_chromium(find_chromium(), deck.as_uri() + "#/3"))
    assert number == 3 and heading_text(shown) == "Section two"
    assert "main-svg" in shown, "plotly.js (the copy beside the deck) drew the figure offline"
    (exported.out / "plotly.min.js").unlink()
    _, shown = present_slide(run_chromium(find_chromium(), deck.as_uri() + "#/3"))
    assert "main-svg" not in shown, "without the copy nothing draws it: the check can fail"
