"""The CUDA kernel set: the CUDA C kernels of ``kernels/*.cu`` behind the contract of
``docs/kernel_api.md``.

One launcher serves two devices; only the array module and the RawModule class differ:

    'cuda'      CuPy arrays; ``cupy.RawModule`` compiles each .cu file with NVRTC (once per
                process, cached on disk by CuPy); the im2col GEMMs run on cuBLAS via cupy.matmul.
    'cuda-sim'  NumPy arrays; ``minigan.cuda_host.RawModule`` compiles the *same* source with
                g++ and runs every CUDA thread as a fiber on the CPU; NumPy matmul stands in
                for cuBLAS. Slow, but it executes every line of the CUDA code on any machine.

Each kernel exists as ``<name>_f32`` and ``<name>_f64``; the launcher picks the variant from the
dtype and passes scalars as the exact NumPy types of the C signature (``np.int32`` for ``int``,
``np.int64`` for ``long long``, the array dtype for ``T``). Elementwise kernels run 256-thread
blocks over a grid-stride loop (grid capped at MAX_GRID blocks); reductions run one block per
channel / weight element / partial sum.
"""

import functools
import importlib.resources
import math

import numpy as np

from minigan import backend
from minigan import reference as ref

BLOCK = 256
"""Threads per block; the shared-memory reductions in the .cu files assume exactly this."""
MAX_GRID = 4096
"""Most blocks per launch; grid-stride loops cover the rest."""
NVRTC_OPTIONS = ("--std=c++17",)
"""Compiler options for cupy.RawModule (tests/test_cuda_compile.py compiles with the same)."""
_LOSS_KERNELS = tuple(f"{loss}_{part}" for loss in ("bce", "bce_with_logits", "mse", "kl_normal")
                      for part in ("forward_none", "partial_sums", "backward"))
KERNELS = {
    "activations": ("relu_forward", "relu_backward", "leaky_relu_forward", "leaky_relu_backward",
                    "tanh_forward", "tanh_backward", "sigmoid_forward", "sigmoid_backward"),
    "batch_norm": ("batch_norm_stats", "batch_norm_normalize", "batch_norm_backward_reduce",
                   "batch_norm_backward_data", "batch_norm_update_running"),
    "conv2d": ("im2col", "col2im", "conv2d_forward_direct", "conv2d_backward_data_direct",
               "conv2d_backward_weight_direct"),
    "losses": _LOSS_KERNELS + ("sum_partials",),
    "optim": ("sgd_step", "sgd_momentum_step", "adam_step"),
    "pooling": ("max_pool2d_forward", "max_pool2d_backward", "max_unpool2d_forward",
                "max_unpool2d_backward"),
}
"""Every .cu file of the package minigan.kernels (one RawModule each) and the kernels launched
from it; each name exists as name_f32 and name_f64 (tests/test_cuda_compile.py checks)."""
DIRECT_CONV = ("conv2d_forward_direct", "conv2d_backward_data_direct",
               "conv2d_backward_weight_direct")
"""The readable loop-kernel variants of the convolution, besides ref.KERNEL_API."""

_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}


def kernel_path(name):
    """Where ``kernels/<name>.cu`` lives (package data of minigan.kernels)."""
    return importlib.resources.files("minigan.kernels").joinpath(f"{name}.cu")


COMMON_HEADER = "common.cuh"
"""The helpers every kernels/*.cu file relies on (MG_FLOAT_KERNELS, MG_GRID_STRIDE_LOOP,
block_sum, ...), prepended to each by kernel_source."""


def _line_directive(path):
    """``#line 1 "<path>"``: what follows is reported as line 1 of ``path``."""
    quoted = str(path).replace("\\", "\\\\").replace('"', '\\"')
    return f'#line 1 "{quoted}"\n'


