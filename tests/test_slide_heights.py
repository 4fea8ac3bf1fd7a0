"""Tall slides are split: `mark_slides` opens a continuation slide where the estimated height
(`mona_lab.lab.lecture.slide_heights`) would pass the budget, never inside a cell and never
leaving a heading at the bottom of a slide."""
from __future__ import annotations

import base64
import copy
import struct

import nbformat
import pytest

from mona_lab.lab.lecture.notebooks import mark_slides
from mona_lab.lab.lecture.slide_heights import CONTENT_WIDTH, SLIDE_HEIGHT, cell_height, output_height, png_size


def tiny_png(width: int, height: int) -> str:
    """A PNG's signature and header chunk (all the estimate reads), base64."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return base64.b64encode(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + header + b"\0" * 4).decode()


def _kinds(nb) -> list[str]:
    return [c.metadata["slideshow"]["slide_type"] for c in nb.cells]


def _slides(nb) -> list[list[int]]:
    """Indices of the cells on each slide or continuation slide."""
    slides: list[list[int]] = []
    for k, kind in enumerate(_kinds(nb)):
        if kind in ("slide", "subslide") or not slides:
            slides.append([])
        if kind not in ("skip", "notes"):
            slides[-1].append(k)
    return slides


def _printing(lines: int):
    cell = nbformat.v4.new_code_cell("for k in range(n):\n    print(k)")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="".join(f"{k}\n" for k in range(lines)))]
    return cell


def _figure(width: int, height: int):
    cell = nbformat.v4.new_code_cell("plt.show()")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": tiny_png(width, height), "text/plain": "<Figure>"})]
    return cell


def test_heights_read_text_lines_and_the_png_header() -> None:
    assert png_size(tiny_png(640, 480)) == (640, 480) and png_size("not a png") is None
    figure = {"output_type": "display_data", "data": {"image/png": tiny_png(640, 480)}, "metadata": {}}
    assert output_height(figure) == 480
    wide = {"image/png": tiny_png(2 * CONTENT_WIDTH, 960)}
    assert output_height(figure | {"data": wide}) == 480, "scaled down to the slide's width"
    stored = figure | {"metadata": {"image/png": {"width": 320, "height": 240}}}
    assert output_height(stored) == 240, "the size the notebook stored wins (retina figures)"
    assert cell_height(_printing(40)) > cell_height(_printing(10)) > cell_height(_printing(1))
    table = {"output_type": "display_data", "data": {"text/html": "<table>" + "<tr><td>1</td></tr>" * 12 + "</table>"}}
    assert output_height(table) > output_height(table | {"data": {"text/html": "<table><tr><td>1</td></tr></table>"}})


def test_a_section_with_many_long_outputs_gets_continuation_slides_under_the_budget() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title\n\nWhat this shows.")]
    nb.cells += [_printing(12) if k % 2 else _figure(640, 300) for k in range(8)]
    nb.cells += [_figure(640, 1400)]  # taller than a slide on its own
    nb.cells += [nbformat.v4.new_markdown_cell("## Short section\n\nOne line."), _printing(3)]
    unmarked = copy.deepcopy(nb)
    mark_slides(nb)
    slides = _slides(nb)
    kinds = _kinds(nb)
    assert kinds[0] == "slide" and kinds.count("subslide") >= 4
    for cells in slides:
        height = sum(cell_height(nb.cells[k]) for k in cells)
        assert height <= SLIDE_HEIGHT or len(cells) == 1, (cells, height)
    assert [9] in slides, "the tall figure stands alone on its continuation slide"
    assert slides[-1] == [10, 11] and kinds[10] == "slide", "a short section stays one slide"
    mark_slides(unmarked, height_budget=None)
    assert _kinds(unmarked) == ["slide"] + ["-"] * 9 + ["slide", "-"], "no budget: a slide per section"


def test_a_short_section_is_one_slide_and_a_heading_never_ends_a_slide() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("## Section\n\nText."), _printing(5)]
    mark_slides(nb)
    assert _kinds(nb) == ["slide", "-"]
    nb.cells = [nbformat.v4.new_markdown_cell("## Section\n\nText."), _printing(14),
                nbformat.v4.new_markdown_cell("Now the figure.\n\n### The figure"), _figure(640, 500)]  # fmt: skip
    mark_slides(nb)
    assert _kinds(nb) == ["slide", "-", "subslide", "-"], "the heading goes with the figure it introduces"
    nb.cells = [nbformat.v4.new_markdown_cell("## Section"), _figure(640, 900)]
    mark_slides(nb)
    assert _kinds(nb) == ["slide", "-"], "a slide with only its heading keeps the tall cell"


@pytest.mark.parametrize("own", ["skip", "notes"])
def test_skipped_cells_take_no_room(own: str) -> None:
    nb = nbformat.v4.new_notebook()
    hidden = _printing(200)
    hidden.metadata["slideshow"] = {"slide_type": own}
    nb.cells = [nbformat.v4.new_markdown_cell("## Section\n\nText."), hidden, _printing(5)]
    mark_slides(nb)
    assert _kinds(nb) == ["slide", own, "-"]
