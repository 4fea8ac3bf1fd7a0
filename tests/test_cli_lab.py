"""`mona-lab lab`: the JupyterLab command line it builds, and stopping it stops Jupyter."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

import mona_lab.cli
from mona_lab.cli import main


@pytest.fixture
def launched(monkeypatch):
    calls = []
    monkeypatch.setattr(mona_lab.cli, "run_forwarding_signals", lambda cmd, env=None: calls.append((cmd, env)) or 0)
    monkeypatch.delenv("MONA_LAB_FAST", raising=False)
    monkeypatch.delenv("MONA_LAB_SIZE", raising=False)
    return calls


def test_lab_opens_the_notebooks_and_passes_options_after_the_separator(launched, tmp_path):
    assert main(["lab", "--notebooks", str(tmp_path), "--in-place", "--no-browser", "--", "--allow-root", "--port=9999"]) == 0
    ((cmd, _env),) = launched
    assert cmd[1:5] == ["-m", "jupyterlab", f"--notebook-dir={tmp_path}", "--ServerApp.answer_yes=True"]
    assert cmd[5:] == ["--no-browser", "--allow-root", "--port=9999"]


def test_lab_says_which_size_it_opens_and_passes_a_chosen_size_to_the_kernels(launched, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert main(["lab", "--notebooks", str(tmp_path), "--in-place"]) == 0
    out = capsys.readouterr().out
    assert "lab size: lecture (default on a CPU)" in out and "mona-lab lab --size NAME" in out
    assert "MONA_LAB_SIZE" not in launched[-1][1]
    monkeypatch.setenv("MONA_LAB_FAST", "1")
    assert main(["lab", "--notebooks", str(tmp_path), "--in-place", "--size", "full"]) == 0
    env = launched[-1][1]
    assert env["MONA_LAB_SIZE"] == "full" and "MONA_LAB_FAST" not in env
    assert "lab size: full (MONA_LAB_SIZE=full)" in capsys.readouterr().out


def test_lab_refuses_a_bad_size_before_starting_anything(launched, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MONA_LAB_SIZE", "huge")
    assert main(["lab", "--notebooks", str(tmp_path), "--in-place"]) != 0
    assert "MONA_LAB_SIZE='huge'" in capsys.readouterr().err and not launched


def test_lab_refuses_a_missing_notebook_folder(launched, tmp_path, capsys):
    assert main(["lab", "--notebooks", str(tmp_path / "nowhere")]) != 0
    assert "nowhere" in capsys.readouterr().err and not launched


def test_lab_opens_a_working_copy_that_keeps_edits_until_refreshed(launched, tmp_path, capsys):
    source, work = tmp_path / "repo_notebooks", tmp_path / "work"
    (source / "results").mkdir(parents=True)
    (source / "00_tour.ipynb").write_text("committed")
    (source / "results" / "grid.json").write_text("{}")
    assert main(["lab", "--notebooks", str(source), "--workdir", str(work)]) == 0
    assert launched[-1][0][3] == f"--notebook-dir={work.resolve()}"
    assert (work / "00_tour.ipynb").read_text() == "committed" and (work / "results" / "grid.json").exists()
    (work / "00_tour.ipynb").write_text("run by a student")  # JupyterLab autosaves a run notebook
    assert main(["lab", "--notebooks", str(source), "--workdir", str(work)]) == 0
    assert (work / "00_tour.ipynb").read_text() == "run by a student"
    assert (source / "00_tour.ipynb").read_text() == "committed"  # the repository stays clean
    assert "--refresh" in capsys.readouterr().out
    assert main(["lab", "--notebooks", str(source), "--workdir", str(work), "--refresh"]) == 0
    assert (work / "00_tour.ipynb").read_text() == "committed"
    assert main(["lab", "--notebooks", str(source), "--workdir", str(source / "inside")]) != 0
    assert "inside the notebook folder" in capsys.readouterr().err


# A stand-in for the Jupyter server: it writes its pid, then records the signal that ends it.
_CHILD = """
import os, signal, sys, time
out = sys.argv[1]
def stop(signum, frame):
    open(out + ".signal", "w").write(signal.Signals(signum).name)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
open(out + ".pid", "w").write(str(os.getpid()))
time.sleep(60)
"""

_WRAPPER = """
import sys
from mona_lab.cli import run_forwarding_signals
sys.exit(run_forwarding_signals([sys.executable, "-c", sys.argv[1], sys.argv[2]]))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stopping_the_wrapper_stops_the_server_it_started(tmp_path, sig):
    marker = str(tmp_path / "child")
    wrapper = subprocess.Popen([sys.executable, "-c", _WRAPPER, _CHILD, marker])
    deadline = time.monotonic() + 30
    while not os.path.exists(marker + ".pid"):
        assert time.monotonic() < deadline and wrapper.poll() is None, "the child never started"
        time.sleep(0.05)
    child_pid = int(open(marker + ".pid").read())
    wrapper.send_signal(sig)
    assert wrapper.wait(timeout=30) == 0  # the child's own exit status, passed on
    assert open(marker + ".signal").read() == sig.name
    with pytest.raises(ProcessLookupError):
        os.kill(child_pid, 0)  # no orphaned server left behind


# A stand-in that logs every signal it gets for a second after the first, then exits.
_COUNTING_CHILD = """
import os, signal, sys, time
out = sys.argv[1]
got = []
def note(signum, frame):
    got.append(signal.Signals(signum).name)
    open(out + ".signals", "w").write(",".join(got))
signal.signal(signal.SIGTERM, note)
signal.signal(signal.SIGINT, note)
open(out + ".pid", "w").write(str(os.getpid()))
deadline = time.monotonic() + 60
while time.monotonic() < deadline and not got:
    time.sleep(0.02)
time.sleep(1.0)
sys.exit(0)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX terminals")
def test_one_ctrl_c_in_a_terminal_reaches_the_server_once(tmp_path):
    """Ctrl-C typed in a (pseudo-)terminal: the terminal signals its foreground process group;
    the server must get that SIGINT exactly once (issue 23: it got it twice and resumed)."""
    import pty

    marker = str(tmp_path / "child")
    pid, master = pty.fork()
    if pid == 0:  # the wrapper, in the terminal's foreground process group
        os.execv(sys.executable, [sys.executable, "-c", _WRAPPER, _COUNTING_CHILD, marker])
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(marker + ".pid"):
            assert time.monotonic() < deadline, "the child never started"
            time.sleep(0.05)
        time.sleep(0.3)
        os.write(master, b"\x03")  # Ctrl-C, as typed
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert open(marker + ".signals").read() == "SIGINT"
    finally:
        os.close(master)
