/* SPDX-License-Identifier: MIT
 * gemm.c - the packed GEMM core under linear, conv2d, matmul and attention, and the
 * epilogue (bias, activation, residual) that every producing kernel applies.
 *
 * c[i, j] (+)= sum_p a(i, p) b(p, j), with BLIS's loop nest (Van Zee & van de Geijn,
 * "BLIS: A Framework for Rapidly Instantiating BLAS Functionality", TOMS 2015):
 * K is cut into KC slices, M into MC blocks whose A panel is packed into the scratch
 * (unless pre-packed), N into NR-wide micro-panels of B that stay in L1 while an
 * MR x NR register tile runs over them. The packed layouts below do not depend on the
 * instruction set, so weights packed by the compiler at build time can be read by code
 * compiled with any -march: only the micro-kernel differs (AVX-512, AVX2+FMA, GNU vector
 * types, plain C; -DNDLRT_PLAIN_C forces the last, which non-GNU compilers get).
 *   A panel (MR rows):  packed[(i / MR) * K * MR + p * MR + i % MR]   (rows >= m are 0)
 *   B panel (NR cols):  packed[(j / NR) * K * NR + p * NR + j % NR]   (cols >= n are 0)
 * Never allocates, prints or keeps state; scratch comes from the caller.
 */
#include "../ndlrt.h"
#include "vmath.h"

#include <math.h>
#include <string.h>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif
#if defined(_OPENMP) && NDLRT_THREADS > 1
#include <omp.h>
#define GEMM_OMP 1
#else
#define GEMM_OMP 0
#endif

/* Register tile and cache blocking. The tile is MR x NR = 14 x 32 (28 zmm accumulators).
 * A KC-deep slice keeps a B micro-panel (KC x NR, 64 KiB) and an MC x KC block of A
 * (224 KiB) in L2; a deep KC means few passes over C, whose tile is prefetched when a
 * micro-kernel starts. Measured on Zen 5 (1 MiB L2) over GEMM and linear shapes from
 * 64 x 1024 x 784 to 2048^3: KC 384..1024 and MC 28..112 all reach 0.9-1.05x OpenBLAS.
 * These numbers fix the scratch sizes, so they are the same on every target. */
#define GEMM_MR NDLRT_GEMM_MR
#define GEMM_NR NDLRT_GEMM_NR
#ifndef GEMM_KC
#define GEMM_KC 512
#endif
#ifndef GEMM_MC
#define GEMM_MC (GEMM_MR * 8)
#endif
#define GEMM_NC 1024
/* Up to this many rows (a panel used by at most 5 row tiles), and from this many floats of
 * pre-packed B (1 MiB: more than a core's L2 holds between calls), gemm_serial prefetches
 * B a panel ahead (see there). */
#ifndef GEMM_STREAM_ROWS
#define GEMM_STREAM_ROWS 64
#endif
#define GEMM_STREAM_FLOATS (256 * 1024)
#if defined(__AVX512F__)
#define GEMM_DIRECT_A 1 /* the micro-kernel can read A in place */
#else
#define GEMM_DIRECT_A 0
#endif
#define GEMM_ALIGN 16 /* floats: scratch buffers start on 64-byte boundaries */

#if defined(__GNUC__) && !defined(NDLRT_PLAIN_C)
#define GEMM_INLINE static inline __attribute__((always_inline))
#else
#define GEMM_INLINE static inline
#endif

