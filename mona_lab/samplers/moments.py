"""Closed-form mean and variance of the samplers' estimators (ARCO Lemma 3.1, Theorem 3.2).

For a value map ``v`` and the estimate ``(weights * v.flatten()[indices]).sum()`` of
`sample_pixels`, `theoretical_moments` gives the exact mean and variance of each method:
NS, SG (Theorem 3.2, in its weighted form plus the price of rounding the allocation), SAG
(Lemma 3.1, with the exact covariance of an antithetic pair) and the public code's
"block" strata. The variance notebook and the tests compare Monte Carlo against these.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

from mona_lab.errors import MonaLabError
from mona_lab.samplers.allocation import allocation_law
from mona_lab.samplers.checks import check_count, check_grid, check_mask, check_method
from mona_lab.samplers.groups import group_ids, mirror_index


@dataclass(frozen=True)
class GroupStatistics:
    """Per-group summary of a value map (float64, one entry per group id).

    Attributes:
        weights: ``w_m = |P_m| / |P|`` ``[M]`` (0 for empty groups).
        means: ``mu_m`` ``[M]`` (0 for empty groups).
        variances: ``sigma_m^2`` ``[M]``, population variance inside the group.
        counts: ``|P_m|`` ``[M]`` (int64).
    """

    weights: torch.Tensor
    means: torch.Tensor
    variances: torch.Tensor
    counts: torch.Tensor


def _segment_stats(values: torch.Tensor, ids: torch.Tensor, num: int) -> GroupStatistics:
    counts = torch.bincount(ids, minlength=num)
    safe = counts.clamp(min=1).to(torch.float64)
    sums = torch.zeros(num, dtype=torch.float64, device=values.device).index_add_(0, ids, values)
    means = sums / safe
    sq = torch.zeros_like(sums).index_add_(0, ids, (values - means[ids]) ** 2)
    weights = counts.to(torch.float64) / counts.sum()
    return GroupStatistics(weights, means, sq / safe, counts)


def _mask_values(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    if not isinstance(values, torch.Tensor) or values.shape != mask.shape:
        shape = tuple(values.shape) if isinstance(values, torch.Tensor) else type(values)
        raise MonaLabError(f"values must be a tensor shaped like mask {tuple(mask.shape)}, "
                           f"got {shape}")
    if not mask.any():
        raise MonaLabError("mask is empty: the mean over its pixels is undefined")
    return values.reshape(-1)[mask.reshape(-1)].to(torch.float64)


def group_statistics(
    values: torch.Tensor, mask: torch.Tensor, grid: int | Sequence[int] = 4,
    spatial_dims: int = 2,
) -> GroupStatistics:
    """Weights, means and variances of ``values`` over the SG groups (see `group_ids`).

    Args:
        values: float map shaped like ``mask``.
        mask, grid, spatial_dims: as in `sample_pixels` (the mask must not be empty).
    """
    ids_map = group_ids(mask, grid, spatial_dims)
    vals = _mask_values(values, mask)
    num = (mask.shape[0] if mask.ndim == spatial_dims + 1 else 1) * math.prod(
        check_grid(grid, tuple(mask.shape[-spatial_dims:]))
    )
    return _segment_stats(vals, ids_map.reshape(-1)[mask.reshape(-1)], num)


def stratification_gain(
    values: torch.Tensor, mask: torch.Tensor, n: int, grid: int | Sequence[int] = 4,
    spatial_dims: int = 2,
) -> float:
    """``(1/n) sum_m w_m (mu_m - mu)^2``: ARCO Theorem 3.2's variance gap, weighted form.

    ARCO Theorem 3.2 prints ``Var_SG = Var_NS - (1/n) sum_m (mu_m - mu)^2``, which
    assumes equal group weights. With groups of unequal size the exact identity is the
    law of total variance, ``sigma^2 = sum_m w_m sigma_m^2 + sum_m w_m (mu_m - mu)^2``,
    so with a fixed proportional allocation (``n_m = n w_m``, integers)
    ``Var_SG = (1/n) sum_m w_m sigma_m^2 = Var_NS - (1/n) sum_m w_m (mu_m - mu)^2``,
    ``w_m = |P_m| / |P|``. This function returns that last term.
    """
    n = check_count(n)
    if n == 0:
        raise MonaLabError("n must be positive for a variance")
    stats = group_statistics(values, mask, grid, spatial_dims)
    mu = (stats.weights * stats.means).sum()
    return float((stats.weights * (stats.means - mu) ** 2).sum() / n)


def _expected_half_counts(q: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
    """``E[floor(n_m / 2)]`` for ``n_m = base_m + e_m`` under `allocation_law`.

    A stretch is shorter than a unit interval, so ``e_m`` is a sum of at most two
    independent Bernoulli variables: ``P(e_m = 2) = ((sum_j q_jm)^2 - sum_j q_jm^2) / 2``.
    """
    mean = q.sum(0)
    two = (mean**2 - (q**2).sum(0)) / 2
    one = mean - 2 * two
    zero = 1 - one - two
    halves = [torch.div(base + k, 2, rounding_mode="floor").to(torch.float64) for k in range(3)]
    return zero * halves[0] + one * halves[1] + two * halves[2]


def theoretical_moments(
    values: torch.Tensor, mask: torch.Tensor, n: int, method: str = "ns",
    grid: int | Sequence[int] = 4, spatial_dims: int = 2,
) -> tuple[float, float]:
    """Exact mean and variance of the `sample_pixels` estimator (ARCO Lemma 3.1, Thm 3.2).

    With ``sigma^2``, ``mu`` the population variance/mean of ``values`` over the mask,
    ``w_m, mu_m, sigma_m^2`` those of group m (`group_statistics`) and ``n_m`` the random
    allocation of `sample_pixels`:

    * ns (with replacement): mean ``mu``, ``Var = sigma^2 / n``.
    * sg: mean ``mu``, ``Var = (1/n) sum_m w_m sigma_m^2 + Var(sum_m n_m mu_m) / n^2``.
      The first term is ARCO Thm 3.2 in its weighted form, ``Var_NS - (1/n) sum_m w_m
      (mu_m - mu)^2`` (`stratification_gain`); the second is the price of rounding
      ``n w_m`` to integers and vanishes when they are integers. With the rounding of
      `sample_pixels` it equals ``sum_j Var_{q_j}(mu_G) / n^2``, one independent
      categorical draw ``G ~ q_j`` per rounded unit, and since ``Var_{q_j} <=
      E_{q_j}[(mu_G - mu)^2]`` and ``sum_j q_jm = n w_m - floor(n w_m)``:
      ``Var_NS - Var_SG >= (1/n^2) sum_m floor(n w_m) (mu_m - mu)^2 >= 0`` for every
      map and every ``n``, Theorem 3.2's "no larger than NS" without integer
      allocations (SG equals NS in variance when ``n w_m < 1`` for all groups).
    * sag: mean ``mu``, ``Var = (1/n^2) sum_m [n w_m sigma_m^2 + 2 E[n_m // 2] C_m] +
      Var(sum_m n_m mu_m) / n^2`` with ``C_m = Cov(v(p), v(p'))`` of an antithetic pair.
      Since ``|C_m| <= sigma_m^2`` (both members are uniform on ``P_m``), the first term
      is at most twice SG's: ARCO Lemma 3.1, ``Var_SAG <= 2 Var_SG``.
    * block: mean ``(1/n)(q sum_s mu_s + r mu)`` (biased unless blocks have equal means
      or sizes), ``Var = (q sum_s sigma_s^2 + r sigma^2) / n^2`` for ``q`` draws per block
      and ``r`` padding draws.

    Args:
        values: float map shaped like ``mask``; mask, n (> 0), method, grid, spatial_dims
            as in `sample_pixels`.

    Returns:
        ``(mean, variance)`` of ``(weights * values.flatten()[indices]).sum()`` as floats.

    Raises:
        ValueError (`MonaLabError`): bad arguments, empty mask, ``n == 0``.
    """
    batch, spatial = check_mask(mask, spatial_dims)
    method = check_method(method)
    n = check_count(n)
    cells = check_grid(grid, spatial)
    if n == 0:
        raise MonaLabError("n must be positive for the moments of an estimator")
    vals = _mask_values(values, mask)
    total = int(vals.numel())
    mu = float(vals.mean())
    sigma2 = float(((vals - vals.mean()) ** 2).mean())
    if method == "ns":
        return mu, sigma2 / n
    if method == "block":
        strata = batch * math.prod(cells)
        block = -(-total // strata)
        ids = torch.arange(total, device=vals.device) // block
        stats = _segment_stats(vals, ids, int(ids[-1]) + 1)
        q = n // int(stats.counts.numel())
        r = n - q * int(stats.counts.numel())
        mean = (q * float(stats.means.sum()) + r * mu) / n
        return mean, (q * float(stats.variances.sum()) + r * sigma2) / n**2

    stats = group_statistics(values, mask, grid, spatial_dims)
    q, base = allocation_law(stats.counts, n, total)
    # Var(sum_m n_m mu_m): one independent categorical draw per unit interval
    alloc_var = float((q @ stats.means**2 - (q @ stats.means) ** 2).sum())
    within = n * stats.weights * stats.variances
    if method == "sag":
        pairs = _expected_half_counts(q, base)
        within = within + 2 * pairs * _pair_covariances(values, mask, cells, stats)
    return mu, float(within.sum()) / n**2 + alloc_var / n**2


def _pair_covariances(
    values: torch.Tensor, mask: torch.Tensor, cells: tuple[int, ...], stats: GroupStatistics
) -> torch.Tensor:
    """``Cov(v(p), v(p'))`` of a SAG pair in each group (ARCO Lemma 3.1; see
    `sample_pixels`)::

        E[v(p) v(p')] = (1/|P_m|) [sum_{q in S_m} v(q) v(mirror q) + |A_m| mu_A^2]

    (``p`` in ``A_m``: ``p'`` is an independent uniform draw from ``A_m``).
    """
    spatial_dims = len(cells)
    flat_mask = mask.reshape(-1)
    flat_vals = values.reshape(-1).to(torch.float64)
    partner = mirror_index(mask, cells, spatial_dims).reshape(-1)
    ids = group_ids(mask, cells, spatial_dims).reshape(-1)
    inside = torch.nonzero(flat_mask).squeeze(1)
    g = ids[inside]
    v = flat_vals[inside]
    symmetric = partner[inside] >= 0
    num = int(stats.counts.numel())
    zeros = torch.zeros(num, dtype=torch.float64, device=values.device)
    products = v * flat_vals[partner[inside].clamp(min=0)]
    sym_products = zeros.clone().index_add_(0, g[symmetric], products[symmetric])
    asym = ~symmetric
    asym_count = torch.bincount(g[asym], minlength=num).to(torch.float64)
    asym_sum = zeros.clone().index_add_(0, g[asym], v[asym])
    asym_products = asym_sum**2 / asym_count.clamp(min=1)
    product_mean = (sym_products + asym_products) / stats.counts.clamp(min=1)
    return product_mean - stats.means**2


def theoretical_variance(
    values: torch.Tensor, mask: torch.Tensor, n: int, method: str = "ns",
    grid: int | Sequence[int] = 4, spatial_dims: int = 2,
) -> float:
    """Exact variance of the estimator (ARCO Lemma 3.1, Theorem 3.2); see
    `theoretical_moments` for the formulas."""
    return theoretical_moments(values, mask, n, method, grid, spatial_dims)[1]
