"""The phantom's patients: their names, the fixed split, and their ED and ES volumes.

Patient ``i`` draws from ``numpy.random.default_rng(SeedSequence(seed, spawn_key=(i,)))``:
first its anatomy (`draw_anatomy`), then for each frame the noise of its image
(`image_from_tissues`); the sizes (`solve_geometry`) and the painting (`paint_frame`)
draw nothing. So a patient is the same whatever ``num_patients`` is. Its inter-patient
variation (`PhantomConfig.heterogeneity`, `apply_heterogeneity`) draws from a stream of its
own, ``SeedSequence(seed, spawn_key=(i, 1))``, so heterogeneity 0 leaves every draw above
as it was.
"""
from __future__ import annotations

import math

import numpy as np

from mona_lab.data.phantom.anatomy import draw_anatomy
from mona_lab.data.phantom.config import PhantomConfig
from mona_lab.data.phantom.geometry import solve_geometry
from mona_lab.data.phantom.heterogeneity import apply_heterogeneity
from mona_lab.data.phantom.intensity import image_from_tissues
from mona_lab.data.phantom.raster import paint_frame
from mona_lab.data.volume import Volume
from mona_lab.errors import MonaLabError

FRAME_NAMES = ("frame01", "frame02")  # ED, ES


def patient_id(index: int) -> str:
    """``0 -> "patient001"``: ACDC-style names, so the NIfTI writer needs no mapping."""
    return f"patient{index + 1:03d}"


def phantom_split(num_patients: int) -> tuple[list[str], list[str], list[str]]:
    """Fixed train / val / test patients of a phantom with ``num_patients`` patients.

    The last ``max(1, round(0.1 n))`` patients are the test set, the ``max(1, round(0.2 n))``
    before them validation, the rest training (40 -> 28 / 8 / 4). Patients are i.i.d. draws,
    so taking them by position is as good as a random split and never changes with the seed.
    With fewer than 3 patients everything is training data and val/test are empty.
    """
    ids = [patient_id(i) for i in range(num_patients)]
    if num_patients < 3:
        return ids, [], []
    n_test = max(1, int(math.floor(0.1 * num_patients + 0.5)))
    n_val = max(1, int(math.floor(0.2 * num_patients + 0.5)))
    n_train = num_patients - n_val - n_test
    return ids[:n_train], ids[n_train : n_train + n_val], ids[n_train + n_val :]


def make_phantom_patient(config: PhantomConfig, index: int) -> list[Volume]:
    """The ED and ES volumes of patient ``index`` (0-based), in that order.

    Returns:
        two `Volume` objects, ``case_id = "patientXXX_frame01"`` (ED) and ``..._frame02``
        (ES), image ``[D, S, S]`` float32 in [0, 1], label int64 in 0..5, spacing
        ``(slice thickness, pixel, pixel)`` in mm.
    """
    if index < 0:
        raise MonaLabError(f"patient index must be >= 0, got {index}")
    rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(index,)))
    anatomy = apply_heterogeneity(draw_anatomy(rng, config), config, index)  # own stream (i, 1)
    geometry = solve_geometry(anatomy)
    pid = patient_id(index)
    # float32-exact values, so that a NIfTI header (float32 zooms) stores them unchanged
    px = float(np.float32(anatomy.fov / config.image_size))
    spacing = (float(np.float32(anatomy.spacing_mm)), px, px)
    volumes = []
    for frame, name in enumerate(FRAME_NAMES):
        tissue, label = paint_frame(anatomy, geometry, frame, config.image_size)
        image = image_from_tissues(anatomy, tissue, rng)
        volumes.append(Volume(f"{pid}_{name}", pid, image, label, spacing))
    return volumes


def make_phantom(config: PhantomConfig | None = None) -> list[Volume]:
    """All volumes of the phantom, patient by patient (ED then ES).

    The default (40 patients, 788 slices at 128 x 128) built in 3.5-4.4 s on 2 heavily
    shared cores (``benchmarks/bench_data.py`` measures it; the target is < 10 s).
    """
    config = config or PhantomConfig()
    volumes: list[Volume] = []
    for i in range(config.num_patients):
        volumes.extend(make_phantom_patient(config, i))
    return volumes
