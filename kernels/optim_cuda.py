"""Host side of ``kernels/optim.cu``: the fused, in-place optimizer updates of docs/kernel_api.md
on 'cuda' / 'cuda-sim' (PyTorch's exact rules)."""

import math

import numpy as np

from minigan.kernels.cuda_launch import CudaSource, Launcher

SOURCE = CudaSource("optim", ("sgd_step", "sgd_momentum_step", "adam_step"))


class OptimCuda(Launcher):
    """sgd_step and adam_step."""

    def sgd_step(self, param, grad, momentum_buf, lr, momentum, weight_decay, first_step):
        """In place: d = g + wd*p; with momentum buf <- d (first step) or momentum*buf + d,
        d = buf; p <- p - lr*d."""
        real, n = param.dtype.type, np.int64(param.size)
        grad = self._input(grad)
        if momentum == 0:
            self._launch(SOURCE, "sgd_step", param.dtype,
                         (param, grad, real(lr), real(weight_decay), n), threads=param.size)
        else:
            self._launch(SOURCE, "sgd_momentum_step", param.dtype,
                         (param, grad, momentum_buf, real(lr), real(momentum), real(weight_decay),
                          np.int32(bool(first_step)), n), threads=param.size)

    def adam_step(self, param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps,
                  weight_decay):
        """In place: g = grad + wd*p; m <- b1*m + (1-b1)*g; v <- b2*v + (1-b2)*g^2;
        p <- p - lr / (1 - b1^step) * (m / (sqrt(v) / sqrt(1 - b2^step) + eps)).

        The two bias corrections depend on the step only, so the host computes them once
        (step_size = lr / (1 - b1^step), sqrt_bc2 = sqrt(1 - b2^step)) for every thread."""
        real = param.dtype.type
        step_size = lr / (1 - beta1 ** step)
        sqrt_bc2 = math.sqrt(1 - beta2 ** step)
        self._launch(SOURCE, "adam_step", param.dtype,
                     (param, self._input(grad), exp_avg, exp_avg_sq, real(step_size),
                      real(sqrt_bc2), real(beta1), real(beta2), real(eps), real(weight_decay),
                      np.int64(param.size)), threads=param.size)
