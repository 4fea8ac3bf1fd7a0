"""Unsupervised pseudo-label loss L_unsup (MONA TPAMI 2024 Sec. III-B "Setup"; ACTION Sec. 3).

The teacher sees the weakly augmented view and labels every pixel with its most likely
class; the student, on the strongly augmented view, is trained with cross-entropy on those
labels. MONA weights the term by how much of the teacher's map is confident (probability
>= delta = 0.97, MONA Fig. 11(a); ACTION "confidence threshold theta_s = 0.97").
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PseudoLabelLoss(nn.Module):
    """L_unsup = share_confident * CE(student, argmax teacher) (MONA L_unsup, delta = 0.97).

    ::

        q            = softmax(teacher_logits)                  (no gradient)
        yhat_i       = argmax_c q_ic,    conf_i = max_c q_ic
        share        = (1/N) sum_i 1[conf_i >= threshold]       (over all N pixels of the batch)
        L_unsup      = share * (1/N) sum_i -log softmax(student_logits)_i[yhat_i]

    The weight is one scalar for the batch (the share of confident pixels), not a per-pixel
    mask: every pixel contributes to the cross-entropy, and a batch whose teacher is unsure
    everywhere contributes nothing. The papers give the threshold but not the form of the
    weighting; this is the form described in ``reference-notes.md`` (MONA's code base).
    Nothing flows back into the teacher.

    Args:
        threshold: confidence delta (0.97).

    Shapes:
        student_logits: [B, C, H, W] (or [B, C, D, H, W]) logits on the strong view.
        teacher_logits: same shape, logits on the weak view (aligned pixel for pixel).
        returns: scalar.

    Raises:
        ValueError: threshold outside [0, 1]; mismatched shapes.
    """

    def __init__(self, threshold: float = 0.97) -> None:
        super().__init__()
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
        self.threshold = float(threshold)

    @torch.no_grad()
    def pseudo_labels(self, teacher_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher labels [B, *spatial] (int64) and confidences [B, *spatial] (max prob)."""
        confidence, labels = F.softmax(teacher_logits.float(), dim=1).max(dim=1)
        return labels, confidence

    def confident_share(self, teacher_logits: torch.Tensor) -> torch.Tensor:
        """Share of pixels whose teacher confidence is >= threshold (scalar in [0, 1])."""
        _, confidence = self.pseudo_labels(teacher_logits)
        return (confidence >= self.threshold).float().mean()

    def forward(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        """Scalar L_unsup; see the class docstring for shapes."""
        if student_logits.dim() < 3:
            raise ValueError(
                f"student_logits must be [B, C, *spatial], got shape "
                f"{tuple(student_logits.shape)}"
            )
        if teacher_logits.shape != student_logits.shape:
            raise ValueError(
                f"teacher_logits shape {tuple(teacher_logits.shape)} must equal "
                f"student_logits shape {tuple(student_logits.shape)}"
            )
        if student_logits.numel() == 0:
            return student_logits.sum() * 0.0
        labels, confidence = self.pseudo_labels(teacher_logits.detach())
        share = (confidence >= self.threshold).float().mean()
        cross_entropy = F.cross_entropy(student_logits.float(), labels)
        return share * cross_entropy
