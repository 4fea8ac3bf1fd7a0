"""The cell route of SG/SAG: few draws on a large mask, the mask's pixels never listed.

The same law as the listed route and the reference (ARCO Sec. 3.3; see
`mona_lab.samplers.reference`), computed without ``torch.nonzero`` over the mask:

1. group sizes ``|P_m|`` and centroids from one matrix product over the grid cells
   (`cell_statistics`), then the allocation ``n_m`` (`allocation.allocate`);
2. a uniform draw from ``P_m`` is the first of `costs.REJECTION_TRIES` uniform positions
   of group m's cell that is a mask pixel (rejection sampling);
3. a SAG partner of a first member without mirror image is the first of its own tries
   that lies in ``P_m`` with its mirror image outside, i.e. uniform on ``A_m``;
4. the rare rows where every try fails draw from the explicit list of ``P_m`` (resp.
   ``A_m``), built for their groups only.
"""
from __future__ import annotations

import functools
import math

import torch

from mona_lab.samplers import costs
from mona_lab.samplers.allocation import allocate, expand_counts
from mona_lab.samplers.fast_mirror import GroupMajorMirror, interleave_pairs
from mona_lab.samplers.groups import axis_coordinates
from mona_lab.samplers.layout import GridLayout, group_bounds
from mona_lab.samplers.uniform_draws import draw_in_groups


def exact_in_float32(sides: tuple[int, ...]) -> bool:
    """Whether a cell's pixel count and coordinate sums stay below 2**24 (float32-exact)."""
    return math.prod(sides) * max(sides) < 2**24


