"""Sliding-window inference of a 3D model over a whole volume, as the LA literature evaluates.

UA-MT's ``test_util.py`` (``test_single_case``), reused by SASSNet, DTC, SS-Net, ACTION and
ACTION++ (paper 004, Sec. 3): zero-pad the volume to at least the patch size (symmetrically),
run the network on ``patch_size`` windows whose starts step by ``stride`` along each axis,
``ceil((n - p) / s) + 1`` windows per axis with the last one moved back to end flush with the
volume (``min(s * i, n - p)``), add up the windows' softmax probabilities and divide by how many
windows covered each voxel, then crop the padding away. Their setting: patch 112x112x80 and
stride 18x18x4 in (x, y, z), i.e. ``LA_PATCH_SIZE`` = (80, 112, 112) and ``LA_STRIDE`` =
(4, 18, 18) in the package's ``[D, H, W]`` order (`mona_lab.data.la`). `scaled_stride` keeps
that overlap for a smaller patch (a downsampled CPU setting).

- `sliding_window_starts`: the window starts along one axis;
- `sliding_window_predict`: the averaged probabilities ``[C, D, H, W]``;
- `sliding_window_labels`: their argmax ``[D, H, W]``.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import product
from numbers import Integral
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mona_lab.data.la import LA_PATCH_SIZE, LA_STRIDE
from mona_lab.metrics.checks import _to_numpy
from mona_lab.metrics.prediction import _default_device


def _triple(value: Any, name: str) -> tuple[int, int, int]:
    values = tuple(value) if isinstance(value, (tuple, list, np.ndarray)) else (value,) * 3
    if len(values) != 3 or not all(isinstance(v, Integral) and not isinstance(v, bool) and v >= 1 for v in values):
        raise ValueError(f"{name} must be a positive int or three of them (D, H, W), got {value!r}")
    return tuple(int(v) for v in values)  # type: ignore[return-value]


def scaled_stride(
    patch_size: Sequence[int],
    reference_patch: Sequence[int] = LA_PATCH_SIZE,
    reference_stride: Sequence[int] = LA_STRIDE,
) -> tuple[int, int, int]:
    """The stride that keeps the papers' overlap for another patch size.

    ``stride_i = max(1, floor(reference_stride_i * patch_i / reference_patch_i + 0.5))``
    (round half up, at least 1). The defaults are the LA setting in ``[D, H, W]`` order,
    patch (80, 112, 112) and stride (4, 18, 18) (their 112x112x80 and 18x18x4 in (x, y, z));
    pass all three in the same axis order. Example: patch (48, 64, 64) -> (2, 10, 10).

    Raises:
        ValueError: an argument that is not three positive integers.
    """
    patch = _triple(patch_size, "patch_size")
    ref_patch = _triple(reference_patch, "reference_patch")
    ref_stride = _triple(reference_stride, "reference_stride")
    scaled = (max(1, math.floor(s * p / r + 0.5)) for s, p, r in zip(ref_stride, patch, ref_patch))
    return tuple(scaled)  # type: ignore[return-value]


def sliding_window_starts(length: int, patch: int, stride: int) -> list[int]:
    """Window starts along one axis of ``length`` (``>= patch``, i.e. after padding).

    ``[0, s, 2s, ...]``, ``ceil((length - patch) / stride) + 1`` of them, the last replaced by
    ``length - patch`` so that it ends flush with the axis (UA-MT's ``min(s * i, n - p)``).
    Every index ``0 .. length - 1`` lies in at least one window when ``stride <= patch``.

    Raises:
        ValueError: ``length < patch`` or a non-positive argument.
    """
    if min(length, patch, stride) < 1 or length < patch:
        raise ValueError(
            f"need 1 <= patch <= length and stride >= 1, got length {length}, patch {patch}, stride {stride}"
        )
    count = math.ceil((length - patch) / stride) + 1
    return [min(stride * i, length - patch) for i in range(count)]


def _logits_of(output: Any) -> torch.Tensor:
    """The logits tensor of a model's output (a tensor, or a `BackboneOutput` with ``.logits``)."""
    return output.logits if hasattr(output, "logits") else output


def sliding_window_predict(
    model_fn: Callable[[torch.Tensor], Any],
    image: Any,
    patch_size: int | Sequence[int],
    stride: int | Sequence[int],
    num_classes: int,
    *,
    batch_size: int = 1,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Class probabilities of a whole volume from overlapping ``patch_size`` windows (module docstring).

    The model runs under ``torch.no_grad()``; an ``nn.Module`` is switched to ``eval()`` for
    the call and its previous mode restored (as `mona_lab.metrics.predict_volume`). Softmax is
    taken per window over the class axis; a voxel's probability is the mean over the windows
    that cover it. A stride larger than the patch would leave gaps and is refused.

    Args:
        model_fn: ``x [B, 1, p_D, p_H, p_W] -> logits [B, C, p_D, p_H, p_W]`` (a tensor, or an
            object with ``.logits`` such as `VNet3D`'s `BackboneOutput`).
        image: ``[D, H, W]`` or ``[1, D, H, W]``, numpy array or torch tensor, already
            normalised as in training.
        patch_size: window ``(p_D, p_H, p_W)`` or one int; the papers' is ``LA_PATCH_SIZE``.
        stride: step ``(s_D, s_H, s_W)`` or one int, each ``<= patch``; see `scaled_stride`.
        num_classes: ``C``, the model's output channels.
        batch_size: windows per forward pass (results do not depend on it).
        device: where to run; default: the module's device, else the image's (CPU for numpy).

    Returns:
        float32 numpy array ``[C, D, H, W]``; every voxel's probabilities sum to 1.

    Raises:
        ValueError: bad image shape, patch, stride, ``num_classes`` or ``batch_size``, or a
            model output that is not ``[B, C, p_D, p_H, p_W]``.
    """
    volume = image if isinstance(image, torch.Tensor) else torch.as_tensor(_to_numpy(image, "image"))
    if volume.dim() == 4 and volume.shape[0] == 1:
        volume = volume[0]
    if volume.dim() != 3:
        raise ValueError(f"image must be [D, H, W] or [1, D, H, W], got shape {tuple(volume.shape)}")
    patch, step = _triple(patch_size, "patch_size"), _triple(stride, "stride")
    if any(s > p for s, p in zip(step, patch)):
        raise ValueError(f"stride {step} must not exceed patch_size {patch} on any axis (voxels would be skipped)")
    for name, value in (("num_classes", num_classes), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    run_device = torch.device(device) if device is not None else _default_device(model_fn, image)
    shape = tuple(volume.shape)
    deficit = [max(p - n, 0) for n, p in zip(shape, patch)]
    pads = [q for d in reversed(deficit) for q in (d // 2, d - d // 2)]  # F.pad: last axis first
    padded = F.pad(volume.to(run_device, torch.float32), pads, value=0.0)
    was_training = isinstance(model_fn, torch.nn.Module) and model_fn.training
    if was_training:
        model_fn.eval()  # type: ignore[union-attr]
    try:
        with torch.no_grad():
            scores, counts = _accumulate(model_fn, padded, patch, step, int(num_classes), int(batch_size))
    finally:
        if was_training:
            model_fn.train()  # type: ignore[union-attr]
    keep = tuple(slice(d // 2, d // 2 + n) for d, n in zip(deficit, shape))
    return (scores[(slice(None), *keep)] / counts[keep]).cpu().numpy()


def _accumulate(
    model_fn: Callable[[torch.Tensor], Any],
    padded: torch.Tensor,
    patch: tuple[int, int, int],
    step: tuple[int, int, int],
    num_classes: int,
    batch_size: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed window softmaxes ``[C, D', H', W']`` and window counts ``[D', H', W']`` over
    the padded volume ``[D', H', W']`` (every axis ``>= patch``)."""
    starts = list(product(*(sliding_window_starts(n, p, s) for n, p, s in zip(padded.shape, patch, step))))
    scores = torch.zeros((num_classes, *padded.shape), device=padded.device)
    counts = torch.zeros(padded.shape, device=padded.device)
    for first in range(0, len(starts), batch_size):
        boxes = [tuple(slice(a, a + p) for a, p in zip(start, patch)) for start in starts[first:first + batch_size]]
        x = torch.stack([padded[box] for box in boxes])[:, None]
        logits = _logits_of(model_fn(x))
        if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (len(boxes), num_classes, *patch):
            got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise ValueError(f"model_fn must map x {tuple(x.shape)} to logits [{len(boxes)}, {num_classes}, "
                             f"{patch[0]}, {patch[1]}, {patch[2]}], got {got}")
        probs = torch.softmax(logits.float(), dim=1).to(padded.device)
        for box, prob in zip(boxes, probs):
            scores[(slice(None), *box)] += prob
            counts[box] += 1
    return scores, counts


def sliding_window_labels(
    model_fn: Callable[[torch.Tensor], Any],
    image: Any,
    patch_size: int | Sequence[int],
    stride: int | Sequence[int],
    num_classes: int,
    **kwargs: Any,
) -> np.ndarray:
    """Predicted labels ``[D, H, W]`` int64: the argmax of `sliding_window_predict` (same
    arguments and errors); ties go to the lower class, as ``np.argmax`` in UA-MT's code."""
    return sliding_window_predict(model_fn, image, patch_size, stride, num_classes, **kwargs).argmax(0).astype(np.int64)
