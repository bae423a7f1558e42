"""Optimizers (PyTorch's exact update rules, run as fused kernels); schedules are ``minigan.train.MultiStage``.

The update math is in the kernels (``sgd_step``/``adam_step``/``rmsprop_step`` of docs/kernel_api.md); this module
keeps the per-parameter state and the hyper-parameters in ``param_groups``, as PyTorch does.
"""

import numpy as np

from minigan import backend
from minigan.tensor import Tensor


class Optimizer:
    """Parameters in groups (``param_groups``: dicts holding ``params`` and that group's hyper-parameters,
    e.g. ``g['lr']``, readable and writable), and the per-parameter state, as in PyTorch.

    ``params`` is any iterable of Tensors (a list, a generator, ``itertools.chain(a.parameters(),
    b.parameters())``) or of dicts, one per group, each with ``params`` and any hyper-parameters that
    differ from the optimizer's defaults.
    """

    def __init__(self, params, defaults):
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: params must be an iterable of Tensors or of dicts, got a Tensor")
        if defaults["lr"] < 0:
            raise ValueError(f"{name}: invalid learning rate {defaults['lr']}")
        groups = list(params)
        if not groups:
            raise ValueError(f"{name}: got an empty parameter list")
        self.defaults = defaults
        self.param_groups = []
        self.state = {}  # position of the parameter across all groups -> dict of arrays and counters
        for group in groups if isinstance(groups[0], dict) else [{"params": groups}]:
            self.add_param_group(group)

    def add_param_group(self, group):
        """Add a group: a dict with ``params`` (a Tensor or an iterable of them) and optional hyper-parameters."""
        name = type(self).__name__
        if not isinstance(group, dict):
            raise TypeError(f"{name}: a parameter group must be a dict, got {type(group).__name__}")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimize Tensors, got {type(p).__name__}")
        known = {id(p) for _, _, p in self._parameters()}
        if len({id(p) for p in params}) < len(params) or any(id(p) in known for p in params):
            raise ValueError(f"{name}: a parameter appears more than once among the parameter groups")
        full = dict(self.defaults, **group)
        full["params"] = params
        if full["lr"] < 0:
            raise ValueError(f"{name}: invalid learning rate {full['lr']}")
        self.param_groups.append(full)

    def _parameters(self):
        """(position across all groups, group, parameter) for every parameter."""
        index = 0
        for group in self.param_groups:
            for p in group["params"]:
                yield index, group, p
                index += 1

    @property
    def lr(self):
        """The first group's learning rate; setting it sets every group's."""
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value):
        for group in self.param_groups:
            group["lr"] = value

    def zero_grad(self, set_to_none=True):
        """Drop every gradient (``set_to_none=False``: fill it with zeros instead)."""
        for _, _, p in self._parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.array[...] = 0

    def step(self, closure=None):
        """One update of every parameter that has a gradient; ``closure`` (re-evaluating the loss) is
        called first and its loss returned, as in PyTorch."""
        loss = closure() if closure is not None else None
        for index, group, p in self._parameters():
            if p.grad is not None:
                self._check_parameter(index, p)
                self._update(p, p.grad.array, self.state.setdefault(index, {}), group, backend.kernels(p.device))
        return loss

    def _check_parameter(self, index, p):
        """What the update kernels assume: a C-contiguous parameter (they write through flat views) and a
        gradient of its shape and dtype."""
        op = f"{type(self).__name__}.step"
        if not p.array.flags.c_contiguous:
            raise ValueError(f"{op}: parameter {index} {p.shape} is not C-contiguous; assign it a contiguous array")
        if p.grad.shape != p.shape:
            raise ValueError(f"{op}: parameter {index} has shape {p.shape} but its grad has shape {p.grad.shape}")
        if p.grad.dtype != p.dtype:
            raise TypeError(f"{op}: parameter {index} is {np.dtype(p.dtype).name} but its grad is "
                            f"{np.dtype(p.grad.dtype).name}")

    def _update(self, param, grad, state, group, kernels):
        raise NotImplementedError

    def state_dict(self):
        """Hyper-parameters and state as NumPy arrays and numbers (device independent, pickle-free); each
        group lists its parameters by position, as PyTorch's does."""
        groups = []
        for group in self.param_groups:
            start = sum(len(g["params"]) for g in groups)
            hyper = {k: v for k, v in group.items() if k != "params"}
            groups.append(dict(hyper, params=list(range(start, start + len(group["params"])))))
        state = {i: {k: (backend.to_device(v, "cpu").copy() if hasattr(v, "shape") else v) for k, v in s.items()}
                 for i, s in self.state.items()}
        return {"param_groups": groups, "state": state}

    def load_state_dict(self, state_dict):
        name = type(self).__name__
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the state has {len(saved_groups)} parameter groups, "
                             f"the optimizer {len(self.param_groups)}")
        for group, saved in zip(self.param_groups, saved_groups):
            if "params" in saved and len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{name}.load_state_dict: a saved group has {len(saved['params'])} parameters, "
                                 f"the optimizer's {len(group['params'])}")
            group.update({k: v for k, v in saved.items() if k != "params"})
        params = [p for _, _, p in self._parameters()]
        self.state = {}
        for index, saved in state_dict["state"].items():
            index = int(index)
            if index >= len(params):
                raise ValueError(f"{name}.load_state_dict: state for parameter {index}, "
                                 f"but the optimizer has {len(params)} parameters")
            p = params[index]
            for key, value in saved.items():
                if np.ndim(value) and np.shape(value) != p.shape:
                    raise ValueError(f"{name}.load_state_dict: state {key!r} of parameter {index} has shape "
                                     f"{np.shape(value)}, the parameter {p.shape}")
            self.state[index] = {k: (backend.to_device(np.asarray(v, dtype=p.dtype), p.device).copy()
                                     if np.ndim(v) else v) for k, v in saved.items()}


