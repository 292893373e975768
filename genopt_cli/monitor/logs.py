"""Logging through one rich handler on the console plus the run's log file."""

import logging
from pathlib import Path

from rich.console import Console
from rich.logging import RichHandler

PACKAGE_LOGGER = "genopt_cli"


def setup_logging(console: Console, log_file: Path | None = None) -> logging.Logger:
    """Send the package's INFO and above to `console` and, when given, to `log_file`.

    Handlers from an earlier call (the previous job of a sweep) are closed and replaced.
    """
    logger = logging.getLogger(PACKAGE_LOGGER)
    for handler in list(logger.handlers):
        handler.close()
        logger.removeHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    rich_handler = RichHandler(
        console=console,
        show_path=False,
        markup=False,
        rich_tracebacks=False,
        log_time_format="[%X]",
    )
    rich_handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(rich_handler)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        logger.addHandler(file_handler)
    return logger
