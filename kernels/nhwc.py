"""Copies between NCHW batches and zero-padded NHWC chunks, the layout of the convolutions' fast paths
(`conv2d`'s im2col and `winograd`'s tiles): in NHWC a pixel's channels are one contiguous run."""

from numba import njit


@njit(cache=True, nogil=True)
def to_padded_nhwc(x, padding, x_pad):
    """x_pad[n, h + ph, w + pw, c] = x[n, c, h, w], and zero everywhere else (x_pad may extend
    beyond the bottom/right padding: those rows and columns are zero too). Plane by plane:
    x is read in order and scattered into the chunk's x_pad (which stays in L2); writing x_pad in
    order instead would make the reads jump a whole plane per channel."""
    n_img, channels, height, width = x.shape
    ph, pw = padding
    for n in range(n_img):
        x_pad[n, :ph] = 0
        x_pad[n, height + ph:] = 0
        x_pad[n, :, :pw] = 0
        x_pad[n, :, width + pw:] = 0
        for c in range(channels):
            for h in range(height):
                for w in range(width):
                    x_pad[n, h + ph, w + pw, c] = x[n, c, h, w]


@njit(cache=True, nogil=True)
def from_padded_nhwc(x_pad, padding, x):
    """x[n, c, h, w] = x_pad[n, h + ph, w + pw, c]: the interior of a padded NHWC array, as NCHW,
    written plane by plane (the mirror of `to_padded_nhwc`)."""
    n_img, channels, height, width = x.shape
    ph, pw = padding
    for n in range(n_img):
        for c in range(channels):
            for h in range(height):
                for w in range(width):
                    x[n, c, h, w] = x_pad[n, h + ph, w + pw, c]
