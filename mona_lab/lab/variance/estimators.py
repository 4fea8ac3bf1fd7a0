"""Monte-Carlo studies of ARCO's pixel-sampling estimators (ARCO Sec. 3.3, Lemma 3.1, Theorem 3.2).

Drawing ``n`` pixels of a class with NS, SG or SAG (`mona_lab.samplers.sample_pixels`)
and averaging a per-pixel map ``v`` (e.g. ``h(p)`` of
`mona_lab.lab.variance.contrast_terms`) over them with the sampler's weights estimates the
class mean of ``v``; this module measures that estimator:

- `sampled_estimates`: ``trials`` independent draws of the estimator from one seeded
  generator (scalar or vector maps);
- `estimator_study` / `sweep`: Monte-Carlo mean and variance next to the exact ones of
  `mona_lab.samplers.theoretical_moments` (ARCO Lemma 3.1, Theorem 3.2 in its weighted
  form), for a vector map the trace of the covariance (sum of per-component variances);
- `printed_theorem_variance`: Theorem 3.2 exactly as printed (equal group weights), to
  show where it departs from the weighted identity when groups differ in size
  (`weighted_theorem_variance`).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mona_lab.samplers import SAMPLING_METHODS, group_statistics, sample_pixels, theoretical_moments


def _component_view(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``values`` as ``[K, N]`` (components x flat pixels), checked against ``mask``."""
    if not isinstance(values, torch.Tensor) or not isinstance(mask, torch.Tensor):
        raise ValueError("values and mask must be torch tensors")
    if mask.dtype != torch.bool:
        raise ValueError(f"mask must be bool, got {mask.dtype}")
    if tuple(values.shape) == tuple(mask.shape):
        return values.reshape(1, -1).to(torch.float64)
    if tuple(values.shape[1:]) == tuple(mask.shape):
        return values.reshape(values.shape[0], -1).to(torch.float64)
    raise ValueError(
        f"values {tuple(values.shape)} must be shaped like mask {tuple(mask.shape)} or [K, *mask.shape]"
    )


