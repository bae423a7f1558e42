"""Tensor: an array (NumPy or CuPy) plus the gradient machinery.

``Tensor.array`` is the underlying NumPy/CuPy array. ``Tensor.data`` is PyTorch's: a Tensor
sharing that array, cut from the graph (so ``p.data.clamp_(-c, c)`` changes ``p`` without
recording anything). ``Tensor.grad`` is a Tensor or None.

Operators and math methods dispatch to ``minigan.functional`` (``F`` below), and ``backward()`` to
``minigan.autograd``. Both of those modules build on this one, so this one does not import them
(that would be a cycle): each hands itself over when it is imported, at the end of its file.
``import minigan`` imports both, so they are in place before any Tensor op runs.
"""

import numpy as np

from minigan import backend, dtypes, grad_mode
from minigan.dtypes import FLOAT_DTYPES as _FLOAT_DTYPES
from minigan.dtypes import float32, float64, int64

F = None  # minigan.functional, handed over by use_ops() at the end of functional.py
autograd_backward = None  # minigan.autograd.backward, handed over by use_backward() at the end of autograd.py


def use_ops(functional):
    """Make Tensor's operators and math methods call the ops of ``functional`` (minigan.functional)."""
    global F
    F = functional


def use_backward(backward):
    """Make ``Tensor.backward()`` walk the graph with ``backward`` (minigan.autograd.backward)."""
    global autograd_backward
    autograd_backward = backward

_default_generator = np.random.default_rng(0)


def manual_seed(seed):
    """Seed the generator used by ``randn``/``rand`` and by layer initialisation when none is given."""
    global _default_generator
    _default_generator = np.random.default_rng(seed)
    return _default_generator


def default_generator():
    return _default_generator


def _as_dtype(dtype):
    dtype = float32 if dtype is None else np.dtype(dtype)
    if dtype.kind == "f" and dtype not in _FLOAT_DTYPES:
        raise TypeError(f"unsupported floating dtype {dtype.name}; use mg.float32 or mg.float64")
    return dtype


