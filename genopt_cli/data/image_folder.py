"""A folder of images, read with Pillow: one subfolder per class, or the images directly in the
folder as one class.

Each image is converted to grayscale or RGB, scaled so that its shorter side is
data.image_size and cropped to a centred square.
"""

import logging
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig
from PIL import Image, ImageOps

from genopt_cli.config.errors import GenoptError
from genopt_cli.data.base import ImageDataset, split_indices
from genopt_cli.data.paths import existing_data_path

log = logging.getLogger(__name__)

# Pillow modes without colour; data.channels=null gives one channel when every image has one.
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
# Errors Pillow raises for a file it cannot decode. Some broken PNG files raise SyntaxError, and
# images above Pillow's pixel limit raise DecompressionBombError.
IMAGE_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def is_image_name(path: Path) -> bool:
    """Return whether `path` is not hidden and has an extension that Pillow opens."""
    return path.suffix.lower() in Image.registered_extensions() and not path.name.startswith(".")


def image_files(folder: Path) -> list[Path]:
    """Return the image files in `folder` and its subfolders, sorted."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_image_name(p))


def find_classes(cfg: DictConfig, folder: Path) -> list[tuple[str, list[Path]]]:
    """Return (class name, files) for each subfolder with images, or one class for the folder."""
    top_files = sorted(p for p in folder.iterdir() if p.is_file() and is_image_name(p))
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    classes = [(sub.name, files) for sub in subfolders if (files := image_files(sub))]
    if classes and top_files:
        raise GenoptError(
            f"data.path={cfg.path}: {folder} contains both images ({top_files[0].name}, ...) "
            f"and class subfolders ({classes[0][0]}, ...); move the images into subfolders, one "
            "per class, or pass a folder with images only"
        )
    if not classes:
        classes = [(folder.name, top_files)]
    if not classes[0][1]:
        raise GenoptError(
            f"data.path={cfg.path}: {folder} contains no image files (files with an extension "
            "that Pillow reads, such as .png, .jpg, .bmp or .webp); put the images in it, one "
            "subfolder per class"
        )
    return classes


def read_image(path: Path, mode: str, size: int) -> tuple[np.ndarray, bool]:
    """Return the image as a (size, size, bands) uint8 array in `mode`, and whether it was gray."""
    with Image.open(path) as image:
        image.load()
        gray = image.mode in GRAY_MODES
        converted = image.convert(mode)
    fitted = ImageOps.fit(converted, (size, size), method=Image.Resampling.LANCZOS)
    return np.asarray(fitted, dtype=np.uint8).reshape(size, size, -1), gray


def load_image_folder(cfg: DictConfig, launch_dir: Path) -> ImageDataset:
    """Read every image under data.path; a fixed val_fraction of them is held out."""
    folder = existing_data_path(cfg, launch_dir, folder=True)
    classes = find_classes(cfg, folder)
    mode = "L" if cfg.channels == 1 else "RGB"
    arrays, labels, bad_files = [], [], []
    all_gray = True
    for index, (_, files) in enumerate(classes):
        for path in files:
            try:
                array, gray = read_image(path, mode, cfg.image_size)
            except IMAGE_ERRORS as error:
                if not cfg.skip_bad_files:
                    raise GenoptError(
                        f"{path} is not a readable image ({type(error).__name__}: {error}); "
                        "remove or replace the file, or set data.skip_bad_files=true to skip "
                        "unreadable files"
                    ) from None
                bad_files.append(path)
                continue
            arrays.append(array)
            labels.append(index)
            all_gray = all_gray and gray
    if bad_files:
        log.warning(
            "skipped %d unreadable image files of %d under %s (data.skip_bad_files=true): %s",
            len(bad_files),
            len(bad_files) + len(arrays),
            folder,
            ", ".join(str(p.relative_to(folder)) for p in bad_files[:5]),
        )
    if not arrays:
        raise GenoptError(
            f"data.path={cfg.path}: none of the {len(bad_files)} image files under {folder} "
            "could be read; pass a folder of readable images"
        )

    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255.0
    if cfg.channels is None and all_gray:
        images = images[:, :1]
    train, val = split_indices(len(images), cfg.val_fraction)
    label_tensor = torch.tensor(labels, dtype=torch.long)
    log.info(
        "read %d images of %d classes from %s at %dx%d, %d channels",
        len(images),
        len(classes),
        folder,
        cfg.image_size,
        cfg.image_size,
        images.shape[1],
    )
    return ImageDataset(
        name="image_folder",
        train=images[train].contiguous(),
        val=images[val].contiguous(),
        train_labels=label_tensor[train],
        val_labels=label_tensor[val],
        classes=[name for name, _ in classes],
    )
