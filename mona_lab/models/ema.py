"""Exponential-moving-average (mean) teacher.

MONA (paper 001, Sec. III-A): the teacher weights follow ``xi = t * xi + (1 - t) * theta``
with ``t = 0.99``; ACTION / ACTION++ use the same update. `EMATeacher` holds a deep copy of
the student whose parameters never take gradients.

BatchNorm buffers (a choice the papers leave open): with ``buffers="ema"`` (default) the
floating-point buffers (running mean / variance) follow the same moving average as the
weights, so a teacher in ``eval()`` normalises with statistics that match its averaged
weights; with ``buffers="copy"`` they are copied from the student. Integer buffers
(``num_batches_tracked``) are always copied.

The teacher network always runs in **eval mode** (no dropout, running statistics):
``method.train()`` switches the student but not the teacher (`EMATeacher.train`). A
teacher in train mode has active dropout (two forwards of one input differed by up to
1.19 logits at width 0.25) and its own forward rewrites the BatchNorm buffers that the
EMA then blends (issue "Methods that work", alignment bug 1). Mean teacher and the
papers' pseudo-labels come from the averaged model, i.e. in eval mode.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

BUFFER_MODES = ("ema", "copy")


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain module inside DistributedDataParallel / DataParallel / ``torch.compile`` wrappers."""
    while True:
        if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(model._orig_mod, nn.Module):
            model = model._orig_mod
        else:
            return model


class EMATeacher(nn.Module):
    """Mean teacher: a frozen copy of the student updated by an exponential moving average.

    MONA Sec. III-A: ``xi = t * xi + (1 - t) * theta`` with ``t = 0.99``.

    Args:
        student: the network to copy (may be DDP / DataParallel / compiled; the inner
            module is copied).
        momentum: ``t`` in ``teacher = t * teacher + (1 - t) * student`` (0.99 in MONA).
        buffers: ``"ema"`` or ``"copy"`` for floating-point buffers (see module docstring).

    Attributes:
        module: the teacher network; call the teacher like the student (``teacher(x)``).
        num_updates: a buffer counting `update` calls (saved in ``state_dict``).

    Raises:
        ValueError: if momentum is outside [0, 1] or ``buffers`` is unknown.
    """

    def __init__(self, student: nn.Module, momentum: float = 0.99, buffers: str = "ema") -> None:
        super().__init__()
        self.momentum = _check_momentum(momentum)
        if buffers not in BUFFER_MODES:
            raise ValueError(f"buffers must be one of {BUFFER_MODES}, got {buffers!r}")
        self.buffer_mode = buffers
        self.module = copy.deepcopy(unwrap_model(student))
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))
        self.module.eval()

    def train(self, mode: bool = True) -> "EMATeacher":
        """Set this wrapper's mode; the teacher network itself always stays in eval mode."""
        super().train(mode)
        self.module.eval()
        return self

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    @torch.no_grad()
    def warmup_momentum(self) -> float:
        """The public code's EMA warm-up: ``min(1 - 1 / (t + 1), momentum)`` with ``t`` the
        updates so far (SSL4MIS ``update_ema_variables``, the code base of the four papers'
        baselines; Tarvainen & Valpola 2017). The teacher follows the student closely while
        it changes fast (t = 1: 0.5, t = 9: 0.9) and settles at ``momentum`` after
        ``1 / (1 - momentum)`` updates; the papers print only the final 0.99."""
        t = int(self.num_updates)
        return min(1.0 - 1.0 / (t + 1), self.momentum)

    def update(self, student: nn.Module, momentum: float | None = None) -> None:
        """One EMA step: ``teacher = m * teacher + (1 - m) * student`` for every parameter.

        Args:
            student: the trained network (same architecture; DDP-wrapped is fine).
            momentum: override ``self.momentum`` for this step (e.g. a warm-up ramp).

        Raises:
            ValueError: if the student's parameters or buffers do not match the teacher's.
        """
        m = self.momentum if momentum is None else _check_momentum(momentum)
        student = unwrap_model(student)
        teacher_params = dict(self.module.named_parameters())
        student_params = dict(student.named_parameters())
        _check_same_names("parameters", teacher_params, student_params)
        t_list = [teacher_params[k] for k in teacher_params]
        s_list = [student_params[k].detach().to(teacher_params[k].dtype) for k in teacher_params]
        for t, s in zip(t_list, s_list):
            if t.shape != s.shape:
                raise ValueError(
                    f"EMATeacher.update: parameter shapes differ, teacher {tuple(t.shape)} "
                    f"vs student {tuple(s.shape)}"
                )
        if t_list:
            if hasattr(torch, "_foreach_lerp_") and len({t.device for t in t_list}) == 1:
                torch._foreach_lerp_(t_list, s_list, 1.0 - m)
            else:
                for t, s in zip(t_list, s_list):
                    t.lerp_(s, 1.0 - m)
        teacher_buffers = dict(self.module.named_buffers())
        student_buffers = dict(student.named_buffers())
        _check_same_names("buffers", teacher_buffers, student_buffers)
        for name, t in teacher_buffers.items():
            s = student_buffers[name].detach()
            if self.buffer_mode == "ema" and t.is_floating_point():
                t.lerp_(s.to(t.dtype), 1.0 - m)
            else:
                t.copy_(s)
        self.num_updates += 1


def _check_momentum(momentum: float) -> float:
    if not isinstance(momentum, (int, float)) or isinstance(momentum, bool) or not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be a number in [0, 1], got {momentum!r}")
    return float(momentum)


def _check_same_names(kind: str, teacher: dict, student: dict) -> None:
    if teacher.keys() != student.keys():
        missing = sorted(set(teacher) - set(student))[:3]
        extra = sorted(set(student) - set(teacher))[:3]
        raise ValueError(
            f"EMATeacher.update: student {kind} do not match the teacher's "
            f"(missing in student: {missing}, unexpected: {extra})"
        )
