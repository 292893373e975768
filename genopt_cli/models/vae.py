"""Variational autoencoder with MLP encoder and decoder and a Bernoulli likelihood.

The loss is the negative ELBO in nats per image: the reconstruction cross-entropy summed over
pixels plus the KL weight times KL(q(z|x) || N(0, I)) summed over latent dimensions. With free
bits lambda, each dimension's KL (averaged over the batch) counts as at least lambda.
The KL weight at step t, for beta = model.beta, W = model.kl_warmup_steps and
P = model.kl_cycle_steps:

    kl_schedule null       beta
    kl_schedule linear     beta x min(1, (t + 1) / W)
    kl_schedule cyclical   beta x min(1, ((t mod P) + 1) / W)

The cyclical schedule restarts the linear ramp every P steps and keeps the weight at beta for
the last P - W steps of each cycle.
"""

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn

from genopt_cli.data.base import ImageDataset
from genopt_cli.models.image_task import ImageTask
from genopt_cli.models.vae_config import vae_config_problems

# A latent dimension whose mean KL on the validation images exceeds this (nats) is active.
ACTIVE_KL = 0.01


def mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class VAE(nn.Module):
    def __init__(self, data_dim: int, hidden_dims: list[int], latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = mlp([data_dim, *hidden_dims, 2 * latent_dim])
        self.decoder = mlp([latent_dim, *reversed(hidden_dims), data_dim])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return decoder logits, posterior mean and log-variance for flattened images x."""
        mean, logvar = self.encoder(x).chunk(2, dim=-1)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        return self.decoder(z), mean, logvar


def kl_per_dim(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, 1)) for each example and latent dimension, in nats."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar)


class VAETask(ImageTask):
    player_names = ("model",)
    target_metric = "val/nelbo"

    def __init__(self, cfg: DictConfig, dataset: ImageDataset):
        super().__init__(dataset)
        self.cfg = cfg
        self.data_dim = math.prod(self.image_shape)
        self.players = {"model": VAE(self.data_dim, list(cfg.hidden_dims), cfg.latent_dim)}

    def kl_weight(self, step: int) -> float:
        """Return the KL weight of step `step` (the module docstring has the formulas)."""
        schedule = self.cfg.kl_schedule
        if schedule is None:
            return self.cfg.beta
        position = step % self.cfg.kl_cycle_steps if schedule == "cyclical" else step
        return self.cfg.beta * min(1.0, (position + 1) / self.cfg.kl_warmup_steps)

    def kl_penalty(self, kl: torch.Tensor) -> torch.Tensor:
        """Return the KL term of the loss: the sum over dimensions of the batch-mean KL.

        With free bits on, each dimension counts as at least model.free_bits nats, so the
        encoder gets no push toward the prior on a dimension below that floor.

        NOTE: the batch is the micro-batch, so with trainer.accumulate > 1 the free-bits floor
        applies to each micro-batch's mean, and the gradient differs from the whole batch's.
        """
        per_dim = kl.mean(0)
        if self.cfg.free_bits is not None:
            per_dim = per_dim.clamp(min=self.cfg.free_bits)
        return per_dim.sum()

    def _terms(self, model: VAE, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = batch.flatten(1)
        logits, mean, logvar = model(x)
        reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
        return reconstruction, kl_per_dim(mean, logvar)

    def loss(self, player, batch, step):
        reconstruction, kl = self._terms(self.trained("model"), batch)
        kl_total = kl.sum(1)
        weight = self.kl_weight(step)
        loss = reconstruction.mean() + weight * self.kl_penalty(kl)
        metrics = {
            "train/reconstruction": reconstruction.mean().detach(),
            "train/kl": kl_total.mean().detach(),
            "train/kl_weight": torch.tensor(weight),
        }
        return loss, metrics

    @torch.no_grad()
    def sample(self, modules: Mapping[str, nn.Module], n: int) -> torch.Tensor:
        model = modules["model"]
        z = torch.randn(n, model.latent_dim, device=self.device)
        return torch.sigmoid(model.decoder(z)).view(n, *self.image_shape).float().cpu()

    @torch.no_grad()
    def evaluate(self, modules, dataset: ImageDataset) -> dict[str, float]:
        model = modules["model"]
        reconstruction, kl = self._terms(model, dataset.val.to(self.device))
        nelbo = (reconstruction + kl.sum(1)).mean().item()
        kl_per_dimension = kl.mean(0)
        active = (kl_per_dimension > ACTIVE_KL).sum().item()
        metrics = {
            "val/nelbo": nelbo,
            "val/bits_per_dim": nelbo / (self.data_dim * math.log(2)),
            "val/active_latents": float(active),
        }
        # A collapsed posterior shows as dimensions whose KL is near zero.
        for index, value in enumerate(kl_per_dimension.tolist()):
            metrics[f"eval/kl_dim/{index:02d}"] = value
        return metrics

    @classmethod
    def config_problems(cls, cfg: DictConfig) -> list[str]:
        return vae_config_problems(cfg)
