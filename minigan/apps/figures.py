"""Pictures shared by the applications."""

import os

import numpy as np

from minigan.viz import image_grid


def save_comparison(path, columns, title=None, scale=4):
    """One row per image, one captioned column per entry of ``columns`` (name -> images in [0, 1])."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(columns)
    stacked = np.stack([columns[name] for name in names], axis=1)  # (N, columns, C, H, W)
    grid = image_grid(stacked.reshape(-1, *stacked.shape[2:]), nrow=len(names), value_range=(0.0, 1.0), scale=scale)
    width, padding = stacked.shape[-1], 2
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure, axis = plt.subplots(figsize=(grid.shape[1] / 80 + 0.4, grid.shape[0] / 80 + 0.9))
    axis.imshow(grid, interpolation="nearest")
    axis.set_xticks([(padding + i * (width + padding) + width / 2) * scale for i in range(len(names))], names,
                    fontsize=8)
    axis.xaxis.tick_top()
    axis.tick_params(length=0)
    axis.set_yticks([])
    if title:
        axis.set_title(title, fontsize=9, pad=22)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
