"""The softmax regimes ACTION++ motivates ATS with, head/tail split, and the SAACL allocation
trace (means, one-to-one allocation, nearest-centre accuracy)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mona_lab.lab.allocation_trace import nearest_centre_accuracy, trace_center_allocation
from mona_lab.lab.temperature_study import circle_clusters, head_tail_classes, softmax_summary, softmax_weights
from mona_lab.schedules import TemperatureSchedule


def test_small_tau_is_instance_discrimination_large_tau_group_wise() -> None:
    emb, labels = circle_clusters((30, 10, 3), spread=0.2, seed=0)
    assert emb.shape == (43, 2) and np.allclose(np.linalg.norm(emb, axis=1), 1)
    cold, warm = softmax_summary(emb, labels, 0.02), softmax_summary(emb, labels, 2.0)
    assert cold["nearest"].mean() > 3 * warm["nearest"].mean()
    assert cold["effective_keys"].mean() < warm["effective_keys"].mean() <= 42 + 1e-9
    head = labels == 0
    assert warm["same_class"][head].mean() > warm["same_class"][~head].mean(), "warm softmax favours the big class"
    w = softmax_weights(emb, 5, 0.1)
    assert w[5] == 0 and w.sum() == pytest.approx(1.0)
    probs = np.array([softmax_weights(emb, i, 0.5) for i in range(3)])
    same = softmax_summary(emb, labels, 0.5)["same_class"][:3]
    assert np.allclose(same, (probs * (labels[None, :] == labels[:3, None])).sum(1))
    with pytest.raises(ValueError, match="tau"):
        softmax_weights(emb, 0, 0.0)
    with pytest.raises(ValueError, match="counts"):
        circle_clusters((3, 0))


def test_head_tail_split_by_median_frequency() -> None:
    labels = torch.zeros(1, 10, 10, dtype=torch.long)
    labels[0, 0, :8] = 1
    labels[0, 1, :4] = 2
    labels[0, 2, :2] = 3
    split = head_tail_classes(labels, ["bg", "a", "b", "c"])
    assert split["head"] == ["a"] and split["tail"] == ["b", "c"]
    assert split["fractions"]["a"] == pytest.approx(0.08)


def test_allocation_trace_records_a_one_to_one_allocation(single_thread) -> None:
    g = torch.Generator().manual_seed(0)
    images = torch.rand(6, 1, 32, 32, generator=g)
    labels = torch.zeros(6, 32, 32, dtype=torch.long)
    labels[:, 8:20, 8:20] = 1
    labels[:, 22:30, 4:12] = 2
    images = images + labels[:, None].float()
    trace, model, saacl = trace_center_allocation(
        images, labels, ("bg", "a", "b"), steps=3, embed_dim=3, batch_size=2, num_samples=8,
        temperature=TemperatureSchedule("cosine", total=3), width=0.25, seed=0,
    )
    assert trace.class_means.shape == (3, 3, 3) and trace.assignment.shape == (3, 3)
    assert all(sorted(row) == [0, 1, 2] for row in trace.assignment.tolist()), "one centre per class"
    assert np.allclose(trace.temperature, [1.0, 0.325, 0.325])
    assert np.all(trace.centre_distances() <= 2 + 1e-9) and trace.reassignments()[0] == 0
    assert np.array_equal(trace.assignment[-1], saacl.assignment.numpy())
    accuracy = nearest_centre_accuracy(model, saacl, images, labels)
    assert accuracy.shape == (3,) and np.all((accuracy >= 0) & (accuracy <= 1))
    with pytest.raises(ValueError, match="batch_size"):
        trace_center_allocation(images[:1], labels[:1], ("bg", "a", "b"), steps=1, batch_size=2)


# ------------------------------------------------------------------ the stored study's script
def _script(name: str):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"{name}_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _stable(results: dict) -> dict:
    meta = dict(results["meta"])
    for key in ("created", "wall_seconds"):  # the time of writing and this call's wall time
        meta.pop(key)
    return {**results, "meta": meta}


def test_temperature_runs_record_commands_seeds_cpu_and_resume(tmp_path, capsys) -> None:
    import json

    from mona_lab.lab.run_records import load_results

    out, runs = tmp_path / "t.json", tmp_path / "runs"
    argv = ["--fast", "--workers", "1", "--out", str(out), "--runs", str(runs), "--seeds", "3"]
    script = _script("temperature_runs")
    assert script.main(argv) == 0
    stored = load_results(out)
    meta = stored["meta"]
    assert meta["command"] == "python benchmarks/temperature_runs.py " + " ".join(argv)
    assert meta["complete"] and meta["seeds"] == [3] and meta["labels"] == ["fixed", "cosine"]
    assert [r["label"] for r in stored["runs"]] == ["fixed", "cosine"]
    for run in stored["runs"]:
        assert run["seed"] == 3 and run["config"]["seed"] == 3 and run["recipe"] == "working"
        assert run["config"]["temperature_schedule"] == run["label"] and run["cpu_seconds"] > 0
        assert run["command"].endswith(f"--seeds 3 --runs {runs} --workers 1 --only seed3-{run['label']}")
        assert len(run["columns"]["temperature"]) == 3
    assert meta["cpu_seconds_total"] == pytest.approx(sum(r["cpu_seconds"] for r in stored["runs"]), abs=0.2)
    first = json.loads(out.read_text())
    capsys.readouterr()
    assert script.main(argv) == 0  # finished runs are skipped: the same results
    assert "runs to train" not in capsys.readouterr().out
    assert _stable(json.loads(out.read_text())) == _stable(first)
    cosine = next(p for p in runs.iterdir() if p.name.startswith("seed3-cosine-"))
    (cosine / "record.json").unlink()
    assert script.main([*argv, "--assemble"]) == 0
    partial = load_results(out)
    assert not partial["meta"]["complete"] and partial["meta"]["missing_runs"] == ["seed3-cosine"]
    assert [r["label"] for r in partial["runs"]] == ["fixed"]


def test_temperature_runs_cover_table_6_periods() -> None:
    script = _script("temperature_runs")
    runs = script.study_runs(script.parse_args(["--seeds", "0", "--methods"]))
    assert [r.settings["label"] for r in runs] == ["fixed", "cosine T=0.1", "cosine T=0.2", "cosine T=0.5", "cosine",
                                                   "cosine T=2", "step", "random", "oscillating"]
    periods = {r.settings["label"]: r.settings["config"]["temperature_period"] for r in runs}
    assert periods["cosine"] == 1.0 and periods["cosine T=0.1"] == 0.1
    assert all(r.settings["config"]["lr_step_every"] == 800 and r.settings["config"]["iterations"] == 1000 for r in runs)
