"""Datasets and batching.

Two sources, both giving float32 NCHW arrays scaled to a chosen value range:

- ``lfw-subset``: the 200 grayscale 25x25 LFW crops that scikit-image ships
  (``skimage.data.lfw_subset()``; the first 100 are faces, the last 100 are not).
  Nothing is downloaded. Training uses the faces; ``include_nonfaces=True`` adds
  the non-faces with label 1 (faces have label 0) for recognition experiments.
- ``image-folder``: any folder tree of images (``lfw/<Name>/<Name>_0001.jpg``,
  ``img_align_celeba/000001.jpg``, ...), read with OpenCV. The name of the
  sub-folder holding an image is kept as its label.

Pixel scaling: an image with values ``u`` in [0, 1] becomes ``lo + (hi - lo) * u``;
``(-1, 1)`` matches a tanh generator output, ``(0, 1)`` a sigmoid one.

``DataLoader`` cuts a dataset into batches in a seeded random order; its state is two
integers (epoch, position), so a checkpoint can resume the exact same stream.
"""

import os
import warnings
from dataclasses import dataclass

import cv2
import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".ppm", ".tif", ".tiff", ".webp")
TANH_RANGE = (-1.0, 1.0)
SIGMOID_RANGE = (0.0, 1.0)


def value_range_for(activation):
    """The pixel range matching a generator/decoder output activation: tanh -> (-1, 1), sigmoid -> (0, 1)."""
    ranges = {"tanh": TANH_RANGE, "sigmoid": SIGMOID_RANGE}
    if activation not in ranges:
        raise ValueError(f"unknown output activation {activation!r}; expected one of {sorted(ranges)}")
    return ranges[activation]


@dataclass
class ImageDataset:
    """Images ``(N, C, H, W)`` float32 in ``value_range``, integer labels ``(N,)`` and the class names."""

    images: np.ndarray
    labels: np.ndarray
    classes: list
    value_range: tuple

    def __len__(self):
        return len(self.images)

    def split(self, fraction, seed=0):
        """Two disjoint datasets: a random ``fraction`` of the images, and the rest."""
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"split fraction must be in (0, 1), got {fraction}")
        order = np.random.default_rng(seed).permutation(len(self))
        cut = int(round(fraction * len(self)))
        if cut == 0 or cut == len(self):
            raise ValueError(f"cannot split {len(self)} images with fraction {fraction}")
        return self._subset(order[:cut]), self._subset(order[cut:])

    def _subset(self, index):
        return ImageDataset(self.images[index], self.labels[index], self.classes, self.value_range)


def to_unit_range(images, value_range):
    """Map images from ``value_range`` back to [0, 1]: ``u = (x - lo) / (hi - lo)``, clipped."""
    lo, hi = value_range
    return np.clip((np.asarray(images, dtype=np.float32) - lo) / (hi - lo), 0.0, 1.0)


def _scale(unit_images, value_range):
    lo, hi = value_range
    if not hi > lo:
        raise ValueError(f"value_range must be (lo, hi) with hi > lo, got {value_range}")
    return (lo + (hi - lo) * unit_images).astype(np.float32)


def _check_size_and_channels(image_size, channels):
    if not isinstance(image_size, (int, np.integer)) or image_size < 1:
        raise ValueError(f"image_size must be a positive integer, got {image_size!r}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")


def _resize(image, image_size):
    """Resize an HxW or HxWxC uint8/float image to image_size x image_size (area when shrinking)."""
    h, w = image.shape[:2]
    shrinking = image_size < min(h, w)
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (image_size, image_size), interpolation=interpolation)


def _center_crop(image, crop):
    """The central ``crop`` x ``crop`` square of an image (the whole image if it is smaller)."""
    h, w = image.shape[:2]
    crop_h, crop_w = min(crop, h), min(crop, w)
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    return image[top:top + crop_h, left:left + crop_w]


def _to_chw(image, channels):
    """HxW (gray) or HxWx3 (RGB) -> CxHxW with the requested channel count."""
    if image.ndim == 2:
        image = image[:, :, None]
    if image.shape[2] == channels:
        return np.transpose(image, (2, 0, 1))
    if channels == 3:
        return np.repeat(np.transpose(image, (2, 0, 1)), 3, axis=0)
    raise ValueError("an RGB image cannot be turned into a grayscale one here; read it as grayscale")


