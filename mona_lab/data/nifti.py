"""NIfTI readers (official ACDC layout, generic image/label pairs) and the NIfTI writer.

Two layouts are recognised under a root folder (see ``data/README.md``):

* **Official ACDC**: ``patientXXX/patientXXX_frameYY.nii.gz`` with the label map in
  ``patientXXX/patientXXX_frameYY_gt.nii.gz``; patient folders may sit directly under the
  root or under ``training/`` and ``testing/``. Frames without a ``_gt`` file are skipped.
* **Generic pairs**: ``images/NAME.nii[.gz]`` with ``labels/NAME.nii[.gz]`` (also
  ``imagesTr``/``labelsTr``, where an image name may carry nnU-Net's ``_0000`` suffix).
  Each case is its own patient.

An optional ``dataset.json`` (Medical Segmentation Decathlon or nnU-Net style) names the
classes and the modality ("CT" selects the HU window). Optional ``train.list``,
``val.list``, ``test.list`` fix the split (one case id per line, as in the SSL4MIS layout).

Arrays are returned in voxel index order ``[D, H, W]`` = (z, y, x) (NIfTI stores (x, y, z);
no re-orientation is applied) with the voxel spacing ``(z, y, x)`` from the header, in mm.
Files are written atomically (temporary name, then ``os.replace``).
"""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mona_lab.atomic_files import atomic_write_text, atomic_write_to_path
from mona_lab.data.preprocess import normalize_intensity
from mona_lab.data.volume import Volume
from mona_lab.errors import MonaLabError

_FRAME_RE = re.compile(r"^(?P<patient>patient\d+)_frame\d+$")
_NII_SUFFIXES = (".nii.gz", ".nii")


@dataclass(frozen=True)
class NiftiCase:
    """Where one image/label pair lives. ``group`` is ``training``/``testing`` (official
    ACDC sub-folders) or ``""``."""

    case_id: str
    patient_id: str
    image_path: Path
    label_path: Path
    group: str = ""


def _strip_nii(name: str) -> str | None:
    for suffix in _NII_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return None


def read_nifti(path: Path, integer: bool = False) -> tuple[np.ndarray, tuple[float, float, float]]:
    """One NIfTI file as a ``[D, H, W]`` array and its ``(z, y, x)`` spacing.

    Args:
        path: ``.nii`` or ``.nii.gz``; 2D images become ``D = 1``; a 4D image with a single
            time point is squeezed.
        integer: return int64 (label maps; non-integer values are an error), else float32.

    Raises:
        MonaLabError: missing, corrupt or unreadable file, or a rank other than 2-3.
    """
    import nibabel as nib

    path = Path(path)
    if not path.is_file():
        raise MonaLabError(f"NIfTI file {path} does not exist")
    try:
        img = nib.load(str(path))
        data = np.asanyarray(img.dataobj)
        zooms = tuple(float(z) for z in img.header.get_zooms())
    except Exception as err:  # nibabel/gzip/zlib raise many types for a broken file
        raise MonaLabError(f"NIfTI file {path} could not be read ({type(err).__name__}: {err})") from err
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim == 2:
        data = data[..., None]
        zooms = zooms[:2] + (1.0,)
    if data.ndim != 3:
        raise MonaLabError(f"NIfTI file {path}: expected a 3D image, got shape {data.shape}")
    spacing = (zooms[2], zooms[1], zooms[0])
    array = np.ascontiguousarray(np.transpose(data, (2, 1, 0)))
    if integer:
        if array.dtype.kind == "f":
            if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
                raise MonaLabError(f"NIfTI file {path}: label map holds non-integer values")
        return array.astype(np.int64), spacing
    return array.astype(np.float32), spacing


def read_nifti_pair(case: NiftiCase, normalization: str = "minmax") -> Volume:
    """Read a case's image and label into a `Volume` (image normalised, spacing kept).

    Raises:
        MonaLabError: unreadable files or image/label shapes that differ (names both files).
    """
    image, spacing = read_nifti(case.image_path)
    label, _ = read_nifti(case.label_path, integer=True)
    if image.shape != label.shape:
        raise MonaLabError(
            f"image {case.image_path} has shape {image.shape} (D, H, W) but label "
            f"{case.label_path} has shape {label.shape}"
        )
    if label.size and label.min() < 0:
        raise MonaLabError(f"label {case.label_path} holds negative value {int(label.min())}")
    return Volume(case.case_id, case.patient_id, normalize_intensity(image, normalization), label, spacing)


