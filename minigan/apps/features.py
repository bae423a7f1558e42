"""Feature extractors shared by the applications: images ``(N, C, H, W)`` in [0, 1] -> vectors ``(N, D)``.

Every extractor is unsupervised: it never sees a label. The applications keep images in [0, 1]
and map them to a model's own pixel range (``lo + (hi - lo) u``) just before the model sees them.

- ``pixel_features``: the raw pixels, flattened.
- ``pca_features`` ("eigenfaces"): centre the pixel vectors, take the SVD ``X - mean = U S Vᵀ``;
  the rows of ``Vᵀ`` are the eigenfaces and the features are the projections ``(X - mean) V_k``
  on the first ``k`` of them (``U_k S_k``).
- ``hog_features``: scikit-image's histogram of oriented gradients on the grayscale image
  (9 orientations, 8x8-pixel cells, 2x2-cell blocks, L2-Hys), a descriptor of edge directions.
- ``encoder_features``: the code ``z = encoder(x)`` of an autoencoder, the mean ``mu`` of a VAE.
- ``discriminator_features``: the activations of a GAN discriminator just before its last
  (linear or convolutional) layer, flattened: what the final real/fake logit is a linear function of.
"""

import numpy as np
from skimage.feature import hog

import minigan as mg
from minigan import nn

HOG_OPTIONS = {"orientations": 9, "pixels_per_cell": (8, 8), "cells_per_block": (2, 2), "block_norm": "L2-Hys"}
BATCH = 256


def check_images(images):
    """Images as a float32 ``(N, C, H, W)`` array; a clear ValueError otherwise."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"expected a non-empty image array of shape (N, C, H, W), got {images.shape}")
    return images


def pixel_features(images):
    """``(N, C*H*W)`` float64: the pixels of each image in one row."""
    images = check_images(images)
    return images.reshape(len(images), -1).astype(np.float64)


def pca_features(images, components=64):
    """Projections on the first ``components`` eigenfaces: ``(X - mean) V_k`` with ``X - mean = U S Vᵀ``."""
    pixels = pixel_features(images)
    centred = pixels - pixels.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    k = min(components, vt.shape[0])
    return centred @ vt[:k].T


def hog_features(images):
    """``(N, D)`` HOG descriptors of the grayscale (channel-averaged) images, ``HOG_OPTIONS``."""
    gray = check_images(images).mean(axis=1)
    return np.asarray([hog(image, feature_vector=True, **HOG_OPTIONS) for image in gray], dtype=np.float64)


def to_model_range(images, model):
    """Images in [0, 1] mapped to the model's pixel range ``value_range = (lo, hi)``: ``lo + (hi - lo) u``."""
    lo, hi = model.value_range
    return (lo + (hi - lo) * check_images(images)).astype(np.float32)


def _batched(function, images, batch=BATCH):
    """``function`` (Tensor -> Tensor) applied without gradients, batch by batch; rows flattened, float64."""
    rows = []
    with mg.no_grad():
        for start in range(0, len(images), batch):
            rows.append(function(mg.tensor(images[start:start + batch])).numpy().reshape(
                min(batch, len(images) - start), -1))
    return np.concatenate(rows).astype(np.float64)


def encoder_features(model, images):
    """The code ``encoder(x)`` of an AE, or the posterior mean ``mu`` of a VAE (``encode`` returns (mu, logvar))."""

    def code(x):
        z = model.encode(x)
        return z[0] if isinstance(z, tuple) else z

    model.eval()
    return _batched(code, to_model_range(images, model))


def leaf_modules(module):
    """The layers of nested ``Sequential`` containers, in the order they run."""
    if isinstance(module, nn.Sequential):
        return [leaf for child in module for leaf in leaf_modules(child)]
    return [module]


def penultimate_body(discriminator):
    """The discriminator's layers before its last Linear/Conv2d layer, as one ``Sequential``."""
    layers = leaf_modules(discriminator)
    weighted = [i for i, layer in enumerate(layers) if isinstance(layer, (nn.Linear, nn.Conv2d))]
    if not weighted:
        raise ValueError(f"{type(discriminator).__name__} has no Linear or Conv2d layer to cut before")
    return nn.Sequential(*layers[:weighted[-1]])


def discriminator_features(gan, images):
    """Flattened activations of ``gan.discriminator`` just before its final Linear/Conv2d layer."""
    gan.eval()
    return _batched(penultimate_body(gan.discriminator), to_model_range(images, gan))
