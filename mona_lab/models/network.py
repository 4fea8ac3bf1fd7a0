"""One module that bundles a backbone with the training heads, and `build_model`.

Methods call a single module (so DDP sees one ``forward``):
``net(x, heads=("global_prediction", "representation"))`` runs the backbone once and
only the heads asked for, returning a `NetworkOutput`. Head names:

- ``global_projection``: ``v_g = h(pool(bottleneck))`` ``[B, P]`` (paper 001 Eq. 1)
- ``global_prediction``: ``u_g = h'(v_g)`` ``[B, P]`` (student only; implies the projection)
- ``local_projection``: per-pixel projection of the decoder output ``[B, P, h, w]``
  (optionally of a window: MONA crops 64x64 regions at the same location in every view)
- ``local_prediction``: per-pixel predictor on the local projection ``[B, P, h, w]``
- ``representation``: FPN-fused multi-scale decoder features ``[B, m, H, W]`` (Fig. 6)

A head that is not requested gets no gradient in that step; wrap the network in DDP with
``find_unused_parameters=True`` when stages use different heads.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from mona_lab.models.batch_statistics import frozen_running_statistics
from mona_lab.models.gradient_scale import scale_gradient
from mona_lab.models.heads import LocalProjectionHead, PredictorHead, ProjectionHead, RepresentationHead
from mona_lab.models.outputs import BackboneOutput
from mona_lab.models.unet import DEFAULT_DROPOUT, UNet2D
from mona_lab.models.vnet import VNet3D

HEAD_NAMES = ("global_projection", "global_prediction", "local_projection", "local_prediction", "representation")
MODEL_KINDS = ("unet2d", "vnet3d")
LOCAL_SOURCES = ("logits", "features")


@dataclass
class NetworkOutput(BackboneOutput):
    """`BackboneOutput` plus whatever heads were requested (``None`` otherwise).

    Attributes:
        global_embedding: ``[B, P]`` projection of the pooled bottleneck.
        global_prediction: ``[B, P]`` predictor output on ``global_embedding``.
        local_embedding: ``[B, P, *window]`` per-pixel projection of the decoder output.
        local_prediction: ``[B, P, *window]`` per-pixel predictor output.
        representation: ``[B, m, *spatial]`` pixel embeddings (not normalised).
    """

    global_embedding: torch.Tensor | None = None
    global_prediction: torch.Tensor | None = None
    local_embedding: torch.Tensor | None = None
    local_prediction: torch.Tensor | None = None
    representation: torch.Tensor | None = None


@dataclass
class ModelConfig:
    """Everything needed to rebuild a `SegmentationNetwork` (stored in checkpoints).

    Attributes:
        kind: ``"unet2d"`` (ACDC, LiTS, MMWHS) or ``"vnet3d"`` (LA).
        in_channels: image channels.
        num_classes: classes including background.
        width: channel multiplier (UNet: 1.0 -> 16..256; VNet: base filters 16 * width).
        dropout: the UNet's five per-level rates; ``None`` -> (0.05, 0.1, 0.2, 0.3, 0.5).
        dropout_kind: ``"element"`` (SSL4MIS's element-wise dropout, default) or
            ``"channel"`` (whole feature maps; mona_lab's choice before issue 10).
        projection_dim: P, global/local embedding size (512 in MONA).
        embed_dim: m, representation size (512 in MONA, 128 in ACTION++).
        representation_hidden: hidden width of the representation head (default m).
        representation_stride: the representation head's output stride (1: full
            resolution; see `RepresentationHead`).
        local_source: ``"logits"`` (paper 001: the local views are crops of the predicted
            logits) or ``"features"`` (the finest decoder feature map).
        heads: which heads to build; a subset of `HEAD_NAMES`.
        head_grad_scale: factor on the gradient that every head sends back into the
            backbone (`mona_lab.models.gradient_scale`); 1.0 = the papers (no scaling).
    """

    kind: str = "unet2d"
    in_channels: int = 1
    num_classes: int = 4
    width: float = 1.0
    dropout: tuple[float, ...] | None = None
    dropout_kind: str = "element"
    projection_dim: int = 512
    embed_dim: int = 512
    representation_hidden: int | None = None
    representation_stride: int = 1
    local_source: str = "logits"
    heads: tuple[str, ...] = field(default=HEAD_NAMES)
    head_grad_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"kind must be one of {MODEL_KINDS}, got {self.kind!r}")
        if self.local_source not in LOCAL_SOURCES:
            raise ValueError(f"local_source must be one of {LOCAL_SOURCES}, got {self.local_source!r}")
        self.heads = tuple(self.heads)
        unknown = [h for h in self.heads if h not in HEAD_NAMES]
        if unknown:
            raise ValueError(f"unknown head(s) {unknown}; choose from {HEAD_NAMES}")
        if self.dropout is not None:
            self.dropout = tuple(float(p) for p in self.dropout)
        if not 0.0 <= float(self.head_grad_scale) < float("inf"):
            raise ValueError(f"head_grad_scale must be a finite number >= 0, got {self.head_grad_scale!r}")
        if self.projection_dim < 1 or self.embed_dim < 1:
            raise ValueError(f"projection_dim and embed_dim must be >= 1, got {self.projection_dim}, {self.embed_dim}")

    def to_dict(self) -> dict:
        return asdict(self)


class SegmentationNetwork(nn.Module):
    """Backbone plus named heads in an ``nn.ModuleDict``.

    Args:
        config: a `ModelConfig`.

    Forward:
        x: ``[B, in_channels, *spatial]`` (2D or 3D according to ``config.kind``).
        heads: names from `HEAD_NAMES` to compute (built heads only); empty = backbone only.
        local_window: optional ``((start, size), ...)``, one pair per spatial axis, the
            window of the local source that goes through the local heads.
        returns `NetworkOutput`.

    Raises:
        ValueError: on an unknown or unbuilt head, a bad window, or a bad input shape.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        if config.kind == "unet2d":
            self.backbone: nn.Module = UNet2D(
                config.in_channels, config.num_classes, config.width, config.dropout or DEFAULT_DROPOUT,
                config.dropout_kind,
            )
            spatial_dims = 2
        else:
            self.backbone = VNet3D(config.in_channels, config.num_classes, max(1, round(16 * config.width)))
            spatial_dims = 3
        self.spatial_dims = spatial_dims
        p = config.projection_dim
        local_in = config.num_classes if config.local_source == "logits" else self.backbone.channels[0]
        factories = {
            "global_projection": lambda: ProjectionHead(self.backbone.bottleneck_channels, p),
            "global_prediction": lambda: PredictorHead(p),
            "local_projection": lambda: LocalProjectionHead(local_in, p, spatial_dims=spatial_dims),
            "local_prediction": lambda: LocalProjectionHead(p, p, spatial_dims=spatial_dims),
            "representation": lambda: RepresentationHead(
                self.backbone.decoder_channels,
                config.embed_dim,
                config.representation_hidden,
                spatial_dims,
                config.representation_stride,
            ),
        }
        self.heads = nn.ModuleDict({name: factories[name]() for name in HEAD_NAMES if name in config.heads})

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    def _requested(self, heads: Sequence[str]) -> set[str]:
        if isinstance(heads, str):
            heads = (heads,)
        wanted = set(heads)
        unknown = wanted - set(HEAD_NAMES)
        if unknown:
            raise ValueError(f"unknown head(s) {sorted(unknown)}; choose from {HEAD_NAMES}")
        if "global_prediction" in wanted:
            wanted.add("global_projection")
        if "local_prediction" in wanted:
            wanted.add("local_projection")
        missing = wanted - set(self.heads.keys())
        if missing:
            raise ValueError(f"head(s) {sorted(missing)} were not built; ModelConfig.heads={self.config.heads}")
        return wanted

    def _crop(self, x: torch.Tensor, window: Sequence[tuple[int, int]] | None) -> torch.Tensor:
        if window is None:
            return x
        spatial = x.shape[2:]
        if len(window) != len(spatial):
            raise ValueError(f"local_window needs one (start, size) per spatial axis of {tuple(x.shape)}, got {window}")
        index: list[slice] = [slice(None), slice(None)]
        for (start, size), extent in zip(window, spatial):
            if start < 0 or size < 1 or start + size > extent:
                raise ValueError(f"local_window {window} does not fit inside a map of shape {tuple(x.shape)}")
            index.append(slice(int(start), int(start) + int(size)))
        return x[tuple(index)]

    def _backbone_forward(self, x: torch.Tensor, statistics_rows: int | None) -> BackboneOutput:
        if statistics_rows is None or statistics_rows == x.shape[0] or not self.training:
            return self.backbone(x)
        if not 0 <= statistics_rows <= x.shape[0]:
            raise ValueError(f"statistics_rows must lie in [0, {x.shape[0]}] for a batch of {x.shape[0]}, got {statistics_rows}")
        with frozen_running_statistics(self.backbone):
            rest = self.backbone(x[statistics_rows:])
        if statistics_rows == 0:
            return rest
        return _concatenate(self.backbone(x[:statistics_rows]), rest)

    def forward(
        self,
        x: torch.Tensor,
        heads: Sequence[str] = (),
        local_window: Sequence[tuple[int, int]] | None = None,
        statistics_rows: int | None = None,
    ) -> NetworkOutput:
        """Backbone on ``x`` ``[B, C, *spatial]``, then the requested ``heads``.

        ``statistics_rows=k`` (``0 <= k <= B``): only rows ``[:k]`` update the backbone's
        BatchNorm running statistics; rows ``[k:]`` go through a second backbone forward with
        them frozen, and the heads see both groups concatenated
        (`mona_lab.models.batch_statistics`). ``None``: one forward of every row.
        """
        wanted = self._requested(heads)
        base = self._backbone_forward(x, statistics_rows)
        out = NetworkOutput(base.logits, base.bottleneck, base.decoder_features)
        alpha = self.config.head_grad_scale
        if "global_projection" in wanted:
            out.global_embedding = self.heads["global_projection"](scale_gradient(base.bottleneck, alpha))
            if "global_prediction" in wanted:
                out.global_prediction = self.heads["global_prediction"](out.global_embedding)
        if "local_projection" in wanted:
            source = base.logits if self.config.local_source == "logits" else base.decoder_features[-1]
            out.local_embedding = self.heads["local_projection"](scale_gradient(self._crop(source, local_window), alpha))
            if "local_prediction" in wanted:
                out.local_prediction = self.heads["local_prediction"](out.local_embedding)
        if "representation" in wanted:
            out.representation = self.heads["representation"]([scale_gradient(f, alpha) for f in base.decoder_features])
        return out


def _concatenate(first: BackboneOutput, second: BackboneOutput) -> BackboneOutput:
    return BackboneOutput(
        torch.cat([first.logits, second.logits]),
        torch.cat([first.bottleneck, second.bottleneck]),
        [torch.cat([a, b]) for a, b in zip(first.decoder_features, second.decoder_features)],
    )


def build_model(
    kind: str = "unet2d",
    *,
    num_classes: int = 4,
    in_channels: int = 1,
    width: float = 1.0,
    embed_dim: int = 512,
    projection_dim: int = 512,
    heads: Sequence[str] = HEAD_NAMES,
    local_source: str = "logits",
    dropout: Sequence[float] | None = None,
    dropout_kind: str = "element",
    representation_hidden: int | None = None,
    representation_stride: int = 1,
    head_grad_scale: float = 1.0,
) -> SegmentationNetwork:
    """Build a `SegmentationNetwork` from keyword arguments (see `ModelConfig` for meanings).

    Example: ``build_model("unet2d", num_classes=4, width=0.5, embed_dim=128)``.

    Raises:
        ValueError: on an unknown kind, head or local source.
    """
    config = ModelConfig(
        kind=kind,
        in_channels=in_channels,
        num_classes=num_classes,
        width=width,
        dropout=tuple(dropout) if dropout is not None else None,
        dropout_kind=dropout_kind,
        projection_dim=projection_dim,
        embed_dim=embed_dim,
        representation_hidden=representation_hidden,
        representation_stride=representation_stride,
        local_source=local_source,
        heads=tuple(heads),
        head_grad_scale=head_grad_scale,
    )
    return SegmentationNetwork(config)


def model_from_config(config: ModelConfig | dict) -> SegmentationNetwork:
    """Rebuild a network from a `ModelConfig` or its ``to_dict()`` (e.g. read from a checkpoint)."""
    if isinstance(config, dict):
        config = ModelConfig(**config)
    return SegmentationNetwork(config)
