"""Numba CPU kernel for the RMSprop update (in place, PyTorch's exact rule), one fused parallel pass:

    g = grad + wd * p
    v <- alpha * v + (1 - alpha) * g^2
    centered: ga <- alpha * ga + (1 - alpha) * g,  avg = sqrt(v - ga^2) + eps;  else avg = sqrt(v) + eps
    momentum: buf <- momentum * buf + g / avg,  p <- p - lr * buf;             else p <- p - lr * g / avg

The hyper-parameters are cast to the parameter's dtype, so float32 is updated in float32 arithmetic.
The state arrays are C-contiguous and of the parameter's shape and dtype (minigan.optim makes them so).
"""

import numpy as np
from numba import njit, prange

from minigan.kernels.parallel import launch


@njit(cache=True, parallel=True)
def _rmsprop_loop(param, grad, square_avg, grad_avg, momentum_buf, lr, alpha, one_minus_alpha, eps, weight_decay,
                  momentum, centered, use_momentum):
    for k in prange(param.size):
        g = grad[k] + weight_decay * param[k]
        v = alpha * square_avg[k] + one_minus_alpha * g * g
        square_avg[k] = v
        if centered:
            ga = alpha * grad_avg[k] + one_minus_alpha * g
            grad_avg[k] = ga
            v = v - ga * ga
        step = g / (np.sqrt(v) + eps)
        if use_momentum:
            step = momentum * momentum_buf[k] + step
            momentum_buf[k] = step
        param[k] -= lr * step


def rmsprop_step(param, grad, square_avg, grad_avg, momentum_buf, lr, alpha, eps, weight_decay, momentum):
    """In place; `grad_avg` is None unless centered, `momentum_buf` None when momentum == 0:
    g = grad + wd p; v <- alpha v + (1 - alpha) g^2; avg = sqrt(v [- ga^2, ga <- alpha ga + (1 - alpha) g]) + eps;
    p <- p - lr g / avg, or with momentum buf <- momentum buf + g / avg, p <- p - lr buf."""
    centered, use_momentum = grad_avg is not None, momentum != 0
    unused = param.reshape(-1)[:0]
    t = param.dtype.type
    launch(_rmsprop_loop, param.size, param.reshape(-1), np.ascontiguousarray(grad).reshape(-1), square_avg.reshape(-1),
           grad_avg.reshape(-1) if centered else unused, momentum_buf.reshape(-1) if use_momentum else unused,
           t(lr), t(alpha), t(1 - alpha), t(eps), t(weight_decay), t(momentum), centered, use_momentum)
