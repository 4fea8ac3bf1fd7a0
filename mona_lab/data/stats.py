"""Class statistics of a segmentation data set: how long is its tail?

MONA (TPAMI Sec. I, Fig. 1) motivates "tailness" with the observation that the label
classes of medical images follow a Zipf (power-law) distribution: sorted by frequency, the
class of rank ``k`` covers a share proportional to ``k ** -s``. This module measures that:
per-class pixel counts and fractions, the rank-frequency table, a fitted exponent ``s``,
how many slices contain each class, and how many of 256 uniformly drawn query pixels a class
would get on average (MONA/ACTION sample 256 queries per mini-batch; a naive uniform draw
gives the tail almost none, which is what class-aware sampling fixes).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mona_lab.data.volume import Volume


def class_pixel_counts(labels: Iterable[np.ndarray] | np.ndarray, num_classes: int) -> np.ndarray:
    """Pixels per class over a collection of label maps.

    Args:
        labels: one integer array of any shape (e.g. ``[N, H, W]``) or an iterable of them
            (maps of different sizes are fine: native-resolution slices).
        num_classes: ``C``, including background.

    Returns:
        int64 ``[C]``.

    Raises:
        ValueError: a label value outside ``0..C-1``.
    """
    if isinstance(labels, np.ndarray):
        labels = [labels]
    counts = np.zeros(num_classes, dtype=np.int64)
    for lab in labels:
        flat = np.asarray(lab).ravel()
        if flat.size == 0:
            continue
        lo, hi = int(flat.min()), int(flat.max())
        if lo < 0 or hi >= num_classes:
            raise ValueError(f"label values must lie in 0..{num_classes - 1}, found {lo}..{hi}")
        counts += np.bincount(flat, minlength=num_classes).astype(np.int64)
    return counts


def class_fractions(counts: Sequence[int] | np.ndarray) -> np.ndarray:
    """``counts / counts.sum()`` as float64 ``[C]`` (zeros when there are no pixels)."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    return counts / total if total > 0 else np.zeros_like(counts)


