"""The summary table printed at the end of a run."""

from rich.console import Console
from rich.table import Table


def print_summary(console: Console, summary: dict) -> None:
    table = Table(title="run summary", show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("steps", str(summary["steps"]))
    table.add_row("wall time (s)", f"{summary['wall_time_s']:.1f}")
    table.add_row("steps/s", f"{summary['steps_per_s']:.1f}")
    for tag in sorted(summary["metrics"]):
        table.add_row(tag, f"{summary['metrics'][tag]:.5g}")
    console.print(table)
