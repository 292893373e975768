"""Denoising diffusion (DDPM) with noise prediction and DDIM sampling.

Training draws t uniformly from {0, ..., T-1} and regresses the added noise (mean squared
error). The cosine noise schedule follows Nichol and Dhariwal (2021), "Improved Denoising
Diffusion Probabilistic Models": alpha_bar(t) = cos^2(((t / T + s) / (1 + s)) pi / 2), s = 0.008.
Sampling uses deterministic DDIM (Song et al., 2021) on `sample_steps` evenly spaced timesteps.
"""

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn

from genopt_cli.data.base import ImageDataset
from genopt_cli.models.image_task import ImageTask
from genopt_cli.models.unet import UNet


def cosine_alpha_bar(timesteps: int, s: float = 0.008) -> torch.Tensor:
    """alpha_bar at t = 1..T, with each beta clipped to 0.999 as in the paper."""
    steps = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, dim=0).float()


def linear_alpha_bar(timesteps: int) -> torch.Tensor:
    """alpha_bar for the linear beta schedule of Ho et al. (2020), 1e-4 to 0.02 at T = 1000."""
    betas = torch.linspace(1e-4 * 1000 / timesteps, 0.02 * 1000 / timesteps, timesteps)
    return torch.cumprod(1 - betas.double(), dim=0).float()


NOISE_SCHEDULES = {"cosine": cosine_alpha_bar, "linear": linear_alpha_bar}


class DDPMTask(ImageTask):
    player_names = ("model",)
    has_layers = True
    recomputable = True
    target_metric = "val/loss"

    def __init__(self, cfg: DictConfig, dataset: ImageDataset):
        super().__init__(dataset)
        self.cfg = cfg
        self.alpha_bar = NOISE_SCHEDULES[cfg.noise_schedule](cfg.timesteps)
        self.players = {
            "model": UNet(
                self.image_shape[0], list(cfg.channels), list(cfg.attention_levels), cfg.time_dim
            )
        }

    def to(self, device):
        self.alpha_bar = self.alpha_bar.to(device)
        return super().to(device)

    def _noise_loss(self, model: nn.Module, x0: torch.Tensor, t: torch.Tensor, noise):
        a = self.alpha_bar[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        return F.mse_loss(model(xt, t), noise)

    def loss(self, player, batch, step):
        x0 = batch * 2.0 - 1.0
        t = torch.randint(0, self.cfg.timesteps, (len(x0),), device=x0.device)
        return self._noise_loss(self.trained("model"), x0, t, torch.randn_like(x0)), {}

    @torch.no_grad()
    def sample(self, modules: Mapping[str, nn.Module], n: int) -> torch.Tensor:
        model = modules["model"]
        timesteps = torch.linspace(self.cfg.timesteps - 1, 0, self.cfg.sample_steps).round().long()
        x = torch.randn(n, *self.image_shape, device=self.device)
        for i, t in enumerate(timesteps.tolist()):
            a = self.alpha_bar[t]
            a_next = (
                self.alpha_bar[timesteps[i + 1]] if i + 1 < len(timesteps) else a.new_tensor(1.0)
            )
            eps = model(x, torch.full((n,), t, device=self.device, dtype=torch.long))
            x0 = ((x - (1 - a).sqrt() * eps) / a.sqrt()).clamp(-1, 1)
            eps = (x - a.sqrt() * x0) / (1 - a).sqrt()
            x = a_next.sqrt() * x0 + (1 - a_next).sqrt() * eps
        return ((x + 1.0) / 2.0).float().cpu()

    @torch.no_grad()
    def evaluate(self, modules, dataset: ImageDataset) -> dict[str, float]:
        model = modules["model"]
        x0 = dataset.val.to(self.device) * 2.0 - 1.0
        losses = []
        for _ in range(4):
            t = torch.randint(0, self.cfg.timesteps, (len(x0),), device=self.device)
            losses.append(self._noise_loss(model, x0, t, torch.randn_like(x0)).item())
        return {"val/loss": sum(losses) / len(losses)}
