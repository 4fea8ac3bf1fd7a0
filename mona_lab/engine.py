"""The training engine's public entry points: ``from mona_lab.engine import train``.

Only what code outside the engine calls is re-exported here (training, evaluation and what
they raise or return); every other name is imported from the module that defines it.

The engine itself lives in `mona_lab.training`, one idea per module:

- `mona_lab.training.loop`: `train`, the loop that reads top to bottom (stage by stage,
  step by step: views -> losses -> backward -> optimiser step -> EMA -> log -> validate
  -> checkpoint), `TrainResult`, `NonFiniteLossError`;
- `mona_lab.training.checkpoint`: what ``last.pt`` / ``best.pt`` hold, atomic saving,
  exact resume (`model_state`, `atomic_torch_save`, `load_checkpoint`, RNG states);
- `mona_lab.training.validation`: `evaluate_volumes`, `evaluate_checkpoint`,
  `load_trained_model`;
- `mona_lab.training.optim`: `build_optimizer`, `learning_rate`, `temperature_schedule` (a stage's tau, built once);
- `mona_lab.training.logs`: ``log.csv`` (`LOG_COLUMNS`) and the progress bar;
  `mona_lab.training.dynamics`: ``dynamics.csv``;
- `mona_lab.training.run_folder`, `mona_lab.training.stop_request` (`TrainingInterrupted`)
  and `mona_lab.training.distributed` (``torchrun``).

To replace a function for a test or an experiment, patch it where it is used (e.g.
``mona_lab.training.checkpoint.atomic_torch_save``): the loop looks names up in its own
modules, so patching a name here does not reach it.
"""
from __future__ import annotations

from mona_lab.training.logs import LOG_COLUMNS
from mona_lab.training.loop import NonFiniteLossError, TrainResult, train
from mona_lab.training.stop_request import TrainingInterrupted
from mona_lab.training.validation import evaluate_checkpoint, evaluate_volumes, load_trained_model

__all__ = [
    "LOG_COLUMNS",
    "NonFiniteLossError",
    "TrainResult",
    "TrainingInterrupted",
    "evaluate_checkpoint",
    "evaluate_volumes",
    "load_trained_model",
    "train",
]
