"""A NaN is reported at the step where it appears, with the player and the parameter."""

import math

import pytest
import torch

from genopt_cli.train.loop import NonFiniteLossError
from tests.train.conftest import make_trainer


def poison(trainer, parameter_index: int, at_step: int):
    """Make one parameter's gradient NaN during step `at_step`; return the step counter."""
    player = trainer.players[0]
    current = {"step": -1}
    player.parameters[parameter_index].register_hook(
        lambda g: g * math.nan if current["step"] == at_step else g
    )
    return current


def test_nan_stop_names_step_and_parameter():
    _, trainer = make_trainer("vae")
    current = poison(trainer, 2, at_step=4)
    name = trainer.players[0].parameter_names[2]
    with pytest.raises(NonFiniteLossError) as raised:
        for step in range(10):
            current["step"] = step
            trainer.train_step(step, log_now=False)
    message = str(raised.value)
    assert "at step 4, player model" in message
    assert f"first parameter with a non-finite gradient: {name}" in message
    assert "trainer.clip_grad_norm" in message
    assert "bf16" in message


def test_skip_leaves_weights_optimizer_schedule_and_ema_untouched():
    _, trainer = make_trainer(
        "vae", "trainer.on_nonfinite=skip", "trainer.ema.decay=0.9", "optimizer=adamw"
    )
    player = trainer.players[0]
    current = poison(trainer, 0, at_step=2)
    for step in range(2):
        current["step"] = step
        trainer.train_step(step, log_now=False)
    weights = [p.detach().clone() for p in player.parameters]
    moments = [s["exp_avg"].clone() for s in player.optimizer.state.values()]
    ema = [p.clone() for p in player.ema.module.parameters()]
    position = (player.schedule.last_epoch, player.ema.updates)
    current["step"] = 2
    trainer.train_step(2, log_now=True)
    assert trainer.collect(2)["train/nonfinite_skips"] == 1
    assert all(torch.equal(p, w) for p, w in zip(player.parameters, weights, strict=True))
    after = [s["exp_avg"] for s in player.optimizer.state.values()]
    assert all(torch.equal(a, m) for a, m in zip(after, moments, strict=True))
    assert all(torch.equal(p, e) for p, e in zip(player.ema.module.parameters(), ema, strict=True))
    assert (player.schedule.last_epoch, player.ema.updates) == position
    current["step"] = 3
    trainer.train_step(3, log_now=False)
    assert player.schedule.last_epoch == position[0] + 1


def test_consecutive_skips_stop_run():
    _, trainer = make_trainer("vae", "trainer.on_nonfinite=skip", "trainer.max_skips_in_a_row=3")
    trainer.players[0].parameters[0].register_hook(lambda g: g * math.nan)
    with pytest.raises(NonFiniteLossError, match="3 updates in a row skipped"):
        for step in range(5):
            trainer.train_step(step, log_now=False)
