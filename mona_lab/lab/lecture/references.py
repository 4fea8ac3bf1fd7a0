"""What a written HTML file would fetch from the network when opened: `external_references`."""
from __future__ import annotations

import re
from html.parser import HTMLParser

# an address the browser would go out to the network for: http(s)://, or scheme-relative //host
_REMOTE = re.compile(r"^\s*(?:https?:)?//", re.IGNORECASE)
_CSS_URL = re.compile(r"""(?:url\(\s*["']?|@import\s+["'])([^"')\s]+)""", re.IGNORECASE)
_SCRIPT_URL = re.compile(r"""["'`]((?:https?:)?//[^"'`\s]+)["'`]""", re.IGNORECASE)
# attributes that make the browser fetch something, by element (``<a href>`` is a link to
# follow, not a load, and ``xmlns`` names a namespace)
_FETCHING = {
    "script": ("src",), "img": ("src", "srcset"), "iframe": ("src",), "embed": ("src",),
    "source": ("src", "srcset"), "video": ("src", "poster"), "audio": ("src",), "track": ("src",),
    "link": ("href",), "object": ("data",), "image": ("href", "xlink:href"), "use": ("href", "xlink:href"),
    "input": ("src",), "frame": ("src",),
}


class _ReferenceFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in _FETCHING.get(tag, ()):
                self.found += [v for v in re.split(r",\s*", value) if _REMOTE.match(v)]
            elif name == "style":
                self.found += [u for u in _CSS_URL.findall(value) if _REMOTE.match(u)]
        self._in = tag if tag in ("script", "style") else None

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "style":
            self.found += [u for u in _CSS_URL.findall(data) if _REMOTE.match(u)]
        elif self._in == "script":
            self.found += _SCRIPT_URL.findall(data)


def external_references(html_text: str) -> list[str]:
    """Every address outside the folder that an HTML file would fetch when opened.

    Looks at fetching attributes (``<script src>``, ``<link href>``, ``<img src>``, ...),
    ``url(...)`` and ``@import`` in style elements and attributes, and quoted
    ``http(s)://`` or ``//`` strings inside inline scripts (how require.js, mermaid or a
    widget renderer would be pulled in). Links to follow (``<a href>``) are not loads and
    are not listed. Returns them in document order (empty for a self-contained file).
    """
    finder = _ReferenceFinder()
    finder.feed(html_text)
    finder.close()
    return finder.found
