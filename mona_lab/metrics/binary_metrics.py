"""The LA literature's four scores of a binary 3D segmentation: Dice, Jaccard, 95HD and ASD.

UA-MT (``code/test_util.py``, ``calculate_metric_percase``), SASSNet, DTC, SS-Net, ACTION and
ACTION++ (paper 004, Sec. 3, Table 1) score each LA volume with medpy, no voxel spacing, so the
distances are in voxels::

    dc(pred, gt), jc(pred, gt), hd95(pred, gt), asd(pred, gt)

With ``P`` the predicted mask, ``G`` the ground truth and ``S(X)`` the surface (voxels with a
6-neighbour outside ``X``, outside the array counting as background; `mona_lab.metrics`
package docstring):

* Dice ``2 |P n G| / (|P| + |G|)``; Jaccard ``|P n G| / |P u G|``;
* 95HD: the 95th percentile (``np.percentile``, linear interpolation) of the pooled
  distances ``{d(p, S(G)) : p in S(P)} u {d(g, S(P)) : g in S(G)}`` (medpy ``hd95``);
* ASD: the *directed* mean ``mean_{p in S(P)} d(p, S(G))`` (medpy ``asd(pred, gt)``, what
  the tables call ASD; not the symmetric ASD of the ``"strict"`` protocol).

The distances reuse `mona_lab.metrics.surface_distance` (same surfaces and
``distance_transform_edt`` as medpy), in voxels, or in mm with ``spacing``.

Empty masks (medpy raises ``RuntimeError`` for a distance there), following the ``"strict"``
protocol and ``empty_asd`` of `mona_lab.metrics.checks`:

=================  ===============  =====================================================
case               Dice, Jaccard    95HD, ASD
=================  ===============  =====================================================
both empty         1.0, 1.0         0.0, 0.0 (a correct "absent")
one of them empty  0.0, 0.0         the volume diagonal (``empty_asd="diagonal"``,
                                    default) or NaN (``empty_asd="nan"``)
=================  ===============  =====================================================

UA-MT's ``test_all_case`` instead scores an empty prediction as (0, 0, 0, 0), i.e. perfect
distances for a missed atrium; every LA label holds the atrium, so only an empty prediction
ever meets these rules there, and a table that averages such a case should say which rule.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mona_lab.metrics.checks import check_empty_asd, check_pair, check_spacing
from mona_lab.metrics.surface_distance import _surface_distances, volume_diagonal

BINARY_SCORE_NAMES = ("dice", "jaccard", "hd95", "asd")


def binary_scores(
    pred: Any,
    target: Any,
    spacing: Sequence[float] | None = None,
    *,
    empty_asd: str = "diagonal",
) -> dict[str, float]:
    """Dice, Jaccard, 95HD and directed ASD of a binary prediction against its label (module docstring).

    Args:
        pred: predicted mask ``[D, H, W]``, bool or 0/1 (numpy array or torch tensor).
        target: ground-truth mask, same shape.
        spacing: voxel size ``(z, y, x)`` in mm; None (default) for voxel units, as the LA
            literature reports.
        empty_asd: ``"diagonal"`` or ``"nan"``: 95HD and ASD when exactly one mask is empty.

    Returns:
        ``{"dice", "jaccard", "hd95", "asd"}`` (`BINARY_SCORE_NAMES`) as floats; Dice and
        Jaccard are fractions in [0, 1] (the papers print %).

    Raises:
        ValueError: masks that are not 3D, shapes that differ, values other than 0/1, bad
            ``spacing`` or ``empty_asd``.
    """
    pred_arr, target_arr, _ = check_pair(pred, target, 2)
    sampling = check_spacing(spacing)
    empty_asd = check_empty_asd(empty_asd)
    p, g = pred_arr.astype(bool), target_arr.astype(bool)
    p_any, g_any = bool(p.any()), bool(g.any())
    if not p_any and not g_any:
        return {"dice": 1.0, "jaccard": 1.0, "hd95": 0.0, "asd": 0.0}
    if p_any != g_any:
        far = volume_diagonal(p.shape, sampling) if empty_asd == "diagonal" else float("nan")
        return {"dice": 0.0, "jaccard": 0.0, "hd95": far, "asd": far}
    overlap = int(np.count_nonzero(p & g))
    size_p, size_g = int(np.count_nonzero(p)), int(np.count_nonzero(g))
    to_target, to_pred = _surface_distances(p, g, sampling, symmetric=True)
    return {
        "dice": 2.0 * overlap / (size_p + size_g),
        "jaccard": overlap / (size_p + size_g - overlap),
        "hd95": float(np.percentile(np.concatenate([to_target, to_pred]), 95)),
        "asd": float(to_target.mean()),
    }
