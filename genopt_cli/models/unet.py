"""A small UNet for noise prediction: residual blocks with a time embedding, self-attention at
the chosen levels, one 2x downsampling between levels."""

import math

import torch
import torch.nn.functional as F
from torch import nn

from genopt_cli.models.recompute import Recomputable


def group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(32, channels // 4), channels)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps, (N,) -> (N, dim)."""
    half = dim // 2
    frequencies = torch.exp(-math.log(10_000.0) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * frequencies[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class ResBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, time_dim: int):
        super().__init__()
        self.norm1 = group_norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.time = nn.Linear(time_dim, out_channels)
        self.norm2 = group_norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = (
            nn.Conv2d(in_channels, out_channels, 1)
            if in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(time)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class Attention(nn.Module):
    def __init__(self, channels: int, heads: int = 4):
        super().__init__()
        self.heads = heads
        self.norm = group_norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3, self.heads, c // self.heads, h * w).unbind(1)
        y = F.scaled_dot_product_attention(
            q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2)
        )
        return x + self.out(y.transpose(-1, -2).reshape(n, c, h, w))


class Level(Recomputable):
    """A residual block, optionally followed by self-attention."""

    def __init__(self, in_channels: int, out_channels: int, time_dim: int, attention: bool):
        super().__init__()
        self.block = ResBlock(in_channels, out_channels, time_dim)
        self.attention = Attention(out_channels) if attention else nn.Identity()

    def compute(self, x: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        return self.attention(self.block(x, time))


class UNet(nn.Module):
    """channels[i] is the width at level i; level i works at resolution H / 2^i."""

    def __init__(
        self, in_channels: int, channels: list[int], attention_levels: list[int], time_dim: int
    ):
        super().__init__()
        self.time_dim = time_dim
        self.time_mlp = nn.Sequential(
            nn.Linear(time_dim, time_dim), nn.SiLU(), nn.Linear(time_dim, time_dim)
        )
        self.stem = nn.Conv2d(in_channels, channels[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        for i, width in enumerate(channels):
            previous = channels[max(i - 1, 0)]
            self.down.append(Level(previous, width, time_dim, i in attention_levels))
            if i < len(channels) - 1:
                self.downsample.append(nn.Conv2d(width, width, 3, stride=2, padding=1))
        deepest = channels[-1]
        self.middle = Level(deepest, deepest, time_dim, True)
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i in reversed(range(len(channels))):
            width = channels[i]
            incoming = deepest if i == len(channels) - 1 else channels[i + 1]
            self.up.append(Level(incoming + width, width, time_dim, i in attention_levels))
            if i > 0:
                self.upsample.append(nn.ConvTranspose2d(width, width, 4, stride=2, padding=1))
        self.head = nn.Sequential(
            group_norm(channels[0]), nn.SiLU(), nn.Conv2d(channels[0], in_channels, 3, padding=1)
        )

    def layers(self) -> dict[str, list[nn.Module]]:
        """Return the layers in the order of the forward pass, for layer-wise lr decay.

        The stem with the time embedding is the bottom, then each level of the down path with
        its downsampling, the middle, each level of the up path with its upsampling, and the
        output head at the top.
        """
        layers = {"stem": [self.time_mlp, self.stem]}
        for i, level in enumerate(self.down):
            layers[f"down{i}"] = [level, *self.downsample[i : i + 1]]
        layers["middle"] = [self.middle]
        for i, level in enumerate(self.up):
            resolution = len(self.up) - 1 - i
            layers[f"up{resolution}"] = [level, *self.upsample[i : i + 1]]
        layers["head"] = [self.head]
        return layers

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        time = self.time_mlp(timestep_embedding(t, self.time_dim))
        h = self.stem(x)
        skips = []
        for i, level in enumerate(self.down):
            h = level(h, time)
            skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
        h = self.middle(h, time)
        for i, level in enumerate(self.up):
            h = level(torch.cat([h, skips.pop()], dim=1), time)
            if i < len(self.upsample):
                h = self.upsample[i](h)
        return self.head(h)
