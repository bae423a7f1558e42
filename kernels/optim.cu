// Relies on kernels/common.cuh being prepended (minigan.kernels.cuda_launch.kernel_source): no #include.
// Fused optimizer updates (in place), CUDA C. PyTorch's exact rules.
//
// Float and double entry points <name>_f32 / <name>_f64 are stamped
// from templated bodies by MG_FLOAT_KERNELS; loops are grid-stride.
//
// SGD:   d = g + wd*p
//        with momentum: buf = d on the first step, else buf = momentum*buf + d;  d = buf
//        p = p - lr*d
// Adam:  g = g + wd*p
//        m = b1*m + (1-b1)*g
//        v = b2*v + (1-b2)*g^2
//        p = p - step_size * (m / (sqrt(v) / sqrt_bc2 + eps))
//        with step_size = lr / (1 - b1^step) and sqrt_bc2 = sqrt(1 - b2^step), computed
//        once on the host. grad is never modified.

// momentum_buf is null for plain SGD (momentum == 0).
template <typename T>
__device__ void sgd_step(T* param, const T* grad, T* momentum_buf, T lr, T momentum,
                         T weight_decay, int first_step, long long n) {
    MG_GRID_STRIDE_LOOP(i, n) {
        T d = grad[i] + weight_decay * param[i];
        if (momentum_buf) {
            T buf = first_step ? d : momentum * momentum_buf[i] + d;
            momentum_buf[i] = buf;
            d = buf;
        }
        param[i] = param[i] - lr * d;
    }
}

template <typename T>
__device__ void adam_step(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T step_size,
                          T sqrt_bc2, T beta1, T beta2, T eps, T weight_decay,
                          long long n) {
    MG_GRID_STRIDE_LOOP(i, n) {
        T g = grad[i] + weight_decay * param[i];
        T m = beta1 * exp_avg[i] + (T(1) - beta1) * g;
        T v = beta2 * exp_avg_sq[i] + (T(1) - beta2) * g * g;
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
        param[i] = param[i] - step_size * (m / (mg_sqrt(v) / sqrt_bc2 + eps));
    }
}

MG_FLOAT_KERNELS(sgd_step,
                 (T* param, const T* grad, T lr, T weight_decay, long long n),
                 sgd_step(param, grad, (T*)0, lr, T(0), weight_decay, 0, n))
MG_FLOAT_KERNELS(sgd_momentum_step,
                 (T* param, const T* grad, T* momentum_buf, T lr, T momentum,
                  T weight_decay, int first_step, long long n),
                 sgd_step(param, grad, momentum_buf, lr, momentum, weight_decay, first_step, n))
MG_FLOAT_KERNELS(adam_step,
                 (T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T step_size,
                  T sqrt_bc2, T beta1, T beta2, T eps, T weight_decay, long long n),
                 adam_step(param, grad, exp_avg, exp_avg_sq, step_size, sqrt_bc2, beta1,
                           beta2, eps, weight_decay, n))
