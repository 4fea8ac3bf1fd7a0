"""The random choices of one anatomical-contrast step: queries, key pool and negatives.

`AnatomicalContrastLoss` (MONA Eq. (3), ACTION Eq. (4)) contrasts query embeddings r_q of
every class c with the class mean r_k^{c,+} and with negative keys r_k^- of other classes.
Which pixels play these roles is drawn here, without gradients, in four steps
(`draw_contrast`); the loss on a draw is `AnatomicalContrastLoss.loss_from_draw`:

1. which classes take part: a class present in the batch is queried when some other class
   (in the batch or in the memory bank) can give it negatives;
2. queries (`draw_queries`): per class c, ``num_queries`` pixels among its *hard* pixels,
   those whose predicted probability of class c is <= ``threshold`` (MONA Eq. (5),
   ACTION Eq. (7), "tailness"), or among all its pixels with ``hard_queries=False``;
3. key pool (`draw_key_pool`): per class v that can be a negative, ``key_pool_size`` fresh
   pixels of class v, then every class-v entry of the memory bank;
4. negatives (`draw_negatives`): per query, ``num_negatives`` draws of a class v from
   the softmax of the class relation graph G (MONA Sec. III-B, ACTION Eq. (6)), then of
   a uniform entry of class v's slot of the pool.

The positives need no draw: they are the class means of `pixel_statistics`
(MONA Eq. (4), ACTION Eq. (5)).

Every pixel draw goes through `mona_lab.samplers.sample_pixels` (`draw_class_pixels`),
NS, or ARCO's SG/SAG (ARCO Sec. 3.3), whose weights make the weighted mean over a class's
queries an unbiased estimate of the mean over the class (ARCO Eq. 3.1, Theorem 3.2).

Choices where the papers leave room (tested in tests/test_loss_anatomical_contrast.py):

- Negative draws: each negative follows the intended distribution (class from the
  softmax of G, no temperature, as printed; then a uniform entry of the class's slot),
  while the loss needs only one [queries x pool] similarity matrix and a gather of
  [queries x negatives] entries -- no [queries x negatives x D] tensor is formed (see
  benchmarks/bench_contrast.py). A query's negatives are drawn with replacement, so it
  may meet a pool entry twice; different queries share the pool.
- G is built from the batch class means (detached: it only steers sampling); a class
  known only from the memory bank uses the mean of its bank entries (`bank_class_means`).
- Exact mode: ``num_queries=None`` takes every candidate pixel as a query (weight 1/n)
  and ``num_negatives=None`` puts every pixel of every other class (and every bank entry)
  in the pool, each a negative of every query of another class: Eq. 3 over the full sets.
- Determinism: every draw takes its randomness from the ``generator`` argument (a
  ``torch.Generator`` on the data's device, as `sample_pixels` requires), in a fixed
  order: queries class by class, then fresh keys class by class, then the negatives.
  The sampler's grid is capped at the image size per axis (`fit_grid`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from mona_lab.losses.class_memory_bank import bank_class_means
from mona_lab.losses.relation_graph import draw_negatives
from mona_lab.samplers import sample_pixels


@dataclass
class ContrastDraw:
    """The random choices of one forward pass (kept in ``loss.last_draw`` for inspection).

    Attributes:
        query_index: [Q] int64 flat indices into ``labels.flatten()``.
        query_class: [Q] int64 class of each query.
        query_weight: [Q] float64 sampler weights; they sum to 1 within each class.
        key_pixel_index: [P_f] int64 flat pixel indices of the fresh keys in the pool.
        key_memory_index: [P_m] int64 indices into the flattened memory bank
            (``memory.view(-1, D)``); the pool is the fresh keys, then these.
        key_class: [P_f + P_m] int64 class of each pool entry.
        negative_index: [Q, K] int64 pool positions of each query's negatives, or ``None``
            in exact mode (every pool entry of another class is a negative).
        classes: the classes that contributed queries, ascending.
    """

    query_index: torch.Tensor
    query_class: torch.Tensor
    query_weight: torch.Tensor
    key_pixel_index: torch.Tensor
    key_memory_index: torch.Tensor
    key_class: torch.Tensor
    negative_index: torch.Tensor | None
    classes: list[int]


@dataclass(frozen=True)
class ContrastSampling:
    """The sampling settings of `AnatomicalContrastLoss` (see its Args)."""

    num_queries: int | None
    num_negatives: int | None
    key_pool_size: int | None
    threshold: float
    hard_queries: bool
    sampler: str
    grid: int | tuple[int, ...]


def fit_grid(grid: int | tuple[int, ...], spatial_shape: tuple[int, ...]) -> int | tuple[int, ...]:
    """Cap the sampler's cells per axis at the image size, so tiny images (e.g. 2 x 2) still work."""
    cells = (grid,) * len(spatial_shape) if isinstance(grid, int) else tuple(grid)
    if len(cells) != len(spatial_shape):
        return grid  # let the sampler report the mismatch
    return tuple(min(int(g), int(size)) for g, size in zip(cells, spatial_shape))


