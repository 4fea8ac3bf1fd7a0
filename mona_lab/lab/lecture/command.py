"""``mona-lab lecture --out DIR [--fast]``: the CLI command that calls `export_lecture`."""
from __future__ import annotations

import argparse
from pathlib import Path

from mona_lab.lab.lecture.export import export_lecture


def _repo_notebooks_dir() -> Path:
    # this file is mona_lab/lab/lecture/command.py; the notebooks sit in the repository root
    return Path(__file__).resolve().parents[3] / "notebooks"


def _cmd_lecture(args: argparse.Namespace) -> int:
    notebooks = Path(args.notebooks) if args.notebooks else _repo_notebooks_dir()
    export = export_lecture(
        notebooks, args.out, fast=args.fast, notebooks=args.only, execute=not args.no_execute,
        timeout=args.timeout, progress=lambda line: print(line, flush=True),
    )  # fmt: skip
    total = sum(p.seconds for p in export.pages)
    print(f"wrote {len(export.pages)} pages and slide decks to {export.out} in {total:.0f} s; open {export.index}")
    return 0


def add_lecture_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``mona-lab lecture`` on the CLI's sub-parsers."""
    p = sub.add_parser("lecture", help="execute the notebooks and export HTML pages, slide decks and an index that open offline")
    p.add_argument("--out", required=True, help="output folder for the HTML files")
    p.add_argument("--fast", action="store_true", help="run the notebooks with MONA_LAB_FAST=1 (minutes on a CPU)")
    p.add_argument("--notebooks", default=None, help="notebook folder (default: the repository's notebooks/)")
    p.add_argument("--only", nargs="+", default=None, metavar="NAME",
                   help="export only these notebooks (file name, stem or number such as 05)")
    p.add_argument("--no-execute", action="store_true", help="export the stored outputs without running")
    p.add_argument("--timeout", type=int, default=1800, help="seconds allowed per cell (default 1800)")
    p.set_defaults(handler=_cmd_lecture)
