"""The loss-landscapes package measured next to mona_lab.lab.landscape: its grid and recovered
directions reproduce its own values, its directions are uniform and perturb 1-D parameters,
its extent is inverse in ``distance``, it fails on zero BatchNorm biases, and it leaves the
model it sweeps moved and frozen unless run with a deep copy."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from loss_landscapes import random_plane
from loss_landscapes.metrics import Loss
from torch import nn

from mona_lab.lab.landscape_comparison import (
    ModelLoss,
    all_zero_one_d,
    direction_profile,
    package_distance,
    package_grid,
    package_random_plane,
    state_change,
    without_one_d,
)
from mona_lab.lab.landscape import loss_surface, surface_directions

pytestmark = pytest.mark.usefixtures("single_thread")


def small_net() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2)).double().eval()
    return net, torch.randn(8, 3, dtype=torch.float64), torch.randn(8, 2, dtype=torch.float64)


def bn_net(train_bias: bool) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 16, 1))
    x, y = torch.randn(6, 1, 6, 6), torch.randn(6, 1)
    net.train()
    net(x)  # non-trivial running statistics
    if train_bias:
        with torch.no_grad():
            net[1].bias.normal_()
    return net, x, y


def test_grid_and_recovered_directions_reproduce_the_package_values():
    net, x, y = small_net()
    theta = [p.detach().clone() for p in net.parameters()]

    def loss_fn(m: nn.Module) -> float:
        return float(((m(x) - y) ** 2).mean().detach())

    for steps in (4, 5):
        plane = package_random_plane(net, loss_fn, half_width=0.75, steps=steps, seed=3)
        assert plane.values.shape == (steps, steps) and plane.beta.shape == (steps, steps)
        for i in range(steps):
            for j in range(steps):
                with torch.no_grad():
                    for p, t, d1, d2 in zip(net.parameters(), theta, *plane.directions):
                        p.copy_(t + plane.alpha[i] * d1 + plane.beta[i, j] * d2)
                    assert loss_fn(net) == pytest.approx(plane.values[i, j], rel=1e-9)
        with torch.no_grad():
            for p, t in zip(net.parameters(), theta):
                p.copy_(t)
        # the grid: starts half a plane below, odd rows one step lower than even rows
        h = 2 * 0.75 / steps
        assert plane.alpha[0] == pytest.approx(-0.75) and plane.alpha[-1] == pytest.approx(0.75 - h)
        np.testing.assert_allclose(plane.beta[0] - plane.beta[1], h)
        assert (0.0 in plane.alpha) == (steps % 2 == 0)


def test_package_directions_have_the_weights_norm_and_extent_is_inverse_in_distance():
    net, x, y = small_net()
    theta_norm = float(torch.cat([p.detach().reshape(-1) for p in net.parameters()]).norm())
    plane = package_random_plane(net, lambda m: 0.0, half_width=0.5, steps=4, seed=0)
    for direction in plane.directions:  # filter-normalised: ||d|| = ||theta||, biases included
        assert float(torch.cat([d.reshape(-1) for d in direction]).norm()) == pytest.approx(theta_norm, rel=1e-9)
    assert package_distance(0.5) == 1.0 and package_distance(2.0) == 0.25
    # the raw package: the largest displacement shrinks as distance grows
    for distance, half in ((0.5, 1.0), (2.0, 0.25)):
        theta = torch.cat([p.detach().reshape(-1) for p in net.parameters()]).clone()

        def moved(m: object) -> float:
            flat = torch.cat([p.detach().reshape(-1) for p in m.get_module_parameters()])
            return float((flat - theta).abs().max())

        class Displacement(ModelLoss):
            def __call__(self, wrapper: object) -> float:
                return moved(wrapper)

        values = random_plane(net, Displacement(lambda m: 0.0), distance=distance, steps=4, deepcopy_model=True)
        alpha, _ = package_grid(half, 4)
        assert alpha[0] == pytest.approx(-half)
        assert values.max() > 0
        if distance == 0.5:
            wide = values.max()
        else:
            assert values.max() < wide / 2  # four times the distance: a quarter of the extent


def test_package_directions_are_uniform_and_move_one_d_parameters_unlike_mona_lab():
    net, x, y = small_net()
    plane = package_random_plane(net, lambda m: 0.0, half_width=1.0, steps=3, seed=1)
    first = direction_profile(plane.directions[0], net)
    assert first["positive_fraction"] == 1.0
    assert first["one_d_ratio"] == pytest.approx(1.0, rel=1e-9)
    ours = [direction_profile(d, net) for d in surface_directions(net, 2, 1)]
    assert all(p["one_d_ratio"] == 0.0 for p in ours)
    assert all(0.0 < p["positive_fraction"] < 1.0 for p in ours)
    assert direction_profile(without_one_d(plane.directions[0]), net)["one_d_ratio"] == 0.0
    with pytest.raises(ValueError, match="direction"):
        direction_profile(plane.directions[0][:1], net)


def test_clean_sweep_along_package_directions_matches_package_at_shared_points():
    net, x, y = small_net()

    def loss_fn(m: nn.Module) -> float:
        return float(((m(x) - y) ** 2).mean().detach())

    plane = package_random_plane(net, loss_fn, half_width=1.0, steps=4, seed=2)
    coords, values = loss_surface(net, loss_fn, distance=1.0, steps=3, directions=plane.directions)
    np.testing.assert_array_equal(coords[0], [-1.0, 0.0, 1.0])
    # package rows alpha = -1, -0.5, 0, 0.5; even rows (0 and 2) have beta = -0.5, 0, 0.5, 1
    np.testing.assert_array_equal(plane.alpha, [-1.0, -0.5, 0.0, 0.5])
    np.testing.assert_array_equal(plane.beta[0], [-0.5, 0.0, 0.5, 1.0])
    for (a, b), (i, j) in {(0, 1): (0, 1), (0, 2): (0, 3), (1, 1): (2, 1), (1, 2): (2, 3)}.items():
        assert values[a, b] == pytest.approx(plane.values[i, j], rel=1e-9)
    assert values[1, 1] == pytest.approx(loss_fn(net), rel=1e-12)  # the centre: only mona_lab's grid has it


def test_caller_model_and_random_state_untouched_and_eval_required():
    net, x, y = bn_net(train_bias=True)
    net.eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    rng = torch.get_rng_state()
    package_random_plane(net, lambda m: float(m(x).mean()), half_width=0.5, steps=3, seed=0)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
    assert all(p.requires_grad for p in net.parameters())
    assert torch.equal(rng, torch.get_rng_state())
    net.train()
    with pytest.raises(ValueError, match="eval"):
        package_random_plane(net, lambda m: 0.0, half_width=0.5, steps=3)


def test_zero_batchnorm_bias_makes_the_package_fail_but_not_mona_lab():
    net, x, y = bn_net(train_bias=False)
    net.eval()
    assert all_zero_one_d(net) == ["1.bias"]  # the untrained BatchNorm bias
    with pytest.raises(ZeroDivisionError):
        package_random_plane(net, lambda m: float(m(x).mean()), half_width=0.5, steps=3)
    _, values = loss_surface(net, lambda m: float(m(x).mean()), distance=0.5, steps=3)
    assert np.all(np.isfinite(values))
    with torch.no_grad():  # one zero element among non-zero ones is not enough to fail
        net[1].bias.copy_(torch.tensor([0.0, 0.5, -0.5]))
    assert all_zero_one_d(net) == []
    package_random_plane(net, lambda m: float(m(x).mean()), half_width=0.5, steps=3)


def test_state_change_package_default_moves_freezes_and_updates_batchnorm():
    net, x, y = bn_net(train_bias=True)
    net.train()
    n_params = len(list(net.parameters()))
    package = state_change(net, lambda m: random_plane(m, Loss(nn.functional.mse_loss, x, y), distance=1.0, steps=3))
    assert package.parameter_distance > 0.1
    assert package.frozen == n_params
    assert package.buffers_changed == 3  # running mean, running var, batch counter
    ours = state_change(net, lambda m: loss_surface(m, lambda k: float(k(x).mean()), distance=1.0, steps=3))
    assert (ours.parameter_distance, ours.frozen, ours.buffers_changed, ours.modes_changed) == (0.0, 0, 0, 0)
    assert all(p.requires_grad for p in net.parameters())  # state_change worked on a copy


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(half_width=0.0), "half_width"),
        (dict(half_width=float("inf")), "half_width"),
        (dict(steps=1), "steps"),
        (dict(steps=3.0), "steps"),
        (dict(seed=-1), "seed"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, match):
    net, x, y = small_net()
    args = dict(half_width=1.0, steps=3, seed=0) | kwargs
    with pytest.raises(ValueError, match=match):
        package_random_plane(net, lambda m: 0.0, **args)


def test_bad_model_loss_or_sweep_raise_value_error():
    with pytest.raises(ValueError, match="model"):
        package_random_plane("net", lambda m: 0.0)
    with pytest.raises(ValueError, match="loss_fn"):
        ModelLoss(3)
    with pytest.raises(ValueError, match="sweep"):
        state_change(nn.Linear(2, 2), None)
    with pytest.raises(ValueError, match="half_width"):
        package_grid(-1.0, 3)


def test_the_readme_keyword_normalize_does_not_exist():
    net, x, y = small_net()
    with pytest.raises(TypeError, match="normalize"):
        random_plane(net, Loss(nn.functional.mse_loss, x, y), normalize="filter", deepcopy_model=True)
