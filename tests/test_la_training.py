"""3D training and evaluation on LA: a VNet on random crops, sliding-window scores per volume.

Most tests build a small fake LA tree in tmp_path (the ``fake_la`` fixture, tests/la_fixtures.py:
volumes of 20 x 36 x 40 voxels [D, H, W] holding a bright ellipsoid labelled 1), so they run
without the data: supervised and mean-teacher runs write their files and the VNet's layers in
dynamics.csv, an interrupted run resumes bit for bit, ``mona-lab evaluate --dataset la`` gives
one row per volume, and bad settings are refused plainly. One test runs on the real data
(``../shared/data/LA`` or ``$MONA_LAB_LA``) and skips with a reason when it is absent; nothing
made from it is written outside tmp_path.
"""
from __future__ import annotations

import csv
import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

import mona_lab.engine as engine
from mona_lab.augment import CropBatches
from mona_lab.cli import main
from mona_lab.config import TrainConfig, parse_triple
from mona_lab.data import load_volume_dataset, split_patients
from mona_lab.data.la import LA_ENV_VAR
from mona_lab.data.nifti import write_nifti
from mona_lab.errors import MonaLabError
from mona_lab.training.checkpoint import load_checkpoint
from mona_lab.training.validation import evaluate_volumes_3d

from la_fixtures import SHAPE_XYZ, TRAIN_IDS, VAL_IDS, ellipsoid_case, real_la_root_or_none

pytestmark = pytest.mark.usefixtures("single_thread")


def _flags(root: Path) -> list[str]:
    return [
        "--dataset", "la", "--root", str(root), "--labeled", "2", "--crop-size", "16,32,32", "--width", "0.25",
        "--batch-size", "4", "--window-stride", "4,8,8", "--validate-every", "2", "--dynamics-every", "1",
        "--device", "cpu", "--no-progress",
    ]  # fmt: skip


def _config(root: Path, out: Path, method: str = "mean-teacher", iterations: int = 4, **extra) -> TrainConfig:
    return TrainConfig(
        method=method, out=str(out), dataset="la", root=str(root), labeled=2, iterations=iterations, crop_size="16,32,32",
        width=0.25, batch_size=4, window_stride="4,8,8", validate_every=2, dynamics_every=1, device="cpu",
        progress=False, **extra,
    )  # fmt: skip


