"""3D V-Net backbone (Milletari et al., 2016) as used by ACTION/ACTION++ on the LA data set.

Reference notes: V-Net with 16 base filters; ACTION++ (paper 004, Sec. 3) trains it on
112x112x80 patches. Each resolution stage is a stack of 3x3x3 convolutions
(BatchNorm + ReLU) with a residual connection around the stack, as in the V-Net paper;
down-sampling is a stride-2 convolution, up-sampling a stride-2 transposed convolution,
and skips are added (not concatenated), which keeps the network modest. Stage depths
(1, 2, 3, 3, 3) on the way down and (3, 3, 2, 1) on the way up.
"""
from __future__ import annotations

import torch
from torch import nn

from mona_lab.models.outputs import BackboneOutput

ENCODER_DEPTHS = (1, 2, 3, 3, 3)
DECODER_DEPTHS = (3, 3, 2, 1)
DOWNSAMPLING_FACTOR = 16


class ResidualStage3D(nn.Module):
    """``depth`` conv-BN-ReLU layers at constant width plus a residual connection.

    Shapes: ``[B, channels, D, H, W] -> [B, channels, D, H, W]``.
    """

    def __init__(self, channels: int, depth: int, dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(depth):
            layers += [nn.Conv3d(channels, channels, kernel_size=3, padding=1), nn.BatchNorm3d(channels)]
            if i < depth - 1:
                layers.append(nn.ReLU(inplace=True))
        self.body = nn.Sequential(*layers)
        self.activation = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout3d(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.activation(self.body(x) + x))


def _resample(conv: type[nn.Module], in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        conv(in_channels, out_channels, kernel_size=2, stride=2),
        nn.BatchNorm3d(out_channels),
        nn.ReLU(inplace=True),
    )


class VNet3D(nn.Module):
    """V-Net for volumes, returning the same `BackboneOutput` as `UNet2D`.

    Args:
        in_channels: image channels (1 for LA MRI).
        num_classes: output classes including background (2 on LA).
        base_filters: channels of the first stage; stages use (1, 2, 4, 8, 16) times it.
        dropout: dropout rate after the bottleneck stage (0.5 is common for LA
            semi-supervised baselines; 0 disables it).

    Forward:
        x: ``[B, in_channels, D, H, W]`` with D, H, W divisible by 16.
        returns ``logits [B, num_classes, D, H, W]``, ``bottleneck [B, 16 f, D/16, H/16,
        W/16]`` and ``decoder_features`` (bottleneck, then the four decoder stage outputs,
        coarse to fine; channel sum 31 f = 496 for f = 16).

    Raises:
        ValueError: on bad arguments or an input whose shape the network cannot take.
    """

    def __init__(
        self, in_channels: int = 1, num_classes: int = 2, base_filters: int = 16, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if in_channels < 1 or num_classes < 1 or base_filters < 1:
            raise ValueError(
                f"in_channels, num_classes and base_filters must be >= 1, "
                f"got {in_channels}, {num_classes}, {base_filters}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.channels = tuple(base_filters * 2**i for i in range(5))
        c = self.channels
        self.stem = nn.Sequential(
            nn.Conv3d(in_channels, c[0], kernel_size=3, padding=1), nn.BatchNorm3d(c[0]), nn.ReLU(inplace=True)
        )
        self.encoder = nn.ModuleList(
            [ResidualStage3D(c[i], ENCODER_DEPTHS[i], dropout if i == 4 else 0.0) for i in range(5)]
        )
        self.down = nn.ModuleList([_resample(nn.Conv3d, c[i], c[i + 1]) for i in range(4)])
        self.up = nn.ModuleList([_resample(nn.ConvTranspose3d, c[4 - i], c[3 - i]) for i in range(4)])
        self.decoder = nn.ModuleList([ResidualStage3D(c[3 - i], DECODER_DEPTHS[i]) for i in range(4)])
        self.classifier = nn.Conv3d(c[0], num_classes, kernel_size=1)

    @property
    def bottleneck_channels(self) -> int:
        return self.channels[-1]

    @property
    def decoder_channels(self) -> tuple[int, ...]:
        return tuple(reversed(self.channels))

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ``ValueError`` naming the shape when ``x`` cannot go through the network."""
        if not isinstance(x, torch.Tensor) or x.dim() != 5:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"VNet3D expects x of shape [B, {self.in_channels}, D, H, W], got {shape}")
        if x.shape[1] != self.in_channels:
            raise ValueError(f"VNet3D expects {self.in_channels} input channel(s), got x of shape {tuple(x.shape)}")
        if any(s == 0 or s % DOWNSAMPLING_FACTOR for s in x.shape[2:]):
            raise ValueError(
                f"VNet3D needs D, H and W divisible by {DOWNSAMPLING_FACTOR}, got x of shape {tuple(x.shape)}"
            )

    def forward(self, x: torch.Tensor) -> BackboneOutput:
        self.check_input(x)
        h = self.stem(x)
        skips = []
        for level in range(5):
            h = self.encoder[level](h)
            skips.append(h)
            if level < 4:
                h = self.down[level](h)
        bottleneck = skips.pop()
        decoder_features = [bottleneck]
        h = bottleneck
        for up, stage in zip(self.up, self.decoder):
            h = stage(up(h) + skips.pop())
            decoder_features.append(h)
        return BackboneOutput(self.classifier(h), bottleneck, decoder_features)
