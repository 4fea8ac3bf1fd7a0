"""Notebook 09's tools: why an auxiliary loss can stall a BatchNorm network, from numbers.

1-2. `scale_invariance_demo` (a conv followed by BatchNorm: output independent of |w|, the
   gradient orthogonal to w, effective learning rate ``lr / |w|^2``) and `instance_logit_demo`
   (GLCon's logits at small temperatures, MONA Eq. 1-2), from
   `mona_lab.lab.dynamics_mechanisms` and re-exported here. An auxiliary term with a large
   gradient at the encoder grows |w| and slows *every* term, L_sup included (issue "Methods
   that work", `mona_lab.training.dynamics`).
3. The stored study (``benchmarks/dynamics_runs.py`` -> ``notebooks/results/
   training_dynamics.json``): `load_dynamics_study`, `gradient_shares`, `run_summary`; the
   dose-response of the heads' gradient strength on ACDC (``benchmarks/acdc_tuning.py``):
   `load_dose_response`, `dose_response_table`, `plot_dose_response`.
4. `dynamics_callback` / `dynamics_widget`: a short MONA run on the phantom with a chosen
   learning rate, lambda_nn and protection (`TrainConfig.head_grad_scale`), its
   ``dynamics.csv`` drawn live by `mona_lab.lab.viz.plot_training_dynamics`.
"""
from __future__ import annotations

import contextlib
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from mona_lab.errors import MonaLabError
from mona_lab.lab.dynamics_mechanisms import instance_logit_demo, scale_invariance_demo

STUDY_FORMAT = 1
STUDY_FILE = "training_dynamics.json"
LAYERS = ("first_conv", "bottleneck_conv", "classifier")


# the protection switch of the widget: the heads' gradient into the UNet at the working
# recipe's scale, at the muted recipe's 0.01 (the terms barely reach the encoder) and at the
# papers' 1 (no scaling)
def _protection_options() -> dict[str, float]:
    from mona_lab.config import MUTED_RECIPE, TrainConfig

    working = TrainConfig.__dataclass_fields__["head_grad_scale"].default
    muted = MUTED_RECIPE["head_grad_scale"]
    return {f"working: head_grad_scale {working:g}": working, f"muted: head_grad_scale {muted:g}": muted,
            "off: head_grad_scale 1 (paper)": 1.0}  # fmt: skip


PROTECTION = _protection_options()


# ---------------------------------------------------------------------------------------
# 3. the stored study
# ---------------------------------------------------------------------------------------
def load_dynamics_study(path: str | Path | None = None) -> dict[str, Any]:
    """The JSON ``benchmarks/dynamics_runs.py`` writes: ``{"format": 1, "meta": {...},
    "runs": {name: {"command", "seed", "cpu_seconds", "dynamics", "log", "metrics", ...}}}``.

    ``path`` defaults to `mona_lab.lab.run_records.results_path` of ``training_dynamics.json``.

    Raises:
        MonaLabError: a missing file, invalid JSON, another format, or a run lacking one of
            the keys above (named).
    """
    from mona_lab.lab.run_records import read_json_file, results_path

    path = Path(path) if path is not None else results_path(STUDY_FILE)
    study = read_json_file(path, "training-dynamics study", "run python benchmarks/dynamics_runs.py")
    if not isinstance(study, dict) or study.get("format") != STUDY_FORMAT or not isinstance(study.get("runs"), dict):
        raise MonaLabError(f"{path} is not a training-dynamics study (format {STUDY_FORMAT})")
    for name, run in study["runs"].items():
        missing = [k for k in ("command", "seed", "cpu_seconds", "dynamics", "log", "metrics") if k not in run]
        if missing:
            raise MonaLabError(f"{path}: run {name!r} lacks {missing}")
    return study


