"""Backbones, heads, the bundled network and the EMA teacher."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mona_lab.models import (
    HEAD_NAMES,
    EMATeacher,
    LocalProjectionHead,
    PredictorHead,
    ProjectionHead,
    RepresentationHead,
    UNet2D,
    VNet3D,
    build_model,
    model_from_config,
)


pytestmark = pytest.mark.usefixtures("single_thread")


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------- UNet2D


@pytest.mark.parametrize(("width", "channels"), [(1.0, (16, 32, 64, 128, 256)), (0.5, (8, 16, 32, 64, 128))])
def test_unet_output_shapes_and_decoder_channels(width, channels):
    net = UNet2D(in_channels=1, num_classes=4, width=width)
    out = net(torch.randn(2, 1, 32, 48))
    assert out.logits.shape == (2, 4, 32, 48)
    assert out.bottleneck.shape == (2, channels[-1], 2, 3)
    sizes = [(2, 3), (4, 6), (8, 12), (16, 24), (32, 48)]
    assert [tuple(f.shape) for f in out.decoder_features] == [
        (2, c, h, w) for c, (h, w) in zip(reversed(channels), sizes)
    ]
    assert out.decoder_features[0] is out.bottleneck
    assert out.decoder_channels == sum(channels)


def test_unet_width_one_concatenates_to_496_channels():
    net = UNet2D()
    assert sum(net.decoder_channels) == 496
    assert RepresentationHead(net.decoder_channels).fused_channels == 496


@pytest.mark.parametrize("shape", [(1, 1, 30, 32), (1, 1, 32, 40), (1, 2, 32, 32), (1, 32, 32)])
def test_unet_rejects_bad_shapes_naming_them(shape):
    with pytest.raises(ValueError, match=str(shape).replace("(", r"\(").replace(")", r"\)")):
        UNet2D()(torch.randn(shape))


def test_unet_rejects_bad_arguments():
    with pytest.raises(ValueError, match="width"):
        UNet2D(width=0)
    with pytest.raises(ValueError, match="dropout"):
        UNet2D(dropout=(0.1, 0.2))


def test_unet_parameter_count():
    full = n_params(UNet2D(width=1.0))
    half = n_params(UNet2D(width=0.5))
    # 3x3 convs dominate, so halving every width quarters the count.
    assert 1.7e6 < full < 2.2e6
    assert 0.22 < half / full < 0.28


def test_unet_is_deterministic_under_a_seed():
    torch.manual_seed(3)
    a = UNet2D(width=0.25).eval()
    torch.manual_seed(3)
    b = UNet2D(width=0.25).eval()
    x = torch.randn(2, 1, 32, 32)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert torch.equal(a(x).logits, b(x).logits)


def test_unet_batchnorm_train_and_eval_behaviour():
    torch.manual_seed(0)
    net = UNet2D(width=0.25, dropout=(0, 0, 0, 0, 0))
    x = torch.randn(4, 1, 32, 32)
    bn = net.encoder[0].layers[1]
    before = bn.running_mean.clone()
    net.train()
    train_full = net(x).logits
    assert not torch.equal(bn.running_mean, before), "train() must update running statistics"
    train_other = net(torch.cat([x[:1], 5 * x[1:]])).logits
    assert not torch.allclose(train_full[:1], train_other[:1]), "train() normalises with batch statistics"
    net.eval()
    frozen = bn.running_mean.clone()
    eval_full = net(x).logits
    eval_other = net(torch.cat([x[:1], 5 * x[1:]])).logits
    assert torch.equal(bn.running_mean, frozen)
    torch.testing.assert_close(eval_full[:1], eval_other[:1], rtol=1e-5, atol=1e-5)


def test_unet_accepts_channels_last_input():
    torch.manual_seed(0)
    net = UNet2D(width=0.25).eval()
    x = torch.randn(2, 1, 32, 32)
    ref = net(x).logits
    net_cl = net.to(memory_format=torch.channels_last)
    out = net_cl(x.to(memory_format=torch.channels_last)).logits
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)


def test_unet_can_fit_one_image():
    """A few SGD steps on one image must lower the cross-entropy (the network trains)."""
    torch.manual_seed(0)
    net = UNet2D(width=0.25, num_classes=3)
    x = torch.rand(2, 1, 16, 16)
    y = (x[:, 0] > 0.33).long() + (x[:, 0] > 0.66).long()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(net(x).logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]


# ---------------------------------------------------------------- VNet3D


def test_vnet_shapes_on_a_tiny_volume():
    net = VNet3D(in_channels=1, num_classes=2, base_filters=4)
    out = net(torch.randn(2, 1, 16, 32, 16))
    assert out.logits.shape == (2, 2, 16, 32, 16)
    assert out.bottleneck.shape == (2, 64, 1, 2, 1)
    assert [f.shape[1] for f in out.decoder_features] == [64, 32, 16, 8, 4]
    assert out.decoder_features[-1].shape[2:] == (16, 32, 16)
    assert out.decoder_channels == 31 * 4


def test_vnet_default_size_and_bad_shape():
    net = VNet3D()
    assert sum(net.decoder_channels) == 496
    assert 8e6 < n_params(net) < 11e6  # the familiar ~9.4M-parameter V-Net with 16 filters
    with pytest.raises(ValueError, match=r"\(1, 1, 16, 16, 20\)"):
        net(torch.randn(1, 1, 16, 16, 20))


# ---------------------------------------------------------------- heads


def test_projection_head_pools_then_projects():
    torch.manual_seed(0)
    head = ProjectionHead(32, out_dim=24).eval()
    z = torch.randn(3, 32, 4, 5)
    v = head(z)
    assert v.shape == (3, 24)
    torch.testing.assert_close(v, head(z.mean(dim=(2, 3))))
    assert [type(m) for m in head.layers] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]


def test_mlp_heads_reject_bad_inputs():
    with pytest.raises(ValueError, match=r"batch of at least 2"):
        PredictorHead(8).train()(torch.randn(1, 8))
    with pytest.raises(ValueError, match=r"\[B, 8\]"):
        PredictorHead(8)(torch.randn(4, 9))
    with pytest.raises(ValueError, match=r"\[B, 32, \.\.\.\]"):
        ProjectionHead(32)(torch.randn(2, 16, 3, 3))


def test_local_projection_head_acts_per_pixel():
    torch.manual_seed(0)
    head = LocalProjectionHead(4, out_dim=16).eval()
    x = torch.randn(2, 4, 12, 12)
    full = head(x)
    assert full.shape == (2, 16, 12, 12)
    torch.testing.assert_close(head(x[:, :, 2:7, 3:9]), full[:, :, 2:7, 3:9])


def test_representation_head_fuses_all_scales():
    torch.manual_seed(0)
    chans = (16, 8, 4)
    head = RepresentationHead(chans, embed_dim=6)
    feats = [torch.randn(2, c, 4 * 2**i, 6 * 2**i) for i, c in enumerate(chans)]
    fused = head.fuse(feats)
    assert fused.shape == (2, 28, 16, 24)
    torch.testing.assert_close(fused[:, 16:24], F.interpolate(feats[1], size=(16, 24), mode="bilinear"))
    out = head(feats)
    assert out.shape == (2, 6, 16, 24)
    out.sum().backward()
    with pytest.raises(ValueError, match="feature 1"):
        head([feats[0], torch.randn(2, 5, 8, 12), feats[2]])


# ---------------------------------------------------------------- SegmentationNetwork


def test_network_computes_only_requested_heads():
    torch.manual_seed(0)
    net = build_model("unet2d", num_classes=4, width=0.25, embed_dim=8, projection_dim=12)
    x = torch.randn(2, 1, 32, 32)
    plain = net(x)
    assert plain.global_embedding is None and plain.representation is None
    out = net(x, heads=("global_prediction", "representation"))
    assert out.global_embedding.shape == (2, 12)  # the prediction implies the projection
    assert out.global_prediction.shape == (2, 12)
    assert out.representation.shape == (2, 8, 32, 32)
    assert out.local_embedding is None
    with pytest.raises(ValueError, match="unknown head"):
        net(x, heads=("global",))


def test_network_local_window_equals_cropping_the_full_projection():
    torch.manual_seed(0)
    net = build_model(width=0.25, projection_dim=8).eval()
    x = torch.randn(2, 1, 32, 32)
    full = net(x, heads=("local_prediction",))
    win = net(x, heads=("local_prediction",), local_window=((4, 16), (8, 16)))
    assert full.local_embedding.shape == (2, 8, 32, 32)
    torch.testing.assert_close(win.local_prediction, full.local_prediction[:, :, 4:20, 8:24])
    with pytest.raises(ValueError, match="does not fit"):
        net(x, heads=("local_projection",), local_window=((20, 16), (0, 16)))


def test_network_heads_subset_and_unbuilt_head():
    net = build_model(width=0.25, heads=("representation",), embed_dim=4)
    assert set(net.heads.keys()) == {"representation"}
    with pytest.raises(ValueError, match="not built"):
        net(torch.randn(2, 1, 16, 16), heads=("global_projection",))
    with pytest.raises(ValueError, match="unknown head"):
        build_model(heads=("nope",))


def test_network_rebuilds_from_its_config():
    torch.manual_seed(0)
    net = build_model("unet2d", num_classes=3, width=0.25, embed_dim=8, projection_dim=8).eval()
    clone = model_from_config(net.config.to_dict()).eval()
    clone.load_state_dict(net.state_dict())
    x = torch.randn(2, 1, 16, 16)
    torch.testing.assert_close(clone(x, heads=HEAD_NAMES).representation, net(x, heads=HEAD_NAMES).representation)


def test_vnet_network_with_heads():
    torch.manual_seed(0)
    net = build_model("vnet3d", num_classes=2, width=0.25, embed_dim=4, projection_dim=6)
    out = net(torch.randn(2, 1, 16, 16, 16), heads=HEAD_NAMES, local_window=((0, 8), (0, 8), (8, 8)))
    assert out.representation.shape == (2, 4, 16, 16, 16)
    assert out.local_prediction.shape == (2, 6, 8, 8, 8)
    assert out.global_prediction.shape == (2, 6)


# ---------------------------------------------------------------- EMATeacher


def _perturbed_student(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(width=0.25, embed_dim=4, projection_dim=4)


def test_ema_update_matches_the_formula_for_parameters_and_buffers():
    student = _perturbed_student()
    teacher = EMATeacher(student, momentum=0.9)
    with torch.no_grad():
        for p in student.parameters():
            p.add_(torch.randn_like(p))
    student.train()(torch.randn(4, 1, 16, 16))  # moves BN running stats
    t_before = {k: v.clone() for k, v in teacher.module.state_dict().items()}
    teacher.update(student)
    s_state = student.state_dict()
    for name, value in teacher.module.state_dict().items():
        if value.is_floating_point():
            expected = 0.9 * t_before[name] + 0.1 * s_state[name]
            torch.testing.assert_close(value, expected, rtol=1e-6, atol=1e-6, msg=name)
        else:  # num_batches_tracked is copied
            assert torch.equal(value, s_state[name]), name
    assert int(teacher.num_updates) == 1


def test_ema_copy_mode_copies_buffers_and_momentum_override():
    student = _perturbed_student()
    teacher = EMATeacher(student, momentum=0.99, buffers="copy")
    student.train()(torch.randn(4, 1, 16, 16))
    teacher.update(student, momentum=0.0)  # momentum 0: teacher becomes the student
    for (name, t), s in zip(teacher.module.state_dict().items(), student.state_dict().values()):
        assert torch.equal(t, s), name


def test_ema_warmup_follows_the_public_code_schedule():
    """min(1 - 1/(t+1), m): 0 at the first update (the teacher becomes the student), 0.5,
    0.9 at t = 9, then capped at m; the count survives a state_dict round trip."""
    student = _perturbed_student()
    teacher = EMATeacher(student, momentum=0.99)
    seen = []
    for _ in range(120):
        seen.append(teacher.warmup_momentum())
        teacher.update(student, momentum=seen[-1])
    assert seen[0] == 0.0 and seen[1] == 0.5 and abs(seen[9] - 0.9) < 1e-12
    assert seen[99] == 0.99 and seen[119] == 0.99 and all(a <= b for a, b in zip(seen, seen[1:]))
    other = EMATeacher(student, momentum=0.99)
    other.load_state_dict(teacher.state_dict())
    assert other.warmup_momentum() == 0.99


def test_the_method_uses_the_warmup_unless_the_paper_recipe_asks_for_a_plain_ema():
    from mona_lab.config import TrainConfig
    from mona_lab.methods import build_method

    for warmup, first_momentum in ((True, 0.0), (False, 0.99)):
        method = build_method(TrainConfig(method="mean-teacher", out="x", width=0.25, ema_warmup=warmup), 4)
        before = {k: v.clone() for k, v in method.teacher.module.state_dict().items()}
        with torch.no_grad():
            for p in method.student.parameters():
                p.add_(1.0)
        method.after_step()
        name = next(n for n, _ in method.student.named_parameters())
        expected = first_momentum * before[name] + (1 - first_momentum) * method.student.state_dict()[name]
        torch.testing.assert_close(method.teacher.module.state_dict()[name], expected)


def test_ema_teacher_takes_no_gradient():
    student = _perturbed_student()
    teacher = EMATeacher(student)
    assert all(not p.requires_grad for p in teacher.parameters())
    assert all(p.requires_grad for p in student.parameters())
    out = teacher(torch.randn(2, 1, 16, 16), heads=("representation",))
    assert out.logits.grad_fn is None and out.representation.grad_fn is None


def test_ema_state_dict_round_trip_and_wrapped_student():
    student = _perturbed_student()
    teacher = EMATeacher(nn.DataParallel(student), momentum=0.5)  # unwraps .module
    with torch.no_grad():
        for p in student.parameters():
            p.mul_(2.0)
    teacher.update(nn.DataParallel(student))
    restored = EMATeacher(_perturbed_student(seed=1), momentum=0.5)
    restored.load_state_dict(teacher.state_dict())
    for a, b in zip(restored.state_dict().values(), teacher.state_dict().values()):
        assert torch.equal(a, b)
    assert int(restored.num_updates) == 1


def test_ema_rejects_bad_momentum_and_mismatched_student():
    student = _perturbed_student()
    with pytest.raises(ValueError, match="momentum"):
        EMATeacher(student, momentum=1.5)
    with pytest.raises(ValueError, match="buffers"):
        EMATeacher(student, buffers="mean")
    teacher = EMATeacher(student)
    with pytest.raises(ValueError, match="do not match"):
        teacher.update(build_model(width=0.25, heads=("representation",), embed_dim=4))


def test_representation_stride_fuses_at_a_coarser_grid_and_matches_full_resolution_pooling():
    torch.manual_seed(0)
    net = build_model(num_classes=4, width=0.5, embed_dim=16, representation_stride=4).eval()
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        out = net(x, heads=("representation",))
    assert out.representation.shape == (2, 16, 16, 16)
    head = net.heads["representation"]
    fused = head.fuse(out.decoder_features)
    # the finest map (full resolution) enters as its 4x4 average
    finest = out.decoder_features[-1]
    expected = F.avg_pool2d(finest, 4)
    assert torch.allclose(fused[:, -finest.shape[1]:], expected, atol=1e-6)
    with pytest.raises(ValueError, match="output_stride"):
        build_model(num_classes=4, width=0.5, representation_stride=0)
