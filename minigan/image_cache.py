"""An image folder decoded once, in parallel, into a uint8 ``.npy`` file that training memory-maps.

Where: ``resolve_cache_dir()`` -- the ``cache_dir`` argument (``--cache-dir``), else the
environment variable ``MINIGAN_CACHE``, else ``~/.cache/minigan``. One folder at one setting
(image size, channels, crop) has one entry there, named after the folder, the setting and 12 hex
digits of a hash of the folder's absolute path and the setting::

    img_align_celeba-64px-rgb-square-3f2a9c1b0d4e.json          the description (below); written last
    img_align_celeba-64px-rgb-square-3f2a9c1b0d4e.<build>.npy   the pixels, uint8 (N, C, S, S)

The ``.npy`` file holds the N readable images in file-list order, channels first (RGB or gray),
0..255, 202,599 x 64 x 64 x 3 bytes (about 2.5 GB) for CelebA at 64x64 RGB. The JSON file
(``FORMAT``) holds the folder, the setting, the file list it was built from (every image file's
path relative to the folder, size and mtime in ns, in ``list_files`` order), the files that could
not be decoded and the name of its ``.npy`` file (``<build>`` is the builder's process id and a
random tag).

Safety: the pixels are written to a fresh ``.npy`` name, then the JSON file is written to a
temporary name and renamed over the old one; only a JSON file naming an ``.npy`` file whose
header, dtype, shape and length agree with it is trusted. A build that is interrupted
(Ctrl-C, kill, a full disk) never wrote its JSON file, so its pixels are never used; they are
deleted by the builder on an exception, or by the next build once their process is gone. A
cache whose file list differs from the folder's (files added, removed or changed) or that
does not check out is rebuilt, with a one-line message on stderr saying why.

Decoding: threads (OpenCV releases the GIL) read and decode the files in order; each image is
cropped (``crop``: ``'square'`` the central square of side min(H, W), an integer the central
square of that many source pixels, ``None`` nothing: the image is squashed) and resized to
``S x S`` (area interpolation when shrinking, bilinear otherwise). When the kept region is at
least twice ``S`` (as judged on the first readable file), JPEGs are decoded at 1/2, 1/4 or 1/8
of their size (``IMREAD_REDUCED_*``); a file whose reduced region would be smaller than ``S``
is decoded again at full size.
"""

import hashlib
import json
import math
import os
import re
import shutil
import sys
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
from tqdm import tqdm

FORMAT = 1
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".ppm", ".tif", ".tiff", ".webp")
DECODE_FLAGS = {
    1: {1: cv2.IMREAD_GRAYSCALE, 2: cv2.IMREAD_REDUCED_GRAYSCALE_2, 4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
        8: cv2.IMREAD_REDUCED_GRAYSCALE_8},
    3: {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
        8: cv2.IMREAD_REDUCED_COLOR_8},
}
FILES_PER_TASK = 32
META_KEYS = ("format", "folder", "image_size", "channels", "crop", "files", "skipped", "pixels")


class DamagedCache(Exception):
    """A cache entry that cannot be trusted; the message says why."""


def resolve_cache_dir(cache_dir=None):
    """The cache directory: ``cache_dir``, else ``$MINIGAN_CACHE``, else ``~/.cache/minigan`` (absolute)."""
    chosen = cache_dir or os.environ.get("MINIGAN_CACHE") or os.path.join("~", ".cache", "minigan")
    return os.path.abspath(os.path.expanduser(chosen))


def check_crop(crop):
    """``crop`` must be ``'square'``, ``None`` or a positive integer; a clear ValueError otherwise."""
    if crop is None or crop == "square":
        return
    if isinstance(crop, bool) or not isinstance(crop, (int, np.integer)) or crop < 1:
        raise ValueError(f"crop must be 'square', None (no crop) or a positive integer, got {crop!r}")


