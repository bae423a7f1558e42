// Relies on kernels/common.cuh being prepended (minigan.kernels.cuda_launch.kernel_source): no #include.
// The RMSprop update (in place), CUDA C, PyTorch's exact rule:
//
//   g = grad + wd*p
//   v = alpha*v + (1-alpha)*g^2
//   centered:  ga = alpha*ga + (1-alpha)*g,  avg = sqrt(v - ga^2) + eps;   else avg = sqrt(v) + eps
//   momentum:  buf = momentum*buf + g/avg,  p = p - lr*buf;               else p = p - lr*g/avg
//
// grad_avg is read and written only when `centered`, momentum_buf only when `use_momentum`
// (the host passes another state array in their place otherwise). grad is never modified.
// One thread per element, grid-stride.

template <typename T>
__device__ void rmsprop_step(T* param, const T* grad, T* square_avg, T* grad_avg, T* momentum_buf,
                             T lr, T alpha, T eps, T weight_decay, T momentum, int centered,
                             int use_momentum, long long n) {
    MG_GRID_STRIDE_LOOP(i, n) {
        T g = grad[i] + weight_decay * param[i];
        T v = alpha * square_avg[i] + (T(1) - alpha) * g * g;
        square_avg[i] = v;
        if (centered) {
            T ga = alpha * grad_avg[i] + (T(1) - alpha) * g;
            grad_avg[i] = ga;
            v = v - ga * ga;
        }
        T step = g / (mg_sqrt(v) + eps);
        if (use_momentum) {
            step = momentum * momentum_buf[i] + step;
            momentum_buf[i] = step;
        }
        param[i] = param[i] - lr * step;
    }
}

MG_FLOAT_KERNELS(rmsprop_step,
                 (T* param, const T* grad, T* square_avg, T* grad_avg, T* momentum_buf, T lr,
                  T alpha, T eps, T weight_decay, T momentum, int centered, int use_momentum,
                  long long n),
                 rmsprop_step(param, grad, square_avg, grad_avg, momentum_buf, lr, alpha, eps,
                              weight_decay, momentum, centered, use_momentum, n))