def sampled_estimates(
    values: torch.Tensor,
    mask: torch.Tensor,
    n: int,
    method: str,
    trials: int,
    *,
    seed: int = 0,
    grid: int | Sequence[int] = 4,
) -> torch.Tensor:
    """``trials`` independent draws of the estimator ``sum_i w_i v(p_i)`` of ``mean_P v``.

    Every draw calls `mona_lab.samplers.sample_pixels` with one generator seeded with
    ``seed`` (so the result is a pure function of the arguments).

    Args:
        values: ``[*S]`` scalar map or ``[K, *S]`` vector map (``S`` = ``mask.shape``).
        mask: bool ``[B, H, W]`` (or ``[H, W]``), the pixels ``P``.
        n: pixels per draw (> 0).
        method: ``"ns"``, ``"sg"``, ``"sag"`` or ``"block"``.
        trials: number of independent draws (> 0).
        seed: seed of the generator.
        grid: cells per axis for the grouped samplers.

    Returns:
        float64 ``[trials]`` for a scalar map, ``[trials, K]`` for a vector map.

    Raises:
        ValueError: shape mismatch, ``trials < 1``, ``n < 1``, or a sampler error.
    """
    table = _component_view(values, mask)
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials must be a positive integer, got {trials!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    generator = torch.Generator(device=mask.device).manual_seed(int(seed))
    out = torch.empty(trials, table.shape[0], dtype=torch.float64, device=table.device)
    for t in range(trials):
        index, weight = sample_pixels(mask, n, method, generator, grid)
        out[t] = table[:, index] @ weight.to(torch.float64)
    return out[:, 0] if tuple(values.shape) == tuple(mask.shape) else out


@dataclass(frozen=True)
class EstimatorStudy:
    """Monte-Carlo and exact moments of one estimator setting.

    For a vector map, ``*_variance`` is the trace of the covariance (total variance) and
    ``bias`` the Euclidean norm of ``mc_mean - target``.

    Attributes:
        method, n, grid, trials: the setting.
        target: ``[K]`` exact mean over ``P`` (``K = 1`` for a scalar map).
        mc_mean: ``[K]`` mean of the draws.
        mc_variance: sample variance of the draws (``ddof=1``), summed over components.
        theory_mean: ``[K]`` exact expectation (differs from ``target`` only for ``block``).
        theory_variance: exact variance (`theoretical_moments`), summed over components.
        bias: ``|mc_mean - target|``.
        bias_standard_error: ``sqrt(mc_variance / trials)``, the Monte-Carlo error of ``mc_mean``.
        estimates: the draws, ``[trials]`` or ``[trials, K]``.
    """

    method: str
    n: int
    grid: int | tuple[int, ...]
    trials: int
    target: np.ndarray
    mc_mean: np.ndarray
    mc_variance: float
    theory_mean: np.ndarray
    theory_variance: float
    bias: float
    bias_standard_error: float
    estimates: np.ndarray

    @property
    def theory_bias(self) -> float:
        """``|E[estimate] - target|`` from the closed form (0 for ns, sg, sag)."""
        return float(np.linalg.norm(self.theory_mean - self.target))


def exact_moments(
    values: torch.Tensor, mask: torch.Tensor, n: int, method: str, grid: int | Sequence[int] = 4
) -> tuple[np.ndarray, float]:
    """Exact mean ``[K]`` and total variance of the estimator (per component
    `mona_lab.samplers.theoretical_moments`, ARCO Lemma 3.1 / Theorem 3.2, summed)."""
    table = _component_view(values, mask)
    means, variance = [], 0.0
    for row in table:
        mean, var = theoretical_moments(row.reshape(mask.shape), mask, n, method, grid)
        means.append(mean)
        variance += var
    return np.asarray(means), float(variance)


def estimator_study(
    values: torch.Tensor,
    mask: torch.Tensor,
    n: int,
    method: str,
    trials: int = 1000,
    *,
    seed: int = 0,
    grid: int | Sequence[int] = 4,
) -> EstimatorStudy:
    """Monte-Carlo mean/variance of one estimator next to its exact moments.

    Args: as in `sampled_estimates`.
    """
    draws = sampled_estimates(values, mask, n, method, trials, seed=seed, grid=grid)
    table = draws.reshape(trials, -1).cpu().numpy()
    components = _component_view(values, mask)
    target = (components[:, mask.reshape(-1)].mean(dim=1)).cpu().numpy()
    theory_mean, theory_variance = exact_moments(values, mask, n, method, grid)
    mc_mean = table.mean(axis=0)
    mc_variance = float(table.var(axis=0, ddof=1).sum()) if trials > 1 else math.nan
    return EstimatorStudy(
        method=method,
        n=int(n),
        grid=grid if isinstance(grid, int) else tuple(grid),
        trials=int(trials),
        target=target,
        mc_mean=mc_mean,
        mc_variance=mc_variance,
        theory_mean=theory_mean,
        theory_variance=theory_variance,
        bias=float(np.linalg.norm(mc_mean - target)),
        bias_standard_error=math.sqrt(mc_variance / trials) if trials > 1 else math.nan,
        estimates=draws.cpu().numpy(),
    )


def sweep(
    values: torch.Tensor,
    mask: torch.Tensor,
    *,
    ns: Sequence[int] = (16, 64, 256),
    grids: Sequence[int] = (4,),
    methods: Sequence[str] = SAMPLING_METHODS,
    trials: int = 500,
    seed: int = 0,
) -> list[EstimatorStudy]:
    """`estimator_study` for every (grid, n, method); each setting gets its own seed
    (``seed + position``) so settings are independent and the list is reproducible."""
    studies = []
    for g in grids:
        for n in ns:
            for method in methods:
                studies.append(estimator_study(values, mask, n, method, trials, seed=seed + len(studies), grid=g))
    return studies


def variance_ratios(studies: Sequence[EstimatorStudy], reference: str = "ns") -> dict[tuple, dict[str, float]]:
    """``{(grid, n, method): {"mc": Var_mc / Var_mc[ref], "theory": Var / Var[ref]}}`` per setting."""
    base = {(s.grid, s.n): s for s in studies if s.method == reference}
    ratios = {}
    for s in studies:
        ref = base.get((s.grid, s.n))
        if ref is None:
            continue
        ratios[(s.grid, s.n, s.method)] = {
            "mc": s.mc_variance / ref.mc_variance if ref.mc_variance > 0 else math.nan,
            "theory": s.theory_variance / ref.theory_variance if ref.theory_variance > 0 else math.nan,
        }
    return ratios


def printed_theorem_variance(
    values: torch.Tensor, mask: torch.Tensor, n: int, grid: int | Sequence[int] = 4
) -> float:
    """ARCO Theorem 3.2 exactly as printed: ``Var_NS - (1/n) sum_m (mu_m - mu)^2``.

    The printed sum has no group weights; it equals the exact identity
    ``Var_NS - (1/n) sum_m w_m (mu_m - mu)^2`` (`mona_lab.samplers.stratification_gain`)
    only when all ``M`` non-empty groups have the same size *and* the sum is divided by
    ``M``. Empty groups are left out of the sum. Scalar maps only.
    """
    if tuple(values.shape) != tuple(mask.shape):
        raise ValueError(f"values {tuple(values.shape)} must be shaped like mask {tuple(mask.shape)}")
    stats = group_statistics(values, mask, grid)
    mu = float(values.reshape(-1)[mask.reshape(-1)].double().mean())
    ns_variance = theoretical_moments(values, mask, n, "ns", grid)[1]
    nonempty = stats.counts > 0
    return ns_variance - float(((stats.means[nonempty] - mu) ** 2).sum()) / n


def weighted_theorem_variance(
    values: torch.Tensor, mask: torch.Tensor, n: int, grid: int | Sequence[int] = 4
) -> float:
    """ARCO Theorem 3.2 in its weighted form, ``Var_NS - (1/n) sum_m w_m (mu_m - mu)^2``:
    the exact SG variance for an integer proportional allocation ``n_m = n w_m``."""
    stats = group_statistics(values, mask, grid)
    mu = float((stats.weights * stats.means).sum())
    ns_variance = theoretical_moments(values, mask, n, "ns", grid)[1]
    return ns_variance - float((stats.weights * (stats.means - mu) ** 2).sum()) / n
