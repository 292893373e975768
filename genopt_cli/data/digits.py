"""scikit-learn's handwritten digits: 1,797 grey 8x8 images shipped inside the package."""

from pathlib import Path

import torch
from omegaconf import DictConfig

from genopt_cli.data.base import ImageDataset, split_indices

DIGITS = 1797


def train_size(cfg: DictConfig) -> int:
    """Number of training images for data.val_fraction, without loading them."""
    return DIGITS - int(round(DIGITS * cfg.val_fraction))


def load_digits(cfg: DictConfig, launch_dir: Path) -> ImageDataset:
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    images = torch.tensor(digits.images, dtype=torch.float32) / 16.0
    images = images.unsqueeze(1)
    labels = torch.tensor(digits.target, dtype=torch.long)
    train, val = split_indices(len(images), cfg.val_fraction)
    return ImageDataset(
        name="digits",
        train=images[train],
        val=images[val],
        train_labels=labels[train],
        val_labels=labels[val],
        classes=[str(digit) for digit in range(10)],
    )