def gradient_shares(dynamics: dict[str, list], layer: str = "bottleneck_conv") -> dict[str, np.ndarray]:
    """Each loss term's share of the summed weighted-gradient norms at ``layer``, per row:
    ``|g_TERM| / sum_t |g_t|`` (0 where no term reaches the layer), from `read_dynamics`
    columns. Returns ``{term: [R]}``.

    Raises:
        KeyError: naming the layer when there are no gradient columns for it.
    """
    prefix = f"grad@{layer}:"
    terms = [k[len(prefix):] for k in dynamics if k.startswith(prefix)]
    if not terms:
        raise KeyError(f"no gradient columns for layer {layer!r}; layers: {LAYERS}")
    values = np.nan_to_num(np.array([dynamics[prefix + t] for t in terms], dtype=float))
    total = values.sum(axis=0)
    shares = np.divide(values, total, out=np.zeros_like(values), where=total > 0)
    return dict(zip(terms, shares))


def run_summary(run: dict[str, Any], layer: str = "bottleneck_conv", stage=None) -> dict[str, Any]:
    """The numbers notebook 09 compares: ``(first, last)`` |w| of each tracked layer and
    bottleneck BN running variance, from the first dynamics row (the initialisation) to the
    last row of ``stage`` (a stage name, several names, or ``None`` for every stage); each
    term's mean gradient share at ``layer`` (`gradient_shares`) over the rows of ``stage``;
    the final mean Dice.

    Raises:
        MonaLabError: no dynamics row of ``stage`` (the stages present are named).
    """
    dyn = run["dynamics"]
    stages = None if stage is None else ({stage} if isinstance(stage, str) else set(stage))
    keep = [i for i, s in enumerate(dyn["stage"]) if stages is None or s in stages]
    if not keep:
        raise MonaLabError(f"run has no dynamics rows of stage {stage!r}; stages: {sorted(set(dyn['stage']))}")
    out: dict[str, Any] = {}
    for key, label in [(f"weight_norm@{n}", f"|w| {n}") for n in LAYERS] + [("bn_running_var@bottleneck", "BN var bottleneck")]:
        if key in dyn:
            out[label] = (float(dyn[key][0]), float(dyn[key][keep[-1]]))
    rows = {k: [v[i] for i in keep] for k, v in dyn.items()}
    for term, share in gradient_shares(rows, layer).items():
        if share.any():
            out[f"share {term}"] = float(share.mean())
    out["mean Dice"] = float(run["metrics"]["mean_dice"])
    return out


def stage_rows_table(run: dict[str, Any], stage: str, count: int = 4, layer: str = "bottleneck_conv") -> str:
    """The first ``count`` dynamics rows of ``stage``: step, |w| of ``layer``, the bottleneck
    BN running variance and each term's gradient share at ``layer`` (`gradient_shares`)."""
    dyn = run["dynamics"]
    keep = [i for i, s in enumerate(dyn["stage"]) if s == stage][:count]
    if not keep:
        raise MonaLabError(f"run has no dynamics rows of stage {stage!r}; stages: {sorted(set(dyn['stage']))}")
    shares = {t: v for t, v in gradient_shares({k: [v[i] for i in keep] for k, v in dyn.items()}, layer).items() if v.any()}
    columns = {"step": [dyn["step"][i] for i in keep], f"|w| {layer}": [dyn[f"weight_norm@{layer}"][i] for i in keep]}
    if "bn_running_var@bottleneck" in dyn:
        columns["BN var"] = [dyn["bn_running_var@bottleneck"][i] for i in keep]
    columns.update({f"share {t}": list(v) for t, v in shares.items()})
    lines = ["".join(f"{k:>{max(len(k) + 2, 9)}}" for k in columns)]
    for r in range(len(keep)):
        lines.append("".join(f"{(f'{v[r]:.0f}' if k == 'step' else f'{v[r]:.3f}'):>{max(len(k) + 2, 9)}}" for k, v in columns.items()))
    return "\n".join(lines)


