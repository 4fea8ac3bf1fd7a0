"""Consistency: MONA's equivariance term on real features (MONA TPAMI 2024 Eq. 6, Table IV; notebook 03).

`equivariance_maps` puts T(F(x)) next to F(T(x)) per pixel for an affine (`affine_view`)
or a deformation (`deformation_view`) T, with the loss `EquivarianceLoss` computes from
them; `view_dice` measures how well a model segments weak and strong views
(`augmented_view`), the augmentation pairs of Table IV.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from mona_lab.augment import (
    AugmentedView,
    StrongAugmentConfig,
    sample_spatial_transform,
    strong_view,
    weak_view,
)
from mona_lab.lab.principles.batch import check_batch
from mona_lab.losses import EquivarianceLoss


def deformation_view(
    images: torch.Tensor, generator: torch.Generator, std: float = 0.03, control_points: int = 6
) -> AugmentedView:
    """A diffeomorphic deformation alone (no rotation, crop, flip or intensity change):
    MONA's "morphological changes" part of the strong view, exaggerated by ``std`` so it
    shows at 64 px."""
    check_batch(images)
    config = StrongAugmentConfig(
        rotation_degrees=0.0, crop_scale=(1.0, 1.0), flip_prob=0.0, deformation_prob=1.0,
        deformation_std=std, deformation_control_points=control_points,
    )  # fmt: skip
    b, _, h, w = images.shape
    transform = sample_spatial_transform(b, (h, w), generator, config, images.device)
    return AugmentedView(transform.apply(images), None, transform, transform.valid_mask())


def affine_view(images: torch.Tensor, generator: torch.Generator) -> AugmentedView:
    """A random rotation, crop and flip: the T that MONA's L_eqv uses in mona_lab (`weak_view`)."""
    check_batch(images)
    return weak_view(images, None, generator)


@torch.no_grad()
def equivariance_maps(model, images: torch.Tensor, view: AugmentedView) -> dict[str, torch.Tensor | float]:
    """T(F(x)) against F(T(x)) for one transform T (MONA Eq. 6).

    Args:
        model: a network returning ``.logits`` (or any callable ``x -> [B, C, S, S]`` logits).
        images: [B, 1, S, S] the untransformed x.
        view: the `AugmentedView` T(x) of ``images`` (from `affine_view`, `deformation_view`...).

    Returns:
        ``{"T_of_F": [B, C, S, S] probabilities, "F_of_T": [B, C, S, S] probabilities,
        "kl_map": [B, S, S] symmetric KL per pixel (0 outside the valid mask),
        "valid": [B, S, S] bool, "loss": float}`` -- ``loss`` is `EquivarianceLoss` exactly
        as training computes it.
    """
    check_batch(images)
    logits_x = _logits(model, images)
    logits_tx = _logits(model, view.images)
    moved = view.apply_to_outputs(logits_x)
    loss = float(EquivarianceLoss()(moved, logits_tx, valid_mask=view.valid_mask))
    log_p, log_q = F.log_softmax(moved.float(), dim=1), F.log_softmax(logits_tx.float(), dim=1)
    kl_map = ((log_p.exp() - log_q.exp()) * (log_p - log_q)).sum(dim=1) * view.valid_mask
    return {"T_of_F": log_p.exp(), "F_of_T": log_q.exp(), "kl_map": kl_map, "valid": view.valid_mask, "loss": loss}


def _logits(model, images: torch.Tensor) -> torch.Tensor:
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        out = model(images)
    finally:
        if hasattr(model, "train"):
            model.train(was_training)
    return out.logits if hasattr(out, "logits") else out


def augmented_view(images: torch.Tensor, labels: torch.Tensor, kind: str, generator: torch.Generator) -> AugmentedView:
    """``kind="weak"`` (rotation, crop, flip) or ``"strong"`` (those plus deformation,
    contrast, brightness and CutMix) view of a labelled batch (MONA Sec. IV-B, Table IV)."""
    if kind == "weak":
        return weak_view(images, labels, generator)
    if kind == "strong":
        return strong_view(images, labels, generator)
    raise ValueError(f"kind must be 'weak' or 'strong', got {kind!r}")


@torch.no_grad()
def view_dice(model, images: torch.Tensor, labels: torch.Tensor, kind: str, *, repeats: int = 4, seed: int = 0) -> np.ndarray:
    """Per-class Dice [C-1] of a model's prediction on ``kind`` views of a labelled batch,
    against the labels moved with the view (valid pixels only), pooled over ``repeats``
    random views. How good a pseudo-label from that view is (teacher side of Table IV) and
    how hard the view is to segment (student side)."""
    check_batch(images, labels)
    generator = torch.Generator(device=images.device).manual_seed(int(seed))
    num_classes = None
    inter = union = None
    for _ in range(repeats):
        view = augmented_view(images, labels.long(), kind, generator)
        logits = _logits(model, view.images)
        num_classes = logits.shape[1]
        pred = logits.max(dim=1).indices
        valid = view.valid_mask
        if inter is None:
            inter, union = torch.zeros(num_classes), torch.zeros(num_classes)
        for c in range(1, num_classes):
            p, g = (pred == c) & valid, (view.labels == c) & valid
            inter[c] += (p & g).sum().cpu()
            union[c] += (p.sum() + g.sum()).cpu()
    dice = torch.where(union > 0, 2 * inter / union.clamp_min(1), torch.ones_like(union))
    return dice[1:].numpy()
