"""Scatter plots of 2-D samples over the modes of a mixture, drawn with matplotlib (Agg)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Circle  # noqa: E402

# Margin around the outermost modes, in units of the modes' extent.
MARGIN = 0.25


def _draw(samples: torch.Tensor, centers: torch.Tensor, radius: float, title: str):
    figure, axes = plt.subplots(figsize=(5, 5), dpi=100)
    low = centers.min(0).values
    high = centers.max(0).values
    margin = MARGIN * float((high - low).max())
    axes.set_xlim(float(low[0]) - margin, float(high[0]) + margin)
    axes.set_ylim(float(low[1]) - margin, float(high[1]) + margin)
    axes.set_aspect("equal")
    points = samples.float().cpu().numpy()
    axes.scatter(points[:, 0], points[:, 1], s=3, alpha=0.35, color="tab:blue", linewidths=0)
    for x, y in centers.tolist():
        axes.add_patch(Circle((x, y), radius, fill=False, color="tab:red", linewidth=0.8))
    axes.set_title(title, fontsize=9)
    figure.tight_layout()
    return figure


def render_scatter(
    samples: torch.Tensor, centers: torch.Tensor, radius: float, title: str
) -> torch.Tensor:
    """Return the plot as a (3, H, W) image in [0, 1], for TensorBoard.

    Samples are blue dots and each mode is a red circle of `radius` around its mean. The axes
    cover the modes plus a margin, so the plots of one run compare step by step and points far
    outside are not drawn.
    """
    figure = _draw(samples, centers, radius, title)
    figure.canvas.draw()
    pixels = np.asarray(figure.canvas.buffer_rgba())[:, :, :3].copy()
    plt.close(figure)
    return torch.from_numpy(pixels).permute(2, 0, 1).float() / 255.0


def save_scatter(
    samples: torch.Tensor, centers: torch.Tensor, radius: float, title: str, path: Path
) -> Path:
    """Write the plot of render_scatter as a PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure = _draw(samples, centers, radius, title)
    figure.savefig(path)
    plt.close(figure)
    return path
