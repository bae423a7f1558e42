// Deliberately wrong kernels (the harness must report them), and parameter-type coverage.

// Threads >= keep return before the barrier the others wait at: a divergent barrier.
extern "C" __global__ void early_exit_barrier(float* x, int keep) {
    if (threadIdx.x >= keep) return;
    x[threadIdx.x] += 1.0f;
    __syncthreads();  // BARRIER-LINE
    x[threadIdx.x] += 1.0f;
}

// Even and odd threads wait at two different __syncthreads.
extern "C" __global__ void split_barriers(float* x) {
    if (threadIdx.x % 2 == 0) {
        __syncthreads();
    } else {
        __syncthreads();
    }
    x[threadIdx.x] = 1.0f;
}

// Lane 0 skips the shuffle the other lanes wait at.
extern "C" __global__ void shuffle_missing_lane(float* x) {
    if (threadIdx.x % 32 == 0) return;
    x[threadIdx.x] = __shfl_down_sync(0xffffffffu, x[threadIdx.x], 1);
}

// One parameter of each supported kind.
extern "C" __global__ void many_types(const float* f, double* d, int* i, long long* ll,
                                      unsigned char* bytes, int a, long long b, float c,
                                      double e, unsigned int u) {
    d[0] = f[0] + a + b + c + e + u + i[0] + ll[0] + bytes[0];
}

// A missing barrier: each thread reads its neighbour's shared slot, which the neighbour may
// not have written yet (a __syncthreads() belongs between the two lines).
extern "C" __global__ void missing_barrier(const float* x, float* y) {
    __shared__ float slots[64];
    slots[threadIdx.x] = x[threadIdx.x];
    y[threadIdx.x] = slots[(threadIdx.x + 1) % blockDim.x];
}
