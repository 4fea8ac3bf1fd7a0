"""The ranges of the two views: `WeakAugmentConfig` (teacher) and `StrongAugmentConfig` (student).

MONA (paper 001, Implementation Details and Sec. IV-F, Table IV) names the augmentations of
each view but gives no ranges; the defaults below are mona_lab's choices, documented on
each field. Both configs check their fields when built and raise `ValueError` on a bad one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class WeakAugmentConfig:
    """Ranges of the weak (teacher) view: rotation, crop, flip.

    Attributes:
        rotation_degrees: angle drawn uniformly from ``[-r, r]`` (20 degrees: the SSL4MIS
            random-rotation range used by this family of methods).
        crop_scale: side of the random square-in-normalised-units crop as a fraction of
            the image side, uniform in the range; the crop is resized back to the full
            size and lies inside the image before rotation.
        flip_prob: probability of a horizontal (left-right) flip.
        image_fill: value of image pixels that come from outside the image.
        label_fill: label of those pixels (0 = background; use -1 to ignore them).
    """

    rotation_degrees: float = 20.0
    crop_scale: tuple[float, float] = (0.8, 1.0)
    flip_prob: float = 0.5
    image_fill: float = 0.0
    label_fill: int = 0

    def __post_init__(self) -> None:
        _check_range("crop_scale", self.crop_scale, 0.0, 1.0, open_low=True)
        _check_prob("flip_prob", self.flip_prob)
        if self.rotation_degrees < 0:
            raise ValueError(f"rotation_degrees must be >= 0, got {self.rotation_degrees}")


@dataclass(frozen=True)
class StrongAugmentConfig(WeakAugmentConfig):
    """Ranges of the strong (student) view: the weak ones plus intensity, CutMix, deformation.

    Attributes:
        contrast_range: factor ``c``: ``x <- mean + c (x - mean)`` per sample, applied
            with probability ``contrast_prob``.
        brightness_range: offset ``b`` added per sample (image units; ACDC images are in
            [0, 1]), applied with probability ``brightness_prob``.
        cutmix_prob: probability that a sample receives a box from another sample.
        cutmix_area: box area as a fraction of the image, uniform in the range.
        cutmix_aspect: box height/width ratio, log-uniform in the range.
        deformation_prob: probability of a diffeomorphic deformation.
        deformation_std: standard deviation of the stationary velocity field at the
            control points, as a fraction of the shorter image side (0.02 ~ 5 px at 256).
        deformation_control_points: control grid size per axis; the velocity is sampled
            there and up-sampled bicubically, so fewer points = smoother deformation.
        integration_steps: scaling-and-squaring steps N (the velocity is divided by
            2**N and the field composed with itself N times).
        deformation_downsample: the velocity is sampled and integrated on a grid this
            many times coarser than the image (never coarser than twice the control
            grid), then the displacement is up-sampled bilinearly; the field is smooth
            at that scale, and integration costs a quarter as much at the default 2 (the
            displacement then differs from a full-resolution integration by about
            0.05 px on average, under 0.5 px at most).
    """

    contrast_range: tuple[float, float] = (0.75, 1.25)
    contrast_prob: float = 0.8
    brightness_range: tuple[float, float] = (-0.1, 0.1)
    brightness_prob: float = 0.8
    cutmix_prob: float = 0.5
    cutmix_area: tuple[float, float] = (0.05, 0.3)
    cutmix_aspect: tuple[float, float] = (0.5, 2.0)
    deformation_prob: float = 0.5
    deformation_std: float = 0.02
    deformation_control_points: int = 8
    integration_steps: int = 7
    deformation_downsample: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_range("contrast_range", self.contrast_range, 0.0, math.inf)
        _check_range("brightness_range", self.brightness_range, -math.inf, math.inf)
        _check_range("cutmix_area", self.cutmix_area, 0.0, 1.0)
        _check_range("cutmix_aspect", self.cutmix_aspect, 0.0, math.inf, open_low=True)
        for name in ("contrast_prob", "brightness_prob", "cutmix_prob", "deformation_prob"):
            _check_prob(name, getattr(self, name))
        if self.deformation_std < 0:
            raise ValueError(f"deformation_std must be >= 0, got {self.deformation_std}")
        if self.deformation_control_points < 2:
            raise ValueError(f"deformation_control_points must be >= 2, got {self.deformation_control_points}")
        if self.integration_steps < 0:
            raise ValueError(f"integration_steps must be >= 0, got {self.integration_steps}")
        if self.deformation_downsample < 1:
            raise ValueError(f"deformation_downsample must be >= 1, got {self.deformation_downsample}")


def _check_prob(name: str, p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {p}")


def _check_range(name: str, r, low: float, high: float, open_low: bool = False) -> None:
    ok = len(r) == 2 and r[0] <= r[1] and r[1] <= high and (r[0] > low if open_low else r[0] >= low)
    if not ok:
        bracket = "(" if open_low else "["
        raise ValueError(f"{name} must be (lo, hi) with lo <= hi inside {bracket}{low}, {high}], got {r}")
