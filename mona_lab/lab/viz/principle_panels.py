"""MONA's principles and their ablations drawn (MONA TPAMI 2024 Tables III, IV and VI;
notebooks 00 and 02-04): per-class Dice, the chosen queries and class matrices (tailness),
T(F(x)) against F(T(x)) (consistency), retrieved neighbours and embeddings (diversity),
and the grid's gains next to the paper's."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from mona_lab.lab.viz.common import CLASS_COLOURS, axes_or_new, label_overlay


def plot_per_class_dice(rows, ax=None, tail=None, labels=None, title: str = "per-class Dice"):
    """Grouped bars: one group per foreground class, one bar per result row (dicts with a
    ``"dice"`` {class: value} entry, e.g. from `mona_lab.lab.ablation.run_ablation_row`). Tail
    class names in ``tail`` are marked with a star."""
    ax = axes_or_new(ax)
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


RULE_TITLES = {"uniform": "uniform over the image", "per_class": "per class (Eq. 3)", "hard": "hard, per class (Eq. 5)"}


def plot_query_rules(image, label, picks, class_names, axes, margin: int = 12, size: float = 26):
    """The query pixels of several rules side by side on one slice, cropped to the
    foreground (plus ``margin`` pixels) so single pixels are visible, each panel titled with
    its queries per class.

    Args:
        image: [H, W]; label: [H, W] int (one slice).
        picks: ``{rule: flat pixel indices into [H, W]}`` (e.g. `query_picks` on one slice).
        class_names: the C class names; axes: one matplotlib axes per rule.
    Returns:
        ``{rule: [C] query counts}``.
    """
    image, label = np.asarray(image), np.asarray(label)
    h, w = label.shape
    rows, cols = np.nonzero(label > 0)
    top, bottom = max(rows.min() - margin, 0), min(rows.max() + margin + 1, h)
    left, right = max(cols.min() - margin, 0), min(cols.max() + margin + 1, w)
    counts = {}
    for ax, (rule, index) in zip(axes, picks.items()):
        index = np.asarray(index)
        y, x = index // w, index % w
        keep = (y >= top) & (y < bottom) & (x >= left) & (x < right)
        cls = label[y, x]
        counts[rule] = np.bincount(cls, minlength=len(class_names))
        plot_query_overlay(image[top:bottom, left:right], label[top:bottom, left:right], y[keep] - top,
                           x[keep] - left, cls[keep], ax, size=size)  # fmt: skip
        per_class = ", ".join(f"{name} {n}" for name, n in zip(class_names, counts[rule]))
        ax.set_title(f"{RULE_TITLES.get(rule, rule)}\n{per_class}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    return counts


def plot_class_matrix(
    matrix, class_names, ax=None, title: str = "", fmt: str = ".2f", cmap: str = "viridis", vmin=None, vmax=None
):
    """A [C, C] matrix (class-relation graph, negative-class distribution...) as a heat map
    with its values written in the cells."""
    ax = axes_or_new(ax)
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
    the paper's (rows from `mona_lab.lab.ablation.grid_comparison`)."""
    ax = axes_or_new(ax)
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
    symmetric KL between them (MONA Eq. 6), from `mona_lab.lab.principles.equivariance_maps`."""
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
    (``index`` [Q, K], e.g. from `mona_lab.lab.principles.retrieve_neighbours`); labels are
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
    ax = axes_or_new(ax)
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
