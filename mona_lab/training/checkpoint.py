"""Checkpoint state: what ``last.pt`` and ``best.pt`` hold, and how a run saves and resumes.

- ``last.pt`` (`TrainingState`): everything an exact resume needs -- the whole method
  (student, teacher, queues and memory banks), the optimiser, the batch stream's position,
  the step's random generator, the global random states (`capture_rng_state`), the best
  validation Dice so far and the CPU seconds spent -- plus ``best.pt``'s entries.
- ``best.pt`` (`model_state`): the student's weights and what evaluation needs to rebuild
  it, a fraction of ``last.pt``'s size (`mona_lab.training.validation.load_trained_model`
  reads it back).

Every file a run writes goes through a temporary name in the same folder and
``os.replace``, so an interrupted run never leaves a half-written ``last.pt`` or
``metrics.json``. Checkpoints hold only tensors and plain values and load with
``torch.load(weights_only=True)`` (`load_checkpoint`).
"""
from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from mona_lab.atomic_files import atomic_torch_save  # called by name here, so a test can patch it
from mona_lab.errors import MonaLabError

if TYPE_CHECKING:
    from mona_lab.config import TrainConfig
    from mona_lab.data import TwoStreamBatches
    from mona_lab.methods import Method

CHECKPOINT_FORMAT = 1


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


def model_state(method: Method, config: TrainConfig, class_names) -> dict[str, Any]:
    """What ``best.pt`` holds: the student's weights and what evaluation needs to rebuild
    it (its model config, class names, image size, the run's config) -- no teacher,
    optimiser, memory banks or random states, so it is a fraction of ``last.pt``."""
    return {
        "format": CHECKPOINT_FORMAT,
        "config": config.to_dict(),
        "model_config": method.student.config.to_dict(),
        "class_names": list(class_names),
        "image_size": config.image_size,
        "method": {f"student.{k}": v for k, v in method.student.state_dict().items()},
    }


class TrainingState:
    """A run's state between two steps, and the writing of ``last.pt`` and ``best.pt``.

    Holds the objects whose state an exact resume restores (method, optimiser, batch
    stream, the step's generator), the first step of this process's run (``start_step``:
    0, or the resumed checkpoint's step), the best validation Dice so far and two clocks:
    the CPU seconds spent (summed over the runs of a resumed run) and the wall time of the
    last ``last.pt`` (for ``checkpoint_minutes``).
    """

    def __init__(
        self,
        out: Path,
        config: TrainConfig,
        class_names,
        method: Method,
        optimizer: torch.optim.Optimizer,
        batches: TwoStreamBatches,
        generator: torch.Generator,
    ) -> None:
        self.out, self.config, self.class_names = Path(out), config, class_names
        self.method, self.optimizer, self.batches, self.generator = method, optimizer, batches, generator
        self.start_step, self.best_dice = 0, -math.inf
        self.cpu_before, self.cpu_started = 0.0, time.process_time()
        self.last_saved = time.monotonic()

    def cpu_seconds(self) -> float:
        """Process CPU seconds of training and validation (all runs of a resumed run)."""
        return self.cpu_before + time.process_time() - self.cpu_started

    def state_dict(self, next_step: int) -> dict[str, Any]:
        """``last.pt``: best.pt's entries, with the whole method (teacher, banks) and the resume state."""
        return {
            **model_state(self.method, self.config, self.class_names),
            "step": next_step,
            "method": self.method.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "batches": self.batches.state_dict(),
            "generator": self.generator.get_state(),
            "rng": capture_rng_state(),
            "best_dice": self.best_dice,
            "cpu_seconds": self.cpu_seconds(),
        }

    def resume(self, device: torch.device) -> None:
        """Load ``out/last.pt`` into every object and restore every random stream."""
        state = load_checkpoint(self.out / "last.pt", map_location=device)
        self.method.load_state_dict(state["method"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.batches.load_state_dict(state["batches"])
        self.generator.set_state(state["generator"])
        restore_rng_state(state["rng"])
        self.start_step, self.best_dice = int(state["step"]), float(state["best_dice"])
        self.cpu_before = float(state.get("cpu_seconds", 0.0))

    def checkpoint_due(self, done: int, total: int, stop_requested: bool) -> bool:
        """Whether ``last.pt`` is written after ``done`` steps: every ``checkpoint_every``
        steps, at the end, on a stop request, or when ``checkpoint_minutes`` have passed."""
        minutes = (time.monotonic() - self.last_saved) / 60.0
        due = done % self.config.checkpoint_every == 0 or done == total or stop_requested
        return due or 0 < self.config.checkpoint_minutes <= minutes

    def save_last(self, next_step: int) -> None:
        """Write ``last.pt`` (the run continues at ``next_step``) and restart the clock."""
        atomic_torch_save(self.state_dict(next_step), self.out / "last.pt")
        self.last_saved = time.monotonic()

    def is_new_best(self, mean_dice: float) -> bool:
        """Record a validation's mean Dice; True when it beats every earlier one."""
        if mean_dice > self.best_dice:
            self.best_dice = mean_dice
            return True
        return False

    def save_best(self) -> None:
        """Write ``best.pt`` (`model_state`)."""
        atomic_torch_save(model_state(self.method, self.config, self.class_names), self.out / "best.pt")
