"""The Hydra callback that summarises a sweep when its last run ends."""

import json
import logging
import sys
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig
from rich.console import Console

from genopt_cli.monitor.comparison import comparison_table, plot_curves, sort_runs, write_csv
from genopt_cli.monitor.runs import find_runs, read_run

log = logging.getLogger(__name__)


def summarize_sweep(sweep_dir: Path, console: Console) -> list[dict]:
    """Print the sweep's table and write sweep_summary.json, summary.csv and compare.png into it."""
    records = sort_runs([read_run(path) for path in find_runs([sweep_dir])])
    console.print(comparison_table(records, title=f"sweep {sweep_dir}"))
    rows = [
        {
            "run_dir": record.path.name,
            "overrides": record.overrides,
            "status": record.status,
            "steps": record.steps,
            "wall_time_s": record.wall_time_s,
            "target_metric": record.target_metric,
            "target_value": record.target_value,
            "error": record.error,
        }
        for record in records
    ]
    (sweep_dir / "sweep_summary.json").write_text(json.dumps(rows, indent=2) + "\n")
    write_csv(records, sweep_dir / "summary.csv")
    plot_curves(records, sweep_dir / "compare.png")
    return rows


class SweepSummaryCallback(Callback):
    """Registered in train.yaml under hydra.callbacks; acts only at the end of a multirun."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)
        rows = summarize_sweep(sweep_dir, console)
        failed = sum(row["status"] == "failed" for row in rows)
        console.print(
            f"sweep of {len(rows)} runs, {failed} failed: sweep_summary.json, summary.csv and "
            f"compare.png in {sweep_dir}"
        )
