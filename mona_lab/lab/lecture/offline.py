"""Lecture files that open without network: the exporters and the plotly.js copy.

nbconvert's own templates load require.js, MathJax, reveal.js and the widget renderer from
CDNs. `page_exporter` and `slides_exporter` use this package's templates instead
(``static/mona_page.html.j2`` and ``static/mona_slides.html.j2``, which extend nbconvert's
lab and reveal templates): no script tag points outside the folder; markdown math is
rendered to MathML at export time (`mona_lab.lab.lecture.offline_math`); the slides are
shown by ``static/mona_slides.js`` (a slide per ``<section>``, keys and ``#/N`` move), and
plotly figures use ``plotly.min.js`` copied beside the pages from the installed ``plotly``
package (`copy_plotly_js`). `mona_lab.lab.lecture.references.external_references` lists
what a written file would still fetch from the network, for the tests and the offline check.
"""
from __future__ import annotations

import html
from pathlib import Path

from jinja2 import pass_context
from nbconvert import HTMLExporter, SlidesExporter
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

from mona_lab.errors import MonaLabError
from mona_lab.lab.lecture.offline_math import MathConversionError, latex_to_mathml

STATIC_DIR = Path(__file__).resolve().parent / "static"
PLOTLY_JS_NAME = "plotly.min.js"


def copy_plotly_js(out: Path, write) -> Path:
    """Copy ``plotly.min.js`` from the installed ``plotly`` package into ``out`` (once; an
    identical copy is left alone) with ``write(path, payload)``; returns its path."""
    import plotly

    source = Path(plotly.__file__).resolve().parent / "package_data" / PLOTLY_JS_NAME
    if not source.is_file():
        raise MonaLabError(f"the installed plotly package has no {PLOTLY_JS_NAME} at {source}; reinstall plotly")
    target = Path(out) / PLOTLY_JS_NAME
    payload = source.read_bytes()
    if not (target.is_file() and target.stat().st_size == len(payload) and target.read_bytes() == payload):
        write(target, payload)
    return target


class OfflineMathRenderer(IPythonRenderer):
    """nbconvert's markdown renderer with math turned into MathML at render time.

    ``failures`` collects the messages of equations that could not be converted (each of
    them is shown as its LaTeX source instead).
    """

    def __init__(self, *args, failures: list[str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.failures = failures if failures is not None else []

    def _math(self, latex: str, display: bool) -> str:
        try:
            return latex_to_mathml(latex, display=display)
        except MathConversionError as err:
            self.failures.append(str(err))
            delimiter = "$$" if display else "$"
            return f'<code class="math-source">{html.escape(delimiter + latex + delimiter)}</code>'

    def block_math(self, body: str) -> str:
        """``$$...$$``: a display equation."""
        return self._math(body, display=True)

    def inline_math(self, body: str) -> str:
        """``$...$``: an inline equation."""
        return self._math(body, display=False)

    def latex_environment(self, name: str, body: str) -> str:
        """``\\begin{name}...\\end{name}`` outside dollars: a display equation."""
        return self._math(f"\\begin{{{name}}}{body}\\end{{{name}}}", display=True)


def markdown_to_html(source: str, failures: list[str] | None = None, **renderer_options) -> str:
    """One markdown cell as HTML with its equations as MathML (options go to the renderer)."""
    renderer = OfflineMathRenderer(escape=False, failures=failures, **renderer_options)
    return MarkdownWithMath(renderer=renderer).render(source)


class _OfflineMath:
    """Mixin: nbconvert's ``markdown2html`` filter with equations as MathML; the messages of
    equations that could not be converted collect in ``math_failures``."""

    math_failures: list[str]

    @pass_context
    def markdown2html(self, context, source):
        cell = context.get("cell", {})
        path = context.get("resources", {}).get("metadata", {}).get("path", "")
        return markdown_to_html(
            source, failures=self.math_failures, attachments=cell.get("attachments", {}),
            embed_images=self.embed_images, path=path, anchor_link_text=self.anchor_link_text,
            exclude_anchor_links=self.exclude_anchor_links, **self.lexer_options,
        )  # fmt: skip


class OfflinePageExporter(_OfflineMath, HTMLExporter):
    """nbconvert's lab page, written to load nothing from the network."""


class OfflineSlidesExporter(_OfflineMath, SlidesExporter):
    """nbconvert's slide sections, shown by ``mona_slides.js`` instead of reveal.js."""


def page_exporter() -> OfflinePageExporter:
    """The exporter for ``NN_name.html`` (template ``static/mona_page.html.j2``)."""
    exporter = OfflinePageExporter(template_name="lab", template_file=str(STATIC_DIR / "mona_page.html.j2"))
    exporter.math_failures = []
    return exporter


def slides_exporter() -> OfflineSlidesExporter:
    """The exporter for ``NN_name.slides.html`` (template ``static/mona_slides.html.j2``)."""
    exporter = OfflineSlidesExporter(template_name="reveal", template_file=str(STATIC_DIR / "mona_slides.html.j2"))
    exporter.math_failures = []
    return exporter
