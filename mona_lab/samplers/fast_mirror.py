"""SAG's mirror map on the group-major layout: the fast twin of `groups.mirror_index`.

ARCO Sec. 3.3 pairs a draw ``p`` of group m with ``p' = 2 c_m - p`` (``c_m - p = p' -
c_m``). `groups.mirror_index` computes that partner for every mask pixel in raster order;
the fast routes need it only for the positions they draw, in group-major order
(`mona_lab.samplers.layout`), where the image of a position is one subtraction,
``anchor[m] - position``. `GroupMajorMirror` holds the per-group centres and anchors;
the tests check it against `groups.mirror_index`. `interleave_pairs` writes the pairs in
`sample_pixels`'s output order.
"""
from __future__ import annotations

import math

import torch

from mona_lab.samplers.groups import twice_centre
from mona_lab.samplers.layout import GridLayout, field_bits


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
