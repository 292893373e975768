"""A comparison of several runs: a rich table, a CSV file and a PNG of their curves."""

import csv
import math
from pathlib import Path

from rich.table import Table

from genopt_cli.monitor.runs import RunRecord, read_scalars, run_label, varying_overrides

# Per-dimension KL values are too many for a table; doctor and TensorBoard show them.
HIDDEN_METRIC_PREFIXES = ("eval/kl_dim/",)


def sort_runs(records: list[RunRecord]) -> list[RunRecord]:
    return sorted(records, key=RunRecord.sort_key)


def final_loss(record: RunRecord) -> str:
    """Format the last training loss, one per player where players log their own."""
    if "train/loss" in record.metrics:
        return f"{record.metrics['train/loss']:.4g}"
    parts = [
        f"{tag.removeprefix('train/loss/')} {value:.4g}"
        for tag, value in sorted(record.metrics.items())
        if tag.startswith("train/loss/")
    ]
    return ", ".join(parts) or "-"


def metric_columns(records: list[RunRecord]) -> list[str]:
    """Return the validation and evaluation metrics that any run has, sorted by tag."""
    tags = {
        tag
        for record in records
        for tag in record.metrics
        if tag.startswith(("val/", "eval/")) and not tag.startswith(HIDDEN_METRIC_PREFIXES)
    }
    return sorted(tags)


def _format(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _first_line(text: str | None, width: int = 100) -> str:
    if not text:
        return ""
    line = text.removeprefix("error: ").strip().splitlines()[0]
    return line if len(line) <= width else line[: width - 3] + "..."


def comparison_table(records: list[RunRecord], title: str = "runs, best first") -> Table:
    """Build one row per run, best first by its target metric; failed runs show their error."""
    records = sort_runs(records)
    varying = varying_overrides(records)
    targets = sorted({r.target_metric for r in records if r.target_metric is not None})
    metrics = [tag for tag in metric_columns(records) if tag not in targets]
    shared = sorted(set(records[0].overrides) - set(varying[0])) if records else []
    caption = f"shared overrides: {' '.join(shared)}" if shared else None

    labels = [
        run_label(record, overrides) for record, overrides in zip(records, varying, strict=True)
    ]
    table = Table(title=title, caption=caption, show_lines=False)
    for name in ("#", "run", "status", "steps", "wall s", "train loss"):
        table.add_column(name, justify="right" if name in ("#", "steps", "wall s") else "left")
    # The run's overrides and the target stay on one line; the other metrics wrap instead.
    table.columns[1].no_wrap = True
    table.columns[1].min_width = max(map(len, labels), default=3)
    target_header = f"target {targets[0]}" if len(targets) == 1 else "target"
    table.add_column(target_header, justify="right", no_wrap=True, min_width=len(target_header))
    for tag in metrics:
        table.add_column(tag, justify="right")
    if any(record.error for record in records):
        table.add_column("error")

    for rank, (record, overrides) in enumerate(zip(records, varying, strict=True), start=1):
        target = _format(record.target_value)
        if len(targets) > 1 and record.target_metric is not None:
            target = f"{record.target_metric} {target}"
        row = [
            str(rank),
            run_label(record, overrides),
            record.status,
            "-" if record.steps is None else str(record.steps),
            "-" if record.wall_time_s is None else f"{record.wall_time_s:.1f}",
            final_loss(record),
            target,
            *[_format(record.metrics.get(tag)) for tag in metrics],
        ]
        if any(r.error for r in records):
            row.append(_first_line(record.error))
        style = None
        if record.status == "failed":
            style = "red"
        elif rank == 1:
            style = "bold"
        table.add_row(*row, style=style)
    return table


def write_csv(records: list[RunRecord], path: Path) -> Path:
    """Write one row per run, best first, with every final metric in its own column."""
    records = sort_runs(records)
    tags = sorted({tag for record in records for tag in record.metrics})
    header = ["run_dir", "overrides", "status", "steps", "wall_time_s", "target_metric"]
    header += ["target_value", "error", *tags]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for record in records:
            writer.writerow(
                [
                    str(record.path),
                    " ".join(record.overrides),
                    record.status,
                    record.steps,
                    record.wall_time_s,
                    record.target_metric,
                    record.target_value,
                    _first_line(record.error, width=10_000),
                    *[record.metrics.get(tag) for tag in tags],
                ]
            )
    return path


def _spans_decade(series: list[list[tuple[int, float]]]) -> bool:
    """Return whether every value is positive and the largest is at least 10 times the smallest."""
    values = [value for points in series for _, value in points if math.isfinite(value)]
    return bool(values) and min(values) > 0 and max(values) >= 10 * min(values)


def plot_curves(records: list[RunRecord], path: Path) -> Path:
    """Plot every run's training loss and learning rate against the step on shared axes.

    A player's curves share a colour per run; the GAN's second player is dashed. An axis is
    logarithmic where its values are positive and span at least a factor of 10.
    """
    from matplotlib.figure import Figure

    records = sort_runs(records)
    varying = varying_overrides(records)
    figure = Figure(figsize=(11, 4.2), layout="constrained")
    loss_axes, lr_axes = figure.subplots(1, 2, sharex=True)
    colors = [f"C{i % 10}" for i in range(len(records))]
    loss_series, lr_series = [], []
    for record, overrides, color in zip(records, varying, colors, strict=True):
        scalars = read_scalars(record.path)
        label = run_label(record, overrides)
        if record.status == "failed":
            label += " (failed)"
        loss_tags = sorted(tag for tag in scalars if tag.startswith("train/loss"))
        lr_tags = sorted(
            tag for tag in scalars if tag.count("/") == 2 and tag.startswith("optim/lr/")
        )
        for axes, tags, collected in (
            (loss_axes, loss_tags, loss_series),
            (lr_axes, lr_tags, lr_series),
        ):
            for index, tag in enumerate(tags):
                points = scalars[tag]
                collected.append(points)
                suffix = f" [{tag.rsplit('/', 1)[-1]}]" if len(tags) > 1 else ""
                axes.plot(
                    [step for step, _ in points],
                    [value for _, value in points],
                    color=color,
                    linestyle="-" if index == 0 else "--",
                    # A curve of a few points (log_every near the run's length) still shows.
                    marker="o" if len(points) <= 3 else None,
                    label=label + suffix,
                )
    loss_axes.set_title("training loss")
    lr_axes.set_title("learning rate")
    for axes, series in ((loss_axes, loss_series), (lr_axes, lr_series)):
        axes.set_xlabel("step")
        axes.grid(alpha=0.3)
        if _spans_decade(series):
            axes.set_yscale("log")
    if loss_series:
        loss_axes.legend(fontsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    return path
