"""Why MONA trails supervised on a short ACDC budget: one seed, one recipe change at a time.

Each variant is a `TrainConfig` change on top of a common setting (3 labelled ACDC patients,
128x128, batch 4, SGD lr 0.15, no GLCon pre-training so the fine-tuning losses are compared
directly), trained with validation Dice on the 20 validation volumes every ``--every``
iterations. The printed curves are what the issue-4 note and notebook 08 quote.

    MONA_LAB_ACDC=/path/to/ACDC python benchmarks/acdc_recipe_diagnosis.py \
        [--variants supervised plain-strong plain-weak ...] [--iterations 600] [--width 0.25] [--workers 2]

Variants (every semi-supervised one uses L_unsup on confident pixels, ``mask``, unless it
ends in ``-share``, the confident-share weighting of the reference notes):
    supervised            UNet on the labelled slices, weak views, whole batch labelled
    supervised-half       the same with only the labelled half of the batch (2 slices), i.e.
                          the labelled stream every semi-supervised recipe gets
    plain-strong          MONA fine-tuning with every principle off (L_sup + L_unsup),
                          the papers' student view: L_sup on strongly augmented slices
    plain-weak            the same with L_sup on the weak view of the labelled slices
    plain-weak-share      plain-weak with the confident-share L_unsup
    no-diversity-weak     tailness + consistency (L_nn off), weak labelled view
    no-diversity-weak-share   the same with the confident-share L_unsup
    full-weak             every principle, weak labelled view
    full-weak-ramp        the same with the sigmoid ramp-up of the auxiliary weights (40 %)
    full-weak-nn0.1       every principle, lambda_nn = 0.1
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from mona_lab.checkpoint import atomic_write_text

OFF = {"tailness": False, "consistency": False, "diversity": False}
WEAK, MASK = {"strong_labeled": False}, {"unsup_weighting": "mask"}
VARIANTS: dict[str, dict] = {
    "supervised": {"method": "supervised"},
    "supervised-half": {"method": "supervised", "_labeled_fraction": 0.5},
    "plain-strong": {"method": "mona", **OFF, **MASK},
    "plain-weak": {"method": "mona", **OFF, **WEAK, **MASK},
    "plain-weak-share": {"method": "mona", **OFF, **WEAK},
    "no-diversity-weak": {"method": "mona", "diversity": False, **WEAK, **MASK},
    "no-diversity-weak-share": {"method": "mona", "diversity": False, **WEAK},
    "full-weak": {"method": "mona", **WEAK, **MASK},
    "full-weak-ramp": {"method": "mona", **WEAK, **MASK, "unsup_rampup": 0.4},
    "full-weak-nn0.1": {"method": "mona", **WEAK, **MASK, "lambda_nn": 0.1},
}
_DATA = {}


def _run(job: dict) -> dict:
    import torch

    from mona_lab.config import TrainConfig
    from mona_lab.data import load_dataset
    from mona_lab.engine import train
    from mona_lab.methods.supervised import Supervised

    torch.set_num_threads(job.pop("threads"))
    name = job.pop("name")
    fraction = job.pop("_labeled_fraction", None)
    if fraction is not None:  # diagnostic only: the supervised recipe on half a batch
        Supervised.labeled_fraction = fraction
    key = (job["root"], job["image_size"])
    if key not in _DATA:
        _DATA[key] = load_dataset("acdc", root=job["root"], image_size=job["image_size"])
    started = time.time()
    try:
        metrics = train(TrainConfig(**job), data=_DATA[key]).metrics
    finally:
        Supervised.labeled_fraction = 1.0
    with open(Path(job["out"]) / "log.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["val_mean_dice"]]
    return {
        "name": name,
        "seconds": time.time() - started,
        "curve": [(int(r["step"]) + 1, float(r["val_mean_dice"])) for r in rows],
        "final": {"mean_dice": metrics["mean_dice"], **{c: v["dice"] for c, v in metrics["per_class"].items()}},
    }


def main() -> None:
    from mona_lab.data import resolve_acdc_root

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=None)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--iterations", type=int, default=600)
    parser.add_argument("--every", type=int, default=100, help="validate every N iterations")
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--embed-dim", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--json", default="benchmarks/results/acdc_recipe_diagnosis.json")
    args = parser.parse_args()

    root = str(resolve_acdc_root(args.root))
    runs = Path(tempfile.mkdtemp(prefix="acdc_diagnosis_"))
    jobs = []
    for name in args.variants:
        jobs.append(dict(
            VARIANTS[name], name=name, dataset="acdc", root=root, labeled=3, iterations=args.iterations,
            pretrain_iterations=0, image_size=128, batch_size=args.batch_size, seed=args.seed, device="cpu",
            out=str(runs / name), width=args.width, embed_dim=args.embed_dim, lr=args.lr, validate_every=args.every,
            checkpoint_every=10**6, progress=False, threads=1,
        ))  # fmt: skip
    started = time.time()
    with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
        results = list(pool.map(_run, jobs))
    print(f"ACDC, 3 labelled patients, 128px, width {args.width}, lr {args.lr}, seed {args.seed}; "
          f"validation mean Dice every {args.every} iterations ({time.time() - started:.0f} s wall)")  # fmt: skip
    for r in results:
        curve = " ".join(f"{step}:{dice:.3f}" for step, dice in r["curve"])
        final = " ".join(f"{k}={v:.3f}" for k, v in r["final"].items() if k != "mean_dice")
        print(f"{r['name']:<20} final {r['final']['mean_dice']:.3f} [{final}]  curve {curve}  ({r['seconds']:.0f} s)")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(args.json), json.dumps({"args": vars(args), "results": results}, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
