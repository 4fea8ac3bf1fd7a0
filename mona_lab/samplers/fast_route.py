"""The fast routes of SG/SAG sampling (ARCO Sec. 3.3), in one module: the law of
`mona_lab.samplers.reference`, computed without a Python loop over groups.

`sample_pixels` takes one of two routes for stratified (SG) and stratified-antithetic (SAG)
group sampling; both draw from exactly the reference's law and differ only in cost:

- the **listed route** (`listed_route`) lists every mask pixel once in group-major order and
  draws ranks inside each group's run (many draws);
- the **cell route** (`cell_route`) never lists the mask: group sizes from a matrix product
  over the grid cells, draws by rejection inside a group's cell (few draws on a large mask).

Sections, in the order they build on each other: the cost knobs (which route, how many tries;
read as module attributes at call time, so a test can change one for both routes), the
group-major layout, uniform draws inside groups, SAG's mirror map on that layout, then the two
routes. `mona_lab.samplers.groups` computes the same groups and mirrors in raster order (the
plain version the tests compare with).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from mona_lab.samplers.allocation import allocate, expand_counts
from mona_lab.samplers.groups import axis_coordinates, cell_sizes, twice_centre


# --------------------------------------------------------------------------------------
# costs: The fast routes' cost knobs: which route `sample_pixels` takes and how many tries.
#
# None of these numbers changes the law of the draws (every route draws from the law of
# `mona_lab.samplers.reference`); they only trade one kind of work for another. They are
# read as module attributes at call time (``fast_route.REJECTION_TRIES``), so a test can
# change one for both routes at once.
# --------------------------------------------------------------------------------------
# uniform tries per draw (SAG partners from a group's asymmetric part; on the cell route
# also every draw from a group) before the explicit list of that set is built (both give
# the same, exact law; this only sets the cost).
REJECTION_TRIES = 32
# the cell route is taken when the tries it draws are fewer than the padded mask's
# pixels divided by this factor (otherwise listing every mask pixel is cheaper)
CELL_ROUTE_FACTOR = 4
# the cell route's tries per SAG partner, in multiples of `REJECTION_TRIES`
PARTNER_TRIES_FACTOR = 4


def use_cell_route(n: int, positions: int) -> bool:
    """Whether ``n`` SG/SAG draws on a mask of ``positions`` padded pixels take the cell
    route (the cell route (`cell_route`)) rather than the listed route."""
    return n * (1 + REJECTION_TRIES) * CELL_ROUTE_FACTOR <= positions


# --------------------------------------------------------------------------------------
# layout: The group-major pixel order the fast routes work in: every group ``P_m`` one run.
#
# ARCO Sec. 3.3 draws inside groups ``P_m`` (`mona_lab.samplers.groups`). In raster order a
# group's pixels are scattered over many rows; the fast routes therefore reorder the mask so
# that each grid cell (hence each group) is one contiguous run of positions:
#
#     mask [B, *spatial]  --pad to grid * cell side, permute-->  [B, *cells, *cell pixels]
#
# Drawing "a pixel of group m" is then drawing a position in ``edges[m]:edges[m + 1]``, and
# ``to_flat`` maps a position back to the flat index into ``mask.flatten()``. The tables
# depend only on the mask's shape and the grid, and are cached.
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GridLayout:
    """Pixel order in which every group is one contiguous run ("group-major" order).

    Each item is padded to ``grid * cell_side`` pixels per axis and permuted to
    ``[cells..., cell pixels...]``; items follow one another. For a position in that
    order ``to_flat`` gives the flat index into ``mask.flatten()`` (-1 for padding);
    group ``m`` occupies positions ``edges[m]:edges[m + 1]``.
    """

    cells: tuple[int, ...]
    sides: tuple[int, ...]
    padded: tuple[int, ...]
    to_flat: torch.Tensor
    edges: torch.Tensor
    local_coords: torch.Tensor  # [cell volume, dims]: coordinates inside a cell
    strides: torch.Tensor  # [dims]: position strides of those coordinates
    packed_coords: torch.Tensor  # [positions]: local coordinates packed in one int64
    axis_coords: torch.Tensor  # [dims, cell volume]: local_coords transposed


def to_group_major(
    x: torch.Tensor, cells: tuple[int, ...], sides: tuple[int, ...]
) -> torch.Tensor:
    """``x: [B, *spatial] -> [B * prod(grid * side)]`` in group-major order (padding = 0)."""
    batch, spatial = x.shape[0], tuple(x.shape[1:])
    padded = tuple(g * side for g, side in zip(cells, sides))
    if spatial != padded:
        grown = x.new_zeros((batch,) + padded)
        grown[(slice(None),) + tuple(slice(0, s) for s in spatial)] = x
        x = grown
    split: list[int] = [batch]
    for g, side in zip(cells, sides):
        split += [g, side]
    dims = len(cells)
    order = [0] + [1 + 2 * k for k in range(dims)] + [2 + 2 * k for k in range(dims)]
    return x.reshape(split).permute(order).reshape(-1)


def field_bits(dims: int) -> int:
    """Bits per coordinate when ``dims`` coordinate sums share one int64."""
    return 62 // dims


@functools.lru_cache(maxsize=8)
def grid_layout(
    batch: int, spatial: tuple[int, ...], cells: tuple[int, ...], device: str
) -> GridLayout:
    """Cached index tables of the group-major order for one mask shape and grid."""
    sides = cell_sizes(spatial, cells)
    padded = tuple(g * s for g, s in zip(cells, sides))
    shape = (batch,) + spatial
    flat = torch.arange(math.prod(shape)).reshape(shape)
    to_flat = to_group_major(flat + 1, cells, sides) - 1  # padding becomes -1
    groups = batch * math.prod(cells)
    edges = torch.arange(groups + 1) * math.prod(sides)
    local = torch.stack(axis_coordinates(sides, torch.device("cpu")), dim=1)
    strides = torch.tensor([math.prod(sides[a + 1 :]) for a in range(len(sides))])
    shifts = torch.arange(len(sides)) * field_bits(len(sides))
    packed = (local << shifts).sum(dim=1).repeat(groups)
    dev = torch.device(device)
    return GridLayout(
        cells, sides, padded, to_flat.to(dev), edges.to(dev), local.to(dev), strides.to(dev),
        packed.to(dev), local.t().contiguous().to(dev),
    )


def group_bounds(pos: torch.Tensor, edges: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Start and size of each group's run in the sorted group-major positions ``pos``."""
    bounds = torch.searchsorted(pos, edges)
    return bounds[:-1], bounds[1:] - bounds[:-1]


