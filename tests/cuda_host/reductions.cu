// Block reductions: shared-memory trees (static and dynamic shared memory), warp shuffles,
// and a BatchNorm-like per-channel mean/variance.

// One partial sum per block: each thread sums a grid-stride slice, then the block adds the
// per-thread sums in a static shared-memory tree. blockDim.x must be a power of two <= 256.
template <typename T>
__device__ void block_sum_static(const T* __restrict__ x, T* __restrict__ partial, int n) {
    __shared__ T shared[256];
    T v = 0;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) v += x[i];
    shared[threadIdx.x] = v;
    __syncthreads();
    for (unsigned int half = blockDim.x / 2; half > 0; half /= 2) {
        if (threadIdx.x < half) shared[threadIdx.x] += shared[threadIdx.x + half];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = shared[0];
}

extern "C" __global__ void block_sum_static_f32(const float* x, float* partial, int n) {
    block_sum_static(x, partial, n);
}
extern "C" __global__ void block_sum_static_f64(const double* x, double* partial, int n) {
    block_sum_static(x, partial, n);
}

// The same with dynamic shared memory (blockDim.x * sizeof(T) bytes at launch): any
// blockDim.x, the tree folds the upper part onto the lower power of two.
template <typename T>
__device__ void block_sum_dynamic(const T* __restrict__ x, T* __restrict__ partial, int n) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    T* shared = reinterpret_cast<T*>(smem_raw);
    T v = 0;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) v += x[i];
    shared[threadIdx.x] = v;
    __syncthreads();
    unsigned int pow2 = 1;
    while (pow2 * 2 <= blockDim.x) pow2 *= 2;
    if (threadIdx.x >= pow2) shared[threadIdx.x - pow2] += shared[threadIdx.x];
    __syncthreads();
    for (unsigned int half = pow2 / 2; half > 0; half /= 2) {
        if (threadIdx.x < half) shared[threadIdx.x] += shared[threadIdx.x + half];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = shared[0];
}

extern "C" __global__ void block_sum_dynamic_f32(const float* x, float* partial, int n) {
    block_sum_dynamic(x, partial, n);
}
extern "C" __global__ void block_sum_dynamic_f64(const double* x, double* partial, int n) {
    block_sum_dynamic(x, partial, n);
}

// A plain `extern __shared__ float name[]` at namespace scope (the other spelling).
extern __shared__ float reversed_buf[];

// Reverses each block's slice of x through dynamic shared memory.
extern "C" __global__ void reverse_blocks_f32(const float* x, float* y) {
    int base = blockIdx.x * blockDim.x;
    reversed_buf[threadIdx.x] = x[base + threadIdx.x];
    __syncthreads();
    y[base + threadIdx.x] = reversed_buf[blockDim.x - 1 - threadIdx.x];
}

// Warp-shuffle reduction: each warp sums with __shfl_down_sync, lane 0 of each warp stores
// its sum in shared memory, the first warp adds those. blockDim.x must be a multiple of 32.
template <typename T>
__device__ T warp_sum(T v) {
    for (int offset = warpSize / 2; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
    return v;
}

template <typename T>
__device__ void block_sum_shuffle(const T* __restrict__ x, T* __restrict__ partial, int n) {
    __shared__ T warp_sums[32];
    T v = 0;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) v += x[i];
    v = warp_sum(v);
    int lane = threadIdx.x % warpSize, warp = threadIdx.x / warpSize;
    if (lane == 0) warp_sums[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < blockDim.x / warpSize ? warp_sums[lane] : T(0);
        v = warp_sum(v);
        if (lane == 0) partial[blockIdx.x] = v;
    }
}

extern "C" __global__ void block_sum_shuffle_f32(const float* x, float* partial, int n) {
    block_sum_shuffle(x, partial, n);
}
extern "C" __global__ void block_sum_shuffle_f64(const double* x, double* partial, int n) {
    block_sum_shuffle(x, partial, n);
}

// BatchNorm-like statistics of x (N, C, L): one block per channel, biased variance.
// blockDim.x must be 256.
template <typename T>
__device__ void channel_mean_var(const T* __restrict__ x, T* __restrict__ mean,
                                 T* __restrict__ var, int N, int C, int L) {
    __shared__ T sum[256];
    __shared__ T sum_sq[256];
    int c = blockIdx.x;
    T s = 0, s2 = 0;
    for (int i = threadIdx.x; i < N * L; i += blockDim.x) {
        T v = x[(i / L) * C * L + c * L + i % L];
        s += v;
        s2 += v * v;
    }
    sum[threadIdx.x] = s;
    sum_sq[threadIdx.x] = s2;
    __syncthreads();
    for (unsigned int half = blockDim.x / 2; half > 0; half /= 2) {
        if (threadIdx.x < half) {
            sum[threadIdx.x] += sum[threadIdx.x + half];
            sum_sq[threadIdx.x] += sum_sq[threadIdx.x + half];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        T m = sum[0] / (N * L);
        mean[c] = m;
        var[c] = fmax(sum_sq[0] / (N * L) - m * m, T(0));
    }
}

extern "C" __global__ void channel_mean_var_f32(const float* x, float* mean, float* var, int N,
                                                int C, int L) {
    channel_mean_var(x, mean, var, N, C, L);
}
