"""Datasets and batching.

Two sources, both giving float32 NCHW arrays scaled to a chosen value range:

- ``lfw-subset``: the 200 grayscale 25x25 LFW crops that scikit-image ships
  (``skimage.data.lfw_subset()``; the first 100 are faces, the last 100 are not).
  Nothing is downloaded. Training uses the faces; ``include_nonfaces=True`` adds
  the non-faces with label 1 (faces have label 0) for recognition experiments.
- ``image-folder``: any folder tree of images (``lfw/<Name>/<Name>_0001.jpg``,
  ``img_align_celeba/000001.jpg``, ...), decoded once into a uint8 cache on disk
  (``minigan.image_cache``) and memory-mapped: the dataset holds the uint8 pixels and turns
  only the images asked for into floats, so RAM does not grow with the folder. The name of
  the sub-folder holding an image is kept as its label.

Pixel scaling: an image with values ``u`` in [0, 1] (uint8 pixels ``p``: ``u = p / 255``)
becomes ``lo + (hi - lo) * u``; ``(-1, 1)`` matches a tanh generator output, ``(0, 1)`` a
sigmoid one.

``DataLoader`` cuts a dataset into batches in a seeded random order; its state is two
integers (epoch, position), so a checkpoint can resume the exact same stream.
"""

import os
import warnings

import cv2
import numpy as np

from minigan.image_cache import cached_images, check_crop

NAMED_SKIPS = 5
LIMIT_SEED = 0
TANH_RANGE = (-1.0, 1.0)
SIGMOID_RANGE = (0.0, 1.0)


def value_range_for(activation):
    """The pixel range matching a generator/decoder output activation: tanh -> (-1, 1), sigmoid -> (0, 1)."""
    ranges = {"tanh": TANH_RANGE, "sigmoid": SIGMOID_RANGE}
    if activation not in ranges:
        raise ValueError(f"unknown output activation {activation!r}; expected one of {sorted(ranges)}")
    return ranges[activation]


class ImageDataset:
    """``len(d)`` images ``(C, H, W)`` with integer labels ``(N,)``, the class names and, for a
    folder, each image's path relative to it (``files``).

    ``array`` holds the pixels: float32 already in ``value_range`` (the embedded subset) or uint8
    0..255 (a folder's cache, memory-mapped). ``rows`` (optional) picks the dataset's images out of
    ``array`` without copying it. ``d[index]`` (an integer array, a slice or an int) gives float32
    images in ``value_range`` -- only those are read and converted; ``d.images`` gives all of them
    (a copy of the whole dataset: for small sets).
    """

    def __init__(self, array, labels, classes, value_range, files=None, rows=None):
        self.array, self.labels, self.classes = array, np.asarray(labels), list(classes)
        self.value_range, self.files, self.rows = tuple(value_range), files, rows
        if len(self.labels) != len(self) or (files is not None and len(files) != len(self)):
            raise ValueError(f"{len(self.labels)} labels and {len(files or ())} files for {len(self)} images")

    def __len__(self):
        return len(self.array) if self.rows is None else len(self.rows)

    def __getitem__(self, index):
        rows = index if self.rows is None else self.rows[index]
        if isinstance(rows, np.ndarray) and rows.ndim == 1 and self.array.dtype == np.uint8:
            order = np.argsort(rows, kind="stable")  # read the mapped file forwards
            picked = np.empty((len(rows), *self.array.shape[1:]), np.uint8)
            picked[order] = self.array[rows[order]]
        else:
            picked = np.array(self.array[rows])
        return pixels_to_range(picked, self.value_range)

    @property
    def images(self):
        """All images, float32 ``(N, C, H, W)`` in ``value_range`` (in memory)."""
        return self[np.arange(len(self))]

    def sample(self, count, seed=0):
        """``count`` images (all of them if there are fewer) drawn without replacement, seeded, in dataset order."""
        if count >= len(self):
            return self.images
        return self[np.sort(np.random.default_rng(seed).choice(len(self), count, replace=False))]

    def split(self, fraction, seed=0):
        """Two disjoint datasets: a random ``fraction`` of the images, and the rest."""
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"split fraction must be in (0, 1), got {fraction}")
        order = np.random.default_rng(seed).permutation(len(self))
        cut = int(round(fraction * len(self)))
        if cut == 0 or cut == len(self):
            raise ValueError(f"cannot split {len(self)} images with fraction {fraction}")
        return self.subset(order[:cut]), self.subset(order[cut:])

    def subset(self, index):
        """The images at ``index`` (an integer array) as a dataset sharing this one's pixels."""
        rows = index if self.rows is None else self.rows[index]
        files = None if self.files is None else [self.files[i] for i in index]
        return ImageDataset(self.array, self.labels[index], self.classes, self.value_range, files, rows)


