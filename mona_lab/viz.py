"""Plotting helpers for the notebooks (matplotlib; plotly where a 3D view helps).

Every function draws into an ``ax`` it is given (or a new one) and returns the axes, so
notebooks compose figures without pasting plotting code.
"""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from mona_lab.data.stats import ClassStats, rank_frequency

CLASS_COLOURS = ("#000000", "#e41a1c", "#4daf4a", "#377eb8", "#ff7f00", "#984ea3", "#a65628", "#f781bf")


def _axes(ax):
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    return ax


def plot_class_fractions(stats: ClassStats, ax=None, log: bool = True):
    """Bar chart of per-class pixel fractions (MONA Fig. 1, left), background included."""
    ax = _axes(ax)
    colours = [CLASS_COLOURS[i % len(CLASS_COLOURS)] for i in range(len(stats.class_names))]
    ax.bar(stats.class_names, stats.fractions, color=colours)
    if log:
        ax.set_yscale("log")
    ax.set_ylabel("pixel fraction")
    ax.set_title(f"{stats.dataset}: class frequencies")
    for i, f in enumerate(stats.fractions):
        ax.text(i, f, f"{f:.3f}", ha="center", va="bottom", fontsize=8)
    return ax


def plot_rank_frequency(stats_list: Sequence[ClassStats], ax=None):
    """Log-log rank-frequency of the foreground classes with each fitted Zipf line
    (``f_k ~ k^-s``); a straight line is a Zipf (power-law) tail."""
    ax = _axes(ax)
    for stats in stats_list:
        ranks, freqs, order = rank_frequency(stats.fractions)
        line = ax.loglog(ranks, freqs, "o-", label=f"{stats.dataset} (s = {stats.zipf_exponent:.2f})")[0]
        fit = freqs[0] * ranks.astype(float) ** -stats.zipf_exponent
        ax.loglog(ranks, fit, "--", color=line.get_color(), alpha=0.5)
        for r, f, i in zip(ranks, freqs, order):
            ax.annotate(stats.class_names[i], (r, f), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("rank of foreground class")
    ax.set_ylabel("pixel fraction")
    ax.set_title("rank-frequency (log-log)")
    ax.legend(fontsize=8)
    return ax


def plot_slice_presence(stats: ClassStats, ax=None):
    """Share of slices in which each class appears at all."""
    ax = _axes(ax)
    colours = [CLASS_COLOURS[i % len(CLASS_COLOURS)] for i in range(len(stats.class_names))]
    ax.bar(stats.class_names, stats.presence, color=colours)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share of slices containing the class")
    ax.set_title(f"{stats.dataset}: per-slice presence")
    return ax


def plot_query_share(stats: ClassStats, num_queries: int = 256, ax=None):
    """Expected number of each class among ``num_queries`` uniformly sampled pixels."""
    ax = _axes(ax)
    share = stats.fractions * num_queries
    colours = [CLASS_COLOURS[i % len(CLASS_COLOURS)] for i in range(len(stats.class_names))]
    ax.bar(stats.class_names, share, color=colours)
    ax.set_yscale("log")
    ax.set_ylabel(f"expected pixels among {num_queries} queries")
    ax.set_title(f"{stats.dataset}: uniform query sampling")
    for i, q in enumerate(share):
        ax.text(i, q, f"{q:.1f}", ha="center", va="bottom", fontsize=8)
    return ax


def label_overlay(image: np.ndarray, label: np.ndarray, ax=None, alpha: float = 0.45, title: str | None = None):
    """A slice ``image`` [H,W] in grey with ``label`` [H,W] coloured on top (0 transparent)."""
    from matplotlib.colors import ListedColormap

    ax = _axes(ax)
    ax.imshow(image, cmap="gray")
    masked = np.ma.masked_where(np.asarray(label) <= 0, label)
    cmap = ListedColormap(CLASS_COLOURS[: max(int(np.max(label)) + 1, 2)])
    ax.imshow(masked, cmap=cmap, alpha=alpha, vmin=0, vmax=max(int(np.max(label)), 1), interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_loss_curves(logs: dict[str, dict[str, np.ndarray]], component: str = "total", ax=None, smooth: int = 1):
    """One line per run of a ``log.csv`` column (`mona_lab.results.read_log`), optionally a
    running mean over ``smooth`` iterations."""
    ax = _axes(ax)
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
