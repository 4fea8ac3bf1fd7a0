"""Training recipes: small modules that combine the shared parts.

``build_method(config, num_classes)`` returns the recipe named by ``config.method``:

- ``supervised``: UNet-L / UNet-F baseline (L_sup only);
- ``mean-teacher``: the classic consistency baseline;
- ``glcon``: MONA's relational pre-training alone;
- ``mona``: GLCon, then anatomical contrastive reconstruction fine-tuning;
- ``arco-ns`` / ``arco-sg`` / ``arco-sag``: MONA with that pixel sampler (ARCO);
- ``action``: global and local contrastive distillation, then AnCo fine-tuning;
- ``action++``: ACTION + SAACL + the cosine temperature schedule.
"""
from __future__ import annotations

from mona_lab.config import METHOD_CHOICES, TrainConfig
from mona_lab.errors import MonaLabError
from mona_lab.methods.action import Action, ActionPlusPlus
from mona_lab.methods.base import Method, Stage, StepContext, stage_at
from mona_lab.methods.mona import GLCon, Mona
from mona_lab.methods.supervised import MeanTeacher, Supervised

RECIPES: dict[str, type[Method]] = {
    "supervised": Supervised,
    "mean-teacher": MeanTeacher,
    "glcon": GLCon,
    "mona": Mona,
    "arco-ns": Mona,
    "arco-sg": Mona,
    "arco-sag": Mona,
    "action": Action,
    "action++": ActionPlusPlus,
}
assert tuple(RECIPES) == METHOD_CHOICES


def build_method(config: TrainConfig, num_classes: int) -> Method:
    """The recipe for ``config.method`` (an ``nn.Module``), built on the CPU."""
    try:
        recipe = RECIPES[config.method]
    except KeyError:
        raise MonaLabError(f"unknown method {config.method!r}; choose one of {', '.join(RECIPES)}") from None
    return recipe(config, num_classes)


__all__ = ["RECIPES", "Method", "Stage", "StepContext", "build_method", "stage_at"]
