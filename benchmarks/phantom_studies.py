"""Phantom studies with five seeds and paired effects (issue "Lessons a student can see", point 3).

Two studies, each a small ablation grid (`mona_lab.lab.ablation.grid_study`) repeated at
several values of one `PhantomConfig` field, the methods paired by seed at each value
(`mona_lab.lab.phantom_studies` defines them, summarises a level and prints a study):

    python benchmarks/phantom_studies.py heterogeneity --budget NAME --levels 0 0.5 1 1.5 --seeds 0 1 2 3 4 --workers 2
        supervised vs core (MONA, three principles off: Table III's "vanilla") vs MONA (all
        three) against the phantom's heterogeneity -> benchmarks/results/phantom_heterogeneity.json
    python benchmarks/phantom_studies.py zipf --budget NAME --exponents 0.5 1 2 --seeds 0 1 2 3 4 --workers 2
        core vs core + tailness against the Zipf exponent (MONA: tailness matters more as the
        tail thins), with the tail classes' Dice -> benchmarks/results/phantom_zipf.json
    python benchmarks/phantom_studies.py zipf --budget NAME --stored-only     # the JSON from finished runs
    python benchmarks/phantom_studies.py heterogeneity --fast --out /tmp/h.json --runs /tmp/h_runs   # smoke run

``--budget`` names a budget of `mona_lab.lab.ablation.runs` (``GRID_BUDGET``,
``NOTEBOOK_LECTURE_BUDGET``, ...; on a phantom of 20 patients, 2 labelled, at the budget's
image size) or a candidate of ``benchmarks/lecture_size.py`` (``CANDIDATES``: its budget,
`TrainConfig` overrides, patients, image size and labelled count; its heterogeneity is the
zipf study's default level of heterogeneity, ``--heterogeneity`` sets it). ``--patients``,
``--labeled`` and ``--image-size`` override the budget's phantom.

The machinery is the ablation grid's (`mona_lab.lab.study_runs`): every run writes
``record.json`` atomically into ``--runs/<level>-seed<k>-<row>-<settings hash>/`` (default
``benchmarks/runs/phantom_<study>``), the settings (data with its heterogeneity and Zipf
exponent, budget, switches, seed) decide the hash, rerunning a command skips finished runs
(a stopped study resumes), ``--only NAME`` trains single runs, ``--workers`` processes of
``--threads`` torch threads each train the rest. ``--stored-only`` trains nothing and
writes the JSON from the finished runs, listing the pending ones. A JSON with pending runs
has ``metadata.complete`` false and, unless ``--out`` is given, goes to
``<out>.incomplete.json``. Every run's row keeps the command that trains it alone, its
config and its CPU seconds; the metadata the study's command and the CPU seconds in all.

Cost (one thread, the stored ablation grid's records at GRID_BUDGET, 64 px: supervised
41 CPU s a run, vanilla 105, tailness 121, all three 159): the heterogeneity study at 4
levels x 5 seeds is 20 x (41 + 105 + 159) = about 6100 CPU s, the zipf study at 3
exponents x 5 seeds 15 x (105 + 121) = about 3400 CPU s; halve for the wall time on 2
workers of an idle 2-core machine. ``--fast`` (2 seeds, 32 px, 5 patients, the smoke
budget ``GRID_FAST_BUDGET``) takes seconds.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = "benchmarks/phantom_studies.py"
LECTURE_SIZE = ROOT / "benchmarks" / "lecture_size.py"
DEFAULT_PATIENTS, DEFAULT_LABELED = 20, 2  # the stored ablation grid's phantom
FAST_PATIENTS, FAST_IMAGE_SIZE, FAST_SEEDS = 5, 32, (0, 1)


# --------------------------------------------------------------------------- budgets
def library_budgets() -> dict:
    """``{name: AblationBudget}`` of every ``*_BUDGET`` of `mona_lab.lab.ablation.runs`."""
    from mona_lab.lab.ablation import runs

    return {name: value for name, value in vars(runs).items()
            if name.endswith("_BUDGET") and isinstance(value, runs.AblationBudget)}  # fmt: skip


def lecture_candidates() -> dict:
    """``benchmarks/lecture_size.py``'s ``CANDIDATES`` (empty when the file is absent)."""
    if not LECTURE_SIZE.is_file():
        return {}
    spec = importlib.util.spec_from_file_location("lecture_size_candidates", LECTURE_SIZE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while they are made
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name, None)
    return dict(module.CANDIDATES)


