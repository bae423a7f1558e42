"""Numba CPU kernels for conv2d (cross-correlation, as in PyTorch).

Two paths with one signature each (see docs/kernel_api.md):

* `*_direct`: readable loops straight from the formula
  `y[n, o, ho, wo] = bias[o] + sum_{c, i, j} weight[o, c, i, j] * x[n, c, ho*sh - ph + i*dh, wo*sw - pw + j*dw]`
  (taps that fall in the padding contribute zero); float64 accumulators, and the sums are compiled
  with `fastmath={"reassoc"}` so LLVM may reorder them.
* the plain names, the fast default: im2col + BLAS GEMM, over chunks of the batch. A chunk of
  images is first copied to a zero-padded NHWC array `x_pad`, so that the column matrix
  `cols[(n*Ho + ho)*Wo + wo, (i*kW + j)*C + c] = x_pad[n, ho*sh + i*dh, wo*sw + j*dw, c]`,
  shape `(n_chunk*Ho*Wo, kH*kW*C)`, is built from contiguous runs (a kernel row's kW*C floats
  when the dilation is 1) with no bounds tests. With the weight as `W_rows (O, kH*kW*C)` and
  `grad_y` as `(O, n_chunk*Ho*Wo)`, each pass is one matrix product per chunk: forward
  `y = cols @ W_rows.T`, backward-data `grad_cols = grad_y.T @ W_rows` then col2im (scatter-add
  into `x_pad`'s layout), backward-weight `grad_W_rows = sum over chunks of grad_y @ cols`.

  Batch chunks run on worker threads, each with a single-threaded GEMM (`kernels/chunks.py`).

  Kernels of twice the stride (the DCGAN layers: 4x4, stride 2) with enough channels take the
  Winograd path instead (`kernels/winograd.py`): 9/16 of the multiply-adds and no column matrix.
"""

import numpy as np
from numba import njit, prange

from minigan.kernels import winograd
from minigan.kernels.chunks import over_image_chunks, scratch, sum_in_chunk_order
from minigan.kernels.geometry import conv2d_output_hw, pair
from minigan.kernels.nhwc import from_padded_nhwc, to_padded_nhwc


# ----------------------------------------------------------------------------- jitted cores

@njit(cache=True, nogil=True)
def _column_runs(kernel_w, channels, dilation_w):
    """(taps per run, floats per run): with dilation 1 a kernel row's kW taps are one contiguous
    run of kW*C floats in both x_pad (NHWC) and a column row; otherwise each tap is a run of C."""
    return (kernel_w, kernel_w * channels) if dilation_w == 1 else (1, channels)


@njit(cache=True, nogil=True)
def _walk_columns(x_pad, cols, kernel_hw, stride, dilation, out_hw, to_columns):
    """The index map between a padded NHWC chunk and its column matrix,
    cols[(n*Ho + ho)*Wo + wo, (i*kW + j)*C + c] <-> x_pad[n, ho*sh + i*dh, wo*sw + j*dw, c],
    walked in contiguous runs (see `_column_runs`): with `to_columns`, cols = x_pad's values
    (im2col); otherwise x_pad += cols (col2im, its adjoint: every tap adds into the pixel it read).
    Serial: each worker thread runs it on its own chunk of images."""
    n_img, height_pad, width_pad, channels = x_pad.shape
    kh, kw = kernel_hw
    out_h, out_w = out_hw
    taps, run = _column_runs(kw, channels, dilation[1])
    x_rows = x_pad.reshape(n_img, height_pad, width_pad * channels)
    for n in range(n_img):
        for ho in range(out_h):
            for wo in range(out_w):
                row = (n * out_h + ho) * out_w + wo
                for i in range(kh):
                    h = ho * stride[0] + i * dilation[0]
                    for j in range(0, kw, taps):
                        first = (wo * stride[1] + j * dilation[1]) * channels
                        col = (i * kw + j) * channels
                        if to_columns:
                            cols[row, col:col + run] = x_rows[n, h, first:first + run]
                        else:
                            x_rows[n, h, first:first + run] += cols[row, col:col + run]


