"""Winograd F(2x2, 2x2) convolution, the fast path for kernels of twice the stride (DCGAN's 4x4, stride 2).

Space-to-depth. With stride s and kernel 2s, the padded NHWC input viewed as
    xs[n, a, b, (u*sw + v)*C + c] = x_pad[n, sh*a + u, sw*b + v, c]        (E = sh*sw*C channels)
turns the convolution into a stride-1, 2x2 one:
    y[n, ho, wo, o] = sum_{t, q in {0, 1}} sum_e xs[n, ho + t, wo + q, e] * Ws[t, q, e, o],
    Ws[t, q, (u*sw + v)*C + c, o] = weight[o, c, sh*t + u, sw*q + v].

Minimal filtering. Two outputs of a 2-tap correlation, y_r = d[r] g[0] + d[r + 1] g[1], take three
products instead of four:
    m0 = (d0 - d1) g0,   m1 = d1 (g0 + g1),   m2 = (d2 - d1) g1;      y0 = m0 + m1,   y1 = m1 + m2,
that is y = A^T [(G g) * (B^T d)] with B^T = [[1, -1, 0], [0, 1, 0], [0, -1, 1]],
G = [[1, 0], [1, 1], [0, 1]] and A^T = [[1, 1, 0], [0, 1, 1]]. Nested in both dimensions, a 2x2
output tile takes 9 products instead of 16, and summed over channels each product is a GEMM:
    V[ab] = (B^T d B)[a, b]  (tiles, E),   U[ab] = (G Ws G^T)[a, b]  (E, O),
    M[ab] = V[ab] @ U[ab]  (tiles, O),     y tile = A^T M A.
So the GEMMs do 9/16 of im2col's multiply-adds, and the input is copied ~2.25x its size (V) instead
of 4x (the column matrix). The transforms only add and subtract, so the rounding is that of
reordered sums. U is stored transposed, `u_filter[ab] = U[ab]^T` (O, E), so that the filter
transform writes its rows in order.

The three passes are all this one correlation:
* forward: data x (stride s), filter U, output y.
* backward-data: the adjoint of the forward algorithm, tile by tile: the tile of grad_y transformed
  by G on both sides (A^T's transpose is G), M[ab] = (G g G^T)[ab] @ U[ab]^T, and B M B^T
  scatter-added into the 3x3 block of grad_xs that the tile read (neighbouring blocks share a row
  or column). Same tiles and multiply-adds as the forward; grad_xs viewed through the
  space-to-depth is grad_x_pad.
* backward-weight: grad_Ws[t, q] = sum over pixels of xs[ho + t, wo + q]^T g[ho, wo]: per 2x2 tile of
  grad_y a correlation of the same data tiles V with the tile of grad_y as its filter:
  grad_Ws = A^T (sum over tiles of V[ab]^T @ (G g G^T)[ab]) A.

Work is done per chunk of images on the threads of `kernels/chunks.py`, like the im2col path.
"""

import numpy as np
from numba import njit, prange

from minigan.kernels.chunks import over_image_chunks, scratch, sum_in_chunk_order
from minigan.kernels.nhwc import from_padded_nhwc, to_padded_nhwc

MIN_CHANNELS = 32   # E = sh*sw*C below this (DCGAN's 3-channel images: 12) leaves im2col faster:
                    # the GEMMs are too thin for the transforms to pay


def applies(kernel_hw, stride, dilation, channels):
    """Whether the Winograd path computes this convolution: kernel = 2 x stride, no dilation, E >= MIN_CHANNELS."""
    return (tuple(dilation) == (1, 1) and tuple(kernel_hw) == (2 * stride[0], 2 * stride[1])
            and stride[0] * stride[1] * channels >= MIN_CHANNELS)


# ----------------------------------------------------------------------------- the 2-D transforms of one tile

