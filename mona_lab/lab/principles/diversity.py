"""Diversity: the nearest-neighbour term's retrievals (MONA TPAMI 2024 Sec. III-B "Diversity", Fig. 9; notebook 04).

`global_embeddings` computes the global embeddings the FIFO bank stores and queries;
`retrieve_neighbours` finds the K nearest bank entries exactly as L_nn does;
`neighbour_agreement` (against the chance level `random_agreement`) says whether the
retrieved slices show the same anatomy; `relation_entropy` shows how the relational target
of Eq. 1-2 sharpens or flattens with the mined-view set size.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from mona_lab.lab.principles.batch import check_batch
from mona_lab.losses import NearestNeighbourLoss


@torch.no_grad()
def global_embeddings(model, images: torch.Tensor, head: str = "global_projection", batch_size: int = 32) -> torch.Tensor:
    """L2-normalised global embeddings [N, P] of ``images`` [N, 1, S, S].

    ``head="global_projection"`` is the teacher's v'_g (what the bank stores);
    ``"global_prediction"`` the student's u_g (what queries the bank).
    """
    check_batch(images)
    if head not in ("global_projection", "global_prediction"):
        raise ValueError(f"head must be 'global_projection' or 'global_prediction', got {head!r}")
    was_training = model.training
    model.eval()
    try:
        parts = []
        for start in range(0, images.shape[0], batch_size):
            out = model(images[start : start + batch_size], heads=(head,))
            value = out.global_embedding if head == "global_projection" else out.global_prediction
            if value is None:
                raise ValueError(f"the model has no {head} head")
            parts.append(F.normalize(value.float(), dim=1))
    finally:
        model.train(was_training)
    return torch.cat(parts)


def retrieve_neighbours(queries: torch.Tensor, bank: torch.Tensor, k: int = 5) -> torch.Tensor:
    """Indices [Q, K] into ``bank`` [M, P] of each query's K nearest entries by cosine
    similarity, found exactly as MONA's L_nn finds them (`NearestNeighbourLoss` with a FIFO
    bank of capacity M holding ``bank``)."""
    if queries.dim() != 2 or bank.dim() != 2 or queries.shape[1] != bank.shape[1]:
        raise ValueError(f"queries [Q, P] and bank [M, P] must share P, got {tuple(queries.shape)} and {tuple(bank.shape)}")
    loss = NearestNeighbourLoss(dim=bank.shape[1], bank_size=bank.shape[0], num_neighbours=k)
    loss.enqueue(bank)
    return loss.neighbour_indices(queries)


def class_presence(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """[N, C-1] bool: which foreground classes appear in each label map [N, S, S]."""
    return torch.stack([(labels == c).flatten(1).any(dim=1) for c in range(1, num_classes)], dim=1)


def neighbour_agreement(query_labels: torch.Tensor, bank_labels: torch.Tensor, index: torch.Tensor, num_classes: int) -> float:
    """Mean Jaccard index between the foreground classes present in each query slice and in
    each of its retrieved neighbours (1 = same anatomy content, e.g. both mid-ventricular
    with papillary muscles). Two slices with no foreground agree perfectly."""
    q = class_presence(query_labels, num_classes)  # [Q, C-1]
    b = class_presence(bank_labels, num_classes)[index]  # [Q, K, C-1]
    inter = (q[:, None] & b).sum(-1).float()
    union = (q[:, None] | b).sum(-1).float()
    return float(torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union)).mean())


def random_agreement(query_labels: torch.Tensor, bank_labels: torch.Tensor, num_classes: int) -> float:
    """`neighbour_agreement` when every bank entry is a neighbour (the chance level)."""
    index = torch.arange(bank_labels.shape[0]).expand(query_labels.shape[0], -1)
    return neighbour_agreement(query_labels, bank_labels, index, num_classes)


def relation_entropy(queries: torch.Tensor, mined: torch.Tensor, temperature: float) -> float:
    """Mean entropy (nats) of softmax_j(sim(q, w_j) / temperature) over the mined views
    w_1..w_k (MONA Eq. 1-2); ``log k`` is the uniform maximum. Shows how the relational
    target sharpens or flattens as the mined-view set grows (Fig. 9(b))."""
    if queries.dim() != 2 or mined.dim() != 2 or queries.shape[1] != mined.shape[1]:
        raise ValueError(f"queries [N, P] and mined [k, P] must share P, got {tuple(queries.shape)} and {tuple(mined.shape)}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logits = F.normalize(queries.float(), dim=1) @ F.normalize(mined.float(), dim=1).T / temperature
    log_p = F.log_softmax(logits, dim=1)
    return float(-(log_p.exp() * log_p).sum(dim=1).mean())
