"""Dice per foreground class on one label volume ``[D, H, W]``.

``Dice = 2 |P n G| / (|P| + |G|)`` with ``P`` the predicted and ``G`` the ground-truth
mask of one class (the papers' DSC, printed in %); the empty-mask rules of the two
protocols are in the `mona_lab.metrics` package docstring.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from mona_lab.metrics.checks import check_pair


def dice_per_class(pred: Any, target: Any, num_classes: int) -> np.ndarray:
    """Dice of every foreground class on one volume.

    ``Dice_c = 2 |P_c n G_c| / (|P_c| + |G_c|)``; 1.0 when class ``c`` is absent from both,
    0.0 when it is absent from exactly one (see the `mona_lab.metrics` package docstring).

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
    pred_arr, target_arr, num_classes = check_pair(pred, target, num_classes)
    confusion = np.bincount(
        (target_arr.ravel() * num_classes + pred_arr.ravel()), minlength=num_classes * num_classes
    ).reshape(num_classes, num_classes)
    overlap = np.diag(confusion)[1:].astype(np.float64)
    sizes = (confusion.sum(axis=0) + confusion.sum(axis=1))[1:].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        dice = np.where(sizes > 0, 2.0 * overlap / np.maximum(sizes, 1.0), 1.0)
    return dice
