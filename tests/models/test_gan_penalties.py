"""Gradient penalties against their closed forms, and spectral norm after training."""

import pytest
import torch
from torch import nn

from genopt_cli.config.compose import compose_config
from genopt_cli.data import build_dataset
from genopt_cli.models import build_task
from genopt_cli.models.gan_penalties import r1_penalty, wgan_gp_penalty
from genopt_cli.train.loop import Trainer
from genopt_cli.train.run import build_players


class LinearCritic(nn.Module):
    """D(x) = w . x + b over each example's whole (flattened) input."""

    def __init__(self, weight: torch.Tensor, bias: float = 0.3):
        super().__init__()
        self.weight = nn.Parameter(weight.clone())
        self.bias = nn.Parameter(torch.tensor(bias))

    def forward(self, x):
        return x.flatten(1) @ self.weight + self.bias


class QuadraticCritic(nn.Module):
    """D(x) = 1/2 x^T A x + b^T x with A symmetric, so grad_x D(x) = A x + b."""

    def __init__(self, a: torch.Tensor, b: torch.Tensor):
        super().__init__()
        self.a = nn.Parameter(a.clone())
        self.b = nn.Parameter(b.clone())

    def forward(self, x):
        return 0.5 * torch.einsum("ni,ij,nj->n", x, self.a, x) + x @ self.b


def point_gan(*overrides: str):
    cfg = compose_config(["model=gan", "data=gaussians8", *overrides])
    dataset = build_dataset(cfg.data, None)
    torch.manual_seed(0)
    task = build_task(cfg.model, dataset).to(torch.device("cpu"))
    return cfg, dataset, task


@pytest.mark.parametrize("norm", [0.2, 1.0, 3.0])
def test_wgan_gp_of_linear_critic(norm):
    torch.manual_seed(0)
    direction = torch.randn(12)
    weight = norm * direction / direction.norm()
    critic = LinearCritic(weight)
    real, fake = torch.randn(16, 3, 2, 2), torch.randn(16, 3, 2, 2)
    penalty = wgan_gp_penalty(critic, real, fake)
    assert penalty.item() == pytest.approx((norm - 1.0) ** 2, rel=1e-5, abs=1e-7)


def test_r1_of_quadratic_critic():
    torch.manual_seed(0)
    m = torch.randn(2, 2)
    a, b = m + m.T, torch.tensor([0.5, -1.0])
    critic = QuadraticCritic(a, b)
    real = torch.randn(32, 2, requires_grad=True)
    penalty = r1_penalty(critic(real), real)
    expected = (real.detach() @ a + b).pow(2).sum(1).mean()
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-5)


def test_penalty_with_gradient_scaler_is_unscaled():
    """Under fp16 the input gradients come from scaled scores; the penalty must not change."""
    torch.manual_seed(0)
    m = torch.randn(2, 2)
    critic = QuadraticCritic(m + m.T, torch.tensor([0.5, -1.0]))
    real = torch.randn(32, 2, requires_grad=True)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**12)
    scaled = r1_penalty(critic(real), real, scaler)
    plain = r1_penalty(critic(real), real)
    assert scaled.item() == pytest.approx(plain.item(), rel=1e-6)

    linear = LinearCritic(3.0 * torch.eye(2)[0])
    gp = wgan_gp_penalty(linear, torch.randn(8, 2), torch.randn(8, 2), scaler)
    assert gp.item() == pytest.approx(4.0, rel=1e-6)


def test_task_adds_wgan_gp_with_its_weight():
    """Loss with gp_lambda minus loss without equals lambda x gp_every x (|w| - 1)^2."""
    _, dataset, task = point_gan("model.r1_gamma=null", "model.gp_lambda=10", "model.gp_every=2")
    task.players["discriminator"] = LinearCritic(torch.tensor([1.5, 2.0]))  # |w| = 2.5
    batch = dataset.train[:64]
    penalized = {}
    for step in (0, 1):
        torch.manual_seed(1)
        with_penalty, metrics = task.loss("discriminator", batch, step)
        task.cfg.gp_lambda = None
        torch.manual_seed(1)
        without_penalty, _ = task.loss("discriminator", batch, step)
        task.cfg.gp_lambda = 10.0
        penalized[step] = (with_penalty - without_penalty).item()
    assert penalized[0] == pytest.approx(10 * 2 * 1.5**2, rel=1e-5)
    assert penalized[1] == 0.0


