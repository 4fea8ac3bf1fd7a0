"""Sliding-window inference (mona_lab.metrics.sliding_window) against plain references.

Three references: a per-voxel model, for which the sliding window must equal one pass over
the whole volume; a loop over UA-MT's ``test_single_case`` arithmetic (numpy, one patch at a
time) for a model with a neighbourhood, where the overlap averaging matters; and a model that
records every window it sees, for coverage.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mona_lab.metrics.sliding_window import (
    scaled_stride,
    sliding_window_labels,
    sliding_window_predict,
    sliding_window_starts,
)
from mona_lab.models.vnet import VNet3D

pytestmark = pytest.mark.usefixtures("single_thread")


def per_voxel(x: torch.Tensor) -> torch.Tensor:
    """Logits that depend on each voxel alone: [B, 1, ...] -> [B, 3, ...]."""
    return torch.cat([x, -x, 0.3 * x**2 - 1.0], dim=1)


def neighbourhood(x: torch.Tensor) -> torch.Tensor:
    """Logits from a 3x3x3 box mean with zero padding: differ near each window's edge."""
    mean = F.avg_pool3d(x, 3, stride=1, padding=1)
    return torch.cat([mean, x - mean], dim=1)


def ua_mt_reference(model_fn, image: np.ndarray, patch, stride, num_classes) -> np.ndarray:
    """UA-MT's test_single_case (code/test_util.py) in [D, H, W] order, one patch at a time."""
    pads = [max(p - n, 0) for n, p in zip(image.shape, patch)]
    padded = np.pad(image, [(q // 2, q - q // 2) for q in pads], mode="constant", constant_values=0)
    dd, hh, ww = padded.shape
    steps = [math.ceil((n - p) / s) + 1 for n, p, s in zip(padded.shape, patch, stride)]
    score = np.zeros((num_classes, dd, hh, ww), np.float32)
    cnt = np.zeros((dd, hh, ww), np.float32)
    for i in range(steps[0]):
        zs = min(stride[0] * i, dd - patch[0])
        for j in range(steps[1]):
            ys = min(stride[1] * j, hh - patch[1])
            for k in range(steps[2]):
                xs = min(stride[2] * k, ww - patch[2])
                window = padded[zs:zs + patch[0], ys:ys + patch[1], xs:xs + patch[2]]
                y = torch.softmax(model_fn(torch.from_numpy(window)[None, None]), dim=1)[0].numpy()
                score[:, zs:zs + patch[0], ys:ys + patch[1], xs:xs + patch[2]] += y
                cnt[zs:zs + patch[0], ys:ys + patch[1], xs:xs + patch[2]] += 1
    score /= cnt[None]
    d0, h0, w0 = (q // 2 for q in pads)
    return score[:, d0:d0 + image.shape[0], h0:h0 + image.shape[1], w0:w0 + image.shape[2]]


SHAPES = [((13, 17, 19), (8, 8, 8), (3, 4, 5)),  # strides that do not divide the slack
          ((5, 17, 6), (8, 8, 8), (4, 4, 4)),  # two axes shorter than the patch: padded
          ((8, 8, 8), (8, 8, 8), (2, 2, 2)),  # exactly one window
          ((9, 12, 10), (4, 6, 5), (4, 6, 5))]  # stride == patch: no overlap


@pytest.mark.parametrize("shape, patch, stride", SHAPES)
def test_per_voxel_model_equals_one_pass_over_the_whole_volume(shape, patch, stride) -> None:
    image = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    probs = sliding_window_predict(per_voxel, image, patch, stride, 3)
    whole = torch.softmax(per_voxel(image[None, None]), dim=1)[0].numpy()
    assert probs.shape == (3, *shape) and probs.dtype == np.float32
    np.testing.assert_allclose(probs, whole, atol=1e-6)
    np.testing.assert_array_equal(sliding_window_labels(per_voxel, image.numpy(), patch, stride, 3), whole.argmax(0))


@pytest.mark.parametrize("shape, patch, stride", SHAPES)
def test_overlap_averaging_matches_ua_mt_test_single_case(shape, patch, stride) -> None:
    image = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    expected = ua_mt_reference(neighbourhood, image.numpy(), patch, stride, 2)
    for batch_size in (1, 4):
        got = sliding_window_predict(neighbourhood, image[None], patch, stride, 2, batch_size=batch_size)
        np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_allclose(got.sum(0), 1.0, atol=1e-6)


def test_every_voxel_is_covered_and_the_last_window_is_flush_with_the_end() -> None:
    shape, patch, stride = (11, 21, 30), (6, 8, 8), (4, 5, 7)
    image = torch.arange(1, 1 + math.prod(shape), dtype=torch.float32).reshape(shape)
    seen: list[tuple[int, int, int]] = []

    def recorder(x: torch.Tensor) -> torch.Tensor:
        for window in x[:, 0]:
            flat = int(window[0, 0, 0].item()) - 1
            d, rest = divmod(flat, shape[1] * shape[2])
            seen.append((d, *divmod(rest, shape[2])))
        return torch.zeros(x.shape[0], 2, *x.shape[2:])

    sliding_window_predict(recorder, image, patch, stride, 2, batch_size=5)
    coverage = np.zeros(shape, int)
    for a, b, c in seen:
        coverage[a:a + 6, b:b + 8, c:c + 8] += 1
    assert coverage.min() >= 1
    assert len(seen) == len(set(seen)) == math.prod(math.ceil((n - p) / s) + 1 for n, p, s in zip(shape, patch, stride))
    assert max(s[0] for s in seen) == 11 - 6 and max(s[1] for s in seen) == 21 - 8 and max(s[2] for s in seen) == 30 - 8


def test_window_starts_step_by_the_stride_and_end_flush() -> None:
    assert sliding_window_starts(10, 4, 3) == [0, 3, 6]
    assert sliding_window_starts(11, 4, 3) == [0, 3, 6, 7]
    assert sliding_window_starts(4, 4, 3) == [0]
    # the LA literature at full size: an axis of 140 voxels, patch 112, stride 18
    assert sliding_window_starts(140, 112, 18) == [0, 18, 28]
    with pytest.raises(ValueError, match="length 3, patch 4"):
        sliding_window_starts(3, 4, 1)


def test_module_runs_in_eval_without_grad_and_gets_its_mode_back() -> None:
    class Probe(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv3d(1, 2, kernel_size=1)
            self.calls: list[tuple[bool, bool]] = []

        def forward(self, x):
            self.calls.append((self.training, torch.is_grad_enabled()))
            return SimpleNamespace(logits=self.conv(x))  # like VNet3D's BackboneOutput

    model = Probe().train()
    probs = sliding_window_predict(model, np.zeros((9, 9, 9), np.float32), 8, 4, 2)
    assert probs.shape == (2, 9, 9, 9)
    assert model.training and model.calls and set(model.calls) == {(False, False)}


def test_vnet3d_on_a_volume_smaller_and_larger_than_the_patch() -> None:
    torch.manual_seed(0)
    net = VNet3D(base_filters=2).eval()
    image = torch.randn(12, 40, 35)  # D shorter than the patch, H and W longer
    labels = sliding_window_labels(net, image, (16, 32, 32), (8, 16, 16), 2)
    assert labels.shape == (12, 40, 35) and labels.dtype == np.int64 and set(np.unique(labels)) <= {0, 1}


def test_bad_arguments_and_outputs_are_refused_with_the_shapes() -> None:
    image = torch.zeros(9, 9, 9)
    with pytest.raises(ValueError, match=r"stride \(5, 5, 5\) must not exceed patch_size \(4, 4, 4\)"):
        sliding_window_predict(per_voxel, image, 4, 5, 3)
    with pytest.raises(ValueError, match=r"logits \[1, 2, 4, 4, 4\], got \(1, 3, 4, 4, 4\)"):
        sliding_window_predict(per_voxel, image, 4, 2, 2)
    with pytest.raises(ValueError, match=r"\[D, H, W\] or \[1, D, H, W\], got shape \(9, 9\)"):
        sliding_window_predict(per_voxel, image[0], 4, 2, 3)
    with pytest.raises(ValueError, match="patch_size must be"):
        sliding_window_predict(per_voxel, image, (4, 4), 2, 3)
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        sliding_window_predict(per_voxel, image, 4, 2, 0)


def test_scaled_stride_keeps_the_papers_overlap() -> None:
    assert scaled_stride((80, 112, 112)) == (4, 18, 18)  # the LA setting itself
    assert scaled_stride((40, 56, 56)) == (2, 9, 9)  # half size
    assert scaled_stride((48, 64, 64)) == (2, 10, 10)  # 2.4 -> 2, 10.29 -> 10
    assert scaled_stride((8, 8, 8)) == (1, 1, 1)  # 0.4 -> at least 1
    assert scaled_stride((70, 70, 70)) == (4, 11, 11)  # 3.5 rounds half up; 11.25 -> 11
    # the papers' own (x, y, z) order works when all three are given in it
    assert scaled_stride((56, 56, 40), (112, 112, 80), (18, 18, 4)) == (9, 9, 2)
    with pytest.raises(ValueError, match="patch_size must be"):
        scaled_stride((0, 56, 56))
