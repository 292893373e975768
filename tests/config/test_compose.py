"""Recipes apply with model=X, and explicit overrides always win."""

from genopt_cli.config.compose import compose_config, expand_sweep
from genopt_cli.optim import player_optimizer_config


def test_model_applies_its_recipe():
    cfg = compose_config(["model=ddpm"])
    assert cfg.optimizer._target_ == "torch.optim.AdamW"
    assert cfg.optimizer.lr == 0.001
    assert cfg.trainer.ema.decay == 0.9999
    assert cfg.trainer.clip_grad_norm == 1.0


def test_gan_recipe_betas_and_players():
    cfg = compose_config(["model=gan"])
    assert list(cfg.optimizer.betas) == [0.0, 0.99]
    assert set(cfg.players) == {"generator", "discriminator"}


def test_explicit_optimizer_gets_its_own_defaults():
    cfg = compose_config(["model=ddpm", "optimizer=sgd"])
    assert cfg.optimizer._target_ == "torch.optim.SGD"
    assert cfg.optimizer.lr == 0.001
    assert cfg.optimizer.momentum == 0.0


def test_explicit_value_beats_recipe():
    cfg = compose_config(["model=transformer", "optimizer.lr=5e-4", "trainer.max_steps=7"])
    assert cfg.optimizer.lr == 5e-4
    assert cfg.trainer.max_steps == 7
    assert cfg.schedule.warmup_steps == 100


def test_explicit_schedule_drops_recipe_schedule_values():
    cfg = compose_config(["model=transformer", "schedule=constant"])
    assert cfg.schedule.name == "constant"
    assert cfg.schedule.warmup_steps == 0


def test_per_player_override():
    cfg = compose_config(["model=gan", "players.discriminator.lr=5e-4"])
    assert player_optimizer_config(cfg, "discriminator").lr == 5e-4
    assert player_optimizer_config(cfg, "generator").lr == 2e-4


def test_gan_two_timescales_follow_optimizer_lr():
    cfg = compose_config(["model=gan"])
    assert player_optimizer_config(cfg, "discriminator").lr == 4e-4
    cfg = compose_config(["model=gan", "optimizer.lr=1e-3"])
    assert player_optimizer_config(cfg, "generator").lr == 1e-3
    assert player_optimizer_config(cfg, "discriminator").lr == 2e-3


def test_gan_other_optimizer_drops_recipe_lrs():
    cfg = compose_config(["model=gan", "optimizer=adamw"])
    assert player_optimizer_config(cfg, "generator").lr == 1e-3
    assert player_optimizer_config(cfg, "discriminator").lr == 1e-3
    assert list(player_optimizer_config(cfg, "discriminator").betas) == [0.9, 0.999]


def test_expand_sweep_combinations():
    combos = expand_sweep(["model=vae", "optimizer=adam,adamw", "optimizer.lr=1e-4,3e-4"])
    assert len(combos) == 4
    assert ["model=vae", "optimizer=adamw", "optimizer.lr=0.0001"] in combos
