"""Every differentiable op of minigan: one Function per op, forward and backward side by side.

Conventions: ``x`` is an op's input, ``y`` its output, ``g = dL/dy`` the gradient arriving in
backward; each docstring states y(x) and the gradients it returns. Heavy ops (convolution,
batch norm, activations, losses, pooling) call the kernel set of the input's device
(``ctx.kernels``: Numba on 'cpu', CUDA C on 'cuda'/'cuda-sim'; see docs/kernel_api.md);
light ones use the array module (``ctx.xp``: NumPy or CuPy) directly.

Names, signatures and layouts mirror ``torch.nn.functional``.
"""

import sys

import numpy as np

from minigan.autograd import Function
from minigan.backend import array_module, scatter_add
from minigan.tensor import Tensor, default_generator, tensor, use_ops

REDUCTIONS = ("mean", "sum", "none")


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
def _pair(value, name, op, minimum):
    """An int or a pair of ints -> a pair, each >= minimum (ValueError naming the op otherwise)."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else value
    if not isinstance(pair, (tuple, list)) or len(pair) != 2 or not all(isinstance(v, (int, np.integer)) for v in pair):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return int(pair[0]), int(pair[1])


def _check_ndim(op, name, t, ndims):
    if t.ndim not in ndims:
        want = " or ".join(f"{n}-D" for n in ndims)
        raise ValueError(f"{op}: {name} must be {want}, got shape {t.shape}")


def _check_same_shape(op, a, b, names=("input", "target")):
    if a.shape != b.shape:
        raise ValueError(f"{op}: {names[0]} shape {a.shape} and {names[1]} shape {b.shape} differ")


def _check_reduction(op, reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _check_float(op, *tensors):
    """TypeError unless every tensor given (None skipped) is float32 or float64: the kernels compute in floats."""
    for t in tensors:
        if t is not None and np.dtype(t.dtype).kind != "f":
            raise TypeError(f"{op}: expected float32 or float64 tensors, got {np.dtype(t.dtype).name} of shape {t.shape}")


def _int64_indices(op, name, target, device):
    """An integer Tensor or array -> a contiguous int64 array on ``device``."""
    values = target.array if isinstance(target, Tensor) else array_module(device).asarray(target)
    if values.dtype.kind not in "iu":
        raise TypeError(f"{op}: {name} must hold integer indices (int64), got dtype {values.dtype}")
    return array_module(device).ascontiguousarray(values.astype(np.int64, copy=False))


def _lift(value, like):
    """A Python number or array -> a constant Tensor with ``like``'s dtype and device."""
    if isinstance(value, Tensor):
        return value
    return tensor(value, dtype=like.dtype, device=like.device)


def _constant(array, like):
    """An array -> a Tensor on ``like``'s device that records nothing (a mask or saved statistic)."""
    return Tensor._from_op(array, like.device, None)


def _lift_pair(a, b):
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError("expected at least one Tensor operand")
    return (_lift(a, b), b) if isinstance(b, Tensor) else (a, _lift(b, a))


def unbroadcast(grad, shape):
    """Sum ``grad`` (an array, or a Tensor on the create_graph path) over the axes that broadcasting
    added or stretched, giving ``shape``."""
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


# --------------------------------------------------------------------------------------
# elementwise arithmetic (broadcasting)
# --------------------------------------------------------------------------------------
class _Add(Function):
    """y = a + b;  da = g, db = g (summed over broadcast axes)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        return a + b

    @staticmethod
    def backward(ctx, g):
        return unbroadcast(g, ctx.shapes[0]), unbroadcast(g, ctx.shapes[1])

    backward_graph = staticmethod(lambda ctx, g, a, b: _Add.backward(ctx, g))


class _Sub(Function):
    """y = a - b;  da = g, db = -g."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        return a - b

    @staticmethod
    def backward(ctx, g):
        return unbroadcast(g, ctx.shapes[0]), unbroadcast(-g, ctx.shapes[1])

    backward_graph = staticmethod(lambda ctx, g, a, b: _Sub.backward(ctx, g))


class _Mul(Function):
    """y = a * b;  da = g * b, db = g * a."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return a * b

    @staticmethod
    def backward(ctx, g):
        return _Mul.backward_graph(ctx, g, ctx.a, ctx.b)

    @staticmethod
    def backward_graph(ctx, g, a, b):
        da = unbroadcast(g * b, a.shape) if ctx.needs_input_grad[0] else None
        db = unbroadcast(g * a, b.shape) if ctx.needs_input_grad[1] else None
        return da, db


class _Div(Function):
    """y = a / b;  da = g / b, db = -g * a / b²."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return a / b

    @staticmethod
    def backward(ctx, g):
        return _Div.backward_graph(ctx, g, ctx.a, ctx.b)

    @staticmethod
    def backward_graph(ctx, g, a, b):
        da = unbroadcast(g / b, a.shape) if ctx.needs_input_grad[0] else None
        db = unbroadcast(-g * a / (b * b), b.shape) if ctx.needs_input_grad[1] else None
        return da, db


class _Pow(Function):
    """y = a ** b;  da = g * b * a^(b-1), db = g * a^b * log a (a > 0 where db is needed)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        ctx.y = a ** b
        return ctx.y

    @staticmethod
    def backward(ctx, g):
        xp, a, b = ctx.xp, ctx.a, ctx.b
        da = unbroadcast(g * b * a ** (b - 1), a.shape) if ctx.needs_input_grad[0] else None
        db = unbroadcast(g * ctx.y * xp.log(a), b.shape) if ctx.needs_input_grad[1] else None
        return da, db

    @staticmethod
    def backward_graph(ctx, g, a, b):
        da = unbroadcast(g * b * a ** (b - 1), a.shape) if ctx.needs_input_grad[0] else None
        db = unbroadcast(g * a ** b * log(a), b.shape) if ctx.needs_input_grad[1] else None
        return da, db


class _Neg(Function):
    """y = -x;  dx = -g."""

    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, g):
        return -g

    backward_graph = staticmethod(lambda ctx, g, x: -g)


class _Exp(Function):
    """y = e^x;  dx = g * y."""

    @staticmethod
    def forward(ctx, x):
        ctx.y = ctx.xp.exp(x)
        return ctx.y

    @staticmethod
    def backward(ctx, g):
        return g * ctx.y

    backward_graph = staticmethod(lambda ctx, g, x: g * exp(x))


class _Log(Function):
    """y = ln x;  dx = g / x."""

    @staticmethod
    def forward(ctx, x):
        ctx.x = x
        return ctx.xp.log(x)

    @staticmethod
    def backward(ctx, g):
        return g / ctx.x

    backward_graph = staticmethod(lambda ctx, g, x: g / x)


def add(a, b):
    return _Add.apply(*_lift_pair(a, b))


def sub(a, b):
    return _Sub.apply(*_lift_pair(a, b))


def mul(a, b):
    return _Mul.apply(*_lift_pair(a, b))


def div(a, b):
    return _Div.apply(*_lift_pair(a, b))


def pow(a, b):
    return _Pow.apply(*_lift_pair(a, b))


def neg(x):
    return _Neg.apply(x)


def exp(x):
    return _Exp.apply(x)


def log(x):
    return _Log.apply(x)


# --------------------------------------------------------------------------------------
# matrix product, reductions, shape ops
# --------------------------------------------------------------------------------------
class _MatMul(Function):
    """y = a @ b (batched over leading axes, broadcasting);  da = g @ bᵀ, db = aᵀ @ g."""

    name = "matmul"

    @staticmethod
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return a @ b

    @staticmethod
    def backward(ctx, g):
        xp, a, b = ctx.xp, ctx.a, ctx.b
        da = unbroadcast(g @ xp.swapaxes(b, -1, -2), a.shape) if ctx.needs_input_grad[0] else None
        db = unbroadcast(xp.swapaxes(a, -1, -2) @ g, b.shape) if ctx.needs_input_grad[1] else None
        return da, db

    @staticmethod
    def backward_graph(ctx, g, a, b):
        da = unbroadcast(g @ b.transpose(-1, -2), a.shape) if ctx.needs_input_grad[0] else None
        db = unbroadcast(a.transpose(-1, -2) @ g, b.shape) if ctx.needs_input_grad[1] else None
        return da, db


def matmul(a, b):
    """Matrix product of tensors with at least 2 dimensions (leading axes broadcast)."""
    a, b = _lift_pair(a, b)
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError(f"matmul: both operands need at least 2 dimensions, got shapes {a.shape} and {b.shape}")
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul: inner dimensions differ: shapes {a.shape} and {b.shape}")
    return _MatMul.apply(a, b)


def _normalize_axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    return tuple(sorted(int(a) % ndim for a in axes))


class _Sum(Function):
    """y = Σ_axis x;  dx = g broadcast back over the summed axes."""

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        ctx.shape, ctx.axes = x.shape, _normalize_axes(axis, x.ndim)
        return x.sum(axis=ctx.axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        kept = tuple(1 if i in ctx.axes else n for i, n in enumerate(ctx.shape))
        return ctx.xp.broadcast_to(g.reshape(kept), ctx.shape).copy()

    @staticmethod
    def backward_graph(ctx, g, x):
        kept = tuple(1 if i in ctx.axes else n for i, n in enumerate(ctx.shape))
        return broadcast_to(g.reshape(kept), ctx.shape)


class _BroadcastTo(Function):
    """y = x repeated along the axes broadcasting adds or stretches;  dx = g summed back over them."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return ctx.xp.broadcast_to(x, shape).copy()

    @staticmethod
    def backward(ctx, g):
        return unbroadcast(g, ctx.shape)

    backward_graph = staticmethod(lambda ctx, g, x: unbroadcast(g, ctx.shape))


