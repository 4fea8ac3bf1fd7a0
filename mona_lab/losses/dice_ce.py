"""Supervised segmentation loss L_sup: an equal mix of soft Dice and cross-entropy.

MONA (You et al., CVPR 2023 Sec. 3.1 / TPAMI 2024 Sec. III-A) and ACTION (Sec. 3, "supervised
loss") train on labelled pixels with "an equal combination of dice loss and cross-entropy
loss". The papers do not spell the Dice variant out; their code base (SSL4MIS) uses the
V-Net form below, over every class including background, and mona_lab follows it.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class DiceCETerms:
    """The two halves of L_sup, each a scalar tensor (kept apart for logging)."""

    dice: torch.Tensor
    cross_entropy: torch.Tensor


class DiceCELoss(nn.Module):
    """L_sup = dice_weight * L_dice + ce_weight * L_ce (MONA Sec. III-A, CVPR version Sec. 3.1: "equal combination").

    Soft Dice, per class c over every valid pixel of the whole batch (V-Net form, the
    convention of the SSL4MIS code base the papers build on)::

        L_dice = 1 - mean_c (2 sum_i p_ic g_ic + smooth) / (sum_i p_ic^2 + sum_i g_ic^2 + smooth)

    with p = softmax(logits) and g the one-hot labels. ``squared_denominator=False`` gives
    the plain form sum p + sum g. Background (class 0) is included by default, as in SSL4MIS;
    ``include_background=False`` averages over classes 1..C-1 only (when C > 1).

    Smoothing: ``smooth`` (default 1e-5) is added to numerator and denominator, so a class
    absent from both labels and prediction scores Dice 1 (loss 0) and a class absent from the
    labels but predicted somewhere scores close to loss 1 -- finite in every case.

    Cross-entropy is the mean over valid pixels. Pixels labelled ``ignore_index`` count in
    neither term. When every pixel is ignored the loss is 0, still attached to the graph
    (``logits.sum() * 0``) so ``backward`` works and gives zero gradients.

    Args:
        dice_weight: weight of the Dice term (0.5: the papers' equal mix).
        ce_weight: weight of the cross-entropy term (0.5).
        include_background: whether class 0 takes part in the Dice mean.
        smooth: additive smoothing of the Dice ratio (> 0).
        squared_denominator: V-Net denominator sum p^2 + sum g^2 (True) or sum p + sum g.
        ignore_index: label value that marks pixels to leave out (-1).
        present_classes_only: average the Dice over the classes that have at least one
            (non-ignored) target pixel in the batch, instead of all C (False, SSL4MIS). With
            pseudo-labels this keeps a class that no confident pixel holds from being scored
            as a total miss, which would push its probability down everywhere.

    Shapes:
        logits: [B, C, H, W] or [B, C, D, H, W] (any number of spatial axes), raw scores.
        labels: [B, H, W] (or [B, 1, H, W]) integer class indices in [0, C) or
            ``ignore_index``; spatial shape equal to that of ``logits``.
        returns: scalar.

    Raises:
        ValueError: bad weights/smoothing at construction; mismatched shapes, non-integer
            labels or label values outside [0, C) (other than ``ignore_index``) in forward.
    """

    def __init__(
        self,
        dice_weight: float = 0.5,
        ce_weight: float = 0.5,
        include_background: bool = True,
        smooth: float = 1e-5,
        squared_denominator: bool = True,
        ignore_index: int = -1,
        present_classes_only: bool = False,
    ) -> None:
        super().__init__()
        if dice_weight < 0 or ce_weight < 0:
            raise ValueError(
                f"dice_weight and ce_weight must be >= 0, got {dice_weight} and {ce_weight}"
            )
        if not smooth > 0:
            raise ValueError(f"smooth must be > 0 so empty classes stay finite, got {smooth}")
        self.dice_weight = float(dice_weight)
        self.ce_weight = float(ce_weight)
        self.include_background = include_background
        self.smooth = float(smooth)
        self.squared_denominator = squared_denominator
        self.ignore_index = int(ignore_index)
        self.present_classes_only = bool(present_classes_only)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Scalar L_sup for ``logits`` [B, C, *spatial] and ``labels`` [B, *spatial]."""
        terms = self.terms(logits, labels)
        return self.dice_weight * terms.dice + self.ce_weight * terms.cross_entropy

    def terms(self, logits: torch.Tensor, labels: torch.Tensor) -> DiceCETerms:
        """The Dice and cross-entropy halves separately (same shapes as ``forward``)."""
        labels = self._checked_labels(logits, labels)
        valid = labels != self.ignore_index
        if not bool(valid.any()):
            zero = logits.sum() * 0.0
            return DiceCETerms(dice=zero, cross_entropy=zero)
        safe_labels = torch.where(valid, labels, torch.zeros_like(labels))
        log_probs = F.log_softmax(logits.float(), dim=1)
        cross_entropy = F.nll_loss(log_probs, labels, ignore_index=self.ignore_index)
        return DiceCETerms(
            dice=self._dice(log_probs.exp(), safe_labels, valid), cross_entropy=cross_entropy
        )

    def _dice(
        self, probs: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor
    ) -> torch.Tensor:
        num_classes = probs.shape[1]
        weight = valid.unsqueeze(1).to(probs.dtype)  # [B, 1, *spatial]
        onehot = F.one_hot(labels, num_classes).movedim(-1, 1).to(probs.dtype) * weight
        probs = probs * weight
        reduce_axes = [0] + list(range(2, probs.dim()))
        intersection = (probs * onehot).sum(reduce_axes)  # [C]
        target_pixels = onehot.sum(reduce_axes)  # [C]; = sum g^2 too, g being 0 or 1
        if self.squared_denominator:
            denominator = (probs * probs).sum(reduce_axes) + target_pixels
        else:
            denominator = probs.sum(reduce_axes) + target_pixels
        dice_per_class = (2.0 * intersection + self.smooth) / (denominator + self.smooth)
        present = target_pixels > 0  # [C]
        if not self.include_background and num_classes > 1:
            dice_per_class, present = dice_per_class[1:], present[1:]
        if self.present_classes_only:
            if not bool(present.any()):
                return probs.sum() * 0.0
            dice_per_class = dice_per_class[present]
        return 1.0 - dice_per_class.mean()

    def _checked_labels(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if logits.dim() < 3:
            raise ValueError(
                f"logits must be [B, C, *spatial] with at least one spatial axis, "
                f"got shape {tuple(logits.shape)}"
            )
        if labels.dim() == logits.dim() and labels.shape[1] == 1:
            labels = labels.squeeze(1)
        spatial = (logits.shape[0],) + tuple(logits.shape[2:])
        if tuple(labels.shape) != spatial:
            raise ValueError(
                f"labels must be [B, *spatial] = {spatial} to match logits "
                f"{tuple(logits.shape)}, got labels shape {tuple(labels.shape)}"
            )
        if labels.dtype.is_floating_point or labels.dtype == torch.bool:
            raise ValueError(f"labels must hold integer class indices, got dtype {labels.dtype}")
        labels = labels.long()
        num_classes = logits.shape[1]
        bad = (labels != self.ignore_index) & ((labels < 0) | (labels >= num_classes))
        if bool(bad.any()):
            found = torch.unique(labels[bad]).tolist()[:8]
            raise ValueError(
                f"labels hold values {found} outside [0, {num_classes}) for logits with "
                f"C={num_classes} (ignore_index={self.ignore_index})"
            )
        return labels
