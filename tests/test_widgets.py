"""Widget callbacks are plain functions: the tests call them directly."""
from __future__ import annotations

import numpy as np

from mona_lab.lab.widgets import phantom_stats_at_exponent


def test_zipf_slider_callback_regenerates_a_steeper_tail_for_a_larger_exponent():
    fitted = [phantom_stats_at_exponent(s, num_patients=4, image_size=64).zipf_exponent for s in (0.5, 1.0, 2.0)]
    assert np.all(np.diff(fitted) > 0.2), fitted
    assert abs(fitted[1] - 1.0) < 0.3 and abs(fitted[2] - 2.0) < 0.4


def test_zipf_slider_callback_is_deterministic():
    a = phantom_stats_at_exponent(1.5, num_patients=3, image_size=64, seed=4)
    b = phantom_stats_at_exponent(1.5, num_patients=3, image_size=64, seed=4)
    assert np.array_equal(a.counts, b.counts)


# ------------------------------------------------------------------ MONA principle panel (notebooks 02-04)
import csv  # noqa: E402
import functools  # noqa: E402

import pytest  # noqa: E402

from mona_lab.lab.ablation import AblationBudget  # noqa: E402
from mona_lab.lab.widgets import AblationPanel  # noqa: E402

TINY = AblationBudget(iterations=2, pretrain_iterations=1, image_size=32, width=0.25, embed_dim=8,
                      num_queries=8, num_negatives=16)  # fmt: skip


@functools.lru_cache(maxsize=1)
def _tiny_phantom():
    from mona_lab.data import PhantomConfig, load_dataset

    return load_dataset("phantom", phantom=PhantomConfig(num_patients=5, image_size=32))


