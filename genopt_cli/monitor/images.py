"""Sample grids: tile a batch of images and write it as a PNG with Pillow.

torchvision's make_grid would do the tiling, but torchvision is a heavy dependency whose wheels
must match torch's exactly, for a few lines of tensor reshaping.
"""

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def make_grid(images: torch.Tensor, ncol: int | None = None, padding: int = 1) -> torch.Tensor:
    """Tile (N, C, H, W) images in [0, 1] into one (C, H', W') image with a white border."""
    n, channels, height, width = images.shape
    ncol = ncol or math.ceil(math.sqrt(n))
    nrow = math.ceil(n / ncol)
    grid = torch.ones(
        channels, nrow * (height + padding) + padding, ncol * (width + padding) + padding
    )
    for i in range(n):
        row, col = divmod(i, ncol)
        top = padding + row * (height + padding)
        left = padding + col * (width + padding)
        grid[:, top : top + height, left : left + width] = images[i].clamp(0, 1)
    return grid


def save_png(grid: torch.Tensor, path: Path, scale: int = 1) -> Path:
    """Write a (C, H, W) image in [0, 1], enlarged `scale` times with nearest-neighbour pixels."""
    array = (grid.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    if array.shape[2] == 1:
        image = Image.fromarray(np.ascontiguousarray(array[:, :, 0]), mode="L")
    else:
        image = Image.fromarray(np.ascontiguousarray(array), mode="RGB")
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path
