"""`genopt lr-find KEY=VALUE ...`: the learning-rate range test on a composed config."""

import argparse
import logging
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from genopt_cli.config.compose import check_group_choices, compose_config
from genopt_cli.config.errors import GenoptError
from genopt_cli.config.validate import validate
from genopt_cli.models import TASKS
from genopt_cli.monitor.logs import setup_logging
from genopt_cli.train.lr_find import SUGGESTION_RULE, range_test, write_outputs

log = logging.getLogger(__name__)


def parse(arguments: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="genopt lr-find",
        description="Raise the lr exponentially over a short run, stop when the loss diverges, "
        "plot loss against lr and suggest an lr. For the GAN each player is ramped in turn.",
    )
    parser.add_argument("overrides", nargs="*", help="config overrides, as for genopt train")
    parser.add_argument("--steps", type=int, default=100, help="steps of the ramp (default 100)")
    parser.add_argument("--min-lr", type=float, default=1e-6, help="first lr (default 1e-6)")
    parser.add_argument("--max-lr", type=float, default=1.0, help="last lr (default 1)")
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default outputs/lr_find/DATE/TIME)"
    )
    return parser.parse_args(arguments)


def check_arguments(args: argparse.Namespace) -> None:
    problems = []
    if args.steps < 2:
        problems.append(f"--steps={args.steps} must be at least 2")
    if not 0 < args.min_lr < args.max_lr:
        problems.append(
            f"--min-lr={args.min_lr} and --max-lr={args.max_lr} must satisfy 0 < min-lr < max-lr"
        )
    if problems:
        raise GenoptError(problems)


def command_lr_find(arguments: list[str]) -> None:
    args = parse(arguments)
    check_arguments(args)
    problems = check_group_choices(args.overrides)
    if problems:
        raise GenoptError(problems)
    cfg = compose_config(args.overrides)
    problems = validate(cfg)
    if problems:
        raise GenoptError(problems)

    console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)
    out_dir = args.out or Path("outputs/lr_find") / time.strftime("%Y-%m-%d/%H-%M-%S")
    setup_logging(console, out_dir / "lr_find.log")
    launch_dir = Path.cwd()
    # Each player is ramped in its own run while the others keep their configured lr.
    player_names = TASKS[cfg.model.name].player_names
    results = [
        range_test(cfg, launch_dir, name, args.min_lr, args.max_lr, args.steps)
        for name in player_names
    ]
    png = write_outputs(results, out_dir)

    table = Table(title="lr range test")
    for name in ("player", "steps", "lowest smoothed loss", "at lr", "suggested lr", "stopped"):
        table.add_column(name)
    for result in results:
        if not result.smoothed:
            table.add_row(result.player, "0", "-", "-", "-", result.stop_reason)
            continue
        best = result.lowest
        suggested = result.suggested_lr
        table.add_row(
            result.player,
            str(len(result.lrs)),
            f"{result.smoothed[best]:.4g}",
            f"{result.lrs[best]:.3g}",
            "-" if suggested is None else f"{suggested:.3g}",
            result.stop_reason,
        )
    Console(width=None if sys.stdout.isatty() else 160).print(table)
    log.info("rule: %s", SUGGESTION_RULE)
    log.info(
        "curve in %s, scalars in %s, values in %s", png, out_dir / "tb", out_dir / "lr_find.json"
    )
