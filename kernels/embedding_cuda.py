"""Host side of ``kernels/embedding.cu``: the embedding lookup and its scatter-add gradient of
docs/kernel_api.md on 'cuda' / 'cuda-sim' (one thread per (position, column), grid-stride)."""

import numpy as np

from minigan.kernels.cuda_launch import CudaSource, Launcher, check_shape, float_dtype
from minigan.reference import check_embedding

SOURCE = CudaSource("embedding", ("embedding_forward", "embedding_backward"))


class EmbeddingCuda(Launcher):
    """embedding: forward (gather) and backward (scatter-add with atomicAdd)."""

    def embedding_forward(self, weight, indices):
        """y[p, d] = weight[indices[p], d]; y (*indices.shape, D)."""
        op = "embedding_forward"
        dtype = float_dtype(op, weight=weight)
        check_embedding(op, weight.shape, indices)
        dim = weight.shape[1]
        y = self.xp.empty((*indices.shape, dim), dtype=dtype)
        self._launch(SOURCE, op, dtype, (self._input(weight), self._input(indices), y,
                                         np.int64(indices.size), np.int64(dim)), threads=y.size)
        return y

    def embedding_backward(self, grad_y, indices, num_embeddings):
        """grad_weight[k, d] = sum_{p : indices[p] = k} grad_y[p, d], (num_embeddings, D)."""
        op = "embedding_backward"
        dtype = float_dtype(op, grad_y=grad_y)
        dim = grad_y.shape[-1]
        check_embedding(op, (num_embeddings, dim), indices)
        check_shape(op, "grad_y", grad_y, (*indices.shape, dim))
        grad_weight = self.xp.zeros((num_embeddings, dim), dtype=dtype)
        self._launch(SOURCE, op, dtype, (self._input(grad_y), self._input(indices), grad_weight,
                                         np.int64(indices.size), np.int64(dim)), threads=grad_y.size)
        return grad_weight
