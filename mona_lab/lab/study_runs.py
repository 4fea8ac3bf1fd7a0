"""Resumable studies: many training runs, each kept on disk once it has finished.

The stored studies (``benchmarks/ablation_grid.py``, ``benchmarks/temperature_runs.py``,
``benchmarks/arco_curves.py``) train tens of runs over hours. Each run is a `StudyRun`: a
name, the settings that determine it (JSON) and a kind (runs of one kind cost about the
same). A finished run writes ``record.json`` atomically into its own folder
``<runs>/<name>-<key>/`` (``key``: a hash of the settings), so rerunning a script with the
same settings skips every finished run, a stopped study resumes where it stopped, and a
run with other settings gets another folder instead of being mistaken for a finished one.
The study's JSON is assembled from the records; `pending_and_finished` says which are
missing so a partial study can be written with an ``incomplete`` marker.

`execute` runs the pending runs in ``workers`` processes with ``threads`` torch threads
each and measures every run's process CPU seconds (all threads of its process);
`estimate_seconds` predicts the wall time of what is left from finished runs (or from a
measured warm-up run).
"""
from __future__ import annotations

import hashlib
import json
import re
import shlex
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from mona_lab.atomic_files import atomic_write_text
from mona_lab.errors import MonaLabError

RECORD_NAME = "record.json"


@dataclass(frozen=True)
class StudyRun:
    """One run of a study.

    Attributes:
        name: unique within the study (e.g. ``"seed0/vanilla"``); also the ``--only`` value.
        settings: everything that determines the run (JSON-serialisable: config fields, data
            set, budget); equal settings give the same folder.
        kind: runs of one kind take about the same time (time estimates group by it).
    """

    name: str
    settings: dict[str, Any] = field(hash=False)
    kind: str = ""

    @property
    def key(self) -> str:
        """The first 10 hex digits of the SHA-1 of the settings (sorted-key JSON)."""
        text = json.dumps(self.settings, sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:10]

    def folder(self, root: str | Path) -> Path:
        """``root / "<name, slugged>-<key>"``."""
        slug = re.sub(r"[^A-Za-z0-9._+-]+", "_", self.name).strip("_")
        return Path(root) / f"{slug}-{self.key}"


def finished_record(run: StudyRun, root: str | Path) -> dict[str, Any] | None:
    """The stored record of a finished run, or ``None`` when it has not finished."""
    path = run.folder(root) / RECORD_NAME
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError:  # cannot happen with atomic writes; treat as unfinished
        return None
    return record if record.get("settings") == json.loads(json.dumps(run.settings, default=str)) else None


def save_record(run: StudyRun, root: str | Path, record: dict[str, Any]) -> Path:
    """Write ``record.json`` of a finished run atomically (with its name and settings)."""
    path = run.folder(root) / RECORD_NAME
    payload = {"name": run.name, "kind": run.kind, "settings": run.settings, **record}
    atomic_write_text(path, json.dumps(payload, indent=1, default=str) + "\n")
    return path


def pending_and_finished(runs: Sequence[StudyRun], root: str | Path) -> tuple[list[StudyRun], dict[str, dict]]:
    """``(pending runs in order, {name: record} of the finished ones)``."""
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise ValueError(f"run names must be unique, got duplicates in {names}")
    finished, pending = {}, []
    for run in runs:
        record = finished_record(run, root)
        if record is None:
            pending.append(run)
        else:
            finished[run.name] = record
    return pending, finished


def timed_run(work: Callable, run: StudyRun, folder: str, threads: int) -> dict[str, Any]:
    """Run ``work(settings, folder)`` in this process with ``threads`` torch threads; add the
    run's wall and process CPU seconds to its record."""
    import torch

    torch.set_num_threads(int(threads))
    work_dir = Path(folder) / "train"
    if work_dir.exists():  # an interrupted run: start it again from scratch
        shutil.rmtree(work_dir)
    start, cpu_start = time.perf_counter(), time.process_time()
    record = work(dict(run.settings), work_dir)
    record["seconds"] = time.perf_counter() - start
    record["cpu_seconds"] = time.process_time() - cpu_start
    record["threads"] = int(threads)
    for checkpoint in work_dir.glob("*.pt"):  # the record is kept; checkpoints are not needed
        checkpoint.unlink()
    return record


