"""Dice and average surface distances per foreground class on 3D volumes, under two protocols.

The papers (MONA CVPR 2023 Sec. 5 / TPAMI 2024 Sec. IV-A, ARCO NeurIPS 2023 Sec. 4,
ACTION++ MICCAI 2023 Sec. 3) report "Dice coefficient (DSC) and Average Symmetric
Surface Distance (ASD) for 3D segmentation results": slice predictions are stacked into a
volume ``[D, H, W]`` and each foreground class is scored on the whole volume, then the
scores are averaged over volumes per class, and the class means are averaged. `predict_volume`
produces such a stacked prediction from a 2D model.

Resolution: both protocols score at the stored volume's native grid ``[D, H, W]`` (for
the SSL4MIS h5 layout, the ACDC acquisition grid, in-plane ~1.5 mm, slices 5-10 mm apart):
`predict_volume` resizes the model's logits back to the native slice size and takes the
argmax there, and `mona_lab.engine.evaluate_volumes` scores that against the stored label.
(The papers' test scripts reach the native grid differently, by a nearest-neighbour zoom of
the 256x256 argmax; that inference detail is not part of the protocol switch.)

Definitions (``P`` = predicted mask of one class, ``G`` = ground-truth mask):

* Dice ``= 2 |P n G| / (|P| + |G|)``, a fraction in ``[0, 1]`` (the papers print %).
* Surface ``S(X)`` = voxels of ``X`` with at least one of their 6 face neighbours outside
  ``X`` (``X`` minus its binary erosion by the 6-connected cross). Voxels outside the
  array count as background, so a structure cut by the field of view has a surface on
  the cut (the same choice medpy makes: ``binary_erosion`` with ``border_value=0``).
  ``d(x, S)`` is the Euclidean distance from voxel centre ``x`` to the nearest voxel
  centre of ``S``, in mm when ``spacing=(z, y, x)`` is given, in voxels otherwise.
* Directed average surface distance (`average_surface_distance`)
  ``ASD(P -> G) = mean_{p in S(P)} d(p, S(G))``.
* Symmetric ASD (`average_symmetric_surface_distance`)
  ``= (sum_{p in S(P)} d(p, S(G)) + sum_{g in S(G)} d(g, S(P))) / (|S(P)| + |S(G)|)``,
  the pooled mean of both directions (Heimann et al., IEEE TMI 2009, the definition
  behind the name).

medpy (``medpy.metric.binary``), which the papers' public code calls, uses the same
surfaces and ``scipy.ndimage.distance_transform_edt``:

* ``dc(result, reference)``: the Dice above.
* ``asd(result, reference, voxelspacing=None)``: the *directed* mean from the surface of
  ``result`` to that of ``reference`` only, ``ASD(P -> G)`` when called as
  ``asd(pred, gt)``; voxel units without ``voxelspacing``.
* ``assd``: in medpy 0.5.x (checked against 0.5.2) the mean of the pooled distances of
  both directions, i.e. the symmetric ASD above (equal to rounding, ~1e-13); in medpy
  <= 0.4.0 it was the average of the two directed means
  ``(asd(P, G) + asd(G, P)) / 2``, which equals the pooled mean only when both surfaces
  have the same number of voxels.
* every distance raises ``RuntimeError`` when either mask is empty.

Protocols (``protocol=`` of `evaluate_volume`, ``mona-lab evaluate --protocol``):

``"strict"`` (default, mona_lab's own): Dice and the pooled symmetric ASD, in mm when the
volume's spacing is known (NIfTI, phantom) and in voxels when it is not (SSL4MIS h5).
Empty masks, per class and volume:

==================  =======  ==========================================================
case                 Dice    ASD
==================  =======  ==========================================================
both empty           1.0     0.0 (a correct "absent")
one of them empty    0.0     the volume diagonal ``sqrt(sum(((n_i - 1) s_i)^2))``, the
                             largest distance two voxels of the volume can have
                             (``empty_asd="diagonal"``, default), or NaN with
                             ``empty_asd="nan"``
==================  =======  ==========================================================

``"paper"`` (reproduces the numbers of the papers' test scripts): the per-case metric of
the authors' public code, ``calculate_metric_percase`` in ``code/test_2D.py`` of the ARCO
repository (whose code base MONA shares) and of the ACTION repository (shared with
ACTION++), applied per class to ``prediction == c, label == c``:
medpy ``dc`` and ``asd(pred, gt)`` with no ``voxelspacing``, so the ASD is the directed
``ASD(P -> G)`` in voxels of the native grid (any known spacing is ignored), and

==================================  =======  =====
case                                 Dice    ASD
==================================  =======  =====
both non-empty                       dc      ``ASD(P -> G)``, voxels
prediction non-empty, truth empty    1.0     0.0
prediction empty (truth either)      0.0     0.0
==================================  =======  =====

so a missed structure gets a perfect distance, a false positive on an absent structure
scores Dice 1, and a correct "absent" (both empty) scores Dice 0. In the 20 ACDC
validation volumes every structure is present in the ground truth, so there only a missed
structure triggers these rules. The directed ASD is not the symmetric one: issue 12
measured 20-35 % differences in mean ASD on perturbed ACDC validation predictions and up
to 3x per case, so always say which protocol a number comes from. (ARCO's 3D LA script,
``test_util.py``, applies the same rule to an empty prediction. SSL4MIS's own
``test_2D_fully.py`` calls medpy without the empty-mask branches, so it stops on an empty
mask; its current training-time ``val_2D.py`` passes ``voxelspacing=[10, 1, 1]`` and scores
an empty mask as Dice 0 / ASD 10: neither is what the papers' tables use.)

Means: every mean here (over classes in `evaluate_volume`, over volumes and classes in
`summarise`) skips NaN (``np.nanmean``) and is NaN only when no value is defined; NaN
only ever arises with ``empty_asd="nan"``. `summarise` counts the skipped values per class
(``asd_undefined``) so they never disappear silently.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

EMPTY_ASD_CHOICES = ("diagonal", "nan")
PROTOCOL_CHOICES = ("strict", "paper")
PROTOCOL_DESCRIPTIONS = {
    "strict": "Dice and pooled symmetric ASD (mm when the spacing is known, else voxels); "
              "a class in only one mask: Dice 0, ASD = volume diagonal; both empty: Dice 1, ASD 0",
    "paper": "the papers' test scripts: medpy dc and directed asd(pred -> gt) in voxels; "
             "empty truth: Dice 1, ASD 0; empty prediction: Dice 0, ASD 0",
}
_CROSS_3D = ndimage.generate_binary_structure(3, 1)


# ----------------------------------------------------------------------------- validation
def _to_numpy(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, np.ndarray):
        return x
    try:
        return np.asarray(x)
    except Exception as err:  # noqa: BLE001 - report any conversion failure the same way
        raise ValueError(f"{name} must be a numpy array or torch tensor, got {type(x).__name__}") from err


def _as_label_volume(x: Any, name: str) -> np.ndarray:
    """Return ``x`` as an int64 ``[D, H, W]`` label volume or raise ``ValueError``."""
    arr = _to_numpy(x, name)
    if arr.ndim != 3:
        raise ValueError(
            f"{name} must be a 3D label volume [D, H, W] (stack 2D slices first), got shape {tuple(arr.shape)}"
        )
    if arr.dtype == np.bool_ or np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.int64, copy=False)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or not np.array_equal(arr, np.round(arr)):
            raise ValueError(
                f"{name} must hold integer class labels, got non-integral {arr.dtype} values "
                "(pass argmax of the logits, not probabilities)"
            )
        return arr.astype(np.int64)
    raise ValueError(f"{name} must hold integer class labels, got dtype {arr.dtype}")


def _check_num_classes(num_classes: Any) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2 (background + foreground), got {num_classes!r}")
    return int(num_classes)


def _check_pair(pred: Any, target: Any, num_classes: Any) -> tuple[np.ndarray, np.ndarray, int]:
    num_classes = _check_num_classes(num_classes)
    pred_arr = _as_label_volume(pred, "pred")
    target_arr = _as_label_volume(target, "target")
    if pred_arr.shape != target_arr.shape:
        raise ValueError(
            f"pred and target must have the same shape, got pred {tuple(pred_arr.shape)} "
            f"and target {tuple(target_arr.shape)}"
        )
    for name, arr in (("pred", pred_arr), ("target", target_arr)):
        if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
            raise ValueError(
                f"{name} labels must lie in [0, {num_classes - 1}] for num_classes={num_classes}, "
                f"got values in [{arr.min()}, {arr.max()}] (shape {tuple(arr.shape)})"
            )
    return pred_arr, target_arr, num_classes


def _check_spacing(spacing: Any) -> tuple[float, float, float]:
    if spacing is None:
        return (1.0, 1.0, 1.0)
    message = f"spacing must be three positive numbers (z, y, x) in mm, or None, got {spacing!r}"
    try:
        values = tuple(float(v) for v in np.asarray(_to_numpy(spacing, "spacing"), dtype=np.float64).ravel())
    except (TypeError, ValueError) as err:
        raise ValueError(message) from err
    if len(values) != 3 or not all(math.isfinite(v) and v > 0 for v in values):
        raise ValueError(message)
    return values  # type: ignore[return-value]


def _check_empty_asd(empty_asd: str) -> str:
    if empty_asd not in EMPTY_ASD_CHOICES:
        raise ValueError(f"empty_asd must be one of {EMPTY_ASD_CHOICES}, got {empty_asd!r}")
    return empty_asd


def check_protocol(protocol: Any) -> str:
    """Return ``protocol`` if it is one of `PROTOCOL_CHOICES`, else raise ``ValueError``."""
    if not isinstance(protocol, str) or protocol not in PROTOCOL_CHOICES:
        raise ValueError(f"protocol must be one of {PROTOCOL_CHOICES} (see mona_lab.metrics), got {protocol!r}")
    return protocol


# ----------------------------------------------------------------------------- Dice
def dice_per_class(pred: Any, target: Any, num_classes: int) -> np.ndarray:
    """Dice of every foreground class on one volume.

    ``Dice_c = 2 |P_c n G_c| / (|P_c| + |G_c|)``; 1.0 when class ``c`` is absent from both,
    0.0 when it is absent from exactly one (see the module docstring).

    Args:
        pred: predicted labels ``[D, H, W]``, integers in ``[0, num_classes)``
            (numpy array or torch tensor; integral floats are accepted).
        target: ground-truth labels ``[D, H, W]``, same shape and range.
        num_classes: number of classes including background (class 0).

    Returns:
        ``[num_classes - 1]`` float64 array, Dice of classes ``1 .. num_classes - 1``.

    Raises:
        ValueError: shapes differ, a volume is not 3D, labels are out of range or not
            integers, or ``num_classes < 2``.
    """
    pred_arr, target_arr, num_classes = _check_pair(pred, target, num_classes)
    confusion = np.bincount(
        (target_arr.ravel() * num_classes + pred_arr.ravel()), minlength=num_classes * num_classes
    ).reshape(num_classes, num_classes)
    overlap = np.diag(confusion)[1:].astype(np.float64)
    sizes = (confusion.sum(axis=0) + confusion.sum(axis=1))[1:].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        dice = np.where(sizes > 0, 2.0 * overlap / np.maximum(sizes, 1.0), 1.0)
    return dice


# ----------------------------------------------------------------------------- ASD
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
    sampling = _check_spacing(spacing)
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
    pred_arr, target_arr, _ = _check_pair(pred_mask, target_mask, 2)
    return _asd_binary(pred_arr.astype(bool), target_arr.astype(bool), _check_spacing(spacing),
                       _check_empty_asd(empty_asd))


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
    the module docstring, protocol ``"paper"``). It is not symmetric: a prediction that
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
    pred_arr, target_arr, _ = _check_pair(pred_mask, target_mask, 2)
    sampling = _check_spacing(spacing)
    for name, arr in (("pred_mask", pred_arr), ("target_mask", target_arr)):
        if not arr.any():
            raise ValueError(
                f"{name} is empty (shape {tuple(arr.shape)}): the directed surface distance is undefined; "
                "evaluate_volume(..., protocol='paper') applies the papers' empty-mask rules"
            )
    to_target, _ = _surface_distances(pred_arr.astype(bool), target_arr.astype(bool), sampling, symmetric=False)
    return float(to_target.mean())


def paper_scores_per_class(pred: Any, target: Any, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Dice and ASD of every foreground class as the papers' test scripts compute them.

    Per class ``c`` with ``P = pred == c``, ``G = target == c`` (module docstring, protocol
    ``"paper"``): both non-empty: Dice ``2 |P n G| / (|P| + |G|)`` (medpy ``dc``) and the
    directed ASD ``mean_{p in S(P)} d(p, S(G))`` in voxels (medpy ``asd(P, G)`` without
    spacing); ``P`` non-empty, ``G`` empty: Dice 1, ASD 0; ``P`` empty: Dice 0, ASD 0
    (also when ``G`` is empty).

    Args:
        pred: predicted labels ``[D, H, W]`` in ``[0, num_classes)``.
        target: ground-truth labels ``[D, H, W]``.
        num_classes: number of classes including background.

    Returns:
        ``(dice, asd)``, two ``[num_classes - 1]`` float64 arrays (ASD in voxels, never NaN).

    Raises:
        ValueError: see `dice_per_class`.
    """
    pred_arr, target_arr, num_classes = _check_pair(pred, target, num_classes)
    dice_all = dice_per_class(pred_arr, target_arr, num_classes)
    dice = np.zeros(num_classes - 1, dtype=np.float64)
    asd = np.zeros(num_classes - 1, dtype=np.float64)
    for k, c in enumerate(range(1, num_classes)):
        p, g = pred_arr == c, target_arr == c
        if not p.any():
            continue  # Dice 0, ASD 0 (missed structure, or both empty)
        if not g.any():
            dice[k] = 1.0  # ASD 0 (false positive on an absent structure)
            continue
        dice[k] = dice_all[k]
        to_target, _ = _surface_distances(p, g, (1.0, 1.0, 1.0), symmetric=False)
        asd[k] = float(to_target.mean())
    return dice, asd


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
    pred_arr, target_arr, num_classes = _check_pair(pred, target, num_classes)
    sampling = _check_spacing(spacing)
    empty_asd = _check_empty_asd(empty_asd)
    return np.array(
        [_asd_binary(pred_arr == c, target_arr == c, sampling, empty_asd) for c in range(1, num_classes)],
        dtype=np.float64,
    )


