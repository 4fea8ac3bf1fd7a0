"""Weak and strong views for teacher-student training, as batched, device-agnostic torch ops.

MONA (paper 001, Implementation Details and Sec. IV-F, Table IV): the teacher sees a weak
view (random rotation, random cropping, horizontal flipping); the student sees a strong
view (the same plus random contrast, CutMix, brightness changes and diffeomorphic
deformations). The papers give no ranges; the defaults of `WeakAugmentConfig` and
`StrongAugmentConfig` are mona_lab's choices and are documented there.

Design. Every geometric change is a `SpatialTransform`: per-sample affine matrices plus an
optional displacement field, i.e. one sampling grid per sample. The same object moves
images (bilinear), labels (nearest) and network outputs (logits / probabilities), which
is what the equivariance loss needs (paper 001 Eq. 6: compare ``T(F(x))`` with
``F(T(x))``), and it reports which output pixels came from inside the image
(`SpatialTransform.valid_mask`). Intensity changes (contrast, brightness) do not move
pixels, so outputs are never touched by them. CutMix pastes a box from another sample of
the batch into each image and its label together (`CutMix`); `AugmentedView.apply_to_outputs`
applies the spatial transform and then the same CutMix to any ``[B, C, H, W]`` tensor.

Aligning teacher pseudo-labels with the student's view: make the strong view *from* the
weak one, ``weak = weak_view(x, y, g)``, ``strong = strong_view(weak.images, weak.labels,
g)``; then ``strong.apply_to_outputs(teacher_probs_on_weak)`` is the teacher's prediction
in the student's frame (mask with ``strong.valid_mask``).

Every random number comes from the ``torch.Generator`` passed in (drawn on the generator's
device, then moved), in a fixed order, so a view is reproducible from the generator state
whatever the data device.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

INTERPOLATION_MODES = ("bilinear", "nearest", "bicubic")


# ---------------------------------------------------------------- configs


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


# ---------------------------------------------------------------- random numbers


def _uniform(
    generator: torch.Generator | None, shape: tuple[int, ...], low: float, high: float, device
) -> torch.Tensor:
    src = generator.device if generator is not None else torch.device("cpu")
    u = torch.rand(shape, generator=generator, device=src, dtype=torch.float32)
    return (low + (high - low) * u).to(device)


def _normal(generator: torch.Generator | None, shape: tuple[int, ...], device) -> torch.Tensor:
    src = generator.device if generator is not None else torch.device("cpu")
    return torch.randn(shape, generator=generator, device=src, dtype=torch.float32).to(device)


# ---------------------------------------------------------------- spatial transforms


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


# ---------------------------------------------------------------- deformation


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
    apply = _uniform(generator, (batch,), 0.0, 1.0, device) < config.deformation_prob
    noise = _normal(generator, (batch, 2, k, k), device)
    std_pixels = config.deformation_std * min(img_h, img_w)
    scale = torch.tensor([2.0 * std_pixels / img_w, 2.0 * std_pixels / img_h], device=device).view(1, 2, 1, 1)
    control = noise * scale * apply.view(batch, 1, 1, 1).float()
    # Evaluate the bicubic spline through the control points (which span the image edge
    # to edge) at the grid's pixel centres: the same continuous field at any resolution.
    points = identity_grid(h, w, control.device).expand(batch, h, w, 2)
    return F.grid_sample(control, points, mode="bicubic", padding_mode="border", align_corners=True)


# ---------------------------------------------------------------- sampling transforms


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
    angle = _uniform(generator, (batch,), -1.0, 1.0, device) * math.radians(config.rotation_degrees)
    scale = _uniform(generator, (batch,), *config.crop_scale, device)
    centre = _uniform(generator, (batch, 2), -1.0, 1.0, device) * (1.0 - scale)[:, None]
    flip = _uniform(generator, (batch,), 0.0, 1.0, device) < config.flip_prob
    return affine_matrix(angle, scale, centre, flip, size)


def sample_spatial_transform(
    batch: int,
    size: tuple[int, int],
    generator: torch.Generator | None = None,
    config: WeakAugmentConfig | None = None,
    device=None,
) -> SpatialTransform:
    """A random `SpatialTransform`: affine always, a diffeomorphic deformation when
    ``config`` is a `StrongAugmentConfig` with ``deformation_prob > 0``."""
    config = config or WeakAugmentConfig()
    theta = sample_affine(batch, size, generator, config, device)
    displacement = None
    if isinstance(config, StrongAugmentConfig) and config.deformation_prob > 0 and config.deformation_std > 0:
        displacement = sample_deformation(batch, size, generator, config, device)
    return SpatialTransform(theta, (int(size[0]), int(size[1])), displacement)


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


# ---------------------------------------------------------------- intensity and CutMix


@dataclass
class IntensityChange:
    """Per-sample contrast factors and brightness offsets ``[B]`` (1 and 0 = unchanged)."""

    contrast: torch.Tensor
    brightness: torch.Tensor

    def apply(self, images: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """``x <- mean + c (x - mean) + b`` inside ``valid`` (``[B, H, W]``); the mean is
        over each sample's valid pixels and channels. Pixels outside are left as they are."""
        b = images.shape[0]
        mask = torch.ones_like(images[:, :1], dtype=torch.bool) if valid is None else valid[:, None]
        maskf = mask.to(images.dtype).expand_as(images)
        mean = (images * maskf).flatten(1).sum(1) / maskf.flatten(1).sum(1).clamp_min(1.0)
        c = self.contrast.to(images.dtype).view(b, 1, 1, 1)
        shift = self.brightness.to(images.dtype).view(b, 1, 1, 1)
        m = mean.view(b, 1, 1, 1)
        changed = m + c * (images - m) + shift
        touched = ((self.contrast != 1) | (self.brightness != 0)).view(b, 1, 1, 1).to(images.device)
        return torch.where(mask & touched, changed, images)