# --------------------------------------------------------------------------------------
# uniform draws: Uniform draws inside groups that are contiguous runs of a sorted list of pixels.
#
# The fast routes keep the pixels of a set (all of ``P_m``, or SAG's asymmetric part
# ``A_m``) as one sorted list in group-major order (the layout section), group m
# being the run ``starts[m] : starts[m] + counts[m]``. A uniform draw from group m is then
# a uniform rank inside that run, for many groups at once.
# --------------------------------------------------------------------------------------
# random bits behind a within-group rank (see `ranks_in_groups`)
RANK_BITS = 40


def ranks_in_groups(
    starts: torch.Tensor, counts: torch.Tensor, groups: torch.Tensor,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """``starts[g] + U{0..counts[g]-1}`` for each listed group ``g`` (any shape).

    The rank is ``floor(b * counts / 2**40)`` for a uniform 40-bit integer ``b``: each
    rank has probability ``1/counts`` up to a relative error below ``counts / 2**40``
    (under 4e-7 for a 512x512x512 volume), with integer arithmetic only.
    """
    flat_groups = groups.reshape(-1)
    bits = torch.randint(0, 2**RANK_BITS, flat_groups.shape, generator=generator,
                         device=starts.device)
    ranks = (bits * counts.index_select(0, flat_groups)) >> RANK_BITS
    return (starts.index_select(0, flat_groups) + ranks).reshape(groups.shape)


def draw_in_groups(
    pos: torch.Tensor, starts: torch.Tensor, counts: torch.Tensor, groups: torch.Tensor,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """One uniform draw from each listed group: ``pos[starts[g] + U{0..counts[g]-1}]``."""
    ranks = ranks_in_groups(starts, counts, groups, generator)
    return pos.index_select(0, ranks.reshape(-1)).reshape(groups.shape)


# --------------------------------------------------------------------------------------
# fast mirror: SAG's mirror map on the group-major layout: the fast twin of `groups.mirror_index`.
#
# ARCO Sec. 3.3 pairs a draw ``p`` of group m with ``p' = 2 c_m - p`` (``c_m - p = p' -
# c_m``). `groups.mirror_index` computes that partner for every mask pixel in raster order;
# the fast routes need it only for the positions they draw, in group-major order
# (the layout section), where the image of a position is one subtraction,
# ``anchor[m] - position``. `GroupMajorMirror` holds the per-group centres and anchors;
# the tests check it against `groups.mirror_index`. `interleave_pairs` writes the pairs in
# `sample_pixels`'s output order.
# --------------------------------------------------------------------------------------
def packable(total: int, sides: tuple[int, ...]) -> bool:
    """Whether coordinate sums over ``total`` pixels fit their packed fields."""
    return total * max(sides) < 2 ** field_bits(len(sides))


def coordinate_sums(
    pos: torch.Tensor, starts: torch.Tensor, counts: torch.Tensor, layout: GridLayout
) -> torch.Tensor:
    """Per-group sums of the cell-local coordinates of the mask pixels ``[M, dims]``:
    running sums over the group-sorted positions ``pos``, all axes at once in one
    packed int64 when the sums fit their bit fields."""
    dims = len(layout.sides)
    volume = math.prod(layout.sides)
    if packable(int(pos.numel()), layout.sides):
        coords = layout.packed_coords.index_select(0, pos)
    else:
        coords = layout.local_coords.index_select(0, torch.remainder(pos, volume))
    running = torch.cumsum(coords, 0)
    shape = (-1,) + (1,) * (running.ndim - 1)
    ends = running.index_select(0, (starts + counts - 1).clamp(min=0))
    before = running.index_select(0, (starts - 1).clamp(min=0))
    sums = ends - torch.where((starts > 0).view(shape), before, 0)
    sums = torch.where((counts > 0).view(shape), sums, 0)
    if sums.ndim == 1:
        bits = field_bits(dims)
        shifts = torch.arange(dims, device=pos.device) * bits
        sums = (sums.unsqueeze(1) >> shifts) & ((1 << bits) - 1)
    return sums


class GroupMajorMirror:
    """Mirror images through the group centres, in group-major positions (the sampler's
    fast twin of `mirror_index`, which the tests compare it with)."""

    def __init__(
        self, group_major: torch.Tensor, pos: torch.Tensor, starts: torch.Tensor,
        counts: torch.Tensor, layout: GridLayout,
    ):
        self._setup(group_major, coordinate_sums(pos, starts, counts, layout), counts,
                    layout)

    @classmethod
    def from_sums(
        cls, group_major: torch.Tensor, sums: torch.Tensor, counts: torch.Tensor,
        layout: GridLayout,
    ) -> "GroupMajorMirror":
        """Build from per-group coordinate sums ``[M, dims]`` and sizes ``[M]``."""
        mirror = cls.__new__(cls)
        mirror._setup(group_major, sums, counts, layout)
        return mirror

    def _setup(self, group_major, sums, counts, layout) -> None:
        self.group_major = group_major
        self.sides = layout.sides
        self.volume = math.prod(layout.sides)
        self.local_coords = layout.axis_coords  # [dims, cell volume]
        twice = twice_centre(sums, counts.unsqueeze(1))  # [M, dims]
        self.twice = twice.t().contiguous()  # [dims, M]
        groups = torch.arange(counts.numel(), device=counts.device)
        # mirror position = anchor[m] - position (no wrap-around when valid)
        self.anchor = 2 * groups * self.volume + (twice * layout.strides).sum(dim=1)

    def __call__(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mirror positions, whether each is a pixel of the same group)``."""
        flat = positions.reshape(-1)
        group = torch.div(flat, self.volume, rounding_mode="floor")
        local = flat - group * self.volume
        # inside the cell iff 0 <= image <= side - 1 on every axis, i.e. the bitwise OR
        # of all those numbers is non-negative
        signs = None
        for axis, side in enumerate(self.sides):
            image = self.twice[axis].index_select(0, group)
            image = image - self.local_coords[axis].index_select(0, local)
            both = image | (side - 1 - image)
            signs = both if signs is None else signs | both
        valid = signs >= 0
        image = torch.where(valid, self.anchor.index_select(0, group) - flat, flat)
        member = valid & self.group_major.index_select(0, image)
        return image.reshape(positions.shape), member.reshape(positions.shape)


def interleave_pairs(
    first: torch.Tensor, second: torch.Tensor, singles: torch.Tensor
) -> torch.Tensor:
    """``[first_0, second_0, first_1, second_1, ..., singles...]`` (one write pass)."""
    q = first.numel()
    out = torch.empty(2 * q + singles.numel(), dtype=first.dtype, device=first.device)
    pairs = out[: 2 * q].view(q, 2)
    pairs[:, 0] = first
    pairs[:, 1] = second
    out[2 * q :] = singles
    return out


# --------------------------------------------------------------------------------------
# listed route: The listed route of SG/SAG: list every mask pixel in group order, then draw ranks.
#
# The fast route for many draws (ARCO Sec. 3.3, law of `mona_lab.samplers.reference`):
# the mask's pixels are listed once in group-major order (the layout section), so
# group ``P_m`` is the run ``starts[m] : starts[m] + counts[m]`` of that list; the
# allocation ``n_m`` (`allocation.allocate`) gives the group of every draw and a uniform
# rank inside the group's run gives the pixel (`draw_in_groups`). SAG adds the mirror
# partners (`GroupMajorMirror`) and, for first members without one, a uniform draw from the
# asymmetric part ``A_m``. For few draws on a large mask the cell route
# (the cell route (`cell_route`)) avoids listing the pixels at all.
# --------------------------------------------------------------------------------------
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
    `REJECTION_TRIES` uniform tries from ``P_m`` drawn with every ``p`` (used only
    where ``p`` has no partner), the first try without a partner being uniform on
    ``A_m``; the rows left (no success: at most ``1/(e (tries + 1))`` per pair) draw from
    the explicit list of ``A_m`` built for the groups concerned only. All routes give
    the same law.
    """
    if groups.numel() * REJECTION_TRIES > pos.numel():
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
        pos, starts, counts, groups.unsqueeze(1).expand(-1, 1 + REJECTION_TRIES),
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


# --------------------------------------------------------------------------------------
# cell route: The cell route of SG/SAG: few draws on a large mask, the mask's pixels never listed.
#
# The same law as the listed route and the reference (ARCO Sec. 3.3; see
# `mona_lab.samplers.reference`), computed without ``torch.nonzero`` over the mask:
#
# 1. group sizes ``|P_m|`` and centroids from one matrix product over the grid cells
#    (`cell_statistics`), then the allocation ``n_m`` (`allocation.allocate`);
# 2. a uniform draw from ``P_m`` is the first of `REJECTION_TRIES` uniform positions
#    of group m's cell that is a mask pixel (rejection sampling);
# 3. a SAG partner of a first member without mirror image is the first of its own tries
#    that lies in ``P_m`` with its mirror image outside, i.e. uniform on ``A_m``;
# 4. the rare rows where every try fails draw from the explicit list of ``P_m`` (resp.
#    ``A_m``), built for their groups only.
# --------------------------------------------------------------------------------------
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
    `REJECTION_TRIES` (times `PARTNER_TRIES_FACTOR` for ``A_m``) uniform
    positions of the cell that lies in the set, or, for the rows where none does, a
    draw from the explicit list of the set for their groups."""
    volume = math.prod(layout.sides)
    # A_m is usually a thin part of the cell and its explicit list costs a mirror pass
    # over the cell's pixels: more tries there
    count = REJECTION_TRIES * (1 if mirror is None else PARTNER_TRIES_FACTOR)
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

    A uniform draw from ``P_m`` is the first of `REJECTION_TRIES` uniform positions
    of group m's cell that is a mask pixel; a SAG partner of a first member without
    mirror image is the first of its own (`PARTNER_TRIES_FACTOR` times more) tries
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
