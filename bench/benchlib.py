"""Helpers shared by the benchmark scripts: interleaved timing, medians and Markdown rows.

Every benchmark compares two or more ways of doing the same work in one process. The timings
go round-robin (one timing of each way per round, the order reversed every other round), so a
change of load on the machine reaches every way alike, and each figure is a median over rounds.
"""

import os
import platform
import statistics
import time
from collections.abc import Callable

import torch


def machine_line() -> str:
    """Describe the machine and software a figure was measured with, on one line."""
    cores = os.cpu_count()
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"{platform.processor() or platform.machine()}, {cores} cores, load average {load}, "
        f"torch {torch.__version__} with {torch.get_num_threads()} threads, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}"
    )


def calibrate(run: Callable[[int], None], target_seconds: float, minimum: int = 3) -> int:
    """Return how many steps of `run` take about `target_seconds`, from a timing of a few."""
    started = time.perf_counter()
    run(minimum)
    per_step = (time.perf_counter() - started) / minimum
    return max(minimum, round(target_seconds / per_step))


def time_interleaved(
    runs: dict[str, Callable[[int], None]], steps: int, repeats: int, clock: str = "wall"
) -> dict[str, list[float]]:
    """Return the seconds per step of every timing of each run, one timing per run per round.

    Each run is called as run(steps). Odd rounds go through the runs in reverse order, so no run
    always follows the same one. clock="cpu" counts the process's CPU time instead of wall time:
    on a machine shared with other work and with one torch thread, it varies less with load.
    """
    now = time.perf_counter if clock == "wall" else time.process_time
    timings: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for round_index in range(repeats):
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            started = now()
            runs[name](steps)
            timings[name].append((now() - started) / steps)
    return timings


def paired_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median over rounds of numerator / denominator, each pair timed in the same round."""
    return statistics.median(a / b for a, b in zip(numerator, denominator, strict=True))


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """Format a Markdown table whose first column is left-aligned and the rest right-aligned."""
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("|---|" + "---:|" * (len(header) - 1))
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines)
