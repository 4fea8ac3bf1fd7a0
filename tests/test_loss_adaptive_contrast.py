"""ACTION++: uniform class centres (Eq. 3), allocation (Eq. 4) and SAACL (Eq. 5)."""
from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mona_lab.losses import class_centers
from mona_lab.losses.adaptive_anatomical_contrast import AdaptiveAnatomicalContrastLoss
from mona_lab.losses.class_centers import (
    allocate_class_centers,
    uniform_class_centers,
    uniformity_loss,
)


def pairwise_off_diagonal(points):
    gram = points.double() @ points.double().T
    return gram[~torch.eye(points.shape[0], dtype=torch.bool)]


pytestmark = pytest.mark.usefixtures("single_thread")

# ---------------------------------------------------------------- Eq. 3: centres
@pytest.mark.parametrize("num_classes, dim", [(2, 2), (3, 2), (4, 3), (4, 128), (8, 7), (8, 512)])
def test_closed_form_centres_are_a_regular_simplex(num_classes, dim):
    centers = uniform_class_centers(num_classes, dim)
    assert centers.shape == (num_classes, dim) and centers.dtype == torch.float32
    assert torch.allclose(centers.norm(dim=1), torch.ones(num_classes), atol=1e-6)
    simplex_dot = torch.tensor(-1.0 / (num_classes - 1), dtype=torch.float64)
    assert torch.allclose(pairwise_off_diagonal(centers), simplex_dot, atol=1e-6)


@pytest.mark.parametrize("num_classes, dim", [(2, 16), (4, 3), (5, 8)])
def test_gradient_descent_reaches_the_simplex_when_it_exists(num_classes, dim, tmp_path):
    centers = uniform_class_centers(num_classes, dim, method="gd", steps=300, cache_dir=tmp_path)
    assert torch.allclose(centers.norm(dim=1), torch.ones(num_classes), atol=1e-6)
    simplex_dot = torch.tensor(-1.0 / (num_classes - 1), dtype=torch.float64)
    assert torch.allclose(pairwise_off_diagonal(centers), simplex_dot, atol=1e-3)
    simplex = uniform_class_centers(num_classes, dim, method="simplex")
    optimum = uniformity_loss(simplex.double()).item()
    assert uniformity_loss(centers.double()).item() == pytest.approx(optimum, rel=1e-6)


@pytest.mark.parametrize("num_classes, dim", [(4, 2), (6, 3)])
def test_gradient_descent_beyond_the_simplex_finds_cross_polytope(num_classes, dim, tmp_path):
    """K = 2d points: the optimum is the cross-polytope +-e_i, every non-antipodal dot 0."""
    centers = uniform_class_centers(num_classes, dim, cache_dir=tmp_path, steps=300)  # auto -> gd (K > d + 1)
    dots = pairwise_off_diagonal(centers)
    assert dots.max().item() == pytest.approx(0.0, abs=1e-3)
    assert (dots < -0.999).sum().item() == num_classes  # each point has exactly one antipode
    random_points = F.normalize(torch.randn(num_classes, dim, generator=torch.Generator().manual_seed(0)), dim=1)
    assert uniformity_loss(centers) < uniformity_loss(random_points)


def test_disk_and_memory_cache_return_identical_tensors(tmp_path, monkeypatch):
    class_centers.clear_center_cache()
    first = uniform_class_centers(5, 3, steps=50, seed=3, cache_dir=tmp_path)
    files = list(tmp_path.glob("centers_K5_d3_gd_seed3_steps50_*.pt"))
    assert len(files) == 1 and not list(tmp_path.glob(".*.tmp"))
    original = first.clone()
    first.add_(1.0)  # callers get copies: mutating one must not touch the cache
    class_centers.clear_center_cache()

    def must_not_run(*args, **kwargs):
        raise AssertionError("a cache hit must not recompute")

    monkeypatch.setattr(class_centers, "_gradient_descent_centers", must_not_run)
    from_disk = uniform_class_centers(5, 3, steps=50, seed=3, cache_dir=tmp_path)
    from_memory = uniform_class_centers(5, 3, steps=50, seed=3, cache_dir=tmp_path)
    assert torch.equal(from_disk, from_memory)
    assert torch.equal(from_disk, original)


