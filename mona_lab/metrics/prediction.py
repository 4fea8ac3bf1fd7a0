"""Slice-by-slice prediction of a volume with a 2D model, as the papers evaluate ACDC.

`predict_volume` resizes each slice to the model's working size, runs the model and
takes the argmax at the volume's native slice size, so the scores of
`mona_lab.metrics.evaluation` are computed on the native grid.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mona_lab.metrics.checks import _to_numpy


def _working_size(image_size: Any) -> tuple[int, int]:
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        size = (int(image_size), int(image_size))
    elif isinstance(image_size, (tuple, list)) and len(image_size) == 2:
        size = (int(image_size[0]), int(image_size[1]))
    else:
        raise ValueError(f"image_size must be an int S or a pair (S_h, S_w), got {image_size!r}")
    if min(size) < 1:
        raise ValueError(f"image_size must be positive, got {image_size!r}")
    return size


def _default_device(model_fn: Any, image: Any) -> torch.device:
    if isinstance(model_fn, torch.nn.Module):
        for tensor in list(model_fn.parameters()) + list(model_fn.buffers()):
            return tensor.device
    if isinstance(image, torch.Tensor):
        return image.device
    return torch.device("cpu")


def predict_volume(
    model_fn: Callable[[torch.Tensor], torch.Tensor],
    image: Any,
    image_size: int | tuple[int, int],
    batch_size: int = 16,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Segment a volume slice by slice with a 2D model, as the papers evaluate ACDC.

    Each slice ``[H, W]`` is resized to the working size with bilinear interpolation
    (``align_corners=False``), the model runs on batches of slices, its logits are resized
    back to ``[H, W]`` bilinearly and the argmax is taken at the native size (so class
    boundaries are placed at native resolution rather than by upsampling a label map).
    The model runs under ``torch.no_grad()``; an ``nn.Module`` is switched to ``eval()``
    for the call and its previous mode restored afterwards. Intensity normalisation is
    the caller's job (SSL4MIS h5 images are already min-max scaled to [0, 1]).

    Args:
        model_fn: callable ``x [B, 1, S_h, S_w] -> logits [B, C, S_h, S_w]`` (a tensor;
            wrap models that return tuples, e.g. ``lambda x: net(x)[0]``).
        image: the volume ``[D, H, W]`` (numpy array or torch tensor, any real dtype).
        image_size: working size ``S`` or ``(S_h, S_w)`` the model was trained at.
        batch_size: slices per forward pass (results do not depend on it).
        device: where to run; default: the module's device when ``model_fn`` is an
            ``nn.Module``, else the image's device (CPU for numpy input).

    Returns:
        predicted labels ``[D, H, W]`` as an int64 numpy array.

    Raises:
        ValueError: ``image`` is not 3D, bad ``image_size``/``batch_size``, or the model's
            output is not a ``[B, C, S_h, S_w]`` tensor.
    """
    volume = image if isinstance(image, torch.Tensor) else torch.as_tensor(_to_numpy(image, "image"))
    if volume.ndim != 3:
        raise ValueError(f"image must be a volume [D, H, W], got shape {tuple(volume.shape)}")
    if not (volume.is_floating_point() or volume.dtype in (torch.uint8, torch.int16, torch.int32, torch.int64)):
        raise ValueError(f"image must hold real intensities, got dtype {volume.dtype}")
    size = _working_size(image_size)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    run_device = torch.device(device) if device is not None else _default_device(model_fn, image)
    depth, height, width = volume.shape
    was_training = isinstance(model_fn, torch.nn.Module) and model_fn.training
    if was_training:
        model_fn.eval()  # type: ignore[union-attr]
    predictions = []
    try:
        with torch.no_grad():
            for start in range(0, depth, int(batch_size)):
                x = volume[start:start + int(batch_size)].to(run_device, torch.float32).unsqueeze(1)
                if (height, width) != size:
                    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
                logits = model_fn(x)
                if not isinstance(logits, torch.Tensor) or logits.ndim != 4 or logits.shape[0] != x.shape[0] \
                        or tuple(logits.shape[2:]) != size:
                    got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
                    raise ValueError(
                        f"model_fn must map x {tuple(x.shape)} to logits [B, C, {size[0]}, {size[1]}], got {got}"
                    )
                if (height, width) != size:
                    logits = F.interpolate(logits.float(), size=(height, width), mode="bilinear",
                                           align_corners=False)
                predictions.append(logits.max(dim=1).indices.to("cpu", torch.int64))  # argmax; 30x faster on CPU
    finally:
        if was_training:
            model_fn.train()  # type: ignore[union-attr]
    if not predictions:
        return np.zeros((0, height, width), dtype=np.int64)
    return torch.cat(predictions).numpy()