@njit(cache=True, nogil=True)
def _im2col(x_pad, kernel_hw, stride, dilation, out_hw, cols):
    """cols[(n*Ho + ho)*Wo + wo, (i*kW + j)*C + c] = x_pad[n, ho*sh + i*dh, wo*sw + j*dw, c]: one row per output pixel."""
    _walk_columns(x_pad, cols, kernel_hw, stride, dilation, out_hw, True)


@njit(cache=True, nogil=True)
def _col2im(cols, kernel_hw, stride, dilation, out_hw, grad_x_pad):
    """The adjoint of `_im2col`: grad_x_pad[n, h, w, c] = sum of cols[(n*Ho + ho)*Wo + wo, (i*kW + j)*C + c]
    over the taps landing on (h, w)."""
    grad_x_pad[...] = 0
    _walk_columns(grad_x_pad, cols, kernel_hw, stride, dilation, out_hw, False)


@njit(cache=True, nogil=True)
def _rows_to_nchw(y_rows, bias, y):
    """y[n, o, k] = y_rows[n*Ho*Wo + k, o] + bias[o]: a chunk's GEMM result (one row per output
    pixel) into NCHW, plane by plane."""
    n_img, out_c, length = y.shape
    for n in range(n_img):
        for o in range(out_c):
            b = bias[o]
            for k in range(length):
                y[n, o, k] = y_rows[n * length + k, o] + b


@njit(cache=True, nogil=True)
def _nchw_to_onp(g, g_onp):
    """g_onp[o, n, :] = g[n, o, :]: a chunk of grad_y (n, O, Ho*Wo) into the GEMM layout."""
    n_img, out_c, length = g.shape
    for n in range(n_img):
        for o in range(out_c):
            for k in range(length):
                g_onp[o, n, k] = g[n, o, k]


@njit(cache=True, parallel=True, fastmath={"reassoc"})
def _forward_direct(x, weight, bias, stride, padding, dilation, y):
    """y[n, o, ho, wo] = bias[o] + sum_{c, i, j} weight[o, c, i, j] * x[n, c, h, w],
    h = ho*sh - ph + i*dh, w = wo*sw - pw + j*dw; one (n, o) output plane per iteration."""
    n_img, channels, height, width = x.shape
    out_c, _, kh, kw = weight.shape
    _, _, out_h, out_w = y.shape
    for plane in prange(n_img * out_c):
        n, o = plane // out_c, plane % out_c
        for ho in range(out_h):
            for wo in range(out_w):
                acc = 0.0
                for c in range(channels):
                    for i in range(kh):
                        h = ho * stride[0] - padding[0] + i * dilation[0]
                        if 0 <= h < height:
                            for j in range(kw):
                                w = wo * stride[1] - padding[1] + j * dilation[1]
                                if 0 <= w < width:
                                    acc += weight[o, c, i, j] * x[n, c, h, w]
                y[n, o, ho, wo] = acc + bias[o]


@njit(cache=True, parallel=True)
def _backward_data_direct(grad_y, weight, stride, padding, dilation, grad_x):
    """grad_x[n, c, h, w] = sum over (o, ho, wo, i, j) with h = ho*sh - ph + i*dh, w = wo*sw - pw + j*dw
    of grad_y[n, o, ho, wo] * weight[o, c, i, j]: each output scatters back to the inputs it read.
    One (n, c) plane per iteration."""
    n_img, out_c, out_h, out_w = grad_y.shape
    _, channels, kh, kw = weight.shape
    _, _, height, width = grad_x.shape
    for plane in prange(n_img * channels):
        n, c = plane // channels, plane % channels
        grad_x[n, c] = 0
        for o in range(out_c):
            for ho in range(out_h):
                for wo in range(out_w):
                    g = grad_y[n, o, ho, wo]
                    for i in range(kh):
                        h = ho * stride[0] - padding[0] + i * dilation[0]
                        if 0 <= h < height:
                            for j in range(kw):
                                w = wo * stride[1] - padding[1] + j * dilation[1]
                                if 0 <= w < width:
                                    grad_x[n, c, h, w] += g * weight[o, c, i, j]


