/* SPDX-License-Identifier: MIT
 * ndlcu.cuh - the CUDA kernels of ndlc's generated CUDA C (--target cuda), copied into
 * every generated .cu after ndlrt.h (whose status codes, NdlrtAct and NdlrtEpilogue it
 * uses), so that the artefact needs only the CUDA runtime.
 *
 * Each kernel has a host launcher `ndlcu_<op>(..., stream)` that returns 0 or an
 * NdlrtStatus; launchers never allocate and never synchronize. Pointers are device
 * pointers; sizes are int64_t. Semantics are those of the CPU kernels in runtime/kernels (PyTorch f32):
 * NaN propagation in max/min/argmax, sums in double, first maximum wins.
 * The GEMM (linear, matmul, conv2d as an implicit GEMM) runs on tensor cores (mma.sync
 * TF32, sm_80+; -DNDLCU_GEMM_V1: the earlier wmma kernel) with error compensation by default: 3 TF32 products per step (a_hi b_hi
 * + a_hi b_lo + a_lo b_hi, "3xTF32") keep f32 accuracy within the spec's 1e-4 tolerance;
 * -DNDLCU_TF32_PASSES=1 trades that for plain TF32 speed; with it, -DNDLCU_GEMM_WGMMA (built
 * for sm_90a) runs the K-major-B GEMMs on Hopper's wgmma (see its section below).
 */
#include <mma.h>

/* this file defines every kernel and a model launches some: unused ones are expected */
#pragma nv_diag_suppress 177

#ifndef NDLCU_TF32_PASSES
#define NDLCU_TF32_PASSES 3
#endif

/* ---- status and launch geometry ------------------------------------------------------ */

static int ndlcu_status(cudaError_t e)
{
    return e == cudaSuccess ? NDLRT_OK : e == cudaErrorMemoryAllocation ? NDLRT_ENOMEM : NDLRT_EDEVICE;
}

/* the status of the last launch (asynchronous faults surface at the next synchronization) */
static int ndlcu_launched(void) { return ndlcu_status(cudaGetLastError()); }

enum { NDLCU_THREADS = 256 };

/* Blocks for n work items of NDLCU_THREADS each, capped (kernels loop grid-stride). */
/* The current device can run this code (TF32 tensor cores: compute capability 8.0+). */
static int ndlcu_device_ok(void)
{
    int dev = 0, major = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) {
        cudaGetLastError();
        return NDLRT_EDEVICE;
    }
    return major >= 8 ? NDLRT_OK : NDLRT_EDEVICE;
}

static unsigned ndlcu_blocks(int64_t n)
{
    int64_t b = (n + NDLCU_THREADS - 1) / NDLCU_THREADS;
    return (unsigned)(b < 1 ? 1 : b > 65535 * 16 ? 65535 * 16 : b);
}

#define NDLCU_FOR(i, n) \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

/* ---- elementwise ------------------------------------------------------------------------ */

/* NdlrtAct k applied to x: the expressions of ir/eltwise.def, as in every backend. Not
 * inlined: the GEMM's epilogue calls it for each of a thread's 64 accumulators, and every
 * inlined copy of the whole switch made the mma kernel 50k lines of PTX (ptxas ~20 s); a
 * call per output element costs little beside the K loop. */
static __device__ __noinline__ float ndlcu_act(int act, float x)
{
    switch (act) {
#define EW1(K, name, expr) case NDLRT_ACT_##K: return expr;
#include "../../ir/eltwise.def"
#undef EW1
    default: return x;
    }
}

/* y = act2(act(v + bias[ch]) + residual[i]) (runtime/ndlrt.h NdlrtEpilogue) */
static __device__ __forceinline__ float ndlcu_epilogue(const NdlrtEpilogue &ep, float v, int64_t ch, int64_t i)
{
    if (ep.bias) v += ep.bias[ch];
    if (ep.act) v = ndlcu_act(ep.act, v);
    if (ep.residual) v += ep.residual[i];
    if (ep.act2) v = ndlcu_act(ep.act2, v);
    return v;
}

static __global__ void ndlcu_unary_k(int64_t n, int act, const float *x, float *y)
{
    NDLCU_FOR(i, n) y[i] = ndlcu_act(act, x[i]);
}

static int ndlcu_unary(int64_t n, int act, const float *x, float *y, cudaStream_t st)
{
    if (n <= 0) return NDLRT_OK;
    ndlcu_unary_k<<<ndlcu_blocks(n), NDLCU_THREADS, 0, st>>>(n, act, x, y);
    return ndlcu_launched();
}

enum { NDLCU_MAX_RANK = 8 };

/* Broadcasting: output dims and each operand's stride per output axis (0: broadcast). */
typedef struct NdlcuBroadcast {
    int rank;
    int64_t dims[NDLCU_MAX_RANK], sa[NDLCU_MAX_RANK], sb[NDLCU_MAX_RANK];
} NdlcuBroadcast;

/* integer arithmetic wraps (two's complement, as the C backend's unsigned casts) */
template <typename T> static __device__ __forceinline__ T ndlcu_binop(int op, T a, T b)
{
    typedef typename std::conditional<sizeof(T) == 8, unsigned long long, unsigned>::type U;
    switch (op) {
    case 0: return (T)((U)a + (U)b);
    case 1: return (T)((U)a - (U)b);
    case 2: return (T)((U)a * (U)b);
    default: return b ? a / b : 0;
    }
}
template <> __device__ __forceinline__ float ndlcu_binop<float>(int op, float a, float b)
{
    return op == 0 ? a + b : op == 1 ? a - b : op == 2 ? a * b : a / b;
}

template <typename T>
static __global__ void ndlcu_binary_k(int64_t n, int op, NdlcuBroadcast p, const T *a, const T *b, T *y)
{
    NDLCU_FOR(i, n) {
        int64_t r = i, ia = 0, ib = 0;
        for (int k = p.rank - 1; k >= 0; k--) {
            int64_t c = r % p.dims[k];
            r /= p.dims[k];
            ia += c * p.sa[k];
            ib += c * p.sb[k];
        }
        y[i] = ndlcu_binop<T>(op, a[ia], b[ib]);
    }
}

/* op: 0 add, 1 sub, 2 mul, 3 div */
template <typename T>
static int ndlcu_binary(int64_t n, int op, const NdlcuBroadcast *p, const T *a, const T *b, T *y, cudaStream_t st)
{
    if (n <= 0) return NDLRT_OK;
    ndlcu_binary_k<T><<<ndlcu_blocks(n), NDLCU_THREADS, 0, st>>>(n, op, *p, a, b, y);
    return ndlcu_launched();
}

/* x.to(dtype): float -> int truncates toward zero; NaN and out-of-range give the minimum
 * (as the C backend on x86); to bool: nonzero */
template <typename To, typename From> static __device__ __forceinline__ To ndlcu_convert(From x) { return (To)x; }
template <> __device__ __forceinline__ int32_t ndlcu_convert<int32_t, float>(float x)
{
    return (x != x || x >= 2147483648.0f || x < -2147483648.0f) ? INT32_MIN : (int32_t)x;
}
template <> __device__ __forceinline__ int64_t ndlcu_convert<int64_t, float>(float x)
{
    return (x != x || x >= 9223372036854775808.0f || x < -9223372036854775808.0f) ? INT64_MIN : (int64_t)x;
}
template <> __device__ __forceinline__ int32_t ndlcu_convert<int32_t, int64_t>(int64_t x)
{
    return (int32_t)(uint32_t)(uint64_t)x;
}

template <typename To, typename From> static __global__ void ndlcu_cast_k(int64_t n, const From *x, To *y, int to_bool)
{
    NDLCU_FOR(i, n) y[i] = to_bool ? (To)(x[i] != 0) : ndlcu_convert<To, From>(x[i]);
}

template <typename To, typename From>
static int ndlcu_cast(int64_t n, const From *x, To *y, int to_bool, cudaStream_t st)
{
    if (n <= 0) return NDLRT_OK;
    ndlcu_cast_k<To, From><<<ndlcu_blocks(n), NDLCU_THREADS, 0, st>>>(n, x, y, to_bool);
    return ndlcu_launched();
}

/* ---- data movement: permute, slice, concat, copies -------------------------------------- */

/* out[idx] (at out_off + sum idx[k]*out_stride[k]) = in[in_off + sum idx[k]*in_stride[k]]
 * over the index space dims: one kernel for permute, slice and each concat operand. */
typedef struct NdlcuCopy {
    int rank;
    int64_t dims[NDLCU_MAX_RANK], in_stride[NDLCU_MAX_RANK], out_stride[NDLCU_MAX_RANK];
    int64_t in_off, out_off;
} NdlcuCopy;

template <typename T> static __global__ void ndlcu_copy_k(int64_t n, NdlcuCopy p, const T *x, T *y)
{
    NDLCU_FOR(i, n) {
        int64_t r = i, io = p.in_off, oo = p.out_off;
        for (int k = p.rank - 1; k >= 0; k--) {
            int64_t c = r % p.dims[k];
            r /= p.dims[k];
            io += c * p.in_stride[k];
            oo += c * p.out_stride[k];
        }
        y[oo] = x[io];
    }
}

/* elem: the element size in bytes (1, 4 or 8) */
static int ndlcu_copy(const NdlcuCopy *p, size_t elem, const void *x, void *y, cudaStream_t st)
{
    int64_t n = 1;
    for (int k = 0; k < p->rank; k++) n *= p->dims[k];
    if (n <= 0) return NDLRT_OK;
    unsigned b = ndlcu_blocks(n);
    if (elem == 8) ndlcu_copy_k<uint64_t><<<b, NDLCU_THREADS, 0, st>>>(n, *p, (const uint64_t *)x, (uint64_t *)y);
    else if (elem == 4) ndlcu_copy_k<uint32_t><<<b, NDLCU_THREADS, 0, st>>>(n, *p, (const uint32_t *)x, (uint32_t *)y);
    else ndlcu_copy_k<uint8_t><<<b, NDLCU_THREADS, 0, st>>>(n, *p, (const uint8_t *)x, (uint8_t *)y);
    return ndlcu_launched();
}

/* ---- softmax, reductions, argmax over [outer, len, inner] -------------------------------- */

static __device__ __forceinline__ float ndlcu_warp_max(float v)
{
    for (int o = 16; o; o >>= 1) {
        float u = __shfl_xor_sync(0xffffffffu, v, o);
        v = (u > v || u != u) ? u : v;
    }
    return v;
}

