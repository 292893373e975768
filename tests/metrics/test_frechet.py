"""The Frechet distance and class coverage against closed forms."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from genopt_cli.metrics.frechet import class_coverage, feature_statistics, frechet_distance


def random_covariance(dim: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    factor = torch.randn(dim, dim, generator=generator, dtype=torch.float64)
    return factor @ factor.T / dim + 0.1 * torch.eye(dim, dtype=torch.float64)


def test_diagonal_gaussians_closed_form():
    """For diagonal covariances d^2 = |m1 - m2|^2 + sum (sqrt(a_i) - sqrt(b_i))^2."""
    mean1, mean2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, -1.0, 2.0])
    var1, var2 = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 1.0, 0.25])
    expected = (1 + 4 + 0) + (1 - 2) ** 2 + (2 - 1) ** 2 + (3 - 0.5) ** 2
    distance = frechet_distance(mean1, torch.diag(var1), mean2, torch.diag(var2))
    assert distance == pytest.approx(expected, rel=1e-12)


def test_general_covariances_match_scipy_sqrtm():
    cov1, cov2 = random_covariance(6, seed=1), random_covariance(6, seed=2)
    mean1, mean2 = torch.zeros(6, dtype=torch.float64), torch.full((6,), 0.5, dtype=torch.float64)
    root = scipy.linalg.sqrtm(cov1.numpy() @ cov2.numpy()).real
    expected = 6 * 0.25 + np.trace(cov1.numpy()) + np.trace(cov2.numpy()) - 2 * np.trace(root)
    assert frechet_distance(mean1, cov1, mean2, cov2) == pytest.approx(expected, rel=1e-10)


def test_identical_gaussians_are_zero():
    cov = random_covariance(5, seed=3)
    mean = torch.arange(5.0)
    assert frechet_distance(mean, cov, mean, cov) == pytest.approx(0.0, abs=1e-9)


def test_point_mass_against_gaussian():
    """A point mass at m1 (zero covariance) is |m1 - m2|^2 + tr(cov2) from N(m2, cov2)."""
    cov2 = random_covariance(4, seed=4)
    mean1, mean2 = torch.ones(4), torch.zeros(4)
    distance = frechet_distance(mean1, torch.zeros(4, 4), mean2, cov2)
    assert distance == pytest.approx(4.0 + cov2.trace().item(), rel=1e-10)


def test_feature_statistics_match_numpy():
    features = torch.randn(50, 3, generator=torch.Generator().manual_seed(0))
    mean, cov = feature_statistics(features)
    assert np.allclose(mean.numpy(), features.numpy().mean(0))
    assert np.allclose(cov.numpy(), np.cov(features.numpy(), rowvar=False))
    with pytest.raises(ValueError, match="N >= 2"):
        feature_statistics(features[:1])


def one_hot(classes: list[int], num_classes: int, confidence: float = 1.0) -> torch.Tensor:
    rest = (1.0 - confidence) / (num_classes - 1)
    probabilities = torch.full((len(classes), num_classes), rest)
    probabilities[torch.arange(len(classes)), torch.tensor(classes)] = confidence
    return probabilities


def test_class_entropy_closed_forms():
    uniform = class_coverage(one_hot([0, 1, 2, 3] * 5, 4), confident=0.9)
    assert uniform["class_entropy"] == pytest.approx(1.0)
    single = class_coverage(one_hot([2] * 20, 4), confident=0.9)
    assert single["class_entropy"] == 0.0
    assert math.copysign(1.0, single["class_entropy"]) == 1.0
    half = class_coverage(one_hot([0, 1] * 10, 4), confident=0.9)
    assert half["class_entropy"] == pytest.approx(math.log(2) / math.log(4))


def test_confident_share_counts_threshold():
    probabilities = torch.cat([one_hot([0] * 3, 3, 0.95), one_hot([1] * 1, 3, 0.5)])
    assert class_coverage(probabilities, confident=0.9)["confident_share"] == pytest.approx(0.75)
    assert class_coverage(probabilities, confident=0.99)["confident_share"] == 0.0
