"""Several losses on one loss-landscape sweep, and the roughness of a sampled loss surface.

`mona_lab.lab.landscape.loss_surface` evaluates one ``loss_fn(model)`` per grid point. The
lecture compares several losses at the same weights (supervised Dice+CE, the pixel
contrast estimated with NS, SG and SAG, the exact pixel contrast), which all need the same
forward pass. `loss_surfaces` runs the network once per grid point and evaluates every
loss on its outputs, so ``k`` losses cost one sweep, not ``k``.

ARCO (NeurIPS 2023, Sec. 4.2 "Stability Analyses", Fig. 3 and Appendix M) argues that SG
and SAG sampling give a smoother, more stable contrastive loss than naive sampling. A
surface of a *sampled* loss, with a fresh draw at every grid point, is the exact surface
plus sampling noise; `surface_noise` measures that noise as the root-mean-square
difference to the exact surface (the same weights with every pixel as a query), which is
the square root of the estimator's variance averaged over the grid.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from torch import nn

from mona_lab.lab.landscape import loss_surface


def _scalar(value: Any, name: str) -> float:
    try:
        if hasattr(value, "detach"):
            if value.numel() != 1:
                raise ValueError
            return float(value.detach().reshape(()).item())
        return float(value)
    except (TypeError, ValueError, RuntimeError) as err:
        shape = tuple(value.shape) if hasattr(value, "shape") else type(value).__name__
        raise ValueError(f"losses[{name!r}] must return a scalar, got {shape}") from err


def loss_surfaces(
    model: nn.Module,
    forward_fn: Callable[[nn.Module], Any],
    losses: Mapping[str, Callable[[Any], Any]],
    *,
    distance: float = 1.0,
    steps: int = 21,
    dims: int = 2,
    seed: int = 0,
) -> tuple[tuple[np.ndarray, ...], dict[str, np.ndarray]]:
    """Loss surfaces of several losses along the same filter-normalised directions.

    At every grid point ``outputs = forward_fn(model)`` is computed once and each
    ``losses[name](outputs)`` is evaluated on it. The sweep itself (directions, grid,
    eval mode, exact restoration of the model) is `mona_lab.lab.landscape.loss_surface`'s.

    Args:
        model: the trained network.
        forward_fn: ``forward_fn(model) -> outputs`` on a fixed batch.
        losses: ``{name: loss(outputs) -> float or one-element tensor}``, at least one;
            a loss may keep its own generator (a sampled loss then draws afresh at each
            grid point, in the sweep's row-major order).
        distance, steps, dims, seed: as in `loss_surface`.

    Returns:
        ``(coords, {name: values})`` with ``values`` shaped ``(steps,) * dims`` (float64).

    Raises:
        ValueError: no losses, a non-callable, or see `loss_surface`.
    """
    if not losses:
        raise ValueError("losses must name at least one loss function")
    for name, fn in losses.items():
        if not callable(fn):
            raise ValueError(f"losses[{name!r}] must be callable as loss(outputs) -> float, got {type(fn).__name__}")
    if not callable(forward_fn):
        raise ValueError(f"forward_fn must be callable as forward_fn(model), got {type(forward_fn).__name__}")
    names = list(losses)
    recorded: dict[str, list[float]] = {name: [] for name in names}

    def first_loss(m: nn.Module) -> float:
        outputs = forward_fn(m)
        for name in names:
            recorded[name].append(_scalar(losses[name](outputs), name))
        return recorded[names[0]][-1]

    coords, first = loss_surface(model, first_loss, distance=distance, steps=steps, dims=dims, seed=seed)
    shape = first.shape
    surfaces = {name: np.asarray(values, dtype=np.float64).reshape(shape) for name, values in recorded.items()}
    # the sweep visits points in np.ndindex order; the first surface proves the reshape right
    if not np.array_equal(surfaces[names[0]], first, equal_nan=True):
        raise RuntimeError("loss_surface visited the grid in an unexpected order")
    return coords, surfaces


def surface_noise(sampled: np.ndarray, exact: np.ndarray) -> float:
    """Root-mean-square of ``sampled - exact`` over the grid (ignoring non-finite points).

    Raises:
        ValueError: different shapes or no finite point.
    """
    sampled, exact = np.asarray(sampled, dtype=np.float64), np.asarray(exact, dtype=np.float64)
    if sampled.shape != exact.shape:
        raise ValueError(f"sampled {sampled.shape} and exact {exact.shape} surfaces differ in shape")
    diff = sampled - exact
    finite = np.isfinite(diff)
    if not finite.any():
        raise ValueError("no grid point where both surfaces are finite")
    return float(np.sqrt(np.mean(diff[finite] ** 2)))


def sharpness(coords: np.ndarray, values: np.ndarray) -> float:
    """Curvature of a 1-D loss curve at its centre: the central second difference
    ``(f(-h) - 2 f(0) + f(h)) / h^2`` at the middle grid point (odd ``steps``).

    A larger value is a sharper minimum (Li et al. 2018 relate flat minima to better
    generalisation).

    Raises:
        ValueError: not 1-D, or an even number of points (no centre).
    """
    coords, values = np.asarray(coords, dtype=np.float64), np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or coords.shape != values.shape or values.size < 3 or values.size % 2 == 0:
        raise ValueError(f"need a 1-D curve with an odd number (>= 3) of points, got shape {values.shape}")
    mid = values.size // 2
    step = coords[mid + 1] - coords[mid]
    return float((values[mid - 1] - 2 * values[mid] + values[mid + 1]) / step**2)


__all__ = ["loss_surfaces", "sharpness", "surface_noise"]
