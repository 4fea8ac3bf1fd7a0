"""The fast sampler draws from exactly the law of the readable reference (ARCO Sec. 3.3).

`mona_lab.samplers.reference` writes NS, SG and SAG out plainly; `sample_pixels` draws
through its listed route or its cell route, with another random stream. Both must
draw from the same distribution. On masks that exercise every branch (2-D, batched,
3-D, irregular shapes with asymmetric parts, padded grid cells, ``n`` below the number
of groups, odd ``n``, ``n`` above the number of mask pixels, a mask where the cell route
is the default) each sampler is checked against the closed forms:

(a) support: every draw is a mask pixel, and every mask pixel is reachable;
(b) first moments: the mean count of every pixel is ``n / |P|``, within 5 standard
    errors computed from the exact variance (`theoretical_moments` of the pixel's
    indicator map);
(c) second moments: the variance of the weighted mean of a value map matches
    `theoretical_moments` within 5 standard errors of a sample variance;
(d) SAG's pairs: ``indices[0:2Q:2]`` and ``indices[1:2Q:2]`` are mirror images through
    the group centre where the mirror image is in the group, otherwise the partner is
    in the asymmetric part ``A_m``; the output order (pairs by group, then singles) is
    the same;
and the allocation ``n_m`` of both implementations follows its exact law
(`allocation.allocation_law`). Seeds are fixed, so the suite is deterministic.
"""
from __future__ import annotations

import functools
import math

import pytest
import torch

from mona_lab.samplers import (
    group_ids,
    mirror_index,
    sample_pixels,
    theoretical_moments,
)
from mona_lab.samplers import fast_route
from mona_lab.samplers.allocation import allocate, allocation_law
from mona_lab.samplers.reference import REFERENCE_SAMPLERS, proportional_allocation

pytestmark = pytest.mark.usefixtures("single_thread")

METHODS = ("ns", "sg", "sag")
SAMPLERS = ("listed", "cells", "reference")
REPS = 120  # draws of n pixels per (case, method, sampler)


def _padded() -> torch.Tensor:
    """11 x 9 random pixels (half of them), cut by grid (3, 4) into cells of 4 x 3 pixels
    (padded to 12 x 12): 20 of the 49 pixels lie in asymmetric parts."""
    return torch.rand(11, 9, generator=torch.Generator().manual_seed(0)) < 0.5


def _disc(shape, centre, radius2):
    axes = [torch.arange(s) for s in shape]
    grids = torch.meshgrid(*axes, indexing="ij")
    return sum((g - c) ** 2 for g, c in zip(grids, centre)) < radius2


def _irregular() -> torch.Tensor:
    """2 x 12 x 10: a disc cut by cell borders, a box with a diagonal line (asymmetric)."""
    yy, xx = torch.meshgrid(torch.arange(12), torch.arange(10), indexing="ij")
    first = (yy - 4) ** 2 + (xx - 3) ** 2 < 14
    second = ((yy - 7).abs() < 4) & ((xx - 6).abs() < 3) | (yy == xx)
    return torch.stack([first, second])


def _stray() -> torch.Tensor:
    """2 x 6 x 5 with 8 scattered pixels (for n larger than the mask); the L of three
    pixels in the first cell has an asymmetric part."""
    mask = torch.zeros(2, 6, 5, dtype=torch.bool)
    for b, y, x in [(0, 0, 0), (0, 0, 1), (0, 1, 0), (0, 4, 3), (1, 2, 2), (1, 2, 3),
                    (1, 5, 0), (1, 5, 4)]:
        mask[b, y, x] = True
    return mask


def _large() -> torch.Tensor:
    """2 x 32 x 32, two discs and two lines through many cells: few draws here take the
    cell route by default."""
    mask = torch.stack([_disc((32, 32), (11, 14), 10), _disc((32, 32), (20, 9), 8)])
    mask[0, 2:30, 27] = True
    mask[1, 28, 1:31] = True
    assert fast_route.use_cell_route(7, mask.numel())
    return mask