def test_cache_folder_from_environment_and_corrupt_file_is_recomputed(tmp_path, monkeypatch):
    class_centers.clear_center_cache()
    monkeypatch.setenv(class_centers.CACHE_ENV_VAR, str(tmp_path / "envcache"))
    centers = uniform_class_centers(5, 3, steps=40)
    path = next((tmp_path / "envcache").glob("centers_K5_d3_*.pt"))
    path.write_bytes(b"not a tensor")
    class_centers.clear_center_cache()
    with pytest.warns(UserWarning, match="unreadable class-centre cache"):
        again = uniform_class_centers(5, 3, steps=40)
    assert torch.equal(centers, again)


def test_centre_arguments_are_validated():
    with pytest.raises(ValueError, match="num_classes"):
        uniform_class_centers(0, 4)
    with pytest.raises(ValueError, match="dim"):
        uniform_class_centers(3, 1)
    with pytest.raises(ValueError, match="needs dim >= 5"):
        uniform_class_centers(6, 3, method="simplex")
    with pytest.raises(ValueError, match="method"):
        uniform_class_centers(3, 4, method="adam")


# ---------------------------------------------------------------- Eq. 4: allocation
@settings(max_examples=25)
@given(num_classes=st.integers(1, 5), dim=st.integers(2, 6), seed=st.integers(0, 10_000))
def test_allocation_is_the_minimum_total_distance_permutation(num_classes, dim, seed):
    generator = torch.Generator().manual_seed(seed)
    means = torch.randn(num_classes, dim, generator=generator, dtype=torch.float64)
    centers = F.normalize(torch.randn(num_classes, dim, generator=generator, dtype=torch.float64), dim=1)
    perm = allocate_class_centers(means, centers)
    assert sorted(perm.tolist()) == list(range(num_classes))

    def cost(p):
        return sum((centers[p[c]] - means[c]).norm().item() for c in range(num_classes))

    best = min(cost(p) for p in itertools.permutations(range(num_classes)))
    assert cost(perm.tolist()) == pytest.approx(best, rel=1e-9, abs=1e-12)


def test_allocation_recovers_a_shuffled_assignment_and_checks_shapes():
    centers = uniform_class_centers(4, 8)
    shuffle = torch.tensor([2, 0, 3, 1])
    means = 0.8 * centers[shuffle] + 0.05 * torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    assert allocate_class_centers(means, centers).tolist() == shuffle.tolist()
    with pytest.raises(ValueError, match=r"\(4, 8\).*\(4, 7\)"):
        allocate_class_centers(means, centers[:, :7])
    with pytest.raises(ValueError, match="at least as many centers"):
        allocate_class_centers(means, centers[:3])


# ---------------------------------------------------------------- Eq. 5: SAACL
def make_batch(batch=2, dim=6, height=4, width=4, classes=3, seed=0, ignore_share=0.1):
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(batch, dim, height, width, generator=generator, dtype=torch.float64)
    labels = torch.randint(0, classes, (batch, height, width), generator=generator)
    labels[torch.rand(batch, height, width, generator=generator) < ignore_share] = -1
    return features.requires_grad_(True), labels


def plain_saacl_reference(features, labels, centers, assignment, tau, weight):
    """Eq. 5 over every labelled pixel, with loops: mean over positives, sums over j != i."""
    dim = features.shape[1]
    rows = features.permute(0, 2, 3, 1).reshape(-1, dim)
    flat = labels.flatten().tolist()
    anchors = [i for i, v in enumerate(flat) if v >= 0]
    phi = {i: F.normalize(rows[i], dim=0) for i in anchors}
    per_class = {}
    for i in anchors:
        others = [j for j in anchors if j != i]
        denominator = sum(torch.exp(phi[i] @ phi[j] / tau) for j in others)
        positives = [j for j in others if flat[j] == flat[i]]
        term = 0.0
        if positives:
            logs = [torch.log(torch.exp(phi[i] @ phi[p] / tau) / denominator) for p in positives]
            term = sum(logs) / len(positives)
        nu = centers[assignment[flat[i]]].double()
        term = term + weight * torch.log(torch.exp(phi[i] @ nu / tau) / denominator)
        per_class.setdefault(flat[i], []).append(-term)
    return sum(sum(v) / len(v) for v in per_class.values()) / len(per_class)


