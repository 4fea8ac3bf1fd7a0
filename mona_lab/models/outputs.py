"""The output record every backbone returns: logits plus the features the heads need.

A backbone returns a `BackboneOutput` instead of a bare tensor so that the contrastive
parts of MONA / ACTION / ACTION++ can reach the encoder bottleneck (global instance
discrimination) and the multi-scale decoder features (representation head) without a
second forward pass.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class BackboneOutput:
    """What `UNet2D` and `VNet3D` return.

    Attributes:
        logits: segmentation scores before softmax, ``[B, C, *spatial]``.
        bottleneck: deepest encoder feature map, ``[B, 16 * base, *spatial / 16]``
            (``[B, 256, H/16, W/16]`` for the width-1 UNet).
        decoder_features: the bottleneck followed by the four decoder stage outputs,
            coarse to fine: ``[B, c_i, *spatial / 2**(4 - i)]`` for ``i = 0..4`` with
            ``c = (256, 128, 64, 32, 16)`` at width 1. Their channel sum is 496 at width 1,
            the input width of MONA's FPN-style representation head.
    """

    logits: torch.Tensor
    bottleneck: torch.Tensor
    decoder_features: list[torch.Tensor]

    @property
    def decoder_channels(self) -> int:
        """Total channels of `decoder_features` (496 for the width-1 UNet)."""
        return sum(int(f.shape[1]) for f in self.decoder_features)


# Alias kept short for the 2D case; the brief and notebooks call it UNetOutput.
UNetOutput = BackboneOutput
