"""The 2-D Gaussian mixtures and the mode-coverage metric."""

import math

import pytest
import torch
from omegaconf import OmegaConf

from genopt_cli.data import build_dataset
from genopt_cli.data.mixtures import grid_centers, mode_coverage


def mixture(name: str, seed: int = 0):
    cfg = {"name": name, "train_size": 4000, "val_size": 500, "seed": seed, "eval_samples": 100}
    return build_dataset(OmegaConf.create(cfg), None)


def test_gaussians8_modes_on_circle():
    dataset = mixture("gaussians8")
    radii = dataset.centers.norm(dim=1)
    assert radii.tolist() == pytest.approx([2.0] * 8)
    angles = torch.atan2(dataset.centers[:, 1], dataset.centers[:, 0])
    steps = (angles.diff() % (2 * math.pi)).tolist()
    assert steps == pytest.approx([math.pi / 4] * 7, abs=1e-6)
    assert dataset.std == 0.02
    assert dataset.train.shape == (4000, 2)
    assert dataset.val.shape == (500, 2)


def test_gaussians25_modes_on_grid():
    dataset = mixture("gaussians25")
    coordinates = sorted(set(dataset.centers.flatten().tolist()))
    assert coordinates == [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert len(set(map(tuple, dataset.centers.tolist()))) == 25
    assert dataset.std == 0.05


@pytest.mark.parametrize("name", ["gaussians8", "gaussians25"])
def test_points_spread_by_std_around_modes(name):
    dataset = mixture(name)
    distances = torch.cdist(dataset.train, dataset.centers)
    nearest_distance, nearest = distances.min(dim=1)
    offsets = dataset.train - dataset.centers[nearest]
    # Per-axis standard deviation within 5% of the mixture's, from 8,000 offsets.
    assert offsets.std().item() == pytest.approx(dataset.std, rel=0.05)
    # Each mode receives its 1/K share within 30%.
    counts = torch.bincount(nearest, minlength=len(dataset.centers)).float()
    expected = len(dataset.train) / len(dataset.centers)
    assert (counts - expected).abs().max().item() < 0.3 * expected


def test_points_depend_only_on_seed():
    assert torch.equal(mixture("gaussians8", seed=3).train, mixture("gaussians8", seed=3).train)
    assert not torch.equal(mixture("gaussians8", seed=3).train, mixture("gaussians8", 4).train)


def test_real_samples_cover_every_mode():
    dataset = mixture("gaussians25")
    coverage = mode_coverage(dataset.train, dataset.centers, dataset.std)
    assert coverage["eval/modes_covered"] == 25
    # The disc of radius 3 std contains 1 - exp(-9 / 2) = 98.9% of a 2-D Gaussian's mass.
    assert coverage["eval/high_quality_share"] == pytest.approx(1 - math.exp(-4.5), abs=0.01)


def test_coverage_counts_high_quality_per_mode():
    centers = grid_centers()
    std = 0.05
    # 100 samples: 60 at mode 0, 20 within 3 std of mode 1, 1 at mode 2 and 19 far from every
    # mode. The threshold is 0.2 x 100 / 25 = 0.8 samples, so one sample covers mode 2.
    samples = torch.cat(
        [
            centers[0].repeat(60, 1),
            centers[1].repeat(20, 1) + torch.tensor([2.9 * std, 0.0]),
            centers[2].repeat(1, 1),
            torch.full((19, 2), 1.0),
        ]
    )
    coverage = mode_coverage(samples, centers, std)
    assert coverage["eval/modes_covered"] == 3
    assert coverage["eval/high_quality_share"] == pytest.approx(0.81)


def test_coverage_threshold_and_radius():
    centers = grid_centers()
    std = 0.05
    # 2,500 samples: the threshold is 0.2 x 2,500 / 25 = 20 high-quality samples per mode.
    near = [centers[0].repeat(20, 1), centers[1].repeat(19, 1)]
    outside = centers[2].repeat(30, 1) + torch.tensor([3.1 * std, 0.0])
    filler = torch.full((2500 - 69, 2), 1.0)
    coverage = mode_coverage(torch.cat([*near, outside, filler]), centers, std)
    assert coverage["eval/modes_covered"] == 1
    assert coverage["eval/high_quality_share"] == pytest.approx(39 / 2500)