def kernel_source(name):
    """The CUDA C text compiled for ``kernels/<name>.cu``: ``kernels/common.cuh``, then the
    .cu file itself after a ``#line 1 "<its path>"``.

    NVRTC has no include path to this package, so the shared helpers cannot be ``#include``d;
    they are pasted in front instead. The ``#line`` directives keep compiler errors and the
    CUDA host harness's sanitizer reports pointing at the right file (common.cuh or the .cu)
    and line.
    """
    common = importlib.resources.files("minigan.kernels").joinpath(COMMON_HEADER)
    path = kernel_path(name)
    text = path.read_text()
    return (_line_directive(common) + common.read_text().rstrip("\n") + "\n"
            + _line_directive(path) + text)


@functools.lru_cache(maxsize=None)
def kernel_set(device):
    """The CUDA kernel set for ``device`` 'cuda' (CuPy + GPU) or 'cuda-sim' (NumPy + CPU fibers).

    One instance per device per process, so every .cu file is compiled at most once.
    RuntimeError (with install instructions) when 'cuda' lacks CuPy or a GPU.
    """
    if device == "cuda":
        cupy = backend.require_cupy()
        return CudaKernelSet(device, cupy, lambda name, **kw: cupy.RawModule(**kw))
    if device == "cuda-sim":
        from minigan import cuda_host
        # source_name: compiler errors and sanitizer reports point at kernels/<name>.cu itself
        return CudaKernelSet(device, np,
                             lambda name, **kw: cuda_host.RawModule(source_name=str(kernel_path(name)), **kw))
    raise ValueError(f"kernel_set: device must be 'cuda' or 'cuda-sim', got {device!r}")


def _float_dtype(op, **arrays):
    """The one dtype (float32 or float64) of the named arrays; TypeError otherwise."""
    ref.check_dtype(op, **arrays)
    return np.dtype(next(iter(arrays.values())).dtype)


def _check_shape(op, name, array, shape):
    if tuple(array.shape) != tuple(shape):
        raise ValueError(f"{op}: {name} has shape {tuple(array.shape)}, expected {tuple(shape)}")


def _check_4d(op, **arrays):
    for name, a in arrays.items():
        if a.ndim != 4:
            raise ValueError(f"{op}: {name} must be 4-D, got shape {tuple(a.shape)}")


def _check_writable(op, **arrays):
    """Arrays updated in place must be C-contiguous (a copy would drop the update)."""
    for name, a in arrays.items():
        if not a.flags.c_contiguous:
            raise ValueError(f"{op}: {name} (shape {tuple(a.shape)}) must be C-contiguous")


def _check_indices(op, indices, shape):
    _check_shape(op, "indices", indices, shape)
    if indices.dtype != np.int64:
        raise TypeError(f"{op}: indices must be int64, got {indices.dtype}")


class _ConvGeometry:
    """Sizes of one convolution, checked, and as the kernels' C arguments (MG_CONV_PARAMS)."""

    def __init__(self, op, x_shape, weight_shape, stride, padding, dilation):
        ref.check_conv2d(op, x_shape, weight_shape)
        stride, padding, dilation = ref.pair(stride), ref.pair(padding), ref.pair(dilation)
        self.n, self.c, self.h, self.w = (int(v) for v in x_shape)
        self.o, _, self.kh, self.kw = (int(v) for v in weight_shape)
        self.ho, self.wo = ref.conv2d_output_hw(op, (self.h, self.w), (self.kh, self.kw),
                                                stride, padding, dilation)
        self.y_shape = (self.n, self.o, self.ho, self.wo)
        self.x_shape = (self.n, self.c, self.h, self.w)
        self.weight_shape = (self.o, self.c, self.kh, self.kw)
        self.col_shape = (self.n, self.c * self.kh * self.kw, self.ho * self.wo)
        self.args = (np.int64(self.n),) + tuple(
            np.int32(v) for v in (self.c, self.h, self.w, self.o, self.kh, self.kw, self.ho,
                                  self.wo, *stride, *padding, *dilation))


