"""NS, SG and SAG written out plainly, as ARCO Sec. 3.3 describes them (the reference).

ARCO estimates the mean ``H = (1/|P|) sum_{p in P} h(p)`` of a class's pixels ``P``
(Eq. 3.1) from a sample ``D``. Each function below draws ``D`` in one screen of plain
torch: list the mask's pixels, cut them into groups (`group_ids`), allocate the draws to
the groups in proportion to their sizes, draw inside each group, and pair SAG's draws
through the group centre (`mirror_index`). They return what `sample_pixels` returns,
``(indices, weights)``: int64 ``[n]`` flat indices into ``mask.flatten()`` and float32
``[n]`` weights ``1/n``, empty for ``n == 0`` or an empty mask.

`sample_pixels` draws from EXACTLY these laws (tests/test_sampler_reference.py checks
support, per-pixel inclusion, the variance of the estimate and SAG's pairs), but faster
and with another random stream: its routes (`listed_route`, `cell_route`) reorder the
pixels, draw by rejection and pack coordinates into integers. Read this module for the
idea, those for the speed. (One approximation there: a within-group rank comes from 40
random bits, so a pixel's probability is ``1/|P_m|`` up to a relative ``|P_m| / 2**40``.)
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from mona_lab.samplers.checks import check_count, check_grid, check_mask
from mona_lab.samplers.groups import group_ids, mirror_index


def _as_output(draws: list[torch.Tensor], device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(indices, weights)`` as `sample_pixels` returns them: the draws in order, each
    weighing ``1/n`` (each sampler's docstring says why that weight is unbiased)."""
    indices = torch.cat(draws) if draws else torch.empty(0, dtype=torch.long, device=device)
    n = indices.numel()
    return indices, torch.full((n,), 1.0 / max(n, 1), dtype=torch.float32, device=device)


def _uniform(pixels: torch.Tensor, k: int, generator: torch.Generator | None) -> torch.Tensor:
    """``k`` independent uniform draws (with replacement) from the 1-D tensor ``pixels``."""
    picks = torch.randint(0, pixels.numel(), (k,), generator=generator, device=pixels.device)
    return pixels[picks]


