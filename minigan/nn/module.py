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

    # --- traversal ------------------------------------------------------------------------
    def named_modules(self, prefix=""):
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}{name}.")

    def modules(self):
        return [module for _, module in self.named_modules()]

    def children(self):
        return list(self._modules.values())

    def named_parameters(self):
        """(dotted name, Parameter) pairs in registration order, each parameter once."""
        seen = set()
        for prefix, module in self.named_modules():
            for name, param in module._parameters.items():
                if id(param) not in seen:
                    seen.add(id(param))
                    yield prefix + name, param

    def parameters(self):
        return [param for _, param in self.named_parameters()]

    def named_buffers(self):
        for prefix, module in self.named_modules():
            for name, buffer in module._buffers.items():
                yield prefix + name, buffer

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

    def zero_grad(self):
        for param in self.parameters():
            param.grad = None

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
        for name, child in self._modules.items():
            lines.append(f"  ({name}): " + repr(child).replace("\n", "\n  "))
        return lines[0] + ")" if len(lines) == 1 else "\n".join(lines) + "\n)"
