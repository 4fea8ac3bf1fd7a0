"""The teacher/student views of a two-stream batch (mona_lab.methods.views.make_views)."""
from __future__ import annotations

import torch

from mona_lab.methods.views import IGNORE, make_views


def two_stream_batch(seed: int = 0, bl: int = 3, bu: int = 3, size: int = 32):
    g = torch.Generator().manual_seed(seed)
    labeled = torch.rand(bl, 1, size, size, generator=g)
    labels = torch.randint(0, 4, (bl, size, size), generator=g)
    unlabeled = torch.rand(bu, 1, size, size, generator=g)
    return labeled, labels, unlabeled


def test_weak_labelled_rows_are_the_teachers_view_and_only_unlabelled_rows_are_strong():
    labeled, labels, unlabeled = two_stream_batch()
    views = make_views(labeled, labels, unlabeled, torch.Generator().manual_seed(1), strong_labeled=False)
    strong, weak = views.strong, views.weak
    assert views.num_labeled == 3
    assert torch.equal(strong.images[:3], weak.images[:3])
    assert torch.equal(strong.labels[:3], weak.labels[:3])
    assert strong.valid_mask[:3].all()
    # unlabelled rows: strongly augmented (moved and/or intensity-changed), labels stay unknown
    assert not torch.allclose(strong.images[3:], weak.images[3:])
    # no real class ever reaches an unlabelled row (padding from outside the image is
    # labelled background, the fill value, exactly as in the weak view)
    assert (strong.labels[3:] <= 0).all() and (strong.labels[3:] == IGNORE).float().mean() > 0.5
    # teacher outputs map into the student's frame: identity on labelled rows
    outputs = torch.randn(6, 4, 32, 32)
    moved = strong.apply_to_outputs(outputs)
    assert torch.allclose(moved[:3], outputs[:3], atol=1e-5)
    assert not torch.allclose(moved[3:], outputs[3:], atol=1e-3)
    # CutMix only mixes unlabelled rows with each other
    if strong.cutmix is not None:
        assert strong.cutmix.source_index[:3].tolist() == [0, 1, 2]
        assert (strong.cutmix.source_index[3:] >= 3).all()
        assert not strong.cutmix.mask[:3].any()


def test_strong_labelled_rows_are_augmented_too():
    labeled, labels, unlabeled = two_stream_batch()
    views = make_views(labeled, labels, unlabeled, torch.Generator().manual_seed(1), strong_labeled=True)
    assert not torch.allclose(views.strong.images[:3], views.weak.images[:3])


def test_views_are_reproducible_from_the_generator():
    batch = two_stream_batch(seed=2)
    a = make_views(*batch, torch.Generator().manual_seed(5), strong_labeled=False)
    b = make_views(*batch, torch.Generator().manual_seed(5), strong_labeled=False)
    assert torch.equal(a.strong.images, b.strong.images) and torch.equal(a.weak.labels, b.weak.labels)