static __device__ __forceinline__ double ndlcu_warp_sum(double v)
{
    for (int o = 16; o; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* one warp per (outer, inner) slice; log != 0: log_softmax */
static __global__ void ndlcu_softmax_k(int64_t outer, int64_t len, int64_t inner, int log, const float *x, float *y)
{
    int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32, nwarps = (int64_t)gridDim.x * blockDim.x / 32;
    int lane = threadIdx.x % 32;
    for (int64_t s = warp; s < outer * inner; s += nwarps) {
        const float *xs = x + (s / inner) * len * inner + s % inner;
        float *ys = y + (s / inner) * len * inner + s % inner;
        float mx = -INFINITY;
        for (int64_t j = lane; j < len; j += 32) {
            float v = xs[j * inner];
            mx = (v > mx || v != v) ? v : mx;
        }
        mx = ndlcu_warp_max(mx);
        double sum = 0;
        for (int64_t j = lane; j < len; j += 32) sum += expf(xs[j * inner] - mx);
        float total = (float)ndlcu_warp_sum(sum);
        for (int64_t j = lane; j < len; j += 32) {
            float d = xs[j * inner] - mx;
            ys[j * inner] = log ? d - logf(total) : expf(d) / total;
        }
    }
}

static int ndlcu_softmax(int64_t outer, int64_t len, int64_t inner, int log, const float *x, float *y, cudaStream_t st)
{
    if (outer * inner <= 0 || len <= 0) return NDLRT_OK;
    ndlcu_softmax_k<<<ndlcu_blocks(outer * inner * 32), NDLCU_THREADS, 0, st>>>(outer, len, inner, log, x, y);
    return ndlcu_launched();
}

/* kind: 0 sum, 1 mean, 2 max, 3 min; one thread per output (sums in double) */
static __global__ void ndlcu_reduce_k(int64_t outer, int64_t len, int64_t inner, int kind, const float *x, float *y)
{
    NDLCU_FOR(s, outer * inner) {
        const float *xs = x + (s / inner) * len * inner + s % inner;
        if (len == 0) {
            y[s] = kind == 0 ? 0.0f : NAN; /* mean of nothing is NaN, as in torch */
        } else if (kind <= 1) {
            double t = 0;
            for (int64_t j = 0; j < len; j++) t += xs[j * inner];
            y[s] = (float)(kind == 1 ? t / (double)len : t);
        } else {
            float a = xs[0];
            for (int64_t j = 1; j < len; j++) {
                float v = xs[j * inner];
                bool take = kind == 2 ? v > a : v < a;
                if (take || v != v) a = v;
            }
            y[s] = a;
        }
    }
}

static int ndlcu_reduce(int64_t outer, int64_t len, int64_t inner, int kind, const float *x, float *y, cudaStream_t st)
{
    if (outer * inner <= 0) return NDLRT_OK;
    ndlcu_reduce_k<<<ndlcu_blocks(outer * inner), NDLCU_THREADS, 0, st>>>(outer, len, inner, kind, x, y);
    return ndlcu_launched();
}

/* the first maximum, NaN counting as the largest (torch.argmax) */
static __global__ void ndlcu_argmax_k(int64_t outer, int64_t len, int64_t inner, const float *x, int64_t *y)
{
    NDLCU_FOR(s, outer * inner) {
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

static int ndlcu_argmax(int64_t outer, int64_t len, int64_t inner, const float *x, int64_t *y, cudaStream_t st)
{
    if (outer * inner <= 0) return NDLRT_OK;
    ndlcu_argmax_k<<<ndlcu_blocks(outer * inner), NDLCU_THREADS, 0, st>>>(outer, len, inner, x, y);
    return ndlcu_launched();
}

/* ---- normalization ------------------------------------------------------------------------ */

/* layer_norm (rms == 0: mean and biased variance) or rms_norm over rows of d; a warp per row */
static __global__ void ndlcu_norm_k(int64_t rows, int64_t d, int rms, const float *x, const float *w, const float *b,
                                    float eps, float *y)
{
    int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32, nwarps = (int64_t)gridDim.x * blockDim.x / 32;
    int lane = threadIdx.x % 32;
    for (int64_t r = warp; r < rows; r += nwarps) {
        const float *xr = x + r * d;
        float *yr = y + r * d;
        float mean = 0.0f;
        if (!rms) {
            double s = 0;
            for (int64_t j = lane; j < d; j += 32) s += xr[j];
            mean = (float)(ndlcu_warp_sum(s) / (double)d);
        }
        double q = 0;
        for (int64_t j = lane; j < d; j += 32) q += (double)(xr[j] - mean) * (xr[j] - mean);
        float inv = 1.0f / sqrtf((float)(ndlcu_warp_sum(q) / (double)d) + eps);
        for (int64_t j = lane; j < d; j += 32) {
            float v = (xr[j] - mean) * inv;
            if (w) v *= w[j];
            if (b) v += b[j];
            yr[j] = v;
        }
    }
}

static int ndlcu_norm(int64_t rows, int64_t d, int rms, const float *x, const float *w, const float *b, float eps,
                      float *y, cudaStream_t st)
{
    if (rows <= 0 || d <= 0) return NDLRT_OK;
    ndlcu_norm_k<<<ndlcu_blocks(rows * 32), NDLCU_THREADS, 0, st>>>(rows, d, rms, x, w, b, eps, y);
    return ndlcu_launched();
}

/* eval-mode batch norm, channel axis 1 of [n, c, inner] */
static __global__ void ndlcu_batch_norm_k(int64_t n, int64_t c, int64_t inner, const float *x, const float *mean,
                                          const float *var, const float *w, const float *b, float eps, float *y)
{
    NDLCU_FOR(i, n * c * inner) {
        int64_t ch = (i / inner) % c;
        float s = 1.0f / sqrtf(var[ch] + eps);
        if (w) s *= w[ch];
        y[i] = (x[i] - mean[ch]) * s + (b ? b[ch] : 0.0f);
    }
}

static int ndlcu_batch_norm(int64_t n, int64_t c, int64_t inner, const float *x, const float *mean, const float *var,
                            const float *w, const float *b, float eps, float *y, cudaStream_t st)
{
    if (n * c * inner <= 0) return NDLRT_OK;
    ndlcu_batch_norm_k<<<ndlcu_blocks(n * c * inner), NDLCU_THREADS, 0, st>>>(n, c, inner, x, mean, var, w, b, eps, y);
    return ndlcu_launched();
}

/* ---- pooling ------------------------------------------------------------------------------ */

typedef struct NdlcuPool {
    int64_t n, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw;
    int max;                 /* 1 max (padding is -inf), 0 average (count_include_pad) */
} NdlcuPool;

static __global__ void ndlcu_pool_k(NdlcuPool p, const float *x, float *y)
{
    NDLCU_FOR(i, p.n * p.c * p.oh * p.ow) {
        int64_t ox = i % p.ow, oy = (i / p.ow) % p.oh, nc = i / (p.ow * p.oh);
        const float *xs = x + nc * p.h * p.w;
        float acc = p.max ? -INFINITY : 0.0f;
        for (int64_t r = 0; r < p.kh; r++) {
            int64_t iy = oy * p.sh - p.ph + r;
            if (iy < 0 || iy >= p.h) continue;
            for (int64_t q = 0; q < p.kw; q++) {
                int64_t ix = ox * p.sw - p.pw + q;
                if (ix < 0 || ix >= p.w) continue;
                float v = xs[iy * p.w + ix];
                if (!p.max) acc += v;
                else if (v > acc || v != v) acc = v;
            }
        }
        y[i] = p.max ? acc : acc / (float)(p.kh * p.kw);
    }
}

static int ndlcu_pool(const NdlcuPool *p, const float *x, float *y, cudaStream_t st)
{
    int64_t n = p->n * p->c * p->oh * p->ow;
    if (n <= 0) return NDLRT_OK;
    ndlcu_pool_k<<<ndlcu_blocks(n), NDLCU_THREADS, 0, st>>>(*p, x, y);
    return ndlcu_launched();
}

/* ---- gathers and hashes ------------------------------------------------------------------------ */

static __device__ __forceinline__ int64_t ndlcu_index(const void *ids, int i64, int64_t i)
{
    return i64 ? ((const int64_t *)ids)[i] : (int64_t)((const int32_t *)ids)[i];
}

/* an index out of range writes zeros and sets *bad (the instance's error word), which the
 * synchronous run turns into NDLRT_EINDEX */
static __global__ void ndlcu_embedding_k(int64_t nids, const void *ids, int i64, int64_t rows, int64_t d,
                                         const float *table, float *y, int *bad)
{
    NDLCU_FOR(i, nids * d) {
        int64_t id = ndlcu_index(ids, i64, i / d);
        if (id < 0 || id >= rows) {
            *bad = 1;
            y[i] = 0.0f;
        } else {
            y[i] = table[id * d + i % d];
        }
    }
}

static int ndlcu_embedding(int64_t nids, const void *ids, int i64, int64_t rows, int64_t d, const float *table,
                           float *y, int *bad, cudaStream_t st)
{
    if (nids * d <= 0) return NDLRT_OK;
    ndlcu_embedding_k<<<ndlcu_blocks(nids * d), NDLCU_THREADS, 0, st>>>(nids, ids, i64, rows, d, table, y, bad);
    return ndlcu_launched();
}

/* torch.take: negative indices count from the end */
static __global__ void ndlcu_take_k(int64_t nidx, const void *idx, int i64, int64_t n, const float *x, float *y,
                                    int *bad)
{
    NDLCU_FOR(i, nidx) {
        int64_t j = ndlcu_index(idx, i64, i);
        if (j < 0) j += n;
        if (j < 0 || j >= n) {
            *bad = 1;
            y[i] = 0.0f;
        } else {
            y[i] = x[j];
        }
    }
}

static int ndlcu_take(int64_t nidx, const void *idx, int i64, int64_t n, const float *x, float *y, int *bad,
                      cudaStream_t st)
{
    if (nidx <= 0) return NDLRT_OK;
    ndlcu_take_k<<<ndlcu_blocks(nidx), NDLCU_THREADS, 0, st>>>(nidx, idx, i64, n, x, y, bad);
    return ndlcu_launched();
}

/* MurmurHash3's finalizer (runtime/kernels/gather.c, spec 8.3 and 8.4) */
static __device__ __forceinline__ uint32_t ndlcu_fmix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

static __global__ void ndlcu_hashed_k(int64_t n_out, const float *pool, int64_t n_pool, uint32_t seed, float *y)
{
    NDLCU_FOR(i, n_out) {
        uint32_t u = (uint32_t)(uint64_t)i;
        float sign = (ndlcu_fmix32(u ^ seed ^ 0x9E3779B9u) & 1u) ? -1.0f : 1.0f;
        y[i] = n_pool > 0 ? sign * pool[(uint64_t)ndlcu_fmix32(u ^ seed) % (uint64_t)n_pool] : 0.0f;
    }
}

static int ndlcu_hashed(int64_t n_out, const float *pool, int64_t n_pool, uint32_t seed, float *y, cudaStream_t st)
{
    if (n_out <= 0) return NDLRT_OK;
    ndlcu_hashed_k<<<ndlcu_blocks(n_out), NDLCU_THREADS, 0, st>>>(n_out, pool, n_pool, seed, y);
    return ndlcu_launched();
}

static __global__ void ndlcu_hash_route_k(int64_t n, const void *ids, int i64, int64_t experts, uint32_t seed, int64_t *y)
{
    NDLCU_FOR(i, n) {
        uint32_t u = (uint32_t)(uint64_t)ndlcu_index(ids, i64, i);
        y[i] = experts > 0 ? (int64_t)((uint64_t)ndlcu_fmix32(u ^ seed) % (uint64_t)experts) : 0;
    }
}

static int ndlcu_hash_route(int64_t n, const void *ids, int i64, int64_t experts, uint32_t seed, int64_t *y,
                            cudaStream_t st)
{
    if (n <= 0) return NDLRT_OK;
    ndlcu_hash_route_k<<<ndlcu_blocks(n), NDLCU_THREADS, 0, st>>>(n, ids, i64, experts, seed, y);
    return ndlcu_launched();
}

/* torch.kron of equal-rank operands: y index per axis k is i_k * b_dims[k] + j_k */
typedef struct NdlcuKron {
    int rank;
    int64_t y_dims[NDLCU_MAX_RANK], b_dims[NDLCU_MAX_RANK], a_stride[NDLCU_MAX_RANK], b_stride[NDLCU_MAX_RANK];
} NdlcuKron;

static __global__ void ndlcu_kron_k(int64_t n, NdlcuKron p, const float *a, const float *b, float *y)
{
    NDLCU_FOR(i, n) {
        int64_t r = i, ia = 0, ib = 0;
        for (int k = p.rank - 1; k >= 0; k--) {
            int64_t c = r % p.y_dims[k];
            r /= p.y_dims[k];
            ia += c / p.b_dims[k] * p.a_stride[k];
            ib += c % p.b_dims[k] * p.b_stride[k];
        }
        y[i] = a[ia] * b[ib];
    }
}

static int ndlcu_kron(int64_t n, const NdlcuKron *p, const float *a, const float *b, float *y, cudaStream_t st)
{
    if (n <= 0) return NDLRT_OK;
    ndlcu_kron_k<<<ndlcu_blocks(n), NDLCU_THREADS, 0, st>>>(n, *p, a, b, y);
    return ndlcu_launched();
}

/* ---- attention ------------------------------------------------------------------------------ */

typedef struct NdlcuAttention {
    int64_t batch, tq, tk, d, dv;
    int64_t q_stride, k_stride, v_stride, y_stride; /* per batch entry, 0: broadcast */
    float scale;
    int causal;
} NdlcuAttention;

enum { NDLCU_ATT_MAX_DV = 256 };

/* One warp per query row with an online softmax (Milakov & Gimelshein 2018): scores are
 * never stored; each lane keeps up to 8 output columns (dv <= 256, checked by the emitter). */
static __global__ void ndlcu_attention_k(NdlcuAttention p, const float *q, const float *k, const float *v, float *y)
{
    int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32, nwarps = (int64_t)gridDim.x * blockDim.x / 32;
    int lane = threadIdx.x % 32;
    for (int64_t row = warp; row < p.batch * p.tq; row += nwarps) {
        int64_t b = row / p.tq, i = row % p.tq;
        const float *qr = q + b * p.q_stride + i * p.d, *kb = k + b * p.k_stride, *vb = v + b * p.v_stride;
        float acc[NDLCU_ATT_MAX_DV / 32];
        for (int t = 0; t < NDLCU_ATT_MAX_DV / 32; t++) acc[t] = 0.0f;
        float mx = -INFINITY, sum = 0.0f;
        int64_t end = p.causal ? (i + 1 < p.tk ? i + 1 : p.tk) : p.tk;
        for (int64_t j = 0; j < end; j++) {
            float s = 0.0f;
            for (int64_t c = lane; c < p.d; c += 32) s += qr[c] * kb[j * p.d + c];
            for (int o = 16; o; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
            s *= p.scale;
            float nmx = fmaxf(mx, s), corr = expf(mx - nmx), e = expf(s - nmx);
            sum = sum * corr + e;
            for (int t = 0; t < NDLCU_ATT_MAX_DV / 32; t++) {
                int64_t c = lane + 32 * t;
                if (c < p.dv) acc[t] = acc[t] * corr + e * vb[j * p.dv + c];
            }
            mx = nmx;
        }
        float *yr = y + b * p.y_stride + i * p.dv;
        for (int t = 0; t < NDLCU_ATT_MAX_DV / 32; t++) {
            int64_t c = lane + 32 * t;
            if (c < p.dv) yr[c] = end > 0 ? acc[t] / sum : NAN; /* a fully masked row: NaN, as torch */
        }
    }
}

static int ndlcu_attention(const NdlcuAttention *p, const float *q, const float *k, const float *v, float *y,
                           cudaStream_t st)
{
    if (p->batch * p->tq <= 0 || p->dv <= 0) return NDLRT_OK;
    if (p->dv > NDLCU_ATT_MAX_DV) return NDLRT_ESIZE;
    ndlcu_attention_k<<<ndlcu_blocks(p->batch * p->tq * 32), NDLCU_THREADS, 0, st>>>(*p, q, k, v, y);
    return ndlcu_launched();
}

/* ---- GEMM on tensor cores ---------------------------------------------------------------------- */

enum { NDLCU_GEMM_MAX_BATCH_RANK = 4 };

/* C[z] = A[z] (m x k) B[z] (k x n), then the epilogue (bias by column). A is row-major with
 * row stride lda; B is row-major k x n (ldb), or with trans_b the n x k layout of a linear
 * weight [out, in]. The batch z = blockIdx.z runs over batch_dims (row-major, up to 4
 * axes); each operand advances by its own stride per axis (0: broadcast along it). */
typedef struct NdlcuGemm {
    int64_t m, n, k;
    const float *a;
    int64_t lda;
    const float *b;
    int64_t ldb;
    int trans_b;
    float *c;
    int64_t ldc;
    int batch_rank;
    int64_t batch_dims[NDLCU_GEMM_MAX_BATCH_RANK];
    int64_t stride_a[NDLCU_GEMM_MAX_BATCH_RANK], stride_b[NDLCU_GEMM_MAX_BATCH_RANK];
    int64_t stride_c[NDLCU_GEMM_MAX_BATCH_RANK];
    NdlrtEpilogue ep;
} NdlcuGemm;

/* conv2d as an implicit GEMM per group z: rows (image, oy, ox), columns the group's output
 * channels, reduction (input channel, r, q); the im2col matrix is never stored. */
typedef struct NdlcuConv {
    int64_t n, c, h, w, o, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw, groups;
    const float *x, *wt;     /* wt: [o, c/groups, kh, kw] as stored */
    float *y;
    NdlrtEpilogue ep;        /* bias and residual by output channel / element */
} NdlcuConv;

/* The operands of one batch entry (make: its offsets, once per block). */
struct NdlcuGemmOperands {
    const NdlcuGemm &p;
    const float *a0, *b0;
    float *c0;
    static __device__ NdlcuGemmOperands make(const NdlcuGemm &p, int64_t z)
    {
        int64_t oa = 0, ob = 0, oc = 0;
        for (int k = p.batch_rank - 1; k >= 0; k--) {
            int64_t c = z % p.batch_dims[k];
            z /= p.batch_dims[k];
            oa += c * p.stride_a[k];
            ob += c * p.stride_b[k];
            oc += c * p.stride_c[k];
        }
        return NdlcuGemmOperands{p, p.a + oa, p.b + ob, p.c + oc};
    }
    __device__ int64_t rows() const { return p.m; }
    __device__ int64_t cols() const { return p.n; }
    __device__ int64_t depth() const { return p.k; }
    __device__ float a(int64_t i, int64_t kk) const { return *a_ptr(i, kk); }
    __device__ float b(int64_t kk, int64_t j) const { return *b_ptr(kk, j); }
    __device__ bool b_k_fastest() const { return p.trans_b != 0; }
    /* the addresses of in-range elements (null: a zero, as conv2d's padding) */
    __device__ const float *a_ptr(int64_t i, int64_t kk) const { return a0 + i * p.lda + kk; }
    __device__ const float *b_ptr(int64_t kk, int64_t j) const
    {
        return p.trans_b ? b0 + j * p.ldb + kk : b0 + kk * p.ldb + j;
    }
    /* 4 consecutive elements along the contiguous axis, from a multiple of 4, are one
     * aligned 16-byte vector */
    __device__ bool a_vec() const { return p.lda % 4 == 0 && ((uintptr_t)a0 & 15) == 0; }
    __device__ bool b_vec() const { return p.ldb % 4 == 0 && ((uintptr_t)b0 & 15) == 0; }
    __device__ void store(int64_t i, int64_t j, float v) const
    {
        int64_t at = i * p.ldc + j;
        c0[at] = ndlcu_epilogue(p.ep, v, j, (c0 - p.c) + at);
    }
};

struct NdlcuConvOperands {
    const NdlcuConv &p;
    int64_t z;
    static __device__ NdlcuConvOperands make(const NdlcuConv &p, int64_t z) { return NdlcuConvOperands{p, z}; }
    __device__ int64_t rows() const { return p.n * p.oh * p.ow; }
    __device__ int64_t cols() const { return p.o / p.groups; }
    __device__ int64_t depth() const { return p.c / p.groups * p.kh * p.kw; }
    __device__ float a(int64_t i, int64_t kk) const
    {
        const float *x = a_ptr(i, kk);
        return x ? *x : 0.0f;
    }
    __device__ float b(int64_t kk, int64_t j) const { return *b_ptr(kk, j); }
    __device__ bool b_k_fastest() const { return true; }
    __device__ const float *a_ptr(int64_t i, int64_t kk) const
    {
        int64_t ox = i % p.ow, oy = (i / p.ow) % p.oh, img = i / (p.ow * p.oh);
        int64_t q = kk % p.kw, r = (kk / p.kw) % p.kh, ci = kk / (p.kw * p.kh) + z * (p.c / p.groups);
        int64_t iy = oy * p.sh - p.ph + r * p.dh, ix = ox * p.sw - p.pw + q * p.dw;
        if (iy < 0 || iy >= p.h || ix < 0 || ix >= p.w) return nullptr;
        return p.x + ((img * p.c + ci) * p.h + iy) * p.w + ix;
    }
    __device__ const float *b_ptr(int64_t kk, int64_t j) const { return p.wt + (z * cols() + j) * depth() + kk; }
    __device__ bool a_vec() const { return false; } /* im2col rows are not contiguous */
    __device__ bool b_vec() const { return depth() % 4 == 0 && ((uintptr_t)p.wt & 15) == 0; }
    __device__ void store(int64_t i, int64_t j, float v) const
    {
        int64_t ox = i % p.ow, oy = (i / p.ow) % p.oh, img = i / (p.ow * p.oh), ch = z * cols() + j;
        int64_t at = ((img * p.o + ch) * p.oh + oy) * p.ow + ox;
        p.y[at] = ndlcu_epilogue(p.ep, v, ch, at);
    }
};

/* Block tile 128 x 128 x 32, 8 warps in 2 x 4, each warp 64 x 32 (4 x 2 wmma 16x16x8
 * fragments). Tiles are staged global -> registers -> shared memory, the next one loaded
 * while the current one is multiplied. Out-of-range elements load as zero. */
enum { NDLCU_BM = 128, NDLCU_BN = 128, NDLCU_BK = 32, NDLCU_APAD = NDLCU_BK + 4, NDLCU_BPAD = NDLCU_BN + 4 };
enum { NDLCU_GEMM_THREADS = 256 };

template <class Ops>
static __device__ void ndlcu_load_tile(const Ops &ops, int64_t row0, int64_t col0, int64_t k0, float ra[16], float rb[16])
{
    int t = threadIdx.x;
    int64_t m = ops.rows(), n = ops.cols(), k = ops.depth();
    for (int e = 0; e < 16; e++) { /* A: k fastest across the warp */
        int64_t i = row0 + t / NDLCU_BK + e * (NDLCU_GEMM_THREADS / NDLCU_BK), kk = k0 + t % NDLCU_BK;
        ra[e] = i < m && kk < k ? ops.a(i, kk) : 0.0f;
    }
    for (int e = 0; e < 16; e++) { /* B: whichever index is contiguous in memory fastest */
        int64_t kk, j;
        if (ops.b_k_fastest()) kk = k0 + t % NDLCU_BK, j = col0 + t / NDLCU_BK + e * (NDLCU_GEMM_THREADS / NDLCU_BK);
        else kk = k0 + t / NDLCU_BN + e * (NDLCU_GEMM_THREADS / NDLCU_BN), j = col0 + t % NDLCU_BN;
        rb[e] = kk < k && j < n ? ops.b(kk, j) : 0.0f;
    }
}

template <class Ops>
static __device__ void ndlcu_store_tile(const Ops &ops, float (*as)[NDLCU_APAD], float (*bs)[NDLCU_BPAD],
                                        const float ra[16], const float rb[16])
{
    int t = threadIdx.x;
    for (int e = 0; e < 16; e++) as[t / NDLCU_BK + e * (NDLCU_GEMM_THREADS / NDLCU_BK)][t % NDLCU_BK] = ra[e];
    for (int e = 0; e < 16; e++) {
        if (ops.b_k_fastest()) bs[t % NDLCU_BK][t / NDLCU_BK + e * (NDLCU_GEMM_THREADS / NDLCU_BK)] = rb[e];
        else bs[t / NDLCU_BN + e * (NDLCU_GEMM_THREADS / NDLCU_BN)][t % NDLCU_BN] = rb[e];
    }
}

template <class Ops, class Params> static __global__ void __launch_bounds__(NDLCU_GEMM_THREADS) ndlcu_gemm_k(Params p)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    using namespace nvcuda;
    const Ops ops = Ops::make(p, (int64_t)blockIdx.z);
    __shared__ __align__(128) float as[NDLCU_BM][NDLCU_APAD];
    __shared__ __align__(128) float bs[NDLCU_BK][NDLCU_BPAD];
    __shared__ __align__(128) float stage[NDLCU_GEMM_THREADS / 32][16 * 16];
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, wr = warp / 4, wc = warp % 4;
    int64_t row0 = (int64_t)blockIdx.y * NDLCU_BM, col0 = (int64_t)blockIdx.x * NDLCU_BN, k = ops.depth();
    wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[4][2];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 2; j++) wmma::fill_fragment(acc[i][j], 0.0f);
    float ra[16], rb[16];
    ndlcu_load_tile(ops, row0, col0, 0, ra, rb);
    for (int64_t k0 = 0; k0 < k; k0 += NDLCU_BK) {
        __syncthreads();
        ndlcu_store_tile(ops, as, bs, ra, rb);
        __syncthreads();
        if (k0 + NDLCU_BK < k) ndlcu_load_tile(ops, row0, col0, k0 + NDLCU_BK, ra, rb);
        for (int kk = 0; kk < NDLCU_BK; kk += 8) {
            wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> ahi[4], alo[4];
            wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> bhi[2], blo[2];
            for (int i = 0; i < 4; i++) {
                wmma::load_matrix_sync(ahi[i], &as[wr * 64 + i * 16][kk], NDLCU_APAD);
                for (int e = 0; e < ahi[i].num_elements; e++) {
                    float v = ahi[i].x[e];
                    ahi[i].x[e] = wmma::__float_to_tf32(v);
                    alo[i].x[e] = wmma::__float_to_tf32(v - ahi[i].x[e]);
                }
            }
            for (int j = 0; j < 2; j++) {
                wmma::load_matrix_sync(bhi[j], &bs[kk][wc * 32 + j * 16], NDLCU_BPAD);
                for (int e = 0; e < bhi[j].num_elements; e++) {
                    float v = bhi[j].x[e];
                    bhi[j].x[e] = wmma::__float_to_tf32(v);
                    blo[j].x[e] = wmma::__float_to_tf32(v - bhi[j].x[e]);
                }
            }
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 2; j++) {
                    if (NDLCU_TF32_PASSES == 3) { /* small terms first */
                        wmma::mma_sync(acc[i][j], alo[i], bhi[j], acc[i][j]);
                        wmma::mma_sync(acc[i][j], ahi[i], blo[j], acc[i][j]);
                    }
                    wmma::mma_sync(acc[i][j], ahi[i], bhi[j], acc[i][j]);
                }
        }
    }
    /* the epilogue: each fragment through the warp's staging tile, bounds-checked */
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 2; j++) {
            wmma::store_matrix_sync(stage[warp], acc[i][j], 16, wmma::mem_row_major);
            __syncwarp();
            for (int e = lane; e < 256; e += 32) {
                int64_t r = row0 + wr * 64 + i * 16 + e / 16, c = col0 + wc * 32 + j * 16 + e % 16;
                if (r < ops.rows() && c < ops.cols()) ops.store(r, c, stage[warp][e]);
            }
            __syncwarp();
        }
#else
    __trap(); /* built for a GPU without TF32 tensor cores: fail loudly, never a wrong result */
#endif
}

/* The GEMM kernel (default; -DNDLCU_GEMM_V1 selects the wmma kernel above instead): block
 * tile 128 x 128 x 32, 8 warps in 2 x 4, each warp 64 x 32 as 4 x 4 mma.sync m16n8k8 TF32
 * tiles with f32 accumulators in registers. Global -> shared memory through cp.async in a
 * NDLCU_STAGES-deep ring, so that loads of the next tiles overlap the multiply of this one:
 * 16-byte copies where 4 elements along the contiguous axis are in range and aligned,
 * otherwise 4-byte copies per element that zero-fill what is out of range (edges, and the
 * im2col addressing of conv2d's A). Shared rows are padded so that fragment reads are free
 * of bank conflicts: A (and B when k is its contiguous axis) as [row][32 + 4], bank 4g + t
 * for lane (g, t); B with n contiguous as [k][128 + 8], bank 8t + g. */
enum { NDLCU_STAGES = 3, NDLCU_ALD = NDLCU_BK + 4, NDLCU_BLD_N = NDLCU_BN + 8 };
enum {
    NDLCU_A_STAGE = NDLCU_BM * NDLCU_ALD, /* floats per stage */
    NDLCU_B_STAGE = NDLCU_BN * NDLCU_ALD > NDLCU_BK * NDLCU_BLD_N ? NDLCU_BN * NDLCU_ALD : NDLCU_BK * NDLCU_BLD_N,
    NDLCU_GEMM_SMEM = NDLCU_STAGES * (NDLCU_A_STAGE + NDLCU_B_STAGE) * (int)sizeof(float)
};

static __device__ __forceinline__ void ndlcu_cp16(float *dst, const float *src)
{
    unsigned d = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(d), "l"(src));
}