def test_exact_mode_matches_plain_equation_and_gradient():
    features, labels = make_batch(seed=1)
    loss_fn = AdaptiveAnatomicalContrastLoss(3, 6, num_samples=None, temperature=0.3)
    loss = loss_fn(features, labels)
    (grad,) = torch.autograd.grad(loss, features)
    reference = plain_saacl_reference(features, labels, loss_fn.centers, loss_fn.assignment.tolist(), 0.3, 0.2)
    (reference_grad,) = torch.autograd.grad(reference, features)
    assert loss.item() == pytest.approx(reference.item(), rel=1e-9)
    assert torch.allclose(grad, reference_grad, atol=1e-10)


def test_centre_term_pulls_towards_the_allocated_centre():
    features, labels = make_batch(seed=2)
    with_centres = AdaptiveAnatomicalContrastLoss(3, 6, num_samples=None, center_weight=0.2)
    without = AdaptiveAnatomicalContrastLoss(3, 6, num_samples=None, center_weight=0.0)
    difference = with_centres(features, labels) - without(features, labels)
    (grad,) = torch.autograd.grad(difference, features)
    # a step against the gradient of the centre term raises every pixel's similarity to its centre
    moved = (features - 0.5 * grad / grad.norm()).detach()
    rows = lambda x: F.normalize(x.permute(0, 2, 3, 1).reshape(-1, 6), dim=1)  # noqa: E731
    valid = labels.flatten() >= 0
    nu = with_centres.centers[with_centres.assignment[labels.flatten()[valid]]].double()
    before = (rows(features.detach())[valid] * nu).sum(1).mean()
    after = (rows(moved)[valid] * nu).sum(1).mean()
    assert after > before


def test_moving_average_means_and_allocation_update_in_training_only():
    features, labels = make_batch(seed=3, ignore_share=0.0)
    loss_fn = AdaptiveAnatomicalContrastLoss(3, 6, num_samples=4, momentum=0.25)
    loss_fn(features, labels, generator=torch.Generator().manual_seed(0))
    rows = F.normalize(features.detach().permute(0, 2, 3, 1).reshape(-1, 6).float(), dim=1)
    batch_means = torch.stack([F.normalize(rows[labels.flatten() == c].sum(0), dim=0) for c in range(3)])
    assert torch.allclose(loss_fn.class_means, batch_means, atol=1e-6)  # first sight: set, not blended
    assert loss_fn.class_seen.all()
    assert loss_fn.assignment.tolist() == allocate_class_centers(batch_means, loss_fn.centers).tolist()
    shifted = features.detach() + 1.0
    loss_fn(shifted, labels, generator=torch.Generator().manual_seed(0))
    rows2 = F.normalize(shifted.permute(0, 2, 3, 1).reshape(-1, 6).float(), dim=1)
    new_means = torch.stack([F.normalize(rows2[labels.flatten() == c].sum(0), dim=0) for c in range(3)])
    assert torch.allclose(loss_fn.class_means, 0.75 * batch_means + 0.25 * new_means, atol=1e-6)
    loss_fn.eval()
    frozen = loss_fn.class_means.clone()
    loss_fn(shifted * -1.0, labels, generator=torch.Generator().manual_seed(0))
    assert torch.equal(loss_fn.class_means, frozen)


def test_absent_class_keeps_its_mean_and_random_allocation_stays_fixed():
    features, labels = make_batch(seed=4, ignore_share=0.0)
    loss_fn = AdaptiveAnatomicalContrastLoss(4, 6, num_samples=4, allocation="random", seed=1)
    fixed = loss_fn.assignment.clone()
    loss_fn(features, labels, generator=torch.Generator().manual_seed(0))  # class 3 absent
    assert not loss_fn.class_seen[3] and torch.equal(loss_fn.class_means[3], torch.zeros(6))
    assert torch.equal(loss_fn.assignment, fixed)
    assert sorted(fixed.tolist()) == [0, 1, 2, 3]


def test_state_dict_round_trip_resumes_exactly():
    features, labels = make_batch(seed=5)
    loss_fn = AdaptiveAnatomicalContrastLoss(3, 6, num_samples=5, sampler="sg", grid=2)
    generator = torch.Generator().manual_seed(0)
    loss_fn(features, labels, generator=generator)
    state = loss_fn.state_dict()
    assert {"centers", "class_means", "class_seen", "assignment"} <= set(state)
    resumed = AdaptiveAnatomicalContrastLoss(3, 6, num_samples=5, sampler="sg", grid=2, centers=torch.eye(3, 6))
    resumed.load_state_dict(state)
    generator_state = generator.get_state()
    original = loss_fn(features, labels, generator=generator)
    generator.set_state(generator_state)
    assert resumed(features, labels, generator=generator).item() == original.item()


