"""Two-stream batches: label isolation, determinism, exact resume, loader workers."""
from __future__ import annotations

import itertools

import pytest
import torch

from mona_lab.data import TwoStreamBatches, load_dataset, split_patients
from mona_lab.data.slicing import iter_volume_batches
from mona_lab.data.phantom import PhantomConfig
from mona_lab.errors import MonaLabError


@pytest.fixture(scope="module")
def data():
    return load_dataset("phantom", phantom=PhantomConfig(num_patients=8, image_size=32, seed=2))


def _take(batches, n):
    return list(itertools.islice(iter(batches), n))


def _same(a, b):
    return all(
        torch.equal(x, y)
        for x, y in [
            (a.labeled_images, b.labeled_images),
            (a.labeled_labels, b.labeled_labels),
            (a.unlabeled_images, b.unlabeled_images),
        ]
    )


def test_shapes_dtypes_and_halves(data):
    lab, _ = split_patients(data.patients, 2, seed=0)
    batch = next(TwoStreamBatches(data, lab, batch_size=6, seed=0))
    assert batch.labeled_images.shape == (3, 1, 32, 32) and batch.labeled_images.dtype == torch.float32
    assert batch.labeled_labels.shape == (3, 32, 32) and batch.labeled_labels.dtype == torch.int64
    assert batch.unlabeled_images.shape == (3, 1, 32, 32)
    assert not hasattr(batch, "unlabeled_labels")
    assert batch.images.shape == (6, 1, 32, 32)
    moved = batch.to("cpu")
    assert moved.labeled_labels.device.type == "cpu" and moved.step == 0


def test_streams_draw_only_their_own_patients(data):
    lab, unl = split_patients(data.patients, 2, seed=0)
    batches = TwoStreamBatches(data, lab, batch_size=5, labeled_fraction=0.4, seed=0)
    assert (batches.labeled_batch, batches.unlabeled_batch) == (2, 3)
    for batch in _take(batches, 30):
        assert {data.train_patient_ids[i] for i in batch.labeled_index.tolist()} <= set(lab)
        assert {data.train_patient_ids[i] for i in batch.unlabeled_index.tolist()} <= set(unl)
        assert torch.equal(batch.labeled_labels, data.train_labels[batch.labeled_index])


def test_labels_of_unlabelled_patients_never_reach_a_batch(data):
    lab, unl = split_patients(data.patients, 1, seed=0)
    clean = _take(TwoStreamBatches(data, lab, batch_size=6, seed=3), 40)
    corrupted = load_dataset("phantom", phantom=PhantomConfig(num_patients=8, image_size=32, seed=2))
    rows = corrupted.slice_indices(unl)
    corrupted.train_labels[rows] = 99  # garbage in every unlabelled patient's labels
    dirty = _take(TwoStreamBatches(corrupted, lab, batch_size=6, seed=3), 40)
    assert all(_same(a, b) for a, b in zip(clean, dirty))
    assert all((b.labeled_labels < corrupted.num_classes).all() for b in dirty)


def test_each_pass_covers_every_labelled_slice_once(data):
    lab, _ = split_patients(data.patients, 1, seed=0)
    batches = TwoStreamBatches(data, lab, batch_size=2, labeled_fraction=0.5, seed=1)
    n = len(data.slice_indices(lab))
    seen = torch.cat([b.labeled_index for b in _take(batches, n)])
    assert sorted(seen.tolist()) == data.slice_indices(lab).tolist()


def test_deterministic_per_seed(data):
    lab, _ = split_patients(data.patients, 2, seed=0)
    a = _take(TwoStreamBatches(data, lab, seed=5), 10)
    b = _take(TwoStreamBatches(data, lab, seed=5), 10)
    c = _take(TwoStreamBatches(data, lab, seed=6), 10)
    assert all(_same(x, y) for x, y in zip(a, b))
    assert not all(_same(x, y) for x, y in zip(a, c))


def test_state_dict_resumes_exactly(data):
    lab, _ = split_patients(data.patients, 2, seed=0)
    full = _take(TwoStreamBatches(data, lab, seed=4), 25)
    first = TwoStreamBatches(data, lab, seed=4)
    _take(first, 11)
    state = first.state_dict()
    resumed = TwoStreamBatches(data, lab, seed=4)
    resumed.load_state_dict(state)
    rest = _take(resumed, 14)
    assert all(_same(x, y) for x, y in zip(full[11:], rest))
    assert rest[0].step == 11
    other = TwoStreamBatches(data, lab, seed=9)
    with pytest.raises(MonaLabError, match="seed"):
        other.load_state_dict(state)


def test_loader_with_workers_gives_the_same_batches(data):
    lab, _ = split_patients(data.patients, 2, seed=0)
    plain = _take(TwoStreamBatches(data, lab, seed=7), 9)
    batches = TwoStreamBatches(data, lab, seed=7)
    workers = list(itertools.islice(batches.loader(num_workers=2), 9))
    assert [b.step for b in workers] == list(range(9))
    assert all(_same(x, y) for x, y in zip(plain, workers))
    assert batches.state_dict()["step"] == 9


def test_transform_is_seeded_per_step(data):
    lab, _ = split_patients(data.patients, 2, seed=0)

    def noisy(batch, gen):
        batch.labeled_images = batch.labeled_images + torch.rand(batch.labeled_images.shape, generator=gen)
        return batch

    a = _take(TwoStreamBatches(data, lab, seed=1, transform=noisy), 3)
    b = TwoStreamBatches(data, lab, seed=1, transform=noisy)
    assert torch.equal(a[2].labeled_images, b.batch_at(2).labeled_images)
    assert not torch.equal(a[2].labeled_images, data.train_images[a[2].labeled_index])


def test_fully_supervised_stream_and_errors(data):
    everyone = data.patients
    sup = next(TwoStreamBatches(data, everyone, batch_size=4, labeled_fraction=1.0))
    assert sup.labeled_images.shape[0] == 4 and sup.unlabeled_images.shape[0] == 0
    with pytest.raises(MonaLabError, match="no unlabelled patients left"):
        TwoStreamBatches(data, everyone, batch_size=4)
    with pytest.raises(MonaLabError, match=r"unknown training patient.*patient999"):
        TwoStreamBatches(data, ["patient999"])
    with pytest.raises(MonaLabError, match="both labeled_ids and unlabeled_ids"):
        TwoStreamBatches(data, everyone[:1], everyone[:2])
    with pytest.raises(MonaLabError, match="labeled_fraction"):
        TwoStreamBatches(data, everyone[:1], labeled_fraction=0.0)
    with pytest.raises(MonaLabError, match="labeled_ids is empty"):
        TwoStreamBatches(data, [])


def test_iter_volume_batches(data):
    vol = data.val_volumes[0]
    chunks = list(iter_volume_batches(vol, 16, batch_size=4))
    assert sum(c.shape[0] for c in chunks) == vol.num_slices
    assert all(c.shape[1:] == (1, 16, 16) for c in chunks)
