"""How tall a notebook cell will be on a lecture slide, estimated from its source and outputs.

`mona_lab.lab.lecture.notebooks.mark_slides` opens a continuation slide (``subslide``)
where a slide would grow past ``SLIDE_HEIGHT`` pixels; `cell_height` gives the estimate.
It reads no browser: the numbers follow the slide stylesheet (``static/mona_slides.css``:
20 px text, 17 px code, a slide about ``CONTENT_WIDTH`` px wide inside reveal's 960 x 700
default) and are meant to be right within a line or two, not to the pixel.

- markdown: paragraphs and list items reflowed at the slide's width, headings taller,
  table rows wrapped in their column's share, equations and images a fixed height;
- code: its lines (code scrolls sideways, it does not wrap);
- outputs: text lines wrapped at the slide's width (streams, ``text/plain``, tracebacks),
  images at their stored size
  (``metadata`` width/height, else the PNG header) scaled down to the slide's width, plotly
  figures at their layout height (else ``PLOTLY_HEIGHT``), HTML tables by their rows, other
  HTML a fixed ``HTML_HEIGHT``.
"""
from __future__ import annotations

import base64
import binascii
import re
import struct
from collections.abc import Mapping

SLIDE_HEIGHT = 700  # px a slide may fill before a continuation slide opens (reveal's 960 x 700)
CONTENT_WIDTH = 800  # px of a slide's content at 960 px (its padding aside)
MARKDOWN_LINE = 32  # 20 px text, line height 1.6
MARKDOWN_CHAR = 9.6  # px of an average character of 20 px text
PARAGRAPH_GAP = 16  # px between markdown blocks
HEADING_HEIGHT = {1: 100, 2: 82, 3: 60, 4: 48, 5: 40, 6: 40}
CODE_LINE = 21.25  # 17 px code, line height 1.25
CODE_CHAR = 10.2  # px of one character of 17 px monospace (outputs wrap, code input scrolls)
INPUT_PADDING = 36  # around a code cell's source
OUTPUT_PADDING = 15  # around each output
CELL_MARGIN = 8  # around every cell
TABLE_ROW_PADDING = 13  # a table row's padding and border
DISPLAY_MATH = 60  # a $$ ... $$ equation
IMAGE_HEIGHT = 300  # a markdown image, or an image output whose size is unknown
PLOTLY_HEIGHT = 450  # plotly's default figure height
HTML_HEIGHT = 200  # HTML that is neither a table nor a widget picture
TABLE_ROW = 30  # a row of an HTML table output
PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"

_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]|$)")
_MARKDOWN_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)|<img\b", re.IGNORECASE)
_ROW = re.compile(r"<tr\b", re.IGNORECASE)
_PRE_TEXT = re.compile(r"<pre\b[^>]*>(.*?)</pre>", re.IGNORECASE | re.DOTALL)
_INLINE_IMAGE = re.compile(r'<img\b[^>]*src="data:image/png;base64,([^"]+)"', re.IGNORECASE)


def _text(value) -> str:
    if isinstance(value, (list, tuple)):
        return "".join(str(v) for v in value)
    return "" if value is None else str(value)


def png_size(payload) -> tuple[int, int] | None:
    """(width, height) in pixels from a base64 PNG's header (its ``IHDR`` chunk), else None."""
    try:
        head = base64.b64decode("".join(_text(payload)[:80].split())[:32])
    except (binascii.Error, ValueError):
        return None
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return (int(width), int(height)) if width and height else None


def _scaled(width: float | None, height: float | None, content_width: int) -> int:
    if not height:
        return IMAGE_HEIGHT
    if width and width > content_width:
        height = height * content_width / width
    return int(round(height))


