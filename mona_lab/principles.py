"""Looking inside MONA's three principles on real features (notebooks 02-04).

Each function takes a trained network (``TrainResult.method.student``, a
`mona_lab.models.SegmentationNetwork`) and a batch, runs the same loss modules the
training recipe uses, and returns what happened inside them as tensors the notebooks
plot:

- tailness (MONA TPAMI 2024 Eq. 3-5): `inspect_pixel_contrast` -- which pixels the
  hard-query rule picks, class means (positive keys, Eq. 4), the class-relation graph G and
  the negative-class distribution softmax(G[c, .]) it induces, the per-class loss of Eq. 3;
  with the hard-query rule (tailness) and with uniform queries among all class pixels;
- consistency (Eq. 6): `equivariance_maps` -- T(F(x)) against F(T(x)) per pixel for an
  affine or a deformation T, and `view_dice` -- how well a model segments weak and strong
  views (the augmentation pairs of Table IV);
- diversity (Sec. III-B "Diversity", Fig. 9): `global_embeddings`, `retrieve_neighbours`
  (the K nearest teacher embeddings in a FIFO bank, as L_nn finds them) and
  `neighbour_agreement`, and `relation_entropy` for the mined-view set size of Eq. 1-2.

The model's own softmax stands in for the teacher's probabilities (in training they come
from the EMA teacher, which after a short run is almost the same network).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from mona_lab.augment import (
    AugmentedView,
    StrongAugmentConfig,
    sample_spatial_transform,
    strong_view,
    weak_view,
)
from mona_lab.losses import EquivarianceLoss, NearestNeighbourLoss
from mona_lab.losses.anatomical_contrast import (
    AnatomicalContrastLoss,
    ContrastDraw,
    negative_class_distribution,
    pixel_statistics,
)
from mona_lab.methods.views import resize_labels_nearest, resize_probabilities


def _check_batch(images: torch.Tensor, labels: torch.Tensor | None = None) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 1:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be [B, 1, S, S], got {shape}")
    if labels is not None and (labels.dim() != 3 or labels.shape[0] != images.shape[0] or labels.shape[1:] != images.shape[2:]):
        raise ValueError(f"labels must be [B, S, S] matching images {tuple(images.shape)}, got {tuple(labels.shape)}")


# =========================================================================== tailness
@dataclass
class ContrastInspection:
    """Everything one pixel-contrast step sees, for one batch.

    Attributes:
        grid_size: (h, w) of the representation grid the contrast works on.
        scale: image pixels per grid cell (S / h).
        labels: [B, h, w] ground truth on the grid (nearest).
        probs: [B, C, h, w] the model's class probabilities on the grid (area-resized).
        class_means: [C, D] means of the normalised embeddings (positive keys, Eq. 4).
        counts: [C] grid pixels per class.
        hard_share: [C] share of each class's pixels that are hard (p_c <= threshold, Eq. 5).
        graph: [C, C] class-relation graph G[p, q] = mean_p . mean_q.
        negative_distribution: [C, C] rows softmax(G[c, v]) over v != c (Sec. III-B).
        draws: ``{"hard": ContrastDraw, "uniform": ContrastDraw}`` -- with the hard-query
            rule (tailness) and with queries drawn among all pixels of a class.
        class_loss: ``{"hard": [C], "uniform": [C]}`` per-class Eq. 3 loss (NaN where a
            class gave no query).
        loss: ``{"hard": float, "uniform": float}`` the loss as training computes it.
    """

    grid_size: tuple[int, int]
    scale: float
    labels: torch.Tensor
    probs: torch.Tensor
    class_means: torch.Tensor
    counts: torch.Tensor
    hard_share: torch.Tensor
    graph: torch.Tensor
    negative_distribution: torch.Tensor
    draws: dict[str, ContrastDraw]
    class_loss: dict[str, np.ndarray]
    loss: dict[str, float]

    def query_counts(self, rule: str) -> np.ndarray:
        """[C] queries drawn per class under ``rule`` (``"hard"`` or ``"uniform"``)."""
        draw = self.draws[rule]
        return np.bincount(draw.query_class.cpu().numpy(), minlength=self.counts.numel())

    def query_confidence(self, rule: str) -> np.ndarray:
        """[C] mean probability of its own class over each class's queries (NaN if none)."""
        draw = self.draws[rule]
        b, y, x = self.query_positions(rule, in_pixels=False)
        own = self.probs[b, draw.query_class.cpu(), y, x].numpy()
        cls = draw.query_class.cpu().numpy()
        return np.array([own[cls == c].mean() if np.any(cls == c) else np.nan for c in range(self.counts.numel())])

    def query_positions(self, rule: str, in_pixels: bool = True):
        """(batch index, row, column) of every query; rows/columns are image-pixel centres
        when ``in_pixels`` (for overlays), else grid indices."""
        index = self.draws[rule].query_index.cpu()
        h, w = self.grid_size
        b, rest = index // (h * w), index % (h * w)
        y, x = rest // w, rest % w
        if in_pixels:
            return b, (y.double() + 0.5) * self.scale - 0.5, (x.double() + 0.5) * self.scale - 0.5
        return b, y, x

    def negative_class_histogram(self, rule: str = "hard") -> np.ndarray:
        """[C, C] share of each query class's negatives that came from each class (the
        empirical counterpart of ``negative_distribution``; rows of classes without
        queries are zero)."""
        draw = self.draws[rule]
        c = self.counts.numel()
        out = np.zeros((c, c))
        if draw.negative_index is None or draw.negative_index.numel() == 0:
            return out
        neg_class = draw.key_class[draw.negative_index].cpu().numpy()  # [Q, K]
        q_class = draw.query_class.cpu().numpy()
        for k in np.unique(q_class):
            row = np.bincount(neg_class[q_class == k].ravel(), minlength=c).astype(float)
            out[k] = row / row.sum()
        return out


