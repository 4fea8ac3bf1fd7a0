"""InstanceDiscriminationLoss (MONA Eq. 1-2, ACTION Eq. 1-3), its FIFO queue and region pooling."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mona_lab.losses.instance_discrimination import (
    EmbeddingQueue,
    InstanceDiscriminationLoss,
    region_embeddings,
)


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def reference_inst(student, teacher, mined, tau_s, tau_t):
    """ACTION Eq. 1-3 with lists: p = softmax_j(sim(z, a_j)/tau), KL(p_t || p_s), mean over rows."""
    total = 0.0
    for u, v in zip(student.tolist(), teacher.tolist()):
        s_logits = [cosine(u, w) / tau_s for w in mined.tolist()]
        t_logits = [cosine(v, w) / tau_t for w in mined.tolist()]
        s_norm = math.log(sum(math.exp(x - max(s_logits)) for x in s_logits)) + max(s_logits)
        t_norm = math.log(sum(math.exp(x - max(t_logits)) for x in t_logits)) + max(t_logits)
        for s, t in zip(s_logits, t_logits):
            log_pt, log_ps = t - t_norm, s - s_norm
            total += math.exp(log_pt) * (log_pt - log_ps)
    return total / len(student)


@pytest.mark.parametrize("tau_s, tau_t", [(0.1, 0.01), (0.5, 0.2)])
def test_matches_plain_reference_with_explicit_mined_views(tau_s, tau_t):
    g = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(2, 3, 8, generator=g, dtype=torch.float64)
    mined = torch.randn(5, 8, generator=g, dtype=torch.float64)
    loss = InstanceDiscriminationLoss(
        dim=8, queue_size=5, student_temperature=tau_s, teacher_temperature=tau_t
    )
    expected = reference_inst(student, teacher, mined, tau_s, tau_t)
    assert loss(student, teacher, mined).item() == pytest.approx(expected, rel=1e-4)


def test_queue_gives_the_same_value_as_passing_the_views():
    g = torch.Generator().manual_seed(1)
    student, teacher = torch.randn(2, 4, 6, generator=g)
    mined = torch.randn(7, 6, generator=g)
    loss = InstanceDiscriminationLoss(dim=6, queue_size=7)
    loss.enqueue(mined)
    assert loss(student, teacher).item() == pytest.approx(
        loss(student, teacher, mined).item(), rel=1e-5
    )


def test_teacher_gets_no_gradient_and_student_does():
    g = torch.Generator().manual_seed(2)
    student = torch.randn(4, 6, generator=g, requires_grad=True)
    teacher = torch.randn(4, 6, generator=g, requires_grad=True)
    loss = InstanceDiscriminationLoss(dim=6, queue_size=8)
    loss.enqueue(torch.randn(8, 6, generator=g))
    loss(student, teacher).backward()
    assert teacher.grad is None
    assert student.grad.abs().sum() > 0


def test_student_matching_teacher_relations_scores_lower():
    g = torch.Generator().manual_seed(3)
    mined = torch.randn(6, 5, generator=g)
    teacher = mined[:2] + 0.01 * torch.randn(2, 5, generator=g)  # each close to one view
    loss = InstanceDiscriminationLoss(dim=5, queue_size=6)
    aligned = loss(teacher, teacher, mined).item()
    unrelated = loss(-teacher, teacher, mined).item()
    assert 0.0 <= aligned < unrelated


def test_empty_queue_gives_zero_with_gradient_path():
    student = torch.randn(3, 4, requires_grad=True)
    loss = InstanceDiscriminationLoss(dim=4, queue_size=5)
    value = loss(student, torch.randn(3, 4))
    value.backward()
    assert value.item() == 0.0 and torch.equal(student.grad, torch.zeros_like(student))


def test_local_form_equals_flattened_rows():
    g = torch.Generator().manual_seed(4)
    student, teacher = torch.randn(2, 2, 4, 6, generator=g)
    loss = InstanceDiscriminationLoss(dim=6, queue_size=10)
    loss.enqueue(torch.randn(3, 4, 6, generator=g))  # region embeddings enqueue as rows
    assert len(loss.queue) == 10
    assert loss(student, teacher).item() == pytest.approx(
        loss(student.reshape(8, 6), teacher.reshape(8, 6)).item(), rel=1e-6
    )


def test_queue_is_fifo_wraps_and_lives_in_the_state_dict():
    queue = EmbeddingQueue(size=3, dim=2)
    queue.enqueue(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    assert len(queue) == 2 and int(queue.ptr) == 2
    queue.enqueue(torch.tensor([[3.0, 4.0], [-1.0, 0.0]]))  # second row overwrites the oldest
    assert len(queue) == 3 and int(queue.ptr) == 1
    expected = torch.tensor([[-1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])  # stored L2-normalised
    assert torch.allclose(queue.contents(), expected)
    queue.enqueue(torch.arange(10.0).reshape(5, 2) + 1)  # more rows than room: last 3 kept
    kept = torch.nn.functional.normalize(torch.arange(10.0).reshape(5, 2)[2:] + 1, dim=1)
    assert {tuple(r) for r in queue.contents().round(decimals=5).tolist()} == {
        tuple(r) for r in kept.round(decimals=5).tolist()
    }
    loss = InstanceDiscriminationLoss(dim=2, queue_size=3)
    loss.enqueue(torch.tensor([[1.0, 1.0]]))
    state = loss.state_dict()
    assert {"queue.embeddings", "queue.ptr", "queue.filled"} <= set(state)
    restored = InstanceDiscriminationLoss(dim=2, queue_size=3)
    restored.load_state_dict(state)
    assert len(restored.queue) == 1 and torch.equal(restored.queue.contents(), loss.queue.contents())
    restored.queue.clear()
    assert len(restored.queue) == 0


def test_buffers_follow_to():
    loss = InstanceDiscriminationLoss(dim=4, queue_size=3).to(torch.float64)
    assert loss.queue.embeddings.dtype == torch.float64 and loss.queue.ptr.dtype == torch.long
    meta = InstanceDiscriminationLoss(dim=4, queue_size=3).to("meta")
    assert {b.device.type for b in meta.buffers()} == {"meta"}


def test_region_embeddings_average_each_tile():
    features = torch.arange(2 * 3 * 128 * 128, dtype=torch.float32).reshape(2, 3, 128, 128)
    regions = region_embeddings(features, region_size=64)
    assert regions.shape == (2, 4, 3)
    assert torch.allclose(regions[1, 2], features[1, :, 64:, :64].mean(dim=(1, 2)))
    tiny = region_embeddings(torch.randn(1, 5, 3, 7), region_size=64)
    assert tiny.shape == (1, 1, 5)
    volume = region_embeddings(torch.randn(1, 2, 4, 8, 8), region_size=4)
    assert volume.shape == (1, 4, 2)
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        region_embeddings(torch.randn(2, 3))


@settings(max_examples=20)
@given(
    rows=st.integers(1, 4),
    dim=st.integers(1, 6),
    stored=st.integers(0, 7),
    scale=st.sampled_from([0.0, 1e-6, 1.0, 1e3]),
    seed=st.integers(0, 2**16),
)
def test_finite_value_and_gradient(rows, dim, stored, scale, seed):
    g = torch.Generator().manual_seed(seed)
    student = (torch.randn(rows, dim, generator=g) * scale).requires_grad_()
    teacher = torch.randn(rows, dim, generator=g) * scale
    loss = InstanceDiscriminationLoss(dim=dim, queue_size=5)
    if stored:
        loss.enqueue(torch.randn(stored, dim, generator=g))
    value = loss(student, teacher)
    (grad,) = torch.autograd.grad(value, student)
    assert torch.isfinite(value) and value.item() >= -1e-6
    assert torch.isfinite(grad).all()


def test_bad_inputs_raise_naming_shapes():
    loss = InstanceDiscriminationLoss(dim=4, queue_size=3)
    with pytest.raises(ValueError, match=r"\(2, 4\).*\(3, 4\)"):
        loss(torch.randn(3, 4), torch.randn(2, 4))
    with pytest.raises(ValueError, match=r"\(3, 5\)"):
        loss(torch.randn(3, 5), torch.randn(3, 5))
    with pytest.raises(ValueError, match=r"mined.*\(6, 3\)"):
        loss(torch.randn(3, 4), torch.randn(3, 4), torch.randn(6, 3))
    with pytest.raises(ValueError, match=r"\(2, 7\)"):
        loss.enqueue(torch.randn(2, 7))
    with pytest.raises(ValueError, match="temperature"):
        InstanceDiscriminationLoss(student_temperature=0.0)


def test_falls_under_sgd_towards_the_teacher_relations():
    g = torch.Generator().manual_seed(5)
    mined = torch.randn(12, 8, generator=g)
    teacher = torch.randn(6, 8, generator=g)
    student = torch.randn(6, 8, generator=g).requires_grad_()
    loss = InstanceDiscriminationLoss(dim=8, queue_size=12)
    loss.enqueue(mined)
    optimiser = torch.optim.SGD([student], lr=0.05)
    values = []
    for _ in range(30):
        optimiser.zero_grad()
        value = loss(student, teacher)
        value.backward()
        optimiser.step()
        values.append(value.item())
    assert values[-1] < 0.5 * values[0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_where_the_module_and_inputs_live():
    loss = InstanceDiscriminationLoss(dim=4, queue_size=6).to("cuda")
    student = torch.randn(3, 4, device="cuda", requires_grad=True)
    loss.enqueue(torch.randn(5, 4, device="cuda"))
    value = loss(student, torch.randn(3, 4, device="cuda"))
    value.backward()
    assert value.device.type == "cuda" and loss.queue.ptr.device.type == "cuda"
