"""Average surface distances (ASD) between binary masks ``[D, H, W]``, spacing-aware.

The surface ``S(X)`` of a mask is its voxels with a 6-neighbour outside it; distances are
Euclidean between voxel centres, in mm when the spacing is known. Two ASDs
(definitions and the medpy comparison in the `mona_lab.metrics` package docstring):

- `average_symmetric_surface_distance` / `asd_per_class`: the pooled mean over both
  surfaces (Heimann et al., IEEE TMI 2009), mona_lab's ``"strict"`` protocol;
- `average_surface_distance`: the directed mean from the prediction's surface to the
  ground truth's (medpy ``asd``), the papers' test scripts (protocol ``"paper"``).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from mona_lab.metrics.checks import check_empty_asd, check_pair, check_spacing

_CROSS_3D = ndimage.generate_binary_structure(3, 1)


def _surface(mask: np.ndarray) -> np.ndarray:
    """Voxels of ``mask`` with a 6-neighbour outside it (outside the array = background)."""
    eroded = ndimage.binary_erosion(mask, structure=_CROSS_3D, iterations=1, border_value=0)
    return mask & ~eroded


def volume_diagonal(shape: Sequence[int], spacing: Sequence[float] | None = None) -> float:
    """Largest distance between two voxel centres of a volume: ``sqrt(sum(((n_i - 1) s_i)^2))``.

    Args:
        shape: the volume's shape ``(D, H, W)``.
        spacing: voxel size ``(z, y, x)`` in mm, or None for voxel units.

    Returns:
        the diagonal in mm (or voxels), the ASD given to a class present in only one mask.
    """
    sampling = check_spacing(spacing)
    if len(shape) != 3:
        raise ValueError(f"shape must have three entries (D, H, W), got {tuple(shape)}")
    return float(math.sqrt(sum(((int(n) - 1) * s) ** 2 for n, s in zip(shape, sampling))))


def average_symmetric_surface_distance(
    pred_mask: Any,
    target_mask: Any,
    spacing: Sequence[float] | None = None,
    *,
    empty_asd: str = "diagonal",
) -> float:
    """ASD between two binary masks ``[D, H, W]`` (pooled over both surfaces, Heimann 2009).

    Distances come from ``scipy.ndimage.distance_transform_edt(..., sampling=spacing)`` of
    the complement of each surface, read at the other surface's voxels. The transform is
    computed on the bounding box of both surfaces only (exact: every surface voxel, source
    or target of a distance, lies inside it).

    Args:
        pred_mask: predicted binary mask ``[D, H, W]`` (bool or 0/1).
        target_mask: ground-truth binary mask, same shape.
        spacing: voxel size ``(z, y, x)`` in mm; None for voxel units.
        empty_asd: ``"diagonal"`` (default) or ``"nan"``: the value when exactly one mask
            is empty. Both empty gives 0.0.

    Returns:
        the ASD in mm (voxels when ``spacing`` is None).

    Raises:
        ValueError: shapes differ or are not 3D, masks are not binary, bad ``spacing`` or
            ``empty_asd``.
    """
    pred_arr, target_arr, _ = check_pair(pred_mask, target_mask, 2)
    return _asd_binary(pred_arr.astype(bool), target_arr.astype(bool), check_spacing(spacing),
                       check_empty_asd(empty_asd))


def _surface_distances(
    pred: np.ndarray, target: np.ndarray, sampling: tuple[float, float, float], symmetric: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """``d(p, S(target))`` for every ``p`` in ``S(pred)`` (C order) and, when ``symmetric``,
    ``d(g, S(pred))`` for every ``g`` in ``S(target)``; both masks must be non-empty.

    The distance transform runs on the bounding box of both surfaces only (exact: every
    surface voxel, source or target of a distance, lies inside it)."""
    surf_pred, surf_target = _surface(pred), _surface(target)
    both = surf_pred | surf_target
    box = tuple(slice(int(idx.min()), int(idx.max()) + 1) for idx in np.nonzero(both))
    surf_pred, surf_target = surf_pred[box], surf_target[box]
    to_target = ndimage.distance_transform_edt(~surf_target, sampling=sampling)[surf_pred]
    if not symmetric:
        return to_target, None
    to_pred = ndimage.distance_transform_edt(~surf_pred, sampling=sampling)[surf_target]
    return to_target, to_pred


def _asd_binary(pred: np.ndarray, target: np.ndarray, sampling: tuple[float, float, float], empty_asd: str) -> float:
    pred_any, target_any = bool(pred.any()), bool(target.any())
    if not pred_any and not target_any:
        return 0.0
    if pred_any != target_any:
        return volume_diagonal(pred.shape, sampling) if empty_asd == "diagonal" else float("nan")
    to_target, to_pred = _surface_distances(pred, target, sampling, symmetric=True)
    total = to_target.sum() + to_pred.sum()
    return float(total / (to_target.size + to_pred.size))


def average_surface_distance(pred_mask: Any, target_mask: Any, spacing: Sequence[float] | None = None) -> float:
    """Directed ASD from the prediction's surface to the ground truth's: ``mean_{p in S(P)} d(p, S(G))``.

    This is medpy's ``asd(result=pred, reference=gt, voxelspacing=spacing)`` (same surface,
    same distance transform; equal to rounding), the ASD of the papers' test scripts (see
    the `mona_lab.metrics` package docstring, protocol ``"paper"``). It is not symmetric: a prediction that
    misses part of a structure is not penalised for the missed surface.

    Args:
        pred_mask: predicted binary mask ``[D, H, W]`` (bool or 0/1), not empty.
        target_mask: ground-truth binary mask, same shape, not empty.
        spacing: voxel size ``(z, y, x)`` in mm; None for voxel units (as the papers).

    Returns:
        the directed ASD in mm (voxels when ``spacing`` is None).

    Raises:
        ValueError: shapes differ or are not 3D, masks are not binary, bad ``spacing``, or a
            mask is empty (the distance is undefined; medpy raises ``RuntimeError`` there).
    """
    pred_arr, target_arr, _ = check_pair(pred_mask, target_mask, 2)
    sampling = check_spacing(spacing)
    for name, arr in (("pred_mask", pred_arr), ("target_mask", target_arr)):
        if not arr.any():
            raise ValueError(
                f"{name} is empty (shape {tuple(arr.shape)}): the directed surface distance is undefined; "
                "evaluate_volume(..., protocol='paper') applies the papers' empty-mask rules"
            )
    to_target, _ = _surface_distances(pred_arr.astype(bool), target_arr.astype(bool), sampling, symmetric=False)
    return float(to_target.mean())


def asd_per_class(
    pred: Any,
    target: Any,
    num_classes: int,
    spacing: Sequence[float] | None = None,
    *,
    empty_asd: str = "diagonal",
) -> np.ndarray:
    """ASD of every foreground class on one volume.

    Args:
        pred: predicted labels ``[D, H, W]`` in ``[0, num_classes)``.
        target: ground-truth labels ``[D, H, W]``.
        num_classes: number of classes including background.
        spacing: voxel size ``(z, y, x)`` in mm (e.g. from a NIfTI header, reordered to
            the array's axes); None for voxel units (SSL4MIS h5 files).
        empty_asd: value for a class present in exactly one volume: ``"diagonal"``
            (default, the volume diagonal) or ``"nan"``.

    Returns:
        ``[num_classes - 1]`` float64 array of ASD for classes ``1 .. num_classes - 1``.

    Raises:
        ValueError: see `dice_per_class`; also bad ``spacing`` or ``empty_asd``.
    """
    pred_arr, target_arr, num_classes = check_pair(pred, target, num_classes)
    sampling = check_spacing(spacing)
    empty_asd = check_empty_asd(empty_asd)
    return np.array(
        [_asd_binary(pred_arr == c, target_arr == c, sampling, empty_asd) for c in range(1, num_classes)],
        dtype=np.float64,
    )
