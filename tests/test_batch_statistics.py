"""Which images BatchNorm's running statistics come from (mona_lab.models.batch_statistics;
issue "Methods that work": strongly augmented and L_eqv-transformed views used to set the
statistics the student is evaluated with)."""
from __future__ import annotations

import pytest
import torch

from mona_lab.config import PAPER_RECIPE, TrainConfig
from mona_lab.methods import Stage, StepContext, build_method
from mona_lab.models import build_model
from mona_lab.models.batch_statistics import frozen_running_statistics


def _running(model):
    return [
        (m.running_mean.clone(), m.running_var.clone())
        for m in model.modules()
        if isinstance(m, torch.nn.BatchNorm2d)
    ]


def _same(a, b):
    return all(torch.equal(x, y) and torch.equal(u, v) for (x, u), (y, v) in zip(a, b))


def _net():
    torch.manual_seed(0)
    return build_model("unet2d", num_classes=4, width=0.25, heads=(), dropout=(0.0,) * 5).train()


def test_frozen_block_normalises_with_the_batch_but_keeps_the_running_statistics():
    net = _net()
    before = _running(net)
    momenta = [m.momentum for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    x = torch.rand(2, 1, 32, 32) * 50
    with frozen_running_statistics(net):
        inside = net(x).logits
    assert _same(before, _running(net))
    assert [m.momentum for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)] == momenta
    # the same forward outside the block gives the same output (batch statistics) but moves them
    assert torch.allclose(net(x).logits, inside, atol=1e-5)
    assert not _same(before, _running(net))


def test_momenta_are_restored_after_an_exception():
    net = _net()
    with pytest.raises(RuntimeError):
        with frozen_running_statistics(net):
            raise RuntimeError("boom")
    assert all(m.momentum == 0.1 for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_statistics_rows_take_the_running_statistics_from_the_first_rows_only():
    clean = torch.rand(3, 1, 32, 32)
    augmented = torch.rand(3, 1, 32, 32) * 40 - 20  # a very different distribution
    reference = _net()
    expected_logits = reference(clean).logits
    expected = _running(reference)

    net = _net()
    out = net(torch.cat([clean, augmented]), statistics_rows=3)
    assert _same(_running(net), expected)  # the augmented rows left no trace
    assert torch.allclose(out.logits[:3], expected_logits, atol=1e-5)  # clean rows normalised among themselves
    assert out.logits.shape == (6, 4, 32, 32)

    every_row = _net()
    every_row(torch.cat([clean, augmented]))
    assert not _same(_running(every_row), expected)

    frozen = _net()
    before = _running(frozen)
    frozen(augmented, statistics_rows=0)
    assert _same(before, _running(frozen))
    with pytest.raises(ValueError, match="statistics_rows"):
        frozen(augmented, statistics_rows=4)


@pytest.mark.parametrize("method", ["mona", "action++"])
def test_a_training_step_takes_the_students_statistics_from_the_labelled_rows(method):
    """With the working recipe, wildly scaled unlabelled slices do not move the running
    variance the student is evaluated with; with the papers' setting they do."""
    torch.manual_seed(0)
    labeled = torch.rand(2, 1, 32, 32)
    labels = torch.randint(0, 4, (2, 32, 32))
    unlabeled = torch.rand(2, 1, 32, 32) * 100
    variances = {}
    for setting in ("labeled", "all"):
        config = TrainConfig(method=method, out="x", width=0.25, embed_dim=16, image_size=32, bn_statistics=setting,
                             num_queries=8, num_negatives=8)
        m = build_method(config, num_classes=4)
        stage = [s for s in m.stages() if s.name in ("finetune", "anco")][0]
        m.context = StepContext(0, stage, 0, 0.5, torch.Generator().manual_seed(0))
        m.train()
        m(labeled, labels, unlabeled)["total"].backward()
        first_bn = next(x for x in m.student.modules() if isinstance(x, torch.nn.BatchNorm2d))
        variances[setting] = float(first_bn.running_var.max())
    assert variances["labeled"] < 2.0 < variances["all"]


def test_the_papers_recipe_puts_every_view_into_the_statistics():
    assert PAPER_RECIPE["bn_statistics"] == "all"
    assert TrainConfig(method="mona", out="x").bn_statistics == "labeled"