def rank_frequency(fractions: Sequence[float] | np.ndarray, foreground_only: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Classes sorted from most to least frequent (ties keep class order).

    Args:
        fractions: ``[C]``, background first.
        foreground_only: drop class 0 (background) before ranking.

    Returns:
        ``(ranks, sorted_fractions, class_indices)``: ranks ``1..K``; ``class_indices[j]`` is
        the class at rank ``j + 1``.
    """
    f = np.asarray(fractions, dtype=np.float64)
    classes = np.arange(f.size)
    if foreground_only:
        f, classes = f[1:], classes[1:]
    order = np.argsort(-f, kind="stable")
    return np.arange(1, f.size + 1), f[order], classes[order]


def fit_zipf_exponent(fractions: Sequence[float] | np.ndarray, foreground_only: bool = True) -> float:
    """Zipf exponent ``s`` of the class-frequency distribution, ``f(rank) ~ rank ** -s``.

    Estimator: ordinary least squares of ``log f`` on ``log rank`` over the (foreground)
    classes with a non-zero fraction, ranked by decreasing fraction; ``s`` is minus the
    slope, so ``s > 0`` for a decreasing tail and ``s = 0`` for equal classes. (The
    maximum-likelihood estimator for discrete power laws needs many ranks; with 3-7
    classes the log-log slope is what the papers' Fig. 1 plots show.)

    Args:
        fractions: ``[C]`` pixel fractions (or counts), background first.
        foreground_only: ignore class 0, as MONA's tail is about the anatomical classes.

    Raises:
        ValueError: fewer than two classes with non-zero frequency.
    """
    _, f, _ = rank_frequency(fractions, foreground_only)
    f = f[f > 0]
    if f.size < 2:
        raise ValueError(f"need at least two classes with non-zero frequency to fit a Zipf exponent, got {f.size}")
    log_rank = np.log(np.arange(1, f.size + 1, dtype=np.float64))
    slope = np.polyfit(log_rank, np.log(f), 1)[0]
    return float(-slope)


def slice_presence(labels: Iterable[np.ndarray] | np.ndarray, num_classes: int) -> np.ndarray:
    """Share of 2D slices in which each class appears at least once.

    Args:
        labels: ``[N, H, W]`` or an iterable of ``[H, W]`` / ``[D, H, W]`` arrays (each 3D
            array counts as ``D`` slices).

    Returns:
        float64 ``[C]`` in [0, 1].
    """
    if isinstance(labels, np.ndarray):
        labels = [labels]
    present = np.zeros(num_classes, dtype=np.int64)
    total = 0
    for lab in labels:
        lab = np.asarray(lab)
        stack = lab[None] if lab.ndim == 2 else lab.reshape(-1, *lab.shape[-2:])
        for sl in stack:
            present += np.bincount(sl.ravel(), minlength=num_classes)[:num_classes] > 0
        total += stack.shape[0]
    return present / total if total else np.zeros(num_classes)


def expected_query_share(fractions: Sequence[float] | np.ndarray, num_queries: int = 256) -> np.ndarray:
    """Expected number of each class's pixels among ``num_queries`` pixels drawn uniformly
    at random: ``fractions * num_queries`` (MONA/ACTION sample 256 queries per batch)."""
    return np.asarray(fractions, dtype=np.float64) * num_queries


@dataclass
class ClassStats:
    """Class statistics of one data set (see `compute_class_stats`)."""

    dataset: str
    class_names: tuple[str, ...]
    counts: np.ndarray
    fractions: np.ndarray
    presence: np.ndarray
    zipf_exponent: float
    num_slices: int
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def query_share(self) -> np.ndarray:
        return expected_query_share(self.fractions, 256)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``dataset``, ``classes``, ``counts``, ``fractions`` (background first),
        ``zipf_exponent``, ``rank_order`` (foreground class names, most frequent first),
        ``slice_presence``, ``query_share_256``, ``num_slices`` and any notes."""
        _, _, order = rank_frequency(self.fractions)
        return {
            "dataset": self.dataset,
            "classes": list(self.class_names),
            "counts": [int(c) for c in self.counts],
            "fractions": [float(f) for f in self.fractions],
            "zipf_exponent": float(self.zipf_exponent),
            "rank_order": [self.class_names[i] for i in order],
            "slice_presence": [float(p) for p in self.presence],
            "query_share_256": [float(q) for q in self.query_share],
            "num_slices": int(self.num_slices),
            **self.notes,
        }

    def format_table(self) -> str:
        """A plain-text table, one row per class."""
        lines = [
            f"dataset: {self.dataset}   slices: {self.num_slices}   "
            f"Zipf exponent (foreground, log-log LS): {self.zipf_exponent:.3f}",
            f"{'class':<12}{'pixels':>14}{'fraction':>11}{'slices with':>13}{'of 256 queries':>16}",
        ]
        for name, c, f, p, q in zip(self.class_names, self.counts, self.fractions, self.presence, self.query_share):
            lines.append(f"{name:<12}{int(c):>14,}{f:>11.4f}{p:>13.1%}{q:>16.2f}")
        return "\n".join(lines)


def compute_class_stats(volumes: Iterable[Volume], class_names: Sequence[str], dataset: str = "") -> ClassStats:
    """Statistics over the label maps of ``volumes`` at their own (native) resolution.

    Raises:
        ValueError: a volume without a label, or a label value ``>= len(class_names)``.
    """
    num_classes = len(class_names)
    counts = np.zeros(num_classes, dtype=np.int64)
    present = np.zeros(num_classes, dtype=np.float64)
    num_slices = 0
    for vol in volumes:
        if vol.label is None:
            raise ValueError(f"{vol.case_id} has no label map")
        counts += class_pixel_counts(vol.label, num_classes)
        present += slice_presence(vol.label, num_classes) * vol.num_slices
        num_slices += vol.num_slices
    fractions = class_fractions(counts)
    try:
        s = fit_zipf_exponent(fractions)
    except ValueError:
        s = float("nan")
    presence = present / num_slices if num_slices else present
    return ClassStats(dataset, tuple(class_names), counts, fractions, presence, s, num_slices)
