"""The ``mona-lab`` command.

Sub-commands (each parser is built by one ``_add_*`` function, each handler is a small
function that imports its module lazily so ``mona-lab --help`` stays fast):

- ``mona-lab lab``: open JupyterLab on the numbered notebooks (phantom data by default) at a
  lab size (`mona_lab.lab_size`: lecture on a CPU, full with a GPU; ``--size`` picks one).
- ``mona-lab data stats|phantom``: class statistics, write the phantom as NIfTI.
- ``mona-lab train``: train one method; ``mona-lab evaluate``: score a checkpoint.

User mistakes (a missing file, a bad argument) end with one line on stderr and exit
status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mona_lab.errors import MonaLabError


def _repo_notebooks_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "notebooks"


def _cmd_lab(args: argparse.Namespace) -> int:
    import os

    from mona_lab.lab_size import FAST_ENV_VAR, SIZE_ENV_VAR, lab_size_line

    notebooks = Path(args.notebooks) if args.notebooks else _repo_notebooks_dir()
    if not notebooks.is_dir():
        raise MonaLabError(f"notebook folder {notebooks} does not exist; pass --notebooks DIR")
    if not args.in_place:  # running a notebook saves it: work on a copy, the clone stays clean
        notebooks = working_copy(notebooks, Path(args.workdir).expanduser(), refresh=args.refresh)
    env = dict(os.environ)
    if args.size:  # the kernels inherit the server's environment
        env[SIZE_ENV_VAR] = args.size
        env.pop(FAST_ENV_VAR, None)
    try:
        line = lab_size_line(env)
    except ValueError as err:
        raise MonaLabError(f"{err} (or pass --size fast|lecture|full)") from err
    cmd = [sys.executable, "-m", "jupyterlab", f"--notebook-dir={notebooks}", "--ServerApp.answer_yes=True"]
    if args.no_browser:
        cmd.append("--no-browser")
    extra = list(args.jupyter_args)
    if extra[:1] == ["--"]:  # `mona-lab lab -- --allow-root`: the separator is ours, not jupyter's
        extra = extra[1:]
    cmd += extra
    print(line.replace(" before starting JupyterLab", "") + ", or: mona-lab lab --size NAME", flush=True)
    print("starting:", " ".join(cmd), flush=True)
    return run_forwarding_signals(cmd, env)


DEFAULT_WORKDIR = "~/mona-lab-notebooks"


def working_copy(source: Path, workdir: Path, refresh: bool = False) -> Path:
    """The folder ``mona-lab lab`` opens: a copy of ``source``'s notebooks and stored results
    in ``workdir``, made when ``workdir`` holds no notebook yet and replaced from ``source``
    only when ``refresh`` is set (a student's edits and outputs survive a restart; files the
    copy does not hold are left alone). JupyterLab autosaves a notebook that runs, so opening
    the repository's own folder rewrote the committed notebooks.

    Raises:
        MonaLabError: ``workdir`` is a file, or lies inside ``source`` (named).
    """
    import shutil

    source, workdir = source.resolve(), workdir.resolve()
    if workdir.exists() and not workdir.is_dir():
        raise MonaLabError(f"--workdir {workdir} is a file, not a folder")
    if workdir == source or source in workdir.parents:
        raise MonaLabError(f"--workdir {workdir} lies inside the notebook folder {source}; choose a folder outside it (or --in-place)")
    fresh = not any(workdir.glob("*.ipynb"))
    if fresh or refresh:
        ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
        shutil.copytree(source, workdir, ignore=ignore, dirs_exist_ok=True)
        print(f"{'refreshed' if refresh and not fresh else 'copied'} the notebooks into {workdir}", flush=True)
    else:
        print(f"opening your working copy {workdir} (mona-lab lab --refresh replaces its notebooks with the repository's)", flush=True)
    return workdir


def run_forwarding_signals(cmd: list[str], env: dict[str, str] | None = None) -> int:
    """Run ``cmd`` (in ``env``, default: this process's environment) so that stopping
    ``mona-lab lab`` stops the Jupyter server it started, with one Ctrl-C; the child's exit
    status is returned (128 + signal number when a signal ended it, as a shell reports).

    The child runs in its own session (POSIX), so a Ctrl-C in the terminal reaches this
    process only, and SIGINT, SIGTERM (and SIGHUP where it exists) sent here are passed on
    once. (In one process group the terminal's SIGINT reached Jupyter twice, directly and
    forwarded: it printed its "Shut down this Jupyter server?" prompt twice and resumed.)
    ``mona-lab lab`` starts Jupyter with ``--ServerApp.answer_yes=True``, so that one SIGINT
    shuts it down without a prompt (which a process outside the terminal's session could not
    answer anyway)."""
    import os
    import signal
    import subprocess

    child = subprocess.Popen(cmd, env=env, start_new_session=os.name == "posix")
    forwarded = [signal.SIGINT, signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    previous = {sig: signal.signal(sig, lambda signum, frame: child.send_signal(signum)) for sig in forwarded}
    try:
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - code if code < 0 else code


def _add_lab(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lab", help="open JupyterLab on the lecture notebooks")
    p.add_argument("--notebooks", default=None, help="notebook folder (default: the repository's notebooks/)")
    p.add_argument(
        "--workdir", default=DEFAULT_WORKDIR,
        help=f"the working copy of the notebooks that JupyterLab opens (default {DEFAULT_WORKDIR}); the repository's stay untouched",
    )  # fmt: skip
    p.add_argument("--refresh", action="store_true", help="replace the working copy's notebooks and results with the repository's")
    p.add_argument("--in-place", action="store_true", help="open the notebook folder itself (running a notebook then rewrites it)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    p.add_argument("--size", choices=["fast", "lecture", "full"], default=None,
                   help="lab size the notebooks run at (sets MONA_LAB_SIZE for the kernels; default: MONA_LAB_SIZE, "
                        "else MONA_LAB_FAST=1 -> fast, else lecture on a CPU and full with a GPU)")
    p.add_argument("jupyter_args", nargs=argparse.REMAINDER, help="passed on to jupyter lab (after --, e.g. -- --allow-root)")
    p.set_defaults(handler=_cmd_lab)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mona-lab",
        description="Semi-supervised contrastive segmentation lab: MONA, ARCO, ACTION, ACTION++.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # each module owns the parsers of its own commands
    from mona_lab.data.commands import add_data_commands
    from mona_lab.lab.lecture import add_lecture_commands
    from mona_lab.train_commands import add_train_commands

    _add_lab(sub)
    add_data_commands(sub)
    add_train_commands(sub)
    add_lecture_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except MonaLabError as err:
        print(f"mona-lab: error: {err}", file=sys.stderr)
        return int(getattr(err, "exit_code", 2))
    except KeyboardInterrupt:  # a second Ctrl-C, or one outside a training loop
        print("mona-lab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
