/* SPDX-License-Identifier: MIT
 * ptx_kernels.c - the device side of --emit ptx: one C function per op kind, each a
 * grid-stride loop with one thread per output element (per row for softmax and norms).
 *
 * CMake compiles this file with clang for nvptx64-nvidia-cuda into bitcode (libdevice
 * linked in for expf & co.), embedded into ndlc. backends/llvm/ptx.c adds one kernel per
 * fused group that calls one of these with a constant parameter array (p, sizes and
 * attributes as int64 words, floats as their double's bits) and the group's tensors
 * (t, in the launch plan's order); O3 then folds every size into the kernel. Compiled
 * for the host instead (no __NVPTX__), the grid is one thread that loops over all, which
 * is how tests/ptx/host_check.c runs the same code against the goldens.
 * Must stay libc-free: no allocation, no I/O, no globals.
 */
#include <stdint.h>
#include "../../../runtime/ndlrt.h"

#ifdef __NVPTX__
float __nv_expf(float), __nv_logf(float), __nv_erff(float), __nv_tanhf(float), __nv_sqrtf(float),
    __nv_fminf(float, float), __nv_fmaxf(float, float), __nv_fabsf(float);
double __nv_sqrt(double);
#define expf __nv_expf
#define logf __nv_logf
#define erff __nv_erff
#define tanhf __nv_tanhf
#define sqrtf __nv_sqrtf
#define fminf __nv_fminf
#define fmaxf __nv_fmaxf
#define fabsf __nv_fabsf
#define FIRST ((int64_t)__nvvm_read_ptx_sreg_ctaid_x() * __nvvm_read_ptx_sreg_ntid_x() + __nvvm_read_ptx_sreg_tid_x())
#define STRIDE ((int64_t)__nvvm_read_ptx_sreg_nctaid_x() * __nvvm_read_ptx_sreg_ntid_x())
#define KFN /* kept external until ptx.c has inlined it into the kernels */
#else
#include <math.h>
#define FIRST 0
#define STRIDE 1
#define KFN
#endif

#define FOR(i, n) for (int64_t i = FIRST, i##_step = STRIDE; i < (n); i += i##_step)

static float fbits(int64_t w)
{
    union { int64_t i; double d; } u = {w};
    return (float)u.d;
}

static float act(int64_t a, float x)
{
    switch (a) {
#define EW1(K, name, expr) case NDLRT_ACT_##K: return expr;
#include "../../../ir/eltwise.def"
#undef EW1
    default: return x;
    }
}

/* v + bias, act, + residual, act2 (passes/fuse.c's epilogue) */
static float epilogue(const int64_t *ep, const float *bias, const float *res, float v, int64_t ch, int64_t i)
{
    if (bias) v += bias[ch];
    if (ep[0]) v = act(ep[0], v);
    if (res) v += res[i];
    if (ep[1]) v = act(ep[1], v);
    return v;
}

KFN void ndlptx_unary(const int64_t *p, void *const *t)
{
    const float *x = t[0];
    float *y = t[1];
    FOR(i, p[0]) y[i] = act(p[1], x[i]);
}

/* p: n, op (0 add 1 sub 2 mul 3 div), rank, dims[8], a strides[8], b strides[8] */
KFN void ndlptx_binary(const int64_t *p, void *const *t)
{
    const float *a = t[0], *b = t[1];
    float *y = t[2];
    const int64_t rank = p[2], *dims = p + 3, *sa = p + 11, *sb = p + 19;
    FOR(i, p[0]) {
        int64_t r = i, ia = 0, ib = 0;
        for (int64_t k = rank - 1; k >= 0; k--) {
            int64_t c = r % dims[k];
            r /= dims[k];
            ia += c * sa[k];
            ib += c * sb[k];
        }
        float u = a[ia], v = b[ib];
        y[i] = p[1] == 0 ? u + v : p[1] == 1 ? u - v : p[1] == 2 ? u * v : u / v;
    }
}

/* y = x @ w^T (+ bias) with the epilogue. p: M, N, K, act, act2, has_bias, has_res.
 * t: x, w, bias (or NULL), [residual], y */
KFN void ndlptx_linear(const int64_t *p, void *const *t)
{
    const int64_t M = p[0], N = p[1], K = p[2];
    const float *x = t[0], *w = t[1], *bias = p[5] ? t[2] : 0, *res = p[6] ? t[3] : 0;
    float *y = t[3 + (p[6] != 0)];
    FOR(i, M * N) {
        int64_t r = i / N, c = i % N;
        float s = 0.0f;
        for (int64_t k = 0; k < K; k++) s += x[r * K + k] * w[c * K + k];
        y[i] = epilogue(p + 3, bias, res, s, c, i);
    }
}

