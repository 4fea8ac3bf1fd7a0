"""One short MONA run per switch combination (MONA TPAMI 2024 Tables III and VI), and the grid of them.

`AblationBudget` says how big and how long a run is (`notebook_budget`: seconds in fast
mode); `run_ablation_row` trains one run with `mona_lab.engine.train` and returns a plain
dict (the widget callback of notebooks 02-04 and the unit of
``benchmarks/ablation_grid.py``); `grid_jobs` lists the runs of the whole grid. The paper's
rows and numbers are in `mona_lab.lab.ablation.paper`; the tables made from finished runs
in `mona_lab.lab.ablation.tables`.
"""
from __future__ import annotations

import csv
import dataclasses
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mona_lab.lab.ablation.paper import COMBINATIONS, combination_name

SUPERVISED_NAME = "supervised (UNet-L)"
SAMPLERS = ("ns", "sg", "sag")


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
        supervised_batch_size: the supervised baseline's batch (``None``: ``batch_size``).
            The stored studies give it the labelled half of the semi-supervised batch, so
            every method sees the same labelled slices per step (the protocol of
            ``benchmarks/acdc_reduced.py``).
        lr_decay_at: divide the learning rate by 10 at this iteration, pre-training
            included (``None``: the `TrainConfig` step schedule), so the last model is not
            a sample of a constant-rate random walk.
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
    supervised_batch_size: int | None = None
    lr_decay_at: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# A notebook's short run in fast mode (seconds on a laptop CPU; far too short to converge).
NOTEBOOK_FAST_BUDGET = AblationBudget(iterations=20, pretrain_iterations=10, width=0.25, embed_dim=16,
                                      num_queries=32, num_negatives=64)
# A notebook's run at the lecture size (the default on a CPU, `mona_lab.lab_size`): the fast
# run's network, 10x as long. benchmarks/lecture_budget.py, one thread of a shared 2-core
# machine: a MONA run 50 s wall (33 s CPU), a supervised run 16 s; mean Dice 0.14 and 0.12
# (fast: 0.00), so a cell that trains two runs takes about a minute.
NOTEBOOK_LECTURE_BUDGET = AblationBudget(iterations=240, pretrain_iterations=60, width=0.25, embed_dim=16,
                                         num_queries=32, num_negatives=64)
# benchmarks/ablation_grid.py on the phantom: 64 px, 4 labelled (+ 4 unlabelled) slices per
# step for every method, lr / 10 for the last fifth (see the measured CPU seconds in its docstring).
GRID_BUDGET = AblationBudget(iterations=600, pretrain_iterations=100, batch_size=8, supervised_batch_size=4,
                             lr_decay_at=560)  # fmt: skip
# benchmarks/ablation_grid.py --dataset acdc: the setting of benchmarks/acdc_reduced.py (its
# MONA row is this grid's "all three" row): 128 px, width 0.25, 2500 iterations (150 GLCon),
# 4 + 4 slices per step (supervised 4), lr 0.05 / 10 at iteration 2000.
ACDC_GRID_BUDGET = AblationBudget(iterations=2350, pretrain_iterations=150, image_size=128, width=0.25,
                                  embed_dim=32, batch_size=8, supervised_batch_size=4, num_queries=256,
                                  num_negatives=512, lr=0.05, lr_decay_at=2000)  # fmt: skip
# A notebook's run without fast mode: the grid's budget (minutes on a CPU, seconds on a GPU).
NOTEBOOK_FULL_BUDGET = GRID_BUDGET
# Diagnostic rows the grid adds (not in the paper): vanilla without the pseudo-label term.
DIAGNOSTIC_NO_UNSUP = "vanilla without L_unsup (diagnostic)"
# benchmarks/ablation_grid.py --fast: a smoke run.
GRID_FAST_BUDGET = AblationBudget(iterations=2, pretrain_iterations=1, width=0.25, embed_dim=8,
                                  num_queries=8, num_negatives=16)  # fmt: skip


def notebook_budget(fast: bool | None = None, *, size=None) -> AblationBudget:
    """The notebooks' run budget at a lab size (`mona_lab.lab_size`).

    `NOTEBOOK_FAST_BUDGET`, `NOTEBOOK_LECTURE_BUDGET` or `NOTEBOOK_FULL_BUDGET`. ``size`` (a
    `LabSize` or its name) wins; else ``fast=True`` means fast and ``fast=False`` full (the
    old switch); neither: the size the environment chooses (`mona_lab.lab_size.lab_size`).
    """
    from mona_lab.lab_size import LabSize, lab_size

    if size is None:
        size = lab_size() if fast is None else (LabSize.FAST if fast else LabSize.FULL)
    budgets = {LabSize.FAST: NOTEBOOK_FAST_BUDGET, LabSize.LECTURE: NOTEBOOK_LECTURE_BUDGET,
               LabSize.FULL: NOTEBOOK_FULL_BUDGET}  # fmt: skip
    try:
        return budgets[LabSize(size)]
    except ValueError as err:
        raise ValueError(f"size must be one of {[s.value for s in LabSize]}, got {size!r}") from err


