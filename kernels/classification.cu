// Relies on kernels/common.cuh being prepended (minigan.kernels.cuda_launch.kernel_source): no #include.
// Classification losses of class scores (rows, classes) and int64 targets (rows,), and the L1
// loss, CUDA C. Targets lie in [0, classes) (checked on the host).
//
//   cross_entropy  l_n = log sum_c exp(z[n, c] - m_n) + m_n - z[n, t_n],  m_n = max_c z[n, c]
//                  grad_z[n, c] = g_n * (softmax(z_n)_c - [c = t_n])
//   nll            l_n = -logp[n, t_n];   grad_logp[n, t_n] = -g_n (zeros elsewhere, on the host)
//   l1             l_i = |x_i - t_i|;     grad_x_i = g_i * sign(x_i - t_i)  (0 where x = t)
//
// One thread per row (cross_entropy, nll) or per element (l1), grid-stride. The losses are
// written per row / element; 'sum' and 'mean' then add them with sum_losses (one block,
// divided by `divisor`: the count for 'mean', 1 for 'sum'). Backward: g = grad_out[i] / divisor
// when grad_full (reduction 'none'), else grad_out[0] / divisor.

template <typename T>
__device__ inline T row_grad(const T* grad_out, int grad_full, T divisor, long long i) {
    return grad_out[grad_full ? i : 0] / divisor;
}

template <typename T>
__device__ void cross_entropy_forward(const T* z, const long long* target, T* loss, long long rows,
                                      int classes) {
    MG_GRID_STRIDE_LOOP(n, rows) {
        const T* row = z + n * classes;
        T top = row[0];
        for (int c = 1; c < classes; ++c) top = mg_max(top, row[c]);
        T total = T(0);
        for (int c = 0; c < classes; ++c) total += mg_exp(row[c] - top);
        loss[n] = mg_log(total) + top - row[target[n]];
    }
}

template <typename T>
__device__ void cross_entropy_backward(const T* grad_out, int grad_full, T divisor, const T* z,
                                       const long long* target, T* grad, long long rows,
                                       int classes) {
    MG_GRID_STRIDE_LOOP(n, rows) {
        const T* row = z + n * classes;
        T* out = grad + n * classes;
        T top = row[0];
        for (int c = 1; c < classes; ++c) top = mg_max(top, row[c]);
        T total = T(0);
        for (int c = 0; c < classes; ++c) {
            out[c] = mg_exp(row[c] - top);
            total += out[c];
        }
        T g = row_grad(grad_out, grad_full, divisor, n);
        for (int c = 0; c < classes; ++c) out[c] *= g / total;
        out[target[n]] -= g;
    }
}

template <typename T>
__device__ void nll_forward(const T* logp, const long long* target, T* loss, long long rows,
                            int classes) {
    MG_GRID_STRIDE_LOOP(n, rows) { loss[n] = -logp[n * classes + target[n]]; }
}

template <typename T>
__device__ void nll_backward(const T* grad_out, int grad_full, T divisor, const long long* target,
                             T* grad, long long rows, int classes) {
    MG_GRID_STRIDE_LOOP(n, rows) {
        grad[n * classes + target[n]] = -row_grad(grad_out, grad_full, divisor, n);
    }
}

template <typename T>
__device__ void l1_forward(const T* x, const T* target, T* loss, long long n) {
    MG_GRID_STRIDE_LOOP(i, n) {
        T d = x[i] - target[i];
        loss[i] = d < T(0) ? -d : d;
    }
}

template <typename T>
__device__ void l1_backward(const T* grad_out, int grad_full, T divisor, const T* x,
                            const T* target, T* grad, long long n) {
    MG_GRID_STRIDE_LOOP(i, n) {
        T d = x[i] - target[i];
        T g = row_grad(grad_out, grad_full, divisor, i);
        grad[i] = d > T(0) ? g : (d < T(0) ? -g : T(0));
    }
}

// out[0] = (loss[0] + ... + loss[n-1]) / divisor; launch with one block of MG_BLOCK threads.
template <typename T>
__device__ void sum_losses(const T* loss, long long n, T divisor, T* out) {
    __shared__ T shared[MG_BLOCK];
    T acc = T(0);
    for (long long i = threadIdx.x; i < n; i += blockDim.x) acc += loss[i];
    T total = block_sum(acc, shared);
    if (threadIdx.x == 0) out[0] = total / divisor;
}

MG_FLOAT_KERNELS(cross_entropy_forward,
                 (const T* z, const long long* target, T* loss, long long rows, int classes),
                 cross_entropy_forward(z, target, loss, rows, classes))
MG_FLOAT_KERNELS(cross_entropy_backward,
                 (const T* grad_out, int grad_full, T divisor, const T* z, const long long* target,
                  T* grad, long long rows, int classes),
                 cross_entropy_backward(grad_out, grad_full, divisor, z, target, grad, rows, classes))
MG_FLOAT_KERNELS(nll_forward,
                 (const T* logp, const long long* target, T* loss, long long rows, int classes),
                 nll_forward(logp, target, loss, rows, classes))
MG_FLOAT_KERNELS(nll_backward,
                 (const T* grad_out, int grad_full, T divisor, const long long* target, T* grad,
                  long long rows, int classes),
                 nll_backward(grad_out, grad_full, divisor, target, grad, rows, classes))
MG_FLOAT_KERNELS(l1_forward, (const T* x, const T* target, T* loss, long long n),
                 l1_forward(x, target, loss, n))
MG_FLOAT_KERNELS(l1_backward,
                 (const T* grad_out, int grad_full, T divisor, const T* x, const T* target, T* grad,
                  long long n),
                 l1_backward(grad_out, grad_full, divisor, x, target, grad, n))
MG_FLOAT_KERNELS(sum_losses, (const T* loss, long long n, T divisor, T* out),
                 sum_losses(loss, n, divisor, out))
