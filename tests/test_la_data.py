"""The LA reader (mona_lab.data.la): layout, axis order, errors, the NIfTI route, downsampling.

Most tests build a minimal LA tree in tmp_path (tests/la_fixtures.py's h5 writer), so they
run without the data. The real-data tests find LA at ``../shared/data/LA`` beside the checkout
or ``$MONA_LAB_LA`` and skip with a reason when it is absent. Nothing made from the real data is written outside
tmp_path.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mona_lab.data.la import (
    LA_ENV_VAR,
    downsample_volume,
    la_case_path,
    read_la_ids,
    read_la_nifti_volumes,
    read_la_volume,
    read_la_volumes,
    resolve_la_root,
)
from mona_lab.data.nifti import write_nifti
from mona_lab.data.volume import Volume
from mona_lab.errors import MonaLabError

from la_fixtures import real_la_root_or_none, write_la_case


@pytest.fixture(scope="module")
def real_root() -> Path:
    root = real_la_root_or_none()
    if root is None:
        pytest.skip(
            "real LA data not found: set MONA_LAB_LA to a folder with '2018LA_Seg_Training Set/<ID>/mri_norm2.h5', "
            "train.list and val.list, or put it at ../shared/data/LA beside the checkout (data/README.md)"
        )
    return root


@pytest.fixture(scope="module")
def real_val(real_root: Path) -> list[Volume]:
    return read_la_volumes(real_root, "val")


def _case(shape=(12, 10, 6), seed=0) -> tuple[np.ndarray, np.ndarray]:
    """An (x, y, z) image whose value encodes its index, and a 0/1 box label."""
    image = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    label = np.zeros(shape, np.uint8)
    label[3:8, 2:7, 1:5] = 1
    return image, label


@pytest.fixture
def fake_root(tmp_path: Path) -> Path:
    """A minimal LA tree: 3 training cases, 1 validation case, no test.list."""
    for i, case_id in enumerate(["CASEA", "CASEB", "CASEC", "CASED"]):
        write_la_case(tmp_path, case_id, *_case(shape=(12 + i, 10, 6)))
    (tmp_path / "train.list").write_text("CASEA\nCASEB\n\nCASEC\n")
    (tmp_path / "val.list").write_text("CASED\n")
    return tmp_path


# --------------------------------------------------------------------------- without the data


def test_fake_tree_reads_ids_and_volumes_in_list_order(fake_root: Path) -> None:
    assert read_la_ids(fake_root, "train") == ["CASEA", "CASEB", "CASEC"]
    volumes = read_la_volumes(fake_root, "train")
    assert [v.case_id for v in volumes] == ["CASEA", "CASEB", "CASEC"]
    assert [v.shape for v in volumes] == [(6, 10, 12), (6, 10, 13), (6, 10, 14)]
    assert [v.patient_id for v in volumes] == ["CASEA", "CASEB", "CASEC"]


def test_volume_is_the_h5_transposed_to_zyx_with_voxel_units(fake_root: Path) -> None:
    image_xyz, label_xyz = _case()
    volume = read_la_volume(fake_root, "CASEA")
    assert volume.image.dtype == np.float32 and volume.label.dtype == np.int64
    assert volume.spacing is None  # voxel units, as the LA literature reports distances
    x, y, z = 11, 4, 2
    assert volume.image[z, y, x] == image_xyz[x, y, z]
    np.testing.assert_array_equal(volume.label, label_xyz.transpose(2, 1, 0))
    by_path = read_la_volume(la_case_path(fake_root, "CASEA"))
    assert by_path.case_id == "CASEA"
    np.testing.assert_array_equal(by_path.image, volume.image)


def test_missing_test_list_is_a_clear_error_and_a_present_one_is_read(fake_root: Path) -> None:
    with pytest.raises(MonaLabError, match=r"test\.list does not exist.*train\.list.*val\.list"):
        read_la_ids(fake_root, "test")
    (fake_root / "test.list").write_text("CASEB.h5\n")  # a trailing .h5 is accepted
    assert read_la_ids(fake_root, "test") == ["CASEB"]
    with pytest.raises(MonaLabError, match="must be one of"):
        read_la_ids(fake_root, "validation")


def test_list_naming_a_missing_case_or_a_case_twice_is_refused(fake_root: Path) -> None:
    (fake_root / "val.list").write_text("CASED\nGHOST1\nGHOST2\n")
    with pytest.raises(MonaLabError, match=r"val\.list names 2 case\(s\).*GHOST1.*GHOST2"):
        read_la_ids(fake_root, "val")
    (fake_root / "val.list").write_text("CASED\nCASED\n")
    with pytest.raises(MonaLabError, match="more than once"):
        read_la_ids(fake_root, "val")


def test_resolve_la_root_order_and_error_lists_where_it_looked(fake_root: Path, tmp_path_factory, monkeypatch) -> None:
    other = tmp_path_factory.mktemp("elsewhere")
    monkeypatch.setenv(LA_ENV_VAR, str(fake_root))
    assert resolve_la_root() == fake_root
    with pytest.raises(MonaLabError, match=r"from the root argument.*no '2018LA_Seg_Training Set'"):
        resolve_la_root(other)  # an explicit argument wins over the variable, even when wrong
    monkeypatch.setenv(LA_ENV_VAR, str(other / "gone"))
    with pytest.raises(MonaLabError) as err:
        resolve_la_root()
    message = str(err.value)
    assert "gone" in message and "$MONA_LAB_LA" in message and "root argument: not given" in message
    assert "default:" in message and str(Path("data") / "LA") in message


def test_bad_h5_files_raise_errors_that_name_the_file(tmp_path: Path) -> None:
    image, label = _case()
    cases = {
        "nolabel": (lambda p: write_la_case(p, "nolabel", image), r"no 'label' dataset"),
        "shapes": (lambda p: write_la_case(p, "shapes", image, label[:-1]),
                   r"image shape \(12, 10, 6\) and label shape \(11, 10, 6\)"),
        "labels": (lambda p: write_la_case(p, "labels", image, label * 2), r"must be 0 \(background\) or 1.*\[0, 2\]"),
        "flat": (lambda p: write_la_case(p, "flat", image[:, :, 0], label[:, :, 0]), r"must have 3 dimensions"),
        "four": (lambda p: write_la_case(p, "four", image[None], label[None]), r"must have 3 dimensions"),
    }
    for case_id, (make, pattern) in cases.items():
        path = make(tmp_path)
        with pytest.raises(MonaLabError, match=pattern) as err:
            read_la_volume(path)
        assert str(path) in str(err.value), case_id
    broken = la_case_path(tmp_path, "broken")
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"not an hdf5 file at all")
    with pytest.raises(MonaLabError, match=r"could not be read") as err:
        read_la_volume(broken)
    assert str(broken) in str(err.value)
    with pytest.raises(MonaLabError, match=r"LA h5 file .*GHOST.*does not exist"):
        read_la_volume(tmp_path, "GHOST")
    with pytest.raises(MonaLabError, match="pass case_id"):
        read_la_volume(tmp_path)


def _write_nifti_pair(root: Path, name: str, image_zyx: np.ndarray, label_zyx: np.ndarray, spacing) -> None:
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    write_nifti(root / "images" / f"{name}.nii", image_zyx, spacing, np.float32)
    write_nifti(root / "labels" / f"{name}.nii", label_zyx, spacing, np.uint8)


def test_nifti_pairs_are_read_zscored_with_the_same_checks(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    image = (rng.normal(size=(6, 10, 12)) * 50 + 300).astype(np.float32)
    label = np.zeros((6, 10, 12), np.uint8)
    label[1:4, 2:6, 3:9] = 1
    _write_nifti_pair(tmp_path, "a", image, label, (2.5, 0.625, 0.625))
    _write_nifti_pair(tmp_path, "b", image[:, ::-1], label, (1.0, 1.0, 1.0))
    (tmp_path / "val.list").write_text("b\n")
    volumes = read_la_nifti_volumes(tmp_path)
    assert [v.case_id for v in volumes] == ["a", "b"]
    a = volumes[0]
    assert a.shape == (6, 10, 12) and a.spacing == pytest.approx((2.5, 0.625, 0.625))
    np.testing.assert_allclose(a.image, (image - image.mean()) / image.std(), atol=1e-4)
    np.testing.assert_array_equal(a.label, label)
    assert [v.case_id for v in read_la_nifti_volumes(tmp_path, "val")] == ["b"]
    with pytest.raises(MonaLabError, match=r"train\.list does not exist"):
        read_la_nifti_volumes(tmp_path, "train")
    _write_nifti_pair(tmp_path, "c", image, label * 3, None)
    with pytest.raises(MonaLabError, match=r"labels.c\.nii.*must be 0 \(background\) or 1"):
        read_la_nifti_volumes(tmp_path)
    with pytest.raises(MonaLabError, match="no NIfTI image/label pairs"):
        read_la_nifti_volumes(tmp_path / "images")


def test_downsample_averages_blocks_and_votes_labels_with_ties_to_the_first_voxel() -> None:
    image = np.arange(5 * 4 * 6, dtype=np.float32).reshape(5, 4, 6)
    label = np.zeros((5, 4, 6), np.int64)
    label[0, 0, 0] = label[0, 1, 1] = label[1, 0, 1] = 1  # 3 of 8: background wins
    label[0:2, 0:2, 2:4] = 1
    label[0, 0, 2] = label[0, 1, 2] = label[1, 0, 2] = label[1, 1, 2] = 0  # 4 of 8, first voxel 0 -> 0
    label[0:2, 2:4, 0:2] = 1
    label[0, 2, 1] = label[0, 3, 1] = label[1, 2, 1] = label[1, 3, 1] = 0  # 4 of 8, first voxel 1 -> 1
    small = downsample_volume(Volume("c", "c", image, label, (1.0, 2.0, 3.0)), 2)
    assert small.shape == (2, 2, 3)  # the fifth slice does not fill a block and is dropped
    assert small.image[0, 0, 0] == pytest.approx(image[0:2, 0:2, 0:2].mean())
    assert small.image[1, 1, 2] == pytest.approx(image[2:4, 2:4, 4:6].mean())
    assert small.label[0, 0, 0] == 0 and small.label[0, 0, 1] == 0 and small.label[0, 1, 0] == 1
    assert small.spacing == (2.0, 4.0, 6.0)
    assert downsample_volume(Volume("c", "c", image, None, None), (1, 2, 3)).shape == (5, 2, 2)
    for bad in (0, (2, 2), 2.0, True):
        with pytest.raises(MonaLabError, match="factor"):
            downsample_volume(Volume("c", "c", image, label), bad)
    with pytest.raises(MonaLabError, match="smaller than the factor"):
        downsample_volume(Volume("c", "c", image, label), 6)


# --------------------------------------------------------------------------- with the real data


def test_real_splits_have_36_and_10_distinct_cases(real_root: Path) -> None:
    train, val = read_la_ids(real_root, "train"), read_la_ids(real_root, "val")
    assert (len(train), len(val)) == (36, 10)
    assert not set(train) & set(val), "a case is in both train.list and val.list"
    if not (real_root / "test.list").is_file():
        with pytest.raises(MonaLabError, match=r"test\.list does not exist"):
            read_la_ids(real_root, "test")


def test_real_volumes_are_88_axial_slices_with_6_to_10_percent_atrium(real_val: list[Volume]) -> None:
    for v in real_val:
        depth, height, width = v.shape
        assert depth == 88 and 120 <= height <= 170 and 140 <= width <= 240, (v.case_id, v.shape)
        assert v.image.dtype == np.float32 and v.spacing is None
        assert set(np.unique(v.label)) == {0, 1}
        assert 0.03 < v.label.mean() < 0.2, (v.case_id, v.label.mean())
        assert np.isfinite(v.image).all()
    assert 0.06 <= np.mean([v.label.mean() for v in real_val]) <= 0.10


def test_real_downsample_keeps_the_atrium_fraction(real_val: list[Volume]) -> None:
    for v in real_val[:3]:
        small = downsample_volume(v, 2)
        assert small.shape == tuple(n // 2 for n in v.shape)
        assert small.label.mean() == pytest.approx(v.label.mean(), rel=0.02)
        assert small.image.mean() == pytest.approx(v.image.mean(), abs=0.01)


def test_real_case_reads_the_same_through_nifti(real_root: Path, real_val: list[Volume], tmp_path: Path) -> None:
    v = real_val[0]
    _write_nifti_pair(tmp_path, v.case_id, v.image, v.label, None)
    (via_nifti,) = read_la_nifti_volumes(tmp_path)
    np.testing.assert_array_equal(via_nifti.label, v.label)  # same [D, H, W] orientation
    expected = (v.image - v.image.mean()) / v.image.std()
    np.testing.assert_allclose(via_nifti.image, expected, atol=1e-4)
