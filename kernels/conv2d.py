"""Numba CPU kernels for conv2d (cross-correlation, as in PyTorch).

Two paths with one signature each (see docs/kernel_api.md):

* `*_direct`: readable loops straight from the formula
  `y[n, o, ho, wo] = bias[o] + sum_{c, i, j} weight[o, c, i, j] * x[n, c, ho*sh - ph + i*dh, wo*sw - pw + j*dw]`
  (taps that fall in the padding contribute zero); float64 accumulators, and the sums are compiled
  with `fastmath={"reassoc"}` so LLVM may reorder them.
* the plain names, the fast default: im2col + BLAS GEMM, over chunks of the batch. The column
  matrix of a chunk of images is
  `cols[(c*kH + i)*kW + j, n*Ho*Wo + ho*Wo + wo] = xpad[n, c, ho*sh + i*dh, wo*sw + j*dw]`,
  shape `(C*kH*kW, n_chunk*Ho*Wo)`, so each pass is one matrix product per chunk:
  forward `y = W @ cols`, backward-data `grad_cols = W.T @ grad_y` then col2im (scatter-add),
  backward-weight `grad_W = sum over chunks of grad_y @ cols.T`, with `W (O, C*kH*kW)` and
  `grad_y` as `(O, n_chunk*Ho*Wo)`.

  The parallelism is ours, not BLAS's: each of `numba.get_num_threads()` worker threads takes its
  share of the chunks and runs im2col, a single-threaded GEMM and the scatter back with the GIL
  released; a chunk's columns are a few MB, so they are still in cache for the GEMM. Measured on
  the DCGAN 64x64 step (2 shared cores, interleaved with PyTorch): 0.68x the time of one
  2-threaded GEMM over the whole batch, whose OpenBLAS workers spin between calls and split the
  long, thin products badly (a backward-weight GEMM with K = N*Ho*Wo = 16384 ran 4x slower than
  the same product transposed). Chunks also avoid allocating (and page-faulting) the whole
  column matrix on every call: each thread reuses its scratch arrays.
"""

import contextlib
import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import threadpoolctl
from numba import njit, prange

from minigan.reference import check_conv2d, check_dtype, conv2d_output_hw, pair


# ----------------------------------------------------------------------------- jitted cores

@njit(cache=True, nogil=True)
def _im2col(x, kernel_hw, stride, padding, dilation, cols):
    """cols[(c*kH + i)*kW + j, n, ho, wo] = x[n, c, ho*sh - ph + i*dh, wo*sw - pw + j*dw], 0 outside.
    Serial: each worker thread runs it on its own chunk of images."""
    n_img, channels, height, width = x.shape
    kh, kw = kernel_hw
    _, _, out_h, out_w = cols.shape
    for row in range(channels * kh * kw):
        c, i, j = row // (kh * kw), (row // kw) % kh, row % kw
        for n in range(n_img):
            for ho in range(out_h):
                h = ho * stride[0] - padding[0] + i * dilation[0]
                for wo in range(out_w):
                    w = wo * stride[1] - padding[1] + j * dilation[1]
                    inside = 0 <= h < height and 0 <= w < width
                    cols[row, n, ho, wo] = x[n, c, h, w] if inside else 0


@njit(cache=True, nogil=True)
def _col2im(cols, kernel_hw, stride, padding, dilation, grad_x):
    """The adjoint of `_im2col`: grad_x[n, c, h, w] += cols[(c*kH + i)*kW + j, n, ho, wo] for every tap
    landing on (h, w). Serial, on one chunk of images."""
    n_img, channels, height, width = grad_x.shape
    kh, kw = kernel_hw
    _, _, out_h, out_w = cols.shape
    for plane in range(n_img * channels):
        n, c = plane // channels, plane % channels
        grad_x[n, c] = 0
        for i in range(kh):
            for j in range(kw):
                row = (c * kh + i) * kw + j
                for ho in range(out_h):
                    h = ho * stride[0] - padding[0] + i * dilation[0]
                    if 0 <= h < height:
                        for wo in range(out_w):
                            w = wo * stride[1] - padding[1] + j * dilation[1]
                            if 0 <= w < width:
                                grad_x[n, c, h, w] += cols[row, n, ho, wo]