def acdc_recipe_runs(path: str | Path, seed: str = "0") -> dict[str, dict[str, Any]]:
    """MONA with the working recipe and as printed (``mona@paper``) from the stored ACDC
    benchmark (``benchmarks/results/acdc_reduced.json``, which holds their ``dynamics.csv``
    columns and validation curves), shaped like the study's runs (`run_summary` reads them).

    Raises:
        MonaLabError: a missing file, or a file without those runs' dynamics (named).
    """
    from mona_lab.lab.run_records import read_json_file

    stored = read_json_file(path, "stored ACDC benchmark", "run python benchmarks/acdc_reduced.py")
    runs = stored.get("runs", {}) if isinstance(stored, dict) else {}
    out = {}
    for name, key in (("mona@working", "mona"), ("mona@paper", "mona@paper")):
        run = runs.get(key, {}).get(seed)
        if not run or not run.get("dynamics"):
            raise MonaLabError(f"{path} has no dynamics for {key!r} seed {seed}")
        out[name] = {"command": run["command"], "cpu_seconds": run["cpu_seconds"], "dynamics": run["dynamics"],
                     "curve": run["curve"], "metrics": {"mean_dice": run["mean_dice"]}}  # fmt: skip
    return out


def load_dose_response(path: str | Path) -> dict[str, Any]:
    """The stored tuning study (``benchmarks/acdc_tuning.py`` -> ``benchmarks/results/
    acdc_tuning.json``): MONA on ACDC at several ``head_grad_scale`` values on the tuning
    seeds, each with its Dice and every term's median gradient share at the bottleneck.

    Raises:
        MonaLabError: a missing or invalid file, or one without a ``dose_response`` block (named).
    """
    from mona_lab.lab.run_records import read_json_file

    stored = read_json_file(path, "stored tuning study", "run python benchmarks/acdc_tuning.py")
    if not isinstance(stored, dict) or not isinstance(stored.get("dose_response"), dict):
        raise MonaLabError(f"{path} has no dose_response block (written by benchmarks/acdc_tuning.py)")
    return stored


def dose_response_table(stored: dict[str, Any], terms=("contrast", "nn", "eqv", "unsup")) -> str:
    """One row per head gradient scale: seeds, mean Dice ± sd over them, and each term's
    median share at the bottleneck (median over seeds of each run's fine-tuning median),
    with the smallest over seeds in brackets. A share below 0.01 is marked ``*`` (muted)."""
    head = f"{'scale':>7}{'seeds':>7}{'mean Dice':>15}" + "".join(f"{t:>18}" for t in terms)
    lines = [head]
    for scale in sorted(stored["dose_response"], key=float):
        row = stored["dose_response"][scale]
        mean, sd = row["mean_dice"]
        cells = ""
        for t in terms:
            median, low = row["shares"].get(t, (math.nan, math.nan))
            cells += f"{median:>9.4f} [{low:.4f}]{'*' if median < 0.01 else ' '}"
        lines.append(f"{float(scale):>7g}{len(row['per_seed']):>7}{mean:>9.3f} ± {sd:.3f}" + cells)
    return "\n".join(lines)


