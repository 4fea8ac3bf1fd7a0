"""AnatomicalContrastLoss (MONA Eq. 3-5, ACTION Eq. 4-7): reference equations, sampling rules,
memory bank, edge cases and learning."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mona_lab.losses.anatomical_contrast import AnatomicalContrastLoss
from mona_lab.losses.pixel_statistics import class_means_and_rows, pixel_statistics
from mona_lab.losses.relation_graph import class_relation_graph, negative_class_distribution


def make_batch(batch=2, dim=8, height=5, width=5, classes=3, seed=0, ignore_share=0.1):
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(batch, dim, height, width, generator=generator, dtype=torch.float64)
    labels = torch.randint(0, classes, (batch, height, width), generator=generator)
    labels[torch.rand(batch, height, width, generator=generator) < ignore_share] = -1
    scores = torch.randn(batch, classes, height, width, generator=generator, dtype=torch.float64)
    probs = torch.softmax(2.0 * scores, dim=1)
    return features.requires_grad_(True), labels, probs


def pixel_rows(features):
    """[B, D, H, W] -> list of (flat index, normalised embedding) in labels.flatten() order."""
    batch, dim = features.shape[:2]
    rows = features.permute(0, 2, 3, 1).reshape(-1, dim)
    return [F.normalize(rows[i], dim=0) for i in range(rows.shape[0])]


def plain_exact_reference(features, labels, probs, threshold, tau, hard=True):
    """Eq. 3 with R_q^c = (hard) class-c pixels and R_k^c = every pixel of another class, in loops."""
    rows = pixel_rows(features)
    flat = labels.flatten().tolist()
    conf = probs.permute(0, 2, 3, 1).reshape(-1, probs.shape[1])
    class_losses = []
    for c in sorted({v for v in flat if v >= 0}):
        members = [i for i, v in enumerate(flat) if v == c]
        mean = sum(rows[i] for i in members) / len(members)
        negatives = [i for i, v in enumerate(flat) if v >= 0 and v != c]
        queries = [i for i in members if (not hard or conf[i, c] <= threshold)]
        if not queries or not negatives:
            continue
        terms = []
        for i in queries:
            positive = torch.exp(rows[i] @ mean / tau)
            negative = sum(torch.exp(rows[i] @ rows[j] / tau) for j in negatives)
            terms.append(-torch.log(positive / (positive + negative)))
        class_losses.append(sum(terms) / len(terms))
    return sum(class_losses) / len(class_losses)


pytestmark = pytest.mark.usefixtures("single_thread")

# ---------------------------------------------------------------- agreement with the equation
@pytest.mark.parametrize("hard", [True, False])
def test_exact_mode_matches_plain_equation_and_gradient(hard):
    features, labels, probs = make_batch(seed=1)
    loss_fn = AnatomicalContrastLoss(
        num_queries=None, num_negatives=None, threshold=0.6, hard_queries=hard, temperature=0.5
    )
    loss = loss_fn(features, labels, probs)
    (grad,) = torch.autograd.grad(loss, features)
    reference = plain_exact_reference(features, labels, probs, threshold=0.6, tau=0.5, hard=hard)
    (reference_grad,) = torch.autograd.grad(reference, features)
    assert loss.item() == pytest.approx(reference.item(), rel=1e-9)
    assert torch.allclose(grad, reference_grad, atol=1e-10)


def test_fused_class_means_and_rows_backward_passes_gradcheck():
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(2, 5, 12, generator=generator, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(-1, 3, (2, 12), generator=generator)
    pixels = torch.tensor([0, 5, 5, 13, 23])  # a repeated pixel accumulates both row gradients

    def means_and_rows(x):
        return class_means_and_rows(x, pixel_statistics(x, labels, 3), pixels)

    def rows_only(x):
        return class_means_and_rows(x, pixel_statistics(x, labels, 3), pixels)[1]

    assert torch.autograd.gradcheck(means_and_rows, (features,))
    assert torch.autograd.gradcheck(rows_only, (features,))  # unused means: no gradient from them
    means, rows = means_and_rows(features)
    normalised = F.normalize(features, dim=1)
    for c in range(3):
        members = normalised.permute(0, 2, 1).reshape(-1, 5)[labels.flatten() == c]
        assert torch.allclose(means[c], members.mean(0))
    assert torch.allclose(rows, normalised.permute(0, 2, 1).reshape(-1, 5)[pixels])


def test_hard_queries_use_probability_of_own_class():
    features, labels, probs = make_batch(seed=2)
    loss_fn = AnatomicalContrastLoss(num_queries=None, num_negatives=None, threshold=0.5)
    loss_fn(features, labels, probs)
    draw = loss_fn.last_draw
    own = probs.permute(0, 2, 3, 1).reshape(-1, probs.shape[1])[draw.query_index, draw.query_class]
    assert (own <= 0.5).all()
    assert (labels.flatten()[draw.query_index] == draw.query_class).all()
    # every hard pixel of every class is a query in exact mode
    expected = sum(int(((labels == c) & (probs[:, c] <= 0.5)).sum()) for c in range(3))
    assert draw.query_index.numel() == expected


def test_sampled_mode_matches_plain_loops_over_its_draws():
    features, labels, probs = make_batch(batch=2, dim=6, height=6, width=6, seed=3)
    loss_fn = AnatomicalContrastLoss(
        num_queries=7, num_negatives=11, threshold=0.9, temperature=0.3, sampler="sg", grid=2
    )
    loss = loss_fn(features, labels, probs, generator=torch.Generator().manual_seed(0))
    draw = loss_fn.last_draw
    rows = pixel_rows(features)
    flat = labels.flatten().tolist()
    pool = [rows[i] for i in draw.key_pixel_index.tolist()]
    per_class = {}
    for q in range(draw.query_index.numel()):
        i, c, w = draw.query_index[q].item(), draw.query_class[q].item(), draw.query_weight[q].item()
        members = [j for j, v in enumerate(flat) if v == c]
        mean = sum(rows[j] for j in members) / len(members)
        negatives = [rows[i] @ pool[k] / 0.3 for k in draw.negative_index[q].tolist()]
        logits = [rows[i] @ mean / 0.3] + negatives
        per_class[c] = per_class.get(c, 0.0) - w * torch.log_softmax(torch.stack(logits), dim=0)[0]
    reference = sum(per_class.values()) / len(per_class)
    assert loss.item() == pytest.approx(reference.item(), rel=1e-9)
    assert draw.negative_index.shape == (draw.query_index.numel(), 11)


def test_negative_class_distribution_is_softmax_of_relation_graph():
    means = torch.randn(4, 5, dtype=torch.float64)
    available = torch.tensor([True, True, False, True])
    dist = negative_class_distribution(means, available)
    graph = class_relation_graph(means)
    for c in range(4):
        others = [v for v in range(4) if v != c and available[v]]
        norm = sum(math.exp(graph[c, v]) for v in others)
        for v in range(4):
            expected = math.exp(graph[c, v]) / norm if v in others else 0.0
            assert dist[c, v].item() == pytest.approx(expected, rel=1e-6, abs=1e-12)


def test_negative_draws_follow_graph_softmax_and_never_hit_query_class():
    features, labels, probs = make_batch(batch=2, dim=4, height=8, width=8, classes=4, seed=4, ignore_share=0.0)
    features = features.detach()
    # spread the class means so the softmax is far from uniform
    for c in range(4):
        features[:, c][labels == c] += 3.0
    loss_fn = AnatomicalContrastLoss(num_queries=64, num_negatives=512, hard_queries=False)
    loss_fn(features, labels, probs, generator=torch.Generator().manual_seed(1))
    draw = loss_fn.last_draw
    negative_class = draw.key_class[draw.negative_index]  # [Q, K]
    assert (negative_class != draw.query_class[:, None]).all()
    flat = features.permute(0, 2, 3, 1).reshape(-1, 4)
    means = torch.stack([F.normalize(flat[labels.flatten() == c], dim=1).mean(0) for c in range(4)])
    expected = negative_class_distribution(means, torch.ones(4, dtype=torch.bool)).double()
    for c in range(4):
        observed = torch.bincount(negative_class[draw.query_class == c].flatten(), minlength=4).double()
        observed /= observed.sum()
        assert torch.allclose(observed, expected[c], atol=0.01), (c, observed, expected[c])
    # within a class slot every fresh key is used about equally often (uniform over the slot)
    counts = torch.bincount(draw.negative_index.flatten(), minlength=draw.key_class.numel()).double()
    for v in range(4):
        slot = counts[draw.key_class == v]
        assert slot.std() / slot.mean() < 0.25


def test_arco_weighted_estimate_is_unbiased_for_exact_query_average():
    """With every negative used, sampled queries (SG weights) average to the exact loss."""
    features, labels, probs = make_batch(batch=1, dim=4, height=6, width=6, seed=5, ignore_share=0.0)
    features = features.detach()
    exact_fn = AnatomicalContrastLoss(num_queries=None, num_negatives=None, hard_queries=False)
    exact = exact_fn(features, labels, probs).item()
    sampled = AnatomicalContrastLoss(
        num_queries=4, num_negatives=None, hard_queries=False, sampler="sg", grid=2
    )
    generator = torch.Generator().manual_seed(0)
    values = torch.tensor(
        [sampled(features, labels, probs, generator=generator).item() for _ in range(400)]
    )
    standard_error = values.std().item() / math.sqrt(values.numel())
    assert abs(values.mean().item() - exact) < 4 * standard_error + 1e-9


# ---------------------------------------------------------------- determinism and options
def test_same_generator_same_loss_and_different_seed_differs():
    features, labels, probs = make_batch(height=8, width=8, seed=6)
    loss_fn = AnatomicalContrastLoss(num_queries=5, num_negatives=9, threshold=1.0, sampler="sag", grid=2)
    first = loss_fn(features, labels, probs, generator=torch.Generator().manual_seed(3))
    second = loss_fn(features, labels, probs, generator=torch.Generator().manual_seed(3))
    third = loss_fn(features, labels, probs, generator=torch.Generator().manual_seed(4))
    assert first.item() == second.item()
    assert first.item() != third.item()


def test_temperature_override_attribute_and_validation():
    features, labels, probs = make_batch(seed=7)
    loss_fn = AnatomicalContrastLoss(num_queries=None, num_negatives=None, threshold=1.0)
    by_call = loss_fn(features, labels, probs, temperature=0.2)
    assert loss_fn.temperature == 0.5  # the override does not stick
    loss_fn.temperature = 0.2
    by_attribute = loss_fn(features, labels, probs)
    assert by_call.item() == by_attribute.item()
    reference = plain_exact_reference(features, labels, probs, 1.0, 0.2)
    assert by_call.item() == pytest.approx(reference.item(), rel=1e-9)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="temperature"):
            loss_fn.temperature = bad
        with pytest.raises(ValueError, match="temperature"):
            loss_fn(features, labels, probs, temperature=bad)


def test_no_hard_query_gives_connected_zero_and_tailness_switch_brings_queries_back():
    features, labels, probs = make_batch(seed=8)
    confident = F.one_hot(labels.clamp_min(0), 3).permute(0, 3, 1, 2).double()  # p(own class) = 1 > 0.97
    loss = AnatomicalContrastLoss()(features, labels, confident)
    assert loss.item() == 0.0
    (grad,) = torch.autograd.grad(loss, features)
    assert torch.equal(grad, torch.zeros_like(features))
    easy_too = AnatomicalContrastLoss(hard_queries=False)(
        features, labels, confident, generator=torch.Generator().manual_seed(0)
    )
    assert easy_too.item() > 0.0


def test_detach_positive_stops_gradient_through_class_mean_only():
    features, labels, probs = make_batch(seed=9)
    kwargs = dict(num_queries=None, num_negatives=None, threshold=1.0)
    full = AnatomicalContrastLoss(**kwargs)(features, labels, probs)
    stopped = AnatomicalContrastLoss(detach_positive=True, **kwargs)(features, labels, probs)
    assert full.item() == pytest.approx(stopped.item(), rel=1e-12)
    (g_full,) = torch.autograd.grad(full, features)
    (g_stop,) = torch.autograd.grad(stopped, features)
    assert not torch.allclose(g_full, g_stop)


def test_three_dimensional_volumes():
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(1, 6, 3, 4, 4, generator=generator, requires_grad=True)
    labels = torch.randint(0, 3, (1, 3, 4, 4), generator=generator)
    probs = torch.softmax(torch.randn(1, 3, 3, 4, 4, generator=generator), dim=1)
    loss = AnatomicalContrastLoss(num_queries=8, num_negatives=16, threshold=1.0, sampler="sg", grid=2)(
        features, labels, probs, generator=torch.Generator().manual_seed(0)
    )
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(features.grad).all() and features.grad.abs().sum() > 0


# ---------------------------------------------------------------- memory bank
def test_memory_bank_fifo_state_dict_and_exact_resume():
    features, labels, probs = make_batch(batch=2, dim=4, height=6, width=6, seed=10)
    settings_ = dict(
        num_classes=3, embed_dim=4, num_queries=6, num_negatives=10, threshold=1.0,
        memory_size=5, memory_push=3,
    )
    loss_fn = AnatomicalContrastLoss(**settings_)
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        loss_fn(features, labels, probs, generator=generator)
    assert loss_fn.memory_count.tolist() == [5, 5, 5]  # 3 pushes of 3, capped at 5
    assert loss_fn.memory_pointer.tolist() == [4, 4, 4]  # (3 * 3) mod 5
    assert torch.allclose(loss_fn.memory.norm(dim=2), torch.ones(3, 5, dtype=loss_fn.memory.dtype))
    state = loss_fn.state_dict()
    assert {"memory", "memory_count", "memory_pointer"} <= set(state)
    resumed = AnatomicalContrastLoss(**settings_)
    resumed.load_state_dict(state)
    generator_state = generator.get_state()
    original_next = loss_fn(features, labels, probs, generator=generator)
    generator.set_state(generator_state)
    resumed_next = resumed(features, labels, probs, generator=generator)
    assert original_next.item() == resumed_next.item()
    assert torch.equal(loss_fn.memory, resumed.memory)


def test_memory_bank_supplies_negatives_for_classes_missing_from_batch_and_eval_freezes_it():
    features, labels, probs = make_batch(batch=1, dim=4, height=6, width=6, seed=11, ignore_share=0.0)
    loss_fn = AnatomicalContrastLoss(
        num_classes=3, embed_dim=4, num_queries=4, num_negatives=8, threshold=1.0, memory_size=8
    )
    only_class_zero = torch.zeros_like(labels)
    alone = loss_fn(features, only_class_zero, probs)
    assert alone.item() == 0.0  # empty bank, a single class: nothing to contrast with
    loss_fn(features, labels, probs, generator=torch.Generator().manual_seed(0))  # fills the bank
    loss_fn.eval()
    before = loss_fn.memory.clone()
    with_bank = loss_fn(features, only_class_zero, probs, generator=torch.Generator().manual_seed(0))
    assert with_bank.item() > 0.0
    assert set(loss_fn.last_draw.key_class.tolist()) == {1, 2}
    assert torch.equal(loss_fn.memory, before)


def test_memory_bank_needs_sizes():
    with pytest.raises(ValueError, match="num_classes and embed_dim"):
        AnatomicalContrastLoss(memory_size=4)


# ---------------------------------------------------------------- edge cases
def test_every_pixel_ignored_gives_connected_zero():
    features, labels, probs = make_batch(seed=12)
    loss = AnatomicalContrastLoss()(features, torch.full_like(labels, -1), probs)
    assert loss.item() == 0.0 and loss.grad_fn is not None
    loss.backward()
    assert torch.equal(features.grad, torch.zeros_like(features))


def test_single_class_and_absent_classes():
    features, labels, probs = make_batch(seed=13)
    single = AnatomicalContrastLoss(threshold=1.0)(features, torch.ones_like(labels), probs)
    assert single.item() == 0.0 and single.grad_fn is not None
    two_of_three = torch.where(labels == 2, torch.zeros_like(labels), labels)
    exact_fn = AnatomicalContrastLoss(num_queries=None, num_negatives=None, threshold=1.0)
    loss = exact_fn(features, two_of_three, probs)
    reference = plain_exact_reference(features, two_of_three, probs, 1.0, 0.5)
    assert loss.item() == pytest.approx(reference.item(), rel=1e-9)


@settings(max_examples=30)
@given(
    batch=st.integers(1, 2),
    height=st.integers(1, 4),
    width=st.integers(1, 4),
    dim=st.integers(1, 5),
    classes=st.integers(1, 4),
    sampler=st.sampled_from(["ns", "sg", "sag", "block"]),
    num_queries=st.sampled_from([None, 1, 3]),
    num_negatives=st.sampled_from([None, 1, 4]),
    hard=st.booleans(),
    memory=st.booleans(),
    seed=st.integers(0, 10_000),
)
def test_finite_loss_and_gradient_in_all_edge_cases(
    batch, height, width, dim, classes, sampler, num_queries, num_negatives, hard, memory, seed
):
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(batch, dim, height, width, generator=generator, requires_grad=True)
    labels = torch.randint(-1, classes, (batch, height, width), generator=generator)
    probs = torch.softmax(3 * torch.randn(batch, classes, height, width, generator=generator), dim=1)
    loss_fn = AnatomicalContrastLoss(
        num_classes=classes if memory else None, embed_dim=dim if memory else None, num_queries=num_queries,
        num_negatives=num_negatives, hard_queries=hard, threshold=0.8, sampler=sampler, grid=2,
        memory_size=3 if memory else 0,
    )
    for _ in range(2):  # the second step sees a non-empty bank
        features.grad = None
        loss = loss_fn(features, labels, probs, generator=generator)
        loss.backward()
        assert torch.isfinite(loss) and loss.item() >= 0.0
        assert features.grad is not None and torch.isfinite(features.grad).all()


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "features_shape, labels_shape, probs_shape, match",
    [
        ((2, 4, 5, 5), (2, 5, 6), (2, 3, 5, 5), r"labels \(2, 5, 6\) do not match features \(2, 4, 5, 5\)"),
        ((2, 4, 5, 5), (3, 5, 5), (2, 3, 5, 5), r"labels \(3, 5, 5\) do not match features"),
        ((2, 4, 5, 5), (2, 5, 5), (2, 3, 5, 4), r"probs \(2, 3, 5, 4\) do not match features \(2, 4, 5, 5\)"),
        ((2, 4, 5, 5), (2, 1, 5, 5), (2, 3, 5, 5), r"labels must be an integer tensor \[B, \*spatial\]"),
        ((4, 5, 5), (4, 5), (4, 3, 5), r"features must be a float tensor \[B, D, H, W\].*\(4, 5, 5\)"),
    ],
)
def test_mismatched_shapes_raise_value_error_naming_them(
    features_shape, labels_shape, probs_shape, match
):
    features = torch.randn(features_shape)
    labels = torch.zeros(labels_shape, dtype=torch.int64)
    probs = torch.full(probs_shape, 1 / 3)
    with pytest.raises(ValueError, match=match):
        AnatomicalContrastLoss()(features, labels, probs)


def test_labels_out_of_range_and_missing_probs_raise():
    features, labels, probs = make_batch(seed=14)
    with pytest.raises(ValueError, match=r"labels \(2, 5, 5\) hold values in \[-1, 3\]"):
        AnatomicalContrastLoss()(features, torch.where(labels == 2, 3, labels), probs)
    with pytest.raises(ValueError, match="probs"):
        AnatomicalContrastLoss()(features, labels, None)
    with pytest.raises(ValueError, match="sampler"):
        AnatomicalContrastLoss(sampler="uniform")
    with pytest.raises(ValueError, match="num_queries"):
        AnatomicalContrastLoss(num_queries=0)


# ---------------------------------------------------------------- learning
def test_loss_falls_under_sgd_on_a_toy_problem():
    torch.manual_seed(0)
    labels = torch.zeros(1, 8, 8, dtype=torch.int64)
    labels[:, 2:6, 2:6] = 1
    labels[:, 3:5, 3:5] = 2
    features = torch.nn.Parameter(torch.randn(1, 8, 8, 8))
    probs = torch.full((1, 3, 8, 8), 1 / 3)
    loss_fn = AnatomicalContrastLoss(num_queries=16, num_negatives=32, temperature=0.5)
    # the loss is a mean over queries, so per-pixel gradients are small: a large step size
    optimiser = torch.optim.SGD([features], lr=10.0)
    losses = []
    for step in range(40):
        loss = loss_fn(features, labels, probs, generator=torch.Generator().manual_seed(step))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5
