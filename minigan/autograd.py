"""The dynamic tape: Function, its Context, no_grad() and the reverse graph walk.

Every differentiable op is a subclass of ``Function`` with two static methods:

    forward(ctx, *arrays, **options)  -> array, or (array, *constant arrays)
    backward(ctx, grad)               -> one gradient (array or None) per positional input

``Function.apply`` unwraps Tensors to arrays, checks that they share one device and one dtype,
runs ``forward`` and, when any input requires a gradient, records the Function, its context and
its input Tensors on the output. ``backward`` walks those records in reverse topological order.
"""

import contextlib
import re
import threading

import numpy as np

from minigan import backend

_state = threading.local()


def is_grad_enabled():
    return getattr(_state, "grad_enabled", True)


@contextlib.contextmanager
def no_grad():
    """Inside this block no op records itself on the tape (as ``torch.no_grad``)."""
    previous = is_grad_enabled()
    _state.grad_enabled = False
    try:
        yield
    finally:
        _state.grad_enabled = previous


class Context:
    """What a Function's forward leaves for its backward: the device, its array module and kernels."""

    def __init__(self, device):
        self.device = device
        self.xp = backend.array_module(device)
        self.kernels = backend.kernels(device)
        self.needs_input_grad = ()


class Node:
    """A recorded op: the Function class, its Context and the input Tensors (None for non-Tensors)."""

    __slots__ = ("function", "ctx", "inputs")

    def __init__(self, function, ctx, inputs):
        self.function = function
        self.ctx = ctx
        self.inputs = inputs


def _describe(values):
    return ", ".join(f"{tuple(v.shape)} {np.dtype(v.dtype).name} on {v.device}" for v in values)


class Function:
    """Base class of every differentiable op. Subclasses define ``forward`` and ``backward``."""

    name = None  # the op's name in error messages; default: the class name in snake_case

    @classmethod
    def op_name(cls):
        return cls.name or re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", cls.__name__.lstrip("_")).lower()

    @classmethod
    def apply(cls, *args, **options):
        from minigan.tensor import Tensor

        tensors = [a for a in args if isinstance(a, Tensor)]
        if not tensors:
            raise TypeError(f"{cls.op_name()}: expected at least one Tensor argument")
        devices = {t.device for t in tensors}
        if len(devices) > 1:
            raise ValueError(f"{cls.op_name()}: inputs are on different devices ({_describe(tensors)})")
        floats = [t for t in tensors if np.dtype(t.dtype).kind == "f"]
        if len({np.dtype(t.dtype) for t in floats}) > 1:
            raise TypeError(f"{cls.op_name()}: inputs have different dtypes ({_describe(floats)}); "
                            "convert one with .to(dtype)")
        ctx = Context(tensors[0].device)
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        arrays = [a.array if isinstance(a, Tensor) else a for a in args]
        result = cls.forward(ctx, *arrays, **options)
        output, constants = (result[0], result[1:]) if isinstance(result, tuple) else (result, ())
        output = ctx.xp.asarray(output)  # NumPy reductions return scalars, not 0-d arrays
        record = is_grad_enabled() and any(ctx.needs_input_grad)
        node = Node(cls, ctx, tuple(a if isinstance(a, Tensor) else None for a in args)) if record else None
        out = Tensor._from_op(output, ctx.device, node)
        if constants:
            return (out, *(Tensor._from_op(c, ctx.device, None) for c in constants))
        return out

    @staticmethod
    def forward(ctx, *arrays, **options):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError


def _topological_order(root):
    """Tensors reachable from ``root`` through recorded nodes, each after every tensor it feeds."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        tensor, expanded = stack.pop()
        if expanded:
            order.append(tensor)
            continue
        if id(tensor) in visited:
            continue
        visited.add(id(tensor))
        stack.append((tensor, True))
        if tensor._node is not None:
            for parent in tensor._node.inputs:
                if parent is not None and parent.requires_grad and id(parent) not in visited:
                    stack.append((parent, False))
    return order[::-1]


def backward(root, grad):
    """Accumulate d(root)/d(leaf) · grad into ``.grad`` of every leaf that requires a gradient."""
    from minigan.tensor import Tensor

    grads = {id(root): grad}
    for tensor in _topological_order(root):
        g = grads.pop(id(tensor), None)
        if g is None:
            continue
        node = tensor._node
        if node is None:
            tensor.grad = Tensor._from_op(g, tensor.device, None) if tensor.grad is None else \
                Tensor._from_op(tensor.grad.array + g, tensor.device, None)
            continue
        with no_grad():
            input_grads = node.function.backward(node.ctx, g)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        if len(input_grads) != len(node.inputs):
            raise RuntimeError(f"{node.function.op_name()}.backward returned {len(input_grads)} gradients "
                               f"for {len(node.inputs)} inputs")
        for parent, parent_grad in zip(node.inputs, input_grads):
            if parent is None or parent_grad is None or not parent.requires_grad:
                continue
            if parent_grad.shape != parent.shape:
                raise RuntimeError(f"{node.function.op_name()}.backward: gradient of shape {parent_grad.shape} "
                                   f"for an input of shape {parent.shape}")
            key = id(parent)
            grads[key] = parent_grad if key not in grads else grads[key] + parent_grad
