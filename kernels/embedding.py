"""Numba CPU kernels for the embedding lookup and its scatter-add gradient.

    forward:   y[p, :] = weight[indices[p], :]                 (one position p per parallel iteration)
    backward:  grad_weight[k, :] = sum_{p : indices[p] = k} grad_y[p, :]

The backward is race-free and deterministic without atomics: a counting sort groups the positions
by index (stably, so each row sums its positions in increasing order, as the reference's np.add.at),
then each embedding row k is summed by one parallel iteration. The int64 indices are validated by
minigan.functional (each in [0, num_embeddings)).
"""

import numpy as np
from numba import njit, prange

from minigan.kernels.parallel import launch


@njit(cache=True, parallel=True)
def _gather(weight, indices, y):
    for p in prange(indices.size):
        y[p, :] = weight[indices[p], :]


@njit(cache=True)
def _group_by_index(indices, num_embeddings):
    """(start, order): positions order[start[k]:start[k+1]] hold index k, increasing (counting sort)."""
    start = np.zeros(num_embeddings + 1, dtype=np.int64)
    for p in range(indices.size):
        start[indices[p] + 1] += 1
    for k in range(num_embeddings):
        start[k + 1] += start[k]
    fill = start[:-1].copy()
    order = np.empty(indices.size, dtype=np.int64)
    for p in range(indices.size):
        order[fill[indices[p]]] = p
        fill[indices[p]] += 1
    return start, order


@njit(cache=True, parallel=True)
def _scatter_add_rows(grad_y, start, order, grad_weight):
    for k in prange(grad_weight.shape[0]):
        grad_weight[k, :] = 0
        for q in range(start[k], start[k + 1]):
            grad_weight[k, :] += grad_y[order[q], :]


def embedding_forward(weight, indices):
    """y[p, d] = weight[indices[p], d]; y (*indices.shape, D)."""
    y = np.empty(indices.shape + (weight.shape[1],), dtype=weight.dtype)
    launch(_gather, y.size, np.ascontiguousarray(weight), np.ascontiguousarray(indices).reshape(-1),
           y.reshape(-1, weight.shape[1]))
    return y


def embedding_backward(grad_y, indices, num_embeddings):
    """grad_weight[k, d] = sum_{p : indices[p] = k} grad_y[p, d], (num_embeddings, D)."""
    dim = grad_y.shape[-1]
    start, order = _group_by_index(np.ascontiguousarray(indices).reshape(-1), num_embeddings)
    grad_weight = np.empty((num_embeddings, dim), dtype=grad_y.dtype)
    launch(_scatter_add_rows, grad_y.size + grad_weight.size, np.ascontiguousarray(grad_y).reshape(-1, dim), start,
           order, grad_weight)
    return grad_weight