@njit(cache=True, parallel=True, fastmath={"reassoc"})
def _backward_weight_direct(grad_y, x, stride, padding, dilation, grad_w):
    """grad_w[o, c, i, j] = sum_{n, ho, wo} grad_y[n, o, ho, wo] * x[n, c, ho*sh - ph + i*dh, wo*sw - pw + j*dw];
    one (o, c) kernel slice per iteration."""
    n_img, out_c, out_h, out_w = grad_y.shape
    _, channels, height, width = x.shape
    _, _, kh, kw = grad_w.shape
    for pair_oc in prange(out_c * channels):
        o, c = pair_oc // channels, pair_oc % channels
        for i in range(kh):
            for j in range(kw):
                acc = 0.0
                for n in range(n_img):
                    for ho in range(out_h):
                        h = ho * stride[0] - padding[0] + i * dilation[0]
                        if 0 <= h < height:
                            for wo in range(out_w):
                                w = wo * stride[1] - padding[1] + j * dilation[1]
                                if 0 <= w < width:
                                    acc += grad_y[n, o, ho, wo] * x[n, c, h, w]
                grad_w[o, c, i, j] = acc


# ----------------------------------------------------------------------------- arguments

def _geometry(input_hw, kernel_hw, stride, padding, dilation):
    """(stride, padding, dilation) as pairs and the output (Ho, Wo)."""
    stride, padding, dilation = pair(stride), pair(padding), pair(dilation)
    return stride, padding, dilation, conv2d_output_hw(input_hw, kernel_hw, stride, padding, dilation)


def _prepare_forward(x, weight, stride, padding, dilation):
    """The geometry of a forward pass and its empty output `y (N, O, Ho, Wo)`."""
    geometry = _geometry(x.shape[2:], weight.shape[2:], stride, padding, dilation)
    return geometry, np.empty((x.shape[0], weight.shape[0]) + geometry[3], dtype=x.dtype)


def _prepare_backward_data(grad_y, weight, input_hw, stride, padding, dilation):
    """The geometry of a backward-data pass and its empty output `grad_x (N, C, H, W)`."""
    input_hw = pair(input_hw)
    geometry = _geometry(input_hw, weight.shape[2:], stride, padding, dilation)
    return geometry, np.empty((grad_y.shape[0], weight.shape[1]) + input_hw, dtype=grad_y.dtype)


def _prepare_backward_weight(grad_y, x, kernel_hw, stride, padding, dilation):
    """The geometry of a backward-weight pass and its empty output `grad_w (O, C, kH, kW)`."""
    kernel_hw = pair(kernel_hw)
    geometry = _geometry(x.shape[2:], kernel_hw, stride, padding, dilation)
    return geometry, np.empty((grad_y.shape[1], x.shape[1]) + kernel_hw, dtype=x.dtype)


# ----------------------------------------------------------------------------- the kernel API

def _weight_rows(weight):
    """W_rows[o, (i*kW + j)*C + c] = weight[o, c, i, j]: the (O, kH*kW*C) matrix matching `_im2col`'s columns."""
    return np.ascontiguousarray(weight.transpose(0, 2, 3, 1)).reshape(weight.shape[0], -1)


def _chunk_footprint(columns, out_c, out_hw, itemsize):
    """The bytes per image that size a chunk: its column-matrix rows (columns * Ho*Wo), or four
    times its (O, Ho*Wo) output or gradient block when that is larger, so the block stays within
    ~CHUNK_BYTES / 4 (L2-sized): with few input channels (3: 48 columns, O = 64) the output block,
    not the columns, is what has to stay in cache."""
    pixels = out_hw[0] * out_hw[1]
    return itemsize * max(columns * pixels, 4 * out_c * pixels)


def _padded_hw(x_hw, padding):
    return x_hw[0] + 2 * padding[0], x_hw[1] + 2 * padding[1]


def _chunk_columns(x, n0, n1, kernel_hw, stride, padding, dilation, out_hw):
    """This thread's column matrix of images [n0, n1): `_im2col` of their padded NHWC copy."""
    channels = x.shape[1]
    x_pad = scratch("x_pad", (n1 - n0,) + _padded_hw(x.shape[2:], padding) + (channels,), x.dtype)
    to_padded_nhwc(x[n0:n1], padding, x_pad)
    cols = scratch("cols", ((n1 - n0) * out_hw[0] * out_hw[1], kernel_hw[0] * kernel_hw[1] * channels), x.dtype)
    _im2col(x_pad, kernel_hw, stride, dilation, out_hw, cols)
    return cols


