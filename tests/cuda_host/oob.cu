// An off-by-one kernel for the AddressSanitizer test: thread n writes y[n].
extern "C" __global__ void off_by_one(float* y, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i <= n) y[i] = 1.0f;  // OOB-LINE
}

// The last thread reads one float past the launch's dynamic shared memory.
extern "C" __global__ void shared_off_by_one(float* y) {
    extern __shared__ float buf[];
    buf[threadIdx.x] = 1.0f;
    __syncthreads();
    y[threadIdx.x] = buf[threadIdx.x + 1];  // SMEM-LINE
}
