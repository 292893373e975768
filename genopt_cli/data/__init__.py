"""Data sets: the embedded defaults, looked up by `data.name`."""

from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig

from genopt_cli.data.base import Dataset, ImageDataset, TextDataset
from genopt_cli.data.digits import load_digits
from genopt_cli.data.text import load_pydoc_text

# data.name -> loader(cfg.data, launch_dir). Every name here has a file in configs/data/.
LOADERS: dict[str, Callable[[DictConfig, Path], Dataset]] = {
    "digits": load_digits,
    "text": load_pydoc_text,
}


def build_dataset(cfg: DictConfig, launch_dir: Path) -> Dataset:
    return LOADERS[cfg.name](cfg, launch_dir)


__all__ = ["Dataset", "ImageDataset", "TextDataset", "LOADERS", "build_dataset"]
