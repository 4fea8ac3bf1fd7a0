"""Training dynamics (issue 10): the teacher in eval mode, element-wise dropout, the head
gradient scale and dynamics.csv with per-term gradient norms."""
from __future__ import annotations

import math

import pytest
import torch

from mona_lab.cli import main
from mona_lab.config import PAPER_RECIPE, TrainConfig
from mona_lab.training.dynamics import (
    TRACKED_LAYERS,
    median_term_shares,
    read_dynamics,
    term_gradient_norms,
    tracked_parameters,
)
from mona_lab.errors import MonaLabError
from mona_lab.methods import build_method
from mona_lab.models import build_model
from mona_lab.models.gradient_scale import scale_gradient

SMALL = [
    "--dataset", "phantom", "--labeled", "2", "--image-size", "32", "--batch-size", "4", "--width", "0.25",
    "--embed-dim", "16", "--num-queries", "16", "--num-negatives", "32", "--no-progress",
]  # fmt: skip


@pytest.fixture(autouse=True)
def fast_phantom(monkeypatch):
    monkeypatch.setenv("MONA_LAB_FAST", "1")


def test_teacher_stays_in_eval_mode_when_the_method_trains():
    """Regression (issue 10, bug 1): ``method.train()`` used to switch the teacher to train
    mode: dropout on, and its forward rewrote its BatchNorm running statistics."""
    method = build_method(TrainConfig(method="mona", out="x", width=0.25, embed_dim=16), num_classes=4)
    method.train()
    assert method.student.training
    assert not method.teacher.module.training
    assert not any(m.training for m in method.teacher.module.modules())
    x = torch.rand(4, 1, 32, 32)
    buffers = {k: v.clone() for k, v in method.teacher.module.named_buffers()}
    with torch.no_grad():
        a, b = method.teacher(x).logits, method.teacher(x).logits
    assert torch.equal(a, b)  # no dropout: one input, one pseudo-label
    assert all(torch.equal(buffers[k], v) for k, v in method.teacher.module.named_buffers())
    method.eval()
    method.train()
    assert not method.teacher.module.training


def test_unet_dropout_is_element_wise_by_default_and_channel_on_request():
    net = build_model("unet2d", num_classes=4, width=0.25, heads=())
    kinds = {type(m).__name__ for m in net.modules()}
    assert "Dropout" in kinds and "Dropout2d" not in kinds
    net = build_model("unet2d", num_classes=4, width=0.25, heads=(), dropout_kind="channel")
    assert "Dropout2d" in {type(m).__name__ for m in net.modules()}
    with pytest.raises(ValueError, match="dropout kind"):
        build_model("unet2d", num_classes=4, width=0.25, heads=(), dropout_kind="pixel")


def test_scale_gradient_keeps_the_value_and_scales_the_gradient():
    x = torch.randn(3, 5, requires_grad=True)
    y = scale_gradient(x, 0.25)
    assert torch.equal(y, x)
    (y * torch.arange(5.0)).sum().backward()
    assert torch.allclose(x.grad, 0.25 * torch.arange(5.0).expand(3, 5))
    with pytest.raises(ValueError, match="alpha"):
        scale_gradient(x, -1.0)


def test_head_grad_scale_scales_what_the_heads_send_into_the_backbone_only():
    torch.manual_seed(0)
    full = build_model("unet2d", num_classes=4, width=0.25, embed_dim=8, projection_dim=8, heads=("representation",))
    scaled = build_model(
        "unet2d", num_classes=4, width=0.25, embed_dim=8, projection_dim=8, heads=("representation",), head_grad_scale=0.1
    )
    scaled.load_state_dict(full.state_dict())
    full.eval(), scaled.eval()
    x = torch.rand(2, 1, 32, 32)
    grads = []
    for net in (full, scaled):
        net.zero_grad()
        net(x, heads=("representation",)).representation.pow(2).mean().backward()
        grads.append((net.heads["representation"].layers[0].weight.grad.clone(), net.backbone.classifier.weight.grad))
    assert torch.allclose(grads[0][0], grads[1][0])  # the head itself learns at full rate
    assert grads[0][1] is None and grads[1][1] is None  # the classifier is not on this path
    first = {n: p.grad for n, p in full.backbone.named_parameters() if p.grad is not None}
    second = {n: p.grad for n, p in scaled.backbone.named_parameters() if p.grad is not None}
    name = "encoder.0.layers.0.weight"
    assert torch.allclose(second[name], 0.1 * first[name], rtol=1e-4, atol=1e-8)


