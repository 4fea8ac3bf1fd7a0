"""Stored runs for ARCO Fig. 5: the contrastive loss of arco-ns / arco-sg / arco-sag over seeds.

ARCO (NeurIPS 2023, Fig. 5) plots L_contrast against training time for NS, SG and SAG
sampling, mean and spread over 3 independent trials. This script trains the three recipes
(`mona_lab.methods`, MONA with that sampler inside L_contrast) with the working recipe (the
`TrainConfig` defaults) on the built-in phantom (image 64, width 0.5, embedding 32, 2
labelled patients, 4 + 4 slices per step), for each seed, and stores per run the
per-iteration ``contrast``, ``total`` and ``sup`` columns of ``log.csv``, the final
validation Dice (last model), the run's config, its command and its CPU seconds in one JSON
file that notebook 05 draws. At the end it prints, per sampler, the mean contrastive loss over
the last quarter of the iterations, its spread over seeds, and the iteration-to-iteration
noise of the curve (standard deviation of successive differences), each also as a ratio to NS.

    python benchmarks/arco_curves.py --workers 2        # notebooks/results/arco_curves.json
    python benchmarks/arco_curves.py --fast --out /tmp/a.json --runs /tmp/a_runs   # smoke run

Budget (``--iterations``, default 400 fine-tuning iterations, lr 0.05 divided by 10 at 80 %;
at the papers' 0.01 the contrastive loss barely leaves its starting value, about log 513,
within 80 iterations): measured 144 CPU seconds a run with one thread (arco-sag, seed 0; mean
Dice 0.111), so the default study (3 samplers x 3 seeds = 9 runs) takes about 22 CPU minutes,
about 11 minutes on 2 cores (the stored study: 1179 CPU seconds, 14 minutes on 2 workers);
``--iterations 1000`` makes it about half an hour.

Resumable: each finished run writes ``record.json`` (atomically) into its own folder under
``--runs`` (default ``benchmarks/runs/arco_curves``; the records are committed, the training folders are not); rerunning the same command
skips finished runs. ``--only NAME ...`` trains only those runs; ``--assemble`` trains
nothing. A JSON with missing runs has ``meta.complete`` false and ``meta.missing_runs`` and,
unless ``--out`` is given, goes to ``<out>.incomplete.json``.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = "benchmarks/arco_curves.py"
SAMPLERS = ("ns", "sg", "sag")
DEFAULT_OUT = ROOT / "notebooks" / "results" / "arco_curves.json"
COLUMNS = ("contrast", "total", "sup")


def small_config(method: str, seed: int, iterations: int, pretrain: int, device: str, lr: float = 0.05,
                 fast: bool = False, lr_decay_at: float = 0.8) -> dict:  # fmt: skip
    """The `TrainConfig` fields (but ``out``) of one stored run; everything else is the default."""
    total = iterations + pretrain
    config = {
        "method": method, "dataset": "phantom", "labeled": 2, "iterations": iterations,
        "pretrain_iterations": pretrain, "image_size": 32 if fast else 64, "batch_size": 8,
        "width": 0.25 if fast else 0.5, "embed_dim": 8 if fast else 32, "seed": seed, "device": device,
        "lr": lr, "progress": False, "validate_every": total + 1, "checkpoint_every": total + 1,
    }  # fmt: skip
    decay = int(lr_decay_at * iterations) if 0 < lr_decay_at < 1 else 0
    if decay:
        config["lr_step_every"] = decay
    return config


def summarise(runs: list[dict]) -> str:
    from mona_lab.lab.run_records import curve_statistics

    stats = curve_statistics(runs, "contrast", by="method")
    lines = [f"{'method':<10}{'final L_contrast':>18}{'spread (seeds)':>16}{'step noise':>12}"
             f"{'final/NS':>10}{'spread/NS':>11}{'noise/NS':>10}{'Dice':>7}{'+-':>7}"]  # fmt: skip
    rows = {}
    for method, s in stats.items():
        values = s["values"]
        tail = values[:, -max(1, values.shape[1] // 4):]
        final = float(np.nanmean(tail))
        spread = float(np.nanmean(np.nanstd(values, axis=0))) if values.shape[0] > 1 else math.nan
        noise = float(np.nanmean([np.nanstd(np.diff(v[~np.isnan(v)])) for v in values]))
        dice = [r["metrics"]["mean_dice"] for r in runs if r["method"] == method]
        rows[method] = (final, spread, noise, float(np.mean(dice)), float(np.std(dice)))
    base = rows.get("arco-ns")
    for method, (final, spread, noise, dice, dice_sd) in rows.items():
        pairs = zip((final, spread, noise), base or (1, 1, 1))
        ratios = [a / b if base and b and math.isfinite(a) else math.nan for a, b in pairs]
        lines.append(f"{method:<10}{final:>18.4f}{spread:>16.4f}{noise:>12.4f}"
                     f"{ratios[0]:>10.3f}{ratios[1]:>11.3f}{ratios[2]:>10.3f}{dice:>7.3f}{dice_sd:>7.3f}")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from mona_lab.lab.curve_study import assemble_curve_runs, curve_run, load_curve_data, phantom_settings, train_pending_curve_runs
    from mona_lab.lab.run_records import environment_meta, write_results
    from mona_lab.lab.study_runs import pending_and_finished, repo_path, script_command, select

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fast", action="store_true", help="smoke test: one seed, 3 iterations, 32 px")
    parser.add_argument("--out", type=Path, default=None, help=f"results JSON (default {DEFAULT_OUT})")
    parser.add_argument("--runs", type=Path, default=None, help="one folder per finished run (default benchmarks/runs/arco_curves)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=400, help="the budget: fine-tuning iterations per run")
    parser.add_argument("--pretrain-iterations", type=int, default=0, help="GLCon iterations before fine-tuning")
    parser.add_argument("--lr", type=float, default=0.05, help="SGD learning rate (0.05, as benchmarks/acdc_reduced.py)")
    parser.add_argument("--lr-decay-at", type=float, default=0.8, help="divide lr by 10 at this fraction of the fine-tuning iterations (0: never)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (1: robust on shared CPUs)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--only", nargs="+", default=None, metavar="NAME", help="train only these runs")
    parser.add_argument("--assemble", action="store_true", help="train nothing; write the JSON from the finished runs")
    args = parser.parse_args(argv)
    if args.fast:
        args.seeds, args.iterations, args.pretrain_iterations = args.seeds[:1], 3, 0
    data_cfg = phantom_settings(32 if args.fast else 64, fast=args.fast)
    runs = [curve_run(f"seed{seed}-arco-{sampler}",
                      small_config(f"arco-{sampler}", seed, args.iterations, args.pretrain_iterations, args.device,
                                   args.lr, args.fast, args.lr_decay_at),
                      data_cfg, label=f"arco-{sampler}", columns=COLUMNS, stage="finetune")
            for seed in args.seeds for sampler in SAMPLERS]  # fmt: skip
    folder = args.runs or ROOT / "benchmarks" / "runs" / ("arco_curves_fast" if args.fast else "arco_curves")
    out = args.out or DEFAULT_OUT
    data = load_curve_data(data_cfg)
    print(data.summary(), flush=True)
    pending, _ = pending_and_finished(select(runs, args.only), folder)
    started = time.perf_counter()
    if pending and not args.assemble:
        train_pending_curve_runs(runs, pending, folder, workers=args.workers, threads=args.threads,
                                 measured="measured 144 CPU s per run at 400 iterations, one thread")
    rows, missing = assemble_curve_runs(runs, pending_and_finished(runs, folder)[1], SCRIPT, argv, folder)
    config = {k: v for k, v in runs[0].settings["config"].items() if k not in ("seed", "method")}
    meta = {
        "script": SCRIPT,
        "command": script_command(SCRIPT, argv),
        "runs_folder": repo_path(folder),
        "paper": "ARCO (NeurIPS 2023) Fig. 5",
        "fast": args.fast,
        "dataset": f"phantom ({len(data.patients)} training patients, {data.num_train_slices} slices)",
        "config": config,
        "recipe": sorted({r.get("recipe", "?") for r in rows}),
        "seeds": args.seeds,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "run_seconds_total": round(sum(r["seconds"] for r in rows), 1),
        "cpu_seconds_total": round(sum(r["cpu_seconds"] for r in rows), 1),
        **environment_meta(),
        "torch_threads": args.threads,
    }
    if missing and args.out is None:
        out = out.with_suffix(".incomplete.json")
    write_results(out, rows, meta, missing)
    if rows:
        print(summarise(rows))
    if missing:
        print(f"INCOMPLETE: {len(missing)} of {len(runs)} runs missing ({', '.join(missing)})")
    print(f"{len(rows)} finished runs, {meta['cpu_seconds_total']:.0f} CPU s in total; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
