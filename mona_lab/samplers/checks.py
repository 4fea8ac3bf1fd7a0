"""Argument checking for the samplers: clear `MonaLabError` messages, nothing else.

Every public function of `mona_lab.samplers` validates its arguments here first, so the
sampling code itself can assume a bool mask of the right shape, a grid that fits it, a
non-negative count, a known method and a generator on the mask's device.
"""
from __future__ import annotations

from typing import Sequence

import torch

from mona_lab.errors import MonaLabError

# the methods `sample_pixels` knows (ARCO Sec. 3.3: NS, SG, SAG; "block": the public code)
SAMPLING_METHODS = ("ns", "sg", "sag", "block")


def check_mask(mask: object, spatial_dims: int) -> tuple[int, tuple[int, ...]]:
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


def check_grid(grid: int | Sequence[int], spatial: tuple[int, ...]) -> tuple[int, ...]:
    """Validate ``grid`` (cells per spatial axis) and return it as one int per axis."""
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


def check_count(n: object) -> int:
    """Validate the number of draws ``n`` (a non-negative integer) and return it."""
    if isinstance(n, bool) or not hasattr(n, "__index__"):
        raise MonaLabError(f"n must be a non-negative integer, got {n!r}")
    n = int(n.__index__())  # type: ignore[union-attr]
    if n < 0:
        raise MonaLabError(f"n must be a non-negative integer, got {n}")
    return n


def check_method(method: object) -> str:
    """Validate ``method`` (one of `SAMPLING_METHODS`) and return it."""
    if method not in SAMPLING_METHODS:
        raise MonaLabError(
            f"method must be one of {', '.join(repr(m) for m in SAMPLING_METHODS)}, "
            f"got {method!r}"
        )
    return str(method)


def check_generator(generator: object, device: torch.device) -> torch.Generator | None:
    """Validate ``generator`` (None or a ``torch.Generator`` on ``device``)."""
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
