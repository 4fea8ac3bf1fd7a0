"""The lab's three sizes (`mona_lab.lab_size`): parsed from the environment, old switch kept."""
from __future__ import annotations

import pytest

from mona_lab.lab_size import LabSize, lab_size, lab_size_line, lab_size_requested
from mona_lab.runtime import is_fast_mode


@pytest.mark.parametrize(
    "env, cuda, expected",
    [
        ({}, False, LabSize.LECTURE),
        ({}, True, LabSize.FULL),
        ({"MONA_LAB_FAST": "0"}, False, LabSize.LECTURE),
        ({"MONA_LAB_FAST": "1"}, True, LabSize.FAST),
        ({"MONA_LAB_FAST": "Yes"}, False, LabSize.FAST),
        ({"MONA_LAB_SIZE": "fast"}, True, LabSize.FAST),
        ({"MONA_LAB_SIZE": " Lecture "}, True, LabSize.LECTURE),
        ({"MONA_LAB_SIZE": "full"}, False, LabSize.FULL),
        ({"MONA_LAB_SIZE": "fast", "MONA_LAB_FAST": "1"}, False, LabSize.FAST),
        ({"MONA_LAB_SIZE": "", "MONA_LAB_FAST": "off"}, True, LabSize.FULL),
    ],
)
def test_size_comes_from_the_environment_else_from_the_device(env, cuda, expected):
    assert lab_size(env, cuda_available=cuda) is expected


def test_only_the_variables_choose_a_size():
    assert lab_size_requested({}) is None and lab_size_requested({"MONA_LAB_FAST": "0"}) is None
    assert lab_size_requested({"MONA_LAB_SIZE": "full"}) is LabSize.FULL


@pytest.mark.parametrize("value", ["medium", "1", "fastest"])
def test_a_bad_size_names_the_variable_and_the_allowed_values(value):
    with pytest.raises(ValueError, match=r"MONA_LAB_SIZE=.*fast, lecture, full"):
        lab_size({"MONA_LAB_SIZE": value}, cuda_available=False)


def test_a_bad_fast_switch_and_a_contradiction_are_refused():
    with pytest.raises(ValueError, match="MONA_LAB_FAST='maybe'"):
        lab_size({"MONA_LAB_FAST": "maybe"}, cuda_available=False)
    with pytest.raises(ValueError, match="MONA_LAB_FAST=1.*MONA_LAB_SIZE='full'"):
        lab_size({"MONA_LAB_FAST": "1", "MONA_LAB_SIZE": "full"}, cuda_available=False)


@pytest.mark.parametrize(
    "env, fast",
    [({}, False), ({"MONA_LAB_FAST": "1"}, True), ({"MONA_LAB_SIZE": "fast"}, True),
     ({"MONA_LAB_SIZE": "lecture"}, False), ({"MONA_LAB_SIZE": "full"}, False)],
)  # fmt: skip
def test_is_fast_mode_keeps_its_meaning(monkeypatch, env, fast):
    monkeypatch.delenv("MONA_LAB_FAST", raising=False)
    monkeypatch.delenv("MONA_LAB_SIZE", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert is_fast_mode() is fast


def test_is_fast_mode_refuses_a_bad_size(monkeypatch):
    monkeypatch.delenv("MONA_LAB_FAST", raising=False)
    monkeypatch.setenv("MONA_LAB_SIZE", "tiny")
    with pytest.raises(ValueError, match="MONA_LAB_SIZE"):
        is_fast_mode()


def test_the_size_line_says_the_size_why_and_how_to_change_it():
    line = lab_size_line({"MONA_LAB_FAST": "1"}, cuda_available=False)
    assert line.startswith("lab size: fast (MONA_LAB_FAST=1)")
    assert "unset MONA_LAB_FAST and set MONA_LAB_SIZE=lecture|full" in line and "\n" not in line
    line = lab_size_line({}, cuda_available=False)
    assert line.startswith("lab size: lecture (default on a CPU)") and "MONA_LAB_SIZE=fast|full" in line
    assert "unset" not in line
    assert lab_size_line({"MONA_LAB_SIZE": "full"}, cuda_available=False).startswith("lab size: full (MONA_LAB_SIZE=full)")
    assert "(default with a GPU)" in lab_size_line({}, cuda_available=True)


def test_the_notebook_budget_grows_with_the_lab_size(monkeypatch):
    from mona_lab.lab.ablation import notebook_budget
    from mona_lab.lab.ablation.runs import NOTEBOOK_FAST_BUDGET, NOTEBOOK_FULL_BUDGET, NOTEBOOK_LECTURE_BUDGET

    length = {s: notebook_budget(size=s).iterations + notebook_budget(size=s).pretrain_iterations for s in LabSize}
    assert length[LabSize.FAST] < length[LabSize.LECTURE] < length[LabSize.FULL]
    assert notebook_budget(size="lecture") is NOTEBOOK_LECTURE_BUDGET
    assert notebook_budget(fast=True) is NOTEBOOK_FAST_BUDGET and notebook_budget(fast=False) is NOTEBOOK_FULL_BUDGET
    monkeypatch.delenv("MONA_LAB_FAST", raising=False)
    monkeypatch.setenv("MONA_LAB_SIZE", "lecture")
    assert notebook_budget() is NOTEBOOK_LECTURE_BUDGET
    with pytest.raises(ValueError, match="size must be one of"):
        notebook_budget(size="huge")


def test_one_place_sets_the_notebooks_threads():
    """Every notebook's first cell calls announce_lab_size, which sets one torch thread below
    the full size (use_lab_threads) and leaves torch's default at the full size."""
    import json
    from pathlib import Path

    import torch

    from mona_lab.lab_size import LabSize, use_lab_threads

    before = torch.get_num_threads()
    try:
        assert use_lab_threads(LabSize.LECTURE) == 1 and use_lab_threads(LabSize.FAST) == 1
        torch.set_num_threads(2)
        assert use_lab_threads(LabSize.FULL) == 2
    finally:
        torch.set_num_threads(before)
    for path in sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("0*.ipynb")):
        code = "".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
        assert "announce_lab_size()" in code and "set_num_threads" not in code, path.name
