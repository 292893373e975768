"""Character corpora: Python's language-reference topics (pydoc_data, part of every CPython) and
a user's text file."""

import logging
from pathlib import Path

import torch
from omegaconf import DictConfig

from genopt_cli.config.errors import GenoptError
from genopt_cli.data.base import TextDataset
from genopt_cli.data.paths import existing_data_path

log = logging.getLogger(__name__)


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


def load_text_file(cfg: DictConfig, launch_dir: Path) -> TextDataset:
    """Read data.path as UTF-8; the last val_fraction of the characters is held out."""
    path = existing_data_path(cfg, launch_dir, folder=False)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise GenoptError(
            f"data.path={cfg.path}: {path} could not be read ({error.strerror}); check the "
            "file's permissions"
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        bad = raw[error.start : error.end].hex(" ")
        raise GenoptError(
            f"data.path={cfg.path}: {path} is not UTF-8 text: byte {bad} at byte offset "
            f"{error.start} is invalid ({error.reason}); convert the file to UTF-8 and pass "
            f"the result, e.g. for a Latin-1 file: iconv -f latin1 -t utf-8 {path} > "
            f"{path.with_suffix('.utf8' + path.suffix)}"
        ) from None
    if not text:
        raise GenoptError(f"data.path={cfg.path}: {path} is empty; pass a text file with text")
    return split_text("text_file", text, cfg.val_fraction)


def with_vocab(dataset: TextDataset, vocab: list[str]) -> TextDataset:
    """Re-encode `dataset` with another vocabulary, dropping characters outside it.

    A fine-tuned model keeps the vocabulary, and so the embedding rows, of the run it starts
    from; the new text is read in that vocabulary.
    """
    train_text, val_text = dataset.decode(dataset.train), dataset.decode(dataset.val)
    converted = TextDataset(dataset.name, torch.zeros(0), torch.zeros(0), list(vocab))
    converted.train, converted.val = converted.encode(train_text), converted.encode(val_text)
    dropped = len(train_text) + len(val_text) - len(converted.train) - len(converted.val)
    if dropped:
        unknown = sorted(set(train_text + val_text) - set(vocab))
        log.warning(
            "%s: %d characters outside the vocabulary of the initial weights were dropped: %s",
            dataset.name,
            dropped,
            "".join(unknown)[:80],
        )
    return converted
