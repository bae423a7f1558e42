// Relies on kernels/common.cuh being prepended (minigan.kernels.cuda_launch.kernel_source): no #include.
// Softplus, elementwise, CUDA C (PyTorch's form, with its linear region):
//
//   forward:   y = log(1 + exp(beta*x)) / beta,   y = x where beta*x > threshold
//   backward:  grad_x = grad_y * sigmoid(beta*x), grad_x = grad_y where beta*x > threshold
//
// sigmoid(v) from e = exp(-|v|) <= 1: 1/(1 + e) for v >= 0, e/(1 + e) for v < 0 (no overflow).
// One thread per element, grid-stride.

template <typename T>
__device__ void softplus_forward(const T* x, T* y, T beta, T threshold, long long n) {
    MG_GRID_STRIDE_LOOP(i, n) {
        T bx = beta * x[i];
        y[i] = bx > threshold ? x[i] : mg_log1p(mg_exp(bx)) / beta;
    }
}

template <typename T>
__device__ void softplus_backward(const T* grad_y, const T* x, T* grad_x, T beta, T threshold,
                                  long long n) {
    MG_GRID_STRIDE_LOOP(i, n) {
        T bx = beta * x[i];
        if (bx > threshold) {
            grad_x[i] = grad_y[i];
        } else {
            T e = mg_exp(bx < T(0) ? bx : -bx);
            grad_x[i] = grad_y[i] * ((bx >= T(0) ? T(1) : e) / (T(1) + e));
        }
    }
}

MG_FLOAT_KERNELS(softplus_forward, (const T* x, T* y, T beta, T threshold, long long n),
                 softplus_forward(x, y, beta, threshold, n))
MG_FLOAT_KERNELS(softplus_backward,
                 (const T* grad_y, const T* x, T* grad_x, T beta, T threshold, long long n),
                 softplus_backward(grad_y, x, grad_x, beta, threshold, n))
