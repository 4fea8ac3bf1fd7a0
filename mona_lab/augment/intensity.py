"""Intensity changes of the strong view: random contrast and brightness per sample.

MONA's student view includes random contrast and brightness changes (paper 001,
Implementation Details). They do not move pixels, so network outputs are never touched
by them (unlike `SpatialTransform` and `CutMix`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from mona_lab.augment._random import draw_uniform
from mona_lab.augment.configs import StrongAugmentConfig


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
    use_c = draw_uniform(generator, (batch,), 0.0, 1.0, device) < config.contrast_prob
    c = draw_uniform(generator, (batch,), *config.contrast_range, device)
    use_b = draw_uniform(generator, (batch,), 0.0, 1.0, device) < config.brightness_prob
    b = draw_uniform(generator, (batch,), *config.brightness_range, device)
    return IntensityChange(torch.where(use_c, c, torch.ones_like(c)), torch.where(use_b, b, torch.zeros_like(b)))