def _nanmean(values: Sequence[float] | np.ndarray) -> float:
    arr = np.asarray(values, dtype=np.float64)
    finite = arr[~np.isnan(arr)]
    return float(finite.mean()) if finite.size else float("nan")


def evaluate_volume(
    pred: Any,
    target: Any,
    num_classes: int,
    spacing: Sequence[float] | None = None,
    *,
    empty_asd: str | None = None,
    protocol: str = "strict",
) -> dict[str, Any]:
    """Dice and ASD of every foreground class of one volume, and their means over classes.

    Args:
        pred: predicted labels ``[D, H, W]``.
        target: ground-truth labels ``[D, H, W]``.
        num_classes: number of classes including background.
        spacing: voxel size ``(z, y, x)`` in mm, or None (voxel units). Checked under both
            protocols but used by ``"strict"`` only: ``"paper"`` measures in voxels, as the
            papers' scripts (they pass no spacing to medpy).
        empty_asd: ``"diagonal"`` (default) or ``"nan"``, the strict protocol's ASD for a
            class present in only one mask; must be None with ``protocol="paper"``.
        protocol: ``"strict"`` (default: symmetric ASD, mona_lab's empty-mask table) or
            ``"paper"`` (`paper_scores_per_class`); see the module docstring.

    Returns:
        ``{"dice": [C-1 floats], "asd": [C-1 floats], "mean_dice": float,
        "mean_asd": float, "pred_empty": [C-1 bools], "target_empty": [C-1 bools],
        "protocol": str, "asd_units": "mm" | "voxels"}``, plain Python values
        (JSON-friendly). Means skip NaN.

    Raises:
        ValueError: see `dice_per_class` and `asd_per_class`; also an unknown ``protocol``
            or ``empty_asd`` given with ``protocol="paper"``.
    """
    protocol = check_protocol(protocol)
    pred_arr, target_arr, num_classes = _check_pair(pred, target, num_classes)
    sampling = _check_spacing(spacing)
    if protocol == "paper":
        if empty_asd is not None:
            raise ValueError(
                f"empty_asd={empty_asd!r} applies to protocol='strict' only; protocol='paper' "
                "uses the papers' fixed empty-mask rules (see mona_lab.metrics)"
            )
        dice, asd = paper_scores_per_class(pred_arr, target_arr, num_classes)
        units = "voxels"
    else:
        dice = dice_per_class(pred_arr, target_arr, num_classes)
        asd = asd_per_class(pred_arr, target_arr, num_classes, sampling,
                            empty_asd="diagonal" if empty_asd is None else empty_asd)
        units = "voxels" if spacing is None else "mm"
    present_pred = np.bincount(pred_arr.ravel(), minlength=num_classes)[1:] > 0
    present_target = np.bincount(target_arr.ravel(), minlength=num_classes)[1:] > 0
    return {
        "dice": [float(v) for v in dice],
        "asd": [float(v) for v in asd],
        "mean_dice": _nanmean(dice),
        "mean_asd": _nanmean(asd),
        "pred_empty": [bool(not v) for v in present_pred],
        "target_empty": [bool(not v) for v in present_target],
        "protocol": protocol,
        "asd_units": units,
    }