def naive_sample(
    mask: torch.Tensor, n: int, generator: torch.Generator | None = None,
    grid: int | Sequence[int] = 4, spatial_dims: int = 2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Naive Sampling (NS, ARCO Sec. 3.3): ``n`` i.i.d. uniform draws from ``P``.

    ``E[h(p)] = H`` for each draw, so the mean of the draws (weights ``1/n``) is unbiased,
    with variance ``sigma^2 / n`` (``sigma^2`` the variance of ``h`` over ``P``). ``grid``
    is unused (checked only, as in `sample_pixels`).
    """
    check_grid(grid, check_mask(mask, spatial_dims)[1])
    n = check_count(n)
    pixels = torch.nonzero(mask.reshape(-1)).squeeze(1)  # P, as flat indices
    if n == 0 or pixels.numel() == 0:
        return _as_output([], mask.device)
    return _as_output([_uniform(pixels, n, generator)], mask.device)


def pixel_groups(
    mask: torch.Tensor, grid: int | Sequence[int] = 4, spatial_dims: int = 2
) -> list[torch.Tensor]:
    """The groups ``P_1, ..., P_M`` (ARCO Sec. 3.3): the flat indices of the mask pixels
    in each cell of the grid, per batch item, in the order of `group_ids` (some empty)."""
    batch, spatial = check_mask(mask, spatial_dims)
    num_groups = batch * math.prod(check_grid(grid, spatial))
    ids = group_ids(mask, grid, spatial_dims).reshape(-1)
    return [torch.nonzero(ids == m).squeeze(1) for m in range(num_groups)]


def proportional_allocation(
    sizes: torch.Tensor, n: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``n_m = floor(n w_m) + e_m`` draws per group, ``w_m = |P_m| / |P|`` (ARCO Sec. 3.3, Theorem
    3.2's proportional group sizes, randomly rounded so that ``E[n_m] = n w_m`` exactly
    and ``sum_m n_m = n``).

    The fractional parts, scaled to integers ``r_m = n |P_m| mod |P|``, are laid end to
    end on ``[0, R |P|)``, ``R = n - sum_m floor(n w_m)`` (group m owns a stretch of
    length ``r_m``). One point is dropped uniformly in each of the ``R`` unit intervals
    ``[j |P|, (j + 1) |P|)``, independently; ``e_m`` counts the points in m's stretch,
    so ``E[e_m] = r_m / |P|``. (Same law as `allocation.allocate`.)

    Args:
        sizes: int64 ``[M]``, the group sizes ``|P_m|`` (sum > 0); n: draws.

    Returns:
        int64 ``[M]``: ``n_m``.
    """
    total = int(sizes.sum())
    whole = torch.div(n * sizes, total, rounding_mode="floor")  # floor(n w_m)
    remainders = n * sizes - whole * total  # r_m
    rounds = n - int(whole.sum())  # R
    stretch_ends = torch.cumsum(remainders, 0)
    points = torch.arange(rounds, device=sizes.device) * total + torch.randint(
        0, total, (rounds,), generator=generator, device=sizes.device
    )
    owners = torch.searchsorted(stretch_ends, points, right=True)
    return whole + torch.bincount(owners, minlength=sizes.numel())


def stratified_group_sample(
    mask: torch.Tensor, n: int, generator: torch.Generator | None = None,
    grid: int | Sequence[int] = 4, spatial_dims: int = 2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stratified Group sampling (SG, ARCO Sec. 3.3): ``n_m`` i.i.d. uniform draws from
    each group ``P_m``, ``n_m`` proportional to ``|P_m|`` (`proportional_allocation`).

    Unbiased with weights ``1/n`` (ARCO Theorem 3.2): given the allocation, the draws of
    group m sum to ``n_m mu_m`` in expectation, so ``E[estimate] = (1/n) sum_m E[n_m]
    mu_m = sum_m w_m mu_m = H``, even when some groups get no draw. Output: the draws
    of group 0, then group 1, ...
    """
    n = check_count(n)
    groups = pixel_groups(mask, grid, spatial_dims)
    sizes = torch.tensor([g.numel() for g in groups], device=mask.device)
    if n == 0 or int(sizes.sum()) == 0:
        return _as_output([], mask.device)
    per_group = proportional_allocation(sizes, n, generator)
    draws = [_uniform(pixels, n_m, generator)
             for pixels, n_m in zip(groups, per_group.tolist()) if n_m > 0]
    return _as_output(draws, mask.device)


def stratified_antithetic_group_sample(
    mask: torch.Tensor, n: int, generator: torch.Generator | None = None,
    grid: int | Sequence[int] = 4, spatial_dims: int = 2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stratified-Antithetic Group sampling (SAG, ARCO Sec. 3.3): SG's allocation, the
    ``n_m`` draws of group m made of ``n_m // 2`` antithetic pairs ``(p, p')``,
    ``c_m - p = p' - c_m``, plus one plain uniform draw when ``n_m`` is odd.

    A pair: ``p`` uniform on ``P_m``; ``p' = 2 c_m - p`` (`mirror_index`; ``c_m`` the
    centroid on the half-pixel grid, `group_centres`) when that is a pixel of ``P_m``,
    i.e. ``p`` lies in the symmetric part ``S_m``; otherwise ``p'`` is an independent
    uniform draw from the asymmetric part ``A_m = P_m \\ S_m``. Mirroring is a bijection
    of ``S_m``, so ``P(p' = q) = (|S_m|/|P_m|)(1/|S_m|) = 1/|P_m|`` on ``S_m`` and
    ``(|A_m|/|P_m|)(1/|A_m|) = 1/|P_m|`` on ``A_m``: both members of a pair are uniform
    on ``P_m``, weights ``1/n`` stay unbiased, and ``|Cov(h(p), h(p'))| <= sigma_m^2``
    gives ARCO Lemma 3.1, ``Var_SAG <= 2 Var_SG``. (Redrawing ``p'`` from all of ``P_m``
    would bias ``p'`` towards ``S_m``.)

    Output: all pairs first (group by group, ``p`` then ``p'``), then the single draws.
    """
    n = check_count(n)
    groups = pixel_groups(mask, grid, spatial_dims)
    sizes = torch.tensor([g.numel() for g in groups], device=mask.device)
    if n == 0 or int(sizes.sum()) == 0:
        return _as_output([], mask.device)
    partner = mirror_index(mask, grid, spatial_dims).reshape(-1)  # p' or -1
    per_group = proportional_allocation(sizes, n, generator)
    pairs, singles = [], []
    for pixels, n_m in zip(groups, per_group.tolist()):
        if n_m == 0:
            continue
        first = _uniform(pixels, n_m // 2, generator)  # p, uniform on P_m
        second = partner[first]  # p' = mirror image of p where it is in P_m
        lonely = second < 0  # p in A_m: p' uniform on A_m instead
        if lonely.any():
            asymmetric = pixels[partner[pixels] < 0]  # A_m
            second[lonely] = _uniform(asymmetric, int(lonely.sum()), generator)
        pairs.append(torch.stack([first, second], dim=1).reshape(-1))
        if n_m % 2 == 1:
            singles.append(_uniform(pixels, 1, generator))
    return _as_output(pairs + singles, mask.device)


# the reference sampler of each unbiased method of `sample_pixels`
REFERENCE_SAMPLERS = {
    "ns": naive_sample,
    "sg": stratified_group_sample,
    "sag": stratified_antithetic_group_sample,
}
