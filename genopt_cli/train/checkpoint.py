"""Checkpoints: plain tensors and containers, written atomically, read with weights_only=True.

A run keeps checkpoints/step-NNNNNNN.pt files, the newest `keep` of them, and last.pt, a hard
link to the newest one (a copy where the file system has no hard links). Every file appears
through a rename, so a process killed at any moment, during a save included, leaves the previous
checkpoint whole.
"""

import os
import re
from pathlib import Path

import torch

from genopt_cli.config.errors import GenoptError

# Keys every genopt checkpoint has; see genopt_cli.train.state for the whole layout.
REQUIRED_KEYS = ("step", "config", "players", "ema")
STEP_FILE = re.compile(r"step-(\d+)\.pt")


def _fsync_directory(directory: Path) -> None:
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def save_atomic(state: dict, path: Path) -> None:
    """Write to a temporary file in the same folder, flush, fsync, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        with open(temporary, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise GenoptError(
            f"could not write checkpoint {path}: {error.strerror or error}. The previous "
            "checkpoint in that folder is intact; free disk space or fix the folder's "
            "permissions, then resume the run"
        ) from None
    _fsync_directory(path.parent)


def _link_atomic(source: Path, path: Path) -> None:
    """Make `path` name the same file as `source`, replacing it in one rename."""
    temporary = path.with_name(f".{path.name}.link")
    temporary.unlink(missing_ok=True)
    os.link(source, temporary)
    os.replace(temporary, path)


def step_checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """Return (step, path) of the run's step checkpoints, oldest first."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = STEP_FILE.fullmatch(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def save_checkpoint(state: dict, directory: Path, keep: int) -> Path:
    """Save `state` as step-NNNNNNN.pt, point last.pt at it, and delete all but `keep` files."""
    path = directory / f"step-{state['step']:07d}.pt"
    save_atomic(state, path)
    last = directory / "last.pt"
    try:
        _link_atomic(path, last)
    except OSError:
        save_atomic(state, last)
    _fsync_directory(directory)
    for _, old in step_checkpoints(directory)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: Path) -> dict:
    if not path.is_file():
        raise GenoptError(f"checkpoint {path} not found; a finished run keeps checkpoints/last.pt")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError or EOFError here
        raise GenoptError(
            f"checkpoint {path} is not a valid genopt checkpoint ({type(error).__name__} from "
            "torch.load with weights_only=True): it is truncated or corrupt, or it holds "
            "objects other than tensors and plain containers, which genopt never loads. "
            "Use a checkpoint written by genopt, or train again."
        ) from None
    missing = [key for key in REQUIRED_KEYS if not isinstance(state, dict) or key not in state]
    if missing or not isinstance(state["config"], str):
        raise GenoptError(
            f"checkpoint {path} is not a valid genopt checkpoint: it lacks "
            f"{', '.join(missing) or 'the config as YAML text'}. Use a checkpoint written by "
            "genopt, or train again."
        )
    return state
