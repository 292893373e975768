"""MNIST-format IDX files and image folders made in tmp_path, and the errors for bad data."""

import gzip
import logging
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from genopt_cli.config.errors import GenoptError
from genopt_cli.data import build_dataset, check_dataset_size
from genopt_cli.data.mnist import read_idx


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write an unsigned-byte IDX file (gzip-compressed when the name ends in .gz)."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def make_mnist(folder: Path, train: int = 64, test: int = 16, size: int = 8, gz: bool = False):
    """Write train and t10k files of random images with labels 0-9; return the arrays."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    arrays = {}
    for split, count in (("train", train), ("t10k", test)):
        if count == 0:
            continue
        images = rng.integers(0, 256, (count, size, size), dtype=np.uint8)
        labels = np.arange(count, dtype=np.uint8) % 10
        write_idx(folder / f"{split}-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte{suffix}", labels)
        arrays[split] = (images, labels)
    return arrays


def mnist_cfg(path, **extra):
    return OmegaConf.create(
        {"name": "mnist", "path": str(path), "batch_size": 16, "val_fraction": 0.25, **extra}
    )


def folder_cfg(path, **extra):
    values = {
        "name": "image_folder",
        "path": str(path),
        "batch_size": 8,
        "image_size": 8,
        "channels": None,
        "val_fraction": 0.25,
        "skip_bad_files": False,
    }
    return OmegaConf.create({**values, **extra})


def make_image_folder(folder: Path, classes=("cat", "dog"), per_class: int = 8, mode: str = "L"):
    """Write per_class 12x16 PNGs into one subfolder per class (into `folder` for classes=())."""
    rng = np.random.default_rng(1)
    for name in classes or ("",):
        sub = folder / name
        sub.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            bands = 1 if mode == "L" else 3
            pixels = rng.integers(0, 256, (12, 16, bands), dtype=np.uint8).squeeze()
            Image.fromarray(pixels, mode=mode).save(sub / f"{i}.png")
    return folder


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reads_idx_files(tmp_path, gz):
    arrays = make_mnist(tmp_path / "mnist", gz=gz)
    dataset = build_dataset(mnist_cfg("mnist"), tmp_path)
    assert dataset.train.shape == (64, 1, 8, 8)
    assert dataset.val.shape == (16, 1, 8, 8)
    expected = torch.from_numpy(arrays["train"][0].astype(np.float32) / 255.0)
    assert torch.equal(dataset.train[:, 0], expected)
    assert dataset.classes == [str(d) for d in range(10)]
    assert dataset.train_labels.tolist() == arrays["train"][1].tolist()
    assert dataset.val_labels.tolist() == arrays["t10k"][1].tolist()


def test_mnist_dotted_names_and_no_t10k(tmp_path):
    """train-images.idx3-ubyte is accepted; without t10k files val_fraction is held out."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    # Image i is filled with the value i and labelled i % 3.
    images = np.repeat(np.arange(40), 28 * 28).reshape(40, 28, 28)
    write_idx(folder / "train-images.idx3-ubyte", images)
    write_idx(folder / "train-labels.idx1-ubyte", np.arange(40) % 3)
    dataset = build_dataset(mnist_cfg(folder), None)
    assert dataset.train.shape == (30, 1, 28, 28)
    assert dataset.val.shape == (10, 1, 28, 28)
    assert dataset.classes == ["0", "1", "2"]
    for split, labels in ((dataset.train, dataset.train_labels), (dataset.val, dataset.val_labels)):
        numbers = (split[:, 0, 0, 0] * 255).round().long()
        assert labels.tolist() == (numbers % 3).tolist()


def test_mnist_without_labels_has_no_classes(tmp_path, caplog):
    folder = tmp_path / "mnist"
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte", np.zeros((20, 8, 8)))
    with caplog.at_level(logging.WARNING):
        dataset = build_dataset(mnist_cfg(folder), None)
    assert dataset.classes is None
    assert dataset.train_labels is None
    assert "train-labels-idx1-ubyte" in caplog.text


def test_image_folder_classes_from_subfolders(tmp_path):
    make_image_folder(tmp_path / "pets")
    dataset = build_dataset(folder_cfg("pets"), tmp_path)
    assert dataset.classes == ["cat", "dog"]
    assert dataset.train.shape == (12, 1, 8, 8)
    assert dataset.val.shape == (4, 1, 8, 8)
    assert dataset.train.min() >= 0
    assert dataset.train.max() <= 1
    assert (
        sorted(torch.cat([dataset.train_labels, dataset.val_labels]).tolist()) == [0] * 8 + [1] * 8
    )


def test_image_folder_channels(tmp_path):
    make_image_folder(tmp_path / "color", classes=(), mode="RGB")
    make_image_folder(tmp_path / "gray", classes=(), mode="L")
    color = build_dataset(folder_cfg(tmp_path / "color"), None)
    assert color.image_shape == (3, 8, 8)
    assert color.classes == ["color"]
    assert build_dataset(folder_cfg(tmp_path / "gray"), None).image_shape == (1, 8, 8)
    forced = build_dataset(folder_cfg(tmp_path / "gray", channels=3), None)
    assert forced.image_shape == (3, 8, 8)
    assert torch.equal(forced.train[:, 0], forced.train[:, 2])
    assert build_dataset(folder_cfg(tmp_path / "color", channels=1), None).image_shape[0] == 1


