"""`load_dataset`: one call from a data set's name to in-memory training slices and
validation / test volumes, the form every training recipe and notebook uses.

Training data are 2D slices preloaded as tensors at the working size (MONA and ACTION train
2D networks on slices); validation and test data stay 3D `Volume` objects at their native
resolution, because Dice and ASD are computed per 3D volume (stack the slice predictions,
resize them back with `resize_probabilities` / `resize_labels`).
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from mona_lab.data.acdc import (
    ACDC_CLASS_NAMES,
    iter_acdc_training_slices,
    read_acdc_volumes,
    resolve_acdc_root,
    volume_of,
)
from mona_lab.data.phantom import PHANTOM_CLASS_NAMES, PhantomConfig, make_phantom_patient, phantom_split
from mona_lab.data.preprocess import resize_images, resize_labels
from mona_lab.data.stats import ClassStats, compute_class_stats
from mona_lab.data.volume import Volume
from mona_lab.errors import MonaLabError

DATASET_NAMES = ("phantom", "acdc", "nifti")
FAST_PHANTOM = {"num_patients": 12, "image_size": 64}
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


@dataclass
class DataSource:
    """A data set before slicing and resizing: native-resolution volumes per split.

    ``train_volumes()`` returns a fresh iterator each call (ACDC reads its 1312 slice files
    lazily, so the native slices never all sit in memory at once).
    """

    name: str
    class_names: tuple[str, ...]
    modality: str
    train_volumes: Callable[[], Iterator[Volume]]
    val_volumes: list[Volume]
    test_volumes: list[Volume]
    root: Path | None = None
    notes: dict = field(default_factory=dict)


def _resolve_fast(fast: bool | None) -> bool:
    if fast is None:
        from mona_lab.runtime import is_fast_mode

        return is_fast_mode()
    return bool(fast)


def phantom_config_for(
    fast: bool | None = None, image_size: int | None = None, seed: int = 0, phantom: PhantomConfig | None = None
) -> PhantomConfig:
    """The phantom settings `load_dataset` uses: ``phantom`` if given, else the defaults
    (40 patients at 128, or 12 patients at 64 in fast mode); an explicit ``image_size``
    always wins."""
    if phantom is None:
        phantom = PhantomConfig(seed=seed, **(FAST_PHANTOM if _resolve_fast(fast) else {}))
    if image_size is not None and image_size != phantom.image_size:
        phantom = dataclasses.replace(phantom, image_size=int(image_size))
    return phantom


def _phantom_source(config: PhantomConfig) -> DataSource:
    train_ids, val_ids, test_ids = phantom_split(config.num_patients)
    index = {pid: i for i, pid in enumerate(train_ids + val_ids + test_ids)}

    def volumes(ids: Sequence[str]) -> Iterator[Volume]:
        for pid in ids:
            yield from make_phantom_patient(config, index[pid])

    return DataSource(
        "phantom",
        PHANTOM_CLASS_NAMES,
        "MRI",
        lambda: volumes(train_ids),
        list(volumes(val_ids)),
        list(volumes(test_ids)),
        None,
        {"phantom": dataclasses.asdict(config)},
    )


def _acdc_source(root: str | os.PathLike | None) -> DataSource:
    path = resolve_acdc_root(root)
    test = read_acdc_volumes(path, "test") if (path / "test.list").is_file() else []
    return DataSource(
        "acdc", ACDC_CLASS_NAMES, "MRI", lambda: iter_acdc_training_slices(path), read_acdc_volumes(path, "val"), test, path
    )


def _holdout(patients: list[str], seed: int, with_test: bool) -> tuple[list[str], list[str], list[str]]:
    """Seeded train/val/test patient split with the phantom's counts (20% val, 10% test)."""
    n = len(patients)
    if n < 3:
        return patients, [], []
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x4E1F71]))
    order = [patients[i] for i in rng.permutation(n)]
    n_test = max(1, int(np.floor(0.1 * n + 0.5))) if with_test else 0
    n_val = max(1, int(np.floor(0.2 * n + 0.5)))
    test, val, train = order[:n_test], order[n_test : n_test + n_val], order[n_test + n_val :]
    return sorted(train), sorted(val), sorted(test)