def load_lfw_subset(image_size=32, channels=1, value_range=TANH_RANGE, include_nonfaces=False):
    """The embedded LFW subset, resized with OpenCV and scaled to ``value_range``.

    Faces get label 0 ('face'); with ``include_nonfaces`` the 100 non-face crops follow with label 1.
    """
    from skimage.data import lfw_subset

    _check_size_and_channels(image_size, channels)
    raw = lfw_subset().astype(np.float32)  # (200, 25, 25) in [0, 1]
    count = len(raw) if include_nonfaces else len(raw) // 2
    images = np.empty((count, channels, image_size, image_size), dtype=np.float32)
    for i in range(count):
        images[i] = _to_chw(_resize(raw[i], image_size), channels)
    labels = (np.arange(count) >= len(raw) // 2).astype(np.int64)
    classes = ["face", "nonface"] if include_nonfaces else ["face"]
    return ImageDataset(_scale(np.clip(images, 0.0, 1.0), value_range), labels, classes, tuple(value_range))


def _image_files(root):
    """All files under ``root`` in a fixed (sorted) order, hidden files and folders left out."""
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                found.append(os.path.join(folder, name))
    return found


def _read_image(path, channels):
    """An HxW (gray) or HxWx3 (RGB) uint8 array, or None when OpenCV cannot decode the file."""
    flag = cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR
    image = cv2.imread(path, flag)
    if image is None:
        return None
    return image if channels == 1 else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def load_image_folder(path, image_size=32, channels=1, value_range=TANH_RANGE, center_crop=None, limit=None):
    """Every readable image under ``path``: optional central square crop, resize, grayscale or RGB.

    Files without an image extension and files OpenCV cannot decode are skipped and counted in
    one warning. The label of an image is the index of its folder (relative to ``path``) in the
    sorted list of folder names; images directly in ``path`` use the folder's own name.
    ``limit`` keeps the first ``limit`` readable images (in sorted path order).
    """
    _check_size_and_channels(image_size, channels)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"image folder not found: {path}")
    if center_crop is not None and center_crop < 1:
        raise ValueError(f"center_crop must be a positive integer, got {center_crop!r}")
    images, folder_names, skipped = [], [], 0
    for file_path in _image_files(path):
        if limit is not None and len(images) >= limit:
            break
        image = None
        if file_path.lower().endswith(IMAGE_EXTENSIONS):
            image = _read_image(file_path, channels)
        if image is None:
            skipped += 1
            continue
        if center_crop is not None:
            image = _center_crop(image, center_crop)
        images.append(_to_chw(_resize(image, image_size), channels).astype(np.float32) / 255.0)
        folder = os.path.relpath(os.path.dirname(file_path), path)
        folder_names.append(os.path.basename(os.path.abspath(path)) if folder == "." else folder)
    if skipped:
        warnings.warn(f"skipped {skipped} unreadable or non-image file(s) under {path}", stacklevel=2)
    if not images:
        raise ValueError(f"no readable images found under {path}")
    classes = sorted(set(folder_names))
    class_index = {name: i for i, name in enumerate(classes)}
    labels = np.array([class_index[name] for name in folder_names], dtype=np.int64)
    return ImageDataset(_scale(np.stack(images), value_range), labels, classes, tuple(value_range))


def load_dataset(source, image_size=32, channels=1, value_range=TANH_RANGE, center_crop=None, limit=None):
    """``'lfw-subset'`` (the embedded faces) or a folder path (see ``load_image_folder``)."""
    if source == "lfw-subset":
        return load_lfw_subset(image_size, channels, value_range)
    return load_image_folder(source, image_size, channels, value_range, center_crop, limit)


class DataLoader:
    """Batches of ``images`` (and ``labels`` when given) in a seeded random order.

    Epoch ``e`` visits the images in the order ``default_rng([seed, e]).permutation(N)`` (or
    0..N-1 without shuffling) and, with ``flip``, mirrors each image horizontally when a draw
    ``default_rng([seed, e])`` makes after the permutation is below 0.5. Because each epoch's
    order depends only on (seed, epoch), the whole state is ``{'epoch', 'position'}``.
    With ``drop_last`` an epoch has ``N // batch_size`` batches, otherwise ``ceil(N / batch_size)``.
    """

    def __init__(self, images, batch_size, labels=None, shuffle=True, drop_last=True, flip=False, seed=0):
        if batch_size < 1:
            raise ValueError(f"batch size must be positive, got {batch_size}")
        if drop_last and batch_size > len(images):
            raise ValueError(
                f"batch size {batch_size} is larger than the dataset ({len(images)} images) with drop_last"
            )
        if labels is not None and len(labels) != len(images):
            raise ValueError(f"{len(labels)} labels for {len(images)} images")
        self.images, self.labels = images, labels
        self.batch_size, self.shuffle, self.drop_last, self.flip = batch_size, shuffle, drop_last, flip
        self.seed = seed
        self._start_epoch(0)

    def __len__(self):
        n = len(self.images)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _start_epoch(self, epoch, position=0):
        n = len(self.images)
        rng = np.random.default_rng([self.seed, epoch])
        self._order = rng.permutation(n) if self.shuffle else np.arange(n)
        self._flips = rng.random(n) < 0.5 if self.flip else np.zeros(n, dtype=bool)
        self.epoch, self.position = epoch, position

    def next_batch(self):
        """The next batch, moving on to a new epoch when this one is used up."""
        if self.position >= len(self):
            self._start_epoch(self.epoch + 1)
        start = self.position * self.batch_size
        index = self._order[start:start + self.batch_size]
        batch = self.images[index]
        mirrored = self._flips[start:start + self.batch_size]
        batch[mirrored] = batch[mirrored][..., ::-1]
        self.position += 1
        if self.labels is None:
            return batch
        return batch, self.labels[index]

    def __iter__(self):
        """The remaining batches of the current epoch."""
        if self.position >= len(self):
            self._start_epoch(self.epoch + 1)
        while self.position < len(self):
            yield self.next_batch()

    def state_dict(self):
        return {"epoch": int(self.epoch), "position": int(self.position)}

    def load_state_dict(self, state):
        self._start_epoch(int(state["epoch"]), int(state["position"]))