def test_temperature_attribute_override_and_determinism():
    features, labels = make_batch(seed=6)
    loss_fn = AdaptiveAnatomicalContrastLoss(3, 6, num_samples=3)
    loss_fn.eval()
    a = loss_fn(features, labels, temperature=0.7, generator=torch.Generator().manual_seed(9))
    loss_fn.temperature = 0.7
    b = loss_fn(features, labels, generator=torch.Generator().manual_seed(9))
    c = loss_fn(features, labels, generator=torch.Generator().manual_seed(10))
    assert a.item() == b.item() != c.item()
    with pytest.raises(ValueError, match="temperature"):
        loss_fn.temperature = 0.0


def test_every_pixel_ignored_and_single_pixel_give_connected_zero():
    features, labels = make_batch(seed=7)
    loss_fn = AdaptiveAnatomicalContrastLoss(3, 6)
    loss = loss_fn(features, torch.full_like(labels, -1))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(features.grad, torch.zeros_like(features))
    one_pixel = torch.full_like(labels, -1)
    one_pixel[0, 0, 0] = 1
    single = AdaptiveAnatomicalContrastLoss(3, 6, num_samples=1)(features, one_pixel)
    assert single.item() == 0.0 and single.grad_fn is not None


@settings(max_examples=30)
@given(
    batch=st.integers(1, 2),
    height=st.integers(1, 4),
    width=st.integers(1, 4),
    classes=st.integers(1, 4),
    num_samples=st.sampled_from([None, 1, 2, 5]),
    sampler=st.sampled_from(["ns", "sg", "sag", "block"]),
    seed=st.integers(0, 10_000),
)
def test_finite_loss_and_gradient_in_all_edge_cases(batch, height, width, classes, num_samples, sampler, seed):
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(batch, 4, height, width, generator=generator, requires_grad=True)
    labels = torch.randint(-1, classes, (batch, height, width), generator=generator)
    loss_fn = AdaptiveAnatomicalContrastLoss(classes, 4, num_samples=num_samples, sampler=sampler, grid=3)
    for _ in range(2):
        features.grad = None
        loss = loss_fn(features, labels, generator=generator)
        loss.backward()
        assert torch.isfinite(loss)
        assert torch.isfinite(features.grad).all()


@pytest.mark.parametrize(
    "features_shape, labels_shape, match",
    [
        ((2, 6, 4, 4), (2, 4, 5), r"labels \(2, 4, 5\) do not match features \(2, 6, 4, 4\)"),
        ((2, 5, 4, 4), (2, 4, 4), r"features \(2, 5, 4, 4\) have D=5, expected embed_dim=6"),
        ((6, 4, 4), (4, 4), r"features must be a float tensor .*\(6, 4, 4\)"),
    ],
)
def test_mismatched_shapes_raise_value_error_naming_them(features_shape, labels_shape, match):
    with pytest.raises(ValueError, match=match):
        AdaptiveAnatomicalContrastLoss(3, 6)(
            torch.randn(features_shape), torch.zeros(labels_shape, dtype=torch.int64)
        )


def test_bad_settings_and_labels_raise():
    features, labels = make_batch(seed=8)
    with pytest.raises(ValueError, match=r"hold values in \[-1, 3\]"):
        AdaptiveAnatomicalContrastLoss(3, 6)(features, torch.where(labels == 2, 3, labels))
    with pytest.raises(ValueError, match=r"centers must be a \[3, 6\] tensor"):
        AdaptiveAnatomicalContrastLoss(3, 6, centers=torch.randn(3, 5))
    with pytest.raises(ValueError, match="allocation"):
        AdaptiveAnatomicalContrastLoss(3, 6, allocation="greedy")


def test_loss_falls_under_sgd_on_a_toy_problem():
    torch.manual_seed(0)
    labels = torch.zeros(1, 8, 8, dtype=torch.int64)
    labels[:, 2:6, 2:6] = 1
    labels[:, 3:5, 3:5] = 2
    features = torch.nn.Parameter(torch.randn(1, 8, 8, 8))
    loss_fn = AdaptiveAnatomicalContrastLoss(3, 8, num_samples=16, temperature=0.5)
    optimiser = torch.optim.SGD([features], lr=10.0)
    losses = []
    for step in range(40):
        loss = loss_fn(features, labels, generator=torch.Generator().manual_seed(step))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.5
