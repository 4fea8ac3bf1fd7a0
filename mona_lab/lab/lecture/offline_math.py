"""Equations rendered at export time: LaTeX -> MathML, so a page shows its math without MathJax.

The notebooks write math as ``$...$`` and ``$$...$$`` in markdown cells. nbconvert's
markdown renderer passes it through unchanged for MathJax, which is loaded from a CDN and
so fails without network. `latex_to_mathml` converts each equation once, at export time,
with ``latex2mathml`` (pure Python, from PyPI); browsers render MathML natively (Chromium
since version 109, Firefox and Safari for longer), so the written page needs no script.

MathML Core (what Chromium implements) ignores ``mathvariant`` except ``normal``, so
``\\mathcal P`` or ``\\mathbf x`` would lose their style; `latex_to_mathml` therefore rewrites
such identifiers to the Unicode mathematical alphanumeric characters (``𝒫``, ``𝐱``), looked
up by their Unicode names. An equation that cannot be converted is shown as its LaTeX
source in a ``<code class="math-source">`` and reported, never silently dropped.

`mona_lab.lab.lecture.offline` plugs this into nbconvert's markdown renderer.
"""
from __future__ import annotations

import html
import re
import unicodedata
import xml.etree.ElementTree as ElementTree


#: mathvariant value -> the prefixes of the Unicode names of its letters, tried in order
#: (the "holes" of the mathematical alphanumeric block live in Letterlike Symbols:
#: U+212C SCRIPT CAPITAL B, U+211D DOUBLE-STRUCK CAPITAL R, U+212D BLACK-LETTER CAPITAL C ...).
_VARIANT_NAMES = {
    "script": ("MATHEMATICAL SCRIPT", "SCRIPT"),
    "bold": ("MATHEMATICAL BOLD",),
    "bold-italic": ("MATHEMATICAL BOLD ITALIC",),
    "italic": ("MATHEMATICAL ITALIC",),
    "double-struck": ("MATHEMATICAL DOUBLE-STRUCK", "DOUBLE-STRUCK"),
    "fraktur": ("MATHEMATICAL FRAKTUR", "BLACK-LETTER"),
    "sans-serif": ("MATHEMATICAL SANS-SERIF",),
    "monospace": ("MATHEMATICAL MONOSPACE",),
}
_STYLED_MI = re.compile(r'<mi mathvariant="([a-z-]+)">([^<]*)</mi>')


class MathConversionError(ValueError):
    """LaTeX that ``latex2mathml`` cannot turn into well-formed MathML."""


def styled_character(char: str, variant: str) -> str | None:
    """The Unicode mathematical alphanumeric for ``char`` in ``variant`` (``"script"``,
    ``"bold"``, ...), or None where Unicode has none (the caller keeps the attribute)."""
    try:
        name = unicodedata.name(char)
    except ValueError:
        return None
    if name.startswith("LATIN CAPITAL LETTER "):
        tail = "CAPITAL " + name.rsplit(" ", 1)[1]
    elif name.startswith("LATIN SMALL LETTER "):
        tail = "SMALL " + name.rsplit(" ", 1)[1]
    elif name.startswith("DIGIT "):
        tail = name
    elif name.startswith(("GREEK CAPITAL LETTER ", "GREEK SMALL LETTER ")):
        tail = name.replace("GREEK ", "").replace(" LETTER", "")
    else:
        return None
    for prefix in _VARIANT_NAMES.get(variant, ()):
        try:
            return unicodedata.lookup(f"{prefix} {tail}")
        except KeyError:
            continue
    return None


def _restyle(match: re.Match) -> str:
    variant, text = match.group(1), html.unescape(match.group(2))
    if variant == "normal" and len(text) == 1:
        return match.group(0)  # MathML Core supports exactly this one
    styled = [styled_character(c, variant) for c in text]
    if any(s is None for s in styled):
        return match.group(0)
    return "<mi>" + "".join(styled) + "</mi>"


def latex_to_mathml(latex: str, *, display: bool) -> str:
    """One equation as a MathML ``<math>`` element (a string), styled letters as Unicode.

    Args:
        latex: the equation without its ``$`` delimiters, e.g. ``r"\\frac{1}{|\\mathcal P|}"``.
        display: True for a display equation (``$$...$$``), False for inline (``$...$``).

    Raises:
        MathConversionError: ``latex2mathml`` fails, or its output is not well-formed XML
            (e.g. an ``&`` outside a matrix environment).
    """
    from latex2mathml.converter import convert

    try:
        mathml = convert(latex.strip(), display="block" if display else "inline")
    except Exception as err:  # latex2mathml raises many exception kinds for bad input
        raise MathConversionError(f"latex2mathml cannot convert {latex.strip()!r}: {err}") from err
    mathml = _STYLED_MI.sub(_restyle, mathml)
    try:
        ElementTree.fromstring(mathml)
    except ElementTree.ParseError as err:
        raise MathConversionError(f"latex2mathml gave malformed MathML for {latex.strip()!r}: {err}") from err
    return mathml
