"""The named recipes of a training run: mona_lab's working recipe, the papers' recipe and
the muted recipe (a lesson).

The **working recipe** (the `TrainConfig` defaults) departs from the papers where their
recipe, as printed, does not learn at a CPU budget; each departure is a `TrainConfig`
field whose comment says what the paper prints, what mona_lab does and the measured
reason. `PAPER_RECIPE` lists those fields with the printed values, so the **papers'
recipe** is one switch away: ``mona-lab train --recipe paper`` (`recipe_options`) or
``TrainConfig(**PAPER_RECIPE, ...)``.

The **muted recipe** (`MUTED_RECIPE`, ``--recipe muted``) is the working recipe of mona_lab
before issue 22: the auxiliary heads send 1 % of their gradient into the UNet
(``head_grad_scale = 0.01``). It learns, but every contrastive term then reaches the
encoder at about 0.1-0.3 % of L_sup's gradient (median over the fine-tuning stage, stored
ACDC runs): MONA's principles, ARCO's samplers and ACTION++'s adaptive contrast are switched
off in all but name. Notebook 09 shows why. `TrainConfig.recipe` names the recipe a config holds.
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
# The working recipe with the auxiliary heads' gradient into the UNet at 1 % (mona_lab's
# default before issue 22): the contrastive terms are muted (see the module docstring).
MUTED_RECIPE: dict[str, Any] = {"head_grad_scale": 0.01}
RECIPES = ("working", "paper", "muted")


def recipe_options(recipe: str) -> dict[str, Any]:
    """The `TrainConfig` fields a recipe name sets: ``{}`` for ``"working"`` (the defaults),
    `PAPER_RECIPE` for ``"paper"``, `MUTED_RECIPE` for ``"muted"``."""
    if recipe not in RECIPES:
        raise MonaLabError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    return dict({"working": {}, "paper": PAPER_RECIPE, "muted": MUTED_RECIPE}[recipe])
