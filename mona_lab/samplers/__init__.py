"""Pixel samplers of ARCO (Naive, Stratified Group, Stratified-Antithetic Group).

ARCO (paper 002, Sec. 3.3) estimates the aggregation ``H = (1/|P|) sum_{p in P} h(p)``
(Eq. 3.1) from a small sample ``D`` of the class's pixels ``P``. This package draws that
sample and returns, with each drawn pixel, the weight that makes the weighted sum an
unbiased estimate of ``H``:

    indices, weights = sample_pixels(mask, n, method="sg")
    estimate = (weights * v.flatten()[indices]).sum()      # E[estimate] = v[mask].mean()

Methods (all draw exactly ``n`` pixels, so they are compared at equal cost):

``"ns"``  Naive Sampling: ``n`` independent uniform draws from ``P`` (with replacement).
``"sg"``  Stratified Group sampling: ``P`` is cut into groups ``P_m`` = mask pixels inside
          one cell of an equal-size spatial grid; group ``m`` receives ``n_m`` draws with
          ``E[n_m] = n |P_m| / |P|`` (proportional allocation, randomised rounding).
``"sag"`` Stratified-Antithetic Group sampling: SG whose draws inside a group come in
          pairs ``(p, p')`` mirrored through the group's centre ``c_m - p = p' - c_m``
          (``c_m`` = centroid of ``P_m`` on the half-pixel grid, `group_centres`).
``"block"`` the strata of the authors' public code (blocks of the flattened index list,
          equal counts per stratum, padded with uniform draws). It is BIASED whenever the
          blocks differ in size and is kept for teaching only.

Every method samples with replacement (the paper's Lemma 3.1 assumes independent draws
inside a group, ``p _|_ p'``), so ``n`` may exceed the number of mask pixels. Every
weight is ``1/n``; see `sample_pixels` for why that is the unbiased weight for SG and SAG
too, and `theoretical_moments` for the exact mean and variance of each estimator.

Where each idea lives (read the first three to understand ARCO; the rest is speed):

``reference``     NS, SG and SAG as Sec. 3.3 describes them, one screen each
                  (`naive_sample`, `stratified_group_sample`,
                  `stratified_antithetic_group_sample`): the law every route draws from.
``groups``        the groups ``P_m`` (`group_ids`), centres ``c_m`` (`group_centres`) and
                  SAG's mirror map ``p' = 2 c_m - p`` (`mirror_index`).
``moments``       closed-form mean and variance of each estimator: Lemma 3.1,
                  Theorem 3.2 (`theoretical_moments`, `group_statistics`,
                  `stratification_gain`).
``sample``        `sample_pixels`, the public entry point: checks, then picks a route.
``allocation``    proportional allocation with randomised rounding, and its exact law.
``fast_route``    the fast SG/SAG routes: the listed route (many draws: list the mask's
                  pixels in group order), the cell route (few draws on a large mask:
                  rejection from grid cells), the group-major layout both work in, the
                  mirror map on it (fast twin of `mirror_index`), uniform ranks inside many
                  groups at once, and the cost knobs (they never change the law).
``block``         the public code's biased strata (teaching only).
``checks``        argument checking and `SAMPLING_METHODS`.
"""
from __future__ import annotations

from mona_lab.samplers.checks import SAMPLING_METHODS
from mona_lab.samplers.groups import group_centres, group_ids, mirror_index
from mona_lab.samplers.moments import (
    GroupStatistics,
    group_statistics,
    stratification_gain,
    theoretical_moments,
    theoretical_variance,
)
from mona_lab.samplers.reference import (
    naive_sample,
    stratified_antithetic_group_sample,
    stratified_group_sample,
)
from mona_lab.samplers.sample import sample_pixels

__all__ = [
    "SAMPLING_METHODS",
    "GroupStatistics",
    "group_centres",
    "group_ids",
    "group_statistics",
    "mirror_index",
    "naive_sample",
    "sample_pixels",
    "stratification_gain",
    "stratified_antithetic_group_sample",
    "stratified_group_sample",
    "theoretical_moments",
    "theoretical_variance",
]
