"""Proportional allocation of the ``n`` draws to the groups (ARCO Sec. 3.3, Theorem 3.2).

ARCO's SG is unbiased with "proportional group sizes", ``|D_m| = n w_m`` with
``w_m = |P_m| / |P|``; ``n w_m`` is rarely an integer, so `allocate` rounds it at random:
``n_m = floor(n w_m) + e_m`` with ``E[n_m] = n w_m`` exactly and ``sum_m n_m = n``.
`allocation_law` is the exact law of that rounding (used by the closed-form moments,
`mona_lab.samplers.moments`), and `expand_counts` turns ``n_m`` into the group of every
draw.
"""
from __future__ import annotations

import torch


def remainder_stretches(
    counts: torch.Tensor, n: int, total: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``floor(n w_m)`` and the stretch ``[lower_m, upper_m)`` of each remainder.

    ``w_m = counts_m / total``; the remainders ``r_m = n counts_m mod total`` are laid end
    to end, so the stretches tile ``[0, R * total)`` with ``R = n - sum_m floor(n w_m)``.
    """
    scaled = counts * n
    base = torch.div(scaled, total, rounding_mode="floor")
    upper = torch.cumsum(scaled - base * total, 0)
    return base, upper - (scaled - base * total), upper


def allocate(
    counts: torch.Tensor, n: int, total: int, generator: torch.Generator | None
) -> torch.Tensor:
    """Randomised proportional allocation: ``n_m = floor(n w_m) + e_m``, ``sum n_m = n``
    (ARCO Theorem 3.2's proportional group sizes, rounded to integers).

    Stratified rounding of the remainders (integer arithmetic, no float rounding): the
    stretches of `remainder_stretches` cover ``R`` unit intervals ``[j total, (j+1)
    total)``; one point is dropped uniformly and independently in each, and ``e_m``
    counts the points in group m's stretch. So ``E[e_m] = r_m / total`` and
    ``E[n_m] = n w_m`` exactly, and ``sum_m e_m = R``. (Sharing one offset across the
    intervals, i.e. systematic sampling, often gives lower variance but resonates with
    periodic layouts, e.g. the same cell in consecutive batch items, and can then be
    worse than NS; independent offsets cannot, see `theoretical_moments`.)

    Args:
        counts: int64 ``[M]`` group sizes ``|P_m|``; n: draws; total: ``sum counts > 0``.

    Returns:
        int64 ``[M]``: the draws ``n_m`` of each group.
    """
    base, _, upper = remainder_stretches(counts, n, total)
    slots = counts.numel()  # R < number of groups; unused points fall past the end
    points = torch.arange(slots, device=counts.device) * total + torch.randint(
        0, total, (slots,), generator=generator, device=counts.device
    )
    hit = torch.searchsorted(upper, points, right=True)
    extra = torch.zeros(slots + 1, dtype=torch.long, device=counts.device)
    extra.index_add_(0, hit, torch.ones_like(hit))
    return base + extra[:slots]


def allocation_law(
    counts: torch.Tensor, n: int, total: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact law of `allocate`, as the probability ``q[j, m]`` that the point of unit
    interval ``j`` falls in group m's stretch (``[R, M]``; rows independent), and
    ``floor(n w_m)`` (``[M]``)."""
    counts = counts.to(torch.long)
    base, lower, upper = remainder_stretches(counts, n, total)
    rounds = n - int(base.sum())
    starts = torch.arange(rounds, device=counts.device).unsqueeze(1) * total
    overlap = torch.minimum(upper, starts + total) - torch.maximum(lower, starts)
    return overlap.clamp(min=0).to(torch.float64) / total, base


def expand_counts(counts: torch.Tensor, size: int) -> torch.Tensor:
    """``[0] * counts[0] + [1] * counts[1] + ...`` (``size = counts.sum()``).

    Marks every group's end and takes a running sum (``torch.repeat_interleave`` costs
    ~15 ms per call on CPU in torch 2.13, more than the whole sampler).
    """
    ends = torch.cumsum(counts, 0)
    marks = torch.zeros(size + 1, dtype=torch.long, device=counts.device)
    marks.index_add_(0, ends, torch.ones_like(ends))
    return torch.cumsum(marks[:size], 0)
