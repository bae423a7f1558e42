// Relies on kernels/common.cuh being prepended (minigan.kernels.cuda_launch.kernel_source): no #include.
// 2-D max pooling and max unpooling, CUDA C.
//
// Float and double entry points <name>_f32 / <name>_f64 are stamped
// from templated bodies by MG_FLOAT_KERNELS. All loops are grid-stride over flat
// indices (long long); index arrays are int64 (long long).
//
// Indices follow PyTorch: for each (n, c) plane, the flat position h*W + w of the
// maximum in the input plane. Padding counts as -inf (a padded position never wins);
// ties keep the first maximum in row-major window order, and NaN propagates (the last
// NaN of the window wins, as in PyTorch):
//
//   y[n,c,i,j] = max over (a, b) in [0,kH) x [0,kW) of x[n,c, i*sH - pH + a, j*sW - pW + b]
//
// Backward of max_pool2d scatter-ADDS grad_y at the indices (windows overlap when
// stride < kernel); max_unpool2d writes x at the indices into zeros (forward) and
// gathers grad_y at the indices (backward).

// One thread per output element; x (planes, H, W), y and indices (planes, Ho, Wo).
template <typename T>
__device__ void max_pool2d_forward(const T* x, T* y, long long* indices, long long planes,
                                   int H, int W, int Ho, int Wo, int kH, int kW, int sH,
                                   int sW, int pH, int pW) {
    MG_GRID_STRIDE_LOOP(i, planes * Ho * Wo) {
        int j = (int)(i % Wo);
        int row = (int)((i / Wo) % Ho);
        const T* plane = x + (i / ((long long)Ho * Wo)) * H * W;
        long long best_index = -1;
        T best = T(0);
        for (int a = 0; a < kH; ++a) {
            int h = row * sH - pH + a;
            if (h < 0 || h >= H) continue;
            for (int b = 0; b < kW; ++b) {
                int w = j * sW - pW + b;
                if (w < 0 || w >= W) continue;
                T v = plane[h * W + w];
                if (best_index < 0 || v > best || v != v) {
                    best = v;
                    best_index = h * W + w;
                }
            }
        }
        y[i] = best;
        indices[i] = best_index;
    }
}

// dst[plane, indices[i]] (+)= src[i] for every element i of src (planes, src_size);
// dst is (planes, dst_size) and zero-filled by the caller. Out-of-range indices are skipped.
template <typename T>
__device__ void scatter_by_index(const T* src, const long long* indices, T* dst,
                                 long long src_size, long long dst_size, long long n,
                                 int accumulate) {
    MG_GRID_STRIDE_LOOP(i, n) {
        long long k = indices[i];
        if (k < 0 || k >= dst_size) continue;
        T* target = dst + (i / src_size) * dst_size + k;
        if (accumulate) {
            atomicAdd(target, src[i]);
        } else {
            *target = src[i];
        }
    }
}

// dst[i] = src[plane, indices[i]] for every element i of dst (planes, dst_size);
// src is (planes, src_size). Out-of-range indices give 0.
template <typename T>
__device__ void gather_by_index(const T* src, const long long* indices, T* dst,
                                long long src_size, long long dst_size, long long n) {
    MG_GRID_STRIDE_LOOP(i, n) {
        long long k = indices[i];
        bool inside = k >= 0 && k < src_size;
        dst[i] = inside ? src[(i / dst_size) * src_size + k] : T(0);
    }
}

MG_FLOAT_KERNELS(max_pool2d_forward,
                 (const T* x, T* y, long long* indices, long long planes, int H, int W,
                  int Ho, int Wo, int kH, int kW, int sH, int sW, int pH, int pW),
                 max_pool2d_forward(x, y, indices, planes, H, W, Ho, Wo, kH, kW, sH, sW,
                                    pH, pW))
// grad_x (planes, H*W) += grad_y (planes, Ho*Wo) at indices.
MG_FLOAT_KERNELS(max_pool2d_backward,
                 (const T* grad_y, const long long* indices, T* grad_x, long long out_size,
                  long long in_size, long long n),
                 scatter_by_index(grad_y, indices, grad_x, out_size, in_size, n, 1))
// y (planes, out_size) = x (planes, in_size) written at indices.
MG_FLOAT_KERNELS(max_unpool2d_forward,
                 (const T* x, const long long* indices, T* y, long long in_size,
                  long long out_size, long long n),
                 scatter_by_index(x, indices, y, in_size, out_size, n, 0))
// grad_x (planes, in_size) = grad_y (planes, out_size) gathered at indices.
MG_FLOAT_KERNELS(max_unpool2d_backward,
                 (const T* grad_y, const long long* indices, T* grad_x, long long out_size,
                  long long in_size, long long n),
                 gather_by_index(grad_y, indices, grad_x, out_size, in_size, n))
