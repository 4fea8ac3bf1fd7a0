"""Notebook 09's comparison of the two head strengths on the reported seeds
(`training_dynamics.recipe_pairs_table`, read from the stored five-seed benchmark)."""
from __future__ import annotations

import pytest

from mona_lab.errors import MonaLabError
from mona_lab.lab import training_dynamics as td


def _record(dice, contrast, nn):
    return {"mean_dice": dice, "shares": {"contrast": contrast, "nn": nn, "unsup": 0.5}}


def test_pairs_by_seed_marks_muted_shares_and_gives_the_interval():
    runs = {
        "supervised": {"0": _record(0.50, 0, 0), "1": _record(0.60, 0, 0)},
        "mona@muted": {"0": _record(0.55, 0.002, 0.001), "1": _record(0.62, 0.003, 0.002), "4": _record(0.7, 0.002, 0.002)},
        "mona": {"0": _record(0.60, 0.07, 0.02), "1": _record(0.63, 0.06, 0.03)},
    }
    text = td.recipe_pairs_table({"runs": runs})
    lines = text.splitlines()
    assert len(lines) == 4  # header, seeds 0 and 1 (seed 4 has no active run), the summary
    assert "0.002*" in lines[1] and "0.070 " in lines[1]  # muted share marked, active one not
    assert lines[1].rstrip().endswith("+5.0") and lines[2].rstrip().endswith("+1.0")
    # mean of +5 and +1 is +3; t interval with n=2: 3 +- 12.706 * 2.828 / sqrt(2)
    assert "+3.0 points, 95 % t interval [-22.4, +28.4] over seeds 0, 1" in lines[3]


def test_no_common_seed_or_no_runs_is_a_clear_error():
    with pytest.raises(MonaLabError, match="no seed on which both"):
        td.recipe_pairs_table({"runs": {"mona": {"0": _record(0.5, 0.1, 0.1)}, "mona@muted": {"1": _record(0.5, 0, 0)}}})
    with pytest.raises(MonaLabError, match="acdc_reduced"):
        td.recipe_pairs_table({"summary": {}})