def _nifti_source(root: str | os.PathLike | None, seed: int, modality: str | None) -> DataSource:
    from mona_lab.data.acdc import read_case_list
    from mona_lab.data.nifti import find_acdc_nifti_cases, find_nifti_cases, read_dataset_json, read_nifti_pair

    if root is None or str(root) == "":
        raise MonaLabError("the nifti data set needs --root PATH (a folder of NIfTI files)")
    path = Path(root).expanduser()
    cases = find_nifti_cases(path)
    names, json_modality = read_dataset_json(path)
    modality = (modality or json_modality or "MRI").upper()
    if modality not in ("MRI", "CT", "MR"):
        raise MonaLabError(f"modality must be MRI or CT, got {modality!r}")
    modality = "MRI" if modality == "MR" else modality
    norm = "ct" if modality == "CT" else "minmax"
    official = bool(find_acdc_nifti_cases(path))
    volumes = {c.case_id: read_nifti_pair(c, norm) for c in cases}
    if names is None:
        top = max(int(v.label.max()) for v in volumes.values())
        names = ACDC_CLASS_NAMES if official and top <= 3 else ("background",) + tuple(f"class{i}" for i in range(1, top + 1))
    by_case = {c.case_id: c for c in cases}
    for case_id, vol in volumes.items():
        vol.check_label_range(len(names), source=f"label {by_case[case_id].label_path}")

    lists = {s: path / f"{s}.list" for s in ("train", "val", "test")}
    if lists["train"].is_file() or lists["val"].is_file():
        split_cases = {}
        for split, list_path in lists.items():
            if split == "test" and not list_path.is_file():
                split_cases[split] = []
                continue
            listed = read_case_list(list_path)
            missing = [c for c in listed if c not in volumes]
            if missing:
                raise MonaLabError(f"list file {list_path} names case(s) with no image/label pair: {missing[:5]}")
            split_cases[split] = listed
        owners = {s: {volumes[c].patient_id for c in cs} for s, cs in split_cases.items()}
        for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
            shared = sorted(owners[a] & owners[b])
            if shared:
                raise MonaLabError(f"patients {shared[:5]} appear in both {a}.list and {b}.list in {path}")
    else:
        patients = sorted({v.patient_id for v in volumes.values()})
        testing = sorted({c.patient_id for c in cases if c.group == "testing"})
        rest = [p for p in patients if p not in testing]
        train_p, val_p, test_p = _holdout(rest, seed, with_test=not testing)
        test_p = testing or test_p
        split_cases = {
            split: [c for c in sorted(volumes) if volumes[c].patient_id in set(ps)]
            for split, ps in (("train", train_p), ("val", val_p), ("test", test_p))
        }
    train = [volumes[c] for c in split_cases["train"]]
    return DataSource(
        "nifti",
        tuple(names),
        modality,
        lambda: iter(train),
        [volumes[c] for c in split_cases["val"]],
        [volumes[c] for c in split_cases["test"]],
        path,
        {"layout": "official-acdc" if official else "pairs"},
    )


def open_source(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    fast: bool | None = None,
    seed: int = 0,
    image_size: int | None = None,
    phantom: PhantomConfig | None = None,
    modality: str | None = None,
) -> DataSource:
    """The native-resolution `DataSource` behind `load_dataset` (same arguments).

    Raises:
        MonaLabError: an unknown name (the message lists the valid ones) or any reader error.
    """
    if name == "phantom":
        if root is not None:
            raise MonaLabError(
                f"--root {root} was given with the phantom, which is generated, not read from a folder: "
                "drop --root, or use --dataset nifti for a phantom written by `mona-lab data phantom`"
            )
        return _phantom_source(phantom_config_for(fast, image_size, seed, phantom))
    if name == "acdc":
        return _acdc_source(root)
    if name == "nifti":
        return _nifti_source(root, seed, modality)
    raise MonaLabError(f"unknown data set {name!r}; choose one of {', '.join(DATASET_NAMES)}")


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


def volume_slices(volume: Volume, image_size: int) -> torch.Tensor:
    """A volume's slices resized for the network: ``[D, 1, S, S]`` float32 (bilinear).

    Predictions ``[D, C, S, S]`` go back to the native ``(H, W)`` with
    `mona_lab.data.preprocess.resize_probabilities` before the arg-max.
    """
    return resize_images(torch.from_numpy(volume.image), image_size)
