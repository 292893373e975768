"""Python's language-reference topics (pydoc_data, part of every CPython) as a character corpus."""

from pathlib import Path

import torch
from omegaconf import DictConfig

from genopt_cli.data.base import TextDataset


def pydoc_corpus() -> str:
    """Return the topics joined in sorted order, so that the corpus is the same on every run."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[name] for name in sorted(topics))


def split_text(name: str, text: str, val_fraction: float) -> TextDataset:
    vocab = sorted(set(text))
    index = {ch: i for i, ch in enumerate(vocab)}
    tokens = torch.tensor([index[ch] for ch in text], dtype=torch.long)
    n_train = int(len(tokens) * (1.0 - val_fraction))
    return TextDataset(name=name, train=tokens[:n_train], val=tokens[n_train:], vocab=vocab)


def load_pydoc_text(cfg: DictConfig, launch_dir: Path) -> TextDataset:
    return split_text("text", pydoc_corpus(), cfg.val_fraction)
