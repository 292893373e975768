"""Sanity of the image quality metrics on digits, and the classifier's cache."""

import logging

import pytest
import torch
from omegaconf import OmegaConf

from genopt_cli.data import build_dataset
from genopt_cli.data.base import ImageDataset
from genopt_cli.metrics import ImageQuality, classifier


@pytest.fixture(scope="module")
def digits_quality():
    dataset = build_dataset(OmegaConf.create({"name": "digits", "val_fraction": 0.2}), None)
    return dataset, ImageQuality(dataset)


def test_digits_classifier_is_accurate(digits_quality):
    _, quality = digits_quality
    assert not quality.classifier.predicts_rotation
    assert quality.classifier.held_out_accuracy > 0.9


def test_real_images_score_near_zero(digits_quality):
    """Training images against held-out ones score far below noise and one repeated image."""
    dataset, quality = digits_quality
    real = quality.score(dataset.train[:500])
    noise = quality.score(torch.rand(500, 1, 8, 8, generator=torch.Generator().manual_seed(0)))
    repeated = quality.score(dataset.train[:1].repeat(500, 1, 1, 1))
    assert real["eval/classifier_fd"] < 50
    assert noise["eval/classifier_fd"] > 20 * real["eval/classifier_fd"]
    assert repeated["eval/classifier_fd"] > 20 * real["eval/classifier_fd"]
    assert real["eval/class_entropy"] > 0.95
    assert repeated["eval/class_entropy"] == 0.0
    assert real["eval/confident_share"] > 0.9


def test_missing_classes_lower_entropy(digits_quality):
    """Samples of digits 0 to 4 only: entropy near log 5 / log 10, and a larger distance."""
    dataset, quality = digits_quality
    half = quality.score(dataset.train[dataset.train_labels < 5])
    full = quality.score(dataset.train)
    assert half["eval/class_entropy"] == pytest.approx(0.699, abs=0.03)
    assert half["eval/classifier_fd"] > 5 * full["eval/classifier_fd"]


def test_train_distance_is_a_fixed_draw(digits_quality):
    dataset, quality = digits_quality
    first = quality.score(dataset.val)["eval/classifier_fd_train"]
    assert quality.train_distance(len(dataset.val)) == first
    assert quality.score(dataset.val)["eval/classifier_fd"] == pytest.approx(0.0, abs=1e-6)


def tiny_images(count: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Bright squares at one of four corners of 8x8 images; the corner is the label."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(4, (count,), generator=generator)
    images = 0.1 * torch.rand(count, 1, 8, 8, generator=generator)
    for i, label in enumerate(labels.tolist()):
        top, left = 4 * (label // 2), 4 * (label % 2)
        images[i, :, top : top + 4, left : left + 4] += 0.8
    return images, labels


@pytest.fixture
def quick_training(monkeypatch, tmp_path):
    monkeypatch.setattr(classifier, "TRAIN_STEPS", 40)
    monkeypatch.setenv("GENOPT_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_training_is_deterministic(quick_training):
    images, labels = tiny_images()
    first = classifier.train_classifier(images, labels, 4).state_dict()
    second = classifier.train_classifier(images, labels, 4).state_dict()
    for name, tensor in first.items():
        assert torch.equal(tensor, second[name]), name


def test_training_leaves_global_random_state(quick_training):
    images, labels = tiny_images()
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    classifier.train_classifier(images, labels, 4)
    assert torch.equal(torch.rand(3), expected)


def test_cache_is_reused_and_keyed_by_data(quick_training, monkeypatch):
    images, labels = tiny_images()
    trained = classifier.load_or_train(images, labels, 4, images[:16], labels[:16])
    files = list((quick_training / "classifiers").glob("*.pt"))
    assert len(files) == 1

    def fail(*args):
        raise AssertionError("trained again although the cache has the classifier")

    monkeypatch.setattr(classifier, "train_classifier", fail)
    cached = classifier.load_or_train(images, labels, 4, images[:16], labels[:16])
    assert cached.held_out_accuracy == trained.held_out_accuracy
    for name, tensor in trained.network.state_dict().items():
        assert torch.equal(tensor, cached.network.state_dict()[name]), name
    other = images.clone()
    other[0, 0, 0, 0] += 0.5
    assert classifier.data_checksum(other, labels) != classifier.data_checksum(images, labels)


def test_corrupt_cache_is_retrained(quick_training, caplog):
    images, labels = tiny_images()
    classifier.load_or_train(images, labels, 4, images[:16], labels[:16])
    (path,) = (quick_training / "classifiers").glob("*.pt")
    path.write_bytes(b"not a checkpoint")
    with caplog.at_level(logging.WARNING):
        classifier.load_or_train(images, labels, 4, images[:16], labels[:16])
    assert "unusable" in caplog.text
    assert path.stat().st_size > 1000


def test_one_class_reports_distance_only(quick_training, caplog):
    images, _ = tiny_images()
    dataset = ImageDataset(
        "one",
        images[:48],
        images[48:],
        train_labels=torch.zeros(48, dtype=torch.long),
        val_labels=torch.zeros(16, dtype=torch.long),
        classes=["all"],
    )
    with caplog.at_level(logging.INFO):
        quality = ImageQuality(dataset)
    assert quality.classifier.predicts_rotation
    assert "one class" in caplog.text
    metrics = quality.score(images[:32])
    assert sorted(metrics) == ["eval/classifier_fd", "eval/classifier_fd_train"]
