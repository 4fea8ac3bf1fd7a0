"""Scoring a data set split: one volume under a protocol, per-volume rows and CSV, and the summary.

`evaluate_volume` scores one predicted volume against its ground truth under the
``"strict"`` or ``"paper"`` protocol (`mona_lab.metrics` package docstring);
`per_volume_rows` / `per_volume_csv` list every volume and class, to find the worst
cases behind a mean; `summarise` averages over volumes per class, then over classes
(the "Avg" column of the papers' tables).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mona_lab.metrics.checks import check_pair, check_spacing, check_protocol
from mona_lab.metrics.dice import dice_per_class
from mona_lab.metrics.paper_protocol import paper_scores_per_class
from mona_lab.metrics.surface_distance import asd_per_class


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
            ``"paper"`` (`paper_scores_per_class`); see the `mona_lab.metrics` package docstring.

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
    pred_arr, target_arr, num_classes = check_pair(pred, target, num_classes)
    sampling = check_spacing(spacing)
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
    """`per_volume_rows` as CSV text: header `PER_VOLUME_COLUMNS` (then any further keys of
    the first row, e.g. the LA rows' ``jaccard`` and ``hd95``), floats as Python ``repr``
    (round-trip exact; ``nan`` for undefined values), booleans as ``true``/``false``."""
    import csv
    import io

    columns = list(PER_VOLUME_COLUMNS) + [k for k in (rows[0] if rows else {}) if k not in PER_VOLUME_COLUMNS]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([
            repr(row[c]) if isinstance(row[c], float) else str(row[c]).lower() if isinstance(row[c], bool) else row[c]
            for c in columns
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
