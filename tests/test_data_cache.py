"""The decoded-image cache: built once, trusted only when complete and current, read batch by batch."""

import json
import os
import subprocess
import sys
import warnings

import cv2
import numpy as np
import pytest

from minigan import image_cache
from minigan.checkpoint import load_checkpoint
from minigan.cli import main
from minigan.data import DataLoader, load_image_folder
from minigan.train import make_config, resume_config, run_training

TANH = (-1.0, 1.0)


def _write(path, image):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert cv2.imwrite(str(path), image)


@pytest.fixture
def folder(tmp_path):
    """Twelve 12x12 RGB PNGs of random noise in two labelled sub-folders (no reduced decoding at size 8)."""
    rng = np.random.default_rng(0)
    root = tmp_path / "faces"
    for i in range(12):
        _write(root / ("a" if i < 5 else "b") / f"{i:02d}.png", rng.integers(0, 256, (12, 12, 3), dtype=np.uint8))
    return root


def _cache_files(cache):
    return sorted(os.listdir(cache))


def _count_decodes(monkeypatch):
    calls = []
    original = image_cache.decode_image

    def counting(*args, **kwargs):
        calls.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(image_cache, "decode_image", counting)
    return calls


def _reference(root, names, size):
    """What the cache should hold, computed with OpenCV directly: RGB, the central square, area resize, CHW."""
    images = []
    for name in names:
        image = cv2.cvtColor(cv2.imread(os.path.join(root, name), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        h, w = image.shape[:2]
        side = min(h, w)
        square = image[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
        images.append(cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA).transpose(2, 0, 1))
    return np.stack(images)


def _reference_floats(root, names, size):
    """``_reference`` in the tanh range, as ``lo + (hi - lo) * p / 255`` in float32."""
    return (-1.0 + 2.0 * (_reference(root, names, size).astype(np.float32) / 255.0)).astype(np.float32)


def test_second_load_is_a_cache_hit_with_the_same_pixels(folder, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    calls = _count_decodes(monkeypatch)
    first = load_image_folder(str(folder), 8, 3, TANH, cache_dir=str(cache), progress=False)
    assert len(calls) == 12 and first.array.dtype == np.uint8 and first.array.shape == (12, 3, 8, 8)
    assert isinstance(first.array, np.memmap)
    second = load_image_folder(str(folder), 8, 3, TANH, cache_dir=str(cache), progress=False)
    assert len(calls) == 12
    np.testing.assert_array_equal(second.array, first.array)
    assert first.classes == ["a", "b"] and list(first.labels) == [0] * 5 + [1] * 7
    names = _cache_files(cache)
    assert len(names) == 2 and names[0].startswith("faces-8px-rgb-square-") and names[1].endswith(".json")
    load_image_folder(str(folder), 8, 1, TANH, cache_dir=str(cache), progress=False)
    assert len(calls) == 24 and len(_cache_files(cache)) == 4  # another setting, another entry


def test_cache_directory_from_the_environment(folder, tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGAN_CACHE", str(tmp_path / "from-env"))
    load_image_folder(str(folder), 8, progress=False)
    assert any(name.endswith(".json") for name in os.listdir(tmp_path / "from-env"))
    monkeypatch.delenv("MINIGAN_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert image_cache.resolve_cache_dir() == str(tmp_path / "home" / ".cache" / "minigan")


def test_cache_matches_direct_decoding_and_batches_match(folder):
    data = load_image_folder(str(folder), 8, 3, TANH, progress=False)
    expected = _reference(folder, data.files, 8)
    np.testing.assert_array_equal(data.array, expected)
    floats = _reference_floats(folder, data.files, 8)
    cached = DataLoader(data, 4, flip=True, seed=3)
    direct = DataLoader(floats, 4, flip=True, seed=3)
    for _ in range(7):  # past an epoch boundary
        np.testing.assert_allclose(cached.next_batch(), direct.next_batch(), rtol=0, atol=1e-7)


def test_reduced_decoding_of_a_large_jpeg_is_close_to_full_decoding(tmp_path):
    assert image_cache.choose_scale(200, 160, 32, "square") == 4  # 160/4 = 40 >= 32, 160/8 = 20 < 32
    assert image_cache.choose_scale(218, 178, 64, "square") == 2  # CelebA at 64: 89 >= 64
    assert image_cache.choose_scale(218, 178, 128, "square") == 1
    assert image_cache.choose_scale(250, 250, 64, 100) == 1  # a 100-pixel crop is less than twice 64
    y, x = np.mgrid[0:200, 0:160]
    image = np.stack([(x * 1.5) % 256, (y * 1.2) % 256, (x + y) % 256], axis=-1).astype(np.uint8)
    image = cv2.GaussianBlur(image, (0, 0), 3)
    _write(tmp_path / "big" / "one.jpg", image)
    reduced = image_cache.decode_image(str(tmp_path / "big" / "one.jpg"), 32, 3, "square", scale=4)
    full = _reference(tmp_path / "big", ["one.jpg"], 32)[0]
    assert reduced.shape == (3, 32, 32)
    assert np.abs(reduced.astype(int) - full.astype(int)).mean() < 3.0


def test_folder_changes_rebuild_the_cache_with_one_line(folder, tmp_path, capsys, monkeypatch):
    cache = str(tmp_path / "cache")
    load_image_folder(str(folder), 8, 3, cache_dir=cache, progress=False)
    capsys.readouterr()
    _write(folder / "a" / "00.png", np.zeros((12, 12, 3), np.uint8))
    os.utime(folder / "a" / "00.png", ns=(1, 1))
    os.remove(folder / "b" / "11.png")
    _write(folder / "b" / "99.png", np.full((12, 12, 3), 255, np.uint8))
    calls = _count_decodes(monkeypatch)
    data = load_image_folder(str(folder), 8, 3, cache_dir=cache, progress=False)
    message = capsys.readouterr().err.strip()
    assert message.count("\n") == 0 and "changed since it was cached (1 added, 1 removed, 1 changed)" in message
    assert len(calls) == 12 and len(data) == 12 and len(_cache_files(cache)) == 2
    np.testing.assert_array_equal(data.array[0], 0)
    assert data.files[-1] == os.path.join("b", "99.png")
    np.testing.assert_array_equal(data.array[-1], 255)


def test_an_interrupted_build_leaves_nothing_trusted(folder, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    original, calls = image_cache.decode_image, []

    def interrupted(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 5:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(image_cache, "decode_image", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_image_folder(str(folder), 8, 3, cache_dir=str(cache), progress=False)
    assert _cache_files(cache) == []
    monkeypatch.setattr(image_cache, "decode_image", original)
    calls = _count_decodes(monkeypatch)
    data = load_image_folder(str(folder), 8, 3, cache_dir=str(cache), progress=False)
    assert len(calls) == 12 and len(data) == 12


def test_a_killed_build_is_ignored_and_its_file_removed(folder, tmp_path):
    cache = tmp_path / "cache"
    load_image_folder(str(folder), 8, 3, cache_dir=str(cache), progress=False)
    stem = _cache_files(cache)[-1][:-len(".json")]
    os.remove(cache / f"{stem}.json")  # killed before the description was written
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = cache / f"{stem}.{dead.pid}-0badc0de.npy"
    orphan.write_bytes(b"half a file")
    data = load_image_folder(str(folder), 8, 3, cache_dir=str(cache), progress=False)
    np.testing.assert_array_equal(data.array, _reference(folder, data.files, 8))
    assert not orphan.exists() and len(_cache_files(cache)) == 2


@pytest.mark.parametrize("damage", ["truncate pixels", "garbage description", "delete pixels"])
def test_a_damaged_cache_is_rebuilt_with_one_line(folder, tmp_path, capsys, damage):
    cache = tmp_path / "cache"
    load_image_folder(str(folder), 8, 3, cache_dir=str(cache), progress=False)
    pixels, description = (cache / name for name in _cache_files(cache))
    if damage == "truncate pixels":
        with open(pixels, "r+b") as file:
            file.truncate(os.path.getsize(pixels) - 100)
    elif damage == "garbage description":
        description.write_text('{"format": 1, "folder"')
    else:
        os.remove(pixels)
    capsys.readouterr()
    data = load_image_folder(str(folder), 8, 3, cache_dir=str(cache), progress=False)
    message = capsys.readouterr().err.strip()
    assert message.count("\n") == 0 and "is damaged" in message and "decoding" in message
    np.testing.assert_array_equal(data.array, _reference(folder, data.files, 8))
    assert len(_cache_files(cache)) == 2


def test_unreadable_files_are_skipped_counted_and_named(folder):
    (folder / "a" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    (folder / "a" / "empty.png").write_bytes(b"")
    (folder / "notes.txt").write_text("hello")
    for i in range(4):
        (folder / "b" / f"zz{i}.jpg").write_bytes(b"junk")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_image_folder(str(folder), 8, 3, progress=False)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and len(data) == 12
    assert "skipped 7 unreadable or non-image file(s)" in messages[0] and str(folder) in messages[0]
    assert os.path.join("a", "broken.jpg") in messages[0] and os.path.join("a", "empty.png") in messages[0]
    assert "and 2 more" in messages[0] and str(folder / "a") not in messages[0]


def test_non_square_images_are_center_cropped_by_default(tmp_path):
    image = np.zeros((20, 40), np.uint8)
    image[:, 10:30] = 255  # white in the central 20x20 square, black on the left and right
    _write(tmp_path / "wide" / "x.png", image)
    square = load_image_folder(str(tmp_path / "wide"), 10, value_range=(0.0, 1.0), progress=False)
    squashed = load_image_folder(str(tmp_path / "wide"), 10, value_range=(0.0, 1.0), center_crop=None,
                                 progress=False)
    inner = load_image_folder(str(tmp_path / "wide"), 10, value_range=(0.0, 1.0), center_crop=8, progress=False)
    np.testing.assert_array_equal(square.images, 1.0)
    np.testing.assert_array_equal(inner.images, 1.0)
    assert squashed.images[0, 0, :, 0].max() == 0.0 and squashed.images[0, 0, :, 5].min() == 1.0


def test_limit_is_a_seeded_random_subset(folder):
    first = load_image_folder(str(folder), 8, 3, limit=4, progress=False)
    again = load_image_folder(str(folder), 8, 3, limit=4, progress=False)
    everything = load_image_folder(str(folder), 8, 3, progress=False)
    assert len(first) == 4 and first.files == again.files
    assert set(first.files) < set(everything.files) and first.files != everything.files[:4]
    rows = [everything.files.index(name) for name in first.files]
    np.testing.assert_array_equal(first.images, everything.images[rows])
    np.testing.assert_array_equal(first.labels, everything.labels[rows])


def test_batches_from_the_cache_follow_the_seeded_permutation(folder):
    data = load_image_folder(str(folder), 8, 3, TANH, progress=False)
    floats = _reference_floats(folder, data.files, 8)
    loader = DataLoader(data, 5, seed=7)
    batches = [loader.next_batch() for _ in range(4)]  # 12 // 5 = 2 batches per epoch: epochs 0 and 1
    for epoch in (0, 1):
        order = np.random.default_rng([7, epoch]).permutation(12)
        for k in range(2):
            np.testing.assert_allclose(batches[2 * epoch + k], floats[order[5 * k:5 * k + 5]], rtol=0, atol=1e-7)


def _run(folder, out, **options):
    settings = dict(data=str(folder), image_size=8, channels=3, steps=4, batch_size=4, hidden=[8], nz=3,
                    n_eval=5, sample_every=2, checkpoint_every=2, out=str(out), progress=False)
    return make_config("gan", **{**settings, **options})


def test_training_on_a_folder_resumes_exactly_and_evaluates_a_sample(folder, tmp_path):
    full = run_training(_run(folder, tmp_path / "full", steps=6))
    run_training(_run(folder, tmp_path / "part", steps=4))
    run_training(resume_config(str(tmp_path / "part"), steps=6), resume=True)
    a, b = (load_checkpoint(str(tmp_path / name / "checkpoint.npz")) for name in ("full", "part"))
    for name, value in a["model"].items():
        np.testing.assert_array_equal(b["model"][name], value, err_msg=name)
    assert a["loader"] == b["loader"]
    assert full["fid_hog_images"] == [5, 5]  # n_eval real images of the 12, not the whole folder


def test_cli_trains_from_a_folder_and_reports_a_bad_cache_dir_in_one_line(folder, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code = main(["train", "gan", "--data", str(folder), "--image-size", "8", "--steps", "1", "--batch-size", "4",
                 "--hidden", "8", "--n-eval", "4", "--quiet", "--cache-dir", str(blocker / "cache"),
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err.startswith("minigan: error: cannot write the image cache") and "\n" not in err
    assert main(["train", "gan", "--data", str(folder), "--image-size", "8", "--steps", "1", "--batch-size", "4",
                 "--hidden", "8", "--n-eval", "4", "--quiet", "--no-crop", "--cache-dir", str(tmp_path / "c"),
                 "--out", str(tmp_path / "run")]) == 0
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["center_crop"] is None and saved["cache_dir"] == str(tmp_path / "c")
    assert any("nocrop" in name for name in os.listdir(tmp_path / "c"))