PER_VOLUME_COLUMNS = ("volume", "class", "dice", "asd", "pred_empty", "target_empty")


def per_volume_rows(
    case_ids: Sequence[str], results: Sequence[dict[str, Any]], class_names: Sequence[str]
) -> list[dict[str, Any]]:
    """One row per volume and foreground class, to find the worst cases behind a mean.

    Args:
        case_ids: the ``N`` volume names, in the order of ``results``.
        results: the ``N`` per-volume dicts from `evaluate_volume`.
        class_names: the ``C-1`` foreground class names.

    Returns:
        ``N * (C-1)`` dicts with the keys `PER_VOLUME_COLUMNS` (``volume``, ``class``,
        ``dice``, ``asd``, ``pred_empty``, ``target_empty``), volume-major, in input order.

    Raises:
        ValueError: ``case_ids`` and ``results`` differ in length, or a result does not hold
            one value per class name.
    """
    if len(case_ids) != len(results):
        raise ValueError(f"got {len(case_ids)} case ids for {len(results)} results")
    names = [str(n) for n in class_names]
    rows = []
    for case, result in zip(case_ids, results):
        if any(len(result.get(key, ())) != len(names) for key in ("dice", "asd", "pred_empty", "target_empty")):
            raise ValueError(
                f"result of volume {case!r} does not hold one value per class for {names} "
                "(pass the evaluate_volume results and the foreground class names)"
            )
        for k, name in enumerate(names):
            rows.append({
                "volume": str(case), "class": name, "dice": float(result["dice"][k]), "asd": float(result["asd"][k]),
                "pred_empty": bool(result["pred_empty"][k]), "target_empty": bool(result["target_empty"][k]),
            })
    return rows


