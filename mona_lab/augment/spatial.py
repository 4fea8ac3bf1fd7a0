"""Geometric transforms of a batch: `SpatialTransform` and its random affine part.

Every geometric change of a view is a `SpatialTransform`: per-sample affine matrices plus
an optional displacement field (`mona_lab.augment.deformation`), i.e. one sampling grid per
sample. The same object moves images (bilinear), labels (nearest) and network outputs
(logits / probabilities), which is what the equivariance loss needs (paper 001 Eq. 6:
compare ``T(F(x))`` with ``F(T(x))``), and it reports which output pixels came from inside
the image (`SpatialTransform.valid_mask`).

The affine part is the weak view's rotation, crop and horizontal flip (MONA,
Implementation Details): `affine_matrix` builds it, `sample_affine` draws it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from mona_lab.augment._random import draw_uniform
from mona_lab.augment.configs import WeakAugmentConfig

INTERPOLATION_MODES = ("bilinear", "nearest", "bicubic")


def identity_grid(height: int, width: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Pixel-centre sampling grid of the identity, ``[1, H, W, 2]`` (x, y) in [-1, 1]
    (``align_corners=False`` convention of ``grid_sample``)."""
    xs = (2 * torch.arange(width, device=device, dtype=dtype) + 1) / width - 1
    ys = (2 * torch.arange(height, device=device, dtype=dtype) + 1) / height - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy], dim=-1).unsqueeze(0)