@njit(cache=True, inline="always")
def _data_transform(d00, d01, d02, d10, d11, d12, d20, d21, d22):
    """B^T d B of a 3x3 block (row-major in and out): B^T d = (d0 - d1, d1, d2 - d1) down the rows, then along the columns."""
    r00, r01, r02 = d00 - d10, d01 - d11, d02 - d12
    r20, r21, r22 = d20 - d10, d21 - d11, d22 - d12
    return (r00 - r01, r01, r02 - r01, d10 - d11, d11, d12 - d11, r20 - r21, r21, r22 - r21)


@njit(cache=True, inline="always")
def _data_transform_adjoint(m):
    """B M B^T of a 3x3 block: B M = (M0, M1 - M0 - M2, M2) down the rows, then along the columns."""
    m0, m1, m2, m3, m4, m5, m6, m7, m8 = m
    r10, r11, r12 = m3 - m0 - m6, m4 - m1 - m7, m5 - m2 - m8
    return (m0, m1 - m0 - m2, m2, r10, r11 - r10 - r12, r12, m6, m7 - m6 - m8, m8)


@njit(cache=True, inline="always")
def _filter_transform(g00, g01, g10, g11):
    """G g G^T of a 2x2 block (3x3 out): G g = (g0, g0 + g1, g1) down the rows, then along the columns."""
    h10, h11 = g00 + g10, g01 + g11
    return (g00, g00 + g01, g01, h10, h10 + h11, h11, g10, g10 + g11, g11)


@njit(cache=True, inline="always")
def _output_transform(m):
    """A^T M A of a 3x3 block (2x2 out): A^T M = (M0 + M1, M1 + M2) down the rows, then along the columns."""
    m0, m1, m2, m3, m4, m5, m6, m7, m8 = m
    s0, s1, s2 = m0 + m3, m1 + m4, m2 + m5
    t0, t1, t2 = m3 + m6, m4 + m7, m5 + m8
    return s0 + s1, s1 + s2, t0 + t1, t1 + t2


@njit(cache=True, inline="always")
def _put9(out, row, col, values):
    """out[ab, row, col] = values[ab] for the nine transformed values of one tile."""
    out[0, row, col], out[1, row, col], out[2, row, col] = values[0], values[1], values[2]
    out[3, row, col], out[4, row, col], out[5, row, col] = values[3], values[4], values[5]
    out[6, row, col], out[7, row, col], out[8, row, col] = values[6], values[7], values[8]


@njit(cache=True, inline="always")
def _get9(m, row, col):
    """The nine values (m[ab, row, col] for ab = 0..8) of one tile."""
    return (m[0, row, col], m[1, row, col], m[2, row, col], m[3, row, col], m[4, row, col],
            m[5, row, col], m[6, row, col], m[7, row, col], m[8, row, col])


# ----------------------------------------------------------------------------- jitted passes over a chunk

@njit(cache=True, nogil=True)
def _walk_input_tiles(x_pad, v, stride, tiles_hw, to_tiles):
    """The map between a padded NHWC chunk and its data tiles: tile (n, P, Q) is the 3x3 block d[i, j] = the
    E-vector at (2P + i, 2Q + j) of x_pad's space-to-depth view, x_s2d[n, i, j, (u*sw + v)*C + c] =
    x_pad[n, sh*i + u, sw*j + v, c] (for each row offset u, a run of sw*C contiguous floats). With
    `to_tiles`, v[3*a + b, (n*Th + P)*Tw + Q, e] = (B^T d B)[a, b]; otherwise the adjoint, x_pad's block
    += B M B^T with M[a, b] = v[3*a + b, tile] (blocks of neighbouring tiles share a row or column)."""
    n_img, height, width, channels = x_pad.shape
    sh, sw = stride
    tiles_h, tiles_w = tiles_hw
    run = sw * channels
    rows = x_pad.reshape(n_img, height, width * channels)
    for n in range(n_img):
        for p in range(tiles_h):
            for q in range(tiles_w):
                tile = (n * tiles_h + p) * tiles_w + q
                c0, c1, c2 = 2 * q * run, (2 * q + 1) * run, (2 * q + 2) * run
                for u in range(sh):
                    r0, r1, r2 = rows[n, sh * 2 * p + u], rows[n, sh * (2 * p + 1) + u], rows[n, sh * (2 * p + 2) + u]
                    if to_tiles:
                        for k in range(run):
                            _put9(v, tile, u * run + k, _data_transform(r0[c0 + k], r0[c1 + k], r0[c2 + k], r1[c0 + k],
                                                                        r1[c1 + k], r1[c2 + k], r2[c0 + k], r2[c1 + k],
                                                                        r2[c2 + k]))
                    else:
                        for k in range(run):
                            d = _data_transform_adjoint(_get9(v, tile, u * run + k))
                            r0[c0 + k] += d[0]
                            r0[c1 + k] += d[1]
                            r0[c2 + k] += d[2]
                            r1[c0 + k] += d[3]
                            r1[c1 + k] += d[4]
                            r1[c2 + k] += d[5]
                            r2[c0 + k] += d[6]
                            r2[c1 + k] += d[7]
                            r2[c2 + k] += d[8]


