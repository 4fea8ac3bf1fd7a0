"""How long-tailed a data set's classes are (MONA Fig. 1; notebooks 00 and 01): pixel
fractions, the rank-frequency (Zipf) plot, per-slice presence, and the queries uniform
sampling would give each class."""
from __future__ import annotations

from collections.abc import Sequence

from mona_lab.data.stats import ClassStats, rank_frequency
from mona_lab.lab.viz.common import CLASS_COLOURS, axes_or_new


def plot_class_fractions(stats: ClassStats, ax=None, log: bool = True):
    """Bar chart of per-class pixel fractions (MONA Fig. 1, left), background included."""
    ax = axes_or_new(ax)
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
    ax = axes_or_new(ax)
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
    ax = axes_or_new(ax)
    colours = [CLASS_COLOURS[i % len(CLASS_COLOURS)] for i in range(len(stats.class_names))]
    ax.bar(stats.class_names, stats.presence, color=colours)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share of slices containing the class")
    ax.set_title(f"{stats.dataset}: per-slice presence")
    return ax


def plot_query_share(stats: ClassStats, num_queries: int = 256, ax=None):
    """Expected number of each class among ``num_queries`` uniformly sampled pixels."""
    ax = axes_or_new(ax)
    share = stats.fractions * num_queries
    colours = [CLASS_COLOURS[i % len(CLASS_COLOURS)] for i in range(len(stats.class_names))]
    ax.bar(stats.class_names, share, color=colours)
    ax.set_yscale("log")
    ax.set_ylabel(f"expected pixels among {num_queries} queries")
    ax.set_title(f"{stats.dataset}: uniform query sampling")
    for i, q in enumerate(share):
        ax.text(i, q, f"{q:.1f}", ha="center", va="bottom", fontsize=8)
    return ax