def list_files(root):
    """``(images, others)`` under ``root``, hidden files and folders left out, in a fixed order
    (each folder's files sorted by name, then its sub-folders sorted by name, depth first):
    ``images`` is ``[[relative path, size, mtime_ns], ...]`` of the files with an image extension,
    ``others`` the relative paths of the rest."""
    images, others = [], []

    def visit(folder, prefix):
        with os.scandir(folder) as scan:
            entries = sorted((e for e in scan if not e.name.startswith(".")), key=lambda e: e.name)
        subfolders = []
        for entry in entries:
            relative = prefix + entry.name
            try:
                if entry.is_dir():
                    subfolders.append(entry)
                    continue
                stat = entry.stat()
            except OSError:
                others.append(relative)
                continue
            if entry.name.lower().endswith(IMAGE_EXTENSIONS):
                images.append([relative, stat.st_size, stat.st_mtime_ns])
            else:
                others.append(relative)
        for entry in subfolders:
            visit(entry.path, prefix + entry.name + os.sep)

    visit(root, "")
    return images, others


def crop_box(height, width, crop, scale=1):
    """``(top, left, h, w)`` of the region kept from a ``height x width`` image decoded at 1/``scale``
    (see the module docstring for ``crop``; an integer crop is in source pixels, cut to the image)."""
    if crop is None:
        return 0, 0, height, width
    if crop == "square":
        h = w = min(height, width)
    else:
        side = max(1, round(crop / scale))
        h, w = min(side, height), min(side, width)
    return (height - h) // 2, (width - w) // 2, h, w


def choose_scale(height, width, image_size, crop):
    """The largest of 8, 4, 2 (else 1) at which the kept region of a ``height x width`` image still
    has both sides at least ``image_size``."""
    for scale in (8, 4, 2):
        _, _, h, w = crop_box(math.ceil(height / scale), math.ceil(width / scale), crop, scale)
        if min(h, w) >= image_size:
            return scale
    return 1


def _decode_at(encoded, channels, scale):
    try:
        image = cv2.imdecode(encoded, DECODE_FLAGS[channels][scale])
    except cv2.error:
        return None
    if image is None or channels == 1:
        return image
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def decode_image(path, image_size, channels, crop="square", scale=1):
    """One file as uint8 ``(channels, image_size, image_size)`` (RGB order), or None when it cannot
    be read or decoded. ``scale`` 2, 4 or 8 decodes at that fraction of the size first."""
    try:
        with open(path, "rb") as file:
            encoded = np.frombuffer(file.read(), np.uint8)
    except OSError:
        return None
    if encoded.size == 0:
        return None
    image = _decode_at(encoded, channels, scale) if scale > 1 else None
    if image is not None and min(crop_box(*image.shape[:2], crop, scale)[2:]) < image_size:
        image = None
    if image is None:
        scale = 1
        image = _decode_at(encoded, channels, 1)
        if image is None:
            return None
    top, left, h, w = crop_box(*image.shape[:2], crop, scale)
    region = image[top:top + h, left:left + w]
    interpolation = cv2.INTER_AREA if image_size < min(h, w) else cv2.INTER_LINEAR
    resized = cv2.resize(region, (image_size, image_size), interpolation=interpolation)
    return np.ascontiguousarray(resized[None] if channels == 1 else resized.transpose(2, 0, 1))


def _decode_files(paths, image_size, channels, crop, scale):
    """``decode_image`` of each path (one thread pool task: a few files, so the task overhead stays small)."""
    return [decode_image(path, image_size, channels, crop, scale) for path in paths]


def _first_readable_shape(paths, channels):
    for path in paths:
        try:
            with open(path, "rb") as file:
                image = _decode_at(np.frombuffer(file.read(), np.uint8), channels, 1)
        except OSError:
            continue
        if image is not None:
            return image.shape[:2]
    return None


def _notice(message):
    print(f"minigan: {message}", file=sys.stderr)


def _entry_stem(folder, image_size, channels, crop):
    crop_name = "nocrop" if crop is None else "square" if crop == "square" else f"crop{crop}"
    digest = hashlib.sha256(f"{folder}|{image_size}|{channels}|{crop}|{FORMAT}".encode()).hexdigest()[:12]
    name = re.sub(r"[^A-Za-z0-9._-]", "_", os.path.basename(folder)) or "root"
    return f"{name}-{image_size}px-{'rgb' if channels == 3 else 'gray'}-{crop_name}-{digest}"