def _chunk_onp(grad_y3, n0, n1):
    """This thread's (O, n*Ho*Wo) copy of grad_y's images [n0, n1)."""
    _, out_c, length = grad_y3.shape
    g_onp = scratch("g_onp", (out_c, n1 - n0, length), grad_y3.dtype)
    _nchw_to_onp(grad_y3[n0:n1], g_onp)
    return g_onp.reshape(out_c, -1)


def conv2d_forward(x, weight, bias, stride, padding, dilation):
    """The fast default: Winograd where `winograd.applies` (a kernel twice the stride), im2col + GEMM otherwise."""
    return _forward(x, weight, bias, stride, padding, dilation, allow_winograd=True)


def conv2d_forward_im2col(x, weight, bias, stride, padding, dilation):
    """`conv2d_forward` by im2col + GEMM for every geometry (the benchmarks compare it with Winograd)."""
    return _forward(x, weight, bias, stride, padding, dilation, allow_winograd=False)


def _forward(x, weight, bias, stride, padding, dilation, allow_winograd):
    """Per chunk: y = im2col(x) (n*Ho*Wo, kH*kW*C) @ W_rows.T (kH*kW*C, O), written as (n, O, Ho, Wo), plus bias[o].
    (In this orientation OpenBLAS is faster than with W_rows @ cols.T when O is small.)"""
    (stride, padding, dilation, out_hw), y = _prepare_forward(x, weight, stride, padding, dilation)
    n, o = y.shape[:2]
    bias = np.zeros(o, dtype=x.dtype) if bias is None else bias
    if allow_winograd and winograd.applies(weight.shape[2:], stride, dilation, x.shape[1]):
        return winograd.forward(x, weight, bias, stride, padding, out_hw, y)
    x, w_rows = np.ascontiguousarray(x), _weight_rows(weight)
    y3 = y.reshape(n, o, out_hw[0] * out_hw[1])

    def work(n0, n1):
        cols = _chunk_columns(x, n0, n1, weight.shape[2:], stride, padding, dilation, out_hw)
        y_rows = scratch("y_rows", (cols.shape[0], o), x.dtype)
        np.matmul(cols, w_rows.T, out=y_rows)
        _rows_to_nchw(y_rows, bias, y3[n0:n1])

    over_image_chunks(n, _chunk_footprint(w_rows.shape[1], o, out_hw, x.itemsize), work)
    return y


def conv2d_backward_data(grad_y, weight, input_hw, stride, padding, dilation):
    """The adjoint of `conv2d_forward` in x: Winograd where it applies, im2col + GEMM otherwise."""
    return _backward_data(grad_y, weight, input_hw, stride, padding, dilation, allow_winograd=True)


def conv2d_backward_data_im2col(grad_y, weight, input_hw, stride, padding, dilation):
    """`conv2d_backward_data` by GEMM + col2im for every geometry."""
    return _backward_data(grad_y, weight, input_hw, stride, padding, dilation, allow_winograd=False)


def _backward_data(grad_y, weight, input_hw, stride, padding, dilation, allow_winograd):
    """Per chunk: grad_x = col2im(grad_y.T (n*Ho*Wo, O) @ W_rows (O, kH*kW*C))."""
    (stride, padding, dilation, out_hw), grad_x = _prepare_backward_data(
        grad_y, weight, input_hw, stride, padding, dilation)
    if allow_winograd and winograd.applies(weight.shape[2:], stride, dilation, weight.shape[1]):
        return winograd.backward_data(grad_y, weight, stride, padding, grad_x)
    n, o = grad_y.shape[:2]
    w_rows = _weight_rows(weight)
    g3 = np.ascontiguousarray(grad_y).reshape(n, o, out_hw[0] * out_hw[1])
    padded_hw = _padded_hw(grad_x.shape[2:], padding)

    def work(n0, n1):
        g_onp = _chunk_onp(g3, n0, n1)
        cols = scratch("cols", (g_onp.shape[1], w_rows.shape[1]), grad_y.dtype)
        np.matmul(g_onp.T, w_rows, out=cols)
        grad_x_pad = scratch("x_pad", (n1 - n0,) + padded_hw + (grad_x.shape[1],), grad_y.dtype)
        _col2im(cols, weight.shape[2:], stride, dilation, out_hw, grad_x_pad)
        from_padded_nhwc(grad_x_pad, padding, grad_x[n0:n1])

    over_image_chunks(n, _chunk_footprint(w_rows.shape[1], o, out_hw, grad_y.itemsize), work)
    return grad_x


