"""Monte-Carlo studies of ARCO's pixel-sampling estimators on the pixel-contrastive loss.

ARCO (NeurIPS 2023, Sec. 3.3) reads the pixel-contrastive loss of one class as an
*aggregation function* (Eq. 3.1, footnote 3: "up to normalizing constant")::

    H = (1/|P|) sum_{p in P} h(p),   h(p) = -log( e^{q_p.k+/tau} / (e^{q_p.k+/tau} + sum_{k-} e^{q_p.k-/tau}) )

with ``P`` the class's pixels, ``q_p`` the normalised embedding of pixel p, ``k+`` the class
mean of the normalised embeddings (MONA Eq. 4) and ``k-`` the normalised embeddings of the
other classes' pixels (MONA Eq. 3 with the full negative set). Drawing ``n`` query pixels
with NS, SG or SAG (`mona_lab.samplers.sample_pixels`) and averaging ``h`` over them with
the sampler's weights estimates ``H``; this module measures that estimator:

- `contrast_terms`: the per-pixel map ``h(p)`` of one class and the per-pixel gradient
  ``dh(p)/dk+`` (a ``[D]`` vector per pixel: the gradient of the loss with respect to the
  class prototype), so that the loss *and* its gradient are aggregation functions;
- `sampled_estimates`: ``trials`` independent draws of the estimator from one seeded
  generator (scalar or vector maps);
- `estimator_study` / `sweep`: Monte-Carlo mean and variance next to the exact ones of
  `mona_lab.samplers.theoretical_moments` (ARCO Lemma 3.1, Theorem 3.2 in its weighted
  form), for a vector map the trace of the covariance (sum of per-component variances);
- `printed_theorem_variance`: Theorem 3.2 exactly as printed (equal group weights), to
  show where it departs from the weighted identity when groups differ in size;
- `contrast_loss_moments` / `loss_module_estimates`: the same for the whole
  `mona_lab.losses.AnatomicalContrastLoss` (mean over classes of the per-class
  estimates), computed by the loss module itself.

Choices: the loss-module studies use ``hard_queries=False`` (every class pixel may be a
query, so ``P`` is the class) and ``num_negatives=None`` (every pixel of another class is a
negative), which makes ``h`` a fixed function of ``p`` and the estimator's randomness
that of the query sampler alone -- exactly the object of ARCO's Lemma 3.1 and Theorem 3.2.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from mona_lab.samplers import SAMPLING_METHODS, group_statistics, sample_pixels, theoretical_moments


# --------------------------------------------------------------------------------------
# the aggregation: per-pixel contrast terms
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ContrastTerms:
    """The contrastive loss of one class as an aggregation over its pixels (ARCO Eq. 3.1).

    Attributes:
        mask: ``[B, H, W]`` bool, the class's pixels ``P``.
        loss_map: ``[B, H, W]`` float64, ``h(p)`` on ``P`` and 0 elsewhere.
        gradient_map: ``[D, B, H, W]`` float64, ``dh(p)/dk+`` on ``P`` and 0 elsewhere.
        prototype: ``[D]`` float64, the positive key ``k+`` (class mean of normalised
            embeddings).
        loss: ``H``, the mean of ``h`` over ``P`` (float).
        gradient: ``[D]``, the mean of ``dh/dk+`` over ``P`` = ``dH/dk+``.
    """

    mask: torch.Tensor
    loss_map: torch.Tensor
    gradient_map: torch.Tensor
    prototype: torch.Tensor
    loss: float
    gradient: torch.Tensor


def _check_features_labels(features: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(features, torch.Tensor) or not features.is_floating_point() or features.ndim not in (3, 4):
        raise ValueError(
            "features must be a float tensor [D, H, W] or [B, D, H, W], got "
            f"{tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__}"
        )
    if features.ndim == 3:
        features = features.unsqueeze(0)
    if not isinstance(labels, torch.Tensor) or labels.is_floating_point():
        raise ValueError(f"labels must be an integer tensor [B, H, W], got {type(labels).__name__}")
    if labels.ndim == 2:
        labels = labels.unsqueeze(0)
    if labels.shape != features.shape[:1] + features.shape[2:]:
        raise ValueError(
            f"labels {tuple(labels.shape)} do not match features {tuple(features.shape)} "
            "(expected labels [B, H, W] for features [B, D, H, W])"
        )
    return features, labels.long()


def contrast_terms(
    features: torch.Tensor, labels: torch.Tensor, class_index: int, temperature: float = 0.5
) -> ContrastTerms:
    """Per-pixel terms ``h(p)`` of the pixel-contrastive loss of one class, and their gradient.

    ``h(p)`` is MONA Eq. 3 (ACTION Eq. 2) for the single query ``q_p``: positive key
    ``k+`` = mean of the class's normalised embeddings (MONA Eq. 4, not re-normalised,
    as in `mona_lab.losses.AnatomicalContrastLoss`), negatives = every pixel whose label
    is another class (labels -1 are ignored). Its gradient with respect to the prototype,
    holding the negatives fixed, is ``dh/dk+ = (s_+(p) - 1) q_p / tau`` with ``s_+`` the
    softmax weight of the positive logit. The mean of ``h`` over the class is ARCO's
    aggregation ``H`` (Eq. 3.1); with every class's ``H`` averaged it equals
    ``AnatomicalContrastLoss(num_queries=None, num_negatives=None, hard_queries=False)``.

    Args:
        features: ``[B, D, H, W]`` (or ``[D, H, W]``) pixel embeddings (normalised inside).
        labels: ``[B, H, W]`` (or ``[H, W]``) integer labels, -1 = ignore.
        class_index: the class ``c`` whose pixels form ``P``.
        temperature: tau (MONA: 0.5).

    Returns:
        `ContrastTerms` (float64, on the features' device).

    Raises:
        ValueError: bad shapes, ``temperature <= 0``, a class without pixels or without
            any pixel of another class to contrast with.
    """
    features, labels = _check_features_labels(features, labels)
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    mask = labels == int(class_index)
    negatives_mask = (labels >= 0) & ~mask
    if not mask.any():
        raise ValueError(f"class {class_index} has no pixel in labels {tuple(labels.shape)}")
    if not negatives_mask.any():
        raise ValueError(f"class {class_index} has no pixel of another class to contrast with")
    emb = F.normalize(features.detach().to(torch.float64), dim=1).movedim(1, -1)  # [B, H, W, D]
    queries = emb[mask]  # [N, D]
    negatives = emb[negatives_mask]  # [K, D]
    prototype = queries.mean(dim=0)
    positive = queries @ prototype / temperature  # [N]
    negative = queries @ negatives.T / temperature  # [N, K]
    logits = torch.cat([positive[:, None], negative], dim=1)
    log_norm = torch.logsumexp(logits, dim=1)
    per_pixel = log_norm - positive
    weight = torch.exp(positive - log_norm)  # softmax weight of the positive
    grads = ((weight - 1.0)[:, None] * queries / temperature)  # [N, D]
    loss_map = torch.zeros(mask.shape, dtype=torch.float64, device=features.device)
    loss_map[mask] = per_pixel
    gradient_map = torch.zeros((features.shape[1],) + tuple(mask.shape), dtype=torch.float64, device=features.device)
    gradient_map[:, mask] = grads.T
    return ContrastTerms(mask, loss_map, gradient_map, prototype, float(per_pixel.mean()), grads.mean(dim=0))


def representative_slices(labels: torch.Tensor, num_classes: int, count: int = 6) -> torch.Tensor:
    """Indices of the ``count`` slices that show the most classes (ties: lowest index first).

    Args:
        labels: ``[N, H, W]`` integer labels in ``0..num_classes-1``.

    Returns:
        int64 ``[min(count, N)]``.
    """
    if not isinstance(labels, torch.Tensor) or labels.ndim != 3 or labels.is_floating_point():
        raise ValueError(f"labels must be an integer tensor [N, H, W], got {getattr(labels, 'shape', type(labels))}")
    present = F.one_hot(labels.long().clamp(0, num_classes - 1), num_classes).any(dim=(1, 2)).sum(dim=1)
    return torch.argsort(present, descending=True, stable=True)[: int(count)]


def handcrafted_embeddings(images: torch.Tensor, box_sizes: Sequence[int] = (3, 7)) -> torch.Tensor:
    """Model-free pixel embeddings: intensity, local box means and position (float64).

    Used where a result must not depend on a trained network (e.g. regression-checked
    numbers): channels are the centred intensity, the centred mean over a ``k x k`` box for
    each ``k`` in ``box_sizes`` (zero padding at the border), and the x and y coordinates
    scaled to [-1, 1]. Pixels of one structure are then similar, and ``h(p)`` varies in
    space, as it does for learned embeddings.

    Args:
        images: ``[B, 1, H, W]`` float images.
        box_sizes: odd box sides.

    Returns:
        ``[B, 3 + len(box_sizes), H, W]`` float64.
    """
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 1:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be [B, 1, H, W], got {shape}")
    if any(int(k) < 1 or int(k) % 2 == 0 for k in box_sizes):
        raise ValueError(f"box_sizes must be odd positive integers, got {tuple(box_sizes)}")
    x = images.to(torch.float64)
    batch, _, height, width = x.shape
    channels = [x - x.mean()]
    for k in box_sizes:
        box = F.avg_pool2d(x, int(k), stride=1, padding=int(k) // 2, count_include_pad=True)
        channels.append(box - box.mean())
    ys = torch.linspace(-1.0, 1.0, height, dtype=torch.float64, device=x.device)
    xs = torch.linspace(-1.0, 1.0, width, dtype=torch.float64, device=x.device)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    channels += [grid_x.expand(batch, 1, height, width), grid_y.expand(batch, 1, height, width)]
    return torch.cat(channels, dim=1)


def pixel_loss_map(features: torch.Tensor, labels: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """``h(p)`` of every pixel for its own class (the z-axis of ARCO Fig. 3).

    Args:
        features: ``[B, D, H, W]`` (or ``[D, H, W]``) embeddings; labels ``[B, H, W]``
            (or ``[H, W]``), -1 = ignore.
        temperature: tau.

    Returns:
        float64 ``[B, H, W]``: `contrast_terms` ``loss_map`` of each pixel's class; NaN at
        ignored pixels (and everywhere when fewer than two classes are present).
    """
    features, labels = _check_features_labels(features, labels)
    out = torch.full(labels.shape, math.nan, dtype=torch.float64, device=features.device)
    for c in _contributing_classes(labels):
        terms = contrast_terms(features, labels, c, temperature)
        out[terms.mask] = terms.loss_map[terms.mask]
    return out


# --------------------------------------------------------------------------------------
# Monte Carlo
# --------------------------------------------------------------------------------------
def _component_view(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``values`` as ``[K, N]`` (components x flat pixels), checked against ``mask``."""
    if not isinstance(values, torch.Tensor) or not isinstance(mask, torch.Tensor):
        raise ValueError("values and mask must be torch tensors")
    if mask.dtype != torch.bool:
        raise ValueError(f"mask must be bool, got {mask.dtype}")
    if tuple(values.shape) == tuple(mask.shape):
        return values.reshape(1, -1).to(torch.float64)
    if tuple(values.shape[1:]) == tuple(mask.shape):
        return values.reshape(values.shape[0], -1).to(torch.float64)
    raise ValueError(
        f"values {tuple(values.shape)} must be shaped like mask {tuple(mask.shape)} or [K, *mask.shape]"
    )


def sampled_estimates(
    values: torch.Tensor,
    mask: torch.Tensor,
    n: int,
    method: str,
    trials: int,
    *,
    seed: int = 0,
    grid: int | Sequence[int] = 4,
) -> torch.Tensor:
    """``trials`` independent draws of the estimator ``sum_i w_i v(p_i)`` of ``mean_P v``.

    Every draw calls `mona_lab.samplers.sample_pixels` with one generator seeded with
    ``seed`` (so the result is a pure function of the arguments).

    Args:
        values: ``[*S]`` scalar map or ``[K, *S]`` vector map (``S`` = ``mask.shape``).
        mask: bool ``[B, H, W]`` (or ``[H, W]``), the pixels ``P``.
        n: pixels per draw (> 0).
        method: ``"ns"``, ``"sg"``, ``"sag"`` or ``"block"``.
        trials: number of independent draws (> 0).
        seed: seed of the generator.
        grid: cells per axis for the grouped samplers.

    Returns:
        float64 ``[trials]`` for a scalar map, ``[trials, K]`` for a vector map.

    Raises:
        ValueError: shape mismatch, ``trials < 1``, ``n < 1``, or a sampler error.
    """
    table = _component_view(values, mask)
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials must be a positive integer, got {trials!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    generator = torch.Generator(device=mask.device).manual_seed(int(seed))
    out = torch.empty(trials, table.shape[0], dtype=torch.float64, device=table.device)
    for t in range(trials):
        index, weight = sample_pixels(mask, n, method, generator, grid)
        out[t] = table[:, index] @ weight.to(torch.float64)
    return out[:, 0] if tuple(values.shape) == tuple(mask.shape) else out


@dataclass(frozen=True)
class EstimatorStudy:
    """Monte-Carlo and exact moments of one estimator setting.

    For a vector map, ``*_variance`` is the trace of the covariance (total variance) and
    ``bias`` the Euclidean norm of ``mc_mean - target``.

    Attributes:
        method, n, grid, trials: the setting.
        target: ``[K]`` exact mean over ``P`` (``K = 1`` for a scalar map).
        mc_mean: ``[K]`` mean of the draws.
        mc_variance: sample variance of the draws (``ddof=1``), summed over components.
        theory_mean: ``[K]`` exact expectation (differs from ``target`` only for ``block``).
        theory_variance: exact variance (`theoretical_moments`), summed over components.
        bias: ``|mc_mean - target|``.
        bias_standard_error: ``sqrt(mc_variance / trials)``, the Monte-Carlo error of ``mc_mean``.
        estimates: the draws, ``[trials]`` or ``[trials, K]``.
    """

    method: str
    n: int
    grid: int | tuple[int, ...]
    trials: int
    target: np.ndarray
    mc_mean: np.ndarray
    mc_variance: float
    theory_mean: np.ndarray
    theory_variance: float
    bias: float
    bias_standard_error: float
    estimates: np.ndarray

    @property
    def theory_bias(self) -> float:
        """``|E[estimate] - target|`` from the closed form (0 for ns, sg, sag)."""
        return float(np.linalg.norm(self.theory_mean - self.target))


def exact_moments(
    values: torch.Tensor, mask: torch.Tensor, n: int, method: str, grid: int | Sequence[int] = 4
) -> tuple[np.ndarray, float]:
    """Exact mean ``[K]`` and total variance of the estimator (per component
    `mona_lab.samplers.theoretical_moments`, ARCO Lemma 3.1 / Theorem 3.2, summed)."""
    table = _component_view(values, mask)
    means, variance = [], 0.0
    for row in table:
        mean, var = theoretical_moments(row.reshape(mask.shape), mask, n, method, grid)
        means.append(mean)
        variance += var
    return np.asarray(means), float(variance)


def estimator_study(
    values: torch.Tensor,
    mask: torch.Tensor,
    n: int,
    method: str,
    trials: int = 1000,
    *,
    seed: int = 0,
    grid: int | Sequence[int] = 4,
) -> EstimatorStudy:
    """Monte-Carlo mean/variance of one estimator next to its exact moments.

    Args: as in `sampled_estimates`.
    """
    draws = sampled_estimates(values, mask, n, method, trials, seed=seed, grid=grid)
    table = draws.reshape(trials, -1).cpu().numpy()
    components = _component_view(values, mask)
    target = (components[:, mask.reshape(-1)].mean(dim=1)).cpu().numpy()
    theory_mean, theory_variance = exact_moments(values, mask, n, method, grid)
    mc_mean = table.mean(axis=0)
    mc_variance = float(table.var(axis=0, ddof=1).sum()) if trials > 1 else math.nan
    return EstimatorStudy(
        method=method,
        n=int(n),
        grid=grid if isinstance(grid, int) else tuple(grid),
        trials=int(trials),
        target=target,
        mc_mean=mc_mean,
        mc_variance=mc_variance,
        theory_mean=theory_mean,
        theory_variance=theory_variance,
        bias=float(np.linalg.norm(mc_mean - target)),
        bias_standard_error=math.sqrt(mc_variance / trials) if trials > 1 else math.nan,
        estimates=draws.cpu().numpy(),
    )


def sweep(
    values: torch.Tensor,
    mask: torch.Tensor,
    *,
    ns: Sequence[int] = (16, 64, 256),
    grids: Sequence[int] = (4,),
    methods: Sequence[str] = SAMPLING_METHODS,
    trials: int = 500,
    seed: int = 0,
) -> list[EstimatorStudy]:
    """`estimator_study` for every (grid, n, method); each setting gets its own seed
    (``seed + position``) so settings are independent and the list is reproducible."""
    studies = []
    for g in grids:
        for n in ns:
            for method in methods:
                studies.append(estimator_study(values, mask, n, method, trials, seed=seed + len(studies), grid=g))
    return studies


def variance_ratios(studies: Sequence[EstimatorStudy], reference: str = "ns") -> dict[tuple, dict[str, float]]:
    """``{(grid, n, method): {"mc": Var_mc / Var_mc[ref], "theory": Var / Var[ref]}}`` per setting."""
    base = {(s.grid, s.n): s for s in studies if s.method == reference}
    ratios = {}
    for s in studies:
        ref = base.get((s.grid, s.n))
        if ref is None:
            continue
        ratios[(s.grid, s.n, s.method)] = {
            "mc": s.mc_variance / ref.mc_variance if ref.mc_variance > 0 else math.nan,
            "theory": s.theory_variance / ref.theory_variance if ref.theory_variance > 0 else math.nan,
        }
    return ratios


def printed_theorem_variance(
    values: torch.Tensor, mask: torch.Tensor, n: int, grid: int | Sequence[int] = 4
) -> float:
    """ARCO Theorem 3.2 exactly as printed: ``Var_NS - (1/n) sum_m (mu_m - mu)^2``.

    The printed sum has no group weights; it equals the exact identity
    ``Var_NS - (1/n) sum_m w_m (mu_m - mu)^2`` (`mona_lab.samplers.stratification_gain`)
    only when all ``M`` non-empty groups have the same size *and* the sum is divided by
    ``M``. Empty groups are left out of the sum. Scalar maps only.
    """
    if tuple(values.shape) != tuple(mask.shape):
        raise ValueError(f"values {tuple(values.shape)} must be shaped like mask {tuple(mask.shape)}")
    stats = group_statistics(values, mask, grid)
    mu = float(values.reshape(-1)[mask.reshape(-1)].double().mean())
    ns_variance = theoretical_moments(values, mask, n, "ns", grid)[1]
    nonempty = stats.counts > 0
    return ns_variance - float(((stats.means[nonempty] - mu) ** 2).sum()) / n


def weighted_theorem_variance(
    values: torch.Tensor, mask: torch.Tensor, n: int, grid: int | Sequence[int] = 4
) -> float:
    """ARCO Theorem 3.2 in its weighted form, ``Var_NS - (1/n) sum_m w_m (mu_m - mu)^2``:
    the exact SG variance for an integer proportional allocation ``n_m = n w_m``."""
    stats = group_statistics(values, mask, grid)
    mu = float((stats.weights * stats.means).sum())
    ns_variance = theoretical_moments(values, mask, n, "ns", grid)[1]
    return ns_variance - float((stats.weights * (stats.means - mu) ** 2).sum()) / n


# --------------------------------------------------------------------------------------
# the whole loss module
# --------------------------------------------------------------------------------------
def _contributing_classes(labels: torch.Tensor) -> list[int]:
    present = sorted(int(c) for c in torch.unique(labels[labels >= 0]).tolist())
    return present if len(present) > 1 else []


def contrast_loss_moments(
    features: torch.Tensor,
    labels: torch.Tensor,
    n: int,
    method: str,
    *,
    temperature: float = 0.5,
    grid: int | Sequence[int] = 4,
) -> tuple[float, float]:
    """Exact mean and variance of the sampled `AnatomicalContrastLoss` (hard_queries=False,
    num_negatives=None, ``num_queries=n``).

    The module draws each class's queries independently and averages the ``C`` per-class
    estimates, so ``E = (1/C) sum_c E_c`` and ``Var = (1/C^2) sum_c Var_c`` with
    ``(E_c, Var_c)`` the moments of the estimator of ``H_c`` (`contrast_terms`,
    `mona_lab.samplers.theoretical_moments`). The sampler's grid is capped at the map
    size per axis, as the loss module does.
    """
    features, labels = _check_features_labels(features, labels)
    classes = _contributing_classes(labels)
    if not classes:
        raise ValueError("need at least two classes in labels for a contrastive loss")
    from mona_lab.losses.anatomical_contrast import fit_grid

    cells = fit_grid(grid, tuple(labels.shape[1:]))
    mean, variance = 0.0, 0.0
    for c in classes:
        terms = contrast_terms(features, labels, c, temperature)
        m, v = theoretical_moments(terms.loss_map, terms.mask, n, method, cells)
        mean += m
        variance += v
    return mean / len(classes), variance / len(classes) ** 2


def loss_module_estimates(
    features: torch.Tensor,
    labels: torch.Tensor,
    n: int,
    method: str,
    trials: int,
    *,
    temperature: float = 0.5,
    grid: int | Sequence[int] = 4,
    seed: int = 0,
) -> np.ndarray:
    """``trials`` values of the sampled loss computed by `AnatomicalContrastLoss` itself.

    The module runs with ``num_queries=n``, ``num_negatives=None`` (every other-class pixel
    is a negative), ``hard_queries=False`` and ``sampler=method``; one generator seeded
    with ``seed`` feeds every draw.

    Returns:
        float64 ``[trials]``.
    """
    from mona_lab.losses import AnatomicalContrastLoss

    features, labels = _check_features_labels(features, labels)
    loss = AnatomicalContrastLoss(
        num_queries=int(n), num_negatives=None, hard_queries=False, temperature=temperature, sampler=method, grid=grid
    )
    generator = torch.Generator(device=labels.device).manual_seed(int(seed))
    feats = features.detach().to(torch.float64)
    with torch.no_grad():
        return np.array([float(loss(feats, labels, None, generator=generator)) for _ in range(int(trials))])


__all__ = [
    "ContrastTerms",
    "EstimatorStudy",
    "contrast_loss_moments",
    "contrast_terms",
    "estimator_study",
    "exact_moments",
    "handcrafted_embeddings",
    "loss_module_estimates",
    "pixel_loss_map",
    "printed_theorem_variance",
    "representative_slices",
    "sampled_estimates",
    "sweep",
    "variance_ratios",
    "weighted_theorem_variance",
]
