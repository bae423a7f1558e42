"""The dynamic tape: Function, its Context, no_grad() and the reverse graph walk.

Every differentiable op is a subclass of ``Function`` with three static methods:

    forward(ctx, *arrays, **options)        -> array, or (array, *constant arrays)
    backward(ctx, grad)                     -> one gradient (array or None) per positional input
    backward_graph(ctx, grad, *inputs)      -> the same gradients as Tensors, built from
                                               differentiable minigan ops

``Function.apply`` unwraps Tensors to arrays, checks that they share one device and one dtype,
runs ``forward`` and, when any input requires a gradient, records the Function, its context and
its input Tensors on the output. ``backward``/``grad`` walk those records in reverse topological
order. With ``create_graph=False`` (the default) each node runs ``backward`` on raw arrays: the
fused kernels, nothing recorded. With ``create_graph=True`` each node runs ``backward_graph``
with recording on, so the gradients are Tensors on a new graph and can be differentiated again
(the gradient penalties of WGAN-GP and R1 need this; see docs/math.md, "Gradients of gradients").
"""

import re

import numpy as np

from minigan import backend
from minigan.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # noqa: F401  (re-exported)
from minigan.tensor import Tensor, use_backward

class Context:
    """What a Function's forward leaves for its backward: the device, its array module and kernels."""

    def __init__(self, device):
        self.device = device
        self.xp = backend.array_module(device)
        self.kernels = backend.kernels(device)
        self.needs_input_grad = ()


class Node:
    """A recorded op: the Function class, its Context and the input Tensors (None for non-Tensors).

    ``ctx`` becomes None once a backward pass has used it without ``retain_graph``: what the
    forward saved is released, and a second pass through this node is an error.
    """

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

    @staticmethod
    def backward_graph(ctx, grad, *inputs):
        """The gradients as Tensors made by differentiable ops (``create_graph=True``).

        ``grad`` is a Tensor; ``inputs`` are the forward's positional inputs as recorded (Tensors,
        or None where the forward received a non-Tensor, which ``ctx`` keeps as an array).
        """
        raise NotImplementedError


def _topological_order(roots):
    """Tensors reachable from ``roots`` through recorded nodes, each before every tensor it was made from."""
    order, visited = [], set()
    stack = [(root, False) for root in roots]
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


def _on_paths_to(order, targets):
    """ids of the tensors in ``order`` from which a target is reached (the targets included)."""
    needed = set(targets)
    for tensor in reversed(order):  # every tensor after the ones it was made from
        node = tensor._node
        if node is not None and any(p is not None and id(p) in needed for p in node.inputs):
            needed.add(id(tensor))
    return needed


_FREED = ("{op}: trying to go backward through the graph a second time (or to read values it has already "
          "freed). Pass retain_graph=True to the first backward()/grad() call if you need to go through it again.")


def _propagate(roots, root_grads, targets, retain_graph, create_graph):
    """Carry ``root_grads`` from ``roots`` back to ``targets`` (ids; None: every leaf that requires grad).

    Returns {id: (target, its total gradient)} for each target reached. Gradients are arrays when
    ``create_graph`` is false and Tensors (on a new graph) when it is true.
    """
    order = _topological_order(roots)
    if targets is None:
        targets = {id(t) for t in order if t._node is None and t.requires_grad}
    needed = _on_paths_to(order, targets)
    grads = {}
    for root, g in zip(roots, root_grads):
        grads[id(root)] = g if id(root) not in grads else grads[id(root)] + g
    reached = {}
    with set_grad_enabled(create_graph):
        for tensor in order:
            g = grads.pop(id(tensor), None)
            if g is None or id(tensor) not in needed:
                continue
            if id(tensor) in targets:
                reached[id(tensor)] = tensor, g  # complete: every tensor made from this one came before it
            node = tensor._node
            if node is None:
                continue
            if node.ctx is None:
                raise RuntimeError(_FREED.format(op=node.function.op_name()))
            # only the gradients on a path to a target: grad(D(x), x) computes no weight gradients
            node.ctx.needs_input_grad = tuple(p is not None and id(p) in needed for p in node.inputs)
            if create_graph:
                input_grads = node.function.backward_graph(node.ctx, g, *node.inputs)
            else:
                input_grads = node.function.backward(node.ctx, g)
            if not retain_graph:
                node.ctx = None
            if not isinstance(input_grads, tuple):
                input_grads = (input_grads,)
            if len(input_grads) != len(node.inputs):
                raise RuntimeError(f"{node.function.op_name()}.backward returned {len(input_grads)} gradients "
                                   f"for {len(node.inputs)} inputs")
            for parent, parent_grad in zip(node.inputs, input_grads):
                if parent is None or parent_grad is None or id(parent) not in needed:
                    continue
                if tuple(parent_grad.shape) != parent.shape:
                    raise RuntimeError(f"{node.function.op_name()}.backward: gradient of shape "
                                       f"{tuple(parent_grad.shape)} for an input of shape {parent.shape}")
                if create_graph and not isinstance(parent_grad, Tensor):
                    raise RuntimeError(f"{node.function.op_name()}.backward_graph returned an array, not a Tensor")
                key = id(parent)
                grads[key] = parent_grad if key not in grads else grads[key] + parent_grad
    return reached


