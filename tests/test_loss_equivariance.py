"""EquivarianceLoss: symmetric KL between T(F(x)) and F(T(x)) (MONA Eq. 6)."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mona_lab.losses.equivariance import EquivarianceLoss


def reference_eqv(a, b, mask=None):
    """Eq. 6 pixel by pixel: KL(P||Q) + KL(Q||P), averaged over the (masked) pixels."""
    batch, classes, height, width = a.shape
    total, count = 0.0, 0.0
    for i in range(batch):
        for y in range(height):
            for x in range(width):
                weight = 1.0 if mask is None else float(mask[i, y, x])
                za = [float(a[i, c, y, x]) for c in range(classes)]
                zb = [float(b[i, c, y, x]) for c in range(classes)]
                pa = [math.exp(v) / sum(math.exp(u) for u in za) for v in za]
                pb = [math.exp(v) / sum(math.exp(u) for u in zb) for v in zb]
                kl_ab = sum(p * math.log(p / q) for p, q in zip(pa, pb))
                kl_ba = sum(q * math.log(q / p) for p, q in zip(pa, pb))
                total += weight * (kl_ab + kl_ba)
                count += weight
    return total / count


def test_matches_plain_reference_with_and_without_mask():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 2, 3, 4, 5, generator=g, dtype=torch.float64)
    mask = torch.rand(2, 4, 5, generator=g) > 0.3
    loss = EquivarianceLoss()
    assert loss(a, b).item() == pytest.approx(reference_eqv(a, b), rel=1e-6)
    assert loss(a, b, mask).item() == pytest.approx(reference_eqv(a, b, mask), rel=1e-6)


def test_zero_for_equal_maps_and_symmetric_in_its_arguments():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(2, 2, 4, 6, 6, generator=g)
    loss = EquivarianceLoss()
    assert loss(a, a).item() == pytest.approx(0.0, abs=1e-7)
    assert loss(a, a + 3.0).item() == pytest.approx(0.0, abs=1e-6)  # same softmax
    assert loss(a, b).item() == pytest.approx(loss(b, a).item(), rel=1e-6)


def test_temperature_divides_the_logits():
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(2, 1, 3, 4, 4, generator=g)
    assert EquivarianceLoss(temperature=2.0)(a, b).item() == pytest.approx(
        EquivarianceLoss()(a / 2.0, b / 2.0).item(), rel=1e-6
    )


def test_flip_equivariant_network_scores_zero_and_a_lopsided_one_does_not():
    # T = horizontal flip. A convolution with a left-right symmetric kernel commutes with it.
    g = torch.Generator().manual_seed(3)
    image = torch.rand(2, 1, 8, 8, generator=g)
    symmetric = torch.nn.Conv2d(1, 3, 3, padding=1)
    lopsided = torch.nn.Conv2d(1, 3, 3, padding=1)
    with torch.no_grad():
        weight = torch.randn(3, 1, 3, 3, generator=g)
        symmetric.weight.copy_(weight + weight.flip(-1))
        lopsided.weight.copy_(weight * torch.tensor([3.0, 0.0, -3.0]))
    loss = EquivarianceLoss()
    for net, is_equivariant in ((symmetric, True), (lopsided, False)):
        value = loss(net(image).flip(-1), net(image.flip(-1))).item()
        assert (value < 1e-10) == is_equivariant


def test_pixels_outside_the_mask_do_not_matter():
    # T = shift right by 2 pixels: the first two columns of T(F(x)) come from outside.
    g = torch.Generator().manual_seed(4)
    image = torch.rand(1, 1, 6, 6, generator=g)
    net = torch.nn.Conv2d(1, 2, 1)
    shifted_prediction = torch.zeros(1, 2, 6, 6)
    shifted_prediction[..., 2:] = net(image)[..., :-2]
    shifted_image = torch.zeros_like(image)
    shifted_image[..., 2:] = image[..., :-2]
    valid = torch.ones(1, 6, 6, dtype=torch.bool)
    valid[..., :2] = False
    loss = EquivarianceLoss()
    masked = loss(shifted_prediction, net(shifted_image), valid)
    assert masked.item() < 1e-10  # a 1x1 conv commutes with the shift on real pixels
    assert loss(shifted_prediction, net(shifted_image)).item() > 1e-4
    assert loss(shifted_prediction, net(shifted_image), valid.unsqueeze(1).float()).item() == (
        pytest.approx(masked.item(), abs=1e-12)
    )


def test_empty_mask_gives_zero_with_gradient_path():
    a = torch.randn(1, 3, 4, 4, requires_grad=True)
    b = torch.randn(1, 3, 4, 4, requires_grad=True)
    value = EquivarianceLoss()(a, b, torch.zeros(1, 4, 4, dtype=torch.bool))
    value.backward()
    assert value.item() == 0.0
    assert torch.equal(a.grad, torch.zeros_like(a)) and torch.equal(b.grad, torch.zeros_like(b))


@settings(max_examples=20)
@given(
    batch=st.integers(1, 2),
    classes=st.integers(1, 4),
    height=st.integers(1, 4),
    width=st.integers(1, 4),
    scale=st.sampled_from([0.0, 1.0, 50.0]),
    keep=st.sampled_from([0.0, 0.5, 1.0]),
    seed=st.integers(0, 2**16),
)
def test_finite_value_and_gradient(batch, classes, height, width, scale, keep, seed):
    g = torch.Generator().manual_seed(seed)
    a = (torch.randn(batch, classes, height, width, generator=g) * scale).requires_grad_()
    b = (torch.randn(batch, classes, height, width, generator=g) * scale).requires_grad_()
    mask = torch.rand(batch, height, width, generator=g) < keep
    for value in (EquivarianceLoss()(a, b), EquivarianceLoss(0.1)(a, b, mask)):
        grads = torch.autograd.grad(value, (a, b))
        assert torch.isfinite(value) and value.item() >= 0.0
        assert all(torch.isfinite(grad).all() for grad in grads)


def test_bad_inputs_raise_naming_shapes():
    loss = EquivarianceLoss()
    with pytest.raises(ValueError, match=r"\(1, 3, 4, 4\).*\(1, 3, 4, 5\)"):
        loss(torch.randn(1, 3, 4, 4), torch.randn(1, 3, 4, 5))
    with pytest.raises(ValueError, match=r"valid_mask.*\(1, 4\)"):
        loss(torch.randn(1, 3, 4, 4), torch.randn(1, 3, 4, 4), torch.ones(1, 4))
    with pytest.raises(ValueError, match="temperature"):
        EquivarianceLoss(temperature=-1.0)


def test_falls_under_sgd_towards_a_flip_equivariant_network():
    torch.manual_seed(0)
    image = torch.rand(4, 1, 8, 8)
    net = torch.nn.Conv2d(1, 3, 3, padding=1)
    optimiser = torch.optim.SGD(net.parameters(), lr=1.0)
    loss = EquivarianceLoss()
    values = []
    for _ in range(10):
        optimiser.zero_grad()
        value = loss(net(image).flip(-1), net(image.flip(-1)))
        value.backward()
        optimiser.step()
        values.append(value.item())
    assert values[-1] < 0.1 * values[0]