def cell_statistics(
    group_major: torch.Tensor, layout: GridLayout
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sizes ``|P_m|`` ``[M]`` and coordinate sums ``[M, dims]`` of every group, from one
    matrix product of the cells' pixels with ``[1, local coordinates]`` (exact: float32
    only when every sum stays below 2**24, float64 otherwise)."""
    volume = math.prod(layout.sides)
    dtype = torch.float32 if exact_in_float32(layout.sides) else torch.float64
    # (a bool tensor converts to float several times faster through its uint8 view)
    cells = group_major.reshape(-1, volume).view(torch.uint8).to(dtype)
    table = _statistics_table(layout.sides, dtype, str(group_major.device))
    stats = torch.mm(table, cells.t()).round().to(torch.long)  # [1 + dims, M]
    return stats[0], stats[1:].t()


@functools.lru_cache(maxsize=8)
def _statistics_table(sides: tuple[int, ...], dtype: torch.dtype, device: str) -> torch.Tensor:
    """``[1 + dims, cell volume]``: a row of ones, then the cell-local coordinates."""
    local = torch.stack(axis_coordinates(sides, torch.device("cpu")), dim=0)
    table = torch.cat([torch.ones(1, local.shape[1], dtype=torch.long), local], dim=0)
    return table.to(device=torch.device(device), dtype=dtype)


def _cell_tries(
    groups: torch.Tensor, volume: int, tries: int, generator: torch.Generator | None
) -> torch.Tensor:
    """``[k, tries]`` uniform group-major positions inside the cells of ``groups``."""
    offsets = torch.randint(0, volume, (groups.numel(), tries),
                            generator=generator, device=groups.device)
    return groups.unsqueeze(1) * volume + offsets


def _first_accepted(tries: torch.Tensor, accepted: torch.Tensor):
    """The first accepted try of each row and whether the row has one."""
    hit = torch.argmax(accepted.to(torch.uint8), dim=1, keepdim=True)
    return tries.gather(1, hit).squeeze(1), accepted.any(dim=1)


def list_cells(group_major: torch.Tensor, groups: torch.Tensor, volume: int) -> torch.Tensor:
    """Sorted group-major positions of the mask pixels of the (sorted, distinct) groups."""
    rows, cols = torch.nonzero(group_major.view(-1, volume).index_select(0, groups),
                               as_tuple=True)
    return groups.index_select(0, rows) * volume + cols


def _cell_draws(
    group_major: torch.Tensor, layout: GridLayout, groups: torch.Tensor,
    mirror: GroupMajorMirror | None, generator: torch.Generator | None,
) -> torch.Tensor:
    """One draw per listed group (group-major positions), uniform on ``P_m`` (``mirror``
    None) or on ``A_m`` (pixels whose mirror image is not in ``P_m``): the first of
    `costs.REJECTION_TRIES` (times `costs.PARTNER_TRIES_FACTOR` for ``A_m``) uniform
    positions of the cell that lies in the set, or, for the rows where none does, a
    draw from the explicit list of the set for their groups."""
    volume = math.prod(layout.sides)
    # A_m is usually a thin part of the cell and its explicit list costs a mirror pass
    # over the cell's pixels: more tries there
    count = costs.REJECTION_TRIES * (1 if mirror is None else costs.PARTNER_TRIES_FACTOR)
    tries = _cell_tries(groups, volume, count, generator)
    accepted = group_major.index_select(0, tries.reshape(-1)).view(tries.shape)
    if mirror is not None:
        accepted = accepted & ~mirror(tries)[1]
    drawn, found = _first_accepted(tries, accepted)
    missing = torch.nonzero(~found).squeeze(1)
    if missing.numel() > 0:
        wanted = groups.index_select(0, missing)
        listed = list_cells(group_major, torch.unique(wanted), volume)
        if mirror is not None:
            listed = listed[~mirror(listed)[1]]
        l_starts, l_counts = group_bounds(listed, layout.edges)
        drawn[missing] = draw_in_groups(listed, l_starts, l_counts, wanted, generator)
    return drawn


def cell_route(
    group_major: torch.Tensor, layout: GridLayout, n: int, method: str,
    generator: torch.Generator | None,
) -> torch.Tensor | None:
    """``n`` SG or SAG draws (flat indices into ``mask.flatten()``, the order of
    `sample_pixels`) without listing the mask's pixels; None for an empty mask.

    A uniform draw from ``P_m`` is the first of `costs.REJECTION_TRIES` uniform positions
    of group m's cell that is a mask pixel; a SAG partner of a first member without
    mirror image is the first of its own (`costs.PARTNER_TRIES_FACTOR` times more) tries
    that lies in ``P_m`` with its mirror image outside (uniform on ``A_m``). Rows where
    every try fails (probability ``(1 - |P_m| / cell)^tries``, resp. ``(1 - |A_m| /
    cell)^tries``) draw from the explicit list of ``P_m``, resp. ``A_m``, built for
    their groups only. Either way the draw is uniform on its set and independent of
    the others, so the law is that of the listed route.

    Args:
        group_major: the bool mask in group-major order (`layout.to_group_major`).
        layout: its `GridLayout`; n: draws (> 0); method: ``"sg"`` or ``"sag"``.
    """
    counts, sums = cell_statistics(group_major, layout)
    total = int(counts.sum())
    if total == 0:
        return None
    per_group = allocate(counts, n, total, generator)
    if method == "sag":
        pairs = torch.div(per_group, 2, rounding_mode="floor")
        pair_groups = expand_counts(pairs, int(pairs.sum()))
        single_groups = torch.nonzero(per_group - 2 * pairs).squeeze(1)
        # the pairs' first members, then the single draws: all uniform on P_m
        plain_groups = torch.cat([pair_groups, single_groups])
    else:
        pair_groups = plain_groups = expand_counts(per_group, n)
    plain = _cell_draws(group_major, layout, plain_groups, None, generator)
    if method == "sg":
        return layout.to_flat.index_select(0, plain)
    q = pair_groups.numel()
    mirror = GroupMajorMirror.from_sums(group_major, sums, counts, layout)
    first = plain[:q]
    second, symmetric = mirror(first)
    # partners of the first members without a mirror image: uniform on A_m
    rows = torch.nonzero(~symmetric).squeeze(1)
    if rows.numel() > 0:
        second[rows] = _cell_draws(
            group_major, layout, pair_groups.index_select(0, rows), mirror, generator
        )
    return layout.to_flat.index_select(0, interleave_pairs(first, second, plain[q:]))
