"""Each schedule's lr at chosen steps equals its formula."""

import math

import pytest
import torch
from omegaconf import OmegaConf

from genopt_cli.config.compose import compose_config
from genopt_cli.optim import build_schedule

BASE_LR = 0.01
MAX_STEPS = 100


def lrs(schedule_overrides: list[str], steps: int = MAX_STEPS) -> list[float]:
    cfg = compose_config(["model=vae", *schedule_overrides]).schedule
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=BASE_LR)
    schedule = build_schedule(optimizer, cfg, MAX_STEPS, BASE_LR)
    values = []
    for _ in range(steps):
        values.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return values


def test_warmup_never_starts_at_zero():
    values = lrs(["schedule=constant", "schedule.warmup_steps=10"])
    for t in range(10):
        assert values[t] == pytest.approx(BASE_LR * (t + 1) / 10)
    assert values[10:] == pytest.approx([BASE_LR] * 90)


def test_step_decay():
    values = lrs(["schedule=step", "schedule.step_size=30", "schedule.gamma=0.5"])
    for t in (0, 29, 30, 59, 60, 99):
        assert values[t] == pytest.approx(BASE_LR * 0.5 ** (t // 30)), t


def test_exponential_decay():
    values = lrs(["schedule=exponential", "schedule.decay_rate=0.02", "schedule.warmup_steps=5"])
    for t in (5, 20, 99):
        assert values[t] == pytest.approx(BASE_LR * math.exp(-0.02 * (t - 5))), t


def test_cosine_reaches_min_lr():
    values = lrs(["schedule=cosine", "schedule.warmup_steps=10", "schedule.min_lr=0.001"])
    for t in (10, 40, 70, 99):
        progress = (t - 10) / 90
        expected = 0.001 + (BASE_LR - 0.001) * 0.5 * (1 + math.cos(math.pi * progress))
        assert values[t] == pytest.approx(expected), t
    assert values[10] == pytest.approx(BASE_LR)


def test_cosine_restarts_periods():
    values = lrs(["schedule=cosine_restarts", "schedule.T_0=10", "schedule.T_mult=2"])
    assert values[0] == pytest.approx(BASE_LR)
    assert values[10] == pytest.approx(BASE_LR)
    assert values[30] == pytest.approx(BASE_LR)
    assert values[5] == pytest.approx(BASE_LR * 0.5)
    assert values[20] == pytest.approx(BASE_LR * 0.5)


def test_wsd_stable_then_linear_decay():
    values = lrs(["schedule=wsd", "schedule.decay_fraction=0.2", "schedule.min_lr=0.0"])
    assert values[79] == pytest.approx(BASE_LR)
    assert values[90] == pytest.approx(BASE_LR * (1 - 10 / 20))
    assert values[99] == pytest.approx(BASE_LR * (1 - 19 / 20))


def test_schedule_scales_every_group():
    cfg = OmegaConf.create({"name": "step", "warmup_steps": 0, "step_size": 1, "gamma": 0.5})
    a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([{"params": [a], "lr": 0.1}, {"params": [b], "lr": 0.01}])
    schedule = build_schedule(optimizer, cfg, 10, 0.1)
    optimizer.step()
    schedule.step()
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.05, 0.005])
