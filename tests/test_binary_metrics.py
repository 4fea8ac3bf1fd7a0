"""The LA literature's four scores (mona_lab.metrics.binary_metrics) against medpy, their reference.

The papers' test scripts call ``medpy.metric.binary`` ``dc``, ``jc``, ``hd95`` and ``asd`` with
no spacing; `binary_scores` must give the same numbers. Tolerance: relative 1e-9 (the same
surfaces and the same exact Euclidean distance transform; only float summation order differs).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mona_lab.metrics.binary_metrics import BINARY_SCORE_NAMES, binary_scores

binary = pytest.importorskip("medpy.metric.binary", reason="medpy (the reference) is in the test extra")

pytestmark = pytest.mark.usefixtures("single_thread")
RTOL = 1e-9


def medpy_scores(pred: np.ndarray, gt: np.ndarray, spacing=None) -> dict[str, float]:
    """calculate_metric_percase of UA-MT / ACTION(++)'s test_util.py (with optional spacing)."""
    return {
        "dice": binary.dc(pred, gt),
        "jaccard": binary.jc(pred, gt),
        "hd95": binary.hd95(pred, gt, voxelspacing=spacing),
        "asd": binary.asd(pred, gt, voxelspacing=spacing),
    }


def _ball(shape, centre, radius) -> np.ndarray:
    grid = np.indices(shape)
    return sum((g - c) ** 2 for g, c in zip(grid, centre)) <= radius**2


def _structured_pairs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    shape = (24, 28, 32)
    shifted_box_p, shifted_box_g = np.zeros(shape, bool), np.zeros(shape, bool)
    shifted_box_p[4:14, 5:20, 6:22] = True
    shifted_box_g[6:16, 5:22, 3:20] = True
    border_p, border_g = np.zeros(shape, bool), np.zeros(shape, bool)
    border_p[0:10, 0:12, 20:32] = True  # touches the array's edge: a surface on the cut
    border_g[0:12, 2:14, 18:32] = True
    plate, blob = np.zeros(shape, bool), _ball(shape, (12, 14, 16), 6)
    plate[12, 4:24, 4:28] = True
    voxel = np.zeros(shape, bool)
    voxel[3, 3, 3] = True
    return {
        "offset balls": (_ball(shape, (11, 13, 15), 7), _ball(shape, (13, 15, 17), 6)),
        "shifted boxes": (shifted_box_p, shifted_box_g),
        "on the border": (border_p, border_g),
        "plate vs ball": (plate, blob),
        "far single voxel vs ball": (voxel, blob),
        "identical": (blob, blob.copy()),
    }


@pytest.mark.parametrize("name", list(_structured_pairs()))
def test_structured_masks_match_medpy(name: str) -> None:
    pred, gt = _structured_pairs()[name]
    ours, ref = binary_scores(pred, gt), medpy_scores(pred, gt)
    assert tuple(ours) == BINARY_SCORE_NAMES
    for key in BINARY_SCORE_NAMES:
        assert ours[key] == pytest.approx(ref[key], rel=RTOL, abs=1e-12), (name, key)


@pytest.mark.parametrize("seed, density", [(0, 0.05), (1, 0.3), (2, 0.7)])
def test_random_masks_match_medpy(seed: int, density: float) -> None:
    rng = np.random.default_rng(seed)
    shape = (18, 21, 25)
    pred, gt = rng.random(shape) < density, rng.random(shape) < density
    ours, ref = binary_scores(pred.astype(np.uint8), gt.astype(np.uint8)), medpy_scores(pred, gt)
    for key in BINARY_SCORE_NAMES:
        assert ours[key] == pytest.approx(ref[key], rel=RTOL, abs=1e-12), key


def test_anisotropic_spacing_matches_medpy_voxelspacing() -> None:
    pred, gt = _structured_pairs()["offset balls"]
    spacing = (2.5, 0.625, 0.8)
    ours, ref = binary_scores(pred, gt, spacing), medpy_scores(pred, gt, spacing)
    for key in BINARY_SCORE_NAMES:
        assert ours[key] == pytest.approx(ref[key], rel=RTOL), key
    assert ours["hd95"] != pytest.approx(binary_scores(pred, gt)["hd95"])  # spacing is not ignored


def test_asd_is_directed_from_the_prediction_as_in_the_papers() -> None:
    pred, gt = _structured_pairs()["far single voxel vs ball"]
    forward, backward = binary_scores(pred, gt)["asd"], binary_scores(gt, pred)["asd"]
    assert forward == pytest.approx(binary.asd(pred, gt), rel=RTOL)
    assert backward == pytest.approx(binary.asd(gt, pred), rel=RTOL)
    assert forward != pytest.approx(backward) and forward != pytest.approx(binary.assd(pred, gt))


def test_empty_masks_follow_the_stated_conventions_where_medpy_raises() -> None:
    empty, blob = np.zeros((10, 12, 14), bool), _ball((10, 12, 14), (5, 6, 7), 3)
    with pytest.raises(RuntimeError):
        binary.hd95(empty, blob)
    assert binary_scores(empty, empty) == {"dice": 1.0, "jaccard": 1.0, "hd95": 0.0, "asd": 0.0}
    diagonal = math.sqrt(9**2 + 11**2 + 13**2)
    for pred, gt in ((empty, blob), (blob, empty)):
        scores = binary_scores(pred, gt)
        assert (scores["dice"], scores["jaccard"]) == (0.0, 0.0)
        assert scores["hd95"] == pytest.approx(diagonal) and scores["asd"] == pytest.approx(diagonal)
        nan = binary_scores(pred, gt, empty_asd="nan")
        assert math.isnan(nan["hd95"]) and math.isnan(nan["asd"]) and nan["dice"] == 0.0


def test_torch_tensors_and_bad_inputs() -> None:
    pred, gt = _structured_pairs()["shifted boxes"]
    assert binary_scores(torch.from_numpy(pred), torch.from_numpy(gt)) == binary_scores(pred, gt)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 1\]"):
        binary_scores(pred.astype(np.int64) * 2, gt)
    with pytest.raises(ValueError, match=r"same shape.*\(24, 28, 32\).*\(24, 28, 31\)"):
        binary_scores(pred, gt[..., :-1])
    with pytest.raises(ValueError, match=r"3D label volume"):
        binary_scores(pred[0], gt[0])
    with pytest.raises(ValueError, match="empty_asd"):
        binary_scores(pred, gt, empty_asd="zero")
