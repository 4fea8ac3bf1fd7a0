"""MONA Eq. 3-4 (ACTION Eq. 4-5) in plain torch: the reference the fast pixel contrast is tested against.

`mona_lab.losses.anatomical_contrast.AnatomicalContrastLoss` vectorises the loss over every
class and query, fuses the class means' backward and gathers negatives from one similarity
matrix. Here the same equation is written as it is printed, one class and one query at a
time, in Python loops (slow; for tests, notebooks and readers):

    r = x / |x| per pixel                                   (embeddings on the unit sphere)
    r_k^{c,+} = mean of r over the pixels of class c        (Eq. 4: the positive key)
    l(r_q)    = -log( exp(r_q.r_k^{c,+}/tau)
                      / (exp(r_q.r_k^{c,+}/tau) + sum_{r_k^-} exp(r_q.r_k^-/tau)) )      (Eq. 3)
    L         = (1 / #classes) sum_c sum_{q of class c} w_q l(r_q)

with w_q the sampler's weights (1 / #queries of the class for naive sampling; ARCO's
stratified weights otherwise, `mona_lab.samplers.reference`). `exact_contrast_reference`
takes every query (hard ones only when ``hard_queries``: tailness, the predicted probability
of the pixel's own class <= ``threshold``) and every pixel of another class as a negative;
`drawn_contrast_reference` takes the queries, weights and negatives of one random draw
(``AnatomicalContrastLoss.last_draw``), so the fast loss's sampled estimate is checked too.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _pixel_rows(features: torch.Tensor) -> torch.Tensor:
    """[B, D, *spatial] -> [N, D] unit-norm embeddings in ``labels.flatten()`` order."""
    dim = features.shape[1]
    rows = features.reshape(features.shape[0], dim, -1).permute(0, 2, 1).reshape(-1, dim)
    return F.normalize(rows, dim=1)


def _query_loss(query: torch.Tensor, positive: torch.Tensor, negatives: list[torch.Tensor], tau: float) -> torch.Tensor:
    """Eq. 3 for one query: -log(exp(q.k+/tau) / (exp(q.k+/tau) + sum exp(q.k-/tau)))."""
    pos = torch.exp(query @ positive / tau)
    neg = sum(torch.exp(query @ key / tau) for key in negatives)
    return -torch.log(pos / (pos + neg))


def exact_contrast_reference(
    features: torch.Tensor, labels: torch.Tensor, probs: torch.Tensor | None, threshold: float, temperature: float,
    hard_queries: bool = True,
) -> torch.Tensor:
    """MONA Eq. 3, with Eq. 4's sets: every (hard) class-c pixel a query (R_q^c), every pixel of
    another class a negative (R_k^c), their class mean the positive key r_k^{c,+}.

    Args:
        features: [B, D, *spatial] embeddings (normalised here).
        labels: [B, *spatial] class labels, -1 = ignore.
        probs: [B, C, *spatial] predicted probabilities (needed when ``hard_queries``).
        threshold: a class-c pixel is a hard query when its probability of c is <= this.
        temperature: tau.
        hard_queries: tailness (MONA Sec. III-B); False: every pixel of the class is a query.

    Returns:
        scalar: the mean over contributing classes of the mean query loss (`AnatomicalContrastLoss`
        with ``num_queries=None, num_negatives=None``).
    """
    rows = _pixel_rows(features)
    flat = labels.reshape(-1).tolist()
    confidence = probs.movedim(1, -1).reshape(-1, probs.shape[1]) if probs is not None else None
    class_losses = []
    for c in sorted({v for v in flat if v >= 0}):
        members = [i for i, v in enumerate(flat) if v == c]
        positive = sum(rows[i] for i in members) / len(members)
        negatives = [rows[j] for j, v in enumerate(flat) if v >= 0 and v != c]
        queries = [i for i in members if not hard_queries or confidence[i, c] <= threshold]
        if not queries or not negatives:
            continue  # a class with no (hard) query or nothing to contrast with adds nothing
        class_losses.append(sum(_query_loss(rows[i], positive, negatives, temperature) for i in queries) / len(queries))
    if not class_losses:
        return features.sum() * 0.0
    return sum(class_losses) / len(class_losses)


def drawn_contrast_reference(features: torch.Tensor, labels: torch.Tensor, draw, temperature: float) -> torch.Tensor:
    """Eq. 3 on one draw of queries, weights and negatives (a `ContrastDraw` without memory-bank keys).

    Args:
        features: [B, D, *spatial] embeddings, the ones the draw was made on.
        labels: [B, *spatial] labels, -1 = ignore.
        draw: ``AnatomicalContrastLoss.last_draw``; its pool must hold fresh keys only.
        temperature: tau.

    Returns:
        scalar: ``(1 / #classes) sum_c sum_{q of class c} w_q l(r_q)``.

    Raises:
        ValueError: the draw uses memory-bank keys (the reference has no bank).
    """
    if draw.key_memory_index.numel():
        raise ValueError("drawn_contrast_reference takes draws without memory-bank keys (memory_size=0)")
    rows = _pixel_rows(features)
    flat = labels.reshape(-1).tolist()
    pool = [rows[i] for i in draw.key_pixel_index.tolist()]
    pool_class = draw.key_class.tolist()
    per_class = {c: 0.0 for c in draw.classes}
    for q, (pixel, c, weight) in enumerate(zip(draw.query_index.tolist(), draw.query_class.tolist(), draw.query_weight.tolist())):
        members = [i for i, v in enumerate(flat) if v == c]
        positive = sum(rows[i] for i in members) / len(members)
        if draw.negative_index is None:  # exact mode: every pool entry of another class
            negatives = [key for key, k in zip(pool, pool_class) if k != c]
        else:
            negatives = [pool[j] for j in draw.negative_index[q].tolist()]
        per_class[c] = per_class[c] + weight * _query_loss(rows[pixel], positive, negatives, temperature)
    if not draw.classes:
        return features.sum() * 0.0
    return sum(per_class.values()) / len(draw.classes)
