"""Data loading speed: is reading images ever the bottleneck of training?

    python -m benchmarks.bench_data --make-synthetic 4000         # a CelebA-like folder made here
    python -m benchmarks.bench_data --folder ~/data/img_align_celeba --max-images 20000

Measured, on one folder (``--folder``, or ``--make-synthetic N``: N JPEGs of 178x218 pixels,
quality 95, smooth random colour fields, written to a temporary folder first):

1. the per-image decode of the old loader (full-size ``cv2.imread``, RGB, central square crop,
   area resize, one thread), as the reference;
2. the first decode into the cache (``minigan.image_cache``) on one thread (img/s per core) and
   on every available core (img/s total), at 64x64 RGB with the default square crop;
3. a cached second run: listing the folder and opening the cache, the first batch, and the time
   to the first DCGAN-64 training step (model built, one step taken);
4. batches/s (64 RGB images, random flips) read from the cache at 64x64 and 128x128, next to the
   time of one DCGAN training step at 64x64 (batch 64, default widths), so that the share of a
   step spent assembling its batch can be read off;
5. the peak resident memory of the process (``ru_maxrss``).

The caches go to a temporary folder that is deleted at the end. Results: markdown on stdout,
JSON in ``--out`` (default ``benchmarks/results/bench_data.json``).
"""

import argparse
import json
import os
import resource
import shutil
import tempfile
import time

import cv2
import numpy as np

from benchmarks.common import DEFAULT_OUT, environment, measure
from minigan.data import DataLoader, load_image_folder
from minigan.image_cache import cached_images, list_files
from minigan.train.gan import train_gan
from minigan.train.runner import build_model, build_optimizers, make_config

TANH = (-1.0, 1.0)


