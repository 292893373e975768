"""Sample quality of an image model, scored by a classifier trained on the data set.

These are not the FID of published papers, which uses the features of an Inception network
trained on ImageNet. The features here come from a small network trained on the data set's own
training split, so the values compare models on one data set and mean nothing across data sets
or next to published FID figures.
"""

import logging

import torch

from genopt_cli.data.base import ImageDataset
from genopt_cli.metrics.classifier import load_or_train
from genopt_cli.metrics.frechet import class_coverage, feature_statistics, frechet_distance

log = logging.getLogger(__name__)

# A sample counts as confident when the classifier gives its class at least this probability.
CONFIDENT_PROBABILITY = 0.9
# Seed of the fixed draw of training images that gives eval/classifier_fd_train.
TRAIN_DRAW_SEED = 0


class ImageQuality:
    """Scores generated images against the held-out split of `dataset`.

    The metrics, keyed as logged:
    - eval/classifier_fd: Frechet distance between Gaussians fitted to the classifier features
      of the samples and of the held-out images; 0 is best.
    - eval/classifier_fd_train: the same distance for as many training images as samples, the
      score of a model that reproduces the data, up to sampling error.
    - eval/class_entropy: entropy of the predicted classes over log(classes), 1 when every class
      is predicted equally often.
    - eval/confident_share: share of samples whose predicted class has a probability of at
      least CONFIDENT_PROBABILITY.
    The class metrics need at least two classes, so a data set with one class reports only the
    two distances.
    """

    def __init__(self, dataset: ImageDataset):
        self.dataset = dataset
        labels = dataset.train_labels
        num_classes = len(dataset.classes) if dataset.classes is not None else 0
        self.classifier = load_or_train(
            dataset.train, labels, num_classes, dataset.val, dataset.val_labels
        )
        if self.classifier.predicts_rotation:
            log.info(
                "%s has %s, so class coverage is not reported and the feature network predicts "
                "rotations of the images instead of classes",
                dataset.name,
                "one class" if num_classes == 1 else "no class labels",
            )
        features, _ = self.classifier.network.features_and_probabilities(dataset.val)
        self.reference = feature_statistics(features)
        self._train_scores: dict[int, float] = {}

    def distance(self, images: torch.Tensor) -> float:
        """Return the Frechet distance of `images` to the held-out images."""
        features, _ = self.classifier.network.features_and_probabilities(images)
        return frechet_distance(*feature_statistics(features), *self.reference)

    def train_distance(self, count: int) -> float:
        """Return the distance of `count` training images (a fixed draw) to the held-out ones."""
        count = min(count, len(self.dataset.train))
        if count not in self._train_scores:
            generator = torch.Generator().manual_seed(TRAIN_DRAW_SEED)
            order = torch.randperm(len(self.dataset.train), generator=generator)
            self._train_scores[count] = self.distance(self.dataset.train[order[:count]])
        return self._train_scores[count]

    def score(self, samples: torch.Tensor) -> dict[str, float]:
        """Return the eval/ metrics of (N, C, H, W) samples in [0, 1], N >= 2."""
        samples = samples.float().cpu().clamp(0, 1)
        features, probabilities = self.classifier.network.features_and_probabilities(samples)
        metrics = {
            "eval/classifier_fd": frechet_distance(*feature_statistics(features), *self.reference),
            "eval/classifier_fd_train": self.train_distance(len(samples)),
        }
        if not self.classifier.predicts_rotation:
            coverage = class_coverage(probabilities, CONFIDENT_PROBABILITY)
            metrics["eval/class_entropy"] = coverage["class_entropy"]
            metrics["eval/confident_share"] = coverage["confident_share"]
        return metrics
