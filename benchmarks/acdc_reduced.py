"""Supervised vs mean teacher vs core vs MONA / ARCO / ACTION++ on ACDC with 3 labelled patients.

Every run is one ``mona-lab train`` command line (stored verbatim in the result, so anyone can
rerun it), on the shared ACDC training slices split by patient (``--labeled 3``, the reported
seeds 0-4: each seed picks the labelled patients), scored on the 20 validation volumes (3D
Dice and ASD per class) with the **last** model of the run: no checkpoint is selected on the
volumes that are reported. Every method runs the same number of iterations at the same
labelled batch (4 labelled slices per step; the semi-supervised recipes add 4 unlabelled
ones, the protocol of the field's SSL comparisons); methods with a pre-training stage spend
part of those iterations in it. ``--lr-decay-at 2000`` divides every run's learning rate by
10 for its last 500 iterations, so the reported last model is not a sample of a
constant-rate random walk (a supervised run at lr 0.05 swings between 0.31 and 0.60 Dice from
one validation to the next).

Methods (``--methods``): a method name, ``core`` (MONA with its three principles off: MONA
Table III's vanilla, the teacher-student core), ``core+tailness`` / ``core+consistency`` /
``core+diversity`` (one principle on: the principle study of issue 24),
``action++-fixed`` (ACTION++ at a fixed temperature, Table 6's baseline of ATS), or ``NAME@RECIPE`` (``mona@muted``: the
heads' gradient into the UNet at 0.01, mona_lab's default before issue 22, which mutes the
contrastive terms; ``mona@paper``: the papers' recipe as printed). Supervised's learning rate
(``--supervised-lr``) and the working recipe's ``head_grad_scale`` were chosen on tuning
seeds 10-12 by ``benchmarks/acdc_tuning.py``, never on the seeds reported here.

Runs go to ``--runs`` (one folder each) and are spread over ``--workers`` processes with
one thread each. A finished run writes ``record.json`` in its folder (committed; the folder's
checkpoints are not), and a run with a record is never re-run, so an interrupted benchmark
resumes where it stopped, on any checkout; the summary is rewritten after every finished run.
``--stored-only`` trains nothing: it writes the JSON from the stored records and lists the
pending runs (the benchmark may be run in parts, by several invocations on disjoint methods).

    MONA_LAB_ACDC=/path/to/ACDC python benchmarks/acdc_reduced.py --supervised-lr LR [--workers 2]

The JSON: ``summary[method]["dice"][class|"mean"] = [mean, sd]`` (population sd over seeds),
``summary[method]["shares"][term] = [median, smallest]`` over seeds of each run's median
gradient share at the bottleneck (`mona_lab.training.dynamics.median_term_shares`),
``gains[method]`` (paired by seed over supervised: ``per_seed``, ``mean``, ``ci95``: the 95 %
t interval over seeds, ``paired_sd``, ``larger_sd``), ``gains_over_core[method]`` (the same
over ``core``, paired over the seeds both ran), ``contrasts["A - B"]`` (the same for each of `CONTRASTS` whose two specs
share seeds: each principle over core, ARCO's samplers, ATS over a fixed tau), ``noise_floor[spec]`` (the first seed of each ``--noise-floor`` spec rerun with
two threads: CPU runs are deterministic at one thread count, not across them, and the
difference is how far a rerun moves a result), and every run's record.

The 3-seed result stored before issue 22 (``benchmarks/results/acdc_reduced.json``) was made
with ``--seeds 0 1 2 --methods supervised mona arco-sg action++ mean-teacher arco-sag
mona@paper --method-seeds arco-sag=0 mona@paper=0 --iterations 2500 --lr-decay-at 2000 --runs
benchmarks/runs/acdc_reduced_v4`` under the default of that time (``head_grad_scale`` 0.01,
today's ``--recipe muted``); 9036 s wall on 2 cores.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mona_lab.atomic_files import atomic_write_text
from mona_lab.metrics import paired_interval
from mona_lab.training.dynamics import median_term_shares, read_dynamics

BAR_METHODS = ("supervised", "mona", "arco-sg", "action++")  # the required comparison
DEFAULT_METHODS = [
    "supervised", "mean-teacher", "core", "mona", "arco-ns", "arco-sg", "arco-sag", "action++", "mona@muted",
]  # fmt: skip


# spec -> (the `mona-lab train` method, extra flags): `core` is MONA with its three principles
# off (MONA Table III's vanilla: the GLCon warm start, L_sup and the teacher's pseudo-labels
# L_unsup; tailness off drops the whole pixel contrast, as MONA Tables III/VI switch it,
# consistency off drops L_eqv, diversity off drops L_nn)
SPEC_METHODS = {
    "core": ("mona", ["--without", "tailness", "consistency", "diversity"]),
    # core plus one principle (issue 24: MONA Table III's claims, one principle at a time)
    "core+tailness": ("mona", ["--without", "consistency", "diversity"]),
    "core+consistency": ("mona", ["--without", "tailness", "diversity"]),
    "core+diversity": ("mona", ["--without", "tailness", "consistency"]),
    # ACTION++ with a fixed temperature (ACTION++ Table 6's "fixed" row) against its ATS
    "action++-fixed": ("action++", ["--temperature-schedule", "fixed"]),
}
# the paired effects the principle studies report (A - B, paired by seed), each measured
# only where both specs ran: one principle added to core, all three, ARCO's samplers
# against the naive one, ACTION++'s cosine schedule against a fixed temperature
CONTRASTS = (
    ("core+tailness", "core"), ("core+consistency", "core"), ("core+diversity", "core"), ("mona", "core"),
    ("arco-sg", "arco-ns"), ("arco-sag", "arco-ns"), ("arco-sag", "arco-sg"), ("action++", "action++-fixed"),
    ("mona", "mona@muted"),
)  # fmt: skip


def command_line(spec: str, seed: int, args, out: Path) -> list[str]:
    """The ``mona-lab train`` command of one run. ``spec`` is a method name (or ``core``),
    optionally ``@RECIPE`` (``mona@muted``, ``mona@paper``: ``--recipe RECIPE``)."""
    name, _, recipe = spec.partition("@")
    method, extra = SPEC_METHODS.get(name, (name, []))
    pretrain = 0 if method in ("supervised", "mean-teacher") else args.pretrain_iterations
    lr = getattr(args, "supervised_lr", None) if method == "supervised" else None
    cmd = [
        "mona-lab", "train", "--method", method, "--dataset", "acdc", "--labeled", str(args.labeled),
        "--iterations", str(args.iterations - pretrain), "--image-size", str(args.image_size),
        # the same labelled slices per step; the semi-supervised recipes add as many unlabelled
        "--batch-size", str(args.labeled_batch if method == "supervised" else 2 * args.labeled_batch),
        "--width", str(args.width), "--embed-dim", str(args.embed_dim), "--lr", str(lr or args.lr),
        "--lr-schedule", args.lr_schedule, "--seed", str(seed),
        "--validate-every", str(args.validate_every), "--checkpoint-every", str(args.validate_every),
        "--device", args.device, "--out", str(out), "--no-progress",
    ]  # fmt: skip
    if method not in ("supervised", "mean-teacher"):
        cmd[cmd.index("--image-size"):cmd.index("--image-size")] = ["--pretrain-iterations", str(pretrain)]
    if recipe:
        cmd += ["--recipe", recipe]
    if args.lr_decay_at:  # the same global iteration for every method
        cmd += ["--lr-step-every", str(args.lr_decay_at - pretrain)]
    cmd += extra
    if method != "supervised":
        cmd += shlex.split(args.ssl_args)
    return cmd


def run_one(cmd: list[str], out: Path, root: str, threads: int = 1, root_variable: str = "MONA_LAB_ACDC") -> dict:
    """Run one command (``threads`` threads, one by default) unless its ``record.json`` (the
    committed record) or ``metrics.json`` exists; its result record (with each term's median
    gradient share at the bottleneck), also written to ``record.json``. The data folder
    ``root`` reaches the command as ``root_variable`` (``MONA_LAB_LA`` for the LA benchmark)."""
    command = cmd  # what the record stores: the run's command, without a --resume added here
    stored = out / "record.json"  # committed (the training folder is not): a fresh clone resumes
    if stored.exists():
        return json.loads(stored.read_text())
    if not (out / "metrics.json").exists():
        if out.exists():  # an interrupted run: continue it exactly
            if (out / "last.pt").exists():
                cmd = cmd + ["--resume"]
            else:
                import shutil

                shutil.rmtree(out)
        if "--resume" in cmd:
            (out / "resumed.txt").write_text("interrupted and resumed exactly from last.pt\n")
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), **{root_variable: root})
        argv = [sys.executable, "-m", "mona_lab.cli", *cmd[1:]]
        started = time.time()
        done = subprocess.run(argv, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"run failed: {shlex.join(cmd)}\n{done.stderr[-2000:]}")
        (out / "wall_seconds.txt").write_text(f"{time.time() - started:.1f}\n")
    metrics = json.loads((out / "metrics.json").read_text())
    dynamics = None
    if (out / "dynamics.csv").exists():
        columns = read_dynamics(out / "dynamics.csv")  # NaN (a term absent at that step) -> null
        dynamics = {k: [None if isinstance(v, float) and v != v else v for v in vs] for k, vs in columns.items()}
    curve = []
    with (out / "log.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["val_mean_dice"]:
                curve.append([int(row["step"]) + 1, float(row["val_mean_dice"])])
    record = {
        "command": f"OMP_NUM_THREADS={threads} {root_variable}=${root_variable.removeprefix('MONA_LAB_')} " + shlex.join(command),
        "resumed": (out / "resumed.txt").exists(),
        "mean_dice": metrics["mean_dice"],
        "mean_asd": metrics["mean_asd"],
        "per_class": metrics["per_class"],
        "curve": curve,
        "dynamics": dynamics,  # dynamics.csv as columns (weight norms, per-term gradient norms)
        # each term's median gradient over L_sup's at the bottleneck conv over the last stage
        "shares": median_term_shares(dynamics) if dynamics else None,
        "cpu_seconds": metrics.get("cpu_seconds"),
        "wall_seconds": float((out / "wall_seconds.txt").read_text()) if (out / "wall_seconds.txt").exists() else None,
    }
    atomic_write_text(stored, json.dumps(record, sort_keys=True) + "\n")
    return record


def share_summary(records) -> dict[str, list[float]]:
    """Each term's ``[median, smallest]`` over runs of the runs' median gradient shares."""
    shares: dict[str, list[float]] = {}
    for record in records:
        for term, share in (record.get("shares") or {}).items():
            shares.setdefault(term, []).append(share)
    return {term: [statistics.median(v), min(v)] for term, v in sorted(shares.items())}


def summarise(results: dict[str, dict[int, dict]]) -> dict:
    """``summary[method]["dice"][class or "mean"] = [mean, sd]`` (population sd over seeds)."""
    summary = {}
    for spec, by_seed in results.items():
        runs = [by_seed[s] for s in sorted(by_seed)]
        if not runs:
            continue
        classes = list(runs[0]["per_class"])
        dice, asd = {}, {}
        for c in classes + ["mean"]:
            values = [r["mean_dice"] if c == "mean" else r["per_class"][c]["dice"] for r in runs]
            dice[c] = [statistics.mean(values), statistics.pstdev(values)]
            values = [r["mean_asd"] if c == "mean" else r["per_class"][c]["asd"] for r in runs]
            asd[c] = [statistics.mean(values), statistics.pstdev(values)]
        cpu = [r["cpu_seconds"] for r in runs if r["cpu_seconds"] is not None]
        summary[spec] = {
            "dice": dice, "asd": asd, "mean_asd": asd["mean"][0], "seeds": sorted(by_seed),
            "cpu_seconds": statistics.mean(cpu) if cpu else None,
            # each term's gradient share at the bottleneck: [median, smallest] over seeds of
            # the runs' fine-tuning medians (issue 22: a term acts when it is >= 0.01)
            "shares": share_summary(runs),
        }  # fmt: skip
    return summary


def paired_gains(results: dict[str, dict[int, dict]], baseline: str = "supervised") -> dict:
    """Each method's gain over ``baseline`` in mean-Dice points, paired by seed.

    Per seed the gain is the method against the ``baseline`` run on the same labelled
    patients (the seed picks them). Stored: ``per_seed``, ``mean``, ``ci95`` (the 95 % t
    interval of the mean paired gain, `mona_lab.metrics.paired_interval`; NaN with one
    seed), ``paired_sd`` (population sd of the per-seed gains, as before) and ``larger_sd``
    (the larger population sd of the two methods' results). Methods lacking a ``baseline``
    run on one of their seeds are left out."""
    reference = results.get(baseline, {})
    gains = {}
    for spec, by_seed in results.items():
        if spec == baseline or not by_seed or any(seed not in reference for seed in by_seed):
            continue
        paired = {str(s): 100 * (by_seed[s]["mean_dice"] - reference[s]["mean_dice"]) for s in sorted(by_seed)}
        values = list(paired.values())
        interval = paired_interval(values)
        method_sd = statistics.pstdev([by_seed[s]["mean_dice"] for s in by_seed])
        reference_sd = statistics.pstdev([reference[s]["mean_dice"] for s in by_seed])
        paired_sd, larger_sd = statistics.pstdev(values), 100 * max(method_sd, reference_sd)
        gains[spec] = {
            "mean": interval["mean"], "per_seed": paired, "ci95": interval["ci95"],
            "paired_sd": paired_sd, "larger_sd": larger_sd, "at_least_5": interval["mean"] >= 5.0,
            "ci95_above_0": interval["ci95"][0] > 0, "above_paired_sd": interval["mean"] > paired_sd,
            "above_larger_sd": interval["mean"] > larger_sd,
        }  # fmt: skip
    return gains


def paired_contrasts(results: dict[str, dict[int, dict]], contrasts=CONTRASTS) -> dict:
    """``{"A - B": {...}}``: A's gain over B in mean-Dice points, paired by seed over the seeds
    both ran (`paired_gains`' fields: ``per_seed``, ``mean``, ``ci95``...), for every contrast
    whose two specs have a common seed."""
    out = {}
    for a, b in contrasts:
        common = sorted(set(results.get(a, {})) & set(results.get(b, {})))
        if common:
            pair = {a: {s: results[a][s] for s in common}, b: {s: results[b][s] for s in common}}
            out[f"{a} - {b}"] = paired_gains(pair, b)[a]
    return out


def gains_over_core(results: dict[str, dict[int, dict]]) -> dict:
    """Each method's gain over ``core``, paired over the seeds both ran (`paired_contrasts`): the
    core may have fewer seeds stored than the methods while the benchmark is filled in parts."""
    contrasts = paired_contrasts(results, [(spec, "core") for spec in results if spec != "core"])
    return {key.rsplit(" - ", 1)[0]: gain for key, gain in contrasts.items()}


def gains_over_supervised(results: dict[str, dict[int, dict]]) -> dict:
    """`paired_gains` over supervised: the issue's bar (a mean paired gain of 5 points or more
    with the 95 % interval above 0)."""
    return paired_gains(results, "supervised")


def noise_floor(results: dict[str, dict[int, dict]], reruns: dict[str, dict]) -> dict:
    """The rerun noise: each rerun (the same command at another thread count) against the
    stored run of that spec and seed, in mean-Dice points."""
    floor = {}
    for spec, rerun in reruns.items():
        seed = rerun["seed"]
        if seed in results.get(spec, {}):
            first = results[spec][seed]
            floor[spec] = {
                "seed": seed, "threads": rerun["threads"], "mean_dice": [first["mean_dice"], rerun["mean_dice"]],
                "difference": 100 * (rerun["mean_dice"] - first["mean_dice"]), "command": rerun["command"],
                "cpu_seconds": rerun["cpu_seconds"],
            }  # fmt: skip
    return floor


def print_table(summary: dict) -> None:
    if not summary:
        return
    classes = list(next(iter(summary.values()))["dice"])
    print(f"{'method':<14}" + "".join(f"{c:>15}" for c in classes) + f"{'mean ASD':>10}{'seeds':>8}{'CPU s':>8}")
    for spec, row in summary.items():
        cells = "".join(f"{m:>9.3f}±{s:<5.3f}" for m, s in row["dice"].values())
        cpu = f"{row['cpu_seconds']:.0f}" if row["cpu_seconds"] else "-"
        print(f"{spec:<14}{cells}{row['mean_asd']:>10.2f}{len(row['seeds']):>8}{cpu:>8}")


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's options (also read by ``benchmarks/acdc_tuning.py`` for the shared setting)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=None)
    parser.add_argument("--methods", nargs="*", default=DEFAULT_METHODS)
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument(
        "--method-seeds", nargs="*", default=[], metavar="METHOD=S,S",
        help="seeds of one method instead of --seeds, e.g. mona@paper=0 (a shorter benchmark)",
    )  # fmt: skip
    parser.add_argument("--labeled", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=2500, help="iterations of every run, pre-training included")
    parser.add_argument("--pretrain-iterations", type=int, default=150)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--labeled-batch", type=int, default=4, help="labelled slices per step (every method)")
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--embed-dim", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument(
        "--supervised-lr", type=float, default=None,
        help="supervised's learning rate when it differs from --lr (tuned on the tuning seeds: benchmarks/acdc_tuning.py)",
    )  # fmt: skip
    parser.add_argument("--lr-schedule", default="step", help="every run's learning-rate schedule (step or poly)")
    parser.add_argument(
        "--lr-decay-at", type=int, default=2000,
        help="divide every run's lr by 10 at this iteration, pre-training included (step schedule; 0: never)",
    )  # fmt: skip
    parser.add_argument(
        "--ssl-args", default="", help="extra `mona-lab train` flags for the semi-supervised runs (experiments)"
    )
    parser.add_argument(
        "--noise-floor", nargs="*", default=["supervised", "mona"], metavar="SPEC",
        help="specs whose first seed is rerun with 2 threads (the same command): the rerun noise",
    )  # fmt: skip
    parser.add_argument("--validate-every", type=int, default=250)
    parser.add_argument(
        "--stored-only", action="store_true",
        help="train nothing: write the JSON from the runs already stored (record.json) and list the pending ones",
    )  # fmt: skip
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--runs", default="benchmarks/runs/acdc_active", help="one folder per run (resumable)")
    parser.add_argument("--json", default="benchmarks/results/acdc_active.json")
    return parser


def main() -> None:
    from mona_lab.data import resolve_acdc_root

    args = build_parser().parse_args()
    if len(set(args.methods)) != len(args.methods):
        raise SystemExit(f"--methods lists a method twice: {args.methods}")
    method_seeds = {}
    for item in args.method_seeds:
        spec, _, seeds = item.partition("=")
        if spec not in args.methods or not seeds:
            raise SystemExit(f"--method-seeds {item!r}: write METHOD=S,S with METHOD one of --methods")
        method_seeds[spec] = [int(seed) for seed in seeds.split(",")]
    unknown = [spec for spec in args.noise_floor if spec not in args.methods]
    if unknown:
        raise SystemExit(f"--noise-floor {unknown}: each must be one of --methods")
    root = str(resolve_acdc_root(args.root))
    runs = Path(args.runs)
    jobs = []  # (spec, seed, folder, command, threads)
    for spec in args.methods:
        seeds = method_seeds.get(spec, args.seeds)
        for seed in seeds:
            out = runs / f"{spec.replace('@', '_')}_seed{seed}"
            jobs.append((spec, seed, out, command_line(spec, seed, args, out), 1))
    # the quality bar's methods first, seed by seed, then the noise floor's reruns, then the
    # other methods run on every seed, then those on fewer seeds (--method-seeds): a stopped
    # benchmark still compares the first
    full = {spec for spec in args.methods if sum(1 for job in jobs if job[0] == spec) == len(args.seeds)}
    jobs.sort(key=lambda job: (job[0] not in BAR_METHODS, job[0] not in full, job[1], args.methods.index(job[0])))
    reruns = []
    for spec in args.noise_floor:
        seed = method_seeds.get(spec, args.seeds)[0]
        out = runs / f"{spec.replace('@', '_')}_seed{seed}_threads2"
        reruns.append((spec, seed, out, command_line(spec, seed, args, out), 2))
    cut = sum(1 for job in jobs if job[0] in BAR_METHODS)
    jobs[cut:cut] = [(f"{spec} rerun", seed, out, cmd, threads) for spec, seed, out, cmd, threads in reruns]
    if args.stored_only:
        pending = [job for job in jobs if not (job[2] / "record.json").exists()]
        for spec, seed, *_ in pending:
            print(f"pending: {spec} seed {seed}")
        jobs = [job for job in jobs if job not in pending]
    results: dict[str, dict[int, dict]] = {spec: {} for spec in args.methods}
    rerun_records: dict[str, dict] = {}
    started = time.time()

    def store() -> None:
        summary = summarise(results)
        payload = {
            "args": vars(args), "wall_seconds": time.time() - started, "summary": summary,
            "gains": gains_over_supervised(results), "gains_over_core": gains_over_core(results),
            "contrasts": paired_contrasts(results),
            "noise_floor": noise_floor(results, rerun_records),
            "runs": {spec: {str(s): r for s, r in by_seed.items()} for spec, by_seed in results.items()},
        }  # fmt: skip
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(Path(args.json), json.dumps(payload, indent=1, sort_keys=True) + "\n")

    with ThreadPoolExecutor(max_workers=max(1, args.workers)) as pool:
        futures = [(job, pool.submit(run_one, job[3], job[2], root, job[4])) for job in jobs]
        for (spec, seed, _, _, threads), future in futures:
            record = future.result()
            if spec.endswith(" rerun"):
                rerun_records[spec[: -len(" rerun")]] = {**record, "seed": seed, "threads": threads}
            else:
                results[spec][seed] = record
            print(f"seed {seed} {spec:<18} mean Dice {record['mean_dice']:.4f}  ({record['cpu_seconds'] or 0:.0f} CPU s)", flush=True)
            store()
    print(f"\nACDC, {args.labeled} labelled patients, {args.image_size}px, seeds {args.seeds}, {args.iterations} iterations "
          f"(pre-training {args.pretrain_iterations} of them where a method has it), last model, "
          f"{time.time() - started:.0f} s wall with {args.workers} worker(s)")  # fmt: skip
    print_table(summarise(results))
    blocks = (("gain over supervised", gains_over_supervised(results)), ("gain over core", gains_over_core(results)),
              ("paired contrasts A - B", paired_contrasts(results)))  # fmt: skip
    for title, gains in blocks:
        print(f"\n{title}, mean Dice points (paired by seed): mean [95 % interval], per seed")
        for spec, gain in gains.items():
            seeds = " ".join(f"{g:+5.1f}" for g in gain["per_seed"].values())
            low, high = gain["ci95"]
            print(f"{spec:<30}{gain['mean']:+6.1f} [{low:+5.1f}, {high:+5.1f}]   {seeds}")
    for spec, floor in noise_floor(results, rerun_records).items():
        print(f"noise floor: {spec} seed {floor['seed']} rerun with {floor['threads']} threads moved mean Dice by {floor['difference']:+.1f} points")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
