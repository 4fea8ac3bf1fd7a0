"""ARCO estimator studies: the per-pixel contrast terms reproduce the loss module and its
gradient, Monte-Carlo moments agree with the closed forms (unbiased NS/SG/SAG, biased block),
Theorem 3.2's printed and weighted forms, the loss module's own sampled values."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mona_lab.lab.variance import (
    contrast_loss_moments,
    contrast_terms,
    estimator_study,
    exact_moments,
    handcrafted_embeddings,
    loss_module_estimates,
    pixel_loss_map,
    printed_theorem_variance,
    representative_slices,
    sampled_estimates,
    sweep,
    variance_ratios,
    weighted_theorem_variance,
)
from mona_lab.losses import AnatomicalContrastLoss
from mona_lab.samplers import stratification_gain, theoretical_moments


pytestmark = pytest.mark.usefixtures("single_thread")


def toy_batch(seed: int = 0):
    """Two 12 x 12 maps, three classes of different sizes, a few ignored pixels."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.zeros(2, 12, 12, dtype=torch.long)
    labels[:, 3:8, 2:9] = 1
    labels[:, 8:11, 5:11] = 2
    labels[0, 0, :4] = -1
    features = torch.randn(2, 6, 12, 12, generator=g, dtype=torch.float64)
    features[:, 0] += 2.0 * labels.clamp_min(0)  # classes differ, so the loss is not flat
    yy = torch.linspace(-1, 1, 12, dtype=torch.float64)
    features[:, 1] += 3.0 * yy[None, :, None]  # and it varies in space, so groups differ
    return features, labels


def reference_terms(features, labels, c, tau):
    """h(p) by a plain loop over query pixels (MONA Eq. 3 with every other-class pixel a negative)."""
    emb = F.normalize(features, dim=1)
    queries = [emb[b, :, i, j] for b, i, j in (labels == c).nonzero().tolist()]
    negatives = [emb[b, :, i, j] for b, i, j in ((labels >= 0) & (labels != c)).nonzero().tolist()]
    prototype = torch.stack(queries).mean(0)
    out = []
    for q in queries:
        pos = math.exp(float(q @ prototype) / tau)
        neg = sum(math.exp(float(q @ k) / tau) for k in negatives)
        out.append(-math.log(pos / (pos + neg)))
    return out


def test_contrast_terms_match_a_plain_loop_and_the_loss_module():
    features, labels = toy_batch()
    terms = [contrast_terms(features, labels, c, temperature=0.5) for c in range(3)]
    for c in range(3):
        expected = reference_terms(features, labels, c, 0.5)
        assert np.allclose(terms[c].loss_map[labels == c].numpy(), expected, atol=1e-10)
        assert torch.all(terms[c].loss_map[labels != c] == 0)
        assert terms[c].loss == pytest.approx(float(np.mean(expected)), abs=1e-12)
    module = AnatomicalContrastLoss(num_queries=None, num_negatives=None, hard_queries=False, temperature=0.5)
    assert float(module(features, labels)) == pytest.approx(np.mean([t.loss for t in terms]), abs=1e-10)
    full = pixel_loss_map(features, labels)
    assert torch.isnan(full[labels < 0]).all()
    for c in range(3):
        assert torch.allclose(full[labels == c], terms[c].loss_map[labels == c])


def test_prototype_gradient_map_averages_to_the_autograd_gradient():
    features, labels = toy_batch(1)
    terms = contrast_terms(features, labels, 1, temperature=0.3)
    emb = F.normalize(features, dim=1).movedim(1, -1)
    queries, negatives = emb[labels == 1], emb[(labels >= 0) & (labels != 1)]
    prototype = terms.prototype.clone().requires_grad_(True)
    positive = queries @ prototype / 0.3
    loss = (torch.logsumexp(torch.cat([positive[:, None], queries @ negatives.T / 0.3], 1), 1) - positive).mean()
    (grad,) = torch.autograd.grad(loss, prototype)
    assert torch.allclose(terms.gradient, grad, atol=1e-12)
    assert torch.allclose(terms.gradient_map[:, labels == 1].mean(dim=1), grad, atol=1e-12)
    assert torch.all(terms.gradient_map[:, labels != 1] == 0)


@pytest.mark.parametrize("method", ["ns", "sg", "sag"])
def test_monte_carlo_moments_agree_with_the_closed_forms(method):
    features, labels = toy_batch()
    terms = contrast_terms(features, labels, 0)
    study = estimator_study(terms.loss_map, terms.mask, 24, method, trials=600, seed=3, grid=3)
    assert study.theory_bias == pytest.approx(0.0, abs=1e-12), "NS, SG and SAG are unbiased (Theorem 3.2)"
    assert study.bias < 4 * study.bias_standard_error
    assert study.mc_variance == pytest.approx(study.theory_variance, rel=0.25)
    vector = estimator_study(terms.gradient_map, terms.mask, 24, method, trials=300, seed=4, grid=3)
    assert vector.estimates.shape == (300, features.shape[1])
    assert vector.mc_variance == pytest.approx(vector.theory_variance, rel=0.3)
    means, total = exact_moments(terms.gradient_map, terms.mask, 24, method, 3)
    assert np.allclose(means, terms.gradient.numpy(), atol=1e-12)
    assert total == pytest.approx(vector.theory_variance)