/* src null: the element is zero (no global read) */
static __device__ __forceinline__ void ndlcu_cp4(float *dst, const float *src, const float *any_valid)
{
    unsigned d = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(d), "l"(src ? src : any_valid),
                 "r"(src ? 4 : 0));
}

static __device__ __forceinline__ unsigned ndlcu_tf32(float v)
{
    unsigned r;
    asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(v));
    return r;
}

static __device__ __forceinline__ void ndlcu_mma(float d[4], const unsigned a[4], const unsigned b[2])
{
    asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

/* One k-tile of A and B (from k0) into a stage's shared buffers. Bkf: B's k axis is its
 * contiguous one (a linear weight, conv2d's filters). */
template <class Ops, bool Bkf>
static __device__ __forceinline__ void ndlcu_gemm_stage(const Ops &ops, int64_t row0, int64_t col0, int64_t k0,
                                                        bool a_vec, bool b_vec, float *as, float *bs)
{
    int64_t m = ops.rows(), n = ops.cols(), k = ops.depth();
    const float *fallback = ops.b_ptr(0, 0);
#pragma unroll
    for (int e = 0; e < NDLCU_BM * NDLCU_BK / 4 / NDLCU_GEMM_THREADS; e++) { /* A: [row][k], 8 vectors a row */
        int c = threadIdx.x + e * NDLCU_GEMM_THREADS, r = c / (NDLCU_BK / 4), kc = c % (NDLCU_BK / 4) * 4;
        int64_t i = row0 + r, kk = k0 + kc;
        float *dst = as + r * NDLCU_ALD + kc;
        if (a_vec && i < m && kk + 3 < k) {
            ndlcu_cp16(dst, ops.a_ptr(i, kk));
        } else {
#pragma unroll 1
            for (int v = 0; v < 4; v++)
                ndlcu_cp4(dst + v, i < m && kk + v < k ? ops.a_ptr(i, kk + v) : nullptr, fallback);
        }
    }
#pragma unroll
    for (int e = 0; e < NDLCU_BN * NDLCU_BK / 4 / NDLCU_GEMM_THREADS; e++) {
        int c = threadIdx.x + e * NDLCU_GEMM_THREADS;
        if (Bkf) { /* [n][k] */
            int r = c / (NDLCU_BK / 4), kc = c % (NDLCU_BK / 4) * 4;
            int64_t j = col0 + r, kk = k0 + kc;
            float *dst = bs + r * NDLCU_ALD + kc;
            if (b_vec && j < n && kk + 3 < k) {
                ndlcu_cp16(dst, ops.b_ptr(kk, j));
            } else {
    #pragma unroll 1
            for (int v = 0; v < 4; v++)
                    ndlcu_cp4(dst + v, j < n && kk + v < k ? ops.b_ptr(kk + v, j) : nullptr, fallback);
            }
        } else { /* [k][n] */
            int r = c / (NDLCU_BN / 4), nc = c % (NDLCU_BN / 4) * 4;
            int64_t kk = k0 + r, j = col0 + nc;
            float *dst = bs + r * NDLCU_BLD_N + nc;
            if (b_vec && kk < k && j + 3 < n) {
                ndlcu_cp16(dst, ops.b_ptr(kk, j));
            } else {
    #pragma unroll 1
            for (int v = 0; v < 4; v++)
                    ndlcu_cp4(dst + v, kk < k && j + v < n ? ops.b_ptr(kk, j + v) : nullptr, fallback);
            }
        }
    }
}

template <class Ops, bool Bkf, class Params>
static __global__ void __launch_bounds__(NDLCU_GEMM_THREADS, 2) ndlcu_gemm_mma_k(Params p)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    extern __shared__ __align__(16) float ndlcu_smem[];
    const Ops ops = Ops::make(p, (int64_t)blockIdx.z);
    float *as = ndlcu_smem, *bs = ndlcu_smem + NDLCU_STAGES * NDLCU_A_STAGE;
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, wr = warp / 4, wc = warp % 4, g = lane / 4, t = lane % 4;
    int64_t row0 = (int64_t)blockIdx.y * NDLCU_BM, col0 = (int64_t)blockIdx.x * NDLCU_BN, k = ops.depth();
    int64_t ktiles = (k + NDLCU_BK - 1) / NDLCU_BK;
    bool a_vec = ops.a_vec(), b_vec = ops.b_vec();
    float acc[4][4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[i][j][e] = 0.0f;
#pragma unroll
    for (int s = 0; s < NDLCU_STAGES - 1; s++) {
        if (s < ktiles)
            ndlcu_gemm_stage<Ops, Bkf>(ops, row0, col0, s * NDLCU_BK, a_vec, b_vec, as + s * NDLCU_A_STAGE,
                                       bs + s * NDLCU_B_STAGE);
        asm volatile("cp.async.commit_group;\n" ::);
    }
    for (int64_t kt = 0; kt < ktiles; kt++) {
        /* tile kt has landed (for every thread after the barrier), and every warp is done
         * with tile kt - 1, whose stage the prefetch below refills */
        asm volatile("cp.async.wait_group %0;\n" ::"n"(NDLCU_STAGES - 2));
        __syncthreads();
        int64_t next = kt + NDLCU_STAGES - 1;
        if (next < ktiles) {
            int s = (int)(next % NDLCU_STAGES);
            ndlcu_gemm_stage<Ops, Bkf>(ops, row0, col0, next * NDLCU_BK, a_vec, b_vec, as + s * NDLCU_A_STAGE,
                                       bs + s * NDLCU_B_STAGE);
        }
        asm volatile("cp.async.commit_group;\n" ::); /* an empty group keeps the count */
        const float *at = as + (kt % NDLCU_STAGES) * NDLCU_A_STAGE + (wr * 64 + g) * NDLCU_ALD + t;
        const float *bt = bs + (kt % NDLCU_STAGES) * NDLCU_B_STAGE +
                          (Bkf ? (wc * 32 + g) * NDLCU_ALD + t : t * NDLCU_BLD_N + wc * 32 + g);
#pragma unroll
        for (int kk = 0; kk < NDLCU_BK; kk += 8) {
            unsigned bhi[4][2], blo[4][2];
#pragma unroll
            for (int j = 0; j < 4; j++)
#pragma unroll
                for (int h = 0; h < 2; h++) { /* (k t + 4h, n g) of the 8 columns j */
                    float v = Bkf ? bt[j * 8 * NDLCU_ALD + kk + 4 * h] : bt[(kk + 4 * h) * NDLCU_BLD_N + j * 8];
                    bhi[j][h] = ndlcu_tf32(v);
                    blo[j][h] = ndlcu_tf32(v - __uint_as_float(bhi[j][h]));
                }
#pragma unroll
            for (int i = 0; i < 4; i++) {
                unsigned ahi[4], alo[4];
#pragma unroll
                for (int e = 0; e < 4; e++) { /* (row g + 8 (e & 1), k t + 4 (e >> 1)) */
                    float v = at[(i * 16 + 8 * (e & 1)) * NDLCU_ALD + kk + 4 * (e >> 1)];
                    ahi[e] = ndlcu_tf32(v);
                    alo[e] = ndlcu_tf32(v - __uint_as_float(ahi[e]));
                }
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    if (NDLCU_TF32_PASSES == 3) { /* small terms first */
                        ndlcu_mma(acc[i][j], alo, bhi[j]);
                        ndlcu_mma(acc[i][j], ahi, blo[j]);
                    }
                    ndlcu_mma(acc[i][j], ahi, bhi[j]);
                }
            }
        }
    }
    asm volatile("cp.async.wait_group 0;\n" ::);
    /* the fused epilogue straight from the accumulators: (g + 8 (e >> 1), 2t + (e & 1)) */
    int64_t m = ops.rows(), n = ops.cols();
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int64_t r = row0 + wr * 64 + i * 16 + g + 8 * (e >> 1), c = col0 + wc * 32 + j * 8 + 2 * t + (e & 1);
                if (r < m && c < n) ops.store(r, c, acc[i][j][e]);
            }
