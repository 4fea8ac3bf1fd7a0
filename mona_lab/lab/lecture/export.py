"""Execute the numbered notebooks and write HTML pages, slide decks and an index that open offline.

`export_lecture` runs every chosen notebook with nbconvert's ``ExecutePreprocessor`` (a
fresh ``python3`` kernel each, working directory = the notebook folder, ``MONA_LAB_FAST=1``
in the kernels' environment with ``fast``), then writes ``DIR/NN_name.html`` (the page,
nbconvert's lab template) and ``DIR/NN_name.slides.html`` (a slide per section heading,
continued on further slides where a section is taller than a slide; a single taller cell
scrolls inside its slide; widget panels drawn from their saved state), and finally
``DIR/index.html`` linking every page and slide deck in order. Nothing written loads
anything from the network
(`mona_lab.lab.lecture.offline`): equations are MathML, the slide script is inlined, and
``DIR/plotly.min.js`` (copied from the ``plotly`` package when a notebook has a plotly
figure) serves the plots. Every file is written atomically (temporary name, then
``os.replace``); the index is written last, so an index always points at complete pages.
"""
from __future__ import annotations

import contextlib
import copy
import html
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mona_lab.atomic_files import atomic_write_bytes
from mona_lab.errors import MonaLabError
from mona_lab.lab.lecture.notebooks import (
    add_plotly_html,
    discover_notebooks,
    mark_slides,
    notebook_title,
    replace_widget_views,
    select_notebooks,
)


@dataclass
class LecturePage:
    """One exported notebook: its source, title, the two files written, and the equations
    that could not be rendered (each shown as its LaTeX source; empty when all rendered)."""

    notebook: Path
    title: str
    page: Path
    slides: Path
    seconds: float
    math_failures: list[str] = field(default_factory=list)


@dataclass
class LectureExport:
    """What `export_lecture` wrote: the index and one `LecturePage` per notebook, in order."""

    out: Path
    index: Path
    pages: list[LecturePage] = field(default_factory=list)


@contextlib.contextmanager
def _environment(name: str, value: str | None) -> Iterator[None]:
    """Set (or leave alone, with ``value=None``) an environment variable for the block."""
    if value is None:
        yield
        return
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def _nbconvert():
    try:
        import nbformat
        from nbconvert.preprocessors import CellExecutionError, ExecutePreprocessor

        import latex2mathml.converter  # noqa: F401  (equations; imported here for the hint)
        from mona_lab.lab.lecture import offline
    except ImportError as err:
        raise MonaLabError(
            f"mona-lab lecture needs nbconvert, nbformat and latex2mathml ({err}); "
            "install them with `pip install nbconvert latex2mathml`"
        ) from err
    return nbformat, offline, ExecutePreprocessor, CellExecutionError


def write_lecture_file(path: Path, text: str) -> None:
    """A lecture file (HTML, world-readable 0644) written atomically."""
    _atomic_write(Path(path), text.encode("utf-8"))


def _atomic_write(path: Path, payload: bytes) -> None:
    atomic_write_bytes(path, payload, mode=0o644)


def _write_resources(out: Path, resources: dict) -> None:
    for name, payload in (resources.get("outputs") or {}).items():
        _atomic_write(out / name, payload if isinstance(payload, bytes) else str(payload).encode("utf-8"))


def _index_html(pages: Sequence[LecturePage], fast: bool, executed: bool = True) -> str:
    items = "\n".join(
        f'  <li><span class="title">{html.escape(p.title or p.notebook.stem)}</span> '
        f'<a href="{html.escape(p.page.name)}">page</a> · <a href="{html.escape(p.slides.name)}">slides</a> '
        f'<span class="file">({html.escape(p.notebook.name)})</span></li>'
        for p in pages
    )
    mode = "fast mode (MONA_LAB_FAST=1)" if fast else "the environment's mode"
    how = f"was executed in {mode}" if executed else "keeps the outputs stored in the repository (not re-executed)"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>mona_lab lecture</title>
