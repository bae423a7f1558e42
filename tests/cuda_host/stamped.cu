// Kernels the loader must find: stamped by a macro inside namespaces, inside an
// extern "C" block, with __launch_bounds__, declared before being defined.
// Not kernels: extern "C" __global__ void in_a_comment(int n) {}, template kernels.

#define STAMP(SUFFIX, T)                                                          \
    namespace scope_##SUFFIX {                                                    \
    typedef T scalar;                                                             \
    extern "C" __global__ void fill_##SUFFIX(scalar* out, scalar value, int n) { \
        for (int i = threadIdx.x; i < n; i += blockDim.x) out[i] = value;         \
    }                                                                             \
    }

STAMP(f32, float)
STAMP(f64, double)

namespace outer {
namespace inner {
extern "C" {
__global__ void __launch_bounds__(64) scale_in_block(float* x, float factor) {
    x[threadIdx.x] *= factor;
}
}
}  // namespace inner
}  // namespace outer

extern "C" __global__ void declared_first(int* out);

template <typename T>
__global__ void templated(T* out) { out[0] = T(1); }

extern "C" __global__ void declared_first(int* out) {
    const char* text = "} { namespace fake {";
    out[threadIdx.x] = text[0] == '}' ? 7 : 0;
}