def _rows(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _metrics(out: Path) -> dict:
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics.pop("cpu_seconds") > 0
    return metrics


@pytest.mark.parametrize("method", ["supervised", "mean-teacher"])
def test_a_3d_run_writes_its_files_with_the_vnets_layers_in_the_dynamics(fake_la, tmp_path, method, capsys):
    out = tmp_path / method
    assert main(["train", "--method", method, "--iterations", "3", "--out", str(out), *_flags(fake_la)]) == 0
    for name in ("config.json", "log.csv", "last.pt", "best.pt", "metrics.json", "dynamics.csv"):
        assert (out / name).is_file(), name
    config = TrainConfig.load(out / "config.json")
    assert (config.crop_size, config.la_downsample, config.window_stride, config.val_window_stride) == ("16,32,32", 1, "4,8,8", "8,16,16")
    rows = _rows(out / "log.csv")
    assert [int(r["step"]) for r in rows] == [0, 1, 2]
    assert rows[1]["val_mean_dice"] != "" and rows[2]["val_mean_dice"] != ""  # every 2, and the last
    metrics = _metrics(out)
    assert metrics["volumes"] == VAL_IDS and metrics["protocol"] == "la" and metrics["asd_units"] == "voxels"
    assert metrics["window"] == {"patch": [16, 32, 32], "stride": [4, 8, 8]}  # the final scores: --window-stride
    assert set(metrics["per_class"]) == {"left atrium"}
    assert {"mean_dice", "mean_jaccard", "mean_hd95", "mean_asd"} <= set(metrics)
    assert float(rows[2]["val_mean_dice"]) == pytest.approx(metrics["mean_dice"], rel=1e-5)
    assert [r["volume"] for r in metrics["per_volume"]] == VAL_IDS
    dynamics = _rows(out / "dynamics.csv")
    terms = ["sup"] if method == "supervised" else ["sup", "consistency"]
    for layer in ("first_conv", "bottleneck_conv", "classifier"):
        assert float(dynamics[0][f"weight_norm@{layer}"]) > 0
        for term in terms:
            assert float(dynamics[0][f"grad@{layer}:{term}"]) >= 0, (layer, term)
        assert float(dynamics[0][f"grad@{layer}:sup"]) > 0
    assert float(dynamics[0]["bn_running_var@bottleneck"]) > 0
    state = load_checkpoint(out / "best.pt")
    assert state["model_config"]["kind"] == "vnet3d"
    assert "mean Dice" in capsys.readouterr().out


def test_an_interrupted_3d_run_resumes_bit_for_bit(fake_la, tmp_path, monkeypatch):
    """SIGTERM during step 2 stops the run after it (last.pt at 3); the resumed run's log.csv,
    dynamics.csv and metrics.json equal an uninterrupted run's."""
    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    engine.train(_config(fake_la, whole, iterations=5))
    batch_at = CropBatches.batch_at

    def interrupting_batch_at(self, step):
        if step == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return batch_at(self, step)

    monkeypatch.setattr(CropBatches, "batch_at", interrupting_batch_at)
    with pytest.raises(engine.TrainingInterrupted, match="--resume"):
        engine.train(_config(fake_la, stopped, iterations=5))
    assert load_checkpoint(stopped / "last.pt")["step"] == 3
    monkeypatch.setattr(CropBatches, "batch_at", batch_at)
    engine.train(_config(fake_la, stopped, iterations=5, resume=True))
    assert (stopped / "log.csv").read_text() == (whole / "log.csv").read_text()
    assert (stopped / "dynamics.csv").read_text() == (whole / "dynamics.csv").read_text()
    assert _metrics(stopped) == _metrics(whole)


def test_evaluate_scores_each_validation_volume(fake_la, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--method", "supervised", "--iterations", "2", "--out", str(out), *_flags(fake_la)]) == 0
    capsys.readouterr()
    table = tmp_path / "rows.csv"
    args = ["evaluate", "--checkpoint", str(out / "last.pt"), "--dataset", "la", "--root", str(fake_la), "--device", "cpu"]
    assert main([*args, "--csv", str(table)]) == 0
    text = capsys.readouterr().out
    assert all(case in text for case in VAL_IDS) and "mean ± sd" in text and "Jaccard" in text
    rows = _rows(table)
    assert [r["volume"] for r in rows] == VAL_IDS
    assert {"dice", "jaccard", "hd95", "asd", "pred_empty", "target_empty"} <= set(rows[0])
    assert main([*args, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["window"] == {"patch": [16, 32, 32], "stride": [4, 8, 8], "downsample": 1}
    metrics = _metrics(out)
    assert summary["per_volume"] == metrics["per_volume"]  # the run's final scores, reproduced
    assert main(["evaluate", "--checkpoint", str(out / "last.pt"), "--dataset", "phantom", "--device", "cpu"]) == 2
    assert "holds a 3D VNet, which cannot be evaluated on --dataset phantom" in capsys.readouterr().err


def test_crops_are_a_function_of_seed_and_step_and_never_read_unlabelled_labels(fake_la):
    data = load_volume_dataset("la", fake_la)
    labeled, unlabeled = split_patients(data.patients, 2, seed=0)
    a = CropBatches(data, labeled, unlabeled, crop_size=(16, 32, 32), batch_size=4, seed=3)
    for row in a.data.slice_indices(unlabeled).tolist():
        a.data.train_labels[row].fill_(7)  # corrupted: must never reach a batch
    first = [a.batch_at(s) for s in range(3)]
    b = CropBatches(load_volume_dataset("la", fake_la), labeled, unlabeled, crop_size=(16, 32, 32), batch_size=4, seed=3)
    b.load_state_dict({**a.state_dict(), "step": 2})
    assert b.step == 2 and torch.equal(next(b).unlabeled_images, first[2].unlabeled_images)
    batch = first[0]
    assert tuple(batch.labeled_images.shape) == (2, 1, 16, 32, 32) and tuple(batch.labeled_labels.shape) == (2, 16, 32, 32)
    assert tuple(batch.unlabeled_images.shape) == (2, 1, 16, 32, 32)
    assert int(torch.cat([f.labeled_labels for f in first]).max()) <= 1
    assert not torch.equal(first[0].labeled_images, first[1].labeled_images)
    with pytest.raises(MonaLabError, match="crop_size"):
        CropBatches(data, labeled, unlabeled, crop_size=(16, 16, 16), batch_size=4, seed=3).load_state_dict(a.state_dict())


def test_bad_3d_settings_are_refused_plainly(fake_la, tmp_path):
    with pytest.raises(MonaLabError, match="multiple of 16"):
        TrainConfig(method="supervised", out="x", dataset="la", crop_size="24,32,32")
    with pytest.raises(MonaLabError, match="must not exceed the crop"):
        TrainConfig(method="supervised", out="x", dataset="la", crop_size="16,32,32", window_stride="4,40,8")
    with pytest.raises(MonaLabError, match="--crop-size apply to 3D data sets"):
        TrainConfig(method="supervised", out="x", dataset="phantom", crop_size="16,32,32")
    with pytest.raises(MonaLabError, match="la-downsample"):
        TrainConfig(method="supervised", out="x", dataset="la", la_downsample=0)
    with pytest.raises(MonaLabError, match=r"larger than training volume .* downsampling by 2"):
        engine.train(_config(fake_la, tmp_path / "big", la_downsample=2))  # [10, 18, 20] < 16,32,32
    assert not (tmp_path / "big").exists()
    config = TrainConfig(method="supervised", out="x", dataset="la", la_downsample=2)  # the defaults, resolved
    assert (config.crop_shape, config.window_stride_shape, config.val_window_stride_shape) == ((32, 48, 48), (2, 8, 8), (16, 24, 24))
    paper = TrainConfig(method="supervised", out="x", dataset="la")
    assert (paper.crop_size, paper.window_stride) == ("80,112,112", "4,18,18")
    assert parse_triple("32x64x64", "--crop-size") == parse_triple([32, 64, 64], "-") == (32, 64, 64)
    assert parse_triple("16", "--crop-size") == (16, 16, 16)
    with pytest.raises(MonaLabError, match="--crop-size must be D,H,W"):
        parse_triple("32,64", "--crop-size")


def test_a_folder_of_nifti_pairs_trains_through_the_same_path(tmp_path):
    root = tmp_path / "pairs"
    for i, case in enumerate(TRAIN_IDS + VAL_IDS):
        image, label = (a.transpose(2, 1, 0) for a in ellipsoid_case(i))  # NIfTI writer takes [D, H, W]
        write_nifti(root / "images" / f"{case}.nii.gz", image, None, np.float32)
        write_nifti(root / "labels" / f"{case}.nii.gz", label, None, np.uint8)
    (root / "train.list").write_text("\n".join(TRAIN_IDS) + "\n")
    (root / "val.list").write_text("\n".join(VAL_IDS) + "\n")
    data = load_volume_dataset("la", root)
    assert data.notes["layout"] == "nifti-pairs" and data.patients == TRAIN_IDS
    assert [tuple(t.shape) for t in data.train_images] == [SHAPE_XYZ[::-1]] * len(TRAIN_IDS)
    result = engine.train(_config(root, tmp_path / "run", method="supervised", iterations=1), data)
    assert [r["volume"] for r in result.metrics["per_volume"]] == VAL_IDS


def test_a_short_run_on_the_real_la_data_starts_and_evaluates_a_volume(tmp_path):
    root = real_la_root_or_none()
    if root is None:
        pytest.skip(f"real LA data not found: set {LA_ENV_VAR} to a folder in the UA-MT layout "
                    "('2018LA_Seg_Training Set/<ID>/mri_norm2.h5', train.list, val.list) or put it at ../shared/data/LA")
    data = load_volume_dataset("la", root, downsample=2)
    assert len(data.patients) == 36 and len(data.val_volumes) == 10
    data.val_volumes, data.val_inputs = data.val_volumes[:1], data.val_inputs[:1]  # one volume keeps it short
    config = TrainConfig(
        method="supervised", out=str(tmp_path / "run"), dataset="la", root=str(root), labeled=4, iterations=1,
        la_downsample=2, crop_size="32,64,64", window_stride="16,32,32", width=0.25, batch_size=2, device="cpu",
        progress=False,
    )  # fmt: skip
    result = engine.train(config, data)
    assert len(result.metrics["labeled_patients"]) == 4
    row = result.metrics["per_volume"][0]
    assert row["volume"] == data.val_volumes[0].case_id and 0.0 <= row["dice"] <= 1.0
    model = result.method.student.eval()
    again = evaluate_volumes_3d(lambda x: model(x).logits, data.val_volumes, data.val_inputs, data.class_names,
                                (32, 64, 64), (16, 32, 32), "cpu")  # fmt: skip
    assert again["per_volume"] == result.metrics["per_volume"]
