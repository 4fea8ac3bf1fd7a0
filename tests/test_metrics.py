"""Dice / ASD on 3D volumes, checked against hand counts, analytic shapes and an independent
brute-force surface distance (neighbour shifts + k-d tree) written here in the test."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage
from scipy.spatial import cKDTree

from mona_lab.metrics import (
    asd_per_class,
    average_symmetric_surface_distance,
    dice_per_class,
    evaluate_volume,
    predict_volume,
    summarise,
    volume_diagonal,
)


# ----------------------------------------------------------------------------- references
def reference_surface_points(mask: np.ndarray, spacing=(1.0, 1.0, 1.0)) -> np.ndarray:
    """Physical coordinates of voxels with a face neighbour outside the mask (by shifting)."""
    padded = np.pad(mask.astype(bool), 1, constant_values=False)
    inner = padded[1:-1, 1:-1, 1:-1]
    all_neighbours_inside = np.ones_like(inner)
    for axis in range(3):
        for step in (-1, 1):
            shifted = np.roll(padded, step, axis=axis)[1:-1, 1:-1, 1:-1]
            all_neighbours_inside &= shifted
    surface = inner & ~all_neighbours_inside
    return np.argwhere(surface) * np.asarray(spacing, dtype=float)


def reference_asd(a: np.ndarray, b: np.ndarray, spacing=(1.0, 1.0, 1.0)) -> float:
    """Pooled symmetric surface distance by nearest-neighbour queries on point sets."""
    pa, pb = reference_surface_points(a, spacing), reference_surface_points(b, spacing)
    d_ab, _ = cKDTree(pb).query(pa)
    d_ba, _ = cKDTree(pa).query(pb)
    return float((d_ab.sum() + d_ba.sum()) / (len(pa) + len(pb)))


def ball(shape, centre, radius) -> np.ndarray:
    grid = np.indices(shape, dtype=float)
    dist = np.sqrt(sum((g - c) ** 2 for g, c in zip(grid, centre)))
    return dist <= radius


def cube(shape, start, side) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[tuple(slice(s, s + side) for s in start)] = True
    return mask


# ----------------------------------------------------------------------------- Dice
def test_dice_matches_hand_count():
    pred = np.zeros((1, 3, 4), dtype=np.int64)
    target = np.zeros((1, 3, 4), dtype=np.int64)
    pred[0, 0, :3] = 1  # 3 voxels of class 1
    target[0, 0, 1:4] = 1  # 3 voxels, 2 overlapping -> 2*2/(3+3)
    pred[0, 2, :] = 2  # 4 voxels of class 2
    target[0, 2, :2] = 2  # 2 voxels, 2 overlapping -> 2*2/(4+2)
    np.testing.assert_allclose(dice_per_class(pred, target, 3), [4 / 6, 4 / 6])
    target[0, 2, :] = 2
    target[0, 1, 0] = 2  # 5 voxels, 4 overlapping -> 8/9
    np.testing.assert_allclose(dice_per_class(pred, target, 4), [4 / 6, 8 / 9, 1.0])


def test_identical_masks_give_dice_one_and_asd_zero():
    target = np.zeros((12, 14, 16), dtype=np.int64)
    target[ball(target.shape, (6, 7, 8), 4)] = 1
    target[cube(target.shape, (1, 1, 1), 3)] = 2
    result = evaluate_volume(target, target.copy(), 3, spacing=(3.0, 0.7, 0.7))
    assert result["dice"] == [1.0, 1.0]
    assert result["asd"] == [0.0, 0.0]


# ----------------------------------------------------------------------------- ASD
@pytest.mark.parametrize("r1, r2", [(6.0, 10.0), (4.0, 11.0)])
def test_concentric_spheres_asd_is_radius_gap(r1, r2):
    shape = (27, 27, 27)
    inner, outer = ball(shape, (13, 13, 13), r1), ball(shape, (13, 13, 13), r2)
    asd = average_symmetric_surface_distance(inner, outer)
    assert abs(asd - (r2 - r1)) < 0.6, asd  # voxelised spheres: within a voxel-ish of the gap
    assert asd == pytest.approx(reference_asd(inner, outer), rel=1e-9)


@pytest.mark.parametrize("spacing", [None, (1.0, 1.0, 1.0), (2.5, 0.8, 1.3)])
@pytest.mark.parametrize("axis, k", [(2, 1), (2, 3), (0, 2), (1, 5)])
def test_shifted_cubes_match_brute_force(spacing, axis, k):
    shape = (16, 18, 20)
    a = cube(shape, (3, 4, 5), 6)
    start = [3, 4, 5]
    start[axis] += k
    b = cube(shape, tuple(start), 6)
    expected = reference_asd(a, b, spacing if spacing is not None else (1.0, 1.0, 1.0))
    pred = a.astype(np.int64)
    target = b.astype(np.int64)
    assert asd_per_class(pred, target, 2, spacing)[0] == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_single_voxels_shifted_have_exact_distance(axis):
    # a single voxel is its own surface: ASD = k * spacing[axis] exactly
    spacing = (2.5, 0.8, 1.3)
    a = np.zeros((9, 9, 9), dtype=np.int64)
    b = np.zeros_like(a)
    a[4, 4, 4] = 1
    idx = [4, 4, 4]
    idx[axis] += 3
    b[tuple(idx)] = 1
    assert asd_per_class(a, b, 2, spacing)[0] == pytest.approx(3 * spacing[axis])
    assert asd_per_class(a, b, 2)[0] == pytest.approx(3.0)


def test_asd_scales_with_isotropic_spacing():
    shape = (20, 20, 20)
    a = ball(shape, (9, 10, 10), 5).astype(np.int64)
    b = cube(shape, (6, 7, 9), 7).astype(np.int64)
    base = asd_per_class(a, b, 2)[0]
    assert base > 0.5
    for s in (0.5, 2.0, 3.7):
        assert asd_per_class(a, b, 2, (s, s, s))[0] == pytest.approx(s * base, rel=1e-12)


def test_anisotropic_spacing_changes_asd_along_that_axis_only():
    shape = (14, 14, 14)
    a = cube(shape, (4, 4, 4), 5)
    b = cube(shape, (4, 4, 6), 5)  # shifted along x only
    base = average_symmetric_surface_distance(a, b)
    # stretching z (the axis without the shift) does not shrink distances along x
    assert average_symmetric_surface_distance(a, b, (3.0, 1.0, 1.0)) >= base - 1e-12
    assert average_symmetric_surface_distance(a, b, (1.0, 1.0, 2.0)) == pytest.approx(
        reference_asd(a, b, (1.0, 1.0, 2.0)), rel=1e-9
    )


def test_structures_touching_the_volume_border_have_a_surface_there():
    a = np.zeros((4, 6, 6), dtype=bool)
    a[:, 1:5, 1:5] = True  # fills the whole depth: first/last slices are surface caps
    b = np.zeros_like(a)
    b[:, 2:4, 2:4] = True
    assert average_symmetric_surface_distance(a, b) == pytest.approx(reference_asd(a, b), rel=1e-9)


mask_strategy = arrays(np.bool_, (4, 5, 6), elements=st.booleans())


@settings(max_examples=25)
@given(a=mask_strategy, b=mask_strategy, sz=st.sampled_from([1.0, 2.0]), sx=st.sampled_from([0.5, 1.0]))
def test_asd_equals_brute_force_and_is_symmetric_on_random_masks(a, b, sz, sx):
    spacing = (sz, 1.0, sx)
    if a.any() and b.any():
        got = average_symmetric_surface_distance(a, b, spacing)
        assert got == pytest.approx(reference_asd(a, b, spacing), rel=1e-9, abs=1e-12)
        assert got == pytest.approx(average_symmetric_surface_distance(b, a, spacing), rel=1e-12)
    dice = dice_per_class(a.astype(np.int64), b.astype(np.int64), 2)[0]
    assert 0.0 <= dice <= 1.0
    assert dice == dice_per_class(b.astype(np.int64), a.astype(np.int64), 2)[0]


# ----------------------------------------------------------------------------- empty masks
def test_empty_conventions():
    shape = (5, 6, 7)
    empty = np.zeros(shape, dtype=np.int64)
    present = empty.copy()
    present[1:3, 2:4, 2:5] = 1
    diagonal = math.sqrt((4 * 2.0) ** 2 + (5 * 0.5) ** 2 + (6 * 0.5) ** 2)
    assert volume_diagonal(shape, (2.0, 0.5, 0.5)) == pytest.approx(diagonal)

    both = evaluate_volume(empty, empty, 2, (2.0, 0.5, 0.5))
    assert both["dice"] == [1.0] and both["asd"] == [0.0]
    assert both["pred_empty"] == [True] and both["target_empty"] == [True]

    for pred, target in ((empty, present), (present, empty)):
        one = evaluate_volume(pred, target, 2, (2.0, 0.5, 0.5))
        assert one["dice"] == [0.0]
        assert one["asd"] == [pytest.approx(diagonal)]
        nan = evaluate_volume(pred, target, 2, (2.0, 0.5, 0.5), empty_asd="nan")
        assert nan["dice"] == [0.0] and math.isnan(nan["asd"][0]) and math.isnan(nan["mean_asd"])


def test_missed_structure_never_scores_better_than_a_poor_hit():
    # the public SSL4MIS convention (ASD 0 for an empty prediction) would fail this
    target = np.zeros((10, 24, 24), dtype=np.int64)
    target[2:8, 4:12, 4:12] = 1
    poor = np.zeros_like(target)
    poor[2:8, 14:22, 14:22] = 1  # far away, no overlap
    missed = np.zeros_like(target)
    assert asd_per_class(missed, target, 2)[0] > asd_per_class(poor, target, 2)[0] > 0


def test_means_skip_nan_classes():
    target = np.zeros((6, 8, 8), dtype=np.int64)
    target[1:4, 1:4, 1:4] = 1
    target[2:5, 5:8, 5:8] = 2
    pred = target.copy()
    pred[pred == 2] = 0  # class 2 missed
    result = evaluate_volume(pred, target, 3, empty_asd="nan")
    assert result["asd"][0] == 0.0 and math.isnan(result["asd"][1])
    assert result["mean_asd"] == 0.0  # NaN skipped
    assert result["mean_dice"] == pytest.approx(0.5)


# ----------------------------------------------------------------------------- inputs
def test_torch_and_numpy_inputs_agree_and_float_labels_are_accepted():
    target = np.zeros((6, 10, 10), dtype=np.uint8)
    target[1:5, 2:7, 2:6] = 1
    target[2:4, 6:9, 5:9] = 2
    pred = np.roll(target, 1, axis=2).astype(np.int64)
    from_numpy = evaluate_volume(pred, target, 3)
    from_torch = evaluate_volume(torch.from_numpy(pred), torch.from_numpy(target.astype(np.int64)), 3)
    from_float = evaluate_volume(pred.astype(np.float64), target.astype(np.float32), 3)  # e.g. nibabel get_fdata
    assert from_numpy == from_torch == from_float


def test_bad_inputs_raise_value_error_naming_the_problem():
    a = np.zeros((4, 5, 6), dtype=np.int64)
    with pytest.raises(ValueError, match=r"\(4, 5, 6\).*\(4, 5, 7\)"):
        dice_per_class(a, np.zeros((4, 5, 7), dtype=np.int64), 2)
    with pytest.raises(ValueError, match=r"target labels must lie in \[0, 2\].*\[0, 3\]"):
        bad = a.copy()
        bad[0, 0, 0] = 3
        asd_per_class(a, bad, 3)
    with pytest.raises(ValueError, match="pred labels"):
        bad = a.copy()
        bad[0, 0, 0] = -1
        evaluate_volume(bad, a, 3)
    with pytest.raises(ValueError, match=r"3D label volume.*\(5, 6\)"):
        dice_per_class(a[0], a[0], 2)
    with pytest.raises(ValueError, match="non-integral"):
        dice_per_class(a + 0.5, a, 2)
    with pytest.raises(ValueError, match="num_classes"):
        dice_per_class(a, a, 1)
    with pytest.raises(ValueError, match="spacing"):
        asd_per_class(a, a, 2, spacing=(1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="spacing"):
        asd_per_class(a, a, 2, spacing=(1.0, 1.0))
    with pytest.raises(ValueError, match="empty_asd"):
        asd_per_class(a, a, 2, empty_asd="zero")


# ----------------------------------------------------------------------------- summarise
def test_summarise_means_and_json_round_trip():
    r1 = {"dice": [0.8, 0.6], "asd": [1.0, 3.0]}
    r2 = {"dice": [0.6, 1.0], "asd": [2.0, float("nan")]}
    summary = summarise([r1, r2], ["RV", "LV"])
    assert summary["num_volumes"] == 2
    assert summary["per_class"]["RV"]["dice"] == pytest.approx(0.7)
    assert summary["per_class"]["RV"]["dice_std"] == pytest.approx(0.1)
    assert summary["per_class"]["LV"]["asd"] == pytest.approx(3.0)
    assert summary["per_class"]["LV"]["asd_undefined"] == 1
    assert summary["mean_dice"] == pytest.approx((0.7 + 0.8) / 2)
    assert summary["mean_asd"] == pytest.approx((1.5 + 3.0) / 2)
    assert json.loads(json.dumps(summary)) == summary
    assert all(type(v) is float for v in summary["per_class"]["RV"].values() if not isinstance(v, int))


def test_summarise_of_evaluate_volume_results():
    target = np.zeros((6, 10, 10), dtype=np.int64)
    target[1:5, 2:7, 2:6] = 1
    results = [evaluate_volume(target, target, 2), evaluate_volume(np.roll(target, 2, axis=1), target, 2)]
    summary = summarise(results, ["LV"])
    assert summary["per_class"]["LV"]["dice"] == pytest.approx((1.0 + results[1]["dice"][0]) / 2)
    assert summary["mean_asd"] == pytest.approx(results[1]["asd"][0] / 2)
    json.dumps(summary)


def test_summarise_rejects_bad_input():
    with pytest.raises(ValueError, match="empty"):
        summarise([], ["RV"])
    with pytest.raises(ValueError, match="class_names has 3 names.*2 foreground"):
        summarise([{"dice": [1.0, 1.0], "asd": [0.0, 0.0]}], ["bg", "RV", "LV"])
    with pytest.raises(ValueError, match="different numbers of classes|same number"):
        summarise([{"dice": [1.0], "asd": [0.0]}, {"dice": [1.0, 1.0], "asd": [0.0, 0.0]}], ["RV"])


# ----------------------------------------------------------------------------- predict_volume
def _level_model(num_classes: int):
    """A 'model' whose logits pick the class whose level c/(C-1) is nearest to the pixel."""
    levels = torch.linspace(0.0, 1.0, num_classes).view(1, num_classes, 1, 1)
    seen = []

    def model_fn(x: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(x.shape))
        return -(x - levels.to(x.device)) ** 2

    return model_fn, seen


def test_predict_volume_resizes_runs_slicewise_and_restores_native_size():
    rng = np.random.default_rng(0)
    labels = np.zeros((5, 40, 36), dtype=np.int64)
    labels[:, 8:30, 6:20] = 1
    labels[:, 12:26, 22:32] = 2
    labels[2, 20:36, 4:12] = 3
    image = labels / 3.0 + rng.normal(0, 0.01, labels.shape)
    model_fn, seen = _level_model(4)
    pred = predict_volume(model_fn, image.astype(np.float32), image_size=24, batch_size=2)
    assert pred.shape == labels.shape and pred.dtype == np.int64
    assert seen == [(2, 1, 24, 24), (2, 1, 24, 24), (1, 1, 24, 24)]
    # resizing only blurs class boundaries: every pixel 2+ native pixels away from a
    # boundary (in-plane) is labelled correctly, and overlap stays high
    footprint = np.ones((1, 5, 5), dtype=bool)
    near_boundary = ndimage.maximum_filter(labels, footprint=footprint) != ndimage.minimum_filter(
        labels, footprint=footprint
    )
    assert np.array_equal(pred[~near_boundary], labels[~near_boundary])
    assert dice_per_class(pred, labels, 4).min() > 0.8
    # results do not depend on the batch size; same working size as native is exact
    assert np.array_equal(pred, predict_volume(model_fn, torch.from_numpy(image).float(), 24, batch_size=5))
    exact = predict_volume(model_fn, image, image_size=(40, 36), batch_size=3)
    assert np.array_equal(exact, labels)


def test_predict_volume_uses_eval_mode_and_restores_training_mode():
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3, padding=1), torch.nn.BatchNorm2d(3))
    net.train()
    modes = []
    net.register_forward_pre_hook(lambda module, args: modes.append(module.training))
    before = net[1].running_mean.clone()
    pred = predict_volume(net, np.random.default_rng(1).random((3, 10, 12)), image_size=8)
    assert modes and not any(modes)
    assert net.training and torch.equal(before, net[1].running_mean)
    assert pred.shape == (3, 10, 12) and pred.max() <= 2


def test_predict_volume_rejects_bad_model_output_and_bad_image():
    image = np.zeros((2, 8, 8), dtype=np.float32)
    with pytest.raises(ValueError, match=r"logits \[B, C, 8, 8\].*\(2, 3, 4, 4\)"):
        predict_volume(lambda x: torch.zeros(x.shape[0], 3, 4, 4), image, image_size=8)
    with pytest.raises(ValueError, match="tuple"):
        predict_volume(lambda x: (x, x), image, image_size=8)
    with pytest.raises(ValueError, match=r"\[D, H, W\].*\(8, 8\)"):
        predict_volume(lambda x: x, image[0], image_size=8)
    with pytest.raises(ValueError, match="image_size"):
        predict_volume(lambda x: x, image, image_size=(8,))


def test_reference_surface_agrees_with_erosion_definition():
    # sanity check of the test's own reference: shifted-neighbour surface == mask minus erosion
    mask = ball((11, 11, 11), (5, 5, 5), 4) | cube((11, 11, 11), (0, 0, 0), 3)
    eroded = ndimage.binary_erosion(mask, ndimage.generate_binary_structure(3, 1), border_value=0)
    assert np.array_equal(
        np.argwhere(mask & ~eroded).astype(float), reference_surface_points(mask)
    )
