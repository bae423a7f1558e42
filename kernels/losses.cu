// Relies on kernels/common.cuh being prepended (minigan.kernels.cuda_launch.kernel_source): no #include.
// Losses (binary cross-entropy, BCE with logits, squared error, Gaussian KL), CUDA C.
//
// Float and double entry points <name>_f32 / <name>_f64 are stamped
// from templated bodies by MG_FLOAT_KERNELS.
//
// Each loss is a struct with the elementwise loss l(a, b) and its partial
// derivatives; a is the first input (p, logits, x, mu), b the second (target, logvar):
//
//   bce              l = -(t*max(log p, -100) + (1-t)*max(log(1-p), -100))
//                    dl/dp = (p - t) / max(p(1-p), 1e-12)
//   bce_with_logits  l = max(z, 0) - z*t + log(1 + exp(-|z|))
//                    dl/dz = sigmoid(z) - t
//   mse              l = (x - t)^2
//                    dl/dx = 2(x - t)
//   kl_normal        l = -1/2 (1 + lv - mu^2 - exp(lv))
//                    dl/dmu = mu,  dl/dlv = 1/2 (exp(lv) - 1)
//
// Reductions: 'none' writes l elementwise (<loss>_forward_none). 'sum' and 'mean' run
// two passes for accuracy in float32: <loss>_partial_sums gives one partial sum per
// block (each thread sums its grid-stride slice, the block adds those in a shared-memory
// tree), then sum_partials (one block) adds the partials and divides by `divisor`
// (the element count for 'mean', 1 for 'sum').
// Backward: g = grad_out[i] (grad_full != 0) or grad_out[0] (0-d grad_out), divided by
// `divisor`; grad_a = g * dl/da (and grad_logvar = g * dl/dlv for kl_normal).
//
// The reduction kernels need blockDim.x == MG_BLOCK (a power of two).

struct BceLoss {
    template <typename T> __device__ static T value(T p, T t) {
        T log_p = mg_max(mg_log(p), T(-100));
        T log_1mp = mg_max(mg_log(T(1) - p), T(-100));
        return -(t * log_p + (T(1) - t) * log_1mp);
    }
    template <typename T> __device__ static T grad_a(T p, T t) {
        return (p - t) / mg_max(p * (T(1) - p), T(1e-12));
    }
};

struct BceWithLogitsLoss {
    template <typename T> __device__ static T value(T z, T t) {
        T abs_z = z < T(0) ? -z : z;
        return mg_max(z, T(0)) - z * t + mg_log1p(mg_exp(-abs_z));
    }
    // sigmoid(z) - t, with exp taken of a non-positive number only.
    template <typename T> __device__ static T grad_a(T z, T t) {
        if (z >= T(0)) return T(1) / (T(1) + mg_exp(-z)) - t;
        T e = mg_exp(z);
        return e / (T(1) + e) - t;
    }
};

struct MseLoss {
    template <typename T> __device__ static T value(T x, T t) { return (x - t) * (x - t); }
    template <typename T> __device__ static T grad_a(T x, T t) { return T(2) * (x - t); }
};

struct KlNormalLoss {
    template <typename T> __device__ static T value(T mu, T logvar) {
        return T(-0.5) * (T(1) + logvar - mu * mu - mg_exp(logvar));
    }
    template <typename T> __device__ static T grad_a(T mu, T) { return mu; }
    template <typename T> __device__ static T grad_b(T, T logvar) {
        return T(0.5) * (mg_exp(logvar) - T(1));
    }
};

template <typename Loss, typename T>
__device__ void loss_forward_none(const T* a, const T* b, T* out, long long n) {
    MG_GRID_STRIDE_LOOP(i, n) { out[i] = Loss::value(a[i], b[i]); }
}

