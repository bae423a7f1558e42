"""Module and Parameter: containers of trainable tensors, as in ``torch.nn``."""

from collections import OrderedDict

import numpy as np

from minigan import backend
from minigan.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that is a trainable weight of a Module (``requires_grad`` is True by default)."""

    def __init__(self, data, requires_grad=True):
        source = data if isinstance(data, Tensor) else Tensor(data)
        super().__init__(source.array, dtype=source.dtype, device=source.device, requires_grad=requires_grad)


class Module:
    """Base class of layers and models.

    Assigning a Parameter, a Module or (via ``register_buffer``) a Tensor to an attribute
    registers it; ``parameters()``/``named_parameters()`` list them in registration order.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name, tensor):
        """A non-trainable tensor that belongs to the state (e.g. batch norm's running mean)."""
        setattr(self, name, tensor)
        if tensor is not None:
            self._buffers[name] = tensor

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # --- registration -----------------------------------------------------------------
    def add_module(self, name, module):
        """Register ``module`` (a Module or None) as the child ``name``, as ``setattr`` does."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}.add_module: {name!r} must be a Module or None, "
                            f"got {type(module).__name__}")
        setattr(self, name, module)
        if module is None:
            self._modules[name] = None

    def register_parameter(self, name, param):
        """Register ``param`` (a Parameter or None) under ``name``."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"{type(self).__name__}.register_parameter: {name!r} must be a Parameter or None, "
                            f"got {type(param).__name__}")
        setattr(self, name, param)

    # --- traversal ------------------------------------------------------------------------
    def named_children(self):
        """(name, child module) pairs of the direct children, in registration order."""
        for name, child in self._modules.items():
            if child is not None:
                yield name, child

    def children(self):
        return [child for _, child in self.named_children()]

    def named_modules(self, memo=None, prefix=""):
        """(dotted name, module) for this module ('' or ``prefix``) and every descendant, depth first,
        each module once (as ``torch.nn.Module.named_modules``: names ``'0'``, ``'0.conv'``, ...)."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return [module for _, module in self.named_modules()]

    def apply(self, fn):
        """Call ``fn(module)`` on every child (recursively), then on this module; returns self.

        The torch idiom ``net.apply(weights_init)`` with ``weights_init`` testing
        ``m.__class__.__name__`` works unchanged."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def _named_members(self, registry):
        seen = set()
        for prefix, module in self.named_modules():
            for name, member in getattr(module, registry).items():
                if member is not None and id(member) not in seen:
                    seen.add(id(member))
                    yield (f"{prefix}.{name}" if prefix else name), member

    def named_parameters(self):
        """(dotted name, Parameter) pairs in registration order, each parameter once."""
        return self._named_members("_parameters")

    def parameters(self):
        return [param for _, param in self.named_parameters()]

    def named_buffers(self):
        return self._named_members("_buffers")

    def buffers(self):
        return [buffer for _, buffer in self.named_buffers()]

    def requires_grad_(self, requires_grad=True):
        """Switch gradient tracking of every parameter on or off; returns self."""
        for param in self.parameters():
            param.requires_grad = bool(requires_grad)
        return self

    # --- state ----------------------------------------------------------------------------
    def state_dict(self):
        """Every parameter and buffer by dotted name, as NumPy copies (device independent)."""
        state = OrderedDict((name, p.numpy().copy()) for name, p in self.named_parameters())
        state.update((name, b.numpy().copy()) for name, b in self.named_buffers())
        return state

    def load_state_dict(self, state):
        """Copy values into the parameters and buffers; names and shapes must match exactly."""
        own = OrderedDict(self.named_parameters())
        own.update(self.named_buffers())
        missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        if missing or unexpected:
            raise ValueError(f"load_state_dict: {type(self).__name__} missing keys {missing}, "
                             f"unexpected keys {unexpected}")
        for name, target in own.items():
            value = state[name].numpy() if isinstance(state[name], Tensor) else np.asarray(state[name])
            if value.shape != target.shape:
                raise ValueError(f"load_state_dict: {name} has shape {value.shape} in the state but "
                                 f"{target.shape} in the module")
            target.array[...] = backend.to_device(value.astype(target.dtype, copy=False), target.device)
        return self

    # --- modes and placement --------------------------------------------------------------
    def train(self, mode=True):
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        """Drop every parameter's gradient (``set_to_none=False``: fill it with zeros instead)."""
        for param in self.parameters():
            if set_to_none:
                param.grad = None
            elif param.grad is not None:
                param.grad.array[...] = 0

    def to(self, target):
        """Move every parameter and buffer to a device, or convert them to a dtype; returns self."""
        for module in self.modules():
            for registry in (module._parameters, module._buffers):
                for name, tensor in registry.items():
                    moved = tensor.to(target)
                    tensor.array, tensor.device = moved.array, moved.device
                    if tensor.grad is not None:
                        tensor.grad = tensor.grad.to(target)
        return self

    def cuda(self, device=None):
        """``to('cuda')`` (one GPU: a device index other than 0 is refused)."""
        if device not in (None, 0, "cuda", "cuda:0"):
            raise NotImplementedError(f"{type(self).__name__}.cuda: minigan runs on one GPU, got device={device!r}")
        return self.to("cuda")

    def cpu(self):
        return self.to("cpu")

    def double(self):
        return self.to(np.float64)

    def float(self):
        return self.to(np.float32)

    def num_parameters(self):
        return int(sum(p.numel() for p in self.parameters()))

    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, child in self.named_children():
            lines.append(f"  ({name}): " + repr(child).replace("\n", "\n  "))
        return lines[0] + ")" if len(lines) == 1 else "\n".join(lines) + "\n)"