def find_acdc_nifti_cases(root: Path) -> list[NiftiCase]:
    """Image/label pairs of the official ACDC layout under ``root`` (empty if none)."""
    root = Path(root)
    cases = []
    for group in ("", "training", "testing"):
        base = root / group if group else root
        if not base.is_dir():
            continue
        for folder in sorted(p for p in base.iterdir() if p.is_dir() and p.name.startswith("patient")):
            for image in sorted(folder.iterdir()):
                stem = _strip_nii(image.name)
                if stem is None or not _FRAME_RE.match(stem):
                    continue
                suffix = image.name[len(stem):]
                label = folder / f"{stem}_gt{suffix}"
                if label.is_file():
                    cases.append(NiftiCase(stem, _FRAME_RE.match(stem).group("patient"), image, label, group))
    return cases


def find_nifti_pairs(root: Path) -> list[NiftiCase]:
    """Generic ``images/`` + ``labels/`` (or ``imagesTr``/``labelsTr``) pairs under ``root``.

    Raises:
        MonaLabError: an image without a label file of the same name.
    """
    root = Path(root)
    for images_dir, labels_dir in (("images", "labels"), ("imagesTr", "labelsTr")):
        idir, ldir = root / images_dir, root / labels_dir
        if not (idir.is_dir() and ldir.is_dir()):
            continue
        cases = []
        for image in sorted(idir.iterdir()):
            stem = _strip_nii(image.name)
            if stem is None or image.name.startswith("."):
                continue
            case_id = stem[:-5] if stem.endswith("_0000") else stem
            label = next((ldir / f"{case_id}{s}" for s in _NII_SUFFIXES if (ldir / f"{case_id}{s}").is_file()), None)
            if label is None:
                raise MonaLabError(f"image {image} has no label file {ldir / (case_id + '.nii.gz')}")
            cases.append(NiftiCase(case_id, case_id, image, label))
        return cases
    return []


def find_nifti_cases(root: Path) -> list[NiftiCase]:
    """Cases under ``root`` in either layout.

    Raises:
        MonaLabError: the folder does not exist or holds neither layout.
    """
    root = Path(root)
    if not root.is_dir():
        raise MonaLabError(f"NIfTI folder {root} does not exist; pass --root PATH")
    cases = find_acdc_nifti_cases(root) or find_nifti_pairs(root)
    if not cases:
        raise MonaLabError(
            f"no NIfTI cases found in {root}: expected patientXXX/patientXXX_frameYY.nii.gz with "
            f"_gt.nii.gz labels (official ACDC) or images/NAME.nii.gz with labels/NAME.nii.gz"
        )
    return cases


def read_dataset_json(root: Path) -> tuple[tuple[str, ...] | None, str | None]:
    """Class names (background first) and modality from ``root/dataset.json``, if present.

    Accepts ``"labels": {"0": "background", "1": "RV"}`` (MSD) and ``{"background": 0}``
    (nnU-Net v2); modality from ``"modality"`` or ``"channel_names"``.

    Raises:
        MonaLabError: invalid JSON or label indices that are not 0..C-1.
    """
    path = Path(root) / "dataset.json"
    if not path.is_file():
        return None, None
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise MonaLabError(f"{path} is not valid JSON: {err}") from err
    names = None
    labels = meta.get("labels")
    if isinstance(labels, dict) and labels:
        try:
            if all(str(k).isdigit() for k in labels):
                mapping = {int(k): str(v) for k, v in labels.items()}
            else:
                mapping = {int(v): str(k) for k, v in labels.items()}
        except (TypeError, ValueError) as err:
            raise MonaLabError(f"{path}: 'labels' must map class indices to names") from err
        if sorted(mapping) != list(range(len(mapping))):
            raise MonaLabError(f"{path}: label indices must be 0..{len(mapping) - 1}, got {sorted(mapping)}")
        names = tuple(mapping[i] for i in range(len(mapping)))
    modality = None
    for key in ("modality", "channel_names"):
        value = meta.get(key)
        if isinstance(value, dict) and value:
            modality = str(next(iter(value.values())))
            break
        if isinstance(value, str):
            modality = value
            break
    return names, modality


# ----------------------------------------------------------------------------- writing


