"""Intensity normalisation and resizing, as in the papers' pre-processing.

MONA (TPAMI) Sec. IV-A: MRI (ACDC, MMWHS) -- min-max normalise each 3D scan to [0, 1];
CT (LiTS) -- clip to [-200, 250] HU, then normalise to [0, 1]; every 2D slice and its label
map is re-sampled to a fixed working size (256 x 256 in the papers; mona_lab's default is
128). Images are resized bilinearly, label maps with nearest neighbour, in batches with
``torch.nn.functional.interpolate``.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

HU_WINDOW = (-200.0, 250.0)
NORMALISATIONS = ("minmax", "ct", "none")


def minmax_normalize(volume: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Scale one whole scan to ``[0, 1]``: ``(x - min) / (max - min)`` (MONA Sec. IV-A, MRI).

    Args:
        volume: any shape, usually ``[D, H, W]``; the min and max are taken over all of it.

    Returns:
        float32 array/tensor of the same type and shape; a constant scan maps to zeros.
    """
    if isinstance(volume, torch.Tensor):
        x = volume.float()
        lo, hi = x.min(), x.max()
        span = hi - lo
        return (x - lo) / span if span > 0 else torch.zeros_like(x)
    x = np.asarray(volume, dtype=np.float32)
    lo, hi = float(x.min()), float(x.max())
    if hi <= lo:
        return np.zeros_like(x)
    return ((x - lo) / (hi - lo)).astype(np.float32)


def ct_window_normalize(
    volume: np.ndarray | torch.Tensor, window: tuple[float, float] = HU_WINDOW
) -> np.ndarray | torch.Tensor:
    """Clip CT intensities to a Hounsfield window, then map it linearly to ``[0, 1]``.

    MONA Sec. IV-A (LiTS): window ``[-200, 250]`` HU. The window, not the scan's own range,
    defines the scale, so a voxel at -200 HU is 0 and one at 250 HU is 1 in every scan.

    Args:
        volume: CT intensities in HU, any shape.
        window: ``(low, high)`` in HU with ``low < high``.
    """
    low, high = float(window[0]), float(window[1])
    if not high > low:
        raise ValueError(f"window must satisfy low < high, got {window}")
    if isinstance(volume, torch.Tensor):
        return (volume.float().clamp(low, high) - low) / (high - low)
    x = np.asarray(volume, dtype=np.float32)
    return ((np.clip(x, low, high) - low) / (high - low)).astype(np.float32)


def normalize_intensity(volume: np.ndarray, method: str) -> np.ndarray:
    """Dispatch on ``method`` in `NORMALISATIONS`: ``minmax`` (MRI), ``ct`` (HU window), ``none``."""
    if method == "minmax":
        return minmax_normalize(volume)  # type: ignore[return-value]
    if method == "ct":
        return ct_window_normalize(volume)  # type: ignore[return-value]
    if method == "none":
        return np.asarray(volume, dtype=np.float32)
    raise ValueError(f"unknown normalisation {method!r}; choose one of {NORMALISATIONS}")


def _as_size(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        size = (int(size), int(size))
    h, w = (int(s) for s in size)
    if h < 1 or w < 1:
        raise ValueError(f"size must be positive, got {size}")
    return h, w


def resize_images(images: torch.Tensor | np.ndarray, size: int | Sequence[int]) -> torch.Tensor:
    """Bilinear resize of a stack of 2D images.

    Args:
        images: ``[N, H, W]`` or ``[N, C, H, W]``.
        size: ``S`` (square) or ``(S_h, S_w)``.

    Returns:
        float32 tensor ``[N, 1, S_h, S_w]`` (``[N, C, S_h, S_w]`` for 4D input), on the
        input's device. ``align_corners=False`` (pixel centres, like ``scipy.ndimage.zoom``
        with ``grid_mode=True``). Returned unchanged (as float32) when already that size.
    """
    x = torch.as_tensor(images).float()
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.ndim != 4:
        raise ValueError(f"images must be [N, H, W] or [N, C, H, W], got shape {tuple(x.shape)}")
    out_size = _as_size(size)
    if tuple(x.shape[-2:]) == out_size:
        return x
    if x.shape[0] == 0:
        return x.new_zeros((0, x.shape[1], *out_size))
    return F.interpolate(x, size=out_size, mode="bilinear", align_corners=False)


def resize_labels(labels: torch.Tensor | np.ndarray, size: int | Sequence[int]) -> torch.Tensor:
    """Nearest-neighbour resize of a stack of label maps.

    Uses ``nearest-exact`` (each output pixel takes the input pixel under its centre),
    which, unlike torch's legacy ``nearest``, does not shift the map by half a pixel.

    Args:
        labels: ``[N, H, W]`` integer class indices.
        size: ``S`` or ``(S_h, S_w)``.

    Returns:
        int64 tensor ``[N, S_h, S_w]`` on the input's device.
    """
    y = torch.as_tensor(labels)
    if y.ndim != 3:
        raise ValueError(f"labels must be [N, H, W], got shape {tuple(y.shape)}")
    out_size = _as_size(size)
    if tuple(y.shape[-2:]) == out_size:
        return y.long()
    if y.shape[0] == 0:
        return y.new_zeros((0, *out_size), dtype=torch.long)
    # float32 represents every class index < 2**24 exactly
    z = F.interpolate(y[:, None].float(), size=out_size, mode="nearest-exact")
    return z[:, 0].round().long()


def resize_probabilities(probs: torch.Tensor, size: int | Sequence[int]) -> torch.Tensor:
    """Bilinear resize of per-class scores ``[N, C, H, W]`` (e.g. softmax outputs) back to a
    volume's native slice size, so that the arg-max can be taken at native resolution."""
    if probs.ndim != 4:
        raise ValueError(f"probs must be [N, C, H, W], got shape {tuple(probs.shape)}")
    return resize_images(probs, size)
