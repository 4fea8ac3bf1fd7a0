"""The input check shared by the principle inspectors: a batch of one-channel slices."""
from __future__ import annotations

import torch


def check_batch(images: torch.Tensor, labels: torch.Tensor | None = None) -> None:
    """Raise `ValueError` unless ``images`` is ``[B, 1, S, S]`` (and ``labels``, when given,
    ``[B, S, S]`` matching it)."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 1:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be [B, 1, S, S], got {shape}")
    if labels is not None and (labels.dim() != 3 or labels.shape[0] != images.shape[0] or labels.shape[1:] != images.shape[2:]):
        raise ValueError(f"labels must be [B, S, S] matching images {tuple(images.shape)}, got {tuple(labels.shape)}")
