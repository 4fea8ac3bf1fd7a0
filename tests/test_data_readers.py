"""Readers (SSL4MIS h5, official ACDC NIfTI, generic NIfTI pairs), the NIfTI writer and
every malformed input, on tiny files the tests write themselves."""
from __future__ import annotations

import json
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pytest
import torch

from mona_lab.cli import main
from mona_lab.data import load_dataset
from mona_lab.data.acdc import resolve_acdc_root
from mona_lab.data.nifti import read_nifti, write_nifti
from mona_lab.data.phantom import PhantomConfig, make_phantom
from mona_lab.errors import MonaLabError

RNG = np.random.default_rng(0)


def _slice_pair(h: int, w: int, top: int = 3) -> tuple[np.ndarray, np.ndarray]:
    label = np.zeros((h, w), np.uint8)
    label[h // 4 : h // 2, w // 4 : w // 2] = 1
    label[h // 2 : 3 * h // 4, w // 2 : 3 * w // 4] = top
    return RNG.random((h, w), dtype=np.float32), label


def _write_h5(path: Path, image: np.ndarray | None, label: np.ndarray | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        if image is not None:
            f.create_dataset("image", data=image)
        if label is not None:
            f.create_dataset("label", data=label)


def make_ssl4mis_root(root: Path, patients=("patient001", "patient002", "patient003"), val=("patient004",)) -> Path:
    """A miniature ACDC in the SSL4MIS layout: 2 frames x 2 slices per training patient."""
    slices, vols = [], []
    for i, pid in enumerate(patients):
        for frame in ("frame01", "frame02"):
            vols.append(f"{pid}_{frame}")
            for z in range(2):
                name = f"{pid}_{frame}_slice_{z}"
                shape = (24, 20) if i % 2 else (20, 24)  # varying native shapes, as in ACDC
                _write_h5(root / "data" / "slices" / f"{name}.h5", *_slice_pair(*shape))
                slices.append(name)
    val_names = []
    for pid in val:
        for frame in ("frame01", "frame02"):
            pairs = [_slice_pair(20, 22) for _ in range(3)]
            _write_h5(root / "data" / f"{pid}_{frame}.h5", np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs]))
            val_names.append(f"{pid}_{frame}")
    (root / "train_slices.list").write_text("\n".join(slices) + "\n")
    (root / "train.list").write_text("\n".join(vols) + "\n")
    (root / "val.list").write_text("\n".join(val_names) + "\n")
    return root


@pytest.fixture
def ssl4mis(tmp_path: Path) -> Path:
    return make_ssl4mis_root(tmp_path / "ACDC")


# ---------------------------------------------------------------- SSL4MIS h5 layout


def test_acdc_h5_layout_loads_slices_and_volumes(ssl4mis: Path):
    data = load_dataset("acdc", root=ssl4mis, image_size=16)
    assert data.class_names == ("background", "RV", "Myo", "LV")
    assert data.num_train_slices == 12 and data.patients == ["patient001", "patient002", "patient003"]
    assert data.train_images.shape == (12, 1, 16, 16) and data.train_images.dtype == torch.float32
    assert data.train_labels.shape == (12, 16, 16) and data.train_labels.dtype == torch.int64
    assert set(data.train_labels.unique().tolist()) == {0, 1, 3}
    assert data.train_case_ids[0] == "patient001_frame01" and data.train_patient_ids[-1] == "patient003"
    assert [v.case_id for v in data.val_volumes] == ["patient004_frame01", "patient004_frame02"]
    assert data.val_volumes[0].shape == (3, 20, 22)  # validation volumes stay native
    assert data.val_volumes[0].spacing is None and data.test_volumes == []
    # native-resolution statistics are counted before resizing
    assert data.native_class_counts.sum() == 6 * 20 * 24 * 2


def test_acdc_slices_keep_list_order_across_native_shapes(ssl4mis: Path):
    """Slices of different native shapes are resized in groups; the order must survive."""
    with h5py.File(ssl4mis / "data/slices/patient002_frame01_slice_1.h5", "r") as f:
        native = torch.from_numpy(f["image"][...])
    data = load_dataset("acdc", root=ssl4mis, image_size=24)
    row = data.train_case_ids.index("patient002_frame01") + 1
    expected = torch.nn.functional.interpolate(native[None, None], size=(24, 24), mode="bilinear", align_corners=False)
    torch.testing.assert_close(data.train_images[row], expected[0])


def test_test_list_is_read_when_present(ssl4mis: Path):
    (ssl4mis / "test.list").write_text("patient004_frame02\n")
    data = load_dataset("acdc", root=ssl4mis, image_size=16)
    assert [v.case_id for v in data.test_volumes] == ["patient004_frame02"]


def test_acdc_root_order_argument_env_then_repository(ssl4mis: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("MONA_LAB_ACDC", str(ssl4mis))
    assert resolve_acdc_root() == ssl4mis
    assert resolve_acdc_root(ssl4mis) == ssl4mis
    with pytest.raises(MonaLabError, match="nowhere.*--root"):
        resolve_acdc_root(tmp_path / "nowhere")
    monkeypatch.setenv("MONA_LAB_ACDC", str(tmp_path / "gone"))
    with pytest.raises(MonaLabError, match=r"gone \(from \$MONA_LAB_ACDC\)"):
        resolve_acdc_root()
    monkeypatch.delenv("MONA_LAB_ACDC")
    with pytest.raises(MonaLabError, match=r"data/ACDC"):
        resolve_acdc_root()


def test_missing_list_file_is_named(ssl4mis: Path):
    (ssl4mis / "val.list").unlink()
    with pytest.raises(MonaLabError, match=r"val\.list does not exist"):
        load_dataset("acdc", root=ssl4mis)


def test_root_without_train_slices_list(tmp_path: Path):
    (tmp_path / "x").mkdir()
    with pytest.raises(MonaLabError, match="train_slices.list"):
        load_dataset("acdc", root=tmp_path / "x")


def test_list_naming_a_missing_h5(ssl4mis: Path):
    (ssl4mis / "data/slices/patient003_frame02_slice_1.h5").unlink()
    with pytest.raises(MonaLabError, match=r"patient003_frame02_slice_1\.h5 does not exist"):
        load_dataset("acdc", root=ssl4mis)


def test_corrupt_h5(ssl4mis: Path):
    (ssl4mis / "data/patient004_frame01.h5").write_bytes(b"this is not hdf5")
    with pytest.raises(MonaLabError, match=r"patient004_frame01\.h5 could not be read"):
        load_dataset("acdc", root=ssl4mis)


@pytest.mark.parametrize("missing", ["image", "label"])
def test_h5_without_image_or_label(ssl4mis: Path, missing: str):
    image, label = _slice_pair(20, 24)
    path = ssl4mis / "data/slices/patient001_frame01_slice_0.h5"
    _write_h5(path, None if missing == "image" else image, None if missing == "label" else label)
    with pytest.raises(MonaLabError, match=rf"slice_0\.h5 has no '{missing}' dataset"):
        load_dataset("acdc", root=ssl4mis)


def test_h5_label_out_of_range(ssl4mis: Path):
    path = ssl4mis / "data/slices/patient002_frame02_slice_0.h5"
    _write_h5(path, *_slice_pair(24, 20, top=7))
    with pytest.raises(MonaLabError, match=r"slice_0\.h5: label value 7 is out of range; expected 0\.\.3"):
        load_dataset("acdc", root=ssl4mis)


def test_h5_shape_mismatch(ssl4mis: Path):
    image, _ = _slice_pair(20, 24)
    _, label = _slice_pair(20, 22)
    _write_h5(ssl4mis / "data/slices/patient001_frame02_slice_1.h5", image, label)
    with pytest.raises(MonaLabError, match=r"slice_1\.h5: image shape \(20, 24\) and label shape \(20, 22\) differ"):
        load_dataset("acdc", root=ssl4mis)


def test_unknown_dataset_lists_choices():
    with pytest.raises(MonaLabError, match="phantom, acdc, nifti"):
        load_dataset("lits")


# ---------------------------------------------------------------- NIfTI


def test_nifti_round_trip_keeps_array_and_spacing(tmp_path: Path):
    array = RNG.random((3, 5, 7), dtype=np.float32)
    write_nifti(tmp_path / "a.nii.gz", array, (8.0, 1.25, 1.5))
    back, spacing = read_nifti(tmp_path / "a.nii.gz")
    np.testing.assert_array_equal(back, array)
    assert spacing == (8.0, 1.25, 1.5)
    img = nib.load(str(tmp_path / "a.nii.gz"))
    assert img.shape == (7, 5, 3)  # NIfTI stores (x, y, z)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_phantom_cli_writes_official_layout_that_reads_back_identically(tmp_path: Path, capsys):
    out = tmp_path / "phantom"
    assert main(["data", "phantom", "--out", str(out), "--patients", "3", "--seed", "5", "--image-size", "32"]) == 0
    assert "wrote 6 volumes" in capsys.readouterr().out
    assert (out / "patient001" / "patient001_frame01.nii.gz").is_file()
    assert (out / "patient003" / "patient003_frame02_gt.nii.gz").is_file()
    assert "ES: 2" in (out / "patient002" / "Info.cfg").read_text()
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["labels"]["5"] == "PE"
    expected = {v.case_id: v for v in make_phantom(PhantomConfig(num_patients=3, seed=5, image_size=32))}
    from mona_lab.data.nifti import find_nifti_cases, read_nifti_pair

    cases = find_nifti_cases(out)
    assert sorted(c.case_id for c in cases) == sorted(expected)
    for case in cases:
        vol = read_nifti_pair(case)
        ref = expected[case.case_id]
        np.testing.assert_array_equal(vol.image, ref.image)
        np.testing.assert_array_equal(vol.label, ref.label)
        assert vol.spacing == ref.spacing
    data = load_dataset("nifti", root=out, image_size=32)
    assert data.class_names[5] == "PE" and data.patients == ["patient001"]  # train.list from the writer
    assert [v.case_id for v in data.val_volumes] == ["patient002_frame01", "patient002_frame02"]
    assert [v.case_id for v in data.test_volumes] == ["patient003_frame01", "patient003_frame02"]


def test_phantom_cli_refuses_a_non_empty_folder(tmp_path: Path, capsys):
    (tmp_path / "keep.txt").write_text("x")
    assert main(["data", "phantom", "--out", str(tmp_path), "--patients", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{tmp_path} is not empty" in err and "--overwrite" in err


def _write_pair(image_path: Path, label_path: Path, image: np.ndarray, label: np.ndarray, spacing=(5.0, 1.0, 1.0)):
    image_path.parent.mkdir(parents=True, exist_ok=True)
    label_path.parent.mkdir(parents=True, exist_ok=True)
    write_nifti(image_path, image, spacing)
    write_nifti(label_path, label, spacing, np.uint8)


def test_official_acdc_nifti_layout_with_raw_intensities(tmp_path: Path):
    for i in range(1, 5):
        pid = f"patient{i:03d}"
        for frame in ("frame01", "frame12"):
            image = RNG.normal(300, 80, (2, 12, 10)).astype(np.float32)
            label = np.zeros((2, 12, 10), np.uint8)
            label[:, 3:6, 3:6] = 3
            _write_pair(tmp_path / "training" / pid / f"{pid}_{frame}.nii.gz", tmp_path / "training" / pid / f"{pid}_{frame}_gt.nii.gz", image, label, (10.0, 1.5, 1.5))
        # a frame without ground truth (the 4D cine) is ignored
        write_nifti(tmp_path / "training" / pid / f"{pid}_frame05.nii.gz", image, (10.0, 1.5, 1.5))
    data = load_dataset("nifti", root=tmp_path, image_size=16, seed=0)
    assert data.class_names == ("background", "RV", "Myo", "LV")
    volumes = data.val_volumes + data.test_volumes
    assert len(data.patients) + len({v.patient_id for v in volumes}) == 4
    assert data.num_train_slices == 2 * 2 * len(data.patients)
    for v in volumes:
        assert v.spacing == (10.0, 1.5, 1.5)
        assert v.image.min() == 0.0 and v.image.max() == 1.0  # min-max per volume (MRI)


def test_generic_pairs_ct_window_and_inferred_classes(tmp_path: Path):
    for name in ("a", "b", "c", "d"):
        hu = np.linspace(-1000, 1000, 2 * 8 * 8, dtype=np.float32).reshape(2, 8, 8)
        label = np.zeros((2, 8, 8), np.uint8)
        label[:, :2] = 2
        _write_pair(tmp_path / "imagesTr" / f"{name}_0000.nii.gz", tmp_path / "labelsTr" / f"{name}.nii.gz", hu, label)
    (tmp_path / "dataset.json").write_text(json.dumps({"channel_names": {"0": "CT"}}))
    data = load_dataset("nifti", root=tmp_path, image_size=8)
    assert data.modality == "CT" and data.class_names == ("background", "class1", "class2")
    vol = (data.val_volumes + data.test_volumes)[0]
    hu = np.linspace(-1000, 1000, 128, dtype=np.float32).reshape(2, 8, 8)
    np.testing.assert_allclose(vol.image, (np.clip(hu, -200, 250) + 200) / 450, atol=1e-6)


def test_nifti_corrupt_file_is_named(tmp_path: Path):
    _write_pair(tmp_path / "images/x.nii.gz", tmp_path / "labels/x.nii.gz", np.zeros((2, 4, 4), np.float32), np.zeros((2, 4, 4), np.uint8))
    (tmp_path / "labels/x.nii.gz").write_bytes(b"\x1f\x8b broken gzip")
    with pytest.raises(MonaLabError, match=r"labels/x\.nii\.gz could not be read"):
        load_dataset("nifti", root=tmp_path)


def test_nifti_shape_mismatch_names_both_files(tmp_path: Path):
    _write_pair(tmp_path / "images/x.nii.gz", tmp_path / "labels/x.nii.gz", np.zeros((2, 4, 4), np.float32), np.zeros((2, 4, 5), np.uint8))
    with pytest.raises(MonaLabError, match=r"images/x\.nii\.gz has shape \(2, 4, 4\).*labels/x\.nii\.gz has shape \(2, 4, 5\)"):
        load_dataset("nifti", root=tmp_path)


def test_nifti_label_out_of_range_with_dataset_json(tmp_path: Path):
    label = np.zeros((2, 4, 4), np.uint8)
    label[0, 0, 0] = 4
    _write_pair(tmp_path / "images/x.nii.gz", tmp_path / "labels/x.nii.gz", np.zeros((2, 4, 4), np.float32), label)
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": {"0": "background", "1": "liver"}}))
    with pytest.raises(MonaLabError, match=r"labels/x\.nii\.gz: label value 4 is out of range; expected 0\.\.1"):
        load_dataset("nifti", root=tmp_path)


def test_nifti_image_without_label_and_empty_folder(tmp_path: Path):
    (tmp_path / "labels").mkdir()
    (tmp_path / "images").mkdir()
    write_nifti(tmp_path / "images" / "y.nii.gz", np.zeros((1, 2, 2)), None)
    with pytest.raises(MonaLabError, match=r"images/y\.nii\.gz has no label file"):
        load_dataset("nifti", root=tmp_path)
    with pytest.raises(MonaLabError, match="no NIfTI cases found"):
        load_dataset("nifti", root=tmp_path / "labels")
    with pytest.raises(MonaLabError, match="needs --root"):
        load_dataset("nifti")


def test_nifti_lists_may_not_share_patients(tmp_path: Path):
    for name in ("p1", "p2"):
        _write_pair(tmp_path / f"images/{name}.nii.gz", tmp_path / f"labels/{name}.nii.gz", np.zeros((1, 4, 4), np.float32), np.zeros((1, 4, 4), np.uint8))
    (tmp_path / "train.list").write_text("p1\np2\n")
    (tmp_path / "val.list").write_text("p2\n")
    with pytest.raises(MonaLabError, match=r"\['p2'\] appear in both train\.list and val\.list"):
        load_dataset("nifti", root=tmp_path)
    (tmp_path / "val.list").write_text("p3\n")
    with pytest.raises(MonaLabError, match=r"val\.list names case\(s\) with no image/label pair: \['p3'\]"):
        load_dataset("nifti", root=tmp_path)
