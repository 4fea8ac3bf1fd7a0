"""Tables of finished ablation runs next to the paper's (MONA TPAMI 2024 Tables III and VI).

`summarise_grid` takes the mean and spread over seeds of the runs of
``benchmarks/ablation_grid.py``; `load_grid` reads the stored grid
(``notebooks/results/ablation_grid.json``); `grid_comparison`, `format_grid_comparison` and
`rank_agreement` put it next to the paper's MONA rows; `format_grid_rows` prints chosen rows
per class and `seed_gaps` pairs two rows by seed; `head_and_tail` splits the foreground classes
by frequency so a table can show head and tail Dice apart.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from mona_lab.errors import MonaLabError
from mona_lab.lab.ablation.paper import COMBINATIONS, PAPER_TABLE_VI_MONA, combination_name
from mona_lab.lab.ablation.runs import SUPERVISED_NAME
from mona_lab.lab.run_records import read_json_file

# the stored grid in the repository's notebooks folder (this file: mona_lab/lab/ablation/tables.py)
DEFAULT_GRID_PATH = Path(__file__).resolve().parents[3] / "notebooks" / "results" / "ablation_grid.json"
# the same grid on ACDC (``benchmarks/ablation_grid.py --dataset acdc``)
DEFAULT_ACDC_GRID_PATH = DEFAULT_GRID_PATH.with_name("ablation_grid_acdc.json")


# --------------------------------------------------------------------------- head and tail
def head_and_tail(class_names, fractions, tail_share: float = 0.4) -> tuple[list[str], list[str]]:
    """Split the foreground classes into head and tail by pixel frequency.

    The tail is the ``round(tail_share * K)`` rarest of the K foreground classes (at least one,
    at most K - 1; phantom: PE and PM of five; ACDC: RV, the rarest of three). Background (index 0) is never in
    either list.

    Args:
        class_names: C names, background first.
        fractions: C pixel fractions (e.g. `ClassStats.fractions`).
        tail_share: the share of foreground classes counted as tail, in (0, 1).

    Returns:
        (head, tail) name lists, each from most to least frequent.

    Raises:
        ValueError: lengths differ, fewer than two foreground classes, or a bad ``tail_share``.
    """
    names = list(class_names)
    freq = np.asarray(fractions, dtype=float)
    if freq.shape != (len(names),):
        raise ValueError(f"fractions has shape {freq.shape}, expected ({len(names)},) for class_names {names}")
    if len(names) < 3:
        raise ValueError(f"need at least two foreground classes, got {names}")
    if not 0.0 < tail_share < 1.0:
        raise ValueError(f"tail_share must lie in (0, 1), got {tail_share}")
    order = [i for i in np.argsort(-freq[1:], kind="stable") + 1]
    count = max(1, math.floor(tail_share * len(order) + 0.5))
    count = min(count, len(order) - 1)
    return [names[i] for i in order[:-count]], [names[i] for i in order[-count:]]


def head_tail_dice(row: dict[str, Any], head: list[str], tail: list[str]) -> tuple[float, float]:
    """Mean Dice of a row over the head classes and over the tail classes."""
    return float(np.mean([row["dice"][n] for n in head])), float(np.mean([row["dice"][n] for n in tail]))



def summarise_grid(
    runs: list[dict[str, Any]], head: list[str] | None = None, tail: list[str] | None = None
) -> list[dict[str, Any]]:
    """Mean and spread over seeds per combination (supervised baseline first, then Table III order).

    Returns rows ``{name, seeds, mean_dice, mean_dice_std, mean_asd, mean_asd_std, dice
    {class: mean}, dice_std {class: std}, head_dice, tail_dice, head_dice_std,
    tail_dice_std}`` (stds over seeds with ``ddof=0``; head/tail only when both lists are given).
    """
    order = [SUPERVISED_NAME] + [combination_name(*c) for c in COMBINATIONS]
    groups: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault(run["name"], []).append(run)
    summary = []
    for name in [n for n in order if n in groups] + sorted(set(groups) - set(order)):
        members = groups[name]
        classes = list(members[0]["dice"])
        entry: dict[str, Any] = {
            "name": name,
            "seeds": sorted(int(m["seed"]) for m in members),
            "mean_dice": float(np.mean([m["mean_dice"] for m in members])),
            "mean_dice_std": float(np.std([m["mean_dice"] for m in members])),
            "mean_asd": float(np.mean([m["mean_asd"] for m in members])),
            "mean_asd_std": float(np.std([m["mean_asd"] for m in members])),
            "dice": {c: float(np.mean([m["dice"][c] for m in members])) for c in classes},
            "dice_std": {c: float(np.std([m["dice"][c] for m in members])) for c in classes},
            "asd": {c: float(np.mean([m["asd"][c] for m in members])) for c in classes},
        }
        if head and tail:
            entry["head_dice"] = float(np.mean([entry["dice"][c] for c in head]))
            entry["tail_dice"] = float(np.mean([entry["dice"][c] for c in tail]))
            # spread over seeds of each run's head (tail) mean
            entry["head_dice_std"] = float(np.std([np.mean([m["dice"][c] for c in head]) for m in members]))
            entry["tail_dice_std"] = float(np.std([np.mean([m["dice"][c] for c in tail]) for m in members]))
        summary.append(entry)
    return summary


def load_grid(path: str | Path | None = None) -> dict[str, Any]:
    """Read a stored ablation grid (default ``notebooks/results/ablation_grid.json``).

    Raises:
        MonaLabError: the file is missing or not a grid written by benchmarks/ablation_grid.py.
    """
    path = Path(path) if path is not None else DEFAULT_GRID_PATH
    grid = read_json_file(path, "ablation grid", f"make it with: python benchmarks/ablation_grid.py --out {path}")
    if not isinstance(grid, dict):
        raise MonaLabError(f"ablation grid {path} is not a JSON object; was it written by benchmarks/ablation_grid.py?")
    missing = [k for k in ("metadata", "runs", "summary") if k not in grid]
    if missing:
        raise MonaLabError(f"ablation grid {path} lacks {missing}; was it written by benchmarks/ablation_grid.py?")
    return grid


def format_grid_rows(grid: dict[str, Any], names: list[str]) -> str:
    """Some rows of a stored grid's summary as a text table: Dice per foreground class, head and
    tail Dice, mean Dice and its spread (population sd over seeds).

    Rows the grid does not have are left out (a grid run without ``--no-diagnostics`` has the
    diagnostic rows, others do not); an empty selection raises.

    Raises:
        MonaLabError: none of ``names`` is in the grid's summary.
    """
    summary = {row["name"]: row for row in grid["summary"]}
    rows = [summary[n] for n in names if n in summary]
    if not rows:
        raise MonaLabError(f"none of {names} is a row of this grid (it has {sorted(summary)})")
    classes = list(rows[0]["dice"])
    width = max(len(r["name"]) for r in rows) + 2
    lines = [f"{'run':<{width}}" + "".join(f"{c:>7}" for c in classes) + f"{'head':>7}{'tail':>7}{'mean':>7}{'±':>6}"]
    for row in rows:
        lines.append(f"{row['name']:<{width}}" + "".join(f"{row['dice'][c]:7.2f}" for c in classes)
                     + f"{row['head_dice']:7.2f}{row['tail_dice']:7.2f}{row['mean_dice']:7.3f}{row['mean_dice_std']:6.3f}")  # fmt: skip
    return "\n".join(lines)


def seed_gaps(grid: dict[str, Any], minuend: str, subtrahend: str) -> dict[int, float]:
    """Mean Dice of row ``minuend`` minus row ``subtrahend``, in points, for each seed both have.

    The paired comparison of two rows: both runs of a seed share the labelled patients, the
    initial weights and the batch order, so the per-seed gap is free of the seed-to-seed spread
    that the rows' own standard deviations carry.
    """
    by_run = {(r["name"], r["seed"]): r["mean_dice"] for r in grid["runs"]}
    seeds = sorted(s for (name, s) in by_run if name == minuend and (subtrahend, s) in by_run)
    return {s: 100 * (by_run[(minuend, s)] - by_run[(subtrahend, s)]) for s in seeds}


def grid_comparison(grid: dict[str, Any], paper_ratio: str = "5%") -> list[dict[str, Any]]:
    """mona_lab's grid next to the paper's MONA rows (Table VI at ``paper_ratio``; 5 % = Table III).

    Each row: ``name, dice, dice_std, asd, dice_gain`` (mona_lab, Dice in % and gain over
    vanilla in points) and ``paper_dice, paper_asd, paper_gain`` (``None`` for the
    supervised baseline, which the paper's ablation tables do not have).
    """
    if paper_ratio not in PAPER_TABLE_VI_MONA:
        raise ValueError(f"paper_ratio must be one of {list(PAPER_TABLE_VI_MONA)}, got {paper_ratio!r}")
    paper = PAPER_TABLE_VI_MONA[paper_ratio]
    summary = {row["name"]: row for row in grid["summary"]}
    if "vanilla" not in summary:
        raise MonaLabError("the grid has no vanilla row to measure gains from")
    base = 100 * summary["vanilla"]["mean_dice"]
    rows = []
    for name, entry in summary.items():
        printed = paper.get(name)
        rows.append({
            "name": name,
            "dice": 100 * entry["mean_dice"],
            "dice_std": 100 * entry["mean_dice_std"],
            "asd": entry["mean_asd"],
            "dice_gain": 100 * entry["mean_dice"] - base,
            "head_dice": 100 * entry["head_dice"] if "head_dice" in entry else None,
            "tail_dice": 100 * entry["tail_dice"] if "tail_dice" in entry else None,
            "paper_dice": printed[0] if printed else None,
            "paper_asd": printed[1] if printed else None,
            "paper_gain": printed[0] - paper["vanilla"][0] if printed else None,
        })  # fmt: skip
    return rows


def format_grid_comparison(rows: list[dict[str, Any]]) -> str:
    """The comparison as a fixed-width text table (Dice in %, rounded to 0.1)."""

    def num(value, fmt):
        return format(value, fmt) if value is not None else "-"

    lines = [
        f"{'combination':<36}{'Dice':>7}{'±':>6}{'gain':>7}{'head':>7}{'tail':>7}{'ASD':>7}"
        f"  | {'paper Dice':>10}{'gain':>7}{'ASD':>7}",
    ]
    for r in rows:
        lines.append(
            f"{r['name']:<36}{r['dice']:>7.1f}{r['dice_std']:>6.1f}{r['dice_gain']:>+7.1f}"
            f"{num(r['head_dice'], '7.1f'):>7}{num(r['tail_dice'], '7.1f'):>7}{r['asd']:>7.1f}"
            f"  | {num(r['paper_dice'], '10.1f'):>10}{num(r['paper_gain'], '+7.1f'):>7}{num(r['paper_asd'], '7.3g'):>7}"
        )
    return "\n".join(lines)


def rank_agreement(rows: list[dict[str, Any]]) -> float:
    """Spearman rank correlation between mona_lab's and the paper's Dice over the rows
    both have (the eight combinations); 1 = same order, NaN when all of one side tie."""
    pairs = [(r["dice"], r["paper_dice"]) for r in rows if r["paper_dice"] is not None]
    if len(pairs) < 2:
        raise ValueError("need at least two rows with paper numbers")
    ours, paper = (np.array(v, dtype=float) for v in zip(*pairs))

    def ranks(x):
        order = np.argsort(x, kind="stable")
        r = np.empty(len(x))
        r[order] = np.arange(len(x))
        for value in np.unique(x):  # average ranks for ties
            r[x == value] = r[x == value].mean()
        return r

    a, b = ranks(ours), ranks(paper)
    a, b = a - a.mean(), b - b.mean()
    norm = math.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / norm) if norm > 0 else float("nan")  # nan: one side has no spread
