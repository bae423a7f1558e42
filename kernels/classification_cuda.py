"""Host side of ``kernels/classification.cu``: the cross-entropy, NLL and L1 losses of
docs/kernel_api.md on 'cuda' / 'cuda-sim'. The kernels write one loss per row (element); 'sum'
and 'mean' add them in one block (sum_losses)."""

import numpy as np

from minigan.kernels.cuda_launch import CudaSource, Launcher

SOURCE = CudaSource("classification", ("cross_entropy_forward", "cross_entropy_backward", "nll_forward",
                                       "nll_backward", "l1_forward", "l1_backward", "sum_losses"))


class ClassificationCuda(Launcher):
    """cross_entropy, nll, l1: forward and backward."""

    def _reduced(self, losses, reduction):
        """'none': the losses; 'sum' / 'mean': their sum (/ count) as a 0-d array, added by one block."""
        if reduction == "none":
            return losses
        out = self.xp.empty((), dtype=losses.dtype)
        divisor = losses.dtype.type(losses.size if reduction == "mean" else 1)
        self._launch(SOURCE, "sum_losses", losses.dtype, (losses, np.int64(losses.size), divisor, out), blocks=1)
        return out

    def _upstream(self, grad_out, like, shape, reduction):
        """(grad_out, grad_full, divisor): the kernels' g = grad_out[i or 0] / divisor, for losses of
        ``shape`` computed from the float array ``like``."""
        count = int(np.prod(shape))
        return (self._input(grad_out), np.int32(reduction == "none"),
                like.dtype.type(count if reduction == "mean" else 1))

    def _rows_forward(self, op, scores, target, reduction):
        dtype, (rows, classes) = scores.dtype, scores.shape
        losses = self.xp.empty(rows, dtype=dtype)
        self._launch(SOURCE, op, dtype, (self._input(scores), self._input(target), losses, np.int64(rows),
                                         np.int32(classes)), threads=rows)
        return self._reduced(losses, reduction)

    def cross_entropy_forward(self, logits, target, reduction):
        """l_n = log sum_c e^(z[n, c]) - z[n, t_n], reduced over n."""
        return self._rows_forward("cross_entropy_forward", logits, target, reduction)

    def _rows_backward(self, op, grad_out, scores, target, reduction, inputs, fill):
        """grad (rows, classes), made by ``fill`` (zeros or empty): C signature (grad_out, grad_full,
        divisor, *inputs, grad, rows, classes)."""
        upstream = self._upstream(grad_out, scores, target.shape, reduction)
        rows, classes = scores.shape
        grad = fill(scores.shape, dtype=scores.dtype)
        self._launch(SOURCE, op, scores.dtype, (*upstream, *inputs, grad, np.int64(rows), np.int32(classes)),
                     threads=rows)
        return grad

    def cross_entropy_backward(self, grad_out, logits, target, reduction):
        """grad_z[n, c] = g_n * (softmax(z[n])_c - [c = t_n])."""
        return self._rows_backward("cross_entropy_backward", grad_out, logits, target, reduction,
                                   (self._input(logits), self._input(target)), self.xp.empty)

    def nll_forward(self, logp, target, reduction):
        """l_n = -logp[n, t_n], reduced over n."""
        return self._rows_forward("nll_forward", logp, target, reduction)

    def nll_backward(self, grad_out, logp, target, reduction):
        """grad_logp[n, c] = -g_n * [c = t_n]."""
        return self._rows_backward("nll_backward", grad_out, logp, target, reduction, (self._input(target),),
                                   self.xp.zeros)

    def l1_forward(self, x, target, reduction):
        """l = |x - t|, reduced."""
        losses = self.xp.empty(x.shape, dtype=x.dtype)
        self._launch(SOURCE, "l1_forward", x.dtype, (self._input(x), self._input(target), losses, np.int64(x.size)),
                     threads=x.size)
        return self._reduced(losses, reduction)

    def l1_backward(self, grad_out, x, target, reduction):
        """grad_x = g * sign(x - t) (0 where x = t)."""
        upstream = self._upstream(grad_out, x, x.shape, reduction)
        grad = self.xp.empty(x.shape, dtype=x.dtype)
        self._launch(SOURCE, "l1_backward", x.dtype, (*upstream, self._input(x), self._input(target), grad,
                                                      np.int64(x.size)), threads=x.size)
        return grad
