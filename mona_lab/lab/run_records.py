"""Stored training runs: small JSON records of finished runs, and the curves notebooks draw.

The benchmark scripts ``benchmarks/arco_curves.py`` (ARCO Fig. 5: the contrastive loss of
arco-ns/sg/sag over 3 seeds) and ``benchmarks/temperature_runs.py`` (ACTION++ Table 6:
fixed vs cosine temperature) train several short runs with `mona_lab.engine.train` and
keep, per run, a few ``log.csv`` columns and the final ``metrics.json`` numbers in one JSON
file under ``notebooks/results/``. Notebooks read that file with `load_results` and draw
mean and spread over seeds with `curve_statistics`, so a lecture shows full-budget
results without training for minutes.

File layout (``format`` 1)::

    {"format": 1, "meta": {...free-form settings, versions, wall times..., "complete": true,
                           "missing_runs": []},
     "runs": [{"method": ..., "seed": ..., "label": ..., "steps": [...],
               "columns": {"contrast": [...], ...}, "metrics": {...}, "seconds": ...}]}

The scripts run as resumable studies (`mona_lab.lab.study_runs`, `mona_lab.lab.curve_study`):
their runs also store ``name``, ``config``, ``recipe``, ``command`` (the line that repeats
the run alone), ``cpu_seconds`` and ``threads``. Files are written atomically (temporary
name, then ``os.replace``).
"""
from __future__ import annotations

import csv
import json
import math
import platform
import time
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mona_lab.atomic_files import atomic_write_text
from mona_lab.errors import MonaLabError

RESULTS_FORMAT = 1


def read_log_columns(
    log_csv: str | Path, columns: Sequence[str], stage: str | None = None
) -> tuple[list[int], dict[str, list[float]]]:
    """The iteration numbers and some columns of an engine ``log.csv``.

    Args:
        log_csv: path of the ``log.csv`` a run wrote.
        columns: column names (see `mona_lab.engine.LOG_COLUMNS`), e.g. ``("contrast",)``.
        stage: keep only rows of this stage (e.g. ``"finetune"``); ``None`` keeps all.

    Returns:
        ``(steps, values)``: ``steps`` the ``step`` column as ints; ``values[name]`` a list
        of floats of the same length (NaN where the cell is empty, e.g. a loss that a
        stage does not compute).

    Raises:
        MonaLabError: the file is missing or lacks a requested column (named).
    """
    path = Path(log_csv)
    if not path.is_file():
        raise MonaLabError(f"log file {path} does not exist")
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [c for c in columns if c not in header]
        if missing:
            raise MonaLabError(f"log file {path} has no column(s) {missing}; it has {header}")
        rows = [r for r in reader if stage is None or r.get("stage") == stage]
    steps = [int(r["step"]) for r in rows]
    values = {c: [float(r[c]) if r[c] not in ("", None) else math.nan for r in rows] for c in columns}
    return steps, values


def run_record(
    out: str | Path,
    *,
    method: str,
    seed: int,
    columns: Sequence[str],
    stage: str | None = None,
    label: str | None = None,
    seconds: float | None = None,
    digits: int = 5,
) -> dict[str, Any]:
    """One finished run as a JSON-ready dict: chosen ``log.csv`` columns and ``metrics.json``.

    Args:
        out: the run's output folder (holding ``log.csv`` and ``metrics.json``).
        method, seed, label: identify the run (``label`` defaults to ``method``).
        columns, stage: as in `read_log_columns`.
        seconds: wall time of the run, stored as is.
        digits: significant digits kept for curve values (keeps the file small).

    Raises:
        MonaLabError: a missing ``log.csv``/``metrics.json`` or column.
    """
    out = Path(out)
    steps, values = read_log_columns(out / "log.csv", columns, stage)
    metrics_path = out / "metrics.json"
    if not metrics_path.is_file():
        raise MonaLabError(f"run folder {out} has no metrics.json (did the run finish?)")
    metrics = json.loads(metrics_path.read_text())
    kept = {k: metrics[k] for k in ("mean_dice", "mean_asd", "per_class", "iterations") if k in metrics}

    def short(v: float) -> float | None:
        return None if not math.isfinite(v) else float(f"{v:.{digits}g}")

    return {
        "method": method,
        "seed": int(seed),
        "label": label or method,
        "steps": steps,
        "columns": {c: [short(v) for v in vals] for c, vals in values.items()},
        "metrics": kept,
        "seconds": None if seconds is None else round(float(seconds), 2),
    }


def environment_meta() -> dict[str, Any]:
    """Versions and machine facts stored next to results (so numbers can be traced)."""
    import torch

    return {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "torch_threads": torch.get_num_threads(),
    }


