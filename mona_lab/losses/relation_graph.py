"""Active sampling of negatives through the class relation graph (MONA Sec. III-B, ACTION Eq. (6)).

To compare a class-c query with the classes it must be told apart from, MONA and ACTION
build the graph of pairwise class relations from the class means (the positive keys)::

    G[p, q] = r_k^{p,+} . r_k^{q,+},   p != q                       (ACTION Eq. (6))

and draw the class v of each negative key of a class-c query from the softmax of row c::

    P(v | c) = exp(G[c, v]) / sum_{n != c} exp(G[c, n]),   v != c

so classes whose mean lies close to class c's (the confusable ones) give more negatives.
A pixel of class v is then drawn as the negative key r_k^- (`draw_negatives`).
"""
from __future__ import annotations

import torch


def class_relation_graph(class_means: torch.Tensor) -> torch.Tensor:
    """ACTION Eq. (6) (MONA Sec. III-B, unnumbered): G[p, q] = r_k^{p,+} . r_k^{q,+}.

    Args:
        class_means: [C, D] class-mean embeddings.

    Returns:
        [C, C] matrix of dot products (the diagonal is not used by the papers).
    """
    if class_means.ndim != 2:
        raise ValueError(f"class_means must be [C, D], got shape {tuple(class_means.shape)}")
    return class_means @ class_means.T


def negative_class_distribution(class_means: torch.Tensor, available: torch.Tensor) -> torch.Tensor:
    """Rows exp(G[c, v]) / sum_{n != c, n available} exp(G[c, n]) (MONA Sec. III-B, ACTION Sec. 2).

    Args:
        class_means: [C, D] class means (rows of unavailable classes are ignored).
        available: [C] bool, the classes negatives can be drawn from.

    Returns:
        [C, C] row-stochastic matrix with zeros on the diagonal and in unavailable columns;
        a row with no available class other than its own is all zeros.
    """
    if available.ndim != 1 or available.shape[0] != class_means.shape[0]:
        raise ValueError(
            f"available must be [C] with C = {class_means.shape[0]}, got shape {tuple(available.shape)}"
        )
    graph = class_relation_graph(class_means.float())
    count = class_means.shape[0]
    allowed = available[None, :] & ~torch.eye(count, dtype=torch.bool, device=class_means.device)
    logits = graph.masked_fill(~allowed, float("-inf"))
    has_any = allowed.any(dim=1, keepdim=True)
    probs = torch.softmax(logits.masked_fill(~has_any, 0.0), dim=1)
    return torch.where(has_any & allowed, probs, torch.zeros_like(probs))


def _uniform(
    shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device, dtype=torch.float32
) -> torch.Tensor:
    """U[0, 1) numbers from ``generator`` (on its own device), moved to ``device``."""
    source = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=source, dtype=dtype).to(device)


def draw_negatives(
    query_class: torch.Tensor,
    key_class: torch.Tensor,
    key_classes: list[int],
    class_means: torch.Tensor,
    num_negatives: int,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Per query, ``num_negatives`` pool entries: class v ~ P(v | c), then a uniform entry of class v.

    P(v | c) is `negative_class_distribution` over the key classes (MONA Sec. III-B,
    ACTION Eq. (6)). One uniform u per negative does both draws: the class v by inverting
    the class CDF at u, then the entry of class v's slot of the pool from the residual
    (u - F(v-1)) / p(v), itself U[0, 1) given v. Draws are with replacement.

    Args:
        query_class: [Q] int64 class c of each query.
        key_class: [P] int64 class of each pool entry.
        key_classes: the classes with entries in the pool.
        class_means: [C, D] class means the graph is built from (detached).
        num_negatives: K, negatives per query.
        generator: the source of randomness.

    Returns:
        [Q, K] int64 pool positions of each query's negatives.
    """
    device = query_class.device
    num_classes = class_means.shape[0]
    has_keys = torch.zeros(num_classes, dtype=torch.bool, device=device)
    has_keys[key_classes] = True
    distribution = negative_class_distribution(class_means, has_keys).double()  # [C, C]
    slot_order = torch.argsort(key_class, stable=True)  # pool positions grouped by class
    slot_size = torch.bincount(key_class, minlength=num_classes)
    slot_start = slot_size.cumsum(0) - slot_size
    probability = distribution[query_class]  # [Q, C], rows of the queries' classes
    cdf = probability.cumsum(dim=1)
    shape = (query_class.numel(), num_negatives)
    u = _uniform(shape, generator, device, torch.float64) * cdf[:, -1:]  # [Q, K]
    # number of CDF steps <= u: the drawn class, never one of probability 0
    negative_class = (u[..., None] >= cdf[:, None, :]).sum(dim=-1).clamp_max(num_classes - 1)
    lower = (cdf - probability).gather(1, negative_class)
    residual = (u - lower) / probability.gather(1, negative_class)  # U[0, 1) given the class
    size = slot_size[negative_class]
    position = (residual * size).long().clamp(min=0).minimum(size - 1)
    return slot_order[slot_start[negative_class] + position]  # [Q, K]
