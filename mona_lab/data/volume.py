"""One 3D image with its label map: the unit every reader returns and every writer takes.

Arrays are in voxel index order ``[D, H, W]`` = (z, y, x): slices first, as in the
SSL4MIS h5 files. NIfTI files store (x, y, z); the NIfTI reader and writer transpose.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mona_lab.errors import MonaLabError


@dataclass
class Volume:
    """A 3D image (or a single slice with ``D = 1``) and, when known, its label map.

    Attributes:
        case_id: unique name of this volume, e.g. ``"patient001_frame01"``.
        patient_id: the patient it belongs to, e.g. ``"patient001"``; splits are by patient.
        image: ``[D, H, W]`` float32, intensities in ``[0, 1]`` after preprocessing.
        label: ``[D, H, W]`` int64 class indices (0 = background), or ``None`` when unlabelled.
        spacing: voxel size ``(z, y, x)`` in mm, or ``None`` when unknown (pixel units, as in
            the SSL4MIS h5 layout).

    Raises:
        MonaLabError: wrong rank, image/label shape mismatch, negative labels, or a
            non-positive spacing; the message names ``case_id`` and the shapes.
    """

    case_id: str
    patient_id: str
    image: np.ndarray
    label: np.ndarray | None = None
    spacing: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        image = np.asarray(self.image)
        if image.ndim != 3:
            raise MonaLabError(f"{self.case_id}: image must be [D, H, W], got shape {tuple(image.shape)}")
        self.image = image.astype(np.float32, copy=False)
        if self.label is not None:
            label = np.asarray(self.label)
            if label.shape != image.shape:
                raise MonaLabError(
                    f"{self.case_id}: image shape {tuple(image.shape)} and label shape "
                    f"{tuple(label.shape)} differ"
                )
            if label.dtype.kind == "f":
                if not np.all(np.isfinite(label)) or np.any(label != np.round(label)):
                    raise MonaLabError(f"{self.case_id}: label holds non-integer values")
            elif label.dtype.kind not in "iub":
                raise MonaLabError(f"{self.case_id}: label dtype {label.dtype} is not numeric")
            label = label.astype(np.int64, copy=False)
            if label.size and label.min() < 0:
                raise MonaLabError(f"{self.case_id}: label holds negative value {int(label.min())}")
            self.label = label
        if self.spacing is not None:
            spacing = tuple(float(s) for s in self.spacing)
            if len(spacing) != 3 or not all(np.isfinite(s) and s > 0 for s in spacing):
                raise MonaLabError(f"{self.case_id}: spacing must be three positive numbers (z, y, x), got {self.spacing}")
            self.spacing = spacing  # type: ignore[assignment]

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(D, H, W)``."""
        return tuple(self.image.shape)  # type: ignore[return-value]

    @property
    def num_slices(self) -> int:
        return int(self.image.shape[0])

    def check_label_range(self, num_classes: int, source: str | None = None) -> None:
        """Raise `MonaLabError` if a label value is ``>= num_classes``.

        Args:
            num_classes: number of classes including background.
            source: file to name in the message (defaults to ``case_id``).
        """
        if self.label is None or self.label.size == 0:
            return
        top = int(self.label.max())
        if top >= num_classes:
            where = source or self.case_id
            raise MonaLabError(
                f"{where}: label value {top} is out of range; expected 0..{num_classes - 1}"
            )
