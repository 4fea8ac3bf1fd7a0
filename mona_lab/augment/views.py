"""The weak (teacher) and strong (student) views of a batch, and how outputs follow them.

MONA (paper 001, Implementation Details and Sec. IV-F, Table IV): the teacher sees a weak
view (random rotation, random cropping, horizontal flipping); the student sees a strong
view (the same plus random contrast, CutMix, brightness changes and diffeomorphic
deformations). A view is made in a fixed order, each step drawing from the generator:
`sample_spatial_transform` (affine, then deformation), `sample_intensity`, `sample_cutmix`.
`AugmentedView.apply_to_outputs` applies the spatial transform and then the same CutMix to
any ``[B, C, H, W]`` tensor: ``T(F(x))`` of the equivariance loss (paper 001 Eq. 6).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from mona_lab.augment.configs import StrongAugmentConfig, WeakAugmentConfig
from mona_lab.augment.cutmix import CutMix, sample_cutmix
from mona_lab.augment.deformation import sample_deformation
from mona_lab.augment.intensity import IntensityChange, sample_intensity
from mona_lab.augment.spatial import SpatialTransform, sample_affine


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
