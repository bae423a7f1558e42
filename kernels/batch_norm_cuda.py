"""Host side of ``kernels/batch_norm.cu``: batch normalisation of docs/kernel_api.md on 'cuda' /
'cuda-sim', for ``x (N, C, L)`` with per-channel ``(C,)`` parameters and statistics."""

import numpy as np

from minigan.kernels.cuda_launch import CudaSource, Launcher

SOURCE = CudaSource("batch_norm", ("batch_norm_stats", "batch_norm_normalize",
                                   "batch_norm_backward_reduce", "batch_norm_backward_data",
                                   "batch_norm_update_running"))


def _sizes(x):
    """The kernels' (N, C, L) arguments."""
    n, c, l = x.shape
    return np.int64(n), np.int32(c), np.int64(l)


class BatchNormCuda(Launcher):
    """batch_norm_forward_train / _eval, batch_norm_backward_train / _eval,
    batch_norm_update_running."""

    def _bn_normalize(self, x, mean, var, weight, bias, eps):
        x, mean, var, weight, bias = (self._input(a) for a in (x, mean, var, weight, bias))
        y = self.xp.empty_like(x)
        self._launch(SOURCE, "batch_norm_normalize", x.dtype,
                     (x, mean, var, weight, bias, y, x.dtype.type(eps), *_sizes(x)),
                     threads=x.size)
        return y

    def _bn_backward(self, grad_y, x, mean, var, weight, eps, training):
        grad_y, x, mean, var, weight = (self._input(a) for a in (grad_y, x, mean, var, weight))
        dtype, c = x.dtype, x.shape[1]
        grad_weight, grad_bias = self.xp.empty(c, dtype=dtype), self.xp.empty(c, dtype=dtype)
        sizes, real_eps = _sizes(x), dtype.type(eps)
        self._launch(SOURCE, "batch_norm_backward_reduce", dtype,
                     (grad_y, x, mean, var, grad_weight, grad_bias, real_eps, *sizes), blocks=c)
        grad_x = self.xp.empty_like(x)
        self._launch(SOURCE, "batch_norm_backward_data", dtype,
                     (grad_y, x, mean, var, weight, grad_weight, grad_bias, grad_x, real_eps,
                      *sizes, np.int32(training)), threads=x.size)
        return grad_x, grad_weight, grad_bias

    def batch_norm_forward_train(self, x, weight, bias, eps):
        """mean, var (biased) per channel of x (N, C, L); y = weight * (x - mean) / sqrt(var + eps) + bias."""
        x = self._input(x)
        dtype, c = x.dtype, x.shape[1]
        mean, var = self.xp.empty(c, dtype=dtype), self.xp.empty(c, dtype=dtype)
        self._launch(SOURCE, "batch_norm_stats", dtype, (x, mean, var, *_sizes(x)), blocks=c)
        return self._bn_normalize(x, mean, var, weight, bias, eps), mean, var

    def batch_norm_forward_eval(self, x, running_mean, running_var, weight, bias, eps):
        """y = weight * (x - running_mean) / sqrt(running_var + eps) + bias."""
        return self._bn_normalize(x, running_mean, running_var, weight, bias, eps)

    def batch_norm_backward_train(self, grad_y, x, mean, var, weight, eps):
        """grad_bias = sum dy, grad_weight = sum dy * x_hat,
        grad_x = weight / sqrt(var + eps) * (dy - grad_bias / M - x_hat * grad_weight / M)."""
        return self._bn_backward(grad_y, x, mean, var, weight, eps, training=True)

    def batch_norm_backward_eval(self, grad_y, x, running_mean, running_var, weight, eps):
        """grad_x = dy * weight / sqrt(running_var + eps); grad_weight, grad_bias as in training."""
        return self._bn_backward(grad_y, x, running_mean, running_var, weight, eps,
                                 training=False)

    def batch_norm_update_running(self, running_mean, running_var, mean, var, count, momentum):
        """In place: rm <- (1-m)*rm + m*mean, rv <- (1-m)*rv + m*var*count/(count-1)."""
        real = running_mean.dtype.type
        self._launch(SOURCE, "batch_norm_update_running", running_mean.dtype,
                     (running_mean, running_var, self._input(mean), self._input(var),
                      real(1 - momentum), real(momentum), real(momentum * count / (count - 1)),
                      np.int32(running_mean.size)), threads=running_mean.size)
