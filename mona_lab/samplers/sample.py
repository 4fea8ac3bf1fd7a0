"""`sample_pixels`: the samplers' public entry point (ARCO Sec. 3.3, Eq. 3.1).

It checks the arguments (`checks`), then hands the draw to one route:

* ``ns`` and ``block``: a list of the mask's pixels and uniform ranks (`block`);
* ``sg`` and ``sag``, few draws on a large mask: the cell route (`cell_route`);
* ``sg`` and ``sag`` otherwise: the listed route (`listed_route`).

Every route draws from the law written out plainly in `mona_lab.samplers.reference`.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from mona_lab.samplers.block import block_picks
from mona_lab.samplers.checks import (
    check_count,
    check_generator,
    check_grid,
    check_mask,
    check_method,
)
from mona_lab.samplers.fast_route import (
    cell_route,
    grid_layout,
    listed_route,
    to_group_major,
    use_cell_route,
)


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
    `mona_lab.samplers.reference` writes each law out in one screen (`naive_sample`,
    `stratified_group_sample`, `stratified_antithetic_group_sample`), with the proofs.

    * ``ns`` (naive): ``n`` i.i.d. uniform pixels of the mask. ``Var = sigma^2 / n``.
    * ``sg`` (stratified group): groups ``P_m`` are the mask pixels of one cell of an
      equal-size grid (`group_ids`), per batch item. Group ``m`` gets ``n_m`` i.i.d.
      uniform draws, ``n_m = floor(n w_m) + e_m`` with ``w_m = |P_m| / |P|`` and
      ``e_m`` in {0, 1, 2} from stratified randomised rounding (`allocation.allocate`),
      so that ``E[n_m] = n w_m`` and ``sum_m n_m = n`` exactly. Weight of every draw:
      ``w_m / E[n_m] = 1/n``, unbiased even when ``n`` is below the number of groups
      and some groups get no draw (weights ``w_m / n_m`` would be unbiased only given
      ``n_m >= 1`` for every group). When every ``n w_m`` is an integer the allocation
      is fixed, ``1/n = w_m / n_m``, and this is the paper's proportional SG. Its
      variance never exceeds NS's (`theoretical_moments`, Theorem 3.2).
    * ``sag`` (stratified antithetic group): the SG allocation; inside group m the
      ``n_m`` draws form ``n_m // 2`` pairs plus, for odd ``n_m``, one plain uniform
      draw. A pair is ``p`` uniform on ``P_m`` and ``p' = mirror(p)`` through the
      group's centre (``c_m - p = p' - c_m``; ``c_m`` = centroid of ``P_m`` on the
      half-pixel grid, `group_centres`, `mirror_index`) when that is a pixel of
      ``P_m``; otherwise ``p'`` is a uniform draw from the asymmetric part
      ``A_m = {q in P_m : mirror(q) not in P_m}``, independent of ``p``. Both members
      of a pair are then uniform on ``P_m`` (proof in
      `reference.stratified_antithetic_group_sample`), so weights ``1/n`` stay
      unbiased, and Lemma 3.1, ``Var_SAG <= 2 Var_SG``, holds.
      Output order: ``indices[0:2Q:2]`` and ``indices[1:2Q:2]`` are the ``Q`` pairs,
      the remaining ``n - 2Q`` the single draws.
    * Cost (SG and SAG): few draws on a large mask take the cell route
      (`fast_route.cell_route`): group sizes and centroids from one matrix product over
      the grid cells and every draw by rejection from its cell, so the mask's pixels
      are never listed (NS must list them). Otherwise all mask pixels are listed in
      group order (`fast_route.listed_route`). Both routes draw from the same law;
      only the random stream differs.
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
    batch, spatial = check_mask(mask, spatial_dims)
    method = check_method(method)
    n = check_count(n)
    cells = check_grid(grid, spatial)
    device = mask.device
    generator = check_generator(generator, device)
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
            picks = block_picks(total, n, batch * math.prod(cells), generator, device)
        indices = pos.index_select(0, picks)
    else:
        layout = grid_layout(batch, spatial, cells, str(device))
        group_major = to_group_major(mask.reshape((batch,) + spatial), cells, layout.sides)
        route = cell_route if use_cell_route(n, group_major.numel()) else listed_route
        indices = route(group_major, layout, n, method, generator)
        if indices is None:
            return empty
    return indices, torch.full((n,), 1.0 / n, dtype=torch.float32, device=device)
