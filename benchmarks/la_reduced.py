"""Supervised (VNet-L), mean teacher, ACTION++, MONA and ARCO-SG on LA with 4 labelled volumes, at a CPU budget.

ACTION++ (Table 1) and ARCO report LA: the 2018 Atrial Segmentation Challenge's gadolinium MRI,
a VNet trained on 112 x 112 x 80 crops, batch 2 labelled + 2 unlabelled, 5k + 15k iterations on
a GPU, scored with a sliding window (stride 18 x 18 x 4) by Dice, Jaccard, 95HD and ASD in
voxels. Anchors with 4 labelled volumes (5 %): VNet-L 52.6 Dice, UA-MT 82.3, ACTION 86.6,
ACTION++ 87.8. That setting is GPU-only (a full-width VNet step on it costs about 10 CPU
seconds). This script runs a CPU setting, every run one ``mona-lab train`` command stored with
its result (`benchmarks/acdc_reduced.py`'s machinery: resumable, ``record.json`` per run
committed, paired gains over supervised with 95 % t intervals, each term's gradient share):

- volumes downsampled by 2 per axis (``--la-downsample 2``: about 44 x 70 x 90 voxels), random
  crops ``--crop-size`` (D,H,W) with the papers' RandomRotFlip, a VNet with ``16 * --width``
  base filters, ``--embed-dim`` embeddings;
- every method the same iterations (pre-training included where a method has it) at the same
  labelled batch (2 crops per step; the semi-supervised methods add 2 unlabelled ones);
- measured when the setting was chosen (one thread, seed 0, 4 labelled volumes, 2 cores shared
  with another benchmark): a width-0.25 VNet costs 0.51 CPU s per supervised step, a periodic
  validation 5.4 s, the final one 26 s; supervised at lr 0.05 (poly) reached Dice 0.70 on the
  validation volumes by step 1100 and 0.728 after 2200 (24.1 CPU-min), mean teacher 0.790 after
  1500 (21.5 CPU-min). The contrastive methods cost 1.4-2.2 CPU s per step at width 0.5 (their
  pre-training's local heads most); ``--iterations 1000`` is meant to keep each run within
  25 CPU-minutes: check each record's ``cpu_seconds``;
- the **last** model scored on the 10 validation volumes with the papers' overlap scaled to the
  crop (``--window-stride`` default: 18 x 18 x 4 scaled), at the native resolution.

Seeds pick the labelled volumes (``--labeled 4`` of the 36 training volumes). The results will
also be checked on LA volumes the project does not have: nothing here is tuned on the
validation volumes; the CPU setting's sizes were chosen from cost and from supervised learning
the atrium (see the README), not from a comparison of methods.

    MONA_LAB_LA=/path/to/LA python benchmarks/la_reduced.py [--seeds 0 1 2] [--workers 2]

The JSON: ``summary[method]`` (``dice``/``jaccard``/``hd95``/``asd``: ``[mean, sd]`` over seeds of
the per-run means over volumes, ``shares``, ``cpu_seconds``), ``gains[method]`` (over
supervised, paired by seed: ``per_seed``, ``mean``, ``ci95``...), every run's record.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mona_lab.atomic_files import atomic_write_text

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # run as a script it is there; loaded from its file (tests) it is not
    sys.path.append(str(HERE))
import acdc_reduced  # noqa: E402  (the benchmark's runner, share summary and paired gains)

DEFAULT_METHODS = ["supervised", "mean-teacher", "action++", "mona", "arco-sg"]
SCORES = ("dice", "jaccard", "hd95", "asd")  # the LA literature's four, distances in voxels


def command_line(method: str, seed: int, args, out: Path) -> list[str]:
    """The ``mona-lab train`` command of one LA run."""
    pretrain = 0 if method in ("supervised", "mean-teacher") else args.pretrain_iterations
    cmd = [
        "mona-lab", "train", "--method", method, "--dataset", "la", "--labeled", str(args.labeled),
        "--iterations", str(args.iterations - pretrain), "--la-downsample", str(args.la_downsample),
        "--crop-size", args.crop_size, "--batch-size", str(args.labeled_batch if method == "supervised" else 2 * args.labeled_batch),
        "--width", str(args.width), "--embed-dim", str(args.embed_dim), "--lr", str(args.lr),
        "--lr-schedule", args.lr_schedule, "--seed", str(seed), "--validate-every", str(args.validate_every),
        "--checkpoint-every", str(args.validate_every), "--device", args.device, "--out", str(out), "--no-progress",
    ]  # fmt: skip
    if pretrain:
        cmd[cmd.index("--la-downsample"):cmd.index("--la-downsample")] = ["--pretrain-iterations", str(pretrain)]
    if args.lr_decay_at:  # the same global iteration for every method
        cmd += ["--lr-step-every", str(max(1, args.lr_decay_at - pretrain))]
    return cmd


def summarise(results: dict[str, dict[int, dict]]) -> dict:
    """Per method: each of `SCORES` as ``[mean, sd]`` (population sd) over seeds of the runs'
    means over the validation volumes, the terms' gradient shares and the mean CPU seconds."""
    summary = {}
    for method, by_seed in results.items():
        runs = [by_seed[s] for s in sorted(by_seed)]
        if not runs:
            continue
        entry = {"seeds": sorted(by_seed), "shares": acdc_reduced.share_summary(runs)}
        for score in SCORES:
            values = [statistics.mean(c[score] for c in r["per_class"].values()) for r in runs]
            entry[score] = [statistics.mean(values), statistics.pstdev(values)]
        cpu = [r["cpu_seconds"] for r in runs if r.get("cpu_seconds") is not None]
        entry["cpu_seconds"] = statistics.mean(cpu) if cpu else None
        summary[method] = entry
    return summary


