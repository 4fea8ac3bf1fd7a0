"""Reader for the Left Atrium (LA) data set in the layout of the semi-supervised LA literature.

The 3D benchmark of UA-MT (Yu et al., MICCAI 2019), SASSNet, DTC, MC-Net, SS-Net, ACTION and
ACTION++ (paper 004, Sec. 3 and Table 1; 2018 Atrial Segmentation Challenge, Xiong et al.,
MedIA 2021). Layout under the root folder (``data/README.md``)::

    2018LA_Seg_Training Set/<ID>/mri_norm2.h5   image float32, label uint8 (0 background, 1 atrium)
    train.list, val.list                       one <ID> per line
    test.list                                  (optional) the same for a test split

Axis order. The h5 arrays are stored in **(x, y, z)** order, e.g. ``(183, 140, 88)``: UA-MT's
``la_heart_processing.py`` read the challenge's NRRD files with pynrrd (Fortran index order,
x fastest), z-scored the *whole* scan, cropped x and y around the atrium (10-20 voxels of
margin) and kept all 88 axial slices. `read_la_volume` transposes them to the package's
``[D, H, W]`` = (z, y, x) (`mona_lab.data.volume`), the order the NIfTI reader returns, so
the same scan reads identically from either source: ``(88, 140, 183)``. The papers' 112x112x80
training crop and 18x18x4 sliding-window stride are written in (x, y, z); in ``[D, H, W]``
they are `LA_PATCH_SIZE` = (80, 112, 112) and `LA_STRIDE` = (4, 18, 18).

Intensities are kept as stored: z-scored over the uncropped scan, so a stored crop has mean
~0.2-1.7 and std ~0.5-1.6, not 0 and 1. Spacing is ``None``: the files hold no voxel size
(the scans are 0.625 mm isotropic at the challenge's resolution), and the LA literature reports
95HD and ASD in voxels (medpy called without ``voxelspacing``), which is what the metrics
compute for ``spacing=None``.

The root is found by `resolve_la_root`: the ``root`` argument, else ``$MONA_LAB_LA``, else
``data/LA`` inside the repository (git-ignored). `read_la_nifti_volumes` reads the same kind
of data from a NIfTI folder of image/label pairs; `downsample_volume` halves a volume for a
CPU setting.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mona_lab.data.acdc import read_case_list, read_h5_pair, repository_data_dir
from mona_lab.data.volume import Volume
from mona_lab.errors import MonaLabError

LA_CLASS_NAMES = ("background", "left atrium")
LA_ENV_VAR = "MONA_LAB_LA"
LA_SPLITS = ("train", "val", "test")
LA_TRAINING_FOLDER = "2018LA_Seg_Training Set"
LA_FILE_NAME = "mri_norm2.h5"
# UA-MT / ACTION++ Sec. 3: 112x112x80 crops, sliding-window stride 18x18x4, both in (x, y, z);
# here in the package's [D, H, W] = (z, y, x) order.
LA_PATCH_SIZE = (80, 112, 112)
LA_STRIDE = (4, 18, 18)


def resolve_la_root(root: str | os.PathLike | None = None) -> Path:
    """Find the LA folder: ``root``, else ``$MONA_LAB_LA``, else ``<repo>/data/LA``.

    An explicit ``root`` or environment variable that points nowhere is an error, never a
    silent fall-through to the next place.

    Raises:
        MonaLabError: the chosen folder does not exist or has no ``2018LA_Seg_Training Set``
            sub-folder; the message lists each place considered and what was found there.
    """
    env = os.environ.get(LA_ENV_VAR, "").strip()
    looked = [f"root argument: {root if root not in (None, '') else 'not given'}",
              f"${LA_ENV_VAR}: {env or 'not set'}",
              f"default: {repository_data_dir() / 'LA'}"]
    if root is not None and str(root) != "":
        path, origin = Path(root).expanduser(), "the root argument (--root)"
    elif env:
        path, origin = Path(env).expanduser(), f"${LA_ENV_VAR}"
    else:
        path, origin = repository_data_dir() / "LA", "the default location"
    hint = f"looked at: {'; '.join(looked)}. Pass --root PATH or set {LA_ENV_VAR}=PATH (see data/README.md)"
    if not path.is_dir():
        raise MonaLabError(f"LA folder {path} (from {origin}) does not exist; {hint}")
    if not (path / LA_TRAINING_FOLDER).is_dir():
        raise MonaLabError(
            f"LA folder {path} (from {origin}) has no '{LA_TRAINING_FOLDER}' sub-folder; expected "
            f"'{LA_TRAINING_FOLDER}/<ID>/{LA_FILE_NAME}' with train.list and val.list; {hint}"
        )
    return path


def la_case_path(root: str | os.PathLike, case_id: str) -> Path:
    """``root / "2018LA_Seg_Training Set" / case_id / "mri_norm2.h5"`` (not checked)."""
    return Path(root) / LA_TRAINING_FOLDER / case_id / LA_FILE_NAME


def read_la_ids(root: str | os.PathLike, split: str) -> list[str]:
    """The case IDs of ``{split}.list``, in file order, each checked to have its h5 file.

    Args:
        root: the LA folder (see `resolve_la_root`).
        split: ``"train"``, ``"val"`` or ``"test"`` (``test.list`` is optional in the
            layout; asking for it when it is absent is an error).

    Raises:
        MonaLabError: unknown split, missing or empty list file, an ID listed twice, or IDs
            whose ``<ID>/mri_norm2.h5`` is missing (the message names the list file, the
            first missing IDs and how many there are).
    """
    if split not in LA_SPLITS:
        raise MonaLabError(f"LA split must be one of {LA_SPLITS}, got {split!r}")
    list_path = Path(root) / f"{split}.list"
    if not list_path.is_file():
        present = sorted(p.name for p in Path(root).glob("*.list"))
        raise MonaLabError(f"LA list file {list_path} does not exist (list files there: {present or 'none'})")
    ids = read_case_list(list_path)
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise MonaLabError(f"LA list file {list_path} names {repeated[:5]} more than once")
    missing = [i for i in ids if not la_case_path(root, i).is_file()]
    if missing:
        raise MonaLabError(
            f"LA list file {list_path} names {len(missing)} case(s) without "
            f"'{LA_TRAINING_FOLDER}/<ID>/{LA_FILE_NAME}': {missing[:5]}"
        )
    return ids


def _binary_volume(case_id: str, image: np.ndarray, label: np.ndarray, source: str, spacing=None) -> Volume:
    """A `Volume` after the LA checks: 3D, same shapes, labels in {0, 1}."""
    try:
        volume = Volume(case_id, case_id, image, label, spacing)
    except MonaLabError as err:
        raise MonaLabError(f"{source}: {err}") from err
    if volume.label.size and int(volume.label.max()) > 1:  # Volume has refused negative values
        values = np.unique(volume.label)[:10].tolist()
        raise MonaLabError(f"{source}: LA labels must be 0 (background) or 1 (atrium), found values {values}")
    return volume


def read_la_volume(path_or_root: str | os.PathLike, case_id: str | None = None) -> Volume:
    """One LA case as a `Volume`: image ``[D, H, W]`` float32 (as stored), label int64 in {0, 1}.

    Args:
        path_or_root: an ``mri_norm2.h5`` file, or the LA folder (then ``case_id`` is needed).
        case_id: the case's ID; for a file it defaults to the name of the file's folder.

    Returns:
        ``Volume(case_id, patient_id=case_id, image, label, spacing=None)``, the h5's (x, y, z)
        arrays transposed to (z, y, x) (module docstring).

    Raises:
        MonaLabError: missing file, unreadable HDF5, no ``image``/``label`` dataset, arrays
            that are not 3D, image/label shapes that differ, or labels other than 0/1; the
            message names the file.
    """
    given = Path(path_or_root)
    if given.is_dir():
        if not case_id:
            raise MonaLabError(f"{given} is a folder: pass case_id to read a case from the LA layout")
        path = la_case_path(given, case_id)
    else:
        path, case_id = given, case_id or given.parent.name
    if not path.is_file():
        raise MonaLabError(f"LA h5 file {path} does not exist")
    image, label = read_h5_pair(path, ndim=3)  # checks the datasets, the rank and equal shapes
    image, label = np.ascontiguousarray(image.transpose(2, 1, 0)), np.ascontiguousarray(label.transpose(2, 1, 0))
    return _binary_volume(case_id, image, label, f"h5 file {path}")


def read_la_volumes(root: str | os.PathLike, split: str) -> list[Volume]:
    """Every case of ``{split}.list`` (`read_la_ids`) read with `read_la_volume`, in list order.

    Memory: ~17 MB per case (image float32 + label int64 at ~88x140x180); 36 training cases
    ~0.6 GB.
    """
    return [read_la_volume(root, case_id) for case_id in read_la_ids(root, split)]


def read_la_nifti_volumes(root: str | os.PathLike, split: str | None = None) -> list[Volume]:
    """LA-like 3D data from a NIfTI folder of image/label pairs, through the same `Volume` checks.

    The folder holds ``images/NAME.nii[.gz]`` with ``labels/NAME.nii[.gz]`` (or nnU-Net's
    ``imagesTr``/``labelsTr``; `mona_lab.data.nifti.find_nifti_pairs`) and, optionally,
    ``train.list``/``val.list``/``test.list`` naming cases. Each image is z-scored over the
    whole volume, ``(x - mean) / std``, as UA-MT prepared ``mri_norm2.h5`` (a constant image
    becomes all zeros); labels must be 0/1. Spacing is the header's ``(z, y, x)`` in mm; pass
    ``spacing=None`` to the metrics for the LA literature's voxel units.

    Args:
        root: the folder.
        split: None for every pair, else ``"train"``, ``"val"`` or ``"test"`` (its list file
            must exist).

    Raises:
        MonaLabError: no pairs, a missing list file or a listed case without a pair, an
            unreadable file, shapes that differ, or labels other than 0/1 (names the file).
    """
    from mona_lab.data.nifti import find_nifti_pairs, read_nifti_pair

    root = Path(root)
    cases = {c.case_id: c for c in find_nifti_pairs(root)} if root.is_dir() else {}
    if not cases:
        raise MonaLabError(f"no NIfTI image/label pairs in {root}: expected images/NAME.nii.gz with labels/NAME.nii.gz")
    names = sorted(cases)
    if split is not None:
        if split not in LA_SPLITS:
            raise MonaLabError(f"split must be None or one of {LA_SPLITS}, got {split!r}")
        names = read_case_list(root / f"{split}.list")
        missing = [n for n in names if n not in cases]
        if missing:
            raise MonaLabError(f"list file {root / f'{split}.list'} names case(s) with no image/label pair: {missing[:5]}")
    volumes = []
    for name in names:
        raw = read_nifti_pair(cases[name], "none")
        std = float(raw.image.std())
        image = (raw.image - raw.image.mean()) / std if std > 0 else np.zeros_like(raw.image)
        volumes.append(_binary_volume(name, image, raw.label, f"label {cases[name].label_path}", raw.spacing))
    return volumes


def _factors(factor: int | Sequence[int]) -> tuple[int, int, int]:
    values = tuple(factor) if isinstance(factor, (tuple, list, np.ndarray)) else (factor,) * 3
    if len(values) != 3 or not all(isinstance(f, (int, np.integer)) and not isinstance(f, bool) and f >= 1 for f in values):
        raise MonaLabError(f"factor must be a positive integer or three of them (D, H, W), got {factor!r}")
    return tuple(int(f) for f in values)  # type: ignore[return-value]


def downsample_volume(volume: Volume, factor: int | Sequence[int] = 2) -> Volume:
    """A volume shrunk by an integer factor per axis, for a CPU-sized LA setting.

    Each output voxel is one block of ``fd x fh x fw`` input voxels; the last ``n mod f``
    slices of an axis that do not fill a block are dropped (at most ``f - 1``, at the far
    end), so the output is ``(D // fd, H // fh, W // fw)``.

    * image: the block mean (area averaging, ``avg_pool3d``), so intensities keep their scale;
    * label: the block's majority class; a tie (e.g. 4 of 8 voxels at factor 2) goes to the
      block's first voxel (``label[::f, ::f, ::f]``, the nearest-neighbour sample), so neither
      class is favoured: on the 10 LA validation cases at factor 2 the atrium fraction
      changes by +0.05 % to +1.3 % (relative), where ties to background would shrink it by
      ~2.5 % and ties to foreground grow it by ~2.5 %.
    * spacing: multiplied by the factor when known; ``None`` stays ``None``, and distances
      measured on the result are then in *downsampled* voxels (``f`` times coarser than the
      literature's).

    Raises:
        MonaLabError: a bad factor, or an axis shorter than its factor.
    """
    f = _factors(factor)
    if any(n < k for n, k in zip(volume.shape, f)):
        raise MonaLabError(f"{volume.case_id}: shape {volume.shape} is smaller than the factor {f} on some axis")
    out = tuple(n // k for n, k in zip(volume.shape, f))
    crop = tuple(slice(0, n * k) for n, k in zip(out, f))
    image = F.avg_pool3d(torch.from_numpy(volume.image[crop])[None, None], f)[0, 0].numpy()
    label = None
    if volume.label is not None:
        lab = torch.from_numpy(volume.label[crop])
        num_classes = int(lab.max()) + 1 if lab.numel() else 1
        onehot = F.one_hot(lab, num_classes).permute(3, 0, 1, 2).float()
        votes = F.avg_pool3d(onehot[None], f)[0] * float(np.prod(f))  # voxel counts per class
        first = F.one_hot(lab[:: f[0], :: f[1], :: f[2]], num_classes).permute(3, 0, 1, 2).float()
        label = (votes + 0.5 * first).argmax(0).numpy()  # +0.5 only breaks exact ties
    spacing = None if volume.spacing is None else tuple(s * k for s, k in zip(volume.spacing, f))
    return Volume(volume.case_id, volume.patient_id, np.ascontiguousarray(image), label, spacing)
