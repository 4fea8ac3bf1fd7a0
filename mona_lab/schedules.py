"""Temperature schedules for contrastive losses and learning-rate schedules.

Temperature (ACTION++, paper 004): the anatomical-aware temperature scheduler (ATS, Eq. 6)
lets tau move between tau_min (``tau^-``) and tau_max (``tau^+``) along a cosine,
``tau_t = tau^- + 0.5 (1 + cos(2 pi t / T)) (tau^+ - tau^-)``, with tau^- = 0.1 and
tau^+ = 1.0. Table 6 varies the period (T / #iterations in {0.1, 0.2, 0.5, 1, 2}; 1.0 is
best) and compares fixed, step, random, oscillating and cosine schedules without
defining the alternatives. mona_lab defines them so that they share the cosine's range
and period and differ only in shape (documented on `temperature`).

Steps count from 0: the first iteration uses ``t = 0`` (tau_max for the cosine), the
paper counts ``t = 1..T``; the two differ by one iteration.

Learning rate: MONA (paper 001, Implementation Details) divides lr 0.01 by 10 every 2500
iterations (`step_decay_lr`); the public code base uses poly decay
``(1 - it / max_it) ** 0.9`` (`poly_lr`). `build_lr_scheduler` wraps either in a torch
``LambdaLR`` whose ``state_dict`` round-trips through checkpoints.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

TEMPERATURE_KINDS = ("fixed", "cosine", "step", "random", "oscillating")
LR_KINDS = ("constant", "step", "poly")


def _check_step_total(step, total) -> None:
    if not isinstance(total, (int, np.integer)) or isinstance(total, bool) or total <= 0:
        raise ValueError(f"total must be a positive integer number of iterations, got {total!r}")
    steps = np.asarray(step)
    if steps.dtype.kind not in "iu" and not (steps.dtype.kind == "f" and np.all(steps == np.floor(steps))):
        raise ValueError(f"step must be a non-negative integer (or array of them), got {step!r}")
    if np.any(steps < 0):
        raise ValueError(f"step must be >= 0, got {step!r}")


def _check_taus(tau_min: float, tau_max: float, period: float, tau_fixed: float | None) -> None:
    if not (tau_min > 0 and tau_max >= tau_min):
        raise ValueError(f"need 0 < tau_min <= tau_max, got tau_min={tau_min!r}, tau_max={tau_max!r}")
    if not period > 0:
        raise ValueError(f"period must be > 0 (a fraction of total), got {period!r}")
    if tau_fixed is not None and not tau_fixed > 0:
        raise ValueError(f"tau_fixed must be > 0, got {tau_fixed!r}")


def _uniform_hash(seed: int, steps: np.ndarray) -> np.ndarray:
    """Uniform numbers in [0, 1) that depend only on (seed, step): SplitMix64 of both.

    Vectorised and stateless, so a resumed run draws the same tau at the same step.
    """
    with np.errstate(over="ignore"):
        z = np.uint64(seed & 0xFFFFFFFFFFFFFFFF) * np.uint64(0x9E3779B97F4A7C15)
        z = z ^ (steps.astype(np.uint64) + np.uint64(0x632BE59BD9B4E5D))
        for _ in range(2):
            z = z + np.uint64(0x9E3779B97F4A7C15)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53)


def temperature_curve(
    kind: str,
    steps: Sequence[int] | np.ndarray,
    total: int,
    tau_min: float = 0.1,
    tau_max: float = 1.0,
    period: float = 1.0,
    *,
    seed: int = 0,
    tau_fixed: float | None = None,
) -> np.ndarray:
    """Vectorised `temperature`: the schedule at every step in ``steps`` (for plots).

    Args:
        steps: ``[N]`` non-negative integer steps. Other arguments as in `temperature`.

    Returns:
        ``[N]`` float64 array of temperatures.
    """
    if kind not in TEMPERATURE_KINDS:
        raise ValueError(f"unknown temperature schedule {kind!r}; choose one of {TEMPERATURE_KINDS}")
    _check_step_total(steps, total)
    _check_taus(tau_min, tau_max, period, tau_fixed)
    t = np.asarray(steps, dtype=np.float64).reshape(-1)
    span = tau_max - tau_min
    phase = t / (period * total)  # number of periods elapsed
    if kind == "fixed":
        return np.full_like(t, tau_min if tau_fixed is None else tau_fixed)
    if kind == "cosine":
        return tau_min + 0.5 * (1.0 + np.cos(2.0 * math.pi * phase)) * span
    frac = phase - np.floor(phase)  # position within the current period, [0, 1)
    if kind == "step":
        return np.where(frac < 0.5, tau_max, tau_min)
    if kind == "oscillating":
        return tau_max - span * (1.0 - np.abs(1.0 - 2.0 * frac))
    return tau_min + span * _uniform_hash(int(seed), np.asarray(steps).reshape(-1))


def temperature(
    kind: str,
    step: int,
    total: int,
    tau_min: float = 0.1,
    tau_max: float = 1.0,
    period: float = 1.0,
    *,
    seed: int = 0,
    tau_fixed: float | None = None,
) -> float:
    """Contrastive temperature at iteration ``step`` of ``total``.

    All periodic kinds repeat every ``period * total`` iterations (ACTION++ Table 6 calls
    ``period`` "T / #iterations"; the paper's best and default is 1.0):

    - ``cosine``: ACTION++ Eq. 6 (ATS), ``tau_min + 0.5 (1 + cos(2 pi t / (period *
      total))) (tau_max - tau_min)``; tau_max at t = 0, tau_min half a period later.
    - ``fixed``: a constant, ``tau_fixed`` when given, else ``tau_min`` (0.1, the usual
      constant contrastive temperature and ACTION's student temperature). Table 6's
      "no/fixed tau" baseline is ACTION, which uses each loss's own constant: pass it
      as ``tau_fixed``.
    - ``step``: the two-level square wave with the cosine's phase, ``tau_max`` during the
      first half of every period and ``tau_min`` during the second half.
    - ``oscillating``: the triangle wave with the cosine's phase, linear from ``tau_max``
      down to ``tau_min`` at mid-period and back up.
    - ``random``: uniform on ``[tau_min, tau_max]``, independent across steps, a pure
      function of ``(seed, step)`` so that a resumed run reproduces it exactly.

    Args:
        kind: one of `TEMPERATURE_KINDS`.
        step: current iteration, ``>= 0`` (may exceed ``total``: periodic kinds wrap).
        total: total iterations T, ``> 0``.
        tau_min, tau_max: range, ``0 < tau_min <= tau_max`` (paper: 0.1 and 1.0).
        period: period as a fraction of ``total``.
        seed: seed of the ``random`` kind.
        tau_fixed: value of the ``fixed`` kind.

    Raises:
        ValueError: unknown kind (the message lists the kinds), ``step < 0``,
            ``total <= 0``, or a bad range / period.
    """
    if np.ndim(step) != 0:
        raise ValueError(f"step must be a single integer, got {step!r}; use temperature_curve for arrays")
    return float(
        temperature_curve(kind, [step], total, tau_min, tau_max, period, seed=seed, tau_fixed=tau_fixed)[0]
    )


@dataclass(frozen=True)
class TemperatureSchedule:
    """A configured temperature schedule: ``schedule(step) -> tau``.

    Defaults are ACTION++'s ATS (Eq. 6): cosine, tau in [0.1, 1.0], period 1.0.
    """

    kind: str = "cosine"
    total: int = 1
    tau_min: float = 0.1
    tau_max: float = 1.0
    period: float = 1.0
    seed: int = 0
    tau_fixed: float | None = None

    def __post_init__(self) -> None:
        temperature_curve(self.kind, [0], self.total, self.tau_min, self.tau_max, self.period,
                          seed=self.seed, tau_fixed=self.tau_fixed)

    def __call__(self, step: int) -> float:
        return temperature(self.kind, step, self.total, self.tau_min, self.tau_max, self.period,
                           seed=self.seed, tau_fixed=self.tau_fixed)

    def curve(self, steps: Sequence[int] | np.ndarray) -> np.ndarray:
        return temperature_curve(self.kind, steps, self.total, self.tau_min, self.tau_max, self.period,
                                 seed=self.seed, tau_fixed=self.tau_fixed)


# ---------------------------------------------------------------- loss-weight ramp-up


def sigmoid_rampup(step: int, rampup_steps: float) -> float:
    """Weight multiplier ``exp(-5 (1 - t)^2)``, ``t = min(step / rampup_steps, 1)``, in (0, 1].

    The ramp-up of Laine & Aila (2017) and Tarvainen & Valpola (2017) that the SSL4MIS code
    base (which the papers' code builds on) applies to its unsupervised loss weights: about
    0.007 at the start, 1 from ``rampup_steps`` on. ``rampup_steps <= 0`` means no ramp (1).

    Raises:
        ValueError: ``step < 0``.
    """
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if rampup_steps <= 0:
        return 1.0
    t = min(float(step) / float(rampup_steps), 1.0)
    return math.exp(-5.0 * (1.0 - t) ** 2)


# ---------------------------------------------------------------- learning rate


def step_decay_lr(base_lr: float, step: int, every: int = 2500, factor: float = 0.1) -> float:
    """MONA's schedule (paper 001, Implementation Details): ``base_lr * factor ** (step // every)``.

    Raises:
        ValueError: ``step < 0``, ``every <= 0`` or ``factor`` outside (0, 1].
    """
    if step < 0 or every <= 0 or not 0 < factor <= 1:
        raise ValueError(f"need step >= 0, every > 0, 0 < factor <= 1; got step={step}, every={every}, factor={factor}")
    return base_lr * factor ** (int(step) // int(every))


def poly_lr(base_lr: float, step: int, total: int, power: float = 0.9) -> float:
    """Poly decay of the public code: ``base_lr * (1 - step / total) ** power``, 0 from ``total`` on.

    Raises:
        ValueError: ``step < 0``, ``total <= 0`` or ``power < 0``.
    """
    if step < 0 or total <= 0 or power < 0:
        raise ValueError(f"need step >= 0, total > 0, power >= 0; got step={step}, total={total}, power={power}")
    return base_lr * max(0.0, 1.0 - step / total) ** power


@dataclass
class StepDecay:
    """LambdaLR multiplier ``factor ** (step // every)`` (a callable object, so it checkpoints)."""

    every: int = 2500
    factor: float = 0.1

    def __call__(self, step: int) -> float:
        return step_decay_lr(1.0, step, self.every, self.factor)


@dataclass
class PolyDecay:
    """LambdaLR multiplier ``(1 - step / total) ** power``."""

    total: int
    power: float = 0.9

    def __call__(self, step: int) -> float:
        return poly_lr(1.0, step, self.total, self.power)


@dataclass
class ConstantLR:
    """LambdaLR multiplier 1."""

    def __call__(self, step: int) -> float:
        return 1.0


def build_lr_scheduler(
    optimizer: torch.optim.Optimizer,
    kind: str = "step",
    *,
    total: int | None = None,
    every: int = 2500,
    factor: float = 0.1,
    power: float = 0.9,
) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` for ``kind`` in {"constant", "step" (MONA paper), "poly" (public code)}.

    Call ``scheduler.step()`` once per iteration after ``optimizer.step()``; the lr of
    iteration ``i`` is then ``base_lr * multiplier(i)``. The multipliers are dataclass
    objects, so ``scheduler.state_dict()`` / ``load_state_dict`` restore them exactly.

    Raises:
        ValueError: unknown kind, or ``kind="poly"`` without a positive ``total``.
    """
    if kind == "constant":
        multiplier = ConstantLR()
    elif kind == "step":
        if every <= 0 or not 0 < factor <= 1:
            raise ValueError(f"step lr needs every > 0 and 0 < factor <= 1, got every={every}, factor={factor}")
        multiplier = StepDecay(every, factor)
    elif kind == "poly":
        if total is None or total <= 0:
            raise ValueError(f"poly lr needs total > 0 iterations, got total={total!r}")
        multiplier = PolyDecay(total, power)
    else:
        raise ValueError(f"unknown lr schedule {kind!r}; choose one of {LR_KINDS}")
    return torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier)
