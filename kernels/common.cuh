// Helpers shared by every kernels/*.cu file, CUDA C.
//
// Not #included: minigan.kernels.cuda_launch.kernel_source(name) prepends this text to every
// kernels/<name>.cu source (followed by a #line directive, so that compiler errors and
// sanitizer reports still name the .cu file and its own line numbers). It is done that way
// because CuPy compiles each source with NVRTC, which has no system headers and no include
// path to this package. So this file too must be self-contained: no #include.
//
//   MG_BLOCK             threads per block (cuda_launch.BLOCK); block_sum needs exactly it
//   MG_FLOAT_KERNELS     stamps the extern "C" entry points <name>_f32 and <name>_f64
//   MG_GRID_STRIDE_LOOP  for (every index of this thread in [0, n), grid-stride)
//   mg_exp, mg_log, mg_log1p, mg_tanh, mg_sqrt, mg_max
//                        float / double overloads of the math functions
//   block_sum            sum over the block through shared memory

#define MG_BLOCK 256

// Stamps the entry points NAME_f32 and NAME_f64: PARAMS is the parameter list written
// with the placeholder type T (float, then double), CALL the templated body to run.
#define MG_KERNEL_AS(SUFFIX, SCALAR, NAME, PARAMS, CALL)                    \
    namespace NAME##_##SUFFIX##_scope {                                     \
    typedef SCALAR T;                                                       \
    extern "C" __global__ void NAME##_##SUFFIX PARAMS { CALL; }             \
    }                                                                       \
    using NAME##_##SUFFIX##_scope::NAME##_##SUFFIX;
#define MG_FLOAT_KERNELS(NAME, PARAMS, CALL)                                \
    MG_KERNEL_AS(f32, float, NAME, PARAMS, CALL)                            \
    MG_KERNEL_AS(f64, double, NAME, PARAMS, CALL)

// for (i = first index of this thread; i < n; i += all threads of the grid)
#define MG_GRID_STRIDE_LOOP(i, n)                                              \
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (n); \
         i += (long long)blockDim.x * gridDim.x)

__device__ inline float mg_exp(float v) { return expf(v); }
__device__ inline double mg_exp(double v) { return exp(v); }
__device__ inline float mg_log(float v) { return logf(v); }
__device__ inline double mg_log(double v) { return log(v); }
__device__ inline float mg_log1p(float v) { return log1pf(v); }
__device__ inline double mg_log1p(double v) { return log1p(v); }
__device__ inline float mg_tanh(float v) { return tanhf(v); }
__device__ inline double mg_tanh(double v) { return tanh(v); }
__device__ inline float mg_sqrt(float v) { return sqrtf(v); }
__device__ inline double mg_sqrt(double v) { return sqrt(v); }

template <typename T>
__device__ inline T mg_max(T a, T b) { return a > b ? a : b; }

// Sum of v over the block; every thread gets the result. `shared` holds MG_BLOCK values and
// blockDim.x must be MG_BLOCK (a power of two). Every thread of the block must call it.
template <typename T>
__device__ T block_sum(T v, T* shared) {
    shared[threadIdx.x] = v;
    __syncthreads();
    for (unsigned int half = blockDim.x / 2; half > 0; half /= 2) {
        if (threadIdx.x < half) shared[threadIdx.x] += shared[threadIdx.x + half];
        __syncthreads();
    }
    T total = shared[0];
    __syncthreads();
    return total;
}
