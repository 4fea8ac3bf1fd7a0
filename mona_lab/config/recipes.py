"""The two recipes of a training run: mona_lab's working recipe and the papers' recipe.

The **working recipe** (the `TrainConfig` defaults) departs from the papers where their
recipe, as printed, does not learn at a CPU budget; each departure is a `TrainConfig`
field whose comment says what the paper prints, what mona_lab does and the measured
reason. `PAPER_RECIPE` lists those fields with the printed values, so the **papers'
recipe** is one switch away: ``mona-lab train --recipe paper`` (`recipe_options`) or
``TrainConfig(**PAPER_RECIPE, ...)``. `TrainConfig.recipe` names the recipe a config holds.
"""
from __future__ import annotations

from typing import Any

from mona_lab.errors import MonaLabError

# The papers' recipe as printed (MONA Sec. III-B / IV-B, ACTION Sec. 3, reference notes), for
# every field where the working recipe departs from it.
PAPER_RECIPE: dict[str, Any] = {
    "ema_warmup": False,
    "strong_labeled": True,
    "unsup_weighting": "share",
    "pseudo_label_threshold": 0.97,
    "unsup_rampup": 0.0,
    "head_grad_scale": 1.0,
    "bn_statistics": "all",
    "representation_hidden_ratio": 1.0,
    "eqv_fraction": 1.0,
}
RECIPES = ("working", "paper")


def recipe_options(recipe: str) -> dict[str, Any]:
    """The `TrainConfig` fields a recipe name sets: ``{}`` for ``"working"`` (the defaults),
    `PAPER_RECIPE` for ``"paper"``."""
    if recipe not in RECIPES:
        raise MonaLabError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    return dict(PAPER_RECIPE) if recipe == "paper" else {}
