"""Host side of ``kernels/upsample.cu``: nearest upsampling by whole-number factors of
docs/kernel_api.md on 'cuda' / 'cuda-sim' (one thread per output element, grid-stride)."""

import numpy as np

from minigan.kernels.cuda_launch import CudaSource, Launcher

SOURCE = CudaSource("upsample", ("upsample_nearest2d_forward", "upsample_nearest2d_backward"))


class UpsampleCuda(Launcher):
    """upsample_nearest2d: forward and backward."""

    def _upsample(self, op, src, scale, out_hw, in_hw):
        """Run ``op`` from ``src (N, C, ...)`` to ``out (N, C, *out_hw)``; C signature
        (src, out, N*C, in_hw (the smaller size), sh, sw)."""
        n, c = src.shape[:2]
        out = self.xp.empty((n, c, *out_hw), dtype=src.dtype)
        self._launch(SOURCE, op, src.dtype, (self._input(src), out, np.int64(n * c),
                                             *(np.int32(v) for v in (*in_hw, *scale))), threads=out.size)
        return out

    def upsample_nearest2d_forward(self, x, scale):
        """y[n, c, h, w] = x[n, c, h // sh, w // sw], y (N, C, H*sh, W*sw)."""
        (h, w), (sh, sw) = x.shape[2:], scale
        return self._upsample("upsample_nearest2d_forward", x, scale, (h * sh, w * sw), (h, w))

    def upsample_nearest2d_backward(self, grad_y, scale):
        """grad_x[n, c, i, j] = sum_{a < sh, b < sw} grad_y[n, c, i*sh + a, j*sw + b]."""
        (h, w), (sh, sw) = grad_y.shape[2:], scale
        return self._upsample("upsample_nearest2d_backward", grad_y, scale, (h // sh, w // sw), (h // sh, w // sw))
