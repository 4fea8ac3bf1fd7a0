"""MONA's principle ablations (TPAMI 2024 Tables III and VI): run one, run the grid, compare.

MONA's fine-tuning loss (Sec. III-B) is ``L_sup + l1 L_contrast + l2 L_eqv + l3 L_unsup +
l4 L_nn``; each of the three principles switches one term (``TrainConfig.tailness``,
``consistency``, ``diversity``; see `mona_lab.methods.mona`):

- tailness -> L_contrast (Eq. 3-5: hard queries, class-mean positives, graph negatives);
- consistency -> L_eqv (Eq. 6);
- diversity -> L_nn (K nearest teacher embeddings in a FIFO bank).

"Vanilla" (all three off) is GLCon pre-training followed by L_sup + L_unsup, the row the
paper's tables start from. Table III is MONA on ACDC at 5 % labels; Table VI repeats the
same eight combinations for six contrastive frameworks at 1 / 5 / 10 %; its MONA block at
5 % is Table III. The printed numbers are kept here (`PAPER_TABLE_III`,
`PAPER_TABLE_VI_MONA`, `PAPER_TABLE_IV`) so notebooks put them next to mona_lab's runs.

`run_ablation_row` trains one short run and returns a plain dict (the widget callback of
notebooks 02-04 and the unit of ``benchmarks/ablation_grid.py``); `summarise_grid` and
`grid_comparison` turn the stored runs (``notebooks/results/ablation_grid.json``) into the
tables the notebooks print.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mona_lab.errors import MonaLabError

PRINCIPLES = ("tailness", "consistency", "diversity")
# the eight rows of MONA Table III / VI, in the paper's order
COMBINATIONS: tuple[tuple[bool, bool, bool], ...] = (
    (False, False, False),
    (True, False, False),
    (False, True, False),
    (False, False, True),
    (True, True, False),
    (False, True, True),
    (True, False, True),
    (True, True, True),
)
SUPERVISED_NAME = "supervised (UNet-L)"
SAMPLERS = ("ns", "sg", "sag")
# loss components each switch adds to log.csv
PRINCIPLE_LOSSES = {"tailness": "contrast", "consistency": "eqv", "diversity": "nn"}
DEFAULT_GRID_PATH = Path(__file__).resolve().parent.parent / "notebooks" / "results" / "ablation_grid.json"


def combination_name(tailness: bool, consistency: bool, diversity: bool) -> str:
    """The paper's row name: ``"vanilla"``, ``"tailness + consistency"``, ... (Table VI wording)."""
    used = [name for name, on in zip(PRINCIPLES, (tailness, consistency, diversity)) if on]
    return " + ".join(used) if used else "vanilla"


# --------------------------------------------------------------------------- paper numbers
# MONA TPAMI 2024 Table VI, block "MONA (ours)": ACDC, UNet, mean of three runs; DSC [%], ASD [mm].
PAPER_TABLE_VI_MONA: dict[str, dict[str, tuple[float, float]]] = {
    "1%": {
        "vanilla": (49.3, 7.11),
        "tailness": (75.1, 1.83),
        "consistency": (81.5, 2.78),
        "diversity": (62.8, 3.97),
        "tailness + consistency": (81.2, 2.19),
        "consistency + diversity": (81.8, 3.29),
        "tailness + diversity": (78.6, 3.33),
        "tailness + consistency + diversity": (82.6, 2.03),
    },
    "5%": {
        "vanilla": (74.2, 3.89),
        "tailness": (83.1, 0.602),
        "consistency": (84.2, 1.86),
        "diversity": (78.2, 3.07),
        "tailness + consistency": (88.1, 0.864),
        "consistency + diversity": (80.2, 2.11),
        "tailness + diversity": (85.0, 0.913),
        "tailness + consistency + diversity": (88.8, 0.622),
    },
    "10%": {
        "vanilla": (86.5, 1.92),
        "tailness": (87.8, 0.577),
        "consistency": (88.4, 1.33),
        "diversity": (86.6, 1.88),
        "tailness + consistency": (90.1, 0.966),
        "consistency + diversity": (86.9, 1.67),
        "tailness + diversity": (89.5, 0.673),
        "tailness + consistency + diversity": (90.7, 0.864),
    },
}
# MONA TPAMI 2024 Table III (ACDC, 5 % labels): the same numbers as Table VI's MONA block at 5 %.
PAPER_TABLE_III: dict[str, tuple[float, float]] = dict(PAPER_TABLE_VI_MONA["5%"])
# MONA TPAMI 2024 Table IV: augmentation pairs, 5 % labels; (student aug., teacher aug., DSC %, ASD mm).
PAPER_TABLE_IV: dict[str, list[tuple[str, str, float, float]]] = {
    "ACDC": [("weak", "weak", 86.0, 1.02), ("strong", "weak", 88.8, 0.622),
             ("weak", "strong", 86.4, 2.83), ("strong", "strong", 88.8, 2.07)],
    "LiTS": [("weak", "weak", 62.3, 26.5), ("strong", "weak", 67.3, 16.4),
             ("weak", "strong", 64.3, 34.7), ("strong", "strong", 66.5, 21.1)],
}  # fmt: skip