def sample_intensity(
    batch: int, generator: torch.Generator | None, config: StrongAugmentConfig, device=None
) -> IntensityChange:
    """Random contrast and brightness per sample (each applied with its probability)."""
    use_c = _uniform(generator, (batch,), 0.0, 1.0, device) < config.contrast_prob
    c = _uniform(generator, (batch,), *config.contrast_range, device)
    use_b = _uniform(generator, (batch,), 0.0, 1.0, device) < config.brightness_prob
    b = _uniform(generator, (batch,), *config.brightness_range, device)
    return IntensityChange(torch.where(use_c, c, torch.ones_like(c)), torch.where(use_b, b, torch.zeros_like(b)))


@dataclass
class CutMix:
    """Boxes pasted from other samples of the batch (Yun et al., 2019).

    Attributes:
        mask: ``[B, H, W]`` bool, True inside sample b's box (pixels taken from
            ``source_index[b]``).
        source_index: ``[B]`` which sample each box comes from (never itself when B > 1).
        boxes: ``[B, 4]`` ``(top, left, height, width)`` in pixels; height 0 = no box.
    """

    mask: torch.Tensor
    source_index: torch.Tensor
    boxes: torch.Tensor

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """Mix ``x`` ``[B, H, W]`` or ``[B, C, H, W]`` (images, labels, outputs, masks)."""
        if x.dim() not in (3, 4) or x.shape[0] != self.mask.shape[0] or x.shape[-2:] != self.mask.shape[-2:]:
            raise ValueError(f"CutMix.apply: x of shape {tuple(x.shape)} does not match mask {tuple(self.mask.shape)}")
        mask = self.mask if x.dim() == 3 else self.mask[:, None]
        return torch.where(mask, x[self.source_index], x)


def sample_cutmix(
    batch: int, size: tuple[int, int], generator: torch.Generator | None, config: StrongAugmentConfig, device=None
) -> CutMix:
    """Random CutMix boxes. The partner of sample ``b`` is ``(b + k) % B`` for one random
    shift ``k`` in ``1..B-1`` (a batch of one gets no boxes). Box area and aspect are
    drawn from the config ranges; boxes lie fully inside the image."""
    h, w = size
    apply = _uniform(generator, (batch,), 0.0, 1.0, device) < config.cutmix_prob
    area = _uniform(generator, (batch,), *config.cutmix_area, device) * (h * w)
    lo, hi = config.cutmix_aspect
    aspect = torch.exp(_uniform(generator, (batch,), math.log(lo), math.log(hi), device))
    pos = _uniform(generator, (batch, 2), 0.0, 1.0, device)
    shift_u = _uniform(generator, (1,), 0.0, 1.0, device)
    box_h = torch.sqrt(area * aspect).round().clamp(1, h).long()
    box_w = torch.sqrt(area / aspect).round().clamp(1, w).long()
    if batch < 2:
        apply = torch.zeros_like(apply)
    box_h = torch.where(apply, box_h, torch.zeros_like(box_h))
    box_w = torch.where(apply, box_w, torch.zeros_like(box_w))
    top = (pos[:, 0] * (h - box_h + 1).float()).floor().long().clamp(max=h - 1)
    left = (pos[:, 1] * (w - box_w + 1).float()).floor().long().clamp(max=w - 1)
    rows = torch.arange(h, device=device)[None, :, None]
    cols = torch.arange(w, device=device)[None, None, :]
    mask = (
        (rows >= top[:, None, None]) & (rows < (top + box_h)[:, None, None])
        & (cols >= left[:, None, None]) & (cols < (left + box_w)[:, None, None])
    )
    # one shift in 1..B-1 for the whole batch, so no sample is mixed with itself
    shift = 1 + min(int(shift_u.item() * (batch - 1)), batch - 2) if batch > 1 else 0
    source = (torch.arange(batch, device=device) + shift) % batch
    return CutMix(mask, source, torch.stack([top, left, box_h, box_w], dim=1))