@njit(cache=True, nogil=True)
def _onp_to_nchw(y_onp, bias, y):
    """y[n, o, :] = y_onp[o, n, :] + bias[o]: a chunk's GEMM result (O, n, Ho*Wo) into NCHW."""
    n_img, out_c, length = y.shape
    for n in range(n_img):
        for o in range(out_c):
            b = bias[o]
            for k in range(length):
                y[n, o, k] = y_onp[o, n, k] + b


@njit(cache=True, nogil=True)
def _nchw_to_onp(g, g_onp):
    """g_onp[o, n, :] = g[n, o, :]: a chunk of grad_y (n, O, Ho*Wo) into the column layout."""
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


# ----------------------------------------------------------------------------- argument handling

def _geometry(op, x_shape, weight_shape, stride, padding, dilation):
    """Validated (stride, padding, dilation) pairs and the output (Ho, Wo)."""
    check_conv2d(op, x_shape, weight_shape)
    stride, padding, dilation = pair(stride), pair(padding), pair(dilation)
    out_hw = conv2d_output_hw(op, x_shape[2:], weight_shape[2:], stride, padding, dilation)
    return stride, padding, dilation, out_hw


def _check_grad_y(op, grad_y, expected_shape):
    if grad_y.shape != expected_shape:
        raise ValueError(f"{op}: grad_y shape {grad_y.shape} should be {expected_shape}")


def _prepare_forward(op, x, weight, bias, stride, padding, dilation):
    """Checked arguments for a forward pass and its empty output `y (N, O, Ho, Wo)`."""
    check_dtype(op, x=x, weight=weight, bias=bias)
    geometry = _geometry(op, x.shape, weight.shape, stride, padding, dilation)
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"{op}: bias shape {bias.shape} should be ({weight.shape[0]},) for weight {weight.shape}")
    y = np.empty((x.shape[0], weight.shape[0]) + geometry[3], dtype=x.dtype)
    return geometry, y


def _prepare_backward_data(op, grad_y, weight, input_hw, stride, padding, dilation):
    """Checked geometry for a backward-data pass and its empty output `grad_x (N, C, H, W)`."""
    check_dtype(op, grad_y=grad_y, weight=weight)
    x_shape = (grad_y.shape[0], weight.shape[1]) + pair(input_hw)
    geometry = _geometry(op, x_shape, weight.shape, stride, padding, dilation)
    _check_grad_y(op, grad_y, (grad_y.shape[0], weight.shape[0]) + geometry[3])
    return geometry, np.empty(x_shape, dtype=grad_y.dtype)


def _prepare_backward_weight(op, grad_y, x, kernel_hw, stride, padding, dilation):
    """Checked geometry for a backward-weight pass and its empty output `grad_w (O, C, kH, kW)`."""
    check_dtype(op, grad_y=grad_y, x=x)
    w_shape = (grad_y.shape[1], x.shape[1]) + pair(kernel_hw)
    geometry = _geometry(op, x.shape, w_shape, stride, padding, dilation)
    _check_grad_y(op, grad_y, (x.shape[0], w_shape[0]) + geometry[3])
    return geometry, np.empty(w_shape, dtype=x.dtype)


# ----------------------------------------------------------------------------- batch chunks, worker threads

CHUNK_BYTES = 4 * 2 ** 20  # target size of one chunk's column matrix: it stays in cache for the GEMM

_thread_local = threading.local()
_workers = {"executor": None, "size": 0}
_blas = {}


def _scratch(name, shape, dtype):
    """This thread's reusable, uninitialised array ``name`` (grown when too small)."""
    buffers = _thread_local.__dict__.setdefault("buffers", {})
    size, key = int(np.prod(shape)), (name, np.dtype(dtype))
    if key not in buffers or buffers[key].size < size:
        buffers[key] = np.empty(size, dtype=dtype)
    return buffers[key][:size].reshape(shape)


