"""The left atrium and a 3D network's segmentation of it (notebook 08, the LA benchmark).

ACTION++ (Table 1) and ARCO score LA by Dice, Jaccard, 95HD and ASD over whole volumes; these
pictures show what a number means on one volume:

- `la_slice_montage`: evenly spaced slices through the atrium, the image in grey with the
  label's outline and the prediction's outline in two colours and each slice's Dice;
- `la_volume_view`: the label and the prediction as two translucent 3D surfaces (plotly
  ``Isosurface``; plotly alone, no marching cubes), where green alone is a missed atrium
  (false negatives), red alone a false positive and the blend the overlap, with the volume's
  Dice in the title.

Both take binary masks ``[D, H, W]`` (numpy arrays or torch tensors; any value > 0 is the
atrium). LA's terms forbid redistributing its images: draw them when a notebook runs and never
keep them in a notebook's stored outputs.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mona_lab.lab.viz.common import CLASS_COLOURS

LABEL_COLOUR = CLASS_COLOURS[2]  # green: the label (ground truth)
PREDICTION_COLOUR = CLASS_COLOURS[1]  # red: the prediction


def _as_array(value: Any) -> np.ndarray:
    """A numpy copy of a numpy array or a torch tensor (on any device)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _same_volumes(**arrays: Any) -> dict[str, np.ndarray]:
    """The arrays as numpy, checked to be 3D and of one shape.

    Raises:
        ValueError: an array that is not 3D, or shapes that differ (every shape named).
    """
    arrays = {name: _as_array(a) for name, a in arrays.items()}
    shapes = ", ".join(f"{name} {tuple(a.shape)}" for name, a in arrays.items())
    if any(a.ndim != 3 for a in arrays.values()):
        raise ValueError(f"expected volumes [D, H, W] (3 dimensions), got {shapes}")
    if len({a.shape for a in arrays.values()}) > 1:
        raise ValueError(f"the volumes must have the same [D, H, W] shape, got {shapes}")
    return arrays


def _dice(prediction: np.ndarray, label: np.ndarray) -> float:
    """`mona_lab.metrics.dice_per_class` of two binary masks (a slice ``[H, W]`` or a volume);
    1.0 when both are empty."""
    from mona_lab.metrics import dice_per_class

    p, g = (np.asarray(m, dtype=np.uint8) for m in (prediction, label))
    if p.ndim == 2:
        p, g = p[None], g[None]
    return float(dice_per_class(p, g, 2)[0])


def atrium_slices(label: np.ndarray, prediction: np.ndarray, n_slices: int = 6, axis: int = 0) -> list[int]:
    """Indices of ``n_slices`` slices along ``axis``, evenly spaced among the slices where the
    label or the prediction has foreground (first and last of them included); fewer when
    fewer slices hold any. With no foreground at all: evenly spaced through the volume.

    Raises:
        ValueError: ``axis`` not 0, 1 or 2, or ``n_slices`` < 1.
    """
    if axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0 (D), 1 (H) or 2 (W), got {axis!r}")
    if isinstance(n_slices, bool) or not isinstance(n_slices, (int, np.integer)) or n_slices < 1:
        raise ValueError(f"n_slices must be a positive integer, got {n_slices!r}")
    others = tuple(a for a in range(3) if a != axis)
    present = np.flatnonzero(((np.asarray(label) > 0) | (np.asarray(prediction) > 0)).any(axis=others))
    candidates = present if present.size else np.arange(np.shape(label)[axis])
    picks = np.linspace(0, candidates.size - 1, min(int(n_slices), candidates.size)).round().astype(int)
    return [int(candidates[i]) for i in picks]


def la_slice_montage(image, label, prediction, n_slices: int = 6, axis: int = 0):
    """A matplotlib figure of ``n_slices`` slices through the atrium, one axes per slice.

    Slices are evenly spaced among those where the label or the prediction is present
    (`atrium_slices`); each shows the image in grey, the label's outline in green and the
    prediction's outline in red (a figure legend says which), titled with the slice index and
    the slice's Dice (`mona_lab.metrics.dice_per_class`).

    Args:
        image: ``[D, H, W]`` intensities.
        label, prediction: ``[D, H, W]`` masks (values > 0: the atrium).
        n_slices: slices to show (fewer if fewer hold the atrium).
        axis: the axis cut across (0: axial slices ``[H, W]``, 1 or 2: the other planes).

    Returns:
        The ``matplotlib.figure.Figure``; ``fig.axes`` holds exactly one axes per slice.

    Raises:
        ValueError: arrays that are not 3D or not of one shape (their shapes named), a bad
            ``axis`` or ``n_slices``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    arrays = _same_volumes(image=image, label=label, prediction=prediction)
    image, label, prediction = arrays["image"], arrays["label"] > 0, arrays["prediction"] > 0
    indices = atrium_slices(label, prediction, n_slices, axis)
    cols = min(len(indices), 3)
    rows = -(-len(indices) // cols)
    fig, grid = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows + 0.4), squeeze=False)
    for ax in grid.flat[len(indices):]:
        fig.delaxes(ax)
    names = "DHW"
    for ax, index in zip(grid.flat, indices):
        g, p = np.take(label, index, axis), np.take(prediction, index, axis)
        ax.imshow(np.take(image, index, axis), cmap="gray", interpolation="nearest")
        for mask, colour in ((g, LABEL_COLOUR), (p, PREDICTION_COLOUR)):
            if mask.any():
                ax.contour(mask.astype(float), levels=[0.5], colors=[colour], linewidths=1.2)
        ax.set_title(f"{names[axis]} = {index}: Dice {_dice(p, g):.3f}", fontsize=9)
        ax.set_axis_off()
    handles = [Line2D([], [], color=LABEL_COLOUR, label="label"), Line2D([], [], color=PREDICTION_COLOUR, label="prediction")]
    fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def _box(mask: np.ndarray) -> tuple[slice, ...]:
    """The bounding box of a mask's foreground, one voxel of margin where the volume allows."""
    box = []
    for axis in range(3):
        others = tuple(a for a in range(3) if a != axis)
        present = np.flatnonzero(mask.any(axis=others))
        box.append(slice(max(int(present[0]) - 1, 0), min(int(present[-1]) + 2, mask.shape[axis])))
    return tuple(box)


