"""L_eqv on a share of the rows (`TrainConfig.eqv_fraction`, issue "Methods that work": cost)."""
import pytest
import torch

from mona_lab.config import PAPER_RECIPE, TrainConfig
from mona_lab.errors import MonaLabError
from mona_lab.methods import Stage, StepContext, build_method
from mona_lab.methods.mona import equivariance_rows


def test_rows_take_the_first_half_of_each_group_and_keep_both_groups():
    assert equivariance_rows(3, 6, 1.0) == slice(None)  # the paper: every row
    assert equivariance_rows(3, 6, 0.5).tolist() == [0, 3]  # the papers' batch 3 + 3
    assert equivariance_rows(4, 8, 0.5).tolist() == [0, 1, 4, 5]  # the CPU benchmark's 4 + 4
    assert equivariance_rows(1, 2, 0.1).tolist() == [0, 1]  # never an empty group
    assert equivariance_rows(0, 4, 0.5).tolist() == [0, 1]  # no labelled rows (GLCon-like batches)


def test_working_recipe_halves_the_rows_and_the_paper_keeps_them_all():
    assert TrainConfig(method="mona", out="x").eqv_fraction == 0.5
    assert PAPER_RECIPE["eqv_fraction"] == 1.0
    with pytest.raises(MonaLabError, match="eqv-fraction"):
        TrainConfig(method="mona", out="x", eqv_fraction=0.0)


@pytest.mark.parametrize("fraction, rows", [(1.0, 8), (0.5, 4)])
def test_the_transformed_forward_sees_only_the_kept_rows(fraction, rows):
    config = TrainConfig(
        method="mona", out="x", width=0.25, embed_dim=16, num_queries=16, num_negatives=32,
        eqv_fraction=fraction, tailness=False, diversity=False,
    )  # fmt: skip
    torch.manual_seed(0)
    method = build_method(config, 4)
    seen = []
    forward = method.student.forward
    method.student.forward = lambda x, *a, **k: (seen.append(x.shape[0]), forward(x, *a, **k))[1]
    method.context = StepContext(0, Stage("finetune", 1), 0, 0.5, torch.Generator().manual_seed(0))
    x = torch.rand(8, 1, 32, 32)
    losses = method(x[:4], torch.randint(0, 4, (4, 32, 32)), x[4:])
    assert seen == [8, rows]  # the student's view, then F(T(x)) on the kept rows
    assert torch.isfinite(losses["eqv"]) and losses["eqv"] > 0
