"""Projection, predictor and representation heads attached to a backbone for training.

MONA (TPAMI, paper 001, Sec. III-A, Eq. 1-2 and Implementation Details) follows ISD for the
global branch: the encoder bottleneck is pooled and projected by a non-linear head ``h``
to a 512-dim embedding, and the student's embedding goes through a second non-linear
``predictor`` ``h'``. The local branch projects every pixel of the decoder output
(64x64 regions are cropped by the method, not here) to 512 dims with 1x1 convolutions.
The representation head (Sec. III-B, Fig. 6) fuses the multi-scale decoder features
FPN-style and outputs m-dim pixel embeddings (m = 512 in MONA, 128 in ACTION++).

All heads return *unnormalised* embeddings: every contrastive loss in
`mona_lab.losses` L2-normalises inside, so the heads stay plain layers and a notebook can
still look at raw norms. The heads are used only in training and are dropped at inference
(paper 001, Implementation Details).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

_CONV = {2: nn.Conv2d, 3: nn.Conv3d}
_BATCHNORM = {2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
_INTERPOLATION = {2: "bilinear", 3: "trilinear"}
_ADAPTIVE_AVG_POOL = {2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}


def _check_spatial_dims(spatial_dims: int) -> None:
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}")


def _check_vectors(name: str, x: torch.Tensor, dim: int, training: bool) -> None:
    if x.dim() != 2 or x.shape[1] != dim:
        raise ValueError(f"{name} expects x of shape [B, {dim}], got {tuple(x.shape)}")
    if training and x.shape[0] < 2:
        raise ValueError(f"{name} uses BatchNorm and needs a batch of at least 2 in training, got {tuple(x.shape)}")


def _check_maps(name: str, x: torch.Tensor, channels: int, spatial_dims: int) -> None:
    if x.dim() != spatial_dims + 2 or x.shape[1] != channels:
        layout = "H, W" if spatial_dims == 2 else "D, H, W"
        raise ValueError(f"{name} expects x of shape [B, {channels}, {layout}], got {tuple(x.shape)}")


class MLPHead(nn.Module):
    """Linear - BatchNorm1d - ReLU - Linear on vectors: ``[B, in_dim] -> [B, out_dim]``."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int) -> None:
        super().__init__()
        if min(in_dim, hidden_dim, out_dim) < 1:
            raise ValueError(f"head dimensions must be >= 1, got {in_dim}, {hidden_dim}, {out_dim}")
        self.in_dim, self.hidden_dim, self.out_dim = in_dim, hidden_dim, out_dim
        self.layers = nn.Sequential(
            nn.Linear(in_dim, hidden_dim),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, out_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_vectors(type(self).__name__, x, self.in_dim, self.training)
        return self.layers(x)


class ProjectionHead(MLPHead):
    """Global projection ``h``: global average pool of the bottleneck, then the MLP.

    MONA (paper 001) Eq. 1: ``v_g = h(z_g)`` with ``z_g`` the encoder output; ISD setting,
    512-dim output.

    Args:
        in_channels: bottleneck channels (256 for the width-1 UNet).
        out_dim: embedding size (512 in MONA).
        hidden_dim: hidden width of the MLP (defaults to ``out_dim``).

    Forward:
        x: ``[B, in_channels, *spatial]`` (pooled over all spatial axes) or already pooled
        ``[B, in_channels]``; returns ``[B, out_dim]``.
    """

    def __init__(self, in_channels: int, out_dim: int = 512, hidden_dim: int | None = None) -> None:
        super().__init__(in_channels, hidden_dim or out_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() > 2:
            if x.shape[1] != self.in_dim:
                raise ValueError(f"ProjectionHead expects x of shape [B, {self.in_dim}, ...], got {tuple(x.shape)}")
            x = x.flatten(2).mean(dim=2)
        return super().forward(x)


class PredictorHead(MLPHead):
    """Student-only predictor ``h'``: ``u_g = h'(v_g)``, ``[B, dim] -> [B, dim]`` (paper 001 Eq. 1)."""

    def __init__(self, dim: int = 512, hidden_dim: int | None = None) -> None:
        super().__init__(dim, hidden_dim or dim, dim)


class LocalProjectionHead(nn.Module):
    """Per-pixel MLP made of 1x1 convolutions: conv - BN - ReLU - conv.

    Used for local instance discrimination on decoder outputs (paper 001, Implementation
    Details: every pixel of the 64x64 regions is projected to 512 dims) and, with
    ``in_channels == out_dim``, as the local predictor of the student.

    Forward:
        x: ``[B, in_channels, *spatial]`` -> ``[B, out_dim, *spatial]``.
    """

    def __init__(
        self, in_channels: int, out_dim: int = 512, hidden_dim: int | None = None, spatial_dims: int = 2
    ) -> None:
        super().__init__()
        _check_spatial_dims(spatial_dims)
        hidden_dim = hidden_dim or out_dim
        if min(in_channels, hidden_dim, out_dim) < 1:
            raise ValueError(f"head dimensions must be >= 1, got {in_channels}, {hidden_dim}, {out_dim}")
        self.in_channels, self.out_dim, self.spatial_dims = in_channels, out_dim, spatial_dims
        conv, norm = _CONV[spatial_dims], _BATCHNORM[spatial_dims]
        self.layers = nn.Sequential(
            conv(in_channels, hidden_dim, kernel_size=1),
            norm(hidden_dim),
            nn.ReLU(inplace=True),
            conv(hidden_dim, out_dim, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_maps("LocalProjectionHead", x, self.in_channels, self.spatial_dims)
        return self.layers(x)


class RepresentationHead(nn.Module):
    """FPN-style fusion of multi-scale decoder features into m-dim pixel embeddings.

    MONA (paper 001) Sec. III-B and Fig. 6: every decoder feature map is up-sampled
    (bilinear / trilinear) to the finest resolution, the maps are concatenated (496
    channels for the width-1 UNet: 256 + 128 + 64 + 32 + 16) and a 3x3 conv - BN - ReLU -
    1x1 conv stack produces the representation ``r`` used by the anatomical contrastive
    loss (Eq. 3). Output is not normalised (the losses normalise).

    Args:
        in_channels: channels of each decoder feature, coarse to fine, e.g.
            ``(256, 128, 64, 32, 16)``.
        embed_dim: m, the representation size (512 in MONA, 128 in ACTION++).
        hidden_dim: width of the 3x3 conv layer (defaults to ``embed_dim``).
        spatial_dims: 2 for images, 3 for volumes.
        output_stride: fuse at ``1 / output_stride`` of the finest resolution (1: full
            resolution, as in Fig. 6). A stride of 4 cuts the head's cost 16-fold on 2D
            maps; the loss then sees labels and probabilities resized to the same grid.
            Finer maps are average-pooled down, coarser maps bilinearly up-sampled.

    Forward:
        features: sequence of ``[B, c_i, *spatial_i]``; returns ``[B, embed_dim,
        *spatial_last / output_stride]``.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        embed_dim: int = 512,
        hidden_dim: int | None = None,
        spatial_dims: int = 2,
        output_stride: int = 1,
    ) -> None:
        super().__init__()
        _check_spatial_dims(spatial_dims)
        if not isinstance(output_stride, int) or output_stride < 1:
            raise ValueError(f"output_stride must be a positive integer, got {output_stride!r}")
        self.output_stride = output_stride
        self.in_channels = tuple(int(c) for c in in_channels)
        if not self.in_channels or min(self.in_channels) < 1 or embed_dim < 1:
            raise ValueError(f"bad RepresentationHead sizes: in_channels={in_channels}, embed_dim={embed_dim}")
        hidden_dim = hidden_dim or embed_dim
        self.embed_dim, self.spatial_dims = embed_dim, spatial_dims
        conv, norm = _CONV[spatial_dims], _BATCHNORM[spatial_dims]
        self.layers = nn.Sequential(
            conv(sum(self.in_channels), hidden_dim, kernel_size=3, padding=1),
            norm(hidden_dim),
            nn.ReLU(inplace=True),
            conv(hidden_dim, embed_dim, kernel_size=1),
        )

    @property
    def fused_channels(self) -> int:
        """Channels after concatenation (496 for the width-1 UNet)."""
        return sum(self.in_channels)

    def fuse(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """Up-sample every map to the finest size and concatenate: ``[B, sum c_i, *spatial]``."""
        if len(features) != len(self.in_channels):
            raise ValueError(f"RepresentationHead expects {len(self.in_channels)} feature maps, got {len(features)}")
        target = tuple(max(1, int(n) // self.output_stride) for n in features[-1].shape[2:])
        fused = []
        for i, (f, c) in enumerate(zip(features, self.in_channels)):
            if f.dim() != self.spatial_dims + 2 or f.shape[1] != c or f.shape[0] != features[-1].shape[0]:
                raise ValueError(
                    f"RepresentationHead feature {i} should be [B, {c}, ...] with {self.spatial_dims} spatial axes, "
                    f"got {tuple(f.shape)}"
                )
            if any(n > t for n, t in zip(f.shape[2:], target)):
                f = _ADAPTIVE_AVG_POOL[self.spatial_dims](f, target)
            if tuple(f.shape[2:]) != target:
                f = F.interpolate(f, size=target, mode=_INTERPOLATION[self.spatial_dims], align_corners=False)
            fused.append(f)
        return torch.cat(fused, dim=1)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.layers(self.fuse(features))