class Tensor:
    """An n-dimensional array on a device, optionally tracking gradients."""

    __array_priority__ = 1000  # make ``numpy_array * tensor`` call Tensor.__rmul__

    def __init__(self, data, dtype=None, device="cpu", requires_grad=False):
        device = dtypes.device(device)
        if isinstance(data, Tensor):
            data = data.array
        array = backend.to_device(data, device)
        if dtype is None:
            typed = hasattr(data, "dtype") and (array.dtype in _FLOAT_DTYPES or array.dtype.kind in "iub")
            dtype = array.dtype if typed else float32
        self.array = array.astype(_as_dtype(dtype), copy=False)
        self.device = device
        if requires_grad and self.array.dtype.kind != "f":
            raise TypeError(f"only floating tensors can require gradients, got {self.array.dtype.name}")
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._node = None

    @classmethod
    def _from_op(cls, array, device, node):
        tensor = cls.__new__(cls)
        tensor.array = array
        tensor.device = device
        tensor.requires_grad = node is not None
        tensor.grad = None
        tensor._node = node
        return tensor

    # --- properties -----------------------------------------------------------------
    @property
    def shape(self):
        return tuple(self.array.shape)

    @property
    def dtype(self):
        return self.array.dtype

    @property
    def ndim(self):
        return self.array.ndim

    def size(self, dim=None):
        """The shape as a tuple, or the length of axis ``dim`` (``torch.Tensor.size``)."""
        return self.shape if dim is None else self.shape[dim]

    def dim(self):
        return self.array.ndim

    def numel(self):
        """The number of elements."""
        return int(self.array.size)

    @property
    def is_cuda(self):
        return self.device == "cuda"

    @property
    def data(self):
        """A Tensor sharing this tensor's array, detached from the graph (as ``torch.Tensor.data``)."""
        return Tensor._from_op(self.array, self.device, None)

    @data.setter
    def data(self, other):
        """``t.data = u`` makes ``t`` hold ``u``'s array (shape and dtype included), as in PyTorch."""
        if not isinstance(other, Tensor):
            raise TypeError(f"Tensor.data must be assigned a Tensor, got {type(other).__name__}")
        self.array, self.device = other.array, other.device

    @property
    def is_leaf(self):
        return self._node is None

    def __len__(self):
        return self.shape[0]

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({self.numpy()!r}, device='{self.device}'{grad})"

    # --- conversion -------------------------------------------------------------------
    def numpy(self):
        """A NumPy array of the values (a copy from the GPU; the array itself on the CPU)."""
        return backend.to_device(self.array, "cpu")

    def item(self):
        if self.numel() != 1:
            raise ValueError(f"item(): tensor of shape {self.shape} has {self.numel()} elements, not 1")
        return self.numpy().reshape(()).item()

    def detach(self):
        """The same values, cut from the graph (shares the array, as in PyTorch)."""
        return Tensor._from_op(self.array, self.device, None)

    def tolist(self):
        return self.numpy().tolist()

    def to(self, *args, device=None, dtype=None, non_blocking=False, copy=False):
        """This tensor on another device and/or with another dtype (``torch.Tensor.to``).

        Accepts ``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(other_tensor)`` and the
        keywords ``device=``/``dtype=``. Returns ``self`` when nothing changes (and not ``copy``).
        A float-to-float conversion of a tensor that requires grad is recorded (gradients flow back);
        a move to another device gives a new leaf.
        """
        for arg in args:
            if isinstance(arg, Tensor):
                device, dtype = arg.device, arg.dtype
            elif isinstance(arg, str):
                device = arg
            else:
                dtype = arg
        device = self.device if device is None else dtypes.device(device)
        dtype = self.dtype if dtype is None else _as_dtype(dtype)
        if device == self.device and dtype == self.dtype and not copy:
            return self
        recording = self.requires_grad and grad_mode.is_grad_enabled()
        if recording and device == self.device and dtype.kind == "f":
            return F.to_dtype(self, dtype)  # a float conversion stays in the graph, as in PyTorch
        if recording and not self.is_leaf:
            raise NotImplementedError("minigan does not differentiate through a change of device or a conversion "
                                      "to integers in Tensor.to(); move leaf tensors (inputs, parameters) or "
                                      "call .detach() first")
        array = backend.to_device(self.array, device).astype(dtype, copy=copy)
        return Tensor(array, device=device, requires_grad=self.requires_grad and dtype.kind == "f")

    def float(self):
        return self.to(dtype=float32)

    def double(self):
        return self.to(dtype=float64)

    def long(self):
        return self.to(dtype=int64)

    def cpu(self):
        return self.to(device="cpu")

    def cuda(self, device=None):
        """This tensor on the GPU (``device`` may name index 0 only); a clear RuntimeError without one."""
        target = dtypes.device("cuda", device) if device is None or isinstance(device, int) else dtypes.device(device)
        return self.to(device=target)

    def type(self, dtype=None):
        """Without an argument, the torch type name ('torch.FloatTensor'); else a conversion to a dtype,
        a type name ('torch.cuda.LongTensor') or a tensor type (``mg.FloatTensor``)."""
        if dtype is None:
            return dtypes.tensor_type_name(self.dtype, self.device)
        if isinstance(dtype, str):
            dtype, device = dtypes.parse_tensor_type(dtype)
            return self.to(device=device, dtype=dtype)
        if hasattr(dtype, "tensor_type"):  # mg.FloatTensor, mg.cuda.LongTensor, ...
            return self.type(dtype.tensor_type)
        return self.to(dtype=dtype)

    # --- autograd ---------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        """Accumulate d(self)/d(leaf) · gradient into the ``.grad`` of every leaf this tensor depends on.

        ``gradient`` may be omitted only for a one-element tensor, where it defaults to 1. As in
        PyTorch, the graph is freed afterwards unless ``retain_graph`` (default: ``create_graph``);
        with ``create_graph=True`` the ``.grad`` Tensors carry a graph and can be differentiated.
        """
        autograd_backward(self, None if gradient is None else (gradient,), retain_graph=retain_graph,
                          create_graph=create_graph)

    def requires_grad_(self, requires_grad=True):
        """Start (or stop) recording operations on this leaf tensor; returns the tensor (as in PyTorch)."""
        if not self.is_leaf:
            raise RuntimeError("requires_grad_(): only leaf tensors can change requires_grad; "
                               "use .detach() to get a leaf")
        if requires_grad and self.array.dtype.kind != "f":
            raise TypeError(f"only floating tensors can require gradients, got {self.array.dtype.name}")
        self.requires_grad = bool(requires_grad)
        return self

    # --- operators (the math lives in minigan.functional) --------------------------------
    def __add__(self, other):
        return F.add(self, other)

    def __radd__(self, other):
        return F.add(other, self)

    def __sub__(self, other):
        return F.sub(self, other)

    def __rsub__(self, other):
        return F.sub(other, self)

    def __mul__(self, other):
        return F.mul(self, other)

    def __rmul__(self, other):
        return F.mul(other, self)

    def __truediv__(self, other):
        return F.div(self, other)

    def __rtruediv__(self, other):
        return F.div(other, self)

    def __pow__(self, exponent):
        return F.pow(self, exponent)

    def __rpow__(self, base):
        return F.pow(base, self)

    def __matmul__(self, other):
        return F.matmul(self, other)

    def __rmatmul__(self, other):
        return F.matmul(other, self)

    def __neg__(self):
        return F.neg(self)

    def __getitem__(self, index):
        return F.getitem(self, index)

    def _compare(self, other, op):
        other = other.array if isinstance(other, Tensor) else other
        return Tensor(op(self.array, other), device=self.device)

    def __lt__(self, other):
        return self._compare(other, lambda a, b: a < b)

    def __le__(self, other):
        return self._compare(other, lambda a, b: a <= b)

    def __gt__(self, other):
        return self._compare(other, lambda a, b: a > b)

    def __ge__(self, other):
        return self._compare(other, lambda a, b: a >= b)

    def __eq__(self, other):
        """Elementwise ``==`` giving a bool Tensor (as PyTorch); identity still hashes (autograd keys on id)."""
        if other is None or isinstance(other, str):
            return NotImplemented
        return self._compare(other, lambda a, b: a == b)

    def __ne__(self, other):
        if other is None or isinstance(other, str):
            return NotImplemented
        return self._compare(other, lambda a, b: a != b)

    __hash__ = object.__hash__

    def __invert__(self):
        if self.dtype != np.bool_:
            raise TypeError(f"~ (logical not) needs a bool tensor, got {self.dtype.name}")
        return Tensor._from_op(~self.array, self.device, None)

    def __bool__(self):
        if self.numel() != 1:
            raise RuntimeError(f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                               "use .any() or .all()")
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __abs__(self):
        return self.abs()

    def __setitem__(self, index, value):
        """``t[index] = value`` writes the array in place (``t`` must not be recorded in a graph)."""
        self._check_in_place("__setitem__")
        index = tuple(i.array if isinstance(i, Tensor) else i for i in index) if isinstance(index, tuple) \
            else (index.array if isinstance(index, Tensor) else index)
        self.array[index] = value.array if isinstance(value, Tensor) else value

    def any(self):
        return Tensor(self.array.any(), device=self.device)

    def all(self):
        return Tensor(self.array.all(), device=self.device)

    # --- reductions (torch's dim=/keepdim=; NumPy's axis=/keepdims= work too) -------------
    def sum(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        dim, keepdim = _reduction_args("sum", dim, keepdim, axis, keepdims)
        return F.sum(self, axis=dim, keepdims=keepdim)

    def mean(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        dim, keepdim = _reduction_args("mean", dim, keepdim, axis, keepdims)
        return F.mean(self, axis=dim, keepdims=keepdim)

    def max(self, dim=None, keepdim=False):
        """The largest element; ``(values, indices)`` along ``dim``; the elementwise max with a Tensor."""
        if isinstance(dim, Tensor):
            return F.maximum(self, dim)
        return F.amax_with_indices(self, dim, keepdim)

    def min(self, dim=None, keepdim=False):
        """The smallest element; ``(values, indices)`` along ``dim``; the elementwise min with a Tensor."""
        if isinstance(dim, Tensor):
            return F.minimum(self, dim)
        return F.amin_with_indices(self, dim, keepdim)

    def argmax(self, dim=None, keepdim=False):
        """int64 index of the largest element (of the flattened tensor when ``dim`` is None)."""
        return self._index_of(self.array.argmax, dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        return self._index_of(self.array.argmin, dim, keepdim)

    def _index_of(self, find, dim, keepdim):
        index = find() if dim is None else find(axis=dim, keepdims=keepdim)
        return Tensor(index, dtype=int64, device=self.device)

    def var(self, dim=None, unbiased=True, keepdim=False):
        return F.var(self, dim=dim, unbiased=unbiased, keepdim=keepdim)

    def std(self, dim=None, unbiased=True, keepdim=False):
        return F.std(self, dim=dim, unbiased=unbiased, keepdim=keepdim)

    def norm(self, p=2, dim=None, keepdim=False):
        return F.norm(self, p=p, dim=dim, keepdim=keepdim)

    # --- elementwise (named forms of the operators, torch's signatures) --------------------
    def add(self, other, alpha=1):
        return self + (other if alpha == 1 else other * alpha)

    def sub(self, other, alpha=1):
        return self - (other if alpha == 1 else other * alpha)

    def mul(self, other):
        return self * other

    def div(self, other):
        return self / other

    def pow(self, exponent):
        return self ** exponent

    def neg(self):
        return -self

    def exp(self):
        return F.exp(self)

    def log(self):
        return F.log(self)

    def sqrt(self):
        return self ** 0.5

    def abs(self):
        return F.absolute(self)

    def clamp(self, min=None, max=None):
        return F.clamp(self, min, max)

    def relu(self):
        return F.relu(self)

    def tanh(self):
        return F.tanh(self)

    def sigmoid(self):
        return F.sigmoid(self)

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__

    # --- shape -----------------------------------------------------------------------------
    def reshape(self, *shape):
        """This tensor with a new shape of the same size; one entry may be -1 (inferred)."""
        return F.reshape(self, _shape(shape))

    view = reshape

    def view_as(self, other):
        return self.reshape(other.shape)

    def flatten(self, start_dim=0, end_dim=-1):
        """Axes start_dim..end_dim merged into one."""
        if self.ndim == 0:
            return self.reshape(1)
        start, end = start_dim % self.ndim, end_dim % self.ndim
        if start > end:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {self.shape}")
        merged = int(np.prod(self.shape[start:end + 1]))
        return self.reshape(self.shape[:start] + (merged,) + self.shape[end + 1:])

    def squeeze(self, dim=None):
        """Drop the axes of length 1 (only axis ``dim`` if given, and only if its length is 1)."""
        if dim is None:
            return self.reshape(tuple(n for n in self.shape if n != 1))
        if self.ndim == 0:
            return self
        axis = _axis("squeeze", dim, self.ndim)
        return self if self.shape[axis] != 1 else self.reshape(self.shape[:axis] + self.shape[axis + 1:])

    def unsqueeze(self, dim):
        """A new axis of length 1 at position ``dim`` (-1 appends one)."""
        axis = _axis("unsqueeze", dim, self.ndim + 1)
        return self.reshape(self.shape[:axis] + (1,) + self.shape[axis:])

    def expand(self, *sizes):
        """Broadcast to ``sizes`` (-1 keeps an axis); minigan returns a copy, not a view."""
        return F.expand(self, _shape(sizes))

    def expand_as(self, other):
        return self.expand(other.shape)

    def repeat(self, *sizes):
        """Tiled ``sizes[i]`` times along axis i (``torch.Tensor.repeat``)."""
        return F.repeat(self, _shape(sizes))

    def transpose(self, *axes):
        """``t.transpose(a, b)`` swaps two axes (PyTorch); ``t.transpose()`` reverses all (NumPy)."""
        if len(axes) == 2:
            order = list(range(self.ndim))
            order[axes[0]], order[axes[1]] = order[axes[1]], order[axes[0]]
            return F.permute(self, tuple(order))
        if not axes:
            return F.permute(self, tuple(reversed(range(self.ndim))))
        raise ValueError(f"transpose: expected two axes or none, got {axes}")

    @property
    def T(self):
        return self.transpose()

    def t(self):
        """The transpose of a matrix (a 0-D or 1-D tensor is returned as is)."""
        if self.ndim > 2:
            raise ValueError(f"t(): expects a tensor with at most 2 dimensions, got shape {self.shape}")
        return self if self.ndim < 2 else self.transpose(0, 1)

    def permute(self, *axes):
        return F.permute(self, _shape(axes))

    def contiguous(self):
        """This tensor: minigan's ops return contiguous arrays already."""
        return self

    def clone(self):
        """A copy with its own storage, still in the graph (gradients flow through it)."""
        return F.clone(self)

    def split(self, split_size_or_sections, dim=0):
        """Pieces along ``dim`` of ``split_size`` each (the last may be smaller), or of the given sizes."""
        axis = _axis("split", dim, self.ndim)
        length = self.shape[axis]
        sizes = split_size_or_sections
        if isinstance(sizes, int):
            if sizes < 1:
                raise ValueError(f"split: split_size must be positive, got {sizes}")
            sizes = [min(sizes, length - start) for start in range(0, length, sizes)]
        if sum(sizes) != length:
            raise ValueError(f"split: sizes {list(sizes)} do not add up to {length}, the length of dimension {dim}")
        bounds = np.cumsum([0, *sizes])
        lead = (slice(None),) * axis
        return tuple(self[lead + (slice(int(lo), int(hi)),)] for lo, hi in zip(bounds, bounds[1:]))

    def chunk(self, chunks, dim=0):
        """``chunks`` pieces along ``dim`` of ceil(length / chunks) each (fewer when they run out)."""
        return self.split(-(-self.shape[_axis("chunk", dim, self.ndim)] // chunks), dim)

    # --- in place (writes the array, as PyTorch does on .data; nothing is recorded) ---------
    def _check_in_place(self, op):
        if self.requires_grad and grad_mode.is_grad_enabled():
            if self.is_leaf:
                raise RuntimeError(f"{op}: a leaf Variable that requires grad is being used in an in-place "
                                   "operation (do it under no_grad(), or on .data, as in PyTorch)")
            raise RuntimeError(f"{op}: minigan does not support in-place operations on a tensor recorded in a "
                               "graph; use the out-of-place op")

    def _assign(self, op, values):
        """Write ``values`` (broadcast, cast to this dtype) into the array; returns self."""
        self._check_in_place(op)
        values = values.array if isinstance(values, Tensor) else values
        self.array[...] = backend.to_device(values, self.device) if hasattr(values, "shape") else values
        return self

    def fill_(self, value):
        return self._assign("fill_", value)

    def zero_(self):
        return self._assign("zero_", 0)

    def copy_(self, src, non_blocking=False):
        return self._assign("copy_", src)

    def normal_(self, mean=0.0, std=1.0, *, generator=None):
        """Fill with N(mean, std²) samples drawn on the CPU from ``generator`` (default: ``mg.manual_seed``'s)."""
        return self._assign("normal_", _generator(None, generator).normal(mean, std, self.shape))

    def uniform_(self, a=0.0, b=1.0, *, generator=None):
        """Fill with U(a, b) samples drawn on the CPU."""
        return self._assign("uniform_", _generator(None, generator).uniform(a, b, self.shape))

    def clamp_(self, min=None, max=None):
        if min is None and max is None:
            raise ValueError("clamp_: at least one of min and max must be given")
        return self._assign("clamp_", backend.array_module(self.device).clip(self.array, min, max))

    def add_(self, other, alpha=1):
        return self._assign("add_", self.array + alpha * _raw(other))

    def sub_(self, other, alpha=1):
        return self._assign("sub_", self.array - alpha * _raw(other))

    def mul_(self, other):
        return self._assign("mul_", self.array * _raw(other))

    def div_(self, other):
        return self._assign("div_", self.array / _raw(other))


def _raw(value):
    return value.array if isinstance(value, Tensor) else value


def _reduction_args(op, dim, keepdim, axis, keepdims):
    """torch's (dim, keepdim) from either spelling; NumPy's axis=/keepdims= are accepted too."""
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{op}: pass dim= or axis=, not both")
        dim = axis
    return dim, keepdim if keepdims is None else keepdims


def _axis(op, dim, ndim):
    """``dim`` in [-ndim, ndim) as an axis in [0, ndim); IndexError naming the op otherwise."""
    if not -ndim <= dim < ndim:
        raise IndexError(f"{op}: dimension {dim} out of range [{-ndim}, {ndim - 1}]")
    return dim % ndim


# --- constructors -----------------------------------------------------------------------
def tensor(data, dtype=None, device="cpu", requires_grad=False):
    """A new Tensor holding a copy of ``data`` (``torch.tensor``).

    Without ``dtype``: integers give int64 and bools bool, as in PyTorch; floating data gives
    float32 (minigan's default), except a float64 Tensor, which stays float64.
    """
    if isinstance(data, Tensor):
        dtype, data = data.dtype if dtype is None else dtype, data.array
    array = backend.to_device(data, device)
    if dtype is None:
        dtype = int64 if array.dtype.kind in "iu" else np.bool_ if array.dtype.kind == "b" else float32
    copy = array.astype(_as_dtype(dtype), copy=True)
    return Tensor(copy, device=device, requires_grad=requires_grad)

def _shape(shape):
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)


def zeros(*shape, dtype=float32, device="cpu", requires_grad=False):
    xp = backend.array_module(device)
    return Tensor(xp.zeros(_shape(shape), dtype=_as_dtype(dtype)), device=device, requires_grad=requires_grad)


def ones(*shape, dtype=float32, device="cpu", requires_grad=False):
    xp = backend.array_module(device)
    return Tensor(xp.ones(_shape(shape), dtype=_as_dtype(dtype)), device=device, requires_grad=requires_grad)


def _generator(seed, generator):
    if seed is not None and generator is not None:
        raise ValueError("pass either seed= or generator=, not both")
    if seed is not None:
        return np.random.default_rng(seed)
    return generator if generator is not None else _default_generator


def randn(*shape, dtype=float32, device="cpu", requires_grad=False, seed=None, generator=None):
    """Standard normal samples, drawn on the CPU (so every device sees the same numbers for a seed)."""
    values = _generator(seed, generator).standard_normal(_shape(shape)).astype(_as_dtype(dtype))
    return tensor(values, dtype=dtype, device=device, requires_grad=requires_grad)


def rand(*shape, dtype=float32, device="cpu", requires_grad=False, seed=None, generator=None):
    """Uniform samples in [0, 1), drawn on the CPU."""
    values = _generator(seed, generator).random(_shape(shape)).astype(_as_dtype(dtype))
    return tensor(values, dtype=dtype, device=device, requires_grad=requires_grad)

