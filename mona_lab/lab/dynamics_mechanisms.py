"""Two mechanisms of notebook 09 shown on tiny tensors, with printed numbers.

1. `scale_invariance_demo`: a conv followed by BatchNorm, ``y = BN(conv(x, w))``. For any
   ``a > 0``, ``conv(x, a w) = a conv(x, w)`` and BN divides the scale out, so
   ``L(a w) = L(w)``. Differentiating gives ``grad L(a w) = grad L(w) / a`` (scale w by 2,
   the gradient halves) and, at ``a = 1``, ``<grad L(w), w> = 0`` (the gradient is
   orthogonal to w). An SGD step therefore only grows the norm,
   ``|w - lr g|^2 = |w|^2 + lr^2 |g|^2``, and turns w's direction by about
   ``lr |g(w)| / |w| = lr |g(w/|w|)| / |w|^2``: the effective learning rate is ``lr / |w|^2``
   (van Laarhoven 2017, "L2 regularization versus batch and weight normalization").
2. `instance_logit_demo`: GLCon's instance discrimination (MONA Eq. 1-2, ACTION Eq. 1-3)
   divides cosine similarities by tau_s = 0.1 (student) and tau_t = 0.01 (teacher): logits up
   to 10 and 100, a one-hot teacher target, and a gradient into the embedding that grows as
   ``1 / tau``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


# ---------------------------------------------------------------------------------------
# 1. scale invariance
# ---------------------------------------------------------------------------------------
def scale_invariance_demo(scales=(1.0, 2.0, 4.0), lr: float = 0.1, seed: int = 0) -> list[dict[str, float]]:
    """Conv 3->4 (3x3, no bias) followed by BatchNorm (training mode), float64, on x [8,3,8,8]
    and a fixed random target; loss = mean squared error of the BN output.

    For each ``a`` in ``scales`` the weight is ``a * w0``. Returns one row per scale:
    ``|w|``, ``max|y - y(w0)|`` (output change), ``|g|``, ``a |g|`` (constant when
    ``grad L(a w) = grad L(w) / a``), ``cos(g, w)`` (0: orthogonal), ``|w'|`` after one SGD
    step with ``lr`` and ``sqrt(|w|^2 + lr^2 |g|^2)`` (equal: the step only grows the norm),
    and the step's turn of w's direction in radians (falls as ``1 / a^2``).

    Raises:
        ValueError: a scale that is not a positive finite number, or ``lr <= 0``.
    """
    if not scales or any(not (0 < float(a) < math.inf) for a in scales):
        raise ValueError(f"scales must be positive finite numbers, got {scales!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(8, 3, 8, 8, generator=generator, dtype=torch.float64)
    target = torch.randn(8, 4, 8, 8, generator=generator, dtype=torch.float64)
    w0 = torch.randn(4, 3, 3, 3, generator=generator, dtype=torch.float64) * 0.3
    norm = nn.BatchNorm2d(4, eps=1e-12).double().train()
    reference = None
    rows = []
    for a in scales:
        w = (w0 * float(a)).requires_grad_(True)
        y = norm(F.conv2d(x, w, padding=1))
        (grad,) = torch.autograd.grad(F.mse_loss(y, target), w)
        if reference is None:
            reference = y.detach()
        w = w.detach()
        stepped = w - lr * grad
        cosine = float((grad * w).sum() / (grad.norm() * w.norm()))
        turn = float(torch.arccos(torch.clamp((stepped * w).sum() / (stepped.norm() * w.norm()), -1.0, 1.0)))
        rows.append({
            "scale": float(a), "w_norm": float(w.norm()), "output_change": float((y.detach() - reference).abs().max()),
            "grad_norm": float(grad.norm()), "scale_times_grad": float(a) * float(grad.norm()), "cos_grad_w": cosine,
            "norm_after_step": float(stepped.norm()),
            "predicted_norm": math.sqrt(float(w.norm()) ** 2 + lr**2 * float(grad.norm()) ** 2), "turn": turn,
        })  # fmt: skip
    return rows


# ---------------------------------------------------------------------------------------
# 2. instance-discrimination logits (GLCon)
# ---------------------------------------------------------------------------------------
def instance_logit_demo(temperatures=(1.0, 0.1, 0.01), num_views: int = 36, dim: int = 16, seed: int = 0):
    """Logits ``sim(u, w_j) / tau`` of MONA Eq. 1-2 for one embedding ``u`` against
    ``num_views`` random unit views (``u`` near view 0), per temperature.

    Returns one row per tau: the largest |logit| (at most ``1 / tau``), the softmax's top
    probability (the target the teacher sets at tau_t = 0.01 is close to one-hot) and
    ``|d (-log p_0) / d u|``, the gradient a cross-entropy on that softmax sends into ``u``
    (it grows as ``1 / tau`` until the softmax saturates).

    Raises:
        ValueError: a temperature that is not positive, ``num_views < 2`` or ``dim < 1``.
    """
    if any(not float(t) > 0 for t in temperatures):
        raise ValueError(f"temperatures must be > 0, got {temperatures!r}")
    if num_views < 2 or dim < 1:
        raise ValueError(f"num_views must be >= 2 and dim >= 1, got {num_views}, {dim}")
    generator = torch.Generator().manual_seed(seed)
    views = F.normalize(torch.randn(num_views, dim, generator=generator, dtype=torch.float64), dim=1)
    u0 = views[0] + 0.8 * torch.randn(dim, generator=generator, dtype=torch.float64) / math.sqrt(dim)
    rows = []
    for tau in temperatures:
        u = u0.clone().requires_grad_(True)
        logits = F.normalize(u, dim=0) @ views.T / float(tau)
        loss = -torch.log_softmax(logits, dim=0)[1]  # a view the target ranks second: not saturated
        (grad,) = torch.autograd.grad(loss, u)
        probs = logits.detach().softmax(0)
        rows.append({"tau": float(tau), "max_abs_logit": float(logits.detach().abs().max()),
                     "top_probability": float(probs.max()), "grad_norm": float(grad.norm())})  # fmt: skip
    return rows


__all__ = ["instance_logit_demo", "scale_invariance_demo"]
