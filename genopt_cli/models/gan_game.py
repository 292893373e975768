"""The game of a GAN's two players, the generator and the discriminator, on any networks.

Losses: non-saturating (softplus form of the log loss), hinge and Wasserstein. Penalties on the
discriminator: R1, (gamma / 2) E|grad_x D(x)|^2 on real data, keeps it smooth near the data;
WGAN-GP, lambda E(|grad D(x_hat)| - 1)^2 between real and fake, keeps it near 1-Lipschitz.
"""

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn

from genopt_cli.data.base import Dataset
from genopt_cli.models.base import Task
from genopt_cli.models.gan_config import gan_config_problems
from genopt_cli.models.gan_penalties import r1_penalty, wgan_gp_penalty


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


class GANGame(Task):
    """The game of a generator and a discriminator, whatever their networks and data.

    A subclass sets the networks with `_set_players` and maps data to the networks' space with
    `to_network` and `from_network`. Per step the discriminator updates `model.n_critic` times
    (update k reads slice k of the step's batch), then the generator once. With
    `model.update_order=simultaneous`, both gradients are taken before either player updates.
    """

    player_names = ("discriminator", "generator")
    target_metric = "train/loss/generator"
    ema_player = "generator"

    def _set_players(self, cfg: DictConfig, discriminator: nn.Module, generator: nn.Module):
        self.cfg = cfg
        # Update order within a step: the discriminator first, then the generator.
        self.players = {"discriminator": discriminator, "generator": generator}
        self.updates_per_step = {"discriminator": cfg.n_critic}
        self.simultaneous = cfg.update_order == "simultaneous"

    def to_network(self, batch: torch.Tensor) -> torch.Tensor:
        """Map a data batch to the discriminator's input space."""
        return batch

    def from_network(self, output: torch.Tensor) -> torch.Tensor:
        """Map generator output back to the data's space."""
        return output

    def _fake(self, n: int, generator: nn.Module | None = None) -> torch.Tensor:
        if generator is None:
            generator = self.trained("generator")
        z = torch.randn(n, self.cfg.latent_dim, device=self.device)
        return generator(z)

    def loss(self, player, batch, step):
        discriminator = self.trained("discriminator")
        real = self.to_network(batch)
        if player == "generator":
            fake_scores = discriminator(self._fake(len(real)))
            return generator_loss(self.cfg.loss, fake_scores), {}

        with torch.no_grad():
            fake = self._fake(len(real))
        r1_now = self.cfg.r1_gamma is not None and step % self.cfg.r1_every == 0
        if r1_now:
            # A new tensor object, so that the caller's batch keeps requires_grad=False.
            real = real.detach().requires_grad_(True)
        real_scores = discriminator(real)
        fake_scores = discriminator(fake)
        loss = discriminator_loss(self.cfg.loss, real_scores, fake_scores)
        metrics = {
            "train/d_accuracy": 0.5
            * ((real_scores > 0).float().mean() + (fake_scores < 0).float().mean()).detach(),
        }
        # Lazy regularisation (Karras et al., 2020, "Analyzing and Improving the Image Quality
        # of StyleGAN"): a penalty runs every EVERY steps with its weight times EVERY, so its
        # mean contribution per step is unchanged. With n_critic > 1 it runs on each of the
        # discriminator's updates in such a step.
        scaler = self.scalers.get("discriminator")
        if r1_now:
            penalty = r1_penalty(real_scores, real, scaler)
            loss = loss + 0.5 * self.cfg.r1_gamma * self.cfg.r1_every * penalty
            metrics["train/r1"] = penalty.detach()
        if self.cfg.gp_lambda is not None and step % self.cfg.gp_every == 0:
            penalty = wgan_gp_penalty(discriminator, real, fake, scaler)
            loss = loss + self.cfg.gp_lambda * self.cfg.gp_every * penalty
            metrics["train/gradient_penalty"] = penalty.detach()
        return loss, metrics

    @torch.no_grad()
    def sample(self, modules: Mapping[str, nn.Module], n: int) -> torch.Tensor:
        return self.from_network(self._fake(n, modules["generator"])).float().cpu()

    @torch.no_grad()
    def evaluate(self, modules, dataset: Dataset) -> dict[str, float]:
        """Return the discriminator's accuracy on held-out real data against as many fakes."""
        discriminator = self.players["discriminator"]
        real = self.to_network(dataset.val.to(self.device))
        fake = self._fake(len(real), modules["generator"])
        real_scores, fake_scores = discriminator(real), discriminator(fake)
        accuracy = 0.5 * ((real_scores > 0).float().mean() + (fake_scores < 0).float().mean())
        return {"val/d_accuracy": accuracy.item()}

    @classmethod
    def config_problems(cls, cfg: DictConfig) -> list[str]:
        return gan_config_problems(cfg)
