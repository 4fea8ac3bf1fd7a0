"""The phantom: determinism, anatomy, the tunable Zipf tail, and that it is not trivial."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mona_lab.data.phantom import (
    PHANTOM_CLASS_NAMES,
    PhantomConfig,
    make_phantom,
    make_phantom_patient,
    phantom_split,
)
from mona_lab.data.stats import class_fractions, class_pixel_counts, fit_zipf_exponent, slice_presence
from mona_lab.errors import MonaLabError

SMALL = PhantomConfig(num_patients=6, image_size=64, seed=3)


@pytest.fixture(scope="module")
def small_volumes():
    return make_phantom(SMALL)


def test_six_classes_two_frames_and_8_to_12_slices(small_volumes):
    assert PHANTOM_CLASS_NAMES == ("background", "RV", "Myo", "LV", "PM", "PE")
    assert [v.case_id for v in small_volumes[:2]] == ["patient001_frame01", "patient001_frame02"]
    assert len(small_volumes) == 2 * SMALL.num_patients
    for ed, es in zip(small_volumes[::2], small_volumes[1::2]):
        assert ed.patient_id == es.patient_id
        assert ed.shape == es.shape and 8 <= ed.num_slices <= 12 and ed.shape[1:] == (64, 64)
        for v in (ed, es):
            assert v.image.dtype == np.float32 and v.label.dtype == np.int64
            assert v.image.min() == 0.0 and v.image.max() == 1.0  # min-max per volume
            assert set(np.unique(v.label)) <= set(range(6))
            assert v.spacing[0] == SMALL.slice_thickness_mm and v.spacing[1] == v.spacing[2] > 0


def test_patient_is_the_same_whatever_the_number_of_patients():
    few = make_phantom(dataclasses.replace(SMALL, num_patients=2))
    many = make_phantom(dataclasses.replace(SMALL, num_patients=4))
    for a, b in zip(few, many[:4]):
        assert a.case_id == b.case_id
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.label, b.label)
    again = make_phantom_patient(SMALL, 1)
    np.testing.assert_array_equal(again[0].image, many[2].image)


def test_other_seed_gives_other_patients():
    a = make_phantom_patient(SMALL, 0)[0]
    b = make_phantom_patient(dataclasses.replace(SMALL, seed=4), 0)[0]
    assert a.shape != b.shape or not np.array_equal(a.label, b.label)


def test_same_anatomy_at_another_resolution():
    """Anatomy is drawn in mm: a patient at 128 px downsampled looks like the one at 64 px."""
    lo = make_phantom_patient(SMALL, 0)[0]
    hi = make_phantom_patient(dataclasses.replace(SMALL, image_size=128), 0)[0]
    assert lo.num_slices == hi.num_slices
    assert hi.spacing[1] == pytest.approx(lo.spacing[1] / 2, rel=1e-6)
    for cls in (1, 2, 3):
        area_lo = (lo.label == cls).sum() * lo.spacing[1] ** 2
        area_hi = (hi.label == cls).sum() * hi.spacing[1] ** 2
        assert area_hi == pytest.approx(area_lo, rel=0.15)


def test_es_has_smaller_cavity_and_thicker_myocardium(small_volumes):
    for ed, es in zip(small_volumes[::2], small_volumes[1::2]):
        lv_ed, lv_es = (ed.label == 3).sum(), (es.label == 3).sum()
        assert lv_es < 0.8 * lv_ed
        # myocardial ring area relative to the cavity it surrounds grows at ES
        assert (es.label == 2).sum() / lv_es > (ed.label == 2).sum() / lv_ed


def test_structures_shrink_from_base_to_apex(small_volumes):
    for v in small_volumes:
        # the left ventricle (cavity + papillary muscles + myocardium) is a tapering cone
        lv = np.isin(v.label, (2, 3, 4)).reshape(v.num_slices, -1).sum(1)
        assert lv[-1] < 0.6 * lv[0]
        assert np.all(np.diff(lv) <= 0.03 * lv[0] + 3)


def test_tail_classes_are_rarer_and_absent_from_many_slices(small_volumes):
    labels = [v.label for v in small_volumes]
    frac = class_fractions(class_pixel_counts(labels, 6))
    presence = slice_presence(labels, 6)
    assert frac[0] > 0.9  # background dominates
    assert frac[3] == frac[1:].max()  # LV is the head class
    assert max(frac[4], frac[5]) < min(frac[1], frac[2], frac[3])
    assert presence[3] == 1.0 and presence[4] < 0.8 and presence[5] < 0.8


@pytest.mark.parametrize("exponent", [1.0, 2.0])
def test_fitted_zipf_exponent_tracks_the_parameter(exponent):
    cfg = PhantomConfig(num_patients=12, image_size=64, zipf_exponent=exponent, seed=1)
    frac = class_fractions(class_pixel_counts([v.label for v in make_phantom(cfg)], 6))
    assert fit_zipf_exponent(frac) == pytest.approx(exponent, abs=0.15)


def test_intensities_of_classes_overlap(small_volumes):
    """Hard enough to teach: no class is separable from the rest by intensity alone."""
    v = small_volumes[0]
    lv, pe, myo, bg = (v.image[v.label == c] for c in (3, 5, 2, 0))
    if pe.size:
        assert np.percentile(pe, 95) > np.percentile(lv, 5)
    assert np.percentile(myo, 95) > np.percentile(bg, 50)
    assert np.percentile(bg, 99.5) > np.percentile(lv, 25)  # bright background (fat, aorta)


def test_phantom_split_counts_and_disjointness():
    train, val, test = phantom_split(40)
    assert (len(train), len(val), len(test)) == (28, 8, 4)
    assert not set(train) & set(val) and not set(val) & set(test)
    assert phantom_split(12) == (phantom_split(12)[0], ["patient010", "patient011"], ["patient012"])
    assert phantom_split(2) == (["patient001", "patient002"], [], [])


@pytest.mark.parametrize(
    "field, value",
    [("num_patients", 0), ("image_size", 8), ("zipf_exponent", -1.0), ("seed", -1), ("min_slices", 13)],
)
def test_bad_config_is_refused(field, value):
    with pytest.raises(MonaLabError, match=field):
        dataclasses.replace(PhantomConfig(), **{field: value})
