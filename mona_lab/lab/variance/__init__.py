"""Monte-Carlo studies of ARCO's pixel-sampling estimators on the pixel-contrastive loss (notebooks 05, 06).

ARCO (NeurIPS 2023, Sec. 3.3) reads the pixel-contrastive loss of one class as an
*aggregation function* (Eq. 3.1, footnote 3: "up to normalizing constant")::

    H = (1/|P|) sum_{p in P} h(p),   h(p) = -log( e^{q_p.k+/tau} / (e^{q_p.k+/tau} + sum_{k-} e^{q_p.k-/tau}) )

with ``P`` the class's pixels, ``q_p`` the normalised embedding of pixel p, ``k+`` the class
mean of the normalised embeddings (MONA Eq. 4) and ``k-`` the normalised embeddings of the
other classes' pixels (MONA Eq. 3 with the full negative set). Drawing ``n`` query pixels
with NS, SG or SAG (`mona_lab.samplers.sample_pixels`) and averaging ``h`` over them with
the sampler's weights estimates ``H``; this package measures that estimator, one idea per
module:

- `mona_lab.lab.variance.contrast_terms`: `contrast_terms`, the per-pixel map ``h(p)`` of
  one class and the per-pixel gradient ``dh(p)/dk+`` (a ``[D]`` vector per pixel: the
  gradient of the loss with respect to the class prototype), so that the loss *and* its
  gradient are aggregation functions; `pixel_loss_map`, `handcrafted_embeddings`,
  `representative_slices`;
- `mona_lab.lab.variance.estimators`: `sampled_estimates` (``trials`` independent draws of
  the estimator from one seeded generator), `estimator_study` / `sweep` (Monte-Carlo mean
  and variance next to the exact ones of `mona_lab.samplers.theoretical_moments`, ARCO
  Lemma 3.1, Theorem 3.2 in its weighted form; for a vector map the trace of the
  covariance), and `printed_theorem_variance` (Theorem 3.2 exactly as printed, equal group
  weights, to show where it departs from the weighted identity when groups differ in size);
- `mona_lab.lab.variance.loss_module`: `contrast_loss_moments` / `loss_module_estimates`,
  the same for the whole `mona_lab.losses.AnatomicalContrastLoss` (mean over classes of the
  per-class estimates), computed by the loss module itself.

Choices: the loss-module studies use ``hard_queries=False`` (every class pixel may be a
query, so ``P`` is the class) and ``num_negatives=None`` (every pixel of another class is a
negative), which makes ``h`` a fixed function of ``p`` and the estimator's randomness
that of the query sampler alone -- exactly the object of ARCO's Lemma 3.1 and Theorem 3.2.
Every public name of the three modules is importable from ``mona_lab.lab.variance``.
"""
from __future__ import annotations

from mona_lab.lab.variance.contrast_terms import (
    ContrastTerms,
    contrast_terms,
    handcrafted_embeddings,
    pixel_loss_map,
    representative_slices,
)
from mona_lab.lab.variance.estimators import (
    EstimatorStudy,
    estimator_study,
    exact_moments,
    printed_theorem_variance,
    sampled_estimates,
    sweep,
    variance_ratios,
    weighted_theorem_variance,
)
from mona_lab.lab.variance.loss_module import contrast_loss_moments, loss_module_estimates

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