def test_draws_are_a_pure_function_of_the_seed_and_sg_beats_ns():
    features, labels = toy_batch()
    terms = contrast_terms(features, labels, 0)
    a = sampled_estimates(terms.loss_map, terms.mask, 16, "sag", 20, seed=7)
    b = sampled_estimates(terms.loss_map, terms.mask, 16, "sag", 20, seed=7)
    c = sampled_estimates(terms.loss_map, terms.mask, 16, "sag", 20, seed=8)
    assert torch.equal(a, b) and not torch.equal(a, c)
    studies = sweep(terms.loss_map, terms.mask, ns=(16, 64), grids=(4,), methods=("ns", "sg"), trials=50, seed=0)
    ratios = variance_ratios(studies)
    assert ratios[(4, 64, "ns")]["theory"] == 1.0
    assert ratios[(4, 64, "sg")]["theory"] < 1.0, "this map varies in space, so stratifying helps"


def test_block_strata_are_biased_when_blocks_differ_in_size():
    # 17 pixels in a row, 2 blocks of 9 and 8 pixels with very different values: equal draws
    # per block overweight the shorter one.
    mask = torch.zeros(1, 4, 17, dtype=torch.bool)
    mask[0, 0, :] = True
    values = torch.zeros(1, 4, 17, dtype=torch.float64)
    values[0, 0, 9:] = 10.0  # the second, shorter block
    target = float(values[mask].mean())
    mean, _ = theoretical_moments(values, mask, 64, "block", (1, 2))
    assert mean == pytest.approx(5.0) and target == pytest.approx(80 / 17)
    study = estimator_study(values, mask, 64, "block", trials=400, seed=1, grid=(1, 2))
    assert study.theory_bias == pytest.approx(5.0 - 80 / 17)
    assert abs(study.mc_mean[0] - mean) < 4 * study.bias_standard_error + 1e-12
    assert study.bias > 4 * study.bias_standard_error


def test_theorem_forms_printed_weighted_and_exact():
    # equal-size groups with integer proportional allocation: weighted form = exact SG
    values = torch.arange(64, dtype=torch.float64).reshape(1, 8, 8) ** 1.5
    mask = torch.ones(1, 8, 8, dtype=torch.bool)
    n, grid = 32, 2  # 4 groups of 16 pixels, 8 draws each
    ns = theoretical_moments(values, mask, n, "ns", grid)[1]
    sg = theoretical_moments(values, mask, n, "sg", grid)[1]
    weighted = weighted_theorem_variance(values, mask, n, grid)
    assert weighted == pytest.approx(sg, rel=1e-12)
    assert ns - weighted == pytest.approx(stratification_gain(values, mask, n, grid), rel=1e-12)
    printed = printed_theorem_variance(values, mask, n, grid)
    assert ns - printed == pytest.approx(4 * (ns - weighted), rel=1e-12), "printed sum lacks the weights 1/M"


def test_loss_module_values_have_the_predicted_moments():
    features, labels = toy_batch(2)
    for method in ("ns", "sag"):
        mean, var = contrast_loss_moments(features, labels, 16, method, grid=3)
        draws = loss_module_estimates(features, labels, 16, method, 200, grid=3, seed=5)
        assert abs(draws.mean() - mean) < 4 * math.sqrt(var / 200)
        assert draws.var(ddof=1) == pytest.approx(var, rel=0.35)


def test_handcrafted_embeddings_and_slice_choice():
    images = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    emb = handcrafted_embeddings(images, box_sizes=(3,))
    assert emb.shape == (3, 4, 8, 8) and emb.dtype == torch.float64
    assert torch.equal(emb, handcrafted_embeddings(images, box_sizes=(3,)))
    assert torch.allclose(emb[:, -2, 0, :], torch.linspace(-1, 1, 8, dtype=torch.float64).expand(3, 8))
    labels = torch.zeros(4, 5, 5, dtype=torch.long)
    labels[1, 0, 0], labels[1, 1, 1] = 1, 2
    labels[3, 0, 0] = 2
    assert representative_slices(labels, 3, 2).tolist() == [1, 3]


def test_bad_inputs_raise_value_errors():
    features, labels = toy_batch()
    with pytest.raises(ValueError, match="do not match features"):
        contrast_terms(features, labels[:, :5], 0)
    with pytest.raises(ValueError, match="class 7 has no pixel"):
        contrast_terms(features, labels, 7)
    with pytest.raises(ValueError, match="no pixel of another class"):
        contrast_terms(features, torch.zeros_like(labels), 0)
    with pytest.raises(ValueError, match="temperature"):
        contrast_terms(features, labels, 0, temperature=0.0)
    mask = labels == 1
    with pytest.raises(ValueError, match="shaped like mask"):
        sampled_estimates(torch.zeros(3, 3), mask, 4, "ns", 2)
    with pytest.raises(ValueError, match="trials"):
        sampled_estimates(mask.double(), mask, 4, "ns", 0)
    with pytest.raises(ValueError, match="images must be"):
        handcrafted_embeddings(torch.zeros(2, 3, 4, 4))