template <typename Loss, typename T>
__device__ void loss_partial_sums(const T* a, const T* b, T* partials, long long n) {
    __shared__ T shared[MG_BLOCK];
    T acc = T(0);
    MG_GRID_STRIDE_LOOP(i, n) { acc += Loss::value(a[i], b[i]); }
    T total = block_sum(acc, shared);
    if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

// out[0] = (partials[0] + ... + partials[count-1]) / divisor; launch with one block.
template <typename T>
__device__ void sum_partials(const T* partials, int count, T divisor, T* out) {
    __shared__ T shared[MG_BLOCK];
    T acc = T(0);
    for (int i = threadIdx.x; i < count; i += blockDim.x) acc += partials[i];
    T total = block_sum(acc, shared);
    if (threadIdx.x == 0) out[0] = total / divisor;
}

// g for element i: grad_out[i] if grad_out has the input's shape, else the 0-d grad_out[0].
template <typename T>
__device__ inline T upstream_grad(const T* grad_out, int grad_full, T divisor, long long i) {
    return grad_out[grad_full ? i : 0] / divisor;
}

template <typename Loss, typename T>
__device__ void loss_backward(const T* grad_out, int grad_full, T divisor, const T* a,
                              const T* b, T* grad_a, long long n) {
    MG_GRID_STRIDE_LOOP(i, n) {
        grad_a[i] = upstream_grad(grad_out, grad_full, divisor, i) * Loss::grad_a(a[i], b[i]);
    }
}

// kl_normal returns the gradients of both of its inputs.
template <typename T>
__device__ void kl_normal_backward(const T* grad_out, int grad_full, T divisor, const T* mu,
                                   const T* logvar, T* grad_mu, T* grad_logvar, long long n) {
    MG_GRID_STRIDE_LOOP(i, n) {
        T g = upstream_grad(grad_out, grad_full, divisor, i);
        grad_mu[i] = g * KlNormalLoss::grad_a(mu[i], logvar[i]);
        grad_logvar[i] = g * KlNormalLoss::grad_b(mu[i], logvar[i]);
    }
}

// Entry points. Forward: <loss>_forward_none and <loss>_partial_sums (then sum_partials).
#define MG_LOSS_FORWARD_KERNELS(LOSS, STRUCT)                                            \
    MG_FLOAT_KERNELS(LOSS##_forward_none, (const T* a, const T* b, T* out, long long n), \
                     loss_forward_none<STRUCT>(a, b, out, n))                            \
    MG_FLOAT_KERNELS(LOSS##_partial_sums,                                                \
                     (const T* a, const T* b, T* partials, long long n),                 \
                     loss_partial_sums<STRUCT>(a, b, partials, n))
MG_LOSS_FORWARD_KERNELS(bce, BceLoss)
MG_LOSS_FORWARD_KERNELS(bce_with_logits, BceWithLogitsLoss)
MG_LOSS_FORWARD_KERNELS(mse, MseLoss)
MG_LOSS_FORWARD_KERNELS(kl_normal, KlNormalLoss)

MG_FLOAT_KERNELS(sum_partials, (const T* partials, int count, T divisor, T* out),
                 sum_partials(partials, count, divisor, out))

// Backward: one gradient (grad_a) for bce, bce_with_logits, mse; two for kl_normal.
#define MG_LOSS_BACKWARD_KERNELS(LOSS, STRUCT)                                          \
    MG_FLOAT_KERNELS(LOSS##_backward,                                                   \
                     (const T* grad_out, int grad_full, T divisor, const T* a,          \
                      const T* b, T* grad_a, long long n),                              \
                     loss_backward<STRUCT>(grad_out, grad_full, divisor, a, b, grad_a, n))
MG_LOSS_BACKWARD_KERNELS(bce, BceLoss)
MG_LOSS_BACKWARD_KERNELS(bce_with_logits, BceWithLogitsLoss)
MG_LOSS_BACKWARD_KERNELS(mse, MseLoss)
MG_FLOAT_KERNELS(kl_normal_backward,
                 (const T* grad_out, int grad_full, T divisor, const T* mu,
                  const T* logvar, T* grad_mu, T* grad_logvar, long long n),
                 kl_normal_backward(grad_out, grad_full, divisor, mu, logvar, grad_mu,
                                    grad_logvar, n))
