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
    # no label at all ever reaches an unlabelled row, not even background where a view
    # filled pixels from outside the image (those must not count as ground truth)
    assert (strong.labels[3:] == IGNORE).all() and (weak.labels[3:] == IGNORE).all()
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


def test_unlabelled_rows_never_carry_background_from_the_augmentation_fill():
    """Regression (issue 10, bug 3): rotated/cropped unlabelled rows used to get label 0 on
    the filled border, which the pixel contrast then took as ground-truth background."""
    labeled, labels, unlabeled = two_stream_batch(size=32)
    for seed in range(5):
        views = make_views(labeled, labels, unlabeled, torch.Generator().manual_seed(seed), strong_labeled=True)
        assert (views.weak.labels[3:] == IGNORE).all()
        assert (views.strong.labels[3:] == IGNORE).all()
        assert (views.weak.labels[:3] >= 0).any()  # labelled rows keep their labels


def test_representation_grid_labels_come_from_the_cell_centre():
    """Regression (issue 10, bug 2): at stride 4 each cell's label must be the one at its
    centre, where the cell's area-averaged features sit, not at its top-left pixel."""
    from mona_lab.methods.views import resize_labels_nearest

    labels = torch.zeros(1, 16, 16, dtype=torch.long)
    labels[:, :, 2:] = 1  # columns 0-1 background, 2-15 class 1
    small = resize_labels_nearest(labels, (4, 4))
    assert small.shape == (1, 4, 4)
    assert (small == 1).all()  # the first cell spans columns 0-3; its centre (2) is class 1
    labels = torch.full((1, 16, 16), IGNORE)
    assert (resize_labels_nearest(labels, (4, 4)) == IGNORE).all()