def la_volume_view(label, prediction, spacing: Sequence[float] = (1.0, 1.0, 1.0), max_points: int = 60_000,
                   title: str | None = None):  # fmt: skip
    """The label and the prediction as two translucent surfaces in 3D (a plotly figure).

    Each mask is cut to the bounding box of both masks' foreground, strided by the smallest
    integer step that keeps the box within ``max_points`` voxels, padded with one empty voxel
    and drawn as the ``0.5`` isosurface of a ``go.Isosurface`` trace: the label green, the
    prediction red. Where they overlap (true positives) the colours blend; green alone marks
    missed atrium (false negatives), red alone false positives. The title gives the Dice of
    the full-resolution masks (`mona_lab.metrics.dice_per_class`).

    Args:
        label, prediction: ``[D, H, W]`` masks (values > 0: the atrium).
        spacing: the voxel size along ``(D, H, W)`` (mm, or 1 for the LA literature's voxels):
            the axes are ``x = W``, ``y = H``, ``z = D`` in those units.
        max_points: the most voxels a surface is computed from (the step grows with the box).
        title: a prefix for the title (e.g. the method and case).

    Returns:
        A ``plotly.graph_objects.Figure`` with two traces, label then prediction (a mask with
        no foreground gives a trace with no surface).

    Raises:
        ValueError: masks that are not 3D or not of one shape (both shapes named), a
            ``spacing`` that is not three positive numbers, ``max_points`` < 8.
    """
    import plotly.graph_objects as go

    arrays = _same_volumes(label=label, prediction=prediction)
    label, prediction = arrays["label"] > 0, arrays["prediction"] > 0
    spacing = tuple(float(s) for s in np.ravel(spacing))
    if len(spacing) != 3 or not all(np.isfinite(s) and s > 0 for s in spacing):
        raise ValueError(f"spacing must be three positive numbers (D, H, W), got {spacing}")
    if isinstance(max_points, bool) or not isinstance(max_points, (int, np.integer)) or max_points < 8:
        raise ValueError(f"max_points must be an integer >= 8, got {max_points!r}")
    dice = _dice(prediction, label)
    union = label | prediction
    box = _box(union) if union.any() else tuple(slice(0, n) for n in union.shape)
    size = int(np.prod([b.stop - b.start for b in box]))
    step = max(1, int(np.ceil((size / max_points) ** (1 / 3))))
    while int(np.prod([-(-(b.stop - b.start) // step) for b in box])) > max_points:
        step += 1
    strided = tuple(slice(b.start, b.stop, step) for b in box)
    # voxel-centre coordinates in `spacing` units, one step further on each side for the padding
    axes = [(np.arange(s.start - step, s.stop + step, step)[: len(range(s.start, s.stop, step)) + 2]) * sp
            for s, sp in zip(strided, spacing)]  # fmt: skip
    zz, yy, xx = np.meshgrid(*axes, indexing="ij")
    traces = []
    for name, mask, colour, opacity in (("label", label, LABEL_COLOUR, 0.35), ("prediction", prediction, PREDICTION_COLOUR, 0.5)):
        values = np.pad(mask[strided].astype(np.float32), 1)
        traces.append(go.Isosurface(
            x=xx.ravel(), y=yy.ravel(), z=zz.ravel(), value=values.ravel(), isomin=0.5, isomax=1.0, surface_count=1,
            colorscale=[[0, colour], [1, colour]], showscale=False, opacity=opacity, name=name, showlegend=True,
            caps=dict(x_show=False, y_show=False, z_show=False),
        ))  # fmt: skip
    heading = f"{title}: " if title else ""
    fig = go.Figure(traces)
    fig.update_layout(
        title=f"{heading}Dice {dice:.3f} (label green, prediction red; every {step} voxel(s) drawn)",
        scene=dict(xaxis_title="W", yaxis_title="H", zaxis_title="D", aspectmode="data"),
        margin=dict(l=0, r=0, t=40, b=0),
    )
    return fig
