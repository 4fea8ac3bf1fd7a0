"""ARCO's estimators seen (ARCO Sec. 3.3, Lemma 3.1, Theorem 3.2; notebook 05): histograms
of the estimates, variance against the number of pixels drawn, and the SG groups on a map."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from mona_lab.lab.viz.common import SAMPLER_COLOURS, axes_or_new


def plot_estimator_histograms(studies, ax=None, bins: int = 40, component: int = 0):
    """Histograms of the Monte-Carlo estimates of several `mona_lab.lab.variance.EstimatorStudy`
    (one per sampler), with the exact target (black) and each estimator's exact mean
    (dashed): unbiased estimators centre on the target, the ``block`` variant may not."""
    ax = axes_or_new(ax)
    target = float(studies[0].target[component])
    for study in studies:
        draws = study.estimates if study.estimates.ndim == 1 else study.estimates[:, component]
        colour = SAMPLER_COLOURS.get(study.method)
        ax.hist(draws, bins=bins, histtype="step", linewidth=1.4, color=colour,
                label=f"{study.method} (sd {np.std(draws, ddof=1):.3g})")
        ax.axvline(float(study.theory_mean[component]), color=colour, linestyle="--", linewidth=1)
    ax.axvline(target, color="black", linewidth=1.5, label="exact H")
    ax.set_xlabel("estimate of H")
    ax.set_ylabel("count")
    ax.legend(fontsize=7)
    return ax


def plot_variance_against(studies, key: str = "n", ax=None, log: bool = True):
    """Monte-Carlo variance (markers) and exact variance (lines) of each sampler against
    ``key`` (``"n"`` or ``"grid"``), from a list of `mona_lab.lab.variance.EstimatorStudy`."""
    ax = axes_or_new(ax)
    methods = list(dict.fromkeys(s.method for s in studies))
    for method in methods:
        mine = sorted((s for s in studies if s.method == method), key=lambda s: getattr(s, key))
        xs = [getattr(s, key) for s in mine]
        colour = SAMPLER_COLOURS.get(method)
        ax.plot(xs, [s.theory_variance for s in mine], "-", color=colour, label=f"{method} exact")
        ax.plot(xs, [s.mc_variance for s in mine], "o", color=colour, markersize=4, label=f"{method} Monte Carlo")
    if log:
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
    ax.set_xlabel("pixels drawn n" if key == "n" else "grid cells per axis")
    ax.set_ylabel("variance of the estimate")
    ax.legend(fontsize=7, ncol=2)
    return ax


def plot_groups_on_map(values: np.ndarray, mask: np.ndarray, grid: int, ax=None, title: str | None = None):
    """A per-pixel map (e.g. ``h(p)``) over one image with the SG grid drawn on top and
    pixels outside the class greyed out: the groups ``P_m`` of ARCO Sec. 3.3."""
    ax = axes_or_new(ax)
    values, mask = np.asarray(values, dtype=float), np.asarray(mask, dtype=bool)
    shown = np.ma.masked_where(~mask, values)
    ax.imshow(np.where(mask, np.nan, 0.0), cmap="gray", vmin=-1, vmax=1)
    image = ax.imshow(shown, cmap="viridis", interpolation="nearest")
    height, width = values.shape
    for k in range(1, grid):
        ax.axhline(k * -(-height // grid) - 0.5, color="white", linewidth=0.8)
        ax.axvline(k * -(-width // grid) - 0.5, color="white", linewidth=0.8)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    plt.colorbar(image, ax=ax, fraction=0.046)
    return ax
