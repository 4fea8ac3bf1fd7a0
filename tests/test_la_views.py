"""Notebook 08's LA pictures and table (mona_lab.lab.viz.la_views, mona_lab.lab.results).

Synthetic volumes only: a ball labelled 1 and the same ball shifted as the prediction, whose
Dice is counted here by hand; the table comes from a small payload in the format
``benchmarks/la_reduced.py`` writes (its own ``summarise`` and ``acdc_reduced.paired_gains``).
One test trains a one-step VNet on the fake LA tree and predicts a volume with its checkpoint.
"""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from mona_lab.cli import main  # noqa: E402
from mona_lab.errors import MonaLabError  # noqa: E402
from mona_lab.lab.results import la_benchmark_table, predict_la_volume  # noqa: E402
from mona_lab.lab.viz.la_views import atrium_slices, la_slice_montage, la_volume_view  # noqa: E402

SHAPE = (24, 32, 32)  # [D, H, W]
SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "la_reduced.py"


def _ball(centre, radius: float = 6.0) -> np.ndarray:
    d, h, w = np.meshgrid(*(np.arange(n) for n in SHAPE), indexing="ij")
    return ((d - centre[0]) ** 2 + (h - centre[1]) ** 2 + (w - centre[2]) ** 2 <= radius**2).astype(np.uint8)


@pytest.fixture
def volumes():
    label = _ball((12, 16, 16))
    prediction = _ball((12, 16, 19))  # shifted 3 voxels along W
    image = label * 2.0 + np.random.default_rng(0).normal(0.0, 0.3, SHAPE)
    yield image.astype(np.float32), label, prediction
    plt.close("all")


def _dice(p, g) -> float:
    return 2.0 * np.logical_and(p, g).sum() / (p.sum() + g.sum())


def test_the_montage_shows_n_slices_through_the_atrium_with_their_dice(volumes):
    image, label, prediction = volumes
    fig = la_slice_montage(image, torch.from_numpy(label), prediction, n_slices=5)
    assert len(fig.axes) == 5
    chosen = atrium_slices(label, prediction, 5)
    assert chosen == sorted(chosen) and len(set(chosen)) == 5
    assert chosen[0] == 6 and chosen[-1] == 18  # the ball's first and last slices (centre 12, radius 6)
    for ax, index in zip(fig.axes, chosen):
        assert (label[index] | prediction[index]).any()  # every slice shown holds the atrium
        title = ax.get_title()
        assert title.startswith(f"D = {index}:")
        assert float(re.search(r"Dice (\d\.\d{3})", title).group(1)) == pytest.approx(_dice(prediction[index], label[index]), abs=5e-4)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["label", "prediction"]
    across = la_slice_montage(image, label, prediction, n_slices=40, axis=2)  # fewer slices hold it than asked
    columns = np.flatnonzero((label | prediction).any(axis=(0, 1)))
    assert len(across.axes) == len(columns) and across.axes[0].get_title().startswith(f"W = {columns[0]}:")


def test_mismatched_shapes_are_refused_naming_both(volumes):
    image, label, prediction = volumes
    with pytest.raises(ValueError, match=r"label \(24, 32, 32\), prediction \(24, 32, 30\)"):
        la_slice_montage(image, label, prediction[:, :, :30])
    with pytest.raises(ValueError, match=r"3 dimensions.*label \(24, 32, 32\), prediction \(32, 32\)"):
        la_volume_view(label, prediction[0])
    with pytest.raises(ValueError, match="axis"):
        la_slice_montage(image, label, prediction, axis=3)
    with pytest.raises(ValueError, match="spacing"):
        la_volume_view(label, prediction, spacing=(1, 0, 1))


def test_the_3d_view_has_the_label_and_the_prediction_and_their_dice(volumes):
    _, label, prediction = volumes
    fig = la_volume_view(label, prediction, spacing=(2.0, 1.0, 1.0), max_points=2_000)
    assert [t.type for t in fig.data] == ["isosurface", "isosurface"]
    assert [t.name for t in fig.data] == ["label", "prediction"]
    assert f"Dice {_dice(prediction, label):.3f}" in fig.layout.title.text
    # the box of both balls with a voxel of margin, D 5-19, H 9-23, W 9-26 (4050 voxels), every 2nd voxel
    # (8 x 8 x 9 = 576 <= 2000), padded by one on each side
    assert "every 2 voxel(s)" in fig.layout.title.text and all(len(t.value) == 10 * 10 * 11 for t in fig.data)
    assert max(fig.data[0].value) == 1.0 and fig.data[0].z.max() == 2.0 * 21 and fig.data[0].x.max() == 27.0


