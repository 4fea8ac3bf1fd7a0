"""The run's output folder (``--out``): checked before anything is written, then created.

A new run needs a missing or empty folder; ``--resume`` needs the folder of an earlier
run (``config.json`` and ``last.pt``) whose configuration matches the requested one in
every field but `mona_lab.config.RESUMABLE_FIELDS` (`config_differences`; ``iterations``
may only grow). `check_out` refuses a bad ``--out`` with a message that says what to do;
`create_out` writes the folder and ``config.json`` once every argument has been checked.
"""
from __future__ import annotations

from pathlib import Path

from mona_lab.config import TrainConfig, config_differences
from mona_lab.errors import MonaLabError
from mona_lab.training import distributed


def check_out(config: TrainConfig) -> Path:
    """Refuse a bad ``--out`` before anything is written: a file, an existing non-empty
    folder without ``resume``, or a ``resume`` that does not match the saved run."""
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise MonaLabError(f"--out {out} is a file, not a folder; choose a folder for the run's outputs")
    if config.resume:
        saved = TrainConfig.load(out / "config.json") if (out / "config.json").exists() else None
        if saved is None or not (out / "last.pt").exists():
            raise MonaLabError(f"--resume: {out} holds no run to resume (config.json and last.pt are needed)")
        differences = config_differences(saved, config)
        if differences:
            raise MonaLabError(
                f"--resume: the requested config differs from the one in {out / 'config.json'}: " + "; ".join(differences)
            )
        if config.iterations < saved.iterations:
            raise MonaLabError(f"--resume: --iterations {config.iterations} is below the saved run's {saved.iterations}")
    elif out.exists() and any(out.iterdir()):
        raise MonaLabError(f"output folder {out} already exists and is not empty; pass --resume to continue it or choose another --out")
    return out


def create_out(config: TrainConfig, info: distributed.DistInfo) -> Path:
    """Create ``--out`` and write ``config.json`` (after every argument has been checked)."""
    out = Path(config.out)
    distributed.barrier(info)  # every process has checked before the main one writes
    if info.is_main:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise MonaLabError(f"--out {out} could not be created ({err.strerror or err})") from err
        config.save(out / "config.json")
    distributed.barrier(info)
    return out
