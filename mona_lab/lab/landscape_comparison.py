"""The ``loss-landscapes`` package (3.0.6) next to `mona_lab.lab.landscape`, on one model.

Li et al. (NeurIPS 2018, Sec. 3-4) draw ``f(alpha, beta) = L(theta + alpha d1 + beta d2)``
with Gaussian directions normalised per filter, ``d_{i,j} <- d_{i,j} / ||d_{i,j}|| *
||theta_{i,j}||``, and biases/BatchNorm parameters left at zero (`mona_lab.lab.landscape`).
The package's ``random_plane(model, metric, distance, steps, normalization="filter")``
differs in ways this module measures rather than asserts (notebook 06, section 3):

* its directions are uniform on ``[0, 1)`` (every entry of ``d1`` positive; ``d2`` is
  made orthogonal to ``d1`` before normalisation), and its 1-D parameters (biases,
  BatchNorm weight and bias) are perturbed by their own magnitude, ``|d_k| = |b_k|``;
* after filter normalisation ``||d|| = ||theta||``, and each direction is rescaled to
  ``||theta|| / distance / steps``: one grid step is ``1 / (distance * steps)`` filter
  norms and the plane's half-width ``1 / (2 distance)`` filter norms, inversely
  proportional to ``distance`` (`package_distance` converts);
* the grid starts ``steps / 2`` steps below the weights and steps before it evaluates:
  rows sit at ``alpha_i = (i - steps/2) h`` and, because its traversal snakes, even rows at
  ``beta = (j + 1 - steps/2) h``, odd rows at ``(j - steps/2) h`` (`package_grid`), so with
  odd ``steps`` the trained weights are never evaluated;
* a 1-D parameter that is zero everywhere (a BatchNorm bias that has not been trained)
  makes its filter normalisation divide ``0.0 / 0.0`` and raise ``ZeroDivisionError``
  (`all_zero_one_d`);
* its README's example passes ``normalize='filter'``, a keyword ``random_plane`` does not
  have (``TypeError``; the argument is ``normalization``);
* it freezes the model it sweeps (``requires_grad_(False)``), never calls ``eval()`` (its
  ``Loss`` metric updates BatchNorm running statistics in training mode) and, with
  ``deepcopy_model=False`` (the default), leaves the weights displaced (`state_change`).

Used correctly (a model in ``eval()`` mode, ``deepcopy_model=True``, a fixed seed for the
global generator it draws from) it still computes a valid surface: the loss along its own
two directions. `package_random_plane` runs it that way and recovers the two directions it
actually used, so `mona_lab.lab.landscape.loss_surface(..., directions=...)` can sweep the same
plane on a clean centred grid and separate the effect of the directions from the grid.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from loss_landscapes import random_plane
from loss_landscapes.metrics import Metric
from torch import nn


def _scalar(value: Any) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"loss_fn must return a scalar, got a tensor of shape {tuple(value.shape)}")
        return float(value.detach().reshape(()).item())
    return float(value)


class ModelLoss(Metric):
    """A ``loss_landscapes`` Metric that returns ``loss_fn(model)`` for the wrapped module,
    computed under ``torch.no_grad()`` (the package's own ``Loss`` builds no graph only
    because it has frozen the parameters)."""

    def __init__(self, loss_fn: Callable[[nn.Module], Any]) -> None:
        super().__init__()
        if not callable(loss_fn):
            raise ValueError(f"loss_fn must be callable as loss_fn(model), got {type(loss_fn).__name__}")
        self.loss_fn = loss_fn

    def __call__(self, model_wrapper: Any) -> float:
        (module,) = model_wrapper.get_modules()
        with torch.no_grad():
            return _scalar(self.loss_fn(module))


class _RecordingLoss(ModelLoss):
    """`ModelLoss` that also keeps the flat parameter vector of its first ``keep`` calls."""

    def __init__(self, loss_fn: Callable[[nn.Module], Any], keep: int) -> None:
        super().__init__(loss_fn)
        self.keep = keep
        self.points: list[torch.Tensor] = []

    def __call__(self, model_wrapper: Any) -> float:
        if len(self.points) < self.keep:
            params = model_wrapper.get_module_parameters()
            self.points.append(torch.cat([p.detach().reshape(-1).double() for p in params]))
        return super().__call__(model_wrapper)


def _check_half_width_steps(half_width: Any, steps: Any) -> tuple[float, int]:
    if isinstance(half_width, bool) or not isinstance(half_width, (int, float)) \
            or not math.isfinite(half_width) or half_width <= 0:
        raise ValueError(f"half_width must be a finite number > 0 (in filter norms), got {half_width!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an integer >= 2, got {steps!r}")
    return float(half_width), steps


def package_distance(half_width: float) -> float:
    """The ``distance`` argument for which ``random_plane`` spans ``+-half_width`` filter
    norms: its half-width is ``1 / (2 distance)``, so ``distance = 1 / (2 half_width)``."""
    half_width, _ = _check_half_width_steps(half_width, 2)
    return 1.0 / (2.0 * half_width)


def package_grid(half_width: float, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Where ``random_plane(distance=package_distance(half_width), steps=steps)`` evaluates,
    in filter norms along its two directions.

    Returns:
        ``(alpha, beta)``: ``alpha`` ``[steps]`` the coordinate of row ``i`` along ``d1``,
        ``(i - steps/2) h``; ``beta`` ``[steps, steps]`` the coordinate of point ``(i, j)``
        along ``d2``, ``(j + 1 - steps/2) h`` in even rows and ``(j - steps/2) h`` in odd
        rows, with ``h = 2 half_width / steps``.
    """
    half_width, steps = _check_half_width_steps(half_width, steps)
    h = 2.0 * half_width / steps
    index = np.arange(steps, dtype=np.float64)
    alpha = (index - steps / 2.0) * h
    beta = (index[None, :] - steps / 2.0 + (index[:, None] % 2 == 0)) * h
    return alpha, beta


