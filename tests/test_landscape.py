"""Loss surfaces: exact restoration of the model, filter-normalised Gaussian directions,
a grid that spans exactly +-distance, agreement with a closed-form quadratic, BatchNorm in
eval mode, argument checks."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mona_lab.lab.landscape import (
    filter_normalized_direction,
    grid_coordinates,
    loss_surface,
    surface_directions,
)


pytestmark = pytest.mark.usefixtures("single_thread")


class SmallBNNet(nn.Module):
    """Conv -> BN -> ReLU -> ConvTranspose -> BN -> Linear head; has frozen and eval parts."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.up = nn.ConvTranspose2d(4, 3, 2, stride=2)
        self.bn2 = nn.BatchNorm2d(3)
        self.head = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn1(self.conv(x)))
        h = torch.relu(self.bn2(self.up(h)))
        return self.head(h.mean(dim=(2, 3)))


def make_bn_net(seed: int = 0) -> tuple[SmallBNNet, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    net = SmallBNNet()
    x = torch.randn(6, 1, 8, 8)
    y = torch.randint(0, 2, (6,))
    net.train()
    with torch.no_grad():  # non-trivial running statistics and BN affine parameters
        for _ in range(3):
            net(torch.randn(6, 1, 8, 8) * 2 + 1)
        net.bn1.bias.normal_()
        net.bn2.weight.uniform_(0.5, 1.5)
    return net, x, y


def snapshot(model: nn.Module) -> dict:
    return {
        "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "modes": [m.training for m in model.modules()],
    }


def assert_unchanged(model: nn.Module, before: dict) -> None:
    after = snapshot(model)
    assert before["requires_grad"] == after["requires_grad"]
    assert before["modes"] == after["modes"]
    for key, value in before["state"].items():
        assert torch.equal(value, after["state"][key]), key  # bit for bit, buffers included


# ----------------------------------------------------------------------------- restoration
def test_model_is_restored_exactly_and_swept_in_eval_mode():
    net, x, y = make_bn_net()
    net.head.weight.requires_grad_(False)  # a frozen parameter keeps its flag
    net.bn2.eval()  # a submodule in a different mode than its parent keeps its mode
    before = snapshot(net)
    seen_modes = []

    def loss_fn(model: nn.Module) -> float:
        seen_modes.append([m.training for m in model.modules()])
        return nn.functional.cross_entropy(model(x), y).item()

    coords, values = loss_surface(net, loss_fn, distance=0.5, steps=3, dims=2, seed=1)
    assert values.shape == (3, 3) and np.all(np.isfinite(values))
    assert len(seen_modes) == 9 and not any(any(modes) for modes in seen_modes)
    assert_unchanged(net, before)


def test_restored_even_when_loss_fn_misbehaves_or_raises():
    net, x, y = make_bn_net()
    before = snapshot(net)
    calls = []

    def rogue_loss(model: nn.Module) -> float:
        calls.append(1)
        model.train()  # switches BN to training: forward now updates running stats
        model.conv.weight.requires_grad_(False)
        out = model(x)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return float(out.sum())

    with pytest.raises(RuntimeError, match="boom"):
        loss_surface(net, rogue_loss, steps=3, dims=2)
    assert_unchanged(net, before)


# ----------------------------------------------------------------------------- directions
def test_direction_has_filter_norms_and_zero_1d_parameters():
    net, _, _ = make_bn_net()
    with torch.no_grad():
        net.conv.weight[2].zero_()  # a dead filter gets a zero direction, not NaN
    gen = torch.Generator().manual_seed(3)
    direction = filter_normalized_direction(net, gen)
    params = list(net.parameters())
    assert len(direction) == len(params)
    for d, p in zip(direction, params):
        assert d.shape == p.shape and d.dtype == p.dtype and d.device == p.device
        assert torch.isfinite(d).all()
        if p.ndim == 1:
            assert torch.count_nonzero(d) == 0  # biases and BN parameters stay put
    # Conv2d [out, in, k, k] and Linear [out, in]: filters along axis 0
    for d, w in ((direction[0], net.conv.weight), (direction[-2], net.head.weight)):
        torch.testing.assert_close(d.flatten(1).norm(dim=1), w.detach().flatten(1).norm(dim=1), rtol=1e-5, atol=1e-7)
    assert torch.count_nonzero(direction[0][2]) == 0
    # ConvTranspose2d [in, out, k, k]: filters are output channels, axis 1
    up_index = [i for i, p in enumerate(params) if p is net.up.weight][0]
    d_up, w_up = direction[up_index], net.up.weight.detach()
    torch.testing.assert_close(
        d_up.transpose(0, 1).flatten(1).norm(dim=1), w_up.transpose(0, 1).flatten(1).norm(dim=1), rtol=1e-5, atol=1e-7
    )


def test_directions_are_gaussian_deterministic_and_independent():
    layer = nn.Linear(400, 50, bias=True)
    with torch.no_grad():
        layer.weight.fill_(1.0)  # every filter norm is 20, so d = 20 * g / ||g||
    d1, d2 = surface_directions(layer, dims=2, seed=7)
    again = surface_directions(layer, dims=2, seed=7)
    other = surface_directions(layer, dims=2, seed=8)
    assert torch.equal(d1[0], again[0][0]) and torch.equal(d2[0], again[1][0])
    assert not torch.equal(d1[0], other[0][0])
    assert not torch.equal(d1[0], d2[0])
    # Gaussian, not uniform on [0, 1): symmetric signs, unit variance after undoing the scale
    standardised = (d1[0] / 20.0 * np.sqrt(400)).flatten()
    assert 0.45 < (standardised < 0).float().mean().item() < 0.55
    assert abs(standardised.std().item() - 1.0) < 0.05
    kurtosis = (standardised**4).mean().item() / standardised.var().item() ** 2
    assert abs(kurtosis - 3.0) < 0.3  # a uniform law would give 1.8
    cosine = (d1[0] * d2[0]).sum() / (d1[0].norm() * d2[0].norm())
    assert abs(cosine.item()) < 0.05


def test_direction_generator_must_be_on_the_parameters_device():
    with pytest.raises(ValueError, match="generator"):
        filter_normalized_direction(nn.Linear(2, 2), "not a generator")  # type: ignore[arg-type]
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match="cuda"):
            filter_normalized_direction(nn.Linear(2, 2).cuda(), torch.Generator())


