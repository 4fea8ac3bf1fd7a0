"""CutMix of the strong view: a box pasted from another sample of the batch.

MONA's student view includes CutMix (paper 001, Implementation Details; Yun et al.,
2019). The box moves an image and its label together, and `AugmentedView.apply_to_outputs`
applies the same box to any ``[B, C, H, W]`` tensor after the spatial transform.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from mona_lab.augment._random import draw_uniform
from mona_lab.augment.configs import StrongAugmentConfig


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
    apply = draw_uniform(generator, (batch,), 0.0, 1.0, device) < config.cutmix_prob
    area = draw_uniform(generator, (batch,), *config.cutmix_area, device) * (h * w)
    lo, hi = config.cutmix_aspect
    aspect = torch.exp(draw_uniform(generator, (batch,), math.log(lo), math.log(hi), device))
    pos = draw_uniform(generator, (batch, 2), 0.0, 1.0, device)
    shift_u = draw_uniform(generator, (1,), 0.0, 1.0, device)
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
