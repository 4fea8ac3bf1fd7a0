"""The groups ``P_m`` of SG/SAG, their centres ``c_m`` and SAG's mirror map (ARCO Sec. 3.3).

SG "first partitions the image into grids with the same size": a group ``P_m`` is the set
of mask pixels inside one cell of an equal-size grid, per batch item (`group_ids`). SAG
pairs a pixel ``p`` with its mirror image ``p'`` through the group's centre,
``c_m - p = p' - c_m`` (`group_centres`, `mirror_index`).

These functions work on the whole mask at once and are the readable definitions; the
fast routes compute the same things on the group-major layout (`mona_lab.samplers.fast_route`),
and the tests check that both agree.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from mona_lab.samplers.checks import check_grid, check_mask


def cell_sizes(spatial: tuple[int, ...], cells: tuple[int, ...]) -> tuple[int, ...]:
    """Side length of a grid cell along each axis: ``ceil(size / grid)``."""
    return tuple(-(-size // g) for size, g in zip(spatial, cells))


def axis_coordinates(spatial: tuple[int, ...], device: torch.device) -> list[torch.Tensor]:
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
    batch, spatial = check_mask(mask, spatial_dims)
    cells = check_grid(grid, spatial)
    sides = cell_sizes(spatial, cells)
    coords = axis_coordinates(spatial, mask.device)
    cell = torch.zeros_like(coords[0])
    for coord, g, side in zip(coords, cells, sides):
        cell = cell * g + torch.div(coord, side, rounding_mode="floor")
    per_item = math.prod(cells)
    ids = cell.unsqueeze(0) + per_item * torch.arange(batch, device=mask.device).unsqueeze(1)
    ids = ids.reshape(mask.shape)
    return torch.where(mask, ids, torch.full_like(ids, -1))


def twice_centre(coordinate_sums: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """``2 c`` rounded to an integer (half up), ``c = coordinate_sums / counts``."""
    safe = counts.clamp(min=1)
    return torch.div(4 * coordinate_sums + safe, 2 * safe, rounding_mode="floor")


def _centres_and_mirror(mask: torch.Tensor, cells: tuple[int, ...], spatial_dims: int):
    """Twice the group centres ``[M, dims]``, the group sizes ``[M]`` and the mirror map
    (shaped like ``mask``, see `mirror_index`)."""
    batch, spatial = check_mask(mask, spatial_dims)
    sides = cell_sizes(spatial, cells)
    ids = group_ids(mask, cells, spatial_dims).reshape(-1)
    flat_mask = mask.reshape(-1)
    inside = torch.nonzero(flat_mask).squeeze(1)  # the mask's pixels, flat
    g = ids[inside]  # their groups
    num = batch * math.prod(cells)
    counts = torch.bincount(g, minlength=num)
    # item-local coordinates of the mask's pixels, one tensor per axis
    item_size = math.prod(spatial)
    local = inside % item_size
    coords = []
    for size in reversed(spatial):
        coords.insert(0, local % size)
        local = torch.div(local, size, rounding_mode="floor")
    # per axis: 2 c_m, the image 2 c_m - p, whether it stays in the image and the cell
    mirror = inside - inside % item_size
    valid = torch.ones_like(inside, dtype=torch.bool)
    twice = []
    stride = item_size
    for coord, size, side in zip(coords, spatial, sides):
        sums = torch.zeros(num, dtype=torch.long, device=mask.device).index_add_(0, g, coord)
        twice.append(twice_centre(sums, counts))
        image = twice[-1][g] - coord
        stride //= size
        valid &= (image >= 0) & (image < size)
        valid &= torch.div(image, side, rounding_mode="floor") == torch.div(
            coord, side, rounding_mode="floor"
        )
        mirror = mirror + image.clamp(0, size - 1) * stride
    # ... and whether it is a mask pixel (then it is in P_m: same item, same cell)
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
    _, spatial = check_mask(mask, spatial_dims)
    return _centres_and_mirror(mask, check_grid(grid, spatial), spatial_dims)[2]


def group_centres(
    mask: torch.Tensor, grid: int | Sequence[int] = 4, spatial_dims: int = 2
) -> torch.Tensor:
    """The SAG centre ``c_m`` of every group (ARCO Sec. 3.3, see `mirror_index`), in pixel
    coordinates.

    Returns:
        float64 ``[M, spatial_dims]`` (``M`` as in `group_ids`; multiples of 0.5, item-local
        coordinates), NaN for empty groups.
    """
    _, spatial = check_mask(mask, spatial_dims)
    twice, counts, _ = _centres_and_mirror(mask, check_grid(grid, spatial), spatial_dims)
    centres = twice.to(torch.float64) / 2
    centres[counts == 0] = float("nan")
    return centres
