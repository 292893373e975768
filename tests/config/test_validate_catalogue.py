"""Config checks for the optimizer catalogue and fine-tuning: each message names the keys,
the bad value and the fix."""

import pytest

from genopt_cli.config.compose import check_group_choices, compose_config
from genopt_cli.config.validate import validate

CASES = [
    (
        ["optimizer=lbfgs", "trainer.accumulate=2"],
        ["optimizer=lbfgs", "trainer.accumulate=1", "got 2", "data.batch_size"],
    ),
    (["optimizer=lbfgs", "model=gan"], ["optimizer=lbfgs", "model=gan", "optimizer=adam"]),
    (
        ["optimizer=lbfgs", "trainer.precision=fp16"],
        ["optimizer=lbfgs", "trainer.precision=fp16", "bf16"],
    ),
    (
        ["optimizer=schedulefree_adamw", "model=transformer"],
        ["optimizer=schedulefree_adamw", "schedule=cosine", "schedule=constant"],
    ),
    (["model=vae", "optimizer.layer_decay=0.8"], ["optimizer.layer_decay=0.8", "model=vae"]),
    (["optimizer.layer_decay=1.5"], ["optimizer.layer_decay=1.5", "(0, 1]"]),
    (["optimizer.decay_exclude=[bais]"], ["'bais'", "did you mean 'bias'"]),
    (["trainer.lora.rank=4"], ["trainer.lora.rank=4", "init_from=RUN_DIR"]),
    (["init_from=missing_run"], ["init_from=missing_run", "checkpoints/last.pt"]),
    (["model=transformer", "data=text_file"], ["data.path=FILE"]),
    (
        ["model=transformer", "optimizer.lr=1e-4"],
        ["schedule.min_lr=0.0002", "optimizer.lr=0.0001", "at most 0.0001"],
    ),
]


@pytest.mark.parametrize(("overrides", "expected"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_catalogue_problem_message(overrides, expected):
    problems = " | ".join(validate(compose_config(overrides)))
    for words in expected:
        assert words in problems, (words, problems)


def test_valid_catalogue_choices_pass():
    for overrides in (
        ["optimizer=lbfgs", "model=vae"],
        ["optimizer=schedulefree_adamw", "schedule=constant", "schedule.warmup_steps=10"],
        ["model=transformer", "optimizer=muon", "optimizer.layer_decay=0.8"],
        ["model=transformer", "recipe=finetune"],
    ):
        assert validate(compose_config(overrides)) == [], overrides


def test_recipe_choice_offers_only_standalone_recipes():
    problems = check_group_choices(["recipe=vae"])
    assert problems == ["recipe=vae is not a known recipe; valid: finetune"]


def test_finetune_recipe_values():
    cfg = compose_config(["model=transformer", "recipe=finetune"])
    assert cfg.optimizer.name == "adamw"
    assert 1e-5 <= cfg.optimizer.lr <= 5e-5
    assert cfg.optimizer.layer_decay == 0.8
    assert cfg.optimizer.weight_decay == 0.01
    assert cfg.schedule.min_lr == 0.0


def test_finetune_values_only_with_its_optimizer():
    cfg = compose_config(["model=transformer", "recipe=finetune", "optimizer=lion"])
    assert cfg.optimizer.lr == 0.0001
    assert cfg.optimizer.layer_decay is None
