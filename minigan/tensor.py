"""Tensor: an array (NumPy or CuPy) plus the gradient machinery.

``Tensor.array`` is the underlying NumPy/CuPy array. ``Tensor.data`` is PyTorch's: a Tensor
sharing that array, cut from the graph (so ``p.data.clamp_(-c, c)`` changes ``p`` without
recording anything). ``Tensor.grad`` is a Tensor or None. Operators dispatch to ``minigan.functional``.
"""

import numpy as np

from minigan import autograd, backend

float32 = np.dtype("float32")
float64 = np.dtype("float64")
_FLOAT_DTYPES = (float32, float64)

_default_generator = np.random.default_rng(0)


def manual_seed(seed):
    """Seed the generator used by ``randn``/``rand`` and by layer initialisation when none is given."""
    global _default_generator
    _default_generator = np.random.default_rng(seed)
    return _default_generator


def default_generator():
    return _default_generator


def _as_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "f" and dtype not in _FLOAT_DTYPES:
        raise TypeError(f"unsupported floating dtype {dtype.name}; use mg.float32 or mg.float64")
    return dtype


class Tensor:
    """An n-dimensional array on a device, optionally tracking gradients."""

    __array_priority__ = 1000  # make ``numpy_array * tensor`` call Tensor.__rmul__

    def __init__(self, data, dtype=None, device="cpu", requires_grad=False):
        backend.check_device(device)
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

    @property
    def size(self):
        return int(self.array.size)

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
        if self.size != 1:
            raise ValueError(f"item(): tensor of shape {self.shape} has {self.size} elements, not 1")
        return self.numpy().reshape(()).item()

    def detach(self):
        """The same values, cut from the graph (shares the array, as in PyTorch)."""
        return Tensor._from_op(self.array, self.device, None)

    def to(self, target):
        """A copy on another device (``'cpu'``, ``'cuda'``, ``'cuda-sim'``) or with another dtype."""
        if isinstance(target, str) and target in backend.DEVICES:
            if target == self.device:
                return self
            return Tensor(backend.to_device(self.array, target), device=target,
                          requires_grad=self.requires_grad and self.is_leaf)
        dtype = _as_dtype(target)
        if dtype == self.dtype:
            return self
        return Tensor(self.array.astype(dtype), device=self.device, requires_grad=self.requires_grad)

    def float(self):
        return self.to(float32)

    def double(self):
        return self.to(float64)

    # --- autograd ---------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        """Accumulate d(self)/d(leaf) · gradient into the ``.grad`` of every leaf this tensor depends on.

        ``gradient`` may be omitted only for a one-element tensor, where it defaults to 1. As in
        PyTorch, the graph is freed afterwards unless ``retain_graph`` (default: ``create_graph``);
        with ``create_graph=True`` the ``.grad`` Tensors carry a graph and can be differentiated.
        """
        autograd.backward(self, None if gradient is None else (gradient,), retain_graph=retain_graph,
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
        from minigan import functional as F
        return F.add(self, other)

    def __radd__(self, other):
        from minigan import functional as F
        return F.add(other, self)

    def __sub__(self, other):
        from minigan import functional as F
        return F.sub(self, other)

    def __rsub__(self, other):
        from minigan import functional as F
        return F.sub(other, self)

    def __mul__(self, other):
        from minigan import functional as F
        return F.mul(self, other)

    def __rmul__(self, other):
        from minigan import functional as F
        return F.mul(other, self)

    def __truediv__(self, other):
        from minigan import functional as F
        return F.div(self, other)

    def __rtruediv__(self, other):
        from minigan import functional as F
        return F.div(other, self)

    def __pow__(self, exponent):
        from minigan import functional as F
        return F.pow(self, exponent)

    def __rpow__(self, base):
        from minigan import functional as F
        return F.pow(base, self)

    def __matmul__(self, other):
        from minigan import functional as F
        return F.matmul(self, other)

    def __rmatmul__(self, other):
        from minigan import functional as F
        return F.matmul(other, self)

    def __neg__(self):
        from minigan import functional as F
        return F.neg(self)

    def __getitem__(self, index):
        from minigan import functional as F
        return F.getitem(self, index)

    def _compare(self, other, op):
        other = other.array if isinstance(other, Tensor) else other
        return Tensor._from_op(op(self.array, other), self.device, None)

    def __lt__(self, other):
        return self._compare(other, lambda a, b: a < b)

    def __le__(self, other):
        return self._compare(other, lambda a, b: a <= b)

    def __gt__(self, other):
        return self._compare(other, lambda a, b: a > b)

    def __ge__(self, other):
        return self._compare(other, lambda a, b: a >= b)

    # --- methods ------------------------------------------------------------------------
    def sum(self, axis=None, keepdims=False):
        from minigan import functional as F
        return F.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        from minigan import functional as F
        return F.mean(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape):
        from minigan import functional as F
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return F.reshape(self, shape)

    view = reshape

    def flatten(self, start_dim=0, end_dim=-1):
        end_dim = end_dim % self.ndim
        shape = self.shape[:start_dim] + (-1,) + self.shape[end_dim + 1:]
        return self.reshape(shape)

    def transpose(self, *axes):
        """``t.transpose(a, b)`` swaps two axes (PyTorch); ``t.transpose()`` reverses all (NumPy)."""
        from minigan import functional as F
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

    def permute(self, *axes):
        from minigan import functional as F
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        return F.permute(self, tuple(axes))

    def exp(self):
        from minigan import functional as F
        return F.exp(self)

    def log(self):
        from minigan import functional as F
        return F.log(self)

    def sqrt(self):
        return self ** 0.5

    def relu(self):
        from minigan import functional as F
        return F.relu(self)

    def tanh(self):
        from minigan import functional as F
        return F.tanh(self)

    def sigmoid(self):
        from minigan import functional as F
        return F.sigmoid(self)


# --- constructors -----------------------------------------------------------------------
def tensor(data, dtype=float32, device="cpu", requires_grad=False):
    """A new Tensor holding a copy of ``data`` (float32 unless ``dtype`` says otherwise)."""
    if isinstance(data, Tensor):
        data = data.array
    array = backend.to_device(data, device)
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

