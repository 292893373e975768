"""Frechet distance between Gaussians fitted to feature vectors, and the spread of predicted
classes over a set of samples."""

import math

import torch


def feature_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the mean and the unbiased covariance of (N, D) features, in float64."""
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"need (N, D) features with N >= 2, got shape {tuple(features.shape)}")
    features = features.double()
    return features.mean(0), torch.cov(features.T, correction=1).reshape(features.shape[1], -1)


def _psd_sqrt(matrix: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix; tiny negative eigenvalues from
    rounding count as 0."""
    eigenvalues, eigenvectors = torch.linalg.eigh(matrix)
    return (eigenvectors * eigenvalues.clamp(min=0).sqrt()) @ eigenvectors.T


def frechet_distance(
    mean1: torch.Tensor, cov1: torch.Tensor, mean2: torch.Tensor, cov2: torch.Tensor
) -> float:
    """Return the squared Frechet (2-Wasserstein) distance between N(mean1, cov1) and
    N(mean2, cov2): |mean1 - mean2|^2 + tr(cov1) + tr(cov2) - 2 tr((cov1 cov2)^(1/2)).

    cov1 cov2 has the eigenvalues of the symmetric matrix cov1^(1/2) cov2 cov1^(1/2), so the
    last trace is the sum of the square roots of that matrix's eigenvalues. Two symmetric
    eigendecompositions compute it. scipy.linalg.sqrtm on the non-symmetric product, the usual
    route, can return complex values when a covariance is singular, as it is for a set of
    identical samples. The formula is short, so no extra dependency is taken for it.
    """
    mean1, cov1, mean2, cov2 = (t.double() for t in (mean1, cov1, mean2, cov2))
    root1 = _psd_sqrt(cov1)
    middle = root1 @ cov2 @ root1
    middle = 0.5 * (middle + middle.T)
    trace_root = torch.linalg.eigvalsh(middle).clamp(min=0).sqrt().sum()
    distance = (mean1 - mean2).pow(2).sum() + cov1.trace() + cov2.trace() - 2 * trace_root
    # Rounding can leave a distance of 0 slightly negative.
    return max(distance.item(), 0.0)


def class_coverage(probabilities: torch.Tensor, confident: float) -> dict[str, float]:
    """Return how samples spread over K classes, from their (N, K) class probabilities.

    class_entropy: the entropy of the histogram of predicted classes (the argmax) divided by
    log K, so 1 when every class is predicted equally often and 0 when one class takes all.
    confident_share: the share of samples whose largest class probability is >= `confident`.
    """
    num_classes = probabilities.shape[1]
    if num_classes < 2:
        raise ValueError(f"class coverage needs at least 2 classes, got {num_classes}")
    counts = torch.bincount(probabilities.argmax(1), minlength=num_classes).double()
    shares = counts[counts > 0] / counts.sum()
    # Adding 0.0 turns the -0.0 of a single class into 0.0.
    entropy = -(shares * shares.log()).sum().item() / math.log(num_classes) + 0.0
    confident_share = (probabilities.max(1).values >= confident).double().mean().item()
    return {"class_entropy": entropy, "confident_share": confident_share}
