"""Uniform draws inside groups that are contiguous runs of a sorted list of pixels.

The fast routes keep the pixels of a set (all of ``P_m``, or SAG's asymmetric part
``A_m``) as one sorted list in group-major order (`mona_lab.samplers.layout`), group m
being the run ``starts[m] : starts[m] + counts[m]``. A uniform draw from group m is then
a uniform rank inside that run, for many groups at once.
"""
from __future__ import annotations

import torch

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