def broadcast_to(x, shape):
    """x broadcast to ``shape`` (NumPy's rules), as a new tensor (``torch.broadcast_to``)."""
    shape = tuple(int(n) for n in shape)
    try:
        np.broadcast_shapes(x.shape, shape)
    except ValueError:
        raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}") from None
    if len(shape) < x.ndim or np.broadcast_shapes(x.shape, shape) != shape:
        raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}")
    return _BroadcastTo.apply(x, shape=shape)


def sum(x, axis=None, keepdims=False):
    return _Sum.apply(x, axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    """y = (1/n) Σ_axis x, n the number of elements summed."""
    axes = _normalize_axes(axis, x.ndim)
    count = int(np.prod([x.shape[a] for a in axes])) if axes else 1
    return sum(x, axis=axes, keepdims=keepdims) * (1.0 / count)


class _Reshape(Function):
    """y = x viewed with a new shape;  dx = g reshaped back."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape)

    backward_graph = staticmethod(lambda ctx, g, x: g.reshape(ctx.shape))


def reshape(x, shape):
    """x with a new shape of the same size; one entry may be -1 (inferred)."""
    shape = tuple(int(n) for n in shape)
    known = int(np.prod([n for n in shape if n != -1]))
    inferred = shape.count(-1)
    fits = (inferred == 0 and known == x.numel()) or (inferred == 1 and known > 0 and x.numel() % known == 0)
    if not fits or any(n < -1 for n in shape):
        raise ValueError(f"reshape: cannot reshape tensor of shape {x.shape} into {shape}")
    return _Reshape.apply(x, shape=shape)


class _Permute(Function):
    """y = x with axes reordered;  dx = g with the inverse order."""

    @staticmethod
    def forward(ctx, x, axes):
        ctx.inverse = tuple(np.argsort(axes))
        return x.transpose(axes)

    @staticmethod
    def backward(ctx, g):
        return g.transpose(ctx.inverse)

    backward_graph = staticmethod(lambda ctx, g, x: g.permute(ctx.inverse))


def permute(x, axes):
    if sorted(a % x.ndim for a in axes) != list(range(x.ndim)):
        raise ValueError(f"permute: {tuple(axes)} is not a permutation of the axes of shape {x.shape}")
    return _Permute.apply(x, axes=tuple(a % x.ndim for a in axes))


def transpose(x, dim0, dim1):
    return x.transpose(dim0, dim1)


class _GetItem(Function):
    """y = x[index];  dx = zeros with g added at index (repeated indices accumulate)."""

    name = "getitem"

    @staticmethod
    def forward(ctx, x, index):
        ctx.shape, ctx.index = x.shape, index
        return x[index]

    @staticmethod
    def backward(ctx, g):
        return _IndexAdd.forward(ctx, g, ctx.index, ctx.shape)

    backward_graph = staticmethod(lambda ctx, g, x: _IndexAdd.apply(g, index=ctx.index, shape=ctx.shape))


class _IndexAdd(Function):
    """y = zeros(shape) with x added at ``index`` (getitem's adjoint);  dx = g[index]."""

    @staticmethod
    def forward(ctx, x, index, shape):
        ctx.index = index
        y = ctx.xp.zeros(shape, dtype=x.dtype)
        scatter_add(ctx.xp, y, index, x)
        return y

    @staticmethod
    def backward(ctx, g):
        return g[ctx.index]

    backward_graph = staticmethod(lambda ctx, g, x: _GetItem.apply(g, index=ctx.index))


def getitem(x, index):
    def unwrap(i):
        return i.array if isinstance(i, Tensor) else i
    index = tuple(unwrap(i) for i in index) if isinstance(index, tuple) else unwrap(index)
    return _GetItem.apply(x, index=index)


class _Concatenate(Function):
    """y = [x₁, x₂, ...] joined along ``axis``;  dxᵢ = the slice of g that xᵢ filled."""

    @staticmethod
    def forward(ctx, *xs, axis=0):
        ctx.axis = axis
        ctx.bounds = np.cumsum([x.shape[axis] for x in xs])[:-1]
        return ctx.xp.concatenate(xs, axis=axis)

    @staticmethod
    def backward(ctx, g):
        return tuple(ctx.xp.split(g, ctx.bounds, axis=ctx.axis))

    @staticmethod
    def backward_graph(ctx, g, *xs):
        edges = [0, *ctx.bounds, g.shape[ctx.axis]]
        lead = (slice(None),) * ctx.axis
        return tuple(_GetItem.apply(g, index=lead + (slice(int(lo), int(hi)),)) for lo, hi in zip(edges, edges[1:]))


def cat(tensors, axis=0):
    """Join tensors along an existing axis (``torch.cat``)."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    axis = axis % tensors[0].ndim
    ref = tensors[0].shape
    for t in tensors[1:]:
        if t.ndim != len(ref) or any(a != b for i, (a, b) in enumerate(zip(t.shape, ref)) if i != axis):
            raise ValueError(f"cat: shapes {ref} and {t.shape} differ outside axis {axis}")
    return _Concatenate.apply(*tensors, axis=axis)


concatenate = cat


# --------------------------------------------------------------------------------------
# linear and convolution
# --------------------------------------------------------------------------------------
class _Linear(Function):
    """y = x Wᵀ + b for x (..., in), W (out, in), b (out,).

    dx = g W,  dW = Σ gᵀ x (over leading axes),  db = Σ g.
    """

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        ctx.x, ctx.weight, ctx.has_bias = x, weight, bias is not None
        y = x @ weight.T
        return y + bias if bias is not None else y

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.x, ctx.weight
        g2 = g.reshape(-1, g.shape[-1])
        dx = (g @ weight) if ctx.needs_input_grad[0] else None
        dw = (g2.T @ x.reshape(-1, x.shape[-1])) if ctx.needs_input_grad[1] else None
        db = g2.sum(axis=0) if ctx.has_bias else None
        return dx, dw, db

    @staticmethod
    def backward_graph(ctx, g, x, weight, bias):
        g2 = g.reshape(-1, g.shape[-1])
        dx = (g2 @ weight).reshape(x.shape) if ctx.needs_input_grad[0] else None
        dw = (g2.transpose(0, 1) @ x.reshape(-1, x.shape[-1])) if ctx.needs_input_grad[1] else None
        db = g2.sum(axis=0) if ctx.has_bias else None
        return dx, dw, db


def linear(x, weight, bias=None):
    """Affine map y = x Wᵀ + b with weight (out_features, in_features), as ``torch.nn.functional.linear``."""
    if x.ndim < 1 or weight.ndim != 2 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input shape {x.shape} does not fit weight shape {weight.shape} "
                         "(need input (..., in_features) and weight (out_features, in_features))")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias shape {bias.shape} does not match weight shape {weight.shape}")
    return _Linear.apply(x, weight, bias)


def conv_output_size(size, kernel, stride, padding, dilation):
    """floor((size + 2·padding − dilation·(kernel − 1) − 1) / stride) + 1."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _conv_options(op, stride, padding, dilation):
    return dict(stride=_pair(stride, "stride", op, 1), padding=_pair(padding, "padding", op, 0),
                dilation=_pair(dilation, "dilation", op, 1))


def _check_conv_input(op, x, weight, bias, in_channels_axis, out_channels_axis):
    _check_float(op, x, weight, bias)
    _check_ndim(op, "input", x, (4,))
    _check_ndim(op, "weight", weight, (4,))
    if x.shape[1] != weight.shape[in_channels_axis]:
        raise ValueError(f"{op}: input shape {x.shape} has {x.shape[1]} channels but weight shape "
                         f"{weight.shape} expects {weight.shape[in_channels_axis]}")
    if bias is not None and bias.shape != (weight.shape[out_channels_axis],):
        raise ValueError(f"{op}: bias shape {bias.shape} does not match weight shape {weight.shape}")


class _Conv2d(Function):
    """Cross-correlation y[n,o,i,j] = b[o] + Σ_{c,p,q} W[o,c,p,q] · x_pad[n,c, i·s + p·d, j·s + q·d].

    dx = conv2d_backward_data(g, W)   (the adjoint: a transposed convolution of g)
    dW = conv2d_backward_weight(g, x) (correlation of x with g; an op of its own, _Conv2dWeight)
    db = Σ_{n,i,j} g[n,o,i,j]
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation):
        ctx.x, ctx.weight, ctx.has_bias = x, weight, bias is not None
        ctx.options = dict(stride=stride, padding=padding, dilation=dilation)
        return ctx.kernels.conv2d_forward(x, weight, bias, **ctx.options)

    @staticmethod
    def backward(ctx, g):
        k, x, weight = ctx.kernels, ctx.x, ctx.weight
        dx = k.conv2d_backward_data(g, weight, x.shape[2:], **ctx.options) if ctx.needs_input_grad[0] else None
        dw = k.conv2d_backward_weight(g, x, weight.shape[2:], **ctx.options) if ctx.needs_input_grad[1] else None
        db = g.sum(axis=(0, 2, 3)) if ctx.has_bias else None
        return dx, dw, db

    @staticmethod
    def backward_graph(ctx, g, x, weight, bias):
        dx = _ConvTranspose2d.apply(g, weight, None, output_hw=x.shape[2:], **ctx.options) \
            if ctx.needs_input_grad[0] else None
        dw = _Conv2dWeight.apply(g, x, kernel_hw=weight.shape[2:], **ctx.options) if ctx.needs_input_grad[1] else None
        db = g.sum(axis=(0, 2, 3)) if ctx.has_bias else None
        return dx, dw, db


class _Conv2dWeight(Function):
    """conv2d's weight gradient as an op: W'[o,c,p,q] = Σ_{n,i,j} gy[n,o,i,j] · x_pad[n,c, i·s + p·d, j·s + q·d].

    Bilinear in (gy, x), so with G = dL/dW':
        d gy = conv2d(x, G)                    (the forward convolution, G as the weight)
        d x  = conv2d_backward_data(gy, G)     (the transposed convolution of gy by G)
    """

    @staticmethod
    def forward(ctx, grad_y, x, kernel_hw, stride, padding, dilation):
        ctx.grad_y, ctx.x = grad_y, x
        ctx.options = dict(stride=stride, padding=padding, dilation=dilation)
        return ctx.kernels.conv2d_backward_weight(grad_y, x, kernel_hw, **ctx.options)

    @staticmethod
    def backward(ctx, g):
        k = ctx.kernels
        dgy = k.conv2d_forward(ctx.x, g, None, **ctx.options) if ctx.needs_input_grad[0] else None
        dx = k.conv2d_backward_data(ctx.grad_y, g, ctx.x.shape[2:], **ctx.options) if ctx.needs_input_grad[1] else None
        return dgy, dx

    @staticmethod
    def backward_graph(ctx, g, grad_y, x):
        dgy = _Conv2d.apply(x, g, None, **ctx.options) if ctx.needs_input_grad[0] else None
        dx = _ConvTranspose2d.apply(grad_y, g, None, output_hw=x.shape[2:], **ctx.options) \
            if ctx.needs_input_grad[1] else None
        return dgy, dx


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1):
    """2-D convolution of x (N, C_in, H, W) with weight (C_out, C_in, kH, kW), as in PyTorch."""
    op = "conv2d"
    options = _conv_options(op, stride, padding, dilation)
    _check_conv_input(op, x, weight, bias, in_channels_axis=1, out_channels_axis=0)
    out_hw = [conv_output_size(x.shape[2 + i], weight.shape[2 + i], options["stride"][i],
                               options["padding"][i], options["dilation"][i]) for i in range(2)]
    if min(out_hw) < 1:
        raise ValueError(f"{op}: kernel of weight shape {weight.shape} (dilation {options['dilation']}) is larger "
                         f"than the padded input of shape {x.shape} (padding {options['padding']})")
    return _Conv2d.apply(x, weight, bias, **options)


class _ConvTranspose2d(Function):
    """Transposed convolution: the adjoint of conv2d with the same weight, stride, padding, dilation.

    y = conv2d_backward_data(x, W) + b       (W is (C_in, C_out, kH, kW): conv2d's (O, C) layout
                                              with O = C_in, so x plays conv2d's output gradient)
    dx = conv2d_forward(g, W)                (the adjoint of the adjoint is the convolution)
    dW = conv2d_backward_weight(x, g)        (conv2d's weight gradient with g as its input)
    db = Σ_{n,i,j} g[n,o,i,j]

    An output_padding of at least the stride adds output rows (columns) that no input reaches;
    the convolution of y then has more rows than x, so x is extended by zero rows to that size
    (``reach``) and dx cut back to x's size.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, output_hw):
        ctx.options = dict(stride=stride, padding=padding, dilation=dilation)
        ctx.x_hw, ctx.has_bias = x.shape[2:], bias is not None
        reach = [conv_output_size(output_hw[i], weight.shape[2 + i], stride[i], padding[i], dilation[i])
                 for i in range(2)]
        if reach != list(x.shape[2:]):
            x = ctx.xp.pad(x, ((0, 0), (0, 0), (0, reach[0] - x.shape[2]), (0, reach[1] - x.shape[3])))
        ctx.x, ctx.weight = x, weight
        y = ctx.kernels.conv2d_backward_data(x, weight, output_hw, **ctx.options)
        if bias is not None:
            y += bias.reshape(1, -1, 1, 1)
        return y

    @staticmethod
    def backward(ctx, g):
        k, x, weight = ctx.kernels, ctx.x, ctx.weight
        dx = ctx.xp.ascontiguousarray(k.conv2d_forward(g, weight, None, **ctx.options)[:, :, :ctx.x_hw[0], :ctx.x_hw[1]]) \
            if ctx.needs_input_grad[0] else None
        dw = k.conv2d_backward_weight(x, g, weight.shape[2:], **ctx.options) if ctx.needs_input_grad[1] else None
        db = g.sum(axis=(0, 2, 3)) if ctx.has_bias else None
        return dx, dw, db

    @staticmethod
    def backward_graph(ctx, g, x, weight, bias):
        h, w = ctx.x_hw
        dx = _Conv2d.apply(g, weight, None, **ctx.options)[:, :, :h, :w] if ctx.needs_input_grad[0] else None
        dw = None
        if ctx.needs_input_grad[1]:
            reached = _pad_end(x, ctx.x.shape[2] - h, ctx.x.shape[3] - w)
            dw = _Conv2dWeight.apply(reached, g, kernel_hw=weight.shape[2:], **ctx.options)
        db = g.sum(axis=(0, 2, 3)) if ctx.has_bias else None
        return dx, dw, db


def _pad_end(x, rows, cols):
    """x (N, C, H, W) with ``rows`` zero rows below and ``cols`` zero columns to the right (differentiable)."""
    if rows:
        x = cat([x, _constant(array_module(x.device).zeros(x.shape[:2] + (rows, x.shape[3]), x.dtype), x)], axis=2)
    if cols:
        x = cat([x, _constant(array_module(x.device).zeros(x.shape[:3] + (cols,), x.dtype), x)], axis=3)
    return x


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, dilation=1):
    """Transposed 2-D convolution of x (N, C_in, H, W) with weight (C_in, C_out, kH, kW), as in PyTorch.

    Output size: (H − 1)·stride − 2·padding + dilation·(kH − 1) + output_padding + 1.
    """
    op = "conv_transpose2d"
    options = _conv_options(op, stride, padding, dilation)
    output_padding = _pair(output_padding, "output_padding", op, 0)
    _check_conv_input(op, x, weight, bias, in_channels_axis=0, out_channels_axis=1)
    for i in range(2):
        if output_padding[i] >= max(options["stride"][i], options["dilation"][i]):
            raise ValueError(f"{op}: output_padding {output_padding} must be smaller than stride "
                             f"{options['stride']} or dilation {options['dilation']}")
    output_hw = tuple((x.shape[2 + i] - 1) * options["stride"][i] - 2 * options["padding"][i]
                      + options["dilation"][i] * (weight.shape[2 + i] - 1) + output_padding[i] + 1
                      for i in range(2))
    if min(output_hw) < 1:
        raise ValueError(f"{op}: input shape {x.shape} with weight shape {weight.shape} and padding "
                         f"{options['padding']} gives an empty output {output_hw}")
    return _ConvTranspose2d.apply(x, weight, bias, output_hw=output_hw, **options)


# --------------------------------------------------------------------------------------
# batch normalisation
# --------------------------------------------------------------------------------------
class _BatchNorm(Function):
    """y = γ · (x − μ) / √(σ² + ε) + β per channel, x viewed as (N, C, L).

    Training: μ, σ² are the biased batch statistics over (N, L), and with m = N·L, x̂ = (x − μ)/√(σ²+ε):
        dβ = Σ g,  dγ = Σ g·x̂,  dx = γ/√(σ²+ε) · (g − dβ/m − x̂·dγ/m)
    Evaluation: μ, σ² are the running estimates, constants:  dx = γ/√(σ²+ε) · g.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps, affine):
        ctx.shape, ctx.affine, ctx.eps, ctx.training = x.shape, affine, eps, training
        x3 = ctx.xp.ascontiguousarray(x.reshape(x.shape[0], x.shape[1], -1))
        k = ctx.kernels
        if training:
            y, mean, var = k.batch_norm_forward_train(x3, weight, bias, eps)
            if running_mean is not None:
                count = x3.shape[0] * x3.shape[2]
                k.batch_norm_update_running(running_mean, running_var, mean, var, count, momentum)
            ctx.stats = mean, var
        else:
            y = k.batch_norm_forward_eval(x3, running_mean, running_var, weight, bias, eps)
            ctx.stats = running_mean.copy(), running_var.copy()
        ctx.x3, ctx.weight = x3, weight
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        g3 = ctx.xp.ascontiguousarray(g.reshape(ctx.x3.shape))
        backward = ctx.kernels.batch_norm_backward_train if ctx.training else ctx.kernels.batch_norm_backward_eval
        dx, dw, db = backward(g3, ctx.x3, *ctx.stats, ctx.weight, ctx.eps)
        if not ctx.affine:
            dw = db = None
        return dx.reshape(ctx.shape), dw, db, None, None

    @staticmethod
    def backward_graph(ctx, g, x, weight, bias, running_mean, running_var):
        n, c = ctx.x3.shape[:2]
        m = n * ctx.x3.shape[2]
        x3, g3 = x.reshape(n, c, -1), g.reshape(n, c, -1)
        if ctx.training:
            mean = x3.mean(axis=(0, 2), keepdims=True)
            centred = x3 - mean
            inv_std = ((centred * centred).mean(axis=(0, 2), keepdims=True) + ctx.eps) ** -0.5
        else:
            mean, var = (_constant(s.reshape(1, c, 1), x) for s in ctx.stats)
            centred = x3 - mean
            inv_std = (var + ctx.eps) ** -0.5
        x_hat = centred * inv_std
        db = g3.sum(axis=(0, 2))
        dw = (g3 * x_hat).sum(axis=(0, 2))
        scale = weight.reshape(1, c, 1) * inv_std
        if ctx.training:
            dx3 = scale * (g3 - db.reshape(1, c, 1) * (1.0 / m) - x_hat * dw.reshape(1, c, 1) * (1.0 / m))
        else:
            dx3 = scale * g3
        if not ctx.affine:
            dw = db = None
        return dx3.reshape(ctx.shape), dw, db, None, None


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Batch normalisation of x (N, C) or (N, C, H, W) over every axis but the channel axis 1.

    When ``training``, normalises with the batch statistics and, if running stats are given,
    updates them in place: r_mean ← (1−m)·r_mean + m·μ, r_var ← (1−m)·r_var + m·σ²·n/(n−1).
    Otherwise normalises with the running statistics.
    """
    op = "batch_norm"
    _check_ndim(op, "input", x, (2, 3, 4))
    _check_float(op, x, running_mean, running_var, weight, bias)
    if any(t is not None and t.dtype != x.dtype for t in (running_mean, running_var)):
        raise TypeError(f"{op}: running_mean and running_var must have the input's dtype {np.dtype(x.dtype).name}")
    channels = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and t.shape != (channels,):
            raise ValueError(f"{op}: {name} shape {t.shape} does not match input shape {x.shape} "
                             f"({channels} channels)")
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{op}: give both running_mean and running_var, or neither")
    if not training and running_mean is None:
        raise ValueError(f"{op}: evaluation mode needs running_mean and running_var")
    if training and x.numel() // channels < 2:
        raise ValueError(f"{op}: expected more than 1 value per channel when training, got input shape {x.shape}")
    for name, t in (("running_mean", running_mean), ("running_var", running_var)):
        if training and t is not None and not t.array.flags.c_contiguous:
            raise ValueError(f"{op}: {name} of shape {t.shape} must be C-contiguous: training updates it in place")
    affine = weight is not None
    if not affine:
        xp = array_module(x.device)
        weight = Tensor._from_op(xp.ones(channels, dtype=x.dtype), x.device, None)
        bias = Tensor._from_op(xp.zeros(channels, dtype=x.dtype), x.device, None)
    stats = (None, None) if running_mean is None else (running_mean.array, running_var.array)
    return _BatchNorm.apply(x, weight, bias, *stats, training=bool(training), momentum=float(momentum),
                            eps=float(eps), affine=affine)


# --------------------------------------------------------------------------------------
# activations
# --------------------------------------------------------------------------------------
class _ReLU(Function):
    """y = max(x, 0);  dx = g · [x > 0]."""

    name = "relu"

    @staticmethod
    def forward(ctx, x):
        ctx.x = x
        return ctx.kernels.relu_forward(x)

    @staticmethod
    def backward(ctx, g):
        return ctx.kernels.relu_backward(g, ctx.x)

    backward_graph = staticmethod(lambda ctx, g, x: g * _constant((x.array > 0).astype(x.dtype), x))


class _LeakyReLU(Function):
    """y = x if x > 0 else a·x;  dx = g · (1 if x > 0 else a)."""

    name = "leaky_relu"

    @staticmethod
    def forward(ctx, x, negative_slope):
        ctx.x, ctx.slope = x, negative_slope
        return ctx.kernels.leaky_relu_forward(x, negative_slope)

    @staticmethod
    def backward(ctx, g):
        return ctx.kernels.leaky_relu_backward(g, ctx.x, ctx.slope)

    @staticmethod
    def backward_graph(ctx, g, x):
        slope = ctx.xp.where(x.array > 0, 1.0, ctx.slope).astype(x.dtype)
        return g * _constant(slope, x)


class _Tanh(Function):
    """y = tanh x;  dx = g · (1 − y²)."""

    @staticmethod
    def forward(ctx, x):
        ctx.y = ctx.kernels.tanh_forward(x)
        return ctx.y

    @staticmethod
    def backward(ctx, g):
        return ctx.kernels.tanh_backward(g, ctx.y)

    @staticmethod
    def backward_graph(ctx, g, x):
        y = tanh(x)
        return g * (1.0 - y * y)


class _Sigmoid(Function):
    """y = σ(x) = 1 / (1 + e^−x);  dx = g · y · (1 − y)."""

    @staticmethod
    def forward(ctx, x):
        ctx.y = ctx.kernels.sigmoid_forward(x)
        return ctx.y

    @staticmethod
    def backward(ctx, g):
        return ctx.kernels.sigmoid_backward(g, ctx.y)

    @staticmethod
    def backward_graph(ctx, g, x):
        y = sigmoid(x)
        return g * y * (1.0 - y)


def relu(x):
    _check_float("relu", x)
    return _ReLU.apply(x)


def leaky_relu(x, negative_slope=0.01):
    _check_float("leaky_relu", x)
    return _LeakyReLU.apply(x, negative_slope=float(negative_slope))


def tanh(x):
    _check_float("tanh", x)
    return _Tanh.apply(x)


def sigmoid(x):
    _check_float("sigmoid", x)
    return _Sigmoid.apply(x)


# --------------------------------------------------------------------------------------
# losses
# --------------------------------------------------------------------------------------
class _BinaryCrossEntropy(Function):
    """ℓ = −[t·max(ln p, −100) + (1−t)·max(ln(1−p), −100)], reduced by mean/sum/none.

    dp = g · (p − t) / (p(1 − p))   (p(1−p) clamped at 1e-12)
    dt = g · (max(ln(1−p), −100) − max(ln p, −100))
    """

    @staticmethod
    def forward(ctx, p, target, reduction):
        ctx.p, ctx.target, ctx.reduction = p, target, reduction
        return ctx.kernels.bce_forward(p, target, reduction)

    @staticmethod
    def backward(ctx, g):
        xp, p = ctx.xp, ctx.p
        dp = ctx.kernels.bce_backward(g, p, ctx.target, ctx.reduction) if ctx.needs_input_grad[0] else None
        dt = None
        if ctx.needs_input_grad[1]:
            log_ratio = xp.maximum(xp.log1p(-p), -100) - xp.maximum(xp.log(p), -100)
            dt = _reduced_grad(ctx, g, p) * log_ratio
        return dp, dt

    @staticmethod
    def backward_graph(ctx, g, p, target):
        spread = _reduced_grad(ctx, g, p)
        dp = dt = None
        if ctx.needs_input_grad[0]:
            variance = p * (1.0 - p)
            kept = _constant((variance.array >= 1e-12).astype(p.dtype), p)
            dp = spread * (p - target) / (variance * kept + 1e-12 * (1.0 - kept))
        if ctx.needs_input_grad[1]:
            dt = spread * (_clamped_log(1.0 - p) - _clamped_log(p))
        return dp, dt


def _clamped_log(x):
    """max(ln x, −100) as BCE takes it, differentiable where ln x > −100 (constant −100 elsewhere)."""
    kept = _constant((x.array > np.exp(-100.0)).astype(x.dtype), x)
    return log(x * kept + (1.0 - kept)) * kept - 100.0 * (1.0 - kept)


class _BinaryCrossEntropyWithLogits(Function):
    """ℓ = max(z, 0) − z·t + ln(1 + e^{−|z|})  (= BCE(σ(z), t) without overflow), reduced.

    dz = g · (σ(z) − t),  dt = −g · z
    """

    @staticmethod
    def forward(ctx, z, target, reduction):
        ctx.z, ctx.target, ctx.reduction = z, target, reduction
        return ctx.kernels.bce_with_logits_forward(z, target, reduction)

    @staticmethod
    def backward(ctx, g):
        dz = ctx.kernels.bce_with_logits_backward(g, ctx.z, ctx.target, ctx.reduction) \
            if ctx.needs_input_grad[0] else None
        dt = -_reduced_grad(ctx, g, ctx.z) * ctx.z if ctx.needs_input_grad[1] else None
        return dz, dt

    @staticmethod
    def backward_graph(ctx, g, z, target):
        spread = _reduced_grad(ctx, g, z)
        dz = spread * (sigmoid(z) - target) if ctx.needs_input_grad[0] else None
        dt = -spread * z if ctx.needs_input_grad[1] else None
        return dz, dt


class _DifferenceLoss(Function):
    """A loss of the difference d = x − t per element, then reduced. The kernel pair
    ``<kernel>_forward`` / ``<kernel>_backward`` gives ℓ and dx; dt = −dx. Each loss below states
    ℓ and gives ``slope`` = dℓ/dd as Tensors, for the create_graph path."""

    kernel = None

    @classmethod
    def forward(cls, ctx, x, target, reduction):
        ctx.x, ctx.target, ctx.reduction = x, target, reduction
        return getattr(ctx.kernels, f"{cls.kernel}_forward")(x, target, reduction)

    @classmethod
    def backward(cls, ctx, g):
        dx = getattr(ctx.kernels, f"{cls.kernel}_backward")(g, ctx.x, ctx.target, ctx.reduction)
        return (dx if ctx.needs_input_grad[0] else None), (-dx if ctx.needs_input_grad[1] else None)

    @classmethod
    def backward_graph(cls, ctx, g, x, target):
        dx = _reduced_grad(ctx, g, x) * cls.slope(ctx, x, target)
        return (dx if ctx.needs_input_grad[0] else None), (-dx if ctx.needs_input_grad[1] else None)


class _MSELoss(_DifferenceLoss):
    """ℓ = (x − t)², reduced;  dx = g · 2(x − t),  dt = −dx."""

    name = "mse_loss"
    kernel = "mse"
    slope = staticmethod(lambda ctx, x, target: 2.0 * (x - target))


class _KLNormal(Function):
    """KL(N(μ, e^{lv}) ‖ N(0, 1)) per element: ℓ = −½(1 + lv − μ² − e^{lv}), reduced.

    dμ = g · μ,  dlv = g · ½(e^{lv} − 1)
    """

    name = "kl_normal"

    @staticmethod
    def forward(ctx, mu, logvar, reduction):
        ctx.mu, ctx.logvar, ctx.reduction = mu, logvar, reduction
        return ctx.kernels.kl_normal_forward(mu, logvar, reduction)

    @staticmethod
    def backward(ctx, g):
        return ctx.kernels.kl_normal_backward(g, ctx.mu, ctx.logvar, ctx.reduction)

    @staticmethod
    def backward_graph(ctx, g, mu, logvar):
        spread = _reduced_grad(ctx, g, mu)
        return spread * mu, spread * 0.5 * (exp(logvar) - 1.0)


def _reduced_grad(ctx, g, like):
    """The incoming gradient spread over the elements: g, g (sum) or g/n (mean), as ``like``'s shape.

    Arrays on the fast path; Tensors (a differentiable broadcast) on the create_graph path.
    """
    scale = 1.0 / (like.array.size if isinstance(like, Tensor) else like.size) if ctx.reduction == "mean" else 1.0
    if isinstance(g, Tensor):
        return broadcast_to(g * scale, like.shape)
    return ctx.xp.broadcast_to(g * scale, like.shape)


def _loss(function, op, x, target, reduction, names=("input", "target")):
    _check_reduction(op, reduction)
    target = _lift(target, x)
    _check_float(op, x, target)
    _check_same_shape(op, x, target, names)
    return function.apply(x, target, reduction=reduction)


def binary_cross_entropy(p, target, reduction="mean"):
    """Binary cross-entropy of probabilities p in [0, 1] against targets (log clamped at −100, as PyTorch)."""
    return _loss(_BinaryCrossEntropy, "binary_cross_entropy", p, target, reduction)


def binary_cross_entropy_with_logits(logits, target, reduction="mean"):
    """Binary cross-entropy of σ(logits), computed stably from the logits."""
    return _loss(_BinaryCrossEntropyWithLogits, "binary_cross_entropy_with_logits", logits, target, reduction)


def mse_loss(x, target, reduction="mean"):
    """Mean squared error (x − target)²."""
    return _loss(_MSELoss, "mse_loss", x, target, reduction)


def kl_normal(mu, logvar, reduction="sum"):
    """KL( N(mu, exp(logvar)) ‖ N(0, I) ) = −½ Σ (1 + logvar − mu² − exp(logvar))."""
    return _loss(_KLNormal, "kl_normal", mu, logvar, reduction, names=("mu", "logvar"))


# --------------------------------------------------------------------------------------
# pooling
# --------------------------------------------------------------------------------------
class _MaxPool2d(Function):
    """y[n,c,i,j] = max over the window of x_pad (padding = −∞); indices = argmax as h·W + w.

    dx = g scattered (added) to the argmax positions.
    """

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding):
        y, indices = ctx.kernels.max_pool2d_forward(x, kernel_size, stride, padding)
        ctx.indices, ctx.input_hw = indices, x.shape[2:]
        return y, indices

    @staticmethod
    def backward(ctx, g):
        return ctx.kernels.max_pool2d_backward(g, ctx.indices, ctx.input_hw)

    backward_graph = staticmethod(lambda ctx, g, x: _PlaneScatterAdd.apply(g, indices=ctx.indices,
                                                                           input_hw=ctx.input_hw))


class _MaxUnpool2d(Function):
    """y = zeros of output size with y[n,c,indices[n,c,i,j]] = x[n,c,i,j];  dx = g gathered at indices."""

    @staticmethod
    def forward(ctx, x, indices, output_hw):
        ctx.indices = indices
        return ctx.kernels.max_unpool2d_forward(x, indices, output_hw)

    @staticmethod
    def backward(ctx, g):
        return ctx.kernels.max_unpool2d_backward(g, ctx.indices), None

    backward_graph = staticmethod(lambda ctx, g, x, indices: (_PlaneGather.apply(g, indices=ctx.indices), None))


class _PlaneScatterAdd(Function):
    """y (N, C, H, W) = zeros with y[n,c].flat[indices[n,c,i,j]] += x[n,c,i,j]  (max_pool2d's backward as an op);
    dx = g gathered at indices."""

    @staticmethod
    def forward(ctx, x, indices, input_hw):
        ctx.indices, ctx.input_hw = indices, input_hw
        return ctx.kernels.max_pool2d_backward(x, indices, input_hw)

    @staticmethod
    def backward(ctx, g):
        return ctx.kernels.max_unpool2d_backward(g, ctx.indices)

    backward_graph = staticmethod(lambda ctx, g, x: _PlaneGather.apply(g, indices=ctx.indices))


class _PlaneGather(Function):
    """y[n,c,i,j] = x[n,c].flat[indices[n,c,i,j]]  (max_unpool2d's backward as an op);
    dx = g scattered (added) back to the indices."""

    @staticmethod
    def forward(ctx, x, indices):
        ctx.indices, ctx.input_hw = indices, x.shape[2:]
        return ctx.kernels.max_unpool2d_backward(x, indices)

    @staticmethod
    def backward(ctx, g):
        return ctx.kernels.max_pool2d_backward(g, ctx.indices, ctx.input_hw)

    backward_graph = staticmethod(lambda ctx, g, x: _PlaneScatterAdd.apply(g, indices=ctx.indices,
                                                                           input_hw=ctx.input_hw))


def _pool_options(op, x, kernel_size, stride, padding):
    _check_float(op, x)
    _check_ndim(op, "input", x, (4,))
    kernel = _pair(kernel_size, "kernel_size", op, 1)
    stride = kernel if stride is None else _pair(stride, "stride", op, 1)
    padding = _pair(padding, "padding", op, 0)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{op}: padding {padding} must be at most half of kernel_size {kernel}")
    return kernel, stride, padding


def max_pool2d(x, kernel_size, stride=None, padding=0, return_indices=False):
    """Max pooling of x (N, C, H, W); ``stride`` defaults to ``kernel_size``."""
    op = "max_pool2d"
    kernel, stride, padding = _pool_options(op, x, kernel_size, stride, padding)
    out_hw = [conv_output_size(x.shape[2 + i], kernel[i], stride[i], padding[i], 1) for i in range(2)]
    if min(out_hw) < 1:
        raise ValueError(f"{op}: kernel_size {kernel} is larger than the padded input of shape {x.shape}")
    y, indices = _MaxPool2d.apply(x, kernel_size=kernel, stride=stride, padding=padding)
    return (y, indices) if return_indices else y


def max_unpool2d(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Inverse of max_pool2d: put each value back at its argmax, zeros elsewhere.

    Default output size: (H − 1)·stride − 2·padding + kernel_size.
    """
    op = "max_unpool2d"
    kernel, stride, padding = _pool_options(op, x, kernel_size, stride, padding)
    index = _int64_indices(op, "indices", indices, x.device)
    if index.shape != x.shape:
        raise ValueError(f"{op}: indices shape {index.shape} does not match input shape {x.shape}")
    if output_size is None:
        output_hw = tuple((x.shape[2 + i] - 1) * stride[i] - 2 * padding[i] + kernel[i] for i in range(2))
    else:
        output_hw = tuple(int(s) for s in tuple(output_size)[-2:])
    if index.size and (int(index.min()) < 0 or int(index.max()) >= output_hw[0] * output_hw[1]):
        raise ValueError(f"{op}: an index in indices lies outside [0, {output_hw[0] * output_hw[1]}), "
                         f"the positions of the output size {output_hw}")
    return _MaxUnpool2d.apply(x, index, output_hw=output_hw)


# --------------------------------------------------------------------------------------
# torch's tensor functions: stacking, |x|, clamp, where, extremes, tiling, statistics.
# Each backward body works on arrays and, for create_graph, on Tensors alike.
# --------------------------------------------------------------------------------------
class _Stack(Function):
    """y = [x₁, x₂, ...] stacked along a new axis ``axis``;  dxᵢ = g taken at index i of that axis."""

    @staticmethod
    def forward(ctx, *xs, axis=0):
        ctx.axis = axis
        return ctx.xp.stack(xs, axis=axis)

    @staticmethod
    def backward(ctx, g):
        lead = (slice(None),) * ctx.axis
        return tuple(g[lead + (i,)] for i in range(g.shape[ctx.axis]))

    backward_graph = staticmethod(lambda ctx, g, *xs: _Stack.backward(ctx, g))


def stack(tensors, dim=0):
    """Join tensors of one shape along a new axis ``dim`` (``torch.stack``)."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"stack: all tensors must have one shape, got {sorted(shapes)}")
    return _Stack.apply(*tensors, axis=dim % (tensors[0].ndim + 1))


def _masked(g, mask):
    """g · mask with ``mask`` a constant array (wrapped as a Tensor when g is one)."""
    return g * (_constant(mask, g) if isinstance(g, Tensor) else mask)


class _Abs(Function):
    """y = |x|;  dx = g · sign(x)  (0 at x = 0, as PyTorch)."""

    name = "abs"

    @staticmethod
    def forward(ctx, x):
        ctx.sign = ctx.xp.sign(x)
        return ctx.xp.abs(x)

    @staticmethod
    def backward(ctx, g):
        return _masked(g, ctx.sign)

    backward_graph = staticmethod(lambda ctx, g, x: _Abs.backward(ctx, g))


def absolute(x):
    return _Abs.apply(x)


class _Clamp(Function):
    """y = min(max(x, lo), hi);  dx = g · [lo ≤ x ≤ hi]  (a missing bound is no bound)."""

    @staticmethod
    def forward(ctx, x, lo, hi):
        inside = ctx.xp.ones(x.shape, dtype=bool)
        if lo is not None:
            inside &= x >= lo
        if hi is not None:
            inside &= x <= hi
        ctx.inside = inside.astype(x.dtype)
        return ctx.xp.clip(x, lo, hi)

    @staticmethod
    def backward(ctx, g):
        return _masked(g, ctx.inside)

    backward_graph = staticmethod(lambda ctx, g, x: _Clamp.backward(ctx, g))


def clamp(x, min=None, max=None):
    """Limit x to [min, max] (``torch.clamp``); either bound may be None, not both."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    return _Clamp.apply(x, lo=None if min is None else float(min), hi=None if max is None else float(max))


class _Extreme(Function):
    """The largest (or smallest) element of x, overall or along ``axis``.

    Overall:      y = max x;  dx = g · [x = y] / #{x = y}  (shared evenly by ties, as PyTorch).
    Along axis:   y = x[i*], i* = argmax along the axis (also returned);  dx = g · [index = i*].
    Both are dx = (g broadcast back over the reduced axes) · a constant mask.
    """

    name = "max/min"

    @staticmethod
    def forward(ctx, x, axis, keepdims, largest):
        xp = ctx.xp
        ctx.kept = tuple(1 if axis is None or i == axis else n for i, n in enumerate(x.shape))
        if axis is None:
            y = x.max() if largest else x.min()
            ctx.mask = ((x == y) / (x == y).sum()).astype(x.dtype)
            return y
        index = xp.expand_dims((x.argmax if largest else x.argmin)(axis=axis), axis)
        ctx.mask = (xp.arange(x.shape[axis]).reshape((-1,) + (1,) * (x.ndim - axis - 1)) == index).astype(x.dtype)
        y = xp.take_along_axis(x, index, axis)
        return (y, index) if keepdims else (y.squeeze(axis), index.squeeze(axis))

    @staticmethod
    def backward(ctx, g):
        g = g.reshape(ctx.kept)
        spread = broadcast_to(g, ctx.mask.shape) if isinstance(g, Tensor) else \
            ctx.xp.broadcast_to(g, ctx.mask.shape)
        return _masked(spread, ctx.mask)

    backward_graph = staticmethod(lambda ctx, g, x: _Extreme.backward(ctx, g))


class MaxResult(tuple):
    """``(values, indices)`` of a max/min along a dimension, also as ``.values`` and ``.indices``."""

    def __new__(cls, values, indices):
        return super().__new__(cls, (values, indices))

    @property
    def values(self):
        return self[0]

    @property
    def indices(self):
        return self[1]


def _extreme(x, dim, keepdim, largest):
    if x.numel() == 0:
        raise ValueError(f"{'max' if largest else 'min'}: the input of shape {x.shape} is empty")
    if dim is None:
        return _Extreme.apply(x, axis=None, keepdims=False, largest=largest)
    if x.ndim == 0:
        raise ValueError(f"{'max' if largest else 'min'}: a 0-d tensor has no dimension {dim}")
    values, indices = _Extreme.apply(x, axis=int(dim) % x.ndim, keepdims=keepdim, largest=largest)
    return MaxResult(values, indices)


def amax_with_indices(x, dim=None, keepdim=False):
    """max x overall (one value), or ``(values, indices)`` along ``dim`` (``torch.max``)."""
    return _extreme(x, dim, keepdim, largest=True)


def amin_with_indices(x, dim=None, keepdim=False):
    """min x overall (one value), or ``(values, indices)`` along ``dim`` (``torch.min``)."""
    return _extreme(x, dim, keepdim, largest=False)


class _Where(Function):
    """y = a where cond else b (broadcasting);  da = g · cond, db = g · (1 − cond), summed back."""

    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.chosen = cond.astype(a.dtype), (~cond).astype(a.dtype)
        ctx.shapes = a.shape, b.shape
        return ctx.xp.where(cond, a, b)

    @staticmethod
    def backward(ctx, g):
        da = unbroadcast(_masked(g, ctx.chosen[0]), ctx.shapes[0]) if ctx.needs_input_grad[1] else None
        db = unbroadcast(_masked(g, ctx.chosen[1]), ctx.shapes[1]) if ctx.needs_input_grad[2] else None
        return None, da, db

    backward_graph = staticmethod(lambda ctx, g, cond, a, b: _Where.backward(ctx, g))


def where(condition, a, b):
    """Elementwise choice ``a if condition else b`` (``torch.where``); a or b may be a number."""
    if not isinstance(condition, Tensor) or condition.dtype != np.bool_:
        raise TypeError(f"where: condition must be a bool Tensor, got {getattr(condition, 'dtype', type(condition))}")
    a, b = _lift_pair(a, b)
    return _Where.apply(condition, a, b)


def maximum(a, b):
    """Elementwise max(a, b) (``torch.maximum``); a tie sends the gradient to a."""
    a, b = _lift_pair(a, b)
    return where(a >= b, a, b)


def minimum(a, b):
    """Elementwise min(a, b) (``torch.minimum``); a tie sends the gradient to a."""
    a, b = _lift_pair(a, b)
    return where(a <= b, a, b)


def expand(x, shape):
    """x broadcast to ``shape``, where -1 keeps a size (``torch.Tensor.expand``; a copy in minigan)."""
    shape = tuple(int(n) for n in shape)
    lead = len(shape) - x.ndim
    if lead < 0 or any(n == -1 for n in shape[:lead]):
        raise ValueError(f"expand: cannot expand shape {x.shape} to {shape}")
    return broadcast_to(x, shape[:lead] + tuple(old if n == -1 else n for old, n in zip(x.shape, shape[lead:])))


class _Repeat(Function):
    """y = x tiled ``reps`` times along each axis;  dx = Σ over the copies of g's matching blocks."""

    @staticmethod
    def forward(ctx, x, reps):
        ctx.shape = x.shape
        return ctx.xp.tile(x.reshape((1,) * (len(reps) - x.ndim) + x.shape), reps)

    @staticmethod
    def backward(ctx, g):
        full = (1,) * (g.ndim - len(ctx.shape)) + ctx.shape
        blocks = g.reshape(tuple(n for size, total in zip(full, g.shape) for n in (total // size, size)))
        return blocks.sum(axis=tuple(range(0, blocks.ndim, 2))).reshape(ctx.shape)

    backward_graph = staticmethod(lambda ctx, g, x: _Repeat.backward(ctx, g))


def repeat(x, reps):
    """x tiled ``reps[i]`` times along axis i (``torch.Tensor.repeat``; len(reps) >= x.ndim)."""
    reps = tuple(int(n) for n in reps)
    if len(reps) < x.ndim or any(n < 1 for n in reps):
        raise ValueError(f"repeat: need at least {x.ndim} positive repeat counts for shape {x.shape}, got {reps}")
    return _Repeat.apply(x, reps=reps)


def var(x, dim=None, unbiased=True, keepdim=False):
    """Variance Σ (x − x̄)² / (n − 1) over ``dim`` (all axes if None); / n when not ``unbiased``."""
    axes = _normalize_axes(dim, x.ndim)
    count = int(np.prod([x.shape[a] for a in axes]))
    scale = 1.0 / (count - int(unbiased)) if count > int(unbiased) else float("nan")
    centred = x - mean(x, axis=axes, keepdims=True)
    return sum(centred * centred, axis=axes, keepdims=keepdim) * scale


def std(x, dim=None, unbiased=True, keepdim=False):
    """Standard deviation √var (``torch.std``)."""
    return var(x, dim=dim, unbiased=unbiased, keepdim=keepdim) ** 0.5


def norm(x, p=2, dim=None, keepdim=False):
    """(Σ |x|^p)^(1/p) over ``dim`` (all axes if None); p = 'fro' is 2, p = inf the largest |x|."""
    if p == "fro":
        p = 2
    if p in (float("inf"), "inf"):
        magnitude = absolute(x)
        return amax_with_indices(magnitude) if dim is None else amax_with_indices(magnitude, dim, keepdim)[0]
    if not isinstance(p, (int, float)) or p <= 0:
        raise ValueError(f"norm: p must be a positive number, 'fro' or inf, got {p!r}")
    powered = x * x if p == 2 else absolute(x) ** p
    return sum(powered, axis=dim, keepdims=keepdim) ** (1.0 / p)


class _Clone(Function):
    """y = a copy of x (its own array);  dx = g."""

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, g):
        return g

    backward_graph = staticmethod(lambda ctx, g, x: g)


def clone(x):
    """A copy of x with its own storage that stays in the graph (``torch.clone``)."""
    return _Clone.apply(x)


class _ToDtype(Function):
    """y = x converted to another floating dtype;  dx = g converted back to x's dtype."""

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.dtype = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return g.astype(ctx.dtype)

    backward_graph = staticmethod(lambda ctx, g, x: _ToDtype.apply(g, dtype=ctx.dtype))


def to_dtype(x, dtype):
    """x as float32 or float64, staying in the graph (what ``Tensor.to(dtype)`` records)."""
    return _ToDtype.apply(x, dtype=np.dtype(dtype))


# --------------------------------------------------------------------------------------
# torch.nn's layers and losses: softplus, softmax, dropout, nearest upsampling, embedding,
# L1 / cross-entropy / NLL losses
# --------------------------------------------------------------------------------------
class _Softplus(Function):
    """y = ln(1 + e^{βx}) / β, and y = x where βx > threshold (PyTorch's linear region);
    dx = g · σ(βx), and g where βx > threshold."""

    @staticmethod
    def forward(ctx, x, beta, threshold):
        ctx.x, ctx.beta, ctx.threshold = x, beta, threshold
        return ctx.kernels.softplus_forward(x, beta, threshold)

    @staticmethod
    def backward(ctx, g):
        return ctx.kernels.softplus_backward(g, ctx.x, ctx.beta, ctx.threshold)

    @staticmethod
    def backward_graph(ctx, g, x):
        linear = _constant((ctx.beta * ctx.x > ctx.threshold).astype(ctx.x.dtype), x)
        return g * (linear + (1 - linear) * sigmoid(x * ctx.beta))


def softplus(x, beta=1.0, threshold=20.0):
    """Smooth ReLU ln(1 + e^{βx}) / β, linear (y = x) where βx > threshold (``torch.nn.functional.softplus``)."""
    _check_float("softplus", x)
    if beta == 0:
        raise ValueError("softplus: beta must be non-zero")
    return _Softplus.apply(x, beta=float(beta), threshold=float(threshold))


def _softmax_dim(op, x, dim):
    """torch's choice when ``dim`` is None (0 for 0-, 1- and 3-D input, else 1), checked and made non-negative."""
    if dim is None:
        dim = 0 if x.ndim in (0, 1, 3) else 1
    if not -max(x.ndim, 1) <= dim < max(x.ndim, 1):
        raise ValueError(f"{op}: dim {dim} is out of range for input of shape {x.shape}")
    return dim % max(x.ndim, 1)


def _shifted(x, dim):
    """x − max_dim x, the maximum held constant (it cancels in softmax, so the gradient is exact)."""
    return x - _constant(x.array.max(axis=dim, keepdims=True), x)


def softmax(x, dim=None):
    """softmax(x)_i = e^{x_i} / Σ_j e^{x_j} along ``dim``."""
    dim = _softmax_dim("softmax", x, dim)
    e = exp(_shifted(x, dim))
    return e / sum(e, axis=dim, keepdims=True)


def log_softmax(x, dim=None):
    """log softmax(x)_i = x_i − log Σ_j e^{x_j} along ``dim``."""
    dim = _softmax_dim("log_softmax", x, dim)
    shifted = _shifted(x, dim)
    return shifted - log(sum(exp(shifted), axis=dim, keepdims=True))


def _dropout(op, x, p, training, mask_shape):
    """y = x · m / (1 − p) with m ~ Bernoulli(1 − p) of ``mask_shape`` (broadcast over x), drawn on the CPU
    from minigan's global generator (``manual_seed``); y = x when not training."""
    if not 0 <= p <= 1:
        raise ValueError(f"{op}: p must be in [0, 1], got {p}")
    if not training or p == 0:
        return x
    keep = default_generator().random(mask_shape) >= p
    scale = keep / (1 - p) if p < 1 else np.zeros(mask_shape)
    return x * _constant(array_module(x.device).asarray(scale.astype(x.dtype)), x)


def dropout(x, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1/(1 − p) (``inplace`` accepted, not needed)."""
    return _dropout("dropout", x, p, training, x.shape)


def dropout2d(x, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, H, W) or (C, H, W) input with probability p, scale the rest by 1/(1 − p)."""
    _check_ndim("dropout2d", "input", x, (3, 4))
    return _dropout("dropout2d", x, p, training, x.shape[:-2] + (1, 1))


class _UpsampleNearest2d(Function):
    """y[n,c,h,w] = x[n,c,⌊h/sh⌋,⌊w/sw⌋];  dx[n,c,i,j] = Σ_{a<sh, b<sw} g[n,c,i·sh+a,j·sw+b]."""

    name = "interpolate"

    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return ctx.kernels.upsample_nearest2d_forward(x, scale)

    @staticmethod
    def backward(ctx, g):
        return ctx.kernels.upsample_nearest2d_backward(ctx.xp.ascontiguousarray(g), ctx.scale)

    @staticmethod
    def backward_graph(ctx, g, x):
        (sh, sw), (n, c, h, w) = ctx.scale, x.shape
        return sum(g.reshape((n, c, h, sh, w, sw)), axis=(3, 5))


def _whole_factors(op, x, size, scale_factor):
    """The whole-number upsampling factors (sh, sw) that ``size`` or ``scale_factor`` asks for."""
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: give exactly one of size and scale_factor")
    if scale_factor is not None:
        factors = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * 2
    else:
        sizes = tuple(size) if isinstance(size, (tuple, list)) else (size,) * 2
        factors = tuple(s / n for s, n in zip(sizes, x.shape[2:]))
    if len(factors) != 2 or any(f <= 0 for f in factors):
        raise ValueError(f"{op}: expected two positive factors for input of shape {x.shape}, got "
                         f"size={size}, scale_factor={scale_factor}")
    if any(float(f) != int(f) for f in factors):
        raise NotImplementedError(f"minigan's {op} upsamples by whole-number factors only, got "
                                  f"size={size}, scale_factor={scale_factor} for input of shape {x.shape}")
    return int(factors[0]), int(factors[1])


def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None,
                antialias=False):
    """Nearest-neighbour upsampling of x (N, C, H, W) by whole-number factors (given as ``scale_factor``
    or as an output ``size`` that is a multiple of the input's), as ``torch.nn.functional.interpolate``."""
    op = "interpolate"
    if mode != "nearest" or align_corners is not None or antialias:
        raise NotImplementedError(f"minigan's {op} supports mode='nearest' only (no align_corners or antialias), "
                                  f"got mode={mode!r}")
    _check_ndim(op, "input", x, (4,))
    _check_float(op, x)
    return _UpsampleNearest2d.apply(x, scale=_whole_factors(op, x, size, scale_factor))


class _Embedding(Function):
    """y[p, :] = W[indices[p], :];  dW[k, :] = Σ_{p: indices[p] = k} g[p, :] (scatter-add; 0 for padding_idx)."""

    @staticmethod
    def forward(ctx, weight, indices, padding_idx):
        ctx.indices, ctx.padding_idx, ctx.num_embeddings = indices, padding_idx, weight.shape[0]
        return ctx.kernels.embedding_forward(weight, indices)

    @staticmethod
    def backward(ctx, g):
        grad = ctx.kernels.embedding_backward(ctx.xp.ascontiguousarray(g), ctx.indices, ctx.num_embeddings)
        if ctx.padding_idx is not None:
            grad[ctx.padding_idx] = 0
        return grad

    @staticmethod
    def backward_graph(ctx, g, weight):
        """dW = Oᵀ g with the one-hot rows O[p, k] = [indices[p] = k] (column padding_idx zeroed)."""
        xp, flat = ctx.xp, ctx.indices.reshape(-1)
        one_hot = xp.zeros((flat.size, ctx.num_embeddings), dtype=weight.dtype)
        one_hot[xp.arange(flat.size), flat] = 1
        if ctx.padding_idx is not None:
            one_hot[:, ctx.padding_idx] = 0
        return _constant(one_hot.T.copy(), weight) @ g.reshape((flat.size, weight.shape[1]))


def embedding(indices, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """Rows of weight (num_embeddings, D) picked by integer ``indices`` of any shape: y (*indices.shape, D)
    (``torch.nn.functional.embedding``); the row ``padding_idx`` gets no gradient."""
    op = "embedding"
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError(f"minigan's {op} does not support max_norm, scale_grad_by_freq or sparse")
    _check_ndim(op, "weight", weight, (2,))
    _check_float(op, weight)
    index = _int64_indices(op, "indices", indices, weight.device)
    if index.size and (int(index.min()) < 0 or int(index.max()) >= weight.shape[0]):
        raise ValueError(f"{op}: indices must lie in [0, {weight.shape[0]}) for weight of shape {weight.shape}, "
                         f"got [{int(index.min())}, {int(index.max())}]")
    if padding_idx is not None:
        padding_idx = int(padding_idx) % weight.shape[0]
    return _Embedding.apply(weight, indices=index, padding_idx=padding_idx)


class _L1Loss(_DifferenceLoss):
    """ℓ = |x − t|, reduced;  dx = g · sign(x − t) (0 where x = t),  dt = −dx."""

    name = "l1_loss"
    kernel = "l1"
    slope = staticmethod(lambda ctx, x, target: _constant(ctx.xp.sign(ctx.x - ctx.target), x))


def legacy_reduction(size_average, reduce, reduction):
    """torch's deprecated ``size_average``/``reduce`` pair decides the reduction when either is given:
    reduce=False → 'none', else size_average=False → 'sum', else 'mean'."""
    if size_average is None and reduce is None:
        return reduction
    if reduce is not None and not reduce:
        return "none"
    return "sum" if size_average is not None and not size_average else "mean"


def l1_loss(x, target, size_average=None, reduce=None, reduction="mean"):
    """Mean absolute error |x − target|, reduced (``torch.nn.functional.l1_loss``)."""
    return _loss(_L1Loss, "l1_loss", x, target, legacy_reduction(size_average, reduce, reduction))


def _per_row(ctx, g):
    """The incoming gradient as a column (N, 1): g itself ('none') or the one value (/N for 'mean')."""
    if ctx.reduction == "none":
        return g.reshape((-1, 1))
    return g * (1.0 / ctx.rows if ctx.reduction == "mean" else 1.0)


def _one_hot(ctx, dtype):
    """O[n, c] = [c = t_n] for the targets saved by a classification loss."""
    one_hot = ctx.xp.zeros(ctx.scores.shape, dtype=dtype)
    one_hot[ctx.xp.arange(ctx.rows), ctx.target] = 1
    return one_hot


class _CrossEntropy(Function):
    """ℓ_n = log Σ_c e^{z[n,c]} − z[n,t_n], reduced;  dz[n,c] = g_n · (softmax(z_n)_c − [c = t_n])."""

    @staticmethod
    def forward(ctx, logits, target, reduction):
        ctx.scores, ctx.target, ctx.reduction, ctx.rows = logits, target, reduction, logits.shape[0]
        return ctx.kernels.cross_entropy_forward(logits, target, reduction)

    @staticmethod
    def backward(ctx, g):
        return ctx.kernels.cross_entropy_backward(g, ctx.scores, ctx.target, ctx.reduction)

    @staticmethod
    def backward_graph(ctx, g, z):
        return (softmax(z, 1) - _constant(_one_hot(ctx, z.dtype), z)) * _per_row(ctx, g)


class _NLLLoss(Function):
    """ℓ_n = −logp[n, t_n], reduced;  dlogp[n, c] = −g_n · [c = t_n]."""

    name = "nll_loss"

    @staticmethod
    def forward(ctx, logp, target, reduction):
        ctx.scores, ctx.target, ctx.reduction, ctx.rows = logp, target, reduction, logp.shape[0]
        return ctx.kernels.nll_forward(logp, target, reduction)

    @staticmethod
    def backward(ctx, g):
        return ctx.kernels.nll_backward(g, ctx.scores, ctx.target, ctx.reduction)

    @staticmethod
    def backward_graph(ctx, g, logp):
        return _constant(-_one_hot(ctx, logp.dtype), logp) * _per_row(ctx, g)


def _classification_loss(function, op, scores, target, weight, ignore_index, reduction):
    """Checks, then ``function`` on scores (N, C) (also (C,), or (N, C, d1, ...) with the class axis moved
    last) and int64 targets of the matching shape; 'none' keeps the target's shape."""
    _check_reduction(op, reduction)
    _check_float(op, scores)
    if weight is not None:
        raise NotImplementedError(f"minigan's {op} does not support class weights (weight=...)")
    if isinstance(target, Tensor) and np.dtype(target.dtype).kind == "f":
        raise NotImplementedError(f"minigan's {op} takes class indices (int64) as targets, not probabilities")
    index = _int64_indices(op, "target", target, scores.device)
    expected = scores.shape[:1] + scores.shape[2:] if scores.ndim >= 2 else ()
    if scores.ndim < 1 or index.shape != expected:
        raise ValueError(f"{op}: input of shape {scores.shape} needs a target of shape {expected}, "
                         f"got {index.shape}")
    classes = scores.shape[1] if scores.ndim >= 2 else scores.shape[0]
    if index.size and bool((index == ignore_index).any()):
        raise NotImplementedError(f"minigan's {op} does not support ignore_index: target holds {ignore_index}")
    if index.size and (int(index.min()) < 0 or int(index.max()) >= classes):
        raise ValueError(f"{op}: target classes must lie in [0, {classes}), got [{int(index.min())}, "
                         f"{int(index.max())}]")
    rows = scores.reshape((1, classes)) if scores.ndim == 1 else scores
    if rows.ndim > 2:
        rows = rows.permute((0, *range(2, rows.ndim), 1)).reshape((-1, classes))
    loss = function.apply(rows, target=index.reshape(-1), reduction=reduction)
    return loss.reshape(index.shape) if reduction == "none" else loss


def cross_entropy(x, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                  label_smoothing=0.0):
    """Cross-entropy of logits x (N, C) against class indices (N,): log Σ_c e^{x_c} − x_t, reduced
    (= nll_loss(log_softmax(x, 1), target), fused) as ``torch.nn.functional.cross_entropy``."""
    if label_smoothing:
        raise NotImplementedError("minigan's cross_entropy does not support label_smoothing")
    return _classification_loss(_CrossEntropy, "cross_entropy", x, target, weight, ignore_index,
                                legacy_reduction(size_average, reduce, reduction))


def nll_loss(logp, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """Negative log-likelihood −logp[n, t_n] of log-probabilities (N, C) and class indices (N,), reduced."""
    return _classification_loss(_NLLLoss, "nll_loss", logp, target, weight, ignore_index,
                                legacy_reduction(size_average, reduce, reduction))


use_ops(sys.modules[__name__])  # Tensor's operators and methods call the ops of this module
