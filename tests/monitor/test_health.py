"""The health checks on sequences of logged values: each fires on its failure, once per episode,
and stays quiet on healthy sequences and on absent tags."""

import math

import pytest
from omegaconf import OmegaConf

from genopt_cli.monitor.health import (
    D_WIN_OBSERVATIONS,
    FLAT_OBSERVATIONS,
    HealthMonitor,
    ema_initial_share,
)


def feed(monitor: HealthMonitor, sequence: list[dict]) -> list:
    found = []
    for step, values in enumerate(sequence):
        found += monitor.observe(step, values)
    return found


def checks(warnings) -> list[str]:
    return [warning.check for warning in warnings]


def falling_loss(n: int) -> list[dict]:
    """A healthy run: loss 10 / (1 + t), gradient norms near 1."""
    return [
        {"train/loss": 10 / (1 + t), "optim/grad_norm/model": 1.0 + 0.1 * (t % 3)} for t in range(n)
    ]


def test_healthy_run_is_quiet():
    assert feed(HealthMonitor(["model"]), falling_loss(60)) == []


def test_absent_tags_are_tolerated():
    monitor = HealthMonitor(["model"])
    assert feed(monitor, [{} for _ in range(30)]) == []
    assert monitor.observe_eval(30, {}) == []


def test_grad_norm_spike_warns_once_per_episode():
    sequence = falling_loss(40)
    for t in (20, 21, 22, 35):
        sequence[t]["optim/grad_norm/model"] = 50.0
    found = feed(HealthMonitor(["model"]), sequence)
    assert checks(found) == ["grad_norm_spike", "grad_norm_spike"]
    assert [w.step for w in found] == [20, 35]
    assert "Lower optimizer.lr" in found[0].hint


def test_grad_norm_below_factor_is_quiet():
    sequence = falling_loss(40)
    sequence[20]["optim/grad_norm/model"] = 9.0  # 9 times a median of 1.1 is below 10 times
    assert feed(HealthMonitor(["model"]), sequence) == []


def test_rising_loss_warns():
    losses = [10 / (1 + t) for t in range(20)] + [0.5 * 1.2**k for k in range(20)]
    found = feed(HealthMonitor(["model"]), [{"train/loss": v} for v in losses])
    assert checks(found) == ["loss_rising"]
    # The window mean first exceeds 1.2 times the best window mean a few logs into the rise.
    assert 20 < found[0].step < 30


def test_rising_loss_ignored_while_kl_weight_grows():
    losses = [100.0 + t for t in range(30)]
    sequence = [
        {"train/loss": v, "train/kl_weight": min(1.0, t / 30)} for t, v in enumerate(losses)
    ]
    assert feed(HealthMonitor(["model"]), sequence) == []


def test_flat_loss_warns_with_update_ratio_hint():
    sequence = [{"train/loss": 5.0, "optim/update_ratio/model": 1e-7} for _ in range(20)]
    found = feed(HealthMonitor(["model"]), sequence)
    assert checks(found) == ["loss_flat"]
    assert found[0].step == FLAT_OBSERVATIONS - 1
    assert "raise optimizer.lr" in found[0].hint


def test_loss_falling_one_percent_is_not_flat():
    sequence = [{"train/loss": 5.0 * (1 - 0.0012 * t)} for t in range(20)]
    assert feed(HealthMonitor(["model"]), sequence) == []


def gan_values(accuracy: float, generator_loss: float) -> dict:
    return {
        "train/loss/discriminator": 0.5,
        "train/loss/generator": generator_loss,
        "train/d_accuracy": accuracy,
    }


def test_discriminator_wins_outright():
    sequence = [gan_values(0.7, 0.8)] * 5 + [gan_values(1.0, 4.0)] * 10
    found = feed(HealthMonitor(["discriminator", "generator"]), sequence)
    assert "discriminator_wins" in checks(found)
    step = next(w.step for w in found if w.check == "discriminator_wins")
    assert step == 5 + D_WIN_OBSERVATIONS - 1


