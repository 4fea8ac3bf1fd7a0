"""Reader for ACDC in the SSL4MIS layout (h5 files), the copy most users already have.

Layout under the root folder::

    train_slices.list        one training slice per line: patient099_frame01_slice_15
    train.list, val.list     one volume per line: patient028_frame01
    test.list                (optional) the same for the test volumes
    data/slices/<name>.h5    training slices: image [H, W] float32, label [H, W] uint8
    data/<name>.h5           validation / test volumes: image [D, H, W], label [D, H, W]

Images are already min-max normalised per volume; labels are 0 background, 1 RV, 2 Myo,
3 LV. No voxel spacing is stored, so distances on this layout are in pixels.

The root is found by `resolve_acdc_root`: the ``root`` argument, else the environment
variable ``MONA_LAB_ACDC``, else ``data/ACDC`` inside the repository (git-ignored).
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mona_lab.data.volume import Volume
from mona_lab.errors import MonaLabError

ACDC_CLASS_NAMES = ("background", "RV", "Myo", "LV")
ACDC_ENV_VAR = "MONA_LAB_ACDC"
_CASE_RE = re.compile(r"^(?P<patient>.+?)(?:_frame\d+)?(?:_slice_\d+)?$")


def repository_data_dir() -> Path:
    """``data/`` beside the ``mona_lab`` package (the repository's git-ignored data folder)."""
    return Path(__file__).resolve().parents[2] / "data"


def resolve_acdc_root(root: str | os.PathLike | None = None) -> Path:
    """Find the ACDC folder: ``root``, else ``$MONA_LAB_ACDC``, else ``<repo>/data/ACDC``.

    Raises:
        MonaLabError: the chosen folder does not exist or has no ``train_slices.list``; the
            message names the folder and where it came from.
    """
    if root is not None and str(root) != "":
        path, origin = Path(root).expanduser(), "--root"
    elif os.environ.get(ACDC_ENV_VAR, "").strip():
        path, origin = Path(os.environ[ACDC_ENV_VAR].strip()).expanduser(), f"${ACDC_ENV_VAR}"
    else:
        path, origin = repository_data_dir() / "ACDC", "the default location"
    if not path.is_dir():
        raise MonaLabError(
            f"ACDC folder {path} (from {origin}) does not exist; pass --root PATH, set "
            f"{ACDC_ENV_VAR}=PATH or put the data in {repository_data_dir() / 'ACDC'} (see data/README.md)"
        )
    if not (path / "train_slices.list").is_file():
        raise MonaLabError(
            f"ACDC folder {path} (from {origin}) has no train_slices.list; expected the SSL4MIS "
            f"layout (train_slices.list, val.list, data/slices/*.h5, data/*.h5)"
        )
    return path


def patient_of(case_id: str) -> str:
    """``patient099_frame01_slice_15`` and ``patient099_frame01`` -> ``patient099``."""
    match = _CASE_RE.match(case_id)
    return match.group("patient") if match else case_id


def volume_of(case_id: str) -> str:
    """``patient099_frame01_slice_15`` -> ``patient099_frame01`` (other names unchanged)."""
    return re.sub(r"_slice_\d+$", "", case_id)


def read_case_list(path: Path) -> list[str]:
    """Non-empty, stripped lines of a ``*.list`` file (a trailing ``.h5`` is dropped).

    Raises:
        MonaLabError: the file is missing or empty.
    """
    path = Path(path)
    if not path.is_file():
        raise MonaLabError(f"list file {path} does not exist")
    names = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line:
            names.append(line[:-3] if line.endswith(".h5") else line)
    if not names:
        raise MonaLabError(f"list file {path} is empty")
    return names


def read_h5_pair(path: Path, ndim: int) -> tuple[np.ndarray, np.ndarray]:
    """``image`` and ``label`` arrays of one SSL4MIS h5 file.

    Args:
        path: the ``.h5`` file.
        ndim: 2 for a training slice, 3 for a volume.

    Raises:
        MonaLabError: missing file, not a readable HDF5 file, missing ``image``/``label``
            dataset, wrong rank, or image/label shapes that differ; the message names the file.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise MonaLabError(f"h5 file {path} does not exist (named in a list file)")
    try:
        with h5py.File(path, "r") as h5:
            missing = [k for k in ("image", "label") if k not in h5]
            if missing:
                raise MonaLabError(f"h5 file {path} has no {' or '.join(repr(k) for k in missing)} dataset (keys: {sorted(h5.keys())})")
            image = np.asarray(h5["image"][...], dtype=np.float32)
            label = np.asarray(h5["label"][...])
    except MonaLabError:
        raise
    except Exception as err:  # h5py raises OSError, KeyError, ValueError... for broken files
        raise MonaLabError(f"h5 file {path} could not be read ({type(err).__name__}: {err})") from err
    if image.ndim != ndim:
        raise MonaLabError(f"h5 file {path}: 'image' must have {ndim} dimensions, got shape {image.shape}")
    if image.shape != label.shape:
        raise MonaLabError(f"h5 file {path}: image shape {image.shape} and label shape {label.shape} differ")
    return image, label


def _to_volume(path: Path, name: str, image: np.ndarray, label: np.ndarray) -> Volume:
    if image.ndim == 2:
        image, label = image[None], label[None]
    try:
        vol = Volume(name, patient_of(name), image, label, None)
    except MonaLabError as err:
        raise MonaLabError(f"h5 file {path}: {err}") from err
    vol.check_label_range(len(ACDC_CLASS_NAMES), source=f"h5 file {path}")
    return vol


def iter_acdc_training_slices(root: Path) -> Iterator[Volume]:
    """Training slices named in ``train_slices.list``, one ``Volume`` with ``D = 1`` each,
    at native resolution, in list order (read lazily, one file at a time)."""
    root = Path(root)
    for name in read_case_list(root / "train_slices.list"):
        path = root / "data" / "slices" / f"{name}.h5"
        yield _to_volume(path, name, *read_h5_pair(path, ndim=2))


def read_acdc_volumes(root: Path, split: str) -> list[Volume]:
    """The volumes of ``{split}.list`` (``train``, ``val`` or ``test``) from ``data/<name>.h5``.

    Raises:
        MonaLabError: missing list or h5 file, or a bad file (see `read_h5_pair`).
    """
    root = Path(root)
    volumes = []
    for name in read_case_list(root / f"{split}.list"):
        path = root / "data" / f"{name}.h5"
        volumes.append(_to_volume(path, name, *read_h5_pair(path, ndim=3)))
    return volumes
