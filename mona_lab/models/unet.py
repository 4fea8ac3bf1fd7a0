"""2D U-Net backbone in the configuration used by MONA, ARCO, ACTION and ACTION++ on ACDC.

Reference notes ("Optimisation defaults"): channels (16, 32, 64, 128, 256), BatchNorm,
LeakyReLU, dropout (0.05, 0.1, 0.2, 0.3, 0.5) per encoder level, transposed-convolution
up-sampling; the bottleneck and the four decoder outputs concatenated give 496 channels
(256 + 128 + 64 + 32 + 16), the input of the representation head (MONA TPAMI Sec. III-B,
Fig. 6). ``width`` scales every channel count so fast mode can use a smaller network.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mona_lab.models.outputs import BackboneOutput

BASE_CHANNELS_2D = (16, 32, 64, 128, 256)
DEFAULT_DROPOUT = (0.05, 0.1, 0.2, 0.3, 0.5)
DOWNSAMPLING_FACTOR = 16


def scaled_channels(base: Sequence[int], width: float) -> tuple[int, ...]:
    """Channel counts ``base * width`` rounded, at least 1 each.

    Raises:
        ValueError: if ``width`` is not a positive number.
    """
    if not isinstance(width, (int, float)) or isinstance(width, bool) or not width > 0:
        raise ValueError(f"width must be a positive number, got {width!r}")
    return tuple(max(1, int(round(c * width))) for c in base)


DROPOUT_KINDS = ("element", "channel")


def dropout_layer(rate: float, kind: str = "element") -> nn.Module:
    """The dropout between a block's two convolutions.

    ``"element"`` (default) drops single activations, as the SSL4MIS UNet the papers build
    on does (``nn.Dropout``); ``"channel"`` drops whole feature maps (``nn.Dropout2d``).
    At width 0.25 the bottleneck has 64 channels and rate 0.5, so channel dropout removes
    half of the bottleneck's maps every step: one seed, 200 supervised ACDC steps gave
    Dice 0.03 with it and 0.11 without (issue "Methods that work", item 2).
    """
    if kind not in DROPOUT_KINDS:
        raise ValueError(f"dropout kind must be one of {DROPOUT_KINDS}, got {kind!r}")
    if rate <= 0:
        return nn.Identity()
    return nn.Dropout(rate) if kind == "element" else nn.Dropout2d(rate)


class ConvBlock2D(nn.Module):
    """Two 3x3 convolutions, each followed by BatchNorm and LeakyReLU, dropout between.

    Shapes: ``[B, in_channels, H, W] -> [B, out_channels, H, W]``.
    """

    def __init__(self, in_channels: int, out_channels: int, dropout: float, dropout_kind: str = "element") -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.LeakyReLU(0.01),
            dropout_layer(dropout, dropout_kind),
            nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.LeakyReLU(0.01),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class UpBlock2D(nn.Module):
    """Transposed-conv up-sampling by 2, concatenation with the skip, then `ConvBlock2D`.

    Shapes: ``x [B, in_channels, h, w]``, ``skip [B, out_channels, 2h, 2w]`` ->
    ``[B, out_channels, 2h, 2w]``.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        self.conv = ConvBlock2D(2 * out_channels, out_channels, dropout=0.0)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(x)], dim=1))


class UNet2D(nn.Module):
    """SSL4MIS-style 2D U-Net returning logits, bottleneck and decoder features.

    Args:
        in_channels: image channels (1 for cine MRI).
        num_classes: output classes including background (4 on ACDC).
        width: channel multiplier; 1.0 gives (16, 32, 64, 128, 256), 0.5 gives
            (8, 16, 32, 64, 128).
        dropout: five dropout rates, one per encoder level (shallow to deep); the decoder
            uses none.
        dropout_kind: ``"element"`` (SSL4MIS, default) or ``"channel"`` (`dropout_layer`).

    Forward:
        x: ``[B, in_channels, H, W]`` with H and W divisible by 16.
        returns `BackboneOutput` with ``logits [B, num_classes, H, W]``,
        ``bottleneck [B, c4, H/16, W/16]`` and ``decoder_features`` (bottleneck, then
        decoder outputs at H/8, H/4, H/2, H; channel sum 496 at width 1).

    Raises:
        ValueError: on a bad constructor argument, or an input of the wrong rank, channel
            count or spatial size (the message names the shape).
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 4,
        width: float = 1.0,
        dropout: Sequence[float] = DEFAULT_DROPOUT,
        dropout_kind: str = "element",
    ) -> None:
        super().__init__()
        if in_channels < 1 or num_classes < 1:
            raise ValueError(f"in_channels and num_classes must be >= 1, got {in_channels}, {num_classes}")
        dropout = tuple(float(p) for p in dropout)
        if len(dropout) != 5 or not all(0.0 <= p < 1.0 for p in dropout):
            raise ValueError(f"dropout must be five rates in [0, 1), got {dropout}")
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.width = float(width)
        self.channels = scaled_channels(BASE_CHANNELS_2D, width)
        c = self.channels
        self.dropout_kind = dropout_kind
        self.encoder = nn.ModuleList([ConvBlock2D(in_channels, c[0], dropout[0], dropout_kind)])
        for level in range(1, 5):
            self.encoder.append(
                nn.Sequential(nn.MaxPool2d(2), ConvBlock2D(c[level - 1], c[level], dropout[level], dropout_kind))
            )
        self.decoder = nn.ModuleList([UpBlock2D(c[level], c[level - 1]) for level in range(4, 0, -1)])
        self.classifier = nn.Conv2d(c[0], num_classes, kernel_size=1)

    @property
    def bottleneck_channels(self) -> int:
        return self.channels[-1]

    @property
    def decoder_channels(self) -> tuple[int, ...]:
        """Channels of ``decoder_features``, coarse to fine (256, 128, 64, 32, 16 at width 1)."""
        return tuple(reversed(self.channels))

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ``ValueError`` naming the shape when ``x`` cannot go through the network."""
        if not isinstance(x, torch.Tensor) or x.dim() != 4:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"UNet2D expects x of shape [B, {self.in_channels}, H, W], got {shape}")
        if x.shape[1] != self.in_channels:
            raise ValueError(f"UNet2D expects {self.in_channels} input channel(s), got x of shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        if h % DOWNSAMPLING_FACTOR or w % DOWNSAMPLING_FACTOR or h == 0 or w == 0:
            raise ValueError(
                f"UNet2D needs H and W divisible by {DOWNSAMPLING_FACTOR} (four 2x poolings), "
                f"got x of shape {tuple(x.shape)}"
            )

    def forward(self, x: torch.Tensor) -> BackboneOutput:
        self.check_input(x)
        skips = []
        h = x
        for block in self.encoder:
            h = block(h)
            skips.append(h)
        bottleneck = skips.pop()
        decoder_features = [bottleneck]
        h = bottleneck
        for block in self.decoder:
            h = block(h, skips.pop())
            decoder_features.append(h)
        return BackboneOutput(self.classifier(h), bottleneck, decoder_features)