def pixels_to_range(pixels, value_range):
    """uint8 pixels ``p`` -> float32 ``lo + (hi - lo) * (p / 255)``; float arrays are returned as they are."""
    if pixels.dtype != np.uint8:
        return pixels
    lo, hi = value_range
    table = _scale(np.arange(256, dtype=np.float32) / 255.0, value_range)
    return table[pixels]


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


def _skipped_message(folder, skipped):
    named = ", ".join(skipped[:NAMED_SKIPS]) + (f" and {len(skipped) - NAMED_SKIPS:,} more"
                                                if len(skipped) > NAMED_SKIPS else "")
    return f"skipped {len(skipped):,} unreadable or non-image file(s) under {folder}: {named}"


def load_image_folder(path, image_size=32, channels=1, value_range=TANH_RANGE, center_crop="square", limit=None,
                      cache_dir=None, progress=True):
    """Every readable image under ``path``, through the decoded-image cache (``minigan.image_cache``).

    ``center_crop``: ``'square'`` (default) keeps the central square of each image, an integer a
    central square of that many pixels, ``None`` squashes the whole image to a square. Files
    without an image extension and files OpenCV cannot decode are skipped, counted and the first
    few named in one warning. The label of an image is the index of its folder (relative to
    ``path``) in the sorted list of folder names; images directly in ``path`` use the folder's
    own name. ``limit`` keeps a seeded random ``limit`` of the images (the same ones every run).
    """
    _check_size_and_channels(image_size, channels)
    check_crop(center_crop)
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    pixels, names, skipped, others = cached_images(path, image_size, channels, center_crop, cache_dir, progress)
    if skipped or others:
        warnings.warn(_skipped_message(path, skipped + others), stacklevel=2)
    own_name = os.path.basename(os.path.abspath(path))
    folder_names = [os.path.dirname(name) or own_name for name in names]
    classes = sorted(set(folder_names))
    class_index = {name: i for i, name in enumerate(classes)}
    labels = np.array([class_index[name] for name in folder_names], dtype=np.int64)
    dataset = ImageDataset(pixels, labels, classes, value_range, names)
    if limit is not None and limit < len(dataset):
        dataset = dataset.subset(np.sort(np.random.default_rng(LIMIT_SEED).choice(len(dataset), limit,
                                                                                  replace=False)))
    return dataset


def load_dataset(source, image_size=32, channels=1, value_range=TANH_RANGE, center_crop="square", limit=None,
                 cache_dir=None, progress=True):
    """``'lfw-subset'`` (the embedded faces) or a folder path (see ``load_image_folder``)."""
    if source == "lfw-subset":
        return load_lfw_subset(image_size, channels, value_range)
    return load_image_folder(source, image_size, channels, value_range, center_crop, limit, cache_dir, progress)


class DataLoader:
    """Batches of ``images`` (and ``labels`` when given) in a seeded random order.

    ``images`` is an array ``(N, C, H, W)`` or an ``ImageDataset`` (a folder's memory-mapped
    cache: each batch is read and turned into floats when it is asked for).

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
