"""Host side of ``kernels/embedding.cu``: the embedding lookup and its scatter-add gradient of
docs/kernel_api.md on 'cuda' / 'cuda-sim' (one thread per (position, column), grid-stride)."""

import numpy as np

from minigan.kernels.cuda_launch import CudaSource, Launcher

SOURCE = CudaSource("embedding", ("embedding_forward", "embedding_backward"))


class EmbeddingCuda(Launcher):
    """embedding: forward (gather) and backward (scatter-add with atomicAdd)."""

    def embedding_forward(self, weight, indices):
        """y[p, d] = weight[indices[p], d]; y (*indices.shape, D)."""
        dtype, dim = weight.dtype, weight.shape[1]
        y = self.xp.empty((*indices.shape, dim), dtype=dtype)
        self._launch(SOURCE, "embedding_forward", dtype,
                     (self._input(weight), self._input(indices), y, np.int64(indices.size), np.int64(dim)),
                     threads=y.size)
        return y

    def embedding_backward(self, grad_y, indices, num_embeddings):
        """grad_weight[k, d] = sum_{p : indices[p] = k} grad_y[p, d], (num_embeddings, D)."""
        dtype, dim = grad_y.dtype, grad_y.shape[-1]
        grad_weight = self.xp.zeros((num_embeddings, dim), dtype=dtype)
        self._launch(SOURCE, "embedding_backward", dtype,
                     (self._input(grad_y), self._input(indices), grad_weight, np.int64(indices.size),
                      np.int64(dim)), threads=grad_y.size)
        return grad_weight
