"""2-D Gaussian mixtures for fast GAN studies, where the modes a generator covers can be counted.

gaussians8: 8 modes evenly spaced on a circle of radius 2 (the first at (2, 0)), std 0.02.
gaussians25: 25 modes on the 5 x 5 grid {-4, -2, 0, 2, 4}^2 (spacing 2), std 0.05.
Every mode has the same weight. Modes sit at least 30 standard deviations apart (gaussians8:
chord 2 x 2 sin(pi / 8) = 1.53 = 77 std; gaussians25: 2 = 40 std), so the 3-std discs that count
a sample as "high quality" never overlap. The points are a pure function of `data.seed`.
"""

import math
from pathlib import Path

import torch
from omegaconf import DictConfig

from genopt_cli.data.base import PointDataset

CIRCLE_RADIUS = 2.0
CIRCLE_STD = 0.02
GRID_SPACING = 2.0
GRID_SIZE = 5
GRID_STD = 0.05


def circle_centers(count: int = 8, radius: float = CIRCLE_RADIUS) -> torch.Tensor:
    angles = torch.arange(count, dtype=torch.float64) * (2 * math.pi / count)
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def grid_centers(size: int = GRID_SIZE, spacing: float = GRID_SPACING) -> torch.Tensor:
    coordinates = (torch.arange(size, dtype=torch.float32) - (size - 1) / 2) * spacing
    x, y = torch.meshgrid(coordinates, coordinates, indexing="xy")
    return torch.stack([x.flatten(), y.flatten()], dim=1)


def sample_mixture(
    centers: torch.Tensor, std: float, count: int, generator: torch.Generator
) -> torch.Tensor:
    """Draw `count` points: a uniformly chosen mode plus isotropic Gaussian noise of `std`."""
    modes = torch.randint(len(centers), (count,), generator=generator)
    return centers[modes] + std * torch.randn(count, 2, generator=generator)


def load_mixture(cfg: DictConfig, centers: torch.Tensor, std: float) -> PointDataset:
    generator = torch.Generator().manual_seed(cfg.seed)
    train = sample_mixture(centers, std, cfg.train_size, generator)
    val = sample_mixture(centers, std, cfg.val_size, generator)
    return PointDataset(
        name=cfg.name,
        train=train,
        val=val,
        centers=centers,
        std=std,
        eval_samples=cfg.eval_samples,
    )


def load_gaussians8(cfg: DictConfig, launch_dir: Path | None) -> PointDataset:
    return load_mixture(cfg, circle_centers(), CIRCLE_STD)


def load_gaussians25(cfg: DictConfig, launch_dir: Path | None) -> PointDataset:
    return load_mixture(cfg, grid_centers(), GRID_STD)


# A sample within this many standard deviations of its nearest mode counts as high quality.
QUALITY_RADIUS_STDS = 3.0
# A mode counts as covered when it receives at least this share of the high-quality samples
# that an even spread over the K modes would give it: 0.2 x N / K of N samples.
COVERED_SHARE = 0.2


def mode_coverage(samples: torch.Tensor, centers: torch.Tensor, std: float) -> dict[str, float]:
    """Return eval/modes_covered and eval/high_quality_share of (N, 2) samples.

    Each sample is assigned to its nearest mode. It is high quality when it lies within
    3 std of that mode. A mode is covered when at least COVERED_SHARE x N / K high-quality
    samples are assigned to it, so a few stray points do not count as a mode.
    """
    samples = samples.float().cpu()
    distances = torch.cdist(samples, centers.float())
    nearest_distance, nearest = distances.min(dim=1)
    high_quality = nearest_distance <= QUALITY_RADIUS_STDS * std
    counts = torch.bincount(nearest[high_quality], minlength=len(centers))
    threshold = COVERED_SHARE * len(samples) / len(centers)
    return {
        "eval/modes_covered": float((counts >= threshold).sum()),
        "eval/high_quality_share": float(high_quality.float().mean()),
    }
