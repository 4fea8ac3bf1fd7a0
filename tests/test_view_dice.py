"""benchmarks/view_dice.py: the weak-vs-strong view Dice notebook 03 prints (MONA Table IV)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from mona_lab.data import load_dataset
from mona_lab.lab.ablation import load_grid
from mona_lab.lab.run_records import load_results, results_path

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("view_dice_script", ROOT / "benchmarks" / "view_dice.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_evaluation_slices_come_from_unlabelled_patients_and_show_every_class():
    data = load_dataset("phantom", fast=True)
    labeled = sorted(set(data.train_patient_ids))[:2]
    images, labels = _script().evaluation_slices(data, labeled, 4)
    assert images.shape[0] == labels.shape[0] == 4 and images.shape[1:] == data.train_images.shape[1:]
    for label in labels:
        assert torch.unique(label).tolist() == list(range(data.num_classes))
    labelled_slices = data.train_images[torch.tensor([p in labeled for p in data.train_patient_ids])]
    for image in images:  # none of the chosen slices is a labelled patient's
        assert not any(torch.equal(image, other) for other in labelled_slices)
    with pytest.raises(SystemExit, match="lower --slices"):
        _script().evaluation_slices(data, labeled, 10_000)


def test_stored_view_dice_is_the_grids_supervised_network_on_three_seeds():
    views = load_results(results_path("view_dice.json"))
    meta = views["meta"]
    assert meta["command"] == "python benchmarks/view_dice.py" and meta["seeds"] == [0, 1, 2] and meta["complete"]
    grid = load_grid()
    assert meta["classes"] == grid["metadata"]["class_names"][1:]
    supervised = {r["seed"]: r for r in grid["runs"] if r["name"] == "supervised (UNet-L)"}
    for run in views["runs"]:  # the same training (bit for bit) as the stored grid's row
        assert run["validation_mean_dice"] == supervised[run["seed"]]["mean_dice"]
        assert run["labeled_patients"] == supervised[run["seed"]]["labeled_patients"]
        for kind in ("weak", "strong"):
            assert sorted(run["view_dice"][kind]) == sorted(meta["classes"])  # keys stored sorted
            assert all(0.0 <= v <= 1.0 for v in run["view_dice"][kind].values())
        assert run["cpu_seconds"] > 0