def _buffer(state, name, param):
    """The state array ``name`` (zeros of the parameter's shape on first use)."""
    if name not in state:
        state[name] = backend.array_module(param.device).zeros_like(param.array)
    return state[name]


class SGD(Optimizer):
    """Stochastic gradient descent: d = g + wd·p; with momentum, buf ← μ·buf + d and d = buf; p ← p − lr·d.
    torch's signature; dampening and nesterov must keep their defaults."""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        if dampening != 0 or nesterov:
            raise NotImplementedError("minigan does not support torch.optim.SGD(dampening=..., nesterov=True)")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    def _update(self, param, grad, state, group, kernels):
        momentum = group["momentum"]
        first_step = "momentum_buffer" not in state
        if momentum and first_step:
            state["momentum_buffer"] = backend.array_module(param.device).zeros_like(param.array)
        kernels.sgd_step(param.array, grad, state.get("momentum_buffer"), group["lr"], momentum,
                         group["weight_decay"], first_step)


class Adam(Optimizer):
    """Adam (Kingma & Ba), PyTorch's form:

        g ← g + wd·p;  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
        p ← p − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + ε)
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        if amsgrad:
            raise NotImplementedError("minigan does not support torch.optim.Adam(amsgrad=True)")
        if not 0 <= betas[0] < 1 or not 0 <= betas[1] < 1:
            raise ValueError(f"Adam: betas must be in [0, 1), got {betas}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def _update(self, param, grad, state, group, kernels):
        if "step" not in state:
            xp = backend.array_module(param.device)
            state.update(step=0, exp_avg=xp.zeros_like(param.array), exp_avg_sq=xp.zeros_like(param.array))
        state["step"] += 1
        beta1, beta2 = group["betas"]
        kernels.adam_step(param.array, grad, state["exp_avg"], state["exp_avg_sq"], state["step"], group["lr"],
                          beta1, beta2, group["eps"], group["weight_decay"])


class RMSprop(Optimizer):
    """RMSprop, PyTorch's form (ε added after the square root):

        g ← g + wd·p;  v ← α·v + (1−α)·g²
        centered: ḡ ← α·ḡ + (1−α)·g,  a = √(v − ḡ²) + ε;   otherwise a = √v + ε
        momentum μ > 0: buf ← μ·buf + g/a,  p ← p − lr·buf;  otherwise p ← p − lr·g/a
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
        for name, value in (("alpha", alpha), ("eps", eps), ("weight_decay", weight_decay), ("momentum", momentum)):
            if value < 0:
                raise ValueError(f"RMSprop: invalid {name} {value}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=bool(centered)))

    def _update(self, param, grad, state, group, kernels):
        state["step"] = state.get("step", 0) + 1
        momentum = group["momentum"]
        kernels.rmsprop_step(param.array, grad, _buffer(state, "square_avg", param),
                             _buffer(state, "grad_avg", param) if group["centered"] else None,
                             _buffer(state, "momentum_buffer", param) if momentum > 0 else None,
                             group["lr"], group["alpha"], group["eps"], group["weight_decay"], momentum)
