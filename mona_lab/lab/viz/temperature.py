"""The temperature of the contrast (ACTION++ Eq. 3 and 6, Table 6; notebook 07): schedules,
the softmax weight each key gets from an anchor, and class centres on the unit sphere."""
from __future__ import annotations

import numpy as np

from mona_lab.lab.viz.common import CLASS_COLOURS, axes_or_new


def plot_temperature_schedules(steps, curves: dict, ax=None, title: str | None = None):
    """Temperature against iteration for several schedules (ACTION++ Eq. 6 and Table 6)."""
    ax = axes_or_new(ax)
    for name, tau in curves.items():
        ax.plot(steps, tau, label=name, linewidth=1.2)
    ax.set_xlabel("iteration t")
    ax.set_ylabel("tau_t")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return ax


def plot_softmax_weights(embeddings: np.ndarray, labels: np.ndarray, anchor: int, weights: np.ndarray, ax=None,
                         title: str | None = None):
    """2-D embeddings coloured by class, marker area proportional to the contrastive softmax
    weight each one receives from the ``anchor`` (star)."""
    ax = axes_or_new(ax)
    embeddings, labels, weights = np.asarray(embeddings), np.asarray(labels), np.asarray(weights)
    circle = np.linspace(0, 2 * np.pi, 200)
    ax.plot(np.cos(circle), np.sin(circle), color="#dddddd", linewidth=0.8)
    colours = [CLASS_COLOURS[1 + (int(c) % (len(CLASS_COLOURS) - 1))] for c in labels]
    sizes = 4 + 600 * weights / max(float(weights.max()), 1e-12)
    ax.scatter(embeddings[:, 0], embeddings[:, 1], s=sizes, c=colours, alpha=0.7, edgecolors="none")
    ax.plot(*embeddings[anchor], "k*", markersize=12)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def class_centres_figure(centers, class_names=None, paths: dict | None = None, title: str = "class centres"):
    """Plotly 3-D view of unit-sphere class centres (ACTION++ Eq. 3), with the simplex edges
    and, optionally, ``paths`` ``{name: [T, 3]}`` of class means moving during training."""
    import plotly.graph_objects as go

    centers = np.asarray(centers, dtype=float)
    names = list(class_names) if class_names is not None else [f"c{k}" for k in range(len(centers))]
    u, v = np.mgrid[0:2 * np.pi:30j, 0:np.pi:15j]
    traces = [go.Surface(x=np.cos(u) * np.sin(v), y=np.sin(u) * np.sin(v), z=np.cos(v), opacity=0.15,
                         showscale=False, colorscale=[[0, "#9ecae1"], [1, "#9ecae1"]], hoverinfo="skip")]
    for i in range(len(centers)):
        for j in range(i + 1, len(centers)):
            seg = centers[[i, j]]
            traces.append(go.Scatter3d(x=seg[:, 0], y=seg[:, 1], z=seg[:, 2], mode="lines",
                                       line=dict(color="#888888", width=2), showlegend=False, hoverinfo="skip"))
    colours = [CLASS_COLOURS[k % len(CLASS_COLOURS)] if k else "#555555" for k in range(len(centers))]
    traces.append(go.Scatter3d(x=centers[:, 0], y=centers[:, 1], z=centers[:, 2], mode="markers+text", text=names,
                               marker=dict(size=7, color=colours), name="centres"))
    for k, (name, path) in enumerate((paths or {}).items()):
        path = np.asarray(path, dtype=float)
        colour = CLASS_COLOURS[names.index(name) % len(CLASS_COLOURS)] if name in names else None
        traces.append(go.Scatter3d(x=path[:, 0], y=path[:, 1], z=path[:, 2], mode="lines+markers",
                                   marker=dict(size=2, color=colour), line=dict(color=colour, width=3),
                                   name=f"mean of {name}"))
    fig = go.Figure(traces)
    fig.update_layout(title=title, height=450, width=520, margin=dict(l=0, r=0, t=40, b=0),
                      scene=dict(aspectmode="cube"))
    return fig
