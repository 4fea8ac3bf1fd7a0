"""Check that the exported lecture works without network, in headless Chromium.

    .venv/bin/python benchmarks/check_lecture_offline.py [--out DIR] [--only 01 06] [--execute]

Exports the notebooks (their stored outputs, unless ``--execute``) with `export_lecture`,
then, for every written ``.html``:

1. lists what it would fetch from the network (`external_references`; must be nothing);
2. opens each slide deck at ``#/3`` in headless Chromium with networking off
   (``--proxy-server=127.0.0.1:9`` and every host name unresolvable) and reads the DOM
   after the scripts ran: the slide shown must be number 3 and carry the heading of the
   third section of the file;
3. opens the slide holding a plotly figure and checks that plotly.js (the copy beside the
   pages) drew it (an ``svg.main-svg`` inside the slide);
4. writes screenshots to ``DIR/screenshots/`` (a page with equations, slide 3 of every deck,
   each plotly slide) for a person to look at: an equation must show as typeset math, not
   as ``$$...$$``.

Exits 1 with the failures listed, 0 when all pass; exits 2 when no Chromium is installed
(Debian: ``apt-get install chromium``).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from mona_lab.lab.lecture import export_lecture
from mona_lab.lab.lecture.browser_check import find_chromium, heading_text, leaf_sections, present_slide, run_chromium
from mona_lab.lab.lecture.references import external_references

REPO = Path(__file__).resolve().parents[1]


def check(out: Path, browser: str | None, only, execute: bool) -> list[str]:
    failures: list[str] = []
    export = export_lecture(REPO / "notebooks", out, notebooks=only, execute=execute, fast=True,
                            progress=lambda line: print(line, flush=True))  # fmt: skip
    for page in export.pages:
        failures += [f"{page.page.name}: equation not rendered: {f}" for f in page.math_failures]
    for written in sorted(out.glob("*.html")):
        failures += [f"{written.name} fetches {url}" for url in external_references(written.read_text())]
    if browser is None:
        return failures
    shots = out / "screenshots"
    shots.mkdir(exist_ok=True)
    for page in export.pages:
        text = page.page.read_text()
        if "<math" in text:
            run_chromium(browser, page.page.as_uri(), screenshot=shots / f"{page.page.stem}.png")
        slides = leaf_sections(page.slides.read_text())
        if len(slides) >= 3:
            number, shown = present_slide(run_chromium(browser, page.slides.as_uri() + "#/3"))
            if number != 3 or heading_text(shown) != heading_text(slides[2]):
                failures.append(f"{page.slides.name}#/3 shows slide {number} {heading_text(shown)!r}, "
                                f"expected the third section {heading_text(slides[2])!r}")  # fmt: skip
            run_chromium(browser, page.slides.as_uri() + "#/3", screenshot=shots / f"{page.slides.stem}_3.png")
        for k, slide in enumerate(slides, start=1):
            if "plotly-graph-div" not in slide:
                continue
            _, shown = present_slide(run_chromium(browser, page.slides.as_uri() + f"#/{k}"))
            if "main-svg" not in shown:
                failures.append(f"{page.slides.name}#/{k}: the plotly figure was not drawn (plotly.js not loaded?)")
            run_chromium(browser, page.slides.as_uri() + f"#/{k}", screenshot=shots / f"{page.slides.stem}_{k}.png",
                         size=(1280, 2400))  # tall: the whole slide, plot included
    print(f"screenshots in {shots}: " + ", ".join(sorted(p.name for p in shots.glob("*.png"))))
    return failures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="export folder (default: a new temporary folder)")
    parser.add_argument("--only", nargs="+", default=None, metavar="NAME", help="notebooks to export (e.g. 01 06)")
    parser.add_argument("--execute", action="store_true", help="run the notebooks (fast mode) before exporting")
    args = parser.parse_args(argv)
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="mona_lecture_"))
    browser = find_chromium()
    failures = check(out, browser, args.only, args.execute)
    for failure in failures:
        print("FAIL", failure)
    if browser is None:
        print("no Chromium found (apt-get install chromium): only the written files were checked")
        return 2 if not failures else 1
    print(f"{'FAILED' if failures else 'OK'}: lecture in {out} checked offline with {browser}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
