// Relies on kernels/common.cuh being prepended (minigan.kernels.cuda_launch.kernel_source): no #include.
// Nearest-neighbour upsampling by whole-number factors (sh, sw), CUDA C.
//
//   forward:   y[n, c, h, w] = x[n, c, h / sh, w / sw]          (integer division)
//   backward:  grad_x[n, c, i, j] = sum_{a < sh, b < sw} grad_y[n, c, i*sh + a, j*sw + b]
//
// One thread per output element, grid-stride; `planes` = N*C, (h, w) the input (forward) or
// gradient-of-input (backward) size. Every output element is written by exactly one thread.

template <typename T>
__device__ void upsample_nearest2d_forward(const T* x, T* y, long long planes, int h, int w,
                                           int sh, int sw) {
    const long long ho = (long long)h * sh, wo = (long long)w * sw;
    MG_GRID_STRIDE_LOOP(i, planes * ho * wo) {
        long long col = i % wo, row = (i / wo) % ho, plane = i / (wo * ho);
        y[i] = x[(plane * h + row / sh) * w + col / sw];
    }
}

template <typename T>
__device__ void upsample_nearest2d_backward(const T* grad_y, T* grad_x, long long planes, int h,
                                            int w, int sh, int sw) {
    const long long wo = (long long)w * sw, ho = (long long)h * sh;
    MG_GRID_STRIDE_LOOP(i, planes * h * w) {
        long long col = i % w, row = (i / w) % h, plane = i / ((long long)w * h);
        const T* block = grad_y + (plane * ho + row * sh) * wo + col * sw;
        T total = T(0);
        for (int a = 0; a < sh; ++a)
            for (int b = 0; b < sw; ++b) total += block[a * wo + b];
        grad_x[i] = total;
    }
}

MG_FLOAT_KERNELS(upsample_nearest2d_forward,
                 (const T* x, T* y, long long planes, int h, int w, int sh, int sw),
                 upsample_nearest2d_forward(x, y, planes, h, w, sh, sw))
MG_FLOAT_KERNELS(upsample_nearest2d_backward,
                 (const T* grad_y, T* grad_x, long long planes, int h, int w, int sh, int sw),
                 upsample_nearest2d_backward(grad_y, grad_x, planes, h, w, sh, sw))
