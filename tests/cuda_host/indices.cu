// Every thread writes its coordinates: 12 ints per thread (blockIdx, threadIdx, blockDim,
// gridDim), at the thread's global linear index.
extern "C" __global__ void coordinates(int* out) {
    long long block = blockIdx.x + gridDim.x * (blockIdx.y + (long long)gridDim.y * blockIdx.z);
    long long thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    long long t = block * (blockDim.x * blockDim.y * blockDim.z) + thread;
    int* o = out + 12 * t;
    o[0] = blockIdx.x; o[1] = blockIdx.y; o[2] = blockIdx.z;
    o[3] = threadIdx.x; o[4] = threadIdx.y; o[5] = threadIdx.z;
    o[6] = blockDim.x; o[7] = blockDim.y; o[8] = blockDim.z;
    o[9] = gridDim.x; o[10] = gridDim.y; o[11] = gridDim.z;
}
