"""The README's command-line block runs as written, in order, in an empty folder.

Lines marked ``# long`` (the papers' sizes; the lecture export that runs every notebook, which the
notebook regression runs anyway), ``# ACDC`` or ``# LA`` (real data) and ``mona-lab lab``
(a server) are skipped; every other ``mona-lab`` line must exit 0, and the files the README
says a run writes must be there.
"""
from __future__ import annotations

import csv
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_commands() -> list[tuple[str, bool]]:
    """``(command, runs_here)`` for each ``mona-lab`` line of the command-line block, with
    backslash continuations joined and the trailing comment kept for the markers."""
    text = README.read_text()
    block = re.search(r"## The command line.*?```bash\n(.*?)```", text, re.S)
    assert block, "README.md has no ```bash block under '## The command line'"
    joined = block.group(1).replace("\\\n", " ")
    commands = []
    for line in joined.splitlines():
        line = line.strip()
        if not line.startswith("mona-lab "):
            continue
        command, _, comment = line.partition("#")
        marked = bool(re.match(r"\s*(long|ACDC|LA)\b", comment))
        commands.append((command.strip(), not marked and not command.startswith("mona-lab lab")))
    return commands


def test_the_block_has_runnable_and_marked_lines():
    commands = readme_commands()
    assert sum(runs for _, runs in commands) >= 6
    assert any(c.startswith("mona-lab train") and runs for c, runs in commands)
    assert any(c.startswith("mona-lab evaluate") and runs for c, runs in commands)


def test_readme_commands_run_as_written(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MONA_LAB_FAST"}  # as a user types them
    env["MONA_LAB_ACDC"] = ""  # nothing here may need real data
    for command, runs in readme_commands():
        if not runs:
            continue
        argv = [sys.executable, "-m", "mona_lab.cli", *shlex.split(command)[1:]]
        done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    for run in ("supervised-cpu", "mona-cpu"):
        for name in ("config.json", "log.csv", "dynamics.csv", "last.pt", "best.pt", "metrics.json"):
            assert (tmp_path / "runs" / run / name).is_file(), (run, name)
    with (tmp_path / "runs" / "mona-cpu" / "log.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 80  # 20 GLCon + 40, then resumed to 20 + 60
    with (tmp_path / "runs" / "supervised-cpu" / "test.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows and {"dice", "asd"} <= set(rows[0])
