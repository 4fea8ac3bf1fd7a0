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

Choices where the papers leave room (each tested in tests/test_loss_anatomical_contrast.py):

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
- Negative draws: each query gets ``num_negatives`` negatives of its own: class v from the
  softmax of G (no temperature, as printed), then an entry of class v's slot of a shared
  *key pool*: ``key_pool_size`` fresh pixels of class v drawn by the sampler plus the
  class-v entries of the memory bank, uniformly. Each negative therefore follows the
  intended distribution, while the similarities are one [queries x pool] matrix product
  followed by a gather of [queries x negatives] entries -- no [queries x negatives x D]
  tensor is formed (see benchmarks/bench_contrast.py). A query's negatives are drawn with
  replacement, so it may meet a pool entry twice (as with direct per-pixel draws with
  replacement); different queries share the pool. Negatives enter the denominator
  unweighted, as Eq. 3 prints a plain sum.
- Cost: besides the [queries x pool] similarities, the only full-size work is one pass for
  the per-pixel norms and class means and one fused backward (`class_means_and_rows`) that
  forms the gradient of the class means and of the gathered rows in a single [B, D, S]
  buffer; no normalised copy of the features is made.
- G is built from the batch class means (detached: it only steers sampling); a class known
  only from the memory bank uses the mean of its bank entries.
- Memory bank (MONA "class-aware memory bank"; ``memory_size`` > 0): a FIFO queue per class
  of detached, normalised embeddings, updated after the loss in training mode with up to
  ``memory_push`` random pixels of each class present. It lives in buffers, so
  ``state_dict()`` saves it and a resumed run continues exactly.
- Exact mode: ``num_queries=None`` takes every candidate pixel as a query (weight 1/n) and
  ``num_negatives=None`` takes every pixel of every other class (and every bank entry) as a
  negative, which is Eq. 3 over the full sets R_q^c, R_k^c -- for small images and tests.
