"""Each family's quality metrics reach TensorBoard and summary.json."""

import math

import pytest

from tests.helpers import read_scalars, read_summary, train_tiny

IMAGE_METRICS = [
    "eval/classifier_fd",
    "eval/classifier_fd_train",
    "eval/class_entropy",
    "eval/confident_share",
]


@pytest.mark.parametrize("model", ["vae", "ddpm", "gan"])
def test_image_family_reports_quality(model, tmp_path):
    run_dir = tmp_path / "run"
    train_tiny(model, run_dir, "trainer.eval_samples=100", "trainer.eval_every=5", steps=10)
    metrics = read_summary(run_dir)["metrics"]
    for key in IMAGE_METRICS:
        assert math.isfinite(metrics[key]), key
    # Ten steps make nothing like digits, so the samples lie far from the real images.
    assert metrics["eval/classifier_fd"] > 2 * metrics["eval/classifier_fd_train"]
    assert 0 <= metrics["eval/class_entropy"] <= 1
    assert 0 <= metrics["eval/confident_share"] <= 1
    logged = read_scalars(run_dir)["eval/classifier_fd"]
    assert [step for step, _ in logged] == [4, 9]
    assert logged[-1][1] == pytest.approx(metrics["eval/classifier_fd"], rel=1e-6)


def test_quality_is_repeatable_and_can_be_off(tmp_path):
    first, second, off = tmp_path / "first", tmp_path / "second", tmp_path / "off"
    for run_dir in (first, second):
        train_tiny("vae", run_dir, "trainer.eval_samples=64", steps=5)
    assert read_summary(first)["metrics"]["eval/classifier_fd"] == pytest.approx(
        read_summary(second)["metrics"]["eval/classifier_fd"], rel=1e-9
    )
    train_tiny("vae", off, "trainer.eval_samples=null", steps=5)
    quality = ("eval/classifier_fd", "eval/class_entropy", "eval/confident_share")
    assert not [key for key in read_summary(off)["metrics"] if key.startswith(quality)]


def test_transformer_reports_bits_per_character(tmp_path):
    run_dir = tmp_path / "run"
    train_tiny("transformer", run_dir, steps=5)
    metrics = read_summary(run_dir)["metrics"]
    assert metrics["val/bpc"] == pytest.approx(metrics["val/loss"] / math.log(2), rel=1e-9)
