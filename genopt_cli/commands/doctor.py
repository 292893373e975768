"""`genopt doctor RUN_DIR`: a diagnosis of a finished or failed run from what it wrote.

The health checks run again over the run's TensorBoard scalars, so a run from before the
checks existed, or one that was killed, gets them too. Warnings saved in health.json are added.
"""

import argparse
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from omegaconf import OmegaConf
from rich.console import Console
from rich.table import Table

from genopt_cli.config.errors import GenoptError
from genopt_cli.monitor.health import HealthMonitor, HealthWarning
from genopt_cli.monitor.runs import is_run_dir, read_health, read_run, read_scalars

EVAL_PREFIXES = ("val/", "eval/")


def parse(arguments: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="genopt doctor", description="Diagnose a finished or failed run from its logs."
    )
    parser.add_argument("run_dir", type=Path, help="run folder (contains .hydra/ and tb/)")
    return parser.parse_args(arguments)


def replay_health(run_dir: Path, scalars: dict) -> list[HealthWarning]:
    """Feed the logged scalars, step by step, through a fresh HealthMonitor."""
    config_path = run_dir / ".hydra" / "config.yaml"
    if not config_path.is_file():
        return []
    cfg = OmegaConf.load(config_path)
    players = sorted(
        {
            tag.split("/")[2]
            for tag in scalars
            if tag.count("/") == 2 and tag.startswith("optim/lr/")
        }
    )
    monitor = HealthMonitor.from_config(cfg, players or ["model"], log_warnings=False)
    monitor.check_config(cfg)
    by_step: dict[int, dict[str, float]] = defaultdict(dict)
    for tag, points in scalars.items():
        for step, value in points:
            by_step[step][tag] = value
    for step in sorted(by_step):
        values = by_step[step]
        training = {t: v for t, v in values.items() if not t.startswith(EVAL_PREFIXES)}
        evaluation = {t: v for t, v in values.items() if t.startswith(EVAL_PREFIXES)}
        if training:
            monitor.observe(step, training)
        if evaluation:
            monitor.observe_eval(step, evaluation)
    return monitor.warnings


def diagnose(run_dir: Path) -> tuple[dict, list[HealthWarning], dict]:
    """Return the run's summary fields, its warnings (saved and replayed) and its scalars."""
    record = read_run(run_dir)
    scalars = read_scalars(run_dir)
    warnings = [HealthWarning(**item) for item in read_health(run_dir)]
    seen = {(w.check, w.player, w.step) for w in warnings}
    for warning in replay_health(run_dir, scalars):
        if (warning.check, warning.player, warning.step) not in seen:
            warnings.append(warning)
            seen.add((warning.check, warning.player, warning.step))
    warnings.sort(key=lambda w: w.step)
    return record, warnings, scalars


def curve_table(scalars: dict) -> Table:
    """Summarise the loss, gradient-norm and lr curves: first, lowest, highest and last values."""
    table = Table(title="curves")
    for name in ("tag", "points", "first", "min (step)", "max (step)", "median", "last"):
        table.add_column(name, justify="left" if name == "tag" else "right")
    tags = sorted(
        tag
        for tag in scalars
        if tag.startswith(("train/loss", "optim/grad_norm/", "optim/update_ratio/", "train/d_"))
        or (tag.startswith("optim/lr/") and tag.count("/") == 2)
    )
    for tag in tags:
        points = scalars[tag]
        values = [value for _, value in points]
        low = min(points, key=lambda point: point[1])
        high = max(points, key=lambda point: point[1])
        table.add_row(
            tag,
            str(len(points)),
            f"{values[0]:.4g}",
            f"{low[1]:.4g} ({low[0]})",
            f"{high[1]:.4g} ({high[0]})",
            f"{statistics.median(values):.4g}",
            f"{values[-1]:.4g}",
        )
    return table


def command_doctor(arguments: list[str]) -> None:
    args = parse(arguments)
    if not args.run_dir.is_dir() or not is_run_dir(args.run_dir):
        raise GenoptError(
            f"run folder {args.run_dir} not found (no summary.json or .hydra/ in it); pass a "
            "folder under outputs/, or use `genopt compare` for a sweep folder"
        )
    console = Console(width=None if sys.stdout.isatty() else 160)
    record, warnings, scalars = diagnose(args.run_dir)
    console.print(f"[bold]{args.run_dir}[/bold]: {record.status}")
    if record.overrides:
        console.print(f"overrides: {' '.join(record.overrides)}")
    if record.status == "finished":
        console.print(
            f"{record.steps} steps in {record.wall_time_s:.1f} s; "
            f"{record.target_metric} {record.target_value:.4g}"
        )
    elif record.status == "failed":
        console.print(f"[red]{record.error}[/red]")
    else:
        console.print("no summary.json: the run is still going, or was killed before its end")
    if scalars:
        console.print(curve_table(scalars))
    if warnings:
        console.print(f"[bold]{len(warnings)} health warnings[/bold]")
        for warning in warnings:
            console.print(f"- [yellow]{warning.check}[/yellow] {warning.text()}")
    elif record.status == "finished":
        console.print("no health warnings: no problems found")