def _read_meta(meta_path, setting):
    try:
        with open(meta_path) as file:
            meta = json.load(file)
    except (OSError, ValueError) as error:
        raise DamagedCache(f"unreadable description: {error}") from None
    if not isinstance(meta, dict) or any(key not in meta for key in META_KEYS):
        raise DamagedCache("incomplete description")
    if meta["format"] != FORMAT or [meta[k] for k in setting] != list(setting.values()):
        raise DamagedCache("written for another format or setting")
    return meta


def _open_pixels(directory, meta):
    path = os.path.join(directory, os.path.basename(str(meta["pixels"])))
    try:
        pixels = np.load(path, mmap_mode="r")
    except (OSError, ValueError, EOFError) as error:
        raise DamagedCache(f"{os.path.basename(path)}: {error}") from None
    size, channels = meta["image_size"], meta["channels"]
    expected = (len(meta["files"]) - len(meta["skipped"]), channels, size, size)
    if pixels.dtype != np.uint8 or pixels.shape != expected or not pixels.flags.c_contiguous:
        raise DamagedCache(f"{os.path.basename(path)} holds {pixels.dtype} {pixels.shape}, expected uint8 {expected}")
    if os.path.getsize(path) != pixels.offset + pixels.nbytes:
        raise DamagedCache(f"{os.path.basename(path)} has {os.path.getsize(path) - pixels.offset - pixels.nbytes:+d}"
                           " bytes more than its header says")
    return pixels


def _changes(old_files, new_files):
    old = {name: (size, mtime) for name, size, mtime in old_files}
    new = {name: (size, mtime) for name, size, mtime in new_files}
    added, removed = len(new.keys() - old.keys()), len(old.keys() - new.keys())
    changed = sum(old[name] != new[name] for name in new.keys() & old.keys())
    return f"{added:,} added, {removed:,} removed, {changed:,} changed"


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_orphans(directory, stem, keep):
    """Delete this entry's ``.npy`` files other than ``keep`` that no other live process may be building."""
    pattern = re.compile(re.escape(stem) + r"\.(\d+)-[0-9a-f]+\.npy$")
    for name in os.listdir(directory):
        match = pattern.match(name)
        pid = int(match.group(1)) if match else None
        if match and name != keep and (pid == os.getpid() or not _process_alive(pid)):
            os.remove(os.path.join(directory, name))


def _write_pixels(path, paths, files, image_size, channels, crop, progress, workers):
    """Decode ``paths`` into the ``.npy`` file ``path``; the relative names of the unreadable ones."""
    shape = _first_readable_shape(paths, channels)
    scale = 1 if shape is None else choose_scale(*shape, image_size, crop)
    row_bytes = channels * image_size * image_size
    header = {"descr": "|u1", "fortran_order": False, "shape": (len(paths), channels, image_size, image_size)}
    skipped = []
    workers = workers or len(os.sched_getaffinity(0))
    with open(path, "wb") as out, ThreadPoolExecutor(workers) as pool, \
            tqdm(total=len(paths), desc=f"minigan: decoding {len(paths):,} images", unit="img",
                 disable=not progress, dynamic_ncols=True, file=sys.stderr) as bar:
        np.lib.format.write_array_header_1_0(out, header)
        data_offset = out.tell()
        pending = deque()

        def finish_oldest():
            names, future = pending.popleft()
            for name, image in zip(names, future.result()):
                if image is None:
                    skipped.append(name)
                else:
                    out.write(image.data)
            bar.update(len(names))

        try:
            for start in range(0, len(paths), FILES_PER_TASK):
                chunk = slice(start, start + FILES_PER_TASK)
                future = pool.submit(_decode_files, paths[chunk], image_size, channels, crop, scale)
                pending.append(([name for name, _, _ in files[chunk]], future))
                if len(pending) >= 4 * workers:
                    finish_oldest()
            while pending:
                finish_oldest()
        finally:
            for _, future in pending:
                future.cancel()
        count = len(paths) - len(skipped)
        out.seek(0)
        np.lib.format.write_array_header_1_0(out, {**header, "shape": (count, *header["shape"][1:])})
        if out.tell() != data_offset:
            raise RuntimeError("the .npy header changed length when its image count was corrected")
        out.truncate(data_offset + count * row_bytes)
    return skipped


