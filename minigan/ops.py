"""torch's top-level math functions (``torch.cat``, ``torch.sum``, ``torch.max``, ...).

Each is the Tensor method of the same name (``torch.sum(x, 1)`` is ``x.sum(1)``) or a function of
``minigan.functional``; the math and the gradients live there.
"""

from minigan import functional as F
from minigan.tensor import Tensor


def _tensor_method(name):
    """``torch.<name>(input, *args)`` as ``input.<name>(*args)``."""

    def function(input, *args, **kwargs):
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: expected a Tensor as the first argument, got {type(input).__name__}")
        return getattr(input, name)(*args, **kwargs)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"``torch.{name}(input, ...)``: ``input.{name}(...)``."
    return function


sum = _tensor_method("sum")
mean = _tensor_method("mean")
max = _tensor_method("max")
min = _tensor_method("min")
argmax = _tensor_method("argmax")
argmin = _tensor_method("argmin")
std = _tensor_method("std")
var = _tensor_method("var")
norm = _tensor_method("norm")
sqrt = _tensor_method("sqrt")
clamp = _tensor_method("clamp")
add = _tensor_method("add")
sub = _tensor_method("sub")
mul = _tensor_method("mul")
div = _tensor_method("div")
pow = _tensor_method("pow")
neg = _tensor_method("neg")
reshape = _tensor_method("reshape")
flatten = _tensor_method("flatten")
squeeze = _tensor_method("squeeze")
unsqueeze = _tensor_method("unsqueeze")
transpose = _tensor_method("transpose")
permute = _tensor_method("permute")
clone = _tensor_method("clone")
split = _tensor_method("split")
chunk = _tensor_method("chunk")

exp, log, abs, sigmoid, tanh = F.exp, F.log, F.absolute, F.sigmoid, F.tanh
matmul, where, stack, maximum, minimum = F.matmul, F.where, F.stack, F.maximum, F.minimum


def cat(tensors, dim=0):
    """Join tensors along the existing axis ``dim`` (``torch.cat``)."""
    return F.cat(tensors, dim)


def is_tensor(value):
    return isinstance(value, Tensor)
