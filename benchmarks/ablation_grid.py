"""MONA's principle-ablation grid (TPAMI 2024 Tables III and VI) on the phantom or on ACDC.

Trains every combination of (tailness, consistency, diversity) -- vanilla, each alone, each
pair, all three -- plus a supervised UNet-L baseline and a diagnostic vanilla run without the
pseudo-label term (lambda_unsup = 0; not in the paper), for 3 seeds, with the working recipe
(the `TrainConfig` defaults; only sizes, lengths and the learning rate are set here), and
stores per-run per-class Dice / ASD, the mean and spread over seeds per class and for the
head and tail classes, and the paper's printed numbers in one JSON file (written atomically):

    python benchmarks/ablation_grid.py --workers 2          # phantom -> notebooks/results/ablation_grid.json
    MONA_LAB_ACDC=/path/to/ACDC python benchmarks/ablation_grid.py --dataset acdc --workers 2
                                                             # -> notebooks/results/ablation_grid_acdc.json
    python benchmarks/ablation_grid.py --fast --out /tmp/g.json --runs /tmp/g_runs   # smoke run, seconds

Budgets (`mona_lab.lab.ablation`): the phantom (`GRID_BUDGET`: 20 patients at 64 px, 2
labelled, 100 GLCon + 600 fine-tuning iterations, width 0.5) and ACDC (`ACDC_GRID_BUDGET`: 3
labelled patients, scored on the 20 validation volumes, the setting of
benchmarks/acdc_reduced.py: 128 px, width 0.25, 150 GLCon + 2350 iterations, lr 0.05 / 10 at
iteration 2000). Every method sees 4 labelled slices per step (the semi-supervised rows add 4
unlabelled ones). Measured with one thread (full MONA, seed 0, the costliest row): 187 CPU
seconds a phantom run (mean Dice 0.515), so the phantom grid (30 runs) takes at most 1.6 CPU
hours; the stored grid took 3573 CPU seconds in all (supervised 38-42 s a run, the MONA rows
99-155 s) and 40 minutes on 2 workers. An ACDC run 1032 CPU seconds (mean Dice 0.611;
benchmarks/results/acdc_reduced.json: 991-1026), a supervised one about 240, so the ACDC grid
takes at most about 8 CPU hours. The stored ACDC grid (``--no-diagnostics``, 27 runs) took
21190 CPU seconds (supervised 248-250 s a run, the MONA rows 632-1106 s), about 3 hours on 2 workers.

Resumable: each finished run writes ``record.json`` (atomically) into its own folder under
``--runs`` (default ``benchmarks/runs/ablation_grid_<dataset>``; the records are committed, the training folders are not); rerunning the
same command skips finished runs, so a stopped study resumes. ``--only NAME ...`` trains only
those runs (each record stores the command that trains it alone), ``--assemble`` trains
nothing and writes the JSON from the finished runs. A JSON with missing runs says so
(``metadata.complete`` false, ``metadata.missing_runs``) and, unless ``--out`` is given, goes
to ``<out>.incomplete.json`` so a stored complete grid is never replaced by a partial one.

Runs go to ``--workers`` processes with one torch thread each (tiny networks gain nothing
from more threads, and two single-thread workers use two cores fully). Before training, the
script prints the expected time (from the CPU seconds of finished runs, else from a short
measured warm-up run). ``--queue-sizes`` adds full-MONA runs (first seed) with other mined-view
set sizes (MONA Fig. 9(b); the grid itself uses 36).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = "benchmarks/ablation_grid.py"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="phantom", choices=("phantom", "acdc"), help="phantom (default) or acdc ($MONA_LAB_ACDC)")
    p.add_argument("--out", type=Path, default=None,
                   help="JSON file (default notebooks/results/ablation_grid.json; ablation_grid_acdc.json for ACDC)")
    p.add_argument("--runs", type=Path, default=None, help="one folder per finished run (default benchmarks/runs/ablation_grid_<dataset>)")
    p.add_argument("--fast", action="store_true", help="smoke run: a tiny budget at 32 px, one seed")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="run seeds (default 0 1 2; --fast: 0)")
    p.add_argument("--iterations", type=int, default=None, help="fine-tuning iterations (default from the budget)")
    p.add_argument("--pretrain-iterations", type=int, default=None, help="GLCon iterations (default from the budget)")
    p.add_argument("--lr", type=float, default=None, help="SGD learning rate (default from the budget)")
    p.add_argument("--labeled", type=int, default=None, help="labelled training patients (default: phantom 2, ACDC 3)")
    p.add_argument("--sampler", default="ns", choices=("ns", "sg", "sag"))
    p.add_argument("--patients", type=int, default=None, help="phantom patients (default 20; --fast: 5)")
    p.add_argument("--image-size", type=int, default=None, help="image size (default from the budget; --fast: 32)")
    p.add_argument("--workers", type=int, default=2, help="parallel processes (default 2)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per worker (default 1)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    p.add_argument("--queue-sizes", type=int, nargs="*", default=[], help="extra full-MONA runs with these mined-view set sizes")
    p.add_argument("--no-supervised", action="store_true", help="skip the supervised baseline")
    p.add_argument("--no-diagnostics", action="store_true", help="skip the diagnostic runs (vanilla without L_unsup)")
    p.add_argument("--only", nargs="+", default=None, metavar="NAME", help="train only these runs (names as seed0-tcd)")
    p.add_argument("--assemble", action="store_true", help="train nothing; write the JSON from the finished runs")
    p.add_argument("--no-estimate", action="store_true", help="skip the warm-up run that estimates the time")
    return p.parse_args(argv)


def study_setup(args: argparse.Namespace):
    """(budget, data settings, runs, runs folder, output path) of the command line."""
    from mona_lab.lab.ablation import ACDC_GRID_BUDGET, GRID_BUDGET, GRID_FAST_BUDGET
    from mona_lab.lab.ablation.grid_study import data_settings, grid_study_runs

    acdc = args.dataset == "acdc"
    budget = GRID_FAST_BUDGET if args.fast else (ACDC_GRID_BUDGET if acdc else GRID_BUDGET)
    if args.fast and acdc:
        budget = dataclasses.replace(budget, batch_size=4, supervised_batch_size=2)
    for field, value in (("iterations", args.iterations), ("pretrain_iterations", args.pretrain_iterations), ("lr", args.lr)):
        if value is not None:
            budget = dataclasses.replace(budget, **{field: value})
    image_size = args.image_size or (32 if args.fast else budget.image_size)
    budget = dataclasses.replace(budget, image_size=image_size)
    if budget.lr_decay_at and budget.lr_decay_at >= budget.iterations + budget.pretrain_iterations:
        budget = dataclasses.replace(budget, lr_decay_at=None)  # shortened runs: no decay
    data = data_settings(args.dataset, image_size, None if acdc else (args.patients or (5 if args.fast else 20)))
    seeds = args.seeds if args.seeds is not None else ([0] if args.fast else [0, 1, 2])
    labeled = args.labeled or (3 if acdc else 2)
    runs = grid_study_runs(data, seeds, budget, labeled=labeled, sampler=args.sampler, device=args.device,
                           include_supervised=not args.no_supervised, include_diagnostics=not args.no_diagnostics,
                           queue_sizes=args.queue_sizes)  # fmt: skip
    folder = args.runs or ROOT / "benchmarks" / "runs" / f"ablation_grid_{args.dataset}{'_fast' if args.fast else ''}"
    out = args.out or ROOT / "notebooks" / "results" / ("ablation_grid_acdc.json" if acdc else "ablation_grid.json")
    return budget, data, seeds, labeled, runs, Path(folder), Path(out)


def warmup_estimate(runs, budget) -> dict[str, float]:
    """Per-kind CPU seconds of a full run, scaled from a measured 10-iteration full-MONA run
    (and a supervised one) of the same sizes: the expected cost before any run has finished."""
    from mona_lab.lab.ablation.grid_study import train_grid_run
    from mona_lab.lab.study_runs import timed_run

    short = dataclasses.replace(budget, iterations=10, pretrain_iterations=min(5, budget.pretrain_iterations), lr_decay_at=None)
    measured = {}
    for kind in ("tcd", "supervised"):
        run = next((r for r in runs if r.kind == kind), None)
        if run is None:
            continue
        settings = dict(run.settings, budget=short.to_dict())
        with tempfile.TemporaryDirectory(prefix="grid_warmup_") as folder:
            cpu = timed_run(train_grid_run, type(run)(run.name, settings, kind), folder, 1)["cpu_seconds"]
        measured[kind] = cpu * (budget.iterations + budget.pretrain_iterations) / (short.iterations + short.pretrain_iterations)
    # every semi-supervised row costs at most a full-MONA step; use it as the bound
    return {r.kind: measured.get("supervised" if r.kind == "supervised" else "tcd", 0.0) for r in runs}


def assemble(args, argv, budget, data_cfg, seeds, labeled, runs, folder, records, wall: float) -> dict:
    """The grid JSON from the finished runs (``metadata.complete`` false when some are missing)."""
    import torch

    from mona_lab.lab.ablation import (PAPER_TABLE_III, PAPER_TABLE_IV, PAPER_TABLE_VI_MONA, grid_comparison,
                                       head_and_tail, rank_agreement, summarise_grid)
    from mona_lab.lab.ablation.grid_study import grid_record_row, load_study_data
    from mona_lab.lab.study_runs import environment_metadata, repo_path, run_command, script_command  # fmt: skip

    data = load_study_data(data_cfg)
    counts = torch.bincount(data.train_labels.flatten(), minlength=data.num_classes).double()
    fractions = (counts / counts.sum()).tolist()
    head, tail = head_and_tail(data.class_names, fractions)
    rows = []
    for run in runs:
        if run.name in records:
            row = grid_record_row(records[run.name])
            row["command"] = run_command(SCRIPT, argv, run, folder)
            rows.append(row)
    missing = [r.name for r in runs if r.name not in records]
    grid_rows = [r for r in rows if r["queue_size"] == budget.queue_size]
    sweep = [r for r in rows if r["queue_size"] != budget.queue_size or (
        r["method"] == "mona" and all(r[p] for p in ("tailness", "consistency", "diversity"))
        and r["seed"] == seeds[0] and args.queue_sizes and not r["overrides"])]  # fmt: skip
    grid = {
        "metadata": {
            **environment_metadata(),  # created, versions, platform, cpu_count
            "device": args.device,
            "workers": args.workers,
            "threads_per_worker": args.threads,
            "command": script_command(SCRIPT, argv),
            "runs_folder": repo_path(folder),
            "complete": not missing,
            "missing_runs": missing,
            "fast": bool(args.fast),
            "dataset": args.dataset,
            "data": data_cfg,
            "phantom": data.notes.get("phantom"),
            "num_train_slices": data.num_train_slices,
            "num_val_volumes": len(data.val_volumes),
            "evaluated_on": "validation volumes (3D Dice and ASD per class, mona_lab.metrics), last model",
            "class_names": list(data.class_names),
            "class_fractions": fractions,
            "head_classes": head,
            "tail_classes": tail,
            "labeled_patients": labeled,
            "sampler": args.sampler,
            "seeds": seeds,
            "budget": budget.to_dict(),
            "recipe": sorted({r.get("recipe", "?") for r in rows}),
            "wall_seconds": wall,
            "run_seconds_total": sum(r["seconds"] for r in rows),
            "run_cpu_seconds_total": sum(r["cpu_seconds"] for r in rows),
        },
        "runs": grid_rows,
        "summary": summarise_grid(grid_rows, head, tail),
        "queue_sweep": [{"queue_size": r["queue_size"], "seed": r["seed"], "mean_dice": r["mean_dice"],
                         "mean_asd": r["mean_asd"], "dice": r["dice"]}
                        for r in sorted(sweep, key=lambda r: r["queue_size"])],
        "paper": {
            "source": "MONA, You et al., IEEE TPAMI 2024: Table III (ACDC 5%), Table VI MONA block, Table IV",
            "table_iii": {k: {"dice": v[0], "asd": v[1]} for k, v in PAPER_TABLE_III.items()},
            "table_vi_mona": {ratio: {k: {"dice": v[0], "asd": v[1]} for k, v in rows_.items()}
                              for ratio, rows_ in PAPER_TABLE_VI_MONA.items()},
            "table_iv": {ds: [{"student": s, "teacher": t, "dice": d, "asd": a} for s, t, d, a in rows_]
                         for ds, rows_ in PAPER_TABLE_IV.items()},
        },
    }  # fmt: skip
    if any(s["name"] == "vanilla" for s in grid["summary"]):
        grid["comparison"] = grid_comparison(grid)
        agreement = rank_agreement(grid["comparison"]) if sum(r["paper_dice"] is not None for r in grid["comparison"]) > 1 else float("nan")
        grid["rank_agreement"] = None if agreement != agreement else agreement  # NaN (all Dice tie) -> null
    else:
        grid["comparison"], grid["rank_agreement"] = [], None
    return grid


def main(argv=None) -> dict:
    from mona_lab.atomic_files import atomic_write_text
    from mona_lab.lab.ablation import format_grid_comparison
    from mona_lab.lab.ablation.grid_study import load_study_data, train_grid_run
    from mona_lab.lab.study_runs import estimate_seconds, execute, format_duration, pending_and_finished, select

    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.dataset == "acdc":
        from mona_lab.data import resolve_acdc_root
        from mona_lab.errors import MonaLabError

        try:
            resolve_acdc_root()
        except MonaLabError as err:  # before anything runs
            raise SystemExit(f"ablation_grid.py --dataset acdc needs the ACDC data: set MONA_LAB_ACDC=/path/to/ACDC "
                             f"(the SSL4MIS layout, see data/README.md). {err}") from None
    budget, data_cfg, seeds, labeled, runs, folder, out = study_setup(args)
    chosen = select(runs, args.only)
    data = load_study_data(data_cfg)
    pending, finished = pending_and_finished(chosen, folder)
    print(f"{data.summary()}\n{len(runs)} runs in {folder}: {len(runs) - len(pending_and_finished(runs, folder)[0])} "
          f"finished, {0 if args.assemble else len(pending)} to train on {args.workers} worker(s)", flush=True)  # fmt: skip
    start = time.perf_counter()
    if pending and not args.assemble:
        all_finished = pending_and_finished(runs, folder)[1]
        if all_finished:  # a row without finished runs yet: as costly as the costliest finished semi-supervised row
            semi = [r["cpu_seconds"] for r in all_finished.values() if r.get("kind") != "supervised"]
            fallback = {r.kind: max(semi) for r in runs if r.kind != "supervised"} if semi else None
        else:
            fallback = None if args.no_estimate else warmup_estimate(runs, budget)
        expected = estimate_seconds(pending, all_finished, args.workers, fallback)
        print(f"expected time: {format_duration(expected)} on {args.workers} worker(s) of {args.threads} thread(s)"
              f" ({'from finished runs' if all_finished else 'no warm-up' if fallback is None else 'from a warm-up run'};"
              " CPU time, longer on a busy machine)",
              flush=True)  # fmt: skip

        def report(run, record, done, total):
            print(f"[{done}/{total}] {run.name:<24} Dice {record['mean_dice']:.3f}  ({record['cpu_seconds']:.0f} CPU s)", flush=True)

        execute(pending, folder, train_grid_run, workers=args.workers, threads=args.threads, on_done=report)
    wall = time.perf_counter() - start
    records = pending_and_finished(runs, folder)[1]
    grid = assemble(args, argv, budget, data_cfg, seeds, labeled, runs, folder, records, wall)
    missing = grid["metadata"]["missing_runs"]
    if missing and args.out is None:
        out = out.with_suffix(".incomplete.json")
    atomic_write_text(out, json.dumps(grid, indent=1, sort_keys=False) + "\n")

    print()
    if grid["comparison"]:
        print(format_grid_comparison(grid["comparison"]))
    if grid["rank_agreement"] is not None:
        print(f"\nSpearman rank agreement of the combinations with the paper's Table III order: {grid['rank_agreement']:+.2f}")
    if grid["queue_sweep"]:
        print("mined-view set size (full MONA, seed %d): " % seeds[0]
              + ", ".join(f"{r['queue_size']}: {r['mean_dice']:.3f}" for r in grid["queue_sweep"]))
    meta = grid["metadata"]
    if missing:
        print(f"\nINCOMPLETE: {len(missing)} of {len(runs)} runs missing ({', '.join(missing)})")
    print(f"\n{len(runs) - len(missing)} finished runs: {meta['run_cpu_seconds_total']:.0f} CPU s in total "
          f"({meta['run_cpu_seconds_total'] / 3600:.2f} CPU hours); this call {wall:.0f} s wall; wrote {out}")  # fmt: skip
    return grid


if __name__ == "__main__":
    main()
