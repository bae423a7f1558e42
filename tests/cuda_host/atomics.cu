// Atomics from many blocks.

extern "C" __global__ void atomic_sums(const float* xf, const double* xd, const int* xi, int n,
                                       float* sum_f, double* sum_d, int* sum_i,
                                       unsigned int* count) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
        atomicAdd(sum_f, xf[i]);
        atomicAdd(sum_d, xd[i]);
        atomicAdd(sum_i, xi[i]);
        atomicAdd(count, 1u);
    }
}

// extremes[0] = max, extremes[1] = min of xi; claimed[k] = 1 + the first i (by atomicCAS)
// whose xi[i] % m == k; swaps counts atomicExch calls through a single slot.
extern "C" __global__ void atomic_misc(const int* xi, int n, int m, int* extremes, int* claimed,
                                       int* slot, int* last_seen) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
        atomicMax(&extremes[0], xi[i]);
        atomicMin(&extremes[1], xi[i]);
        int k = ((xi[i] % m) + m) % m;
        atomicCAS(&claimed[k], 0, i + 1);
        last_seen[i] = atomicExch(slot, i);
    }
}
