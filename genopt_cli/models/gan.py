"""DCGAN-style networks for the GAN on images; the game itself is in models/gan_game.py."""

import math

import torch
from omegaconf import DictConfig
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from genopt_cli.data.base import Dataset, ImageDataset
from genopt_cli.models.gan_game import GANGame
from genopt_cli.models.gan_points import PointGANTask
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


class GANTask(GANGame, ImageTask):
    """The GAN on images: conv networks, images scaled from [0, 1] to the generator's [-1, 1]."""

    def __init__(self, cfg: DictConfig, dataset: ImageDataset):
        ImageTask.__init__(self, dataset)
        self._set_players(
            cfg,
            Discriminator(cfg.discriminator_channels, self.image_shape, cfg.spectral_norm),
            Generator(cfg.latent_dim, cfg.generator_channels, self.image_shape),
        )

    @classmethod
    def data_kinds(cls) -> tuple[str, ...]:
        return ("images", "points")

    @classmethod
    def build(cls, cfg: DictConfig, dataset: Dataset) -> GANGame:
        """Create the image GAN, or the MLP GAN when the data are 2-D points."""
        if dataset.kind == "points":
            return PointGANTask(cfg, dataset)
        return cls(cfg, dataset)

    def to_network(self, batch: torch.Tensor) -> torch.Tensor:
        return batch * 2.0 - 1.0

    def from_network(self, output: torch.Tensor) -> torch.Tensor:
        return (output + 1.0) / 2.0