#else
    (void)p;
    __trap(); /* built for a GPU without TF32 tensor cores: fail loudly, never a wrong result */
#endif
}

/* Launches the mma kernel; more than the default 48 KiB of dynamic shared memory must be
 * asked for per kernel. */
template <class Ops, bool Bkf, class Params> static int ndlcu_gemm_mma(const Params &p, dim3 grid, cudaStream_t st)
{
    cudaError_t e = cudaFuncSetAttribute(ndlcu_gemm_mma_k<Ops, Bkf, Params>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         NDLCU_GEMM_SMEM);
    if (e != cudaSuccess) return ndlcu_status(e);
    ndlcu_gemm_mma_k<Ops, Bkf, Params><<<grid, NDLCU_GEMM_THREADS, NDLCU_GEMM_SMEM, st>>>(p);
    return ndlcu_launched();
}

/* ---- Hopper: warpgroup MMA (wgmma) TF32, opt-in ---------------------------------------------
 * -DNDLCU_GEMM_WGMMA, built for sm_90a (-gencode arch=compute_90a,code=sm_90a): the GEMMs
 * whose B is K-major (linear, conv2d: Bkf) run on wgmma.mma_async m64n256k8 TF32 on a device
 * of compute capability 9.0; matmul's [k, n] B and every other device keep the mma.sync
 * kernel (wgmma reads TF32 operands K-major only, and transposing B on its way into shared
 * memory would cost the 4-byte copies that the fast path avoids). Plain TF32 only: it needs
 * -DNDLCU_TF32_PASSES=1 (the 3xTF32 split would need hi/lo copies of both tiles in shared
 * memory), and the tensor cores read the f32 bits truncated to TF32 (no cvt.rna rounding).
 * Two kernels: a plain GEMM whose rows are 16-byte aligned (a linear) runs on the TMA kernel
 * of the next section (H200, 4096^3: 339-347 TFLOP/s, 69-70% of the dense TF32 peak); the others
 * (conv2d's implicit GEMM, batched or unaligned operands) on the cp.async kernel here
 * (137 TFLOP/s on the same GEMM). Both are checked on an H200 by tests/gpu/run.sh (the
 * 4096^3 GEMM and edge shapes against a double reference) and by the linear and conv2d
 * goldens.
 * Block tile 128 x 256 x 32, two warpgroups of 64 x 256 (128 f32 accumulators a thread).
 * A k-tile of 32 floats is one 128-byte row per matrix row, stored with the 128-byte swizzle
 * (16-byte chunk c of row r at chunk c ^ (r % 8), 8-row atoms of 1024 bytes), which is the
 * layout a K-major wgmma descriptor with swizzle mode 1 reads without bank conflicts. Every
 * thread copies with cp.async into a NDLCU_WG_STAGES-deep ring, NDLCU_WG_STAGES - 2 tiles
 * ahead, so that one wgmma group stays in flight while the next is issued. */
#ifdef NDLCU_GEMM_WGMMA
enum { NDLCU_WG_BM = 128, NDLCU_WG_BN = 256, NDLCU_WG_BK = 32, NDLCU_WG_STAGES = 4, NDLCU_WG_THREADS = 256 };
enum {
    NDLCU_WG_A_STAGE = NDLCU_WG_BM * NDLCU_WG_BK, /* floats */
    NDLCU_WG_B_STAGE = NDLCU_WG_BN * NDLCU_WG_BK,
    /* + 1024: the dynamic buffer is aligned up to the swizzle atom */
    NDLCU_WG_SMEM = NDLCU_WG_STAGES * (NDLCU_WG_A_STAGE + NDLCU_WG_B_STAGE) * (int)sizeof(float) + 1024
};
static_assert(NDLCU_WG_BK * sizeof(float) == 128, "a k-tile row is one 128-byte swizzle row");
static_assert((int)NDLCU_WG_BM == (int)NDLCU_BM && (int)NDLCU_WG_BN == 2 * (int)NDLCU_BN,
              "ndlcu_gemm_wgmma derives its grid from the mma kernel's");

#if NDLCU_TF32_PASSES != 1
#error "-DNDLCU_GEMM_WGMMA is plain TF32: build with -DNDLCU_TF32_PASSES=1 too"
#endif
#include <cuda.h>         /* CUtensorMap and its enums (types only: nothing links libcuda) */
#include <cudaTypedefs.h> /* PFN_cuTensorMapEncodeTiled */

