"""The papers' per-class scores: the metric of their public test scripts (protocol ``"paper"``).

``calculate_metric_percase`` of the ARCO and ACTION repositories (``code/test_2D.py``),
medpy ``dc`` and the directed ``asd(pred, gt)`` in voxels, with their empty-mask rules;
see the `mona_lab.metrics` package docstring for the table and how it differs from
mona_lab's ``"strict"`` protocol.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from mona_lab.metrics.checks import check_pair
from mona_lab.metrics.dice import dice_per_class
from mona_lab.metrics.surface_distance import _surface_distances


def paper_scores_per_class(pred: Any, target: Any, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Dice and ASD of every foreground class as the papers' test scripts compute them.

    Per class ``c`` with ``P = pred == c``, ``G = target == c`` (`mona_lab.metrics` package docstring,
    protocol ``"paper"``): both non-empty: Dice ``2 |P n G| / (|P| + |G|)`` (medpy ``dc``) and the
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
    pred_arr, target_arr, num_classes = check_pair(pred, target, num_classes)
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
