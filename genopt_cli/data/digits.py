"""scikit-learn's handwritten digits: 1,797 grey 8x8 images shipped inside the package."""

from pathlib import Path

import torch
from omegaconf import DictConfig

from genopt_cli.data.base import ImageDataset

# The train/validation split is fixed, whatever the run's seed, so that every run and every
# metric uses the same held-out images.
SPLIT_SEED = 1234


DIGITS = 1797


def train_size(cfg: DictConfig) -> int:
    """Number of training images for data.val_fraction, without loading them."""
    return DIGITS - int(round(DIGITS * cfg.val_fraction))


def load_digits(cfg: DictConfig, launch_dir: Path) -> ImageDataset:
    from sklearn.datasets import load_digits as sklearn_digits

    images = torch.tensor(sklearn_digits().images, dtype=torch.float32) / 16.0
    images = images.unsqueeze(1)
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(SPLIT_SEED))
    n_val = int(round(len(images) * cfg.val_fraction))
    return ImageDataset(name="digits", train=images[order[n_val:]], val=images[order[:n_val]])
