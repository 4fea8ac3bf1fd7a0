"""A principle's effect read from the stored grid: paired by seed over the four pairs of rows
that differ only in it (MONA Table III's reading; notebooks 00 and 02-04)."""
from __future__ import annotations

import itertools

import pytest

from mona_lab.lab.ablation import COMBINATIONS, combination_name, format_principle_effects, principle_effect, principle_pairs

CLASSES = ["A", "B", "C"]  # head A, B; tail C


def _grid(dice_of):
    """A grid whose run (combination, seed) has per-class Dice ``dice_of(switches, seed)``."""
    runs = []
    for switches, seed in itertools.product(COMBINATIONS, (0, 1, 2)):
        dice = dict(zip(CLASSES, dice_of(switches, seed)))
        runs.append({"name": combination_name(*switches), "seed": seed, "dice": dice,
                     "mean_dice": sum(dice.values()) / 3})  # fmt: skip
    return {"metadata": {"head_classes": ["A", "B"], "tail_classes": ["C"]}, "runs": runs}


def test_pairs_differ_only_in_the_principle():
    assert principle_pairs("diversity") == [("vanilla", "diversity"), ("tailness", "tailness + diversity"),
                                            ("consistency", "consistency + diversity"),
                                            ("tailness + consistency", "tailness + consistency + diversity")]  # fmt: skip
    with pytest.raises(ValueError, match="principle must be one of"):
        principle_pairs("tail")


def test_a_principle_that_adds_to_the_tail_only_shows_there_and_the_seed_noise_cancels():
    # tailness adds 0.3 to class C; every seed shifts all runs by its own offset (paired away)
    grid = _grid(lambda s, seed: (0.5 + 0.1 * seed, 0.4 + 0.1 * seed, 0.3 * s[0] + 0.1 * seed))
    effect = principle_effect(grid, "tailness")
    assert effect["tail"]["average"] == pytest.approx(0.3) and effect["tail"]["spread"] == pytest.approx(0.0)
    assert effect["tail"]["positive"] == effect["tail"]["count"] == 12
    assert effect["head"]["average"] == pytest.approx(0.0) and effect["head"]["positive"] == 0
    assert effect["mean"]["average"] == pytest.approx(0.1)
    assert principle_effect(grid, "consistency")["mean"]["average"] == pytest.approx(0.0)
    text = format_principle_effects(grid)
    tail_line = text.splitlines()[3]
    assert tail_line.split() == ["tail", "+30.0", "0.0", "[+30.0,", "+30.0]", "12/12"]


def test_missing_seeds_are_left_out_of_their_pair():
    grid = _grid(lambda s, seed: (0.5, 0.5, 0.1 * s[2] + 0.01 * seed))
    grid["runs"] = [r for r in grid["runs"] if not (r["name"] == "diversity" and r["seed"] == 2)]
    effect = principle_effect(grid, "diversity")
    assert effect["pairs"][0]["seeds"] == [0, 1] and effect["tail"]["count"] == 11
    assert effect["tail"]["average"] == pytest.approx(0.1)