# --------------------------------------------------------------------------- budgets
@dataclass(frozen=True)
class AblationBudget:
    """How big and how long one ablation run is.

    Attributes:
        iterations: fine-tuning iterations (the MONA stage the switches act on).
        pretrain_iterations: GLCon pre-training iterations before it.
        image_size, width, embed_dim, batch_size: the network and batch (see `TrainConfig`).
        num_queries, num_negatives: pixel-contrast sizes (MONA: 256 and 512).
        lr: SGD learning rate. MONA uses 0.01 for tens of thousands of iterations; these runs
            have hundreds, and on the 64 px phantom 0.15 learns much faster (supervised runs
            from 2 patients reached mean Dice 0.14 after 300 iterations at lr 0.01, 0.31 at
            0.05, and 0.45 after 450 at 0.15).
        queue_size: mined views / nearest-neighbour bank (MONA: 36).
    """

    iterations: int
    pretrain_iterations: int
    image_size: int = 64
    width: float = 0.5
    embed_dim: int = 32
    batch_size: int = 6
    num_queries: int = 64
    num_negatives: int = 128
    lr: float = 0.15
    queue_size: int = 36

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# A notebook's short run in fast mode (seconds on a laptop CPU; far too short to converge).
NOTEBOOK_FAST_BUDGET = AblationBudget(iterations=20, pretrain_iterations=10, width=0.25, embed_dim=16,
                                      num_queries=32, num_negatives=64)
# benchmarks/ablation_grid.py: one to two minutes of one CPU core per MONA run at 64 px.
GRID_BUDGET = AblationBudget(iterations=600, pretrain_iterations=100)
# A notebook's run without fast mode: the grid's budget (minutes on a CPU, seconds on a GPU).
NOTEBOOK_FULL_BUDGET = GRID_BUDGET
# Diagnostic rows the grid adds (not in the paper): vanilla without the pseudo-label term.
DIAGNOSTIC_NO_UNSUP = "vanilla without L_unsup (diagnostic)"
# benchmarks/ablation_grid.py --fast: a smoke run.
GRID_FAST_BUDGET = AblationBudget(iterations=2, pretrain_iterations=1, width=0.25, embed_dim=8,
                                  num_queries=8, num_negatives=16)  # fmt: skip


def notebook_budget(fast: bool | None = None) -> AblationBudget:
    """`NOTEBOOK_FAST_BUDGET` in fast mode (``None``: read ``MONA_LAB_FAST``), else `NOTEBOOK_FULL_BUDGET`."""
    if fast is None:
        from mona_lab.runtime import is_fast_mode

        fast = is_fast_mode()
    return NOTEBOOK_FAST_BUDGET if fast else NOTEBOOK_FULL_BUDGET


# --------------------------------------------------------------------------- one run
def read_log(path: Path) -> list[dict[str, str]]:
    """Rows of a run's ``log.csv`` (every value a string; empty where a component is absent)."""
    with Path(path).open(newline="") as handle:
        return list(csv.DictReader(handle))


def logged_components(rows: list[dict[str, str]], stage: str | None = None) -> list[str]:
    """Loss columns with at least one value in ``rows`` (of ``stage`` only, when given),
    in log order, without the bookkeeping columns."""
    skip = {"step", "stage", "lr", "temperature", "val_mean_dice"}
    chosen = [r for r in rows if stage is None or r["stage"] == stage]
    if not chosen:
        return []
    return [k for k in chosen[0] if k not in skip and any(r[k] not in ("", None) for r in chosen)]


