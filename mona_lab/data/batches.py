"""Two-stream mini-batches for semi-supervised training: labelled slices with their labels,
unlabelled slices with none.

The papers train with batch 6, half labelled and half unlabelled (MONA TPAMI Sec. IV-B;
reference notes "Optimisation defaults"); the public code draws 4 + 4. `TwoStreamBatches`
draws each stream without replacement, reshuffling after every pass over it, and is
infinite, for iteration-based training.

**Label isolation.** The unlabelled stream is built from slice *indices* of the
unlabelled patients and only ever reads ``train_images`` at those indices; labels of
unlabelled patients are never indexed, so they cannot reach a batch (tested by corrupting
them).

**Determinism and resuming.** The slices of step ``t`` are a pure function of the seed and
``t``: for stream ``s`` with ``n`` slices and ``b`` per batch, the ``j``-th pick of step
``t`` is element ``(t b + j) mod n`` of the permutation number ``(t b + j) div n``, which is
drawn from ``SeedSequence([seed, s, pass])``. So ``state_dict()`` is just the step (plus
what identifies the streams), `load_state_dict` resumes exactly, and the same batches come
out with or without loader worker processes (`TwoStreamBatches.loader`).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mona_lab.errors import MonaLabError

_STREAM_LABELED, _STREAM_UNLABELED, _STREAM_TRANSFORM = 1, 2, 3


@dataclass
class TwoStreamBatch:
    """One training step's data.

    Attributes:
        labeled_images: ``[B_l, 1, S, S]`` float32.
        labeled_labels: ``[B_l, S, S]`` int64.
        unlabeled_images: ``[B_u, 1, S, S]`` float32 (``B_u`` may be 0); no labels exist.
        step: the step this batch belongs to.
        labeled_index, unlabeled_index: rows of the data set's training slices used
            (``[B_l]``, ``[B_u]`` int64), for inspection.
    """

    labeled_images: torch.Tensor
    labeled_labels: torch.Tensor
    unlabeled_images: torch.Tensor
    step: int
    labeled_index: torch.Tensor
    unlabeled_index: torch.Tensor

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "TwoStreamBatch":
        """A copy with the three data tensors on ``device`` (indices stay on the CPU)."""
        return TwoStreamBatch(
            self.labeled_images.to(device, non_blocking=non_blocking),
            self.labeled_labels.to(device, non_blocking=non_blocking),
            self.unlabeled_images.to(device, non_blocking=non_blocking),
            self.step,
            self.labeled_index,
            self.unlabeled_index,
        )

    def pin_memory(self) -> "TwoStreamBatch":
        """Page-locked copies, so ``to(cuda, non_blocking=True)`` overlaps with compute
        (called by ``DataLoader(pin_memory=True)``)."""
        return TwoStreamBatch(
            self.labeled_images.pin_memory(),
            self.labeled_labels.pin_memory(),
            self.unlabeled_images.pin_memory(),
            self.step,
            self.labeled_index,
            self.unlabeled_index,
        )

    @property
    def images(self) -> torch.Tensor:
        """Labelled then unlabelled images, ``[B_l + B_u, 1, S, S]``."""
        return torch.cat([self.labeled_images, self.unlabeled_images])


def _gather(tensor: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``tensor[rows]``. On the CPU the copy is done by NumPy in one thread: for a handful
    of rows, torch's multi-threaded gather is slower, and on a busy machine its threads
    can wait on each other for milliseconds (measured 100x slower on 2 loaded cores)."""
    if tensor.device.type == "cpu" and not tensor.requires_grad:
        return torch.from_numpy(tensor.numpy()[rows.numpy()])
    return tensor[rows.to(tensor.device)]


class _Stream:
    """Indices drawn without replacement, a fresh permutation per pass (module docstring)."""

    def __init__(self, indices: torch.Tensor, per_step: int, seed: int, stream: int) -> None:
        self.indices = indices
        self.per_step = per_step
        self.seed = seed
        self.stream = stream
        self._cache: dict[int, np.ndarray] = {}

    def permutation(self, epoch: int) -> np.ndarray:
        perm = self._cache.get(epoch)
        if perm is None:
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, self.stream, epoch]))
            perm = rng.permutation(len(self.indices))
            if len(self._cache) > 4:
                self._cache.clear()
            self._cache[epoch] = perm
        return perm

    def at(self, step: int) -> torch.Tensor:
        n, b = len(self.indices), self.per_step
        if b == 0:
            return torch.zeros(0, dtype=torch.long)
        picks = np.arange(step * b, step * b + b)
        epochs, offsets = np.divmod(picks, n)
        rows = np.array([self.permutation(int(e))[o] for e, o in zip(epochs, offsets)])
        return self.indices[torch.from_numpy(rows)]