static int64_t gemm_min(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t gemm_roundup(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

/* Splits len into equal chunks of at most max (rounded up to a multiple of align), so
 * that no slice is a thin remainder. */
static int64_t gemm_chunk(int64_t len, int64_t max, int64_t align)
{
    if (len <= max) return gemm_roundup(len, align);
    int64_t parts = (len + max - 1) / max;
    return gemm_roundup((len + parts - 1) / parts, align);
}

static float *gemm_align(float *p)
{
    uintptr_t u = (uintptr_t)p, a = GEMM_ALIGN * sizeof(float);
    return (float *)(void *)((u + a - 1) / a * a);
}

/* ---- the epilogue ------------------------------------------------------------------ */

NDLRT_API int ndlrt_epilogue_empty(const NdlrtEpilogue *ep)
{
    return !ep || (!ep->bias && !ep->residual && ep->act == NDLRT_ACT_NONE &&
                   ep->act2 == NDLRT_ACT_NONE);
}

#if defined(__AVX512F__)
/* The AVX-512 epilogue for constant act/act2 (the activations fold into straight-line code;
 * EPI_ANY: read from ep at run time), over 4 vectors per step: the activations are long
 * dependent chains (gelu: a division and an exp), so independent vectors side by side keep
 * the FMA pipes busy. */
#define EPI_ANY (-1)
GEMM_INLINE void gemm_epilogue16(const int cact, const int cact2, const NdlrtEpilogue *ep,
                                 int64_t rows, int64_t cols, float *y, int64_t ldy,
                                 const float *residual, const float *bias, int bias_per_row)
{
    int act = cact == EPI_ANY ? ep->act : cact, act2 = cact2 == EPI_ANY ? ep->act2 : cact2;
    /* the block's 16-lane vectors, row by row, taken 4 at a time (a 14 x 32 tile: 28) */
    int64_t nvec = (cols + 15) / 16, total = rows * nvec, r = 0, vi = 0;
    for (int64_t t0 = 0; t0 < total; t0 += 4) {
        __m512 v[4];
        __mmask16 m[4];
        float *yp[4];
        const float *rp[4];
        for (int q = 0; q < 4; q++) {
            if (t0 + q >= total) { /* past the block: all lanes masked off */
                m[q] = 0, yp[q] = y, rp[q] = residual, v[q] = _mm512_setzero_ps();
                continue;
            }
            int64_t j = vi * 16, left = cols - j;
            m[q] = (__mmask16)(left >= 16 ? 0xFFFF : (1u << left) - 1u);
            yp[q] = y + r * ldy + j;
            rp[q] = residual ? residual + r * ldy + j : NULL;
            v[q] = _mm512_maskz_loadu_ps(m[q], yp[q]);
            if (bias)
                v[q] = _mm512_add_ps(v[q], bias_per_row ? _mm512_set1_ps(bias[r])
                                                        : _mm512_maskz_loadu_ps(m[q], bias + j));
            if (++vi == nvec) vi = 0, r++;
        }
        if (act) for (int q = 0; q < 4; q++) v[q] = ndlrt_v16_act(v[q], act);
        if (residual)
            for (int q = 0; q < 4; q++) v[q] = _mm512_add_ps(v[q], _mm512_maskz_loadu_ps(m[q], rp[q]));
        if (act2) for (int q = 0; q < 4; q++) v[q] = ndlrt_v16_act(v[q], act2);
        for (int q = 0; q < 4; q++) _mm512_mask_storeu_ps(yp[q], m[q], v[q]);
    }
}
#endif

NDLRT_API void ndlrt_epilogue_f32(const NdlrtEpilogue *ep, int64_t rows, int64_t cols,
                                  float *y, int64_t ldy, const float *residual,
                                  const float *bias, int bias_per_row)
{
    if (!ep) return;
#if defined(__AVX512F__)
    if (ndlrt_v16_has_act(ep->act) && ndlrt_v16_has_act(ep->act2)) {
        /* the combinations the fusion pass makes most: bias/residual with relu or gelu */
#define EPI_CASE(a, a2)                                                                  \
    if (ep->act == (a) && ep->act2 == (a2)) {                                            \
        gemm_epilogue16(a, a2, ep, rows, cols, y, ldy, residual, bias, bias_per_row);    \
        return;                                                                          \
    }
        EPI_CASE(NDLRT_ACT_GELU, NDLRT_ACT_NONE)
#undef EPI_CASE
        int act = ep->act, act2 = ep->act2;
        if ((act == NDLRT_ACT_NONE || act == NDLRT_ACT_RELU) &&
            (act2 == NDLRT_ACT_NONE || act2 == NDLRT_ACT_RELU)) {
            /* short chains: one vector at a time is as fast and has no bookkeeping */
            __m512 z = _mm512_setzero_ps();
            for (int64_t r = 0; r < rows; r++) {
                float *yr = y + r * ldy;
                const float *rr = residual ? residual + r * ldy : NULL;
                __m512 bs = _mm512_set1_ps(bias && bias_per_row ? bias[r] : 0.0f);
                for (int64_t j = 0; j < cols; j += 16) {
                    __mmask16 m = (__mmask16)(cols - j >= 16 ? 0xFFFF : (1u << (cols - j)) - 1u);
                    __m512 v = _mm512_maskz_loadu_ps(m, yr + j);
                    if (bias) v = _mm512_add_ps(v, bias_per_row ? bs : _mm512_maskz_loadu_ps(m, bias + j));
                    if (act) v = _mm512_max_ps(z, v); /* relu as in ndlrt_v16_act */
                    if (rr) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, rr + j));
                    if (act2) v = _mm512_max_ps(z, v);
                    _mm512_mask_storeu_ps(yr + j, m, v);
                }
            }
            return;
        }
        gemm_epilogue16(EPI_ANY, EPI_ANY, ep, rows, cols, y, ldy, residual, bias, bias_per_row);
        return;
    }
#endif
    for (int64_t r = 0; r < rows; r++) {
        float *yr = y + r * ldy;
        if (bias) {
            if (bias_per_row) {
                float b = bias[r];
                for (int64_t j = 0; j < cols; j++) yr[j] += b;
            } else {
                for (int64_t j = 0; j < cols; j++) yr[j] += bias[j];
            }
        }
        ndlrt_act_row(yr, yr, cols, ep->act);
        if (residual) {
            const float *rr = residual + r * ldy;
            for (int64_t j = 0; j < cols; j++) yr[j] += rr[j];
        }
        ndlrt_act_row(yr, yr, cols, ep->act2);
    }
}

/* ---- packing ----------------------------------------------------------------------- */

/* Packs the mc x kc block at a (a(i, p) = a[i*rs + p*cs]) as MR-row panels with a
 * per-k stride of MR; rows past mc are zero. */
#if defined(__AVX512F__)
/* Loads the rows x cols block at src (row stride ld; rows, cols <= 16, the rest reads as 0)
 * and transposes it: t[q] lane r = src[r*ld + q]. */
GEMM_INLINE void gemm_transpose16(const float *src, int64_t ld, int rows, int cols, __m512 t[16])
{
    __mmask16 m = (__mmask16)(cols >= 16 ? 0xFFFF : (1u << cols) - 1u);
    __m512 r[16], u[16];
    for (int i = 0; i < 16; i++)
        r[i] = i < rows ? _mm512_maskz_loadu_ps(m, src + i * ld) : _mm512_setzero_ps();
    for (int i = 0; i < 16; i += 2) {
        u[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        u[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    /* r[4g + c]: rows 4g..4g+3 of columns c, c+4, c+8, c+12 (one per 128-bit lane) */
    for (int i = 0; i < 16; i += 4) {
        __m512d a0 = _mm512_castps_pd(u[i]), a1 = _mm512_castps_pd(u[i + 1]);
        __m512d a2 = _mm512_castps_pd(u[i + 2]), a3 = _mm512_castps_pd(u[i + 3]);
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a0, a2));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a0, a2));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(a1, a3));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(a1, a3));
    }
    for (int c = 0; c < 4; c++) {
        __m512 plo = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);
        __m512 phi = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xDD);
        __m512 qlo = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
        __m512 qhi = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xDD);
        t[c] = _mm512_shuffle_f32x4(plo, qlo, 0x88);
        t[c + 8] = _mm512_shuffle_f32x4(plo, qlo, 0xDD);
        t[c + 4] = _mm512_shuffle_f32x4(phi, qhi, 0x88);
        t[c + 12] = _mm512_shuffle_f32x4(phi, qhi, 0xDD);
    }
}
#endif