def test_term_gradient_norms_name_each_term_at_each_layer():
    method = build_method(TrainConfig(method="mean-teacher", out="x", width=0.25, embed_dim=16), num_classes=4)
    images = torch.rand(4, 1, 32, 32)
    out = method.student(images)
    labels = torch.randint(0, 4, (4, 32, 32))
    sup = torch.nn.functional.cross_entropy(out.logits, labels)
    other = out.logits.pow(2).mean()
    row = term_gradient_norms(method.student, {"sup": sup, "other": other}, {"sup": 1.0, "other": 0.0})
    assert set(row) == {f"grad@{layer}:{t}" for layer in TRACKED_LAYERS for t in ("sup", "other")}
    assert row["grad@first_conv:sup"] > 0 and row["grad@classifier:sup"] > 0
    assert row["grad@first_conv:other"] == 0.0  # weight 0: it does not enter the total
    doubled = term_gradient_norms(method.student, {"sup": sup}, {"sup": 2.0})
    assert doubled["grad@classifier:sup"] == pytest.approx(2 * row["grad@classifier:sup"], rel=1e-5)
    assert len(tracked_parameters(method.student)) == 3


def test_training_writes_dynamics_csv_with_weight_norms_and_per_term_gradients(tmp_path):
    out = tmp_path / "mona"
    args = ["--pretrain-iterations", "2", "--dynamics-every", "2"]
    assert main(["train", "--method", "mona", "--iterations", "4", "--out", str(out), *SMALL, *args]) == 0
    columns = read_dynamics(out / "dynamics.csv")
    assert columns["step"] == [0.0, 2.0, 4.0]
    assert columns["stage"] == ["glcon", "finetune", "finetune"]
    for layer in TRACKED_LAYERS:
        assert all(v > 0 for v in columns[f"weight_norm@{layer}"])
    # each fine-tuning term's gradient at the encoder is logged; GLCon's terms only in GLCon
    for term in ("unsup", "contrast", "eqv", "nn"):
        values = columns[f"grad@first_conv:{term}"]
        assert math.isnan(values[0]) and all(math.isfinite(v) for v in values[1:])
    assert all(math.isfinite(v) for v in columns["grad@first_conv:sup"])  # L_sup in both stages
    assert math.isfinite(columns["grad@first_conv:sup"][0]) and math.isnan(columns["grad@first_conv:inst_local"][1])
    assert all(v > 0 for v in columns["bn_running_var@bottleneck"])
    assert columns["grad@classifier:sup"][1] > 0


def test_dynamics_can_be_switched_off_and_bad_values_are_refused(tmp_path):
    out = tmp_path / "sup"
    assert main(["train", "--method", "supervised", "--iterations", "2", "--out", str(out), *SMALL, "--dynamics-every", "0"]) == 0
    assert not (out / "dynamics.csv").exists()
    with pytest.raises(FileNotFoundError, match="dynamics-every 0"):
        read_dynamics(out / "dynamics.csv")
    with pytest.raises(MonaLabError, match="dynamics-every"):
        TrainConfig(method="mona", out="x", dynamics_every=-1)
    with pytest.raises(MonaLabError, match="head-grad-scale"):
        TrainConfig(method="mona", out="x", head_grad_scale=-0.5)


