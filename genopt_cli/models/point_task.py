"""Shared parts of the families on 2-D points: batches, scatter plots and mode coverage."""

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from genopt_cli.data.base import ImageBatches, PointDataset
from genopt_cli.data.mixtures import QUALITY_RADIUS_STDS, mode_coverage
from genopt_cli.models.base import Task
from genopt_cli.monitor.scatter import render_scatter, save_scatter


class PointTask(Task):
    """A task on (N, 2) points from a Gaussian mixture; subclasses return (N, 2) samples."""

    data_kind = "points"

    def __init__(self, dataset: PointDataset):
        super().__init__()
        self.centers = dataset.centers
        self.std = dataset.std

    def make_batches(self, dataset: PointDataset, step_size: int, seed: int) -> ImageBatches:
        return ImageBatches(dataset.train, step_size, seed)

    def _title(self, samples: torch.Tensor) -> str:
        coverage = mode_coverage(samples, self.centers, self.std)
        return (
            f"{len(samples)} samples: {coverage['eval/modes_covered']:.0f} of "
            f"{len(self.centers)} modes covered, "
            f"{coverage['eval/high_quality_share']:.0%} within 3 std of a mode"
        )

    def save_samples(self, samples: torch.Tensor, directory: Path, stem: str) -> Path:
        radius = QUALITY_RADIUS_STDS * self.std
        path = directory / f"{stem}.png"
        return save_scatter(samples, self.centers, radius, self._title(samples), path)

    def loggable_samples(self, samples: torch.Tensor) -> dict:
        radius = QUALITY_RADIUS_STDS * self.std
        return {"image": render_scatter(samples, self.centers, radius, self._title(samples))}

    def quality(self, modules: Mapping[str, nn.Module], dataset: PointDataset) -> dict[str, float]:
        """Count the covered modes in dataset.eval_samples samples (see mode_coverage)."""
        samples = self.sample(modules, dataset.eval_samples)
        return {
            **mode_coverage(samples, self.centers, self.std),
            "eval/modes_total": len(self.centers),
        }
