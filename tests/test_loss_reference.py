"""The fast pixel contrast (AnatomicalContrastLoss) against the plain Eq. 3-4 of
mona_lab.losses.reference: exact mode, and sampled draws of every sampler."""
from __future__ import annotations

import pytest
import torch

from mona_lab.losses.anatomical_contrast import AnatomicalContrastLoss
from mona_lab.losses.reference import drawn_contrast_reference, exact_contrast_reference


def batch(seed=0, classes=3):
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(2, 6, 8, 8, generator=generator, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, classes, (2, 8, 8), generator=generator)
    labels[torch.rand(2, 8, 8, generator=generator) < 0.1] = -1
    probs = torch.softmax(2.0 * torch.randn(2, classes, 8, 8, generator=generator, dtype=torch.float64), dim=1)
    return features, labels, probs


@pytest.mark.parametrize("hard", [True, False])
def test_exact_mode_equals_the_plain_equation_value_and_gradient(hard):
    features, labels, probs = batch(1)
    fast = AnatomicalContrastLoss(num_queries=None, num_negatives=None, threshold=0.6, hard_queries=hard, temperature=0.5)
    loss, reference = fast(features, labels, probs), exact_contrast_reference(features, labels, probs, 0.6, 0.5, hard)
    (g_fast,), (g_ref,) = torch.autograd.grad(loss, features), torch.autograd.grad(reference, features)
    assert loss.item() == pytest.approx(reference.item(), rel=1e-10)
    assert torch.allclose(g_fast, g_ref, atol=1e-12)


@pytest.mark.parametrize("sampler", ["ns", "sg", "sag"])
def test_a_sampled_draw_gives_the_plain_equation_on_that_draw(sampler):
    features, labels, probs = batch(2)
    fast = AnatomicalContrastLoss(num_queries=8, num_negatives=12, threshold=0.97, temperature=0.3, sampler=sampler, grid=2)
    loss = fast(features, labels, probs, generator=torch.Generator().manual_seed(5))
    reference = drawn_contrast_reference(features, labels, fast.last_draw, 0.3)
    assert loss.item() == pytest.approx(reference.item(), rel=1e-10)
    (g_fast,), (g_ref,) = torch.autograd.grad(loss, features), torch.autograd.grad(reference, features)
    assert torch.allclose(g_fast, g_ref, atol=1e-12)


def test_the_reference_refuses_memory_bank_draws():
    features, labels, probs = batch(3)
    fast = AnatomicalContrastLoss(3, 6, num_queries=4, num_negatives=4, memory_size=8, memory_push=4)
    fast.train()
    fast(features, labels, probs, generator=torch.Generator().manual_seed(0))
    fast(features, labels, probs, generator=torch.Generator().manual_seed(1))  # the bank now holds keys
    assert fast.last_draw.key_memory_index.numel() > 0
    with pytest.raises(ValueError, match="memory-bank"):
        drawn_contrast_reference(features, labels, fast.last_draw, 0.5)
