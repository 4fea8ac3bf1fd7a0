"""The group-major pixel order the fast routes work in: every group ``P_m`` one run.

ARCO Sec. 3.3 draws inside groups ``P_m`` (`mona_lab.samplers.groups`). In raster order a
group's pixels are scattered over many rows; the fast routes therefore reorder the mask so
that each grid cell (hence each group) is one contiguous run of positions:

    mask [B, *spatial]  --pad to grid * cell side, permute-->  [B, *cells, *cell pixels]

Drawing "a pixel of group m" is then drawing a position in ``edges[m]:edges[m + 1]``, and
``to_flat`` maps a position back to the flat index into ``mask.flatten()``. The tables
depend only on the mask's shape and the grid, and are cached.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from mona_lab.samplers.groups import axis_coordinates, cell_sizes


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