def write_results(
    path: str | Path, runs: Sequence[dict[str, Any]], meta: dict[str, Any], missing: Sequence[str] = ()
) -> Path:
    """Write a results file (see the module docstring) atomically; returns the path.

    ``missing`` names runs of the study that have not finished: ``meta["complete"]`` is
    ``False`` and ``meta["missing_runs"]`` lists them (a partial study, clearly marked).
    NaN and infinities are stored as ``null`` so the file is strict JSON.
    """
    meta = {**meta, "complete": not missing, "missing_runs": list(missing)}
    payload = {"format": RESULTS_FORMAT, "meta": meta, "runs": list(runs)}
    text = json.dumps(_finite(payload), indent=1, sort_keys=True, allow_nan=False) + "\n"
    path = Path(path)
    atomic_write_text(path, text)
    return path


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def results_path(name: str) -> Path:
    """Where a stored results file lives: ``./results/NAME`` (a notebook's folder), else
    ``./notebooks/results/NAME`` (the repository root), else the repository's
    ``notebooks/results/NAME`` next to the installed package (the last is returned even if
    missing, so `load_results` can name it)."""
    candidates = [
        Path.cwd() / "results" / name,
        Path.cwd() / "notebooks" / "results" / name,
        Path(__file__).resolve().parents[2] / "notebooks" / "results" / name,  # mona_lab/lab/ -> repository
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return candidates[-1]


def read_json_file(path: str | Path, what: str, remedy: str) -> Any:
    """The parsed content of a stored JSON file, or a `MonaLabError` that names the file.

    The one reader behind `load_results`, `mona_lab.lab.ablation.load_grid` and
    `mona_lab.lab.training_dynamics.load_dynamics_study`; each then checks its own format.

    Args:
        path: the file.
        what: what the file is, for the message (``"results file"``, ``"ablation grid"``).
        remedy: how to make it, said when it is missing (``"run python benchmarks/..."``).

    Raises:
        MonaLabError: the file is missing, or is not UTF-8 JSON.
    """
    path = Path(path)
    if not path.is_file():
        raise MonaLabError(f"{what} {path} does not exist; {remedy}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise MonaLabError(f"{what} {path} is not valid JSON: {err}") from err


def load_results(path: str | Path) -> dict[str, Any]:
    """Read a results file written by `write_results`.

    Raises:
        MonaLabError: missing file, invalid JSON, or not a mona_lab results file (the
            message names the file and says how to regenerate it).
    """
    data = read_json_file(path, "results file", "run the benchmark script that writes it")
    if not isinstance(data, dict) or data.get("format") != RESULTS_FORMAT or not isinstance(data.get("runs"), list):
        raise MonaLabError(f"results file {path} is not a mona_lab results file (format {RESULTS_FORMAT})")
    return data


def curve_statistics(
    runs: Iterable[dict[str, Any]], column: str, by: str = "label"
) -> dict[str, dict[str, np.ndarray]]:
    """Mean and standard deviation over seeds of one logged column, per group of runs.

    Runs of a group are aligned on their common steps (the shortest run sets the length).

    Args:
        runs: run dicts from a results file.
        column: the logged column, e.g. ``"contrast"``.
        by: the run key that names a group (``"label"`` or ``"method"``).

    Returns:
        ``{group: {"steps": [T], "mean": [T], "std": [T], "values": [S, T]}}`` (float64;
        population std over the S seeds; NaN entries are ignored by mean/std).

    Raises:
        MonaLabError: a run without that column.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        if column not in run.get("columns", {}):
            raise MonaLabError(f"run {run.get('label')!r} seed {run.get('seed')} has no column {column!r}")
        groups.setdefault(str(run[by]), []).append(run)
    stats: dict[str, dict[str, np.ndarray]] = {}
    for name, members in groups.items():
        length = min(len(r["steps"]) for r in members)
        values = np.array(
            [[np.nan if v is None else v for v in r["columns"][column][:length]] for r in members], dtype=np.float64
        )
        with warnings.catch_warnings():  # an all-NaN column (a loss a stage skips) stays NaN quietly
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(values, axis=0) if values.size else values
            std = np.nanstd(values, axis=0) if values.size else values
        stats[name] = {"steps": np.asarray(members[0]["steps"][:length]), "mean": mean, "std": std, "values": values}
    return stats


__all__ = [
    "RESULTS_FORMAT",
    "curve_statistics",
    "environment_meta",
    "load_results",
    "read_log_columns",
    "results_path",
    "run_record",
    "write_results",
]