<style>
 body {{ font-family: system-ui, sans-serif; max-width: 50em; margin: 2em auto; line-height: 1.5; }}
 li {{ margin: 0.4em 0; }} .title {{ font-weight: 600; }} .file {{ color: #777; font-size: 0.85em; }}
</style>
</head>
<body>
<h1>mona_lab lecture</h1>
<p>Semi-supervised contrastive segmentation under long-tailed class distributions (MONA, ARCO,
ACTION, ACTION++). Each notebook {how} and was exported as a page and as
slides (a slide per section, continued where a section is long: arrow or page keys move,
<code>#/3</code> opens slide 3). Nothing here needs the network: copy the whole folder.</p>
<ol>
{items}
</ol>
</body>
</html>
"""


def export_lecture(
    notebooks_dir: str | os.PathLike,
    out: str | os.PathLike,
    *,
    fast: bool = True,
    notebooks: Sequence[str] | None = None,
    execute: bool = True,
    timeout: int = 1800,
    kernel_name: str = "python3",
    progress=None,
) -> LectureExport:
    """Execute notebooks and write their HTML pages, slide decks and an index (all offline).

    Args:
        notebooks_dir: folder of ``NN_name.ipynb`` notebooks.
        out: output folder (created).
        fast: set ``MONA_LAB_FAST=1`` for the kernels (``False`` leaves the variable as it is).
        notebooks: names, stems or number prefixes to export (default: all, in order).
        execute: run the notebooks first (``False`` exports their stored outputs).
        timeout: seconds allowed per cell.
        kernel_name: Jupyter kernel to run them with.
        progress: optional ``callable(str)`` told about each notebook as it finishes.

    Returns:
        `LectureExport` (paths of the index and of every page and slide deck, and any
        equation that could not be rendered, per page).

    Raises:
        MonaLabError: nbconvert missing, no notebooks, an unknown name, or a notebook that
            fails to execute (named in the message).
    """
    nbformat, offline, ExecutePreprocessor, CellExecutionError = _nbconvert()
    folder = Path(notebooks_dir)
    chosen = select_notebooks(discover_notebooks(folder), notebooks)
    if not chosen:
        raise MonaLabError(f"no NN_name.ipynb notebooks in {folder}")
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    page_exporter, slide_exporter = offline.page_exporter(), offline.slides_exporter()
    export = LectureExport(out=target, index=target / "index.html")
    for path in chosen:
        started = time.perf_counter()
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception as err:  # nbformat raises several kinds for a broken file
            raise MonaLabError(f"notebook {path.name} could not be read: {err}") from err
        if execute:
            runner = ExecutePreprocessor(timeout=timeout, kernel_name=kernel_name)
            with _environment("MONA_LAB_FAST", "1" if fast else None):
                try:
                    runner.preprocess(nb, {"metadata": {"path": str(path.parent.resolve())}})
                except CellExecutionError as err:
                    lines = [line for line in str(err).splitlines() if line.strip()]
                    raise MonaLabError(f"notebook {path.name} failed while executing: {lines[-1] if lines else err}") from err
                except Exception as err:  # kernel died, timeout, missing kernel
                    raise MonaLabError(f"notebook {path.name} failed while executing: {type(err).__name__}: {err}") from err
        shown = copy.deepcopy(nb)
        has_plots = add_plotly_html(shown) > 0
        replace_widget_views(shown)
        mark_slides(shown)
        resources = {"metadata": {"name": path.stem}}
        if has_plots:
            resources["mona_plotly_src"] = offline.copy_plotly_js(target, _atomic_write).name
        page_exporter.math_failures, slide_exporter.math_failures = [], []
        body, page_resources = page_exporter.from_notebook_node(shown, resources=dict(resources))
        slides, slide_resources = slide_exporter.from_notebook_node(shown, resources=dict(resources))
        page, deck = target / f"{path.stem}.html", target / f"{path.stem}.slides.html"
        _write_resources(target, page_resources)
        _write_resources(target, slide_resources)
        write_lecture_file(page, body)
        write_lecture_file(deck, slides)
        failures = page_exporter.math_failures
        entry = LecturePage(path, notebook_title(nb), page, deck, time.perf_counter() - started, list(failures))
        export.pages.append(entry)
        if progress is not None:
            progress(f"{path.name}: {entry.seconds:.1f} s -> {page.name}, {deck.name}")
            for failure in failures:
                progress(f"{path.name}: equation shown as LaTeX source: {failure}")
    write_lecture_file(export.index, _index_html(export.pages, fast, executed=execute))
    return export
