"""Logging through one rich handler on the console plus the run's log file."""

import logging
from pathlib import Path

from rich.console import Console
from rich.logging import RichHandler

PACKAGE_LOGGER = "genopt_cli"


class RankFormatter(logging.Formatter):
    """Prefix warnings and errors with the process's rank, in a data-parallel run."""

    def __init__(self, fmt: str, rank: int):
        super().__init__(fmt)
        self.rank = rank

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return f"[rank {self.rank}] {text}" if record.levelno >= logging.WARNING else text


def setup_logging(
    console: Console, log_file: Path | None = None, rank: int | None = None
) -> logging.Logger:
    """Send the package's INFO and above to `console` and, when given, to `log_file`.

    In a data-parallel run (`rank` given) warnings and errors name the rank, and the processes
    other than rank 0 log only those, to the console and the same file.

    Handlers from an earlier call (the previous job of a sweep) are closed and replaced.
    """
    logger = logging.getLogger(PACKAGE_LOGGER)
    for handler in list(logger.handlers):
        handler.close()
        logger.removeHandler(handler)
    logger.setLevel(logging.INFO if not rank else logging.WARNING)
    logger.propagate = False

    def formatter(fmt: str) -> logging.Formatter:
        return logging.Formatter(fmt) if rank is None else RankFormatter(fmt, rank)

    rich_handler = RichHandler(
        console=console,
        show_path=False,
        markup=False,
        rich_tracebacks=False,
        log_time_format="[%X]",
    )
    rich_handler.setFormatter(formatter("%(message)s"))
    logger.addHandler(rich_handler)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(file_handler)
    return logger
