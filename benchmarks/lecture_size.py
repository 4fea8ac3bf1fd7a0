"""Choose the lecture size by measurement (issue 24, point 2: "a lecture size that learns").

The lecture size is what a notebook trains on a laptop CPU (`mona_lab.lab_size`). Its target:
on 2 cores a supervised run in <= 60 s and a MONA run in <= 3 minutes of wall time, supervised
reaching mean Dice >= 0.6 with every class above 0 (the tail included), and a semi-supervised
gain that shows. This script trains each candidate budget (`CANDIDATES`: network width,
optimiser, iterations, phantom heterogeneity) with `mona_lab.lab.ablation.run_ablation_row`,
the call the notebooks' panels make, on the phantom each candidate names (patients, pixels,
heterogeneity; by default the fast one, 12 patients at 64 px, 2 labelled), and stores every run (wall and CPU seconds, Dice per class) in
``--runs`` (one ``<run>/record.json`` each, committed, so a stopped search resumes on any
checkout) and the summary in ``--json``:

    OMP_NUM_THREADS=1 python benchmarks/lecture_size.py --candidates current sgd-1200-h1 --seeds 10 11 12
    python benchmarks/lecture_size.py --stored-only          # summary from the stored runs

Choices are made on tuning seeds (10-14, other labelled patients); the reported seeds are 0-4.
Each run uses one torch thread (the notebooks' setting below the full size), so its wall time
is a single core's: two runs side by side on a 2-core laptop each take about that long.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

from mona_lab.atomic_files import atomic_write_text
from mona_lab.lab.ablation import AblationBudget
from mona_lab.lab.ablation.runs import GRID_BUDGET, NOTEBOOK_LECTURE_BUDGET

_SMALL = dict(width=0.25, embed_dim=16, num_queries=32, num_negatives=64)
_SGD_1200 = AblationBudget(iterations=1100, pretrain_iterations=100, lr_decay_at=1000, **_SMALL)
_ADAMW = {"optimizer": "adamw", "lr_schedule": "poly"}


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One lecture size to try: the run budget, other `TrainConfig` fields, and the phantom
    (patients, pixels, heterogeneity) the notebook would load."""

    budget: AblationBudget
    overrides: dict = dataclasses.field(default_factory=dict)
    heterogeneity: float = 1.0
    patients: int = 12
    image_size: int = 64
    labeled: int = 2


CANDIDATES: dict[str, Candidate] = {
    "current": Candidate(NOTEBOOK_LECTURE_BUDGET, heterogeneity=0.0),
    "current-h1": Candidate(NOTEBOOK_LECTURE_BUDGET),
    "sgd-800-h1": Candidate(AblationBudget(iterations=700, pretrain_iterations=100, lr_decay_at=700, **_SMALL)),
    "adamw-800-h1": Candidate(AblationBudget(iterations=700, pretrain_iterations=100, lr=0.003, **_SMALL), _ADAMW),
    "adamw-500-h1": Candidate(AblationBudget(iterations=440, pretrain_iterations=60, lr=0.003, **_SMALL), _ADAMW),
    "adamw-800-w05-h1": Candidate(AblationBudget(iterations=700, pretrain_iterations=100, lr=0.003, width=0.5,
                                                 embed_dim=16, num_queries=32, num_negatives=64), _ADAMW),
    "adamw1e3-800-h1": Candidate(AblationBudget(iterations=700, pretrain_iterations=100, lr=0.001, **_SMALL), _ADAMW),
    "sgd-1200-w05-h1": Candidate(AblationBudget(iterations=1100, pretrain_iterations=100, lr_decay_at=1000, width=0.5,
                                                embed_dim=16, num_queries=32, num_negatives=64)),
    "sgd-1200-h1": Candidate(_SGD_1200),
    "sgd-1200-h0": Candidate(_SGD_1200, heterogeneity=0.0),
    "sgd-1200-h05": Candidate(_SGD_1200, heterogeneity=0.5),
    # more patients (the stored grid's phantom: 40 at 64 px) and a third labelled patient
    "sgd-1200-h05-p40": Candidate(_SGD_1200, heterogeneity=0.5, patients=40),
    "sgd-1200-h05-p40-l3": Candidate(_SGD_1200, heterogeneity=0.5, patients=40, labeled=3),
    "sgd-1200-h1-p40-l3": Candidate(_SGD_1200, heterogeneity=1.0, patients=40, labeled=3),
    # the stored phantom grid's budget and phantom (20 patients at 64 px; supervised 0.553 there)
    "grid-h0-p20": Candidate(GRID_BUDGET, heterogeneity=0.0, patients=20),
    "grid-h05-p20": Candidate(GRID_BUDGET, heterogeneity=0.5, patients=20),
    "grid-h1-p20": Candidate(GRID_BUDGET, heterogeneity=1.0, patients=20),
}
TARGETS = {"supervised_seconds": 60.0, "mona_seconds": 180.0, "supervised_mean_dice": 0.6}


def run_key(candidate: str, method: str, seed: int) -> str:
    return f"{candidate}_{method}_seed{seed}"


