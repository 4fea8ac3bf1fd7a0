"""Pixel samplers of ARCO (Naive, Stratified Group, Stratified-Antithetic Group).

ARCO (paper 002, Sec. 3.3) estimates the aggregation ``H = (1/|P|) sum_{p in P} h(p)``
(Eq. 3.1) from a small sample ``D`` of the class's pixels ``P``. This module draws that
sample and returns, with each drawn pixel, the weight that makes the weighted sum an
unbiased estimate of ``H``:

    indices, weights = sample_pixels(mask, n, method="sg")
    estimate = (weights * v.flatten()[indices]).sum()      # E[estimate] = v[mask].mean()

Methods (all draw exactly ``n`` pixels, so they are compared at equal cost):

``"ns"``  Naive Sampling: ``n`` independent uniform draws from ``P`` (with replacement).
``"sg"``  Stratified Group sampling: ``P`` is cut into groups ``P_m`` = mask pixels inside
          one cell of an equal-size spatial grid; group ``m`` receives ``n_m`` draws with
          ``E[n_m] = n |P_m| / |P|`` (proportional allocation, randomised rounding).
``"sag"`` Stratified-Antithetic Group sampling: SG whose draws inside a group come in
          pairs ``(p, p')`` mirrored through the group's centre ``c_m - p = p' - c_m``
          (``c_m`` = centroid of ``P_m`` on the half-pixel grid, `group_centres`).
``"block"`` the strata of the authors' public code (blocks of the flattened index list,
          equal counts per stratum, padded with uniform draws). It is BIASED whenever the
          blocks differ in size and is kept for teaching only.

Every method samples with replacement (the paper's Lemma 3.1 assumes independent draws
inside a group, ``p _|_ p'``), so ``n`` may exceed the number of mask pixels. Every
weight is ``1/n``; see `sample_pixels` for why that is the unbiased weight for SG and SAG
too, and `theoretical_moments` for the exact mean and variance of each estimator.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Sequence

import torch

from mona_lab.errors import MonaLabError

SAMPLING_METHODS = ("ns", "sg", "sag", "block")

# uniform tries per draw (SAG partners from a group's asymmetric part; on the cell route
# also every draw from a group) before the explicit list of that set is built (both give
# the same, exact law; this only sets the cost).
_REJECTION_TRIES = 32
# random bits behind a within-group rank (see `_ranks_in_groups`)
_RANK_BITS = 40


# --------------------------------------------------------------------------------------
# argument checking
# --------------------------------------------------------------------------------------
def _check_mask(mask: object, spatial_dims: int) -> tuple[int, tuple[int, ...]]:
    """Validate ``mask`` and return (batch size, spatial shape)."""
    if isinstance(spatial_dims, bool) or spatial_dims not in (2, 3):
        raise MonaLabError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}")
    if not isinstance(mask, torch.Tensor):
        raise MonaLabError(f"mask must be a torch.Tensor, got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise MonaLabError(
            f"mask must be a bool tensor (e.g. labels == c), got dtype {mask.dtype} "
            f"with shape {tuple(mask.shape)}"
        )
    if mask.ndim not in (spatial_dims, spatial_dims + 1):
        layout = "[H, W] or [B, H, W]" if spatial_dims == 2 else "[D, H, W] or [B, D, H, W]"
        raise MonaLabError(
            f"mask with spatial_dims={spatial_dims} must be {layout}, got shape "
            f"{tuple(mask.shape)} ({mask.ndim} dims)"
        )
    spatial = tuple(int(s) for s in mask.shape[-spatial_dims:])
    batch = int(mask.shape[0]) if mask.ndim == spatial_dims + 1 else 1
    if min(spatial) < 1:
        raise MonaLabError(f"mask has an empty spatial axis: shape {tuple(mask.shape)}")
    return batch, spatial


def _check_grid(grid: int | Sequence[int], spatial: tuple[int, ...]) -> tuple[int, ...]:
    if isinstance(grid, bool):
        raise MonaLabError(f"grid must be a positive int or a tuple of ints, got {grid!r}")
    if isinstance(grid, int):
        cells = (grid,) * len(spatial)
    elif isinstance(grid, (tuple, list)) and all(
        isinstance(g, int) and not isinstance(g, bool) for g in grid
    ):
        cells = tuple(grid)
    else:
        raise MonaLabError(f"grid must be a positive int or a tuple of ints, got {grid!r}")
    if len(cells) != len(spatial):
        raise MonaLabError(
            f"grid {tuple(cells)} needs one entry per spatial axis of the mask "
            f"(spatial shape {spatial})"
        )
    for axis, (g, size) in enumerate(zip(cells, spatial)):
        if g < 1:
            raise MonaLabError(f"grid[{axis}]={g} must be at least 1")
        if g > size:
            raise MonaLabError(
                f"grid[{axis}]={g} cells exceed the mask's {size} pixels along that axis "
                f"(spatial shape {spatial})"
            )
    return cells


def _check_count(n: object) -> int:
    if isinstance(n, bool) or not hasattr(n, "__index__"):
        raise MonaLabError(f"n must be a non-negative integer, got {n!r}")
    n = int(n.__index__())  # type: ignore[union-attr]
    if n < 0:
        raise MonaLabError(f"n must be a non-negative integer, got {n}")
    return n


def _check_method(method: object) -> str:
    if method not in SAMPLING_METHODS:
        raise MonaLabError(
            f"method must be one of {', '.join(repr(m) for m in SAMPLING_METHODS)}, "
            f"got {method!r}"
        )
    return str(method)


def _check_generator(generator: object, device: torch.device) -> torch.Generator | None:
    if generator is None:
        return None
    if not isinstance(generator, torch.Generator):
        raise MonaLabError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}"
        )
    gen_device = torch.device(generator.device)
    if gen_device.type != device.type or (
        device.index is not None and gen_device.index not in (None, device.index)
    ):
        raise MonaLabError(
            f"generator lives on {gen_device} but mask lives on {device}; create it with "
            f"torch.Generator(device=mask.device)"
        )
    return generator


# --------------------------------------------------------------------------------------
# the grid: cells, group ids and the mirror map
# --------------------------------------------------------------------------------------
def _cell_sizes(spatial: tuple[int, ...], cells: tuple[int, ...]) -> tuple[int, ...]:
    """Side length of a grid cell along each axis: ``ceil(size / grid)``."""
    return tuple(-(-size // g) for size, g in zip(spatial, cells))


def _axis_coordinates(spatial: tuple[int, ...], device: torch.device) -> list[torch.Tensor]:
    """Integer coordinates of every pixel of one item, one flat tensor per axis."""
    axes = [torch.arange(s, device=device) for s in spatial]
    return [c.reshape(-1) for c in torch.meshgrid(*axes, indexing="ij")]


def group_ids(
    mask: torch.Tensor, grid: int | Sequence[int] = 4, spatial_dims: int = 2
) -> torch.Tensor:
    """The SG/SAG group of every mask pixel (ARCO Sec. 3.3: groups ``P_m``).

    Each spatial axis of length ``L`` is cut into ``grid`` cells of ``ceil(L / grid)``
    pixels (equal cells when ``grid`` divides ``L``; otherwise the last cell of the axis is
    shorter). A group is the set of mask pixels inside one cell of one batch item, so a
    ``[B, H, W]`` mask has ``B * gh * gw`` groups (some possibly empty). Group ids run
    item-major, then over cells in raster order: ``m = b * prod(grid) + raster(cell)``.

    Args:
        mask: bool ``[H, W]`` or ``[B, H, W]`` (``spatial_dims=2``), or ``[D, H, W]`` or
            ``[B, D, H, W]`` (``spatial_dims=3``).
        grid: cells per spatial axis, an int or one int per axis (each in 1..axis length).
        spatial_dims: 2 or 3.

    Returns:
        int64 tensor shaped like ``mask``: the group id of each mask pixel, -1 elsewhere.

    Raises:
        ValueError (`MonaLabError`): bad mask dtype/shape, bad grid or spatial_dims.
    """
    batch, spatial = _check_mask(mask, spatial_dims)
    cells = _check_grid(grid, spatial)
    sides = _cell_sizes(spatial, cells)
    coords = _axis_coordinates(spatial, mask.device)
    cell = torch.zeros_like(coords[0])
    for coord, g, side in zip(coords, cells, sides):
        cell = cell * g + torch.div(coord, side, rounding_mode="floor")
    per_item = math.prod(cells)
    ids = cell.unsqueeze(0) + per_item * torch.arange(batch, device=mask.device).unsqueeze(1)
    ids = ids.reshape(mask.shape)
    return torch.where(mask, ids, torch.full_like(ids, -1))


def _twice_centre(coordinate_sums: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """``2 c`` rounded to an integer (half up), ``c = coordinate_sums / counts``."""
    safe = counts.clamp(min=1)
    return torch.div(4 * coordinate_sums + safe, 2 * safe, rounding_mode="floor")


def _reference_mirror(mask: torch.Tensor, cells: tuple[int, ...], spatial_dims: int):
    """Twice the group centres ``[M, dims]`` and the mirror map (see `mirror_index`)."""
    batch, spatial = _check_mask(mask, spatial_dims)
    sides = _cell_sizes(spatial, cells)
    ids = group_ids(mask, cells, spatial_dims).reshape(-1)
    flat_mask = mask.reshape(-1)
    inside = torch.nonzero(flat_mask).squeeze(1)
    g = ids[inside]
    num = batch * math.prod(cells)
    counts = torch.bincount(g, minlength=num)
    item_size = math.prod(spatial)
    local = inside % item_size
    coords = []
    for size in reversed(spatial):
        coords.insert(0, local % size)
        local = torch.div(local, size, rounding_mode="floor")
    mirror = inside - inside % item_size
    valid = torch.ones_like(inside, dtype=torch.bool)
    twice = []
    stride = item_size
    for coord, size, side in zip(coords, spatial, sides):
        sums = torch.zeros(num, dtype=torch.long, device=mask.device).index_add_(0, g, coord)
        twice.append(_twice_centre(sums, counts))
        image = twice[-1][g] - coord
        stride //= size
        valid &= (image >= 0) & (image < size)
        valid &= torch.div(image, side, rounding_mode="floor") == torch.div(
            coord, side, rounding_mode="floor"
        )
        mirror = mirror + image.clamp(0, size - 1) * stride
    member = valid & flat_mask[mirror]
    out = torch.full_like(flat_mask, -1, dtype=torch.long)
    out[inside] = torch.where(member, mirror, torch.full_like(mirror, -1))
    return torch.stack(twice, dim=1), counts, out.reshape(mask.shape)


def mirror_index(
    mask: torch.Tensor, grid: int | Sequence[int] = 4, spatial_dims: int = 2
) -> torch.Tensor:
    """SAG's antithetic partner of every mask pixel: its mirror image through the centre
    of its group, ``c_m - p = p' - c_m`` (ARCO Sec. 3.3), or -1 where there is none.

    The paper leaves ``c_m`` open (footnote 4: e.g. the geometric centre). mona_lab takes
    the centroid of the group's pixels rounded to the half-pixel grid,
    ``2 c_m = round(2 mean(P_m))`` per axis, so mirror images of pixels are pixels and
    blobs cut by cell borders still pair up (on ACDC-like blobs this pairs about 80 % of
    the pixels, against about 30 % for the centre of the grid cell). ``p'`` counts only
    if it is a pixel of the same group ``P_m``: inside the image, the same grid cell and
    the mask. Mirroring is an involution of ``S_m = {p in P_m : p' in P_m}``.

    Args:
        mask, grid, spatial_dims: as in `sample_pixels`.

    Returns:
        int64 tensor shaped like ``mask``: the flat index (into ``mask.flatten()``) of the
        partner of each pixel of the symmetric parts ``S_m``; -1 elsewhere.
    """
    _, spatial = _check_mask(mask, spatial_dims)
    return _reference_mirror(mask, _check_grid(grid, spatial), spatial_dims)[2]


def group_centres(
    mask: torch.Tensor, grid: int | Sequence[int] = 4, spatial_dims: int = 2
) -> torch.Tensor:
    """The SAG centre ``c_m`` of every group (see `mirror_index`), in pixel coordinates.

    Returns:
        float64 ``[M, spatial_dims]`` (``M`` as in `group_ids`; multiples of 0.5, item-local
        coordinates), NaN for empty groups.
    """
    _, spatial = _check_mask(mask, spatial_dims)
    twice, counts, _ = _reference_mirror(mask, _check_grid(grid, spatial), spatial_dims)
    centres = twice.to(torch.float64) / 2
    centres[counts == 0] = float("nan")
    return centres


@dataclass(frozen=True)
class _GridLayout:
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


def _to_group_major(
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


@functools.lru_cache(maxsize=8)
def _grid_layout(
    batch: int, spatial: tuple[int, ...], cells: tuple[int, ...], device: str
) -> _GridLayout:
    """Cached index tables of the group-major order for one mask shape and grid."""
    sides = _cell_sizes(spatial, cells)
    padded = tuple(g * s for g, s in zip(cells, sides))
    shape = (batch,) + spatial
    flat = torch.arange(math.prod(shape)).reshape(shape)
    to_flat = _to_group_major(flat + 1, cells, sides) - 1  # padding becomes -1
    groups = batch * math.prod(cells)
    edges = torch.arange(groups + 1) * math.prod(sides)
    local = torch.stack(_axis_coordinates(sides, torch.device("cpu")), dim=1)
    strides = torch.tensor([math.prod(sides[a + 1 :]) for a in range(len(sides))])
    shifts = torch.arange(len(sides)) * _field_bits(len(sides))
    packed = (local << shifts).sum(dim=1).repeat(groups)
    dev = torch.device(device)
    return _GridLayout(
        cells, sides, padded, to_flat.to(dev), edges.to(dev), local.to(dev), strides.to(dev),
        packed.to(dev), local.t().contiguous().to(dev),
    )


def _field_bits(dims: int) -> int:
    """Bits per coordinate when ``dims`` coordinate sums share one int64."""
    return 62 // dims


def _packable(total: int, sides: tuple[int, ...]) -> bool:
    """Whether coordinate sums over ``total`` pixels fit their packed fields."""
    return total * max(sides) < 2 ** _field_bits(len(sides))


# --------------------------------------------------------------------------------------
# allocation and within-group draws
# --------------------------------------------------------------------------------------
def _remainder_stretches(
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


def _allocate(
    counts: torch.Tensor, n: int, total: int, generator: torch.Generator | None
) -> torch.Tensor:
    """Randomised proportional allocation: ``n_m = floor(n w_m) + e_m``, ``sum n_m = n``.

    Stratified rounding of the remainders (integer arithmetic, no float rounding): the
    stretches of `_remainder_stretches` cover ``R`` unit intervals ``[j total, (j+1)
    total)``; one point is dropped uniformly and independently in each, and ``e_m``
    counts the points in group m's stretch. So ``E[e_m] = r_m / total`` and
    ``E[n_m] = n w_m`` exactly, and ``sum_m e_m = R``. (Sharing one offset across the
    intervals, i.e. systematic sampling, often gives lower variance but resonates with
    periodic layouts, e.g. the same cell in consecutive batch items, and can then be
    worse than NS; independent offsets cannot, see `theoretical_moments`.)
    """
    base, _, upper = _remainder_stretches(counts, n, total)
    slots = counts.numel()  # R < number of groups; unused points fall past the end
    points = torch.arange(slots, device=counts.device) * total + torch.randint(
        0, total, (slots,), generator=generator, device=counts.device
    )
    hit = torch.searchsorted(upper, points, right=True)
    extra = torch.zeros(slots + 1, dtype=torch.long, device=counts.device)
    extra.index_add_(0, hit, torch.ones_like(hit))
    return base + extra[:slots]


def _expand_counts(counts: torch.Tensor, size: int) -> torch.Tensor:
    """``[0] * counts[0] + [1] * counts[1] + ...`` (``size = counts.sum()``).

    Marks every group's end and takes a running sum (``torch.repeat_interleave`` costs
    ~15 ms per call on CPU in torch 2.13, more than the whole sampler).
    """
    ends = torch.cumsum(counts, 0)
    marks = torch.zeros(size + 1, dtype=torch.long, device=counts.device)
    marks.index_add_(0, ends, torch.ones_like(ends))
    return torch.cumsum(marks[:size], 0)


def _ranks_in_groups(
    starts: torch.Tensor, counts: torch.Tensor, groups: torch.Tensor,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """``starts[g] + U{0..counts[g]-1}`` for each listed group ``g`` (any shape).

    The rank is ``floor(b * counts / 2**40)`` for a uniform 40-bit integer ``b``: each
    rank has probability ``1/counts`` up to a relative error below ``counts / 2**40``
    (under 4e-7 for a 512x512x512 volume), with integer arithmetic only.
    """
    flat_groups = groups.reshape(-1)
    bits = torch.randint(0, 2**_RANK_BITS, flat_groups.shape, generator=generator,
                         device=starts.device)
    ranks = (bits * counts.index_select(0, flat_groups)) >> _RANK_BITS
    return (starts.index_select(0, flat_groups) + ranks).reshape(groups.shape)


def _draw_in_groups(
    pos: torch.Tensor, starts: torch.Tensor, counts: torch.Tensor, groups: torch.Tensor,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """One uniform draw from each listed group: ``pos[starts[g] + U{0..counts[g]-1}]``."""
    ranks = _ranks_in_groups(starts, counts, groups, generator)
    return pos.index_select(0, ranks.reshape(-1)).reshape(groups.shape)


def _group_bounds(pos: torch.Tensor, edges: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Start and size of each group's run in the sorted group-major positions ``pos``."""
    bounds = torch.searchsorted(pos, edges)
    return bounds[:-1], bounds[1:] - bounds[:-1]