@dataclass
class PackagePlane:
    """One ``random_plane`` run: ``values[i, j]`` at ``(alpha[i], beta[i, j])`` filter norms
    along ``directions`` (two lists of tensors shaped like ``model.parameters()``, scaled so
    that coordinate 1 is the filter-normalised direction itself)."""

    alpha: np.ndarray
    beta: np.ndarray
    values: np.ndarray
    directions: list[list[torch.Tensor]]


def _unflatten(flat: torch.Tensor, params: list[torch.Tensor]) -> list[torch.Tensor]:
    pieces, start = [], 0
    for p in params:
        pieces.append(flat[start:start + p.numel()].reshape(p.shape).to(device=p.device, dtype=p.dtype))
        start += p.numel()
    return pieces


_NORMALIZATIONS = ("filter", "layer", "model")


def package_random_plane(model: nn.Module, loss_fn: Callable[[nn.Module], Any], *,
                         half_width: float = 1.0, steps: int = 21, seed: int = 0,
                         normalization: str = "filter") -> PackagePlane:
    """``loss_landscapes.random_plane`` (filter normalisation by default), run the careful way.

    The model is deep-copied by the package (``deepcopy_model=True``) so the caller's model
    is not moved or frozen; the global torch generator the package draws from is seeded with
    ``seed`` inside ``torch.random.fork_rng`` (the caller's random state is unchanged). The
    package's two step vectors are recovered from the parameters at its first ``steps + 1``
    grid points (``D2 = p_1 - p_0``, ``D1 = p_steps - p_{steps-1} + D2``) and multiplied by
    ``distance * steps`` to filter-norm units.

    Args:
        model: the network, in ``eval()`` mode (the package never switches it; in training
            mode BatchNorm would use batch statistics and the two tools would draw
            different functions).
        loss_fn: ``loss_fn(model) -> float`` on a fixed batch.
        half_width: half-width of the plane in filter norms (as ``distance`` in
            `mona_lab.lab.landscape.loss_surface`).
        steps: grid points per axis (>= 2).
        seed: seeds the global generator for the package's ``torch.rand`` draws.
        normalization: the package's ``"filter"``, ``"layer"`` or ``"model"``. Each gives
            ``||d|| = ||theta||``, so the steps are the same length; only with
            ``"filter"`` is a coordinate a number of filter norms (otherwise coordinate 1
            moves the whole parameter vector by ``||theta||``, spread over the layers as
            the noise happens to be).

    Returns:
        a `PackagePlane`.

    Raises:
        ValueError: ``model`` not an ``nn.Module`` or in training mode, bad ``half_width``,
            ``steps`` or ``seed``, ``loss_fn`` not callable.
        ZeroDivisionError: raised by the package when a 1-D parameter is zero everywhere
            (an untrained BatchNorm bias; see `all_zero_one_d`).
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if any(m.training for m in model.modules()):
        raise ValueError("model must be in eval() mode: loss_landscapes never calls eval(), so BatchNorm "
                         "would normalise with batch statistics")
    half_width, steps = _check_half_width_steps(half_width, steps)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if normalization not in _NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {_NORMALIZATIONS}, got {normalization!r}")
    distance = package_distance(half_width)
    metric = _RecordingLoss(loss_fn, keep=steps + 1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        values = random_plane(model, metric, distance=distance, steps=steps,
                              normalization=normalization, deepcopy_model=True)
    points = metric.points
    step_two = points[1] - points[0]
    step_one = points[steps] - points[steps - 1] + step_two
    params = list(model.parameters())
    scale = distance * steps
    directions = [_unflatten(step * scale, params) for step in (step_one, step_two)]
    alpha, beta = package_grid(half_width, steps)
    return PackagePlane(alpha, beta, np.asarray(values, dtype=np.float64), directions)


def direction_profile(direction: list[torch.Tensor], model: nn.Module) -> dict[str, float]:
    """How a direction moves a model: the fraction of positive entries in the weights
    (``ndim >= 2``; about 0.5 for a Gaussian draw) and ``||d_1D|| / ||theta_1D||`` over the
    1-D parameters (biases, BatchNorm weight and bias; 0 when they are left unperturbed)."""
    params = list(model.parameters())
    if len(direction) != len(params):
        raise ValueError(f"direction has {len(direction)} tensors, the model {len(params)} parameters")
    weights = torch.cat([d.reshape(-1) for d in direction if d.ndim >= 2])
    d_1d = torch.cat([d.reshape(-1) for d in direction if d.ndim < 2] or [torch.zeros(1)])
    t_1d = torch.cat([p.detach().reshape(-1) for p in params if p.ndim < 2] or [torch.zeros(1)])
    return {"positive_fraction": float((weights > 0).double().mean()),
            "one_d_ratio": float(d_1d.double().norm() / t_1d.double().norm().clamp_min(1e-300))}


def without_one_d(direction: list[torch.Tensor]) -> list[torch.Tensor]:
    """The direction with its 1-D parts (biases, BatchNorm weight and bias) set to zero."""
    return [torch.zeros_like(d) if d.ndim < 2 else d for d in direction]


def all_zero_one_d(model: nn.Module) -> list[str]:
    """Names of the 1-D parameters (biases, BatchNorm weight and bias) that are zero
    everywhere. The package's ``filter_normalize_`` first scales such a direction part by
    ``||b|| / ||d|| = 0`` and then divides ``|b_k| / |d_k| = 0.0 / 0.0`` per element in
    Python floats: ``ZeroDivisionError`` (a single zero element among non-zero ones is fine)."""
    return [name for name, p in model.named_parameters() if p.ndim < 2 and not bool(p.detach().any())]


def plot_package_plane(plane: PackagePlane, ax: Any, title: str | None = None) -> Any:
    """Filled contour of ``log10`` of a `PackagePlane`'s values at the points where the
    package evaluated them (black dots); the red star marks the trained weights."""
    import matplotlib.pyplot as plt

    steps = plane.values.shape[0]
    alpha = np.repeat(plane.alpha, steps)
    filled = ax.tricontourf(alpha, plane.beta.ravel(), np.log10(plane.values).ravel(), levels=15, cmap="viridis")
    ax.plot(alpha, plane.beta.ravel(), "k.", markersize=3)
    ax.plot(0, 0, "r*", markersize=8)
    ax.set_xlabel("alpha")
    ax.set_ylabel("beta")
    ax.set_aspect("equal")
    if title:
        ax.set_title(title, fontsize=9)
    plt.colorbar(filled, ax=ax, fraction=0.046, label="log10 loss")
    return ax


@dataclass
class StateChange:
    """What a sweep left changed on the model it was given."""

    parameter_distance: float  # ||theta_after - theta|| / ||theta||
    frozen: int  # parameters whose requires_grad went from True to False
    buffers_changed: int  # buffers (BatchNorm running statistics, counters) not bit-identical
    modes_changed: int  # modules whose train/eval flag changed


def state_change(model: nn.Module, sweep: Callable[[nn.Module], Any]) -> StateChange:
    """Run ``sweep(copy)`` on a deep copy of ``model`` and report what it left changed on the
    copy (``model`` itself is not touched)."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(sweep):
        raise ValueError(f"sweep must be callable as sweep(model), got {type(sweep).__name__}")
    subject = copy.deepcopy(model)
    before = [p.detach().clone() for p in subject.parameters()]
    flags = [p.requires_grad for p in subject.parameters()]
    buffers = [b.detach().clone() for b in subject.buffers()]
    modes = [m.training for m in subject.modules()]
    sweep(subject)
    after = list(subject.parameters())
    moved = math.sqrt(sum(float(((a.detach() - b).double() ** 2).sum()) for a, b in zip(after, before)))
    norm = math.sqrt(sum(float((b.double() ** 2).sum()) for b in before))
    return StateChange(
        parameter_distance=moved / max(norm, 1e-300),
        frozen=sum(f and not p.requires_grad for f, p in zip(flags, after)),
        buffers_changed=sum(not torch.equal(a, b) for a, b in zip(subject.buffers(), buffers)),
        modes_changed=sum(m.training != t for m, t in zip(subject.modules(), modes)),
    )


__all__ = ["ModelLoss", "all_zero_one_d", "PackagePlane", "StateChange", "direction_profile", "package_distance", "package_grid",
           "package_random_plane", "plot_package_plane", "state_change", "without_one_d"]