# ---------------------------------------------------------------- views


@dataclass
class AugmentedView:
    """One augmented view of a batch and everything needed to map outputs into it.

    Attributes:
        images: ``[B, C, H, W]`` augmented images.
        labels: ``[B, H, W]`` labels moved with the images (None if none were given).
        transform: the `SpatialTransform` that made the view.
        valid_mask: ``[B, H, W]`` bool, pixels that come from inside an image.
        cutmix: the `CutMix` applied after the spatial transform, or None.
        intensity: the `IntensityChange` applied, or None (weak view).
    """

    images: torch.Tensor
    labels: torch.Tensor | None
    transform: SpatialTransform
    valid_mask: torch.Tensor
    cutmix: CutMix | None = None
    intensity: IntensityChange | None = None

    def apply_to_outputs(self, x: torch.Tensor, mode: str = "bilinear", fill: float = 0.0) -> torch.Tensor:
        """Map a tensor in the original frame (``[B, C, H, W]`` logits / probabilities /
        features, or ``[B, H, W]``) into this view: the spatial transform, then CutMix.
        ``T(F(x))`` of the equivariance loss (paper 001 Eq. 6)."""
        moved = self.transform.apply(x, mode=mode, fill=fill)
        return self.cutmix.apply(moved) if self.cutmix is not None else moved

    def apply_to_labels(self, labels: torch.Tensor, fill: int = 0) -> torch.Tensor:
        """Map integer labels ``[B, H, W]`` (e.g. pseudo-labels) into this view (nearest)."""
        moved = self.transform.apply_labels(labels, fill=fill)
        return self.cutmix.apply(moved) if self.cutmix is not None else moved


def _check_batch(images: torch.Tensor, labels: torch.Tensor | None) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or not images.is_floating_point():
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a float tensor [B, C, H, W], got {shape}")
    if labels is not None:
        if labels.dim() != 3 or labels.is_floating_point():
            raise ValueError(f"labels must be an integer tensor [B, H, W], got {tuple(labels.shape)} {labels.dtype}")
        if labels.shape[0] != images.shape[0] or labels.shape[-2:] != images.shape[-2:]:
            raise ValueError(f"labels {tuple(labels.shape)} do not match images {tuple(images.shape)}")
        if labels.device != images.device:
            raise ValueError(f"labels on {labels.device} but images on {images.device}")


def weak_view(
    images: torch.Tensor,
    labels: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    config: WeakAugmentConfig | None = None,
) -> AugmentedView:
    """Weak view (teacher input): random rotation, crop and horizontal flip.

    Only the weak fields of ``config`` are used, so a `StrongAugmentConfig` may be passed.

    Args:
        images: ``[B, C, H, W]`` float.
        labels: ``[B, H, W]`` integer or None.
        generator: source of randomness (any device); None uses torch's global RNG.
        config: `WeakAugmentConfig` (defaults if None).

    Returns:
        `AugmentedView` on the images' device.

    Raises:
        ValueError: bad shapes or dtypes (the message names them).
    """
    config = config or WeakAugmentConfig()
    _check_batch(images, labels)
    b, _, h, w = images.shape
    transform = sample_spatial_transform(b, (h, w), generator, WeakAugmentConfig(
        config.rotation_degrees, config.crop_scale, config.flip_prob, config.image_fill, config.label_fill
    ), images.device)
    out = transform.apply(images, fill=config.image_fill)
    moved_labels = None if labels is None else transform.apply_labels(labels, fill=config.label_fill)
    return AugmentedView(out, moved_labels, transform, transform.valid_mask())


def strong_view(
    images: torch.Tensor,
    labels: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    config: StrongAugmentConfig | None = None,
) -> AugmentedView:
    """Strong view (student input): rotation, crop, flip and diffeomorphic deformation
    (one `SpatialTransform`), then random contrast and brightness on the valid pixels,
    then CutMix of images, labels and the valid mask.

    Arguments, return value and errors as in `weak_view`, with a `StrongAugmentConfig`.
    """
    config = config or StrongAugmentConfig()
    _check_batch(images, labels)
    b, _, h, w = images.shape
    transform = sample_spatial_transform(b, (h, w), generator, config, images.device)
    valid = transform.valid_mask()
    out = transform.apply(images, fill=config.image_fill)
    intensity = sample_intensity(b, generator, config, images.device)
    out = intensity.apply(out, valid)
    moved_labels = None if labels is None else transform.apply_labels(labels, fill=config.label_fill)
    cutmix = None
    if config.cutmix_prob > 0:
        cutmix = sample_cutmix(b, (h, w), generator, config, images.device)
        out = cutmix.apply(out)
        valid = cutmix.apply(valid)
        moved_labels = None if moved_labels is None else cutmix.apply(moved_labels)
    return AugmentedView(out, moved_labels, transform, valid, cutmix, intensity)