@njit(cache=True, nogil=True)
def _input_tiles(x_pad, stride, tiles_hw, v):
    """v[3*a + b, tile, e] = (B^T d B)[a, b] of each tile's 3x3 block of x_pad (`_walk_input_tiles`)."""
    _walk_input_tiles(x_pad, v, stride, tiles_hw, True)


@njit(cache=True, nogil=True)
def _scatter_input_tiles(m, stride, tiles_hw, grad_x_pad):
    """The adjoint of `_input_tiles`: grad_x_pad = the sum over tiles of B M B^T placed on each tile's 3x3
    block, M[a, b] = m[3*a + b, tile]."""
    grad_x_pad[...] = 0
    _walk_input_tiles(grad_x_pad, m, stride, tiles_hw, False)


@njit(cache=True, nogil=True)
def _output_tiles(m, bias, tiles_hw, dst):
    """dst[n, 2P + r, 2Q + t, o] = (A^T M A)[r, t] + bias[o], M[a, b] = m[3*a + b, (n*Th + P)*Tw + Q, o]."""
    tiles_h, tiles_w = tiles_hw
    for n in range(dst.shape[0]):
        for p in range(tiles_h):
            for q in range(tiles_w):
                tile = (n * tiles_h + p) * tiles_w + q
                for o in range(dst.shape[3]):
                    y00, y01, y10, y11 = _output_transform(_get9(m, tile, o))
                    dst[n, 2 * p, 2 * q, o] = y00 + bias[o]
                    dst[n, 2 * p, 2 * q + 1, o] = y01 + bias[o]
                    dst[n, 2 * p + 1, 2 * q, o] = y10 + bias[o]
                    dst[n, 2 * p + 1, 2 * q + 1, o] = y11 + bias[o]


@njit(cache=True, nogil=True)
def _gradient_tiles(g_nhwc, tiles_hw, gg):
    """gg[3*a + b, (n*Th + P)*Tw + Q, o] = (G g G^T)[a, b] for the 2x2 tile g[r, t] = g_nhwc[n, 2P + r, 2Q + t, o]
    (grad_y as NHWC, zero past its end up to 2*Th x 2*Tw)."""
    tiles_h, tiles_w = tiles_hw
    for n in range(g_nhwc.shape[0]):
        for p in range(tiles_h):
            for q in range(tiles_w):
                tile = (n * tiles_h + p) * tiles_w + q
                top, bottom = g_nhwc[n, 2 * p], g_nhwc[n, 2 * p + 1]
                for o in range(g_nhwc.shape[3]):
                    _put9(gg, tile, o, _filter_transform(top[2 * q, o], top[2 * q + 1, o], bottom[2 * q, o], bottom[2 * q + 1, o]))


