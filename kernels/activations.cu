// Relies on kernels/common.cuh being prepended (minigan.kernels.cuda_launch.kernel_source): no #include.
// Elementwise activations and their backward passes, CUDA C.
//
// Every kernel is a templated __device__ body plus two
// extern "C" __global__ entry points, <name>_f32 and <name>_f64, stamped by
// MG_FLOAT_KERNELS. Launch with any 1-D grid: the loops are grid-stride.
//
//   relu        y = max(x, 0)                       dx = dy * [x > 0]
//   leaky_relu  y = x if x > 0 else slope * x       dx = dy * (1 if x > 0 else slope)
//   tanh        y = tanh(x)                         dx = dy * (1 - y^2)      (takes y)
//   sigmoid     y = 1 / (1 + exp(-x))               dx = dy * y * (1 - y)    (takes y)

template <typename T>
__device__ void relu_forward(const T* x, T* y, long long n) {
    MG_GRID_STRIDE_LOOP(i, n) { y[i] = x[i] > T(0) ? x[i] : T(0); }
}

template <typename T>
__device__ void relu_backward(const T* grad_y, const T* x, T* grad_x, long long n) {
    MG_GRID_STRIDE_LOOP(i, n) { grad_x[i] = x[i] > T(0) ? grad_y[i] : T(0); }
}

template <typename T>
__device__ void leaky_relu_forward(const T* x, T* y, T slope, long long n) {
    MG_GRID_STRIDE_LOOP(i, n) { y[i] = x[i] > T(0) ? x[i] : slope * x[i]; }
}

template <typename T>
__device__ void leaky_relu_backward(const T* grad_y, const T* x, T* grad_x, T slope,
                                    long long n) {
    MG_GRID_STRIDE_LOOP(i, n) { grad_x[i] = x[i] > T(0) ? grad_y[i] : slope * grad_y[i]; }
}

template <typename T>
__device__ void tanh_forward(const T* x, T* y, long long n) {
    MG_GRID_STRIDE_LOOP(i, n) { y[i] = mg_tanh(x[i]); }
}

template <typename T>
__device__ void tanh_backward(const T* grad_y, const T* y, T* grad_x, long long n) {
    MG_GRID_STRIDE_LOOP(i, n) { grad_x[i] = grad_y[i] * (T(1) - y[i] * y[i]); }
}

// Stable for large |x|: exp is only ever taken of a non-positive number.
template <typename T>
__device__ void sigmoid_forward(const T* x, T* y, long long n) {
    MG_GRID_STRIDE_LOOP(i, n) {
        if (x[i] >= T(0)) {
            y[i] = T(1) / (T(1) + mg_exp(-x[i]));
        } else {
            T e = mg_exp(x[i]);
            y[i] = e / (T(1) + e);
        }
    }
}

template <typename T>
__device__ void sigmoid_backward(const T* grad_y, const T* y, T* grad_x, long long n) {
    MG_GRID_STRIDE_LOOP(i, n) { grad_x[i] = grad_y[i] * y[i] * (T(1) - y[i]); }
}

MG_FLOAT_KERNELS(relu_forward, (const T* x, T* y, long long n), relu_forward(x, y, n))
MG_FLOAT_KERNELS(relu_backward, (const T* grad_y, const T* x, T* grad_x, long long n),
                 relu_backward(grad_y, x, grad_x, n))
MG_FLOAT_KERNELS(leaky_relu_forward, (const T* x, T* y, T slope, long long n),
                 leaky_relu_forward(x, y, slope, n))
MG_FLOAT_KERNELS(leaky_relu_backward,
                 (const T* grad_y, const T* x, T* grad_x, T slope, long long n),
                 leaky_relu_backward(grad_y, x, grad_x, slope, n))
MG_FLOAT_KERNELS(tanh_forward, (const T* x, T* y, long long n), tanh_forward(x, y, n))
MG_FLOAT_KERNELS(tanh_backward, (const T* grad_y, const T* y, T* grad_x, long long n),
                 tanh_backward(grad_y, y, grad_x, n))
MG_FLOAT_KERNELS(sigmoid_forward, (const T* x, T* y, long long n), sigmoid_forward(x, y, n))
MG_FLOAT_KERNELS(sigmoid_backward, (const T* grad_y, const T* y, T* grad_x, long long n),
                 sigmoid_backward(grad_y, y, grad_x, n))
