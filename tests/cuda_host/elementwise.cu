// Grid-stride elementwise kernels: y = a*x + y, float and double variants.

template <typename T>
__device__ void axpy(const T* __restrict__ x, T* __restrict__ y, T a, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
        y[i] = a * x[i] + y[i];
}

extern "C" __global__ void axpy_f32(const float* __restrict__ x, float* __restrict__ y, float a,
                                    int n) {
    axpy(x, y, a, n);
}

extern "C" __global__ void axpy_f64(const double* __restrict__ x, double* __restrict__ y,
                                    double a, int n) {
    axpy(x, y, a, n);
}
