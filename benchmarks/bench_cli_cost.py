"""The cost a user sees: a MONA iteration over a supervised one, through ``mona-lab train``.

`bench_methods.py` times the step inside one process; this script times what a user runs:
the ``mona-lab train`` command at the papers' sizes (128 px, batch 6, width 1, embed 512,
one thread, the built-in full phantom), main stage only (``--pretrain-iterations 0``).
Each method runs twice per round, with ``--short`` and ``--long`` fine-tuning iterations, and
the difference of the two runs' CPU seconds (the children's ``ru_utime + ru_stime``) divided
by ``long - short`` is its cost per iteration: start-up, data loading and the final
validation are the same in both runs and cancel. Rounds alternate supervised and MONA so
machine noise hits both alike. Printed: each round's per-iteration seconds and ratio, the
median ratio over rounds and its range (issue 22, point 6: the median must stay <= 3x).

    python benchmarks/bench_cli_cost.py [--rounds 3] [--short 4] [--long 16] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_seconds(method: str, iterations: int, args) -> tuple[float, float]:
    """CPU and wall seconds of one ``mona-lab train`` command (a fresh output folder)."""
    out = Path(tempfile.mkdtemp(prefix="bench_cli_")) / "run"
    cmd = [
        sys.executable, "-m", "mona_lab.cli", "train", "--method", method, "--dataset", "phantom",
        "--phantom-size", "full", "--labeled", "2", "--iterations", str(iterations), "--pretrain-iterations", "0",
        "--image-size", str(args.image_size), "--batch-size", str(args.batch_size), "--width", str(args.width),
        "--embed-dim", str(args.embed_dim), "--device", "cpu", "--out", str(out), "--no-progress",
        "--validate-every", str(10**6), "--checkpoint-every", str(10**6), "--checkpoint-minutes", "0",
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--short", type=int, default=4, help="fine-tuning iterations of the short run")
    parser.add_argument("--long", type=int, default=16, help="fine-tuning iterations of the long run")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=6)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--embed-dim", type=int, default=512)
    parser.add_argument("--methods", nargs=2, default=["supervised", "mona"], metavar=("BASELINE", "METHOD"))
    parser.add_argument("--json", default=None, help="also write the rounds and the summary here")
    args = parser.parse_args()
    if args.long <= args.short:
        raise SystemExit(f"--long ({args.long}) must exceed --short ({args.short})")
    rounds = []
    for r in range(args.rounds):
        row = {}
        for method in args.methods:  # alternating: baseline, method, baseline, method, ...
            short_cpu, short_wall = run_seconds(method, args.short, args)
            long_cpu, long_wall = run_seconds(method, args.long, args)
            span = args.long - args.short
            row[method] = {"cpu_per_iteration": (long_cpu - short_cpu) / span, "wall_per_iteration": (long_wall - short_wall) / span}
        base, other = (row[m]["cpu_per_iteration"] for m in args.methods)
        row["ratio_cpu"] = other / base
        row["ratio_wall"] = row[args.methods[1]]["wall_per_iteration"] / row[args.methods[0]]["wall_per_iteration"]
        rounds.append(row)
        print(f"round {r + 1}: {args.methods[0]} {base:.3f} s/it, {args.methods[1]} {other:.3f} s/it (CPU), "
              f"ratio {row['ratio_cpu']:.2f}x (wall {row['ratio_wall']:.2f}x)", flush=True)  # fmt: skip
    ratios = [row["ratio_cpu"] for row in rounds]
    summary = {"median_ratio_cpu": statistics.median(ratios), "range_ratio_cpu": [min(ratios), max(ratios)],
               "median_ratio_wall": statistics.median(row["ratio_wall"] for row in rounds)}  # fmt: skip
    print(f"{args.methods[1]} / {args.methods[0]} per iteration through mona-lab train: median {summary['median_ratio_cpu']:.2f}x "
          f"(range {min(ratios):.2f}-{max(ratios):.2f}x over {len(ratios)} alternating rounds; CPU seconds, one thread)")  # fmt: skip
    if args.json:
        from mona_lab.atomic_files import atomic_write_text

        payload = {"args": vars(args), "rounds": rounds, "summary": summary}
        atomic_write_text(Path(args.json), json.dumps(payload, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
