"""Training curves (notebooks 05, 07 and 08): ``log.csv`` columns per run, mean and spread
over seeds, and the gradient and weight norms of ``dynamics.csv``."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from mona_lab.lab.viz.common import SAMPLER_COLOURS, axes_or_new


def plot_loss_curves(logs: dict[str, dict[str, np.ndarray]], component: str = "total", ax=None, smooth: int = 1):
    """One line per run of a ``log.csv`` column (`mona_lab.lab.results.read_log`), optionally a
    running mean over ``smooth`` iterations."""
    ax = axes_or_new(ax)
    for name, log in logs.items():
        if component not in log or np.all(np.isnan(log[component])):
            continue
        values = log[component]
        if smooth > 1:
            kernel = np.ones(smooth) / smooth
            values = np.convolve(np.nan_to_num(values), kernel, mode="valid")
        ax.plot(log["step"][: len(values)] if smooth <= 1 else log["step"][smooth - 1 :], values, label=name)
    ax.set_xlabel("iteration")
    ax.set_ylabel(component)
    ax.set_title(f"training curve: {component}")
    ax.legend(fontsize=8)
    return ax


def plot_curve_bands(stats: dict, ax=None, ylabel: str = "", colours: dict | None = None, smooth: int = 1):
    """Mean (line) and +-1 standard deviation over seeds (band) of logged training curves,
    from `mona_lab.lab.run_records.curve_statistics` (ARCO Fig. 5 style). ``smooth`` > 1 applies
    a centred moving average of that many iterations to mean and band."""
    ax = axes_or_new(ax)
    colours = colours or {}

    def run_mean(x):
        if smooth <= 1:
            return x
        kernel = np.ones(smooth) / smooth
        return np.convolve(np.pad(x, (smooth // 2, smooth - 1 - smooth // 2), mode="edge"), kernel, mode="valid")

    for name, s in stats.items():
        mean, std = run_mean(s["mean"]), run_mean(s["std"])
        colour = colours.get(name, SAMPLER_COLOURS.get(name.split("-")[-1]))
        ax.plot(s["steps"], mean, color=colour, label=f"{name} ({s['values'].shape[0]} seeds)")
        ax.fill_between(s["steps"], mean - std, mean + std, color=colour, alpha=0.2)
    ax.set_xlabel("iteration")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    return ax


def plot_training_dynamics(dynamics: dict, layer: str = "bottleneck_conv", axes=None, title: str | None = None):
    """Two panels from a run's ``dynamics.csv`` (`mona_lab.training.dynamics.read_dynamics`):

    left: each loss term's weighted gradient norm at ``layer`` (log scale), so a term that
    takes the encoder over stands out; right: the weight norms of the tracked layers
    relative to their first value and the bottleneck BatchNorm's running variance (the
    effective learning rate of a BN-followed conv falls as 1/|w|^2).

    Args:
        dynamics: columns as returned by `read_dynamics`.
        layer: one of `mona_lab.training.dynamics.TRACKED_LAYERS`.
        axes: two matplotlib axes, or ``None`` for a new figure.

    Returns:
        the two axes.

    Raises:
        KeyError: naming the layer when ``dynamics`` has no gradient column for it.
    """
    steps = np.asarray(dynamics["step"], dtype=float)
    prefix = f"grad@{layer}:"
    terms = [k[len(prefix):] for k in dynamics if k.startswith(prefix)]
    if not terms:
        raise KeyError(f"no gradient columns for layer {layer!r}; columns: {sorted(dynamics)}")
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    left, right = axes
    for term in terms:
        values = np.asarray(dynamics[prefix + term], dtype=float)
        keep = np.isfinite(values) & (values > 0)
        if keep.any():
            left.plot(steps[keep], values[keep], marker=".", label=term)
    left.set_yscale("log")
    left.set_xlabel("iteration")
    left.set_ylabel(f"|grad| at {layer}")
    left.set_title(title or f"each term's gradient at {layer}")
    left.legend(fontsize=8)
    for key in [k for k in dynamics if k.startswith("weight_norm@")]:
        values = np.asarray(dynamics[key], dtype=float)
        right.plot(steps, values / values[0], label=key.split("@", 1)[1] + " |w|/|w0|")
    if "bn_running_var@bottleneck" in dynamics:
        right.plot(steps, dynamics["bn_running_var@bottleneck"], "k--", label="bottleneck BN running var")
    right.set_xlabel("iteration")
    right.set_title("weight norms and bottleneck BN variance")
    right.legend(fontsize=8)
    return axes
