"""The configuration of one training run: `TrainConfig` and its two recipes.

`TrainConfig` is what ``mona-lab train`` builds from its arguments, what ``config.json``
stores and what ``--resume`` compares against (`config_differences`); its defaults are
mona_lab's **working recipe**. The **papers' recipe** is one switch away: ``mona-lab train
--recipe paper`` or ``TrainConfig(**PAPER_RECIPE, ...)`` sets every field where the working
recipe departs from the papers to the printed value.

Where each part lives:

- `train_config`: `TrainConfig` (its fields with the papers' values and mona_lab's
  departures, their checks, save/load), `config_differences`, and the choices
  `METHOD_CHOICES`, `DATASET_CHOICES`, `PRETRAINING_METHODS`, `RESUMABLE_FIELDS`, the 3D
  `VOLUME_DATASETS` and `VOLUME_METHODS`, and `parse_triple` (a ``D,H,W`` flag);
- `recipes`: `PAPER_RECIPE` (the printed values), `MUTED_RECIPE` (the contrastive terms muted, a lesson), `RECIPES`, `recipe_options`.
"""
from __future__ import annotations

from mona_lab.config.recipes import MUTED_RECIPE, PAPER_RECIPE, RECIPES, recipe_options
from mona_lab.config.train_config import (
    DATASET_CHOICES,
    METHOD_CHOICES,
    PRETRAINING_METHODS,
    RESUMABLE_FIELDS,
    VOLUME_DATASETS,
    VOLUME_METHODS,
    TrainConfig,
    config_differences,
    parse_triple,
)

__all__ = [
    "DATASET_CHOICES",
    "METHOD_CHOICES",
    "MUTED_RECIPE",
    "PAPER_RECIPE",
    "PRETRAINING_METHODS",
    "RECIPES",
    "RESUMABLE_FIELDS",
    "TrainConfig",
    "VOLUME_DATASETS",
    "VOLUME_METHODS",
    "config_differences",
    "parse_triple",
    "recipe_options",
]
