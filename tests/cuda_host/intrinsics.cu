// CUDA math functions and bit intrinsics, one column each (see test_intrinsics).

#define N_FLOAT_COLUMNS 8
#define N_INT_COLUMNS 7

extern "C" __global__ void float_intrinsics(const float* x, float* out, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
        float v = x[i];  // > 0
        float* o = out + N_FLOAT_COLUMNS * i;
        o[0] = rsqrtf(v);
        o[1] = __expf(-v);
        o[2] = __logf(v);
        o[3] = __powf(v, 1.5f);
        o[4] = __fdividef(1.0f, v);
        o[5] = __saturatef(v - 1.0f);
        o[6] = max(v, 1.0f) + min(v, 1.0f);  // the float overloads: v + 1
        o[7] = fminf(INFINITY, v) + __int_as_float(__float_as_int(v));  // 2v
    }
}

extern "C" __global__ void int_intrinsics(const int* a, const int* b, long long* out, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
        long long* o = out + N_INT_COLUMNS * i;
        o[0] = max(a[i], b[i]);
        o[1] = min(a[i], b[i]);
        o[2] = max(static_cast<long long>(a[i]), 5LL * b[i]);
        o[3] = __popc(static_cast<unsigned int>(a[i]));
        o[4] = __clz(a[i]);
        o[5] = __ffs(a[i]);
        o[6] = __double_as_longlong(__longlong_as_double(static_cast<long long>(b[i]) << 20));
    }
}