# name -> (mask, n, grid, spatial_dims)
CASES = {
    "batched": (_irregular(), 13, (3, 2), 2),
    "more-than-mask": (_stray(), 25, 2, 2),  # 25 draws, 8 pixels
    "ball-3d": (_disc((6, 8, 7), (2, 3, 4), 7), 11, 2, 3),
    "padded-cells": (_padded(), 11, (3, 4), 2),
    "cell-route": (_large(), 7, 4, 2),  # 7 draws, 13 non-empty groups
}


def _draw(sampler: str, mask, n, method, generator, grid, dims):
    """One draw by the reference or by `sample_pixels` forced onto one of its routes."""
    if sampler == "reference":
        return REFERENCE_SAMPLERS[method](mask, n, generator, grid, dims)
    factor = 0 if sampler == "cells" else 10**12  # force the route
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fast_route, "CELL_ROUTE_FACTOR", factor)
        return sample_pixels(mask, n, method, generator, grid, dims)


@functools.lru_cache(maxsize=None)
def _draws(case: str, method: str, sampler: str) -> torch.Tensor:
    """``[REPS, n]`` indices of ``REPS`` independent draws (shared by the tests)."""
    mask, n, grid, dims = CASES[case]
    seed = 1000 * list(CASES).index(case) + 10 * METHODS.index(method) + SAMPLERS.index(sampler)
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(REPS):
        indices, weights = _draw(sampler, mask, n, method, generator, grid, dims)
        assert indices.dtype == torch.int64 and weights.dtype == torch.float32
        assert indices.shape == weights.shape == (n,)
        assert torch.equal(weights, torch.full((n,), 1.0 / n))
        rows.append(indices)
    return torch.stack(rows)


@functools.lru_cache(maxsize=None)
def _pixel_variances(case: str, method: str) -> torch.Tensor:
    """Exact variance of ``count_q / n`` for every mask pixel ``q`` (raster order):
    `theoretical_moments` of the indicator map of ``q``."""
    mask, n, grid, dims = CASES[case]
    out = []
    for q in torch.nonzero(mask.reshape(-1)).squeeze(1):
        indicator = torch.zeros(mask.numel(), dtype=torch.float64)
        indicator[q] = 1.0
        mean, var = theoretical_moments(indicator.view(mask.shape), mask, n, method, grid, dims)
        assert mean == pytest.approx(1.0 / int(mask.sum()))
        out.append(var)
    return torch.tensor(out, dtype=torch.float64)


def _value_map(mask: torch.Tensor) -> torch.Tensor:
    """A linear trend plus noise, so groups differ in mean and pairs are correlated."""
    coords = torch.meshgrid(*(torch.arange(s, dtype=torch.float64) for s in mask.shape),
                            indexing="ij")
    trend = sum((k + 1) * 0.3 * c for k, c in enumerate(coords))
    noise = torch.randn(mask.shape, generator=torch.Generator().manual_seed(0),
                        dtype=torch.float64)
    return trend + 0.5 * noise


# --------------------------------------------------------------------------------------
# (a) support
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", CASES)
def test_support_is_the_mask_and_every_pixel_is_reachable(case, method, sampler):
    mask, n, grid, dims = CASES[case]
    flat = mask.reshape(-1)
    assert bool(flat[_draws(case, method, sampler)].all())
    # reachable: one draw of 40 |P| pixels misses a given pixel with probability
    # about exp(-40), so it must hit all of them
    pixels = torch.nonzero(flat).squeeze(1)
    generator = torch.Generator().manual_seed(7)
    big, _ = _draw(sampler, mask, 40 * pixels.numel(), method, generator, grid, dims)
    assert bool(flat[big].all())
    assert torch.equal(torch.unique(big), pixels)


