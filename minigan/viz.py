"""Pictures: image grids (samples, reconstructions, interpolations), side-by-side panels, loss curves.

Every image picture goes through one helper, ``image_grid``: images ``(N, C, H, W)`` with
pixels in ``value_range`` are mapped to [0, 1], tiled ``nrow`` per row with ``padding`` pixels
of white between them, and enlarged ``scale`` times (nearest neighbour) so 32x32 faces are
visible. Files are written with matplotlib (Agg backend, no display needed), in a format chosen by
the file's extension, one of ``IMAGE_EXTENSIONS``.
"""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from minigan.data import to_unit_range  # noqa: E402

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tiff", ".webp", ".gif", ".pdf", ".svg", ".eps")


def image_grid(images, nrow=8, padding=2, value_range=(-1.0, 1.0), scale=1):
    """Tile images ``(N, C, H, W)`` into one ``(rows*(H+p)+p, nrow*(W+p)+p, 3)`` float array in [0, 1]."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected images of shape (N, 1 or 3, H, W), got {images.shape}")
    if nrow < 1:
        raise ValueError(f"nrow must be positive, got {nrow}")
    unit = to_unit_range(images, value_range)
    if unit.shape[1] == 1:
        unit = np.repeat(unit, 3, axis=1)
    n, _, h, w = unit.shape
    rows = -(-n // nrow)
    grid = np.ones((rows * (h + padding) + padding, nrow * (w + padding) + padding, 3), dtype=np.float32)
    for i in range(n):
        top = padding + (i // nrow) * (h + padding)
        left = padding + (i % nrow) * (w + padding)
        grid[top:top + h, left:left + w] = np.transpose(unit[i], (1, 2, 0))
    return np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)


def check_image_path(path, also=None):
    """ValueError unless ``path`` ends with one of ``IMAGE_EXTENSIONS`` (``also``: what else the caller accepts)."""
    extension = os.path.splitext(path)[1]
    if extension.lower() not in IMAGE_EXTENSIONS:
        known = ", ".join(IMAGE_EXTENSIONS) + (f", or {also}" if also else "")
        raise ValueError(f"cannot write {path}: unknown image extension {extension or '(none)'!r}; use {known}")


def _prepare_folder(path):
    check_image_path(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)


def save_image_grid(path, images, nrow=8, value_range=(-1.0, 1.0), scale=3):
    """Write ``image_grid(images, ...)`` to a PNG file."""
    _prepare_folder(path)
    plt.imsave(path, image_grid(images, nrow=nrow, value_range=value_range, scale=scale))


def save_reconstructions(path, originals, reconstructions, value_range=(-1.0, 1.0), scale=3):
    """Originals in the top row(s), their reconstructions directly below, ``len(originals)`` per row."""
    if np.shape(originals) != np.shape(reconstructions):
        raise ValueError(f"shape mismatch: {np.shape(originals)} vs {np.shape(reconstructions)}")
    both = np.concatenate([np.asarray(originals), np.asarray(reconstructions)])
    save_image_grid(path, both, nrow=len(originals), value_range=value_range, scale=scale)


def save_panels(path, panels, value_range=(-1.0, 1.0), nrow=8, title=None):
    """Side-by-side sample grids with a caption each; ``panels`` maps caption -> images ``(N, C, H, W)``."""
    if not panels:
        raise ValueError("no panels to draw")
    _prepare_folder(path)
    figure, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.9), squeeze=False)
    for axis, (caption, images) in zip(axes[0], panels.items()):
        axis.imshow(image_grid(images, nrow=nrow, value_range=value_range), interpolation="nearest")
        axis.set_title(caption, fontsize=10)
        axis.axis("off")
    if title:
        figure.suptitle(title)
    figure.tight_layout(rect=(0, 0, 1, 0.92 if title else 1))
    figure.savefig(path, dpi=120)
    plt.close(figure)


def save_loss_curves(path, history, title=None):
    """Write ``loss_curves_figure(history, title)`` to ``path``."""
    _prepare_folder(path)
    figure = loss_curves_figure(history, title)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def loss_curves_figure(history, title=None):
    """One line per history column except ``step``, against ``step``; one panel for losses, one for D outputs."""
    if not history.get("step"):
        raise ValueError("empty history: nothing to plot")
    columns = [name for name in history if name != "step"]
    groups = [[c for c in columns if not c.startswith("D(")], [c for c in columns if c.startswith("D(")]]
    groups = [group for group in groups if group]
    figure, axes = plt.subplots(len(groups), 1, figsize=(8.5, 2.8 * len(groups)), squeeze=False, sharex=True)
    for axis, group in zip(axes[:, 0], groups):
        for name in group:
            axis.plot(history["step"], history[name], label=name, linewidth=0.8)
        # the legend sits right of the panel, where it can never hide a curve
        axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
        axis.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("step")
    if title:
        axes[0, 0].set_title(title)
    figure.tight_layout()
    return figure