/* One k-tile (from k0) of `rows` K-major rows from row0 into a swizzled stage: row i of the
 * operand is A's row i, or (IsB) B's column i (a linear weight's row). */
template <class Ops, bool IsB>
static __device__ __forceinline__ void ndlcu_wg_tile(const Ops &ops, int64_t row0, int64_t k0, bool vec, float *tile)
{
    enum { ROWS = IsB ? NDLCU_WG_BN : NDLCU_WG_BM, CHUNKS = NDLCU_WG_BK / 4 };
    int64_t lim = IsB ? ops.cols() : ops.rows(), k = ops.depth();
    const float *fallback = ops.b_ptr(0, 0);
#pragma unroll
    for (int e = 0; e < ROWS * CHUNKS / NDLCU_WG_THREADS; e++) {
        int c = threadIdx.x + e * NDLCU_WG_THREADS, r = c / CHUNKS, ch = c % CHUNKS;
        int64_t i = row0 + r, kk = k0 + ch * 4;
        float *dst = tile + r * NDLCU_WG_BK + (ch ^ (r & 7)) * 4;
        if (vec && i < lim && kk + 3 < k) {
            ndlcu_cp16(dst, IsB ? ops.b_ptr(kk, i) : ops.a_ptr(i, kk));
        } else {
#pragma unroll 1
            for (int v = 0; v < 4; v++) {
                const float *src = nullptr;
                if (i < lim && kk + v < k) src = IsB ? ops.b_ptr(kk + v, i) : ops.a_ptr(i, kk + v);
                ndlcu_cp4(dst + v, src, fallback);
            }
        }
    }
}

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
/* The shared-memory matrix descriptor of a K-major swizzled tile (1024-byte aligned): start
 * address >> 4 in bits 0-13, leading byte offset (unused for K-major swizzled tiles; 1 by
 * convention) in 16-29, stride byte offset between 8-row atoms (1024 >> 4) in 32-45, base
 * offset 0 (bits 49-51), swizzle mode 1 = 128 bytes in bits 62-63. */
static __device__ __forceinline__ uint64_t ndlcu_wg_desc(const float *tile)
{
    uint64_t a = (uint64_t)__cvta_generic_to_shared(tile);
    return ((a & 0x3FFFF) >> 4) | (1ull << 16) | (64ull << 32) | (1ull << 62);
}

/* Orders the accumulators against the volatile asm around them (the wgmma fences and waits):
 * without it the compiler may move their initialization past wgmma.fence or read them
 * before wgmma.wait_group, as neither statement names the registers. */
template <int N = 128> static __device__ __forceinline__ void ndlcu_wg_fence_operands(float d[N])
{
#pragma unroll
    for (int e = 0; e < N; e++) asm volatile("" : "+f"(d[e])::"memory");
}

/* wgmma's accumulator operands: the register names of d[0..63] and d[64..127] in the
 * instruction, and d's elements as "+f" operands, 8 at a time */
#define NDLCU_WG_D0_63 \
    "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
    "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, " \
    "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
    "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
#define NDLCU_WG_D64_127 \
    "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, " \
    "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, " \
    "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, " \
    "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"
#define NDLCU_WG_ACC8(i) \
    "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), "+f"(d[i + 6]), "+f"(d[i + 7])
#define NDLCU_WG_ACC64(i) \
    NDLCU_WG_ACC8(i), NDLCU_WG_ACC8(i + 8), NDLCU_WG_ACC8(i + 16), NDLCU_WG_ACC8(i + 24), NDLCU_WG_ACC8(i + 32), \
        NDLCU_WG_ACC8(i + 40), NDLCU_WG_ACC8(i + 48), NDLCU_WG_ACC8(i + 56)

/* d += A (64 x 8, desc a) B (8 x 256, desc b) for the warpgroup, asynchronously */
static __device__ __forceinline__ void ndlcu_wgmma_n256(float d[128], uint64_t a, uint64_t b)
{
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n256k8.f32.tf32.tf32 {" NDLCU_WG_D0_63 ", " NDLCU_WG_D64_127
                 "}, %128, %129, p, 1, 1;\n}\n"
                 : NDLCU_WG_ACC64(0), NDLCU_WG_ACC64(64)
                 : "l"(a), "l"(b), "r"(1));
}

/* d += A (64 x 8, desc a) B (8 x 128, desc b): as ndlcu_wgmma_n256 on half the columns */
static __device__ __forceinline__ void ndlcu_wgmma_n128(float d[64], uint64_t a, uint64_t b)
{
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k8.f32.tf32.tf32 {" NDLCU_WG_D0_63
                 "}, %64, %65, p, 1, 1;\n}\n"
                 : NDLCU_WG_ACC64(0)
                 : "l"(a), "l"(b), "r"(1));
}
#endif

template <class Ops, class Params>
static __global__ void __launch_bounds__(NDLCU_WG_THREADS, 1) ndlcu_gemm_wgmma_k(Params p)
{
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    extern __shared__ __align__(16) unsigned char ndlcu_wg_smem[];
    /* the swizzle is of shared-memory address bits: align the shared address itself */
    unsigned base = (unsigned)__cvta_generic_to_shared(ndlcu_wg_smem);
    float *as = (float *)(ndlcu_wg_smem + ((1024 - base % 1024) % 1024));
    float *bs = as + NDLCU_WG_STAGES * NDLCU_WG_A_STAGE;
    const Ops ops = Ops::make(p, (int64_t)blockIdx.z);
    int wg = threadIdx.x / 128, warp = threadIdx.x % 128 / 32, lane = threadIdx.x % 32;
    int64_t row0 = (int64_t)blockIdx.y * NDLCU_WG_BM, col0 = (int64_t)blockIdx.x * NDLCU_WG_BN, k = ops.depth();
    int64_t ktiles = (k + NDLCU_WG_BK - 1) / NDLCU_WG_BK;
    bool a_vec = ops.a_vec(), b_vec = ops.b_vec();
    float d[128];
#pragma unroll
    for (int e = 0; e < 128; e++) d[e] = 0.0f;
    ndlcu_wg_fence_operands(d);
#pragma unroll
    for (int s = 0; s < NDLCU_WG_STAGES - 2; s++) {
        if (s < ktiles) {
            ndlcu_wg_tile<Ops, false>(ops, row0, s * NDLCU_WG_BK, a_vec, as + s * NDLCU_WG_A_STAGE);
            ndlcu_wg_tile<Ops, true>(ops, col0, s * NDLCU_WG_BK, b_vec, bs + s * NDLCU_WG_B_STAGE);
        }
        asm volatile("cp.async.commit_group;\n" ::);
    }
    for (int64_t kt = 0; kt < ktiles; kt++) {
        /* this thread's copies of tile kt have landed; the proxy fence makes them visible to
         * the tensor cores' (async proxy) reads; after the barrier, every thread's have, and
         * every warpgroup's wgmma of tile kt - 2 is complete (wait_group 1 below), so the
         * stage of tile kt - 2 = kt + STAGES - 2 can be refilled */
        asm volatile("cp.async.wait_group %0;\n" ::"n"(NDLCU_WG_STAGES - 3));
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
        __syncthreads();
        int64_t next = kt + NDLCU_WG_STAGES - 2;
        if (next < ktiles) {
            int s = (int)(next % NDLCU_WG_STAGES);
            ndlcu_wg_tile<Ops, false>(ops, row0, next * NDLCU_WG_BK, a_vec, as + s * NDLCU_WG_A_STAGE);
            ndlcu_wg_tile<Ops, true>(ops, col0, next * NDLCU_WG_BK, b_vec, bs + s * NDLCU_WG_B_STAGE);
        }
        asm volatile("cp.async.commit_group;\n" ::); /* an empty group keeps the count */
        int s = (int)(kt % NDLCU_WG_STAGES);
        uint64_t da = ndlcu_wg_desc(as + s * NDLCU_WG_A_STAGE + wg * 64 * NDLCU_WG_BK);
        uint64_t db = ndlcu_wg_desc(bs + s * NDLCU_WG_B_STAGE);
        asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#pragma unroll
        for (int kk = 0; kk < NDLCU_WG_BK / 8; kk++) /* 8 TF32 = 32 bytes further along the swizzled row */
            ndlcu_wgmma_n256(d, da + 2 * kk, db + 2 * kk);
        asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
        asm volatile("wgmma.wait_group.sync.aligned 1;\n" ::: "memory");
    }
    asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
    ndlcu_wg_fence_operands(d);
    asm volatile("cp.async.wait_group 0;\n" ::);
    /* the accumulator layout of m64nNk8: d[e] is (16 warp + lane / 4 + 8 ((e >> 1) & 1),
     * 8 (e >> 2) + 2 (lane % 4) + (e & 1)) of the warpgroup's 64 x 256 */
    int64_t m = ops.rows(), n = ops.cols();
#pragma unroll
    for (int e = 0; e < 128; e++) {
        int64_t r = row0 + wg * 64 + warp * 16 + lane / 4 + 8 * ((e >> 1) & 1);
        int64_t c = col0 + 8 * (e >> 2) + 2 * (lane % 4) + (e & 1);
        if (r < m && c < n) ops.store(r, c, d[e]);
    }
#else
    (void)p;
    /* launched only on compute capability 9.0, where the driver picks the sm_90a code; this
     * body is the PTX for compute_90 that `-arch=sm_90a` also embeds (nvcc 13.0), or a build
     * for plain sm_90, which cannot run wgmma: fail loudly, never a wrong result */
    __trap();
#endif
}

/* The device runs the wgmma kernel: compute capability 9.0 exactly (sm_90a code runs on
 * no other). */
static bool ndlcu_wgmma_device(void)
{
    int dev = 0, major = 0, minor = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) ||
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev)) {
        cudaGetLastError();
        return false;
    }
    return major == 9 && minor == 0;
}

/* grid: the mma kernel's (128 x 128 tiles); the wgmma tile is twice as wide */
template <class Ops, class Params> static int ndlcu_gemm_wgmma(const Params &p, dim3 grid, cudaStream_t st)
{
    cudaError_t e = cudaFuncSetAttribute(ndlcu_gemm_wgmma_k<Ops, Params>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         NDLCU_WG_SMEM);
    if (e != cudaSuccess) return ndlcu_status(e);
    grid.x = (grid.x + 1) / 2;
    ndlcu_gemm_wgmma_k<Ops, Params><<<grid, NDLCU_WG_THREADS, NDLCU_WG_SMEM, st>>>(p);
    return ndlcu_launched();
}

/* ---- Hopper: TMA + wgmma, warp-specialized, B multicast across a cluster --------------------
 * For an unbatched GEMM with K-major B whose operands' rows are 16-byte aligned (a linear):
 * the cp.async kernel above spends its time on 256 threads copying 48 KiB per k-tile and on
 * a block-wide barrier per k-tile (H200: 27% of the TF32 peak). Here one lane of a ninth
 * warp (the producer) moves each tile with the tensor memory accelerator: a tensor map
 * describes the operand, one instruction copies a box of rows x 32 floats into shared memory
 * in the 128-byte swizzle that the wgmma descriptors read, zero-filling what lies outside the
 * matrix. The two consumer warpgroups (64 rows each) and the producer hand the stages over
 * with mbarriers (full: the stage's bytes have landed; empty: every warp that read it is
 * done), with no block-wide barrier in the loop. NDLCU_TMA_CLUSTER CTAs along M (the same
 * B columns) form a thread-block cluster: each loads 1/CLUSTER of the B tile and multicasts
 * it to all of them, so that L2 delivers each B tile once per cluster; a stage is refilled
 * once the warps of every CTA in the cluster released it. The tensor maps are encoded on
 * the host at each launch (cuTensorMapEncodeTiled, reached through the runtime's
 * cudaGetDriverEntryPointByVersion: no libcuda to link) and passed as __grid_constant__
 * parameters.
 * The shape was chosen on an H200 (4096^3, TFLOP/s; tests/gpu/run.sh): 128 x 256 tiles,
 * one CTA per SM, 4 stages: 248; 128 x 128 tiles, two CTAs per SM: 3 stages 339-347, 2 stages
 * 336; the cluster of 2 over none: 328 / 292; of 4: 267; a wgmma group left in flight while
 * the next waits (LAG 1): 275 (2 stages). Two CTAs per SM overlap one's barrier waits and
 * epilogue with the other's wgmma. The macros below override the shape for tuning. */