/* batched y[b] = a[b] @ b[b]. p: batch, M, N, K, a batch stride, b batch stride (0: shared) */
KFN void ndlptx_matmul(const int64_t *p, void *const *t)
{
    const int64_t M = p[1], N = p[2], K = p[3];
    const float *a = t[0], *b = t[1];
    float *y = t[2];
    FOR(i, p[0] * M * N) {
        int64_t bt = i / (M * N), r = (i / N) % M, c = i % N;
        const float *ab = a + bt * p[4], *bb = b + bt * p[5];
        float s = 0.0f;
        for (int64_t k = 0; k < K; k++) s += ab[r * K + k] * bb[k * N + c];
        y[i] = s;
    }
}

/* direct convolution. p: n c h w o kh kw oh ow sh sw ph pw dh dw groups, act act2 has_bias has_res */
KFN void ndlptx_conv2d(const int64_t *p, void *const *t)
{
    const int64_t C = p[1], H = p[2], W = p[3], O = p[4], KH = p[5], KW = p[6], OH = p[7], OW = p[8];
    const int64_t cg = C / p[15], og = O / p[15];
    const float *x = t[0], *w = t[1], *bias = p[18] ? t[2] : 0, *res = p[19] ? t[3] : 0;
    float *y = t[3 + (p[19] != 0)];
    FOR(i, p[0] * O * OH * OW) {
        int64_t ox = i % OW, oy = (i / OW) % OH, oc = (i / (OW * OH)) % O, n = i / (OW * OH * O);
        int64_t g = oc / og;
        float s = 0.0f;
        for (int64_t ic = 0; ic < cg; ic++) {
            const float *xc = x + (n * C + g * cg + ic) * H * W, *wc = w + (oc * cg + ic) * KH * KW;
            for (int64_t r = 0; r < KH; r++) {
                int64_t iy = oy * p[9] - p[11] + r * p[13];
                if (iy < 0 || iy >= H) continue;
                for (int64_t q = 0; q < KW; q++) {
                    int64_t ix = ox * p[10] - p[12] + q * p[14];
                    if (ix >= 0 && ix < W) s += xc[iy * W + ix] * wc[r * KW + q];
                }
            }
        }
        y[i] = epilogue(p + 16, bias, res, s, oc, i);
    }
}

/* p: n*c, h, w, oh, ow, kh, kw, sh, sw, ph, pw, max (1) or average (0, count_include_pad) */
KFN void ndlptx_pool(const int64_t *p, void *const *t)
{
    const float *x = t[0];
    float *y = t[1];
    const int64_t H = p[1], W = p[2], OH = p[3], OW = p[4];
    FOR(i, p[0] * OH * OW) {
        int64_t ox = i % OW, oy = (i / OW) % OH, nc = i / (OW * OH);
        const float *xs = x + nc * H * W;
        float acc = p[11] ? -__builtin_inff() : 0.0f;
        for (int64_t r = 0; r < p[5]; r++) {
            int64_t iy = oy * p[7] - p[9] + r;
            if (iy < 0 || iy >= H) continue;
            for (int64_t q = 0; q < p[6]; q++) {
                int64_t ix = ox * p[8] - p[10] + q;
                if (ix < 0 || ix >= W) continue;
                float v = xs[iy * W + ix];
                if (!p[11]) acc += v;
                else if (v > acc || v != v) acc = v;
            }
        }
        y[i] = p[11] ? acc : acc / (float)(p[5] * p[6]);
    }
}

/* over [outer, len, inner], a thread per (outer, inner). p: outer, len, inner, log */
KFN void ndlptx_softmax(const int64_t *p, void *const *t)
{
    const int64_t len = p[1], inner = p[2];
    const float *x = t[0];
    float *y = t[1];
    FOR(s, p[0] * inner) {
        const float *xs = x + (s / inner) * len * inner + s % inner;
        float *ys = y + (s / inner) * len * inner + s % inner;
        float mx = -__builtin_inff();
        for (int64_t j = 0; j < len; j++) {
            float v = xs[j * inner];
            mx = (v > mx || v != v) ? v : mx;
        }
        double sum = 0;
        for (int64_t j = 0; j < len; j++) sum += expf(xs[j * inner] - mx);
        float total = (float)sum;
        for (int64_t j = 0; j < len; j++) {
            float d = xs[j * inner] - mx;
            ys[j * inner] = p[3] ? d - logf(total) : expf(d) / total;
        }
    }
}