@dataclass
class SpatialTransform:
    """A batch of geometric transforms, one sampling grid per sample.

    Output pixel ``p`` (normalised coordinates) takes the input value at
    ``theta[b] @ [p + displacement[b, p], 1]``: the deformation acts in the output frame,
    then the affine part (rotation, crop, flip) maps to the input frame.

    Attributes:
        theta: ``[B, 2, 3]`` affine matrices (``affine_grid`` convention, normalised
            coordinates, ``align_corners=False``).
        displacement: ``[B, H, W, 2]`` displacement in normalised (x, y) units, or None.
        size: ``(H, W)`` of the images the transform was made for.
    """

    theta: torch.Tensor
    size: tuple[int, int]
    displacement: torch.Tensor | None = None
    _grid: torch.Tensor | None = field(default=None, repr=False, compare=False)
    _valid: torch.Tensor | None = field(default=None, repr=False, compare=False)

    @classmethod
    def identity(cls, batch: int, size: tuple[int, int], device=None) -> SpatialTransform:
        """The transform that leaves every sample unchanged."""
        theta = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], device=device).expand(batch, 2, 3).clone()
        return cls(theta, (int(size[0]), int(size[1])))

    @property
    def batch_size(self) -> int:
        return int(self.theta.shape[0])

    @property
    def device(self) -> torch.device:
        return self.theta.device

    def to(self, device) -> SpatialTransform:
        disp = None if self.displacement is None else self.displacement.to(device)
        return SpatialTransform(self.theta.to(device), self.size, disp)

    def grid(self) -> torch.Tensor:
        """Sampling grid ``[B, H, W, 2]`` for ``grid_sample`` (cached)."""
        if self._grid is None:
            h, w = self.size
            points = identity_grid(h, w, self.theta.device).expand(self.batch_size, h, w, 2)
            if self.displacement is not None:
                points = points + self.displacement
            linear, shift = self.theta[:, :, :2], self.theta[:, :, 2]
            self._grid = torch.einsum("bij,bhwj->bhwi", linear, points) + shift[:, None, None, :]
        return self._grid

    def valid_mask(self) -> torch.Tensor:
        """``[B, H, W]`` bool: True where the output pixel samples inside the input image."""
        if self._valid is None:
            self._valid = (self.grid().abs() <= 1.0 + 1e-6).all(dim=-1)
        return self._valid

    def _check(self, x: torch.Tensor, name: str) -> None:
        if x.shape[0] != self.batch_size or tuple(x.shape[-2:]) != self.size:
            raise ValueError(
                f"{name} of shape {tuple(x.shape)} does not match the transform "
                f"(batch {self.batch_size}, size {self.size})"
            )

    def apply(self, x: torch.Tensor, mode: str = "bilinear", fill: float = 0.0) -> torch.Tensor:
        """Resample ``x`` ``[B, C, H, W]`` (or ``[B, H, W]``) through the transform.

        Pixels that come from outside the image get ``fill``; inside, edge values are
        extended by half a pixel (``padding_mode="border"``) so the image border is not
        darkened. Works for images, one-hot labels, logits and probabilities.

        Raises:
            ValueError: wrong batch / spatial size, rank, or an unknown ``mode``.
        """
        if mode not in INTERPOLATION_MODES:
            raise ValueError(f"mode must be one of {INTERPOLATION_MODES}, got {mode!r}")
        if x.dim() not in (3, 4):
            raise ValueError(f"apply expects [B, C, H, W] or [B, H, W], got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise ValueError(f"apply expects a floating-point tensor, got {x.dtype}; use apply_labels for labels")
        self._check(x, "x")
        squeeze = x.dim() == 3
        src = x.unsqueeze(1) if squeeze else x
        grid = self.grid().to(src.dtype)
        out = F.grid_sample(src, grid, mode=mode, padding_mode="border", align_corners=False)
        out = torch.where(self.valid_mask()[:, None], out, torch.full_like(out, fill))
        return out.squeeze(1) if squeeze else out

    def apply_labels(self, labels: torch.Tensor, fill: int = 0) -> torch.Tensor:
        """Move integer labels ``[B, H, W]`` with nearest-neighbour sampling; same dtype out.

        Raises:
            ValueError: if ``labels`` is not ``[B, H, W]`` integers matching the transform.
        """
        if labels.dim() != 3 or labels.is_floating_point():
            raise ValueError(f"labels must be integer [B, H, W], got {tuple(labels.shape)} {labels.dtype}")
        self._check(labels, "labels")
        moved = self.apply(labels.unsqueeze(1).float(), mode="nearest", fill=float(fill))
        return moved.squeeze(1).round().to(labels.dtype)


def affine_matrix(
    angle: torch.Tensor, scale: torch.Tensor, centre: torch.Tensor, flip: torch.Tensor, size: tuple[int, int]
) -> torch.Tensor:
    """Rotation + crop + horizontal flip as ``[B, 2, 3]`` sampling matrices.

    In isotropic pixel units output point ``p`` samples the input at
    ``c + R(angle) s Flip p``: the crop of side fraction ``s`` centred at ``c`` is rotated
    about its centre, resized to the full image and optionally mirrored left-right.
    Converted to normalised coordinates with ``D = diag(W/2, H/2)``
    (``A = s D^-1 R D Flip``), so non-square images rotate rigidly.

    Args:
        angle: ``[B]`` radians. scale: ``[B]`` crop side fraction. centre: ``[B, 2]``
            crop centre (x, y) in normalised units. flip: ``[B]`` bool. size: ``(H, W)``.
    """
    h, w = size
    cos, sin = torch.cos(angle), torch.sin(angle)
    sign = torch.where(flip, -1.0, 1.0).to(angle.dtype)
    row0 = torch.stack([scale * cos * sign, -scale * sin * (h / w), centre[:, 0]], dim=1)
    row1 = torch.stack([scale * sin * (w / h) * sign, scale * cos, centre[:, 1]], dim=1)
    return torch.stack([row0, row1], dim=1)


def sample_affine(
    batch: int, size: tuple[int, int], generator: torch.Generator | None, config: WeakAugmentConfig, device=None
) -> torch.Tensor:
    """Random `affine_matrix`: angle uniform in ``[-r, r]`` degrees, crop side uniform in
    ``crop_scale`` with the crop inside the image (``|c| <= 1 - s``), flip with
    ``flip_prob``. Returns ``[B, 2, 3]``."""
    angle = draw_uniform(generator, (batch,), -1.0, 1.0, device) * math.radians(config.rotation_degrees)
    scale = draw_uniform(generator, (batch,), *config.crop_scale, device)
    centre = draw_uniform(generator, (batch, 2), -1.0, 1.0, device) * (1.0 - scale)[:, None]
    flip = draw_uniform(generator, (batch,), 0.0, 1.0, device) < config.flip_prob
    return affine_matrix(angle, scale, centre, flip, size)
