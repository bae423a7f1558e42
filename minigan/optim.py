"""Optimizers (PyTorch's exact update rules, run as fused kernels); schedules are ``minigan.train.MultiStage``.

The update math is in the kernels (``sgd_step``/``adam_step`` of docs/kernel_api.md); this module
keeps the per-parameter state and the hyper-parameters in ``param_groups``, as PyTorch does.
"""

import numpy as np

from minigan import backend


class Optimizer:
    """Holds parameters, their per-parameter state and the hyper-parameters of one group."""

    def __init__(self, params, defaults):
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if defaults["lr"] < 0:
            raise ValueError(f"{type(self).__name__}: invalid learning rate {defaults['lr']}")
        self.param_groups = [dict(defaults, params=params)]
        self.state = {}  # index of the parameter -> dict of arrays and counters

    @property
    def params(self):
        return self.param_groups[0]["params"]

    @property
    def lr(self):
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value):
        self.param_groups[0]["lr"] = value

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        group = self.param_groups[0]
        for index, p in enumerate(self.params):
            if p.grad is not None:
                if not p.array.flags.c_contiguous:      # the update kernels write through flat views
                    raise ValueError(f"{type(self).__name__}.step: parameter {index} {p.shape} is not C-contiguous; "
                                     "assign it a contiguous array")
                self._update(p, p.grad.array, self.state.setdefault(index, {}), group, backend.kernels(p.device))

    def _update(self, param, grad, state, group, kernels):
        raise NotImplementedError

    def state_dict(self):
        """Hyper-parameters and state as NumPy arrays and numbers (device independent, pickle-free)."""
        hyper = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        state = {i: {k: (backend.to_device(v, "cpu").copy() if hasattr(v, "shape") else v) for k, v in s.items()}
                 for i, s in self.state.items()}
        return {"param_groups": [hyper], "state": state}

    def load_state_dict(self, state_dict):
        hyper = state_dict["param_groups"][0]
        self.param_groups[0].update(hyper)
        self.state = {}
        for index, saved in state_dict["state"].items():
            index = int(index)
            if index >= len(self.params):
                raise ValueError(f"{type(self).__name__}.load_state_dict: state for parameter {index}, "
                                 f"but the optimizer has {len(self.params)} parameters")
            p = self.params[index]
            self.state[index] = {k: (backend.to_device(np.asarray(v, dtype=p.dtype), p.device).copy()
                                     if np.ndim(v) else v) for k, v in saved.items()}


class SGD(Optimizer):
    """Stochastic gradient descent: d = g + wd·p; with momentum, buf ← μ·buf + d and d = buf; p ← p − lr·d."""

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
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

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
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