def _write_json_atomically(path, data):
    temporary = f"{path}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(temporary, "w") as file:
            json.dump(data, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _build(directory, stem, folder, files, setting, old_pixels, progress, workers):
    size, channels = setting["image_size"], setting["channels"]
    needed = len(files) * channels * size * size
    free = shutil.disk_usage(directory).free
    if needed > free:
        raise RuntimeError(f"the image cache for {folder} needs {needed / 1e9:.2f} GB and {directory} has "
                           f"{free / 1e9:.2f} GB free; choose another place with --cache-dir or MINIGAN_CACHE")
    pixels_name = f"{stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.npy"
    pixels_path = os.path.join(directory, pixels_name)
    try:
        skipped = _write_pixels(pixels_path, [os.path.join(folder, name) for name, _, _ in files], files,
                                size, channels, setting["crop"], progress, workers)
        if len(skipped) == len(files):
            raise ValueError(f"no readable images found under {folder}")
        meta = {"format": FORMAT, **setting, "files": files, "skipped": skipped, "pixels": pixels_name}
        _write_json_atomically(os.path.join(directory, stem + ".json"), meta)
    except BaseException:
        if os.path.exists(pixels_path):
            os.remove(pixels_path)
        raise
    if old_pixels and old_pixels != pixels_name and os.path.exists(os.path.join(directory, old_pixels)):
        os.remove(os.path.join(directory, old_pixels))
    _remove_orphans(directory, stem, pixels_name)
    return meta


def cached_images(folder, image_size, channels, crop="square", cache_dir=None, progress=True, workers=None):
    """``(pixels, names, skipped, others)`` for the images under ``folder``, decoding them only when
    the cache has no valid entry for this file list and setting.

    ``pixels`` is the memory-mapped uint8 ``(N, C, S, S)`` array (read-only), ``names`` the N
    relative paths of its rows, ``skipped`` the image files that could not be decoded and
    ``others`` the files without an image extension (both relative paths). ``progress`` shows a
    progress bar while decoding; ``workers`` threads decode (default: one per available core).
    """
    check_crop(crop)
    folder = os.path.abspath(folder)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"image folder not found: {folder}")
    files, others = list_files(folder)
    if not files:
        raise ValueError(f"no readable images found under {folder} (no files with an image extension)")
    setting = {"folder": folder, "image_size": int(image_size), "channels": int(channels), "crop": crop}
    directory = resolve_cache_dir(cache_dir)
    stem = _entry_stem(folder, image_size, channels, crop)
    meta_path = os.path.join(directory, stem + ".json")
    meta, old_pixels = None, None
    if os.path.exists(meta_path):
        try:
            meta = _read_meta(meta_path, setting)
            old_pixels = os.path.basename(str(meta["pixels"]))
            if meta["files"] == files:
                pixels = _open_pixels(directory, meta)
            else:
                _notice(f"{folder} changed since it was cached ({_changes(meta['files'], files)}); decoding it again")
                meta = None
        except DamagedCache as error:
            _notice(f"the image cache {meta_path} is damaged ({error}); decoding {folder} again")
            meta = None
    if meta is None:
        try:
            os.makedirs(directory, exist_ok=True)
            meta = _build(directory, stem, folder, files, setting, old_pixels, progress, workers)
        except OSError as error:
            raise RuntimeError(f"cannot write the image cache in {directory}: {error.strerror or error}; "
                               "choose another place with --cache-dir or MINIGAN_CACHE") from None
        pixels = _open_pixels(directory, meta)
    unreadable = set(meta["skipped"])
    names = [name for name, _, _ in files if name not in unreadable]
    return pixels, names, list(meta["skipped"]), others
