"""torch's tensor constructors beyond the basic ones in ``minigan.tensor`` (tensor, zeros, ones,
randn, rand): from_numpy, full, empty, the ``*_like`` family, randint, randperm, arange, linspace,
and the legacy typed constructors ``FloatTensor(...)``/``LongTensor(...)``.

Random numbers are drawn on the CPU from ``mg.manual_seed``'s generator (or ``generator=``), so a
seed gives the same numbers on every device.
"""

import numpy as np

from minigan import backend, dtypes
from minigan.tensor import Tensor, _as_dtype, _generator, _shape, rand, randn, tensor, zeros


def from_numpy(array):
    """A Tensor sharing ``array``'s memory and keeping its dtype (``torch.from_numpy``)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor(array)


def _dtype_of(value):
    """torch's dtype for a Python scalar: bool, int64 for ints, float32 for floats."""
    if isinstance(value, (bool, np.bool_)):
        return dtypes.bool_
    return dtypes.int64 if isinstance(value, (int, np.integer)) else dtypes.float32


def full(size, fill_value, dtype=None, device="cpu", requires_grad=False):
    """A tensor of ``size`` filled with ``fill_value`` (dtype from the value when not given)."""
    dtype = _as_dtype(_dtype_of(fill_value) if dtype is None else dtype)
    xp = backend.array_module(dtypes.device(device))
    return Tensor(xp.full(_shape((size,) if isinstance(size, int) else size), fill_value, dtype=dtype),
                  device=device, requires_grad=requires_grad)


def empty(*size, dtype=None, device="cpu", requires_grad=False):
    """``torch.empty``: minigan's empty tensors are zero-filled (no uninitialised memory)."""
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def _like(t, dtype, device):
    return _as_dtype(t.dtype if dtype is None else dtype), t.device if device is None else device


def zeros_like(t, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(t, dtype, device)
    return zeros(t.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False):
    return full_like(t, 1, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(t, dtype, device)
    return full(t.shape, fill_value, dtype=dtype, device=device, requires_grad=requires_grad)


empty_like = zeros_like


def randn_like(t, dtype=None, device=None, requires_grad=False, generator=None):
    dtype, device = _like(t, dtype, device)
    return randn(t.shape, dtype=dtype, device=device, requires_grad=requires_grad, generator=generator)


def rand_like(t, dtype=None, device=None, requires_grad=False, generator=None):
    dtype, device = _like(t, dtype, device)
    return rand(t.shape, dtype=dtype, device=device, requires_grad=requires_grad, generator=generator)


def randint(*args, size=None, generator=None, dtype=dtypes.int64, device="cpu", requires_grad=False):
    """Integers uniform in [low, high): ``randint(high, size)`` or ``randint(low, high, size)``."""
    if size is None and args and isinstance(args[-1], (tuple, list)):
        args, size = args[:-1], args[-1]
    if size is None or len(args) not in (1, 2):
        raise TypeError("randint: expected randint(high, size) or randint(low, high, size)")
    low, high = (0, args[0]) if len(args) == 1 else args
    values = _generator(None, generator).integers(low, high, _shape(tuple(size)))
    return tensor(values, dtype=dtype, device=device, requires_grad=requires_grad)


def randperm(n, generator=None, dtype=dtypes.int64, device="cpu"):
    """A random permutation of 0..n-1."""
    return tensor(_generator(None, generator).permutation(n), dtype=dtype, device=device)


def arange(start, end=None, step=1, dtype=None, device="cpu", requires_grad=False):
    """start, start+step, ... < end; int64 when every bound is an integer, else float32 (as PyTorch)."""
    start, end = (0, start) if end is None else (start, end)
    if dtype is None:
        dtype = dtypes.int64 if all(isinstance(v, (int, np.integer)) for v in (start, end, step)) else dtypes.float32
    return tensor(np.arange(start, end, step), dtype=dtype, device=device, requires_grad=requires_grad)


def linspace(start, end, steps, dtype=None, device="cpu", requires_grad=False):
    """``steps`` evenly spaced values from start to end inclusive (float32 unless ``dtype``)."""
    return tensor(np.linspace(start, end, steps), dtype=dtype, device=device, requires_grad=requires_grad)


class TensorType:
    """A legacy typed constructor (``torch.FloatTensor``, ``torch.cuda.LongTensor``, ...).

    ``FloatTensor(2, 3)`` is a zero-filled float32 tensor of shape (2, 3) (torch leaves it
    uninitialised); ``FloatTensor(data)`` converts a list, NumPy array or Tensor.
    ``isinstance(t, FloatTensor)`` checks dtype and device, and ``t.type(FloatTensor)`` converts.
    """

    def __init__(self, dtype, device):
        self.dtype, self.device = dtype, device
        self.tensor_type = dtypes.tensor_type_name(dtype, device)

    def __call__(self, *args):
        if all(isinstance(a, (int, np.integer)) for a in args):
            return zeros(*args, dtype=self.dtype, device=self.device)
        if len(args) != 1:
            raise TypeError(f"{self.tensor_type}: expected sizes or one data argument, got {args!r}")
        return tensor(args[0], dtype=self.dtype, device=self.device)

    def __instancecheck__(self, value):
        return isinstance(value, Tensor) and value.dtype == self.dtype and value.device == self.device

    def __repr__(self):
        return f"<tensor type '{self.tensor_type}'>"


def tensor_types(device):
    """``{'FloatTensor': TensorType, ...}`` for one device ('cpu' for torch.*, 'cuda' for torch.cuda.*)."""
    return {name: TensorType(dtype, device) for name, dtype in dtypes.TENSOR_TYPES.items()}
