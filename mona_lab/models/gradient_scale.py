"""Scale the gradient that an auxiliary head sends back into the segmentation network.

Why (`mona_lab.training.dynamics` measures it): every convolution of the UNet is
followed by BatchNorm, so the network's output does not depend on a conv weight's scale
and that weight's effective learning rate falls as 1/|w|^2. At initialisation on ACDC
(128 px, width 0.25), the gradient of MONA's L_nn on the bottleneck features was 160x that
of L_sup: the auxiliary losses grow the encoder's weight norms until L_sup can no longer
move them (Dice 0 on every seed). Scaling what flows from the heads into the backbone by
``alpha`` keeps every auxiliary loss acting on the features (direction unchanged, the
heads themselves learn at full rate) while L_sup keeps control of the encoder.

``alpha = 1`` is the papers' recipe (no scaling); ``alpha = 0`` stops the heads'
gradients at the backbone (the heads then learn on fixed features).

    forward:  y = x                 backward:  dL/dx = alpha * dL/dy
"""
from __future__ import annotations

import torch


class _ScaleGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float) -> torch.Tensor:
        ctx.alpha = alpha
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad * ctx.alpha, None


def scale_gradient(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """``x`` unchanged in the forward pass; its gradient multiplied by ``alpha`` in the backward.

    Shapes: any tensor; returns the same shape. ``alpha == 1`` returns ``x`` itself.

    Raises:
        ValueError: if ``alpha`` is negative or not finite.
    """
    alpha = float(alpha)
    if not (0.0 <= alpha < float("inf")):
        raise ValueError(f"gradient scale alpha must be a finite number >= 0, got {alpha}")
    if alpha == 1.0 or not x.requires_grad:
        return x
    return _ScaleGradient.apply(x, alpha)
