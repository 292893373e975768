"""Paths of user data: resolved against the launch folder and checked before anything is read."""

from pathlib import Path

from omegaconf import DictConfig

from genopt_cli.config.errors import GenoptError


def resolve_path(path: str, launch_dir: Path | None) -> Path:
    """Resolve a relative path against the folder genopt was started from."""
    resolved = Path(path).expanduser()
    if not resolved.is_absolute() and launch_dir is not None:
        resolved = launch_dir / resolved
    return resolved


def existing_data_path(cfg: DictConfig, launch_dir: Path | None, folder: bool) -> Path:
    """Return data.path resolved, or raise GenoptError when it is not an existing folder or file.

    `folder` is True for data sets read from a folder, False for a single file.
    """
    path = resolve_path(cfg.path, launch_dir)
    expected = "folder" if folder else "file"
    if not path.exists():
        raise GenoptError(
            f"data.path={cfg.path}: {path} not found; pass the data set's {expected}, relative "
            "to the launch folder or absolute"
        )
    if folder and not path.is_dir():
        raise GenoptError(
            f"data.path={cfg.path}: {path} is a file, but data={cfg.name} reads a folder; pass "
            "the folder that contains the data set"
        )
    if not folder and not path.is_file():
        raise GenoptError(
            f"data.path={cfg.path}: {path} is a folder, but data={cfg.name} reads one file; "
            "pass the file"
        )
    return path
