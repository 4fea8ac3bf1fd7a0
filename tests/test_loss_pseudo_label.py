"""PseudoLabelLoss (MONA L_unsup): teacher argmax labels, weighted by the confident share."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mona_lab.losses.pseudo_label import PseudoLabelLoss


def reference_unsup(student, teacher, threshold):
    """Plain loops: share of pixels with max teacher prob >= threshold, times mean CE."""
    batch, classes, height, width = student.shape
    confident, ce, count = 0, 0.0, 0
    for i in range(batch):
        for y in range(height):
            for x in range(width):
                t = [math.exp(float(teacher[i, c, y, x])) for c in range(classes)]
                q = [v / sum(t) for v in t]
                label = max(range(classes), key=lambda c: q[c])
                confident += max(q) >= threshold
                s = [float(student[i, c, y, x]) for c in range(classes)]
                ce -= s[label] - math.log(sum(math.exp(v) for v in s))
                count += 1
    return confident / count * ce / count


@pytest.mark.parametrize("threshold", [0.5, 0.9, 0.97])
def test_matches_plain_reference(threshold):
    g = torch.Generator().manual_seed(0)
    student = torch.randn(2, 3, 4, 5, generator=g, dtype=torch.float64)
    teacher = torch.randn(2, 3, 4, 5, generator=g, dtype=torch.float64) * 4
    expected = reference_unsup(student, teacher, threshold)
    assert expected > 0  # some pixels are confident at every threshold tried
    value = PseudoLabelLoss(threshold)(student, teacher).item()
    assert value == pytest.approx(expected, rel=1e-6, abs=1e-12)


def test_weight_is_the_confident_share():
    g = torch.Generator().manual_seed(1)
    student = torch.randn(1, 2, 2, 2, generator=g)
    teacher = torch.zeros(1, 2, 2, 2)
    teacher[0, 0, 0, :] = 10.0  # two confident pixels out of four (p = 0.99995)
    loss = PseudoLabelLoss()
    labels, confidence = loss.pseudo_labels(teacher)
    assert labels[0, 0].tolist() == [0, 0] and confidence[0, 1].tolist() == [0.5, 0.5]
    assert loss.confident_share(teacher).item() == 0.5
    ce = torch.nn.functional.cross_entropy(student, labels)
    assert loss(student, teacher).item() == pytest.approx(0.5 * ce.item(), rel=1e-6)
    assert PseudoLabelLoss(0.999999)(student, teacher).item() == 0.0  # nobody confident
    assert PseudoLabelLoss(0.5)(student, teacher).item() == pytest.approx(ce.item(), rel=1e-6)


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
