"""`mona-lab train`'s flags are generated from `TrainConfig`'s field metadata: each option's
help, choices and default are written once, on the field, and reach the command line."""
from __future__ import annotations

import argparse
import dataclasses

import pytest

from mona_lab.config import TrainConfig
from mona_lab.errors import MonaLabError
from mona_lab.train_commands import add_train_commands, config_flags, config_from_args


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="mona-lab")
    add_train_commands(top.add_subparsers())
    return top


def test_every_option_field_is_a_flag_with_its_default_in_the_help():
    help_text = " ".join(parser()._subparsers._group_actions[0].choices["train"].format_help().split())
    for f in config_flags():
        flag = "--" + f.name.replace("_", "-")
        assert flag in help_text, flag
        if f.default not in (dataclasses.MISSING, None) and not f.metadata["required"]:
            assert f"(default {f.default})" in help_text, flag
    names = {f.name for f in config_flags()}
    assert {"head_grad_scale", "tau_min", "tau_max", "contrast_temperature", "method", "out"} <= names


def test_choices_are_checked_on_the_cli_and_in_python_from_one_tuple():
    with pytest.raises(SystemExit):  # argparse refuses a value outside the field's choices
        parser().parse_args(["train", "--method", "mona", "--labeled", "3", "--iterations", "5", "--out", "x",
                             "--optimizer", "adam"])  # fmt: skip
    with pytest.raises(MonaLabError, match="unknown optimizer 'adam'; choose one of sgd, adamw"):
        TrainConfig(method="mona", out="x", optimizer="adam")
    with pytest.raises(MonaLabError, match="unknown temperature schedule 'warm'; choose one of fixed"):
        TrainConfig(method="action++", out="x", temperature_schedule="warm")
    with pytest.raises(TypeError):  # method and out have no default for Python callers either
        TrainConfig(out="x")


def test_a_given_flag_overrides_the_recipe_and_an_absent_one_keeps_it():
    base = ["train", "--method", "mona", "--labeled", "5%", "--iterations", "5", "--out", "x", "--dataset", "acdc"]
    muted = config_from_args(parser().parse_args(base + ["--recipe", "muted"]))
    assert muted.head_grad_scale == 0.01 and muted.recipe == "muted"
    custom = config_from_args(parser().parse_args(base + ["--recipe", "muted", "--head-grad-scale", "0.2", "--nn-unlabeled-only"]))
    assert custom.head_grad_scale == 0.2 and custom.nn_unlabeled_only is True and custom.labeled == 0.05
    default = config_from_args(parser().parse_args(base))
    assert default.head_grad_scale == TrainConfig(method="mona", out="x").head_grad_scale and default.recipe == "working"


def test_phantom_heterogeneity_reaches_the_data_a_run_trains_and_is_scored_on(tmp_path):
    """--phantom-heterogeneity is recorded in config.json, the run trains on that phantom, and
    mona-lab evaluate scores the checkpoint on the same phantom (its size, seed, heterogeneity)."""
    import json

    from mona_lab.data import load_dataset, phantom_config_for
    from mona_lab.engine import evaluate_checkpoint, train

    with pytest.raises(MonaLabError, match="phantom only"):
        TrainConfig(method="supervised", out="x", dataset="acdc", phantom_heterogeneity=1.0)
    with pytest.raises(MonaLabError, match=r"\[0, 2\]"):
        TrainConfig(method="supervised", out="x", phantom_heterogeneity=3.0)
    args = parser().parse_args(["train", "--method", "supervised", "--labeled", "2", "--iterations", "2", "--out",
                                str(tmp_path / "run"), "--phantom-size", "fast", "--image-size", "32", "--width", "0.25",
                                "--batch-size", "2", "--seed", "3", "--phantom-heterogeneity", "1", "--no-progress",
                                "--device", "cpu"])  # fmt: skip
    config = config_from_args(args)
    result = train(config)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["phantom_heterogeneity"] == 1.0
    varied = load_dataset("phantom", image_size=32, seed=3, phantom=phantom_config_for(True, 32, 3, heterogeneity=1.0))
    plain = load_dataset("phantom", image_size=32, seed=3, fast=True)
    assert not (varied.train_images == plain.train_images).all()
    scored = evaluate_checkpoint(tmp_path / "run" / "last.pt", "phantom", None, "val", "cpu")
    assert scored["mean_dice"] == pytest.approx(result.metrics["mean_dice"], abs=1e-6)