def text_height(text: str, content_width: int | None = None) -> int:
    """Lines of monospace text: code (``content_width=None``: scrolls sideways) or an output
    (``pre-wrap``: long lines wrap at ``content_width``)."""
    if not text.strip():
        return 0
    lines = text.rstrip("\n").split("\n")
    if content_width is None:
        count = len(lines)
    else:
        per_line = max(1, int(content_width // CODE_CHAR))
        count = sum(max(1, -(-len(line.expandtabs()) // per_line)) for line in lines)
    return int(round(count * CODE_LINE))


_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}")


def markdown_height(source: str, content_width: int = CONTENT_WIDTH) -> int:
    """A markdown cell: paragraphs and list items reflowed at ``content_width``, headings,
    table rows (wrapped in their share of the width), fenced code, equations, images."""
    per_line = max(1, int(content_width // MARKDOWN_CHAR))
    height, block, fenced, math = 0.0, [], False, False

    def close() -> float:
        if not block:
            return 0.0
        text = " ".join(block)
        block.clear()
        return MARKDOWN_LINE * max(1, -(-len(text) // per_line)) + PARAGRAPH_GAP

    for line in source.splitlines():
        stripped = line.strip()
        if fenced or stripped.startswith(("```", "~~~")):
            height += close()
            if stripped.startswith(("```", "~~~")):
                fenced = not fenced
                height += INPUT_PADDING / 2 if fenced else PARAGRAPH_GAP
            else:
                height += CODE_LINE
            continue
        if math:  # inside a $$ ... $$ equation
            math = "$$" not in stripped
            continue
        if stripped.startswith("$$"):
            height += close() + DISPLAY_MATH
            math = stripped.count("$$") < 2
            continue
        heading = _HEADING.match(line)
        if heading:
            height += close() + HEADING_HEIGHT[len(heading.group(1))]
        elif not stripped:
            height += close()
        elif stripped.startswith("|"):
            height += close()
            if not _TABLE_RULE.match(stripped):
                cells = [c for c in stripped.strip("|").split("|")]
                share = max(1, per_line // max(1, len(cells)))
                lines = max(max(1, -(-len(c.strip()) // share)) for c in cells)
                height += MARKDOWN_LINE * lines + TABLE_ROW_PADDING
        elif _MARKDOWN_IMAGE.search(line):
            height += close() + IMAGE_HEIGHT
        else:
            if _LIST_ITEM.match(line):
                height += close() - (PARAGRAPH_GAP if block else 0)
            block.append(stripped)
    height += close()
    return int(round(height))


def _html_height(markup: str, content_width: int) -> int:
    """Rendered HTML: a table by its rows, a widget picture by its text and images."""
    rows = len(_ROW.findall(markup))
    if rows:
        return 40 + rows * TABLE_ROW
    pictures = _INLINE_IMAGE.findall(markup)
    texts = _PRE_TEXT.findall(markup)
    if pictures or texts:
        images = sum(_scaled(*(png_size(p) or (None, None)), content_width) for p in pictures)
        return images + sum(text_height(t, content_width) + 12 for t in texts) + 80  # controls above them
    return HTML_HEIGHT


def output_height(output: Mapping, content_width: int = CONTENT_WIDTH) -> int:
    """One output, as the slide will show it (the richest form nbconvert picks)."""
    kind = output.get("output_type")
    if kind == "stream":
        return text_height(_text(output.get("text")), content_width)
    if kind == "error":
        return text_height("\n".join(output.get("traceback") or []), content_width)
    data = output.get("data") or {}
    metadata = output.get("metadata") or {}
    if PLOTLY_MIMETYPE in data:
        figure = data[PLOTLY_MIMETYPE] if isinstance(data[PLOTLY_MIMETYPE], Mapping) else {}
        height = (figure.get("layout") or {}).get("height")
        return int(height) if isinstance(height, (int, float)) else PLOTLY_HEIGHT
    for mime in ("image/png", "image/jpeg", "image/svg+xml"):
        if mime in data:
            shown = metadata.get(mime) if isinstance(metadata.get(mime), Mapping) else {}
            width, height = shown.get("width"), shown.get("height")
            if not height and mime == "image/png":
                width, height = png_size(data[mime]) or (None, None)
            return _scaled(width, height, content_width)
    if "text/html" in data:
        return _html_height(_text(data["text/html"]), content_width)
    if "text/markdown" in data:
        return markdown_height(_text(data["text/markdown"]), content_width)
    if "text/latex" in data:
        return DISPLAY_MATH
    if "text/plain" in data:
        return text_height(_text(data["text/plain"]), content_width)
    return 0


def cell_height(cell: Mapping, content_width: int = CONTENT_WIDTH) -> int:
    """Estimated pixels a cell takes on a slide (source, outputs and their margins)."""
    source = _text(cell.get("source"))
    if cell.get("cell_type") == "markdown":
        return CELL_MARGIN + markdown_height(source, content_width)
    if cell.get("cell_type") != "code":
        return CELL_MARGIN + INPUT_PADDING + text_height(source)
    height = CELL_MARGIN + (INPUT_PADDING + text_height(source) if source.strip() else 0)
    for output in cell.get("outputs") or []:
        shown = output_height(output, content_width)
        height += shown + OUTPUT_PADDING if shown else 0
    return height


def heading_at_bottom(cell: Mapping) -> bool:
    """A markdown cell whose last non-blank line is a heading: it introduces what follows,
    so it should not end a slide."""
    if cell.get("cell_type") != "markdown":
        return False
    lines = [line for line in _text(cell.get("source")).splitlines() if line.strip()]
    return bool(lines) and _HEADING.match(lines[-1]) is not None
