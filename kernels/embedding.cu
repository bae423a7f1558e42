// Relies on kernels/common.cuh being prepended (minigan.kernels.cuda_launch.kernel_source): no #include.
// Embedding lookup and its scatter-add gradient, CUDA C. indices are int64 (long long), each
// in [0, num_embeddings) (checked on the host); p runs over the `count` positions, d over `dim`.
//
//   forward:   y[p, d] = weight[indices[p], d]
//   backward:  grad_weight[k, d] += grad_y[p, d] for every p with indices[p] = k
//              (grad_weight zeroed on the host; atomicAdd, since positions may repeat an index)
//
// One thread per (p, d), grid-stride.

template <typename T>
__device__ void embedding_forward(const T* weight, const long long* indices, T* y,
                                  long long count, long long dim) {
    MG_GRID_STRIDE_LOOP(i, count * dim) {
        long long p = i / dim, d = i % dim;
        y[i] = weight[indices[p] * dim + d];
    }
}

template <typename T>
__device__ void embedding_backward(const T* grad_y, const long long* indices, T* grad_weight,
                                   long long count, long long dim) {
    MG_GRID_STRIDE_LOOP(i, count * dim) {
        long long p = i / dim, d = i % dim;
        atomicAdd(grad_weight + indices[p] * dim + d, grad_y[i]);
    }
}

MG_FLOAT_KERNELS(embedding_forward,
                 (const T* weight, const long long* indices, T* y, long long count, long long dim),
                 embedding_forward(weight, indices, y, count, dim))
MG_FLOAT_KERNELS(embedding_backward,
                 (const T* grad_y, const long long* indices, T* grad_weight, long long count,
                  long long dim),
                 embedding_backward(grad_y, indices, grad_weight, count, dim))