def test_image_folder_crops_centre_square(tmp_path):
    """A 4x8 image, black left half and white right half, becomes a 4x4 centre crop."""
    folder = tmp_path / "crop"
    folder.mkdir()
    pixels = np.zeros((4, 8), dtype=np.uint8)
    pixels[:, 4:] = 255
    for i in range(4):
        Image.fromarray(pixels, mode="L").save(folder / f"{i}.png")
    dataset = build_dataset(folder_cfg(folder, image_size=4, batch_size=1), None)
    image = torch.cat([dataset.train, dataset.val])[0, 0]
    assert image[:, :2].max() == 0
    assert image[:, 2:].min() == 1


def test_skip_bad_files_counts_them(tmp_path, caplog):
    folder = make_image_folder(tmp_path / "pets")
    (folder / "cat" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(GenoptError, match="broken.png is not a readable image") as error:
        build_dataset(folder_cfg(folder), None)
    assert "data.skip_bad_files=true" in str(error.value)
    with caplog.at_level(logging.WARNING):
        dataset = build_dataset(folder_cfg(folder, skip_bad_files=True), None)
    assert len(dataset.train) + len(dataset.val) == 16
    assert "skipped 1 unreadable image files of 17" in caplog.text
    assert "broken.png" in caplog.text


def test_truncated_png_is_named(tmp_path):
    folder = make_image_folder(tmp_path / "pets", per_class=4)
    path = folder / "dog" / "0.png"
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(GenoptError, match="0.png is not a readable image"):
        build_dataset(folder_cfg(folder), None)


def data_error(cfg, launch_dir=None) -> str:
    with pytest.raises(GenoptError) as error:
        build_dataset(cfg, launch_dir)
    return str(error.value)


def test_missing_and_empty_paths(tmp_path):
    message = data_error(mnist_cfg("nowhere"), tmp_path)
    assert "data.path=nowhere" in message
    assert str(tmp_path / "nowhere") in message
    assert "not found" in message
    (tmp_path / "empty").mkdir()
    message = data_error(folder_cfg(tmp_path / "empty"))
    assert "contains no image files" in message
    assert ".png" in message
    message = data_error(mnist_cfg(tmp_path / "empty"))
    assert "no train-images-idx3-ubyte" in message


def test_images_beside_class_folders(tmp_path):
    folder = make_image_folder(tmp_path / "pets", per_class=2)
    make_image_folder(folder, classes=(), per_class=1)
    message = data_error(folder_cfg(folder))
    assert "both images" in message
    assert "class subfolders" in message


def test_idx_header_against_size(tmp_path):
    folder = tmp_path / "mnist"
    make_mnist(folder)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    message = data_error(mnist_cfg(folder))
    assert str(path) in message
    assert "(64, 8, 8)" in message
    assert f"needs {16 + 64 * 64} bytes" in message
    assert f"is {16 + 64 * 64 - 10} bytes" in message


def test_idx_errors_name_the_file(tmp_path):
    bad_magic = tmp_path / "bad-magic"
    bad_magic.write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(GenoptError, match="is not an IDX file: it starts with bytes"):
        read_idx(bad_magic)
    broken_gz = tmp_path / "train-images-idx3-ubyte.gz"
    broken_gz.write_bytes(gzip.compress(b"0" * 100)[:20])
    with pytest.raises(GenoptError, match="train-images-idx3-ubyte.gz could not be read"):
        read_idx(broken_gz)


def test_label_count_must_match(tmp_path):
    folder = tmp_path / "mnist"
    make_mnist(folder)
    write_idx(folder / "train-labels-idx1-ubyte", np.zeros(63))
    message = data_error(mnist_cfg(folder))
    assert "has 63 labels" in message
    assert "has 64 images" in message


def test_text_file_not_utf8(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes(b"caf" + "\xe9 au lait".encode("latin-1"))
    cfg = OmegaConf.create({"name": "text_file", "path": "latin.txt", "val_fraction": 0.1})
    message = data_error(cfg, tmp_path)
    assert str(path) in message
    assert "byte e9 at byte offset 3" in message
    assert "convert the file to UTF-8" in message


def test_dataset_smaller_than_batch(tmp_path):
    make_mnist(tmp_path / "mnist", train=10, test=4)
    cfg = OmegaConf.create({"data": mnist_cfg(tmp_path / "mnist"), "model": {"name": "vae"}})
    dataset = build_dataset(cfg.data, None)
    with pytest.raises(GenoptError, match="data.batch_size=16 is larger than the 10 training"):
        check_dataset_size(cfg, dataset)
    cfg.data.batch_size = 10
    check_dataset_size(cfg, dataset)


def test_text_shorter_than_window(tmp_path):
    (tmp_path / "short.txt").write_text("x" * 300)
    data = {"name": "text_file", "path": "short.txt", "val_fraction": 0.1, "batch_size": 4}
    cfg = OmegaConf.create({"data": data, "model": {"name": "transformer", "context_length": 64}})
    dataset = build_dataset(cfg.data, tmp_path)
    with pytest.raises(GenoptError, match="held-out split .* has 30 characters"):
        check_dataset_size(cfg, dataset)
