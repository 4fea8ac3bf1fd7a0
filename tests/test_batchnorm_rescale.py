"""Rescaling the layers in front of BatchNorm keeps the function; filter-normalised surfaces
(mona_lab's and the package's) do not see it, the package's model-normalised surface does."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mona_lab.lab.batchnorm_rescale import rescale_before_batchnorm
from mona_lab.lab.landscape_comparison import package_random_plane
from mona_lab.lab.landscape import loss_surface

pytestmark = pytest.mark.usefixtures("single_thread")


def bn_net() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(4)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Flatten(), nn.Linear(4 * 36, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3),
    ).double()
    net.train()
    with torch.no_grad():
        for _ in range(5):
            net(torch.randn(8, 1, 6, 6, dtype=torch.float64) * 2 + 0.5)
        for layer in (net[1], net[4], net[8]):  # trained-looking affine parameters, no zero bias
            layer.bias.normal_()
            layer.weight.uniform_(0.5, 1.5)
    net.eval()
    return net, torch.randn(8, 1, 6, 6, dtype=torch.float64), torch.randint(0, 3, (8,))


def test_rescaled_copy_computes_the_same_function_with_other_weights():
    net, x, y = bn_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    big, count = rescale_before_batchnorm(net, 10.0)
    assert count == 3  # two convolutions and one linear layer sit in front of a BatchNorm
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
    assert torch.equal(big[0].weight, 10.0 * net[0].weight) and torch.equal(big[10].weight, net[10].weight)
    with torch.no_grad():
        torch.testing.assert_close(big(x), net(x), rtol=1e-6, atol=1e-6)


def test_filter_normalised_surfaces_ignore_the_rescaling_model_normalised_do_not():
    net, x, y = bn_net()
    big, _ = rescale_before_batchnorm(net, 10.0)

    def loss_fn(m: nn.Module) -> float:
        return float(nn.functional.cross_entropy(m(x), y))

    _, ours = loss_surface(net, loss_fn, distance=0.5, steps=5, seed=0)
    _, ours_big = loss_surface(big, loss_fn, distance=0.5, steps=5, seed=0)
    np.testing.assert_allclose(ours_big, ours, rtol=1e-6)
    planes = {norm: [package_random_plane(m, loss_fn, half_width=0.5, steps=4, seed=0, normalization=norm).values
                     for m in (net, big)] for norm in ("filter", "model")}
    np.testing.assert_allclose(planes["filter"][1], planes["filter"][0], rtol=1e-6)
    assert np.abs(planes["model"][1] - planes["model"][0]).max() > 1e-2 * np.abs(planes["model"][0]).max()


def test_bad_arguments():
    net, _, _ = bn_net()
    for factor in (0.0, -1.0, float("nan"), True):
        with pytest.raises(ValueError, match="factor"):
            rescale_before_batchnorm(net, factor)
    with pytest.raises(ValueError, match="model"):
        rescale_before_batchnorm("net", 2.0)
    with pytest.raises(ValueError, match="normalization"):
        package_random_plane(net, lambda m: 0.0, half_width=0.5, steps=3, normalization="none")
