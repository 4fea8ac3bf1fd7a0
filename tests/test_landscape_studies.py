"""Several losses on one landscape sweep: one forward per grid point, surfaces equal to
separate `loss_surface` sweeps, the model restored; surface noise and sharpness helpers."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mona_lab.lab.landscape_studies import loss_surfaces, sharpness, surface_noise
from mona_lab.lab.landscape import loss_surface


def small_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))


def test_surfaces_match_separate_sweeps_with_one_forward_per_point() -> None:
    model = small_model()
    x, y = torch.randn(8, 3, generator=torch.Generator().manual_seed(1)), torch.tensor([0, 1] * 4)
    before = [p.detach().clone() for p in model.parameters()]
    calls = []

    def forward(m):
        calls.append(1)
        return m(x)

    losses = {"ce": lambda out: nn.functional.cross_entropy(out, y), "mean": lambda out: out.mean()}
    coords, surfaces = loss_surfaces(model, forward, losses, distance=0.5, steps=5, dims=2, seed=3)
    assert len(calls) == 25, "the network runs once per grid point, not once per loss"
    for name, fn in losses.items():
        _, alone = loss_surface(model, lambda m: fn(m(x)), distance=0.5, steps=5, dims=2, seed=3)
        assert np.array_equal(surfaces[name], alone)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert coords[0][2] == 0.0


def test_sampled_loss_draws_afresh_at_every_point() -> None:
    model = small_model()
    generator = torch.Generator().manual_seed(0)
    _, surfaces = loss_surfaces(model, lambda m: m(torch.ones(1, 3)),
                                {"exact": lambda out: out.sum(), "noisy": lambda out: out.sum() + torch.randn(1, generator=generator)},
                                steps=7, dims=1)
    noise = surface_noise(surfaces["noisy"], surfaces["exact"])
    assert 0.3 < noise < 2.0, "unit Gaussian noise has RMS about 1"


def test_helper_errors_and_sharpness() -> None:
    coords = np.linspace(-1, 1, 5)
    assert sharpness(coords, 3 * coords**2) == pytest.approx(6.0)
    with pytest.raises(ValueError, match="odd number"):
        sharpness(np.linspace(-1, 1, 4), np.zeros(4))
    with pytest.raises(ValueError, match="differ in shape"):
        surface_noise(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="at least one"):
        loss_surfaces(small_model(), lambda m: None, {})
    with pytest.raises(ValueError, match="must return a scalar"):
        loss_surfaces(small_model(), lambda m: m(torch.ones(2, 3)), {"vector": lambda out: out}, steps=3, dims=1)