def train_one(candidate: str, method: str, seed: int) -> dict:
    """One run of a candidate: `run_ablation_row` with all three principles (MONA) or the
    supervised baseline at the same budget; the row's numbers that matter here."""
    from mona_lab.lab.ablation import run_ablation_row
    from mona_lab.lab.ablation.grid_study import data_settings, load_study_data

    spec = CANDIDATES[candidate]
    # the studies' cached loader: a candidate's phantom is built once per process, not per run
    settings = data_settings("phantom", spec.image_size, spec.patients, heterogeneity=spec.heterogeneity)
    data = load_study_data(settings)
    row = run_ablation_row(True, True, True, labeled=spec.labeled, data=data, budget=spec.budget, method=method,
                           seed=seed, device="cpu", keep_result=False, overrides=spec.overrides or None)  # fmt: skip
    return {
        "candidate": candidate, "method": method, "seed": seed, "heterogeneity": spec.heterogeneity,
        "patients": spec.patients, "image_size": spec.image_size, "labeled": spec.labeled,
        "budget": dataclasses.asdict(spec.budget), "overrides": spec.overrides, "seconds": row["seconds"],
        "cpu_seconds": row["cpu_seconds"], "mean_dice": row["mean_dice"], "dice": row["dice"],
        "iterations": row["iterations"] + row["pretrain_iterations"],
    }  # fmt: skip


def summarise(records: list[dict]) -> dict:
    """Per candidate and method: mean ± sd of Dice and seconds over seeds, the smallest class
    Dice, and the paired MONA - supervised gain per seed."""
    out: dict = {}
    for candidate in dict.fromkeys(r["candidate"] for r in records):
        rows = [r for r in records if r["candidate"] == candidate]
        entry: dict = {}
        for method in ("supervised", "mona"):
            mine = sorted((r for r in rows if r["method"] == method), key=lambda r: r["seed"])
            if not mine:
                continue
            dice = [r["mean_dice"] for r in mine]
            entry[method] = {
                "seeds": [r["seed"] for r in mine],
                "mean_dice": [statistics.fmean(dice), statistics.pstdev(dice)],
                "min_class_dice": min(min(r["dice"].values()) for r in mine),
                "class_dice": {c: statistics.fmean(r["dice"][c] for r in mine) for c in mine[0]["dice"]},
                "seconds": [statistics.fmean(r["seconds"] for r in mine), max(r["seconds"] for r in mine)],
                "cpu_seconds": statistics.fmean(r["cpu_seconds"] for r in mine),
            }
        if "supervised" in entry and "mona" in entry:
            sup = {r["seed"]: r["mean_dice"] for r in rows if r["method"] == "supervised"}
            gains = {r["seed"]: 100 * (r["mean_dice"] - sup[r["seed"]]) for r in rows
                     if r["method"] == "mona" and r["seed"] in sup}  # fmt: skip
            entry["gain_points_per_seed"] = dict(sorted(gains.items()))
        out[candidate] = entry
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", nargs="*", default=list(CANDIDATES), choices=list(CANDIDATES))
    parser.add_argument("--methods", nargs="*", default=["supervised", "mona"], choices=["supervised", "mona"])
    parser.add_argument("--seeds", nargs="*", type=int, default=[10, 11, 12])
    parser.add_argument("--runs", default="benchmarks/runs/lecture_size")
    parser.add_argument("--json", default="benchmarks/results/lecture_size.json")
    parser.add_argument("--stored-only", action="store_true", help="train nothing; summarise the stored runs")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    for candidate in args.candidates:
        for seed in args.seeds:
            for method in args.methods:
                path = runs / run_key(candidate, method, seed) / "record.json"
                if path.exists() or args.stored_only:
                    continue
                record = train_one(candidate, method, seed)
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_text(path, json.dumps(record, indent=1, sort_keys=True) + "\n")
                print(f"{candidate:<18} {method:<10} seed {seed}: mean Dice {record['mean_dice']:.3f} "
                      f"(min class {min(record['dice'].values()):.2f}) {record['seconds']:.0f} s wall, "
                      f"{record['cpu_seconds']:.0f} s CPU", flush=True)  # fmt: skip
    records = [json.loads(p.read_text()) for p in sorted(runs.glob("*/record.json"))]
    summary = summarise(records)
    payload = {"targets": TARGETS, "command": "python benchmarks/lecture_size.py " + " ".join(argv or []),
               "written": time.strftime("%Y-%m-%d"), "summary": summary}  # fmt: skip
    atomic_write_text(Path(args.json), json.dumps(payload, indent=1, sort_keys=True) + "\n")
    for candidate, entry in summary.items():
        for method in ("supervised", "mona"):
            if method in entry:
                e = entry[method]
                print(f"{candidate:<18} {method:<10} seeds {e['seeds']}: Dice {e['mean_dice'][0]:.3f} ± "
                      f"{e['mean_dice'][1]:.3f}, min class {e['min_class_dice']:.2f}, "
                      f"{e['seconds'][0]:.0f} s (max {e['seconds'][1]:.0f})")  # fmt: skip
        if "gain_points_per_seed" in entry:
            print(f"{'':<18} MONA - supervised (points, per seed): {entry['gain_points_per_seed']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
