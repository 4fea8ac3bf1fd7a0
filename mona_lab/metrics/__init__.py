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

The package, one idea per module (every name is re-exported here):

- `mona_lab.metrics.dice`: `dice_per_class`;
- `mona_lab.metrics.surface_distance`: surfaces, `average_symmetric_surface_distance`,
  `average_surface_distance`, `asd_per_class`, `volume_diagonal`;
- `mona_lab.metrics.paper_protocol`: `paper_scores_per_class`, the papers' per-case metric;
- `mona_lab.metrics.evaluation`: `evaluate_volume` (the protocol switch), `per_volume_rows`,
  `per_volume_csv`, `summarise`;
- `mona_lab.metrics.prediction`: `predict_volume`, slice-by-slice inference;
- `mona_lab.metrics.sliding_window`: `sliding_window_predict`, `sliding_window_labels`,
  `sliding_window_starts`, `scaled_stride`, 3D sliding-window inference (UA-MT's
  ``test_util.py``, the LA setting);
- `mona_lab.metrics.binary_metrics`: `binary_scores` (`BINARY_SCORE_NAMES`), the LA
  literature's Dice, Jaccard, 95HD and directed ASD of a binary mask, in voxels;
- `mona_lab.metrics.window_scores`: `volume_window_scores` (sliding window, probabilities
  back on the native grid, `binary_scores` per class), `summarise_window_scores`,
  `to_native_grid`, `LA_PROTOCOL` / `LA_PROTOCOL_DESCRIPTION`: the LA evaluation;
- `mona_lab.metrics.checks`: argument checks, `PROTOCOL_CHOICES`, `check_protocol`;
- `mona_lab.metrics.paired`: `paired_interval`, a paired difference over seeds with its t interval.
"""
from mona_lab.metrics.binary_metrics import BINARY_SCORE_NAMES, binary_scores
from mona_lab.metrics.checks import (
    EMPTY_ASD_CHOICES,
    PROTOCOL_CHOICES,
    PROTOCOL_DESCRIPTIONS,
    check_protocol,
)
from mona_lab.metrics.dice import dice_per_class
from mona_lab.metrics.evaluation import (
    PER_VOLUME_COLUMNS,
    evaluate_volume,
    per_volume_csv,
    per_volume_rows,
    summarise,
)
from mona_lab.metrics.paired import paired_interval
from mona_lab.metrics.paper_protocol import paper_scores_per_class
from mona_lab.metrics.prediction import predict_volume
from mona_lab.metrics.sliding_window import (
    scaled_stride,
    sliding_window_labels,
    sliding_window_predict,
    sliding_window_starts,
)
from mona_lab.metrics.window_scores import (
    LA_PROTOCOL,
    LA_PROTOCOL_DESCRIPTION,
    summarise_window_scores,
    to_native_grid,
    volume_window_scores,
)
from mona_lab.metrics.surface_distance import (
    asd_per_class,
    average_surface_distance,
    average_symmetric_surface_distance,
    volume_diagonal,
)

__all__ = [
    "BINARY_SCORE_NAMES",
    "EMPTY_ASD_CHOICES",
    "LA_PROTOCOL",
    "LA_PROTOCOL_DESCRIPTION",
    "PER_VOLUME_COLUMNS",
    "PROTOCOL_CHOICES",
    "PROTOCOL_DESCRIPTIONS",
    "asd_per_class",
    "average_surface_distance",
    "average_symmetric_surface_distance",
    "binary_scores",
    "check_protocol",
    "dice_per_class",
    "evaluate_volume",
    "paired_interval",
    "paper_scores_per_class",
    "per_volume_csv",
    "per_volume_rows",
    "predict_volume",
    "scaled_stride",
    "sliding_window_labels",
    "sliding_window_predict",
    "sliding_window_starts",
    "summarise",
    "summarise_window_scores",
    "to_native_grid",
    "volume_diagonal",
    "volume_window_scores",
]