def conv2d_backward_weight(grad_y, x, kernel_hw, stride, padding, dilation):
    """The adjoint of `conv2d_forward` in the weight: Winograd where it applies, im2col + GEMM otherwise."""
    return _backward_weight(grad_y, x, kernel_hw, stride, padding, dilation, allow_winograd=True)


def conv2d_backward_weight_im2col(grad_y, x, kernel_hw, stride, padding, dilation):
    """`conv2d_backward_weight` by im2col + GEMM for every geometry."""
    return _backward_weight(grad_y, x, kernel_hw, stride, padding, dilation, allow_winograd=False)


def _backward_weight(grad_y, x, kernel_hw, stride, padding, dilation, allow_winograd):
    """grad_W_rows = sum over chunks of grad_y (O, n*Ho*Wo) @ im2col(x) (n*Ho*Wo, kH*kW*C), read back as (O, C, kH, kW)."""
    (stride, padding, dilation, out_hw), grad_w = _prepare_backward_weight(
        grad_y, x, kernel_hw, stride, padding, dilation)
    if allow_winograd and winograd.applies(grad_w.shape[2:], stride, dilation, x.shape[1]):
        return winograd.backward_weight(grad_y, x, stride, padding, grad_w)
    n, o, channels, kh, kw = grad_y.shape[0], grad_y.shape[1], x.shape[1], *grad_w.shape[2:]
    x = np.ascontiguousarray(x)
    g3 = np.ascontiguousarray(grad_y).reshape(n, o, out_hw[0] * out_hw[1])

    def work(n0, n1):
        cols = _chunk_columns(x, n0, n1, (kh, kw), stride, padding, dilation, out_hw)
        return _chunk_onp(g3, n0, n1) @ cols

    partials = over_image_chunks(n, _chunk_footprint(kh * kw * channels, o, out_hw, x.itemsize), work)
    total = sum_in_chunk_order(partials, (o, kh * kw * channels), x.dtype)
    grad_w[...] = total.reshape(o, kh, kw, channels).transpose(0, 3, 1, 2)
    return grad_w


def conv2d_forward_direct(x, weight, bias, stride, padding, dilation):
    """`conv2d_forward` by explicit loops over (n, o, ho, wo, c, i, j)."""
    (stride, padding, dilation, _), y = _prepare_forward(x, weight, stride, padding, dilation)
    bias = np.zeros(weight.shape[0], dtype=x.dtype) if bias is None else bias
    _forward_direct(np.ascontiguousarray(x), np.ascontiguousarray(weight), bias, stride, padding, dilation, y)
    return y


def conv2d_backward_data_direct(grad_y, weight, input_hw, stride, padding, dilation):
    """`conv2d_backward_data` by explicit loops: every output scatters grad_y * weight back to its inputs."""
    (stride, padding, dilation, _), grad_x = _prepare_backward_data(grad_y, weight, input_hw, stride, padding, dilation)
    _backward_data_direct(np.ascontiguousarray(grad_y), np.ascontiguousarray(weight),
                          stride, padding, dilation, grad_x)
    return grad_x


def conv2d_backward_weight_direct(grad_y, x, kernel_hw, stride, padding, dilation):
    """`conv2d_backward_weight` by explicit loops over (o, c, i, j, n, ho, wo)."""
    (stride, padding, dilation, _), grad_w = _prepare_backward_weight(grad_y, x, kernel_hw, stride, padding, dilation)
    _backward_weight_direct(np.ascontiguousarray(grad_y), np.ascontiguousarray(x),
                            stride, padding, dilation, grad_w)
    return grad_w
