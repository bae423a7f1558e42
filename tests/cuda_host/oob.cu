// An off-by-one kernel for the AddressSanitizer test: thread n writes y[n].
extern "C" __global__ void off_by_one(float* y, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i <= n) y[i] = 1.0f;  // OOB-LINE
}
