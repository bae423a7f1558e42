"""Host side of ``kernels/rmsprop.cu``: the in-place RMSprop update of docs/kernel_api.md on
'cuda' / 'cuda-sim' (PyTorch's exact rule; one thread per element, grid-stride)."""

import numpy as np

from minigan.kernels.cuda_launch import CudaSource, Launcher

SOURCE = CudaSource("rmsprop", ("rmsprop_step",))


class RmspropCuda(Launcher):
    """rmsprop_step."""

    def rmsprop_step(self, param, grad, square_avg, grad_avg, momentum_buf, lr, alpha, eps, weight_decay,
                     momentum):
        """In place: g = grad + wd*p; v <- alpha*v + (1-alpha)*g^2; avg = sqrt(v) + eps, or centered
        (grad_avg given) ga <- alpha*ga + (1-alpha)*g, avg = sqrt(v - ga^2) + eps; p <- p - lr*g/avg,
        or with momentum buf <- momentum*buf + g/avg, p <- p - lr*buf."""
        centered, use_momentum = grad_avg is not None, momentum != 0
        real = param.dtype.type
        self._launch(SOURCE, "rmsprop_step", param.dtype,
                     (param, self._input(grad), square_avg, grad_avg if centered else square_avg,
                      momentum_buf if use_momentum else square_avg, real(lr), real(alpha), real(eps),
                      real(weight_decay), real(momentum), np.int32(centered), np.int32(use_momentum),
                      np.int64(param.size)), threads=param.size)
