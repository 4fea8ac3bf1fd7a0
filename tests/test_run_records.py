"""Stored-run records: log columns and metrics of a finished run, strict JSON written
atomically, mean/std curves over seeds, and clear errors for missing or foreign files."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from mona_lab.errors import MonaLabError
from mona_lab.lab.run_records import curve_statistics, load_results, read_log_columns, results_path, run_record, write_results


def fake_run(folder: Path, contrast: list[float], dice: float) -> Path:
    folder.mkdir(parents=True)
    rows = ["step,stage,lr,contrast,sup"]
    rows += [f"{k},glcon,0.01,,1.0" for k in range(2)]  # pre-training rows: no contrast value
    rows += [f"{k + 2},finetune,0.01,{v},0.5" for k, v in enumerate(contrast)]
    (folder / "log.csv").write_text("\n".join(rows) + "\n")
    metrics = {"mean_dice": dice, "mean_asd": 3.0, "per_class": {"LV": {"dice": dice}}, "iterations": 2 + len(contrast),
               "volumes": ["a", "b"]}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def test_read_columns_filters_a_stage_and_keeps_empty_cells_as_nan(tmp_path: Path) -> None:
    run = fake_run(tmp_path / "r", [6.0, 5.5, 5.25], 0.7)
    steps, values = read_log_columns(run / "log.csv", ["contrast"], stage="finetune")
    assert steps == [2, 3, 4] and values["contrast"] == [6.0, 5.5, 5.25]
    steps, values = read_log_columns(run / "log.csv", ["contrast"])
    assert len(steps) == 5 and math.isnan(values["contrast"][0])
    with pytest.raises(MonaLabError, match="no column"):
        read_log_columns(run / "log.csv", ["saacl"])
    with pytest.raises(MonaLabError, match="does not exist"):
        read_log_columns(tmp_path / "none.csv", ["contrast"])


def test_records_round_trip_and_curve_statistics(tmp_path: Path) -> None:
    runs = [
        run_record(fake_run(tmp_path / f"{m}{s}", [6.0 + s, 5.0 + s, 4.0 + s + (m == "b")], 0.5), method=m, seed=s,
                   columns=["contrast", "sup"], stage="finetune", seconds=1.234)
        for m in ("a", "b") for s in (0, 1)
    ]
    assert runs[0]["metrics"] == {"mean_dice": 0.5, "mean_asd": 3.0, "per_class": {"LV": {"dice": 0.5}}, "iterations": 5}
    assert runs[0]["seconds"] == 1.23
    path = write_results(tmp_path / "out" / "r.json", runs, {"note": "test", "bad": float("nan")})
    loaded = load_results(path)
    assert loaded["meta"] == {"note": "test", "bad": None, "complete": True, "missing_runs": []}, "NaN is stored as null"
    assert not list((tmp_path / "out").glob(".*.tmp"))
    stats = curve_statistics(loaded["runs"], "contrast", by="method")
    assert np.allclose(stats["a"]["mean"], [6.5, 5.5, 4.5]) and np.allclose(stats["a"]["std"], 0.5)
    assert np.allclose(stats["b"]["mean"], [6.5, 5.5, 5.5]) and stats["b"]["values"].shape == (2, 3)
    with pytest.raises(MonaLabError, match="no column"):
        curve_statistics(loaded["runs"], "saacl")


def test_load_results_errors(tmp_path: Path) -> None:
    with pytest.raises(MonaLabError, match="does not exist; run the benchmark"):
        load_results(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(MonaLabError, match="not valid JSON"):
        load_results(tmp_path / "bad.json")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00{")  # not UTF-8: named, not a UnicodeDecodeError
    with pytest.raises(MonaLabError, match="binary.json is not valid JSON"):
        load_results(tmp_path / "binary.json")
    (tmp_path / "other.json").write_text(json.dumps({"runs": []}))
    with pytest.raises(MonaLabError, match="not a mona_lab results file"):
        load_results(tmp_path / "other.json")
    unfinished = fake_run(tmp_path / "r", [1.0], 0.1)
    (unfinished / "metrics.json").unlink()
    with pytest.raises(MonaLabError, match="no metrics.json"):
        run_record(unfinished, method="x", seed=0, columns=["contrast"])


def test_results_path_prefers_the_notebook_folder(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "x.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    assert results_path("x.json") == tmp_path / "results" / "x.json"
    assert results_path("missing.json").parts[-3:] == ("notebooks", "results", "missing.json")


def test_write_results_marks_a_partial_study(tmp_path: Path) -> None:
    path = write_results(tmp_path / "r.json", [], {"seeds": [0]}, missing=["seed0-arco-sg"])
    meta = load_results(path)["meta"]
    assert not meta["complete"] and meta["missing_runs"] == ["seed0-arco-sg"] and meta["seeds"] == [0]
    assert load_results(write_results(tmp_path / "s.json", [], {}))["meta"]["complete"]


def test_arco_curves_script_records_commands_seeds_cpu_and_resumes(tmp_path: Path, capsys) -> None:
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "arco_curves.py"
    spec = importlib.util.spec_from_file_location("arco_curves_script", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out, runs = tmp_path / "a.json", tmp_path / "runs"
    argv = ["--fast", "--workers", "1", "--out", str(out), "--runs", str(runs)]
    assert script.main(argv) == 0
    stored = load_results(out)
    meta = stored["meta"]
    assert meta["command"] == "python benchmarks/arco_curves.py " + " ".join(argv) and meta["complete"]
    assert [r["method"] for r in stored["runs"]] == ["arco-ns", "arco-sg", "arco-sag"] and meta["seeds"] == [0]
    for run in stored["runs"]:
        assert run["seed"] == 0 and run["recipe"] == "working" and run["cpu_seconds"] > 0 and run["threads"] == 1
        assert run["command"].endswith(f"--runs {runs} --workers 1 --only seed0-{run['method']}")
        assert len(run["columns"]["contrast"]) == 3
    first = json.loads(out.read_text())
    capsys.readouterr()
    assert script.main(argv) == 0
    assert "runs to train" not in capsys.readouterr().out
    second = json.loads(out.read_text())
    for results in (first, second):
        for key in ("created", "wall_seconds"):
            results["meta"].pop(key)
    assert second == first
