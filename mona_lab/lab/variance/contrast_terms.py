"""The pixel-contrastive loss of one class as an aggregation over its pixels (ARCO Eq. 3.1).

ARCO (NeurIPS 2023, Sec. 3.3) reads the pixel-contrastive loss of one class as an
*aggregation function* (Eq. 3.1, footnote 3: "up to normalizing constant")::

    H = (1/|P|) sum_{p in P} h(p),   h(p) = -log( e^{q_p.k+/tau} / (e^{q_p.k+/tau} + sum_{k-} e^{q_p.k-/tau}) )

with ``P`` the class's pixels, ``q_p`` the normalised embedding of pixel p, ``k+`` the class
mean of the normalised embeddings (MONA Eq. 4) and ``k-`` the normalised embeddings of the
other classes' pixels (MONA Eq. 3 with the full negative set). `contrast_terms` computes
the per-pixel map ``h(p)`` of one class and the per-pixel gradient ``dh(p)/dk+`` (a ``[D]``
vector per pixel: the gradient of the loss with respect to the class prototype), so that
the loss *and* its gradient are aggregation functions; `pixel_loss_map` gives every pixel
its own class's ``h(p)`` (ARCO Fig. 3). `handcrafted_embeddings` and
`representative_slices` make model-free inputs and pick slices for the studies.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class ContrastTerms:
    """The contrastive loss of one class as an aggregation over its pixels (ARCO Eq. 3.1).

    Attributes:
        mask: ``[B, H, W]`` bool, the class's pixels ``P``.
        loss_map: ``[B, H, W]`` float64, ``h(p)`` on ``P`` and 0 elsewhere.
        gradient_map: ``[D, B, H, W]`` float64, ``dh(p)/dk+`` on ``P`` and 0 elsewhere.
        prototype: ``[D]`` float64, the positive key ``k+`` (class mean of normalised
            embeddings).
        loss: ``H``, the mean of ``h`` over ``P`` (float).
        gradient: ``[D]``, the mean of ``dh/dk+`` over ``P`` = ``dH/dk+``.
    """

    mask: torch.Tensor
    loss_map: torch.Tensor
    gradient_map: torch.Tensor
    prototype: torch.Tensor
    loss: float
    gradient: torch.Tensor


def check_features_labels(features: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``features`` as ``[B, D, H, W]`` and ``labels`` as int64 ``[B, H, W]`` (a missing batch
    axis is added); `ValueError` naming the shapes when they do not fit."""
    if not isinstance(features, torch.Tensor) or not features.is_floating_point() or features.ndim not in (3, 4):
        raise ValueError(
            "features must be a float tensor [D, H, W] or [B, D, H, W], got "
            f"{tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__}"
        )
    if features.ndim == 3:
        features = features.unsqueeze(0)
    if not isinstance(labels, torch.Tensor) or labels.is_floating_point():
        raise ValueError(f"labels must be an integer tensor [B, H, W], got {type(labels).__name__}")
    if labels.ndim == 2:
        labels = labels.unsqueeze(0)
    if labels.shape != features.shape[:1] + features.shape[2:]:
        raise ValueError(
            f"labels {tuple(labels.shape)} do not match features {tuple(features.shape)} "
            "(expected labels [B, H, W] for features [B, D, H, W])"
        )
    return features, labels.long()


def contrast_terms(
    features: torch.Tensor, labels: torch.Tensor, class_index: int, temperature: float = 0.5
) -> ContrastTerms:
    """Per-pixel terms ``h(p)`` of the pixel-contrastive loss of one class, and their gradient.

    ``h(p)`` is MONA Eq. 3 (ACTION Eq. 4, ACTION++ Eq. 2) for the single query ``q_p``: positive key
    ``k+`` = mean of the class's normalised embeddings (MONA Eq. 4, not re-normalised,
    as in `mona_lab.losses.AnatomicalContrastLoss`), negatives = every pixel whose label
    is another class (labels -1 are ignored). Its gradient with respect to the prototype,
    holding the negatives fixed, is ``dh/dk+ = (s_+(p) - 1) q_p / tau`` with ``s_+`` the
    softmax weight of the positive logit. The mean of ``h`` over the class is ARCO's
    aggregation ``H`` (Eq. 3.1); with every class's ``H`` averaged it equals
    ``AnatomicalContrastLoss(num_queries=None, num_negatives=None, hard_queries=False)``.

    Args:
        features: ``[B, D, H, W]`` (or ``[D, H, W]``) pixel embeddings (normalised inside).
        labels: ``[B, H, W]`` (or ``[H, W]``) integer labels, -1 = ignore.
        class_index: the class ``c`` whose pixels form ``P``.
        temperature: tau (MONA: 0.5).

    Returns:
        `ContrastTerms` (float64, on the features' device).

    Raises:
        ValueError: bad shapes, ``temperature <= 0``, a class without pixels or without
            any pixel of another class to contrast with.
    """
    features, labels = check_features_labels(features, labels)
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    mask = labels == int(class_index)
    negatives_mask = (labels >= 0) & ~mask
    if not mask.any():
        raise ValueError(f"class {class_index} has no pixel in labels {tuple(labels.shape)}")
    if not negatives_mask.any():
        raise ValueError(f"class {class_index} has no pixel of another class to contrast with")
    emb = F.normalize(features.detach().to(torch.float64), dim=1).movedim(1, -1)  # [B, H, W, D]
    queries = emb[mask]  # [N, D]
    negatives = emb[negatives_mask]  # [K, D]
    prototype = queries.mean(dim=0)
    positive = queries @ prototype / temperature  # [N]
    negative = queries @ negatives.T / temperature  # [N, K]
    logits = torch.cat([positive[:, None], negative], dim=1)
    log_norm = torch.logsumexp(logits, dim=1)
    per_pixel = log_norm - positive
    weight = torch.exp(positive - log_norm)  # softmax weight of the positive
    grads = ((weight - 1.0)[:, None] * queries / temperature)  # [N, D]
    loss_map = torch.zeros(mask.shape, dtype=torch.float64, device=features.device)
    loss_map[mask] = per_pixel
    gradient_map = torch.zeros((features.shape[1],) + tuple(mask.shape), dtype=torch.float64, device=features.device)
    gradient_map[:, mask] = grads.T
    return ContrastTerms(mask, loss_map, gradient_map, prototype, float(per_pixel.mean()), grads.mean(dim=0))