def make_synthetic(folder, count, seed=0):
    """``count`` 178x218 JPEGs (quality 95) of smooth random colour fields, as CelebA's files are sized."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        coarse = rng.integers(0, 256, (7, 6, 3), dtype=np.uint8)
        image = cv2.resize(coarse, (178, 218), interpolation=cv2.INTER_CUBIC)
        image = cv2.add(image, rng.integers(0, 24, image.shape, dtype=np.uint8))
        cv2.imwrite(os.path.join(folder, f"{i + 1:06d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 95])


def old_decode_seconds(paths, size):
    """Seconds per image of the old loader's path: full decode, RGB, central square, area resize."""
    start = time.perf_counter()
    for path in paths:
        image = cv2.cvtColor(cv2.imread(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        h, w = image.shape[:2]
        side = min(h, w)
        square = image[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
        cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    return (time.perf_counter() - start) / len(paths)


def build_rate(folder, cache_dir, size, workers):
    """Images per second of a first (cold) build of the cache with ``workers`` threads."""
    start = time.perf_counter()
    pixels, _, _, _ = cached_images(folder, size, 3, cache_dir=cache_dir, progress=False, workers=workers)
    return len(pixels) / (time.perf_counter() - start)


def dcgan_step_seconds(data, size, steps):
    """Median seconds of a DCGAN training step (batch 64, default widths) on batches from ``data``."""
    config = make_config("dcgan", image_size=size, channels=3, batch_size=64, progress=False)
    model = build_model(config)
    optimizers = build_optimizers(config, model)
    loader = DataLoader(data, 64, flip=True, seed=0)
    noise = np.random.default_rng(1)
    timing = measure(lambda: train_gan(model, loader, optimizers["d"], optimizers["g"], 1, noise),
                     repeats=steps, warmup=1)
    return timing.median


def first_step_seconds(folder, cache_dir, size):
    """``(open, first batch, first step)`` seconds of a run whose cache is already built."""
    start = time.perf_counter()
    data = load_image_folder(folder, size, 3, TANH, cache_dir=cache_dir, progress=False)
    opened = time.perf_counter()
    loader = DataLoader(data, 64, flip=True, seed=0)
    loader.next_batch()
    batched = time.perf_counter()
    config = make_config("dcgan", image_size=size, channels=3, batch_size=64, progress=False)
    model = build_model(config)
    optimizers = build_optimizers(config, model)
    train_gan(model, loader, optimizers["d"], optimizers["g"], 1, np.random.default_rng(1))
    return opened - start, batched - opened, time.perf_counter() - start


def run(folder, label, steps, work):
    env = environment()
    cores = len(os.sched_getaffinity(0))
    paths = [os.path.join(folder, name) for name, _, _ in list_files(folder)[0]]
    results = {"folder": label, "images": len(paths), "cores": cores, "environment": env}
    results["old_ms_per_image"] = 1e3 * old_decode_seconds(paths[:min(len(paths), 500)], 64)
    results["decode_one_core_img_s"] = build_rate(folder, os.path.join(work, "one"), 64, 1)
    results["decode_all_cores_img_s"] = build_rate(folder, os.path.join(work, "all"), 64, cores)
    cache = os.path.join(work, "all")
    results["cached_open_s"], results["cached_first_batch_s"], results["cached_first_step_s"] = \
        first_step_seconds(folder, cache, 64)
    for size in (64, 128):
        data = load_image_folder(folder, size, 3, TANH, cache_dir=cache, progress=False)
        loader = DataLoader(data, 64, flip=True, seed=0)
        timing = measure(loader.next_batch, repeats=7, warmup=3, min_sample=0.2)
        results[f"batch_{size}_ms"] = 1e3 * timing.median
    data = load_image_folder(folder, 64, 3, TANH, cache_dir=cache, progress=False)
    results["dcgan64_step_ms"] = 1e3 * dcgan_step_seconds(data, 64, steps)
    results["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return results


def report(results):
    r = results
    env = r["environment"]
    old_rate = 1e3 / r["old_ms_per_image"]
    share = 100 * r["batch_64_ms"] / r["dcgan64_step_ms"]
    rows = [
        ("old loader, full decode, 1 thread", f"{r['old_ms_per_image']:.2f} ms/img ({old_rate:,.0f} img/s)"),
        ("cache build, 1 thread (per core)", f"{r['decode_one_core_img_s']:,.0f} img/s "
                                             f"({r['decode_one_core_img_s'] / old_rate:.1f}x the old loader)"),
        (f"cache build, {r['cores']} threads (total)", f"{r['decode_all_cores_img_s']:,.0f} img/s"),
        ("cached run: list folder + open cache", f"{r['cached_open_s'] * 1e3:.0f} ms"),
        ("cached run: first batch", f"{r['cached_first_batch_s'] * 1e3:.1f} ms"),
        ("cached run: time to first DCGAN-64 step", f"{r['cached_first_step_s']:.2f} s"),
        ("batch of 64 from the cache, 64x64 RGB", f"{r['batch_64_ms']:.2f} ms ({1e3 / r['batch_64_ms']:,.0f} batches/s)"),
        ("batch of 64 from the cache, 128x128 RGB",
         f"{r['batch_128_ms']:.2f} ms ({1e3 / r['batch_128_ms']:,.0f} batches/s)"),
        ("DCGAN-64 training step (batch 64)", f"{r['dcgan64_step_ms']:.0f} ms; its batch is {share:.2f} % of it"),
        ("peak resident memory", f"{r['peak_rss_mib']:,.0f} MiB"),
    ]
    lines = [f"## bench_data: {r['images']:,} images ({r['folder']})",
             f"- {env['date_utc']}, commit {env['git_commit']}, {env['cpu_model']}, {r['cores']} usable cores, "
             f"load average {env['load_average_1m']} at the start", "",
             "| what | result |", "|---|---|"] + [f"| {what} | {value} |" for what, value in rows]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_data", description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--folder", help="an image folder to measure (at most --max-images of it are used)")
    source.add_argument("--make-synthetic", type=int, metavar="N", help="make N CelebA-sized JPEGs and measure them")
    parser.add_argument("--max-images", type=int, default=20000, help="with --folder: images used (default 20000)")
    parser.add_argument("--steps", type=int, default=3, help="DCGAN steps timed (default 3)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="folder for bench_data.json")
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="minigan-bench-data-")
    try:
        folder = os.path.join(work, "images")
        if args.make_synthetic:
            make_synthetic(folder, args.make_synthetic)
        else:
            os.makedirs(folder)
            for name, _, _ in list_files(args.folder)[0][:args.max_images]:
                os.makedirs(os.path.dirname(os.path.join(folder, name)), exist_ok=True)
                os.symlink(os.path.abspath(os.path.join(args.folder, name)), os.path.join(folder, name))
        label = args.folder or f"{args.make_synthetic:,} synthetic 178x218 JPEGs"
        results = run(folder, label, args.steps, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(report(results))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "bench_data.json"), "w") as file:
        json.dump(results, file, indent=1, default=str)


if __name__ == "__main__":
    main()