def test_task_adds_lazy_r1_with_its_weight():
    """At steps divisible by r1_every the loss gains (gamma / 2) r1_every E|A x + b|^2."""
    _, dataset, task = point_gan("model.r1_gamma=2.0", "model.r1_every=4")
    m = torch.tensor([[1.0, 0.2], [-0.4, 0.5]])
    a, b = m + m.T, torch.tensor([0.1, -0.3])
    task.players["discriminator"] = QuadraticCritic(a, b)
    batch = dataset.train[:64]
    expected_r1 = (batch @ a + b).pow(2).sum(1).mean().item()
    differences = {}
    for step in (4, 5):
        torch.manual_seed(1)
        with_penalty, metrics = task.loss("discriminator", batch, step)
        task.cfg.r1_gamma = None
        torch.manual_seed(1)
        without_penalty, _ = task.loss("discriminator", batch, step)
        task.cfg.r1_gamma = 2.0
        differences[step] = (with_penalty - without_penalty).item()
        if step == 4:
            assert metrics["train/r1"].item() == pytest.approx(expected_r1, rel=1e-5)
    assert differences[4] == pytest.approx(0.5 * 2.0 * 4 * expected_r1, rel=1e-5)
    assert differences[5] == 0.0
    assert not batch.requires_grad


def largest_singular_values(module: nn.Module) -> list[float]:
    """Return sigma_max of each weight, reshaped to (out, -1) as torch's spectral_norm does."""
    values = []
    for layer in module.modules():
        if isinstance(layer, nn.Linear | nn.Conv2d):
            matrix = layer.weight.detach().flatten(1)
            values.append(torch.linalg.matrix_norm(matrix, ord=2).item())
    return values


def train_discriminator(steps: int, *overrides: str) -> nn.Module:
    cfg = compose_config(["model=gan", *overrides])
    dataset = build_dataset(cfg.data, None)
    torch.manual_seed(0)
    task = build_task(cfg.model, dataset).to(torch.device("cpu"))
    players = build_players(cfg, task, torch.device("cpu"))
    batches = task.make_batches(dataset, cfg.data.batch_size, seed=0)
    trainer = Trainer(task, players, batches, 1, "fp32", torch.device("cpu"))
    for step in range(steps):
        trainer.train_step(step, log_now=False)
    return task.players["discriminator"]


def test_spectral_norm_holds_after_training():
    discriminator = train_discriminator(60, "data=gaussians8")
    sigmas = largest_singular_values(discriminator)
    assert len(sigmas) == 4
    for sigma in sigmas:
        assert abs(sigma - 1.0) < 0.05, sigmas


@pytest.mark.slow
def test_spectral_norm_of_conv_discriminator():
    """One power iteration per forward lags while Adam moves the conv weights fast: on this
    tiny network sigma_max reached 1.12 near step 60 and was back within 3% by step 200."""
    tiny = ("model.discriminator_channels=8", "model.generator_channels=16", "data.batch_size=32")
    discriminator = train_discriminator(300, *tiny)
    sigmas = largest_singular_values(discriminator)
    assert len(sigmas) == 4
    for sigma in sigmas:
        assert abs(sigma - 1.0) < 0.05, sigmas


def test_without_spectral_norm_weights_are_not_normalized():
    discriminator = train_discriminator(60, "data=gaussians8", "model.spectral_norm=false")
    sigmas = largest_singular_values(discriminator)
    assert any(abs(sigma - 1.0) >= 0.05 for sigma in sigmas), sigmas