def _class_subdraw(draw: ContrastDraw, c: int) -> ContrastDraw:
    keep = draw.query_class == c
    return replace(
        draw,
        query_index=draw.query_index[keep],
        query_class=draw.query_class[keep],
        query_weight=draw.query_weight[keep],
        negative_index=None if draw.negative_index is None else draw.negative_index[keep],
        classes=[c],
    )


@torch.no_grad()
def inspect_pixel_contrast(
    model,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    num_queries: int = 64,
    num_negatives: int = 128,
    threshold: float = 0.97,
    temperature: float = 0.5,
    sampler: str = "ns",
    seed: int = 0,
) -> ContrastInspection:
    """Run MONA's pixel contrast (Eq. 3-5) on a trained model's features and keep every draw.

    The same `AnatomicalContrastLoss` the training recipe uses is called twice with the
    same random stream: with ``hard_queries=True`` (tailness: queries among pixels whose
    own-class probability is <= ``threshold``, Eq. 5) and ``hard_queries=False`` (queries
    among all pixels of the class). Labels are the ground truth here (training uses ground
    truth on labelled rows and teacher pseudo-labels elsewhere).

    Args:
        model: a `SegmentationNetwork` with a representation head, in any mode (put in eval here).
        images: [B, 1, S, S]; labels: [B, S, S] int64.
        num_queries, num_negatives, threshold, temperature, sampler: as in `AnatomicalContrastLoss`.
        seed: seed of the draws.

    Returns:
        a `ContrastInspection`.

    Raises:
        ValueError: mis-shaped inputs, or a model without a representation head.
    """
    _check_batch(images, labels)
    was_training = model.training
    model.eval()
    try:
        out = model(images, heads=("representation",))
    finally:
        model.train(was_training)
    if out.representation is None:
        raise ValueError("the model has no representation head (build it with heads=('representation',))")
    features = out.representation.float()
    size = tuple(features.shape[-2:])
    grid_labels = resize_labels_nearest(labels.long(), size)
    probs = resize_probabilities(out.logits.float().softmax(dim=1), size)
    num_classes = probs.shape[1]
    flat = features.reshape(features.shape[0], features.shape[1], -1)
    statistics = pixel_statistics(flat, grid_labels.reshape(grid_labels.shape[0], -1), num_classes)
    means, counts = statistics.means, statistics.counts.long()
    present = counts > 0
    distribution = negative_class_distribution(means, present)
    own = probs.gather(1, grid_labels.clamp_min(0)[:, None])[:, 0]
    hard_share = torch.stack([
        ((own <= threshold) & (grid_labels == c)).sum() / (grid_labels == c).sum().clamp_min(1) for c in range(num_classes)
    ])  # fmt: skip
    draws, class_loss, loss = {}, {}, {}
    for rule, hard in (("hard", True), ("uniform", False)):
        contrast = AnatomicalContrastLoss(
            num_queries=num_queries, num_negatives=num_negatives, threshold=threshold,
            hard_queries=hard, temperature=temperature, sampler=sampler,
        ).eval()  # fmt: skip
        generator = torch.Generator(device=features.device).manual_seed(int(seed))
        loss[rule] = float(contrast(features, grid_labels, probs, generator=generator))
        draw = contrast.last_draw
        draws[rule] = draw
        per_class = np.full(num_classes, np.nan)
        for c in draw.classes:
            per_class[c] = float(contrast.loss_from_draw(flat, statistics, _class_subdraw(draw, c), temperature))
        class_loss[rule] = per_class
    return ContrastInspection(
        grid_size=(int(size[0]), int(size[1])),
        scale=images.shape[-1] / size[0],
        labels=grid_labels.cpu(),
        probs=probs.cpu(),
        class_means=means.cpu(),
        counts=counts.cpu(),
        hard_share=hard_share.cpu(),
        graph=(means @ means.T).cpu(),
        negative_distribution=distribution.cpu(),
        draws={k: _draw_to_cpu(v) for k, v in draws.items()},
        class_loss=class_loss,
        loss=loss,
    )