def per_volume_csv(rows: Sequence[dict[str, Any]]) -> str:
    """`per_volume_rows` as CSV text: header `PER_VOLUME_COLUMNS`, floats as Python ``repr``
    (round-trip exact; ``nan`` for undefined values), booleans as ``true``/``false``."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(PER_VOLUME_COLUMNS)
    for row in rows:
        writer.writerow([
            repr(row[c]) if isinstance(row[c], float) else str(row[c]).lower() if isinstance(row[c], bool) else row[c]
            for c in PER_VOLUME_COLUMNS
        ])
    return buffer.getvalue()


def summarise(results: Sequence[dict[str, Any]], class_names: Sequence[str]) -> dict[str, Any]:
    """Mean (and spread) of per-volume results over a data set split.

    Per class: mean and population standard deviation (``ddof=0``) over volumes of Dice
    and ASD, NaN values skipped and counted in ``asd_undefined``. Overall: the mean over
    classes of the per-class means (the "Avg" column of the papers' tables).

    Args:
        results: per-volume dicts from `evaluate_volume` (each with ``"dice"`` and
            ``"asd"`` lists of the same length ``C-1``).
        class_names: the ``C-1`` foreground class names, e.g. ``["RV", "Myo", "LV"]``.

    Returns:
        ``{"num_volumes": N, "per_class": {name: {"dice", "dice_std", "asd", "asd_std",
        "asd_undefined"}}, "mean_dice": float, "mean_asd": float}``, plain Python values.

    Raises:
        ValueError: empty ``results``, a result without ``dice``/``asd``, results of
            different lengths, or ``class_names`` of the wrong length.
    """
    if len(results) == 0:
        raise ValueError("results is empty: evaluate at least one volume before summarising")
    names = [str(n) for n in class_names]
    try:
        dice = np.array([[float(v) for v in r["dice"]] for r in results], dtype=np.float64)
        asd = np.array([[float(v) for v in r["asd"]] for r in results], dtype=np.float64)
    except (KeyError, TypeError) as err:
        raise ValueError("each result must be a dict from evaluate_volume with 'dice' and 'asd' lists") from err
    except ValueError as err:
        raise ValueError("results hold different numbers of classes; evaluate all with the same num_classes") from err
    if dice.ndim != 2 or asd.shape != dice.shape:
        raise ValueError(f"results must all hold the same number of classes, got dice {dice.shape}, asd {asd.shape}")
    if len(names) != dice.shape[1]:
        raise ValueError(
            f"class_names has {len(names)} names but the results hold {dice.shape[1]} foreground classes "
            "(name the foreground classes only, not background)"
        )
    per_class: dict[str, dict[str, float | int]] = {}
    for k, name in enumerate(names):
        dice_k, asd_k = dice[:, k], asd[:, k]
        dice_def, asd_def = dice_k[~np.isnan(dice_k)], asd_k[~np.isnan(asd_k)]
        per_class[name] = {
            "dice": float(dice_def.mean()) if dice_def.size else float("nan"),
            "dice_std": float(dice_def.std()) if dice_def.size else float("nan"),
            "asd": float(asd_def.mean()) if asd_def.size else float("nan"),
            "asd_std": float(asd_def.std()) if asd_def.size else float("nan"),
            "asd_undefined": int(asd_k.size - asd_def.size),
        }
    return {
        "num_volumes": len(results),
        "per_class": per_class,
        "mean_dice": _nanmean([per_class[n]["dice"] for n in names]),
        "mean_asd": _nanmean([per_class[n]["asd"] for n in names]),
    }


# ----------------------------------------------------------------------------- inference
def _working_size(image_size: Any) -> tuple[int, int]:
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        size = (int(image_size), int(image_size))
    elif isinstance(image_size, (tuple, list)) and len(image_size) == 2:
        size = (int(image_size[0]), int(image_size[1]))
    else:
        raise ValueError(f"image_size must be an int S or a pair (S_h, S_w), got {image_size!r}")
    if min(size) < 1:
        raise ValueError(f"image_size must be positive, got {image_size!r}")
    return size


def _default_device(model_fn: Any, image: Any) -> torch.device:
    if isinstance(model_fn, torch.nn.Module):
        for tensor in list(model_fn.parameters()) + list(model_fn.buffers()):
            return tensor.device
    if isinstance(image, torch.Tensor):
        return image.device
    return torch.device("cpu")


def predict_volume(
    model_fn: Callable[[torch.Tensor], torch.Tensor],
    image: Any,
    image_size: int | tuple[int, int],
    batch_size: int = 16,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Segment a volume slice by slice with a 2D model, as the papers evaluate ACDC.

    Each slice ``[H, W]`` is resized to the working size with bilinear interpolation
    (``align_corners=False``), the model runs on batches of slices, its logits are resized
    back to ``[H, W]`` bilinearly and the argmax is taken at the native size (so class
    boundaries are placed at native resolution rather than by upsampling a label map).
    The model runs under ``torch.no_grad()``; an ``nn.Module`` is switched to ``eval()``
    for the call and its previous mode restored afterwards. Intensity normalisation is
    the caller's job (SSL4MIS h5 images are already min-max scaled to [0, 1]).

    Args:
        model_fn: callable ``x [B, 1, S_h, S_w] -> logits [B, C, S_h, S_w]`` (a tensor;
            wrap models that return tuples, e.g. ``lambda x: net(x)[0]``).
        image: the volume ``[D, H, W]`` (numpy array or torch tensor, any real dtype).
        image_size: working size ``S`` or ``(S_h, S_w)`` the model was trained at.
        batch_size: slices per forward pass (results do not depend on it).
        device: where to run; default: the module's device when ``model_fn`` is an
            ``nn.Module``, else the image's device (CPU for numpy input).

    Returns:
        predicted labels ``[D, H, W]`` as an int64 numpy array.

    Raises:
        ValueError: ``image`` is not 3D, bad ``image_size``/``batch_size``, or the model's
            output is not a ``[B, C, S_h, S_w]`` tensor.
    """
    volume = image if isinstance(image, torch.Tensor) else torch.as_tensor(_to_numpy(image, "image"))
    if volume.ndim != 3:
        raise ValueError(f"image must be a volume [D, H, W], got shape {tuple(volume.shape)}")
    if not (volume.is_floating_point() or volume.dtype in (torch.uint8, torch.int16, torch.int32, torch.int64)):
        raise ValueError(f"image must hold real intensities, got dtype {volume.dtype}")
    size = _working_size(image_size)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    run_device = torch.device(device) if device is not None else _default_device(model_fn, image)
    depth, height, width = volume.shape
    was_training = isinstance(model_fn, torch.nn.Module) and model_fn.training
    if was_training:
        model_fn.eval()  # type: ignore[union-attr]
    predictions = []
    try:
        with torch.no_grad():
            for start in range(0, depth, int(batch_size)):
                x = volume[start:start + int(batch_size)].to(run_device, torch.float32).unsqueeze(1)
                if (height, width) != size:
                    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
                logits = model_fn(x)
                if not isinstance(logits, torch.Tensor) or logits.ndim != 4 or logits.shape[0] != x.shape[0] \
                        or tuple(logits.shape[2:]) != size:
                    got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
                    raise ValueError(
                        f"model_fn must map x {tuple(x.shape)} to logits [B, C, {size[0]}, {size[1]}], got {got}"
                    )
                if (height, width) != size:
                    logits = F.interpolate(logits.float(), size=(height, width), mode="bilinear",
                                           align_corners=False)
                predictions.append(logits.max(dim=1).indices.to("cpu", torch.int64))  # argmax; 30x faster on CPU
    finally:
        if was_training:
            model_fn.train()  # type: ignore[union-attr]
    if not predictions:
        return np.zeros((0, height, width), dtype=np.int64)
    return torch.cat(predictions).numpy()
