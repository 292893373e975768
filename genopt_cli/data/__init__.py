"""Data sets: the embedded defaults, looked up by `data.name`."""

from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig

from genopt_cli.data.base import Dataset, ImageDataset, PointDataset, TextDataset
from genopt_cli.data.digits import load_digits
from genopt_cli.data.mixtures import load_gaussians8, load_gaussians25
from genopt_cli.data.text import load_pydoc_text, load_text_file, with_vocab

# data.name -> loader(cfg.data, launch_dir). Every name here has a file in configs/data/.
LOADERS: dict[str, Callable[[DictConfig, Path], Dataset]] = {
    "digits": load_digits,
    "text": load_pydoc_text,
    "text_file": load_text_file,
    "gaussians8": load_gaussians8,
    "gaussians25": load_gaussians25,
}


def build_dataset(cfg: DictConfig, launch_dir: Path, vocab: list[str] | None = None) -> Dataset:
    """Load data.name; a text data set is re-encoded with `vocab` when one is given."""
    dataset = LOADERS[cfg.name](cfg, launch_dir)
    if vocab is not None and isinstance(dataset, TextDataset) and dataset.vocab != list(vocab):
        dataset = with_vocab(dataset, vocab)
    return dataset


__all__ = ["Dataset", "ImageDataset", "PointDataset", "TextDataset", "LOADERS", "build_dataset"]
