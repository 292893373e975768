"""Shared parts of the image families: batches, sample grids, TensorBoard images and the
sample-quality metrics."""

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from genopt_cli.data.base import ImageBatches, ImageDataset
from genopt_cli.metrics import ImageQuality
from genopt_cli.models.base import Task
from genopt_cli.monitor.images import make_grid, save_png

# Samples drawn per call of sample() while the quality metrics are computed, which bounds the
# memory of a DDPM's attention layers.
QUALITY_CHUNK = 250


class ImageTask(Task):
    """A task on images in [0, 1]; subclasses return samples in [0, 1] too."""

    data_kind = "images"

    def __init__(self, dataset: ImageDataset):
        super().__init__()
        self.image_shape = dataset.image_shape
        self._quality: ImageQuality | None = None

    def make_batches(self, dataset: ImageDataset, step_size: int, seed: int) -> ImageBatches:
        return ImageBatches(dataset.train, step_size, seed)

    def save_samples(self, samples: torch.Tensor, directory: Path, stem: str) -> Path:
        # 8x8 digits are unreadable at their own size, so small images are enlarged.
        scale = max(1, 64 // self.image_shape[-1])
        return save_png(make_grid(samples), directory / f"{stem}.png", scale=scale)

    def loggable_samples(self, samples: torch.Tensor) -> dict:
        return {"image": make_grid(samples)}

    def quality(self, modules: Mapping[str, nn.Module], dataset: ImageDataset) -> dict[str, float]:
        """Score eval_samples samples with the data set's classifier (see ImageQuality).

        The classifier is loaded or trained at the first call and kept for later evaluations.
        """
        if self.eval_samples is None:
            return {}
        if self._quality is None:
            self._quality = ImageQuality(dataset)
        samples = []
        for start in range(0, self.eval_samples, QUALITY_CHUNK):
            count = min(QUALITY_CHUNK, self.eval_samples - start)
            samples.append(self.sample(modules, count))
        return self._quality.score(torch.cat(samples))
