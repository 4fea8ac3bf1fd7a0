"""`mona-lab lab`: the JupyterLab command line it builds."""
from __future__ import annotations

import subprocess

import pytest

from mona_lab.cli import main


@pytest.fixture
def launched(monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "call", lambda cmd: calls.append(cmd) or 0)
    return calls


def test_lab_opens_the_notebooks_and_passes_options_after_the_separator(launched, tmp_path):
    assert main(["lab", "--notebooks", str(tmp_path), "--no-browser", "--", "--allow-root", "--port=9999"]) == 0
    (cmd,) = launched
    assert cmd[1:4] == ["-m", "jupyterlab", f"--notebook-dir={tmp_path}"]
    assert cmd[4:] == ["--no-browser", "--allow-root", "--port=9999"]


def test_lab_refuses_a_missing_notebook_folder(launched, tmp_path, capsys):
    assert main(["lab", "--notebooks", str(tmp_path / "nowhere")]) != 0
    assert "nowhere" in capsys.readouterr().err and not launched
