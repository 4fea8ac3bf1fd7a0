"""Anatomical pixel contrast: MONA's "tailness" loss, ACTION's AnCo, ARCO's sampled estimate.

MONA (You et al., CVPR 2023 Eq. 3.3-3.5; TPAMI 2024 Eq. 3-5) and ACTION (You et al.,
"anatomical-aware contrastive distillation", AnCo, Eq. 4-7) sample, for every class c of
the mini-batch, query embeddings r_q among the pixels of class c, pull each towards the
class-mean embedding r_k^{c,+} (positive key) and push it from negative keys r_k^- of
other classes::

    L = sum_c sum_{r_q ~ R_q^c} -log( exp(r_q.r_k^{c,+}/tau)
                                     / (exp(r_q.r_k^{c,+}/tau) + sum_{r_k^- ~ R_k^c} exp(r_q.r_k^-/tau)) )

with R_q^c the class-c pixels, R_k^c the pixels of other classes and r_k^{c,+} the mean of
R_q^c (Eq. 4 / ACTION Eq. 5). Two "active sampling" rules (MONA Sec. III-B, ACTION Eq. 6-7):

- negative classes: the class relation graph G[p, q] = r_k^{p,+} . r_k^{q,+} (p != q) is
  turned into a distribution exp(G[c, v]) / sum_{n != c} exp(G[c, n]) over the classes v a
  negative of a class-c query is drawn from; then a pixel of class v is drawn;
- hard queries: a class-c pixel is a hard query when its predicted probability of class c
  is <= the threshold (0.97); queries are drawn among hard pixels only ("tailness").

ARCO (NeurIPS 2023, Sec. 3.3) replaces the uniform draws by stratified (SG) or
stratified-antithetic (SAG) group sampling; every draw here goes through
`mona_lab.samplers.sample_pixels`, whose weights make the weighted mean an unbiased
estimate of the mean over the class (ARCO Eq. 3.1 and Theorem 3.2).

The module is split by idea, each part readable on its own:

- `mona_lab.losses.contrast_draw`: the random choices of one step (queries, key pool,
  negatives), `ContrastDraw`;
- `mona_lab.losses.relation_graph`: the class relation graph and the negative draw it steers;
- `mona_lab.losses.pixel_statistics`: per-pixel norms, class means (the positive keys) and
  row gathers, with fused, deterministic backwards;
- `mona_lab.losses.class_memory_bank`: MONA's class-aware memory bank;
- `mona_lab.losses.contrast_checks`: argument and shape checks;
- here: `AnatomicalContrastLoss`, the ``nn.Module`` whose ``forward`` is a draw followed
  by the InfoNCE loss on that draw (`AnatomicalContrastLoss.loss_from_draw`).

Choices where the papers leave room (each tested in tests/test_loss_anatomical_contrast.py;
the choices of the draws are listed in `mona_lab.losses.contrast_draw`):

- Normalisation: embeddings are L2-normalised per pixel; the positive key is the plain
  mean of the normalised class embeddings (Eq. 4, not re-normalised) and carries gradient
  (no stop-gradient is printed; ``detach_positive=True`` gives the stop-gradient variant).
- Confidence: y_hat_q is the probability of class c at the query's pixel (ACTION Eq. 7:
  "the predicted confidence of label c"), not the maximum probability.
- A class with no hard query contributes nothing at that step (the principle samples hard
  pixels only); ``hard_queries=False`` samples among all pixels of the class (a plain,
  ReCo-style pixel contrast without hard-query mining; the MONA ablation "without
  tailness" in `mona_lab.methods.Mona` drops the whole pixel contrast instead, since MONA
  Tables III/VI switch L_contrast on and off as the tailness principle).
- Reduction: per class, the loss is the sampler-weighted mean over its queries (weights sum
  to 1 per class, so with NS it is the plain mean and with SG/SAG the unbiased ARCO
  estimate of the class mean); the loss is the mean over the classes that contributed.
  Eq. 3's plain double sum differs from this only by the constant factor (#classes x #queries).
- Negatives enter the denominator unweighted, as Eq. 3 prints a plain sum; the
  similarities are one [queries x pool] matrix product followed by a gather of
  [queries x negatives] entries.
- Cost: see `mona_lab.losses.pixel_statistics`; no normalised copy of the features is made.
- Memory bank (``memory_size`` > 0): updated after the loss, in training mode only; it
  lives in buffers, so ``state_dict()`` saves it and a resumed run continues exactly.
- Edge cases: a class absent from the batch, a class with no other class to contrast with,
  or a batch with every pixel ignored contributes nothing; with no contribution at all the
  loss is ``0 * features.sum()``: zero, finite, and connected to ``features``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mona_lab.losses.class_memory_bank import push_to_memory_bank
from mona_lab.losses.contrast_checks import (
    SettableTemperature,
    check_contrast_inputs,
    check_contrast_settings,
    check_temperature,
)
from mona_lab.losses.contrast_draw import ContrastDraw, ContrastSampling, draw_contrast
from mona_lab.losses.pixel_statistics import PixelStatistics, class_means_and_rows, pixel_statistics


class AnatomicalContrastLoss(SettableTemperature, nn.Module):
    """Pixel contrast with class-mean positives and graph-guided negatives (MONA Eq. 3-5, ACTION Eq. 4-7).

    ACTION++ restates the same loss as its Eq. 2 (L_anco). See the module docstring for the
    equations and every choice made where the papers leave room.

    Args:
        num_classes: C; needed up front only with a memory bank (buffer shapes), otherwise
            taken from ``probs`` (or ``labels.max() + 1`` when ``probs`` is ``None``).
        embed_dim: D; needed only with a memory bank.
        num_queries: queries drawn per class (256); ``None``: every candidate pixel.
        num_negatives: negatives per query (512); ``None``: every key of another class.
        key_pool_size: fresh keys drawn per class for the shared key pool (defaults to
            ``num_negatives``).
        threshold: delta_theta, hard queries have p(class c) <= threshold (0.97).
        hard_queries: draw queries among hard pixels only (True) or among all class pixels.
        temperature: tau (0.5); settable attribute, and overridable per call.
        sampler: ``"ns"``, ``"sg"``, ``"sag"`` or ``"block"`` (see `mona_lab.samplers`).
        grid: cells per spatial axis for the grouped samplers (capped at the image size).
        memory_size: bank entries per class (0: no bank).
        memory_push: embeddings pushed per class and step (defaults to ``min(memory_size, 64)``).
        detach_positive: stop the gradient through the class-mean positive key.

    Shapes:
        features: [B, D, H, W] (or [B, D, Z, H, W]) pixel embeddings, any float dtype.
        labels: [B, H, W] (or [B, Z, H, W]) int64 class per pixel, -1 = ignore.
        probs: [B, C, H, W] (or [B, C, Z, H, W]) class probabilities (softmax output);
            may be ``None`` when ``hard_queries=False``.
        returns: scalar.

    Raises:
        ValueError: invalid settings; mismatched shapes or labels outside [-1, C) in forward
            (the message names the shapes).
    """

    def __init__(
        self,
        num_classes: int | None = None,
        embed_dim: int | None = None,
        *,
        num_queries: int | None = 256,
        num_negatives: int | None = 512,
        key_pool_size: int | None = None,
        threshold: float = 0.97,
        hard_queries: bool = True,
        temperature: float = 0.5,
        sampler: str = "ns",
        grid: int | tuple[int, ...] = 4,
        memory_size: int = 0,
        memory_push: int | None = None,
        detach_positive: bool = False,
    ) -> None:
        super().__init__()
        check_contrast_settings(
            num_classes=num_classes, embed_dim=embed_dim, num_queries=num_queries, num_negatives=num_negatives,
            key_pool_size=key_pool_size, threshold=threshold, sampler=sampler, grid=grid,
            memory_size=memory_size, memory_push=memory_push,
        )
        self.num_classes = num_classes
        self.embed_dim = embed_dim
        self.num_queries = num_queries
        self.num_negatives = num_negatives
        self.key_pool_size = key_pool_size if key_pool_size is not None else num_negatives
        self.threshold = float(threshold)
        self.hard_queries = bool(hard_queries)
        self.temperature = temperature
        self.sampler = sampler
        self.grid = grid
        self.memory_size = memory_size
        self.memory_push = min(memory_push or 64, memory_size) if memory_size else 0
        self.detach_positive = bool(detach_positive)
        self.last_draw: ContrastDraw | None = None
        if memory_size > 0:
            self.register_buffer("memory", torch.zeros(num_classes, memory_size, embed_dim))
            self.register_buffer("memory_count", torch.zeros(num_classes, dtype=torch.int64))
            self.register_buffer("memory_pointer", torch.zeros(num_classes, dtype=torch.int64))
        else:
            self.memory = None
            self.memory_count = None
            self.memory_pointer = None

    def extra_repr(self) -> str:
        return (
            f"num_queries={self.num_queries}, num_negatives={self.num_negatives}, "
            f"threshold={self.threshold}, "
            f"hard_queries={self.hard_queries}, temperature={self.temperature}, sampler={self.sampler!r}, "
            f"memory_size={self.memory_size}"
        )

    # ------------------------------------------------------------------ forward = draw + loss on the draw
    def forward(
        self,
        features: torch.Tensor,
        labels: torch.Tensor,
        probs: torch.Tensor | None = None,
        *,
        temperature: float | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """The anatomical contrast loss of one batch (scalar); see the class docstring for shapes.

        Args:
            features: [B, D, *spatial] pixel embeddings (normalised inside).
            labels: [B, *spatial] int64 labels or pseudo-labels, -1 = ignore.
            probs: [B, C, *spatial] probabilities, for hard-query selection.
            temperature: overrides ``self.temperature`` for this call only.
            generator: makes every draw reproducible.
        """
        tau = self.temperature if temperature is None else check_temperature(temperature)
        num_classes = check_contrast_inputs(
            features, labels, probs, num_classes=self.num_classes, embed_dim=self.embed_dim,
            hard_queries=self.hard_queries,
        )
        batch, dim = features.shape[:2]
        flat_features = features.reshape(batch, dim, -1)
        flat_labels = labels.reshape(batch, -1).long()
        statistics = pixel_statistics(flat_features, flat_labels, num_classes)
        draw = self.draw(labels.long(), probs, statistics.means, num_classes, generator)
        self.last_draw = draw
        loss = self.loss_from_draw(flat_features, statistics, draw, tau)
        if self.training and self.memory is not None:
            push_to_memory_bank(  # MONA's class-aware memory bank, after the loss
                self.memory, self.memory_count, self.memory_pointer, flat_features, flat_labels, self.memory_push,
                generator,
            )
        return loss

    def draw(
        self,
        labels: torch.Tensor,
        probs: torch.Tensor | None,
        class_means: torch.Tensor,
        num_classes: int,
        generator: torch.Generator | None = None,
    ) -> ContrastDraw:
        """All index selection of one step: queries, key pool and negatives (no gradients).

        `mona_lab.losses.contrast_draw.draw_contrast` (same Args) with this loss's settings
        and memory bank: hard queries (MONA Eq. (5), ACTION Eq. (7)), negatives through the
        class relation graph (MONA Sec. III-B, ACTION Eq. (6)). Returns a `ContrastDraw`.
        """
        sampling = ContrastSampling(
            num_queries=self.num_queries, num_negatives=self.num_negatives, key_pool_size=self.key_pool_size,
            threshold=self.threshold, hard_queries=self.hard_queries, sampler=self.sampler, grid=self.grid,
        )
        return draw_contrast(labels, probs, class_means, num_classes, sampling, self.memory, self.memory_count,
                             generator)

    def loss_from_draw(
        self, flat_features: torch.Tensor, statistics: PixelStatistics, draw: ContrastDraw, temperature: float
    ) -> torch.Tensor:
        """Eq. 3 on the drawn queries and negatives, vectorised over all classes (MONA Eq. (3), ACTION Eq. (4)).

        The InfoNCE loss on one `ContrastDraw` (ACTION++ Eq. (2) restates it).

        For a query r_q of class c, with positive key r_k^{c,+} and negatives r_k^-::

            l(r_q) = -log( exp(r_q.r_k^{c,+}/tau)
                           / (exp(r_q.r_k^{c,+}/tau) + sum_{r_k^-} exp(r_q.r_k^-/tau)) )
                   = logsumexp([r_q.r_k^{c,+}, r_q.r_k^-_1, ..., r_q.r_k^-_K] / tau) - r_q.r_k^{c,+}/tau

            L = (1 / #classes) sum_c sum_{q of class c} w_q l(r_q)      (w_q: sampler weights)

        Args:
            flat_features: [B, D, S] embeddings.
            statistics: `pixel_statistics` of ``flat_features`` (norms, class means).
            draw: the draws of this step.
            temperature: tau.

        Returns:
            scalar: mean over contributing classes of the weighted mean query loss.
        """
        if not draw.classes:
            return flat_features.sum() * 0.0
        positives, queries, keys = self._embeddings_of_draw(flat_features, statistics, draw)
        # r_q . r_k^{c,+}: each query's class mean as a one-hot [Q, C] x [C, D] product rather
        # than positives[query_class]: the backward of that indexing is an accumulating
        # index_put_, whose CPU sums over the queries of one class depend on the thread
        # schedule (issue 12); a matrix product's backward is another matrix product, the
        # same sums in a fixed order. Forward values are identical (one 1 per row).
        selector = F.one_hot(draw.query_class, positives.shape[0]).to(positives.dtype)
        positive_logit = (queries * (selector @ positives).to(queries.dtype)).sum(dim=1)  # [Q]
        # r_q . r_k^-: one [Q, P] product with the pool, then each query's negatives
        similarity = queries @ keys.T  # [Q, P]
        if draw.negative_index is None:  # exact mode: every pool entry of another class
            same_class = draw.key_class[None, :] == draw.query_class[:, None]
            negative_logit = similarity.masked_fill(same_class, float("-inf"))
        else:
            negative_logit = similarity.gather(1, draw.negative_index)  # [Q, K]
        # l(r_q) = logsumexp(logits / tau) - positive logit / tau
        logits = torch.cat([positive_logit[:, None], negative_logit], dim=1)
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32)) / temperature  # fp16 -> fp32
        per_query = torch.logsumexp(logits, dim=1) - logits[:, 0]
        # L: sampler-weighted sum per class (weights sum to 1), then the mean over classes
        num_classes = positives.shape[0]
        per_class = torch.zeros(num_classes, device=per_query.device, dtype=per_query.dtype)
        weighted = draw.query_weight.to(per_query.dtype) * per_query
        per_class = per_class.index_add(0, draw.query_class, weighted)
        return per_class.sum() / len(draw.classes)

    def _embeddings_of_draw(
        self, flat_features: torch.Tensor, statistics: PixelStatistics, draw: ContrastDraw
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The positive keys r_k^{c,+} [C, D] (MONA Eq. (4)), queries r_q [Q, D] and pool keys [P, D].

        Class means and the rows of queries and fresh keys come with one fused full-size
        backward (`class_means_and_rows`); bank entries are appended to the fresh keys.
        """
        pixels = torch.cat([draw.query_index, draw.key_pixel_index])
        class_means, rows = class_means_and_rows(flat_features, statistics, pixels)
        queries, keys = rows[: draw.query_index.numel()], rows[draw.query_index.numel() :]  # [Q, D], [P_f, D]
        if draw.key_memory_index.numel():
            stored = self.memory.reshape(-1, self.memory.shape[-1])[draw.key_memory_index]
            keys = torch.cat([keys, stored.to(device=keys.device, dtype=keys.dtype)])
        positives = class_means.detach() if self.detach_positive else class_means
        return positives, queries, keys