def _final_losses(rows: list[dict[str, str]], components: list[str], last: int = 10) -> dict[str, float]:
    tail = rows[-last:]
    return {k: float(np.mean([float(r[k]) for r in tail if r[k] not in ("", None)])) for k in components}


def run_ablation_row(
    tailness: bool = True,
    consistency: bool = True,
    diversity: bool = True,
    labeled: int = 2,
    sampler: str = "ns",
    *,
    data,
    iterations: int | None = None,
    pretrain_iterations: int | None = None,
    seed: int = 0,
    budget: AblationBudget | None = None,
    method: str = "mona",
    out: str | Path | None = None,
    device: str = "auto",
    keep_result: bool = True,
    overrides: dict[str, Any] | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """Train one short MONA run with the given principle switches and return its table row.

    The callback behind the widget panel of notebooks 02-04 and the unit of the ablation
    grid. ``method="supervised"`` trains the UNet-L baseline for ``pretrain_iterations +
    iterations`` steps instead (the switches and the sampler are then ignored).

    Args:
        tailness, consistency, diversity: MONA's switches (Tables III and VI).
        labeled: labelled training patients (a count >= 1, or a ratio in (0, 1)).
        sampler: pixel sampler of the contrast, ``"ns"``, ``"sg"`` or ``"sag"`` (ARCO).
        data: a loaded `SegmentationData` (its ``image_size`` is the run's).
        iterations, pretrain_iterations: override the budget's.
        seed: run seed (also picks the labelled patients).
        budget: sizes and lengths (default: `notebook_budget()`).
        method: ``"mona"`` or ``"supervised"``.
        out: run folder (must be new or empty); ``None``: a fresh temporary folder.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        keep_result: put the `TrainResult` (trained method and metrics) under ``"result"``.
        overrides: other `TrainConfig` fields for diagnostic runs (e.g. ``{"lambda_unsup": 0.0}``).
        name: the row's name (default: the paper's name of the combination).

    Returns:
        a dict with ``name, method, tailness, consistency, diversity, labeled, sampler, seed,
        iterations, pretrain_iterations, dataset, labeled_patients, mean_dice, mean_asd,
        dice {class: value}, asd {class: value}, loss_components (fine-tuning stage),
        final_losses {component: mean of the last 10 steps}, overrides, seconds (wall),
        cpu_seconds (this process's CPU time, all threads), out`` and, with
        ``keep_result``, ``result``.

    Raises:
        ValueError: an unknown sampler or method, or a non-positive iteration count.
    """
    from mona_lab.config import TrainConfig
    from mona_lab.engine import train

    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    if method not in ("mona", "supervised"):
        raise ValueError(f"method must be 'mona' or 'supervised', got {method!r}")
    budget = budget or notebook_budget()
    iterations = budget.iterations if iterations is None else int(iterations)
    pretrain = budget.pretrain_iterations if pretrain_iterations is None else int(pretrain_iterations)
    if iterations < 1 or pretrain < 0:
        raise ValueError(f"iterations must be >= 1 and pretrain_iterations >= 0, got {iterations}, {pretrain}")
    if out is None:
        out = Path(tempfile.mkdtemp(prefix="mona_lab_ablation_")) / "run"
    supervised = method == "supervised"
    config = TrainConfig(
        method=method,
        out=str(out),
        dataset=data.name,
        labeled=labeled,
        iterations=iterations + pretrain if supervised else iterations,
        pretrain_iterations=None if supervised else pretrain,
        image_size=int(data.image_size),
        batch_size=budget.batch_size,
        seed=int(seed),
        device=device,
        progress=False,
        lr=budget.lr,
        width=budget.width,
        embed_dim=budget.embed_dim,
        tailness=bool(tailness),
        consistency=bool(consistency),
        diversity=bool(diversity),
        sampler=sampler,
        num_queries=budget.num_queries,
        num_negatives=budget.num_negatives,
        queue_size=budget.queue_size,
        validate_every=10**9,
        checkpoint_every=10**9,
        **(overrides or {}),
    )
    start, cpu_start = time.perf_counter(), time.process_time()
    result = train(config, data=data)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    rows = read_log(Path(config.out) / "log.csv")
    stage = "supervised" if supervised else "finetune"
    components = logged_components(rows, stage)
    stage_rows = [r for r in rows if r["stage"] == stage]
    names = list(result.metrics["per_class"])
    row: dict[str, Any] = {
        "name": name or (SUPERVISED_NAME if supervised else combination_name(tailness, consistency, diversity)),
        "method": method,
        "tailness": bool(tailness) and not supervised,
        "consistency": bool(consistency) and not supervised,
        "diversity": bool(diversity) and not supervised,
        "labeled": labeled,
        "sampler": sampler,
        "seed": int(seed),
        "iterations": iterations,
        "pretrain_iterations": pretrain,
        "dataset": data.name,
        "labeled_patients": list(result.metrics.get("labeled_patients", [])),
        "mean_dice": float(result.metrics["mean_dice"]),
        "mean_asd": float(result.metrics["mean_asd"]),
        "dice": {n: float(result.metrics["per_class"][n]["dice"]) for n in names},
        "asd": {n: float(result.metrics["per_class"][n]["asd"]) for n in names},
        "loss_components": components,
        "final_losses": _final_losses(stage_rows, components),
        "overrides": dict(overrides or {}),
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "out": str(config.out),
    }
    if keep_result:
        row["result"] = result
    return row


def json_ready(row: dict[str, Any]) -> dict[str, Any]:
    """A row without its `TrainResult` (what the grid stores)."""
    return {k: v for k, v in row.items() if k != "result"}


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


# --------------------------------------------------------------------------- the grid
def grid_jobs(seeds, include_supervised: bool = True, include_diagnostics: bool = False,
              combinations=COMBINATIONS) -> list[dict[str, Any]]:
    """Keyword sets for `run_ablation_row`: every combination x seed, in a fixed order; per
    seed also the supervised baseline and, with ``include_diagnostics``, vanilla without
    the pseudo-label term (``lambda_unsup = 0``, `DIAGNOSTIC_NO_UNSUP`)."""
    jobs = []
    for seed in seeds:
        if include_supervised:
            jobs.append({"method": "supervised", "tailness": False, "consistency": False, "diversity": False, "seed": int(seed)})
        for t, c, d in combinations:
            jobs.append({"method": "mona", "tailness": t, "consistency": c, "diversity": d, "seed": int(seed)})
        if include_diagnostics:
            jobs.append({"method": "mona", "tailness": False, "consistency": False, "diversity": False, "seed": int(seed),
                         "overrides": {"lambda_unsup": 0.0}, "name": DIAGNOSTIC_NO_UNSUP})  # fmt: skip
    return jobs


def summarise_grid(
    runs: list[dict[str, Any]], head: list[str] | None = None, tail: list[str] | None = None
) -> list[dict[str, Any]]:
    """Mean and spread over seeds per combination (supervised baseline first, then Table III order).

    Returns rows ``{name, seeds, mean_dice, mean_dice_std, mean_asd, mean_asd_std, dice
    {class: mean}, dice_std {class: std}, head_dice, tail_dice}`` (stds with ``ddof=0``;
    head/tail only when both lists are given).
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
        summary.append(entry)
    return summary


def load_grid(path: str | Path | None = None) -> dict[str, Any]:
    """Read a stored ablation grid (default ``notebooks/results/ablation_grid.json``).

    Raises:
        MonaLabError: the file is missing or not a grid written by benchmarks/ablation_grid.py.
    """
    path = Path(path) if path is not None else DEFAULT_GRID_PATH
    try:
        grid = json.loads(path.read_text())
    except FileNotFoundError as err:
        raise MonaLabError(f"no ablation grid at {path}; make it with: python benchmarks/ablation_grid.py --out {path}") from err
    except json.JSONDecodeError as err:
        raise MonaLabError(f"ablation grid {path} is not valid JSON: {err}") from err
    missing = [k for k in ("metadata", "runs", "summary") if k not in grid]
    if missing:
        raise MonaLabError(f"ablation grid {path} lacks {missing}; was it written by benchmarks/ablation_grid.py?")
    return grid


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
        f"{'combination':<36}{'Dice':>7}{'+-':>6}{'gain':>7}{'head':>7}{'tail':>7}{'ASD':>7}"
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
