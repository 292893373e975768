"""n_critic and update_order reach the GAN task; invalid GAN and VAE values are rejected."""

import pytest

from genopt_cli.config.compose import compose_config
from genopt_cli.config.validate import validate
from genopt_cli.data import build_dataset
from genopt_cli.models import build_task
from genopt_cli.models.gan import GANTask
from genopt_cli.models.gan_points import PointGANTask
from tests.helpers import run_genopt


def build(*overrides: str):
    cfg = compose_config(["model=gan", *overrides])
    return build_task(cfg.model, build_dataset(cfg.data, None))


def test_point_data_gets_mlp_gan():
    assert type(build("data=gaussians8")) is PointGANTask
    assert type(build("data=gaussians25")) is PointGANTask
    assert type(build("model.generator_channels=16")) is GANTask


def test_defaults_alternate_once_per_step():
    task = build("data=gaussians8")
    assert task.updates_per_step == {"discriminator": 1}
    assert task.simultaneous is False


@pytest.mark.parametrize("data", ["gaussians8", "digits"])
def test_n_critic_and_order_reach_task(data):
    task = build(f"data={data}", "model.n_critic=5")
    assert task.updates_per_step == {"discriminator": 5}
    assert task.simultaneous is False
    task = build(f"data={data}", "model.update_order=simultaneous")
    assert task.updates_per_step == {"discriminator": 1}
    assert task.simultaneous is True


def test_point_recipe_values():
    cfg = compose_config(["model=gan", "data=gaussians8"])
    assert cfg.optimizer.lr == 0.001
    assert cfg.data.batch_size == 256
    assert cfg.trainer.max_steps == 2000
    assert cfg.model.latent_dim == 8
    # Another optimizer drops the recipe's Adam lr for points.
    assert compose_config(["model=gan", "data=gaussians8", "optimizer=lion"]).optimizer.lr == 1e-4
    assert (
        compose_config(["model=gan", "data=gaussians25", "optimizer=adagrad"]).optimizer.lr == 0.01
    )
    points25 = compose_config(["model=gan", "data=gaussians25"])
    assert points25.optimizer.lr == 0.001
    assert points25.trainer.max_steps == 4000
    assert points25.data.batch_size == 256
    # The image GAN keeps its own recipe.
    assert compose_config(["model=gan"]).optimizer.lr == 0.0002


BAD_GAN = [
    (["model.n_critic=0"], ["model.n_critic=0", "integer >= 1"]),
    (["model.n_critic=2.5"], ["model.n_critic=2.5", "integer >= 1"]),
    (["model.update_order=sideways"], ["model.update_order=sideways", "alternating, simultaneous"]),
    (
        ["model.update_order=simultaneous", "model.n_critic=5"],
        ["model.update_order=simultaneous", "model.n_critic=5", "model.n_critic=1"],
    ),
    (["model.loss=least_squares"], ["model.loss=least_squares", "hinge, wasserstein"]),
    (["model.gp_lambda=-1"], ["model.gp_lambda=-1", ">= 0"]),
    (["model.gp_every=0"], ["model.gp_every=0", "integer >= 1"]),
    (["model.r1_every=0"], ["model.r1_every=0", "integer >= 1"]),
    (["model.mlp_hidden_dims=[]"], ["model.mlp_hidden_dims=[]", "non-empty"]),
]


@pytest.mark.parametrize(("overrides", "expected"), BAD_GAN, ids=[" ".join(c[0]) for c in BAD_GAN])
def test_bad_gan_value_rejected(overrides, expected):
    problems = validate(compose_config(["model=gan", "data=gaussians8", *overrides]))
    assert len(problems) == 1, problems
    for words in expected:
        assert words in problems[0], (words, problems)


BAD_VAE = [
    (["model.kl_schedule=cosine"], ["model.kl_schedule=cosine", "linear, cyclical", "null"]),
    (["model.kl_warmup_steps=0"], ["model.kl_warmup_steps=0", "integer >= 1"]),
    (
        ["model.kl_schedule=cyclical", "model.kl_warmup_steps=500", "model.kl_cycle_steps=100"],
        ["model.kl_warmup_steps=500", "model.kl_cycle_steps=100", "never reach beta"],
    ),
    (["model.kl_schedule=cyclical", "model.kl_cycle_steps=0"], ["model.kl_cycle_steps=0"]),
    (["model.free_bits=-0.5"], ["model.free_bits=-0.5", "nats per latent dimension"]),
    (["model.beta=-1"], ["model.beta=-1", ">= 0"]),
]


@pytest.mark.parametrize(("overrides", "expected"), BAD_VAE, ids=[" ".join(c[0]) for c in BAD_VAE])
def test_bad_vae_value_rejected(overrides, expected):
    problems = validate(compose_config(["model=vae", *overrides]))
    assert len(problems) == 1, problems
    for words in expected:
        assert words in problems[0], (words, problems)


def test_good_values_pass():
    assert validate(compose_config(["model=gan", "data=gaussians25", "model.n_critic=5"])) == []
    cyclical = ["model=vae", "model.kl_schedule=cyclical", "model.free_bits=0.1"]
    assert validate(compose_config(cyclical)) == []


def test_points_rejected_for_image_only_model():
    problems = validate(compose_config(["model=vae", "data=gaussians8"]))
    assert problems == [
        "data=gaussians8 holds points, but model=vae trains on images; "
        "use data=digits or data=image_folder or data=mnist"
    ]


def test_cli_rejects_simultaneous_with_n_critic(tmp_path):
    result = run_genopt(
        "train", "model=gan", "model.update_order=simultaneous", "model.n_critic=3", cwd=tmp_path
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "model.n_critic=3" in result.stderr
    assert not (tmp_path / "outputs").exists()
