"""Checkpoints: plain tensors and containers, written atomically, read with weights_only=True."""

import os
from pathlib import Path

import torch

from genopt_cli.config.errors import GenoptError


def save_atomic(state: dict, path: Path) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path`.

    A process killed at any moment leaves either the old file or the new one, never a torn one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle:
        torch.save(state, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def load_checkpoint(path: Path) -> dict:
    if not path.is_file():
        raise GenoptError(f"checkpoint {path} not found; a finished run keeps checkpoints/last.pt")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError or EOFError here
        raise GenoptError(
            f"checkpoint {path} is not a valid genopt checkpoint ({type(error).__name__} from "
            "torch.load with weights_only=True): it is truncated or corrupt, or it holds "
            "objects other than tensors and plain containers, which genopt never loads. "
            "Use a checkpoint written by genopt, or train again."
        ) from None
