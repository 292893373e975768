"""MLP generator and discriminator for the GAN on 2-D points (data=gaussians8, gaussians25)."""

from omegaconf import DictConfig
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from genopt_cli.data.base import PointDataset
from genopt_cli.models.gan_game import GANGame
from genopt_cli.models.point_task import PointTask


def point_generator(latent_dim: int, hidden_dims: list[int]) -> nn.Sequential:
    """Map z to a point in the plane: Linear and ReLU per hidden width, then a linear output."""
    layers: list[nn.Module] = []
    width = latent_dim
    for hidden in hidden_dims:
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    layers.append(nn.Linear(width, 2))
    return nn.Sequential(*layers)


class PointDiscriminator(nn.Module):
    """Score a point: Linear and LeakyReLU(0.2) per hidden width, then a linear score.

    With `use_spectral_norm`, every Linear layer's weight is divided by its largest singular
    value (torch's spectral_norm parametrization, one power iteration per training forward).
    """

    def __init__(self, hidden_dims: list[int], use_spectral_norm: bool):
        super().__init__()
        wrap = spectral_norm if use_spectral_norm else (lambda layer: layer)
        layers: list[nn.Module] = []
        width = 2
        for hidden in hidden_dims:
            layers += [wrap(nn.Linear(width, hidden)), nn.LeakyReLU(0.2)]
            width = hidden
        layers.append(wrap(nn.Linear(width, 1)))
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x).squeeze(1)


class PointGANTask(GANGame, PointTask):
    """The GAN on 2-D points: MLPs of widths `model.mlp_hidden_dims`, points unscaled."""

    def __init__(self, cfg: DictConfig, dataset: PointDataset):
        PointTask.__init__(self, dataset)
        hidden = list(cfg.mlp_hidden_dims)
        self._set_players(
            cfg,
            PointDiscriminator(hidden, cfg.spectral_norm),
            point_generator(cfg.latent_dim, hidden),
        )