def resolve_budget(name: str) -> dict:
    """A budget name -> ``{"budget", "overrides", "patients", "image_size", "labeled",
    "heterogeneity", "source"}``: a `mona_lab.lab.ablation.runs` budget on the grid's phantom
    (20 patients, 2 labelled, level 0), or a ``benchmarks/lecture_size.py`` candidate's.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    budgets = library_budgets()
    if name in budgets:
        budget = budgets[name]
        return {"budget": budget, "overrides": {}, "patients": DEFAULT_PATIENTS, "image_size": budget.image_size,
                "labeled": DEFAULT_LABELED, "heterogeneity": 0.0, "source": "mona_lab.lab.ablation.runs"}  # fmt: skip
    candidates = lecture_candidates()
    if name in candidates:
        c = candidates[name]
        return {"budget": c.budget, "overrides": dict(c.overrides), "patients": c.patients, "image_size": c.image_size,
                "labeled": c.labeled, "heterogeneity": float(c.heterogeneity), "source": "benchmarks/lecture_size.py"}  # fmt: skip
    where = sorted(candidates) if candidates else f"none: {LECTURE_SIZE.relative_to(ROOT)} is absent"
    raise ValueError(f"--budget {name!r} is neither a budget of mona_lab.lab.ablation.runs ({sorted(budgets)}) "
                     f"nor a candidate of benchmarks/lecture_size.py ({where})")  # fmt: skip


# --------------------------------------------------------------------------- arguments
def _in_range(flag: str, field: str, low: float, high: float):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not low <= value <= high:  # also rejects NaN
            raise argparse.ArgumentTypeError(f"{text} is outside [{low:g}, {high:g}] (PhantomConfig.{field})")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    from mona_lab.lab.phantom_studies import PHANTOM_STUDIES

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--budget", default=None, help="a mona_lab.lab.ablation.runs budget (GRID_BUDGET, ...) or a "
                        "benchmarks/lecture_size.py candidate (required unless --fast: GRID_FAST_BUDGET)")  # fmt: skip
    common.add_argument("--seeds", type=int, nargs="+", default=None, help="run seeds (default 0 1 2 3 4; --fast: 0 1)")
    common.add_argument("--patients", type=int, default=None, help="phantom patients (default: the budget's; --fast: 5)")
    common.add_argument("--labeled", type=int, default=None, help="labelled patients (default: the budget's)")
    common.add_argument("--image-size", type=int, default=None, help="image size (default: the budget's; --fast: 32)")
    common.add_argument("--sampler", default="ns", choices=("ns", "sg", "sag"))
    common.add_argument("--fast", action="store_true", help="smoke run: GRID_FAST_BUDGET, 32 px, 5 patients, 2 seeds")
    common.add_argument("--out", type=Path, default=None, help="JSON file (default benchmarks/results/phantom_<study>.json)")
    common.add_argument("--runs", type=Path, default=None, help="one folder per run (default benchmarks/runs/phantom_<study>)")
    common.add_argument("--workers", type=int, default=2, help="parallel processes (default 2)")
    common.add_argument("--threads", type=int, default=1, help="torch threads per worker (default 1)")
    common.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    common.add_argument("--only", nargs="+", default=None, metavar="NAME", help="train only these runs (e.g. h0.5-seed0-tcd)")
    common.add_argument("--stored-only", action="store_true", help="train nothing; write the JSON from the finished runs")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="study", required=True)
    for study in PHANTOM_STUDIES.values():
        p = sub.add_parser(study.name, parents=[common], help=study.question)
        low, high = study.bounds
        p.add_argument(study.flag, dest="levels", nargs="+", default=None,
                       type=_in_range(study.flag, study.parameter, low, high),
                       help=f"values of PhantomConfig.{study.parameter} in [{low:g}, {high:g}] "
                            f"(default {' '.join(f'{v:g}' for v in study.levels)}; --fast: "
                            f"{' '.join(f'{v:g}' for v in study.fast_levels)})")  # fmt: skip
        if study.parameter != "heterogeneity":
            p.add_argument("--heterogeneity", type=_in_range("--heterogeneity", "heterogeneity", 0.0, 2.0), default=None,
                           help="the phantom's heterogeneity at every exponent (default: the budget's, else 0)")  # fmt: skip
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    """The command line, checked: a known budget, distinct levels and seeds, positive sizes."""
    from mona_lab.lab.phantom_studies import PHANTOM_STUDIES

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.budget is None and not args.fast:
        parser.error("--budget is required (a mona_lab.lab.ablation.runs budget or a benchmarks/lecture_size.py candidate)")
    try:
        args.spec = resolve_budget(args.budget or "GRID_FAST_BUDGET")
    except ValueError as err:
        parser.error(str(err))
    if args.levels is not None and len(set(args.levels)) != len(args.levels):
        flag = PHANTOM_STUDIES[args.study].flag
        parser.error(f"{flag} must differ, got {' '.join(f'{v:g}' for v in args.levels)}")
    if args.seeds is not None and len(set(args.seeds)) != len(args.seeds):
        parser.error(f"--seeds must differ, got {args.seeds}")
    for flag, value in (("--patients", args.patients), ("--labeled", args.labeled), ("--workers", args.workers),
                        ("--threads", args.threads)):  # fmt: skip
        if value is not None and value < 1:
            parser.error(f"{flag} must be >= 1, got {value}")
    return args


# --------------------------------------------------------------------------- the study
def study_setup(args: argparse.Namespace) -> dict:
    """What the command line asks for: the study, budget, phantom, seeds, levels, runs
    (level-major: all runs of a level share its data) and where they go."""
    from mona_lab.lab.ablation.grid_study import data_settings, grid_study_runs
    from mona_lab.lab.phantom_studies import PHANTOM_STUDIES

    study = PHANTOM_STUDIES[args.study]
    spec = args.spec
    image_size = args.image_size or (FAST_IMAGE_SIZE if args.fast else spec["image_size"])
    patients = args.patients or (FAST_PATIENTS if args.fast else spec["patients"])
    labeled = args.labeled or spec["labeled"]
    budget = dataclasses.replace(spec["budget"], image_size=image_size)
    seeds = args.seeds if args.seeds is not None else list(FAST_SEEDS if args.fast else range(5))
    levels = [float(v) for v in (args.levels or (study.fast_levels if args.fast else study.levels))]
    fixed = {"zipf_exponent": 1.0} if study.parameter == "heterogeneity" else {
        "heterogeneity": spec["heterogeneity"] if args.heterogeneity is None else args.heterogeneity}
    switches = [s for s in study.methods.values() if s is not None]
    runs, data_by_level = [], {}
    for level in levels:
        data = data_settings("phantom", image_size, patients, **{**fixed, study.parameter: level})
        data_by_level[level] = data
        runs += grid_study_runs(data, seeds, budget, labeled=labeled, sampler=args.sampler, device=args.device,
                                include_supervised=None in study.methods.values(), include_diagnostics=False,
                                combinations=switches, overrides=spec["overrides"] or None,
                                prefix=study.level_prefix(level))  # fmt: skip
    suffix = "_fast" if args.fast else ""
    folder = args.runs or ROOT / "benchmarks" / "runs" / f"phantom_{study.name}{suffix}"
    out = args.out or ROOT / "benchmarks" / "results" / f"phantom_{study.name}{suffix}.json"
    return {"study": study, "budget": budget, "labeled": labeled, "patients": patients, "image_size": image_size,
            "seeds": list(seeds), "levels": levels, "fixed": fixed, "data": data_by_level, "runs": runs,
            "folder": Path(folder), "out": Path(out)}  # fmt: skip


def level_of(run, study) -> float:
    return float(run.settings["data"][study.parameter])


def assemble(args, argv, setup: dict, records: dict, wall: float, command: str) -> dict:
    """The study's JSON from the finished runs: metadata (``command``: this call's command
    line), one summary block per level (`mona_lab.lab.phantom_studies.level_summary`) and
    every finished run's row with the command that trains it alone (from ``argv``)."""
    import torch

    from mona_lab.lab.ablation.grid_study import grid_record_row, load_study_data
    from mona_lab.lab.phantom_studies import level_summary
    from mona_lab.lab.study_runs import environment_metadata, repo_path, run_command

    study, runs, folder = setup["study"], setup["runs"], setup["folder"]
    rows, blocks, class_names, phantoms = [], [], None, {}
    for level in setup["levels"]:
        data = load_study_data(setup["data"][level])
        class_names = list(data.class_names)
        phantoms[f"{level:g}"] = data.notes.get("phantom")
        counts = torch.bincount(data.train_labels.flatten(), minlength=data.num_classes).double()
        fractions = (counts / counts.sum()).tolist()
        mine = []
        for run in runs:
            if level_of(run, study) == level and run.name in records:
                row = grid_record_row(records[run.name])
                row.update(run=run.name, level=level, command=run_command(SCRIPT, argv, run, folder))
                mine.append(row)
        rows += mine
        blocks.append(level_summary(study, level, mine, class_names, fractions))
    missing = [r.name for r in runs if r.name not in records]
    cpu_by_method: dict[str, list[float]] = {}
    for block in blocks:
        for label, m in block["methods"].items():
            cpu_by_method.setdefault(label, []).append(m["cpu_seconds"])
    meta = {
        **environment_metadata(),
        "study": study.name,
        "title": {"heterogeneity": "semi-supervised gain against phantom heterogeneity",
                  "zipf": "tailness against the Zipf exponent"}.get(study.name, study.name),
        "question": study.question,
        "parameter": study.parameter,
        "parameter_label": study.label,
        "levels": setup["levels"],
        "fixed_phantom": setup["fixed"],
        "methods": {label: "supervised" if s is None else dict(zip(("tailness", "consistency", "diversity"), s))
                    for label, s in study.methods.items()},
        "contrasts": [f"{a} - {b}" for a, b in study.contrasts],
        "measures": list(study.measures),
        "command": command,
        "runs_folder": repo_path(folder),
        "complete": not missing,
        "missing_runs": missing,
        "pending_commands": [run_command(SCRIPT, argv, r, folder) for r in runs if r.name in missing],
        "fast": bool(args.fast),
        "budget_name": args.budget or "GRID_FAST_BUDGET",
        "budget_source": args.spec["source"],
        "budget": setup["budget"].to_dict(),
        "overrides": args.spec["overrides"],
        "patients": setup["patients"],
        "image_size": setup["image_size"],
        "labeled_patients": setup["labeled"],
        "sampler": args.sampler,
        "seeds": setup["seeds"],
        "class_names": class_names,
        "phantom": phantoms,
        "evaluated_on": "validation volumes (3D Dice per class, mona_lab.metrics), last model",
        "device": args.device,
        "workers": args.workers,
        "threads_per_worker": args.threads,
        "wall_seconds": wall,
        "run_seconds_total": sum(r["seconds"] for r in rows),
        "run_cpu_seconds_total": sum(r["cpu_seconds"] for r in rows),
        "cpu_seconds_per_run": {label: sum(v) / len(v) for label, v in cpu_by_method.items()},
    }  # fmt: skip
    return {"metadata": meta, "levels": blocks, "runs": rows}


