"""`genopt compare DIR...`: a table of runs, best first, and a PNG of their curves."""

import argparse
import logging
import sys
from pathlib import Path

from rich.console import Console

from genopt_cli.monitor.comparison import comparison_table, plot_curves, write_csv
from genopt_cli.monitor.logs import setup_logging
from genopt_cli.monitor.runs import find_runs, read_run

log = logging.getLogger(__name__)


def parse(arguments: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="genopt compare",
        description="Compare run folders: a table best first by the target metric, and a PNG "
        "of their training-loss and learning-rate curves.",
    )
    parser.add_argument("dirs", type=Path, nargs="+", help="run folders or sweep folders")
    parser.add_argument(
        "--png",
        type=Path,
        default=None,
        help="path of the PNG (default DIR/compare.png for one DIR, else ./compare.png)",
    )
    parser.add_argument("--csv", type=Path, default=None, help="also write the table to this CSV")
    return parser.parse_args(arguments)


def command_compare(arguments: list[str]) -> None:
    args = parse(arguments)
    console = Console(width=None if sys.stdout.isatty() else 200)
    setup_logging(Console(stderr=True))
    records = [read_run(path) for path in find_runs(args.dirs)]
    console.print(comparison_table(records))
    default_png = args.dirs[0] / "compare.png" if len(args.dirs) == 1 else Path("compare.png")
    png = plot_curves(records, args.png or default_png)
    log.info("curves of %d runs written to %s", len(records), png)
    if args.csv is not None:
        log.info("table written to %s", write_csv(records, args.csv))
