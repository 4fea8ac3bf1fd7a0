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


# --------------------------------------------------------------------------------------
# notebooks 05-07: ARCO estimator variance, loss landscapes, ACTION++ temperature
# --------------------------------------------------------------------------------------
SAMPLER_COLOURS = {"ns": "#1f77b4", "sg": "#2ca02c", "sag": "#d62728", "block": "#7f7f7f"}


def plot_estimator_histograms(studies, ax=None, bins: int = 40, component: int = 0):
    """Histograms of the Monte-Carlo estimates of several `mona_lab.variance.EstimatorStudy`
    (one per sampler), with the exact target (black) and each estimator's exact mean
    (dashed): unbiased estimators centre on the target, the ``block`` variant may not."""
    ax = _axes(ax)
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
    ``key`` (``"n"`` or ``"grid"``), from a list of `mona_lab.variance.EstimatorStudy`."""
    ax = _axes(ax)
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
    ax = _axes(ax)
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


def plot_curve_bands(stats: dict, ax=None, ylabel: str = "", colours: dict | None = None, smooth: int = 1):
    """Mean (line) and +-1 standard deviation over seeds (band) of logged training curves,
    from `mona_lab.run_records.curve_statistics` (ARCO Fig. 5 style). ``smooth`` > 1 applies
    a centred moving average of that many iterations to mean and band."""
    ax = _axes(ax)
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


def plot_loss_curves_1d(coords, curves: dict, ax=None, title: str | None = None):
    """1-D loss curves ``f(alpha)`` along one filter-normalised direction (Li et al. 2018)."""
    ax = _axes(ax)
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
    ax = _axes(ax)
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


def plot_temperature_schedules(steps, curves: dict, ax=None, title: str | None = None):
    """Temperature against iteration for several schedules (ACTION++ Eq. 6 and Table 6)."""
    ax = _axes(ax)
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
    ax = _axes(ax)
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


# --------------------------------------------------------------------------------------
# notebooks 00 and 02-04: MONA's principles (tailness, consistency, diversity) and ablations
# --------------------------------------------------------------------------------------
def plot_per_class_dice(rows, ax=None, tail=None, labels=None, title: str = "per-class Dice"):
    """Grouped bars: one group per foreground class, one bar per result row (dicts with a
    ``"dice"`` {class: value} entry, e.g. from `mona_lab.ablation.run_ablation_row`). Tail
    class names in ``tail`` are marked with a star."""
    ax = _axes(ax)
    rows = list(rows)
    if not rows:
        ax.text(0.5, 0.5, "no runs yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return ax
    classes = list(rows[0]["dice"])
    labels = labels or [row.get("label", row.get("name", str(i))) for i, row in enumerate(rows)]
    width = 0.8 / len(rows)
    x = np.arange(len(classes))
    for i, (row, label) in enumerate(zip(rows, labels)):
        ax.bar(x + (i - (len(rows) - 1) / 2) * width, [row["dice"].get(c, np.nan) for c in classes], width, label=label)
    tail = set(tail or ())
    ax.set_xticks(x, [f"{c}*" if c in tail else c for c in classes])
    ax.set_ylim(0, 1)
    ax.set_ylabel("Dice")
    ax.set_title(title + (" (* tail)" if tail else ""), fontsize=10)
    ax.legend(fontsize=7, loc="upper right")
    return ax


def plot_query_overlay(image, label, rows, cols, classes, ax=None, title: str | None = None, size: float = 14):
    """An image with its labels and the chosen query pixels on top (a dot per query,
    coloured by class, black edge), e.g. from `ContrastInspection.query_positions`."""
    ax = label_overlay(np.asarray(image), np.asarray(label), ax, alpha=0.3, title=title)
    colours = [CLASS_COLOURS[int(c) % len(CLASS_COLOURS)] for c in np.asarray(classes)]
    ax.scatter(np.asarray(cols), np.asarray(rows), s=size, c=colours, edgecolors="black", linewidths=0.6)
    return ax


def plot_class_matrix(
    matrix, class_names, ax=None, title: str = "", fmt: str = ".2f", cmap: str = "viridis", vmin=None, vmax=None
):
    """A [C, C] matrix (class-relation graph, negative-class distribution...) as a heat map
    with its values written in the cells."""
    ax = _axes(ax)
    matrix = np.asarray(matrix, dtype=float)
    image = ax.imshow(matrix, cmap=cmap, vmin=vmin, vmax=vmax)
    names = list(class_names)
    ax.set_xticks(range(len(names)), names, rotation=45, fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    finite = matrix[np.isfinite(matrix)]
    middle = (finite.max() + finite.min()) / 2 if finite.size else 0.0
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            if np.isfinite(matrix[i, j]):
                ax.text(j, i, format(matrix[i, j], fmt), ha="center", va="center", fontsize=7,
                        color="white" if matrix[i, j] < middle else "black")
    ax.set_title(title, fontsize=10)
    plt.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return ax


def plot_grid_gains(comparison, ax=None, title: str = "gain over vanilla (Dice points)"):
    """Horizontal bars: each combination's Dice gain over vanilla, mona_lab's grid against
    the paper's (rows from `mona_lab.ablation.grid_comparison`)."""
    ax = _axes(ax)
    rows = [r for r in comparison if r["paper_gain"] is not None and r["name"] != "vanilla"]
    y = np.arange(len(rows))
    ax.barh(y - 0.2, [r["dice_gain"] for r in rows], 0.4, label="mona_lab (phantom, short runs)", color="#377eb8")
    ax.barh(y + 0.2, [r["paper_gain"] for r in rows], 0.4, label="MONA paper (ACDC)", color="#bbbbbb")
    ax.set_yticks(y, [r["name"] for r in rows], fontsize=8)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.invert_yaxis()
    ax.set_xlabel("Dice gain over vanilla [points]")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    return ax


