"""Where a data set's native volumes come from: `open_source` turns a name into a `DataSource`.

Three sources, one function each: the phantom (generated patient by patient, split by
position, `mona_lab.data.phantom`), ACDC in the SSL4MIS h5 layout (`mona_lab.data.acdc`)
and a folder of NIfTI files (official ACDC layout or image/label pairs,
`mona_lab.data.nifti`; split by its list files or by a seeded hold-out of patients).
`mona_lab.data.dataset.load_dataset` slices and resizes what a source returns.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mona_lab.data.acdc import ACDC_CLASS_NAMES, iter_acdc_training_slices, read_acdc_volumes, resolve_acdc_root
from mona_lab.data.phantom import PHANTOM_CLASS_NAMES, PhantomConfig, make_phantom_patient, phantom_split
from mona_lab.data.volume import Volume
from mona_lab.errors import MonaLabError

DATASET_NAMES = ("phantom", "acdc", "nifti")
FAST_PHANTOM = {"num_patients": 12, "image_size": 64}


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
    fast: bool | None = None, image_size: int | None = None, seed: int = 0, phantom: PhantomConfig | None = None,
    heterogeneity: float = 0.0,
) -> PhantomConfig:
    """The phantom settings `load_dataset` uses: ``phantom`` if given, else the defaults
    (40 patients at 128, or 12 patients at 64 in fast mode) at ``heterogeneity``
    (`PhantomConfig.heterogeneity`); an explicit ``image_size`` always wins."""
    if phantom is None:
        phantom = PhantomConfig(seed=seed, heterogeneity=heterogeneity, **(FAST_PHANTOM if _resolve_fast(fast) else {}))
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