def test_paper_recipe_is_one_switch_away(tmp_path):
    out = tmp_path / "paper"
    assert main(["train", "--method", "mona", "--iterations", "1", "--pretrain-iterations", "0", "--out", str(out), *SMALL,
                 "--recipe", "paper"]) == 0  # fmt: skip
    config = TrainConfig.load(out / "config.json")
    assert config.recipe == "paper"
    assert {k: getattr(config, k) for k in PAPER_RECIPE} == PAPER_RECIPE
    assert TrainConfig(method="mona", out="x").recipe == "working"
    assert TrainConfig(method="mona", out="x", strong_labeled=True).recipe == "custom"
    # an explicit flag overrides the recipe's value
    out = tmp_path / "paper-weak"
    assert main(["train", "--method", "mona", "--iterations", "1", "--pretrain-iterations", "0", "--out", str(out), *SMALL,
                 "--recipe", "paper", "--student-labeled-view", "weak"]) == 0  # fmt: skip
    assert TrainConfig.load(out / "config.json").strong_labeled is False


def test_plot_training_dynamics_draws_every_term(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from mona_lab.lab.viz import plot_training_dynamics

    out = tmp_path / "mona"
    assert main(["train", "--method", "mona", "--iterations", "2", "--pretrain-iterations", "0", "--out", str(out), *SMALL,
                 "--dynamics-every", "1"]) == 0  # fmt: skip
    left, right = plot_training_dynamics(read_dynamics(out / "dynamics.csv"))
    labels = {line.get_label() for line in left.get_lines()}
    assert {"sup", "contrast", "eqv", "nn"} <= labels
    assert any("first_conv" in line.get_label() for line in right.get_lines())
    with pytest.raises(KeyError, match="no gradient columns"):
        plot_training_dynamics(read_dynamics(out / "dynamics.csv"), layer="decoder")


def test_nn_on_unlabelled_rows_and_intensity_in_eqv_are_switches(tmp_path):
    from mona_lab.data import load_dataset
    from mona_lab.methods import StepContext, Stage

    data = load_dataset("phantom", image_size=32, fast=True)
    torch.manual_seed(0)
    x = torch.rand(4, 1, 32, 32)
    labels = torch.randint(0, data.num_classes, (2, 32, 32))
    results = {}
    for name, extra in {"all": {}, "unlabelled": {"nn_unlabeled_only": True}, "intensity": {"eqv_intensity": True}}.items():
        config = TrainConfig(method="mona", out="x", width=0.25, embed_dim=16, num_queries=16, num_negatives=32, **extra)
        torch.manual_seed(0)
        method = build_method(config, data.num_classes)
        pushed = []
        method.neighbours.enqueue = lambda t: pushed.append(t.shape[0])
        method.context = StepContext(0, Stage("finetune", 1), 0, 0.5, torch.Generator().manual_seed(0))
        losses = method(x[:2], labels, x[2:])
        method.after_step()
        results[name] = (losses, pushed)
    assert results["all"][1] == [4] and results["unlabelled"][1] == [2]  # rows that reach the bank
    assert not torch.equal(results["all"][0]["eqv"], results["intensity"][0]["eqv"])
    assert torch.equal(results["all"][0]["sup"], results["intensity"][0]["sup"])


def test_representation_head_width_follows_the_recipe():
    """Working recipe: a quarter of m (cost, issue 10); the papers: m itself."""
    for embed, working in ((512, 128), (128, 32), (32, 8)):
        assert TrainConfig(method="mona", out="x", embed_dim=embed).representation_hidden == working
        assert TrainConfig(method="mona", out="x", embed_dim=embed, **PAPER_RECIPE).representation_hidden == embed
    method = build_method(TrainConfig(method="mona", out="x", width=0.25, embed_dim=128), num_classes=4)
    assert method.student.heads["representation"].layers[0].out_channels == 32
    assert method.student.heads["representation"].layers[3].out_channels == 128
    with pytest.raises(MonaLabError, match="representation_hidden_ratio"):
        TrainConfig(method="mona", out="x", representation_hidden_ratio=0)


def test_median_term_shares_take_the_last_stage_and_skip_missing_rows():
    nan = math.nan
    columns = {
        "step": [0.0, 10.0, 20.0, 30.0, 40.0],
        "stage": ["glcon", "finetune", "finetune", "finetune", "finetune"],
        "grad@bottleneck_conv:sup": [1.0, 2.0, 2.0, 0.0, 4.0],
        "grad@bottleneck_conv:nn": [nan, 20.0, 0.02, 5.0, 0.04],  # huge early, small later
        "grad@bottleneck_conv:inst_local": [3.0, nan, nan, nan, nan],  # pre-training only
        "grad@first_conv:sup": [1.0, 1.0, 1.0, 1.0, 1.0],
    }
    shares = median_term_shares(columns)
    # rows 10, 20, 40 (row 30 has no L_sup gradient): 10, 0.01, 0.01 -> median 0.01
    assert shares == {"nn": pytest.approx(0.01)}
    assert median_term_shares(columns, stage="glcon") == {"inst_local": pytest.approx(3.0)}
    with pytest.raises(KeyError, match="classifier"):
        median_term_shares(columns, layer="classifier")


def test_the_muted_recipe_is_one_switch_away_and_named(tmp_path):
    from mona_lab.config import MUTED_RECIPE, recipe_options

    assert recipe_options("muted") == MUTED_RECIPE == {"head_grad_scale": 0.01}
    assert TrainConfig(method="mona", out="x", **MUTED_RECIPE).recipe == "muted"
    assert TrainConfig(method="mona", out="x").head_grad_scale > MUTED_RECIPE["head_grad_scale"]
    out = tmp_path / "muted"
    assert main(["train", "--method", "mona", "--iterations", "1", "--pretrain-iterations", "0", "--out", str(out), *SMALL,
                 "--recipe", "muted"]) == 0  # fmt: skip
    assert TrainConfig.load(out / "config.json").recipe == "muted"
    with pytest.raises(MonaLabError, match="unknown recipe 'quiet'"):
        recipe_options("quiet")


def test_the_phantom_a_run_sees_is_recorded_not_read_from_the_environment(tmp_path, monkeypatch):
    """Issue 23: `--dataset phantom` trained on 12 or 40 patients depending on MONA_LAB_SIZE,
    which config.json did not record."""
    monkeypatch.setenv("MONA_LAB_FAST", "1")
    assert TrainConfig(method="mona", out="x").phantom_fast is True
    assert TrainConfig(method="mona", out="x", dataset="acdc").phantom_fast is None
    monkeypatch.delenv("MONA_LAB_FAST")
    monkeypatch.setenv("MONA_LAB_SIZE", "lecture")
    assert TrainConfig(method="mona", out="x").phantom_fast is False
    out = tmp_path / "run"
    assert main(["train", "--method", "supervised", "--iterations", "1", "--out", str(out), *SMALL, "--phantom-size", "fast"]) == 0
    assert TrainConfig.load(out / "config.json").phantom_fast is True  # recorded, whatever the environment
    with pytest.raises(MonaLabError, match="phantom only"):
        TrainConfig(method="mona", out="x", dataset="acdc", phantom_fast=True)


def test_the_temperatures_are_cli_options(tmp_path):
    out = tmp_path / "tau"
    assert main(["train", "--method", "action++", "--iterations", "1", "--pretrain-iterations", "0", "--out", str(out), *SMALL,
                 "--tau-min", "0.2", "--tau-max", "0.8", "--temperature-period", "0.5", "--contrast-temperature", "0.3"]) == 0  # fmt: skip
    config = TrainConfig.load(out / "config.json")
    assert (config.tau_min, config.tau_max, config.temperature_period, config.contrast_temperature) == (0.2, 0.8, 0.5, 0.3)