def recipe_pairs_table(benchmark: dict[str, Any], active: str = "mona", muted: str = "mona@muted",
                       baseline: str = "supervised", terms=("contrast", "nn", "unsup")) -> str:  # fmt: skip
    """The two strengths side by side on the reported seeds, from the stored five-seed
    benchmark (``benchmarks/results/acdc_active.json``): per seed the baseline's Dice, the
    muted and the active recipe's Dice with each term's fine-tuning median share at the
    bottleneck (``*``: below 0.01, muted), and active minus muted in Dice points; then the
    mean of that difference with its 95 % t interval over the seeds both ran
    (`mona_lab.metrics.paired_interval`).

    Raises:
        MonaLabError: a payload without ``runs``, or no seed that both recipes ran (named).
    """
    from mona_lab.metrics import paired_interval

    runs = benchmark.get("runs") if isinstance(benchmark, dict) else None
    if not isinstance(runs, dict):
        raise MonaLabError("not a stored ACDC benchmark (no runs): run python benchmarks/acdc_reduced.py")
    a, m, b = runs.get(active, {}), runs.get(muted, {}), runs.get(baseline, {})
    seeds = sorted(set(a) & set(m), key=int)
    if not seeds:
        raise MonaLabError(f"the stored benchmark has no seed on which both {active!r} and {muted!r} ran")

    def shares(record):
        return "".join(f"{record['shares'].get(t, math.nan):>8.3f}{'*' if record['shares'].get(t, 1) < 0.01 else ' '}"
                       for t in terms)  # fmt: skip

    names = "".join(f"{t:>9}" for t in terms)
    lines = [f"{'seed':>4}{baseline:>11}{muted:>12}{names}{active:>8}{names}{'active - muted':>16}"]
    for s in seeds:
        base = f"{b[s]['mean_dice']:>11.3f}" if s in b else f"{'-':>11}"
        lines.append(f"{s:>4}{base}{m[s]['mean_dice']:>12.3f}{shares(m[s])}{a[s]['mean_dice']:>8.3f}{shares(a[s])}"
                     f"{100 * (a[s]['mean_dice'] - m[s]['mean_dice']):>+16.1f}")  # fmt: skip
    diffs = [100 * (a[s]["mean_dice"] - m[s]["mean_dice"]) for s in seeds]
    stats = paired_interval(diffs)
    low, high = stats["ci95"]
    interval = f"[{low:+.1f}, {high:+.1f}]" if low == low else "[n/a: one seed]"
    lines.append(f"{active} - {muted}: {stats['mean']:+.1f} points, 95 % t interval {interval} over seeds {', '.join(seeds)}")
    return "\n".join(lines)


