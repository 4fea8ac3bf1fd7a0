"""Lecture export: executes notebooks (fast mode reaches the kernels), writes pages, slide
decks and an index linking them in numeric order; plotly outputs become visible HTML;
failures name the notebook; the CLI wiring works."""
from __future__ import annotations

import builtins
import re
from pathlib import Path

import nbformat
import pytest

from mona_lab.cli import main
from mona_lab.errors import MonaLabError
from mona_lab.lab.lecture import (
    PLOTLY_MIMETYPE,
    add_plotly_html,
    discover_notebooks,
    export_lecture,
    mark_slides,
    select_notebooks,
)

PLOTLY_FIGURE = {"data": [{"type": "scatter", "x": [0, 1], "y": [1, 0]}], "layout": {"title": {"text": "tiny"}}}


def write_notebook(path: Path, title: str, code: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"# {title}\n\nIntro."),
        nbformat.v4.new_code_cell(code),
        nbformat.v4.new_markdown_cell("## Second part\n\nMore."),
        nbformat.v4.new_code_cell("print('second cell ran')"),
    ]
    nbformat.write(nb, path)


@pytest.fixture
def lecture_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    env_code = "import os\nprint('FAST=' + os.environ.get('MONA_LAB_FAST', 'unset'))"
    plot_code = (
        "from IPython.display import display\n"
        f"display({{{PLOTLY_MIMETYPE!r}: {PLOTLY_FIGURE!r}, 'text/plain': 'Figure'}}, raw=True)"
    )
    write_notebook(folder / "10_last.ipynb", "Ten: the last one", env_code)
    write_notebook(folder / "02_second.ipynb", "Two: plots", plot_code)
    write_notebook(folder / "01_first.ipynb", "One: the first", env_code)
    (folder / "notes.ipynb").write_text("{}")  # no number: not part of the lecture
    (folder / "README.md").write_text("not a notebook")
    return folder


def test_discovery_is_numeric_and_selection_keeps_order(lecture_dir: Path) -> None:
    found = discover_notebooks(lecture_dir)
    assert [p.name for p in found] == ["01_first.ipynb", "02_second.ipynb", "10_last.ipynb"]
    assert [p.name for p in select_notebooks(found, ["10", "01_first"])] == ["01_first.ipynb", "10_last.ipynb"]
    with pytest.raises(MonaLabError, match="no notebook matches '07'.*01_first.ipynb"):
        select_notebooks(found, ["07"])
    with pytest.raises(MonaLabError, match="does not exist"):
        discover_notebooks(lecture_dir / "missing")


def test_export_executes_in_fast_mode_and_links_pages_in_order(lecture_dir: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("MONA_LAB_FAST", raising=False)
    out = tmp_path / "site"
    export = export_lecture(lecture_dir, out, fast=True, notebooks=["10", "01"], timeout=120)
    assert [p.notebook.name for p in export.pages] == ["01_first.ipynb", "10_last.ipynb"]
    for page in export.pages:
        assert page.page.is_file() and page.slides.is_file()
        text = page.page.read_text()
        assert "FAST=1" in text, "the kernel must see MONA_LAB_FAST=1"
        assert "second cell ran" in text
        slides = page.slides.read_text()
        assert "mona-slide" in slides and "FAST=1" in slides
        assert slides.count('<section') >= 2, "each heading opens a slide"
    assert "MONA_LAB_FAST" not in __import__("os").environ, "the caller's environment is restored"
    index = export.index.read_text()
    links = re.findall(r'href="([^"]+)"', index)
    assert links == ["01_first.html", "01_first.slides.html", "10_last.html", "10_last.slides.html"]
    assert index.index("One: the first") < index.index("Ten: the last one")
    assert not list(out.glob(".*.tmp")), "no temporary files left behind"


def test_plotly_outputs_are_rendered_and_stored_outputs_exported_without_kernel(lecture_dir: Path, tmp_path: Path) -> None:
    nb = nbformat.read(lecture_dir / "02_second.ipynb", as_version=4)
    nb.cells[1].outputs = [nbformat.v4.new_output("display_data", data={PLOTLY_MIMETYPE: PLOTLY_FIGURE, "text/plain": "Figure"})]
    nbformat.write(nb, lecture_dir / "02_second.ipynb")
    export = export_lecture(lecture_dir, tmp_path / "site", execute=False, notebooks=["02"])
    page = export.pages[0].page.read_text()
    assert "tiny" in page and "Plotly.newPlot" in page, "the plotly figure must be in the page"
    assert '<script src="plotly.min.js">' in page and "cdn.plot.ly" not in page, "plotly.js from the copy beside the page"
    assert (tmp_path / "site" / "plotly.min.js").stat().st_size > 1_000_000
    source = nbformat.read(lecture_dir / "02_second.ipynb", as_version=4)
    assert "text/html" not in source.cells[1].outputs[0]["data"], "the notebook on disk is not changed"


def test_a_failing_notebook_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "nb"
    folder.mkdir()
    write_notebook(folder / "03_broken.ipynb", "Broken", "raise ValueError('boom in cell')")
    with pytest.raises(MonaLabError, match=r"03_broken\.ipynb failed while executing.*boom in cell"):
        export_lecture(folder, tmp_path / "site", timeout=120)
    assert not (tmp_path / "site" / "index.html").exists()


def test_missing_nbconvert_gives_an_install_hint(lecture_dir: Path, tmp_path: Path, monkeypatch) -> None:
    real_import = builtins.__import__

    def no_nbconvert(name, *args, **kwargs):
        if name.startswith("nbconvert"):
            raise ImportError("No module named 'nbconvert'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_nbconvert)
    with pytest.raises(MonaLabError, match="pip install nbconvert"):
        export_lecture(lecture_dir, tmp_path / "site", execute=False)


def test_slides_marked_from_headings_unless_the_notebook_has_its_own() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# T"), nbformat.v4.new_code_cell("1"), nbformat.v4.new_markdown_cell("## A"),
                nbformat.v4.new_markdown_cell("plain text")]
    mark_slides(nb)
    assert [c.metadata["slideshow"]["slide_type"] for c in nb.cells] == ["slide", "-", "slide", "-"]
    nb.cells[1].metadata["slideshow"] = {"slide_type": "fragment"}
    mark_slides(nb)
    assert nb.cells[1].metadata["slideshow"]["slide_type"] == "fragment"
    assert add_plotly_html(nb) == 0


def test_cli_lecture_command(lecture_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli_site"
    assert main(["lecture", "--out", str(out), "--notebooks", str(lecture_dir), "--no-execute", "--only", "01"]) == 0
    assert (out / "index.html").is_file() and (out / "01_first.slides.html").is_file()
    index = (out / "index.html").read_text()
    assert "not re-executed" in index and "was executed in" not in index  # --no-execute says so
    assert "wrote 1 pages" in capsys.readouterr().out
    assert main(["lecture", "--out", str(out), "--notebooks", str(tmp_path / "none")]) == 2
    assert "does not exist" in capsys.readouterr().err