# --------------------------------------------------------------------------------------
# (b) first moments: per-pixel inclusion
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", CASES)
def test_every_pixel_is_drawn_n_over_p_times_on_average(case, method, sampler):
    """``E[count_q] = n / |P|`` (unbiasedness for the indicator of ``q``); the standard
    error of the mean count over ``REPS`` draws is ``n sqrt(Var / REPS)`` with the exact
    ``Var`` of the closed form, so 5 standard errors is a tolerance, not a guess."""
    mask, n, _, _ = CASES[case]
    pixels = torch.nonzero(mask.reshape(-1)).squeeze(1)
    slot = torch.full((mask.numel(),), -1, dtype=torch.long)
    slot[pixels] = torch.arange(pixels.numel())
    counts = torch.bincount(slot[_draws(case, method, sampler).reshape(-1)],
                            minlength=pixels.numel()).to(torch.float64)
    expected = REPS * n / pixels.numel()
    se = n * torch.sqrt(REPS * _pixel_variances(case, method))
    fixed = se < 1e-9  # e.g. a lone pixel of a group with a fixed allocation
    assert torch.allclose(counts[fixed], torch.full_like(counts[fixed], expected))
    z = (counts - expected)[~fixed] / se[~fixed]
    assert float(z.abs().max()) < 5, f"max |z| = {float(z.abs().max()):.2f}"


# --------------------------------------------------------------------------------------
# (c) second moments: the variance of the estimate
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", CASES)
def test_estimator_mean_and_variance_match_theoretical_moments(case, method, sampler):
    """Mean within 5 standard errors ``sqrt(Var / REPS)``; sample variance within 5
    standard errors ``Var sqrt((kurtosis - 1) / REPS)``, the large-sample law of a sample
    variance (kurtosis 3, i.e. ``Var sqrt(2 / REPS)``, for a normal estimate; the sample
    kurtosis is used, as the estimate of a few draws is far from normal)."""
    mask, n, grid, dims = CASES[case]
    values = _value_map(mask)
    estimates = values.reshape(-1)[_draws(case, method, sampler)].mean(dim=1)
    mean, var = theoretical_moments(values, mask, n, method, grid, dims)
    assert abs(float(estimates.mean()) - mean) < 5 * math.sqrt(var / REPS)
    centred = estimates - estimates.mean()
    sample_var = float((centred**2).sum()) / (REPS - 1)
    kurtosis = float((centred**4).mean()) / float((centred**2).mean()) ** 2
    se = var * math.sqrt((kurtosis - 1) / REPS)
    assert abs(sample_var - var) < 5 * se, (sample_var, var, se)


