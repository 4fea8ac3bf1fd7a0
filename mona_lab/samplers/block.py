"""The strata of the authors' public code ("block"), kept for teaching: it is BIASED.

ARCO Sec. 3.3 stratifies by spatial groups with proportional allocation. The public code
instead cuts the raster list of mask pixels into equal blocks and gives each block the
same number of draws, padding with uniform draws over the whole mask. Pixels of a short
last block are drawn more often than ``1/K``; `theoretical_moments` gives the bias.
"""
from __future__ import annotations

import torch


def block_picks(
    total: int, n: int, strata: int, generator: torch.Generator | None, device
) -> torch.Tensor:
    """Ranks ``[n]`` (into the raster list of the ``total`` mask pixels) drawn by the
    public code's strata: ``S = strata`` blocks of ``ceil(total / S)`` consecutive pixels,
    ``n // S'`` uniform draws in each of the ``S'`` non-empty blocks, the rest uniform."""
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