# ----------------------------------------------------------------------------- the grid
@pytest.mark.parametrize("distance, steps", [(1.0, 21), (0.3, 21), (2.5, 4), (0.7, 2)])
def test_grid_spans_exactly_plus_minus_distance(distance, steps):
    coords = grid_coordinates(distance, steps)
    np.testing.assert_allclose(coords, np.linspace(-distance, distance, steps), rtol=0, atol=1e-15)
    assert coords[0] == -distance and coords[-1] == distance
    np.testing.assert_array_equal(coords, -coords[::-1])
    if steps % 2:
        assert coords[steps // 2] == 0.0


def test_quadratic_surface_matches_closed_form():
    # loss = ||W - W0||^2 + ||W||^2 on a bias-free Linear: with directions d1, d2,
    # loss(a, b) = ||a d1 + b d2||^2 + ||W0 + a d1 + b d2||^2 exactly
    torch.manual_seed(0)
    layer = nn.Linear(5, 3, bias=False).double()
    w0 = layer.weight.detach().clone()

    def loss_fn(model: nn.Module) -> float:
        return float(((model.weight - w0) ** 2).sum() + (model.weight**2).sum())

    coords, values = loss_surface(layer, loss_fn, distance=1.5, steps=7, dims=2, seed=11)
    d1, d2 = (d[0] for d in surface_directions(layer, dims=2, seed=11))
    a = torch.as_tensor(coords[0]).view(-1, 1, 1, 1)
    b = torch.as_tensor(coords[1]).view(1, -1, 1, 1)
    offset = a * d1 + b * d2
    expected = (offset**2).sum(dim=(2, 3)) + ((w0 + offset) ** 2).sum(dim=(2, 3))
    np.testing.assert_allclose(values, expected.numpy(), rtol=1e-12, atol=1e-12)
    assert torch.equal(layer.weight, w0)


def test_distance_is_measured_in_filter_norms_not_inversely():
    # along one axis loss(a) = a^2 * sum_i ||w_i||^2 = a^2 ||W0||^2, whatever the random draw
    torch.manual_seed(1)
    layer = nn.Linear(6, 4, bias=False).double()
    w0 = layer.weight.detach().clone()
    norm_sq = float((w0**2).sum())
    for distance in (0.5, 2.0):
        coords, values = loss_surface(
            layer, lambda m: float(((m.weight - w0) ** 2).sum()), distance=distance, steps=5, dims=1, seed=2
        )
        assert len(coords) == 1 and values.shape == (5,)
        np.testing.assert_allclose(values, coords[0] ** 2 * norm_sq, rtol=1e-12)
        assert values[-1] == pytest.approx(distance**2 * norm_sq, rel=1e-12)


def test_batchnorm_model_uses_eval_mode_and_centre_matches_explicit_eval():
    net, x, y = make_bn_net()
    net.train()
    before = snapshot(net)

    def loss_fn(model: nn.Module) -> float:
        return nn.functional.cross_entropy(model(x), y).item()

    coords, values = loss_surface(net, loss_fn, distance=1.0, steps=5, dims=2, seed=0)
    assert_unchanged(net, before)
    assert np.all(np.isfinite(values)) and values.std() > 0
    net.eval()
    with torch.no_grad():
        eval_loss = loss_fn(net)
    net.train()
    with torch.no_grad():
        train_loss = nn.functional.cross_entropy(net(x), y).item()  # would drift BN stats
    assert values[2, 2] == pytest.approx(eval_loss, rel=1e-6)
    assert abs(train_loss - eval_loss) > 1e-3  # so the check above tells eval from train


def test_same_seed_same_surface_and_tensor_losses_accepted():
    net, x, y = make_bn_net()

    def loss_fn(model: nn.Module) -> torch.Tensor:
        return nn.functional.cross_entropy(model(x), y)

    _, v1 = loss_surface(net, loss_fn, steps=3, dims=1, seed=5)
    _, v2 = loss_surface(net, loss_fn, steps=3, dims=1, seed=5)
    _, v3 = loss_surface(net, loss_fn, steps=3, dims=1, seed=6)
    np.testing.assert_array_equal(v1, v2)
    assert not np.array_equal(v1, v3)


# ----------------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"steps": 1}, "steps"),
        ({"steps": 2.0}, "steps"),
        ({"dims": 3}, "dims"),
        ({"dims": 0}, "dims"),
        ({"distance": 0.0}, "distance"),
        ({"distance": -1.0}, "distance"),
        ({"distance": float("nan")}, "distance"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, match):
    layer = nn.Linear(2, 2)
    with pytest.raises(ValueError, match=match):
        loss_surface(layer, lambda m: 0.0, **kwargs)


def test_bad_model_or_loss_fn_raise_value_error():
    with pytest.raises(ValueError, match="no parameters"):
        loss_surface(nn.ReLU(), lambda m: 0.0)
    with pytest.raises(ValueError, match="nn.Module"):
        loss_surface(lambda x: x, lambda m: 0.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="callable"):
        loss_surface(nn.Linear(2, 2), 3.0)  # type: ignore[arg-type]
    layer = nn.Linear(2, 2)
    before = snapshot(layer)
    with pytest.raises(ValueError, match=r"scalar.*\(2, 2\)"):
        loss_surface(layer, lambda m: m.weight.detach(), steps=2, dims=1)
    assert_unchanged(layer, before)


# ----------------------------------------------------------------------------- devices
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_model_on_cuda_works_and_directions_live_there():
    net, x, y = make_bn_net()
    net = net.cuda()
    x, y = x.cuda(), y.cuda()
    before = snapshot(net)
    directions = surface_directions(net, dims=2, seed=0)
    assert all(d.device.type == "cuda" for direction in directions for d in direction)
    coords, values = loss_surface(
        net, lambda m: nn.functional.cross_entropy(m(x), y).item(), steps=3, dims=2, seed=0
    )
    assert values.shape == (3, 3) and np.all(np.isfinite(values))
    assert_unchanged(net, before)


# ----------------------------------------------------------------------------- given directions
def test_given_directions_are_swept_and_checked():
    torch.manual_seed(3)
    layer = nn.Linear(3, 2).double()
    w0, b0 = layer.weight.detach().clone(), layer.bias.detach().clone()
    d = [torch.ones_like(w0), torch.zeros_like(b0)]
    coords, values = loss_surface(layer, lambda m: float(m.weight.sum()), distance=2.0, steps=5, dims=1,
                                  directions=[d])
    np.testing.assert_allclose(values, float(w0.sum()) + coords[0] * w0.numel(), rtol=1e-12)
    assert torch.equal(layer.weight, w0) and torch.equal(layer.bias, b0)
    with pytest.raises(ValueError, match="dims=1"):
        loss_surface(layer, lambda m: 0.0, dims=1, steps=3, directions=[d, d])
    with pytest.raises(ValueError, match=r"directions\[0\]"):
        loss_surface(layer, lambda m: 0.0, dims=1, steps=3, directions=[[torch.ones(2, 2), b0]])