def plot_dose_response(stored: dict[str, Any], terms=("contrast", "nn", "eqv", "unsup"), axes=None):
    """Left: mean Dice against the head gradient scale, one dot per tuning seed; right: each
    term's median share at the bottleneck against the scale (log-log), with the 0.01 bar."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 4))
    left, right = axes
    scales = sorted(stored["dose_response"], key=float)
    xs = [float(s) for s in scales]
    for s in scales:
        for record in stored["dose_response"][s]["per_seed"].values():
            left.scatter(float(s), record["mean_dice"], color="0.6", s=14)
    left.plot(xs, [stored["dose_response"][s]["mean_dice"][0] for s in scales], "o-", label="mean over seeds")
    left.set(xscale="log", xlabel="head_grad_scale", ylabel="mean Dice (20 validation volumes)",
             title="Dice against the heads' gradient strength")  # fmt: skip
    left.legend()
    for t in terms:
        ys = [stored["dose_response"][s]["shares"].get(t, (math.nan,))[0] for s in scales]
        right.plot(xs, ys, "o-", label=t)
    right.axhline(0.01, color="k", ls="--", lw=1, label="0.01: acts")
    right.set(xscale="log", yscale="log", xlabel="head_grad_scale", ylabel="median |grad term| / |grad L_sup|",
              title="each term's share at the bottleneck conv")  # fmt: skip
    right.legend(fontsize=8)
    return axes


# ---------------------------------------------------------------------------------------
# 4. the live panel
# ---------------------------------------------------------------------------------------
def panel_setting(size: str) -> dict[str, Any]:
    """The short MONA run the panel trains at a lab size (`mona_lab.lab_size`): ``fast`` a few
    steps (the regression), ``lecture`` 40 GLCon + 160 fine-tuning steps (about a minute on
    one core), ``full`` the stored study's 100 + 400 (``benchmarks/dynamics_runs.py``).

    Raises:
        ValueError: an unknown size (the sizes are named).
    """
    size = getattr(size, "value", size)
    small = dict(image_size=64, batch_size=4, width=0.25, embed_dim=16)
    settings = {
        "fast": dict(pretrain_iterations=2, iterations=4, num_queries=32, num_negatives=64, dynamics_every=2),
        "lecture": dict(pretrain_iterations=40, iterations=160, dynamics_every=10),
        "full": dict(pretrain_iterations=100, iterations=400, dynamics_every=10),
    }
    if size not in settings:
        raise ValueError(f"size must be one of {', '.join(settings)}, got {size!r}")
    return {**small, **settings[size]}


def dynamics_callback(lr: float, lambda_nn: float, head_grad_scale: float, *, data, setting: dict[str, Any],
                      seed: int = 0, axes=None, progress=None) -> dict[str, Any]:  # fmt: skip
    """Train MONA (working recipe but for the three knobs) on ``data`` with ``setting``
    (`panel_setting`), draw its ``dynamics.csv`` into ``axes`` (two axes, or a new figure)
    and return ``{"dynamics": columns, "summary": run_summary(...), "mean_dice": ...,
    "seconds": wall seconds of the training}``. ``progress``: called with the iterations
    logged so far while the run trains (`mona_lab.lab.run_progress.LogProgress`).

    Raises:
        ValueError: ``lr <= 0``, ``lambda_nn < 0`` or ``head_grad_scale < 0`` (named).
    """
    from mona_lab.config import TrainConfig
    from mona_lab.engine import train
    from mona_lab.lab.run_progress import LogProgress
    from mona_lab.lab.viz import plot_training_dynamics
    from mona_lab.training.dynamics import read_dynamics

    for name, value, low_ok in (("lr", lr, False), ("lambda_nn", lambda_nn, True), ("head_grad_scale", head_grad_scale, True)):
        if not (math.isfinite(value) and (value >= 0 if low_ok else value > 0)):
            raise ValueError(f"{name} must be {'>= 0' if low_ok else '> 0'}, got {value!r}")
    total = setting["iterations"] + setting.get("pretrain_iterations", 0)
    with tempfile.TemporaryDirectory(prefix="dynamics_panel_") as folder:
        config = TrainConfig(method="mona", out=folder, dataset="phantom", labeled=2, seed=seed, device="auto", lr=lr,
                             lambda_nn=lambda_nn, head_grad_scale=head_grad_scale, progress=False,
                             validate_every=total + 1, checkpoint_every=total + 1, checkpoint_minutes=0, **setting)  # fmt: skip
        watch = LogProgress(Path(folder) / "log.csv", progress) if progress is not None else contextlib.nullcontext()
        start = time.perf_counter()
        with watch:
            result = train(config, data=data)
        seconds = time.perf_counter() - start
        dynamics = read_dynamics(Path(folder) / "dynamics.csv")
    title = f"lr {lr:g}, lambda_nn {lambda_nn:g}, head_grad_scale {head_grad_scale:g}"
    plot_training_dynamics(dynamics, axes=axes, title=title)
    summary = run_summary({"dynamics": dynamics, "metrics": result.metrics})
    return {"dynamics": dynamics, "summary": summary, "mean_dice": float(result.metrics["mean_dice"]), "seconds": seconds}


def format_summary(summary: dict[str, Any], digits: int = 3) -> str:
    """`run_summary` as lines ``name: first -> last`` or ``name: value``."""
    return "\n".join(f"{key:<24}{_cell(value, digits)}" for key, value in summary.items())


def comparison_table(runs: dict[str, dict], stage=None, digits: int = 3, **kwargs) -> str:
    """`run_summary` of several runs side by side: one row per quantity, one column per run
    (``-`` where a run lacks it, e.g. supervised has no auxiliary share)."""
    summaries = {name: run_summary(run, stage=stage, **kwargs) for name, run in runs.items()}
    keys = list(dict.fromkeys(k for s in summaries.values() for k in s))
    keys = sorted(keys, key=lambda k: (k == "mean Dice", k.startswith("share "), k if k.startswith("share ") else ""))
    lines = [f"{'':<24}" + "".join(f"{name:>20}" for name in summaries)]
    for key in keys:
        lines.append(f"{key:<24}" + "".join(f"{_cell(s.get(key), digits):>20}" for s in summaries.values()))
    return "\n".join(lines)


def format_rows(rows: list[dict[str, float]], digits: int = 4) -> str:
    """Rows of numbers (the demos above) as a fixed-width table rounded to ``digits`` decimals."""
    keys = list(rows[0])
    lines = ["".join(f"{k:>18}" for k in keys)]
    lines += ["".join(f"{round(row[k], digits) or 0.0:>18.{digits}f}" for k in keys) for row in rows]  # no "-0.0"
    return "\n".join(lines)


def _cell(value, digits: int) -> str:
    if value is None:
        return "-"
    if isinstance(value, tuple):
        return f"{value[0]:.{digits}f} -> {value[1]:.{digits}f}"
    return f"{value:.{digits}f}"


def stored_seconds_per_iteration(path: str | Path | None = None) -> float | None:
    """The stored study's measured cost (CPU seconds per iteration, one thread, the panel's
    network size), for the panel's first estimate; ``None`` when no study is stored."""
    try:
        study = load_dynamics_study(path)
    except MonaLabError:
        return None
    rates = [run["cpu_seconds"] / max(1, run["metrics"].get("iterations") or 0) for run in study["runs"].values()
             if run.get("cpu_seconds") and run["metrics"].get("iterations")]  # fmt: skip
    return sum(rates) / len(rates) if rates else None


