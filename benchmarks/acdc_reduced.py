"""Supervised vs MONA vs ARCO-SG with 3 labelled ACDC patients, reduced budget, 3 seeds.

Trains each method on the shared ACDC training slices (``MONA_LAB_ACDC`` or ``--root``) at
128x128 and evaluates on the 20 validation volumes; prints the mean and spread (population
std over seeds) of Dice per class and the mean ASD, and writes everything to a JSON file
(``benchmarks/results/acdc_reduced.json``, which notebook 08 reads).

Budget: every method runs the same number of updates at the same batch size; the
supervised baseline gets as many iterations as MONA's pre-training plus fine-tuning.
Runs are spread over ``--workers`` processes with one torch thread each (on a 2-core
machine two single-threaded runs side by side do about twice the work of one run with
two threads).

The recipe options that matter at this budget (``benchmarks/acdc_recipe_diagnosis.py``
measures them one at a time) are flags: ``--student-labeled-view``, ``--unsup-rampup``,
``--lambda-nn`` and ``--unsup-weighting``. A method written ``NAME@paper`` (e.g.
``mona@paper``) ignores them and runs the papers' recipe as printed (strong student view of
the labelled slices, constant loss weights, L_unsup weighted by the confident share).

    MONA_LAB_ACDC=/path/to/ACDC python benchmarks/acdc_reduced.py [--iterations 600] [--workers 2]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from mona_lab.checkpoint import atomic_write_text

_DATA = {}


def _run(job: dict) -> dict:
    """One training run (in a worker process); returns its metrics and wall time."""
    import torch

    from mona_lab.config import TrainConfig
    from mona_lab.data import load_dataset
    from mona_lab.engine import train

    torch.set_num_threads(job.pop("threads"))
    key = (job["root"], job["image_size"])
    if key not in _DATA:
        _DATA[key] = load_dataset("acdc", root=job["root"], image_size=job["image_size"])
    started = time.time()
    metrics = train(TrainConfig(**job), data=_DATA[key]).metrics
    metrics["seconds"] = time.time() - started
    return metrics


def main() -> None:
    from mona_lab.data import resolve_acdc_root

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=None)
    parser.add_argument("--methods", nargs="*", default=["supervised", "mona", "arco-sg", "mona@paper"])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--labeled", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=500, help="fine-tuning iterations")
    parser.add_argument("--pretrain-iterations", type=int, default=100)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--embed-dim", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.15)
    parser.add_argument("--student-labeled-view", choices=("strong", "weak"), default="weak")
    parser.add_argument("--unsup-weighting", choices=("mask", "share"), default="mask")
    parser.add_argument("--unsup-rampup", type=float, default=0.4)
    parser.add_argument("--lambda-nn", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--runs", default=None, help="folder for the runs (default: a temporary one)")
    parser.add_argument("--json", default="benchmarks/results/acdc_reduced.json")
    args = parser.parse_args()

    if len(set(args.methods)) != len(args.methods):
        raise SystemExit(f"--methods lists a method twice: {args.methods}")
    root = str(resolve_acdc_root(args.root))
    runs = Path(args.runs or tempfile.mkdtemp(prefix="acdc_reduced_"))
    jobs, specs = [], []
    for seed in args.seeds:
        for spec in args.methods:
            method, _, recipe = spec.partition("@")
            if recipe not in ("", "paper"):
                raise SystemExit(f"unknown recipe {recipe!r} in {spec!r}; write NAME or NAME@paper")
            paper = recipe == "paper"
            supervised = method == "supervised"
            jobs.append(dict(
                method=method, dataset="acdc", root=root, labeled=args.labeled,
                iterations=args.iterations + (args.pretrain_iterations if supervised else 0),
                pretrain_iterations=0 if supervised else args.pretrain_iterations, image_size=args.image_size,
                batch_size=args.batch_size, seed=seed, device=args.device,
                out=str(runs / f"{spec.replace('@', '_')}_seed{seed}"), width=args.width, embed_dim=args.embed_dim,
                lr=args.lr, strong_labeled=paper or args.student_labeled_view == "strong",
                unsup_weighting="share" if paper else args.unsup_weighting,
                unsup_rampup=0.0 if paper else args.unsup_rampup, lambda_nn=1.0 if paper else args.lambda_nn,
                validate_every=10**6, checkpoint_every=10**6, progress=False, threads=args.threads,
            ))  # fmt: skip
            specs.append(spec)
    # the expensive recipes first, so the workers finish together
    order = sorted(range(len(jobs)), key=lambda i: jobs[i]["method"] == "supervised")
    results: dict[str, list[dict]] = {m: [None] * len(args.seeds) for m in args.methods}
    started = time.time()
    with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
        futures = {i: pool.submit(_run, dict(jobs[i])) for i in order}
        for i in order:
            metrics = futures[i].result()
            job = jobs[i]
            results[specs[i]][args.seeds.index(job["seed"])] = metrics
            print(f"seed {job['seed']} {specs[i]:<11} mean Dice {metrics['mean_dice']:.4f}  ({metrics['seconds']:.0f} s)", flush=True)
    elapsed = time.time() - started
    classes = list(results[args.methods[0]][0]["per_class"])
    print(f"\nACDC, {args.labeled} labelled patients, {args.image_size}px, seeds {args.seeds}, "
          f"pretrain {args.pretrain_iterations} + fine-tune {args.iterations} iterations, "
          f"{elapsed:.0f} s wall with {args.workers} worker(s)")  # fmt: skip
    print(f"{'method':<12}" + "".join(f"{c:>16}" for c in classes) + f"{'mean Dice':>16}{'mean ASD':>12}")
    summary = {}
    for method, runs_of_method in results.items():
        row = {}
        for c in classes + ["mean"]:
            values = [r["mean_dice"] if c == "mean" else r["per_class"][c]["dice"] for r in runs_of_method]
            row[c] = (statistics.mean(values), statistics.pstdev(values))
        asd = statistics.mean(r["mean_asd"] for r in runs_of_method)
        summary[method] = {"dice": row, "mean_asd": asd, "seconds": statistics.mean(r["seconds"] for r in runs_of_method)}
        cells = "".join(f"{m:>10.3f}±{s:<5.3f}" for m, s in row.values())
        print(f"{method:<12}{cells}{asd:>12.2f}")
    payload = {"args": vars(args), "wall_seconds": elapsed, "summary": summary, "runs": results}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(args.json), json.dumps(payload, indent=1, sort_keys=True, default=str) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