class TwoStreamBatches:
    """Infinite, seeded, resumable labelled + unlabelled batches from a `SegmentationData`.

    Args:
        data: the data set (its ``train_images``, ``train_labels``, ``slice_indices``).
        labeled_ids: patients whose slices (with labels) form the labelled stream.
        unlabeled_ids: patients for the unlabelled stream; ``None``: every other training
            patient. Must not overlap ``labeled_ids``.
        batch_size: ``B = B_l + B_u`` slices per step (papers: 6).
        labeled_fraction: ``B_l = max(1, round(B * fraction))``; 1.0 gives a purely
            supervised stream (``B_u = 0``).
        seed: the seed of both streams.
        transform: optional ``f(batch, generator) -> batch`` applied to each batch (e.g.
            augmentation), with a CPU generator seeded from ``(seed, step)`` so that it is
            deterministic with any number of loader workers.

    Raises:
        MonaLabError: an unknown or overlapping patient id, an empty labelled stream, or an
            unlabelled stream needed (``B_u > 0``) but empty.

    Example::

        labeled, unlabeled = split_patients(data.patients, 3, seed=0)
        batches = TwoStreamBatches(data, labeled, batch_size=6, seed=0)
        for step, batch in zip(range(1000), batches):
            batch = batch.to(device)
            ...
        torch.save({"batches": batches.state_dict(), ...}, "last.pt")
    """

    def __init__(
        self,
        data: Any,
        labeled_ids: Sequence[str],
        unlabeled_ids: Sequence[str] | None = None,
        *,
        batch_size: int = 6,
        labeled_fraction: float = 0.5,
        seed: int = 0,
        transform: Callable[[TwoStreamBatch, torch.Generator], TwoStreamBatch] | None = None,
    ) -> None:
        if isinstance(labeled_ids, str):
            raise MonaLabError("labeled_ids must be a list of patient ids, not a single string")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise MonaLabError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not (0.0 < float(labeled_fraction) <= 1.0):
            raise MonaLabError(f"labeled_fraction must lie in (0, 1], got {labeled_fraction!r}")
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise MonaLabError(f"seed must be a non-negative integer, got {seed!r}")
        labeled = sorted(set(labeled_ids))
        if not labeled:
            raise MonaLabError("labeled_ids is empty: a semi-supervised run needs labelled patients")
        if unlabeled_ids is None:
            unlabeled = [p for p in data.patients if p not in set(labeled)]
        else:
            if isinstance(unlabeled_ids, str):
                raise MonaLabError("unlabeled_ids must be a list of patient ids, not a single string")
            unlabeled = sorted(set(unlabeled_ids))
        overlap = sorted(set(labeled) & set(unlabeled))
        if overlap:
            raise MonaLabError(f"patients {overlap[:5]} are in both labeled_ids and unlabeled_ids")
        self.data = data
        self.labeled_ids = labeled
        self.unlabeled_ids = unlabeled
        self.batch_size = batch_size
        self.labeled_fraction = float(labeled_fraction)
        self.labeled_batch = max(1, min(batch_size, int(round(batch_size * self.labeled_fraction))))
        self.unlabeled_batch = batch_size - self.labeled_batch
        self.seed = int(seed)
        self.transform = transform
        lab_idx = data.slice_indices(labeled)
        unl_idx = data.slice_indices(unlabeled)
        if self.unlabeled_batch > 0 and len(unl_idx) == 0:
            raise MonaLabError(
                "no unlabelled patients left for the unlabelled half of the batch; use "
                "labeled_fraction=1.0 for a purely supervised stream or label fewer patients"
            )
        self._labeled = _Stream(lab_idx, self.labeled_batch, self.seed, _STREAM_LABELED)
        self._unlabeled = _Stream(unl_idx, self.unlabeled_batch, self.seed, _STREAM_UNLABELED)
        self.step = 0

    # ------------------------------------------------------------------ batches
    def batch_at(self, step: int) -> TwoStreamBatch:
        """The batch of ``step`` (a pure function of the seed and ``step``)."""
        li = self._labeled.at(step)
        ui = self._unlabeled.at(step)
        batch = TwoStreamBatch(
            _gather(self.data.train_images, li),
            _gather(self.data.train_labels, li),
            _gather(self.data.train_images, ui),  # images only: unlabelled labels are never indexed
            int(step),
            li,
            ui,
        )
        if self.transform is not None:
            gen = torch.Generator()
            gen.manual_seed(int(np.random.SeedSequence([self.seed, _STREAM_TRANSFORM, int(step)]).generate_state(1)[0]))
            batch = self.transform(batch, gen)
        return batch

    def __iter__(self) -> Iterator[TwoStreamBatch]:
        return self

    def __next__(self) -> TwoStreamBatch:
        batch = self.batch_at(self.step)
        self.step += 1
        return batch

    def loader(self, num_workers: int = 2, pin_memory: bool = False, prefetch_factor: int = 2) -> Iterator[TwoStreamBatch]:
        """Infinite iterator over the same batches, assembled by ``num_workers`` worker
        processes (``torch.utils.data.DataLoader``); useful when ``transform`` is costly.

        Batches come out in step order (worker ``w`` of ``W`` makes steps ``w, w + W, ...``
        and the loader takes them round-robin); `step` advances per batch consumed, so
        ``state_dict()`` stays exact. ``num_workers=0`` is plain iteration. Without a
        costly ``transform``, plain iteration is about 10x faster than workers (they pay for
        shared-memory transfer; ``benchmarks/bench_data.py``).
        """
        if num_workers <= 0:
            yield from self
            return
        from torch.utils.data import DataLoader

        start = self.step
        stream = _StepStream(self, start)
        dl = DataLoader(
            stream,
            batch_size=None,
            num_workers=num_workers,
            pin_memory=pin_memory,
            prefetch_factor=prefetch_factor,
            persistent_workers=False,
        )
        for batch in dl:
            if batch.step != self.step:  # pragma: no cover - guards the ordering contract
                raise RuntimeError(f"loader produced step {batch.step}, expected {self.step}")
            self.step += 1
            yield batch

    # ------------------------------------------------------------------ resuming
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: the next step and what defines the streams."""
        return {
            "step": int(self.step),
            "seed": self.seed,
            "batch_size": self.batch_size,
            "labeled_fraction": self.labeled_fraction,
            "labeled_ids": list(self.labeled_ids),
            "unlabeled_ids": list(self.unlabeled_ids),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a saved state.

        Raises:
            MonaLabError: the state was saved with other patients, seed or batch shape.
        """
        for key in ("seed", "batch_size", "labeled_fraction", "labeled_ids", "unlabeled_ids"):
            mine = self.state_dict()[key]
            if key not in state or state[key] != mine:
                raise MonaLabError(f"batch state does not match this stream: {key} is {state.get(key)!r}, expected {mine!r}")
        step = state.get("step")
        if not isinstance(step, int) or step < 0:
            raise MonaLabError(f"batch state has an invalid step {step!r}")
        self.step = step

    def __repr__(self) -> str:
        return (
            f"TwoStreamBatches({len(self.labeled_ids)} labelled patients / {len(self._labeled.indices)} slices, "
            f"{len(self.unlabeled_ids)} unlabelled / {len(self._unlabeled.indices)} slices, "
            f"batch {self.labeled_batch}+{self.unlabeled_batch}, step {self.step})"
        )


class _StepStream(torch.utils.data.IterableDataset):
    """Worker ``w`` of ``W`` yields the batches of steps ``start + w, start + w + W, ...``."""

    def __init__(self, batches: TwoStreamBatches, start: int) -> None:
        self.batches = batches
        self.start = start

    def __iter__(self) -> Iterator[TwoStreamBatch]:
        info = torch.utils.data.get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        step = self.start + worker
        while True:
            yield self.batches.batch_at(step)
            step += workers