def representative_slices(labels: torch.Tensor, num_classes: int, count: int = 6) -> torch.Tensor:
    """Indices of the ``count`` slices that show the most classes (ties: lowest index first).

    Args:
        labels: ``[N, H, W]`` integer labels in ``0..num_classes-1``.

    Returns:
        int64 ``[min(count, N)]``.
    """
    if not isinstance(labels, torch.Tensor) or labels.ndim != 3 or labels.is_floating_point():
        raise ValueError(f"labels must be an integer tensor [N, H, W], got {getattr(labels, 'shape', type(labels))}")
    present = F.one_hot(labels.long().clamp(0, num_classes - 1), num_classes).any(dim=(1, 2)).sum(dim=1)
    return torch.argsort(present, descending=True, stable=True)[: int(count)]


def handcrafted_embeddings(images: torch.Tensor, box_sizes: Sequence[int] = (3, 7)) -> torch.Tensor:
    """Model-free pixel embeddings: intensity, local box means and position (float64).

    Used where a result must not depend on a trained network (e.g. regression-checked
    numbers): channels are the centred intensity, the centred mean over a ``k x k`` box for
    each ``k`` in ``box_sizes`` (zero padding at the border), and the x and y coordinates
    scaled to [-1, 1]. Pixels of one structure are then similar, and ``h(p)`` varies in
    space, as it does for learned embeddings.

    Args:
        images: ``[B, 1, H, W]`` float images.
        box_sizes: odd box sides.

    Returns:
        ``[B, 3 + len(box_sizes), H, W]`` float64.
    """
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 1:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be [B, 1, H, W], got {shape}")
    if any(int(k) < 1 or int(k) % 2 == 0 for k in box_sizes):
        raise ValueError(f"box_sizes must be odd positive integers, got {tuple(box_sizes)}")
    x = images.to(torch.float64)
    batch, _, height, width = x.shape
    channels = [x - x.mean()]
    for k in box_sizes:
        box = F.avg_pool2d(x, int(k), stride=1, padding=int(k) // 2, count_include_pad=True)
        channels.append(box - box.mean())
    ys = torch.linspace(-1.0, 1.0, height, dtype=torch.float64, device=x.device)
    xs = torch.linspace(-1.0, 1.0, width, dtype=torch.float64, device=x.device)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    channels += [grid_x.expand(batch, 1, height, width), grid_y.expand(batch, 1, height, width)]
    return torch.cat(channels, dim=1)


def pixel_loss_map(features: torch.Tensor, labels: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """``h(p)`` of every pixel for its own class (the z-axis of ARCO Fig. 3).

    Args:
        features: ``[B, D, H, W]`` (or ``[D, H, W]``) embeddings; labels ``[B, H, W]``
            (or ``[H, W]``), -1 = ignore.
        temperature: tau.

    Returns:
        float64 ``[B, H, W]``: `contrast_terms` ``loss_map`` of each pixel's class; NaN at
        ignored pixels (and everywhere when fewer than two classes are present).
    """
    features, labels = check_features_labels(features, labels)
    out = torch.full(labels.shape, math.nan, dtype=torch.float64, device=features.device)
    for c in contributing_classes(labels):
        terms = contrast_terms(features, labels, c, temperature)
        out[terms.mask] = terms.loss_map[terms.mask]
    return out


def contributing_classes(labels: torch.Tensor) -> list[int]:
    """The classes present in ``labels`` (ignoring -1), or ``[]`` when fewer than two are:
    a contrastive loss needs another class to contrast with."""
    present = sorted(int(c) for c in torch.unique(labels[labels >= 0]).tolist())
    return present if len(present) > 1 else []