def _atomic_save(img, path: Path) -> None:
    import nibabel as nib

    suffix = ".nii.gz" if path.name.endswith(".nii.gz") else ".nii"
    atomic_write_to_path(path, lambda tmp: nib.save(img, tmp), suffix=suffix)


def write_nifti(path: Path, array: np.ndarray, spacing: Sequence[float] | None, dtype: type = np.float32) -> None:
    """Write a ``[D, H, W]`` array as NIfTI (stored as (x, y, z)) with ``(z, y, x)`` spacing.

    The affine is ``diag(sx, sy, sz, 1)`` and the units are mm; ``None`` spacing writes 1 mm.
    """
    import nibabel as nib

    array = np.asarray(array)
    if array.ndim != 3:
        raise ValueError(f"array must be [D, H, W], got shape {array.shape}")
    sz, sy, sx = (float(s) for s in (spacing or (1.0, 1.0, 1.0)))
    data = np.ascontiguousarray(np.transpose(array, (2, 1, 0))).astype(dtype)
    img = nib.Nifti1Image(data, np.diag([sx, sy, sz, 1.0]))
    img.header.set_xyzt_units("mm")
    img.header.set_data_dtype(dtype)
    _atomic_save(img, Path(path))


def write_acdc_nifti(
    volumes: Sequence[Volume],
    out: Path,
    class_names: Sequence[str],
    splits: dict[str, Sequence[str]] | None = None,
    modality: str = "MRI",
    overwrite: bool = False,
) -> list[Path]:
    """Write volumes in the official ACDC NIfTI layout.

    ``out/patientXXX/patientXXX_frameYY.nii.gz`` (float32 image) and ``..._gt.nii.gz``
    (uint8 labels) with the spacing in the header, an ``Info.cfg`` per patient (``ED``
    and ``ES`` frame numbers, ``NbFrame``), ``out/dataset.json`` with the class names, and
    ``out/{train,val,test}.list`` (patient ids in ``splits`` expanded to their case ids).

    Args:
        volumes: labelled volumes whose ``case_id`` is ``patientXXX_frameYY``.
        out: target folder; created if missing.
        class_names: background first.
        splits: optional ``{"train": [...patient ids], "val": [...], "test": [...]}``.
        overwrite: allow writing into a non-empty folder (files with the same names are
            replaced). Without it a non-empty ``out`` is refused, so nothing is mixed into
            an unrelated folder by accident.

    Returns:
        the image and label paths written, in order.

    Raises:
        MonaLabError: ``out`` is a file or non-empty (without ``overwrite``), a case id
            not of the form ``patientXXX_frameYY``, or a volume without a label.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise MonaLabError(f"--out {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise MonaLabError(f"--out folder {out} is not empty; choose a new folder or pass --overwrite")
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    frames: dict[str, list[str]] = {}
    for vol in volumes:
        match = _FRAME_RE.match(vol.case_id)
        if match is None:
            raise MonaLabError(f"case id {vol.case_id!r} is not of the form patientXXX_frameYY")
        if vol.label is None:
            raise MonaLabError(f"{vol.case_id} has no label map to write")
        folder = out / vol.patient_id
        folder.mkdir(exist_ok=True)
        image_path = folder / f"{vol.case_id}.nii.gz"
        label_path = folder / f"{vol.case_id}_gt.nii.gz"
        write_nifti(image_path, vol.image, vol.spacing, np.float32)
        write_nifti(label_path, vol.label, vol.spacing, np.uint8)
        written += [image_path, label_path]
        frames.setdefault(vol.patient_id, []).append(vol.case_id)
    for pid, cases in frames.items():
        numbers = sorted(int(c.rsplit("frame", 1)[1]) for c in cases)
        info = f"ED: {numbers[0]}\nES: {numbers[-1]}\nGroup: PHANTOM\nNbFrame: {len(numbers)}\n"
        atomic_write_text(out / pid / "Info.cfg", info)
    meta = {
        "name": "mona_lab phantom",
        "description": "synthetic short-axis cardiac MRI written by mona-lab data phantom",
        "modality": {"0": modality},
        "labels": {str(i): name for i, name in enumerate(class_names)},
        "spacing_units": "mm",
    }
    atomic_write_text(out / "dataset.json", json.dumps(meta, indent=2) + "\n")
    for split, patients in (splits or {}).items():
        cases = [c for p in patients for c in sorted(frames.get(p, []))]
        atomic_write_text(out / f"{split}.list", "".join(f"{c}\n" for c in cases))
    return written
