// Relies on kernels/common.cuh being prepended (minigan.kernels.cuda_launch.kernel_source): no #include.
// 2-D convolution (cross-correlation, as in PyTorch), CUDA C.
//
// Float and double entry points <name>_f32 / <name>_f64 are stamped
// from templated bodies by MG_FLOAT_KERNELS.
//
// Shapes: x (N, C, H, W), weight (O, C, kH, kW), y (N, O, Ho, Wo), with
// Ho = (H + 2 pH - dH (kH-1) - 1) / sH + 1 (likewise Wo), and
//
//   y[n,o,oh,ow] = sum_{c,kh,kw} weight[o,c,kh,kw] * x[n, c, oh*sH - pH + kh*dH, ow*sW - pW + kw*dW]
//
// (x is zero outside the image). Bias is added by the host.
//
// Two paths, tested against each other and the NumPy reference:
//  * im2col / col2im + GEMM (the fast default). col (N, kH*kW*C, Ho*Wo) holds, for
//    every output position, the input values each kernel tap sees, in row
//    (kh*kW + kw)*C + c: the one im2col layout of every kernel set (docs/math.md,
//    section 1). With W_rows (O, kH*kW*C) the weight in the same order (kernels/conv2d_cuda.py),
//      y       = W_rows @ col                                 (GEMM: cuBLAS via cupy.matmul)
//      col_g   = W_rows^T @ grad_y (N, O, Ho*Wo),  grad_x = col2im(col_g)
//      grad_W_rows = sum_n grad_y[n] @ col[n]^T
//    col2im is the adjoint of im2col: each input pixel sums the col entries it was copied to.
//  * direct kernels, one readable loop nest each: forward and backward-data with one
//    thread per output element, backward-weight with one block per weight element
//    (shared-memory tree reduction over n, oh, ow).
//
// conv_transpose2d has no kernels of its own: it is the adjoint of conv2d and reuses
// these (its forward is conv2d's backward-data, and vice versa).

// Every conv kernel takes the same geometry arguments, in this order.
#define MG_CONV_PARAMS                                                             \
    long long N, int C, int H, int W, int O, int kH, int kW, int Ho, int Wo, int sH, \
        int sW, int pH, int pW, int dH, int dW
#define MG_CONV_GEOMETRY ConvGeometry{N, C, H, W, O, kH, kW, Ho, Wo, sH, sW, pH, pW, dH, dW}

struct ConvGeometry {
    long long N;
    int C, H, W, O, kH, kW, Ho, Wo, sH, sW, pH, pW, dH, dW;
    __device__ long long taps() const { return (long long)C * kH * kW; }  // rows of col
    __device__ long long out_plane() const { return (long long)Ho * Wo; }
};

// Does input row (or column) `h` feed output row `*o` through kernel tap `k`?
// h = o*s - p + k*d  <=>  o = (h + p - k*d) / s, which must be an integer in [0, out).
__device__ inline bool output_of(int h, int k, int s, int p, int d, int out, int* o) {
    int num = h + p - k * d;
    if (num < 0 || num % s != 0) return false;
    *o = num / s;
    return *o < out;
}

// col[n, (kh*kW + kw)*C + c, oh*Wo + ow] = x[n, c, oh*sH - pH + kh*dH, ow*sW - pW + kw*dW]
template <typename T>
__device__ void im2col(const T* x, T* col, ConvGeometry g) {
    long long L = g.out_plane(), rows = g.taps();
    MG_GRID_STRIDE_LOOP(i, g.N * rows * L) {
        int ow = (int)(i % g.Wo), oh = (int)((i / g.Wo) % g.Ho);
        long long r = (i / L) % rows, n = i / (L * rows);
        int c = (int)(r % g.C), kw = (int)((r / g.C) % g.kW), kh = (int)(r / ((long long)g.C * g.kW));
        int h = oh * g.sH - g.pH + kh * g.dH, w = ow * g.sW - g.pW + kw * g.dW;
        bool inside = h >= 0 && h < g.H && w >= 0 && w < g.W;
        col[i] = inside ? x[((n * g.C + c) * g.H + h) * g.W + w] : T(0);
    }
}

// grad_x[n, c, h, w] = sum of col[n, (kh*kW + kw)*C + c, oh*Wo + ow] over the taps and
// output positions with h = oh*sH - pH + kh*dH and w = ow*sW - pW + kw*dW.
template <typename T>
__device__ void col2im(const T* col, T* grad_x, ConvGeometry g) {
    long long L = g.out_plane(), rows = g.taps();
    MG_GRID_STRIDE_LOOP(i, g.N * g.C * g.H * g.W) {
        int w = (int)(i % g.W), h = (int)((i / g.W) % g.H), c = (int)((i / ((long long)g.H * g.W)) % g.C);
        long long n = i / ((long long)g.C * g.H * g.W);
        T acc = T(0);
        for (int kh = 0; kh < g.kH; ++kh) {
            int oh;
            if (!output_of(h, kh, g.sH, g.pH, g.dH, g.Ho, &oh)) continue;
            for (int kw = 0; kw < g.kW; ++kw) {
                int ow;
                if (!output_of(w, kw, g.sW, g.pW, g.dW, g.Wo, &ow)) continue;
                long long r = ((long long)kh * g.kW + kw) * g.C + c;
                acc += col[(n * rows + r) * L + (long long)oh * g.Wo + ow];
            }
        }
        grad_x[i] = acc;
    }
}

