"""Supervised vs MONA vs ARCO-SG with 3 labelled ACDC patients, reduced budget, 3 seeds.

Trains each method on the shared ACDC training slices (``MONA_LAB_ACDC`` or ``--root``) at
128x128 and evaluates on the 20 validation volumes; prints the mean and spread (population
std over seeds) of Dice per class and the mean ASD, and writes everything to a JSON file.
The supervised baseline gets as many iterations as MONA's pre-training plus fine-tuning,
so every method sees the same number of updates.

    MONA_LAB_ACDC=/path/to/ACDC python benchmarks/acdc_reduced.py [--iterations 400]
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from mona_lab.checkpoint import atomic_write_text
from mona_lab.config import TrainConfig
from mona_lab.data import load_dataset, resolve_acdc_root
from mona_lab.engine import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=None)
    parser.add_argument("--methods", nargs="*", default=["supervised", "mona", "arco-sg"])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--labeled", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=400, help="fine-tuning iterations")
    parser.add_argument("--pretrain-iterations", type=int, default=100)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=6)
    parser.add_argument("--width", type=float, default=0.5)
    parser.add_argument("--embed-dim", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--runs", default=None, help="folder for the runs (default: a temporary one)")
    parser.add_argument("--json", default="benchmarks/results/acdc_reduced.json")
    args = parser.parse_args()

    root = resolve_acdc_root(args.root)
    data = load_dataset("acdc", root=root, image_size=args.image_size)
    runs = Path(args.runs or tempfile.mkdtemp(prefix="acdc_reduced_"))
    results: dict[str, list[dict]] = {m: [] for m in args.methods}
    started = time.time()
    for seed in args.seeds:
        for method in args.methods:
            pretrain = 0 if method == "supervised" else args.pretrain_iterations
            iterations = args.iterations + (args.pretrain_iterations if method == "supervised" else 0)
            config = TrainConfig(
                method=method, dataset="acdc", root=str(root), labeled=args.labeled, iterations=iterations,
                pretrain_iterations=pretrain, image_size=args.image_size, batch_size=args.batch_size, seed=seed,
                device=args.device, out=str(runs / f"{method}_seed{seed}"), width=args.width, embed_dim=args.embed_dim,
                lr=args.lr, validate_every=10**6, checkpoint_every=10**6, progress=False,
            )  # fmt: skip
            t0 = time.time()
            metrics = train(config, data=data).metrics
            metrics["seconds"] = time.time() - t0
            results[method].append(metrics)
            print(f"seed {seed} {method:<11} mean Dice {metrics['mean_dice']:.4f}  ({metrics['seconds']:.0f} s)", flush=True)
    classes = list(results[args.methods[0]][0]["per_class"])
    print(f"\nACDC, {args.labeled} labelled patients, {args.image_size}px, seeds {args.seeds}, "
          f"pretrain {args.pretrain_iterations} + fine-tune {args.iterations} iterations, {time.time() - started:.0f} s in all")  # fmt: skip
    print(f"{'method':<12}" + "".join(f"{c:>16}" for c in classes) + f"{'mean Dice':>16}{'mean ASD':>12}")
    summary = {}
    for method, runs_of_method in results.items():
        row = {}
        for c in classes + ["mean"]:
            values = [r["mean_dice"] if c == "mean" else r["per_class"][c]["dice"] for r in runs_of_method]
            row[c] = (statistics.mean(values), statistics.pstdev(values))
        asd = statistics.mean(r["mean_asd"] for r in runs_of_method)
        summary[method] = {"dice": row, "mean_asd": asd}
        cells = "".join(f"{m:>10.3f}±{s:<5.3f}" for m, s in row.values())
        print(f"{method:<12}{cells}{asd:>12.2f}")
    payload = {"args": vars(args), "summary": summary, "runs": results}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(args.json), json.dumps(payload, indent=1, sort_keys=True, default=str) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
