"""Equivariance loss L_eqv (MONA TPAMI 2024 Eq. 6; CVPR 2023 Eq. 3.6).

A segmentation network F should commute with a random transformation T: transforming the
prediction, T(F(x)), should match predicting on the transformed image, F(T(x)). MONA
measures the mismatch with a symmetric KL divergence between the two class distributions.
The transformation itself lives in ``mona_lab.augment``; this loss takes its two results.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class EquivarianceLoss(nn.Module):
    """Symmetric KL between T(F(x)) and F(T(x)) per pixel (MONA Eq. 6).

    With P = softmax(T(F(x)) / temperature) and Q = softmax(F(T(x)) / temperature) over
    classes at each pixel::

        L_eqv = KL(P || Q) + KL(Q || P) = sum_c (P_c - Q_c) (log P_c - log Q_c)

    averaged over the valid pixels of the batch. The paper writes a sum over images; the
    mean keeps the scale independent of batch and image size (MONA weights L_eqv with
    lambda_2 = 1). Both arguments come from the student F_theta, so gradient flows into
    both, as in Eq. 6; pass a detached tensor yourself to stop one side.

    Valid pixels: after a rotation or shift, some pixels of T(F(x)) are filled in from
    outside the image and carry no prediction. Pass ``valid_mask`` (True or weight 1 where
    both maps are real) to leave them out; a float mask acts as per-pixel weights. With no
    valid pixel the loss is 0, attached to the graph of both inputs.

    Args:
        temperature: softmax temperature applied to both logit maps (1.0 = plain softmax).

    Shapes:
        transformed_prediction: [B, C, H, W] (or [B, C, D, H, W]) logits T(F(x)).
        prediction_of_transformed: same shape, logits F(T(x)).
        valid_mask: optional [B, H, W] or [B, 1, H, W] bool or float weights.
        returns: scalar.

    Raises:
        ValueError: non-positive temperature; mismatched shapes of the logits or the mask.
    """

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)

    def forward(
        self,
        transformed_prediction: torch.Tensor,
        prediction_of_transformed: torch.Tensor,
        valid_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Scalar L_eqv; see the class docstring for shapes."""
        if transformed_prediction.dim() < 3:
            raise ValueError(
                f"transformed_prediction must be [B, C, *spatial], got shape "
                f"{tuple(transformed_prediction.shape)}"
            )
        if transformed_prediction.shape != prediction_of_transformed.shape:
            raise ValueError(
                f"transformed_prediction shape {tuple(transformed_prediction.shape)} must equal "
                f"prediction_of_transformed shape {tuple(prediction_of_transformed.shape)}"
            )
        log_p = F.log_softmax(transformed_prediction.float() / self.temperature, dim=1)
        log_q = F.log_softmax(prediction_of_transformed.float() / self.temperature, dim=1)
        per_pixel = ((log_p.exp() - log_q.exp()) * (log_p - log_q)).sum(dim=1)  # [B, *sp]
        if valid_mask is None:
            return per_pixel.mean()
        weights = self._weights(valid_mask, per_pixel.shape).to(per_pixel)
        total = weights.sum()
        if not bool(total > 0):
            return per_pixel.sum() * 0.0
        return (per_pixel * weights).sum() / total

    @staticmethod
    def _weights(valid_mask: torch.Tensor, pixel_shape: torch.Size) -> torch.Tensor:
        mask = valid_mask
        if mask.dim() == len(pixel_shape) + 1 and mask.shape[1] == 1:
            mask = mask.squeeze(1)
        if tuple(mask.shape) != tuple(pixel_shape):
            raise ValueError(
                f"valid_mask must be [B, *spatial] = {tuple(pixel_shape)} (or with a channel "
                f"axis of 1), got shape {tuple(valid_mask.shape)}"
            )
        return mask.float()
