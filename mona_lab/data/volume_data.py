"""`load_volume_dataset`: a 3D data set in memory, the form 3D training and evaluation use.

The 3D counterpart of `mona_lab.data.dataset.load_dataset`: the papers train a VNet on random
crops of whole volumes (UA-MT, Yu et al. MICCAI 2019; ACTION++ Sec. 3, the LA setting), so the
training data stay volumes, not slices. Each volume is read once (`mona_lab.data.la`), shrunk
by ``downsample`` (`downsample_volume`: block-mean image, majority label; 1 = as stored, the
papers' setting) and kept as a tensor; `mona_lab.data.crop_batches.CropBatches` cuts the
step's crops from them. A patient is a volume (LA has one scan per patient), so
`split_patients` splits volumes.

Validation and test volumes are kept twice: at their native grid (``val_volumes``, what the
scores are computed on, in the literature's native voxels) and at the working grid
(``val_inputs``, what the network sees through the sliding window); see
`mona_lab.metrics.window_scores`.

Sources: the LA h5 layout (``2018LA_Seg_Training Set/<ID>/mri_norm2.h5`` with ``train.list``
and ``val.list``, `resolve_la_root`: ``--root``, else ``$MONA_LAB_LA``, else ``data/LA``), or
a folder of 3D NIfTI image/label pairs with the same list files (`read_la_nifti_volumes`).
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from mona_lab.data.la import (
    LA_CLASS_NAMES,
    LA_TRAINING_FOLDER,
    downsample_volume,
    read_la_nifti_volumes,
    read_la_volumes,
    resolve_la_root,
)
from mona_lab.data.volume import Volume
from mona_lab.errors import MonaLabError

VOLUME_DATASET_NAMES = ("la",)


@dataclass
class VolumeData:
    """A 3D segmentation data set in memory.

    Attributes:
        name: ``"la"``.
        class_names: background first; ``num_classes = len(class_names)``.
        downsample: the factor every volume was shrunk by (1 = as stored).
        train_images: ``N`` tensors ``[D_i, H_i, W_i]`` float32 at the working grid.
        train_labels: ``N`` tensors ``[D_i, H_i, W_i]`` uint8 (class indices).
        train_case_ids: the ``N`` volume ids (= patient ids).
        val_volumes, test_volumes: `Volume` objects at their native grid (labelled).
        val_inputs, test_inputs: their images at the working grid, ``[d, h, w]`` float32.
        root: the folder read from.
        notes: how the data were read (the source layout).
    """

    name: str
    class_names: tuple[str, ...]
    downsample: int
    train_images: list[torch.Tensor]
    train_labels: list[torch.Tensor]
    train_case_ids: list[str]
    val_volumes: list[Volume]
    val_inputs: list[np.ndarray]
    test_volumes: list[Volume] = field(default_factory=list)
    test_inputs: list[np.ndarray] = field(default_factory=list)
    root: Path | None = None
    notes: dict = field(default_factory=dict)

    spatial_dims = 3

    def __post_init__(self) -> None:
        if len(self.train_images) != len(self.train_labels) or len(self.train_images) != len(self.train_case_ids):
            raise ValueError("need one label and one case id per training volume")
        if len(set(self.train_case_ids)) != len(self.train_case_ids):
            raise ValueError("training case ids must be unique")
        self.class_names = tuple(self.class_names)
        self._index = {case: i for i, case in enumerate(self.train_case_ids)}

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def patients(self) -> list[str]:
        """Sorted training volume ids (a patient is a volume; what `split_patients` splits)."""
        return sorted(self.train_case_ids)

    def slice_indices(self, patient_ids: Iterable[str]) -> torch.Tensor:
        """Indices (int64 ``[M]``, ascending) of the training volumes of ``patient_ids``: the
        items a `TwoStreamBatches` stream draws (a slice in 2D, a whole volume here).

        Raises:
            MonaLabError: an id that is not a training volume.
        """
        wanted = list(dict.fromkeys(patient_ids))
        unknown = [p for p in wanted if p not in self._index]
        if unknown:
            raise MonaLabError(f"unknown training volume(s) {unknown[:5]} for data set {self.name!r}")
        return torch.tensor(sorted(self._index[p] for p in wanted), dtype=torch.long)

    def check_crop(self, crop: Sequence[int]) -> None:
        """Refuse a crop ``(D, H, W)`` that does not fit inside every training volume in both
        in-plane orientations (RandomRotFlip swaps H and W by an odd rotation).

        Raises:
            MonaLabError: naming the crop, the smallest volume and the downsampling factor.
        """
        crop = tuple(int(c) for c in crop)
        for case, image in zip(self.train_case_ids, self.train_images):
            d, h, w = image.shape
            if d < crop[0] or min(h, w) < max(crop[1], crop[2]):
                raise MonaLabError(
                    f"crop {','.join(map(str, crop))} (D,H,W) is larger than training volume {case} of shape "
                    f"{tuple(image.shape)} after downsampling by {self.downsample} (a rotated crop needs "
                    f"D >= {crop[0]} and H, W >= {max(crop[1], crop[2])}); choose a smaller --crop-size or --la-downsample"
                )

    def split(self, name: str) -> tuple[list[Volume], list[np.ndarray]]:
        """``(volumes at the native grid, their images at the working grid)`` of ``"val"`` or ``"test"``."""
        if name == "val":
            return self.val_volumes, self.val_inputs
        if name == "test":
            return self.test_volumes, self.test_inputs
        raise MonaLabError(f"unknown split {name!r}; choose val or test")

    def summary(self) -> str:
        shapes = np.array([tuple(t.shape) for t in self.train_images]) if self.train_images else np.zeros((1, 3), int)
        return (
            f"{self.name}: {self.num_classes} classes {list(self.class_names)}, {len(self.train_images)} training volumes "
            f"(downsampled by {self.downsample}: D,H,W from {tuple(shapes.min(0))} to {tuple(shapes.max(0))}), "
            f"{len(self.val_volumes)} validation and {len(self.test_volumes)} test volumes"
        )


def _working(volume: Volume, factor: int) -> Volume:
    return volume if factor == 1 else downsample_volume(volume, factor)


def _read_split(root: Path, split: str, nifti: bool) -> list[Volume]:
    return read_la_nifti_volumes(root, split) if nifti else read_la_volumes(root, split)


def load_volume_dataset(
    name: str, root: str | os.PathLike | None = None, *, downsample: int = 1, train: bool = True
) -> VolumeData:
    """Read a 3D data set into a `VolumeData` (module docstring).

    Args:
        name: ``"la"`` (`VOLUME_DATASET_NAMES`).
        root: the folder: the LA h5 layout (else ``$MONA_LAB_LA``, else ``data/LA``) or a
            folder of NIfTI image/label pairs with ``train.list`` and ``val.list``.
        downsample: integer factor per axis (1 = as stored; 2 = the CPU setting).
        train: also read the training volumes (``False``: only val/test, for evaluation).

    Raises:
        MonaLabError: an unknown name, a bad factor, a missing folder, list file or volume,
            or a malformed volume (the readers' messages name the file).
    """
    if name not in VOLUME_DATASET_NAMES:
        raise MonaLabError(f"unknown 3D data set {name!r}; choose one of {', '.join(VOLUME_DATASET_NAMES)}")
    if isinstance(downsample, bool) or not isinstance(downsample, (int, np.integer)) or downsample < 1:
        raise MonaLabError(f"downsample must be a positive integer, got {downsample!r}")
    factor = int(downsample)
    given = Path(root).expanduser() if root not in (None, "") else None
    nifti = given is not None and given.is_dir() and not (given / LA_TRAINING_FOLDER).is_dir() and (
        (given / "images").is_dir() or (given / "imagesTr").is_dir()
    )
    path = given if nifti else resolve_la_root(root)
    images, labels, cases = [], [], []
    if train:
        for volume in _read_split(path, "train", nifti):
            small = _working(volume, factor)
            images.append(torch.from_numpy(np.ascontiguousarray(small.image, dtype=np.float32)))
            labels.append(torch.from_numpy(small.label.astype(np.uint8)))
            cases.append(volume.case_id)
        if not cases:
            raise MonaLabError(f"{path}: train.list names no volumes")
    evaluation = {}
    for split in ("val", "test"):
        if split == "test" and not (path / "test.list").is_file():
            evaluation[split] = ([], [])
            continue
        volumes = _read_split(path, split, nifti)
        evaluation[split] = (volumes, [np.ascontiguousarray(_working(v, factor).image, dtype=np.float32) for v in volumes])
    return VolumeData(
        name=name,
        class_names=LA_CLASS_NAMES,
        downsample=factor,
        train_images=images,
        train_labels=labels,
        train_case_ids=cases,
        val_volumes=evaluation["val"][0],
        val_inputs=evaluation["val"][1],
        test_volumes=evaluation["test"][0],
        test_inputs=evaluation["test"][1],
        root=path,
        notes={"layout": "nifti-pairs" if nifti else "la-h5"},
    )
