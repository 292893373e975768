"""MNIST-format data sets (MNIST, Fashion-MNIST, KMNIST and others): IDX files in one folder.

An IDX file starts with two zero bytes, a type code (0x08 for unsigned bytes), the number of
dimensions and each dimension as a big-endian 32-bit integer, followed by the values in C order.
The header is parsed here by hand because it is 4 + 4 x dimensions bytes, numpy reads the rest,
and the check of the header against the file's size names the problem when a download was cut
short. torchvision has a reader too, but its wheels must match torch's exactly.
"""

import gzip
import logging
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from genopt_cli.config.errors import GenoptError
from genopt_cli.data.base import ImageDataset, split_indices
from genopt_cli.data.paths import existing_data_path

log = logging.getLogger(__name__)

# IDX type code -> numpy type; multi-byte values are big-endian.
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def find_idx_file(folder: Path, split: str, kind: str) -> Path | None:
    """Return the file of `split` (train or t10k) and `kind` (images or labels), or None.

    Both spellings in use are accepted, train-images-idx3-ubyte and train-images.idx3-ubyte,
    raw or with .gz.
    """
    dims = "idx3" if kind == "images" else "idx1"
    for name in (f"{split}-{kind}-{dims}-ubyte", f"{split}-{kind}.{dims}-ubyte"):
        for suffix in ("", ".gz"):
            path = folder / f"{name}{suffix}"
            if path.is_file():
                return path
    return None


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if path.suffix == ".gz" else raw
    except (OSError, EOFError, zlib.error) as error:
        raise GenoptError(
            f"{path} could not be read ({type(error).__name__}: {error}); download the file "
            "again or replace it"
        ) from None


def read_idx(path: Path) -> np.ndarray:
    """Return the array stored in an IDX file, raw or gzip-compressed."""
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        codes = ", ".join(f"{code:02x}" for code in IDX_TYPES)
        raise GenoptError(
            f"{path} is not an IDX file: it starts with bytes [{raw[:4].hex(' ')}], but an IDX "
            f"file starts with 00 00, a type code ({codes}) and the number of dimensions; pass "
            "a folder of MNIST-format files"
        )
    ndim = raw[3]
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise GenoptError(
            f"{path}: the IDX header announces {ndim} dimensions ({header_size} header bytes), "
            f"but the file has only {len(raw)} bytes; download the file again"
        )
    shape = struct.unpack(f">{ndim}I", raw[4:header_size])
    dtype = np.dtype(IDX_TYPES[raw[2]])
    expected = header_size + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        size = "uncompressed size" if path.suffix == ".gz" else "size"
        raise GenoptError(
            f"{path}: the IDX header gives shape {tuple(shape)} of {dtype.name}, which needs "
            f"{expected} bytes with the header, but the file's {size} is {len(raw)} bytes; the "
            "file is truncated or corrupt, download it again"
        )
    return np.frombuffer(raw, dtype, offset=header_size).reshape(shape)


def read_images(path: Path) -> torch.Tensor:
    """Return the images of an idx3 file as (N, 1, H, W) floats in [0, 1]."""
    array = read_idx(path)
    if array.ndim != 3 or array.dtype != np.uint8:
        raise GenoptError(
            f"{path} contains {array.dtype.name} values of shape {array.shape}, but MNIST-format "
            "images are unsigned bytes of shape (images, rows, columns); pass an images file"
        )
    return torch.from_numpy(array.astype(np.float32) / 255.0).unsqueeze(1)


def read_labels(path: Path, images_path: Path, count: int) -> np.ndarray:
    """Return the labels of an idx1 file, checked against the `count` images they label."""
    labels = read_idx(path)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise GenoptError(
            f"{path} contains {labels.dtype.name} values of shape {labels.shape}, but "
            "MNIST-format labels are integers of shape (images,); pass a labels file"
        )
    if len(labels) != count:
        raise GenoptError(
            f"{path} has {len(labels)} labels, but {images_path} has {count} images; the files "
            "belong to different data sets or one is incomplete, download them again"
        )
    return labels.astype(np.int64)


def _read_split(folder: Path, split: str) -> tuple[torch.Tensor, np.ndarray | None] | None:
    """Return the images and labels (None when the labels file is missing) of a split."""
    images_path = find_idx_file(folder, split, "images")
    if images_path is None:
        return None
    images = read_images(images_path)
    labels_path = find_idx_file(folder, split, "labels")
    if labels_path is None:
        log.warning(
            "%s has no %s-labels-idx1-ubyte[.gz], so %s images are unlabelled",
            folder,
            split,
            split,
        )
        return images, None
    return images, read_labels(labels_path, images_path, len(images))


def _class_indices(
    train: np.ndarray, val: np.ndarray
) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """Map labels to indices of the sorted classes of the training split."""
    classes = np.unique(train)
    unknown = np.setdiff1d(np.unique(val), classes)
    if len(unknown):
        raise GenoptError(
            f"the held-out labels contain classes {unknown.tolist()} that no training image "
            f"has (training classes: {classes.tolist()}); pass matching train and t10k files"
        )
    names = [str(label) for label in classes.tolist()]
    train_index = torch.from_numpy(np.searchsorted(classes, train))
    val_index = torch.from_numpy(np.searchsorted(classes, val))
    return names, train_index, val_index


def load_mnist(cfg: DictConfig, launch_dir: Path) -> ImageDataset:
    """Read the train files of data.path, and the t10k files as the held-out split.

    Without t10k files, a fixed val_fraction of the training images is held out.
    """
    folder = existing_data_path(cfg, launch_dir, folder=True)
    train = _read_split(folder, "train")
    if train is None:
        found = ", ".join(sorted(path.name for path in folder.iterdir())[:8]) or "nothing"
        raise GenoptError(
            f"data.path={cfg.path}: {folder} has no train-images-idx3-ubyte (raw or .gz), only: "
            f"{found}; pass the folder of MNIST-format files"
        )
    held_out = _read_split(folder, "t10k")
    train_images, train_labels = train
    if held_out is None:
        log.info(
            "%s has no t10k files, so %.0f%% of the training images are held out",
            folder,
            100 * cfg.val_fraction,
        )
        train_index, val_index = split_indices(len(train_images), cfg.val_fraction)
        val_images = train_images[val_index]
        train_images = train_images[train_index]
        val_labels = None
        if train_labels is not None:
            val_labels = train_labels[val_index.numpy()]
            train_labels = train_labels[train_index.numpy()]
    else:
        val_images, val_labels = held_out
        if val_images.shape[1:] != train_images.shape[1:]:
            raise GenoptError(
                f"data.path={cfg.path}: the train images are {tuple(train_images.shape[2:])} "
                f"pixels but the t10k images {tuple(val_images.shape[2:])}; pass files of one "
                "data set"
            )

    dataset = ImageDataset(name="mnist", train=train_images, val=val_images)
    if train_labels is not None and val_labels is not None:
        dataset.classes, dataset.train_labels, dataset.val_labels = _class_indices(
            train_labels, val_labels
        )
    return dataset
