"""One run of a stored curve study: a `TrainConfig` trained, a few ``log.csv`` columns kept.

``benchmarks/arco_curves.py`` (ARCO Fig. 5) and ``benchmarks/temperature_runs.py``
(ACTION++ Table 6) are resumable studies (`mona_lab.lab.study_runs`) whose runs differ only
in their `TrainConfig`. `curve_run` makes the `StudyRun` of one config (its settings: the
config's fields but ``out``, the data set and which columns to keep); `train_curve_run`
trains it (the function worker processes call) and returns `run_record`'s dict plus the
config and its recipe name; `train_pending_curve_runs` trains the runs not finished yet,
with the expected time first and a line per finished run; `assemble_curve_runs` turns the finished records back into the
``runs`` list of a results file, each with the command that repeats it alone.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mona_lab.lab.run_records import run_record
from mona_lab.lab.study_runs import (StudyRun, estimate_seconds, execute, format_duration, pending_and_finished,
                                     record_row, run_command)

_DATA_CACHE: dict[str, Any] = {}


def phantom_settings(image_size: int = 64, fast: bool = False, seed: int = 0) -> dict[str, Any]:
    """The data of a curve study: the built-in phantom (``fast``: its 12-patient version)."""
    return {"name": "phantom", "image_size": int(image_size), "fast": bool(fast), "seed": int(seed)}


def curve_run(name: str, config: dict[str, Any], data: dict[str, Any], *, label: str, columns: Sequence[str],
              stage: str | None, kind: str | None = None) -> StudyRun:  # fmt: skip
    """The `StudyRun` of one config (``config``: `TrainConfig` fields without ``out``).

    Raises:
        ValueError: ``config`` holds ``out`` (each run's folder is chosen by the study).
    """
    if "out" in config:
        raise ValueError("config must not hold 'out': the study puts each run in its own folder")
    settings = {"config": dict(config), "data": dict(data), "label": label, "columns": list(columns), "stage": stage}
    return StudyRun(name, settings, kind=kind or label)


def load_curve_data(data: dict[str, Any]):
    """The `SegmentationData` of `phantom_settings` (cached per process)."""
    from mona_lab.data import load_dataset

    key = repr(sorted(data.items()))
    if key not in _DATA_CACHE:
        _DATA_CACHE.clear()
        _DATA_CACHE[key] = load_dataset(data["name"], image_size=data["image_size"], fast=data["fast"], seed=data["seed"])
    return _DATA_CACHE[key]


def train_curve_run(settings: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Train one run into ``folder``: `run_record` (columns of ``log.csv``, final metrics) plus
    ``config`` and ``recipe`` (``"working"`` when every recipe field holds its default)."""
    from mona_lab.config import TrainConfig
    from mona_lab.engine import train

    config = TrainConfig(**settings["config"], out=str(folder))
    train(config, data=load_curve_data(settings["data"]))
    record = run_record(folder, method=config.method, seed=config.seed, label=settings["label"],
                        columns=settings["columns"], stage=settings["stage"])  # fmt: skip
    record.pop("seconds")  # the study measures wall and CPU seconds around the whole run
    record["config"] = dict(settings["config"])
    record["recipe"] = config.recipe
    return record


def assemble_curve_runs(
    runs: Sequence[StudyRun], records: dict[str, dict[str, Any]], script: str, argv: Sequence[str], folder
) -> tuple[list[dict[str, Any]], list[str]]:
    """``(rows of the finished runs in study order, names of the missing runs)``; each row is
    the record without the study's bookkeeping plus ``name`` and the ``command`` that trains it alone."""
    rows = []
    for run in runs:
        if run.name in records:
            row = record_row(records[run.name])
            row["command"] = run_command(script, argv, run, folder)
            rows.append(row)
    return rows, [r.name for r in runs if r.name not in records]


def train_pending_curve_runs(
    runs: Sequence[StudyRun], pending: Sequence[StudyRun], folder: Path, *, workers: int, threads: int,
    measured: str,
) -> None:  # fmt: skip
    """Train ``pending`` (a subset of the study's ``runs``) into ``folder``: print the expected
    time (from the study's finished runs; else ``measured``, the docstring's measured cost),
    then one line per run as it finishes."""
    known = pending_and_finished(runs, folder)[1]
    expected = estimate_seconds(pending, known, workers)
    print(f"{len(pending)} runs to train on {workers} worker(s); expected time: {format_duration(expected)}"
          + ("" if known else f" (no finished run yet; {measured})"), flush=True)  # fmt: skip
    width = max(len(run.name) for run in pending)

    def report(run, record, done, total):
        print(f"[{done}/{total}] {run.name:<{width}} mean Dice {record['metrics']['mean_dice']:.3f} "
              f"({record['cpu_seconds']:.0f} CPU s)", flush=True)  # fmt: skip

    execute(pending, folder, train_curve_run, workers=workers, threads=threads, on_done=report)


__all__ = ["assemble_curve_runs", "curve_run", "load_curve_data", "phantom_settings", "train_curve_run",
           "train_pending_curve_runs"]