def dynamics_widget(data, setting: dict[str, Any], seed: int = 0):
    """Learning rate, lambda_nn and protection controls and a *train* button; each click runs
    `dynamics_callback` and draws the norms and gradient shares below. While a run trains the
    button is disabled and a progress bar counts its iterations under the expected time
    (`mona_lab.lab.run_progress.estimate_seconds`: this panel's earlier runs, else the stored
    study's cost per iteration). Returns the panel."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    from mona_lab.lab.panel_display import capture_into, show_panel
    from mona_lab.lab.run_progress import estimate_seconds

    lr = widgets.SelectionSlider(options=[0.01, 0.02, 0.05, 0.1, 0.15], value=0.05, description="lr")
    lam = widgets.SelectionSlider(options=[0.0, 0.1, 1.0, 10.0], value=1.0, description="lambda_nn")
    protection = widgets.Dropdown(options=list(PROTECTION), description="protection",
                                  style={"description_width": "initial"}, layout=widgets.Layout(width="420px"))  # fmt: skip
    button = widgets.Button(description="train", button_style="primary")
    total = setting["iterations"] + setting.get("pretrain_iterations", 0)
    bar = widgets.IntProgress(value=0, min=0, max=total, description="iterations")
    status = widgets.Label(value=f"{total} iterations per run; press train")
    output = widgets.Output()
    earlier: list[dict[str, Any]] = []  # this panel's runs: their measured seconds
    stored = stored_seconds_per_iteration()

    def on_click(_button=None) -> None:
        button.disabled = True
        seconds, source = estimate_seconds(total, earlier, stored)
        expected = f"about {seconds:.0f} s ({source})" if seconds is not None else source
        status.value = f"training {total} iterations: {expected}"
        bar.value = 0
        try:
            with capture_into(output):
                fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
                result = dynamics_callback(lr.value, lam.value, PROTECTION[protection.value], data=data, setting=setting,
                                           seed=seed, axes=axes, progress=lambda n: setattr(bar, "value", min(n, total)))  # fmt: skip
                fig.tight_layout()
                plt.show()
                print(format_summary(result["summary"]))
            earlier.append({"seconds": result["seconds"], "iterations": total})
            status.value = f"trained {total} iterations in {result['seconds']:.0f} s (expected {expected})"
        finally:
            button.disabled = False
            for display in shown:
                display.refresh()

    button.on_click(on_click)
    panel = widgets.VBox([widgets.HBox([lr, lam]), widgets.HBox([protection, button]), widgets.HBox([bar, status]), output])
    shown = [show_panel(panel)]  # the panel and its snapshot output (mona_lab.lab.panel_display)
    return panel


__all__ = [
    "LAYERS", "PROTECTION", "STUDY_FILE", "acdc_recipe_runs", "comparison_table", "dynamics_callback",
    "dynamics_widget", "format_rows", "format_summary",
    "gradient_shares", "instance_logit_demo", "load_dynamics_study", "panel_setting", "run_summary", "stage_rows_table",
    "scale_invariance_demo", "stored_seconds_per_iteration",
]  # fmt: skip
