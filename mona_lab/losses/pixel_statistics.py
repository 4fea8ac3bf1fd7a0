"""Per-pixel norms, class means and row gathers of a [B, D, S] feature map, with fused,
thread-count-independent backwards: the full-size work of the pixel contrasts.

The pixel contrasts (`mona_lab.losses.anatomical_contrast`,
`mona_lab.losses.adaptive_anatomical_contrast`) need three things from the embeddings
``x`` of one batch, flattened to ``[B, D, S]`` (``S`` = pixels per image):

- the L2-normalised embedding ``r_i = x_i / ||x_i||`` of every pixel ``i``;
- the class means ``r_k^{c,+} = (1 / |R_q^c|) sum_{i of class c} r_i`` (MONA Eq. (4),
  ACTION Eq. (5)): the positive keys, and the rows of the class relation graph;
- the normalised rows ``r_i`` at a few drawn pixels (queries and keys).

Cost: the only full-size work is one pass for the per-pixel norms and class means
(`pixel_statistics`, no gradient) and one fused backward (`class_means_and_rows`) that
forms the gradient of the class means and of the gathered rows in a single [B, D, S]
buffer; no normalised copy of the features is made.

Determinism: a pixel is often drawn more than once, and the accumulating
``index_put_`` that autograd uses for advanced indexing sums repeats in a thread-dependent
order on the CPU; `gather_rows` and `class_means_and_rows` add them with
`_add_rows_at_pixels` instead, whose result does not depend on the thread count (issue 12,
tests/test_thread_determinism.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


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


def gather_rows(flat_features: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
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
    """`PixelStatistics` of [B, D, S] features and [B, S] labels (-1 = ignore), without gradient.

    The class means are MONA Eq. (4) / ACTION Eq. (5)'s positive keys
    ``r_k^{c,+} = (1 / |R_q^c|) sum_{r_q in R_q^c} r_q`` over the normalised embeddings.
    """
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
    """Differentiable class means [C, D] (MONA Eq. (4)) and normalised rows [n, D] at flat pixel indices.

    Args:
        flat_features: [B, D, S] embeddings (the tensor the gradient flows to).
        statistics: `pixel_statistics` of the same features and labels.
        pixel_index: [n] int64 flat indices b * S + s.
    """
    return _ClassMeansAndRows.apply(
        flat_features, pixel_index, statistics.inv_norm, statistics.one_hot, statistics.counts, statistics.means
    )