static void gemm_pack_a_block(int64_t mc, int64_t kc, const float *a, int64_t rs, int64_t cs,
                              float *dst)
{
    for (int64_t i0 = 0; i0 < mc; i0 += GEMM_MR, dst += kc * GEMM_MR) {
        int64_t mr = gemm_min(GEMM_MR, mc - i0);
        const float *src = a + i0 * rs;
#if defined(__AVX512F__)
        if (cs == 1) { /* 16 x 16 transposes, rows past mr read as 0 */
            for (int64_t p0 = 0; p0 < kc; p0 += 16) {
                __m512 t[16];
                int np = (int)gemm_min(16, kc - p0);
                gemm_transpose16(src + p0, rs, (int)mr, np, t);
                for (int q = 0; q < np; q++)
                    _mm512_mask_storeu_ps(dst + (p0 + q) * GEMM_MR, (__mmask16)0x3FFF, t[q]);
            }
            continue;
        }
#endif
        if (cs == 1) {
            for (int64_t r = 0; r < mr; r++) {
                const float *s = src + r * rs;
                for (int64_t p = 0; p < kc; p++) dst[p * GEMM_MR + r] = s[p];
            }
        } else {
            for (int64_t p = 0; p < kc; p++)
                for (int64_t r = 0; r < mr; r++) dst[p * GEMM_MR + r] = src[r * rs + p * cs];
        }
        if (mr < GEMM_MR)
            for (int64_t p = 0; p < kc; p++)
                for (int64_t r = mr; r < GEMM_MR; r++) dst[p * GEMM_MR + r] = 0.0f;
    }
}

/* Packs the kc x nc block at b (b(p, j) = b[p*rs + j*cs]) as NR-column panels with a
 * per-k stride of NR; columns past nc are zero. */
static void gemm_pack_b_block(int64_t kc, int64_t nc, const float *b, int64_t rs, int64_t cs,
                              float *dst)
{
    for (int64_t j0 = 0; j0 < nc; j0 += GEMM_NR, dst += kc * GEMM_NR) {
        int64_t nr = gemm_min(GEMM_NR, nc - j0);
        const float *src = b + j0 * cs;
        if (cs == 1) {
#if defined(__AVX512F__)
            __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xFFFF : (1u << nr) - 1u);
            __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xFFFF : nr > 16 ? (1u << (nr - 16)) - 1u : 0u);
            for (int64_t p = 0; p < kc; p++) {
                _mm512_storeu_ps(dst + p * GEMM_NR, _mm512_maskz_loadu_ps(m0, src + p * rs));
                _mm512_storeu_ps(dst + p * GEMM_NR + 16, _mm512_maskz_loadu_ps(m1, src + p * rs + 16));
            }
            continue;
#endif
            for (int64_t p = 0; p < kc; p++) {
                memcpy(dst + p * GEMM_NR, src + p * rs, (size_t)nr * sizeof(float));
                for (int64_t j = nr; j < GEMM_NR; j++) dst[p * GEMM_NR + j] = 0.0f;
            }
        } else {
#if defined(__AVX512F__)
            if (rs == 1) { /* 16 x 16 transposes, columns past nr read as 0 */
                for (int h = 0; h < 2; h++)
                    for (int64_t p0 = 0; p0 < kc; p0 += 16) {
                        __m512 t[16];
                        int np = (int)gemm_min(16, kc - p0);
                        int rows = (int)(nr - 16 * h < 0 ? 0 : nr - 16 * h > 16 ? 16 : nr - 16 * h);
                        gemm_transpose16(src + 16 * h * cs + p0, cs, rows, np, t);
                        for (int q = 0; q < np; q++)
                            _mm512_storeu_ps(dst + (p0 + q) * GEMM_NR + 16 * h, t[q]);
                    }
                continue;
            }
#endif
            for (int64_t j = 0; j < nr; j++) {
                const float *s = src + j * cs;
                for (int64_t p = 0; p < kc; p++) dst[p * GEMM_NR + j] = s[p * rs];
            }
            if (nr < GEMM_NR)
                for (int64_t p = 0; p < kc; p++)
                    for (int64_t j = nr; j < GEMM_NR; j++) dst[p * GEMM_NR + j] = 0.0f;
        }
    }
}

NDLRT_API size_t ndlrt_gemm_packed_a_floats(int64_t m, int64_t k)
{
    return (size_t)(gemm_roundup(m, GEMM_MR) * k);
}

NDLRT_API void ndlrt_gemm_pack_a(int64_t m, int64_t k, const float *a, int64_t rs, int64_t cs,
                                 float *packed)
{
    if (m > 0 && k > 0) gemm_pack_a_block(m, k, a, rs, cs, packed);
}

NDLRT_API size_t ndlrt_gemm_packed_b_floats(int64_t k, int64_t n)
{
    return (size_t)(gemm_roundup(n, GEMM_NR) * k);
}

NDLRT_API void ndlrt_gemm_pack_b(int64_t k, int64_t n, const float *b, int64_t rs, int64_t cs,
                                 float *packed)
{
    if (n > 0 && k > 0) gemm_pack_b_block(k, n, b, rs, cs, packed);
}

/* Sized for the largest blocks that ndlrt_gemm_f32 cuts from these sizes (an upper
 * bound of gemm_chunk), so that the result never decreases as a size grows. */
/* One thread's share of the scratch. */
static size_t gemm_scratch_one(int64_t m, int64_t n, int64_t k, int a_packed, int b_packed)
{
    if (m <= 0 || n <= 0 || k <= 0) return 0;
    int64_t kc = gemm_min(k, GEMM_KC);
    size_t s = 0;
    if (!a_packed) s += (size_t)(gemm_min(gemm_roundup(m, GEMM_MR), GEMM_MC) * kc + GEMM_ALIGN);
    if (!b_packed) s += (size_t)(gemm_min(gemm_roundup(n, GEMM_NR), GEMM_NC) * kc + GEMM_ALIGN);
    return s;
}

NDLRT_API size_t ndlrt_gemm_scratch_floats(int64_t m, int64_t n, int64_t k, int a_packed,
                                           int b_packed)
{
    return gemm_scratch_one(m, n, k, a_packed, b_packed) * (size_t)NDLRT_THREADS;
}

/* ---- micro-kernels ------------------------------------------------------------------
 * Each computes the mr x nr tile c (row stride ldc) from an A micro-panel (per-k stride
 * MR) and a B micro-panel (per-k stride NR) over kc steps: c = acc, or c += acc when
 * load_c. mr <= MR, nr <= NR; elements outside the tile are never touched. */

