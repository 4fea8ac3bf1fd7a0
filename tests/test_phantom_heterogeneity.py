"""`PhantomConfig.heterogeneity` (issue 24): level 0 is the old phantom bit for bit, higher
levels spread patients further apart, the data set keeps its classes and its Zipf tail,
and bad levels are refused by name."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from mona_lab.cli import main
from mona_lab.data.phantom import PhantomConfig, make_phantom, make_phantom_patient
from mona_lab.data.phantom.heterogeneity import PATHOLOGIES, draw_variation, pathology_of, variation_rng
from mona_lab.data.stats import class_fractions, class_pixel_counts, fit_zipf_exponent
from mona_lab.errors import MonaLabError

SMALL = PhantomConfig(image_size=64, zipf_exponent=2.0, seed=3)
# Fingerprints of volumes made by the code before heterogeneity existed (commit 3b3eac4): the
# shape, the pixel count of every class (exact) and the image's mean and sd (to 1e-6, so a
# numpy/scipy build that changes a float's last bit does not fail the test, while any change
# of a draw does). Regenerate them from that commit, never from this code.
BEFORE = {
    (PhantomConfig(), 0): [((8, 128, 128), [124723, 1071, 1070, 2927, 670, 611], 0.1817927, 0.1826217), ((8, 128, 128), [127300, 601, 1023, 1366, 306, 476], 0.1752602, 0.1719127)],
    (PhantomConfig(), 1): [((9, 128, 128), [138618, 1551, 1660, 4053, 840, 734], 0.1874322, 0.1811152), ((9, 128, 128), [141903, 931, 1798, 1837, 377, 610], 0.1859325, 0.1771519)],
    (PhantomConfig(), 7): [((11, 128, 128), [170797, 1509, 1529, 4833, 938, 618], 0.1576089, 0.1678), ((11, 128, 128), [173888, 1011, 1845, 2475, 480, 525], 0.14689, 0.15308)],
    (SMALL, 0): [((8, 64, 64), [31736, 86, 167, 713, 32, 34], 0.248715, 0.2269015), ((8, 64, 64), [32232, 52, 154, 295, 11, 24], 0.2415314, 0.2184366)],
    (SMALL, 5): [((8, 64, 64), [31611, 92, 138, 848, 39, 40], 0.2226458, 0.208891), ((8, 64, 64), [32067, 52, 157, 439, 18, 35], 0.2162736, 0.1986986)],
}  # fmt: skip


@pytest.mark.parametrize("config, index", list(BEFORE))
def test_level_zero_is_the_phantom_before(config, index):
    for cfg in (config, dataclasses.replace(config, heterogeneity=0.0, anatomy_heterogeneity=0.0)):
        for volume, (shape, counts, mean, sd) in zip(make_phantom_patient(cfg, index), BEFORE[(config, index)]):
            assert volume.image.shape == shape
            assert np.bincount(volume.label.ravel(), minlength=6).tolist() == counts
            image = volume.image.astype(np.float64)
            assert image.mean() == pytest.approx(mean, abs=1e-6) and image.std() == pytest.approx(sd, abs=1e-6)

def digest(volume) -> bytes:
    """A volume's exact content (same run, same build: equality is exact)."""
    return volume.image.tobytes() + volume.label.tobytes()


def per_patient(config: PhantomConfig) -> dict[str, np.ndarray]:
    """Per-patient statistics of the calibration (benchmarks/phantom_heterogeneity.py)."""
    rows = []
    for i in range(config.num_patients):
        ed, es = make_phantom_patient(config, i)
        img, lab = np.concatenate([ed.image, es.image]), np.concatenate([ed.label, es.label])
        lv, myo = np.isin(lab, (3, 4)), lab == 2
        blood = img[lv].mean()
        rows.append({
            "contrast": blood / img[myo].mean(),
            "blood": blood,
            "lv_fraction": np.isin(ed.label, (3, 4)).mean(),
            "es_ed": np.isin(es.label, (3, 4)).sum() / np.isin(ed.label, (3, 4)).sum(),
            "myo_lv": (ed.label == 2).sum() / np.isin(ed.label, (3, 4)).sum(),
        })
    return {k: np.array([r[k] for r in rows]) for k in rows[0]}


def test_spread_across_patients_grows_with_the_level():
    cv = {}
    for level in (0.0, 0.5, 1.0):
        stats = per_patient(PhantomConfig(num_patients=16, image_size=64, heterogeneity=level))
        cv[level] = {k: v.std(ddof=1) / v.mean() for k, v in stats.items()}
    for name in cv[0.0]:
        assert cv[0.0][name] < cv[0.5][name] < cv[1.0][name], (name, [cv[h][name] for h in cv])
    assert cv[1.0]["contrast"] > 1.3 * cv[0.0]["contrast"] and cv[1.0]["es_ed"] > 1.5 * cv[0.0]["es_ed"]


