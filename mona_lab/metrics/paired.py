"""Paired differences between two methods over seeds, with a t interval.

Runs are chaotic: the same command on another machine moves a run's Dice by several
points, and labelled splits differ more than methods do. A comparison is therefore paired
by seed (each seed picks the labelled patients both methods see) and reported with the
95 % confidence interval of the mean paired difference, Student's t over seeds:

    d_s = 100 (Dice_A(s) - Dice_B(s))          (points)
    mean = (1/n) sum_s d_s,   sd = sqrt(sum_s (d_s - mean)^2 / (n - 1))
    CI95 = mean -/+ t_{0.975, n-1} sd / sqrt(n)

The interval says where the mean gain over *such* splits lies if seeds were drawn at random;
it does not cover the noise of rerunning one seed (measure that apart: the benchmark's
noise floor).
"""
from __future__ import annotations

import math
from typing import Sequence


def paired_interval(differences: Sequence[float], level: float = 0.95) -> dict[str, float | list[float] | int]:
    """Mean, sample sd and the ``level`` t interval of paired differences.

    Args:
        differences: one difference per seed (any unit; the benchmarks use Dice points).
        level: confidence level in (0, 1).

    Returns:
        ``{"mean", "sd", "n", "ci95": [low, high]}`` (``sd`` with n - 1; with one difference
        the sd and the interval are NaN: one seed says nothing about the spread).

    Raises:
        ValueError: no differences, a non-finite one, or ``level`` outside (0, 1).
    """
    from scipy.stats import t

    values = [float(d) for d in differences]
    if not values:
        raise ValueError("paired_interval needs at least one difference, got none")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"paired differences must be finite, got {values}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return {"mean": mean, "sd": math.nan, "n": n, "ci95": [math.nan, math.nan]}
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return {"mean": mean, "sd": sd, "n": n, "ci95": [mean - half, mean + half]}