def _as_tuple(values):
    return tuple(values) if isinstance(values, (tuple, list)) else (values,)


def _root_grads(op, outputs, grad_outputs, create_graph):
    """Check ``grad_outputs`` against ``outputs`` (ones for one-element outputs when missing)."""
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    grad_outputs = _as_tuple(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"{op}: got {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    grads = []
    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if not isinstance(out, Tensor):
            raise TypeError(f"{op}: output {i} is a {type(out).__name__}, not a Tensor")
        if not out.requires_grad:
            raise RuntimeError(f"{op}: output {i} does not require grad and has no graph "
                               "(was it computed under no_grad(), or from inputs that do not require grad?)")
        if g is None:
            if out.array.size != 1:
                raise RuntimeError(f"{op}: a gradient can be created implicitly only for one-element outputs; "
                                   f"output {i} has shape {out.shape}: pass grad_outputs (for backward: gradient=) "
                                   "of the same shape")
            g = Tensor._from_op(backend.array_module(out.device).ones_like(out.array), out.device, None)
        elif not isinstance(g, Tensor):
            g = Tensor(backend.array_module(out.device).asarray(g, dtype=out.dtype), device=out.device)
        if g.shape != out.shape:
            raise ValueError(f"{op}: grad_outputs[{i}] has shape {g.shape} but output {i} has shape {out.shape}")
        if g.dtype != out.dtype:
            raise TypeError(f"{op}: grad_outputs[{i}] is {g.dtype.name} but output {i} is {out.dtype.name}")
        if g.device != out.device:
            raise ValueError(f"{op}: grad_outputs[{i}] is on {g.device} but output {i} is on {out.device}")
        grads.append(g if create_graph else g.array)
    return grads


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False):
    """Accumulate d(tensors)/d(leaf) · grad_tensors into ``.grad`` of every leaf that requires a gradient.

    As ``torch.autograd.backward``: ``retain_graph`` defaults to ``create_graph``; with
    ``create_graph`` the ``.grad`` Tensors carry a graph of their own.
    """
    roots = _as_tuple(tensors)
    retain_graph = create_graph if retain_graph is None else retain_graph
    root_grads = _root_grads("backward", roots, grad_tensors, create_graph)
    for leaf, g in _propagate(roots, root_grads, None, retain_graph, create_graph).values():
        if create_graph:
            leaf.grad = g if leaf.grad is None else leaf.grad + g
        else:
            total = g if leaf.grad is None else leaf.grad.array + g
            leaf.grad = Tensor._from_op(total, leaf.device, None)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False,
         only_inputs=True):
    """d(outputs)/d(inputs) · grad_outputs, as a tuple with one Tensor per input (``torch.autograd.grad``).

    ``.grad`` is not touched. With ``create_graph=True`` the results carry a graph and can be
    differentiated again. An input the outputs do not depend on gives an error, or None when
    ``allow_unused=True``. ``only_inputs`` is accepted for PyTorch compatibility and ignored.
    """
    del only_inputs
    outputs, inputs = _as_tuple(outputs), _as_tuple(inputs)
    if not inputs:
        raise ValueError("grad: inputs is empty")
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor):
            raise TypeError(f"grad: inputs[{i}] is a {type(x).__name__}, not a Tensor")
        if not x.requires_grad:
            raise RuntimeError(f"grad: inputs[{i}] (shape {x.shape}) does not require grad; "
                               "create it with requires_grad=True or call .requires_grad_()")
    retain_graph = create_graph if retain_graph is None else retain_graph
    root_grads = _root_grads("grad", outputs, grad_outputs, create_graph)
    reached = _propagate(outputs, root_grads, {id(x) for x in inputs}, retain_graph, create_graph)
    results = []
    for i, x in enumerate(inputs):
        g = reached[id(x)][1] if id(x) in reached else None
        if g is None and not allow_unused:
            raise RuntimeError(f"grad: inputs[{i}] (shape {x.shape}) was not used to compute the outputs; "
                               "pass allow_unused=True to get None for it")
        if g is not None and not create_graph:
            g = Tensor._from_op(g, x.device, None)
        results.append(g)
    return tuple(results)


def Variable(tensor, requires_grad=False, volatile=False):
    """``torch.autograd.Variable`` (kept by PyTorch for old code): the tensor, detached, with
    ``requires_grad`` set as asked."""
    return tensor.detach().requires_grad_(requires_grad)


use_backward(backward)  # Tensor.backward() walks the graph with this module's backward()
