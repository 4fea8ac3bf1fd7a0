"""Argument checks shared by the pixel contrasts (`AnatomicalContrastLoss`,
`AdaptiveAnatomicalContrastLoss`): settings, temperatures and the shapes of the maps
a forward pass receives. Every failure is a ``ValueError`` whose message names the shapes.
"""
from __future__ import annotations

import torch

SAMPLER_CHOICES = ("ns", "sg", "sag", "block")


def check_temperature(value) -> float:
    """A contrastive temperature as a float; ``ValueError`` unless finite and > 0."""
    value = float(value)
    if not value > 0.0 or value != value or value == float("inf"):
        raise ValueError(f"temperature must be a finite number > 0, got {value!r}")
    return value


class SettableTemperature:
    """A loss's ``temperature`` attribute, checked (`check_temperature`) on every assignment:
    a schedule (ACTION++ ATS, Eq. 6) may set it every step. Mixed into the pixel contrasts."""

    @property
    def temperature(self) -> float:
        """The contrastive temperature tau (Eq. 3 of MONA, tau_sa of ACTION++ Eq. 5)."""
        return self._temperature

    @temperature.setter
    def temperature(self, value: float) -> None:
        self._temperature = check_temperature(value)


def is_positive_int(value) -> bool:
    """True for an ``int`` >= 1 (``bool`` excluded)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def is_float_map(value) -> bool:
    """True for a float tensor [B, D, H, W] or [B, D, Z, H, W]."""
    return isinstance(value, torch.Tensor) and value.ndim in (4, 5) and value.is_floating_point()


def is_label_map(value, ndim: int) -> bool:
    """True for an integer tensor with ``ndim`` dimensions ([B, *spatial])."""
    return isinstance(value, torch.Tensor) and not value.is_floating_point() and value.ndim == ndim


def describe(value) -> str:
    """A tensor's shape, or the type name of anything else, for error messages."""
    return str(tuple(value.shape)) if isinstance(value, torch.Tensor) else type(value).__name__


def check_contrast_inputs(
    features, labels, probs, *, num_classes: int | None, embed_dim: int | None, hard_queries: bool
) -> int:
    """Check one forward pass of `AnatomicalContrastLoss` and return the number of classes C.

    Args:
        features: [B, D, *spatial] float embeddings.
        labels: [B, *spatial] integer labels, -1 = ignore.
        probs: [B, C, *spatial] probabilities, or ``None`` (only when not ``hard_queries``).
        num_classes: the loss's C, or ``None`` to take it from ``probs`` (else ``labels.max() + 1``).
        embed_dim: the loss's D, or ``None`` (not checked).
        hard_queries: whether ``probs`` are needed.

    Raises:
        ValueError: mismatched shapes, or labels outside [-1, C).
    """
    if not is_float_map(features):
        raise ValueError(
            f"features must be a float tensor [B, D, H, W] or [B, D, Z, H, W], got {describe(features)}"
        )
    if not is_label_map(labels, features.ndim - 1):
        raise ValueError(
            f"labels must be an integer tensor [B, *spatial] matching features "
            f"{tuple(features.shape)}, got {describe(labels)}"
        )
    if labels.shape[0] != features.shape[0] or labels.shape[1:] != features.shape[2:]:
        raise ValueError(
            f"labels {tuple(labels.shape)} do not match features {tuple(features.shape)} "
            "(expected labels [B, *spatial] for features [B, D, *spatial])"
        )
    if embed_dim is not None and features.shape[1] != embed_dim:
        raise ValueError(
            f"features {tuple(features.shape)} have D={features.shape[1]}, expected embed_dim={embed_dim}"
        )
    if probs is None:
        if hard_queries:
            raise ValueError("probs [B, C, *spatial] are needed to pick hard queries (hard_queries=True)")
    else:
        if not isinstance(probs, torch.Tensor) or probs.ndim != features.ndim:
            raise ValueError(
                f"probs must be [B, C, *spatial] matching features {tuple(features.shape)}, "
                f"got {describe(probs)}"
            )
        if probs.shape[0] != features.shape[0] or probs.shape[2:] != features.shape[2:]:
            raise ValueError(
                f"probs {tuple(probs.shape)} do not match features {tuple(features.shape)} "
                "(expected probs [B, C, *spatial] for features [B, D, *spatial])"
            )
        if num_classes is not None and probs.shape[1] != num_classes:
            raise ValueError(
                f"probs {tuple(probs.shape)} have C={probs.shape[1]}, expected num_classes={num_classes}"
            )
    if num_classes is None and probs is not None:
        num_classes = probs.shape[1]
    elif num_classes is None:
        num_classes = int(labels.max().item()) + 1 if labels.numel() else 1
        num_classes = max(num_classes, 1)
    if labels.numel():
        low, high = int(labels.min().item()), int(labels.max().item())
        if low < -1 or high >= num_classes:
            raise ValueError(
                f"labels {tuple(labels.shape)} hold values in [{low}, {high}]; "
                f"expected -1 (ignore) or 0..{num_classes - 1}"
            )
    return num_classes


def check_contrast_settings(
    *,
    num_classes,
    embed_dim,
    num_queries,
    num_negatives,
    key_pool_size,
    threshold,
    sampler,
    grid,
    memory_size,
    memory_push,
) -> None:
    """Check the settings of `AnatomicalContrastLoss` (see its Args); ``ValueError`` names the bad one."""
    counts = (("num_queries", num_queries), ("num_negatives", num_negatives), ("key_pool_size", key_pool_size))
    for name, value in counts:
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    if sampler not in SAMPLER_CHOICES:
        raise ValueError(f"sampler must be one of {SAMPLER_CHOICES}, got {sampler!r}")
    grid_values = (grid,) if isinstance(grid, int) else tuple(grid)
    if not grid_values or any(not is_positive_int(g) for g in grid_values):
        raise ValueError(f"grid must be a positive integer or a sequence of them, got {grid!r}")
    if not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"threshold must lie in [0, 1], got {threshold!r}")
    if not isinstance(memory_size, int) or memory_size < 0:
        raise ValueError(f"memory_size must be a non-negative integer, got {memory_size!r}")
    if memory_size > 0 and (num_classes is None or embed_dim is None):
        raise ValueError(
            "a memory bank (memory_size > 0) needs num_classes and embed_dim for its buffers"
        )
    if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 1):
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    if embed_dim is not None and (not isinstance(embed_dim, int) or embed_dim < 1):
        raise ValueError(f"embed_dim must be a positive integer, got {embed_dim!r}")
    if memory_push is not None and (not isinstance(memory_push, int) or memory_push < 1):
        raise ValueError(f"memory_push must be a positive integer or None, got {memory_push!r}")
