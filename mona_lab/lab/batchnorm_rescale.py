"""A reparametrisation that leaves a BatchNorm network's function unchanged (Li et al. 2018, Sec. 4).

A ``Linear`` or ``ConvNd`` layer followed by BatchNorm can have its weights multiplied by any
``c > 0`` without changing what the network computes: in training mode BatchNorm divides the
scale out, and in ``eval()`` mode it does so once its running statistics are rescaled too.
Li et al. introduce filter normalisation because of this: a loss-landscape picture whose
sharpness changes under such a rescaling measures the parametrisation, not the function.
Notebook 06 uses `rescale_before_batchnorm` to show which direction normalisations pass
this test.
"""
from __future__ import annotations

import copy
import math

import torch
from torch import nn

_SCALE_INVARIANT_PAIRS = (
    (nn.Linear, nn.BatchNorm1d), (nn.Conv1d, nn.BatchNorm1d), (nn.Conv2d, nn.BatchNorm2d), (nn.Conv3d, nn.BatchNorm3d),
)


def rescale_before_batchnorm(model: nn.Module, factor: float) -> tuple[nn.Module, int]:
    """A copy of ``model`` that computes the same function in ``eval()`` mode with other weights.

    Every ``Linear``/``ConvNd`` directly followed by a ``BatchNormNd`` in the same container
    gets ``W <- c W`` and ``b <- c b``, and that BatchNorm ``mu <- c mu``,
    ``sigma^2 <- c^2 sigma^2`` and ``eps <- c^2 eps``:
    ``(c (W x + b) - c mu) / sqrt(c^2 sigma^2 + c^2 eps)`` equals the original exactly
    (up to float rounding). The scale invariance Li et al. (2018, Sec. 4) built filter
    normalisation for: a sharpness measure that changes under this rescaling measures the
    parametrisation, not the function.

    Returns:
        ``(rescaled copy, number of rescaled layers)``; ``model`` itself is not changed.

    Raises:
        ValueError: ``model`` not an ``nn.Module`` or ``factor`` not a finite number > 0.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not math.isfinite(factor) or factor <= 0:
        raise ValueError(f"factor must be a finite number > 0, got {factor!r}")
    rescaled, count = copy.deepcopy(model), 0
    with torch.no_grad():
        for container in rescaled.modules():
            children = list(container.children())
            for layer, norm in zip(children, children[1:]):
                if not any(type(layer) is a and type(norm) is b for a, b in _SCALE_INVARIANT_PAIRS):
                    continue
                if not norm.track_running_stats or norm.running_mean is None:
                    continue
                layer.weight.mul_(factor)
                if layer.bias is not None:
                    layer.bias.mul_(factor)
                norm.running_mean.mul_(factor)
                norm.running_var.mul_(factor * factor)
                norm.eps = norm.eps * factor * factor
                count += 1
    return rescaled, count


__all__ = ["rescale_before_batchnorm"]
