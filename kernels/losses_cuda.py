"""Host side of ``kernels/losses.cu``: the losses of docs/kernel_api.md on 'cuda' / 'cuda-sim'.

Every loss is elementwise in two inputs ``(a, b)`` followed by a reduction: 'none' keeps the
elementwise loss; 'sum' and 'mean' add per-block partial sums, then one block adds the partials
(two passes, for accuracy in float32).
"""

import numpy as np

from minigan.kernels.cuda_launch import CudaSource, Launcher

SOURCE = CudaSource("losses", tuple(f"{loss}_{part}"
                                    for loss in ("bce", "bce_with_logits", "mse", "kl_normal")
                                    for part in ("forward_none", "partial_sums", "backward"))
                    + ("sum_partials",))


class LossesCuda(Launcher):
    """bce, bce_with_logits, mse, kl_normal: forward and backward."""

    def _loss_forward(self, loss, reduction, **inputs):
        """'none': the elementwise loss; 'sum'/'mean': per-block partial sums, then one block
        adds the partials (and divides by the element count for 'mean'); 0-d result."""
        a, b = (self._input(v) for v in inputs.values())
        n, dtype = a.size, a.dtype
        if reduction == "none":
            out = self.xp.empty_like(a)
            self._launch(SOURCE, f"{loss}_forward_none", dtype, (a, b, out, np.int64(n)),
                         threads=n)
            return out
        blocks = max(1, self._grid(n))
        partials = self.xp.empty(blocks, dtype=dtype)
        self._launch(SOURCE, f"{loss}_partial_sums", dtype, (a, b, partials, np.int64(n)),
                     blocks=blocks)
        out = self.xp.empty((), dtype=dtype)
        divisor = dtype.type(n if reduction == "mean" else 1)
        self._launch(SOURCE, "sum_partials", dtype, (partials, np.int32(blocks), divisor, out),
                     blocks=1)
        return out

    def _loss_backward(self, loss, grad_out, reduction, n_grads, **inputs):
        """grad = g * dl/d(input), g = grad_out (per element for 'none', else the 0-d value,
        divided by the element count for 'mean')."""
        a, b = (self._input(v) for v in inputs.values())
        grad_out, dtype = self._input(grad_out), a.dtype
        divisor = dtype.type(a.size if reduction == "mean" else 1)
        grads = tuple(self.xp.empty_like(a) for _ in range(n_grads))
        self._launch(SOURCE, f"{loss}_backward", dtype,
                     (grad_out, np.int32(reduction == "none"), divisor, a, b, *grads,
                      np.int64(a.size)), threads=a.size)
        return grads if n_grads > 1 else grads[0]

    def bce_forward(self, p, target, reduction):
        """l = -(t * max(log p, -100) + (1 - t) * max(log(1 - p), -100)), reduced."""
        return self._loss_forward("bce", reduction, p=p, target=target)

    def bce_backward(self, grad_out, p, target, reduction):
        """grad_p = g * (p - t) / max(p (1 - p), 1e-12)."""
        return self._loss_backward("bce", grad_out, reduction, 1, p=p, target=target)

    def bce_with_logits_forward(self, logits, target, reduction):
        """l = max(z, 0) - z t + log(1 + e^-|z|), reduced."""
        return self._loss_forward("bce_with_logits", reduction, logits=logits, target=target)

    def bce_with_logits_backward(self, grad_out, logits, target, reduction):
        """grad_z = g * (sigmoid(z) - t)."""
        return self._loss_backward("bce_with_logits", grad_out, reduction, 1, logits=logits,
                                   target=target)

    def mse_forward(self, x, target, reduction):
        """l = (x - t)^2, reduced."""
        return self._loss_forward("mse", reduction, x=x, target=target)

    def mse_backward(self, grad_out, x, target, reduction):
        """grad_x = g * 2 (x - t)."""
        return self._loss_backward("mse", grad_out, reduction, 1, x=x, target=target)

    def kl_normal_forward(self, mu, logvar, reduction):
        """l = -1/2 (1 + lv - mu^2 - e^lv), reduced."""
        return self._loss_forward("kl_normal", reduction, mu=mu, logvar=logvar)

    def kl_normal_backward(self, grad_out, mu, logvar, reduction):
        """(grad_mu, grad_logvar) = (g * mu, g * 1/2 (e^lv - 1))."""
        return self._loss_backward("kl_normal", grad_out, reduction, 2, mu=mu, logvar=logvar)
