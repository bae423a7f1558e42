"""Cartoon faces with a known expression, for testing and demonstrating the probes (no downloads).

Each face is drawn with OpenCV at 4x the target size and shrunk with area averaging (smooth
edges): a bright elliptical head on a dark background, two dark eyes, and a mouth that is the
parabola ``y = y_mouth + c · depth · (1 - (x / half_width)²)`` with curvature ``c`` = +1 (smile:
the middle lower than the corners, image y pointing down), 0 (neutral) or -1 (frown). Head
position, size, brightness and mouth width vary at random, and Gaussian pixel noise is added,
so the only thing that tells the classes apart is the mouth's curvature.
"""

import os

import cv2
import numpy as np

EXPRESSIONS = {"smile": 1.0, "neutral": 0.0, "frown": -1.0}
SUPERSAMPLE = 4


def draw_face(size, expression, rng, noise=0.05):
    """One ``(size, size)`` float32 face in [0, 1] with ``expression`` in ``EXPRESSIONS``."""
    if expression not in EXPRESSIONS:
        raise ValueError(f"unknown expression {expression!r}; expected one of {', '.join(EXPRESSIONS)}")
    big = size * SUPERSAMPLE
    canvas = np.full((big, big), rng.uniform(0.05, 0.2), dtype=np.float32)
    cx, cy = big * (0.5 + rng.uniform(-0.08, 0.08)), big * (0.5 + rng.uniform(-0.08, 0.08))
    half_w = big * rng.uniform(0.26, 0.34)
    half_h = half_w * rng.uniform(1.1, 1.3)
    cv2.ellipse(canvas, (round(cx), round(cy)), (round(half_w), round(half_h)), 0, 0, 360,
                float(rng.uniform(0.6, 0.9)), -1)
    eye_radius = max(round(0.12 * half_w), 1)
    for side in (-1, 1):
        cv2.circle(canvas, (round(cx + side * 0.4 * half_w), round(cy - 0.3 * half_h)), eye_radius, 0.1, -1)
    mouth_half = half_w * rng.uniform(0.45, 0.6)
    x = np.linspace(-mouth_half, mouth_half, 21)
    y = cy + 0.35 * half_h + EXPRESSIONS[expression] * 0.3 * half_h * (1.0 - (x / mouth_half) ** 2)
    points = np.round(np.stack([cx + x, y], axis=1)).astype(np.int32)
    cv2.polylines(canvas, [points], False, 0.1, max(round(0.14 * half_w), 1))
    small = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    return np.clip(small + rng.normal(0.0, noise, small.shape), 0.0, 1.0).astype(np.float32)


def expression_faces(per_class, size=32, expressions=("smile", "frown"), seed=0):
    """``(images (N, 1, size, size) in [0, 1], labels (N,))``, ``per_class`` faces per expression, label
    ``i`` for ``expressions[i]``."""
    if per_class < 1:
        raise ValueError(f"per_class must be positive, got {per_class}")
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(expressions)), per_class)
    images = np.stack([draw_face(size, expressions[label], rng)[None] for label in labels])
    return images, labels


def write_expression_folder(root, per_class, size=64, expressions=("smile", "frown"), seed=0):
    """Write ``root/<expression>/<index>.png`` (8-bit grayscale): a labelled folder for ``minigan probe``."""
    images, labels = expression_faces(per_class, size, expressions, seed)
    for index, (image, label) in enumerate(zip(images, labels)):
        folder = os.path.join(root, expressions[label])
        os.makedirs(folder, exist_ok=True)
        cv2.imwrite(os.path.join(folder, f"{index:04d}.png"), np.round(image[0] * 255.0).astype(np.uint8))
    return root
