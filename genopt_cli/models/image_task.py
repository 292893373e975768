"""Shared parts of the image families: batches, sample grids and TensorBoard images."""

from pathlib import Path

import torch

from genopt_cli.data.base import ImageBatches, ImageDataset
from genopt_cli.models.base import Task
from genopt_cli.monitor.images import make_grid, save_png


class ImageTask(Task):
    """A task on images in [0, 1]; subclasses return samples in [0, 1] too."""

    data_kind = "images"

    def __init__(self, dataset: ImageDataset):
        super().__init__()
        self.image_shape = dataset.image_shape

    def make_batches(self, dataset: ImageDataset, step_size: int, seed: int) -> ImageBatches:
        return ImageBatches(dataset.train, step_size, seed)

    def save_samples(self, samples: torch.Tensor, directory: Path, stem: str) -> Path:
        # 8x8 digits are unreadable at their own size, so small images are enlarged.
        scale = max(1, 64 // self.image_shape[-1])
        return save_png(make_grid(samples), directory / f"{stem}.png", scale=scale)

    def loggable_samples(self, samples: torch.Tensor) -> dict:
        return {"image": make_grid(samples)}
