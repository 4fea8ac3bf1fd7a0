"""Open exported lecture files in headless Chromium with networking off and read what it shows.

Used by ``benchmarks/check_lecture_offline.py`` and the browser test (skipped where no
Chromium is installed; Debian: ``apt-get install chromium``). Chromium runs with
``--proxy-server=127.0.0.1:9`` and every host name unresolvable, so a file that still
needed the network would show it. `run_chromium` returns the DOM after the page's scripts
ran (``--dump-dom``) or writes a screenshot; `leaf_sections`, `present_slide` and
`heading_text` read slides out of the written file and out of that DOM.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

OFFLINE_FLAGS = ["--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND"]
_LEAF = re.compile(r"<section\b[^>]*>(?:(?!<section\b).)*?</section>", re.DOTALL)
_HEADING = re.compile(r"<h[1-6][^>]*>(.*?)</h[1-6]>", re.DOTALL)


def find_chromium() -> str | None:
    """The first Chromium or Chrome binary on PATH, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def run_chromium(browser: str, url: str, *, screenshot: Path | None = None, size=(1280, 800)) -> str:
    """Open ``url`` offline in headless Chromium; the DOM after 5 s of scripts (or a screenshot)."""
    with tempfile.TemporaryDirectory() as profile:
        command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                   f"--user-data-dir={profile}", "--virtual-time-budget=5000",
                   f"--window-size={size[0]},{size[1]}", *OFFLINE_FLAGS]  # fmt: skip
        command += [f"--screenshot={screenshot}", url] if screenshot else ["--dump-dom", url]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"chromium failed on {url}: {done.stderr[-500:]}")
    return done.stdout


def heading_text(fragment: str) -> str:
    """The text of the first heading in an HTML fragment (tags and pilcrow anchors removed)."""
    found = _HEADING.search(fragment)
    return re.sub(r"<[^>]+>|¶", "", found.group(1)).strip() if found else ""


def leaf_sections(html_text: str) -> list[str]:
    """The slides of a deck as written: the innermost ``<section>`` elements, in order."""
    return _LEAF.findall(html_text)


def present_slide(dom: str) -> tuple[int, str]:
    """(number, HTML) of the slide the script shows, read from the DOM after it ran."""
    for section in leaf_sections(dom):
        opening = section[: section.index(">") + 1]
        if re.search(r'class="[^"]*\bpresent\b', opening):
            number = re.search(r'data-slide-number="(\d+)"', opening)
            return (int(number.group(1)) if number else -1), section
    return -1, ""
