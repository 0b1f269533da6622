/* SPDX-License-Identifier: MIT
 * ptx_kernels.c - the device side of --emit ptx: one C function per op kind, each a
 * grid-stride loop with one thread per output element (per row for softmax and norms, per
 * token for moe routing, per column for the gathers and scatters of run-time rows).
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
float __nv_ldexpf(float, int), __nv_rintf(float), __nv_copysignf(float, float);
int __nv_ilogbf(float);
double __nv_sqrt(double);
#define ldexpf __nv_ldexpf /* the f16/bf16 roundings of eltwise.def */
#define rintf __nv_rintf
#define copysignf __nv_copysignf
#define ilogbf __nv_ilogbf
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

/* Block-cooperative kernels (shared-memory tiles) are written in phases separated by
 * barriers: on the device each thread runs a phase for its own tid; on the host one call
 * plays a whole block, running every phase for each tid in turn (per-thread values live in
 * arrays indexed by SLOT(tid), of one element on the device), and one block loops over all
 * the tiles. So the host check runs the same tile logic as the GPU. */
enum { BLOCK = 256, TILE = 16 };
#ifdef __NVPTX__
#define THREADS 1
#define EACH_THREAD(tid) for (int tid = (int)__nvvm_read_ptx_sreg_tid_x(), tid##_1 = 1; tid##_1; tid##_1 = 0)
#define SLOT(tid) 0
#define BARRIER() __syncthreads()
#define BLOCK_FIRST ((int64_t)__nvvm_read_ptx_sreg_ctaid_x())
#define BLOCK_STRIDE ((int64_t)__nvvm_read_ptx_sreg_nctaid_x())
/* the GEMM tiles in shared memory: one copy per thread block (not a global of the program) */
static __attribute__((address_space(3))) float tile_a[TILE][TILE + 1], tile_b[TILE][TILE + 1];
#define TILES
#else
#define THREADS BLOCK
#define EACH_THREAD(tid) for (int tid = 0; tid < BLOCK; tid++)
#define SLOT(tid) (tid)
#define BARRIER() ((void)0)
#define BLOCK_FIRST 0
#define BLOCK_STRIDE 1
#define TILES float tile_a[TILE][TILE + 1], tile_b[TILE][TILE + 1];
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

/* The same as ndlptx_linear, tiled: a block of 256 threads computes a 16 x 16 tile of y,
 * stepping through K 16 at a time with the x and w tiles in shared memory (padded by one
 * column, so the transposed reads of w hit distinct banks). Launched with blocks of 256. */
KFN void ndlptx_linear_tiled(const int64_t *p, void *const *t)
{
    TILES
    const int64_t M = p[0], N = p[1], K = p[2];
    const float *x = t[0], *w = t[1], *bias = p[5] ? t[2] : 0, *res = p[6] ? t[3] : 0;
    float *y = t[3 + (p[6] != 0)];
    const int64_t tiles_n = (N + TILE - 1) / TILE, tiles = (M + TILE - 1) / TILE * tiles_n;
    float acc[THREADS];
    for (int64_t tile = BLOCK_FIRST; tile < tiles; tile += BLOCK_STRIDE) {
        const int64_t r0 = tile / tiles_n * TILE, c0 = tile % tiles_n * TILE;
        EACH_THREAD(tid) acc[SLOT(tid) + 0 * tid] = 0.0f;
        for (int64_t k0 = 0; k0 < K; k0 += TILE) {
            EACH_THREAD(tid) {
                int64_t ty = tid / TILE, tx = tid % TILE, k = k0 + tx;
                tile_a[ty][tx] = r0 + ty < M && k < K ? x[(r0 + ty) * K + k] : 0.0f;
                tile_b[ty][tx] = c0 + ty < N && k < K ? w[(c0 + ty) * K + k] : 0.0f;
            }
            BARRIER();
            EACH_THREAD(tid) {
                int64_t ty = tid / TILE, tx = tid % TILE;
                float sum = acc[SLOT(tid)];
                for (int kk = 0; kk < TILE; kk++) sum += tile_a[ty][kk] * tile_b[tx][kk];
                acc[SLOT(tid)] = sum;
            }
            BARRIER();
        }
        EACH_THREAD(tid) {
            int64_t r = r0 + tid / TILE, c = c0 + tid % TILE;
            if (r < M && c < N) y[r * N + c] = epilogue(p + 3, bias, res, acc[SLOT(tid)], c, r * N + c);
        }
    }
}

