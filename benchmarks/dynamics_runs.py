"""Stored runs for notebook 09: the papers' recipe against the working one, with their dynamics.

Trains, on the built-in phantom with one CPU thread, the same MONA run twice (same seed,
same budget, same learning rate): once with the working recipe (the `TrainConfig`
defaults) and once with ``--recipe paper`` (`mona_lab.config.PAPER_RECIPE`: no gradient
scaling at the heads, BatchNorm statistics from every view, ...), plus supervised as the
reference. Each run is a ``mona-lab train`` subprocess; the script stores per run the exact
command line, the seed, the CPU seconds of the process (user + system, from
``getrusage(RUSAGE_CHILDREN)``), its ``dynamics.csv`` rows (weight norms, bottleneck BN
running variance, each loss term's weighted gradient norm at the first conv, the
bottleneck conv and the classifier), a few ``log.csv`` columns, ``metrics.json`` (Dice per
class) and the largest |logit| of the trained student on the validation slices, in
``notebooks/results/training_dynamics.json`` (written atomically after every run). A run
already in that file with the same command is not redone, so an interrupted study resumes.

    python benchmarks/dynamics_runs.py [--fast] [--out PATH] [--seed 0] [--iterations 400]
        [--pretrain-iterations 100] [--lr 0.05] [--dynamics-every 10] [--runs NAME ...]

``--fast`` is a smoke test (tiny phantom, 2 + 4 iterations, a temporary file unless
``--out`` is given). The default study takes about five CPU minutes in all.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DEFAULT_OUT = REPO / "notebooks" / "results" / "training_dynamics.json"
# name -> (method, recipe)
RUNS = {"supervised": ("supervised", "working"), "mona@working": ("mona", "working"), "mona@paper": ("mona", "paper")}
LOG_COLUMNS = ("total", "sup", "inst_global", "inst_local", "unsup", "contrast", "eqv", "nn", "val_mean_dice")


def train_arguments(method: str, recipe: str, args: argparse.Namespace) -> list[str]:
    """The ``mona-lab train`` arguments of one run (``OUT`` stands for its folder)."""
    arguments = ["--recipe", recipe, "--method", method, "--dataset", "phantom", "--labeled", "2",
                 "--iterations", str(args.iterations), "--image-size", "64", "--batch-size", "4",
                 "--width", "0.25", "--embed-dim", "16", "--lr", str(args.lr),
                 "--dynamics-every", str(args.dynamics_every), "--validate-every", str(args.validate_every),
                 "--device", "cpu", "--no-progress", "--seed", str(args.seed)]  # fmt: skip
    if method == "mona":
        arguments += ["--pretrain-iterations", str(args.pretrain_iterations)]
    if args.fast:
        arguments += ["--num-queries", "32", "--num-negatives", "64"]
    return arguments


def command_line(arguments: list[str], fast: bool) -> str:
    """The command as a user types it (the folder as ``OUT``)."""
    env = "OMP_NUM_THREADS=1" + (" MONA_LAB_FAST=1" if fast else "")
    return f"{env} mona-lab train {shlex.join(arguments)} --out OUT"


def max_abs_logit(folder: Path, fast: bool, seed: int) -> float:
    """Largest |logit| of the run's trained student (``last.pt``) on the slices of the
    phantom's first four validation volumes (the scale an unprotected auxiliary loss blows up)."""
    import torch

    from mona_lab.data import load_dataset, volume_slices
    from mona_lab.engine import load_trained_model

    model, state = load_trained_model(folder / "last.pt", torch.device("cpu"))
    data = load_dataset("phantom", image_size=state["image_size"], fast=fast, seed=seed)
    largest = 0.0
    with torch.no_grad():
        for volume in data.val_volumes[:4]:
            images = torch.as_tensor(volume_slices(volume, data.image_size), dtype=torch.float32)
            largest = max(largest, float(model(images).logits.abs().max()))
    return largest