def print_table(summary: dict, gains: dict) -> None:
    print(f"{'method':<14}" + "".join(f"{s:>16}" for s in SCORES) + f"{'gain (Dice pts) [95 %]':>30}{'CPU s':>8}")
    for method, row in summary.items():
        cells = "".join(f"{row[s][0]:>9.3f}±{row[s][1]:<6.3f}" for s in SCORES)
        gain = gains.get(method)
        text = f"{gain['mean']:+.1f} [{gain['ci95'][0]:+.1f}, {gain['ci95'][1]:+.1f}]" if gain else "-"
        cpu = f"{row['cpu_seconds']:.0f}" if row["cpu_seconds"] else "-"
        print(f"{method:<14}{cells}{text:>30}{cpu:>8}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=None, help="the LA folder (else $MONA_LAB_LA, then data/LA)")
    parser.add_argument("--methods", nargs="*", default=DEFAULT_METHODS)
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--labeled", type=int, default=4, help="labelled training volumes (4 = the papers' 5 %%)")
    parser.add_argument("--iterations", type=int, default=1000, help="iterations of every run, pre-training included")
    parser.add_argument("--pretrain-iterations", type=int, default=100)
    parser.add_argument("--la-downsample", type=int, default=2)
    parser.add_argument("--crop-size", default="32,64,64", help="D,H,W of the random crops (each a multiple of 16)")
    parser.add_argument("--labeled-batch", type=int, default=2, help="labelled crops per step (every method)")
    parser.add_argument("--width", type=float, default=0.25, help="VNet base filters 16 * width (0.25: 4)")
    parser.add_argument("--embed-dim", type=int, default=128, help="ACTION++'s d (128)")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--lr-schedule", default="poly")
    parser.add_argument("--lr-decay-at", type=int, default=0, help="divide the lr by 10 at this global iteration (0: never)")
    parser.add_argument("--validate-every", type=int, default=250)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--runs", default="benchmarks/runs/la_reduced", help="one folder per run (resumable)")
    parser.add_argument("--json", default="benchmarks/results/la_reduced.json")
    return parser


def main() -> None:
    from mona_lab.data import resolve_la_root

    args = build_parser().parse_args()
    root = str(resolve_la_root(args.root))
    runs = Path(args.runs)
    jobs = [(m, s, runs / f"{m}_seed{s}") for s in args.seeds for m in args.methods]  # seed by seed: a stopped run still compares
    results: dict[str, dict[int, dict]] = {m: {} for m in args.methods}
    started = time.time()

    def store() -> None:
        gains = acdc_reduced.paired_gains(results, "supervised")
        payload = {"args": vars(args), "wall_seconds": time.time() - started, "summary": summarise(results),
                   "gains": gains, "runs": {m: {str(s): r for s, r in by.items()} for m, by in results.items()}}  # fmt: skip
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(Path(args.json), json.dumps(payload, indent=1, sort_keys=True) + "\n")

    with ThreadPoolExecutor(max_workers=max(1, args.workers)) as pool:
        futures = [(m, s, pool.submit(acdc_reduced.run_one, command_line(m, s, args, out), out, root, 1, "MONA_LAB_LA"))
                   for m, s, out in jobs]  # fmt: skip
        for method, seed, future in futures:
            record = future.result()
            results[method][seed] = record
            print(f"seed {seed} {method:<14} Dice {record['mean_dice']:.4f}  ({record['cpu_seconds'] or 0:.0f} CPU s)", flush=True)
            store()
    summary = summarise(results)
    print(f"\nLA, {args.labeled} labelled volumes, downsample {args.la_downsample}, crops {args.crop_size}, "
          f"{args.iterations} iterations, last model on the validation volumes, {time.time() - started:.0f} s wall")  # fmt: skip
    print_table(summary, acdc_reduced.paired_gains(results, "supervised"))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