/* ndlptx_matmul tiled as ndlptx_linear_tiled: a block per 16 x 16 tile of one batch
 * entry's y; the b tile is read along its rows (b is k x n). Same parameters as ndlptx_matmul. */
KFN void ndlptx_matmul_tiled(const int64_t *p, void *const *t)
{
    TILES
    const int64_t M = p[1], N = p[2], K = p[3], brank = p[4], *bd = p + 5, *sa = p + 9, *sb = p + 13;
    const float *a = t[0], *b = t[1];
    float *y = t[2];
    const int64_t tiles_n = (N + TILE - 1) / TILE, per_z = (M + TILE - 1) / TILE * tiles_n;
    float acc[THREADS];
    for (int64_t tile = BLOCK_FIRST; tile < p[0] * per_z; tile += BLOCK_STRIDE) {
        int64_t z = tile / per_z, oa = 0, ob = 0;
        for (int64_t k = brank - 1; k >= 0; k--) {
            oa += (z % bd[k]) * sa[k];
            ob += (z % bd[k]) * sb[k];
            z /= bd[k];
        }
        const float *ab = a + oa, *bb = b + ob;
        float *yz = y + tile / per_z * M * N;
        const int64_t r0 = tile % per_z / tiles_n * TILE, c0 = tile % tiles_n * TILE;
        EACH_THREAD(tid) acc[SLOT(tid) + 0 * tid] = 0.0f;
        for (int64_t k0 = 0; k0 < K; k0 += TILE) {
            EACH_THREAD(tid) {
                int64_t ty = tid / TILE, tx = tid % TILE;
                tile_a[ty][tx] = r0 + ty < M && k0 + tx < K ? ab[(r0 + ty) * K + k0 + tx] : 0.0f;
                tile_b[ty][tx] = k0 + ty < K && c0 + tx < N ? bb[(k0 + ty) * N + c0 + tx] : 0.0f;
            }
            BARRIER();
            EACH_THREAD(tid) {
                int64_t ty = tid / TILE, tx = tid % TILE;
                float sum = acc[SLOT(tid)];
                for (int kk = 0; kk < TILE; kk++) sum += tile_a[ty][kk] * tile_b[kk][tx];
                acc[SLOT(tid)] = sum;
            }
            BARRIER();
        }
        EACH_THREAD(tid) {
            int64_t r = r0 + tid / TILE, c = c0 + tid % TILE;
            if (r < M && c < N) yz[r * N + c] = acc[SLOT(tid)];
        }
    }
}

/* batched y[z] = a[z] @ b[z]: z runs over up to 4 batch axes, each operand with its own
 * element stride per axis (0: broadcast). p: batch, M, N, K, brank, bdims[4], a strides[4], b strides[4] */
