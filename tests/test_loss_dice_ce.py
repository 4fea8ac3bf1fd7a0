"""DiceCELoss: the papers' L_sup (equal mix of soft Dice and cross-entropy)."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mona_lab.losses.dice_ce import DiceCELoss


def reference_dice_ce(logits, labels, include_background, smooth, squared, ignore_index=-1):
    """Plain loops: SSL4MIS-style Dice over classes + mean CE over non-ignored pixels."""
    b, c, h, w = logits.shape
    pixels = [
        (i, y, x) for i in range(b) for y in range(h) for x in range(w)
        if int(labels[i, y, x]) != ignore_index
    ]
    probs = []
    ce = 0.0
    for i, y, x in pixels:
        scores = [float(logits[i, k, y, x]) for k in range(c)]
        top = max(scores)
        norm = sum(math.exp(s - top) for s in scores)
        p = [math.exp(s - top) / norm for s in scores]
        probs.append(p)
        ce -= math.log(p[int(labels[i, y, x])])
    ce /= len(pixels)
    classes = range(c) if include_background or c == 1 else range(1, c)
    dices = []
    for k in classes:
        inter = sum(p[k] * (int(labels[i, y, x]) == k) for p, (i, y, x) in zip(probs, pixels))
        g = sum(float(int(labels[i, y, x]) == k) for i, y, x in pixels)
        s = sum(p[k] ** 2 if squared else p[k] for p in probs)
        dices.append((2 * inter + smooth) / (s + g + smooth))
    dice = 1 - sum(dices) / len(dices)
    return 0.5 * dice + 0.5 * ce


@pytest.mark.parametrize("include_background", [True, False])
@pytest.mark.parametrize("squared", [True, False])
def test_matches_plain_reference(include_background, squared):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 5, 6, generator=g, dtype=torch.float64)
    labels = torch.randint(-1, 4, (2, 5, 6), generator=g)
    loss = DiceCELoss(include_background=include_background, squared_denominator=squared)
    expected = reference_dice_ce(logits, labels, include_background, 1e-5, squared)
    assert float(loss(logits, labels)) == pytest.approx(expected, rel=1e-5)


def test_terms_are_the_two_halves():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 3, 4, 4, generator=g)
    labels = torch.randint(0, 3, (2, 4, 4), generator=g)
    loss = DiceCELoss()
    terms = loss.terms(logits, labels)
    ce = torch.nn.functional.cross_entropy(logits, labels)
    assert float(terms.cross_entropy) == pytest.approx(float(ce), rel=1e-5)
    assert float(loss(logits, labels)) == pytest.approx(
        0.5 * float(terms.dice) + 0.5 * float(terms.cross_entropy), rel=1e-6
    )


def test_confident_correct_prediction_scores_near_zero_and_wrong_scores_high():
    labels = torch.tensor([[[0, 1, 2], [2, 1, 0]]])
    right = torch.nn.functional.one_hot(labels, 3).movedim(-1, 1).float() * 30.0
    wrong = torch.nn.functional.one_hot((labels + 1) % 3, 3).movedim(-1, 1).float() * 30.0
    loss = DiceCELoss()
    assert float(loss(right, labels)) < 1e-4
    assert float(loss(wrong, labels)) > 5.0


def test_ignored_pixels_do_not_matter():
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(1, 3, 4, 4, generator=g)
    labels = torch.randint(0, 3, (1, 4, 4), generator=g)
    labels[0, :2] = -1
    changed = logits.clone()
    changed[0, :, :2] = torch.randn(3, 2, 4, generator=g) * 10
    loss = DiceCELoss()
    assert float(loss(logits, labels)) == pytest.approx(float(loss(changed, labels)), rel=1e-6)


def test_every_pixel_ignored_gives_zero_with_gradient_path():
    logits = torch.randn(2, 3, 4, 4, requires_grad=True)
    labels = torch.full((2, 4, 4), -1)
    value = DiceCELoss()(logits, labels)
    value.backward()
    assert value.item() == 0.0
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_background_choice_changes_the_dice_mean():
    labels = torch.zeros(1, 4, 4, dtype=torch.long)
    labels[0, 1:3, 1:3] = 1
    logits = torch.zeros(1, 2, 4, 4)
    with_bg = DiceCELoss(include_background=True).terms(logits, labels).dice
    without_bg = DiceCELoss(include_background=False).terms(logits, labels).dice
    # Uniform prediction: background (12 px) overlaps better than the 4-px foreground.
    assert float(without_bg) > float(with_bg)


def test_labels_with_channel_axis_and_volumes_are_accepted():
    g = torch.Generator().manual_seed(3)
    loss = DiceCELoss()
    logits = torch.randn(2, 3, 4, 5, generator=g)
    labels = torch.randint(0, 3, (2, 4, 5), generator=g)
    assert float(loss(logits, labels.unsqueeze(1))) == pytest.approx(float(loss(logits, labels)))
    volume = torch.randn(1, 3, 2, 3, 4, generator=g)
    volume_labels = torch.randint(0, 3, (1, 2, 3, 4), generator=g)
    assert math.isfinite(float(loss(volume, volume_labels)))


@settings(max_examples=25)
@given(
    batch=st.integers(1, 2),
    classes=st.integers(1, 4),
    height=st.integers(1, 4),
    width=st.integers(1, 4),
    ignore_share=st.sampled_from([0.0, 0.5, 1.0]),
    absent_class=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_finite_value_and_gradient_in_edge_cases(
    batch, classes, height, width, ignore_share, absent_class, seed
):
    g = torch.Generator().manual_seed(seed)
    logits = (torch.randn(batch, classes, height, width, generator=g) * 5).requires_grad_()
    labels = torch.randint(0, classes, (batch, height, width), generator=g)
    if absent_class and classes > 1:
        labels = labels.clamp(max=classes - 2)  # the last class never appears
    labels[torch.rand(labels.shape, generator=g) < ignore_share] = -1
    for include_background in (True, False):
        value = DiceCELoss(include_background=include_background)(logits, labels)
        (grad,) = torch.autograd.grad(value, logits)
        assert torch.isfinite(value) and value.item() >= 0.0
        assert torch.isfinite(grad).all()


def test_mismatched_shapes_raise_naming_them():
    loss = DiceCELoss()
    with pytest.raises(ValueError, match=r"\(2, 3, 4, 4\).*\(2, 5, 4\)"):
        loss(torch.randn(2, 3, 4, 4), torch.zeros(2, 5, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="outside \\[0, 3\\)"):
        loss(torch.randn(1, 3, 2, 2), torch.full((1, 2, 2), 3))
    with pytest.raises(ValueError, match="integer"):
        loss(torch.randn(1, 3, 2, 2), torch.zeros(1, 2, 2))
    with pytest.raises(ValueError, match="smooth"):
        DiceCELoss(smooth=0.0)


def test_falls_under_sgd_on_a_toy_segmentation():
    torch.manual_seed(0)
    image = torch.rand(4, 1, 8, 8)
    labels = (image[:, 0] > 0.7).long() + (image[:, 0] > 0.9).long()  # 3 classes, tail ones rare
    # A per-pixel linear classifier (a 1x1 convolution written out): logits = a * image + b.
    scale = torch.zeros(1, 3, 1, 1, requires_grad=True)
    shift = torch.zeros(1, 3, 1, 1, requires_grad=True)
    optimiser = torch.optim.SGD([scale, shift], lr=0.5, momentum=0.9)
    loss = DiceCELoss()
    values = []
    for _ in range(30):
        optimiser.zero_grad()
        value = loss(scale * image + shift, labels)
        value.backward()
        optimiser.step()
        values.append(value.item())
    assert values[-1] < 0.6 * values[0]


def test_present_classes_only_leaves_a_class_without_targets_alone():
    """A class no (non-ignored) pixel holds is not scored as a total miss: its probability
    gets no push down (the pseudo-label case: early on only background is confident)."""
    import torch

    from mona_lab.losses import DiceCELoss

    logits = torch.zeros(2, 4, 8, 8, requires_grad=True)
    labels = torch.full((2, 8, 8), -1, dtype=torch.long)
    labels[:, :4] = 0  # only background is known
    plain = DiceCELoss(dice_weight=1.0, ce_weight=0.0)
    present = DiceCELoss(dice_weight=1.0, ce_weight=0.0, present_classes_only=True)
    grad_plain = torch.autograd.grad(plain(logits, labels), logits)[0]
    grad_present = torch.autograd.grad(present(logits, labels), logits)[0]
    known = labels[:, None].expand(-1, 4, -1, -1) >= 0
    # plain Dice averages in three empty classes (each scores ~0) and pushes them down
    assert plain(logits, labels).item() > 0.7
    assert (grad_plain[:, 1:][known[:, 1:]] > 0).all()
    # present-only: just background's Dice, which rises as background's logit rises
    assert present(logits, labels).item() < 0.7
    assert (grad_present[:, 0][known[:, 0]] < 0).all()
    # with every class present both agree
    full = torch.randint(0, 4, (2, 8, 8))
    full[0, 0, :4] = torch.arange(4)
    assert torch.allclose(plain(logits, full), present(logits, full))
    # nothing known at all: zero, attached to the graph
    none = torch.full((2, 8, 8), -1, dtype=torch.long)
    assert present(logits, none).item() == 0.0 and present(logits, none).requires_grad
