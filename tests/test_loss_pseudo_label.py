"""PseudoLabelLoss (MONA L_unsup): teacher argmax labels on confident pixels ("mask") or
on every pixel weighted by the confident share ("share")."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mona_lab.losses.pseudo_label import PseudoLabelLoss


def reference_unsup(student, teacher, threshold, weighting):
    """Plain loops. share: share of pixels with max teacher prob >= threshold, times mean CE;
    mask: sum of CE over confident pixels / number of pixels."""
    batch, classes, height, width = student.shape
    confident, ce, count = 0, 0.0, 0
    for i in range(batch):
        for y in range(height):
            for x in range(width):
                t = [math.exp(float(teacher[i, c, y, x])) for c in range(classes)]
                q = [v / sum(t) for v in t]
                label = max(range(classes), key=lambda c: q[c])
                is_confident = max(q) >= threshold
                confident += is_confident
                s = [float(student[i, c, y, x]) for c in range(classes)]
                pixel_ce = -(s[label] - math.log(sum(math.exp(v) for v in s)))
                ce += pixel_ce if (weighting == "share" or is_confident) else 0.0
                count += 1
    if weighting == "share":
        return confident / count * ce / count
    return ce / count


@pytest.mark.parametrize("weighting", ["mask", "share"])
@pytest.mark.parametrize("threshold", [0.5, 0.9, 0.97])
def test_matches_plain_reference(threshold, weighting):
    g = torch.Generator().manual_seed(0)
    student = torch.randn(2, 3, 4, 5, generator=g, dtype=torch.float64)
    teacher = torch.randn(2, 3, 4, 5, generator=g, dtype=torch.float64) * 4
    expected = reference_unsup(student, teacher, threshold, weighting)
    assert expected > 0  # some pixels are confident at every threshold tried
    value = PseudoLabelLoss(threshold, weighting)(student, teacher).item()
    assert value == pytest.approx(expected, rel=1e-6, abs=1e-12)


def test_share_weight_is_the_confident_share():
    g = torch.Generator().manual_seed(1)
    student = torch.randn(1, 2, 2, 2, generator=g)
    teacher = torch.zeros(1, 2, 2, 2)
    teacher[0, 0, 0, :] = 10.0  # two confident pixels out of four (p = 0.99995)
    loss = PseudoLabelLoss(weighting="share")
    labels, confidence = loss.pseudo_labels(teacher)
    assert labels[0, 0].tolist() == [0, 0] and confidence[0, 1].tolist() == [0.5, 0.5]
    assert loss.confident_share(teacher).item() == 0.5
    ce = torch.nn.functional.cross_entropy(student, labels)
    assert loss(student, teacher).item() == pytest.approx(0.5 * ce.item(), rel=1e-6)
    assert PseudoLabelLoss(0.999999, "share")(student, teacher).item() == 0.0  # nobody confident
    assert PseudoLabelLoss(0.5, "share")(student, teacher).item() == pytest.approx(ce.item(), rel=1e-6)


def test_mask_leaves_unconfident_pixels_alone_where_share_pushes_them_to_the_teacher_argmax():
    """The long-tail failure of "share": a teacher confident only on background (row 0)
    and unsure on a foreground row (row 1, background by a hair) makes "share" train the
    foreground row towards background; "mask" gives those pixels no gradient at all."""
    teacher = torch.zeros(1, 2, 2, 3)
    teacher[0, 0, 0, :] = 10.0  # confident background
    teacher[0, 0, 1, :] = 0.1  # unsure: background 0.525, foreground 0.475
    student = torch.zeros(1, 2, 2, 3)
    student[0, 1, 1, :] = 2.0  # the student already calls row 1 foreground
    student.requires_grad_()
    for weighting, touched in (("share", True), ("mask", False)):
        (grad,) = torch.autograd.grad(PseudoLabelLoss(0.97, weighting)(student, teacher), student)
        foreground_row = grad[0, :, 1]
        assert bool(foreground_row.abs().sum() > 0) is touched, weighting
        if touched:  # descent raises the background logit on the foreground row
            assert (foreground_row[0] < 0).all() and (foreground_row[1] > 0).all()
        assert grad[0, :, 0].abs().sum() > 0  # the confident row is trained either way
    assert PseudoLabelLoss(0.999999, "mask")(student, teacher).item() == 0.0  # nobody confident


def test_teacher_gets_no_gradient():
    g = torch.Generator().manual_seed(2)
    student = torch.randn(2, 3, 4, 4, generator=g, requires_grad=True)
    teacher = (torch.randn(2, 3, 4, 4, generator=g) * 10).requires_grad_()
    PseudoLabelLoss()(student, teacher).backward()
    assert teacher.grad is None and student.grad.abs().sum() > 0


@settings(max_examples=20)
@given(
    batch=st.integers(1, 2),
    classes=st.integers(1, 4),
    height=st.integers(1, 4),
    width=st.integers(1, 4),
    scale=st.sampled_from([0.0, 1.0, 100.0]),
    seed=st.integers(0, 2**16),
)
def test_finite_value_and_gradient(batch, classes, height, width, scale, seed):
    g = torch.Generator().manual_seed(seed)
    student = (torch.randn(batch, classes, height, width, generator=g) * scale).requires_grad_()
    teacher = torch.randn(batch, classes, height, width, generator=g) * scale
    value = PseudoLabelLoss()(student, teacher)
    (grad,) = torch.autograd.grad(value, student)
    assert torch.isfinite(value) and value.item() >= 0.0
    assert torch.isfinite(grad).all()
    if classes == 1:
        assert value.item() == 0.0  # one class: every label is right with probability 1


def test_bad_inputs_raise_naming_shapes():
    loss = PseudoLabelLoss()
    with pytest.raises(ValueError, match=r"\(1, 3, 4, 4\).*\(1, 2, 4, 4\)"):
        loss(torch.randn(1, 2, 4, 4), torch.randn(1, 3, 4, 4))
    with pytest.raises(ValueError, match=r"\(4, 4\)"):
        loss(torch.randn(4, 4), torch.randn(4, 4))
    with pytest.raises(ValueError, match="threshold"):
        PseudoLabelLoss(1.5)
    with pytest.raises(ValueError, match="weighting"):
        PseudoLabelLoss(0.97, "soft")


def test_falls_under_sgd_and_student_learns_teacher_labels():
    torch.manual_seed(0)
    image = torch.rand(4, 1, 6, 6)
    teacher = torch.cat([image, 1 - image, 0.5 * torch.ones_like(image)], dim=1) * 40
    scale = torch.zeros(1, 3, 1, 1, requires_grad=True)  # student: a per-pixel linear map
    shift = torch.zeros(1, 3, 1, 1, requires_grad=True)

    def student(x):
        return scale * x + shift

    optimiser = torch.optim.SGD([scale, shift], lr=1.0, momentum=0.9)
    loss = PseudoLabelLoss()
    values = []
    for _ in range(40):
        optimiser.zero_grad()
        value = loss(student(image), teacher)
        value.backward()
        optimiser.step()
        values.append(value.item())
    assert values[-1] < 0.5 * values[0]
    agreement = (student(image).argmax(1) == teacher.argmax(1)).float().mean().item()
    assert agreement > 0.9