def test_the_benchmark_table_prints_every_method_and_its_interval():
    spec = importlib.util.spec_from_file_location("la_reduced", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    def run(dice, hd95):
        return {"mean_dice": dice, "cpu_seconds": 10.0, "shares": None,
                "per_class": {"left atrium": {"dice": dice, "jaccard": dice / (2 - dice), "hd95": hd95, "asd": hd95 / 4}}}  # fmt: skip

    results = {"supervised": {0: run(0.50, 20.0), 1: run(0.60, 16.0), 2: run(0.55, 18.0)},
               "action++": {0: run(0.70, 10.0), 1: run(0.72, 8.0), 2: run(0.69, 9.0)},
               "mona": {0: run(0.52, 19.0)}, "arco-sg": {}}  # fmt: skip
    payload = {"args": {"methods": ["supervised", "mean-teacher", "action++", "mona", "arco-sg"]},
               "summary": bench.summarise(results), "gains": bench.acdc_reduced.paired_gains(results, "supervised"),
               "runs": {m: {str(s): r for s, r in by.items()} for m, by in results.items()}}  # fmt: skip
    text = la_benchmark_table(json.loads(json.dumps(payload)))  # as read back from the JSON file
    rows = {line.split()[0]: line for line in text.splitlines()[1:6]}
    assert list(rows) == ["supervised", "mean-teacher", "action++", "mona", "arco-sg"]
    assert "0.550 ± 0.041" in rows["supervised"] and "(baseline)" in rows["supervised"]
    gain = payload["gains"]["action++"]
    assert f"{gain['mean']:+6.1f} [{gain['ci95'][0]:+6.1f}, {gain['ci95'][1]:+6.1f}]" in rows["action++"]
    assert "+15.3 [" in rows["action++"] and "9.0 ± 0.8" in rows["action++"]  # gain, then 95HD in voxels
    assert "+2.0 [  n/a,   n/a]" in rows["mona"]  # one seed: no interval
    assert "no runs yet" in rows["mean-teacher"] and "no runs yet" in rows["arco-sg"]
    assert "seed 0 +20.0 seed 1 +12.0 seed 2 +14.0" in text
    with pytest.raises(MonaLabError, match="la_reduced"):
        la_benchmark_table({"runs": {}})


def test_predict_la_volume_reproduces_the_runs_final_scores(fake_la, tmp_path, capsys):
    out = tmp_path / "run"
    flags = ["--dataset", "la", "--root", str(fake_la), "--labeled", "2", "--crop-size", "16,32,32", "--width", "0.25",
             "--batch-size", "2", "--window-stride", "8,16,16", "--device", "cpu", "--no-progress"]  # fmt: skip
    assert main(["train", "--method", "supervised", "--iterations", "1", "--out", str(out), *flags]) == 0
    capsys.readouterr()
    scored = {r["volume"]: r["dice"] for r in json.loads((out / "metrics.json").read_text())["per_volume"]}
    result = predict_la_volume(out, "VAL01", root=fake_la, device="cpu")
    assert result.case_id == "VAL01" and result.image.shape == result.label.shape == result.prediction.shape == (20, 36, 40)
    from mona_lab.metrics import dice_per_class

    assert float(dice_per_class(result.prediction, result.label, 2)[0]) == pytest.approx(scored["VAL01"], abs=1e-9)
    by_file = predict_la_volume(out / "last.pt", fake_la / "2018LA_Seg_Training Set" / "VAL01" / "mri_norm2.h5", device="cpu")
    assert np.array_equal(by_file.prediction, result.prediction)
    with pytest.raises(MonaLabError, match="does not exist"):
        predict_la_volume(tmp_path, "VAL01", root=fake_la)