KFN void ndlptx_matmul(const int64_t *p, void *const *t)
{
    const int64_t M = p[1], N = p[2], K = p[3], brank = p[4], *bd = p + 5, *sa = p + 9, *sb = p + 13;
    const float *a = t[0], *b = t[1];
    float *y = t[2];
    FOR(i, p[0] * M * N) {
        int64_t z = i / (M * N), r = (i / N) % M, c = i % N, oa = 0, ob = 0;
        for (int64_t k = brank - 1; k >= 0; k--) {
            oa += (z % bd[k]) * sa[k];
            ob += (z % bd[k]) * sb[k];
            z /= bd[k];
        }
        const float *ab = a + oa, *bb = b + ob;
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

/* general reduction: kept axes index the output, reduced axes are summed over (any set).
 * p: nout, kind, nkept, kept dims[8], kept strides[8], nred, red dims[8], red strides[8], rlen */
KFN void ndlptx_reduce_axes(const int64_t *p, void *const *t)
{
    const int64_t kind = p[1], nk = p[2], *kd = p + 3, *ks = p + 11, nr = p[19], *rd = p + 20, *rs = p + 28;
    const int64_t len = p[36];
    const float *x = t[0];
    float *y = t[1];
    FOR(s, p[0]) {
        int64_t r = s, base = 0;
        for (int64_t k = nk - 1; k >= 0; k--) {
            base += (r % kd[k]) * ks[k];
            r /= kd[k];
        }
        double sum = 0;
        float a = 0.0f;
        for (int64_t j = 0; j < len; j++) {
            int64_t q = j, at = base;
            for (int64_t k = nr - 1; k >= 0; k--) {
                at += (q % rd[k]) * rs[k];
                q /= rd[k];
            }
            float v = x[at];
            if (kind <= 1) sum += v;
            else if (j == 0 || (kind == 2 ? v > a : v < a) || v != v) a = v;
        }
        y[s] = len == 0 ? (kind == 0 ? 0.0f : __builtin_nanf("")) : kind <= 1 ? (float)(kind == 1 ? sum / (double)len : sum) : a;
    }
}

/* the first maximum, NaN counting as the largest (torch.argmax). p: outer, len, inner */
KFN void ndlptx_argmax(const int64_t *p, void *const *t)
{
    const int64_t len = p[1], inner = p[2];
    const float *x = t[0];
    int64_t *y = t[1];
    FOR(s, p[0] * inner) {
        const float *xs = x + (s / inner) * len * inner + s % inner;
        int64_t best = 0;
        float b = len > 0 ? xs[0] : 0.0f;
        for (int64_t j = 1; j < len && b == b; j++) {
            float v = xs[j * inner];
            if (v > b || v != v) b = v, best = j;
        }
        y[s] = best;
    }
}

/* x.to(dtype). p: n, from, to (0 f32, 1 i32, 2 i64, 3 bool); float to int truncates, NaN and
 * out of range give the minimum (as the C backend on x86); to bool: nonzero */
KFN void ndlptx_cast(const int64_t *p, void *const *t)
{
    FOR(i, p[0]) {
        double v;
        switch (p[1]) {
        case 0: v = ((const float *)t[0])[i]; break;
        case 1: v = ((const int32_t *)t[0])[i]; break;
        case 2: v = (double)((const int64_t *)t[0])[i]; break;
        default: v = ((const uint8_t *)t[0])[i]; break;
        }
        switch (p[2]) {
        case 0:
            ((float *)t[1])[i] = p[1] == 2 ? (float)((const int64_t *)t[0])[i] : (float)v;
            break;
        case 1:
            ((int32_t *)t[1])[i] = p[1] == 2 ? (int32_t)(uint32_t)(uint64_t)((const int64_t *)t[0])[i]
                                 : (v != v || v >= 2147483648.0 || v < -2147483648.0) ? INT32_MIN : (int32_t)v;
            break;
        case 2:
            ((int64_t *)t[1])[i] = p[1] == 2 ? ((const int64_t *)t[0])[i]
                                 : (v != v || v >= 9223372036854775808.0 || v < -9223372036854775808.0) ? INT64_MIN
                                                                                                        : (int64_t)v;
            break;
        default: ((uint8_t *)t[1])[i] = p[1] == 2 ? ((const int64_t *)t[0])[i] != 0 : v != 0; break;
        }
    }
}

static int64_t index_at(const void *ids, int64_t i64, int64_t i)
{
    return i64 ? ((const int64_t *)ids)[i] : (int64_t)((const int32_t *)ids)[i];
}

/* embedding (p[0] = 0: y[i, :] = table[ids[i], :]) or take (1: y[i] = x[idx[i]], negative
 * from the end); an index out of range writes 0 and sets the error word.
 * p: kind, n (output elements), ids are i64, rows (or the table's size), d (1 for take).
 * t: embedding ids, table, err, y | take x, idx, err, y */
KFN void ndlptx_gather(const int64_t *p, void *const *t)
{
    const int64_t d = p[4], rows = p[3];
    const void *ids = p[0] ? t[1] : t[0];
    const float *table = p[0] ? t[0] : t[1];
    int32_t *err = t[2];
    float *y = t[3];
    FOR(i, p[1]) {
        int64_t id = index_at(ids, p[2], i / d);
        if (p[0] && id < 0) id += rows;
        if (id < 0 || id >= rows) {
            *err = 1;
            y[i] = 0.0f;
        } else {
            y[i] = table[id * d + i % d];
        }
    }
}

/* MurmurHash3's finalizer (runtime/kernels/gather.c, spec 8.3 and 8.4) */
static uint32_t fmix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

/* hashed (p[0] = 0: y[i] = sign * pool[h(i) % n_pool]) or hash_route (1: y[i] = h(ids[i]) %
 * experts). p: kind, n, n_pool or experts, seed, ids are i64. t: pool or ids, y */
KFN void ndlptx_hash(const int64_t *p, void *const *t)
{
    const uint32_t seed = (uint32_t)p[3];
    FOR(i, p[1]) {
        if (p[0] == 0) {
            uint32_t u = (uint32_t)(uint64_t)i;
            float sign = (fmix32(u ^ seed ^ 0x9E3779B9u) & 1u) ? -1.0f : 1.0f;
            ((float *)t[1])[i] = p[2] > 0 ? sign * ((const float *)t[0])[(uint64_t)fmix32(u ^ seed) % (uint64_t)p[2]] : 0.0f;
        } else {
            uint32_t u = (uint32_t)(uint64_t)index_at(t[0], p[4], i);
            ((int64_t *)t[1])[i] = p[2] > 0 ? (int64_t)((uint64_t)fmix32(u ^ seed) % (uint64_t)p[2]) : 0;
        }
    }
}

/* torch.kron of equal-rank operands. p: n, rank, y dims[8], b dims[8], a strides[8], b strides[8] */
KFN void ndlptx_kron(const int64_t *p, void *const *t)
{
    const int64_t rank = p[1], *yd = p + 2, *bd = p + 10, *as = p + 18, *bs = p + 26;
    const float *a = t[0], *b = t[1];
    float *y = t[2];
    FOR(i, p[0]) {
        int64_t r = i, ia = 0, ib = 0;
        for (int64_t k = rank - 1; k >= 0; k--) {
            int64_t c = r % yd[k];
            r /= yd[k];
            ia += c / bd[k] * as[k];
            ib += c % bd[k] * bs[k];
        }
        y[i] = a[ia] * b[ib];
    }
}

/* softmax(q k^T * scale) v, a thread per output element (its column of v), online softmax
 * (Milakov & Gimelshein 2018); causal: key j <= query i. A fully masked row is NaN (torch).
 * p: batch, tq, tk, d, dv, q/k/v batch strides (0: broadcast), scale bits, causal */
KFN void ndlptx_attention(const int64_t *p, void *const *t)
{
    const int64_t tq = p[1], tk = p[2], d = p[3], dv = p[4];
    const float *q = t[0], *k = t[1], *v = t[2], scale = fbits(p[8]);
    float *y = t[3];
    FOR(i, p[0] * tq * dv) {
        int64_t c = i % dv, row = (i / dv) % tq, b = i / (dv * tq);
        const float *qr = q + b * p[5] + row * d, *kb = k + b * p[6], *vb = v + b * p[7];
        int64_t end = p[9] ? (row + 1 < tk ? row + 1 : tk) : tk;
        float mx = -__builtin_inff(), sum = 0.0f, acc = 0.0f;
        for (int64_t j = 0; j < end; j++) {
            float s = 0.0f;
            for (int64_t e = 0; e < d; e++) s += qr[e] * kb[j * d + e];
            s *= scale;
            float nmx = fmaxf(mx, s), corr = expf(mx - nmx), w = expf(s - nmx);
            sum = sum * corr + w;
            acc = acc * corr + w * vb[j * dv + c];
            mx = nmx;
        }
        y[i] = end > 0 ? acc / sum : __builtin_nanf("");
    }
}

/* ---- run-time row counts: moe (spec 8.4) and recurse (spec 8.3) ----------------------------
 * An expert's (or a recurse step's) rows are counted on the device; the host never reads
 * the count. Every layer on those rows runs over the reserved maximum (the plan sizes the
 * rows symbol at its bound, all T tokens): the gathers put the selected rows first, in
 * token order, and zero the rest; the layers in between are row-wise (ptx_plan.c refuses
 * others), so padding rows never reach a selected one; the scatters read only the first
 * count rows. Gathers and scatters run a thread per column, walking the tokens in order,
 * so the r-th selected row is found without a prefix sum. */

/* spec 8.4 routing, a thread per token, as passes/interp.c's route_token: probabilities
 * (softmax or the scores) into the gate row, the k best by (probability descending, expert
 * ascending) taken (threshold: until their sum reaches p), their weights renormalized.
 * p: T, E, policy (0 top-k, 1 threshold), k, threshold p (double bits), renorm, softmax.
 * t: scores, gates */
KFN void ndlptx_moe_route(const int64_t *p, void *const *t)
{
    const int64_t E = p[1], policy = p[2], k = p[3], renorm = p[5], softmax = p[6];
    union { int64_t i; double d; } thr = {p[4]};
    FOR(tok, p[0]) {
        const float *s = (const float *)t[0] + tok * E;
        float *g = (float *)t[1] + tok * E;
        if (softmax) {
            float mx = -__builtin_inff();
            for (int64_t e = 0; e < E; e++)
                if (s[e] > mx || s[e] != s[e]) mx = s[e];
            double sum = 0;
            for (int64_t e = 0; e < E; e++) sum += expf(s[e] - mx);
            for (int64_t e = 0; e < E; e++) g[e] = (float)(expf(s[e] - mx) / sum);
        } else {
            for (int64_t e = 0; e < E; e++) g[e] = s[e];
        }
        /* the n-th pick is the best expert ranked after the (n-1)-th (last_p, last_e) */
        float last_p = 0.0f;
        int64_t last_e = -1;
        double cum = 0, wsum = 0;
        for (int64_t n = 0; n < k; n++) {
            int64_t best = -1;
            for (int64_t e = 0; e < E; e++) {
                int after = last_e < 0 || g[e] < last_p || (g[e] == last_p && e > last_e);
                if (after && (best < 0 || g[e] > g[best])) best = e;
            }
            if (best < 0) break;
            last_p = g[best];
            last_e = best;
            wsum += g[best];
            cum += g[best];
            if (policy == 1 && cum >= thr.d) break;
        }
        for (int64_t e = 0; e < E; e++) {
            int taken = last_e >= 0 && (g[e] > last_p || (g[e] == last_p && e <= last_e));
            g[e] = !taken ? 0.0f : renorm || policy == 1 ? (float)(g[e] / wsum) : g[e];
        }
    }
}

/* one-hot gates from expert indices; one outside 0..E-1 sets the error word.
 * p: n (T * E), E, idx is i64. t: idx, err, gates */
KFN void ndlptx_moe_assign(const int64_t *p, void *const *t)
{
    const int64_t E = p[1];
    FOR(i, p[0]) {
        int64_t id = index_at(t[0], p[2], i / E);
        if (id < 0 || id >= E) *(int32_t *)t[1] = 1;
        ((float *)t[2])[i] = id == i % E ? 1.0f : 0.0f;
    }
}

/* y[r] = x[t] for the r-th token t with gates[t, e] != 0, rows past the count zeroed.
 * p: d, T, E, e. t: x [T, d], gates [T, E], y [T, d] */
KFN void ndlptx_moe_gather(const int64_t *p, void *const *t)
{
    const int64_t d = p[0], T = p[1], E = p[2], e = p[3];
    const float *x = t[0], *g = t[1];
    float *y = t[2];
    FOR(c, d) {
        int64_t r = 0;
        for (int64_t tok = 0; tok < T; tok++)
            if (g[tok * E + e] != 0) y[r++ * d + c] = x[tok * d + c];
        for (; r < T; r++) y[r * d + c] = 0.0f;
    }
}

/* out[t] = acc[t] (or 0) + gates[t, e] * y[r] for the r-th token t with a nonzero gate.
 * p: n, T, E, e. t: acc (or NULL), y [T, n], gates [T, E], out [T, n] */
KFN void ndlptx_moe_scatter(const int64_t *p, void *const *t)
{
    const int64_t n = p[0], T = p[1], E = p[2], e = p[3];
    const float *acc = t[0], *y = t[1], *g = t[2];
    float *out = t[3];
    FOR(c, n) {
        int64_t r = 0;
        for (int64_t tok = 0; tok < T; tok++) {
            float w = g[tok * E + e], o = acc ? acc[tok * n + c] : 0.0f;
            if (w != 0) o += w * y[r++ * n + c];
            out[tok * n + c] = o;
        }
    }
}

static void copy_elem(void *dst, int64_t di, const void *src, int64_t si, int64_t bytes)
{
    if (bytes == 8) ((int64_t *)dst)[di] = ((const int64_t *)src)[si];
    else if (bytes == 4) ((int32_t *)dst)[di] = ((const int32_t *)src)[si];
    else if (bytes == 2) ((uint16_t *)dst)[di] = ((const uint16_t *)src)[si];
    else ((uint8_t *)dst)[di] = ((const uint8_t *)src)[si];
}

/* One recurse step (spec 8.3). gather (p[0] = 0): y[r] = x[t] for the r-th row t with
 * depth[t] > step, rows past the count zeroed, a depth outside 0..max sets the error word;
 * scatter (1): out[t] = depth[t] > step ? y[r] (the r-th such row) : x[t].
 * p: kind, row (elements per row), T, elem bytes, depth is i64, step is i64, max.
 * t: gather x, depth, step, err, y | scatter x, y, depth, step, out */
KFN void ndlptx_recurse(const int64_t *p, void *const *t)
{
    const int64_t row = p[1], T = p[2], bytes = p[3], mx = p[6];
    const int scatter = p[0] != 0;
    const void *x = t[0], *y = scatter ? t[1] : NULL, *depth = t[scatter ? 2 : 1], *stepv = t[scatter ? 3 : 2];
    const int64_t step = index_at(stepv, p[5], 0);
    FOR(c, row) {
        int64_t r = 0;
        for (int64_t tok = 0; tok < T; tok++) {
            int64_t dv = index_at(depth, p[4], tok);
            if (scatter) {
                if (dv > step) copy_elem(t[4], tok * row + c, y, r++ * row + c, bytes);
                else copy_elem(t[4], tok * row + c, x, tok * row + c, bytes);
                continue;
            }
            if (dv < 0 || dv > mx) *(int32_t *)t[3] = 1;
            if (dv > step) copy_elem(t[4], r++ * row + c, x, tok * row + c, bytes);
        }
        for (; !scatter && r < T; r++) {
            const int64_t zero = 0;
            copy_elem(t[4], r * row + c, &zero, 0, bytes);
        }
    }
}