def plot_equivariance_row(axes, image, transformed_image, maps, index: int = 0, name: str = "T"):
    """Five panels for one sample: x, T(x), argmax F(T(x)), argmax T(F(x)) and the per-pixel
    symmetric KL between them (MONA Eq. 6), from `mona_lab.principles.equivariance_maps`."""
    from matplotlib.colors import ListedColormap

    num_classes = maps["F_of_T"].shape[1]
    cmap = ListedColormap(CLASS_COLOURS[:num_classes])
    panels = [
        (np.asarray(image), "gray", "x", None),
        (np.asarray(transformed_image), "gray", f"{name}(x)", None),
        (maps["F_of_T"][index].argmax(0).numpy(), cmap, f"F({name}(x))", (0, num_classes - 1)),
        (maps["T_of_F"][index].argmax(0).numpy(), cmap, f"{name}(F(x))", (0, num_classes - 1)),
        (maps["kl_map"][index].numpy(), "magma", "symmetric KL", None),
    ]
    for ax, (data, cmap_, title, limits) in zip(axes, panels):
        kwargs = {"vmin": limits[0], "vmax": limits[1]} if limits else {}
        ax.imshow(data, cmap=cmap_, interpolation="nearest", **kwargs)
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    return axes


def plot_neighbour_tiles(query_images, bank_images, index, fig=None, query_labels=None, bank_labels=None, title: str = ""):
    """One row per query: the query slice, then its K retrieved neighbours from the bank
    (``index`` [Q, K], e.g. from `mona_lab.principles.retrieve_neighbours`); labels are
    overlaid when given."""
    index = np.asarray(index)
    q, k = index.shape
    if fig is None:
        fig = plt.figure(figsize=(1.3 * (k + 1), 1.35 * q))
    axes = fig.subplots(q, k + 1, squeeze=False)
    for i in range(q):
        tiles = [(np.asarray(query_images[i, 0]), None if query_labels is None else np.asarray(query_labels[i]), "query")]
        for j in range(k):
            n = int(index[i, j])
            bank_label = None if bank_labels is None else np.asarray(bank_labels[n])
            tiles.append((np.asarray(bank_images[n, 0]), bank_label, f"nn {j + 1}"))
        for ax, (img, lab, name) in zip(axes[i], tiles):
            if lab is None:
                ax.imshow(img, cmap="gray")
                ax.set_axis_off()
            else:
                label_overlay(img, lab, ax, alpha=0.35)
            if i == 0:
                ax.set_title(name, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_embeddings_2d(embeddings, values, ax=None, title: str = "", cmap: str = "viridis", label: str = ""):
    """Scatter of [N, P] embeddings on their first two principal components, coloured by
    ``values`` [N] (e.g. slice position or a class-presence flag)."""
    ax = _axes(ax)
    x = np.asarray(embeddings, dtype=float)
    x = x - x.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    xy = x @ vt[:2].T
    points = ax.scatter(xy[:, 0], xy[:, 1], c=np.asarray(values, dtype=float), cmap=cmap, s=16)
    plt.colorbar(points, ax=ax, fraction=0.046, pad=0.04, label=label)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(title, fontsize=10)
    return ax


def plot_training_dynamics(dynamics: dict, layer: str = "bottleneck_conv", axes=None, title: str | None = None):
    """Two panels from a run's ``dynamics.csv`` (`mona_lab.dynamics.read_dynamics`):

    left: each loss term's weighted gradient norm at ``layer`` (log scale), so a term that
    takes the encoder over stands out; right: the weight norms of the tracked layers
    relative to their first value and the bottleneck BatchNorm's running variance (the
    effective learning rate of a BN-followed conv falls as 1/|w|^2).

    Args:
        dynamics: columns as returned by `read_dynamics`.
        layer: one of `mona_lab.dynamics.TRACKED_LAYERS`.
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
