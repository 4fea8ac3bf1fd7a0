"""What the temperature does to a contrastive softmax (ACTION++ Sec. 2.3, ATS).

ACTION++ (MICCAI 2023, Sec. 1 and 2.3) motivates its cosine temperature schedule (Eq. 6)
by the two regimes of the contrastive softmax over keys ``k`` of an anchor ``a``::

    s_k = exp(a.k / tau) / sum_j exp(a.j / tau)

a large tau spreads the weight over every similar key, so the loss separates *groups*
(anatomical classes: "group-wise discrimination"); a small tau puts almost all of it on
the nearest key, so the loss separates *instances* ("instance discrimination"), which
favours hard, rare features. The helpers below make those regimes measurable on any set
of embeddings: the softmax mass an anchor puts on keys of its own class, on its single
nearest key, and the effective number of keys it attends to (the exponential of the
softmax entropy). `circle_clusters` makes a small long-tailed 2-D example, and
`head_tail_classes` splits a data set's classes by frequency as ACTION++'s head/tail
discussion does.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch


def circle_clusters(
    counts: Sequence[int], spread: float = 0.35, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Unit-circle embeddings of ``len(counts)`` classes (a long tail when counts fall).

    Class ``c`` sits around the angle ``2 pi c / C``; each of its ``counts[c]`` points is
    drawn with a Gaussian angular offset of standard deviation ``spread`` (radians) from a
    NumPy generator seeded with ``seed``.

    Returns:
        ``(embeddings [N, 2] float64 with unit rows, labels [N] int64)``.

    Raises:
        ValueError: empty ``counts``, a count < 1 or ``spread < 0``.
    """
    if len(counts) == 0 or any(int(c) < 1 for c in counts):
        raise ValueError(f"counts must be positive integers, got {list(counts)}")
    if spread < 0:
        raise ValueError(f"spread must be >= 0, got {spread}")
    rng = np.random.default_rng(seed)
    angles, labels = [], []
    for c, count in enumerate(counts):
        centre = 2.0 * math.pi * c / len(counts)
        angles.append(centre + spread * rng.standard_normal(int(count)))
        labels.append(np.full(int(count), c, dtype=np.int64))
    theta = np.concatenate(angles)
    return np.stack([np.cos(theta), np.sin(theta)], axis=1), np.concatenate(labels)


def _as_unit_rows(embeddings) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(embeddings), dtype=torch.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"embeddings must be [N, d] with N >= 2, got {tuple(x.shape)}")
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)


def softmax_weights(embeddings, anchor: int, tau: float) -> np.ndarray:
    """Softmax weights ``s_k`` of every key for one anchor (the anchor itself gets 0).

    Args:
        embeddings: ``[N, d]`` (normalised inside); anchor: its row index; tau > 0.

    Returns:
        ``[N]`` float64 weights summing to 1 over the other rows.
    """
    if not tau > 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    x = _as_unit_rows(embeddings)
    if not 0 <= int(anchor) < x.shape[0]:
        raise ValueError(f"anchor {anchor} outside 0..{x.shape[0] - 1}")
    logits = x @ x[int(anchor)] / tau
    logits[int(anchor)] = -math.inf
    return torch.softmax(logits, dim=0).numpy()


def softmax_summary(embeddings, labels, tau: float) -> dict[str, np.ndarray]:
    """Per anchor, how its contrastive softmax spreads (every row is an anchor in turn).

    Args:
        embeddings: ``[N, d]`` (normalised inside); labels: ``[N]`` classes; tau > 0.

    Returns:
        ``{"same_class": [N], "nearest": [N], "effective_keys": [N]}``: the softmax mass
        on keys of the anchor's class, the mass on its single most similar key, and
        ``exp(entropy)`` of the softmax (1 = all mass on one key, N-1 = uniform).
    """
    if not tau > 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    x = _as_unit_rows(embeddings)
    y = torch.as_tensor(np.asarray(labels)).long()
    if y.shape != (x.shape[0],):
        raise ValueError(f"labels must be [N] = [{x.shape[0]}], got {tuple(y.shape)}")
    logits = (x @ x.T / tau).fill_diagonal_(-math.inf)
    probs = torch.softmax(logits, dim=1)
    same = (y[:, None] == y[None, :]).fill_diagonal_(False)
    log_probs = torch.log_softmax(logits, dim=1).masked_fill(~torch.isfinite(logits), 0.0)
    entropy = -(probs * log_probs).sum(dim=1)
    return {
        "same_class": (probs * same).sum(dim=1).numpy(),
        "nearest": probs.max(dim=1).values.numpy(),
        "effective_keys": torch.exp(entropy).numpy(),
    }


def head_tail_classes(train_labels: torch.Tensor, class_names: Sequence[str]) -> dict:
    """Split the foreground classes by training pixel frequency: ``head`` above the median
    foreground frequency, ``tail`` at or below it (background is neither).

    Returns:
        ``{"fractions": {name: fraction}, "head": [names], "tail": [names]}``.
    """
    counts = torch.bincount(train_labels.flatten().long().clamp_min(0), minlength=len(class_names)).double()
    fractions = (counts / counts.sum()).tolist()
    foreground = list(class_names)[1:]
    median = float(np.median(fractions[1:]))
    head = [n for n, f in zip(foreground, fractions[1:]) if f > median]
    tail = [n for n in foreground if n not in head]
    return {"fractions": dict(zip(class_names, fractions)), "head": head, "tail": tail}


__all__ = ["circle_clusters", "head_tail_classes", "softmax_summary", "softmax_weights"]