@contextlib.contextmanager
def _one_blas_thread():
    """BLAS limited to one thread while the workers run their GEMMs side by side."""
    if "controller" not in _blas:
        _blas["controller"] = threadpoolctl.ThreadpoolController().select(user_api="blas")
    with _blas["controller"].limit(limits=1):
        yield


def _over_image_chunks(n_img, bytes_per_image, work):
    """Call ``work(n0, n1)`` on chunks of images [n0, n1) of about CHUNK_BYTES each; returns the
    results in chunk order. The calling thread and up to ``numba.get_num_threads() - 1`` workers
    claim chunks one at a time, and the caller waits only for chunks already claimed: on a busy
    machine a worker can take a scheduler time slice (tens of ms) to wake up, and the caller then
    simply does the chunks itself."""
    threads = max(1, min(numba.get_num_threads(), n_img))
    size = max(1, min(-(-n_img // threads), CHUNK_BYTES // max(1, bytes_per_image)))
    chunks = [(n0, min(n_img, n0 + size)) for n0 in range(0, n_img, size)]
    results, errors = [None] * len(chunks), []
    claims, finished = itertools.count(), threading.Semaphore(0)

    def run():
        while (index := next(claims)) < len(chunks):
            try:
                results[index] = work(*chunks[index])
            except BaseException as exc:  # re-raised in the calling thread
                errors.append(exc)
            finally:
                finished.release()

    with _one_blas_thread():
        if threads > 1 and len(chunks) > 1:
            if _workers["size"] != threads - 1:
                _workers.update(executor=ThreadPoolExecutor(threads - 1), size=threads - 1)
            for _ in range(threads - 1):
                _workers["executor"].submit(run)
        run()
        for _ in chunks:
            finished.acquire()
    if errors:
        raise errors[0]
    return results


# ----------------------------------------------------------------------------- the kernel API

def conv2d_forward(x, weight, bias, stride, padding, dilation):
    """Per chunk: y = W (O, C*kH*kW) @ im2col(x) (C*kH*kW, n*Ho*Wo), written as (n, O, Ho, Wo), plus bias[o]."""
    (stride, padding, dilation, out_hw), y = _prepare_forward(
        "conv2d_forward", x, weight, bias, stride, padding, dilation)
    n, o = y.shape[:2]
    x, w2 = np.ascontiguousarray(x), np.ascontiguousarray(weight).reshape(o, -1)
    bias = np.zeros(o, dtype=x.dtype) if bias is None else bias
    length = out_hw[0] * out_hw[1]
    y3 = y.reshape(n, o, length)

    def work(n0, n1):
        cols = _scratch("cols", (w2.shape[1], n1 - n0) + out_hw, x.dtype)
        _im2col(x[n0:n1], weight.shape[2:], stride, padding, dilation, cols)
        y_onp = _scratch("y_onp", (o, (n1 - n0) * length), x.dtype)
        np.matmul(w2, cols.reshape(cols.shape[0], -1), out=y_onp)
        _onp_to_nchw(y_onp.reshape(o, n1 - n0, length), bias, y3[n0:n1])

    _over_image_chunks(n, w2.shape[1] * length * x.itemsize, work)
    return y


def conv2d_backward_data(grad_y, weight, input_hw, stride, padding, dilation):
    """Per chunk: grad_x = col2im(W.T (C*kH*kW, O) @ grad_y (O, n*Ho*Wo)): the adjoint of `conv2d_forward` in x."""
    (stride, padding, dilation, out_hw), grad_x = _prepare_backward_data(
        "conv2d_backward_data", grad_y, weight, input_hw, stride, padding, dilation)
    n, o = grad_y.shape[:2]
    w2t = np.ascontiguousarray(weight).reshape(o, -1).T
    length = out_hw[0] * out_hw[1]
    g3 = np.ascontiguousarray(grad_y).reshape(n, o, length)

    def work(n0, n1):
        g_onp = _scratch("g_onp", (o, n1 - n0, length), grad_y.dtype)
        _nchw_to_onp(g3[n0:n1], g_onp)
        cols = _scratch("cols", (w2t.shape[0], n1 - n0) + out_hw, grad_y.dtype)
        np.matmul(w2t, g_onp.reshape(o, -1), out=cols.reshape(cols.shape[0], -1))
        _col2im(cols, weight.shape[2:], stride, padding, dilation, grad_x[n0:n1])

    _over_image_chunks(n, w2t.shape[0] * length * grad_y.itemsize, work)
    return grad_x


def conv2d_backward_weight(grad_y, x, kernel_hw, stride, padding, dilation):
    """grad_W = sum over chunks of grad_y (O, n*Ho*Wo) @ im2col(x).T (n*Ho*Wo, C*kH*kW), viewed as (O, C, kH, kW).

    Each chunk's product is formed with the longer of O and C*kH*kW as its rows (OpenBLAS ran
    the other orientation up to 4x slower on the DCGAN shapes) and transposed back if needed."""
    (stride, padding, dilation, out_hw), grad_w = _prepare_backward_weight(
        "conv2d_backward_weight", grad_y, x, kernel_hw, stride, padding, dilation)
    n, o = grad_y.shape[:2]
    x, rows = np.ascontiguousarray(x), grad_w[0].size
    length = out_hw[0] * out_hw[1]
    g3 = np.ascontiguousarray(grad_y).reshape(n, o, length)
    transposed = rows > o

    def work(n0, n1):
        cols = _scratch("cols", (rows, n1 - n0) + out_hw, x.dtype)
        _im2col(x[n0:n1], grad_w.shape[2:], stride, padding, dilation, cols)
        g_onp = _scratch("g_onp", (o, n1 - n0, length), x.dtype)
        _nchw_to_onp(g3[n0:n1], g_onp)
        cols2, g2 = cols.reshape(rows, -1), g_onp.reshape(o, -1)
        return cols2 @ g2.T if transposed else g2 @ cols2.T

    partials = _over_image_chunks(n, rows * length * x.itemsize, work)
    total = partials[0]
    for partial in partials[1:]:
        total += partial
    grad_w.reshape(o, rows)[...] = total.T if transposed else total
    return grad_w


def conv2d_forward_direct(x, weight, bias, stride, padding, dilation):
    """`conv2d_forward` by explicit loops over (n, o, ho, wo, c, i, j)."""
    (stride, padding, dilation, _), y = _prepare_forward(
        "conv2d_forward_direct", x, weight, bias, stride, padding, dilation)
    bias = np.zeros(weight.shape[0], dtype=x.dtype) if bias is None else bias
    _forward_direct(np.ascontiguousarray(x), np.ascontiguousarray(weight), bias, stride, padding, dilation, y)
    return y


def conv2d_backward_data_direct(grad_y, weight, input_hw, stride, padding, dilation):
    """`conv2d_backward_data` by explicit loops: every output scatters grad_y * weight back to its inputs."""
    (stride, padding, dilation, _), grad_x = _prepare_backward_data(
        "conv2d_backward_data_direct", grad_y, weight, input_hw, stride, padding, dilation)
    _backward_data_direct(np.ascontiguousarray(grad_y), np.ascontiguousarray(weight),
                          stride, padding, dilation, grad_x)
    return grad_x


def conv2d_backward_weight_direct(grad_y, x, kernel_hw, stride, padding, dilation):
    """`conv2d_backward_weight` by explicit loops over (o, c, i, j, n, ho, wo)."""
    (stride, padding, dilation, _), grad_w = _prepare_backward_weight(
        "conv2d_backward_weight_direct", grad_y, x, kernel_hw, stride, padding, dilation)
    _backward_weight_direct(np.ascontiguousarray(grad_y), np.ascontiguousarray(x),
                            stride, padding, dilation, grad_w)
    return grad_w