# --------------------------------------------------------------------------------------
# (d) SAG's pairs and the output order
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("case", CASES)
def test_sag_pairs_and_output_order(case, sampler):
    """Output: ``Q`` pairs (group by group), then one single draw per group with odd
    ``n_m`` (group by group). A pair's partner is the first member's mirror image
    (`mirror_index`) when that is in the group, otherwise a pixel of ``A_m``."""
    mask, n, grid, dims = CASES[case]
    partner = mirror_index(mask, grid, dims).reshape(-1)
    ids = group_ids(mask, grid, dims).reshape(-1)
    num_groups = int(ids.max()) + 1
    mirrored = redrawn = 0
    for indices in _draws(case, "sag", sampler):
        per_group = torch.bincount(ids[indices], minlength=num_groups)
        q = int((per_group // 2).sum())
        first, second = indices[0 : 2 * q : 2], indices[1 : 2 * q : 2]
        pair_groups = torch.repeat_interleave(torch.arange(num_groups), per_group // 2)
        assert torch.equal(ids[first], pair_groups) and torch.equal(ids[second], pair_groups)
        singles = torch.nonzero(per_group % 2).squeeze(1)
        assert torch.equal(ids[indices[2 * q :]], singles)
        symmetric = partner[first] >= 0
        assert torch.equal(second[symmetric], partner[first[symmetric]])
        assert bool((partner[second[~symmetric]] == -1).all())
        mirrored += int(symmetric.sum())
        redrawn += int((~symmetric).sum())
    assert mirrored > 0
    if bool((partner[mask.reshape(-1)] == -1).any()):
        assert redrawn > 0


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("case", CASES)
def test_sg_output_is_grouped_in_group_order(case, sampler):
    """SG's output lists group 0's draws, then group 1's, ... in every sampler."""
    mask, _, grid, dims = CASES[case]
    ids = group_ids(mask, grid, dims).reshape(-1)
    groups = ids[_draws(case, "sg", sampler)]
    assert bool((groups[:, 1:] >= groups[:, :-1]).all())


# --------------------------------------------------------------------------------------
# the allocation: both implementations against the exact law
# --------------------------------------------------------------------------------------
def _exact_extra_law(counts: torch.Tensor, n: int) -> dict[tuple[int, ...], float]:
    """Law of ``n_m - floor(n w_m)``: a sum of independent categorical draws, one per
    unit interval, with the probabilities of `allocation_law`."""
    q, _ = allocation_law(counts, n, int(counts.sum()))
    law = {(0,) * counts.numel(): 1.0}
    for row in q.tolist():
        step: dict[tuple[int, ...], float] = {}
        for extra, p in law.items():
            for m, p_m in enumerate(row):
                if p_m > 0:
                    key = extra[:m] + (extra[m] + 1,) + extra[m + 1 :]
                    step[key] = step.get(key, 0.0) + p * p_m
        law = step
    return law


@pytest.mark.parametrize(
    ("counts", "n"),
    [([3, 0, 5, 1, 4], 6), ([7, 2, 2, 9], 3), ([1, 1, 1, 1, 1, 1, 5], 25)],
)
def test_allocation_follows_its_exact_law(counts, n):
    """Chi-square goodness of fit (p > 1e-4) of the joint law of the rounding extras
    ``e_m``, for `allocation.allocate` and the reference's `proportional_allocation`;
    every outcome drawn has positive probability and every allocation sums to ``n``."""
    counts = torch.tensor(counts)
    law = _exact_extra_law(counts, n)
    outcomes = list(law)
    base = torch.div(counts * n, int(counts.sum()), rounding_mode="floor")
    draws = 1000
    expected = torch.tensor([law[o] for o in outcomes], dtype=torch.float64) * draws
    for name, allocation in [("fast", lambda g: allocate(counts, n, int(counts.sum()), g)),
                             ("reference", lambda g: proportional_allocation(counts, n, g))]:
        generator = torch.Generator().manual_seed(3)
        extras = torch.stack([allocation(generator) for _ in range(draws)]) - base
        assert bool((extras.sum(dim=1) == n - int(base.sum())).all())
        drawn, seen = torch.unique(extras, dim=0, return_counts=True)
        assert {tuple(row) for row in drawn.tolist()} <= set(outcomes), name
        observed = torch.zeros(len(outcomes), dtype=torch.float64)
        for row, count in zip(drawn.tolist(), seen.tolist()):
            observed[outcomes.index(tuple(row))] = count
        if len(outcomes) > 1:
            statistic = float(((observed - expected) ** 2 / expected).sum())
            dof = torch.tensor((len(outcomes) - 1) / 2, dtype=torch.float64)
            p_value = torch.special.gammaincc(dof, torch.tensor(statistic / 2))  # chi2 sf
            assert float(p_value) > 1e-4, name


# --------------------------------------------------------------------------------------
# the reference's contract
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_reference_contract_matches_sample_pixels(method):
    """Empty mask or ``n == 0``: empty outputs; one pixel: it, ``n`` times; bad input:
    the same errors as `sample_pixels`."""
    sample = REFERENCE_SAMPLERS[method]
    generator = torch.Generator().manual_seed(0)
    empty, full = torch.zeros(5, 6, dtype=torch.bool), torch.ones(5, 6, dtype=torch.bool)
    for mask, n in [(empty, 4), (full, 0)]:
        indices, weights = sample(mask, n, generator, 2)
        assert indices.dtype == torch.int64 and weights.dtype == torch.float32
        assert indices.numel() == weights.numel() == 0
    one = torch.zeros(5, 6, dtype=torch.bool)
    one[3, 4] = True
    indices, weights = sample(one, 5, generator, 2)
    assert indices.tolist() == [3 * 6 + 4] * 5 and torch.allclose(weights, torch.full((5,), 0.2))
    with pytest.raises(ValueError, match="bool tensor"):
        sample(torch.ones(4, 4), 3, generator, 2)
    with pytest.raises(ValueError, match="non-negative"):
        sample(one, -1, generator, 2)
