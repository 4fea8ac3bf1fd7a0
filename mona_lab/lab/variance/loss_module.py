"""Moments of the whole sampled `AnatomicalContrastLoss` (ARCO Lemma 3.1 and Theorem 3.2 per class).

`contrast_loss_moments` gives the exact mean and variance of the loss module's estimate
from the per-class terms of `mona_lab.lab.variance.contrast_terms`;
`loss_module_estimates` draws the loss from `mona_lab.losses.AnatomicalContrastLoss`
itself, so a notebook can put the two side by side.

Choices: both use ``hard_queries=False`` (every class pixel may be a query, so ``P`` is
the class) and ``num_negatives=None`` (every pixel of another class is a negative), which
makes ``h`` a fixed function of ``p`` and the estimator's randomness that of the query
sampler alone -- exactly the object of ARCO's Lemma 3.1 and Theorem 3.2.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from mona_lab.lab.variance.contrast_terms import check_features_labels, contrast_terms, contributing_classes
from mona_lab.samplers import theoretical_moments


def contrast_loss_moments(
    features: torch.Tensor,
    labels: torch.Tensor,
    n: int,
    method: str,
    *,
    temperature: float = 0.5,
    grid: int | Sequence[int] = 4,
) -> tuple[float, float]:
    """Exact mean and variance of the sampled `AnatomicalContrastLoss` (hard_queries=False,
    num_negatives=None, ``num_queries=n``).

    The module draws each class's queries independently and averages the ``C`` per-class
    estimates, so ``E = (1/C) sum_c E_c`` and ``Var = (1/C^2) sum_c Var_c`` with
    ``(E_c, Var_c)`` the moments of the estimator of ``H_c`` (`contrast_terms`,
    `mona_lab.samplers.theoretical_moments`). The sampler's grid is capped at the map
    size per axis, as the loss module does.
    """
    features, labels = check_features_labels(features, labels)
    classes = contributing_classes(labels)
    if not classes:
        raise ValueError("need at least two classes in labels for a contrastive loss")
    from mona_lab.losses.contrast_draw import fit_grid

    cells = fit_grid(grid, tuple(labels.shape[1:]))
    mean, variance = 0.0, 0.0
    for c in classes:
        terms = contrast_terms(features, labels, c, temperature)
        m, v = theoretical_moments(terms.loss_map, terms.mask, n, method, cells)
        mean += m
        variance += v
    return mean / len(classes), variance / len(classes) ** 2


def loss_module_estimates(
    features: torch.Tensor,
    labels: torch.Tensor,
    n: int,
    method: str,
    trials: int,
    *,
    temperature: float = 0.5,
    grid: int | Sequence[int] = 4,
    seed: int = 0,
) -> np.ndarray:
    """``trials`` values of the sampled loss computed by `AnatomicalContrastLoss` itself.

    The module runs with ``num_queries=n``, ``num_negatives=None`` (every other-class pixel
    is a negative), ``hard_queries=False`` and ``sampler=method``; one generator seeded
    with ``seed`` feeds every draw.

    Returns:
        float64 ``[trials]``.
    """
    from mona_lab.losses import AnatomicalContrastLoss

    features, labels = check_features_labels(features, labels)
    loss = AnatomicalContrastLoss(
        num_queries=int(n), num_negatives=None, hard_queries=False, temperature=temperature, sampler=method, grid=grid
    )
    generator = torch.Generator(device=labels.device).manual_seed(int(seed))
    feats = features.detach().to(torch.float64)
    with torch.no_grad():
        return np.array([float(loss(feats, labels, None, generator=generator)) for _ in range(int(trials))])
