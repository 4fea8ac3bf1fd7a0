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