def boundary_mask(labels: torch.Tensor) -> torch.Tensor:
    """[B, H, W] bool: pixels with a differently labelled pixel in their 3 x 3 neighbourhood."""
    padded = F.pad(labels[:, None].float(), (1, 1, 1, 1), mode="replicate")
    high = F.max_pool2d(padded, 3, stride=1)[:, 0]
    low = -F.max_pool2d(-padded, 3, stride=1)[:, 0]
    return high != low


def soft_label_probabilities(labels: torch.Tensor, num_classes: int, sigma: float = 1.0, peak: float = 0.995) -> torch.Tensor:
    """A stand-in for a trained model's probabilities [B, C, H, W]: one-hot labels blurred
    by a Gaussian of ``sigma`` pixels and scaled so the inside of a structure has
    probability ``peak`` -- confident inside, unsure at boundaries and on thin structures."""
    radius = max(1, int(math.ceil(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    one_hot = F.one_hot(labels.long(), num_classes).permute(0, 3, 1, 2).float()
    c = num_classes
    along_x = kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1)
    along_y = kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1)
    blurred = F.conv2d(F.pad(one_hot, (radius, radius, 0, 0), mode="replicate"), along_x, groups=c)  # separable
    blurred = F.conv2d(F.pad(blurred, (0, 0, radius, radius), mode="replicate"), along_y, groups=c)
    return blurred * peak + (1 - peak) / c


def query_allocation(
    labels: torch.Tensor, probs: torch.Tensor, *, num_queries: int = 64, threshold: float = 0.97, seed: int = 0
) -> dict[str, np.ndarray]:
    """Where the query budget goes under three rules, per class [C] (MONA Eq. 3-5):

    - ``"uniform"``: ``num_queries x (classes present)`` pixels drawn uniformly over the
      image (what plain pixel contrast would do; notebook 01);
    - ``"per_class"``: ``num_queries`` per class among all its pixels (Eq. 3's sum over c);
    - ``"hard"``: ``num_queries`` per class among its hard pixels only (Eq. 5, tailness).

    Returns ``{"pixels": share of pixels, rule: query counts, rule + "_boundary": share of
    the rule's queries on a boundary pixel, rule + "_confidence": mean own-class
    probability of its queries}`` (NaN where a class got no query). Draws come from the
    same `AnatomicalContrastLoss.draw` the training uses.
    """
    if probs.dim() != 4 or probs.shape[0] != labels.shape[0] or probs.shape[2:] != labels.shape[1:]:
        raise ValueError(f"probs must be [B, C, H, W] matching labels {tuple(labels.shape)}, got {tuple(probs.shape)}")
    c = probs.shape[1]
    flat = labels.reshape(-1)
    edge = boundary_mask(labels).reshape(-1)
    own = probs.gather(1, labels.long().clamp_min(0)[:, None])[:, 0].reshape(-1)
    present = torch.bincount(flat[flat >= 0], minlength=c)
    out: dict[str, np.ndarray] = {"pixels": (present / present.sum()).numpy()}
    generator = torch.Generator().manual_seed(int(seed))
    total = num_queries * int((present > 0).sum())
    picks = {"uniform": torch.randint(0, flat.numel(), (total,), generator=generator)}
    for rule, hard in (("per_class", False), ("hard", True)):
        loss = AnatomicalContrastLoss(num_queries=num_queries, num_negatives=1, threshold=threshold, hard_queries=hard)
        draw = loss.draw(labels.long(), probs, torch.zeros(c, 1), c, generator)
        picks[rule] = draw.query_index
    for rule, index in picks.items():
        cls = flat[index]
        out[rule] = np.bincount(cls.numpy(), minlength=c)
        on_edge, confidence = edge[index].float(), own[index]
        out[rule + "_boundary"] = np.array([on_edge[cls == k].mean().item() if (cls == k).any() else np.nan for k in range(c)])
        out[rule + "_confidence"] = np.array([confidence[cls == k].mean().item() if (cls == k).any() else np.nan for k in range(c)])
    return out


def _draw_to_cpu(draw: ContrastDraw) -> ContrastDraw:
    moved = {f: getattr(draw, f).cpu() for f in ("query_index", "query_class", "query_weight", "key_pixel_index",
                                               "key_memory_index", "key_class")}  # fmt: skip
    negative = None if draw.negative_index is None else draw.negative_index.cpu()
    return replace(draw, negative_index=negative, **moved)


# =========================================================================== consistency
def deformation_view(
    images: torch.Tensor, generator: torch.Generator, std: float = 0.03, control_points: int = 6
) -> AugmentedView:
    """A diffeomorphic deformation alone (no rotation, crop, flip or intensity change):
    MONA's "morphological changes" part of the strong view, exaggerated by ``std`` so it
    shows at 64 px."""
    _check_batch(images)
    config = StrongAugmentConfig(
        rotation_degrees=0.0, crop_scale=(1.0, 1.0), flip_prob=0.0, deformation_prob=1.0,
        deformation_std=std, deformation_control_points=control_points,
    )  # fmt: skip
    b, _, h, w = images.shape
    transform = sample_spatial_transform(b, (h, w), generator, config, images.device)
    return AugmentedView(transform.apply(images), None, transform, transform.valid_mask())


def affine_view(images: torch.Tensor, generator: torch.Generator) -> AugmentedView:
    """A random rotation, crop and flip: the T that MONA's L_eqv uses in mona_lab (`weak_view`)."""
    _check_batch(images)
    return weak_view(images, None, generator)


@torch.no_grad()
def equivariance_maps(model, images: torch.Tensor, view: AugmentedView) -> dict[str, torch.Tensor | float]:
    """T(F(x)) against F(T(x)) for one transform T (MONA Eq. 6).

    Args:
        model: a network returning ``.logits`` (or any callable ``x -> [B, C, S, S]`` logits).
        images: [B, 1, S, S] the untransformed x.
        view: the `AugmentedView` T(x) of ``images`` (from `affine_view`, `deformation_view`...).

    Returns:
        ``{"T_of_F": [B, C, S, S] probabilities, "F_of_T": [B, C, S, S] probabilities,
        "kl_map": [B, S, S] symmetric KL per pixel (0 outside the valid mask),
        "valid": [B, S, S] bool, "loss": float}`` -- ``loss`` is `EquivarianceLoss` exactly
        as training computes it.
    """
    _check_batch(images)
    logits_x = _logits(model, images)
    logits_tx = _logits(model, view.images)
    moved = view.apply_to_outputs(logits_x)
    loss = float(EquivarianceLoss()(moved, logits_tx, valid_mask=view.valid_mask))
    log_p, log_q = F.log_softmax(moved.float(), dim=1), F.log_softmax(logits_tx.float(), dim=1)
    kl_map = ((log_p.exp() - log_q.exp()) * (log_p - log_q)).sum(dim=1) * view.valid_mask
    return {"T_of_F": log_p.exp(), "F_of_T": log_q.exp(), "kl_map": kl_map, "valid": view.valid_mask, "loss": loss}


def _logits(model, images: torch.Tensor) -> torch.Tensor:
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        out = model(images)
    finally:
        if hasattr(model, "train"):
            model.train(was_training)
    return out.logits if hasattr(out, "logits") else out


def augmented_view(images: torch.Tensor, labels: torch.Tensor, kind: str, generator: torch.Generator) -> AugmentedView:
    """``kind="weak"`` (rotation, crop, flip) or ``"strong"`` (those plus deformation,
    contrast, brightness and CutMix) view of a labelled batch (MONA Sec. IV-B, Table IV)."""
    if kind == "weak":
        return weak_view(images, labels, generator)
    if kind == "strong":
        return strong_view(images, labels, generator)
    raise ValueError(f"kind must be 'weak' or 'strong', got {kind!r}")


@torch.no_grad()
def view_dice(model, images: torch.Tensor, labels: torch.Tensor, kind: str, *, repeats: int = 4, seed: int = 0) -> np.ndarray:
    """Per-class Dice [C-1] of a model's prediction on ``kind`` views of a labelled batch,
    against the labels moved with the view (valid pixels only), pooled over ``repeats``
    random views. How good a pseudo-label from that view is (teacher side of Table IV) and
    how hard the view is to segment (student side)."""
    _check_batch(images, labels)
    generator = torch.Generator(device=images.device).manual_seed(int(seed))
    num_classes = None
    inter = union = None
    for _ in range(repeats):
        view = augmented_view(images, labels.long(), kind, generator)
        logits = _logits(model, view.images)
        num_classes = logits.shape[1]
        pred = logits.max(dim=1).indices
        valid = view.valid_mask
        if inter is None:
            inter, union = torch.zeros(num_classes), torch.zeros(num_classes)
        for c in range(1, num_classes):
            p, g = (pred == c) & valid, (view.labels == c) & valid
            inter[c] += (p & g).sum().cpu()
            union[c] += (p.sum() + g.sum()).cpu()
    dice = torch.where(union > 0, 2 * inter / union.clamp_min(1), torch.ones_like(union))
    return dice[1:].numpy()


# =========================================================================== diversity
@torch.no_grad()
def global_embeddings(model, images: torch.Tensor, head: str = "global_projection", batch_size: int = 32) -> torch.Tensor:
    """L2-normalised global embeddings [N, P] of ``images`` [N, 1, S, S].

    ``head="global_projection"`` is the teacher's v'_g (what the bank stores);
    ``"global_prediction"`` the student's u_g (what queries the bank).
    """
    _check_batch(images)
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