/* p: outer, len, inner, kind (0 sum 1 mean 2 max 3 min); sums in double */
KFN void ndlptx_reduce(const int64_t *p, void *const *t)
{
    const int64_t len = p[1], inner = p[2];
    const float *x = t[0];
    float *y = t[1];
    FOR(s, p[0] * inner) {
        const float *xs = x + (s / inner) * len * inner + s % inner;
        if (len == 0) {
            y[s] = p[3] == 0 ? 0.0f : __builtin_nanf("");
        } else if (p[3] <= 1) {
            double sum = 0;
            for (int64_t j = 0; j < len; j++) sum += xs[j * inner];
            y[s] = (float)(p[3] == 1 ? sum / (double)len : sum);
        } else {
            float a = xs[0];
            for (int64_t j = 1; j < len; j++) {
                float v = xs[j * inner];
                if ((p[3] == 2 ? v > a : v < a) || v != v) a = v;
            }
            y[s] = a;
        }
    }
}

/* layer_norm (rms 0) or rms_norm over rows of d, a thread per row. p: rows, d, rms, eps bits.
 * t: x, weight (or NULL), bias (or NULL), y */
KFN void ndlptx_norm(const int64_t *p, void *const *t)
{
    const int64_t d = p[1];
    const float *x = t[0], *w = t[1], *b = t[2], eps = fbits(p[3]);
    float *y = t[3];
    FOR(r, p[0]) {
        const float *xr = x + r * d;
        float *yr = y + r * d;
        float mean = 0.0f;
        if (!p[2]) {
            double s = 0;
            for (int64_t j = 0; j < d; j++) s += xr[j];
            mean = (float)(s / (double)d);
        }
        double q = 0;
        for (int64_t j = 0; j < d; j++) q += (double)(xr[j] - mean) * (xr[j] - mean);
        float inv = 1.0f / sqrtf((float)(q / (double)d) + eps);
        for (int64_t j = 0; j < d; j++) {
            float v = (xr[j] - mean) * inv;
            if (w) v *= w[j];
            if (b) v += b[j];
            yr[j] = v;
        }
    }
}

/* eval-mode batch norm over [n, c, inner]. p: n, c, inner, eps bits. t: x mean var w b y */
KFN void ndlptx_batch_norm(const int64_t *p, void *const *t)
{
    const int64_t c = p[1], inner = p[2];
    const float *x = t[0], *mean = t[1], *var = t[2], *w = t[3], *b = t[4], eps = fbits(p[3]);
    float *y = t[5];
    FOR(i, p[0] * c * inner) {
        int64_t ch = (i / inner) % c;
        float s = 1.0f / sqrtf(var[ch] + eps);
        if (w) s *= w[ch];
        y[i] = (x[i] - mean[ch]) * s + (b ? b[ch] : 0.0f);
    }
}

/* y (contiguous, dims) = x read through strides from off: permute, slice.
 * p: n, rank, elem bytes, off, dims[8], strides[8] */
KFN void ndlptx_copy(const int64_t *p, void *const *t)
{
    const int64_t rank = p[1], *dims = p + 4, *st = p + 12;
    FOR(i, p[0]) {
        int64_t r = i, io = p[3];
        for (int64_t k = rank - 1; k >= 0; k--) {
            io += (r % dims[k]) * st[k];
            r /= dims[k];
        }
        if (p[2] == 8) ((int64_t *)t[1])[i] = ((const int64_t *)t[0])[io];
        else if (p[2] == 4) ((int32_t *)t[1])[i] = ((const int32_t *)t[0])[io];
        else ((uint8_t *)t[1])[i] = ((const uint8_t *)t[0])[io];
    }
}

/* y [outer, L, inner] from operands [outer, len_k, inner] along the middle axis.
 * p: n, outer, L, inner, elem bytes, nops, len[nops]. t: operands..., y */
KFN void ndlptx_concat(const int64_t *p, void *const *t)
{
    const int64_t L = p[2], inner = p[3], nops = p[5];
    FOR(i, p[0]) {
        int64_t o = i / (L * inner), j = (i / inner) % L, in = i % inner, k = 0;
        while (k + 1 < nops && j >= p[6 + k]) j -= p[6 + k++];
        int64_t src = (o * p[6 + k] + j) * inner + in;
        if (p[4] == 8) ((int64_t *)t[nops])[i] = ((const int64_t *)t[k])[src];
        else if (p[4] == 4) ((int32_t *)t[nops])[i] = ((const int32_t *)t[k])[src];
        else ((uint8_t *)t[nops])[i] = ((const uint8_t *)t[k])[src];
    }
}