#if defined(__AVX512F__)

/* Written for a constant mr (the switch below instantiates 1..14), so that each row's
 * accumulators exist only when used and live in registers: 28 zmm for the full tile. */
GEMM_INLINE void gemm_tile_avx512(const int mr, const int direct, const int pf, int64_t kc,
                                  const float *a, int64_t lda, const float *b, const float *bnext,
                                  float *c, int64_t ldc, int nr, int load_c)
{
    __m512 z = _mm512_setzero_ps();
    __m512 c0_0 = z, c0_1 = z, c1_0 = z, c1_1 = z, c2_0 = z, c2_1 = z, c3_0 = z, c3_1 = z;
    __m512 c4_0 = z, c4_1 = z, c5_0 = z, c5_1 = z, c6_0 = z, c6_1 = z, c7_0 = z, c7_1 = z;
    __m512 c8_0 = z, c8_1 = z, c9_0 = z, c9_1 = z, c10_0 = z, c10_1 = z, c11_0 = z, c11_1 = z;
    __m512 c12_0 = z, c12_1 = z, c13_0 = z, c13_1 = z;
#define GEMM_FMA(i)                                                                      \
    if (mr > i) {                                                                        \
        __m512 t = _mm512_set1_ps(direct ? a[i * lda] : a[i]);                           \
        c##i##_0 = _mm512_fmadd_ps(t, b0, c##i##_0);                                     \
        c##i##_1 = _mm512_fmadd_ps(t, b1, c##i##_1);                                     \
    }
#define GEMM_STEP                                                                        \
    {                                                                                    \
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);                    \
        GEMM_FMA(0) GEMM_FMA(1) GEMM_FMA(2) GEMM_FMA(3) GEMM_FMA(4) GEMM_FMA(5)          \
        GEMM_FMA(6) GEMM_FMA(7) GEMM_FMA(8) GEMM_FMA(9) GEMM_FMA(10) GEMM_FMA(11)        \
        GEMM_FMA(12) GEMM_FMA(13)                                                        \
        if (pf) { /* the next B micro-panel, into L2, one k-row (two lines) per step */  \
            _mm_prefetch((const char *)bnext, _MM_HINT_T1);                              \
            _mm_prefetch((const char *)(bnext + 16), _MM_HINT_T1);                       \
            bnext += GEMM_NR;                                                            \
        }                                                                                \
        a += direct ? 1 : GEMM_MR;                                                       \
        b += GEMM_NR;                                                                    \
    }
    /* The tile of c is needed at the end: start fetching it now. */
#define GEMM_PREFETCH_C(i)                                                               \
    if (mr > i) {                                                                        \
        _mm_prefetch((const char *)(c + (int64_t)i * ldc), _MM_HINT_T0);                 \
        _mm_prefetch((const char *)(c + (int64_t)i * ldc + 16), _MM_HINT_T0);            \
    }
    GEMM_PREFETCH_C(0) GEMM_PREFETCH_C(1) GEMM_PREFETCH_C(2) GEMM_PREFETCH_C(3)
    GEMM_PREFETCH_C(4) GEMM_PREFETCH_C(5) GEMM_PREFETCH_C(6) GEMM_PREFETCH_C(7)
    GEMM_PREFETCH_C(8) GEMM_PREFETCH_C(9) GEMM_PREFETCH_C(10) GEMM_PREFETCH_C(11)
    GEMM_PREFETCH_C(12) GEMM_PREFETCH_C(13)
#undef GEMM_PREFETCH_C
    /* Not unrolled: gcc then keeps all 28 accumulators in registers without spilling. */
    for (int64_t p = 0; p < kc; p++) GEMM_STEP
#undef GEMM_STEP
#undef GEMM_FMA
    __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xFFFF : (1u << nr) - 1u);
    __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xFFFF : nr > 16 ? (1u << (nr - 16)) - 1u : 0u);