def main(argv=None) -> dict:
    from mona_lab.atomic_files import atomic_write_text
    from mona_lab.lab.ablation.grid_study import train_grid_run
    from mona_lab.lab.phantom_studies import format_phantom_study
    from mona_lab.lab.study_runs import estimate_seconds, execute, format_duration, pending_and_finished, script_command, select

    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    command = script_command(SCRIPT, argv)
    argv = [a for a in argv if a != "--stored-only"]  # the stored run commands train what they name
    setup = study_setup(args)
    runs, folder = setup["runs"], setup["folder"]
    try:
        chosen = select(runs, args.only)
    except Exception as err:  # MonaLabError: an --only name that is not a run
        raise SystemExit(f"phantom_studies.py: {err}") from None
    pending, finished = pending_and_finished(chosen, folder)
    to_train = [] if args.stored_only else pending
    print(f"{setup['study'].name} study: {len(runs)} runs in {folder}: {len(pending_and_finished(runs, folder)[1])} "
          f"finished, {len(to_train)} to train on {args.workers} worker(s)", flush=True)  # fmt: skip
    start = time.perf_counter()
    if to_train:
        expected = estimate_seconds(to_train, pending_and_finished(runs, folder)[1], args.workers)
        print(f"expected time: {format_duration(expected)} (CPU time of finished runs of each kind; "
              f"unknown before the first finishes)", flush=True)  # fmt: skip

        def report(run, record, done, total):
            print(f"[{done}/{total}] {run.name:<28} Dice {record['mean_dice']:.3f}  ({record['cpu_seconds']:.0f} CPU s)", flush=True)

        execute(to_train, folder, train_grid_run, workers=args.workers, threads=args.threads, on_done=report,
                describe=lambda run, record: {"study_command": script_command(SCRIPT, argv)})  # fmt: skip
    wall = time.perf_counter() - start
    records = pending_and_finished(runs, folder)[1]
    payload = assemble(args, argv, setup, records, wall, command)
    meta = payload["metadata"]
    out = setup["out"]
    if meta["missing_runs"] and args.out is None:
        out = out.with_suffix(".incomplete.json")
    atomic_write_text(out, json.dumps(payload, indent=1) + "\n")
    print("\n" + format_phantom_study(payload))
    if meta["missing_runs"]:
        print(f"\nPENDING: {len(meta['missing_runs'])} of {len(runs)} runs: {', '.join(meta['missing_runs'])}")
    print(f"\n{len(runs) - len(meta['missing_runs'])} finished runs: {meta['run_cpu_seconds_total']:.0f} CPU s in total; "
          f"this call {wall:.0f} s wall; wrote {out}")  # fmt: skip
    return payload


if __name__ == "__main__":
    main()
