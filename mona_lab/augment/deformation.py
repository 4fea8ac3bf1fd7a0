"""Diffeomorphic deformations of the strong view: a smooth random velocity, integrated.

MONA's student view includes "diffeomorphic deformations" (paper 001, Implementation
Details). A stationary velocity field is drawn on a coarse control grid
(`sample_velocity`), integrated by scaling and squaring into the displacement of
``exp(v)`` (`integrate_velocity`, Arsigny et al. 2006, as in VoxelMorph) and up-sampled
(`sample_deformation`); `jacobian_determinant` checks that the map does not fold. The
displacement is the optional non-affine part of a `SpatialTransform`.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mona_lab.augment._random import draw_normal, draw_uniform
from mona_lab.augment.configs import StrongAugmentConfig
from mona_lab.augment.spatial import identity_grid


def integrate_velocity(velocity: torch.Tensor, steps: int = 7) -> torch.Tensor:
    """Displacement of the diffeomorphism ``exp(v)`` by scaling and squaring.

    ``u = v / 2**steps``, then ``steps`` times ``u <- u + u o (id + u)``: the flow of a
    smooth stationary velocity field at time 1, whose Jacobian determinant stays
    positive when ``v / 2**steps`` is small (Arsigny et al. 2006; as in VoxelMorph).

    Args:
        velocity: ``[B, 2, H, W]`` stationary velocity in normalised (x, y) units.
        steps: number of squarings N (7 by default).

    Returns:
        ``[B, H, W, 2]`` displacement in normalised units (grid layout).

    Raises:
        ValueError: if ``velocity`` is not ``[B, 2, H, W]`` or ``steps < 0``.
    """
    if velocity.dim() != 4 or velocity.shape[1] != 2:
        raise ValueError(f"velocity must be [B, 2, H, W], got {tuple(velocity.shape)}")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    h, w = velocity.shape[-2:]
    base = identity_grid(h, w, velocity.device, velocity.dtype)
    disp = velocity / (2**steps)
    for _ in range(steps):
        grid = base + disp.permute(0, 2, 3, 1)
        disp = disp + F.grid_sample(disp, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return disp.permute(0, 2, 3, 1).contiguous()


def jacobian_determinant(displacement: torch.Tensor) -> torch.Tensor:
    """Jacobian determinant of ``x -> x + u(x)`` in pixel units, by forward differences.

    Args:
        displacement: ``[B, H, W, 2]`` in normalised (x, y) units.

    Returns:
        ``[B, H - 1, W - 1]``; values > 0 everywhere mean the map preserves orientation
        (no folding), the discrete sign of a diffeomorphism.
    """
    if displacement.dim() != 4 or displacement.shape[-1] != 2:
        raise ValueError(f"displacement must be [B, H, W, 2], got {tuple(displacement.shape)}")
    h, w = displacement.shape[1:3]
    ux = displacement[..., 0] * (w / 2.0)
    uy = displacement[..., 1] * (h / 2.0)
    dux_dx = ux[:, :-1, 1:] - ux[:, :-1, :-1]
    dux_dy = ux[:, 1:, :-1] - ux[:, :-1, :-1]
    duy_dx = uy[:, :-1, 1:] - uy[:, :-1, :-1]
    duy_dy = uy[:, 1:, :-1] - uy[:, :-1, :-1]
    return (1 + dux_dx) * (1 + duy_dy) - dux_dy * duy_dx


def sample_velocity(
    batch: int,
    size: tuple[int, int],
    generator: torch.Generator | None,
    config: StrongAugmentConfig,
    device=None,
    image_size: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Smooth random velocity ``[B, 2, h, w]`` on a grid of ``size`` (normalised units).

    Gaussian values on a ``k x k`` control grid spanning the image, bicubically
    interpolated at the grid's pixel centres; samples not
    deformed (probability ``1 - deformation_prob``) get zero velocity. The std is
    ``deformation_std`` times the shorter side of ``image_size`` (default ``size``) in
    that image's pixels, the same in x and y; normalised units do not depend on the
    grid's resolution, so a coarse grid describes the same field.
    """
    h, w = size
    img_h, img_w = image_size if image_size is not None else size
    k = config.deformation_control_points
    apply = draw_uniform(generator, (batch,), 0.0, 1.0, device) < config.deformation_prob
    noise = draw_normal(generator, (batch, 2, k, k), device)
    std_pixels = config.deformation_std * min(img_h, img_w)
    scale = torch.tensor([2.0 * std_pixels / img_w, 2.0 * std_pixels / img_h], device=device).view(1, 2, 1, 1)
    control = noise * scale * apply.view(batch, 1, 1, 1).float()
    # Evaluate the bicubic spline through the control points (which span the image edge
    # to edge) at the grid's pixel centres: the same continuous field at any resolution.
    points = identity_grid(h, w, control.device).expand(batch, h, w, 2)
    return F.grid_sample(control, points, mode="bicubic", padding_mode="border", align_corners=True)


def sample_deformation(
    batch: int, size: tuple[int, int], generator: torch.Generator | None, config: StrongAugmentConfig, device=None
) -> torch.Tensor:
    """Random diffeomorphic displacement ``[B, H, W, 2]`` (normalised units): a smooth
    velocity (`sample_velocity`) integrated by scaling and squaring (`integrate_velocity`)
    on a grid ``deformation_downsample`` times coarser, then up-sampled bilinearly."""
    h, w = size
    floor = 2 * config.deformation_control_points
    coarse = (min(h, max(floor, math.ceil(h / config.deformation_downsample))),
              min(w, max(floor, math.ceil(w / config.deformation_downsample))))
    velocity = sample_velocity(batch, coarse, generator, config, device, image_size=(h, w))
    disp = integrate_velocity(velocity, config.integration_steps)
    if coarse != (h, w):
        disp = F.interpolate(disp.permute(0, 3, 1, 2), size=(h, w), mode="bilinear", align_corners=False)
        disp = disp.permute(0, 2, 3, 1).contiguous()
    return disp