#define GEMM_STORE(i)                                                                    \
    if (mr > i) {                                                                        \
        float *ci = c + (int64_t)i * ldc;                                                \
        if (load_c) {                                                                    \
            c##i##_0 = _mm512_add_ps(c##i##_0, _mm512_maskz_loadu_ps(m0, ci));           \
            c##i##_1 = _mm512_add_ps(c##i##_1, _mm512_maskz_loadu_ps(m1, ci + 16));      \
        }                                                                                \
        _mm512_mask_storeu_ps(ci, m0, c##i##_0);                                         \
        _mm512_mask_storeu_ps(ci + 16, m1, c##i##_1);                                    \
    }
    GEMM_STORE(0) GEMM_STORE(1) GEMM_STORE(2) GEMM_STORE(3) GEMM_STORE(4) GEMM_STORE(5)
    GEMM_STORE(6) GEMM_STORE(7) GEMM_STORE(8) GEMM_STORE(9) GEMM_STORE(10) GEMM_STORE(11)
    GEMM_STORE(12) GEMM_STORE(13)
#undef GEMM_STORE
}

/* a: a packed A micro-panel (lda = 0) or rows of A read in place (a(i, p) = a[i*lda + p]).
 * bnext: NULL, or the kc x NR B micro-panel that the next tiles will read, prefetched into
 * L2 while this one runs (gemm_serial's few-rows path). */
static void gemm_tile(int mr, int64_t kc, const float *a, int64_t lda, const float *b,
                      const float *bnext, float *c, int64_t ldc, int nr, int load_c)
{
#define GEMM_CASE(r, pf)                                                                 \
    case r:                                                                              \
        if (lda) gemm_tile_avx512(r, 1, pf, kc, a, lda, b, bnext, c, ldc, nr, load_c);   \
        else gemm_tile_avx512(r, 0, pf, kc, a, 0, b, bnext, c, ldc, nr, load_c);         \
        break;
    if (bnext) {
        switch (mr) {
        GEMM_CASE(14, 1) GEMM_CASE(13, 1) GEMM_CASE(12, 1) GEMM_CASE(11, 1) GEMM_CASE(10, 1)
        GEMM_CASE(9, 1) GEMM_CASE(8, 1) GEMM_CASE(7, 1) GEMM_CASE(6, 1) GEMM_CASE(5, 1)
        GEMM_CASE(4, 1) GEMM_CASE(3, 1) GEMM_CASE(2, 1)
        default: GEMM_CASE(1, 1)
        }
        return;
    }
    switch (mr) {
    GEMM_CASE(14, 0) GEMM_CASE(13, 0) GEMM_CASE(12, 0) GEMM_CASE(11, 0) GEMM_CASE(10, 0)
    GEMM_CASE(9, 0) GEMM_CASE(8, 0) GEMM_CASE(7, 0) GEMM_CASE(6, 0) GEMM_CASE(5, 0)
    GEMM_CASE(4, 0) GEMM_CASE(3, 0) GEMM_CASE(2, 0)
    default: GEMM_CASE(1, 0)
    }
#undef GEMM_CASE
}

#elif defined(__AVX2__) && defined(__FMA__)

/* AVX2 has 16 ymm registers: the 14 x 32 tile is covered by sub-tiles of up to
 * 5 rows x 16 columns (10 accumulators), each running over the whole kc. Full 16-column
 * halves only; the caller routes narrower tiles through a temporary. */
GEMM_INLINE void gemm_sub_avx2(const int mr, int64_t kc, const float *a, const float *b,
                               float *c, int64_t ldc, int load_c)
{
    __m256 z = _mm256_setzero_ps();
    __m256 c0_0 = z, c0_1 = z, c1_0 = z, c1_1 = z, c2_0 = z, c2_1 = z, c3_0 = z, c3_1 = z;
    __m256 c4_0 = z, c4_1 = z;
    for (int64_t p = 0; p < kc; p++) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#define GEMM_FMA(i)                                                                      \
    if (mr > i) {                                                                        \
        __m256 t = _mm256_broadcast_ss(a + i);                                           \
        c##i##_0 = _mm256_fmadd_ps(t, b0, c##i##_0);                                     \
        c##i##_1 = _mm256_fmadd_ps(t, b1, c##i##_1);                                     \
    }
        GEMM_FMA(0) GEMM_FMA(1) GEMM_FMA(2) GEMM_FMA(3) GEMM_FMA(4)
#undef GEMM_FMA
        a += GEMM_MR;
        b += GEMM_NR;
    }
#define GEMM_STORE(i)                                                                    \
    if (mr > i) {                                                                        \
        float *ci = c + (int64_t)i * ldc;                                                \
        if (load_c) {                                                                    \
            c##i##_0 = _mm256_add_ps(c##i##_0, _mm256_loadu_ps(ci));                     \
            c##i##_1 = _mm256_add_ps(c##i##_1, _mm256_loadu_ps(ci + 8));                 \
        }                                                                                \
        _mm256_storeu_ps(ci, c##i##_0);                                                  \
        _mm256_storeu_ps(ci + 8, c##i##_1);                                              \
    }
    GEMM_STORE(0) GEMM_STORE(1) GEMM_STORE(2) GEMM_STORE(3) GEMM_STORE(4)
#undef GEMM_STORE
}

static void gemm_sub(int mr, int64_t kc, const float *a, const float *b, float *c,
                     int64_t ldc, int load_c)
{
    switch (mr) {
    case 5: gemm_sub_avx2(5, kc, a, b, c, ldc, load_c); break;
    case 4: gemm_sub_avx2(4, kc, a, b, c, ldc, load_c); break;
    case 3: gemm_sub_avx2(3, kc, a, b, c, ldc, load_c); break;
    case 2: gemm_sub_avx2(2, kc, a, b, c, ldc, load_c); break;
    default: gemm_sub_avx2(1, kc, a, b, c, ldc, load_c); break;
    }
}
#define GEMM_SUB_MR 5
#define GEMM_SUB_NR 16

#elif defined(__GNUC__) && !defined(NDLRT_PLAIN_C)

/* Portable, with GNU vector types (SSE2, NEON, ...): sub-tiles of up to 5 rows x 8
 * columns in two 4-float vectors per row, 10 accumulators in registers. */
typedef float gemm_v4 __attribute__((vector_size(16)));

GEMM_INLINE gemm_v4 gemm_v4_load(const float *p)
{
    gemm_v4 v;
    memcpy(&v, p, sizeof v);
    return v;
}

GEMM_INLINE void gemm_sub_v4(const int mr, int64_t kc, const float *a, const float *b, float *c,
                             int64_t ldc, int load_c)
{
    gemm_v4 z = {0.0f, 0.0f, 0.0f, 0.0f};
    gemm_v4 c0_0 = z, c0_1 = z, c1_0 = z, c1_1 = z, c2_0 = z, c2_1 = z, c3_0 = z, c3_1 = z;
    gemm_v4 c4_0 = z, c4_1 = z;
    for (int64_t p = 0; p < kc; p++) {
        gemm_v4 b0 = gemm_v4_load(b), b1 = gemm_v4_load(b + 4);
#define GEMM_FMA(i)                                                                      \
    if (mr > i) {                                                                        \
        gemm_v4 t = z + a[i];                                                            \
        c##i##_0 += t * b0;                                                              \
        c##i##_1 += t * b1;                                                              \
    }
        GEMM_FMA(0) GEMM_FMA(1) GEMM_FMA(2) GEMM_FMA(3) GEMM_FMA(4)
#undef GEMM_FMA
        a += GEMM_MR;
        b += GEMM_NR;
    }
#define GEMM_STORE(i)                                                                    \
    if (mr > i) {                                                                        \
        float *ci = c + (int64_t)i * ldc;                                                \
        if (load_c) {                                                                    \
            c##i##_0 += gemm_v4_load(ci);                                                \
            c##i##_1 += gemm_v4_load(ci + 4);                                            \
        }                                                                                \
        memcpy(ci, &c##i##_0, sizeof c##i##_0);                                          \
        memcpy(ci + 4, &c##i##_1, sizeof c##i##_1);                                      \
    }
    GEMM_STORE(0) GEMM_STORE(1) GEMM_STORE(2) GEMM_STORE(3) GEMM_STORE(4)
#undef GEMM_STORE
}

static void gemm_sub(int mr, int64_t kc, const float *a, const float *b, float *c,
                     int64_t ldc, int load_c)
{
    switch (mr) {
    case 5: gemm_sub_v4(5, kc, a, b, c, ldc, load_c); break;
    case 4: gemm_sub_v4(4, kc, a, b, c, ldc, load_c); break;
    case 3: gemm_sub_v4(3, kc, a, b, c, ldc, load_c); break;
    case 2: gemm_sub_v4(2, kc, a, b, c, ldc, load_c); break;
    default: gemm_sub_v4(1, kc, a, b, c, ldc, load_c); break;
    }
}
#define GEMM_SUB_MR 5
#define GEMM_SUB_NR 8

#else

/* Plain C: sub-tiles of 4 rows x 8 columns in scalar accumulators. */
static void gemm_sub(int mr, int64_t kc, const float *a, const float *b, float *c,
                     int64_t ldc, int load_c)
{
    float acc[4][8];
    for (int r = 0; r < 4; r++)
        for (int j = 0; j < 8; j++) acc[r][j] = 0.0f;
    for (int64_t p = 0; p < kc; p++) {
        const float *ap = a + p * GEMM_MR, *bp = b + p * GEMM_NR;
        for (int r = 0; r < 4; r++) {
            float av = ap[r];
            for (int j = 0; j < 8; j++) acc[r][j] += av * bp[j];
        }
    }
    for (int r = 0; r < mr; r++) {
        float *cr = c + r * ldc;
        for (int j = 0; j < 8; j++) cr[j] = load_c ? cr[j] + acc[r][j] : acc[r][j];
    }
}
#define GEMM_SUB_MR 4
#define GEMM_SUB_NR 8

#endif

#if !defined(__AVX512F__)
/* Covers the mr x nr tile with sub-tiles; a partial column block goes through a
 * temporary so that the sub-kernels only handle full widths. The A micro-panel has MR
 * rows (zero past mr), so a sub-tile may read rows it does not store. Packed A only
 * (lda = 0: GEMM_DIRECT_A is 0 here). */
static void gemm_tile(int mr, int64_t kc, const float *a, int64_t lda, const float *b,
                      const float *bnext, float *c, int64_t ldc, int nr, int load_c)
{
    (void)lda, (void)bnext;
    float tmp[GEMM_MR * GEMM_NR];
    float *dst = c;
    int64_t ld = ldc;
    if (nr < GEMM_NR) {
        dst = tmp;
        ld = GEMM_NR;
        if (load_c)
            for (int r = 0; r < mr; r++)
                for (int j = 0; j < nr; j++) tmp[r * GEMM_NR + j] = c[r * ldc + j];
    }
    int wide = (int)gemm_roundup(nr, GEMM_SUB_NR);
    int parts = (mr + GEMM_SUB_MR - 1) / GEMM_SUB_MR;
    for (int r0 = 0, left = mr; left > 0; parts--) {
        int rows = (left + parts - 1) / parts;
        for (int j0 = 0; j0 < wide; j0 += GEMM_SUB_NR)
            gemm_sub(rows, kc, a + r0, b + j0, dst + r0 * ld + j0, ld, load_c);
        r0 += rows;
        left -= rows;
    }
    if (dst == tmp)
        for (int r = 0; r < mr; r++)
            for (int j = 0; j < nr; j++) c[r * ldc + j] = tmp[r * GEMM_NR + j];
}
#endif

#if defined(__AVX512F__)
/* One row of a against np (1..4) consecutive panels at once, which keeps several memory
 * streams in flight when the weights come from DRAM; out gets np x 2 vectors. */
GEMM_INLINE void gemm_gemv_panels(const int np, int64_t k, const float *a, const float *b,
                                  int64_t pstride, __m512 *out)
{
    __m512 z = _mm512_setzero_ps();
    __m512 s00 = z, s01 = z, s10 = z, s11 = z, s20 = z, s21 = z, s30 = z, s31 = z;
    __m512 t00 = z, t01 = z, t10 = z, t11 = z, t20 = z, t21 = z, t30 = z, t31 = z;
    const float *b0 = b, *b1 = b + pstride, *b2 = b + 2 * pstride, *b3 = b + 3 * pstride;
#define GEMM_GV(i, acc0, acc1, av, off)                                                  \
    if (np > i) {                                                                        \
        acc0 = _mm512_fmadd_ps(av, _mm512_loadu_ps(b##i + off), acc0);                   \
        acc1 = _mm512_fmadd_ps(av, _mm512_loadu_ps(b##i + off + 16), acc1);              \
    }
#define GEMM_GV_PF(i)                                                                    \
    if (np > i) {                                                                        \
        _mm_prefetch((const char *)(b##i + 32 * GEMM_NR), _MM_HINT_T0);                  \
        _mm_prefetch((const char *)(b##i + 32 * GEMM_NR + 16), _MM_HINT_T0);             \
        _mm_prefetch((const char *)(b##i + 32 * GEMM_NR + 32), _MM_HINT_T0);             \
        _mm_prefetch((const char *)(b##i + 32 * GEMM_NR + 48), _MM_HINT_T0);             \
    }
    int64_t p = 0;
    for (; p + 2 <= k; p += 2) {
        GEMM_GV_PF(0) GEMM_GV_PF(1) GEMM_GV_PF(2) GEMM_GV_PF(3)
        __m512 a0 = _mm512_set1_ps(a[p]), a1 = _mm512_set1_ps(a[p + 1]);
        GEMM_GV(0, s00, s01, a0, 0) GEMM_GV(1, s10, s11, a0, 0)
        GEMM_GV(2, s20, s21, a0, 0) GEMM_GV(3, s30, s31, a0, 0)
        GEMM_GV(0, t00, t01, a1, GEMM_NR) GEMM_GV(1, t10, t11, a1, GEMM_NR)
        GEMM_GV(2, t20, t21, a1, GEMM_NR) GEMM_GV(3, t30, t31, a1, GEMM_NR)
        b0 += 2 * GEMM_NR, b1 += 2 * GEMM_NR, b2 += 2 * GEMM_NR, b3 += 2 * GEMM_NR;
    }
    if (p < k) {
        __m512 a0 = _mm512_set1_ps(a[p]);
        GEMM_GV(0, s00, s01, a0, 0) GEMM_GV(1, s10, s11, a0, 0)
        GEMM_GV(2, s20, s21, a0, 0) GEMM_GV(3, s30, s31, a0, 0)
    }
#undef GEMM_GV
#undef GEMM_GV_PF
    out[0] = _mm512_add_ps(s00, t00), out[1] = _mm512_add_ps(s01, t01);
    if (np > 1) out[2] = _mm512_add_ps(s10, t10), out[3] = _mm512_add_ps(s11, t11);
    if (np > 2) out[4] = _mm512_add_ps(s20, t20), out[5] = _mm512_add_ps(s21, t21);
    if (np > 3) out[6] = _mm512_add_ps(s30, t30), out[7] = _mm512_add_ps(s31, t31);
}
#endif

/* ---- GEMV: one row of A against pre-packed B, streaming the panels once ------------- */

static void gemm_gemv_packed(int64_t n, int64_t k, const float *a, const float *bp, int64_t bpk,
                             float *c, int load_c)
{
#if defined(__AVX512F__)
    for (int64_t j0 = 0; j0 < n;) {
        int64_t left = (n - j0 + GEMM_NR - 1) / GEMM_NR;
        int np = left >= 4 ? 4 : (int)left;
        __m512 s[8];
        switch (np) {
        case 4: gemm_gemv_panels(4, k, a, bp, bpk * GEMM_NR, s); break;
        case 3: gemm_gemv_panels(3, k, a, bp, bpk * GEMM_NR, s); break;
        case 2: gemm_gemv_panels(2, k, a, bp, bpk * GEMM_NR, s); break;
        default: gemm_gemv_panels(1, k, a, bp, bpk * GEMM_NR, s); break;
        }
        for (int q = 0; q < np; q++, j0 += GEMM_NR, bp += bpk * GEMM_NR) {
            int64_t nr = gemm_min(GEMM_NR, n - j0);
            __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xFFFF : (1u << nr) - 1u);
            __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xFFFF : nr > 16 ? (1u << (nr - 16)) - 1u : 0u);
            __m512 s0 = s[2 * q], s1 = s[2 * q + 1];
            if (load_c) {
                s0 = _mm512_add_ps(s0, _mm512_maskz_loadu_ps(m0, c + j0));
                s1 = _mm512_add_ps(s1, _mm512_maskz_loadu_ps(m1, c + j0 + 16));
            }
            _mm512_mask_storeu_ps(c + j0, m0, s0);
            _mm512_mask_storeu_ps(c + j0 + 16, m1, s1);
        }
    }
#else
    for (int64_t j0 = 0; j0 < n; j0 += GEMM_NR, bp += bpk * GEMM_NR) {
        int64_t nr = gemm_min(GEMM_NR, n - j0);
        /* Four independent partial sums per column, so the adds can overlap. */
        float s[4][GEMM_NR];
        for (int q = 0; q < 4; q++)
            for (int j = 0; j < GEMM_NR; j++) s[q][j] = 0.0f;
        const float *b = bp;
        int64_t p = 0;
        for (; p + 4 <= k; p += 4, b += 4 * GEMM_NR)
            for (int q = 0; q < 4; q++) {
                float av = a[p + q];
                for (int j = 0; j < GEMM_NR; j++) s[q][j] += av * b[q * GEMM_NR + j];
            }
        for (; p < k; p++, b += GEMM_NR)
            for (int j = 0; j < GEMM_NR; j++) s[0][j] += a[p] * b[j];
        for (int64_t j = 0; j < nr; j++) {
            float v = (s[0][j] + s[1][j]) + (s[2][j] + s[3][j]);
            c[j0 + j] = load_c ? c[j0 + j] + v : v;
        }
    }
#endif
}

/* ---- the core ---------------------------------------------------------------------- */

static void gemm_serial(const NdlrtGemm *g, float *scratch)
{
    int64_t m = g->m, n = g->n, k = g->k, ldc = g->c_rs;
    float *c = g->c;
    if (m <= 0 || n <= 0) return;
    const float *bias = g->ep.bias;
    int has_ep = !ndlrt_epilogue_empty(&g->ep);
    if (k <= 0) {
        if (!g->accumulate)
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < n; j++) c[i * ldc + j] = 0.0f;
        if (has_ep) ndlrt_epilogue_f32(&g->ep, m, n, c, ldc, g->ep.residual, bias,
                                       g->bias_per_row);
        return;
    }
    if (m == 1 && g->b_packed && !g->a_packed && g->a_cs == 1) {
        gemm_gemv_packed(n, k, g->a, g->b_packed, g->b_packed_k > 0 ? g->b_packed_k : k, c,
                         g->accumulate);
        if (has_ep) ndlrt_epilogue_f32(&g->ep, 1, n, c, ldc, g->ep.residual, bias,
                                       g->bias_per_row);
        return;
    }

    int64_t apk = g->a_packed_k > 0 ? g->a_packed_k : k;
    int64_t bpk = g->b_packed_k > 0 ? g->b_packed_k : k;
    int64_t kcmax = gemm_chunk(k, GEMM_KC, 1);
    int64_t mcmax = gemm_chunk(m, GEMM_MC, GEMM_MR);
    int64_t ncmax = g->b_packed ? gemm_roundup(n, GEMM_NR) : gemm_chunk(n, GEMM_NC, GEMM_NR);
    float *apack = NULL, *bpack = NULL;
    /* A read in place (no packing) where the micro-kernel can: rows whose stride is a
     * multiple of 4 KiB would share L1 sets, so those are packed. */
    int direct = GEMM_DIRECT_A && !g->a_packed && g->a_cs == 1 && g->a_rs > 0 &&
                 g->a_rs % 1024 != 0;
    if (!g->a_packed && !direct) {
        apack = gemm_align(scratch);
        scratch = apack + mcmax * kcmax;
    }
    if (!g->b_packed) bpack = gemm_align(scratch);
    /* Few rows against pre-packed weights (a linear at small batch, a MoE expert's rows):
     * each B micro-panel is used by a few row tiles only, so the weights stream from
     * memory at the speed of a few FMAs per line and the tiles wait on DRAM. The first row
     * tile of each panel then prefetches the next panel into L2, one panel ahead. Weights
     * that stay in the caches need no prefetch, which costs a few tiny tiles load slots. */
    int stream_b = g->b_packed && m <= GEMM_STREAM_ROWS &&
                   (double)k * (double)n >= GEMM_STREAM_FLOATS;

    for (int64_t jc = 0; jc < n; jc += ncmax) {
        int64_t nc = gemm_min(ncmax, n - jc);
        for (int64_t pc = 0; pc < k; pc += kcmax) {
            int64_t kc = gemm_min(kcmax, k - pc);
            int load_c = g->accumulate || pc > 0, last = pc + kc == k;
            if (bpack) gemm_pack_b_block(kc, nc, g->b + pc * g->b_rs + jc * g->b_cs, g->b_rs,
                                         g->b_cs, bpack);
            for (int64_t ic = 0; ic < m; ic += mcmax) {
                int64_t mc = gemm_min(mcmax, m - ic);
                if (apack) gemm_pack_a_block(mc, kc, g->a + ic * g->a_rs + pc * g->a_cs,
                                             g->a_rs, g->a_cs, apack);
                for (int64_t jr = 0; jr < nc; jr += GEMM_NR) {
                    int nr = (int)gemm_min(GEMM_NR, nc - jr);
                    const float *bp = bpack ? bpack + jr * kc
                                            : g->b_packed + (jc + jr) * bpk + pc * GEMM_NR;
                    /* the panel after this one: the next columns, else the next k slice of
                     * the first panel when it is as deep (never past the packed weights) */
                    const float *bnext = NULL;
                    if (stream_b && jr + GEMM_NR < nc)
                        bnext = g->b_packed + (jc + jr + GEMM_NR) * bpk + pc * GEMM_NR;
                    else if (stream_b && pc + 2 * kc <= k)
                        bnext = g->b_packed + jc * bpk + (pc + kc) * GEMM_NR;
                    for (int64_t ir = 0; ir < mc; ir += GEMM_MR) {
                        int mr = (int)gemm_min(GEMM_MR, mc - ir);
                        const float *ap = direct ? g->a + (ic + ir) * g->a_rs + pc
                                          : apack ? apack + ir * kc
                                                  : g->a_packed + (ic + ir) * apk + pc * GEMM_MR;
                        float *ct = c + (ic + ir) * ldc + jc + jr;
                        gemm_tile(mr, kc, ap, direct ? g->a_rs : 0, bp, ir == 0 ? bnext : NULL, ct,
                                  ldc, nr, load_c);
                        if (last && has_ep) {
                            int64_t i0 = ic + ir, j0 = jc + jr;
                            const float *res = g->ep.residual ? g->ep.residual + i0 * ldc + j0
                                                              : NULL;
                            const float *bs = !bias ? NULL : g->bias_per_row ? bias + i0
                                                                             : bias + j0;
                            ndlrt_epilogue_f32(&g->ep, mr, nr, ct, ldc, res, bs,
                                               g->bias_per_row);
                        }
                    }
                }
            }
        }
    }
}

#if GEMM_OMP
/* The part of g over rows [i0, i1) and columns [j0, j1) (i0 a multiple of MR where A is
 * packed, j0 a multiple of NR where B is). */
static NdlrtGemm gemm_part(const NdlrtGemm *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1)
{
    NdlrtGemm s = *g;
    int64_t apk = g->a_packed_k > 0 ? g->a_packed_k : g->k;
    int64_t bpk = g->b_packed_k > 0 ? g->b_packed_k : g->k;
    s.m = i1 - i0, s.n = j1 - j0;
    if (g->a_packed) s.a_packed = g->a_packed + i0 * apk;
    else s.a = g->a + i0 * g->a_rs;
    if (g->b_packed) s.b_packed = g->b_packed + j0 * bpk;
    else s.b = g->b + j0 * g->b_cs;
    s.c = g->c + i0 * g->c_rs + j0;
    if (g->ep.residual) s.ep.residual = g->ep.residual + i0 * g->c_rs + j0;
    if (g->ep.bias) s.ep.bias = g->ep.bias + (g->bias_per_row ? i0 : j0);
    return s;
}
#endif

NDLRT_API void ndlrt_gemm_f32(const NdlrtGemm *g, float *scratch)
{
#if GEMM_OMP
    /* Large products outside a parallel region: split the columns (each thread streams
     * its share of B, the weights of a linear) when there are enough NR-wide panels and
     * few rows, else the rows; each thread has its own share of the scratch. */
    int64_t m = g->m, n = g->n, k = g->k;
    if (m > 0 && n > 0 && k > 0 && (double)m * (double)n * (double)k >= 262144.0 &&
        !omp_in_parallel()) {
        int64_t um = (m + GEMM_MR - 1) / GEMM_MR, un = (n + GEMM_NR - 1) / GEMM_NR;
        int by_n = un >= 2 * NDLRT_THREADS && (um < 8 * NDLRT_THREADS || un >= um);
        if (by_n || um >= 2) {
            size_t share = gemm_scratch_one(m, n, k, g->a_packed != NULL, g->b_packed != NULL);
#pragma omp parallel num_threads(NDLRT_THREADS)
            {
                int t = omp_get_thread_num(), nt = omp_get_num_threads();
                int64_t units = by_n ? un : um, u0 = units * t / nt, u1 = units * (t + 1) / nt;
                if (u1 > u0) {
                    NdlrtGemm part = by_n ? gemm_part(g, 0, m, u0 * GEMM_NR, gemm_min(n, u1 * GEMM_NR))
                                          : gemm_part(g, u0 * GEMM_MR, gemm_min(m, u1 * GEMM_MR), 0, n);
                    gemm_serial(&part, scratch + (size_t)t * share);
                }
            }
            return;
        }
    }
#endif
    gemm_serial(g, scratch);
}
