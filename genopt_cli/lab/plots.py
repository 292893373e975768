"""Plots of lab runs: trajectories on the contours of a 2-D problem, and the gap on a log scale."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from genopt_cli.lab.problem import Problem  # noqa: E402
from genopt_cli.lab.trace import Trace  # noqa: E402

# Gaps below this are drawn at this value, so that an exact 0 stays on the log scale.
GAP_FLOOR = 1e-16


def plot_window(problem: Problem, traces: dict[str, Trace]) -> tuple[float, float, float, float]:
    """Return (x_min, x_max, y_min, y_max) around x0, x* and the trajectories, with a margin.

    Trajectories that run off far (a diverging method) are clipped to 3 times the start's scale.
    """
    anchors = torch.stack([problem.x0, problem.x_star])
    scale = float((anchors.max(0).values - anchors.min(0).values).max()) or 1.0
    centre = anchors.mean(0)
    points = torch.cat([trace.stacked() for trace in traces.values()] + [anchors])
    points = torch.maximum(torch.minimum(points, centre + 3 * scale), centre - 3 * scale)
    low, high = points.min(0).values, points.max(0).values
    margin = 0.15 * (high - low).clamp(min=1e-3)
    low, high = low - margin, high + margin
    return float(low[0]), float(high[0]), float(low[1]), float(high[1])


def contour_values(problem: Problem, window, resolution: int = 120):
    x_min, x_max, y_min, y_max = window
    xs = torch.linspace(x_min, x_max, resolution, dtype=problem.x0.dtype)
    ys = torch.linspace(y_min, y_max, resolution, dtype=problem.x0.dtype)
    grid_x, grid_y = torch.meshgrid(xs, ys, indexing="xy")
    points = torch.stack([grid_x.flatten(), grid_y.flatten()], dim=1)
    with torch.no_grad():
        values = torch.tensor([float(problem.objective(point)) for point in points])
    return grid_x.numpy(), grid_y.numpy(), values.reshape(grid_x.shape).numpy()


def plot_trajectories(problem: Problem, traces: dict[str, Trace], path: Path) -> None:
    """Draw each method's iterates on the objective's contours (2-D problems only)."""
    window = plot_window(problem, traces)
    grid_x, grid_y, values = contour_values(problem, window)
    figure, axes = plt.subplots(figsize=(6, 5))
    levels = 30
    if values.min() > 0:
        # Geometric levels show the floor of a valley and its walls alike.
        levels = torch.logspace(
            float(torch.log10(torch.tensor(values.min()))),
            float(torch.log10(torch.tensor(values.max()))),
            30,
        ).numpy()
    axes.contour(grid_x, grid_y, values, levels=levels, cmap="viridis", linewidths=0.7)
    if problem.boundary is not None:
        axes.plot(*problem.boundary.T.numpy(), color="black", linewidth=1.5, label="feasible set")
    for name, trace in traces.items():
        points = trace.stacked().numpy()
        axes.plot(points[:, 0], points[:, 1], marker="o", markersize=2, linewidth=1, label=name)
    axes.plot(*problem.x_star.numpy(), marker="*", markersize=14, color="gold", mec="black")
    axes.set_xlim(window[0], window[1])
    axes.set_ylim(window[2], window[3])
    axes.set_title(problem.description, fontsize=9)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_gaps(problem: Problem, gaps: dict[str, list[float]], step_label: str, path: Path) -> None:
    """Draw each method's gap against the step on a log scale."""
    figure, axes = plt.subplots(figsize=(6, 4))
    for name, values in gaps.items():
        axes.semilogy([max(value, GAP_FLOOR) for value in values], label=name, linewidth=1.2)
    axes.set_xlabel(step_label)
    axes.set_ylabel(problem.error_label())
    axes.set_title(problem.description, fontsize=9)
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
