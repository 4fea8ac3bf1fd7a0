"""`load_dataset`: one call from a data set's name to in-memory training slices and
validation / test volumes, the form every training recipe and notebook uses.

Training data are 2D slices preloaded as tensors at the working size (MONA and ACTION train
2D networks on slices); validation and test data stay 3D `Volume` objects at their native
resolution, because Dice and ASD are computed per 3D volume (stack the slice predictions,
resize them back with `resize_probabilities` / `resize_labels`).

Where the native volumes come from (`open_source`, `DataSource`) is
`mona_lab.data.sources`; a volume's slices at the working size (`volume_slices`) is
`mona_lab.data.slicing`. Both are re-exported here.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from mona_lab.data.acdc import volume_of
from mona_lab.data.phantom import PhantomConfig
from mona_lab.data.preprocess import resize_images, resize_labels
from mona_lab.data.sources import DATASET_NAMES, open_source
from mona_lab.data.stats import ClassStats, compute_class_stats
from mona_lab.data.volume import Volume
from mona_lab.errors import MonaLabError

_CHUNK = 128  # slices resized per interpolate call while loading


@dataclass
class SegmentationData:
    """A 2D segmentation data set in memory.

    Attributes:
        name: ``"phantom"``, ``"acdc"`` or ``"nifti"``.
        class_names: background first; ``num_classes = len(class_names)``.
        modality: ``"MRI"`` or ``"CT"``.
        image_size: ``S``, the working size of the training slices.
        train_images: ``[N, 1, S, S]`` float32 in [0, 1].
        train_labels: ``[N, S, S]`` int64 in ``0..C-1``.
        train_patient_ids: ``N`` patient ids, one per slice.
        train_case_ids: ``N`` volume ids (``patientXXX_frameYY``), one per slice.
        val_volumes: 3D validation volumes (native resolution, labelled).
        test_volumes: 3D test volumes (may be empty).
        root: folder read from, or ``None`` for the phantom.
        notes: free-form facts about how the data were made (e.g. the phantom config).
        native_class_counts: ``[C]`` pixels per class of the training slices at native
            resolution, before resizing (what ``mona-lab data stats`` reports).
    """

    name: str
    class_names: tuple[str, ...]
    modality: str
    image_size: int
    train_images: torch.Tensor
    train_labels: torch.Tensor
    train_patient_ids: list[str]
    train_case_ids: list[str]
    val_volumes: list[Volume]
    test_volumes: list[Volume] = field(default_factory=list)
    root: Path | None = None
    notes: dict = field(default_factory=dict)
    native_class_counts: np.ndarray | None = None

    def __post_init__(self) -> None:
        n, s = self.train_images.shape[0], self.image_size
        if tuple(self.train_images.shape) != (n, 1, s, s):
            raise ValueError(f"train_images must be [N, 1, {s}, {s}], got {tuple(self.train_images.shape)}")
        if tuple(self.train_labels.shape) != (n, s, s):
            raise ValueError(f"train_labels must be [{n}, {s}, {s}], got {tuple(self.train_labels.shape)}")
        if len(self.train_patient_ids) != n or len(self.train_case_ids) != n:
            raise ValueError(f"need one patient id and case id per slice ({n})")
        self.class_names = tuple(self.class_names)
        self._by_patient: dict[str, torch.Tensor] | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_train_slices(self) -> int:
        return int(self.train_images.shape[0])

    @property
    def patients(self) -> list[str]:
        """Sorted unique training patient ids (what `split_patients` splits)."""
        return sorted(set(self.train_patient_ids))

    def slice_indices(self, patient_ids: Iterable[str]) -> torch.Tensor:
        """Indices (int64 ``[M]``, ascending) of the training slices of ``patient_ids``.

        Raises:
            MonaLabError: an id that is not a training patient.
        """
        if self._by_patient is None:
            groups: dict[str, list[int]] = {}
            for i, pid in enumerate(self.train_patient_ids):
                groups.setdefault(pid, []).append(i)
            self._by_patient = {p: torch.tensor(ix, dtype=torch.long) for p, ix in groups.items()}
        wanted = list(dict.fromkeys(patient_ids))
        unknown = [p for p in wanted if p not in self._by_patient]
        if unknown:
            raise MonaLabError(f"unknown training patient(s) {unknown[:5]} for data set {self.name!r}")
        if not wanted:
            return torch.zeros(0, dtype=torch.long)
        return torch.sort(torch.cat([self._by_patient[p] for p in wanted])).values

    def summary(self) -> str:
        """One line: name, classes, slices, patients, validation/test volumes, size."""
        return (
            f"{self.name}: {self.num_classes} classes {list(self.class_names)}, "
            f"{self.num_train_slices} training slices from {len(self.patients)} patients at "
            f"{self.image_size}x{self.image_size}, {len(self.val_volumes)} validation and "
            f"{len(self.test_volumes)} test volumes ({self.modality})"
        )


def stack_training_slices(
    volumes: Iterable[Volume], image_size: int, num_classes: int
) -> tuple[torch.Tensor, torch.Tensor, list[str], list[str], np.ndarray]:
    """Cut labelled volumes into 2D slices resized to ``image_size``, in input order.

    Slices are resized in chunks of equal native shape (bilinear images, nearest labels),
    so memory holds at most one chunk per native shape at native resolution.

    Returns:
        ``images [N, 1, S, S]`` float32, ``labels [N, S, S]`` int64, patient ids, volume ids (``_slice_N`` dropped),
        and the per-class pixel counts ``[C]`` at native resolution (before resizing).

    Raises:
        MonaLabError: a volume without a label map, or a label value ``>= num_classes``.
    """
    s = int(image_size)
    counts = np.zeros(num_classes, dtype=np.int64)
    images, labels, rows = [], [], []
    pending: dict[tuple[int, ...], list[tuple[int, np.ndarray, np.ndarray]]] = {}
    patients: list[str] = []
    cases: list[str] = []

    def flush(shape: tuple[int, ...]) -> None:
        group = pending.pop(shape)
        rows.append(torch.tensor([g[0] for g in group], dtype=torch.long))
        images.append(resize_images(torch.from_numpy(np.stack([g[1] for g in group])), s))
        # labels travel as int16 (class indices are small) to halve the memory of the chunk
        lab = torch.from_numpy(np.stack([g[2] for g in group]).astype(np.int16))
        labels.append(resize_labels(lab, s).to(torch.int16))

    for vol in volumes:
        if vol.label is None:
            raise MonaLabError(f"training volume {vol.case_id} has no label map")
        vol.check_label_range(num_classes)
        counts += np.bincount(vol.label.ravel(), minlength=num_classes)
        shape = tuple(vol.image.shape[1:])
        group = pending.setdefault(shape, [])
        for z in range(vol.num_slices):
            group.append((len(patients), vol.image[z], vol.label[z]))
            patients.append(vol.patient_id)
            cases.append(volume_of(vol.case_id))
        if len(group) >= _CHUNK:
            flush(shape)
    for shape in list(pending):
        flush(shape)
    if not images:
        return torch.zeros(0, 1, s, s), torch.zeros(0, s, s, dtype=torch.long), [], [], counts
    inverse = torch.argsort(torch.cat(rows))
    all_images = torch.cat(images)[inverse].contiguous()
    all_labels = torch.cat(labels)[inverse].long()
    return all_images, all_labels, patients, cases, counts


def load_dataset(
    name: str,
    root: str | os.PathLike | None = None,
    image_size: int | None = None,
    fast: bool | None = None,
    seed: int = 0,
    *,
    phantom: PhantomConfig | None = None,
    modality: str | None = None,
) -> SegmentationData:
    """Load a data set by name into memory.

    Args:
        name: ``"phantom"`` (built in), ``"acdc"`` (SSL4MIS h5 layout) or ``"nifti"``
            (official ACDC NIfTI layout or image/label pairs; needs ``root``).
        root: data folder; for ACDC ``None`` means ``$MONA_LAB_ACDC``, then
            ``<repo>/data/ACDC``. Must be ``None`` for the phantom (it is generated).
        image_size: working size ``S`` of the training slices. ``None``: 128, except the
            fast-mode phantom, which is generated at 64.
        fast: shrink the phantom to 12 patients at 64x64 (``None``: ``MONA_LAB_FAST``).
            Real data sets are never subsampled.
        seed: phantom generation seed, and the seed of the nifti train/val/test split when
            the folder has no list files.
        phantom: explicit `PhantomConfig` (overrides ``fast``; ``image_size`` still wins).
        modality: ``"MRI"`` or ``"CT"`` for the nifti set (default from ``dataset.json``,
            else MRI); selects min-max or the [-200, 250] HU window.

    Returns:
        `SegmentationData`: phantom 40 patients -> 28 train (about 560 slices), 8 val and
        4 test patients (two volumes each); ACDC 1312 training slices from 70 patients, 20
        validation volumes, test volumes if ``test.list`` exists.

    Raises:
        MonaLabError: an unknown name (lists the valid ones), a missing folder or file, or
            a malformed file (named in the message).
    """
    if name not in DATASET_NAMES:
        raise MonaLabError(f"unknown data set {name!r}; choose one of {', '.join(DATASET_NAMES)}")
    if image_size is not None and (not isinstance(image_size, (int, np.integer)) or image_size < 8):
        raise MonaLabError(f"image_size must be an integer >= 8, got {image_size!r}")
    source = open_source(name, root, fast=fast, seed=seed, image_size=image_size, phantom=phantom, modality=modality)
    if image_size is None:
        image_size = source.notes["phantom"]["image_size"] if name == "phantom" else 128
    images, labels, patients, cases, counts = stack_training_slices(
        source.train_volumes(), int(image_size), len(source.class_names)
    )
    if not patients:
        raise MonaLabError(f"data set {name!r} has no training slices")
    return SegmentationData(
        name=source.name,
        class_names=source.class_names,
        modality=source.modality,
        image_size=int(image_size),
        train_images=images,
        train_labels=labels,
        train_patient_ids=patients,
        train_case_ids=cases,
        val_volumes=source.val_volumes,
        test_volumes=source.test_volumes,
        root=source.root,
        notes=source.notes,
        native_class_counts=counts,
    )


def dataset_class_stats(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    fast: bool | None = None,
    seed: int = 0,
    phantom: PhantomConfig | None = None,
    modality: str | None = None,
) -> ClassStats:
    """Class statistics over a data set's training slices at native resolution
    (`mona_lab.data.stats`); what ``mona-lab data stats`` prints."""
    source = open_source(name, root, fast=fast, seed=seed, phantom=phantom, modality=modality)
    stats = compute_class_stats(source.train_volumes(), source.class_names, dataset=name)
    if source.root is not None:
        stats.notes["root"] = str(source.root)
    if name == "phantom":
        stats.notes["zipf_exponent_target"] = source.notes["phantom"]["zipf_exponent"]
    return stats
