"""Reading what training runs wrote: ``log.csv`` curves, ``metrics.json`` tables, and the
slices a trained model gets most wrong."""
from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from mona_lab.errors import MonaLabError


def read_log(out: str | Path) -> dict[str, np.ndarray]:
    """Columns of ``out/log.csv`` as arrays (floats; NaN where a step has no value;
    ``stage`` stays a string array)."""
    path = Path(out) / "log.csv"
    if not path.is_file():
        raise MonaLabError(f"{path} does not exist; is {out} a training run folder?")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns: dict[str, np.ndarray] = {}
    for name in rows[0].keys() if rows else ():
        if name == "stage":
            columns[name] = np.array([r[name] for r in rows])
        else:
            columns[name] = np.array([float(r[name]) if r[name] != "" else np.nan for r in rows])
    return columns


def read_metrics(out: str | Path) -> dict:
    path = Path(out) / "metrics.json"
    if not path.is_file():
        raise MonaLabError(f"{path} does not exist; did the run finish?")
    return json.loads(path.read_text())


def metrics_table(metrics_by_name: Mapping[str, dict], digits: int = 3) -> str:
    """A plain-text table: one row per run, Dice per class, mean Dice and mean ASD."""
    names = list(metrics_by_name)
    classes = list(metrics_by_name[names[0]]["per_class"])
    header = f"{'run':<14}" + "".join(f"{c:>9}" for c in classes) + f"{'mean Dice':>11}{'mean ASD':>10}"
    lines = [header]
    for name in names:
        m = metrics_by_name[name]
        cells = "".join(f"{m['per_class'][c]['dice']:>9.{digits}f}" for c in classes)
        lines.append(f"{name:<14}{cells}{m['mean_dice']:>11.{digits}f}{m['mean_asd']:>10.2f}")
    return "\n".join(lines)


def slice_dice(prediction: np.ndarray, label: np.ndarray, num_classes: int) -> np.ndarray:
    """Mean foreground Dice of each slice of a volume [D,H,W] (`mona_lab.metrics.dice_per_class`
    per slice; a class absent from both prediction and label counts as 1)."""
    from mona_lab.metrics import dice_per_class

    return np.array([float(dice_per_class(p[None], g[None], num_classes).mean()) for p, g in zip(prediction, label)])


def format_benchmark(payload: Mapping, terms=("contrast", "nn", "saacl", "eqv", "unsup")) -> str:
    """The stored five-seed ACDC benchmark (``benchmarks/results/acdc_active.json``) as text:
    mean Dice ± sd over seeds per method with each term's gradient share at the bottleneck
    (median over seeds; ``*`` below 0.01: muted), then the paired gains over supervised and
    over ``core`` with their 95 % t intervals (points), then the rerun noise floor.

    Raises:
        MonaLabError: a payload without ``summary`` / ``gains`` (named).
    """
    if not isinstance(payload, Mapping) or "summary" not in payload or "gains" not in payload:
        raise MonaLabError("not a stored ACDC benchmark (no summary / gains): run python benchmarks/acdc_reduced.py")
    lines = [f"{'method':<13}{'seeds':>6}{'mean Dice':>16}" + "".join(f"{t:>10}" for t in terms)]
    for spec, row in payload["summary"].items():
        mean, sd = row["dice"]["mean"]
        shares = row.get("shares", {})
        cells = "".join(
            f"{shares[t][0]:>9.3f}{'*' if shares[t][0] < 0.01 else ' '}" if t in shares else f"{'-':>10}" for t in terms
        )
        lines.append(f"{spec:<13}{len(row['seeds']):>6}{mean:>9.3f} ± {sd:.3f}{cells}")
    for title, block in (("supervised", payload["gains"]), ("core", payload.get("gains_over_core", {}))):
        if not block:
            continue
        lines.append(f"\npaired gain over {title} (mean Dice points; 95 % t interval over seeds; per seed)")
        for spec, gain in block.items():
            if spec == "supervised" and title == "core":
                continue  # the same pairs as core's gain over supervised, sign flipped
            low, high = gain["ci95"]
            interval = f"[{low:+6.1f}, {high:+6.1f}]" if low == low else "[  n/a,   n/a]"
            seeds = " ".join(f"{v:+5.1f}" for v in gain["per_seed"].values())
            lines.append(f"  {spec:<13}{gain['mean']:+6.1f} {interval}   {seeds}")
    for spec, floor in payload.get("noise_floor", {}).items():
        first, again = floor["mean_dice"]
        lines.append(f"\nnoise floor: {spec} seed {floor['seed']} rerun with {floor['threads']} threads: "
                     f"{first:.3f} -> {again:.3f} ({floor['difference']:+.1f} points)")  # fmt: skip
    return "\n".join(lines)