def run_one(name: str, args: argparse.Namespace) -> dict:
    """Train one run in a subprocess and return its record."""
    from mona_lab.lab.run_records import read_log_columns
    from mona_lab.training.dynamics import read_dynamics

    method, recipe = RUNS[name]
    arguments = train_arguments(method, recipe, args)
    executable = Path(sys.executable).parent / "mona-lab"
    launcher = [str(executable)] if executable.exists() else [sys.executable, "-m", "mona_lab.cli"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if args.fast:
        env["MONA_LAB_FAST"] = "1"
    else:
        env.pop("MONA_LAB_FAST", None)
    with tempfile.TemporaryDirectory(prefix=f"dynamics_{method}_{recipe}_") as folder:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter()
        subprocess.run([*launcher, "train", *arguments, "--out", folder], env=env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        folder = Path(folder)
        steps, log = read_log_columns(folder / "log.csv", LOG_COLUMNS)
        metrics = json.loads((folder / "metrics.json").read_text())
        return {
            "method": method, "recipe": recipe, "seed": args.seed, "command": command_line(arguments, args.fast),
            "cpu_seconds": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1),
            "wall_seconds": round(time.perf_counter() - wall, 1),
            "dynamics": read_dynamics(folder / "dynamics.csv"),
            "log": {"step": steps, **{k: [None if v != v else float(f"{v:.5g}") for v in vals] for k, vals in log.items()}},
            "metrics": {k: metrics[k] for k in ("mean_dice", "mean_asd", "per_class", "iterations") if k in metrics},
            "max_abs_logit": round(max_abs_logit(folder, args.fast, args.seed), 3),
        }  # fmt: skip


def write_study(path: Path, runs: dict, meta: dict) -> None:
    """The study file, atomically (NaN as null)."""
    from mona_lab.atomic_files import atomic_write_text
    from mona_lab.lab.run_records import _finite

    payload = {"format": 1, "meta": meta, "runs": runs}
    atomic_write_text(path, json.dumps(_finite(payload), indent=1, sort_keys=True, allow_nan=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fast", action="store_true", help="smoke test: tiny phantom, 2 + 4 iterations")
    parser.add_argument("--out", default=None, help=f"study JSON (default {DEFAULT_OUT}; a temp file with --fast)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--iterations", type=int, default=400, help="fine-tuning iterations (supervised: all)")
    parser.add_argument("--pretrain-iterations", type=int, default=100, help="MONA's GLCon iterations before them")
    parser.add_argument("--lr", type=float, default=0.05,
                        help="SGD learning rate, the same for every run (0.05: the stored ACDC benchmark's)")
    parser.add_argument("--dynamics-every", type=int, default=10)
    parser.add_argument("--validate-every", type=int, default=100)
    parser.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    args = parser.parse_args(argv)
    if args.fast:
        args.iterations, args.pretrain_iterations, args.dynamics_every, args.validate_every = 4, 2, 2, 4
    out = Path(args.out) if args.out else (
        Path(tempfile.mkdtemp(prefix="dynamics_runs_")) / "training_dynamics_fast.json" if args.fast else DEFAULT_OUT
    )
    runs = {}
    if out.is_file():
        runs = json.loads(out.read_text()).get("runs", {})
    meta = {"script": "benchmarks/dynamics_runs.py", "argv": sys.argv[1:] if argv is None else list(argv),
            "fast": args.fast, "seed": args.seed, "threads": 1,
            "dataset": "phantom (built in; MONA_LAB_FAST=1 shrinks it)" if args.fast else "phantom (built in)"}  # fmt: skip
    for name in args.runs:
        method, recipe = RUNS[name]
        wanted = command_line(train_arguments(method, recipe, args), args.fast)
        if name in runs and runs[name].get("command") == wanted:
            print(f"{name}: stored, skipped", flush=True)
            continue
        runs[name] = run_one(name, args)
        write_study(out, runs, meta)
        record = runs[name]
        print(f"{name}: mean Dice {record['metrics']['mean_dice']:.3f}, {record['cpu_seconds']:.0f} CPU s, "
              f"max |logit| {record['max_abs_logit']:.1f}", flush=True)  # fmt: skip
    write_study(out, runs, meta)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
