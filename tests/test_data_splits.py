"""Labelled/unlabelled splits by patient (MONA TPAMI Sec. IV-A: ratios are of patients)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mona_lab.data.splits import parse_labeled, resolve_labeled_count, split_patients
from mona_lab.errors import MonaLabError

ACDC_TRAIN = [f"patient{i:03d}" for i in range(1, 101) if i % 10 not in (2, 5, 8)][:70]


@pytest.mark.parametrize("ratio, count", [(0.01, 1), (0.05, 3), (0.10, 7), (0.2, 14), (0.5, 35)])
def test_papers_label_ratios_on_acdc_70_patients(ratio, count):
    assert len(ACDC_TRAIN) == 70
    assert resolve_labeled_count(ratio, 70) == count
    labeled, unlabeled = split_patients(ACDC_TRAIN, ratio, seed=0)
    assert len(labeled) == count and len(unlabeled) == 70 - count


def test_counts_including_float_counts_from_configs():
    assert resolve_labeled_count(3, 70) == 3
    assert resolve_labeled_count(3.0, 70) == 3
    assert resolve_labeled_count(70, 70) == 70


@pytest.mark.parametrize(
    "labeled, match",
    [
        (0.005, r"ratio 0\.005 of 70 patients selects 0\.35 patients"),
        (0, "count >= 1 or a ratio"),
        (-2, "count >= 1 or a ratio"),
        (2.5, "whole number"),
        (71, "labeled count 71 is larger than the 70 training patients"),
        (True, "patient count"),
        ("3", "patient count"),
    ],
)
def test_bad_labeled_values(labeled, match):
    with pytest.raises(MonaLabError, match=match):
        split_patients(ACDC_TRAIN, labeled, seed=0)


def test_deterministic_per_seed_and_seed_matters():
    a = split_patients(ACDC_TRAIN, 7, seed=1)
    assert a == split_patients(list(reversed(ACDC_TRAIN)), 7, seed=1)  # input order is irrelevant
    assert a != split_patients(ACDC_TRAIN, 7, seed=2)


def test_not_the_first_rows_convention():
    """The public code's first-N-rows choice would always pick the first patients."""
    picks = {tuple(split_patients(ACDC_TRAIN, 3, seed=s)[0]) for s in range(5)}
    assert len(picks) > 1 and ("patient001", "patient003", "patient004") not in picks


@settings(max_examples=25)
@given(n=st.integers(1, 60), seed=st.integers(0, 1000), data=st.data())
def test_partition_and_nesting(n, seed, data):
    patients = [f"p{i:02d}" for i in range(n)] * 2  # duplicates: one entry per slice
    k_small = data.draw(st.integers(1, n))
    k_big = data.draw(st.integers(k_small, n))
    lab, unl = split_patients(patients, k_small, seed)
    assert not set(lab) & set(unl) and sorted(lab + unl) == sorted(set(patients))
    assert lab == sorted(lab) and unl == sorted(unl)
    big, _ = split_patients(patients, k_big, seed)
    assert set(lab) <= set(big)  # label sweeps only add patients


def test_parse_labeled():
    assert parse_labeled("3") == 3 and isinstance(parse_labeled("3"), int)
    assert parse_labeled("0.05") == 0.05
    assert parse_labeled("5%") == pytest.approx(0.05)
    with pytest.raises(MonaLabError, match="--labeled"):
        parse_labeled("three")
