"""Datasets (embedded LFW subset, image folders) and the seeded batch iterator."""

import os
import warnings

import cv2
import numpy as np
import pytest
from skimage.data import lfw_subset

from minigan.data import DataLoader, load_dataset, load_image_folder, load_lfw_subset, to_unit_range, value_range_for


def test_lfw_subset_faces_resized_and_scaled_to_tanh_range():
    data = load_lfw_subset(image_size=32)
    assert data.images.shape == (100, 1, 32, 32) and data.images.dtype == np.float32
    expected = 2.0 * cv2.resize(lfw_subset()[3].astype(np.float32), (32, 32), interpolation=cv2.INTER_LINEAR) - 1.0
    np.testing.assert_allclose(data.images[3, 0], np.clip(expected, -1, 1), atol=1e-6)
    assert data.classes == ["face"] and (data.labels == 0).all()


def test_lfw_subset_sigmoid_range_rgb_and_nonfaces():
    data = load_lfw_subset(image_size=16, channels=3, value_range=(0.0, 1.0), include_nonfaces=True)
    assert data.images.shape == (200, 3, 16, 16)
    assert data.images.min() >= 0.0 and data.images.max() <= 1.0
    np.testing.assert_array_equal(data.images[:, 0], data.images[:, 2])
    assert data.classes == ["face", "nonface"]
    assert (data.labels[:100] == 0).all() and (data.labels[100:] == 1).all()


def test_value_range_for_activation():
    assert value_range_for("tanh") == (-1.0, 1.0) and value_range_for("sigmoid") == (0.0, 1.0)
    with pytest.raises(ValueError, match="relu"):
        value_range_for("relu")


def _write(path, image):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert cv2.imwrite(path, image)


@pytest.fixture
def folder(tmp_path):
    red = np.zeros((20, 30, 3), np.uint8)
    red[:, :, 2] = 255  # OpenCV stores BGR: this is pure red
    _write(str(tmp_path / "alice" / "alice_0001.png"), red)
    _write(str(tmp_path / "alice" / "alice_0002.png"), red)
    _write(str(tmp_path / "bob" / "bob_0001.jpg"), np.full((40, 40, 3), 128, np.uint8))
    (tmp_path / "bob" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (tmp_path / "bob" / "notes.txt").write_text("hello")
    return tmp_path


def test_image_folder_labels_rgb_and_one_warning_counting_skipped_files(folder):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_image_folder(str(folder), image_size=8, channels=3, value_range=(0.0, 1.0))
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "skipped 2" in messages[0] and str(folder) in messages[0]
    assert data.images.shape == (3, 3, 8, 8)
    assert data.classes == ["alice", "bob"] and list(data.labels) == [0, 0, 1]
    np.testing.assert_allclose(data.images[0, 0], 1.0)  # red channel first
    np.testing.assert_allclose(data.images[0, 1:], 0.0)
    np.testing.assert_allclose(data.images[2], 128 / 255, atol=2 / 255)


def test_image_folder_center_crop(tmp_path):
    image = np.zeros((40, 60), np.uint8)
    image[10:30, 20:40] = 255  # a white 20x20 square in the middle of a black frame
    _write(str(tmp_path / "x.png"), image)
    cropped = load_image_folder(str(tmp_path), image_size=10, center_crop=20, value_range=(0.0, 1.0))
    whole = load_image_folder(str(tmp_path), image_size=10, value_range=(0.0, 1.0))
    np.testing.assert_allclose(cropped.images, 1.0)
    assert whole.images.min() == 0.0
    assert cropped.classes == [os.path.basename(str(tmp_path))]


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_image_folder(str(tmp_path / "nowhere"))
    (tmp_path / "readme.txt").write_text("no images here")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=str(tmp_path)):
            load_dataset(str(tmp_path))


def test_loader_visits_every_image_once_per_epoch_and_is_seeded():
    images = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1)
    loader = DataLoader(images, 3, drop_last=False, seed=5)
    assert len(loader) == 4
    seen = np.concatenate([batch.ravel() for batch in loader])
    assert sorted(seen) == list(range(10)) and list(seen) != list(range(10))
    again = DataLoader(images, 3, drop_last=False, seed=5)
    np.testing.assert_array_equal(np.concatenate([b.ravel() for b in again]), seen)
    other = DataLoader(images, 3, drop_last=False, seed=6)
    assert list(np.concatenate([b.ravel() for b in other])) != list(seen)


def test_loader_drop_last_and_batch_size_errors():
    images = np.zeros((10, 1, 2, 2), np.float32)
    loader = DataLoader(images, 4)
    assert len(loader) == 2 and all(len(b) == 4 for b in loader)
    with pytest.raises(ValueError, match="larger than the dataset"):
        DataLoader(images, 11)
    with pytest.raises(ValueError, match="positive"):
        DataLoader(images, 0)


def test_loader_state_dict_resumes_the_same_stream():
    images = np.random.default_rng(0).standard_normal((7, 1, 2, 3)).astype(np.float32)
    loader = DataLoader(images, 2, flip=True, seed=1)
    for _ in range(4):
        loader.next_batch()
    state = loader.state_dict()
    expected = [loader.next_batch() for _ in range(5)]
    resumed = DataLoader(images, 2, flip=True, seed=1)
    resumed.load_state_dict(state)
    for batch in expected:
        np.testing.assert_array_equal(resumed.next_batch(), batch)


def test_loader_flip_mirrors_some_images_and_keeps_the_source():
    images = np.random.default_rng(0).standard_normal((16, 1, 3, 4)).astype(np.float32)
    original = images.copy()
    batch = DataLoader(images, 16, shuffle=False, flip=True, seed=0).next_batch()
    flipped = [not np.array_equal(b, o) for b, o in zip(batch, original)]
    for b, o, was_flipped in zip(batch, original, flipped):
        np.testing.assert_array_equal(b, o[..., ::-1] if was_flipped else o)
    assert 0 < sum(flipped) < 16
    np.testing.assert_array_equal(images, original)


def test_loader_returns_labels_with_images():
    images = np.arange(6, dtype=np.float32).reshape(6, 1, 1, 1)
    batch, labels = DataLoader(images, 6, labels=np.arange(6) * 10, seed=2).next_batch()
    np.testing.assert_array_equal(batch.ravel() * 10, labels)


def test_split_and_unit_range():
    data = load_lfw_subset(image_size=8)
    a, b = data.split(0.5, seed=0)
    assert len(a) == len(b) == 50
    assert not any(np.array_equal(x, y) for x in a.images[:5] for y in b.images)
    np.testing.assert_allclose(to_unit_range(np.array([-1.0, 0.0, 1.0, 3.0]), (-1, 1)), [0, 0.5, 1, 1])