@njit(cache=True, parallel=True)
def _weight_tiles(weight, stride, u_filter):
    """u_filter[3*a + b, o, (u*sw + v)*C + c] = (G w G^T)[a, b] for the 2x2 taps w[t, q] = weight[o, c, sh*t + u, sw*q + v].
    On all threads: for DCGAN's 256 -> 512 layer it writes 19 MB."""
    out_c, channels = weight.shape[:2]
    sh, sw = stride
    for o in prange(out_c):
        for u in range(sh):
            for v in range(sw):
                for c in range(channels):
                    _put9(u_filter, o, (u * sw + v) * channels + c, _filter_transform(
                        weight[o, c, u, v], weight[o, c, u, sw + v], weight[o, c, sh + u, v], weight[o, c, sh + u, sw + v]))


@njit(cache=True, nogil=True)
def _weight_from_tiles(m, stride, grad_w):
    """The adjoint of `_weight_tiles` read as the backward-weight output transform:
    grad_w[o, c, sh*t + u, sw*q + v] = (A^T M A)[t, q], M[a, b] = m[3*a + b, o, (u*sw + v)*C + c]."""
    out_c, channels = grad_w.shape[:2]
    sh, sw = stride
    for o in range(out_c):
        for u in range(sh):
            for v in range(sw):
                for c in range(channels):
                    w00, w01, w10, w11 = _output_transform(_get9(m, o, (u * sw + v) * channels + c))
                    grad_w[o, c, u, v], grad_w[o, c, u, sw + v] = w00, w01
                    grad_w[o, c, sh + u, v], grad_w[o, c, sh + u, sw + v] = w10, w11


# ----------------------------------------------------------------------------- geometry

def _filter(weight, stride):
    """U (9, O, E): `_weight_tiles` of the weight."""
    u_filter = np.empty((9, weight.shape[0], stride[0] * stride[1] * weight.shape[1]), dtype=weight.dtype)
    _weight_tiles(np.ascontiguousarray(weight), stride, u_filter)
    return u_filter


def _tiles(length):
    """2x2 tiles cover `length` outputs: ceil(length / 2)."""
    return (length + 1) // 2


def _input_extent(x_hw, padding, stride, tiles_hw):
    """Height and width of the padded NHWC chunk: the input with its top/left padding, extended with
    zeros to the 2*T + 1 space-to-depth rows (and columns) that the tiles read."""
    return tuple(max(x_hw[d] + padding[d], stride[d] * (2 * tiles_hw[d] + 1)) for d in range(2))


# ----------------------------------------------------------------------------- the three passes

def forward(x, weight, bias, stride, padding, out_hw, y):
    """y (N, O, Ho, Wo) = the convolution of x with weight, plus bias: per chunk, V from x, M[ab] = V[ab] @ U[ab],
    and the output tiles A^T M A."""
    out_c, channels = weight.shape[:2]
    tiles_hw = (_tiles(out_hw[0]), _tiles(out_hw[1]))
    u_filter = _filter(weight, stride)
    extent = _input_extent(x.shape[2:], padding, stride, tiles_hw)
    x = np.ascontiguousarray(x)

    def work(n0, n1):
        n = n1 - n0
        v = _chunk_input_tiles(x, n0, n1, stride, padding, tiles_hw, extent)
        m = scratch("m", (9, v.shape[1], out_c), x.dtype)
        for ab in range(9):
            np.matmul(v[ab], u_filter[ab].T, out=m[ab])
        y_tiles = scratch("y_tiles", (n, 2 * tiles_hw[0], 2 * tiles_hw[1], out_c), x.dtype)
        _output_tiles(m, bias, tiles_hw, y_tiles)
        from_padded_nhwc(y_tiles, (0, 0), y[n0:n1])

    over_image_chunks(x.shape[0], _chunk_bytes(tiles_hw, max(u_filter.shape[2], out_c), x.itemsize), work)
    return y


