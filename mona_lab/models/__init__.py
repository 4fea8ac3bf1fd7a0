"""Backbones (2D UNet, 3D VNet), training heads, the EMA teacher and `build_model`."""
from __future__ import annotations

from mona_lab.models.ema import EMATeacher, unwrap_model
from mona_lab.models.heads import (
    LocalProjectionHead,
    MLPHead,
    PredictorHead,
    ProjectionHead,
    RepresentationHead,
)
from mona_lab.models.network import (
    HEAD_NAMES,
    ModelConfig,
    NetworkOutput,
    SegmentationNetwork,
    build_model,
    model_from_config,
)
from mona_lab.models.outputs import BackboneOutput, UNetOutput
from mona_lab.models.unet import UNet2D
from mona_lab.models.vnet import VNet3D

__all__ = [
    "HEAD_NAMES",
    "BackboneOutput",
    "EMATeacher",
    "LocalProjectionHead",
    "MLPHead",
    "ModelConfig",
    "NetworkOutput",
    "PredictorHead",
    "ProjectionHead",
    "RepresentationHead",
    "SegmentationNetwork",
    "UNet2D",
    "UNetOutput",
    "VNet3D",
    "build_model",
    "model_from_config",
    "unwrap_model",
]