#ifndef NDLCU_TMA_BN /* 128 or 256 columns a tile */
#define NDLCU_TMA_BN 128
#endif
#ifndef NDLCU_TMA_CTAS /* CTAs an SM holds at once */
#define NDLCU_TMA_CTAS 2
#endif
#ifndef NDLCU_TMA_STAGES
#define NDLCU_TMA_STAGES 3
#endif
#ifndef NDLCU_TMA_LAG /* wgmma groups left in flight, 0 or 1 */
#define NDLCU_TMA_LAG 0
#endif
#ifndef NDLCU_TMA_CLUSTER /* 1, 2 or 4 CTAs sharing B */
#define NDLCU_TMA_CLUSTER 2
#endif
enum {
    NDLCU_TMA_THREADS = NDLCU_WG_THREADS + 32, /* + the producer warp */
    NDLCU_TMA_BROWS = NDLCU_TMA_BN / NDLCU_TMA_CLUSTER,
    NDLCU_TMA_ACC = NDLCU_TMA_BN / 2, /* accumulators a thread: 64 x BN over 128 threads */
    NDLCU_TMA_B_STAGE = NDLCU_TMA_BN * NDLCU_WG_BK,
    NDLCU_TMA_STAGE_BYTES = (NDLCU_WG_BM + NDLCU_TMA_BN) * NDLCU_WG_BK * (int)sizeof(float),
    /* the stages, 1024 bytes of alignment slack, a full and an empty mbarrier per stage */
    NDLCU_TMA_SMEM = NDLCU_TMA_STAGES * NDLCU_TMA_STAGE_BYTES + 1024 + 2 * NDLCU_TMA_STAGES * 8
};
static_assert(NDLCU_TMA_BN == 256 || NDLCU_TMA_BN == 128, "NDLCU_TMA_BN: 128 or 256");
static_assert(NDLCU_TMA_CLUSTER == 1 || NDLCU_TMA_CLUSTER == 2 || NDLCU_TMA_CLUSTER == 4, "NDLCU_TMA_CLUSTER: 1, 2 or 4");
static_assert(NDLCU_TMA_LAG == 0 || (NDLCU_TMA_LAG == 1 && NDLCU_TMA_STAGES >= 2), "NDLCU_TMA_LAG: 0 or 1");
static_assert(NDLCU_TMA_CTAS * (NDLCU_TMA_SMEM + 1024) <= 228 * 1024, "the CTAs of an SM share its 228 KiB");

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
static __device__ __forceinline__ unsigned ndlcu_smem_addr(const void *p) { return (unsigned)__cvta_generic_to_shared(p); }

static __device__ __forceinline__ void ndlcu_mbar_init(uint64_t *bar, unsigned count)
{
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(ndlcu_smem_addr(bar)), "r"(count) : "memory");
}

/* the producer's arrival, announcing the bytes the stage's copies will complete */
static __device__ __forceinline__ void ndlcu_mbar_expect_tx(uint64_t *bar, unsigned bytes)
{
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(ndlcu_smem_addr(bar)), "r"(bytes)
                 : "memory");
}

/* until the phase of this parity has completed */
static __device__ __forceinline__ void ndlcu_mbar_wait(uint64_t *bar, unsigned parity)
{
    asm volatile("{\n.reg .pred done;\nNDLCU_WAIT:\n"
                 "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
                 "@!done bra NDLCU_WAIT;\n}\n" ::"r"(ndlcu_smem_addr(bar)),
                 "r"(parity)
                 : "memory");
}

/* arrives on the barrier at the same offset in CTA `cta` of the cluster (this one included).
 * The default (CTA-scope release) semantics, as CUTLASS's pipelines use: the wgmma reads it
 * publishes are complete (wgmma.wait_group), and a .release.cluster arrive costs two
 * MEMBARs per call (H200: 178 instead of 249 TFLOP/s with 128 x 256 tiles) */
static __device__ __forceinline__ void ndlcu_mbar_arrive_in(uint64_t *bar, unsigned cta)
{
    if (NDLCU_TMA_CLUSTER == 1) {
        asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(ndlcu_smem_addr(bar)) : "memory");
        return;
    }
    asm volatile("{\n.reg .b32 remote;\nmapa.shared::cluster.u32 remote, %0, %1;\n"
                 "mbarrier.arrive.shared::cluster.b64 _, [remote];\n}\n" ::"r"(ndlcu_smem_addr(bar)),
                 "r"(cta)
                 : "memory");
}

/* a box of the tensor map from (k0, row0) into dst, completing bytes on bar; multicast:
 * into dst and bar at the same offsets in every CTA of mask */
static __device__ __forceinline__ void ndlcu_tma_load(float *dst, const CUtensorMap *map, int k0, int row0, uint64_t *bar)
{
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n" ::"r"(
                     ndlcu_smem_addr(dst)),
                 "l"(map), "r"(k0), "r"(row0), "r"(ndlcu_smem_addr(bar))
                 : "memory");
}
static __device__ __forceinline__ void ndlcu_tma_multicast(float *dst, const CUtensorMap *map, int k0, int row0,
                                                           uint64_t *bar, uint16_t mask)
{
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes.multicast::cluster "
                 "[%0], [%1, {%2, %3}], [%4], %5;\n" ::"r"(ndlcu_smem_addr(dst)),
                 "l"(map), "r"(k0), "r"(row0), "r"(ndlcu_smem_addr(bar)), "h"(mask)
                 : "memory");
}

/* every thread of every CTA in the cluster */
static __device__ __forceinline__ void ndlcu_cluster_sync(void)
{
    asm volatile("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;\n" ::: "memory");
}
#endif

template <int = 0>
static __global__ void __cluster_dims__(1, NDLCU_TMA_CLUSTER, 1) __launch_bounds__(NDLCU_TMA_THREADS, NDLCU_TMA_CTAS)
    ndlcu_gemm_tma_k(const __grid_constant__ CUtensorMap amap, const __grid_constant__ CUtensorMap bmap, NdlcuGemm p)
{
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    extern __shared__ __align__(16) unsigned char ndlcu_tma_smem[];
    unsigned base = ndlcu_smem_addr(ndlcu_tma_smem);
    float *as = (float *)(ndlcu_tma_smem + ((1024 - base % 1024) % 1024));
    float *bs = as + NDLCU_TMA_STAGES * NDLCU_WG_A_STAGE;
    uint64_t *full = (uint64_t *)(bs + NDLCU_TMA_STAGES * NDLCU_TMA_B_STAGE), *empty = full + NDLCU_TMA_STAGES;
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    unsigned rank;
    asm("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(rank));
    int row0 = (int)blockIdx.y * NDLCU_WG_BM, col0 = (int)blockIdx.x * NDLCU_TMA_BN;
    int ktiles = (int)((p.k + NDLCU_WG_BK - 1) / NDLCU_WG_BK);
    if (threadIdx.x == 0) {
        for (int s = 0; s < NDLCU_TMA_STAGES; s++) {
            ndlcu_mbar_init(&full[s], 1);
            ndlcu_mbar_init(&empty[s], NDLCU_WG_THREADS / 32 * NDLCU_TMA_CLUSTER);
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    /* every CTA's barriers exist before any multicast or remote arrival reaches them */
    ndlcu_cluster_sync();
    if (warp == NDLCU_WG_THREADS / 32) { /* the producer: one lane */
        if (lane == 0) {
            for (int kt = 0; kt < ktiles; kt++) {
                int s = kt % NDLCU_TMA_STAGES;
                /* the stage's previous tile released in every CTA (a fresh barrier counts
                 * its phase before the first as complete: the first round does not wait) */
                ndlcu_mbar_wait(&empty[s], ((kt / NDLCU_TMA_STAGES) & 1) ^ 1);
                ndlcu_mbar_expect_tx(&full[s], NDLCU_TMA_STAGE_BYTES);
                ndlcu_tma_load(as + s * NDLCU_WG_A_STAGE, &amap, kt * NDLCU_WG_BK, row0, &full[s]);
                float *bdst = bs + s * NDLCU_TMA_B_STAGE + rank * NDLCU_TMA_BROWS * NDLCU_WG_BK;
                if (NDLCU_TMA_CLUSTER == 1)
                    ndlcu_tma_load(bdst, &bmap, kt * NDLCU_WG_BK, col0, &full[s]);
                else
                    ndlcu_tma_multicast(bdst, &bmap, kt * NDLCU_WG_BK, col0 + (int)rank * NDLCU_TMA_BROWS, &full[s],
                                        (uint16_t)((1u << NDLCU_TMA_CLUSTER) - 1));
            }
        }
        __syncwarp();
    } else { /* a consumer warp of warpgroup wg: rows wg * 64 .. + 63 of the tile */
        int wg = warp / 4;
        float d[NDLCU_TMA_ACC];
#pragma unroll
        for (int e = 0; e < NDLCU_TMA_ACC; e++) d[e] = 0.0f;
        ndlcu_wg_fence_operands<NDLCU_TMA_ACC>(d);
        for (int kt = 0; kt < ktiles; kt++) {
            int s = kt % NDLCU_TMA_STAGES;
            ndlcu_mbar_wait(&full[s], (kt / NDLCU_TMA_STAGES) & 1);
            __syncwarp(); /* the lanes leave the spin apart; wgmma is .aligned */
            uint64_t da = ndlcu_wg_desc(as + s * NDLCU_WG_A_STAGE + wg * 64 * NDLCU_WG_BK);
            uint64_t db = ndlcu_wg_desc(bs + s * NDLCU_TMA_B_STAGE);
            asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#pragma unroll
            for (int kk = 0; kk < NDLCU_WG_BK / 8; kk++) {
#if NDLCU_TMA_BN == 256
                ndlcu_wgmma_n256(d, da + 2 * kk, db + 2 * kk);
#else
                ndlcu_wgmma_n128(d, da + 2 * kk, db + 2 * kk);
#endif
            }
            asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
            asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(NDLCU_TMA_LAG) : "memory");
            /* the wgmma of k-tile kt - LAG is complete: its stage may be refilled */
            if (kt >= NDLCU_TMA_LAG && lane == 0)
                for (unsigned c = 0; c < NDLCU_TMA_CLUSTER; c++)
                    ndlcu_mbar_arrive_in(&empty[(kt - NDLCU_TMA_LAG) % NDLCU_TMA_STAGES], c);
        }
        asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
        ndlcu_wg_fence_operands<NDLCU_TMA_ACC>(d);
        const NdlcuGemmOperands ops = NdlcuGemmOperands::make(p, 0);
        int64_t m = ops.rows(), n = ops.cols();
        /* d[e], d[e + 1] are adjacent columns: one 8-byte store where both are in range
         * and aligned (most of them; the epilogue is per element either way) */
        bool pairs = p.ldc % 2 == 0 && ((uintptr_t)p.c & 7) == 0;
#pragma unroll
        for (int e = 0; e < NDLCU_TMA_ACC; e += 2) {
            int64_t r = row0 + wg * 64 + warp % 4 * 16 + lane / 4 + 8 * ((e >> 1) & 1);
            int64_t c = col0 + 8 * (e >> 2) + 2 * (lane % 4);
            if (r >= m) continue;
            if (pairs && c + 1 < n) {
                int64_t at = r * p.ldc + c;
                float2 v = make_float2(ndlcu_epilogue(p.ep, d[e], c, at), ndlcu_epilogue(p.ep, d[e + 1], c + 1, at + 1));
                *(float2 *)(p.c + at) = v;
            } else {
                if (c < n) ops.store(r, c, d[e]);
                if (c + 1 < n) ops.store(r, c + 1, d[e + 1]);
            }
        }
    }
    /* no CTA exits while another may still multicast into it or arrive on its barriers */
    __syncwarp();
    ndlcu_cluster_sync();
#else
    (void)amap, (void)bmap, (void)p;
    __trap(); /* as ndlcu_gemm_wgmma_k: launched only where the sm_90a code runs */
#endif
}

/* the driver's cuTensorMapEncodeTiled, or null; looked up once per process (a constant
 * after C++'s thread-safe static initialization), as the lookup is a cost on every launch */
typedef PFN_cuTensorMapEncodeTiled_v12000 NdlcuTmaEncoder;
static NdlcuTmaEncoder ndlcu_tma_encoder(void)
{
    static const NdlcuTmaEncoder encoder = [] {
        void *fn = nullptr;
        cudaDriverEntryPointQueryResult found;
        if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &found) !=
                cudaSuccess ||
            found != cudaDriverEntryPointSuccess) {
            cudaGetLastError();
            fn = nullptr;
        }
        return (NdlcuTmaEncoder)fn;
    }();
    return encoder;
}

/* a 2-D tensor map of rows x cols floats (row stride ld) in boxes of box_rows x 32 with the
 * 128-byte swizzle; false if the driver has no cuTensorMapEncodeTiled or refuses the shape */
