"""Atomic files and exact-resume state.

Every file a run writes goes through a temporary name in the same folder and
``os.replace``, so an interrupted run never leaves a half-written ``last.pt`` or
``metrics.json``. Checkpoints hold only tensors and plain values and load with
``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mona_lab.atomic_files import atomic_write, atomic_write_text  # noqa: F401 (re-exported)
from mona_lab.errors import MonaLabError


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file, then rename over ``path``."""
    atomic_write(path, lambda handle: torch.save(obj, handle))


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by `atomic_torch_save` with ``weights_only=True``.

    Raises:
        MonaLabError: the file is missing or not a readable checkpoint (named in the message).
    """
    path = Path(path)
    if path.is_dir():
        found = sorted(p.name for p in path.glob("*.pt"))
        hint = f" (it holds {', '.join(found)}: pass one of them, e.g. {path / found[0]})" if found else ""
        raise MonaLabError(f"checkpoint {path} is a folder, not a checkpoint file{hint}")
    if not path.is_file():
        raise MonaLabError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many kinds; its advice to load unsafely is not ours
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if "weights_only" in str(err) or "Unsupported global" in str(err):
            first_line = "it holds Python objects that a mona_lab checkpoint never contains"
        raise MonaLabError(
            f"{path} is not a mona_lab checkpoint ({first_line}); pass a last.pt or best.pt written by mona-lab train"
        ) from err
    if not isinstance(state, dict) or "format" not in state:
        raise MonaLabError(f"{path} is not a mona_lab checkpoint (no 'format' entry); pass a last.pt or best.pt written by mona-lab train")
    return state


def capture_rng_state() -> dict[str, Any]:
    """The global random states (Python, NumPy, torch CPU and CUDA) as tensors and plain values."""
    py_version, py_state, py_gauss = random.getstate()
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": [py_version, list(py_state), py_gauss],
        "numpy": {
            "name": np_state[0],
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of `capture_rng_state`."""
    version, py_state, gauss = state["python"]
    random.setstate((version, tuple(py_state), gauss))
    np_state = state["numpy"]
    np.random.set_state(
        (
            np_state["name"],
            np_state["keys"].numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
