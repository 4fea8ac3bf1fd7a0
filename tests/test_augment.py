"""Weak / strong views, spatial transforms, diffeomorphic deformation and CutMix."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mona_lab.augment import (
    SpatialTransform,
    StrongAugmentConfig,
    WeakAugmentConfig,
    affine_matrix,
    integrate_velocity,
    jacobian_determinant,
    sample_deformation,
    sample_spatial_transform,
    sample_velocity,
    strong_view,
    weak_view,
)

pytestmark = pytest.mark.usefixtures("single_thread")


NO_WEAK = WeakAugmentConfig(rotation_degrees=0.0, crop_scale=(1.0, 1.0), flip_prob=0.0)
NO_STRONG = StrongAugmentConfig(
    rotation_degrees=0.0, crop_scale=(1.0, 1.0), flip_prob=0.0, contrast_prob=0.0, brightness_prob=0.0,
    cutmix_prob=0.0, deformation_prob=0.0,
)


def batch(b=4, h=32, w=24, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(b, 1, h, w, generator=g)
    labels = torch.randint(0, classes, (b, h, w), generator=g)
    return images, labels


def gen(seed):
    return torch.Generator().manual_seed(seed)


def test_zero_ranges_give_the_identity():
    x, y = batch()
    for view in (weak_view(x, y, gen(0), NO_WEAK), strong_view(x, y, gen(0), NO_STRONG)):
        torch.testing.assert_close(view.images, x, rtol=0, atol=1e-6)
        assert torch.equal(view.labels, y)
        assert view.valid_mask.all()


@settings(max_examples=8)
@given(seed=st.integers(0, 2**31 - 1), strong=st.booleans())
def test_labels_stay_in_the_label_set(seed, strong):
    x, y = batch(seed=seed % 1000)
    y[y == 2] = 7  # a sparse label set {0, 1, 3, 7}
    fn = strong_view if strong else weak_view
    view = fn(x, y, gen(seed))
    assert set(view.labels.unique().tolist()) <= {0, 1, 3, 7}
    assert view.labels.dtype == y.dtype and view.images.shape == x.shape


def test_views_are_deterministic_under_a_generator():
    x, y = batch()
    a = strong_view(x, y, gen(5))
    b = strong_view(x, y, gen(5))
    c = strong_view(x, y, gen(6))
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.allclose(a.images, c.images)


def test_one_hot_labels_move_like_labels():
    x, y = batch(classes=4)
    view = strong_view(x, y, gen(1), StrongAugmentConfig(deformation_prob=1.0, cutmix_prob=1.0))
    one_hot = F.one_hot(y, 4).permute(0, 3, 1, 2).float()
    moved_nearest = view.apply_to_outputs(one_hot, mode="nearest")
    valid = view.valid_mask
    assert torch.equal(moved_nearest.argmax(1)[valid], view.labels[valid])
    assert torch.equal(moved_nearest, F.one_hot(view.labels, 4).permute(0, 3, 1, 2).float() * valid[:, None])
    moved_bilinear = view.apply_to_outputs(one_hot, mode="bilinear")
    agree = (moved_bilinear.argmax(1) == view.labels)[valid].float().mean()
    assert agree > 0.6  # random labels: bilinear only differs where the nearest pixel is a tie


def test_spatial_transform_commutes_with_pixelwise_maps():
    """Equivariance bookkeeping: T(f(x)) == f(T(x)) for a per-pixel f (nearest sampling)."""
    x, _ = batch()
    t = sample_spatial_transform(4, (32, 24), gen(2), StrongAugmentConfig(deformation_prob=1.0))
    f = lambda z: torch.cat([torch.sigmoid(3 * z), z**2], dim=1)  # noqa: E731
    valid = t.valid_mask()[:, None].expand(-1, 2, -1, -1)
    assert valid.any() and not valid.all()
    torch.testing.assert_close(t.apply(f(x), mode="nearest")[valid], f(t.apply(x, mode="nearest"))[valid])


def test_horizontal_flip_and_quarter_turn_are_exact():
    x, y = batch(h=16, w=16)
    flip = weak_view(x, y, gen(0), WeakAugmentConfig(rotation_degrees=0.0, crop_scale=(1.0, 1.0), flip_prob=1.0))
    torch.testing.assert_close(flip.images, x.flip(-1), rtol=0, atol=1e-6)
    assert torch.equal(flip.labels, y.flip(-1))
    ones = torch.ones(4)
    theta = affine_matrix(ones * math.pi / 2, ones, torch.zeros(4, 2), torch.zeros(4, dtype=torch.bool), (16, 16))
    turned = SpatialTransform(theta, (16, 16))
    assert torch.equal(turned.apply_labels(y), torch.rot90(y, k=1, dims=(1, 2)))
    torch.testing.assert_close(turned.apply(x), torch.rot90(x, k=1, dims=(2, 3)), rtol=0, atol=1e-5)


def test_rotation_is_rigid_on_non_square_images():
    h, w = 20, 40
    t = sample_spatial_transform(6, (h, w), gen(3), WeakAugmentConfig(rotation_degrees=45.0, crop_scale=(0.5, 1.0)))
    g = t.grid()
    gx, gy = g[..., 0] * w / 2, g[..., 1] * h / 2  # isotropic pixel units
    step_x = torch.hypot(gx[:, :, 1:] - gx[:, :, :-1], gy[:, :, 1:] - gy[:, :, :-1])
    step_y = torch.hypot(gx[:, 1:] - gx[:, :-1], gy[:, 1:] - gy[:, :-1])
    scale = torch.linalg.det(t.theta[:, :, :2]).abs().sqrt()  # = crop side fraction
    torch.testing.assert_close(step_x, scale.view(-1, 1, 1).expand_as(step_x), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(step_y, scale.view(-1, 1, 1).expand_as(step_y), rtol=1e-4, atol=1e-4)
    assert ((scale >= 0.5 - 1e-6) & (scale <= 1 + 1e-6)).all()


def test_pixels_from_outside_get_the_fill_values():
    x, y = batch(h=32, w=32)
    cfg = WeakAugmentConfig(rotation_degrees=45.0, crop_scale=(1.0, 1.0), flip_prob=0.0, image_fill=-3.0, label_fill=-1)
    view = weak_view(x + 1.0, y, gen(4), cfg)
    outside = ~view.valid_mask
    assert outside.any()  # rotated corners
    assert (view.images[:, 0][outside] == -3.0).all() and (view.images[:, 0][view.valid_mask] >= 1.0).all()
    assert (view.labels[outside] == -1).all() and (view.labels[view.valid_mask] >= 0).all()


def test_intensity_changes_do_not_move_pixels():
    x, y = batch()
    cfg = StrongAugmentConfig(
        rotation_degrees=0.0, crop_scale=(1.0, 1.0), flip_prob=0.0, cutmix_prob=0.0, deformation_prob=0.0,
        contrast_prob=1.0, brightness_prob=1.0, contrast_range=(0.5, 1.5), brightness_range=(-0.2, 0.2),
    )
    view = strong_view(x, y, gen(7), cfg)
    assert torch.equal(view.labels, y)
    c, b = view.intensity.contrast.view(-1, 1, 1, 1), view.intensity.brightness.view(-1, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    torch.testing.assert_close(view.images, mean + c * (x - mean) + b)
    assert not torch.allclose(c, torch.ones_like(c))


def test_scaling_and_squaring_gives_a_diffeomorphism():
    for size, seed in (((64, 64), 0), ((48, 80), 1)):
        cfg = StrongAugmentConfig(deformation_prob=1.0, deformation_std=0.04)
        velocity = sample_velocity(8, size, gen(seed), cfg, None)
        disp = integrate_velocity(velocity, steps=7)
        assert disp.shape == (8, *size, 2)
        assert jacobian_determinant(disp).min() > 0  # no folding anywhere
        # the same velocity used directly as a displacement folds: integration matters
        assert jacobian_determinant(velocity.permute(0, 2, 3, 1)).min() < 0
        # invertible: exp(-v) o exp(v) is close to the identity (sub-pixel)
        back = integrate_velocity(-velocity, steps=7)
        base = torch.zeros(1, *size, 2)
        grid = base + disp + SpatialTransform.identity(1, size).grid()
        composed = disp + F.grid_sample(back.permute(0, 3, 1, 2), grid, align_corners=False,
                                        padding_mode="border").permute(0, 2, 3, 1)
        pixel = torch.tensor([size[1] / 2, size[0] / 2])
        inner = (slice(None), slice(8, -8), slice(8, -8))
        error = (composed * pixel)[inner].norm(dim=-1)
        assert error.mean() < 0.1 and error.max() < 1.0
        assert (disp * pixel).abs().max() > 1.0  # and it did move pixels


def test_default_deformation_never_folds():
    for seed, size in ((0, (64, 64)), (1, (256, 256)), (2, (96, 160))):
        t = sample_spatial_transform(8, size, gen(seed), StrongAugmentConfig(deformation_prob=1.0))
        assert jacobian_determinant(t.displacement).min() > 0


def test_coarse_integration_matches_full_resolution():
    size = (128, 128)
    full = sample_deformation(4, size, gen(9), StrongAugmentConfig(deformation_prob=1.0, deformation_downsample=1))
    coarse = sample_deformation(4, size, gen(9), StrongAugmentConfig(deformation_prob=1.0))
    pixels = torch.tensor([64.0, 64.0])
    assert (full * pixels).abs().max() > 2.0
    error = ((full - coarse) * pixels).norm(dim=-1)
    assert error.mean() < 0.1 and error.max() < 0.6


def test_cutmix_box_is_a_rectangle_from_another_sample():
    x, y = batch(b=5, h=32, w=40)
    cfg = StrongAugmentConfig(cutmix_prob=1.0, cutmix_area=(0.1, 0.3), deformation_prob=0.0,
                              contrast_prob=0.0, brightness_prob=0.0)
    view = strong_view(x, y, gen(8), cfg)
    cm = view.cutmix
    moved_x = view.transform.apply(x)
    moved_y = view.transform.apply_labels(y)
    for i in range(5):
        top, left, hh, ww = cm.boxes[i].tolist()
        box = torch.zeros(32, 40, dtype=torch.bool)
        box[top:top + hh, left:left + ww] = True
        assert torch.equal(cm.mask[i], box)
        assert 0.1 * 32 * 40 * 0.8 <= hh * ww <= 0.3 * 32 * 40 * 1.2
        j = int(cm.source_index[i])
        assert j != i
        assert torch.equal(view.images[i, 0][box], moved_x[j, 0][box])
        assert torch.equal(view.images[i, 0][~box], moved_x[i, 0][~box])
        assert torch.equal(view.labels[i][box], moved_y[j][box])
    assert sorted(cm.source_index.tolist()) == list(range(5))


def test_cutmix_on_a_batch_of_one_is_a_no_op():
    x, y = batch(b=1)
    view = strong_view(x, y, gen(0), StrongAugmentConfig(cutmix_prob=1.0))
    assert not view.cutmix.mask.any()


def test_dtype_and_device_follow_the_input():
    x, y = batch()
    view = strong_view(x.double(), y, gen(0))
    assert view.images.dtype == torch.float64 and view.images.device == x.device
    assert view.valid_mask.dtype == torch.bool and view.valid_mask.shape == y.shape


def test_bad_shapes_raise_value_errors():
    x, y = batch()
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        weak_view(x[:, 0], y)
    with pytest.raises(ValueError, match="do not match"):
        weak_view(x, y[:, :-1])
    with pytest.raises(ValueError, match="integer"):
        strong_view(x, y.float())
    t = SpatialTransform.identity(4, (32, 24))
    with pytest.raises(ValueError, match="does not match the transform"):
        t.apply(torch.rand(4, 1, 32, 32))
    with pytest.raises(ValueError, match="crop_scale"):
        WeakAugmentConfig(crop_scale=(0.5, 1.5))
    with pytest.raises(ValueError, match="cutmix_prob"):
        StrongAugmentConfig(cutmix_prob=2.0)
