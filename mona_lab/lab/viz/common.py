"""What every plot of the notebooks shares: class colours, a fresh axes when none is given,
and a slice with its labels on top."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

CLASS_COLOURS = ("#000000", "#e41a1c", "#4daf4a", "#377eb8", "#ff7f00", "#984ea3", "#a65628", "#f781bf")
SAMPLER_COLOURS = {"ns": "#1f77b4", "sg": "#2ca02c", "sag": "#d62728", "block": "#7f7f7f"}


def axes_or_new(ax):
    """``ax``, or the axes of a new 5 x 3.5 inch figure when ``ax`` is None."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    return ax


def label_overlay(image: np.ndarray, label: np.ndarray, ax=None, alpha: float = 0.45, title: str | None = None):
    """A slice ``image`` [H,W] in grey with ``label`` [H,W] coloured on top (0 transparent)."""
    from matplotlib.colors import ListedColormap

    ax = axes_or_new(ax)
    ax.imshow(image, cmap="gray")
    masked = np.ma.masked_where(np.asarray(label) <= 0, label)
    cmap = ListedColormap(CLASS_COLOURS[: max(int(np.max(label)) + 1, 2)])
    ax.imshow(masked, cmap=cmap, alpha=alpha, vmin=0, vmax=max(int(np.max(label)), 1), interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return ax
