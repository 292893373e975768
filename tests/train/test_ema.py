"""EMA of weights against its closed form, buffers included."""

import pytest
import torch
from torch import nn

from genopt_cli.train.ema import EMA


def test_ema_closed_form_constant_target():
    """Live weights held at w, EMA from e0: e_k = w + d^k (e0 - w)."""
    module = nn.Linear(2, 2)
    ema = EMA(module, decay=0.9, warmup=False)
    e0 = module.weight.detach().clone()
    with torch.no_grad():
        module.weight.fill_(3.0)
    for _ in range(5):
        ema.update()
    expected = 3.0 + 0.9**5 * (e0 - 3.0)
    torch.testing.assert_close(ema.module.weight, expected)


def test_ema_warmup_decay_formula():
    ema = EMA(nn.Linear(1, 1), decay=0.999, warmup=True)
    decays = [ema.update() for _ in range(3)]
    assert decays == pytest.approx([1 / 10, 2 / 11, 3 / 12])


def test_ema_follows_buffers():
    module = nn.BatchNorm1d(3)
    ema = EMA(module, decay=0.5, warmup=False)
    module(torch.randn(16, 3) + 4.0)
    live_mean = module.running_mean.clone()
    ema.update()
    torch.testing.assert_close(ema.module.running_mean, 0.5 * live_mean)
    assert ema.module.num_batches_tracked.item() == 1