def _coordinate_sums(
    pos: torch.Tensor, starts: torch.Tensor, counts: torch.Tensor, layout: _GridLayout
) -> torch.Tensor:
    """Per-group sums of the cell-local coordinates of the mask pixels ``[M, dims]``:
    running sums over the group-sorted positions ``pos``, all axes at once in one
    packed int64 when the sums fit their bit fields."""
    dims = len(layout.sides)
    volume = math.prod(layout.sides)
    if _packable(int(pos.numel()), layout.sides):
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
        bits = _field_bits(dims)
        shifts = torch.arange(dims, device=pos.device) * bits
        sums = (sums.unsqueeze(1) >> shifts) & ((1 << bits) - 1)
    return sums


class _Mirror:
    """Mirror images through the group centres, in group-major positions (the sampler's
    fast twin of `mirror_index`, which the tests compare it with)."""

    def __init__(
        self, group_major: torch.Tensor, pos: torch.Tensor, starts: torch.Tensor,
        counts: torch.Tensor, layout: _GridLayout,
    ):
        self._setup(group_major, _coordinate_sums(pos, starts, counts, layout), counts,
                    layout)

    @classmethod
    def from_sums(
        cls, group_major: torch.Tensor, sums: torch.Tensor, counts: torch.Tensor,
        layout: _GridLayout,
    ) -> "_Mirror":
        """Build from per-group coordinate sums ``[M, dims]`` and sizes ``[M]``."""
        mirror = cls.__new__(cls)
        mirror._setup(group_major, sums, counts, layout)
        return mirror

    def _setup(self, group_major, sums, counts, layout) -> None:
        self.group_major = group_major
        self.sides = layout.sides
        self.volume = math.prod(layout.sides)
        self.local_coords = layout.axis_coords  # [dims, cell volume]
        twice = _twice_centre(sums, counts.unsqueeze(1))  # [M, dims]
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


