"""Stored runs for ACTION++ Table 6: a fixed contrastive temperature against the cosine ATS, and its period.

ACTION++ (MICCAI 2023, Eq. 6, Table 6) drives the temperature of both contrastive losses
with ``tau_t = tau^- + 0.5 (1 + cos(2 pi t / T)) (tau^+ - tau^-)`` and reports that it
beats a fixed tau (89.9 vs 89.5 Dice), best at the period T / #iterations = 1.0 (0.1: 89.8,
0.2: 89.1, 0.5: 89.2, 2.0: 89.7), and that the cosine beats step, random and oscillating
schedules. This script trains the ``action++`` recipe with the working recipe (the
`TrainConfig` defaults) on the built-in phantom (image 64, width 0.5, embedding 32, 2
labelled patients, 4 + 4 slices per step) once per arm and seed: ``fixed`` (tau = 0.5, the
AnCo temperature of ACTION), ``cosine`` (ATS, tau in [0.1, 1.0], period 1.0), ``cosine
T=0.1`` ... ``cosine T=2.0`` (Table 6's period column) and, with ``--methods``, the other
ways of varying tau (``step``, ``random``, ``oscillating``; Table 6's middle column). Per run
it stores the ``temperature``, ``contrast``, ``saacl``, ``total`` and ``sup`` columns of
``log.csv``, the final per-class validation Dice (last model), the run's config, its command
and its CPU seconds in one JSON file that notebook 07 reads. The classes are split into head
and tail by their training pixel frequency (above / below the median foreground frequency).

    python benchmarks/temperature_runs.py --workers 2        # notebooks/results/temperature_runs.json
    python benchmarks/temperature_runs.py --fast --out /tmp/t.json --runs /tmp/t_runs   # smoke run

Budget (``--iterations``, default 1000 anatomical-contrast iterations, lr 0.05 divided by 10
at 80 %): measured 327 CPU seconds a run with one thread (cosine, seed 0; mean Dice 0.367,
head 0.601, tail 0.210), so the default study (6 arms x 3 seeds = 18 runs) takes about 1.6 CPU
hours, under an hour on 2 cores (the stored study: 5821 CPU seconds, 60 minutes on 2 workers
beside other work); ``--methods`` adds 9 runs, about 25 minutes more on 2 cores.

Resumable: each finished run writes ``record.json`` (atomically) into its own folder under
``--runs`` (default ``benchmarks/runs/temperature_runs``; the records are committed, the training folders are not); rerunning the same
command skips finished runs. ``--only NAME ...`` trains only those runs; ``--assemble``
trains nothing. A JSON with missing runs has ``meta.complete`` false and ``meta.missing_runs``
and, unless ``--out`` is given, goes to ``<out>.incomplete.json``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = "benchmarks/temperature_runs.py"
DEFAULT_OUT = ROOT / "notebooks" / "results" / "temperature_runs.json"
COLUMNS = ("temperature", "contrast", "saacl", "total", "sup")
PERIODS = (0.1, 0.2, 0.5, 1.0, 2.0)  # ACTION++ Table 6, T / #iterations
OTHER_METHODS = ("step", "random", "oscillating")  # Table 6, ways of varying tau


def parse_args(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fast", action="store_true", help="smoke test: one seed, 3 iterations, 32 px, two arms")
    parser.add_argument("--out", type=Path, default=None, help=f"results JSON (default {DEFAULT_OUT})")
    parser.add_argument("--runs", type=Path, default=None, help="one folder per finished run (default benchmarks/runs/temperature_runs)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=1000, help="the budget: anatomical-contrast iterations per run")
    parser.add_argument("--pretrain-iterations", type=int, default=0)
    parser.add_argument("--lr", type=float, default=0.05, help="SGD learning rate (0.05, as benchmarks/acdc_reduced.py)")
    parser.add_argument("--lr-decay-at", type=float, default=0.8, help="divide lr by 10 at this fraction of the fine-tuning iterations (0: never)")
    parser.add_argument("--periods", type=float, nargs="*", default=list(PERIODS), help="cosine periods T / #iterations")
    parser.add_argument("--methods", action="store_true", help="also step, random and oscillating schedules (Table 6)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", nargs="+", default=None, metavar="NAME", help="train only these runs")
    parser.add_argument("--assemble", action="store_true", help="train nothing; write the JSON from the finished runs")
    return parser.parse_args(argv)


def arm_label(schedule: str, period: float) -> str:
    """``fixed``, ``cosine`` (period 1.0, the paper's choice), ``cosine T=0.5``, ``step``..."""
    if schedule == "cosine" and period != 1.0:
        return f"cosine T={period:g}"
    return schedule


def study_runs(args):
    from mona_lab.lab.curve_study import curve_run, phantom_settings

    image_size = 32 if args.fast else 64
    arms = [("fixed", 1.0)] + [("cosine", p) for p in (args.periods if not args.fast else [1.0])]
    if args.methods:
        arms += [(m, 1.0) for m in OTHER_METHODS]
    total = args.iterations + args.pretrain_iterations
    decay = int(args.lr_decay_at * args.iterations) if 0 < args.lr_decay_at < 1 else 0
    runs = []
    for seed in args.seeds:
        for schedule, period in arms:
            label = arm_label(schedule, period)
            config = {
                "method": "action++", "dataset": "phantom", "labeled": 2, "iterations": args.iterations,
                "pretrain_iterations": args.pretrain_iterations, "image_size": image_size, "batch_size": 8,
                "width": 0.25 if args.fast else 0.5, "embed_dim": 8 if args.fast else 32, "lr": args.lr,
                "seed": seed, "device": args.device, "progress": False, "temperature_schedule": schedule,
                "temperature_period": period, "validate_every": total + 1, "checkpoint_every": total + 1,
            }  # fmt: skip
            if decay:
                config["lr_step_every"] = decay
            name = f"seed{seed}-{label.replace(' ', '_')}"
            runs.append(curve_run(name, config, phantom_settings(image_size, fast=args.fast), label=label,
                                  columns=COLUMNS, stage="anco"))  # fmt: skip
    return runs


def main(argv: list[str] | None = None) -> int:
    from mona_lab.config import TrainConfig
    from mona_lab.lab.curve_study import load_curve_data, assemble_curve_runs, train_pending_curve_runs
    from mona_lab.lab.run_records import environment_meta, write_results
    from mona_lab.lab.study_runs import pending_and_finished, repo_path, script_command, select
    from mona_lab.lab.temperature_study import head_tail_classes

    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.fast:
        args.seeds, args.iterations, args.pretrain_iterations = args.seeds[:1], 3, 0
    runs = study_runs(args)
    folder = args.runs or ROOT / "benchmarks" / "runs" / ("temperature_runs_fast" if args.fast else "temperature_runs")
    out = args.out or DEFAULT_OUT
    data = load_curve_data(runs[0].settings["data"])
    split = head_tail_classes(data.train_labels, data.class_names)
    print(data.summary(), "| head:", split["head"], "tail:", split["tail"], flush=True)
    pending, finished = pending_and_finished(select(runs, args.only), folder)
    started = time.perf_counter()
    if pending and not args.assemble:
        train_pending_curve_runs(runs, pending, folder, workers=args.workers, threads=args.threads,
                                 measured="measured 327 CPU s per run at 1000 iterations, one thread")
    records = pending_and_finished(runs, folder)[1]
    rows, missing = assemble_curve_runs(runs, records, SCRIPT, argv, folder)
    meta = {
        "script": SCRIPT,
        "command": script_command(SCRIPT, argv),
        "runs_folder": repo_path(folder),
        "paper": "ACTION++ (MICCAI 2023) Eq. 6, Table 6",
        "fast": args.fast,
        "dataset": f"phantom ({len(data.patients)} training patients, {data.num_train_slices} slices)",
        "iterations": args.iterations,
        "pretrain_iterations": args.pretrain_iterations,
        "lr": args.lr,
        "lr_decay_at": args.lr_decay_at,
        "setting": f"image {runs[0].settings['config']['image_size']}, width {runs[0].settings['config']['width']}, "
                   f"embed_dim {runs[0].settings['config']['embed_dim']}, batch 8 (4 labelled), 2 labelled patients",
        "recipe": sorted({r.get("recipe", "?") for r in rows}),
        "fixed_tau": TrainConfig(method="action++", out="-").contrast_temperature,
        "cosine": {"tau_min": 0.1, "tau_max": 1.0, "period": 1.0, "periods": list(args.periods)},
        "labels": list(dict.fromkeys(r.settings["label"] for r in runs)),
        "seeds": args.seeds,
        "classes": split,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "run_seconds_total": round(sum(r["seconds"] for r in rows), 1),
        "cpu_seconds_total": round(sum(r["cpu_seconds"] for r in rows), 1),
        **environment_meta(),
        "torch_threads": args.threads,
    }
    if missing and args.out is None:
        out = out.with_suffix(".incomplete.json")
    write_results(out, rows, meta, missing)
    print(f"{'schedule':<14}{'mean Dice':>10}{'±':>7}{'head Dice':>11}{'tail Dice':>11}{'seeds':>7}")
    for label in meta["labels"]:
        mine = [r for r in rows if r["label"] == label]
        if not mine:
            continue
        means = [r["metrics"]["mean_dice"] for r in mine]

        def group_dice(names):
            return float(np.mean([[r["metrics"]["per_class"][n]["dice"] for n in names] for r in mine]))

        print(f"{label:<14}{np.mean(means):>10.3f}{np.std(means):>7.3f}{group_dice(split['head']):>11.3f}"
              f"{group_dice(split['tail']):>11.3f}{len(mine):>7}")  # fmt: skip
    if missing:
        print(f"INCOMPLETE: {len(missing)} of {len(runs)} runs missing ({', '.join(missing)})")
    print(f"{len(rows)} finished runs, {meta['cpu_seconds_total']:.0f} CPU s in total; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