def draw_class_pixels(
    mask: torch.Tensor,
    count: int | None,
    *,
    sampler: str,
    grid: int | tuple[int, ...],
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` pixels of ``mask`` through `sample_pixels` (ARCO Sec. 3.3), or all of them.

    Args:
        mask: [B, *spatial] bool, the pixels to draw from (one class, maybe hard ones only).
        count: number of draws, or ``None`` for every pixel of the mask with weight 1/n.
        sampler: ``"ns"``, ``"sg"``, ``"sag"`` or ``"block"``.
        grid: cells per spatial axis of the grouped samplers (capped with `fit_grid`).
        generator: the source of randomness.

    Returns:
        (index [n] int64 flat into ``mask.flatten()``, weight [n] float64 summing to 1),
        both on the mask's device; empty when the mask is.
    """
    device = mask.device
    if count is None:
        index = mask.reshape(-1).nonzero().flatten()
        weight = torch.full((index.numel(),), 1.0 / max(index.numel(), 1), device=device, dtype=torch.float64)
        return index, weight
    index, weight = sample_pixels(
        mask, count, method=sampler, generator=generator, grid=fit_grid(grid, tuple(mask.shape[1:])),
        spatial_dims=mask.ndim - 1,
    )
    return index.to(device), weight.to(device=device, dtype=torch.float64)


def draw_queries(
    labels: torch.Tensor,
    probs: torch.Tensor | None,
    query_classes: list[int],
    sampling: ContrastSampling,
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[int]] | None:
    """Queries r_q of every class: among its hard pixels (MONA Eq. (5), ACTION Eq. (7)).

    A pixel of class c is a hard query when p(c) <= ``threshold`` at that pixel
    (R_q^{c,hard}); with ``hard_queries=False`` every pixel of class c is a candidate
    (R_q^c of MONA Eq. (4)). A class with no candidate this step contributes nothing.

    Args:
        labels: [B, *spatial] int64, -1 = ignore.
        probs: [B, C, *spatial] probabilities (``None`` only when ``hard_queries=False``).
        query_classes: the classes to draw queries for, ascending.
        sampling: ``num_queries``, ``hard_queries``, ``threshold``, ``sampler``, ``grid``.
        generator: the source of randomness.

    Returns:
        (query_index [Q], query_class [Q], query_weight [Q] float64, classes that got
        queries), or ``None`` when no class did.
    """
    device = labels.device
    indices, query_class, weights, classes = [], [], [], []
    for c in query_classes:
        candidates = labels == c
        if sampling.hard_queries:
            candidates = candidates & (probs[:, c] <= sampling.threshold)
        index, weight = draw_class_pixels(
            candidates, sampling.num_queries, sampler=sampling.sampler, grid=sampling.grid, generator=generator
        )
        if index.numel() == 0:
            continue  # no hard query in class c this step
        indices.append(index)
        weights.append(weight)
        query_class.append(torch.full((index.numel(),), c, dtype=torch.int64, device=device))
        classes.append(c)
    if not classes:
        return None
    return torch.cat(indices), torch.cat(query_class), torch.cat(weights), classes


def draw_key_pool(
    labels: torch.Tensor,
    key_classes: list[int],
    present_classes: set[int],
    bank_counts: list[int],
    memory_size: int,
    sampling: ContrastSampling,
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The shared pool of negative keys r_k^- (MONA Eq. (4), ACTION Eq. (5): R_k^c).

    Fresh keys first: for every key class present in the batch, ``key_pool_size`` pixels
    through the sampler (every pixel of the class when ``num_negatives`` is ``None``);
    then, for every key class, its ``bank_counts[v]`` memory-bank entries.

    Args:
        labels: [B, *spatial] int64, -1 = ignore.
        key_classes: the classes keys are taken from, ascending.
        present_classes: the classes present in the batch.
        bank_counts: [C] entries stored per class in the memory bank.
        memory_size: bank slots per class (0 without a bank).
        sampling: ``num_negatives``, ``key_pool_size``, ``sampler``, ``grid``.
        generator: the source of randomness.

    Returns:
        (key_pixel_index [P_f], key_memory_index [P_m], key_class [P_f + P_m]), int64.
    """
    device = labels.device
    pool_size = None if sampling.num_negatives is None else sampling.key_pool_size
    fresh_index, fresh_class = [], []
    for v in key_classes:
        if v not in present_classes:
            continue  # known only from the memory bank
        index, _ = draw_class_pixels(labels == v, pool_size, sampler=sampling.sampler, grid=sampling.grid,
                                     generator=generator)
        fresh_index.append(index)
        fresh_class.append(torch.full((index.numel(),), v, dtype=torch.int64, device=device))
    memory_index, memory_class = [], []
    for v in key_classes:
        stored = bank_counts[v]
        memory_index.append(v * memory_size + torch.arange(stored, device=device))
        memory_class.append(torch.full((stored,), v, dtype=torch.int64, device=device))
    empty = torch.zeros(0, dtype=torch.int64, device=device)
    key_pixel_index = torch.cat(fresh_index) if fresh_index else empty
    key_memory_index = torch.cat(memory_index) if memory_index else empty
    key_class = torch.cat(fresh_class + memory_class) if (fresh_class or memory_class) else empty
    return key_pixel_index, key_memory_index, key_class


def draw_contrast(
    labels: torch.Tensor,
    probs: torch.Tensor | None,
    class_means: torch.Tensor,
    num_classes: int,
    sampling: ContrastSampling,
    memory: torch.Tensor | None = None,
    memory_count: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> ContrastDraw:
    """All index selection of one step: queries, key pool and negatives (no gradients).

    Args:
        labels: [B, *spatial] int64, -1 = ignore.
        probs: [B, C, *spatial] or ``None`` (only when ``hard_queries=False``).
        class_means: [C, D] batch class means (rows of absent classes unused).
        num_classes: C.
        sampling: the loss's sampling settings.
        memory: [C, M, D] memory bank, or ``None``.
        memory_count: [C] int64 entries stored per class (with ``memory``).
        generator: a ``torch.Generator`` for reproducible draws.
    """
    device = labels.device
    flat_labels = labels.reshape(-1)
    present = torch.bincount(flat_labels[flat_labels >= 0], minlength=num_classes) > 0
    if memory is not None:
        bank_count = memory_count.to(device)
    else:
        bank_count = torch.zeros(num_classes, dtype=torch.int64, device=device)
    available = present | (bank_count > 0)  # classes that can give negatives
    present_list = present.nonzero().flatten().tolist()
    available_list = available.nonzero().flatten().tolist()

    # 1. a class is queried when another class can give it negatives
    query_classes = [c for c in present_list if any(v != c for v in available_list)]
    # 2. queries
    queries = draw_queries(labels, probs, query_classes, sampling, generator)
    if queries is None:
        empty = torch.zeros(0, dtype=torch.int64, device=device)
        return ContrastDraw(empty, empty, empty.double(), empty, empty, empty, None, [])
    query_index, query_class, query_weight, classes = queries
    # 3. key pool: the classes that are a negative of some query class
    key_classes = [v for v in available_list if any(c != v for c in classes)]
    memory_size = 0 if memory is None else memory.shape[1]
    key_pixel_index, key_memory_index, key_class = draw_key_pool(
        labels, key_classes, set(present_list), bank_count.tolist(), memory_size, sampling, generator
    )
    # 4. negatives (exact mode: every pool entry of another class, chosen in the loss)
    negative_index = None
    if sampling.num_negatives is not None:
        graph_means = torch.where(
            present[:, None], class_means.detach().float(), bank_class_means(memory, memory_count, num_classes, device)
        )
        negative_index = draw_negatives(
            query_class, key_class, key_classes, graph_means, sampling.num_negatives, generator
        )
    return ContrastDraw(
        query_index, query_class, query_weight, key_pixel_index, key_memory_index, key_class,
        negative_index, classes,
    )