- Determinism: every draw takes its randomness from the ``generator`` argument (a
  ``torch.Generator`` on the data's device, as `sample_pixels` requires); the sampler's
  grid is capped at the image size per axis so tiny images (2 x 2) work with ``grid=4``.
- Edge cases: a class absent from the batch, a class with no other class to contrast with,
  or a batch with every pixel ignored contributes nothing; with no contribution at all the
  loss is ``0 * features.sum()``: zero, finite, and connected to ``features``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mona_lab.samplers import sample_pixels

SAMPLER_CHOICES = ("ns", "sg", "sag", "block")


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


def class_relation_graph(class_means: torch.Tensor) -> torch.Tensor:
    """MONA / ACTION Eq. 6: G[p, q] = r_k^{p,+} . r_k^{q,+}.

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


def _is_positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _is_float_map(value) -> bool:
    return isinstance(value, torch.Tensor) and value.ndim in (4, 5) and value.is_floating_point()


def _is_label_map(value, ndim: int) -> bool:
    return isinstance(value, torch.Tensor) and not value.is_floating_point() and value.ndim == ndim


def _describe(value) -> str:
    return str(tuple(value.shape)) if isinstance(value, torch.Tensor) else type(value).__name__


def fit_grid(grid: int | tuple[int, ...], spatial_shape: tuple[int, ...]) -> int | tuple[int, ...]:
    """Cap the sampler's cells per axis at the image size, so tiny images (e.g. 2 x 2) still work."""
    cells = (grid,) * len(spatial_shape) if isinstance(grid, int) else tuple(grid)
    if len(cells) != len(spatial_shape):
        return grid  # let the sampler report the mismatch
    return tuple(min(int(g), int(size)) for g, size in zip(cells, spatial_shape))


def _add_rows_at_pixels(upstream: torch.Tensor, pixel_index: torch.Tensor, rows: torch.Tensor) -> None:
    """``upstream[b, :, s] += rows[i]`` for every flat index ``pixel_index[i] = b * S + s``
    (repeated pixels add up), in place, with a result that does not depend on the thread count.

    A pixel is often drawn more than once (queries and keys are drawn with replacement and
    a query pixel can be a key too). ``index_put_(..., accumulate=True)`` on a CPU tensor
    sums such repeats in whatever order the threads reach them once the work is large
    enough to be split between threads (PyTorch lists it as nondeterministic on the CPU;
    see ``torch.use_deterministic_algorithms``). Measured with torch 2.13 and two threads:
    the same [4, 512, 256] gradient twice differed by up to 2e-6, and two identical MONA
    runs drifted apart in the 6th-7th digit after a few steps (issue 12).
    Here the repeats are first summed per distinct pixel with ``index_add_`` along dim 0,
    whose CPU kernel adds the source rows of one destination row in index order whatever
    the thread count (threads split the D columns or the destination rows, never one
    element's sum), and the per-pixel sums are then added once each: with distinct
    indices no element of ``upstream`` receives two additions, so their order cannot
    matter. Same maths, and faster than the accumulating ``index_put_`` on the CPU
    (about 10 ms instead of 29 ms for 3840 rows of 512 into [4, 512, 256], one thread).

    Other devices keep ``index_put_(accumulate=True)``: on CUDA it is deterministic under
    ``torch.use_deterministic_algorithms``, which `mona_lab.runtime.seed_everything` sets there.
    """
    spatial = upstream.shape[2]
    channel = torch.arange(upstream.shape[1], device=pixel_index.device)
    if upstream.device.type != "cpu":
        item, position = pixel_index // spatial, pixel_index % spatial
        upstream.index_put_((item[:, None], channel[None, :], position[:, None]), rows, accumulate=True)
        return
    distinct, inverse = torch.unique(pixel_index, return_inverse=True)
    summed = rows.new_zeros((distinct.numel(), rows.shape[1])).index_add_(0, inverse, rows)
    item, position = distinct // spatial, distinct % spatial
    upstream.index_put_((item[:, None], channel[None, :], position[:, None]), summed, accumulate=True)


class _GatherRows(torch.autograd.Function):
    """``flat_features[index // S, :, index % S]`` whose backward adds the row gradients
    with `_add_rows_at_pixels` (deterministic on the CPU) instead of the accumulating
    ``index_put_`` that autograd uses for advanced indexing (not deterministic there)."""

    @staticmethod
    def forward(ctx, flat_features, index):
        spatial = flat_features.shape[2]
        ctx.save_for_backward(index)
        ctx.shape, ctx.dtype = flat_features.shape, flat_features.dtype
        return flat_features[index // spatial, :, index % spatial]

    @staticmethod
    def backward(ctx, grad_rows):
        (index,) = ctx.saved_tensors
        grad = grad_rows.new_zeros(ctx.shape, dtype=ctx.dtype)
        if index.numel():
            _add_rows_at_pixels(grad, index, grad_rows.to(ctx.dtype))
        return grad, None


def _gather_rows(flat_features: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Rows of [B, D, S] features at flat pixel indices b * S + s -> [n, D] (no full copy).

    Differentiable, with a backward that does not depend on the thread count (`_GatherRows`).
    """
    if not (flat_features.requires_grad and torch.is_grad_enabled()):
        spatial = flat_features.shape[2]
        return flat_features[index // spatial, :, index % spatial]
    return _GatherRows.apply(flat_features, index)


@dataclass
class PixelStatistics:
    """Per-pixel inverse norms and per-class statistics of one batch (no gradient).

    Attributes:
        inv_norm: [B, S] 1 / max(||x||, eps) per pixel.
        one_hot: [B, S, C] class indicator in the features' dtype (0 for ignored pixels).
        counts: [C] pixels per class, in the features' dtype.
        means: [C, D] mean of the normalised embeddings per class (MONA Eq. 4).
    """

    inv_norm: torch.Tensor
    one_hot: torch.Tensor
    counts: torch.Tensor
    means: torch.Tensor


@torch.no_grad()
def pixel_statistics(flat_features: torch.Tensor, labels: torch.Tensor, num_classes: int, eps: float = 1e-12):
    """`PixelStatistics` of [B, D, S] features and [B, S] labels (-1 = ignore), without gradient."""
    inv_norm = 1.0 / flat_features.norm(dim=1).clamp_min(eps)
    one_hot = (F.one_hot(labels.clamp_min(0), num_classes) * (labels >= 0)[..., None]).to(flat_features.dtype)
    counts = one_hot.sum(dim=(0, 1))
    sums = torch.bmm(flat_features, one_hot * inv_norm[..., None]).sum(dim=0).T  # [C, D]
    return PixelStatistics(inv_norm, one_hot, counts, sums / counts.clamp_min(1)[:, None])


class _ClassMeansAndRows(torch.autograd.Function):
    """Class means of normalised embeddings and normalised rows at chosen pixels, with one fused backward.

    Autograd through ``F.normalize`` + a matrix product + an indexing op would allocate
    several full-size [B, D, S] gradient buffers (one per op) and add them; here the
    gradient of both outputs is formed in a single buffer: the upstream gradient of every
    normalised embedding r_i (g_{y_i} / n_{y_i} from the means, plus the row gradients
    scattered at their pixels) is pushed through d r_i / d x_i = (I - r_i r_i^T) / ||x_i||.
    """

    @staticmethod
    def forward(ctx, flat_features, pixel_index, inv_norm, one_hot, counts, means):
        spatial = flat_features.shape[2]
        item, position = pixel_index // spatial, pixel_index % spatial
        rows = flat_features[item, :, position] * inv_norm[item, position][:, None]  # [n, D]
        ctx.save_for_backward(flat_features, pixel_index, inv_norm, one_hot, counts)
        return means.clone(), rows

    @staticmethod
    def backward(ctx, grad_means, grad_rows):
        flat_features, pixel_index, inv_norm, one_hot, counts = ctx.saved_tensors
        batch, dim, spatial = flat_features.shape
        if grad_means is None:
            upstream = torch.zeros_like(flat_features)
        else:
            per_class = (grad_means / counts.clamp_min(1)[:, None]).T.to(flat_features.dtype)  # [D, C]
            upstream = torch.bmm(per_class.expand(batch, dim, -1), one_hot.transpose(1, 2))  # [B, D, S]
        if grad_rows is not None and pixel_index.numel():
            _add_rows_at_pixels(upstream, pixel_index, grad_rows.to(upstream.dtype))
        dot = torch.empty_like(inv_norm)
        for b in range(batch):  # (x . G) per pixel; a [D, S] temporary per item, not a [B, D, S] one
            dot[b] = (flat_features[b] * upstream[b]).sum(dim=0)
        upstream.addcmul_(flat_features, (dot * inv_norm * inv_norm)[:, None, :], value=-1.0)
        upstream.mul_(inv_norm[:, None, :])
        return upstream, None, None, None, None, None


def class_means_and_rows(
    flat_features: torch.Tensor, statistics: PixelStatistics, pixel_index: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Differentiable class means [C, D] and normalised rows [n, D] at flat pixel indices.

    Args:
        flat_features: [B, D, S] embeddings (the tensor the gradient flows to).
        statistics: `pixel_statistics` of the same features and labels.
        pixel_index: [n] int64 flat indices b * S + s.
    """
    return _ClassMeansAndRows.apply(
        flat_features, pixel_index, statistics.inv_norm, statistics.one_hot, statistics.counts, statistics.means
    )



def check_temperature(value) -> float:
    """A contrastive temperature as a float; ``ValueError`` unless finite and > 0."""
    value = float(value)
    if not value > 0.0 or value != value or value == float("inf"):
        raise ValueError(f"temperature must be a finite number > 0, got {value!r}")
    return value

class AnatomicalContrastLoss(nn.Module):
    """Pixel contrast with class-mean positives and graph-guided negatives (MONA Eq. 3-5, ACTION Eq. 4-7).

    See the module docstring for the equations and every choice made where the papers
    leave room.

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
        counts = (("num_queries", num_queries), ("num_negatives", num_negatives), ("key_pool_size", key_pool_size))
        for name, value in counts:
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
        if sampler not in SAMPLER_CHOICES:
            raise ValueError(f"sampler must be one of {SAMPLER_CHOICES}, got {sampler!r}")
        grid_values = (grid,) if isinstance(grid, int) else tuple(grid)
        if not grid_values or any(not _is_positive_int(g) for g in grid_values):
            raise ValueError(f"grid must be a positive integer or a sequence of them, got {grid!r}")
        if not 0.0 <= float(threshold) <= 1.0:
            raise ValueError(f"threshold must lie in [0, 1], got {threshold!r}")
        if not isinstance(memory_size, int) or memory_size < 0:
            raise ValueError(f"memory_size must be a non-negative integer, got {memory_size!r}")
        if memory_size > 0 and (num_classes is None or embed_dim is None):
            raise ValueError(
                "a memory bank (memory_size > 0) needs num_classes and embed_dim for its buffers"
            )
        if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 1):
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        if embed_dim is not None and (not isinstance(embed_dim, int) or embed_dim < 1):
            raise ValueError(f"embed_dim must be a positive integer, got {embed_dim!r}")
        if memory_push is not None and (not isinstance(memory_push, int) or memory_push < 1):
            raise ValueError(f"memory_push must be a positive integer or None, got {memory_push!r}")
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

    @property
    def temperature(self) -> float:
        """tau of Eq. 3; assign a new value each step for a schedule (ACTION++ ATS, Eq. 6)."""
        return self._temperature

    @temperature.setter
    def temperature(self, value: float) -> None:
        self._temperature = self._check_temperature(value)

    _check_temperature = staticmethod(check_temperature)

    def extra_repr(self) -> str:
        return (
            f"num_queries={self.num_queries}, num_negatives={self.num_negatives}, "
            f"threshold={self.threshold}, "
            f"hard_queries={self.hard_queries}, temperature={self.temperature}, sampler={self.sampler!r}, "
            f"memory_size={self.memory_size}"
        )

    # ------------------------------------------------------------------ input checks
    def _check_inputs(self, features, labels, probs) -> int:
        if not _is_float_map(features):
            raise ValueError(
                f"features must be a float tensor [B, D, H, W] or [B, D, Z, H, W], got {_describe(features)}"
            )
        if not _is_label_map(labels, features.ndim - 1):
            raise ValueError(
                f"labels must be an integer tensor [B, *spatial] matching features "
                f"{tuple(features.shape)}, got {_describe(labels)}"
            )
        if labels.shape[0] != features.shape[0] or labels.shape[1:] != features.shape[2:]:
            raise ValueError(
                f"labels {tuple(labels.shape)} do not match features {tuple(features.shape)} "
                "(expected labels [B, *spatial] for features [B, D, *spatial])"
            )
        if self.embed_dim is not None and features.shape[1] != self.embed_dim:
            raise ValueError(
                f"features {tuple(features.shape)} have D={features.shape[1]}, expected embed_dim={self.embed_dim}"
            )
        if probs is None:
            if self.hard_queries:
                raise ValueError("probs [B, C, *spatial] are needed to pick hard queries (hard_queries=True)")
        else:
            if not isinstance(probs, torch.Tensor) or probs.ndim != features.ndim:
                raise ValueError(
                    f"probs must be [B, C, *spatial] matching features {tuple(features.shape)}, "
                    f"got {_describe(probs)}"
                )
            if probs.shape[0] != features.shape[0] or probs.shape[2:] != features.shape[2:]:
                raise ValueError(
                    f"probs {tuple(probs.shape)} do not match features {tuple(features.shape)} "
                    "(expected probs [B, C, *spatial] for features [B, D, *spatial])"
                )
            if self.num_classes is not None and probs.shape[1] != self.num_classes:
                raise ValueError(
                    f"probs {tuple(probs.shape)} have C={probs.shape[1]}, expected num_classes={self.num_classes}"
                )
        if self.num_classes is not None:
            num_classes = self.num_classes
        elif probs is not None:
            num_classes = probs.shape[1]
        else:
            num_classes = int(labels.max().item()) + 1 if labels.numel() else 1
            num_classes = max(num_classes, 1)
        if labels.numel():
            low, high = int(labels.min().item()), int(labels.max().item())
            if low < -1 or high >= num_classes:
                raise ValueError(
                    f"labels {tuple(labels.shape)} hold values in [{low}, {high}]; "
                    f"expected -1 (ignore) or 0..{num_classes - 1}"
                )
        return num_classes

    # ------------------------------------------------------------------ sampling
    def _memory_class_means(self, num_classes: int, device: torch.device) -> torch.Tensor:
        means = torch.zeros(num_classes, self.embed_dim or 1, device=device)
        if self.memory is None:
            return means
        slots = torch.arange(self.memory_size, device=device)
        filled = (slots[None, :] < self.memory_count[:, None]).to(self.memory.dtype)  # [C, M]
        sums = (self.memory * filled[..., None]).sum(dim=1)
        return sums / self.memory_count.clamp_min(1)[:, None].to(sums.dtype)

    def draw(
        self,
        labels: torch.Tensor,
        probs: torch.Tensor | None,
        class_means: torch.Tensor,
        num_classes: int,
        generator: torch.Generator | None = None,
    ) -> ContrastDraw:
        """All index selection of one step: queries, key pool and negatives (no gradients).

        Args:
            labels: [B, *spatial] int64, -1 = ignore.
            probs: [B, C, *spatial] or ``None`` (only when ``hard_queries=False``).
            class_means: [C, D] batch class means (rows of absent classes unused).
            num_classes: C.
            generator: a ``torch.Generator`` for reproducible draws.

        Returns:
            a `ContrastDraw`.
        """
        device = labels.device
        spatial_dims = labels.ndim - 1
        grid = fit_grid(self.grid, tuple(labels.shape[1:]))
        flat_labels = labels.reshape(-1)
        counts = torch.bincount(flat_labels[flat_labels >= 0], minlength=num_classes)
        present = counts > 0
        if self.memory is not None:
            memory_count = self.memory_count.to(device)
        else:
            memory_count = torch.zeros(num_classes, dtype=torch.int64, device=device)
        stored_counts = memory_count.tolist()
        available = present | (memory_count > 0)
        present_list = present.nonzero().flatten().tolist()
        present_set = set(present_list)
        available_list = available.nonzero().flatten().tolist()
        empty = torch.zeros(0, dtype=torch.int64, device=device)

        # -- queries: per class, among its (hard) pixels, through the sampler --
        query_index, query_class, query_weight, classes = [], [], [], []
        for c in present_list:
            if not any(v != c for v in available_list):
                continue  # nothing to contrast class c with
            mask = labels == c
            if self.hard_queries:
                mask = mask & (probs[:, c] <= self.threshold)
            if self.num_queries is None:
                index = mask.reshape(-1).nonzero().flatten()
                weight = torch.full(
                    (index.numel(),), 1.0 / max(index.numel(), 1), device=device, dtype=torch.float64
                )
            else:
                index, weight = sample_pixels(
                    mask, self.num_queries, method=self.sampler, generator=generator, grid=grid,
                    spatial_dims=spatial_dims,
                )
            if index.numel() == 0:
                continue  # no hard query in class c this step
            query_index.append(index.to(device))
            query_weight.append(weight.to(device=device, dtype=torch.float64))
            query_class.append(torch.full((index.numel(),), c, dtype=torch.int64, device=device))
            classes.append(c)
        if not classes:
            return ContrastDraw(empty, empty, empty.double(), empty, empty, empty, None, [])
        query_index = torch.cat(query_index)
        query_class = torch.cat(query_class)
        query_weight = torch.cat(query_weight)

        # -- key pool: fresh pixels of every available class, then memory-bank entries --
        key_classes = [v for v in available_list if any(c != v for c in classes)]
        fresh_index, fresh_class = [], []
        for v in key_classes:
            if v not in present_set:
                continue  # known only from the memory bank
            if self.num_negatives is None:
                index = (flat_labels == v).nonzero().flatten()
            else:
                index, _ = sample_pixels(
                    labels == v, self.key_pool_size, method=self.sampler, generator=generator, grid=grid,
                    spatial_dims=spatial_dims,
                )
                index = index.to(device)
            fresh_index.append(index)
            fresh_class.append(torch.full((index.numel(),), v, dtype=torch.int64, device=device))
        memory_index, memory_class = [], []
        for v in key_classes:
            stored = stored_counts[v]
            memory_index.append(v * self.memory_size + torch.arange(stored, device=device))
            memory_class.append(torch.full((stored,), v, dtype=torch.int64, device=device))
        key_pixel_index = torch.cat(fresh_index) if fresh_index else empty
        key_memory_index = torch.cat(memory_index) if memory_index else empty
        key_class = torch.cat(fresh_class + memory_class) if (fresh_class or memory_class) else empty

        if self.num_negatives is None:
            return ContrastDraw(
                query_index, query_class, query_weight, key_pixel_index, key_memory_index, key_class,
                None, classes,
            )

        # -- negatives: class v ~ softmax(G[c, .]) by inverting the class CDF with one uniform u,
        # then a uniform entry of class v's pool slot from the residual (u - F(v-1)) / p(v),
        # itself U[0, 1) given v. --
        memory_means = self._memory_class_means(num_classes, device)
        graph_means = torch.where(present[:, None], class_means.detach().float(), memory_means)
        has_keys = torch.zeros(num_classes, dtype=torch.bool, device=device)
        has_keys[key_classes] = True
        distribution = negative_class_distribution(graph_means, has_keys).double()  # [C, C]
        slot_order = torch.argsort(key_class, stable=True)  # pool positions grouped by class
        slot_size = torch.bincount(key_class, minlength=num_classes)
        slot_start = slot_size.cumsum(0) - slot_size
        probability = distribution[query_class]  # [Q, C], rows of the queries' classes
        cdf = probability.cumsum(dim=1)
        shape = (query_index.numel(), self.num_negatives)
        u = _uniform(shape, generator, device, torch.float64) * cdf[:, -1:]  # [Q, K]
        # number of CDF steps <= u: the drawn class, never one of probability 0
        negative_class = (u[..., None] >= cdf[:, None, :]).sum(dim=-1).clamp_max(num_classes - 1)
        lower = (cdf - probability).gather(1, negative_class)
        residual = (u - lower) / probability.gather(1, negative_class)  # U[0, 1) given the class
        size = slot_size[negative_class]
        position = (residual * size).long().clamp(min=0).minimum(size - 1)
        negative_index = slot_order[slot_start[negative_class] + position]  # [Q, K]
        return ContrastDraw(
            query_index, query_class, query_weight, key_pixel_index, key_memory_index, key_class,
            negative_index, classes,
        )

    # ------------------------------------------------------------------ loss
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
        tau = self.temperature if temperature is None else self._check_temperature(temperature)
        num_classes = self._check_inputs(features, labels, probs)
        batch, dim = features.shape[:2]
        flat_features = features.reshape(batch, dim, -1)
        flat_labels = labels.reshape(batch, -1).long()
        statistics = pixel_statistics(flat_features, flat_labels, num_classes)
        draw = self.draw(labels.long(), probs, statistics.means, num_classes, generator)
        self.last_draw = draw
        loss = self.loss_from_draw(flat_features, statistics, draw, tau)
        if self.training and self.memory is not None:
            self._push_to_memory(flat_features, flat_labels, num_classes, generator)
        return loss

    def loss_from_draw(
        self, flat_features: torch.Tensor, statistics: PixelStatistics, draw: ContrastDraw, temperature: float
    ) -> torch.Tensor:
        """Eq. 3 on the drawn queries and negatives, vectorised over all classes.

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
        # class means and the rows of queries and fresh keys, with one fused full-size backward
        pixels = torch.cat([draw.query_index, draw.key_pixel_index])
        class_means, rows = class_means_and_rows(flat_features, statistics, pixels)
        queries, keys = rows[: draw.query_index.numel()], rows[draw.query_index.numel() :]  # [Q, D], [P_f, D]
        if draw.key_memory_index.numel():
            stored = self.memory.reshape(-1, self.memory.shape[-1])[draw.key_memory_index]
            keys = torch.cat([keys, stored.to(device=keys.device, dtype=keys.dtype)])
        positives = class_means.detach() if self.detach_positive else class_means
        # each query's class mean as a one-hot [Q, C] x [C, D] product rather than
        # positives[query_class]: the backward of that indexing is an accumulating
        # index_put_, whose CPU sums over the queries of one class depend on the thread
        # schedule (issue 12); a matrix product's backward is another matrix product, the
        # same sums in a fixed order. Forward values are identical (one 1 per row).
        selector = F.one_hot(draw.query_class, positives.shape[0]).to(positives.dtype)
        positive_logit = (queries * (selector @ positives).to(queries.dtype)).sum(dim=1)  # [Q]
        similarity = queries @ keys.T  # [Q, P]
        if draw.negative_index is None:
            same_class = draw.key_class[None, :] == draw.query_class[:, None]
            negative_logit = similarity.masked_fill(same_class, float("-inf"))
        else:
            negative_logit = similarity.gather(1, draw.negative_index)  # [Q, K]
        logits = torch.cat([positive_logit[:, None], negative_logit], dim=1)
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32)) / temperature  # fp16 -> fp32
        per_query = torch.logsumexp(logits, dim=1) - logits[:, 0]
        num_classes = class_means.shape[0]
        per_class = torch.zeros(num_classes, device=per_query.device, dtype=per_query.dtype)
        weighted = draw.query_weight.to(per_query.dtype) * per_query
        per_class = per_class.index_add(0, draw.query_class, weighted)
        return per_class.sum() / len(draw.classes)

    @torch.no_grad()
    def _push_to_memory(
        self,
        flat_features: torch.Tensor,
        flat_labels: torch.Tensor,
        num_classes: int,
        generator: torch.Generator | None,
    ) -> None:
        """FIFO update: up to ``memory_push`` random pixels of each present class (detached, normalised)."""
        device = self.memory.device
        pixels = flat_labels.reshape(-1)
        for c in torch.unique(pixels[pixels >= 0]).tolist():
            index = (pixels == c).nonzero().flatten()
            source = generator.device if generator is not None else index.device
            order = torch.randperm(index.numel(), generator=generator, device=source)
            chosen = index[order.to(index.device)[: self.memory_push]]
            embeddings = F.normalize(_gather_rows(flat_features.detach(), chosen).float(), dim=1).to(device)
            count = embeddings.shape[0]
            slots = (self.memory_pointer[c] + torch.arange(count, device=device)) % self.memory_size
            self.memory[c, slots] = embeddings
            self.memory_pointer[c] = (self.memory_pointer[c] + count) % self.memory_size
            self.memory_count[c] = torch.clamp(self.memory_count[c] + count, max=self.memory_size)
