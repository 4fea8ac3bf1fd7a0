"""What each change of the working recipe contributes: one change at a time, on ACDC.

Every variant is MONA in the setting of ``benchmarks/acdc_reduced.py`` (3 labelled patients,
128 px, batch 4, width 0.25, embed 32, lr 0.05, 150 GLCon + 1350 fine-tuning iterations,
last model on the 20 validation volumes) with **one** field of the working recipe put back
to the papers' value (or, for ``plain``, the three principles switched off), run as a
``mona-lab train`` command line. ``working`` and ``paper`` bracket them. Validation Dice is
logged every ``--validate-every`` iterations, so the curves show when a variant learns.

The default seed (3) is not one of the seeds ``acdc_reduced.py`` reports (0, 1, 2): the
recipe was chosen on it, so the reported benchmark is not selected on its own runs (both
score the same validation volumes; the independent check uses other data).

    MONA_LAB_ACDC=/path/to/ACDC python benchmarks/acdc_recipe_diagnosis.py [--variants working head-grad-1 ...]

Variants (the flag each adds to the working recipe's command):
    working             the defaults
    head-grad-1         --head-grad-scale 1               heads' gradients unscaled (paper)
    strong-view         --student-labeled-view strong     L_sup on strongly augmented slices (paper)
    share               --unsup-weighting share           L_unsup times the confident share (paper)
    hidden-1            --representation-hidden-ratio 1   representation head at full width (paper)
    channel-dropout     --dropout-kind channel            whole-map dropout (mona_lab before issue 10)
    plain               --without tailness consistency diversity   the teacher-student core alone
    paper               --recipe paper                    every departure back to the printed value
and two readings the papers leave open (added to the working recipe):
    nn-unlabeled        --nn-unlabeled-only               L_nn on unlabelled rows only (MONA Sec. III-B)
    eqv-intensity       --eqv-intensity                   T in L_eqv changes intensity too (Eq. 6)
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from acdc_reduced import run_one  # noqa: E402  (the same runner: one command line per run)

from mona_lab.atomic_files import atomic_write_text  # noqa: E402

VARIANTS: dict[str, list[str]] = {
    "working": [],
    "head-grad-1": ["--head-grad-scale", "1"],
    "strong-view": ["--student-labeled-view", "strong"],
    "share": ["--unsup-weighting", "share"],
    "hidden-1": ["--representation-hidden-ratio", "1"],
    "channel-dropout": ["--dropout-kind", "channel"],
    "plain": ["--without", "tailness", "consistency", "diversity"],
    "paper": ["--recipe", "paper"],
    "nn-unlabeled": ["--nn-unlabeled-only"],
    "eqv-intensity": ["--eqv-intensity"],
}


def main() -> None:
    from mona_lab.data import resolve_acdc_root

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=None)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--method", default="mona")
    parser.add_argument("--iterations", type=int, default=1500, help="iterations, pre-training included")
    parser.add_argument("--pretrain-iterations", type=int, default=150)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--validate-every", type=int, default=250)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", default="benchmarks/runs/acdc_recipe_diagnosis")
    parser.add_argument("--json", default="benchmarks/results/acdc_recipe_diagnosis.json")
    args = parser.parse_args()

    root = str(resolve_acdc_root(args.root))
    jobs = []
    for name in args.variants:
        out = Path(args.runs) / name
        cmd = [
            "mona-lab", "train", "--method", args.method, "--dataset", "acdc", "--labeled", "3",
            "--iterations", str(args.iterations - args.pretrain_iterations), "--pretrain-iterations",
            str(args.pretrain_iterations), "--image-size", "128", "--batch-size", "4", "--width", "0.25",
            "--embed-dim", "32", "--lr", str(args.lr), "--seed", str(args.seed), "--validate-every",
            str(args.validate_every), "--checkpoint-every", str(args.validate_every), "--device", "cpu",
            "--out", str(out), "--no-progress", *VARIANTS[name],
        ]  # fmt: skip
        jobs.append((name, out, cmd))
    started = time.time()
    results = {}
    with ThreadPoolExecutor(max_workers=max(1, args.workers)) as pool:
        futures = [(name, pool.submit(run_one, cmd, out, root)) for name, out, cmd in jobs]
        for name, future in futures:
            results[name] = future.result()
            print(f"{name:<16} mean Dice {results[name]['mean_dice']:.3f}", flush=True)
            payload = {"args": vars(args), "results": results}
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(Path(args.json), json.dumps(payload, indent=1, sort_keys=True) + "\n")
    print(f"\nACDC, 3 labelled patients, {args.method}, seed {args.seed}, {args.iterations} iterations, "
          f"last model ({time.time() - started:.0f} s wall)")  # fmt: skip
    base = results.get("working", {}).get("mean_dice")
    for name, r in results.items():
        classes = " ".join(f"{c}={v['dice']:.3f}" for c, v in r["per_class"].items())
        curve = " ".join(f"{s}:{d:.3f}" for s, d in r["curve"])
        delta = f"{100 * (r['mean_dice'] - base):+6.1f}" if base is not None else ""
        print(f"{name:<16} {r['mean_dice']:.3f} {delta} [{classes}]  curve {curve}")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