class CudaKernelSet:
    """Every function of docs/kernel_api.md (plus the ``*_direct`` convolutions) on one device.

    ``xp`` is the array module (cupy or numpy), ``raw_module(name, code=, options=)`` builds a
    ``cupy.RawModule`` or a ``minigan.cuda_host.RawModule`` (same call shape) for kernels/<name>.cu.
    """

    def __init__(self, device, xp, raw_module):
        self.device = device
        self.__name__ = f"minigan.cuda_kernels.kernel_set({device!r})"
        self.xp = xp
        self._raw_module = raw_module
        self._modules = {}
        self._functions = {}

    def __repr__(self):
        return f"<CUDA kernel set for device {self.device!r}>"

    # ------------------------------------------------------------------------ launching

    def _function(self, source, name):
        key = (source, name)
        if key not in self._functions:
            if source not in self._modules:
                self._modules[source] = self._raw_module(source, code=kernel_source(source),
                                                         options=NVRTC_OPTIONS)
            self._functions[key] = self._modules[source].get_function(name)
        return self._functions[key]

    def _launch(self, source, name, dtype, args, *, threads=None, blocks=None):
        """Run ``<name>_f32|f64`` from ``kernels/<source>.cu`` on 256-thread blocks: enough to
        give each of ``threads`` work items its own thread (capped at MAX_GRID blocks; the
        kernels loop grid-stride), or exactly ``blocks`` blocks for one-block-per-item kernels."""
        if name not in KERNELS[source]:
            raise LookupError(f"kernel {name!r} is not listed in KERNELS[{source!r}]")
        grid = min(math.ceil(threads / BLOCK) if blocks is None else blocks, MAX_GRID)
        if grid > 0:
            self._function(source, f"{name}_{_SUFFIX[dtype]}")((grid,), (BLOCK,), args)

    def _input(self, a):
        """A read-only kernel input as a C-contiguous array (a 0-d one for a NumPy scalar);
        copied only if it is not one already."""
        a = self.xp.asarray(a)
        return a if a.flags.c_contiguous else self.xp.ascontiguousarray(a)

    def _elementwise(self, op, source, inputs, scalars=()):
        """out = kernel(*inputs) elementwise; C signature (*inputs, out, *scalars, n)."""
        ref.check_same(op, **inputs)
        inputs = [self._input(a) for a in inputs.values()]
        dtype = inputs[0].dtype
        out = self.xp.empty_like(inputs[0])
        real = tuple(dtype.type(s) for s in scalars)
        self._launch(source, op, dtype, (*inputs, out, *real, np.int64(out.size)),
                     threads=out.size)
        return out

    # ------------------------------------------------------------------------ convolution

    def _im2col(self, x, g):
        col = self.xp.empty(g.col_shape, dtype=x.dtype)
        self._launch("conv2d", "im2col", x.dtype, (x, col, *g.args), threads=col.size)
        return col

    def _add_bias(self, op, y, bias):
        if bias is not None:
            _check_shape(op, "bias", bias, (y.shape[1],))
            _float_dtype(op, y=y, bias=bias)
            y += bias.reshape(1, -1, 1, 1)
        return y

    def _forward_geometry(self, op, x, weight, stride, padding, dilation):
        _float_dtype(op, x=x, weight=weight)
        return _ConvGeometry(op, x.shape, weight.shape, stride, padding, dilation)

    def _data_geometry(self, op, grad_y, weight, input_hw, stride, padding, dilation):
        _float_dtype(op, grad_y=grad_y, weight=weight)
        _check_4d(op, grad_y=grad_y, weight=weight)
        x_shape = (grad_y.shape[0], weight.shape[1], *ref.pair(input_hw))
        g = _ConvGeometry(op, x_shape, weight.shape, stride, padding, dilation)
        _check_shape(op, "grad_y", grad_y, g.y_shape)
        return g

    def _weight_geometry(self, op, grad_y, x, kernel_hw, stride, padding, dilation):
        _float_dtype(op, grad_y=grad_y, x=x)
        _check_4d(op, grad_y=grad_y, x=x)
        weight_shape = (grad_y.shape[1], x.shape[1], *ref.pair(kernel_hw))
        g = _ConvGeometry(op, x.shape, weight_shape, stride, padding, dilation)
        _check_shape(op, "grad_y", grad_y, g.y_shape)
        return g

    def conv2d_forward(self, x, weight, bias, stride, padding, dilation):
        """y = weight (O, C*kH*kW) @ im2col(x) (N, C*kH*kW, Ho*Wo), reshaped, + bias (GEMM path)."""
        g = self._forward_geometry("conv2d_forward", x, weight, stride, padding, dilation)
        col = self._im2col(self._input(x), g)
        y = self.xp.matmul(weight.reshape(g.o, -1), col).reshape(g.y_shape)
        return self._add_bias("conv2d_forward", y, bias)

    def conv2d_backward_data(self, grad_y, weight, input_hw, stride, padding, dilation):
        """grad_x = col2im(weight^T (C*kH*kW, O) @ grad_y (N, O, Ho*Wo)) (GEMM path)."""
        g = self._data_geometry("conv2d_backward_data", grad_y, weight, input_hw, stride,
                                padding, dilation)
        col = self.xp.matmul(weight.reshape(g.o, -1).T, grad_y.reshape(g.n, g.o, -1))
        grad_x = self.xp.empty(g.x_shape, dtype=grad_y.dtype)
        self._launch("conv2d", "col2im", grad_x.dtype, (self._input(col), grad_x, *g.args),
                     threads=grad_x.size)
        return grad_x

    def conv2d_backward_weight(self, grad_y, x, kernel_hw, stride, padding, dilation):
        """grad_weight = sum_n grad_y[n] (O, Ho*Wo) @ im2col(x)[n]^T (GEMM path, one tensordot)."""
        g = self._weight_geometry("conv2d_backward_weight", grad_y, x, kernel_hw, stride,
                                  padding, dilation)
        col = self._im2col(self._input(x), g)
        grad_w = self.xp.tensordot(grad_y.reshape(g.n, g.o, -1), col, axes=([0, 2], [0, 2]))
        return self.xp.ascontiguousarray(grad_w.reshape(g.weight_shape))

    def conv2d_forward_direct(self, x, weight, bias, stride, padding, dilation):
        """y[n,o,oh,ow] = sum_{c,kh,kw} weight[o,c,kh,kw] * x[n,c,oh*sH-pH+kh*dH, ow*sW-pW+kw*dW] + bias[o]."""
        g = self._forward_geometry("conv2d_forward_direct", x, weight, stride, padding, dilation)
        y = self.xp.empty(g.y_shape, dtype=x.dtype)
        self._launch("conv2d", "conv2d_forward_direct", y.dtype,
                     (self._input(x), self._input(weight), y, *g.args), threads=y.size)
        return self._add_bias("conv2d_forward_direct", y, bias)

    def conv2d_backward_data_direct(self, grad_y, weight, input_hw, stride, padding, dilation):
        """grad_x[n,c,h,w] = sum over (o, kh, kw) and the (oh, ow) that (h, w) feeds of
        grad_y[n,o,oh,ow] * weight[o,c,kh,kw]."""
        g = self._data_geometry("conv2d_backward_data_direct", grad_y, weight, input_hw,
                                stride, padding, dilation)
        grad_x = self.xp.empty(g.x_shape, dtype=grad_y.dtype)
        self._launch("conv2d", "conv2d_backward_data_direct", grad_x.dtype,
                     (self._input(grad_y), self._input(weight), grad_x, *g.args),
                     threads=grad_x.size)
        return grad_x

    def conv2d_backward_weight_direct(self, grad_y, x, kernel_hw, stride, padding, dilation):
        """grad_weight[o,c,kh,kw] = sum_{n,oh,ow} grad_y[n,o,oh,ow] * x[n,c,oh*sH-pH+kh*dH, ow*sW-pW+kw*dW],
        one block (a shared-memory reduction) per weight element."""
        g = self._weight_geometry("conv2d_backward_weight_direct", grad_y, x, kernel_hw,
                                  stride, padding, dilation)
        grad_w = self.xp.empty(g.weight_shape, dtype=x.dtype)
        self._launch("conv2d", "conv2d_backward_weight_direct", grad_w.dtype,
                     (self._input(grad_y), self._input(x), grad_w, *g.args), blocks=grad_w.size)
        return grad_w

    # ------------------------------------------------------------------------ batch norm

    def _bn_check(self, op, x, **per_channel):
        if x.ndim != 3:
            raise ValueError(f"{op}: x must be 3-D (N, C, L), got shape {tuple(x.shape)}")
        for name, v in per_channel.items():
            _check_shape(op, name, v, (x.shape[1],))
        return _float_dtype(op, x=x, **per_channel)

    def _bn_sizes(self, x):
        n, c, l = x.shape
        return np.int64(n), np.int32(c), np.int64(l)

    def _bn_normalize(self, x, mean, var, weight, bias, eps):
        x, mean, var, weight, bias = (self._input(a) for a in (x, mean, var, weight, bias))
        y = self.xp.empty_like(x)
        self._launch("batch_norm", "batch_norm_normalize", x.dtype,
                     (x, mean, var, weight, bias, y, x.dtype.type(eps), *self._bn_sizes(x)),
                     threads=x.size)
        return y

    def _bn_backward(self, grad_y, x, mean, var, weight, eps, training):
        grad_y, x, mean, var, weight = (self._input(a) for a in (grad_y, x, mean, var, weight))
        dtype, c = x.dtype, x.shape[1]
        grad_weight, grad_bias = self.xp.empty(c, dtype=dtype), self.xp.empty(c, dtype=dtype)
        sizes, real_eps = self._bn_sizes(x), dtype.type(eps)
        self._launch("batch_norm", "batch_norm_backward_reduce", dtype,
                     (grad_y, x, mean, var, grad_weight, grad_bias, real_eps, *sizes), blocks=c)
        grad_x = self.xp.empty_like(x)
        self._launch("batch_norm", "batch_norm_backward_data", dtype,
                     (grad_y, x, mean, var, weight, grad_weight, grad_bias, grad_x, real_eps,
                      *sizes, np.int32(training)), threads=x.size)
        return grad_x, grad_weight, grad_bias

    def batch_norm_forward_train(self, x, weight, bias, eps):
        """mean, var (biased) per channel of x (N, C, L); y = weight * (x - mean) / sqrt(var + eps) + bias."""
        dtype = self._bn_check("batch_norm_forward_train", x, weight=weight, bias=bias)
        x = self._input(x)
        c = x.shape[1]
        mean, var = self.xp.empty(c, dtype=dtype), self.xp.empty(c, dtype=dtype)
        self._launch("batch_norm", "batch_norm_stats", dtype, (x, mean, var, *self._bn_sizes(x)),
                     blocks=c)
        return self._bn_normalize(x, mean, var, weight, bias, eps), mean, var

    def batch_norm_forward_eval(self, x, running_mean, running_var, weight, bias, eps):
        """y = weight * (x - running_mean) / sqrt(running_var + eps) + bias."""
        self._bn_check("batch_norm_forward_eval", x, running_mean=running_mean,
                       running_var=running_var, weight=weight, bias=bias)
        return self._bn_normalize(x, running_mean, running_var, weight, bias, eps)

    def batch_norm_backward_train(self, grad_y, x, mean, var, weight, eps):
        """grad_bias = sum dy, grad_weight = sum dy * x_hat,
        grad_x = weight / sqrt(var + eps) * (dy - grad_bias / M - x_hat * grad_weight / M)."""
        self._bn_check("batch_norm_backward_train", x, mean=mean, var=var, weight=weight)
        ref.check_same("batch_norm_backward_train", grad_y=grad_y, x=x)
        return self._bn_backward(grad_y, x, mean, var, weight, eps, training=True)

    def batch_norm_backward_eval(self, grad_y, x, running_mean, running_var, weight, eps):
        """grad_x = dy * weight / sqrt(running_var + eps); grad_weight, grad_bias as in training."""
        self._bn_check("batch_norm_backward_eval", x, running_mean=running_mean,
                       running_var=running_var, weight=weight)
        ref.check_same("batch_norm_backward_eval", grad_y=grad_y, x=x)
        return self._bn_backward(grad_y, x, running_mean, running_var, weight, eps,
                                 training=False)

    def batch_norm_update_running(self, running_mean, running_var, mean, var, count, momentum):
        """In place: rm <- (1-m)*rm + m*mean, rv <- (1-m)*rv + m*var*count/(count-1)."""
        op = "batch_norm_update_running"
        ref.check_same(op, running_mean=running_mean, running_var=running_var, mean=mean, var=var)
        _check_writable(op, running_mean=running_mean, running_var=running_var)
        if count < 2:
            raise ValueError(f"{op}: need more than 1 value per channel, got count={count}")
        real = running_mean.dtype.type
        self._launch("batch_norm", op, running_mean.dtype,
                     (running_mean, running_var, self._input(mean), self._input(var),
                      real(1 - momentum), real(momentum), real(momentum * count / (count - 1)),
                      np.int32(running_mean.size)), threads=running_mean.size)

    # ------------------------------------------------------------------------ activations

    def relu_forward(self, x):
        """y = max(x, 0)."""
        return self._elementwise("relu_forward", "activations", {"x": x})

    def relu_backward(self, grad_y, x):
        """grad_x = grad_y * [x > 0]."""
        return self._elementwise("relu_backward", "activations", {"grad_y": grad_y, "x": x})

    def leaky_relu_forward(self, x, negative_slope):
        """y = x if x > 0 else negative_slope * x."""
        return self._elementwise("leaky_relu_forward", "activations", {"x": x},
                                 (negative_slope,))

    def leaky_relu_backward(self, grad_y, x, negative_slope):
        """grad_x = grad_y * (1 if x > 0 else negative_slope)."""
        return self._elementwise("leaky_relu_backward", "activations",
                                 {"grad_y": grad_y, "x": x}, (negative_slope,))

    def tanh_forward(self, x):
        """y = tanh(x)."""
        return self._elementwise("tanh_forward", "activations", {"x": x})

    def tanh_backward(self, grad_y, y):
        """grad_x = grad_y * (1 - y^2), from the forward's output y."""
        return self._elementwise("tanh_backward", "activations", {"grad_y": grad_y, "y": y})

    def sigmoid_forward(self, x):
        """y = 1 / (1 + e^-x), exp taken of -|x| only."""
        return self._elementwise("sigmoid_forward", "activations", {"x": x})

    def sigmoid_backward(self, grad_y, y):
        """grad_x = grad_y * y * (1 - y), from the forward's output y."""
        return self._elementwise("sigmoid_backward", "activations", {"grad_y": grad_y, "y": y})

    # ------------------------------------------------------------------------ losses

    def _loss_forward(self, loss, reduction, **inputs):
        """'none': the elementwise loss; 'sum'/'mean': per-block partial sums, then one block
        adds the partials (and divides by the element count for 'mean'); 0-d result."""
        op = f"{loss}_forward"
        ref.check_same(op, **inputs)
        ref.check_reduction(op, reduction)
        a, b = (self._input(v) for v in inputs.values())
        n, dtype = a.size, a.dtype
        if reduction == "none":
            out = self.xp.empty_like(a)
            self._launch("losses", f"{loss}_forward_none", dtype, (a, b, out, np.int64(n)),
                         threads=n)
            return out
        blocks = max(1, min(math.ceil(n / BLOCK), MAX_GRID))
        partials = self.xp.empty(blocks, dtype=dtype)
        self._launch("losses", f"{loss}_partial_sums", dtype, (a, b, partials, np.int64(n)),
                     blocks=blocks)
        out = self.xp.empty((), dtype=dtype)
        divisor = dtype.type(n if reduction == "mean" else 1)
        self._launch("losses", "sum_partials", dtype,
                     (partials, np.int32(blocks), divisor, out), blocks=1)
        return out

    def _loss_backward(self, loss, grad_out, reduction, n_grads, **inputs):
        """grad = g * dl/d(input), g = grad_out (per element for 'none', else the 0-d value,
        divided by the element count for 'mean')."""
        op = f"{loss}_backward"
        ref.check_same(op, **inputs)
        ref.check_reduction(op, reduction)
        a, b = (self._input(v) for v in inputs.values())
        grad_out = self._input(grad_out)
        _check_shape(op, "grad_out", grad_out, a.shape if reduction == "none" else ())
        dtype = _float_dtype(op, input=a, grad_out=grad_out)
        divisor = dtype.type(a.size if reduction == "mean" else 1)
        grads = tuple(self.xp.empty_like(a) for _ in range(n_grads))
        self._launch("losses", op, dtype,
                     (grad_out, np.int32(reduction == "none"), divisor, a, b, *grads,
                      np.int64(a.size)), threads=a.size)
        return grads if n_grads > 1 else grads[0]

    def bce_forward(self, p, target, reduction):
        """l = -(t * max(log p, -100) + (1 - t) * max(log(1 - p), -100)), reduced."""
        return self._loss_forward("bce", reduction, p=p, target=target)

    def bce_backward(self, grad_out, p, target, reduction):
        """grad_p = g * (p - t) / max(p (1 - p), 1e-12)."""
        return self._loss_backward("bce", grad_out, reduction, 1, p=p, target=target)

    def bce_with_logits_forward(self, logits, target, reduction):
        """l = max(z, 0) - z t + log(1 + e^-|z|), reduced."""
        return self._loss_forward("bce_with_logits", reduction, logits=logits, target=target)

    def bce_with_logits_backward(self, grad_out, logits, target, reduction):
        """grad_z = g * (sigmoid(z) - t)."""
        return self._loss_backward("bce_with_logits", grad_out, reduction, 1, logits=logits,
                                   target=target)

    def mse_forward(self, x, target, reduction):
        """l = (x - t)^2, reduced."""
        return self._loss_forward("mse", reduction, x=x, target=target)

    def mse_backward(self, grad_out, x, target, reduction):
        """grad_x = g * 2 (x - t)."""
        return self._loss_backward("mse", grad_out, reduction, 1, x=x, target=target)

    def kl_normal_forward(self, mu, logvar, reduction):
        """l = -1/2 (1 + lv - mu^2 - e^lv), reduced."""
        return self._loss_forward("kl_normal", reduction, mu=mu, logvar=logvar)

    def kl_normal_backward(self, grad_out, mu, logvar, reduction):
        """(grad_mu, grad_logvar) = (g * mu, g * 1/2 (e^lv - 1))."""
        return self._loss_backward("kl_normal", grad_out, reduction, 2, mu=mu, logvar=logvar)

    # ------------------------------------------------------------------------ pooling

    def max_pool2d_forward(self, x, kernel_size, stride, padding):
        """y = max over each window (padding = -inf, first maximum wins, NaN propagates);
        indices = flat h*W + w of the maximum in its (n, c) plane, int64."""
        op = "max_pool2d_forward"
        _float_dtype(op, x=x)
        _check_4d(op, x=x)
        kernel_size, stride, padding = ref.pair(kernel_size), ref.pair(stride), ref.pair(padding)
        n, c, h, w = x.shape
        ho, wo = ref.pool2d_output_hw(op, (h, w), kernel_size, stride, padding)
        y = self.xp.empty((n, c, ho, wo), dtype=x.dtype)
        indices = self.xp.empty(y.shape, dtype=np.int64)
        sizes = (h, w, ho, wo, *kernel_size, *stride, *padding)
        self._launch("pooling", op, x.dtype,
                     (self._input(x), y, indices, np.int64(n * c), *(np.int32(v) for v in sizes)),
                     threads=y.size)
        return y, indices

    def _by_index(self, op, src, indices, out_shape, indexed_plane, zero_fill):
        """Run one index kernel of pooling.cu: C signature (src, indices, out, src plane size,
        out plane size, indices.size); the indices address planes of ``indexed_plane`` elements."""
        dtype = _float_dtype(op, input=src)
        _check_4d(op, input=src)
        indices = self._input(indices)
        ref.check_indices(op, indices, indexed_plane)
        out = (self.xp.zeros if zero_fill else self.xp.empty)(out_shape, dtype=dtype)
        planes = (np.int64(math.prod(src.shape[2:])), np.int64(math.prod(out_shape[2:])))
        self._launch("pooling", op, dtype,
                     (self._input(src), indices, out, *planes, np.int64(indices.size)),
                     threads=indices.size)
        return out

    def max_pool2d_backward(self, grad_y, indices, input_hw):
        """grad_x[n, c].flat[indices[n, c, i, j]] += grad_y[n, c, i, j] (scatter-add, atomicAdd)."""
        op = "max_pool2d_backward"
        _check_indices(op, indices, grad_y.shape)
        h, w = ref.pair(input_hw)
        return self._by_index(op, grad_y, indices, (*grad_y.shape[:2], h, w), h * w,
                              zero_fill=True)

    def max_unpool2d_forward(self, x, indices, output_hw):
        """y = zeros (N, C, *output_hw); y[n, c].flat[indices[n, c, i, j]] = x[n, c, i, j]."""
        op = "max_unpool2d_forward"
        _check_indices(op, indices, x.shape)
        h, w = ref.pair(output_hw)
        return self._by_index(op, x, indices, (*x.shape[:2], h, w), h * w, zero_fill=True)

    def max_unpool2d_backward(self, grad_y, indices):
        """grad_x[n, c, i, j] = grad_y[n, c].flat[indices[n, c, i, j]] (gather)."""
        op = "max_unpool2d_backward"
        _check_indices(op, indices, (*grad_y.shape[:2], *indices.shape[2:]))
        return self._by_index(op, grad_y, indices, indices.shape,
                               math.prod(grad_y.shape[2:]), zero_fill=False)

    # ------------------------------------------------------------------------ optimizers

    def sgd_step(self, param, grad, momentum_buf, lr, momentum, weight_decay, first_step):
        """In place: d = g + wd*p; with momentum buf <- d (first step) or momentum*buf + d,
        d = buf; p <- p - lr*d."""
        op = "sgd_step"
        state = {"param": param} if momentum == 0 else {"param": param, "momentum_buf": momentum_buf}
        ref.check_same(op, grad=grad, **state)
        _check_writable(op, **state)
        real, n = param.dtype.type, np.int64(param.size)
        grad = self._input(grad)
        if momentum == 0:
            self._launch("optim", "sgd_step", param.dtype,
                         (param, grad, real(lr), real(weight_decay), n), threads=param.size)
        else:
            self._launch("optim", "sgd_momentum_step", param.dtype,
                         (param, grad, momentum_buf, real(lr), real(momentum), real(weight_decay),
                          np.int32(bool(first_step)), n), threads=param.size)

    def adam_step(self, param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps,
                  weight_decay):
        """In place: g = grad + wd*p; m <- b1*m + (1-b1)*g; v <- b2*v + (1-b2)*g^2;
        p <- p - lr / (1 - b1^step) * (m / (sqrt(v) / sqrt(1 - b2^step) + eps))."""
        op = "adam_step"
        ref.check_same(op, param=param, grad=grad, exp_avg=exp_avg, exp_avg_sq=exp_avg_sq)
        _check_writable(op, param=param, exp_avg=exp_avg, exp_avg_sq=exp_avg_sq)
        if step < 1:
            raise ValueError(f"{op}: step counts from 1, got {step}")
        real = param.dtype.type
        step_size = lr / (1 - beta1 ** step)
        sqrt_bc2 = math.sqrt(1 - beta2 ** step)
        self._launch("optim", op, param.dtype,
                     (param, self._input(grad), exp_avg, exp_avg_sq, real(step_size),
                      real(sqrt_bc2), real(beta1), real(beta2), real(eps), real(weight_decay),
                      np.int64(param.size)), threads=param.size)
