"""Sample-quality numbers that need no downloads.

FID-HOG: the Fréchet distance between Gaussians fitted to HOG features of two image sets.
The feature space is fixed (``HOG_PARAMS``): each image is mapped to [0, 1], averaged to
grayscale, resized to 32x32 with OpenCV (area interpolation when shrinking, bilinear when
growing), and described by scikit-image's ``hog`` with 9 orientations, 16x16-pixel cells,
1x1-cell blocks and L2-Hys block normalisation: a 2x2-cell grid, a 36-dimensional vector.
(Few dimensions on purpose: with ~100 images per set, a larger descriptor's covariance is
dominated by sampling noise and real held-out faces score close to random noise.)

For feature sets with means ``m1, m2`` and covariances ``S1, S2``::

    FD = |m1 - m2|^2 + tr(S1) + tr(S2) - 2 tr( (S1^½ S2 S1^½)^½ )

``S1^½ S2 S1^½`` is symmetric positive semi-definite, so both square roots come from ``eigh``
(negative round-off eigenvalues are clipped to 0). Lower is better; 0 means identical
Gaussians. Like FID, the number is biased upwards for small sample counts, so compare only
values computed with the same numbers of images.
"""

import cv2
import numpy as np
from skimage.feature import hog

from minigan.data import to_unit_range

HOG_SIZE = 32
HOG_PARAMS = {"orientations": 9, "pixels_per_cell": (16, 16), "cells_per_block": (1, 1), "block_norm": "L2-Hys"}


def hog_features(images, value_range=(-1.0, 1.0)):
    """HOG descriptors ``(N, 36)`` float64 of images ``(N, C, H, W)`` with pixels in ``value_range``."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got {images.shape}")
    gray = to_unit_range(images, value_range).mean(axis=1)
    features = []
    for image in gray:
        h, w = image.shape
        interpolation = cv2.INTER_AREA if min(h, w) > HOG_SIZE else cv2.INTER_LINEAR
        resized = cv2.resize(image, (HOG_SIZE, HOG_SIZE), interpolation=interpolation)
        features.append(hog(resized, feature_vector=True, **HOG_PARAMS))
    return np.asarray(features, dtype=np.float64)


def _sqrt_psd(matrix):
    """Square root of a symmetric positive semi-definite matrix: V diag(sqrt(max(λ, 0))) Vᵀ."""
    eigenvalues, eigenvectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T


def frechet_distance(mean1, cov1, mean2, cov2):
    """``|m1 - m2|^2 + tr(S1) + tr(S2) - 2 tr((S1^½ S2 S1^½)^½)`` for two Gaussians."""
    root1 = _sqrt_psd(cov1)
    cross = _sqrt_psd(root1 @ cov2 @ root1)
    difference = mean1 - mean2
    return float(difference @ difference + np.trace(cov1) + np.trace(cov2) - 2.0 * np.trace(cross))


def _gaussian(features):
    if len(features) < 2:
        raise ValueError(f"need at least 2 images to fit a covariance, got {len(features)}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def fid_hog(images_a, images_b, value_range=(-1.0, 1.0)):
    """FID-HOG between two image sets ``(N, C, H, W)`` with pixels in ``value_range``."""
    mean_a, cov_a = _gaussian(hog_features(images_a, value_range))
    mean_b, cov_b = _gaussian(hog_features(images_b, value_range))
    return frechet_distance(mean_a, cov_a, mean_b, cov_b)


def reconstruction_mse(originals, reconstructions):
    """Mean over all pixels of ``(x - x̂)²``, both arrays in the same value range."""
    originals, reconstructions = np.asarray(originals), np.asarray(reconstructions)
    if originals.shape != reconstructions.shape:
        raise ValueError(f"shape mismatch: {originals.shape} vs {reconstructions.shape}")
    return float(np.mean((originals.astype(np.float64) - reconstructions.astype(np.float64)) ** 2))


def fid_hog_calibration(image_size=32, blur_sigma=1.5, seed=0):
    """FID-HOG of reference image sets against LFW-subset faces, to tell what a number means.

    The 100 faces are split in two random halves A and B (50 each); returned are
    ``held_out`` = FD(A, B), ``blurred`` = FD(A blurred with a Gaussian of ``blur_sigma``
    pixels, B) and ``noise`` = FD(50 uniform-noise images, B) -- all at equal set sizes -- and,
    in the setting of a training run (``n_eval`` = 200 generated images against the 100
    training faces), ``noise_vs_train`` and ``blurred_vs_train`` (the 100 faces blurred).
    """
    from minigan.data import load_lfw_subset

    dataset = load_lfw_subset(image_size=image_size)
    faces = dataset.images
    half_a, half_b = dataset.split(0.5, seed=seed)
    rng = np.random.default_rng(seed)

    def blurred(images):
        return np.stack([cv2.GaussianBlur(image[0], (0, 0), blur_sigma)[None] for image in images])

    def noise(count):
        return rng.uniform(-1.0, 1.0, (count, 1, image_size, image_size)).astype(np.float32)

    return {
        "held_out": fid_hog(half_a.images, half_b.images),
        "blurred": fid_hog(blurred(half_a.images), half_b.images),
        "noise": fid_hog(noise(len(half_a)), half_b.images),
        "blurred_vs_train": fid_hog(blurred(faces), faces),
        "noise_vs_train": fid_hog(noise(200), faces),
    }