def backward_data(grad_y, weight, stride, padding, grad_x):
    """grad_x (N, C, H, W) = the adjoint of `forward` in x: per chunk, M[ab] = (G g G^T)[ab] @ U[ab]^T and
    the blocks B M B^T scatter-added into the padded NHWC gradient."""
    out_c, channels = weight.shape[:2]
    tiles_hw = (_tiles(grad_y.shape[2]), _tiles(grad_y.shape[3]))
    u_filter = _filter(weight, stride)
    extent = _input_extent(grad_x.shape[2:], padding, stride, tiles_hw)
    grad_y = np.ascontiguousarray(grad_y)

    def work(n0, n1):
        gg = _chunk_gradient_tiles(grad_y, n0, n1, tiles_hw)
        m = scratch("m", (9, gg.shape[1], u_filter.shape[2]), grad_y.dtype)
        for ab in range(9):
            np.matmul(gg[ab], u_filter[ab], out=m[ab])
        grad_x_pad = scratch("x_pad", (n1 - n0,) + extent + (channels,), grad_y.dtype)
        _scatter_input_tiles(m, stride, tiles_hw, grad_x_pad)
        from_padded_nhwc(grad_x_pad, padding, grad_x[n0:n1])

    over_image_chunks(grad_y.shape[0], _chunk_bytes(tiles_hw, max(u_filter.shape[2], out_c), grad_y.itemsize), work)
    return grad_x


def backward_weight(grad_y, x, stride, padding, grad_w):
    """grad_w (O, C, 2*sh, 2*sw) = the adjoint of `forward` in the weight: the sum over chunks of
    V[ab]^T @ (G g G^T)[ab], then A^T (.) A and back to the weight layout."""
    out_c, channels = grad_w.shape[:2]
    out_hw = grad_y.shape[2:]
    tiles_hw = (_tiles(out_hw[0]), _tiles(out_hw[1]))
    e_size = stride[0] * stride[1] * channels
    extent = _input_extent(x.shape[2:], padding, stride, tiles_hw)
    x, grad_y = np.ascontiguousarray(x), np.ascontiguousarray(grad_y)

    def work(n0, n1):
        v = _chunk_input_tiles(x, n0, n1, stride, padding, tiles_hw, extent)
        return np.matmul(_chunk_gradient_tiles(grad_y, n0, n1, tiles_hw).transpose(0, 2, 1), v)   # (9, O, E)

    partials = over_image_chunks(x.shape[0], _chunk_bytes(tiles_hw, max(e_size, out_c), x.itemsize), work)
    _weight_from_tiles(sum_in_chunk_order(partials, (9, out_c, e_size), x.dtype), stride, grad_w)
    return grad_w


def _chunk_input_tiles(x, n0, n1, stride, padding, tiles_hw, extent):
    """This thread's V (9, tiles, E) of images [n0, n1): `_input_tiles` of their padded NHWC copy."""
    n, channels = n1 - n0, x.shape[1]
    x_pad = scratch("x_pad", (n,) + extent + (channels,), x.dtype)
    to_padded_nhwc(x[n0:n1], padding, x_pad)
    v = scratch("v", (9, n * tiles_hw[0] * tiles_hw[1], stride[0] * stride[1] * channels), x.dtype)
    _input_tiles(x_pad, stride, tiles_hw, v)
    return v


def _chunk_gradient_tiles(grad_y, n0, n1, tiles_hw):
    """This thread's (G g G^T) tiles (9, tiles, O) of grad_y's images [n0, n1), from their NHWC copy."""
    n, out_c = n1 - n0, grad_y.shape[1]
    g_pad = scratch("g_pad", (n, 2 * tiles_hw[0], 2 * tiles_hw[1], out_c), grad_y.dtype)
    to_padded_nhwc(grad_y[n0:n1], (0, 0), g_pad)
    gg = scratch("gg", (9, n * tiles_hw[0] * tiles_hw[1], out_c), grad_y.dtype)
    _gradient_tiles(g_pad, tiles_hw, gg)
    return gg


def _chunk_bytes(tiles_hw, widest, itemsize):
    """Bytes per image of the larger transformed array, V or M (9 tiles' worth of the wider channel count)."""
    return 9 * tiles_hw[0] * tiles_hw[1] * widest * itemsize
