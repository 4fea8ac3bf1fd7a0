"""Training methods: small modules that combine the shared parts.

``build_method(config, num_classes)`` returns the method class named by ``config.method``
(`METHODS`; a *recipe*, `mona_lab.config.RECIPES`, is a set of settings a method runs with):

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

METHODS: dict[str, type[Method]] = {
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
assert tuple(METHODS) == METHOD_CHOICES


def build_method(config: TrainConfig, num_classes: int) -> Method:
    """The method for ``config.method`` (an ``nn.Module``), built on the CPU."""
    try:
        method = METHODS[config.method]
    except KeyError:
        raise MonaLabError(f"unknown method {config.method!r}; choose one of {', '.join(METHODS)}") from None
    return method(config, num_classes)


__all__ = ["METHODS", "Method", "Stage", "StepContext", "build_method", "stage_at"]