# --------------------------------------------------------------------------- one run
def read_log_rows(path: Path) -> list[dict[str, str]]:
    """Rows of a run's ``log.csv`` (every value a string; empty where a component is absent).

    The raw rows `logged_components` and the row's final losses need; for the columns as
    arrays (to plot curves) see `mona_lab.lab.results.read_log`.
    """
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
        final_losses {component: mean of the last 10 steps}, overrides, config (the
        `TrainConfig` fields but ``out``), recipe (``"working"``, ``"paper"`` or
        ``"custom"``), seconds (wall),
        cpu_seconds (this process's CPU time, all threads), out`` and, with
        ``keep_result``, ``result``.

    Raises:
        ValueError: an unknown sampler or method, or a non-positive iteration count.
    """
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
    config = ablation_config(
        tailness, consistency, diversity, labeled, sampler, data=data, iterations=iterations,
        pretrain_iterations=pretrain, seed=seed, budget=budget, method=method, out=out, device=device, overrides=overrides,
    )  # fmt: skip
    start, cpu_start = time.perf_counter(), time.process_time()
    result = train(config, data=data)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    row = ablation_row(
        config, result, labeled=labeled, iterations=iterations, pretrain_iterations=pretrain, seconds=seconds,
        cpu_seconds=cpu_seconds, overrides=overrides, name=name,
    )  # fmt: skip
    if keep_result:
        row["result"] = result
    return row


def ablation_config(
    tailness: bool, consistency: bool, diversity: bool, labeled, sampler: str, *, data, iterations: int,
    pretrain_iterations: int, seed: int, budget: AblationBudget, method: str, out, device: str,
    overrides: dict[str, Any] | None,
):  # fmt: skip
    """The `TrainConfig` of one `run_ablation_row` run: the budget's sizes, the switches, and
    supervised trained for ``pretrain_iterations + iterations`` steps (the same budget)."""
    from mona_lab.config import TrainConfig

    pretrain = pretrain_iterations
    supervised = method == "supervised"
    batch_size = budget.supervised_batch_size if supervised and budget.supervised_batch_size else budget.batch_size
    schedule = {}
    if budget.lr_decay_at:  # the same global iteration for every method
        schedule["lr_step_every"] = max(1, budget.lr_decay_at - (0 if supervised else pretrain))
    config = TrainConfig(
        method=method,
        out=str(out),
        dataset=data.name,
        labeled=labeled,
        iterations=iterations + pretrain if supervised else iterations,
        pretrain_iterations=None if supervised else pretrain,
        image_size=int(data.image_size),
        batch_size=batch_size,
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
        **{**schedule, **(overrides or {})},
    )
    return config


def ablation_row(
    config, result, *, labeled, iterations: int, pretrain_iterations: int, seconds: float, cpu_seconds: float,
    overrides: dict[str, Any] | None, name: str | None,
) -> dict[str, Any]:  # fmt: skip
    """The table row of a finished `run_ablation_row` run (see its Returns), from its config,
    its `TrainResult` and its ``log.csv`` (``iterations`` and ``pretrain_iterations``: the
    budget asked for; a supervised run trains their sum)."""
    supervised = config.method == "supervised"
    tailness, consistency, diversity = config.tailness, config.consistency, config.diversity
    rows = read_log_rows(Path(config.out) / "log.csv")
    stage = "supervised" if supervised else "finetune"
    components = logged_components(rows, stage)
    stage_rows = [r for r in rows if r["stage"] == stage]
    names = list(result.metrics["per_class"])
    row: dict[str, Any] = {
        "name": name or (SUPERVISED_NAME if supervised else combination_name(tailness, consistency, diversity)),
        "method": config.method,
        "tailness": bool(tailness) and not supervised,
        "consistency": bool(consistency) and not supervised,
        "diversity": bool(diversity) and not supervised,
        "labeled": labeled,
        "sampler": config.sampler,
        "seed": config.seed,
        "iterations": iterations,
        "pretrain_iterations": pretrain_iterations,
        "dataset": config.dataset,
        "labeled_patients": list(result.metrics.get("labeled_patients", [])),
        "mean_dice": float(result.metrics["mean_dice"]),
        "mean_asd": float(result.metrics["mean_asd"]),
        "dice": {n: float(result.metrics["per_class"][n]["dice"]) for n in names},
        "asd": {n: float(result.metrics["per_class"][n]["asd"]) for n in names},
        "loss_components": components,
        "final_losses": _final_losses(stage_rows, components),
        "overrides": dict(overrides or {}),
        "config": {k: v for k, v in config.to_dict().items() if k != "out"},
        "recipe": config.recipe,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "out": str(config.out),
    }
    return row


def json_ready(row: dict[str, Any]) -> dict[str, Any]:
    """A row without its `TrainResult` (what the grid stores)."""
    return {k: v for k, v in row.items() if k != "result"}


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
