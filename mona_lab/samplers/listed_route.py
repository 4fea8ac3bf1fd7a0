"""The listed route of SG/SAG: list every mask pixel in group order, then draw ranks.

The fast route for many draws (ARCO Sec. 3.3, law of `mona_lab.samplers.reference`):
the mask's pixels are listed once in group-major order (`mona_lab.samplers.layout`), so
group ``P_m`` is the run ``starts[m] : starts[m] + counts[m]`` of that list; the
allocation ``n_m`` (`allocation.allocate`) gives the group of every draw and a uniform
rank inside the group's run gives the pixel (`uniform_draws`). SAG adds the mirror
partners (`fast_mirror`) and, for first members without one, a uniform draw from the
asymmetric part ``A_m``. For few draws on a large mask the cell route
(`mona_lab.samplers.cell_route`) avoids listing the pixels at all.
"""
from __future__ import annotations

import torch

from mona_lab.samplers import costs
from mona_lab.samplers.allocation import allocate, expand_counts
from mona_lab.samplers.fast_mirror import GroupMajorMirror, interleave_pairs
from mona_lab.samplers.layout import GridLayout, group_bounds
from mona_lab.samplers.uniform_draws import draw_in_groups, ranks_in_groups


def listed_route(
    group_major: torch.Tensor, layout: GridLayout, n: int, method: str,
    generator: torch.Generator | None,
) -> torch.Tensor | None:
    """``n`` SG or SAG draws (flat indices into ``mask.flatten()``, the order of
    `sample_pixels`), or None for an empty mask.

    Args:
        group_major: the bool mask in group-major order (`layout.to_group_major`).
        layout: its `GridLayout`; n: draws (> 0); method: ``"sg"`` or ``"sag"``.
    """
    pos = torch.nonzero(group_major).squeeze(1)  # the mask's pixels, group by group
    total = int(pos.numel())
    if total == 0:
        return None
    starts, counts = group_bounds(pos, layout.edges)
    per_group = allocate(counts, n, total, generator)

    if method == "sg":
        # map positions to flat indices before drawing or after, whichever list is shorter
        if n > total:
            flat = layout.to_flat.index_select(0, pos)
            return draw_in_groups(flat, starts, counts, expand_counts(per_group, n), generator)
        drawn = draw_in_groups(pos, starts, counts, expand_counts(per_group, n), generator)
        return layout.to_flat.index_select(0, drawn)
    pairs = torch.div(per_group, 2, rounding_mode="floor")
    pair_groups = expand_counts(pairs, int(pairs.sum()))
    single_groups = torch.nonzero(per_group - 2 * pairs).squeeze(1)
    singles = draw_in_groups(pos, starts, counts, single_groups, generator)
    mirror = GroupMajorMirror(group_major, pos, starts, counts, layout)
    first, second = _sag_pairs(pair_groups, pos, starts, counts, mirror, layout, generator)
    drawn = interleave_pairs(first, second, singles)
    return layout.to_flat.index_select(0, drawn)


def _sag_pairs(
    groups: torch.Tensor, pos: torch.Tensor, starts: torch.Tensor, counts: torch.Tensor,
    mirror: GroupMajorMirror, layout: GridLayout, generator: torch.Generator | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One antithetic pair ``(p, p')`` in each listed group (group-major positions).

    ``p`` is uniform on ``P_m``; ``p' = mirror(p)`` when that is a pixel of ``P_m``
    (``p`` in the symmetric part ``S_m``), otherwise a uniform draw from the asymmetric
    part ``A_m = P_m \\ S_m``. Many pairs (``pairs * tries > |P|``): every mask pixel's
    partner is found once and ``A_m`` listed explicitly. Few pairs: rejection, i.e.
    `costs.REJECTION_TRIES` uniform tries from ``P_m`` drawn with every ``p`` (used only
    where ``p`` has no partner), the first try without a partner being uniform on
    ``A_m``; the rows left (no success: at most ``1/(e (tries + 1))`` per pair) draw from
    the explicit list of ``A_m`` built for the groups concerned only. All routes give
    the same law.
    """
    if groups.numel() * costs.REJECTION_TRIES > pos.numel():
        # many pairs: find every mask pixel's partner once, then draw ranks
        images, symmetric = mirror(pos)
        ranks = ranks_in_groups(starts, counts, groups, generator)
        first = pos.index_select(0, ranks)
        second = images.index_select(0, ranks)
        rows = torch.nonzero(~symmetric.index_select(0, ranks)).squeeze(1)
        if rows.numel() > 0:
            asymmetric = pos[~symmetric]
            a_starts, a_counts = group_bounds(asymmetric, layout.edges)
            second[rows] = draw_in_groups(
                asymmetric, a_starts, a_counts, groups.index_select(0, rows), generator
            )
        return first, second
    # few pairs: draw p and its rejection tries together, find all their mirrors at once
    draws = draw_in_groups(
        pos, starts, counts, groups.unsqueeze(1).expand(-1, 1 + costs.REJECTION_TRIES),
        generator,
    )
    images, members = mirror(draws)
    first, symmetric = draws[:, 0], members[:, 0]
    accepted = ~members[:, 1:]
    hit = torch.argmax(accepted.to(torch.uint8), dim=1, keepdim=True)
    second = torch.where(symmetric, images[:, 0], draws[:, 1:].gather(1, hit).squeeze(1))
    rows = torch.nonzero(~symmetric & ~accepted.any(dim=1)).squeeze(1)
    if rows.numel() == 0:
        return first, second
    wanted = groups.index_select(0, rows)
    # the pixels of the groups concerned, in group order, and their asymmetric ones
    needed = torch.unique(wanted)
    sizes = counts.index_select(0, needed)
    segment = expand_counts(sizes, int(sizes.sum()))
    offsets = torch.arange(segment.numel(), device=pos.device) - (
        torch.cumsum(sizes, 0) - sizes
    ).index_select(0, segment)
    first_pixel = starts.index_select(0, needed).index_select(0, segment)
    pixels = pos.index_select(0, first_pixel + offsets)
    asymmetric = pixels[~mirror(pixels)[1]]
    a_starts, a_counts = group_bounds(asymmetric, layout.edges)
    second[rows] = draw_in_groups(asymmetric, a_starts, a_counts, wanted, generator)
    return first, second
