"""Training progress: a rich progress bar on a terminal, plain log lines otherwise."""

import logging
import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

log = logging.getLogger(__name__)


class TrainingProgress:
    """Shows steps, rate, ETA, loss and lr. update() is cheap enough to call every step."""

    def __init__(self, console: Console, total: int, start: int = 0, bar: bool = True):
        """`bar=False` (the processes other than rank 0 of a data-parallel run) shows no bar."""
        self.total = total
        self.start = start
        self.interactive = console.is_terminal and bar
        self._started = time.perf_counter()
        self._progress = None
        if self.interactive:
            self._progress = Progress(
                TextColumn("[bold]train"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]} steps/s"),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[status]}"),
                console=console,
                transient=False,
            )
            self._task = self._progress.add_task(
                "train", total=total, completed=start, rate="-", status=""
            )

    def __enter__(self) -> "TrainingProgress":
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, completed: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=completed)

    def report(self, completed: int, status: str) -> None:
        """Show the latest logged values; without a terminal, write them as a log line."""
        elapsed = time.perf_counter() - self._started
        rate = (completed - self.start) / elapsed if elapsed > 0 else 0.0
        if self._progress is not None:
            self._progress.update(
                self._task, completed=completed, rate=f"{rate:.1f}", status=status
            )
        else:
            remaining = (self.total - completed) / rate if rate > 0 else float("nan")
            log.info(
                "step %d/%d  %.1f steps/s  eta %.0fs  %s",
                completed,
                self.total,
                rate,
                remaining,
                status,
            )
