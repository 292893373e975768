"""DCGAN-style GAN with two players: the generator and the discriminator.

Losses: non-saturating (softplus form of the log loss), hinge and Wasserstein. The R1 penalty,
(gamma / 2) E|grad_x D(x)|^2 on real images, keeps the discriminator smooth near the data.
"""

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from genopt_cli.data.base import ImageDataset
from genopt_cli.models.image_task import ImageTask


class Generator(nn.Module):
    """Maps z to an image in [-1, 1]: a linear layer to (C, H/2, W/2), then one 2x upsampling."""

    def __init__(self, latent_dim: int, channels: int, image_shape: tuple[int, int, int]):
        super().__init__()
        out_channels, height, width = image_shape
        self.latent_dim = latent_dim
        self.start_shape = (channels, height // 2, width // 2)
        self.project = nn.Sequential(
            nn.Linear(latent_dim, math.prod(self.start_shape), bias=False),
            nn.BatchNorm1d(math.prod(self.start_shape)),
            nn.ReLU(),
        )
        self.body = nn.Sequential(
            nn.ConvTranspose2d(channels, channels // 2, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(channels // 2),
            nn.ReLU(),
            nn.Conv2d(channels // 2, channels // 2, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels // 2),
            nn.ReLU(),
            nn.Conv2d(channels // 2, out_channels, 3, padding=1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.project(z).view(-1, *self.start_shape))


class Discriminator(nn.Module):
    """Two stride-2 convolutions and a linear score; spectral norm on every layer when asked."""

    def __init__(self, channels: int, image_shape: tuple[int, int, int], use_spectral_norm: bool):
        super().__init__()
        in_channels, height, width = image_shape
        wrap = spectral_norm if use_spectral_norm else (lambda layer: layer)
        self.body = nn.Sequential(
            wrap(nn.Conv2d(in_channels, channels, 3, padding=1)),
            nn.LeakyReLU(0.2),
            wrap(nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1)),
            nn.LeakyReLU(0.2),
            wrap(nn.Conv2d(2 * channels, 4 * channels, 4, stride=2, padding=1)),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            wrap(nn.Linear(4 * channels * (height // 4) * (width // 4), 1)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).squeeze(1)


def discriminator_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    if kind == "non_saturating":
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if kind == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    return fake.mean() - real.mean()


def generator_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    if kind == "non_saturating":
        return F.softplus(-fake).mean()
    return -fake.mean()


LOSSES = ("non_saturating", "hinge", "wasserstein")


def input_gradient_penalty(scores: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """Return E|grad_x D(x)|^2, keeping the graph for the discriminator's backward.

    `inputs` must have had requires_grad set before `scores` = D(inputs) was computed.
    """
    (gradient,) = torch.autograd.grad(scores.sum(), inputs, create_graph=True)
    return gradient.pow(2).flatten(1).sum(1).mean()


class GANTask(ImageTask):
    player_names = ("discriminator", "generator")
    target_metric = "train/loss/generator"
    ema_player = "generator"

    def __init__(self, cfg: DictConfig, dataset: ImageDataset):
        super().__init__(dataset)
        self.cfg = cfg
        # Update order within a step: the discriminator first, then the generator.
        self.players = {
            "discriminator": Discriminator(
                cfg.discriminator_channels, self.image_shape, cfg.spectral_norm
            ),
            "generator": Generator(cfg.latent_dim, cfg.generator_channels, self.image_shape),
        }

    def _fake(self, n: int) -> torch.Tensor:
        z = torch.randn(n, self.cfg.latent_dim, device=self.device)
        return self.players["generator"](z)

    def loss(self, player, batch, step):
        discriminator = self.players["discriminator"]
        real = batch * 2.0 - 1.0
        if player == "generator":
            fake_scores = discriminator(self._fake(len(real)))
            loss = generator_loss(self.cfg.loss, fake_scores)
            return loss, {}

        with torch.no_grad():
            fake = self._fake(len(real))
        # Lazy R1 (Karras et al., 2020, "Analyzing and Improving the Image Quality of
        # StyleGAN"): the penalty runs every r1_every steps with its weight times r1_every.
        penalize = self.cfg.r1_gamma is not None and step % self.cfg.r1_every == 0
        real.requires_grad_(penalize)
        real_scores = discriminator(real)
        fake_scores = discriminator(fake)
        loss = discriminator_loss(self.cfg.loss, real_scores, fake_scores)
        metrics = {
            "train/d_accuracy": 0.5
            * ((real_scores > 0).float().mean() + (fake_scores < 0).float().mean()).detach(),
        }
        if penalize:
            penalty = input_gradient_penalty(real_scores, real)
            loss = loss + 0.5 * self.cfg.r1_gamma * self.cfg.r1_every * penalty
            metrics["train/r1"] = penalty.detach()
        return loss, metrics

    @torch.no_grad()
    def sample(self, modules: Mapping[str, nn.Module], n: int) -> torch.Tensor:
        generator = modules["generator"]
        z = torch.randn(n, self.cfg.latent_dim, device=self.device)
        return ((generator(z) + 1.0) / 2.0).float().cpu()

    @torch.no_grad()
    def evaluate(self, modules, dataset: ImageDataset) -> dict[str, float]:
        discriminator = self.players["discriminator"]
        real = dataset.val.to(self.device) * 2.0 - 1.0
        fake = modules["generator"](torch.randn(len(real), self.cfg.latent_dim, device=self.device))
        real_scores, fake_scores = discriminator(real), discriminator(fake)
        accuracy = 0.5 * ((real_scores > 0).float().mean() + (fake_scores < 0).float().mean())
        return {"val/d_accuracy": accuracy.item()}
