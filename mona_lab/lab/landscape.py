"""Loss surfaces along random filter-normalised directions (Li et al., NeurIPS 2018).

ARCO (NeurIPS 2023, Fig. 3, "Stability Analyses", Appendix M) argues that SG/SAG
sampling flattens the loss landscape; `loss_surface` draws such landscapes the way Li
et al. ("Visualizing the Loss
Landscape of Neural Nets": the contour-plot function of Sec. 3 with the filter-wise
normalisation of Sec. 4):

    f(alpha, beta) = L(theta + alpha * delta + beta * eta)

with ``delta``, ``eta`` Gaussian directions normalised per filter,
``d_{i,j} <- d_{i,j} / ||d_{i,j}|| * ||theta_{i,j}||`` (filter ``j`` of layer ``i``), and
the 1-D parameters (biases, BatchNorm weight and bias) left at zero (Li et al. leave
bias and BatchNorm parameters unperturbed; mona_lab always does). So ``alpha = 1`` moves every filter
by exactly its own norm, and the grid ``linspace(-distance, distance, steps)`` spans
``distance`` filter norms on either side of the trained weights.

Choices where the paper leaves room (documented and tested):

* A filter is a slice along the output-channel axis: axis 0 of every parameter with
  ``ndim >= 2`` (Linear ``[out, in]``, Conv ``[out, in, k...]``), except the weights of
  ``ConvTranspose{1,2,3}d`` ``[in, out, k...]``, whose output channels are axis 1 (the
  axis a following BatchNorm makes scale-invariant, which is what the normalisation is
  for). A filter whose weights are all zero gets a zero direction.
* The two directions are drawn independently (not orthogonalised): in the millions of
  dimensions of a real network they are almost orthogonal, as Li et al. note.
* Every parameter of the model is perturbed, including ones with ``requires_grad=False``
  (the surface is a property of the function, not of the optimiser). Buffers such as
  BatchNorm running statistics are not perturbed.
* The model is evaluated in ``eval()`` mode under ``torch.no_grad()``: BatchNorm uses its
  running statistics and nothing in the model changes while the surface is drawn.

Relation to the ``loss-landscapes`` package (3.0.6, a declared dependency). Its source
was read and each of these behaviours reproduced on small models and on notebook 06's
checkpoints (`mona_lab.lab.landscape_comparison` and its tests measure them):

1. ``distance`` scales inversely: after filter normalisation ``||d|| = ||theta||`` and each
   direction is rescaled to length ``||theta|| / distance / steps``, one factor for all
   filters (the per-filter ratios survive), so a step is ``1 / (distance * steps)`` filter
   norms and the plane's half-width ``1 / (2 distance)``: doubling ``distance`` halves it.
2. Directions are uniform on ``[0, 1)`` (``torch.rand``), not Gaussian, so the first
   direction points into the positive orthant (every filter shifted in one sign); they
   are made on the CPU with the global RNG (no generator, wrong device for CUDA models).
3. ``filter_normalize_`` touches 1-D parameters (biases, BatchNorm weight and bias) twice
   (scaled as a whole, then every element separately, giving ``|d_k| = |b_k|``) instead
   of leaving them at zero; a 1-D parameter that is zero everywhere (a BatchNorm bias
   not trained yet: a freshly built model, a head a short run has not reached) makes the
   per-element step divide ``0.0 / 0.0`` in Python and raise ``ZeroDivisionError``.
4. ``wrap_model`` calls ``requires_grad_(False)`` on the caller's model and never
   restores it (even ``point()`` does this), silently freezing a model that is trained
   afterwards.
5. Its ``Loss`` metric never calls ``eval()``: BatchNorm runs in training mode, uses batch
   statistics and updates its running statistics at every grid point.
6. With ``deepcopy_model=False`` (the default) the caller's weights are left displaced
   after the sweep. ``random_line`` is one-sided (``theta + d .. theta + steps d``).
   ``random_plane`` starts at ``-steps/2`` and steps before evaluating, so the grid is
   off-centre (with odd ``steps`` the trained weights are never evaluated), and its
   snake traversal puts odd rows one step out of line with even rows.

Used with care (``eval()``, ``deepcopy_model=True``, a seeded global RNG) it draws a valid
surface along its own directions; notebook 06 shows it next to this module's. The library
does not import it: the sweep below sets ``theta + alpha d1 + beta d2`` exactly at every
grid point (no accumulated in-place drift) and restores the model bit for bit in a
``finally`` block.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

_TRANSPOSED_CONVS = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def _check_model(model: Any) -> list[torch.Tensor]:
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    params = [p for p in model.parameters()]
    if not params:
        raise ValueError(f"model {type(model).__name__} has no parameters to perturb")
    devices = {p.device for p in params}
    if len(devices) > 1:
        raise ValueError(
            f"model parameters live on several devices {sorted(str(d) for d in devices)}; "
            "move the model to one device before drawing a loss surface"
        )
    return params


def _filter_axes(model: nn.Module) -> dict[int, int]:
    """Output-channel axis of each weight that is not axis 0 (transposed convolutions)."""
    axes: dict[int, int] = {}
    for module in model.modules():
        if isinstance(module, _TRANSPOSED_CONVS) and module.weight is not None:
            axes[id(module.weight)] = 1
    return axes


def filter_normalized_direction(model: nn.Module, generator: torch.Generator) -> list[torch.Tensor]:
    """One random direction in parameter space, normalised per filter (Li et al. 2018, Sec. 4).

    For every parameter ``w`` with ``ndim >= 2`` a Gaussian tensor ``d`` of the same shape
    is drawn and each output filter rescaled to the norm of the matching filter of ``w``:
    ``d_i <- d_i / ||d_i|| * ||w_i||`` (a zero filter of ``w`` gets a zero ``d_i``).
    Parameters with ``ndim <= 1`` (biases, BatchNorm weight/bias) get zeros. Filters are
    slices along axis 0, or axis 1 for ``ConvTranspose`` weights (``[in, out, k...]``).

    Args:
        model: the network; its parameters are read, never changed.
        generator: a ``torch.Generator`` on the device of the model's parameters; the
            draw advances it, so two calls give two independent directions.

    Returns:
        one tensor per parameter, in ``model.parameters()`` order, each with that
        parameter's shape, dtype and device.

    Raises:
        ValueError: ``model`` is not an ``nn.Module``, has no parameters or has them on
            several devices, or ``generator`` is not on that device.
    """
    params = _check_model(model)
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    device = params[0].device
    if torch.device(generator.device).type != device.type or (
        device.type != "cpu" and generator.device.index not in (None, device.index)
    ):
        raise ValueError(
            f"generator is on {generator.device} but the model's parameters are on {device}; "
            f"create it with torch.Generator(device={str(device)!r})"
        )
    axes = _filter_axes(model)
    direction = []
    for param in params:
        if param.ndim < 2 or not param.is_floating_point():
            direction.append(torch.zeros_like(param, memory_format=torch.contiguous_format))
            continue
        work_dtype = param.dtype if param.dtype in (torch.float32, torch.float64) else torch.float32
        weight = param.detach().to(work_dtype)
        noise = torch.randn(param.shape, generator=generator, device=device, dtype=work_dtype)
        axis = axes.get(id(param), 0)
        w_rows = weight.movedim(axis, 0).reshape(weight.shape[axis], -1)
        d_rows = noise.movedim(axis, 0).reshape(noise.shape[axis], -1)
        w_norm = w_rows.norm(dim=1)
        d_norm = d_rows.norm(dim=1)
        scale = torch.where(d_norm > 0, w_norm / d_norm.clamp_min(torch.finfo(work_dtype).tiny), 0.0)
        shape = [1] * noise.ndim
        shape[axis] = noise.shape[axis]
        direction.append((noise * scale.view(shape)).to(param.dtype))
    return direction


def surface_directions(model: nn.Module, dims: int = 2, seed: int = 0) -> list[list[torch.Tensor]]:
    """The ``dims`` directions `loss_surface` uses for a model and seed.

    A ``torch.Generator`` on the parameters' device is seeded with ``seed`` and
    `filter_normalized_direction` is called ``dims`` times in a row with it. The same
    seed gives the same directions on the same device (CPU and CUDA streams differ).

    Args:
        model: the network.
        dims: 1 or 2.
        seed: a non-negative integer.

    Returns:
        ``dims`` lists of tensors, as returned by `filter_normalized_direction`.

    Raises:
        ValueError: bad ``dims`` or ``seed``, or see `filter_normalized_direction`.
    """
    params = _check_model(model)
    _check_dims(dims)
    _check_seed(seed)
    generator = torch.Generator(device=params[0].device)
    generator.manual_seed(int(seed))
    return [filter_normalized_direction(model, generator) for _ in range(dims)]


def _check_dims(dims: Any) -> int:
    if isinstance(dims, bool) or dims not in (1, 2):
        raise ValueError(f"dims must be 1 or 2, got {dims!r}")
    return int(dims)


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def grid_coordinates(distance: float, steps: int) -> np.ndarray:
    """``linspace(-distance, distance, steps)`` made exactly symmetric about 0.

    Symmetrised (``(c - c[::-1]) / 2``) so the end points are exactly ``+-distance`` and,
    for odd ``steps``, the centre is exactly 0 (the trained weights themselves).

    Raises:
        ValueError: ``distance`` not a finite number > 0 or ``steps`` not an integer >= 2.
    """
    if isinstance(distance, bool) or not isinstance(distance, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(distance)) or distance <= 0:
        raise ValueError(f"distance must be a finite number > 0, got {distance!r}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 2:
        raise ValueError(f"steps must be an integer >= 2, got {steps!r}")
    coords = np.linspace(-float(distance), float(distance), int(steps))
    return (coords - coords[::-1]) / 2.0


def _check_directions(directions: Any, params: list[torch.Tensor], dims: int) -> list[list[torch.Tensor]]:
    if not isinstance(directions, (list, tuple)) or len(directions) != dims:
        raise ValueError(f"directions must be a list of dims={dims} directions, got {type(directions).__name__}"
                         f" of length {len(directions) if isinstance(directions, (list, tuple)) else 'n/a'}")
    checked = []
    for k, direction in enumerate(directions):
        shapes = [tuple(p.shape) for p in params]
        if not isinstance(direction, (list, tuple)) or len(direction) != len(params) or not all(
            isinstance(d, torch.Tensor) and tuple(d.shape) == shape for d, shape in zip(direction, shapes)
        ):
            raise ValueError(f"directions[{k}] must be {len(params)} tensors shaped like model.parameters()")
        checked.append([d.detach().to(device=p.device, dtype=p.dtype) for d, p in zip(direction, params)])
    return checked


def _as_float(value: Any) -> float:
    try:
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise ValueError
            return float(value.detach().reshape(()).item())
        return float(value)
    except (TypeError, ValueError, RuntimeError) as err:
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise ValueError(f"loss_fn must return a scalar (float or one-element tensor), got {shape}") from err


def loss_surface(
    model: nn.Module,
    loss_fn: Callable[[nn.Module], float],
    *,
    distance: float = 1.0,
    steps: int = 21,
    dims: int = 2,
    seed: int = 0,
    directions: list[list[torch.Tensor]] | None = None,
) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Loss along one or two random filter-normalised directions (Li et al. 2018, Sec. 3-4).

    ``values[i, j] = loss_fn(model with theta + coords[0][i] d1 + coords[1][j] d2)``
    (``values[i]`` for ``dims=1``), with ``d1, d2 = surface_directions(model, dims, seed)``.
    For a matplotlib contour use ``np.meshgrid(*coords, indexing="ij")``.

    The model is changed in place during the sweep (so a ``loss_fn`` that closes over the
    model object instead of using its argument still sees the moved weights), switched to
    ``eval()`` and evaluated under ``torch.no_grad()``; afterwards, also when ``loss_fn``
    raises, its parameters, buffers (BatchNorm running statistics), ``requires_grad``
    flags and every submodule's train/eval mode are restored exactly (bit for bit).

    Args:
        model: the trained network (any device; directions are drawn on it).
        loss_fn: ``loss_fn(model) -> float`` (or a one-element tensor), e.g. the mean
            loss on a fixed batch. Keep the batch fixed: it is called ``steps**dims``
            times.
        distance: half-width of the grid in units of filter norms (``> 0``).
        steps: grid points per axis (``>= 2``; odd puts the trained weights at the centre).
        dims: 1 (a line) or 2 (a plane).
        seed: seeds the generator of the directions.
        directions: optional ``dims`` directions to sweep instead of
            ``surface_directions(model, dims, seed)`` (``seed`` is then unused), each a
            list of tensors shaped like ``model.parameters()``; ``coords`` are then in
            units of these directions (used to sweep another tool's directions on the
            same clean, centred grid, `mona_lab.lab.landscape_comparison`).

    Returns:
        ``(coords, values)``: ``coords`` a tuple of ``dims`` float64 arrays
        ``[steps]`` from ``-distance`` to ``distance``; ``values`` float64 of shape
        ``(steps,) * dims``. Non-finite losses are kept as they are.

    Raises:
        ValueError: bad ``distance``, ``steps``, ``dims`` or ``seed``; ``model`` without
            parameters or on several devices; ``loss_fn`` not callable or not returning a
            scalar; ``directions`` not ``dims`` lists matching the parameters' shapes.
    """
    coord = grid_coordinates(distance, steps)
    dims = _check_dims(dims)
    seed = _check_seed(seed)
    params = _check_model(model)
    if not callable(loss_fn):
        raise ValueError(f"loss_fn must be callable as loss_fn(model) -> float, got {type(loss_fn).__name__}")
    if directions is None:
        directions = surface_directions(model, dims, seed)
    else:
        directions = _check_directions(directions, params, dims)
    coords = tuple(coord.copy() for _ in range(dims))
    values = np.empty((len(coord),) * dims, dtype=np.float64)

    origin = [p.detach().clone() for p in params]
    requires_grad = [p.requires_grad for p in params]
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with torch.no_grad():
            for index in np.ndindex(values.shape):
                for k, param in enumerate(params):
                    moved = origin[k].clone()
                    for axis, position in enumerate(index):
                        moved.add_(directions[axis][k], alpha=float(coords[axis][position]))
                    param.copy_(moved)
                values[index] = _as_float(loss_fn(model))
    finally:
        with torch.no_grad():
            for param, saved, flag in zip(params, origin, requires_grad):
                param.copy_(saved)
                param.requires_grad_(flag)
            for buffer, saved in buffers:
                buffer.copy_(saved)
        for module, mode in modes:
            module.training = mode
    return coords, values
