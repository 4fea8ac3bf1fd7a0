"""Temperature schedules (ACTION++ Eq. 6, Table 6) and learning-rate schedules."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mona_lab.schedules import (
    TEMPERATURE_KINDS,
    TemperatureSchedule,
    build_lr_scheduler,
    poly_lr,
    step_decay_lr,
    temperature,
    temperature_curve,
)


def eq6(t: float, total: float, tau_min: float, tau_max: float) -> float:
    """ACTION++ Eq. 6 written out: tau^- + 0.5 (1 + cos(2 pi t / T)) (tau^+ - tau^-)."""
    return tau_min + 0.5 * (1 + math.cos(2 * math.pi * t / total)) * (tau_max - tau_min)


def test_cosine_at_known_points():
    assert temperature("cosine", 0, 1000, 0.1, 1.0) == pytest.approx(1.0)
    assert temperature("cosine", 500, 1000, 0.1, 1.0) == pytest.approx(0.1)
    assert temperature("cosine", 250, 1000, 0.1, 1.0) == pytest.approx(0.55)
    assert temperature("cosine", 1000, 1000, 0.1, 1.0) == pytest.approx(1.0)
    # period 0.5: the minimum comes after a quarter of training, the maximum at half
    assert temperature("cosine", 250, 1000, 0.1, 1.0, period=0.5) == pytest.approx(0.1)
    assert temperature("cosine", 500, 1000, 0.1, 1.0, period=0.5) == pytest.approx(1.0)


@settings(max_examples=30)
@given(
    t=st.integers(0, 5000),
    total=st.integers(1, 5000),
    tau_min=st.floats(0.01, 0.5),
    gap=st.floats(0.0, 1.0),
    period=st.sampled_from([0.1, 0.2, 0.5, 1.0, 2.0]),
)
def test_cosine_is_eq6_with_a_period(t, total, tau_min, gap, period):
    tau_max = tau_min + gap
    got = temperature("cosine", t, total, tau_min, tau_max, period)
    assert got == pytest.approx(eq6(t, period * total, tau_min, tau_max), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("kind", TEMPERATURE_KINDS)
def test_every_kind_stays_in_range(kind):
    taus = temperature_curve(kind, np.arange(0, 3000, 7), 1000, 0.07, 0.5, 0.2, seed=4)
    assert taus.shape == (len(range(0, 3000, 7)),)
    assert np.all(taus >= 0.07 - 1e-12) and np.all(taus <= 0.5 + 1e-12)


def test_fixed_step_and_oscillating_shapes():
    assert temperature("fixed", 123, 1000) == pytest.approx(0.1)
    assert temperature("fixed", 123, 1000, tau_fixed=0.5) == pytest.approx(0.5)
    steps = np.arange(1000)
    step = temperature_curve("step", steps, 1000, 0.1, 1.0)
    assert np.all(step[:500] == 1.0) and np.all(step[500:] == 0.1)
    osc = temperature_curve("oscillating", steps, 1000, 0.1, 1.0)
    assert osc[0] == pytest.approx(1.0) and osc[500] == pytest.approx(0.1)
    assert osc[250] == pytest.approx(0.55) and osc[750] == pytest.approx(0.55)
    assert np.allclose(np.diff(osc[:500]), -0.9 / 500)  # linear ramp down


def test_random_is_a_function_of_seed_and_step():
    a = temperature_curve("random", np.arange(10_000), 100, 0.1, 1.0, seed=7)
    b = np.array([temperature("random", s, 100, 0.1, 1.0, seed=7) for s in range(10_000)[::-1]])[::-1]
    np.testing.assert_array_equal(a, b)  # same value whatever the order of the calls
    c = temperature_curve("random", np.arange(10_000), 100, 0.1, 1.0, seed=8)
    assert np.mean(a == c) < 0.01
    assert abs(a.mean() - 0.55) < 0.02  # uniform on [0.1, 1.0]
    assert abs(np.corrcoef(a[:-1], a[1:])[0, 1]) < 0.05  # independent across steps


def test_schedule_object_and_curve_agree_with_scalar():
    sched = TemperatureSchedule("cosine", total=200, period=0.5)
    curve = sched.curve(range(0, 400, 13))
    for i, s in enumerate(range(0, 400, 13)):
        assert curve[i] == pytest.approx(sched(s))
        assert curve[i] == pytest.approx(temperature("cosine", s, 200, 0.1, 1.0, 0.5))


def test_temperature_errors():
    with pytest.raises(ValueError, match="fixed.*cosine.*step.*random.*oscillating"):
        temperature("linear", 0, 10)
    with pytest.raises(ValueError, match="step"):
        temperature("cosine", -1, 10)
    with pytest.raises(ValueError, match="total"):
        temperature("cosine", 0, 0)
    with pytest.raises(ValueError, match="tau_min"):
        temperature("cosine", 0, 10, tau_min=0.5, tau_max=0.1)
    with pytest.raises(ValueError, match="period"):
        temperature("cosine", 0, 10, period=0)
    with pytest.raises(ValueError, match="unknown"):
        TemperatureSchedule("warm", total=10)


def test_lr_formulas():
    assert step_decay_lr(0.01, 0) == pytest.approx(0.01)
    assert step_decay_lr(0.01, 2499) == pytest.approx(0.01)
    assert step_decay_lr(0.01, 2500) == pytest.approx(0.001)
    assert step_decay_lr(0.01, 7600) == pytest.approx(1e-5)
    assert poly_lr(0.01, 0, 30000) == pytest.approx(0.01)
    assert poly_lr(0.01, 15000, 30000) == pytest.approx(0.01 * 0.5**0.9)
    assert poly_lr(0.01, 30000, 30000) == 0.0
    assert poly_lr(0.01, 40000, 30000) == 0.0
    with pytest.raises(ValueError):
        poly_lr(0.01, -1, 10)
    with pytest.raises(ValueError):
        step_decay_lr(0.01, 1, every=0)


def _lrs(scheduler, optimizer, n):
    out = []
    for _ in range(n):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return out


@pytest.mark.parametrize(("kind", "expected"), [
    ("step", lambda i: step_decay_lr(0.01, i, every=5, factor=0.1)),
    ("poly", lambda i: poly_lr(0.01, i, 20, 0.9)),
    ("constant", lambda i: 0.01),
])
def test_lambda_lr_follows_formula_and_resumes(kind, expected):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.01)
    sched = build_lr_scheduler(opt, kind, total=20, every=5, factor=0.1)
    first = _lrs(sched, opt, 8)
    assert first == pytest.approx([expected(i) for i in range(8)])
    # resume: a fresh optimizer/scheduler loaded from the state dicts continues identically
    p2 = torch.nn.Parameter(torch.zeros(1))
    opt2 = torch.optim.SGD([p2], lr=0.01)
    sched2 = build_lr_scheduler(opt2, kind, total=20, every=5, factor=0.1)
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(sched.state_dict())
    assert _lrs(sched2, opt2, 6) == pytest.approx(_lrs(sched, opt, 6))
    assert _lrs(sched2, opt2, 1) == pytest.approx([expected(14)])


def test_lr_scheduler_errors():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="constant.*step.*poly"):
        build_lr_scheduler(opt, "cosine")
    with pytest.raises(ValueError, match="total"):
        build_lr_scheduler(opt, "poly")


def test_sigmoid_rampup_known_points_and_monotone():
    from mona_lab.schedules import sigmoid_rampup

    assert sigmoid_rampup(0, 100) == pytest.approx(math.exp(-5.0))
    assert sigmoid_rampup(50, 100) == pytest.approx(math.exp(-1.25))
    assert sigmoid_rampup(100, 100) == 1.0 and sigmoid_rampup(10_000, 100) == 1.0
    assert sigmoid_rampup(7, 0) == 1.0  # no ramp
    values = [sigmoid_rampup(s, 40) for s in range(60)]
    assert all(a <= b for a, b in zip(values, values[1:]))
    with pytest.raises(ValueError, match="step"):
        sigmoid_rampup(-1, 10)
