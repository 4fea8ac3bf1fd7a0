"""Tailness inside MONA's pixel contrast (MONA TPAMI 2024 Eq. 3-5; notebook 02).

`inspect_pixel_contrast` runs the same `AnatomicalContrastLoss` the training recipe uses
on a trained network's features and keeps what happened inside it: which pixels the
hard-query rule picks (Eq. 5), class means (positive keys, Eq. 4), the class-relation graph
G and the negative-class distribution softmax(G[c, .]) it induces, and the per-class loss of
Eq. 3 -- with the hard-query rule (tailness) and with uniform queries among all class
pixels. `query_allocation` shows where the query budget goes under uniform, per-class and
hard-query sampling, on `soft_label_probabilities` when no trained model is at hand.

The model's own softmax stands in for the teacher's probabilities (in training they come
from the EMA teacher, which after a short run is almost the same network).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from mona_lab.lab.principles.batch import check_batch
from mona_lab.losses.anatomical_contrast import AnatomicalContrastLoss
from mona_lab.losses.contrast_draw import ContrastDraw
from mona_lab.losses.pixel_statistics import pixel_statistics
from mona_lab.losses.relation_graph import negative_class_distribution
from mona_lab.methods.views import resize_labels_nearest, resize_probabilities


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
    check_batch(images, labels)
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


def query_picks(
    labels: torch.Tensor, probs: torch.Tensor, *, num_queries: int = 64, threshold: float = 0.97, seed: int = 0
) -> dict[str, torch.Tensor]:
    """The query pixels of the three rules of `query_allocation`, as flat indices into
    ``labels`` ([B, H, W]; index = b*H*W + y*W + x): ``{"uniform", "per_class", "hard"}``.

    ``"uniform"`` draws ``num_queries x (classes present)`` pixels over the whole image;
    ``"per_class"`` and ``"hard"`` call the training's `AnatomicalContrastLoss.draw` with
    ``hard_queries`` off and on (MONA Eq. 3's sum over classes; Eq. 5's rule
    ``p_c <= threshold``). One generator seeded with ``seed`` serves all three.
    """
    if probs.dim() != 4 or probs.shape[0] != labels.shape[0] or probs.shape[2:] != labels.shape[1:]:
        raise ValueError(f"probs must be [B, C, H, W] matching labels {tuple(labels.shape)}, got {tuple(probs.shape)}")
    c = probs.shape[1]
    flat = labels.reshape(-1)
    present = torch.bincount(flat[flat >= 0], minlength=c)
    generator = torch.Generator().manual_seed(int(seed))
    total = num_queries * int((present > 0).sum())
    picks = {"uniform": torch.randint(0, flat.numel(), (total,), generator=generator)}
    for rule, hard in (("per_class", False), ("hard", True)):
        loss = AnatomicalContrastLoss(num_queries=num_queries, num_negatives=1, threshold=threshold, hard_queries=hard)
        picks[rule] = loss.draw(labels.long(), probs, torch.zeros(c, 1), c, generator).query_index
    return picks


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
    c = probs.shape[1]
    picks = query_picks(labels, probs, num_queries=num_queries, threshold=threshold, seed=seed)
    flat = labels.reshape(-1)
    edge = boundary_mask(labels).reshape(-1)
    own = probs.gather(1, labels.long().clamp_min(0)[:, None])[:, 0].reshape(-1)
    present = torch.bincount(flat[flat >= 0], minlength=c)
    out: dict[str, np.ndarray] = {"pixels": (present / present.sum()).numpy()}
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