static bool ndlcu_tma_map(CUtensorMap *map, const float *base, int64_t rows, int64_t cols, int64_t ld, unsigned box_rows)
{
    NdlcuTmaEncoder encode = ndlcu_tma_encoder();
    if (!encode) return false;
    cuuint64_t dims[2] = {(cuuint64_t)cols, (cuuint64_t)rows}, strides[1] = {(cuuint64_t)ld * sizeof(float)};
    cuuint32_t box[2] = {NDLCU_WG_BK, box_rows}, elem_strides[2] = {1, 1};
    return encode(map, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 2, (void *)base, dims, strides, box, elem_strides,
                  CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                  CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

/* The TMA kernel when it applies (see above); false: the cp.async wgmma kernel runs.
 * Conv2d's im2col rows are no tensor map's boxes. */
static bool ndlcu_gemm_tma(const NdlcuConv &, dim3, cudaStream_t, int *) { return false; }
static bool ndlcu_gemm_tma(const NdlcuGemm &p, dim3 grid, cudaStream_t st, int *status)
{
    const int64_t lim = INT32_MAX - 2 * NDLCU_TMA_BN; /* coordinates are int32 */
    if (grid.z != 1 || !p.trans_b || p.lda % 4 || p.ldb % 4 || ((uintptr_t)p.a & 15) || ((uintptr_t)p.b & 15) ||
        p.m > lim || p.n > lim || p.k > lim || (grid.y + NDLCU_TMA_CLUSTER - 1) / NDLCU_TMA_CLUSTER * NDLCU_TMA_CLUSTER > 65535)
        return false;
    CUtensorMap amap, bmap;
    if (!ndlcu_tma_map(&amap, p.a, p.m, p.k, p.lda, NDLCU_WG_BM) ||
        !ndlcu_tma_map(&bmap, p.b, p.n, p.k, p.ldb, NDLCU_TMA_BROWS))
        return false;
    cudaError_t e = cudaFuncSetAttribute(ndlcu_gemm_tma_k<>, cudaFuncAttributeMaxDynamicSharedMemorySize, NDLCU_TMA_SMEM);
    if (e == cudaSuccess && NDLCU_TMA_CTAS > 1) /* all of the SM's memory as shared, for the CTAs side by side */
        e = cudaFuncSetAttribute(ndlcu_gemm_tma_k<>, cudaFuncAttributePreferredSharedMemoryCarveout, 100);
    if (e != cudaSuccess) {
        *status = ndlcu_status(e);
        return true;
    }
    /* a CTA per 128 x BN tile, in clusters along M */
    int64_t tiles_m = (p.m + NDLCU_WG_BM - 1) / NDLCU_WG_BM, tiles_n = (p.n + NDLCU_TMA_BN - 1) / NDLCU_TMA_BN;
    dim3 g((unsigned)tiles_n, (unsigned)((tiles_m + NDLCU_TMA_CLUSTER - 1) / NDLCU_TMA_CLUSTER * NDLCU_TMA_CLUSTER), 1);
    ndlcu_gemm_tma_k<><<<g, NDLCU_TMA_THREADS, NDLCU_TMA_SMEM, st>>>(amap, bmap, p);
    *status = ndlcu_launched();
    return true;
}

/* The wgmma path for K-major B only, as a specialization: a model with only matmuls never
 * instantiates the kernel. run: false when the mma kernel must run instead. */
template <bool Bkf> struct NdlcuWgmmaPath {
    template <class Ops, class Params> static bool run(const Params &, dim3, cudaStream_t, int *) { return false; }
};
template <> struct NdlcuWgmmaPath<true> {
    template <class Ops, class Params> static bool run(const Params &p, dim3 grid, cudaStream_t st, int *status)
    {
        if (!ndlcu_wgmma_device()) return false;
#ifndef NDLCU_WG_NO_TMA
        if (ndlcu_gemm_tma(p, grid, st, status)) return true;
#endif
        *status = ndlcu_gemm_wgmma<Ops>(p, grid, st);
        return true;
    }
};
#endif /* NDLCU_GEMM_WGMMA */

/* The GEMM over grid: the mma kernel, or with -DNDLCU_GEMM_V1 the wmma one (kept as a
 * switch should the new kernel misbehave on some GPU), or with -DNDLCU_GEMM_WGMMA on a
 * compute capability 9.0 device the wgmma kernel when B is K-major. Bkf (B's k index runs
 * fastest) is a template argument, so only the variant a caller uses is compiled. */
template <class Ops, bool Bkf, class Params> static int ndlcu_gemm_launch(const Params &p, dim3 grid, cudaStream_t st)
{
#ifdef NDLCU_GEMM_V1
    ndlcu_gemm_k<Ops, Params><<<grid, NDLCU_GEMM_THREADS, 0, st>>>(p);
    return ndlcu_launched();
#else
#ifdef NDLCU_GEMM_WGMMA
    int status = NDLRT_OK;
    if (NdlcuWgmmaPath<Bkf>::template run<Ops>(p, grid, st, &status)) return status;
#endif
    return ndlcu_gemm_mma<Ops, Bkf>(p, grid, st);
#endif
}

/* Few rows against a linear weight (batch-1 inference): a warp per output element in f32 on
 * CUDA cores, reading both rows coalesced; a 128-row tensor-core tile would be mostly empty. */
enum { NDLCU_GEMV_MAX_ROWS = 8 };

static __global__ void ndlcu_gemv_k(NdlcuGemm p)
{
    int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32, nwarps = (int64_t)gridDim.x * blockDim.x / 32;
    int lane = threadIdx.x % 32;
    for (int64_t o = warp; o < p.m * p.n; o += nwarps) {
        int64_t i = o / p.n, j = o % p.n;
        const float *ar = p.a + i * p.lda, *br = p.b + j * p.ldb;
        float s = 0.0f;
        for (int64_t kk = lane; kk < p.k; kk += 32) s += ar[kk] * br[kk];
        for (int d = 16; d; d >>= 1) s += __shfl_xor_sync(0xffffffffu, s, d);
        if (lane == 0) p.c[i * p.ldc + j] = ndlcu_epilogue(p.ep, s, j, i * p.ldc + j);
    }
}

/* TransB is p->trans_b, which the generated code writes in both places: a template
 * argument, as is the conv's dummy one below, so that nvcc compiles only the tensor-core
 * kernels a model calls. Each is ~50k lines of PTX and ~15 s of ptxas; compiling all four
 * made every generated .cu, even one without a GEMM, take over a minute to build. */
template <bool TransB> static int ndlcu_gemm(const NdlcuGemm *p, cudaStream_t st)
{
    int64_t batch = 1;
    for (int k = 0; k < p->batch_rank; k++) batch *= p->batch_dims[k];
    if (p->m <= 0 || p->n <= 0 || batch <= 0) return NDLRT_OK;
    if (p->trans_b && batch == 1 && p->m <= NDLCU_GEMV_MAX_ROWS) {
        ndlcu_gemv_k<<<ndlcu_blocks(p->m * p->n * 32), NDLCU_THREADS, 0, st>>>(*p);
        return ndlcu_launched();
    }
    if (batch > 65535 || (p->m + NDLCU_BM - 1) / NDLCU_BM > 65535) return NDLRT_ESIZE;
    dim3 grid((unsigned)((p->n + NDLCU_BN - 1) / NDLCU_BN), (unsigned)((p->m + NDLCU_BM - 1) / NDLCU_BM),
              (unsigned)batch);
    return ndlcu_gemm_launch<NdlcuGemmOperands, TransB>(*p, grid, st);
}

/* Depthwise convolution (one input and one output channel per group): a thread per output
 * element, direct; as a GEMM each group would have a single column. */
static __global__ void ndlcu_depthwise_k(NdlcuConv p)
{
    NDLCU_FOR(i, p.n * p.o * p.oh * p.ow) {
        int64_t ox = i % p.ow, oy = (i / p.ow) % p.oh, ch = (i / (p.ow * p.oh)) % p.o, img = i / (p.ow * p.oh * p.o);
        const float *xs = p.x + (img * p.c + ch) * p.h * p.w, *ws = p.wt + ch * p.kh * p.kw;
        float acc = 0.0f;
        for (int64_t r = 0; r < p.kh; r++) {
            int64_t iy = oy * p.sh - p.ph + r * p.dh;
            if (iy < 0 || iy >= p.h) continue;
            for (int64_t q = 0; q < p.kw; q++) {
                int64_t ix = ox * p.sw - p.pw + q * p.dw;
                if (ix >= 0 && ix < p.w) acc += xs[iy * p.w + ix] * ws[r * p.kw + q];
            }
        }
        p.y[i] = ndlcu_epilogue(p.ep, acc, ch, i);
    }
}

template <int = 0> static int ndlcu_conv2d(const NdlcuConv *p, cudaStream_t st)
{
    int64_t rows = p->n * p->oh * p->ow, cols = p->o / p->groups;
    if (rows <= 0 || cols <= 0) return NDLRT_OK;
    if (p->groups == p->c && p->o == p->c) {
        ndlcu_depthwise_k<<<ndlcu_blocks(rows * p->o), NDLCU_THREADS, 0, st>>>(*p);
        return ndlcu_launched();
    }
    if (p->groups > 65535 || (rows + NDLCU_BM - 1) / NDLCU_BM > 65535) return NDLRT_ESIZE;
    dim3 grid((unsigned)((cols + NDLCU_BN - 1) / NDLCU_BN), (unsigned)((rows + NDLCU_BM - 1) / NDLCU_BM),
              (unsigned)p->groups);
    return ndlcu_gemm_launch<NdlcuConvOperands, true>(*p, grid, st);
}

/* ---- sparse weights: pruned linear and 1x1 conv layers (spec 8.2) ---------------------------
 * The weight W[n, k] is packed at compile time by ndlrt_sparse_pack (runtime/kernels/sparse.c,
 * whose file header gives the layouts): one f32 array, a header of NDLRT_SPARSE_HEADER floats
 * (format, n, k, nnz, N, M, ...) and the integers stored as exact floats. The GPU reads two of
 * its formats: CSR (ptr[n + 1], col[nnz], val[nnz]) and N:M (per group of M inputs a position
 * code sum_i pos_i << (log2(M) i), then N values per group; padding: position 0, value 0).
 * y[b, r, q] = epilogue(sum_c W[r, c] x[b, c, q]): a linear is planes of one (b: its rows),
 * a 1x1 conv has a plane of h*w per image b. A warp per output element: the lanes split the
 * nonzeros of row r (CSR) or its groups (N:M), then a shuffle sum. */
#ifndef NDLCU_SPARSE_H /* generated files carry the header's copy before this file */
#include "ndlcu_sparse.h"    /* the pack's index arithmetic, shared with tests/unit/test_cuda_sparse.c */
#endif

typedef struct NdlcuSparse {
    int format;              /* NDLRT_SPARSE_CSR or NDLRT_SPARSE_NM */
    int64_t batch, n, k, plane;
    const float *w;          /* ndlrt_sparse_pack() output, on the device */
    const float *x;          /* [batch, k, plane] */
    float *y;                /* [batch, n, plane] */
    NdlrtEpilogue ep;        /* bias by output row r, residual by output element */
} NdlcuSparse;

static __global__ void ndlcu_sparse_k(NdlcuSparse p)
{
    int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32, nwarps = (int64_t)gridDim.x * blockDim.x / 32;
    int lane = threadIdx.x % 32;
    for (int64_t o = warp; o < p.batch * p.n * p.plane; o += nwarps) {
        int64_t q = o % p.plane, r = (o / p.plane) % p.n, b = o / (p.plane * p.n);
        const float *xb = p.x + b * p.k * p.plane + q; /* x[b, c, q] = xb[c * plane] */
        float s = 0.0f;
        if (p.format == NDLRT_SPARSE_CSR) {
            NdlcuCsr c = ndlcu_csr_arrays(p.w, p.n);
            for (int64_t j = (int64_t)c.ptr[r] + lane; j < (int64_t)c.ptr[r + 1]; j += 32)
                s += c.val[j] * xb[(int64_t)c.col[j] * p.plane];
        } else { /* N:M */
            NdlcuNm nm = ndlcu_nm_shape(p.w, p.k);
            for (int64_t g = lane; g < nm.groups; g += 32) {
                const float *val;
                int code = (int)*ndlcu_nm_group(p.w, nm, p.n, r, g, &val);
                for (int j = 0; j < nm.nn; j++) s += val[j] * xb[ndlcu_nm_col(nm, g, code, j) * p.plane];
            }
        }
        for (int d = 16; d; d >>= 1) s += __shfl_xor_sync(0xffffffffu, s, d);
        if (lane == 0) p.y[o] = ndlcu_epilogue(p.ep, s, r, o);
    }
}

static int ndlcu_sparse(const NdlcuSparse *p, cudaStream_t st)
{
    if (p->batch <= 0 || p->n <= 0 || p->plane <= 0) return NDLRT_OK;
    ndlcu_sparse_k<<<ndlcu_blocks(p->batch * p->n * p->plane * 32), NDLCU_THREADS, 0, st>>>(*p);
    return ndlcu_launched();
}

/* ---- run-time row counts: mixture of experts (spec 8.4) and recurse (spec 8.3) --------------
 * An expert (or a recurse step) runs on the rows selected for it, a count known only on the
 * device. The host never reads it back (run_stream stays asynchronous): every layer of the
 * expert is launched over the reserved maximum (all T rows), the selected rows gathered to
 * the front and the rest zero-filled; layers are row-wise (backends/cuda/emit_ops.c refuses
 * others), so rows past the count never reach a selected row. The GEMM of a linear on such
 * rows reads the count and its blocks past it exit (ndlcu_gemm_rows). Semantics are those of
 * runtime/kernels/moe.c and the C backend's recurse layers: rows in token order, ties in
 * routing to the lower expert. */

/* moe routing, a thread per token; scratch: 2 E floats per token (the CPU kernel's 2 E, each) */
static __global__ void ndlcu_moe_route_k(int64_t T, int64_t E, const float *scores, int threshold, int64_t k, float p,
                                         int renorm, int softmax, float *gates, float *scratch)
{
    NDLCU_FOR(t, T) {
        const float *sc = scores + t * E;
        float *g = gates + t * E, *prob = scratch + t * 2 * E, *taken = prob + E;
        if (softmax) {
            float mx = -INFINITY;
            for (int64_t e = 0; e < E; e++)
                if (sc[e] > mx || isnan(sc[e])) mx = sc[e];
            double sum = 0;
            for (int64_t e = 0; e < E; e++) sum += expf(sc[e] - mx);
            for (int64_t e = 0; e < E; e++) prob[e] = (float)(expf(sc[e] - mx) / sum);
        } else {
            for (int64_t e = 0; e < E; e++) prob[e] = sc[e];
        }
        for (int64_t e = 0; e < E; e++) taken[e] = 0, g[e] = 0;
        double cum = 0;
        for (int64_t n = 0; n < k; n++) {
            int64_t best = -1;
            for (int64_t e = 0; e < E; e++)
                if (!taken[e] && (best < 0 || prob[e] > prob[best])) best = e;
            if (best < 0) break;
            taken[best] = 1;
            cum += prob[best];
            if (threshold && cum >= p) break;
        }
        for (int64_t e = 0; e < E; e++)
            if (taken[e] != 0) g[e] = renorm ? (float)(prob[e] / cum) : prob[e];
    }
}

static int ndlcu_moe_route(int64_t T, int64_t E, const float *scores, int threshold, int64_t k, float p, int renorm,
                           int softmax, float *gates, float *scratch, cudaStream_t st)
{
    if (T <= 0 || E <= 0) return NDLRT_OK;
    ndlcu_moe_route_k<<<ndlcu_blocks(T), NDLCU_THREADS, 0, st>>>(T, E, scores, threshold, k, p, renorm, softmax, gates,
                                                                  scratch);
    return ndlcu_launched();
}

/* gates of assign(idx): a one-hot row per token; an expert index out of range leaves the row
 * zero and sets *bad (the CPU kernel returns NDLRT_EINDEX) */
static __global__ void ndlcu_moe_assign_k(int64_t T, int64_t E, const void *idx, int i64, float *gates, int *bad)
{
    NDLCU_FOR(t, T) {
        int64_t e = ndlcu_index(idx, i64, t);
        for (int64_t j = 0; j < E; j++) gates[t * E + j] = 0.0f;
        if (e < 0 || e >= E) *bad = 1;
        else gates[t * E + e] = 1.0f;
    }
}

static int ndlcu_moe_assign(int64_t T, int64_t E, const void *idx, int i64, float *gates, int *bad, cudaStream_t st)
{
    if (T <= 0 || E <= 0) return NDLRT_OK;
    ndlcu_moe_assign_k<<<ndlcu_blocks(T), NDLCU_THREADS, 0, st>>>(T, E, idx, i64, gates, bad);
    return ndlcu_launched();
}

/* flag[t] = 1 when token t selected expert e (a nonzero gate), else 0 */
static __global__ void ndlcu_flag_gate_k(int64_t T, int64_t E, int64_t e, const float *gates, int64_t *flag)
{
    NDLCU_FOR(t, T) flag[t] = gates[t * E + e] != 0.0f;
}

static int ndlcu_flag_gate(int64_t T, int64_t E, int64_t e, const float *gates, int64_t *flag, cudaStream_t st)
{
    if (T <= 0) return NDLRT_OK;
    ndlcu_flag_gate_k<<<ndlcu_blocks(T), NDLCU_THREADS, 0, st>>>(T, E, e, gates, flag);
    return ndlcu_launched();
}

/* flag[t] = 1 when row t still recurses at this step (depth > step); a depth outside 0..max
 * sets *bad (NULL: not checked again) and is not selected */
template <typename D>
static __global__ void ndlcu_flag_depth_k(int64_t T, const D *depth, const int64_t *step, int64_t max, int64_t *flag,
                                          int *bad)
{
    NDLCU_FOR(t, T) {
        int64_t d = (int64_t)depth[t];
        bool ok = d >= 0 && d <= max;
        if (!ok && bad) *bad = 1;
        flag[t] = ok && d > step[0];
    }
}

template <typename D>
static int ndlcu_flag_depth(int64_t T, const D *depth, const int64_t *step, int64_t max, int64_t *flag, int *bad,
                            cudaStream_t st)
{
    if (T <= 0) return NDLRT_OK;
    ndlcu_flag_depth_k<D><<<ndlcu_blocks(T), NDLCU_THREADS, 0, st>>>(T, depth, step, max, flag, bad);
    return ndlcu_launched();
}

/* One block turns the flags into each row's place among the selected rows (-1: not
 * selected), in row order, and stores their number in *count: a warp ballot per 32 rows,
 * the warps' totals summed in order by thread 0, chunk by chunk. */
enum { NDLCU_COMPACT_THREADS = 1024 };

static __global__ void __launch_bounds__(NDLCU_COMPACT_THREADS) ndlcu_compact_k(int64_t T, int64_t *flag_row,
                                                                                int64_t *count)
{
    __shared__ int64_t warp_base[NDLCU_COMPACT_THREADS / 32];
    __shared__ int64_t base;
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    if (threadIdx.x == 0) base = 0;
    __syncthreads();
    for (int64_t c0 = 0; c0 < T; c0 += NDLCU_COMPACT_THREADS) { /* the same trip count in every thread */
        int64_t t = c0 + threadIdx.x;
        bool sel = t < T && flag_row[t] != 0;
        unsigned ballot = __ballot_sync(0xffffffffu, sel);
        if (lane == 0) warp_base[warp] = __popc(ballot);
        __syncthreads();
        if (threadIdx.x == 0) {
            int64_t run = base;
            for (int w = 0; w < NDLCU_COMPACT_THREADS / 32; w++) {
                int64_t n = warp_base[w];
                warp_base[w] = run;
                run += n;
            }
            base = run;
        }
        __syncthreads();
        if (t < T) flag_row[t] = sel ? warp_base[warp] + __popc(ballot & ((1u << lane) - 1u)) : -1;
        __syncthreads(); /* warp_base is rewritten by the next chunk */
    }
    if (threadIdx.x == 0) *count = base;
}

static int ndlcu_compact(int64_t T, int64_t *flag_row, int64_t *count, cudaStream_t st)
{
    ndlcu_compact_k<<<1, NDLCU_COMPACT_THREADS, 0, st>>>(T, flag_row, count);
    return ndlcu_launched();
}

/* y[row[t]] = x[t] for the selected rows t (row[t] >= 0); rows count.. of y (all T rows are
 * reserved) are zero-filled, so that the expert's layers read defined values there */
template <typename E>
static __global__ void ndlcu_rows_gather_k(int64_t T, int64_t d, const E *x, const int64_t *row, const int64_t *count,
                                           E *y)
{
    int64_t n = *count;
    NDLCU_FOR(i, T * d) {
        int64_t t = i / d, r = row[t];
        if (r >= 0) y[r * d + i % d] = x[i];
        if (t >= n) y[i] = E(0);
    }
}

template <typename E>
static int ndlcu_rows_gather(int64_t T, int64_t d, const E *x, const int64_t *row, const int64_t *count, E *y,
                             cudaStream_t st)
{
    if (T * d <= 0) return NDLRT_OK;
    ndlcu_rows_gather_k<E><<<ndlcu_blocks(T * d), NDLCU_THREADS, 0, st>>>(T, d, x, row, count, y);
    return ndlcu_launched();
}

/* moe_scatter: y[t] = acc[t] (0 without acc) + gates[t, e] * ye[row[t]] where t selected e */
static __global__ void ndlcu_moe_scatter_k(int64_t T, int64_t n, int64_t E, int64_t e, const float *acc,
                                           const float *ye, const float *gates, const int64_t *row, float *y)
{
    NDLCU_FOR(i, T * n) {
        int64_t t = i / n, r = row[t];
        float v = acc ? acc[i] : 0.0f;
        if (r >= 0) v += gates[t * E + e] * ye[r * n + i % n];
        y[i] = v;
    }
}

static int ndlcu_moe_scatter(int64_t T, int64_t n, int64_t E, int64_t e, const float *acc, const float *ye,
                             const float *gates, const int64_t *row, float *y, cudaStream_t st)
{
    if (T * n <= 0) return NDLRT_OK;
    ndlcu_moe_scatter_k<<<ndlcu_blocks(T * n), NDLCU_THREADS, 0, st>>>(T, n, E, e, acc, ye, gates, row, y);
    return ndlcu_launched();
}

/* recurse_scatter: y[t] = ye[row[t]] for the rows that recursed, x[t] for the others */
template <typename E>
static __global__ void ndlcu_recurse_scatter_k(int64_t T, int64_t d, const E *x, const E *ye, const int64_t *row, E *y)
{
    NDLCU_FOR(i, T * d) {
        int64_t r = row[i / d];
        y[i] = r >= 0 ? ye[r * d + i % d] : x[i];
    }
}

template <typename E>
static int ndlcu_recurse_scatter(int64_t T, int64_t d, const E *x, const E *ye, const int64_t *row, E *y,
                                 cudaStream_t st)
{
    if (T * d <= 0) return NDLRT_OK;
    ndlcu_recurse_scatter_k<E><<<ndlcu_blocks(T * d), NDLCU_THREADS, 0, st>>>(T, d, x, ye, row, y);
    return ndlcu_launched();
}

/* The GEMM of a layer on a run-time row count (a linear in an expert or a recurse body):
 * p->m is the reserved maximum, the rows in use are *count * per_row (per_row: the rows of
 * the layer's input per selected row). A plain tiled f32 GEMM on CUDA cores, 32 x 32 tiles
 * of 32 x 8 threads, 4 outputs a thread, with the same epilogue; blocks past the rows in
 * use exit at once (the grid covers the maximum, the count is never read on the host). The
 * tensor-core GEMM above is left as it is: it has no such exit. */
enum { NDLCU_RT = 32, NDLCU_RT_Y = 8 };

typedef struct NdlcuRowsGemm {
    NdlcuGemm g;             /* batch_rank 1, batch_dims {1}: one matrix */
    const int64_t *count;    /* device: the selected rows */
    int64_t per_row;
} NdlcuRowsGemm;

static __global__ void __launch_bounds__(NDLCU_RT * NDLCU_RT_Y) ndlcu_gemm_rows_k(NdlcuRowsGemm q)
{
    const NdlcuGemm &p = q.g;
    int64_t used = *q.count * q.per_row, m = used < p.m ? used : p.m;
    int64_t row0 = (int64_t)blockIdx.y * NDLCU_RT, col0 = (int64_t)blockIdx.x * NDLCU_RT;
    if (row0 >= m) return; /* the whole block: before any barrier */
    __shared__ float as[NDLCU_RT][NDLCU_RT + 1], bs[NDLCU_RT][NDLCU_RT + 1]; /* as[i][k], bs[k][j] */
    int tx = threadIdx.x, ty = threadIdx.y;
    float acc[NDLCU_RT / NDLCU_RT_Y] = {0.0f};
    for (int64_t k0 = 0; k0 < p.k; k0 += NDLCU_RT) {
        for (int r = ty; r < NDLCU_RT; r += NDLCU_RT_Y) {
            int64_t i = row0 + r, kk = k0 + tx;
            as[r][tx] = i < m && kk < p.k ? p.a[i * p.lda + kk] : 0.0f;
            if (p.trans_b) { /* b[j][k]: k contiguous, so tx runs along k */
                int64_t j = col0 + r;
                bs[tx][r] = j < p.n && kk < p.k ? p.b[j * p.ldb + kk] : 0.0f;
            } else {
                int64_t kr = k0 + r, j = col0 + tx;
                bs[r][tx] = kr < p.k && j < p.n ? p.b[kr * p.ldb + j] : 0.0f;
            }
        }
        __syncthreads();
        for (int kk = 0; kk < NDLCU_RT; kk++) {
            float b = bs[kk][tx];
            for (int q4 = 0; q4 < NDLCU_RT / NDLCU_RT_Y; q4++) acc[q4] += as[ty + q4 * NDLCU_RT_Y][kk] * b;
        }
        __syncthreads();
    }
    for (int q4 = 0; q4 < NDLCU_RT / NDLCU_RT_Y; q4++) {
        int64_t i = row0 + ty + q4 * NDLCU_RT_Y, j = col0 + tx;
        if (i < m && j < p.n) p.c[i * p.ldc + j] = ndlcu_epilogue(p.ep, acc[q4], j, i * p.ldc + j);
    }
}

static int ndlcu_gemm_rows(const NdlcuGemm *p, const int64_t *count, int64_t per_row, cudaStream_t st)
{
    if (p->m <= 0 || p->n <= 0) return NDLRT_OK;
    if ((p->m + NDLCU_RT - 1) / NDLCU_RT > 65535) return NDLRT_ESIZE;
    const NdlcuRowsGemm q = {*p, count, per_row};
    dim3 grid((unsigned)((p->n + NDLCU_RT - 1) / NDLCU_RT), (unsigned)((p->m + NDLCU_RT - 1) / NDLCU_RT));
    ndlcu_gemm_rows_k<<<grid, dim3(NDLCU_RT, NDLCU_RT_Y), 0, st>>>(q);
    return ndlcu_launched();
}
