"""Argument checks of the metrics: label volumes, class counts, spacings and the protocol switch.

Every check returns the value in the form the metrics use (an int64 ``[D, H, W]`` array,
a float spacing triple, ...) or raises ``ValueError`` with a message that names the
offending shape or value. The protocols themselves are described in the `mona_lab.metrics`
package docstring.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

EMPTY_ASD_CHOICES = ("diagonal", "nan")
PROTOCOL_CHOICES = ("strict", "paper")
PROTOCOL_DESCRIPTIONS = {
    "strict": "Dice and pooled symmetric ASD (mm when the spacing is known, else voxels); "
              "a class in only one mask: Dice 0, ASD = volume diagonal; both empty: Dice 1, ASD 0",
    "paper": "the papers' test scripts: medpy dc and directed asd(pred -> gt) in voxels; "
             "empty truth: Dice 1, ASD 0; empty prediction: Dice 0, ASD 0",
}


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


def check_pair(pred: Any, target: Any, num_classes: Any) -> tuple[np.ndarray, np.ndarray, int]:
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


def check_spacing(spacing: Any) -> tuple[float, float, float]:
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


def check_empty_asd(empty_asd: str) -> str:
    if empty_asd not in EMPTY_ASD_CHOICES:
        raise ValueError(f"empty_asd must be one of {EMPTY_ASD_CHOICES}, got {empty_asd!r}")
    return empty_asd


def check_protocol(protocol: Any) -> str:
    """Return ``protocol`` if it is one of `PROTOCOL_CHOICES`, else raise ``ValueError``."""
    if not isinstance(protocol, str) or protocol not in PROTOCOL_CHOICES:
        raise ValueError(f"protocol must be one of {PROTOCOL_CHOICES} (see mona_lab.metrics), got {protocol!r}")
    return protocol
