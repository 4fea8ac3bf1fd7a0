"""Loss landscapes (Li et al. 2018; ARCO Fig. 3; notebook 06): 1-D curves and 2-D contours
along filter-normalised directions, plotly 3-D surfaces, and the per-pixel loss over an image."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from mona_lab.lab.viz.common import CLASS_COLOURS, axes_or_new


def plot_loss_curves_1d(coords, curves: dict, ax=None, title: str | None = None):
    """1-D loss curves ``f(alpha)`` along one filter-normalised direction (Li et al. 2018)."""
    ax = axes_or_new(ax)
    for name, values in curves.items():
        ax.plot(coords, values, "-o", markersize=3, label=name)
    ax.set_xlabel("alpha (filter norms)")
    ax.set_ylabel("loss")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    return ax


def plot_loss_contour(coords, values, ax=None, title: str | None = None, levels: int = 15):
    """Filled contour of a 2-D loss surface ``f(alpha, beta)``; the trained weights sit at (0, 0)."""
    ax = axes_or_new(ax)
    a, b = np.meshgrid(coords[0], coords[1], indexing="ij")
    filled = ax.contourf(a, b, values, levels=levels, cmap="viridis")
    ax.contour(a, b, values, levels=levels, colors="white", linewidths=0.4)
    ax.plot(0, 0, "r*", markersize=8)
    ax.set_xlabel("alpha")
    ax.set_ylabel("beta")
    ax.set_aspect("equal")
    if title:
        ax.set_title(title, fontsize=9)
    plt.colorbar(filled, ax=ax, fraction=0.046)
    return ax


def loss_surface_figure(coords, surfaces: dict, title: str = "loss surface"):
    """A plotly figure with one 3-D surface per entry of ``surfaces`` (side by side)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    names = list(surfaces)
    fig = make_subplots(rows=1, cols=len(names), specs=[[{"type": "surface"}] * len(names)], subplot_titles=names)
    for k, name in enumerate(names):
        fig.add_trace(go.Surface(x=coords[0], y=coords[1], z=np.asarray(surfaces[name]).T, colorscale="Viridis",
                                 showscale=False), row=1, col=k + 1)
    fig.update_layout(title=title, height=380, width=330 * len(names), margin=dict(l=0, r=0, t=40, b=0))
    return fig


def pixel_loss_figure(loss_map: np.ndarray, labels: np.ndarray, class_names, title: str = "per-pixel loss"):
    """ARCO Fig. 3 analogue: a plotly 3-D surface whose height is the per-pixel contrastive
    loss ``h(p)`` over one image and whose colour is the pixel's class."""
    import plotly.graph_objects as go

    loss_map = np.asarray(loss_map, dtype=float)
    labels = np.asarray(labels)
    num = len(class_names)
    scale = []
    for c in range(num):
        colour = CLASS_COLOURS[c % len(CLASS_COLOURS)] if c else "#bbbbbb"
        scale += [[c / num, colour], [(c + 1) / num, colour]]
    z = np.where(np.isfinite(loss_map), loss_map, np.nan)
    fig = go.Figure(go.Surface(
        z=z, surfacecolor=labels.astype(float) + 0.5, cmin=0, cmax=num, colorscale=scale,
        colorbar=dict(tickvals=[c + 0.5 for c in range(num)], ticktext=list(class_names), title="class"),
    ))  # fmt: skip
    fig.update_layout(title=title, height=420, width=520, margin=dict(l=0, r=0, t=40, b=0),
                      scene=dict(zaxis_title="h(p)", xaxis_title="x", yaxis_title="y"))
    return fig
