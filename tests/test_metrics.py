"""FID-HOG and reconstruction MSE."""

import cv2
import numpy as np
import pytest

from minigan.data import load_lfw_subset
from minigan.metrics import fid_hog, frechet_distance, hog_features, reconstruction_mse


def test_frechet_distance_of_diagonal_gaussians_has_closed_form():
    # for diagonal covariances: |m1 - m2|² + Σ (√a_i − √b_i)²
    m1, m2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
    expected = 1.0 + 0.0 + 4.0 + (1 - 2) ** 2 + (2 - 1) ** 2 + (3 - 0.5) ** 2
    assert frechet_distance(m1, np.diag(a), m2, np.diag(b)) == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_is_rotation_invariant(rng):
    q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    x, y = rng.standard_normal((4, 4)), rng.standard_normal((4, 4))
    s1, s2 = x @ x.T, y @ y.T
    m1, m2 = rng.standard_normal(4), rng.standard_normal(4)
    assert frechet_distance(q @ m1, q @ s1 @ q.T, q @ m2, q @ s2 @ q.T) == pytest.approx(
        frechet_distance(m1, s1, m2, s2), rel=1e-8)


def test_hog_features_shape_and_value_range_invariance():
    images = np.random.default_rng(0).random((5, 1, 25, 25)).astype(np.float32)
    unit = hog_features(images, (0.0, 1.0))
    assert unit.shape == (5, 36)
    np.testing.assert_allclose(hog_features(2 * images - 1, (-1.0, 1.0)), unit, atol=1e-6)
    with pytest.raises(ValueError, match="N, C, H, W"):
        hog_features(images[0])


def test_fid_hog_orders_held_out_faces_before_noise_and_blur():
    faces = load_lfw_subset(image_size=32)
    a, b = faces.split(0.5, seed=0)
    noise = np.random.default_rng(1).uniform(-1, 1, a.images.shape).astype(np.float32)
    assert fid_hog(a.images, a.images) == pytest.approx(0.0, abs=1e-6)
    held_out = fid_hog(a.images, b.images)
    assert held_out < fid_hog(noise, b.images)
    blurred = np.stack([cv2.GaussianBlur(image[0], (0, 0), 3.0)[None] for image in a.images])
    assert held_out < fid_hog(blurred, b.images)


def test_reconstruction_mse():
    assert reconstruction_mse(np.zeros((2, 1, 2, 2)), np.full((2, 1, 2, 2), 0.5)) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="shape mismatch"):
        reconstruction_mse(np.zeros(3), np.zeros(4))