def _sag_pairs(
    groups: torch.Tensor, pos: torch.Tensor, starts: torch.Tensor, counts: torch.Tensor,
    mirror: _Mirror, layout: _GridLayout, generator: torch.Generator | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One antithetic pair ``(p, p')`` in each listed group (group-major positions).

    ``p`` is uniform on ``P_m``; ``p' = mirror(p)`` when that is a pixel of ``P_m``
    (``p`` in the symmetric part ``S_m``), otherwise a uniform draw from the asymmetric
    part ``A_m = P_m \\ S_m``. Many pairs (``pairs * tries > |P|``): every mask pixel's
    partner is found once and ``A_m`` listed explicitly. Few pairs: rejection, i.e.
    `_REJECTION_TRIES` uniform tries from ``P_m`` drawn with every ``p`` (used only
    where ``p`` has no partner), the first try without a partner being uniform on
    ``A_m``; the rows left (no success: at most ``1/(e (tries + 1))`` per pair) draw from
    the explicit list of ``A_m`` built for the groups concerned only. All routes give
    the same law.
    """
    if groups.numel() * _REJECTION_TRIES > pos.numel():
        # many pairs: find every mask pixel's partner once, then draw ranks
        images, symmetric = mirror(pos)
        ranks = _ranks_in_groups(starts, counts, groups, generator)
        first = pos.index_select(0, ranks)
        second = images.index_select(0, ranks)
        rows = torch.nonzero(~symmetric.index_select(0, ranks)).squeeze(1)
        if rows.numel() > 0:
            asymmetric = pos[~symmetric]
            a_starts, a_counts = _group_bounds(asymmetric, layout.edges)
            second[rows] = _draw_in_groups(
                asymmetric, a_starts, a_counts, groups.index_select(0, rows), generator
            )
        return first, second
    # few pairs: draw p and its rejection tries together, find all their mirrors at once
    draws = _draw_in_groups(
        pos, starts, counts, groups.unsqueeze(1).expand(-1, 1 + _REJECTION_TRIES), generator
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
    segment = _expand_counts(sizes, int(sizes.sum()))
    offsets = torch.arange(segment.numel(), device=pos.device) - (
        torch.cumsum(sizes, 0) - sizes
    ).index_select(0, segment)
    first_pixel = starts.index_select(0, needed).index_select(0, segment)
    pixels = pos.index_select(0, first_pixel + offsets)
    asymmetric = pixels[~mirror(pixels)[1]]
    a_starts, a_counts = _group_bounds(asymmetric, layout.edges)
    second[rows] = _draw_in_groups(asymmetric, a_starts, a_counts, wanted, generator)
    return first, second


# --------------------------------------------------------------------------------------
# the cell route: few draws, no list of all mask pixels
# --------------------------------------------------------------------------------------
# the cell route is taken when the tries it draws are fewer than the padded mask's
# pixels divided by this factor (otherwise listing every mask pixel is cheaper)
_CELL_ROUTE_FACTOR = 4
# the cell route's tries per SAG partner, in multiples of `_REJECTION_TRIES`
_PARTNER_TRIES_FACTOR = 4


def _use_cell_route(n: int, positions: int) -> bool:
    return n * (1 + _REJECTION_TRIES) * _CELL_ROUTE_FACTOR <= positions


def _exact_in_float32(sides: tuple[int, ...]) -> bool:
    """Whether a cell's pixel count and coordinate sums stay below 2**24 (float32-exact)."""
    return math.prod(sides) * max(sides) < 2**24


def _cell_statistics(
    group_major: torch.Tensor, layout: _GridLayout
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sizes ``|P_m|`` ``[M]`` and coordinate sums ``[M, dims]`` of every group, from one
    matrix product of the cells' pixels with ``[1, local coordinates]`` (exact: float32
    only when every sum stays below 2**24, float64 otherwise)."""
    volume = math.prod(layout.sides)
    dtype = torch.float32 if _exact_in_float32(layout.sides) else torch.float64
    # (a bool tensor converts to float several times faster through its uint8 view)
    cells = group_major.reshape(-1, volume).view(torch.uint8).to(dtype)
    table = _statistics_table(layout.sides, dtype, str(group_major.device))
    stats = torch.mm(table, cells.t()).round().to(torch.long)  # [1 + dims, M]
    return stats[0], stats[1:].t()


@functools.lru_cache(maxsize=8)
def _statistics_table(sides: tuple[int, ...], dtype: torch.dtype, device: str) -> torch.Tensor:
    """``[1 + dims, cell volume]``: a row of ones, then the cell-local coordinates."""
    local = torch.stack(_axis_coordinates(sides, torch.device("cpu")), dim=0)
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


def _list_cells(group_major: torch.Tensor, groups: torch.Tensor, volume: int) -> torch.Tensor:
    """Sorted group-major positions of the mask pixels of the (sorted, distinct) groups."""
    rows, cols = torch.nonzero(group_major.view(-1, volume).index_select(0, groups),
                               as_tuple=True)
    return groups.index_select(0, rows) * volume + cols


def _interleave_pairs(
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


def _cell_draws(
    group_major: torch.Tensor, layout: _GridLayout, groups: torch.Tensor,
    mirror: "_Mirror | None", generator: torch.Generator | None,
) -> torch.Tensor:
    """One draw per listed group (group-major positions), uniform on ``P_m`` (``mirror``
    None) or on ``A_m`` (pixels whose mirror image is not in ``P_m``): the first of
    `_REJECTION_TRIES` (times `_PARTNER_TRIES_FACTOR` for ``A_m``) uniform positions of
    the cell that lies in the set, or, for the
    rows where none does, a draw from the explicit list of the set for their groups."""
    volume = math.prod(layout.sides)
    # A_m is usually a thin part of the cell and its explicit list costs a mirror pass
    # over the cell's pixels: more tries there
    count = _REJECTION_TRIES * (1 if mirror is None else _PARTNER_TRIES_FACTOR)
    tries = _cell_tries(groups, volume, count, generator)
    accepted = group_major.index_select(0, tries.reshape(-1)).view(tries.shape)
    if mirror is not None:
        accepted = accepted & ~mirror(tries)[1]
    drawn, found = _first_accepted(tries, accepted)
    missing = torch.nonzero(~found).squeeze(1)
    if missing.numel() > 0:
        wanted = groups.index_select(0, missing)
        listed = _list_cells(group_major, torch.unique(wanted), volume)
        if mirror is not None:
            listed = listed[~mirror(listed)[1]]
        l_starts, l_counts = _group_bounds(listed, layout.edges)
        drawn[missing] = _draw_in_groups(listed, l_starts, l_counts, wanted, generator)
    return drawn


def _cell_route(
    group_major: torch.Tensor, layout: _GridLayout, n: int, method: str,
    generator: torch.Generator | None,
) -> torch.Tensor | None:
    """SG/SAG draws (group-major positions, layout of `sample_pixels`) for small ``n``
    without listing the mask's pixels; None for an empty mask.

    A uniform draw from ``P_m`` is the first of `_REJECTION_TRIES` uniform positions of
    group m's cell that is a mask pixel; a SAG partner of a first member without mirror
    image is the first of its own (`_PARTNER_TRIES_FACTOR` times more) tries that lies
    in ``P_m`` with its mirror image outside (uniform on ``A_m``). Rows where every
    try fails (probability ``(1 - |P_m| / cell)^tries``, resp. ``(1 - |A_m| /
    cell)^tries``) draw from the explicit list of ``P_m``, resp. ``A_m``, built for
    their groups only. Either way the draw is uniform on its set and independent of
    the others, so the law is that of the listing route.
    """
    counts, sums = _cell_statistics(group_major, layout)
    total = int(counts.sum())
    if total == 0:
        return None
    per_group = _allocate(counts, n, total, generator)
    if method == "sag":
        pairs = torch.div(per_group, 2, rounding_mode="floor")
        pair_groups = _expand_counts(pairs, int(pairs.sum()))
        single_groups = torch.nonzero(per_group - 2 * pairs).squeeze(1)
        # the pairs' first members, then the single draws: all uniform on P_m
        plain_groups = torch.cat([pair_groups, single_groups])
    else:
        pair_groups = plain_groups = _expand_counts(per_group, n)
    plain = _cell_draws(group_major, layout, plain_groups, None, generator)
    if method == "sg":
        return plain
    q = pair_groups.numel()
    mirror = _Mirror.from_sums(group_major, sums, counts, layout)
    first = plain[:q]
    second, symmetric = mirror(first)
    # partners of the first members without a mirror image: uniform on A_m
    rows = torch.nonzero(~symmetric).squeeze(1)
    if rows.numel() > 0:
        second[rows] = _cell_draws(
            group_major, layout, pair_groups.index_select(0, rows), mirror, generator
        )
    return _interleave_pairs(first, second, plain[q:])


# --------------------------------------------------------------------------------------
# the public sampler
# --------------------------------------------------------------------------------------
def sample_pixels(
    mask: torch.Tensor,
    n: int,
    method: str = "ns",
    generator: torch.Generator | None = None,
    grid: int | Sequence[int] = 4,
    spatial_dims: int = 2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw exactly ``n`` mask pixels with weights for an unbiased mean (ARCO Sec. 3.3).

    The target is Eq. 3.1, ``H = v[mask].mean()`` for any value map ``v`` shaped like
    ``mask``, and ``(weights * v.flatten()[indices]).sum()`` estimates it without bias
    for ``ns``, ``sg`` and ``sag`` (not ``block``). All draws are with replacement.

    * ``ns`` (naive): ``n`` i.i.d. uniform pixels of the mask. ``Var = sigma^2 / n``.
    * ``sg`` (stratified group): groups ``P_m`` are the mask pixels of one cell of an
      equal-size grid (`group_ids`), per batch item. Group ``m`` gets ``n_m`` i.i.d.
      uniform draws, ``n_m = floor(n w_m) + e_m`` with ``w_m = |P_m| / |P|`` and
      ``e_m`` in {0, 1, 2} from stratified randomised rounding (`_allocate`), so that
      ``E[n_m] = n w_m`` and ``sum_m n_m = n`` exactly. Weight of every draw:
      ``w_m / E[n_m] = 1/n``. Given the allocation, the draws of group m sum to
      ``n_m mu_m`` in expectation, so ``E[estimate] = (1/n) sum_m E[n_m] mu_m =
      sum_m w_m mu_m = H``: unbiased even when ``n`` is below the number of groups and
      some groups get no draw (weights ``w_m / n_m`` would be unbiased only given
      ``n_m >= 1`` for every group). When every ``n w_m`` is an integer the allocation
      is fixed, ``1/n = w_m / n_m``, and this is the paper's proportional SG. Its
      variance never exceeds NS's (`theoretical_moments`, Theorem 3.2).
    * ``sag`` (stratified antithetic group): the SG allocation; inside group m the
      ``n_m`` draws form ``n_m // 2`` pairs plus, for odd ``n_m``, one plain uniform
      draw. A pair is ``p`` uniform on ``P_m`` and ``p' = mirror(p)`` through the
      group's centre (``c_m - p = p' - c_m``; ``c_m`` = centroid of ``P_m`` on the
      half-pixel grid, `group_centres`, `mirror_index`) when that is a pixel of
      ``P_m``; otherwise ``p'`` is a uniform draw from the asymmetric part
      ``A_m = {q in P_m : mirror(q) not in P_m}``, independent of ``p``. Mirroring is a
      bijection of the symmetric part ``S_m = P_m \\ A_m``, so
      ``P(p' = q) = (|S_m|/|P_m|)(1/|S_m|) = 1/|P_m|`` on ``S_m`` and
      ``(|A_m|/|P_m|)(1/|A_m|) = 1/|P_m|`` on ``A_m``: both members of a pair are
      uniform on ``P_m`` and weights ``1/n`` stay unbiased. (Redrawing ``p'`` from all
      of ``P_m`` instead would give ``p'`` the law ``(|S_m|/|P_m|) U(S_m) +
      (|A_m|/|P_m|) U(P_m)``, biased towards ``S_m`` unless ``A_m`` is empty.) Both
      members uniform also gives Lemma 3.1, ``Var_SAG <= 2 Var_SG``.
      Output order: ``indices[0:2Q:2]`` and ``indices[1:2Q:2]`` are the ``Q`` pairs,
      the remaining ``n - 2Q`` the single draws.
    * Cost (SG and SAG): few draws on a large mask take the cell route (`_cell_route`):
      group sizes and centroids from one matrix product over the grid cells and every
      draw by rejection from its cell, so the mask's pixels are never listed (NS must
      list them). Otherwise all mask pixels are listed in group order. Both routes
      draw from the same law; only the random stream differs.
    * ``block`` (the authors' public code, for teaching): the mask pixels in raster order
      are cut into ``S = B * prod(grid)`` blocks of ``ceil(K / S)`` consecutive pixels
      (``K`` = mask size; the last block is shorter), each non-empty block gets
      ``n // S'`` uniform draws (``S'`` = number of blocks) and the remaining draws are
      uniform over the whole mask. Weights ``1/n``. BIASED whenever blocks differ in
      size: pixels of a short block are drawn more often than ``1/K``.

    Args:
        mask: bool ``[H, W]``; ``[B, H, W]`` with ``spatial_dims=2`` (a batch of 2-D maps:
            groups are (item, cell) pairs, the target is the mean over all items' mask
            pixels); ``[D, H, W]`` or ``[B, D, H, W]`` with ``spatial_dims=3`` (3-D grid).
        n: number of draws, ``>= 0``. It may exceed the number of mask pixels.
        method: one of ``"ns"``, ``"sg"``, ``"sag"``, ``"block"``.
        generator: ``torch.Generator`` on ``mask.device``, or None for torch's default
            generator. Same generator state, same mask -> same output.
        grid: number of equal-size cells per spatial axis (int, or one int per axis); a
            cell is ``ceil(L / grid)`` pixels long (see `group_ids`). Used by ``sg``,
            ``sag`` and (as the number of blocks) ``block``; ignored by ``ns`` but checked.
        spatial_dims: 2 or 3.

    Returns:
        ``(indices, weights)``: int64 ``[n]`` flat positions into ``mask.flatten()`` and
        float32 ``[n]`` weights ``1/n`` (summing to 1), both on ``mask.device``. With
        ``n == 0`` or an empty mask both are empty (an absent class yields no samples;
        callers must handle that).

    Raises:
        ValueError (`MonaLabError`): non-bool mask, wrong mask dims, unknown method,
        negative or non-integer ``n``, bad ``grid``/``spatial_dims``, or a generator on
        another device.
    """
    batch, spatial = _check_mask(mask, spatial_dims)
    method = _check_method(method)
    n = _check_count(n)
    cells = _check_grid(grid, spatial)
    device = mask.device
    generator = _check_generator(generator, device)
    empty = (
        torch.empty(0, dtype=torch.long, device=device),
        torch.empty(0, dtype=torch.float32, device=device),
    )
    if n == 0:
        return empty

    if method in ("ns", "block"):
        pos = torch.nonzero(mask.reshape(-1)).squeeze(1)
        total = int(pos.numel())
        if total == 0:
            return empty
        if method == "ns":
            picks = torch.randint(0, total, (n,), generator=generator, device=device)
        else:
            picks = _block_picks(total, n, batch * math.prod(cells), generator, device)
        indices = pos.index_select(0, picks)
        return indices, torch.full((n,), 1.0 / n, dtype=torch.float32, device=device)

    layout = _grid_layout(batch, spatial, cells, str(device))
    group_major = _to_group_major(mask.reshape((batch,) + spatial), cells, layout.sides)
    if _use_cell_route(n, group_major.numel()):
        drawn = _cell_route(group_major, layout, n, method, generator)
        if drawn is None:
            return empty
        indices = layout.to_flat.index_select(0, drawn)
        return indices, torch.full((n,), 1.0 / n, dtype=torch.float32, device=device)
    pos = torch.nonzero(group_major).squeeze(1)
    total = int(pos.numel())
    if total == 0:
        return empty
    starts, counts = _group_bounds(pos, layout.edges)
    per_group = _allocate(counts, n, total, generator)

    if method == "sg":
        # map positions to flat indices before drawing or after, whichever list is shorter
        source = layout.to_flat.index_select(0, pos) if n > total else pos
        drawn = _draw_in_groups(source, starts, counts, _expand_counts(per_group, n), generator)
        if n > total:
            return drawn, torch.full((n,), 1.0 / n, dtype=torch.float32, device=device)
    else:
        pairs = torch.div(per_group, 2, rounding_mode="floor")
        pair_groups = _expand_counts(pairs, int(pairs.sum()))
        single_groups = torch.nonzero(per_group - 2 * pairs).squeeze(1)
        singles = _draw_in_groups(pos, starts, counts, single_groups, generator)
        mirror = _Mirror(group_major, pos, starts, counts, layout)
        first, second = _sag_pairs(pair_groups, pos, starts, counts, mirror, layout, generator)
        drawn = _interleave_pairs(first, second, singles)
    indices = layout.to_flat.index_select(0, drawn)
    return indices, torch.full((n,), 1.0 / n, dtype=torch.float32, device=device)


def _block_picks(
    total: int, n: int, strata: int, generator: torch.Generator | None, device
) -> torch.Tensor:
    """Ranks (into the raster list of mask pixels) drawn by the public code's strata."""
    block = -(-total // strata)
    num_blocks = -(-total // block)
    per_block = n // num_blocks
    starts = torch.arange(num_blocks, device=device) * block
    sizes = torch.clamp(total - starts, max=block)
    u = torch.rand((num_blocks, per_block), generator=generator, device=device,
                   dtype=torch.float64)
    ranks = starts.unsqueeze(1) + torch.minimum(
        (u * sizes.unsqueeze(1)).long(), sizes.unsqueeze(1) - 1
    )
    padding = torch.randint(
        0, total, (n - per_block * num_blocks,), generator=generator, device=device
    )
    return torch.cat([ranks.reshape(-1), padding])


# --------------------------------------------------------------------------------------
# closed forms (for the variance notebook and the tests)
# --------------------------------------------------------------------------------------
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
        _check_grid(grid, tuple(mask.shape[-spatial_dims:]))
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
    n = _check_count(n)
    if n == 0:
        raise MonaLabError("n must be positive for a variance")
    stats = group_statistics(values, mask, grid, spatial_dims)
    mu = (stats.weights * stats.means).sum()
    return float((stats.weights * (stats.means - mu) ** 2).sum() / n)


def _allocation_law(
    counts: torch.Tensor, n: int, total: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact law of `_allocate`, as the probability ``q[j, m]`` that the point of unit
    interval ``j`` falls in group m's stretch (``[R, M]``; rows independent), and
    ``floor(n w_m)`` (``[M]``)."""
    counts = counts.to(torch.long)
    base, lower, upper = _remainder_stretches(counts, n, total)
    rounds = n - int(base.sum())
    starts = torch.arange(rounds, device=counts.device).unsqueeze(1) * total
    overlap = torch.minimum(upper, starts + total) - torch.maximum(lower, starts)
    return overlap.clamp(min=0).to(torch.float64) / total, base


def _expected_half_counts(q: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
    """``E[floor(n_m / 2)]`` for ``n_m = base_m + e_m`` under `_allocation_law`.

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
    batch, spatial = _check_mask(mask, spatial_dims)
    method = _check_method(method)
    n = _check_count(n)
    cells = _check_grid(grid, spatial)
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
    q, base = _allocation_law(stats.counts, n, total)
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
    """``Cov(v(p), v(p'))`` of a SAG pair in each group (see `sample_pixels`)::

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
    """Exact variance of the estimator; see `theoretical_moments` for the formulas."""
    return theoretical_moments(values, mask, n, method, grid, spatial_dims)[1]


__all__ = [
    "SAMPLING_METHODS",
    "GroupStatistics",
    "group_centres",
    "group_ids",
    "group_statistics",
    "mirror_index",
    "sample_pixels",
    "stratification_gain",
    "theoretical_moments",
    "theoretical_variance",
]
