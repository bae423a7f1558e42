// Warp shuffles and votes, one result per thread.

// out[t] = the value each shuffle variant returns to thread t (x[t] is thread t's value).
// width: the shuffle segment width (a power of two <= 32).
extern "C" __global__ void shuffles(const float* x, int src, int delta, int lane_mask, int width,
                                    float* idx_out, float* up_out, float* down_out,
                                    float* xor_out) {
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    float v = x[t];
    idx_out[t] = __shfl_sync(0xffffffffu, v, src, width);
    up_out[t] = __shfl_up_sync(0xffffffffu, v, delta, width);
    down_out[t] = __shfl_down_sync(0xffffffffu, v, delta, width);
    xor_out[t] = __shfl_xor_sync(0xffffffffu, v, lane_mask, width);
}

// A shuffle of a 64-bit value with the default width.
extern "C" __global__ void rotate_f64(const double* x, double* y) {
    int lane = threadIdx.x % 32;
    y[threadIdx.x] = __shfl_sync(0xffffffffu, x[threadIdx.x], (lane + 1) % 32);
}

// Votes on pred = x[t] > 0: ballot (as a bit pattern), all, any; __syncwarp in between.
extern "C" __global__ void votes(const float* x, unsigned int* ballot, int* all, int* any) {
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    int pred = x[t] > 0.0f;
    ballot[t] = __ballot_sync(0xffffffffu, pred);
    __syncwarp();
    all[t] = __all_sync(0xffffffffu, pred);
    any[t] = __any_sync(0xffffffffu, pred);
}

// Partial masks: lanes 0-15 and lanes 16-31 of each warp shuffle in two separate groups,
// at two different call sites. out[t] = value of lane (t ^ 1) + 100 * (group of t).
extern "C" __global__ void half_warp_groups(const float* x, float* out) {
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (threadIdx.x % 32 < 16) {
        out[t] = __shfl_xor_sync(0x0000ffffu, x[t], 1);
    } else {
        out[t] = __shfl_xor_sync(0xffff0000u, x[t], 1) + 100.0f;
    }
}

// Block-wide votes: counts[b] = number of x > 0 in block b (__syncthreads_count),
// and_or[2b], and_or[2b+1] = __syncthreads_and / __syncthreads_or of the same predicate.
extern "C" __global__ void block_votes(const float* x, int* counts, int* and_or) {
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    int pred = x[t] > 0.0f;
    int count = __syncthreads_count(pred);
    int all = __syncthreads_and(pred);
    int any = __syncthreads_or(pred);
    if (threadIdx.x == 0) {
        counts[blockIdx.x] = count;
        and_or[2 * blockIdx.x] = all;
        and_or[2 * blockIdx.x + 1] = any;
    }
}
