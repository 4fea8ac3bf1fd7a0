"""The contrastive recipes in 3D on LA: ACTION / ACTION++, MONA and ARCO on a VNet with crops.

A tiny fake LA tree (volumes of 20 x 36 x 40 voxels [D, H, W] with a bright ellipsoid labelled
1: the ``fake_la`` fixture, tests/la_fixtures.py) lets every test run without the data:
each wired method goes through its pre-training stages and its fine-tuning, logs every term's
gradient at the VNet's tracked layers in dynamics.csv, resumes bit for bit after an
interruption, and is scored by ``mona-lab evaluate --dataset la``. The 3D views are exact axial
symmetries (`mona_lab.augment.views3d`), checked here against their definition.
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

import mona_lab.config.train_config as train_config
import mona_lab.engine as engine
from mona_lab.augment import CropBatches
from mona_lab.augment.views3d import AxialSymmetry, sample_axial_symmetry, strong_view_3d, weak_view_3d
from mona_lab.cli import main
from mona_lab.config import METHOD_CHOICES, TrainConfig
from mona_lab.errors import MonaLabError
from mona_lab.methods.views import make_views, random_window_3d, resize_labels_nearest, resize_probabilities
from mona_lab.training.checkpoint import load_checkpoint

from la_fixtures import VAL_IDS  # the fake_la fixture's tree (tests/conftest.py)

pytestmark = pytest.mark.usefixtures("single_thread")

LAYERS = ("first_conv", "bottleneck_conv", "classifier")
# the terms each recipe logs, and the stages it goes through (4 pre-training iterations)
TERMS = {
    "action++": ["inst_global", "sup", "inst_local", "unsup", "contrast", "saacl"],
    "action": ["inst_global", "sup", "inst_local", "unsup", "contrast"],
    "mona": ["inst_global", "inst_local", "sup", "unsup", "contrast", "eqv", "nn"],
    "arco-sg": ["inst_global", "inst_local", "sup", "unsup", "contrast", "eqv", "nn"],
}
STAGES = {
    "action++": ["global-distill"] * 2 + ["local-distill"] * 2 + ["anco"] * 3,
    "action": ["global-distill"] * 2 + ["local-distill"] * 2 + ["anco"] * 3,
    "mona": ["glcon"] * 4 + ["finetune"] * 3,
    "arco-sg": ["glcon"] * 4 + ["finetune"] * 3,
}


def _flags(root: Path) -> list[str]:
    return [
        "--dataset", "la", "--root", str(root), "--labeled", "2", "--crop-size", "16,32,32", "--width", "0.25",
        "--embed-dim", "16", "--batch-size", "4", "--window-stride", "8,16,16", "--validate-every", "4",
        "--dynamics-every", "1", "--pretrain-iterations", "4", "--device", "cpu", "--no-progress",
    ]  # fmt: skip


def _config(root: Path, out: Path, method: str, iterations: int = 3, **extra) -> TrainConfig:
    fields = dict(
        method=method, out=str(out), dataset="la", root=str(root), labeled=2, iterations=iterations,
        pretrain_iterations=4, crop_size="16,32,32", width=0.25, embed_dim=16, batch_size=4,
        window_stride="8,16,16", validate_every=4, dynamics_every=1, device="cpu", progress=False,
    )  # fmt: skip
    return TrainConfig(**{**fields, **extra})


def _rows(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _metrics(out: Path) -> dict:
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics.pop("cpu_seconds") > 0
    return metrics


@pytest.mark.parametrize("method", list(TERMS))
def test_a_3d_contrastive_run_logs_every_term_at_the_vnets_layers(fake_la, tmp_path, method, capsys):
    out = tmp_path / method
    assert main(["train", "--method", method, "--iterations", "3", "--out", str(out), *_flags(fake_la)]) == 0
    rows = _rows(out / "log.csv")
    assert [r["stage"] for r in rows] == STAGES[method]
    assert all(np.isfinite(float(r["total"])) for r in rows)
    if method == "action++":  # ATS: the cosine temperature moves during AnCo
        assert len({r["temperature"] for r in rows if r["stage"] == "anco"}) > 1
    dynamics = _rows(out / "dynamics.csv")
    assert [r["stage"] for r in dynamics] == STAGES[method]
    for term in TERMS[method]:
        for layer in LAYERS:
            values = [float(r[f"grad@{layer}:{term}"]) for r in dynamics if r[f"grad@{layer}:{term}"] != ""]
            assert values and all(v >= 0 and np.isfinite(v) for v in values), (term, layer)
        if term != "unsup":  # the teacher is rarely confident (0.97) this early
            assert max(float(r[f"grad@first_conv:{term}"] or 0) for r in dynamics) > 0, term
    assert float(dynamics[-1]["bn_running_var@bottleneck"]) > 0
    metrics = _metrics(out)
    assert metrics["volumes"] == VAL_IDS and metrics["window"] == {"patch": [16, 32, 32], "stride": [8, 16, 16]}
    assert load_checkpoint(out / "last.pt")["model_config"]["kind"] == "vnet3d"
    assert "mean Dice" in capsys.readouterr().out


@pytest.mark.parametrize(("method", "stop_at"), [("action++", 3), ("mona", 5)])
def test_an_interrupted_3d_contrastive_run_resumes_bit_for_bit(fake_la, tmp_path, monkeypatch, method, stop_at):
    """SIGTERM during step ``stop_at`` (action++: the last local-distillation step, so the
    resumed run starts AnCo; mona: inside fine-tuning, with the queues and banks full); the
    resumed run's log.csv, dynamics.csv and metrics.json equal an uninterrupted run's."""
    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    engine.train(_config(fake_la, whole, method))
    batch_at = CropBatches.batch_at

    def interrupting_batch_at(self, step):
        if step == stop_at:
            os.kill(os.getpid(), signal.SIGTERM)
        return batch_at(self, step)

    monkeypatch.setattr(CropBatches, "batch_at", interrupting_batch_at)
    with pytest.raises(engine.TrainingInterrupted, match="--resume"):
        engine.train(_config(fake_la, stopped, method))
    assert load_checkpoint(stopped / "last.pt")["step"] == stop_at + 1
    monkeypatch.setattr(CropBatches, "batch_at", batch_at)
    engine.train(_config(fake_la, stopped, method, resume=True))
    assert (stopped / "log.csv").read_text() == (whole / "log.csv").read_text()
    assert (stopped / "dynamics.csv").read_text() == (whole / "dynamics.csv").read_text()
    assert _metrics(stopped) == _metrics(whole)


def test_evaluate_scores_a_3d_action_plus_plus_checkpoint(fake_la, tmp_path, capsys):
    out = tmp_path / "run"
    flags = [f for f in _flags(fake_la) if f not in ("--dynamics-every", "1")]
    assert main(["train", "--method", "action++", "--iterations", "1", "--out", str(out), *flags]) == 0
    capsys.readouterr()
    args = ["evaluate", "--checkpoint", str(out / "last.pt"), "--dataset", "la", "--root", str(fake_la), "--device", "cpu"]
    assert main([*args, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["window"] == {"patch": [16, 32, 32], "stride": [8, 16, 16], "downsample": 1}
    assert summary["per_volume"] == _metrics(out)["per_volume"]  # the run's final scores, reproduced


@pytest.mark.parametrize("method", ["glcon", "arco-ns", "arco-sag"])
def test_the_other_contrastive_recipes_take_3d_steps(fake_la, tmp_path, method):
    result = engine.train(_config(fake_la, tmp_path / method, method, iterations=2, validate_every=10))
    rows = _rows(tmp_path / method / "log.csv")
    assert len(rows) == (2 if method == "glcon" else 6) and all(np.isfinite(float(r["total"])) for r in rows)
    assert 0.0 <= result.metrics["mean_dice"] <= 1.0


def test_every_method_is_wired_for_3d_and_a_new_one_is_refused_by_name(monkeypatch):
    assert set(train_config.VOLUME_METHODS) == set(METHOD_CHOICES)
    for method in METHOD_CHOICES:
        assert TrainConfig(method=method, out="x", dataset="la", la_downsample=2).spatial_dims == 3
    monkeypatch.setattr(train_config, "VOLUME_METHODS", ("supervised", "mean-teacher", "action++"))
    with pytest.raises(MonaLabError, match="--method mona is not wired for 3D.*supervised, mean-teacher, action\\+\\+"):
        TrainConfig(method="mona", out="x", dataset="la")
    monkeypatch.undo()
    with pytest.raises(MonaLabError, match="--eqv-intensity is 2D only"):
        TrainConfig(method="mona", out="x", dataset="la", eqv_intensity=True)


def test_the_local_box_keeps_the_windows_share_of_the_crop():
    cpu = TrainConfig(method="action++", out="x", dataset="la", la_downsample=2)  # crop 32,48,48
    assert cpu.local_window_shape == (16, 24, 24)  # 64 / 128 of every side
    assert TrainConfig(method="mona", out="x", dataset="la").local_window_shape == (40, 56, 56)  # 80,112,112
    assert TrainConfig(method="mona", out="x", dataset="la", crop_size="16,32,32", local_region=200).local_window_shape == (16, 32, 32)
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        window = random_window_3d((16, 32, 32), (8, 16, 16), generator)
        assert [size for _, size in window] == [8, 16, 16]
        assert all(0 <= start <= side - size for (start, size), side in zip(window, (16, 32, 32)))


def test_the_3d_views_are_exact_axial_symmetries():
    generator = torch.Generator().manual_seed(1)
    images = torch.randn(4, 1, 4, 6, 6)
    labels = torch.randint(0, 2, (4, 4, 6, 6))
    weak = weak_view_3d(images, labels)
    assert weak.images is images and weak.valid_mask.all()
    strong = strong_view_3d(images, labels, generator, identity_rows=2)
    assert strong.transform.quarter_turns[:2].tolist() == [0, 0] and not strong.transform.flips[:2].any()
    for i in range(4):
        k, flip = int(strong.transform.quarter_turns[i]), bool(strong.transform.flips[i])
        expected = torch.rot90(images[i], k, dims=(-2, -1))
        expected = expected.flip(-1) if flip else expected
        assert torch.equal(strong.images[i], expected)
        moved = torch.rot90(labels[i], k, dims=(-2, -1))
        assert torch.equal(strong.labels[i], moved.flip(-1) if flip else moved)
    logits = torch.randn(4, 2, 4, 6, 6)  # outputs follow the images exactly, voxel for voxel
    assert torch.equal(strong.apply_to_outputs(logits.softmax(1)).argmax(1), strong.apply_to_labels(logits.argmax(1)))
    draws = sample_axial_symmetry(400, (4, 6, 6), torch.Generator().manual_seed(2))
    assert set(draws.quarter_turns.tolist()) == {0, 1, 2, 3} and 0.4 < draws.flips.float().mean() < 0.6
    flat = sample_axial_symmetry(50, (4, 6, 8), torch.Generator().manual_seed(2))
    assert set(flat.quarter_turns.tolist()) <= {0, 2}  # H != W: no quarter turns
    with pytest.raises(ValueError, match="H == W"):
        AxialSymmetry(torch.tensor([1]), torch.tensor([False])).apply(torch.zeros(1, 4, 6, 8))
    views = make_views(images[:2], labels[:2], images[2:], generator, strong_labeled=False)
    assert torch.equal(views.strong.images[:2], images[:2]) and (views.weak.labels[2:] == -1).all()
    assert tuple(resize_labels_nearest(labels, (2, 3, 3)).shape) == (4, 2, 3, 3)
    probs = resize_probabilities(logits.softmax(1), (2, 3, 3))
    assert tuple(probs.shape) == (4, 2, 2, 3, 3) and torch.allclose(probs.sum(1), torch.ones(4, 2, 3, 3))
