"""Stored runs for ARCO Fig. 5: the contrastive loss of arco-ns / arco-sg / arco-sag over seeds.

ARCO (NeurIPS 2023, Fig. 5) plots L_contrast against training time for NS, SG and SAG
sampling, mean and spread over 3 independent trials. This script trains the three
recipes (`mona_lab.methods`, MONA with that sampler inside L_contrast) on the built-in
phantom at a small setting (image 64, width 0.5, embedding 32), for each seed, and stores
per run the per-iteration ``contrast``, ``total`` and ``sup`` columns of ``log.csv`` and the
final validation Dice in one small JSON file (written atomically) that notebook 05 draws.
At the end it prints, per sampler, the mean contrastive loss over the last quarter of the
iterations, its spread over seeds, and the iteration-to-iteration noise of the curve
(standard deviation of successive differences), each also as a ratio to NS.

    python benchmarks/arco_curves.py [--fast] [--out notebooks/results/arco_curves.json]
        [--seeds 0 1 2] [--iterations 80] [--lr 0.05] [--pretrain-iterations 0] [--threads 1]

``--fast`` is a smoke test (one seed, 3 iterations, written to a temporary folder unless
``--out`` is given). The default setting takes about 6 CPU minutes on one thread. The
learning rate is 0.05 rather than the papers' 0.01: at 0.01 the contrastive loss barely
leaves its starting value (about log 513) within 80 iterations, so there is no curve to
compare (that run is summarised in the commit history).
"""
from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from mona_lab.config import TrainConfig
from mona_lab.data import load_dataset
from mona_lab.engine import train
from mona_lab.lab.run_records import curve_statistics, environment_meta, run_record, write_results

SAMPLERS = ("ns", "sg", "sag")
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "notebooks" / "results" / "arco_curves.json"
COLUMNS = ("contrast", "total", "sup")


def small_config(
    method: str, seed: int, iterations: int, pretrain: int, out: str, device: str, lr: float = 0.05
) -> TrainConfig:
    """The small phantom setting shared by every stored run."""
    return TrainConfig(
        method=method, out=out, dataset="phantom", labeled=2, iterations=iterations,
        pretrain_iterations=pretrain, image_size=64, batch_size=6, width=0.5, embed_dim=32,
        seed=seed, device=device, lr=lr, progress=False, validate_every=max(iterations + pretrain, 1) + 1,
        checkpoint_every=max(iterations + pretrain, 1) + 1,
    )  # fmt: skip


def summarise(runs: list[dict]) -> str:
    stats = curve_statistics(runs, "contrast", by="method")
    lines = [f"{'method':<10}{'final L_contrast':>18}{'spread (seeds)':>16}{'step noise':>12}"
             f"{'final/NS':>10}{'spread/NS':>11}{'noise/NS':>10}{'Dice':>7}"]
    rows = {}
    for method, s in stats.items():
        values = s["values"]
        tail = values[:, -max(1, values.shape[1] // 4):]
        final = float(np.nanmean(tail))
        spread = float(np.nanmean(np.nanstd(values, axis=0))) if values.shape[0] > 1 else math.nan
        noise = float(np.nanmean([np.nanstd(np.diff(v[~np.isnan(v)])) for v in values]))
        dice = float(np.mean([r["metrics"]["mean_dice"] for r in runs if r["method"] == method]))
        rows[method] = (final, spread, noise, dice)
    base = rows.get("arco-ns")
    for method, (final, spread, noise, dice) in rows.items():
        pairs = zip((final, spread, noise), base or (1, 1, 1))
        ratios = [a / b if base and b and math.isfinite(a) else math.nan for a, b in pairs]
        lines.append(f"{method:<10}{final:>18.4f}{spread:>16.4f}{noise:>12.4f}"
                     f"{ratios[0]:>10.3f}{ratios[1]:>11.3f}{ratios[2]:>10.3f}{dice:>7.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fast", action="store_true", help="smoke test: one seed, 3 iterations")
    parser.add_argument("--out", default=None, help=f"results JSON (default {DEFAULT_OUT}; a temp file with --fast)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=80, help="fine-tuning iterations per run")
    parser.add_argument("--pretrain-iterations", type=int, default=0, help="GLCon iterations before fine-tuning")
    parser.add_argument("--lr", type=float, default=0.05,
                        help="SGD learning rate (0.05: at the paper's 0.01 L_contrast stays flat in this budget)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: robust on shared CPUs)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.fast:
        args.seeds, args.iterations, args.pretrain_iterations = args.seeds[:1], 3, 0
    out = Path(args.out) if args.out else (
        Path(tempfile.mkdtemp(prefix="arco_curves_")) / "arco_curves_fast.json" if args.fast else DEFAULT_OUT
    )
    data = load_dataset("phantom", image_size=64, fast=args.fast, seed=0)
    print(data.summary(), flush=True)
    runs, started = [], time.perf_counter()
    for seed in args.seeds:
        for sampler in SAMPLERS:
            method = f"arco-{sampler}"
            with tempfile.TemporaryDirectory(prefix=f"{method}_s{seed}_") as folder:
                config = small_config(
                    method, seed, args.iterations, args.pretrain_iterations, folder, args.device, args.lr
                )
                t0 = time.perf_counter()
                result = train(config, data=data)
                seconds = time.perf_counter() - t0
                runs.append(
                    run_record(folder, method=method, seed=seed, columns=COLUMNS, stage="finetune", seconds=seconds)
                )
            print(f"{method} seed {seed}: {seconds:.1f} s, mean Dice {result.metrics['mean_dice']:.3f}", flush=True)
    meta = {
        "script": "benchmarks/arco_curves.py",
        "paper": "ARCO (NeurIPS 2023) Fig. 5",
        "fast": args.fast,
        "dataset": f"phantom ({len(data.patients)} training patients, {data.num_train_slices} slices)",
        "config": {
            k: v
            for k, v in small_config("arco-ns", 0, args.iterations, args.pretrain_iterations, "-", args.device, args.lr)
            .to_dict()
            .items()
            if k not in ("out", "seed", "method")
        },
        "seeds": args.seeds,
        "wall_seconds": round(time.perf_counter() - started, 1),
        **environment_meta(),
    }
    write_results(out, runs, meta)
    print(summarise(runs))
    print(f"wrote {out} ({out.stat().st_size / 1024:.1f} KiB) in {meta['wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