// One thread per y element: y[n,o,oh,ow] = sum_{c,kh,kw} weight[o,c,kh,kw] * x[n,c,h,w].
template <typename T>
__device__ void conv2d_forward_direct(const T* x, const T* weight, T* y, ConvGeometry g) {
    MG_GRID_STRIDE_LOOP(i, g.N * g.O * g.out_plane()) {
        int ow = (int)(i % g.Wo), oh = (int)((i / g.Wo) % g.Ho);
        int o = (int)((i / g.out_plane()) % g.O);
        long long n = i / (g.out_plane() * g.O);
        T acc = T(0);
        for (int c = 0; c < g.C; ++c) {
            const T* x_plane = x + (n * g.C + c) * g.H * g.W;
            const T* w_taps = weight + ((long long)o * g.C + c) * g.kH * g.kW;
            for (int kh = 0; kh < g.kH; ++kh) {
                int h = oh * g.sH - g.pH + kh * g.dH;
                if (h < 0 || h >= g.H) continue;
                for (int kw = 0; kw < g.kW; ++kw) {
                    int w = ow * g.sW - g.pW + kw * g.dW;
                    if (w < 0 || w >= g.W) continue;
                    acc += w_taps[kh * g.kW + kw] * x_plane[(long long)h * g.W + w];
                }
            }
        }
        y[i] = acc;
    }
}

// One thread per grad_x element:
// grad_x[n,c,h,w] = sum_{o,kh,kw} grad_y[n,o,oh,ow] * weight[o,c,kh,kw] over the (oh, ow)
// that input pixel (h, w) feeds through tap (kh, kw).
template <typename T>
__device__ void conv2d_backward_data_direct(const T* grad_y, const T* weight, T* grad_x,
                                            ConvGeometry g) {
    MG_GRID_STRIDE_LOOP(i, g.N * g.C * g.H * g.W) {
        int w = (int)(i % g.W), h = (int)((i / g.W) % g.H), c = (int)((i / ((long long)g.H * g.W)) % g.C);
        long long n = i / ((long long)g.C * g.H * g.W);
        T acc = T(0);
        for (int kh = 0; kh < g.kH; ++kh) {
            int oh;
            if (!output_of(h, kh, g.sH, g.pH, g.dH, g.Ho, &oh)) continue;
            for (int kw = 0; kw < g.kW; ++kw) {
                int ow;
                if (!output_of(w, kw, g.sW, g.pW, g.dW, g.Wo, &ow)) continue;
                for (int o = 0; o < g.O; ++o) {
                    T gy = grad_y[((n * g.O + o) * g.Ho + oh) * g.Wo + ow];
                    acc += gy * weight[(((long long)o * g.C + c) * g.kH + kh) * g.kW + kw];
                }
            }
        }
        grad_x[i] = acc;
    }
}

// One block per grad_weight element (grid-stride over elements), its threads splitting
// grad_weight[o,c,kh,kw] = sum_{n,oh,ow} grad_y[n,o,oh,ow] * x[n,c,h,w]. blockDim.x == MG_BLOCK.
template <typename T>
__device__ void conv2d_backward_weight_direct(const T* grad_y, const T* x, T* grad_weight,
                                              ConvGeometry g) {
    __shared__ T shared[MG_BLOCK];
    long long L = g.out_plane();
    for (long long e = blockIdx.x; e < g.O * g.taps(); e += gridDim.x) {
        int kw = (int)(e % g.kW), kh = (int)((e / g.kW) % g.kH);
        int c = (int)((e / ((long long)g.kH * g.kW)) % g.C), o = (int)(e / g.taps());
        T acc = T(0);
        for (long long j = threadIdx.x; j < g.N * L; j += blockDim.x) {
            int ow = (int)(j % g.Wo), oh = (int)((j / g.Wo) % g.Ho);
            long long n = j / L;
            int h = oh * g.sH - g.pH + kh * g.dH, w = ow * g.sW - g.pW + kw * g.dW;
            if (h < 0 || h >= g.H || w < 0 || w >= g.W) continue;
            acc += grad_y[(n * g.O + o) * L + j % L] * x[((n * g.C + c) * g.H + h) * g.W + w];
        }
        T total = block_sum(acc, shared);
        if (threadIdx.x == 0) grad_weight[e] = total;
    }
}

MG_FLOAT_KERNELS(im2col, (const T* x, T* col, MG_CONV_PARAMS), im2col(x, col, MG_CONV_GEOMETRY))
MG_FLOAT_KERNELS(col2im, (const T* col, T* grad_x, MG_CONV_PARAMS),
                 col2im(col, grad_x, MG_CONV_GEOMETRY))
MG_FLOAT_KERNELS(conv2d_forward_direct, (const T* x, const T* weight, T* y, MG_CONV_PARAMS),
                 conv2d_forward_direct(x, weight, y, MG_CONV_GEOMETRY))
MG_FLOAT_KERNELS(conv2d_backward_data_direct,
                 (const T* grad_y, const T* weight, T* grad_x, MG_CONV_PARAMS),
                 conv2d_backward_data_direct(grad_y, weight, grad_x, MG_CONV_GEOMETRY))
MG_FLOAT_KERNELS(conv2d_backward_weight_direct,
                 (const T* grad_y, const T* x, T* grad_weight, MG_CONV_PARAMS),
                 conv2d_backward_weight_direct(grad_y, x, grad_weight, MG_CONV_GEOMETRY))
