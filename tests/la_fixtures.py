"""Fake LA trees for the tests: the h5 writer, the small ellipsoid cases and the real copy's place.

The ``fake_la`` fixture (tests/conftest.py) builds `write_fake_la_tree`'s tree in tmp_path; the
test modules import the constants and writers from here (tests/ is on ``sys.path`` when pytest
collects it, as the folder has no ``__init__.py``).

The fake tree holds ``TRAIN_IDS`` and ``VAL_IDS``, each a noisy bright ellipsoid labelled 1 in
a volume stored ``(x, y, z) = SHAPE_XYZ`` like the challenge's h5 files, so the readers give
``[D, H, W] = (20, 36, 40)``.
"""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from mona_lab.data.la import LA_ENV_VAR, LA_TRAINING_FOLDER, la_case_path

REPO_ROOT = Path(__file__).resolve().parent.parent
SHAPE_XYZ = (40, 36, 20)  # stored (x, y, z) like the h5 files; [D, H, W] = (20, 36, 40)
TRAIN_IDS = [f"CASE{i:02d}" for i in range(6)]
VAL_IDS = ["VAL00", "VAL01"]


def write_la_case(root: Path, case_id: str, image_xyz: np.ndarray, label_xyz: np.ndarray | None = None, **extra) -> Path:
    """Write one case's ``mri_norm2.h5`` (``image``, ``label`` unless None, and any ``extra``
    datasets by name) where `mona_lab.data.la.la_case_path` looks; returns its path."""
    path = la_case_path(root, case_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as h5:
        h5.create_dataset("image", data=image_xyz)
        if label_xyz is not None:
            h5.create_dataset("label", data=label_xyz)
        for key, value in extra.items():
            h5.create_dataset(key, data=value)
    return path


def ellipsoid_case(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A noisy bright ellipsoid (image float32) and its label (uint8), both ``SHAPE_XYZ`` in
    stored (x, y, z) order; the centre and radii are drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    x, y, z = np.meshgrid(*(np.arange(n) for n in SHAPE_XYZ), indexing="ij")
    centre = [n / 2 + rng.uniform(-3, 3) for n in SHAPE_XYZ]
    radii = [rng.uniform(7, 10), rng.uniform(6, 9), rng.uniform(4, 6)]
    label = (((x - centre[0]) / radii[0]) ** 2 + ((y - centre[1]) / radii[1]) ** 2 + ((z - centre[2]) / radii[2]) ** 2) <= 1
    image = label * 2.0 + rng.normal(0.0, 0.5, SHAPE_XYZ)
    return image.astype(np.float32), label.astype(np.uint8)


def write_fake_la_tree(root: Path) -> Path:
    """An LA tree at ``root`` (UA-MT layout): ``TRAIN_IDS`` then ``VAL_IDS``, case ``i`` drawn
    from seed ``i``, with ``train.list`` and ``val.list``; returns ``root``."""
    for i, case in enumerate(TRAIN_IDS + VAL_IDS):
        write_la_case(root, case, *ellipsoid_case(i))
    (root / "train.list").write_text("\n".join(TRAIN_IDS) + "\n")
    (root / "val.list").write_text("\n".join(VAL_IDS) + "\n")
    return root


def real_la_root_or_none() -> Path | None:
    """The real LA copy (``$MONA_LAB_LA``, then ``../shared/data/LA`` beside the checkout) when
    it holds the training folder and ``train.list``; None otherwise."""
    for raw in (os.environ.get(LA_ENV_VAR, "").strip(), str(REPO_ROOT.parent / "shared" / "data" / "LA")):
        if raw and (Path(raw) / LA_TRAINING_FOLDER).is_dir() and (Path(raw) / "train.list").is_file():
            return Path(raw)
    return None
