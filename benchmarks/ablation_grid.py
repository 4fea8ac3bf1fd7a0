"""MONA's principle-ablation grid (TPAMI 2024 Tables III and VI) on the phantom.

Trains every combination of (tailness, consistency, diversity) -- vanilla, each alone, each
pair, all three -- plus a supervised UNet-L baseline and a diagnostic vanilla run without the
pseudo-label term (lambda_unsup = 0; not in the paper), for several seeds, with a short CPU
budget (`mona_lab.lab.ablation.GRID_BUDGET`: GLCon pre-training then fine-tuning at 64 px,
width 0.5), and stores per-run per-class Dice / ASD, the summary over seeds and the
paper's printed numbers in one JSON file (written atomically):

    python benchmarks/ablation_grid.py                       # notebooks/results/ablation_grid.json
    python benchmarks/ablation_grid.py --fast --out /tmp/g.json   # smoke run, seconds
    python benchmarks/ablation_grid.py --seeds 0 1 2 --workers 2 --queue-sizes 12 24 48

Runs go to ``--workers`` processes with one torch thread each (tiny networks gain nothing
from more threads, and two single-thread workers use two cores fully). The default budget
takes about 15-20 minutes on two CPU cores. ``--queue-sizes`` adds full-MONA runs (first
seed) with other mined-view set sizes (MONA Fig. 9(b); the grid itself uses 36).

Prints the grid next to the paper's Table III (ACDC, 5 % labels) and the wall time.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

_DATA = None


def _load_data(patients: int, image_size: int, phantom_seed: int):
    from mona_lab.data import PhantomConfig, load_dataset

    return load_dataset("phantom", phantom=PhantomConfig(num_patients=patients, image_size=image_size, seed=phantom_seed))


def _init_worker(patients: int, image_size: int, phantom_seed: int, threads: int) -> None:
    import torch

    global _DATA
    torch.set_num_threads(threads)
    _DATA = _load_data(patients, image_size, phantom_seed)


def _run_job(job: dict, budget_fields: dict, labeled: int, sampler: str, device: str, root: str) -> dict:
    from mona_lab.lab.ablation import AblationBudget, json_ready, run_ablation_row

    budget = AblationBudget(**budget_fields)
    job = dict(job)
    queue_size = job.pop("queue_size", None)
    if queue_size is not None:
        budget = dataclasses.replace(budget, queue_size=int(queue_size))
    out = Path(tempfile.mkdtemp(prefix="grid_", dir=root)) / "run"
    row = run_ablation_row(labeled=labeled, sampler=sampler, data=_DATA, budget=budget, device=device,
                           out=out, keep_result=False, **job)  # fmt: skip
    row = json_ready(row)
    row["queue_size"] = budget.queue_size
    row.pop("out", None)
    return row


def parse_args(argv=None) -> argparse.Namespace:
    from mona_lab.lab.ablation import DEFAULT_GRID_PATH

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=DEFAULT_GRID_PATH, help="JSON file to write (default: %(default)s)")
    p.add_argument("--fast", action="store_true", help="smoke run: a tiny phantom, a few iterations, one seed")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="run seeds (default 0 1; --fast: 0)")
    p.add_argument("--iterations", type=int, default=None, help="fine-tuning iterations (default from the budget)")
    p.add_argument("--pretrain-iterations", type=int, default=None, help="GLCon iterations (default from the budget)")
    p.add_argument("--labeled", type=int, default=2, help="labelled training patients (default 2)")
    p.add_argument("--sampler", default="ns", choices=("ns", "sg", "sag"))
    p.add_argument("--patients", type=int, default=None, help="phantom patients (default 20; --fast: 5)")
    p.add_argument("--image-size", type=int, default=None, help="phantom image size (default 64; --fast: 32)")
    p.add_argument("--workers", type=int, default=2, help="parallel processes (default 2)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per worker (default 1)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    p.add_argument("--queue-sizes", type=int, nargs="*", default=[], help="extra full-MONA runs with these mined-view set sizes")
    p.add_argument("--no-supervised", action="store_true", help="skip the supervised baseline")
    p.add_argument("--no-diagnostics", action="store_true", help="skip the diagnostic runs (vanilla without L_unsup)")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    import torch

    import mona_lab
    from mona_lab.lab.ablation import (
        GRID_BUDGET,
        GRID_FAST_BUDGET,
        PAPER_TABLE_III,
        PAPER_TABLE_IV,
        PAPER_TABLE_VI_MONA,
        format_grid_comparison,
        grid_comparison,
        grid_jobs,
        head_and_tail,
        rank_agreement,
        summarise_grid,
    )
    from mona_lab.atomic_files import atomic_write_text

    args = parse_args(argv)
    budget = GRID_FAST_BUDGET if args.fast else GRID_BUDGET
    if args.iterations is not None:
        budget = dataclasses.replace(budget, iterations=args.iterations)
    if args.pretrain_iterations is not None:
        budget = dataclasses.replace(budget, pretrain_iterations=args.pretrain_iterations)
    seeds = args.seeds if args.seeds is not None else ([0] if args.fast else [0, 1])
    patients = args.patients or (5 if args.fast else 20)
    image_size = args.image_size or (32 if args.fast else 64)
    budget = dataclasses.replace(budget, image_size=image_size)
    jobs = grid_jobs(seeds, include_supervised=not args.no_supervised, include_diagnostics=not args.no_diagnostics)
    jobs += [{"method": "mona", "tailness": True, "consistency": True, "diversity": True, "seed": seeds[0], "queue_size": q}
             for q in args.queue_sizes if q != budget.queue_size]  # fmt: skip

    data = _load_data(patients, image_size, 0)
    counts = torch.bincount(data.train_labels.flatten(), minlength=data.num_classes).double()
    fractions = (counts / counts.sum()).tolist()
    head, tail = head_and_tail(data.class_names, fractions)
    print(f"{data.summary()}\nhead {head}, tail {tail}; {len(jobs)} runs on {args.workers} worker(s)", flush=True)

    start = time.perf_counter()
    cpu_start = time.process_time()
    with tempfile.TemporaryDirectory(prefix="mona_lab_grid_") as root:
        fixed = (dataclasses.asdict(budget), args.labeled, args.sampler, args.device, root)
        if args.workers <= 1:
            _init_worker(patients, image_size, 0, args.threads)
            runs = []
            for i, job in enumerate(jobs, 1):
                runs.append(_run_job(job, *fixed))
                print(f"[{i}/{len(jobs)}] {runs[-1]['name']:<36} seed {job['seed']}  Dice {runs[-1]['mean_dice']:.3f}"
                      f"  ({runs[-1]['seconds']:.0f} s)", flush=True)  # fmt: skip
        else:
            context = get_context("spawn")
            with ProcessPoolExecutor(args.workers, mp_context=context, initializer=_init_worker,
                                     initargs=(patients, image_size, 0, args.threads)) as pool:  # fmt: skip
                futures = [pool.submit(_run_job, job, *fixed) for job in jobs]
                runs = []
                for i, (job, future) in enumerate(zip(jobs, futures), 1):
                    runs.append(future.result())
                    print(f"[{i}/{len(jobs)}] {runs[-1]['name']:<36} seed {job['seed']}  Dice {runs[-1]['mean_dice']:.3f}"
                          f"  ({runs[-1]['seconds']:.0f} s)", flush=True)  # fmt: skip
    wall = time.perf_counter() - start

    grid_runs = [r for r in runs if r["queue_size"] == budget.queue_size]
    sweep_runs = [r for r in runs if r["queue_size"] != budget.queue_size or (
        r["name"] == "tailness + consistency + diversity" and r["seed"] == seeds[0] and args.queue_sizes)]  # fmt: skip
    grid = {
        "metadata": {
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "mona_lab_version": mona_lab.__version__,
            "torch_version": torch.__version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "device": args.device,
            "workers": args.workers,
            "threads_per_worker": args.threads,
            "command": "python benchmarks/ablation_grid.py " + " ".join(sys.argv[1:] if argv is None else argv),
            "fast": bool(args.fast),
            "dataset": "phantom",
            "phantom": data.notes.get("phantom"),
            "num_train_slices": data.num_train_slices,
            "num_val_volumes": len(data.val_volumes),
            "evaluated_on": "validation volumes (3D Dice and ASD per class, mona_lab.metrics)",
            "class_names": list(data.class_names),
            "class_fractions": fractions,
            "head_classes": head,
            "tail_classes": tail,
            "labeled_patients": args.labeled,
            "sampler": args.sampler,
            "seeds": seeds,
            "budget": dataclasses.asdict(budget),
            "wall_seconds": wall,
            "main_process_cpu_seconds": time.process_time() - cpu_start,
            "run_seconds_total": sum(r["seconds"] for r in runs),
            "run_cpu_seconds_total": sum(r["cpu_seconds"] for r in runs),
        },
        "runs": grid_runs,
        "summary": summarise_grid(grid_runs, head, tail),
        "queue_sweep": [{"queue_size": r["queue_size"], "seed": r["seed"], "mean_dice": r["mean_dice"],
                         "mean_asd": r["mean_asd"], "dice": r["dice"]}
                        for r in sorted(sweep_runs, key=lambda r: r["queue_size"])],
        "paper": {
            "source": "MONA, You et al., IEEE TPAMI 2024: Table III (ACDC 5%), Table VI MONA block, Table IV",
            "table_iii": {k: {"dice": v[0], "asd": v[1]} for k, v in PAPER_TABLE_III.items()},
            "table_vi_mona": {ratio: {k: {"dice": v[0], "asd": v[1]} for k, v in rows.items()}
                              for ratio, rows in PAPER_TABLE_VI_MONA.items()},
            "table_iv": {ds: [{"student": s, "teacher": t, "dice": d, "asd": a} for s, t, d, a in rows]
                         for ds, rows in PAPER_TABLE_IV.items()},
        },
    }  # fmt: skip
    grid["comparison"] = grid_comparison(grid)
    agreement = rank_agreement(grid["comparison"])
    grid["rank_agreement"] = None if agreement != agreement else agreement  # NaN (all Dice tie) -> null
    atomic_write_text(Path(args.out), json.dumps(grid, indent=1, sort_keys=False) + "\n")

    print()
    print(format_grid_comparison(grid["comparison"]))
    print("\nSpearman rank agreement of the eight combinations with the paper's Table III order: "
          + ("undefined (every combination scored the same)" if grid["rank_agreement"] is None else f"{agreement:+.2f}"))
    if grid["queue_sweep"]:
        print("mined-view set size (full MONA, seed %d): " % seeds[0]
              + ", ".join(f"{r['queue_size']}: {r['mean_dice']:.3f}" for r in grid["queue_sweep"]))
    print(f"\n{len(runs)} runs in {wall:.0f} s wall ({wall / 60:.1f} min) on {args.workers} worker(s); "
          f"runs took {grid['metadata']['run_seconds_total']:.0f} s wall and {grid['metadata']['run_cpu_seconds_total']:.0f} s CPU "
          f"in total ({grid['metadata']['run_cpu_seconds_total'] / 60 / max(1, args.workers):.1f} min per worker core); "
          f"wrote {args.out}")  # fmt: skip
    return grid


if __name__ == "__main__":
    main()
