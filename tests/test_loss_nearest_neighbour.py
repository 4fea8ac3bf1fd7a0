"""NearestNeighbourLoss (MONA L_nn): K nearest teacher embeddings from a FIFO bank."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mona_lab.losses.nearest_neighbour import NearestNeighbourLoss


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def reference_nn(student, bank, k, queries=None):
    """Paper text: find the K nearest bank entries, loss = mean negative cosine to them."""
    queries = student if queries is None else queries
    total = 0.0
    for u, q in zip(student.tolist(), queries.tolist()):
        ranked = sorted(bank.tolist(), key=lambda w: cosine(q, w), reverse=True)[:k]
        total += sum(-cosine(u, w) for w in ranked) / len(ranked)
    return total / len(student)


def public_code_nn(student, teacher, bank, k):
    """The public MONA code's form, for contrast: neighbours chosen with the student, but the
    similarity measured between the (no-grad) teacher and those neighbours."""
    student_unit = F.normalize(student, dim=1)
    bank_unit = F.normalize(bank, dim=1)
    index = (student_unit @ bank_unit.T).topk(k, dim=1).indices
    neighbours = bank_unit[index]
    teacher_unit = F.normalize(teacher.detach(), dim=1)
    return -torch.einsum("bd,bkd->bk", teacher_unit, neighbours).mean()


@pytest.mark.parametrize("k", [1, 3, 5])
def test_matches_plain_reference(k):
    g = torch.Generator().manual_seed(0)
    student = torch.randn(4, 6, generator=g, dtype=torch.float64)
    bank = torch.randn(9, 6, generator=g)
    loss = NearestNeighbourLoss(dim=6, bank_size=9, num_neighbours=k)
    loss.enqueue(bank)
    assert loss(student).item() == pytest.approx(reference_nn(student, bank, k), rel=1e-5)


def test_selection_with_the_teacher_matches_reference():
    g = torch.Generator().manual_seed(1)
    student, teacher = torch.randn(2, 3, 5, generator=g)
    bank = torch.randn(8, 5, generator=g)
    loss = NearestNeighbourLoss(dim=5, bank_size=8, num_neighbours=3, select_with="teacher")
    loss.enqueue(bank)
    expected = reference_nn(student, bank, 3, queries=teacher)
    assert loss(student, teacher).item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="teacher"):
        loss(student)


def test_gradient_reaches_the_student_unlike_the_public_code_form():
    g = torch.Generator().manual_seed(2)
    student = torch.randn(4, 8, generator=g, requires_grad=True)
    teacher = torch.randn(4, 8, generator=g)
    bank = torch.randn(12, 8, generator=g)
    loss = NearestNeighbourLoss(dim=8, bank_size=12, num_neighbours=5)
    loss.enqueue(bank)
    (ours,) = torch.autograd.grad(loss(student, teacher), student)
    assert ours.abs().sum() > 1e-3

    public = public_code_nn(student, teacher, bank, 5)
    assert not public.requires_grad  # autograd sees no path from the student at all
    # and a small step of the student (too small to change the neighbours) leaves it unchanged
    step = 1e-4 * torch.randn(4, 8, generator=g)
    moved = public_code_nn(student.detach() + step, teacher, bank, 5)
    assert moved.item() == public.item()
    assert loss(student.detach() + step, teacher).item() != loss(student, teacher).item()


def test_empty_bank_gives_zero_with_gradient_path_and_small_bank_uses_all_entries():
    student = torch.randn(3, 4, requires_grad=True)
    loss = NearestNeighbourLoss(dim=4, bank_size=10, num_neighbours=5)
    value = loss(student)
    value.backward()
    assert value.item() == 0.0 and torch.equal(student.grad, torch.zeros_like(student))
    bank = torch.randn(2, 4)
    loss.enqueue(bank)
    assert loss.neighbour_indices(student.detach()).shape == (3, 2)
    assert loss(student).item() == pytest.approx(reference_nn(student.detach(), bank, 2), rel=1e-5)


def test_bank_is_fifo_in_buffers_that_follow_to():
    loss = NearestNeighbourLoss(dim=2, bank_size=2, num_neighbours=1)
    loss.enqueue(torch.tensor([[1.0, 0.0]]))
    loss.enqueue(torch.tensor([[0.0, 1.0], [0.0, -1.0]]))  # [1, 0] is pushed out
    stored = {tuple(row) for row in loss.bank.contents().tolist()}
    assert stored == {(0.0, 1.0), (0.0, -1.0)}
    assert {"bank.embeddings", "bank.ptr", "bank.filled"} <= set(loss.state_dict())
    meta = loss.to("meta")
    assert {b.device.type for b in meta.buffers()} == {"meta"}


@settings(max_examples=20)
@given(
    rows=st.integers(1, 4),
    dim=st.integers(1, 6),
    stored=st.integers(0, 8),
    k=st.integers(1, 6),
    scale=st.sampled_from([0.0, 1e-6, 1.0, 1e3]),
    seed=st.integers(0, 2**16),
)
def test_finite_value_and_gradient(rows, dim, stored, k, scale, seed):
    g = torch.Generator().manual_seed(seed)
    student = (torch.randn(rows, dim, generator=g) * scale).requires_grad_()
    loss = NearestNeighbourLoss(dim=dim, bank_size=6, num_neighbours=k)
    if stored:
        loss.enqueue(torch.randn(stored, dim, generator=g))
    value = loss(student)
    (grad,) = torch.autograd.grad(value, student)
    assert torch.isfinite(value) and -1.0 - 1e-6 <= value.item() <= 1.0 + 1e-6
    assert torch.isfinite(grad).all()


def test_bad_inputs_raise_naming_shapes():
    loss = NearestNeighbourLoss(dim=4)
    with pytest.raises(ValueError, match=r"\(3, 5\)"):
        loss(torch.randn(3, 5))
    with pytest.raises(ValueError, match=r"\(2, 4\).*\(3, 4\)"):
        loss(torch.randn(3, 4), torch.randn(2, 4))
    with pytest.raises(ValueError, match="select_with"):
        NearestNeighbourLoss(select_with="bank")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_neighbours"):
        NearestNeighbourLoss(num_neighbours=0)


def test_falls_under_sgd_and_pulls_the_student_to_its_neighbours():
    g = torch.Generator().manual_seed(3)
    bank = torch.randn(20, 8, generator=g)
    student = torch.randn(5, 8, generator=g).requires_grad_()
    loss = NearestNeighbourLoss(dim=8, bank_size=20, num_neighbours=5)
    loss.enqueue(bank)
    optimiser = torch.optim.SGD([student], lr=5.0)
    values = []
    for _ in range(30):
        optimiser.zero_grad()
        value = loss(student)
        value.backward()
        optimiser.step()
        values.append(value.item())
    assert values[-1] < values[0] - 0.02
    # The best a unit vector can do against fixed neighbours n_k is -|mean_k n_k|.
    neighbours = loss.bank.contents()[loss.neighbour_indices(student.detach())]
    best = -neighbours.mean(dim=1).norm(dim=1).mean().item()
    assert values[-1] == pytest.approx(best, abs=0.01)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_where_the_module_and_inputs_live():
    loss = NearestNeighbourLoss(dim=4, bank_size=6).to("cuda")
    student = torch.randn(3, 4, device="cuda", requires_grad=True)
    loss.enqueue(torch.randn(5, 4, device="cuda"))
    value = loss(student)
    value.backward()
    assert value.device.type == "cuda" and student.grad.abs().sum() > 0