def _log_columns_with_values(row) -> set[str]:
    with open(f"{row['out']}/log.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["stage"] == "finetune"]
    return {k for k in rows[0] if any(r[k] for r in rows)}


def test_run_callback_appends_a_row_with_dice_for_every_foreground_class(single_thread):
    data = _tiny_phantom()
    panel = AblationPanel(data, TINY, device="cpu")
    row = panel.run(True, True, True, labeled=1, sampler="ns")
    assert panel.rows == [row]
    assert row["name"] == "tailness + consistency + diversity"
    assert list(row["dice"]) == list(data.class_names[1:]) == list(row["asd"])
    assert all(0.0 <= v <= 1.0 for v in row["dice"].values())
    assert row["mean_dice"] == pytest.approx(sum(row["dice"].values()) / len(row["dice"]))
    assert row["iterations"] == 2 and row["pretrain_iterations"] == 1 and row["labeled"] == 1
    assert len(row["labeled_patients"]) == 1
    assert {"contrast", "eqv", "nn", "sup", "unsup"} <= set(row["loss_components"])
    table = panel.table()
    assert "tailness + consistency + diversity" in table and len(table.splitlines()) == 2


@pytest.mark.parametrize(
    "switches, absent, present",
    [
        ((True, False, True), "eqv", {"contrast", "nn"}),
        ((False, True, True), "contrast", {"eqv", "nn"}),
        ((True, True, False), "nn", {"contrast", "eqv"}),
    ],
)
def test_switching_a_principle_off_removes_its_loss_from_the_log(single_thread, switches, absent, present):
    panel = AblationPanel(_tiny_phantom(), TINY, device="cpu")
    row = panel.run(*switches, labeled=1)
    logged = _log_columns_with_values(row)
    assert absent not in row["loss_components"] and absent not in logged
    assert present <= set(row["loss_components"]) and present <= logged
    assert absent not in row["final_losses"]


def test_vanilla_row_logs_only_the_supervised_and_pseudo_label_terms(single_thread):
    row = AblationPanel(_tiny_phantom(), TINY, device="cpu").run(False, False, False, labeled=1)
    assert row["name"] == "vanilla"
    assert set(row["loss_components"]) == {"total", "sup", "unsup"}
    assert row["final_losses"]["total"] == pytest.approx(row["final_losses"]["sup"] + row["final_losses"]["unsup"], rel=1e-4)


def test_run_button_reads_the_widget_values(single_thread):
    panel = AblationPanel(_tiny_phantom(), TINY, device="cpu")
    panel.widget()
    panel.checks["tailness"].value = False
    panel.checks["diversity"].value = False
    panel.labeled_slider.value = 1
    panel.sampler_choice.value = "sg"
    panel.button.click()
    assert len(panel.rows) == 1
    row = panel.rows[0]
    assert (row["tailness"], row["consistency"], row["diversity"]) == (False, True, False)
    assert row["sampler"] == "sg" and row["labeled"] == 1 and row["name"] == "consistency"
    assert not panel.button.disabled


def test_panel_rejects_an_unknown_sampler_and_data_set():
    panel = AblationPanel(_tiny_phantom(), TINY, device="cpu")
    with pytest.raises(ValueError, match="sampler"):
        panel.run(sampler="uniform")
    with pytest.raises(ValueError, match="acdc-x"):
        panel.use_dataset("acdc-x")
    assert panel.rows == []


def test_head_and_tail_of_the_phantom_are_its_rarest_classes():
    head, tail = AblationPanel(_tiny_phantom(), TINY).head_and_tail()
    assert set(tail) == {"PM", "PE"} and set(head) == {"LV", "Myo", "RV"}


# ------------------------------------------------------------------ stored answers, estimate, progress
from mona_lab.lab.run_progress import LogProgress, estimate_seconds, logged_iterations  # noqa: E402
from mona_lab.lab.stored_ablation import StoredAblation  # noqa: E402


def _stored_run(name, seed, dice, seconds=30.0, **extra):
    run = {"name": name, "seed": seed, "iterations": 20, "pretrain_iterations": 10, "mean_dice": float(np.mean(list(dice.values()))),
           "dice": dice, "seconds": seconds, "dataset": "phantom"}  # fmt: skip
    run.update(extra)
    return run


def _grid(runs, **meta):
    metadata = {"dataset": "phantom", "labeled_patients": 2, "sampler": "ns", "head_classes": ["LV", "Myo", "RV"],
                "tail_classes": ["PE", "PM"], "budget": {"pretrain_iterations": 10, "iterations": 20}}  # fmt: skip
    metadata.update(meta)
    return {"metadata": metadata, "runs": runs, "summary": []}


ALL = "tailness + consistency + diversity"
DICE_0 = {"RV": 0.2, "Myo": 0.4, "LV": 0.6, "PM": 0.1, "PE": 0.0}
DICE_1 = {"RV": 0.4, "Myo": 0.6, "LV": 0.8, "PM": 0.3, "PE": 0.2}


def test_stored_answer_is_the_mean_and_spread_over_seeds_of_the_matching_runs():
    study = StoredAblation(_grid([_stored_run(ALL, 0, DICE_0), _stored_run(ALL, 1, DICE_1),
                                  _stored_run("vanilla", 0, DICE_1)]))  # fmt: skip
    answer = study.answer(True, True, True, labeled=2, sampler="ns", dataset="phantom")
    assert answer.seeds == (0, 1) and answer.name == ALL
    assert answer.dice["LV"] == pytest.approx(0.7) and answer.dice_spread["LV"] == pytest.approx(0.1)
    assert answer.head == pytest.approx(0.5) and answer.head_spread == pytest.approx(0.1)
    assert answer.tail == pytest.approx(0.15) and answer.tail_spread == pytest.approx(0.1)
    assert answer.seconds_per_iteration == pytest.approx(1.0)
    assert "0.500 ± 0.100" in answer.text() and "seeds 0, 1" in answer.text()
    assert study.answer(False, False, False).seeds == (0,)


def test_stored_study_says_what_it_holds_and_answers_no_number_for_a_setting_it_did_not_run():
    study = StoredAblation(_grid([_stored_run(ALL, 0, DICE_0), _stored_run(ALL, 1, DICE_1)]))
    assert "seeds 0, 1; sampler ns only; labelled count 2 only; 10 GLCon + 20 fine-tuning" in study.coverage()
    assert study.answer(True, True, True, sampler="sg") is None
    assert study.answer(True, True, True, labeled=3) is None
    assert study.answer(True, False, True) is None
    text = study.answer_text(True, True, True, labeled=2, sampler="sg")
    assert "no run of this setting" in text and "sampler sg" in text and "±" not in text
    # per-run fields win over the metadata: a study that also ran sg and 3 labelled patients
    richer = StoredAblation(_grid([_stored_run(ALL, 0, DICE_0), _stored_run(ALL, 0, DICE_1, sampler="sg", labeled=3)]))
    assert "samplers ns, sg" in richer.coverage() and "labelled counts 2, 3" in richer.coverage()
    assert richer.answer(True, True, True, labeled=3, sampler="sg").dice == DICE_1
    with pytest.raises(ValueError, match="grid"):
        StoredAblation({"runs": []})


def test_panel_answers_from_the_stored_study_without_training():
    study = _grid([_stored_run(ALL, 0, DICE_0), _stored_run(ALL, 1, DICE_1)])
    panel = AblationPanel(_tiny_phantom(), TINY, device="cpu", study=study)
    text = panel.stored(True, True, True, labeled=2, sampler="ns")
    assert text.startswith("stored study: 2 runs on phantom") and ALL in text and "0.500 ± 0.100" in text
    assert "no run of this setting" in panel.stored(False, True, True)
    assert panel.rows == []
    assert "no stored study" in AblationPanel(_tiny_phantom(), TINY, study=None).stored()
    panel.widget()
    panel.checks["tailness"].value = False  # the answer follows the tick at once
    assert panel._on_change().endswith("press 'Train a fresh run' to train one") and panel.rows == []


def test_estimate_uses_earlier_runs_here_else_the_stored_study():
    assert estimate_seconds(100, [], 0.5) == (50.0, "from the stored study's runs at 0.50 s per iteration (their size and cores)")
    seconds, source = estimate_seconds(10, [{"seconds": 6.0, "iterations": 2, "pretrain_iterations": 1}], 0.5)
    assert seconds == pytest.approx(20.0) and "1 earlier run" in source
    assert estimate_seconds(10) == (None, "no run measured yet")
    with pytest.raises(ValueError, match="iterations"):
        estimate_seconds(0)


def test_progress_counts_the_logged_rows(tmp_path):
    log = tmp_path / "log.csv"
    assert logged_iterations(log) == 0
    seen = []
    with LogProgress(log, seen.append, every=0.01):
        log.write_text("step,stage\n0,sup\n1,sup\n")
    assert seen[-1] == 2 and logged_iterations(log) == 2
    with pytest.raises(ValueError, match="every"):
        LogProgress(log, seen.append, every=0)


def test_fresh_run_reports_progress_up_to_its_iterations(single_thread):
    panel = AblationPanel(_tiny_phantom(), TINY, device="cpu", study=None)
    assert panel.estimate() == (None, "no run measured yet")
    seen = []
    row = panel.run(True, True, True, labeled=1, progress=seen.append)
    assert seen and seen[-1] == panel.iterations() == 3 and seen == sorted(seen)
    seconds, source = panel.estimate()
    assert seconds == pytest.approx(row["seconds"]) and "1 earlier run" in source
    panel.widget()
    panel.labeled_slider.value = 1
    panel.button.click()
    assert panel.progress.value == panel.progress.max == 3 and "trained in" in panel.status.value
