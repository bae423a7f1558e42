// Relies on kernels/common.cuh being prepended (minigan.kernels.cuda_launch.kernel_source): no #include.
// Batch normalisation, CUDA C.
//
// Float and double entry points <name>_f32 / <name>_f64 are stamped
// from templated bodies by MG_FLOAT_KERNELS.
//
// x is viewed as (N, C, L) (L = H*W for images, 1 for vectors); per channel c the
// M = N*L values x[:, c, :] are normalised. With x_hat = (x - mean) / sqrt(var + eps):
//
//   batch_norm_stats            mean = sum x / M,  var = sum (x - mean)^2 / M   (biased, two-pass)
//   batch_norm_normalize        y = weight * x_hat + bias       (batch or running statistics)
//   batch_norm_backward_reduce  grad_bias = sum dy,  grad_weight = sum dy * x_hat
//   batch_norm_backward_data    train: grad_x = weight / sqrt(var + eps) *
//                                               (dy - grad_bias / M - x_hat * grad_weight / M)
//                               eval:  grad_x = dy * weight / sqrt(var + eps)
//   batch_norm_update_running   rm = keep * rm + mean_scale * mean,
//                               rv = keep * rv + var_scale * var
//                               (keep = 1 - momentum, mean_scale = momentum,
//                                var_scale = momentum * M / (M - 1): the unbiased variance)
//
// The reductions run one block per channel (grid-stride over channels), each thread
// summing a strided slice of the channel and the block adding those in a shared-memory
// tree; they need blockDim.x == MG_BLOCK (a power of two). The other kernels are
// elementwise with grid-stride loops.

// Flat index of the j-th of the M = N*L values of channel c in x (N, C, L).
__device__ inline long long channel_element(long long j, int c, int C, long long L) {
    return ((j / L) * C + c) * L + j % L;
}

template <typename T>
__device__ void batch_norm_stats(const T* x, T* mean, T* var, long long N, int C,
                                 long long L) {
    __shared__ T shared[MG_BLOCK];
    long long M = N * L;
    for (int c = blockIdx.x; c < C; c += gridDim.x) {
        T sum = T(0);
        for (long long j = threadIdx.x; j < M; j += blockDim.x) sum += x[channel_element(j, c, C, L)];
        T mu = block_sum(sum, shared) / T(M);
        T sq = T(0);
        for (long long j = threadIdx.x; j < M; j += blockDim.x) {
            T d = x[channel_element(j, c, C, L)] - mu;
            sq += d * d;
        }
        T sigma2 = block_sum(sq, shared) / T(M);
        if (threadIdx.x == 0) {
            mean[c] = mu;
            var[c] = sigma2;
        }
    }
}

template <typename T>
__device__ void batch_norm_normalize(const T* x, const T* mean, const T* var,
                                     const T* weight, const T* bias, T* y, T eps,
                                     long long N, int C, long long L) {
    MG_GRID_STRIDE_LOOP(i, N * C * L) {
        int c = (int)((i / L) % C);
        T x_hat = (x[i] - mean[c]) / mg_sqrt(var[c] + eps);
        y[i] = weight[c] * x_hat + bias[c];
    }
}

template <typename T>
__device__ void batch_norm_backward_reduce(const T* grad_y, const T* x, const T* mean,
                                           const T* var, T* grad_weight, T* grad_bias, T eps,
                                           long long N, int C, long long L) {
    __shared__ T shared[MG_BLOCK];
    long long M = N * L;
    for (int c = blockIdx.x; c < C; c += gridDim.x) {
        T inv_std = T(1) / mg_sqrt(var[c] + eps);
        T sum_dy = T(0), sum_dy_xhat = T(0);
        for (long long j = threadIdx.x; j < M; j += blockDim.x) {
            long long i = channel_element(j, c, C, L);
            sum_dy += grad_y[i];
            sum_dy_xhat += grad_y[i] * (x[i] - mean[c]) * inv_std;
        }
        sum_dy = block_sum(sum_dy, shared);
        sum_dy_xhat = block_sum(sum_dy_xhat, shared);
        if (threadIdx.x == 0) {
            grad_bias[c] = sum_dy;
            grad_weight[c] = sum_dy_xhat;
        }
    }
}

// `training` != 0: the statistics came from this batch and are differentiated too.
template <typename T>
__device__ void batch_norm_backward_data(const T* grad_y, const T* x, const T* mean,
                                         const T* var, const T* weight,
                                         const T* grad_weight, const T* grad_bias, T* grad_x,
                                         T eps, long long N, int C, long long L,
                                         int training) {
    T M = T(N * L);
    MG_GRID_STRIDE_LOOP(i, N * C * L) {
        int c = (int)((i / L) % C);
        T inv_std = T(1) / mg_sqrt(var[c] + eps);
        if (training) {
            T x_hat = (x[i] - mean[c]) * inv_std;
            grad_x[i] = weight[c] * inv_std *
                        (grad_y[i] - grad_bias[c] / M - x_hat * grad_weight[c] / M);
        } else {
            grad_x[i] = grad_y[i] * (weight[c] * inv_std);
        }
    }
}

template <typename T>
__device__ void batch_norm_update_running(T* running_mean, T* running_var, const T* mean,
                                          const T* var, T keep, T mean_scale, T var_scale,
                                          int C) {
    MG_GRID_STRIDE_LOOP(c, C) {
        running_mean[c] = keep * running_mean[c] + mean_scale * mean[c];
        running_var[c] = keep * running_var[c] + var_scale * var[c];
    }
}

MG_FLOAT_KERNELS(batch_norm_stats, (const T* x, T* mean, T* var, long long N, int C, long long L),
                 batch_norm_stats(x, mean, var, N, C, L))
MG_FLOAT_KERNELS(batch_norm_normalize,
                 (const T* x, const T* mean, const T* var, const T* weight, const T* bias,
                  T* y, T eps, long long N, int C, long long L),
                 batch_norm_normalize(x, mean, var, weight, bias, y, eps, N, C, L))
MG_FLOAT_KERNELS(batch_norm_backward_reduce,
                 (const T* grad_y, const T* x, const T* mean, const T* var, T* grad_weight,
                  T* grad_bias, T eps, long long N, int C, long long L),
                 batch_norm_backward_reduce(grad_y, x, mean, var, grad_weight, grad_bias, eps,
                                            N, C, L))
MG_FLOAT_KERNELS(batch_norm_backward_data,
                 (const T* grad_y, const T* x, const T* mean, const T* var, const T* weight,
                  const T* grad_weight, const T* grad_bias, T* grad_x, T eps, long long N,
                  int C, long long L, int training),
                 batch_norm_backward_data(grad_y, x, mean, var, weight, grad_weight, grad_bias,
                                          grad_x, eps, N, C, L, training))
MG_FLOAT_KERNELS(batch_norm_update_running,
                 (T* running_mean, T* running_var, const T* mean, const T* var, T keep,
                  T mean_scale, T var_scale, int C),
                 batch_norm_update_running(running_mean, running_var, mean, var, keep,
                                           mean_scale, var_scale, C))
