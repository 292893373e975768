"""Embedded data sets and the deterministic batch streams."""

import torch
from omegaconf import OmegaConf

from genopt_cli.data import build_dataset
from genopt_cli.data.base import ImageBatches, TokenWindows


def test_digits_split():
    dataset = build_dataset(OmegaConf.create({"name": "digits", "val_fraction": 0.2}), None)
    assert dataset.train.shape == (1438, 1, 8, 8)
    assert dataset.val.shape == (359, 1, 8, 8)
    assert dataset.train.min() >= 0
    assert dataset.train.max() <= 1


def test_text_corpus_round_trip():
    dataset = build_dataset(OmegaConf.create({"name": "text", "val_fraction": 0.1}), None)
    assert 400_000 < len(dataset.train) + len(dataset.val) < 600_000
    assert dataset.decode(dataset.encode("for x in y:")) == "for x in y:"


def test_image_batches_cover_each_epoch_once():
    images = torch.arange(10.0)
    batches = ImageBatches(images, step_size=4, seed=0)
    first_epoch = torch.cat([batches.batch(s) for s in range(5)])[:10]
    assert sorted(first_epoch.tolist()) == list(range(10))


def test_batches_depend_only_on_seed_and_step():
    a = ImageBatches(torch.arange(50.0), step_size=8, seed=3)
    b = ImageBatches(torch.arange(50.0), step_size=8, seed=3)
    b.batch(17)
    assert torch.equal(a.batch(5), b.batch(5))
    windows = TokenWindows(torch.arange(1000), step_size=4, length=9, seed=1)
    assert torch.equal(windows.batch(2), windows.batch(2))
    assert torch.equal(windows.batch(2)[:, 1:] - windows.batch(2)[:, :-1], torch.ones(4, 8).long())
