"""Class statistics, the ``mona-lab data stats`` command, preprocessing, and the real ACDC
numbers (skipped without ``MONA_LAB_ACDC``)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from mona_lab.cli import main
from mona_lab.data import load_dataset
from mona_lab.data.preprocess import ct_window_normalize, minmax_normalize, resize_images, resize_labels
from mona_lab.data.stats import (
    class_fractions,
    class_pixel_counts,
    expected_query_share,
    fit_zipf_exponent,
    rank_frequency,
    slice_presence,
)

# ---------------------------------------------------------------- statistics


@pytest.mark.parametrize("s", [0.0, 0.7, 1.0, 2.3])
def test_zipf_fit_recovers_an_exact_power_law(s):
    fg = np.arange(1, 6, dtype=float) ** -s
    fractions = np.concatenate([[50.0], np.random.default_rng(0).permutation(fg)])  # any class order
    assert fit_zipf_exponent(fractions) == pytest.approx(s, abs=1e-9)


def test_zipf_fit_needs_two_classes_and_ignores_empty_ones():
    assert fit_zipf_exponent([0.9, 0.08, 0.02, 0.0]) == pytest.approx(np.log(4) / np.log(2))
    with pytest.raises(ValueError, match="at least two classes"):
        fit_zipf_exponent([0.9, 0.1, 0.0])


def test_counts_fractions_ranks_presence_and_query_share():
    labels = np.zeros((4, 5, 5), dtype=np.int64)
    labels[0, 0, :3] = 1
    labels[1, 0, :2] = 2
    labels[:, 4, 4] = 3
    counts = class_pixel_counts([labels[:2], labels[2:]], 4)
    assert counts.tolist() == [100 - 3 - 2 - 4, 3, 2, 4]
    frac = class_fractions(counts)
    assert frac.sum() == pytest.approx(1.0)
    ranks, sorted_f, classes = rank_frequency(frac)
    assert ranks.tolist() == [1, 2, 3] and classes.tolist() == [3, 1, 2] and sorted_f[0] == frac[3]
    assert slice_presence(labels, 4).tolist() == [1.0, 0.25, 0.25, 1.0]
    np.testing.assert_allclose(expected_query_share(frac), frac * 256)
    with pytest.raises(ValueError, match=r"0\.\.3"):
        class_pixel_counts(labels + 1, 4)


# ---------------------------------------------------------------- CLI


def test_stats_cli_table(capsys):
    assert main(["data", "stats", "--dataset", "phantom"]) == 0
    out = capsys.readouterr().out
    assert "Zipf exponent" in out
    for name in ("background", "RV", "Myo", "LV", "PM", "PE"):
        assert f"\n{name}" in out


def test_stats_cli_json_follows_the_exponent(capsys):
    results = {}
    for s in ("1.0", "2.0"):
        assert main(["data", "stats", "--dataset", "phantom", "--json", "--zipf-exponent", s]) == 0
        payload = json.loads(capsys.readouterr().out)
        results[s] = payload
    one = results["1.0"]
    assert one["dataset"] == "phantom" and one["classes"][0] == "background" and len(one["classes"]) == 6
    assert sum(one["fractions"]) == pytest.approx(1.0) and one["fractions"][0] > 0.9
    assert one["rank_order"][0] == "LV"
    assert one["zipf_exponent"] == pytest.approx(1.0, abs=0.2)
    assert results["2.0"]["zipf_exponent"] == pytest.approx(2.0, abs=0.2)


def test_stats_cli_missing_root_is_one_line_exit_2(tmp_path, capsys):
    assert main(["data", "stats", "--dataset", "acdc", "--root", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mona-lab: error: ACDC folder") and err.count("\n") == 1 and "none" in err


def test_importing_the_data_package_stays_light():
    code = "import sys, mona_lab.data; print('matplotlib' in sys.modules, 'h5py' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


# ---------------------------------------------------------------- preprocessing


def test_minmax_and_ct_window():
    x = np.array([[2.0, 4.0], [6.0, 10.0]], dtype=np.float32)
    np.testing.assert_allclose(minmax_normalize(x), [[0, 0.25], [0.5, 1.0]])
    torch.testing.assert_close(minmax_normalize(torch.from_numpy(x)), torch.tensor([[0, 0.25], [0.5, 1.0]]))
    assert not minmax_normalize(np.ones((2, 2))).any()
    hu = np.array([-1000.0, -200.0, 25.0, 250.0, 3000.0])
    np.testing.assert_allclose(ct_window_normalize(hu), [0.0, 0.0, 0.5, 1.0, 1.0])


def test_resize_bilinear_images_nearest_labels():
    img = torch.arange(16, dtype=torch.float32).reshape(1, 4, 4)
    assert torch.equal(resize_images(img, 4)[0, 0], img[0])  # same size: unchanged
    up = resize_images(img, 8)
    assert up.shape == (1, 1, 8, 8) and up.min() >= 0 and up.max() <= 15
    lab = torch.tensor([[[0, 0, 3, 3], [0, 0, 3, 3], [1, 1, 2, 2], [1, 1, 2, 2]]])
    big = resize_labels(lab, (8, 6))
    assert big.shape == (1, 8, 6) and big.dtype == torch.int64
    assert set(big.unique().tolist()) == {0, 1, 2, 3}  # no blended classes
    assert torch.equal(resize_labels(resize_labels(lab, 8), 4), lab)  # exact 2x round trip


# ---------------------------------------------------------------- real ACDC


_LOADED: dict[str, object] = {}


@pytest.fixture
def acdc_data(acdc_root):
    """Real ACDC at 64 x 64, read once per test session (1312 h5 files take seconds)."""
    key = str(acdc_root)
    if key not in _LOADED:
        _LOADED[key] = load_dataset("acdc", root=acdc_root, image_size=64)
    return _LOADED[key]


def test_real_acdc_split_sizes(acdc_data):
    assert acdc_data.num_train_slices == 1312
    assert len(acdc_data.patients) == 70
    assert len(acdc_data.val_volumes) == 20
    assert {v.patient_id for v in acdc_data.val_volumes}.isdisjoint(acdc_data.patients)
    assert acdc_data.train_images.shape == (1312, 1, 64, 64)


def test_real_acdc_class_fractions_match_the_reference(acdc_data):
    frac = class_fractions(acdc_data.native_class_counts)
    np.testing.assert_allclose(frac, [0.962, 0.0118, 0.0133, 0.0129], atol=1e-3)


def test_real_acdc_ratios_select_1_3_7_patients(acdc_data):
    from mona_lab.data import split_patients

    assert [len(split_patients(acdc_data.patients, r, seed=0)[0]) for r in (0.01, 0.05, 0.10)] == [1, 3, 7]