def test_sure_but_early_discriminator_is_quiet():
    """D right on every example while G's loss is still low: the usual start of a GAN."""
    sequence = [gan_values(1.0, 1.2)] * 20 + [gan_values(0.7, 0.9)] * 10
    assert feed(HealthMonitor(["discriminator", "generator"]), sequence) == []


def test_generator_loss_diverging():
    sequence = [gan_values(0.8, 0.7)] * 10 + [gan_values(0.9, 0.7 + 0.5 * k) for k in range(10)]
    found = feed(HealthMonitor(["discriminator", "generator"]), sequence)
    assert checks(found) == ["generator_diverging"]


def test_gan_losses_skip_single_model_checks():
    """A GAN's flat or rising player losses are normal and must not warn as loss_flat."""
    sequence = [gan_values(0.7, 0.8)] * 30
    assert feed(HealthMonitor(["discriminator", "generator"]), sequence) == []


@pytest.mark.parametrize(
    ("metrics", "warns"),
    [
        ({"val/active_latents": 0.0}, True),
        ({"val/active_latents": 2.0}, True),
        ({"val/active_latents": 3.0}, False),
        ({f"eval/kl_dim/{i:02d}": 0.001 for i in range(16)}, True),
        ({**{f"eval/kl_dim/{i:02d}": 0.001 for i in range(12)}, "eval/kl_dim/12": 0.5}, True),
        (
            {
                **{f"eval/kl_dim/{i:02d}": 0.001 for i in range(12)},
                "eval/kl_dim/12": 0.5,
                "eval/kl_dim/13": 0.5,
                "eval/kl_dim/14": 0.5,
            },
            False,
        ),
    ],
)
def test_collapsed_latents(metrics, warns):
    monitor = HealthMonitor(["model"], latent_dim=16)
    assert (checks(monitor.observe_eval(0, metrics)) == ["posterior_collapse"]) is warns


def test_few_modes_covered():
    monitor = HealthMonitor(["discriminator", "generator"], expected_modes=8)
    assert checks(monitor.observe_eval(0, {"eval/modes_covered": 3.0})) == ["few_modes"]
    quiet = HealthMonitor(["discriminator", "generator"])
    assert quiet.observe_eval(0, {"eval/modes_covered": 3.0, "eval/modes_total": 6.0}) == []


def test_ema_initial_share_closed_form():
    assert ema_initial_share(0.99, False, 100) == pytest.approx(0.99**100)
    # With warmup the product of (1 + t) / (10 + t) telescopes to 9! T! / (T + 9)!.
    steps = 5
    expected = math.factorial(9) * math.factorial(steps) / math.factorial(steps + 9)
    assert ema_initial_share(0.9999, True, steps) == pytest.approx(expected)


def config(decay, warmup, steps, model="ddpm"):
    return OmegaConf.create(
        {
            "trainer": {"max_steps": steps, "ema": {"decay": decay, "warmup": warmup}},
            "model": {"name": model, "kl_schedule": "linear", "kl_warmup_steps": 1000},
        }
    )


def test_config_check_ema_too_slow():
    monitor = HealthMonitor(["model"])
    found = monitor.check_config(config(0.9999, False, 2400))
    assert checks(found) == ["ema_too_slow"]
    assert "79%" in found[0].message  # 0.9999^2400 = 0.787


def test_config_check_default_ema_is_quiet():
    assert HealthMonitor(["model"]).check_config(config(0.9999, True, 2400)) == []
    assert HealthMonitor(["model"]).check_config(config(0.99, False, 2400)) == []


def test_config_check_kl_warmup_too_long():
    found = HealthMonitor(["model"]).check_config(config(None, False, 500, model="vae"))
    assert checks(found) == ["kl_warmup_too_long"]


def test_warnings_saved_to_health_json(tmp_path):
    path = tmp_path / "health.json"
    monitor = HealthMonitor(["model"], latent_dim=4, path=path)
    monitor.observe_eval(9, {"val/active_latents": 0.0})
    saved = __import__("json").loads(path.read_text())
    assert [item["check"] for item in saved] == ["posterior_collapse"]
    assert saved[0]["step"] == 9
