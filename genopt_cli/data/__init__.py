"""Data sets, looked up by `data.name`: the embedded defaults and a user's files."""

from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig

from genopt_cli.config.errors import GenoptError
from genopt_cli.data.base import Dataset, ImageDataset, PointDataset, TextDataset
from genopt_cli.data.digits import load_digits
from genopt_cli.data.image_folder import load_image_folder
from genopt_cli.data.mixtures import load_gaussians8, load_gaussians25
from genopt_cli.data.mnist import load_mnist
from genopt_cli.data.text import load_pydoc_text, load_text_file, with_vocab

# data.name -> loader(cfg.data, launch_dir). Every name here has a file in configs/data/.
LOADERS: dict[str, Callable[[DictConfig, Path], Dataset]] = {
    "digits": load_digits,
    "text": load_pydoc_text,
    "text_file": load_text_file,
    "mnist": load_mnist,
    "image_folder": load_image_folder,
    "gaussians8": load_gaussians8,
    "gaussians25": load_gaussians25,
}


def build_dataset(cfg: DictConfig, launch_dir: Path, vocab: list[str] | None = None) -> Dataset:
    """Load data.name; a text data set is re-encoded with `vocab` when one is given."""
    dataset = LOADERS[cfg.name](cfg, launch_dir)
    if vocab is not None and isinstance(dataset, TextDataset) and dataset.vocab != list(vocab):
        dataset = with_vocab(dataset, vocab)
    return dataset


def _source(cfg: DictConfig) -> str:
    return f"data={cfg.data.name}" + (f" (data.path={cfg.data.path})" if "path" in cfg.data else "")


def check_dataset_size(cfg: DictConfig, dataset: Dataset, processes: int = 1) -> None:
    """Raise GenoptError when a split is too small to train or evaluate on.

    Points are drawn in any number. Images: the training split needs one batch of every
    process (`processes` x data.batch_size), the held-out split two images, the fewest that a
    covariance needs. Text: each split needs one window of model.context_length + 1 characters.
    """
    if isinstance(dataset, PointDataset):
        return
    if isinstance(dataset, ImageDataset):
        batch = cfg.data.batch_size
        if len(dataset.train) < batch * processes:
            per_process = "" if processes == 1 else f" x {processes} processes"
            raise GenoptError(
                f"data.batch_size={batch}{per_process} is larger than the {len(dataset.train)} "
                f"training images of {_source(cfg)}; set data.batch_size to at most "
                f"{len(dataset.train) // processes}, or add images"
            )
        if len(dataset.val) < 2:
            raise GenoptError(
                f"{_source(cfg)} has {len(dataset.val)} held-out images, but evaluation needs at "
                f"least 2; raise data.val_fraction (now {cfg.data.get('val_fraction')}) or add "
                "images"
            )
        return
    window = cfg.model.context_length + 1
    for split, tokens in (("training", dataset.train), ("held-out", dataset.val)):
        if len(tokens) < window:
            raise GenoptError(
                f"the {split} split of {_source(cfg)} has {len(tokens)} characters, fewer than "
                f"one window of model.context_length + 1 = {window}; use a longer text or a "
                "smaller model.context_length"
            )


__all__ = [
    "Dataset",
    "ImageDataset",
    "PointDataset",
    "TextDataset",
    "LOADERS",
    "build_dataset",
    "check_dataset_size",
]