def test_same_config_same_arrays_and_patient_independent_of_count():
    cfg = PhantomConfig(num_patients=3, image_size=64, heterogeneity=1.0)
    a, b = make_phantom(cfg), make_phantom(cfg)
    assert [digest(v) for v in a] == [digest(v) for v in b]
    alone = make_phantom_patient(dataclasses.replace(cfg, num_patients=1), 2)
    assert [digest(v) for v in alone] == [digest(v) for v in a[4:6]]
    assert digest(a[0]) != digest(make_phantom_patient(dataclasses.replace(cfg, heterogeneity=0.0), 0)[0])


def test_group_levels_act_on_their_own_group_only():
    """Acquisition moves the image, never the labels; anatomy moves the labels."""
    base = make_phantom_patient(PhantomConfig(image_size=64), 1)
    scanner = make_phantom_patient(PhantomConfig(image_size=64, acquisition_heterogeneity=1.0), 1)
    heart = make_phantom_patient(PhantomConfig(image_size=64, anatomy_heterogeneity=1.0), 1)
    for b, s, h in zip(base, scanner, heart):
        np.testing.assert_array_equal(b.label, s.label)
        assert not np.array_equal(b.image, s.image) and not np.array_equal(b.label, h.label)
    assert PhantomConfig(heterogeneity=1.0, anatomy_heterogeneity=0.25).anatomy_level == 0.25
    assert PhantomConfig(heterogeneity=1.0, anatomy_heterogeneity=0.25).acquisition_level == 1.0


@pytest.mark.parametrize("exponent", [1.0, 2.0])
def test_every_class_present_and_zipf_tail_recovered_at_level_one(exponent):
    cfg = PhantomConfig(num_patients=16, image_size=64, zipf_exponent=exponent, seed=1, heterogeneity=1.0)
    frac = class_fractions(class_pixel_counts([v.label for v in make_phantom(cfg)], 6))
    assert (frac > 0).all()
    assert fit_zipf_exponent(frac) == pytest.approx(exponent, abs=0.15)  # measured 1.05 on 70 at s = 1


def test_level_two_still_builds_a_heart_inside_the_image():
    cfg = PhantomConfig(num_patients=8, image_size=64, heterogeneity=2.0)
    for volume in make_phantom(cfg):
        assert set(np.unique(volume.label)) >= {0, 1, 2, 3}
        assert 0.0 <= volume.image.min() and volume.image.max() <= 1.0
        edge = np.concatenate([volume.label[:, 0], volume.label[:, -1], volume.label[:, :, 0], volume.label[:, :, -1]])
        assert not np.isin(edge, (1, 2, 3)).any()  # the heart never touches the border


def test_pathologies_are_drawn_at_a_fifth_each_at_level_one():
    draws = [draw_variation(variation_rng(0, i)) for i in range(1000)]
    kinds = [pathology_of(v, 1.0) for v in draws]
    for kind in PATHOLOGIES:
        assert 0.15 < kinds.count(kind) / len(kinds) < 0.25
    assert all(pathology_of(v, 0.0) is None for v in draws)
    assert sum(pathology_of(v, 0.5) is not None for v in draws) < 0.5 * len(draws)


@pytest.mark.parametrize(
    "field, value",
    [("heterogeneity", -0.1), ("heterogeneity", 2.5), ("heterogeneity", float("nan")), ("heterogeneity", None),
     ("heterogeneity", True), ("acquisition_heterogeneity", 3.0), ("anatomy_heterogeneity", "1")],
)
def test_bad_level_is_refused_by_name(field, value):
    with pytest.raises(MonaLabError, match=field):
        dataclasses.replace(PhantomConfig(), **{field: value})


def test_cli_writes_the_heterogeneous_phantom_and_refuses_a_bad_level(tmp_path: Path, capsys):
    from mona_lab.data.nifti import find_nifti_cases, read_nifti_pair

    out = tmp_path / "phantom"
    args = ["data", "phantom", "--out", str(out), "--patients", "2", "--image-size", "32", "--heterogeneity", "1"]
    assert main(args) == 0
    expected = {v.case_id: v for v in make_phantom(PhantomConfig(num_patients=2, image_size=32, heterogeneity=1.0))}
    for case in find_nifti_cases(out):
        np.testing.assert_array_equal(read_nifti_pair(case).image, expected[case.case_id].image)
    capsys.readouterr()
    assert main(["data", "phantom", "--out", str(tmp_path / "bad"), "--heterogeneity", "3"]) == 2
    assert "heterogeneity" in capsys.readouterr().err