def execute(
    runs: Sequence[StudyRun],
    root: str | Path,
    work: Callable[[dict[str, Any], Path], dict[str, Any]],
    *,
    workers: int = 1,
    threads: int = 1,
    describe: Callable[[StudyRun, dict[str, Any]], dict[str, Any]] | None = None,
    on_done: Callable[[StudyRun, dict[str, Any], int, int], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Train every unfinished run of ``runs``; return ``{name: record}`` of all finished ones.

    Args:
        runs: the study's runs.
        root: the runs folder (one sub-folder per run).
        work: ``work(settings, folder) -> record`` trains one run into ``folder`` (a
            module-level function, so worker processes can import it).
        workers: processes (``<= 1``: in this process, one run after the other).
        threads: torch threads of each run.
        describe: extra fields stored in each record (e.g. the run's command line).
        on_done: called as ``on_done(run, record, done, total)`` after each record is saved.
    """
    if workers < 1 or threads < 1:
        raise ValueError(f"workers and threads must be >= 1, got {workers} and {threads}")
    pending, finished = pending_and_finished(runs, root)
    total = len(pending)

    def store(run: StudyRun, record: dict[str, Any]) -> None:
        record.update(describe(run, record) if describe else {})
        save_record(run, root, record)
        finished[run.name] = finished_record(run, root)
        if on_done:
            on_done(run, finished[run.name], len(finished) - (len(runs) - total), total)

    if workers <= 1 or total <= 1:
        for run in pending:
            store(run, timed_run(work, run, str(run.folder(root)), threads))
    else:
        with ProcessPoolExecutor(min(workers, total), mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(timed_run, work, run, str(run.folder(root)), threads): run for run in pending}
            for future in as_completed(futures):
                store(futures[future], future.result())
    return finished


def estimate_seconds(
    pending: Sequence[StudyRun],
    finished: dict[str, dict[str, Any]],
    workers: int,
    per_run_fallback: dict[str, float] | None = None,
) -> float | None:
    """Expected wall seconds of the pending runs on ``workers`` single-thread processes.

    Each pending run costs the mean CPU seconds of the finished runs of its kind, else of
    all finished runs, else ``per_run_fallback[kind]`` (e.g. from a measured warm-up);
    ``None`` when nothing is known. The sum is divided by ``min(workers, len(pending))``.
    """
    if not pending:
        return 0.0
    by_kind: dict[str, list[float]] = {}
    for record in finished.values():
        by_kind.setdefault(record.get("kind", ""), []).append(float(record["cpu_seconds"]))
    everything = [s for values in by_kind.values() for s in values]
    total = 0.0
    for run in pending:
        if by_kind.get(run.kind):
            total += sum(by_kind[run.kind]) / len(by_kind[run.kind])
        elif per_run_fallback and run.kind in per_run_fallback:
            total += per_run_fallback[run.kind]
        elif everything:
            total += sum(everything) / len(everything)
        else:
            return None
    return total / max(1, min(workers, len(pending)))


def format_duration(seconds: float | None) -> str:
    """``"2 h 05 min"``, ``"7.5 min"`` or ``"40 s"`` (``"unknown"`` for ``None``)."""
    if seconds is None:
        return "unknown"
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


REPO_ROOT = Path(__file__).resolve().parents[2]  # this file: <repo>/mona_lab/lab/study_runs.py


def repo_path(path: str | Path) -> str:
    """``path`` relative to the repository root when it lies inside it (``benchmarks/runs/...``),
    else as given: stored command lines and folders then work on any checkout."""
    try:
        return Path(path).resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def record_row(record: dict[str, Any]) -> dict[str, Any]:
    """A finished run's record as a row of its study's JSON: without the study's bookkeeping
    (``settings``, ``kind``) and with its training folder ``out`` made `repo_path`-relative."""
    row = {k: v for k, v in record.items() if k not in ("settings", "kind")}
    if "out" in row:
        row["out"] = repo_path(row["out"])
    return row


def environment_metadata() -> dict[str, Any]:
    """Where and when a study's JSON was written: ``created`` (UTC, ISO), ``mona_lab_version``,
    ``torch_version``, ``python``, ``platform`` and ``cpu_count`` (the first keys of every
    stored study's ``metadata``)."""
    import datetime as dt
    import os
    import platform

    import torch

    import mona_lab

    return {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "mona_lab_version": mona_lab.__version__,
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }


def script_command(script: str, argv: Sequence[str]) -> str:
    """``python SCRIPT ARGS`` as a shell line."""
    return shlex.join(["python", script, *argv])


def run_command(script: str, argv: Sequence[str], run: StudyRun, runs_folder: str | Path) -> str:
    """The command that trains ``run`` alone: the study's own command with ``--only NAME``
    (and its runs folder), without ``--only``, ``--workers`` or ``--out`` of the original.
    (A finished run is skipped: delete its folder to train it again.)"""
    kept, i = [], 0
    while i < len(argv):
        arg = argv[i]
        flag = arg.split("=", 1)[0]
        if flag in ("--workers", "--out", "--runs"):
            i += 1 if "=" in arg else 2
        elif flag == "--only":
            i += 1
            while "=" not in arg and i < len(argv) and not argv[i].startswith("--"):
                i += 1
        else:
            kept.append(arg)
            i += 1
    return script_command(script, [*kept, "--runs", repo_path(runs_folder), "--workers", "1", "--only", run.name])


def select(runs: Sequence[StudyRun], only: Sequence[str] | None) -> list[StudyRun]:
    """The runs named in ``only`` (all for ``None``/empty).

    Raises:
        MonaLabError: a name that is not a run of the study (the message lists the names).
    """
    if not only:
        return list(runs)
    names = {r.name for r in runs}
    unknown = [n for n in only if n not in names]
    if unknown:
        raise MonaLabError(f"--only {unknown}: not runs of this study; its runs are {sorted(names)}")
    return [r for r in runs if r.name in set(only)]


__all__ = [
    "RECORD_NAME",
    "StudyRun",
    "environment_metadata",
    "estimate_seconds",
    "execute",
    "finished_record",
    "format_duration",
    "pending_and_finished",
    "run_command",
    "save_record",
    "script_command",
    "select",
    "timed_run",
]
