/* SPDX-License-Identifier: MIT
 * softmax.c - softmax, log_softmax, sum/mean/amax/amin and argmax along the middle axis
 * of a tensor seen as [outer, len, inner].
 * softmax subtracts the maximum before exp (a NaN anywhere in a slice makes the slice NaN,
 * as in PyTorch); exp is a vectorized Cephes polynomial where AVX2/AVX-512 exist. Sums
 * for reductions are accumulated in double; max/min propagate NaN; argmax returns the
 * first maximum, NaN counting as the largest (torch.argmax). With inner > 1 the work runs
 * across blocks of SMAX_COLS columns, whose per-column state lives on the stack.
 */
#include "../ndlrt.h"

#include <math.h>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

#define SMAX_COLS 64

/* ---- exp (the same polynomial as attention.c) ------------------------------------------ */
#define SMAX_LOG2E 1.44269504088896341f
#define SMAX_LN2_HI 0.693359375f
#define SMAX_LN2_LO -2.12194440e-4f

#if defined(__AVX512F__)
static inline __m512 smax_exp16(__m512 x)
{
    x = _mm512_min_ps(_mm512_set1_ps(88.0f), x); /* NaN in the second operand survives */
    x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(SMAX_LOG2E)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(SMAX_LN2_HI), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(SMAX_LN2_LO), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}
#elif defined(__AVX2__) && defined(__FMA__)
static inline __m256 smax_exp8(__m256 x0)
{
    const __m256 lo = _mm256_set1_ps(-87.33654f);
    __m256 x = _mm256_min_ps(_mm256_set1_ps(88.0f), x0);
    x = _mm256_max_ps(lo, x);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(SMAX_LOG2E)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(SMAX_LN2_HI), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(SMAX_LN2_LO), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)),
                                  23);
    __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
    y = _mm256_andnot_ps(_mm256_cmp_ps(x0, lo, _CMP_LT_OQ), y);
    return _mm256_blendv_ps(y, x0, _mm256_cmp_ps(x0, x0, _CMP_UNORD_Q));
}
#endif

/* y[j] = exp(x[j] - shift[j or 0]) for j < n (shift per element when per_col); the sums go
 * to *sum (one float) or, per column, to sums[j]. */
static void smax_exp(const float *x, float *y, int64_t n, const float *shift, int per_col,
                     float *sum, float *sums)
{
    int64_t j = 0;
#if defined(__AVX512F__)
    __m512 acc = _mm512_setzero_ps(), sh = _mm512_set1_ps(shift[0]);
    for (; j < n; j += 16) {
        __mmask16 m = (__mmask16)(n - j >= 16 ? 0xFFFF : (1u << (n - j)) - 1u);
        if (per_col) sh = _mm512_maskz_loadu_ps(m, shift + j);
        __m512 e = smax_exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), sh));
        e = _mm512_maskz_mov_ps(m, e);
        _mm512_mask_storeu_ps(y + j, m, e);
        if (per_col)
            _mm512_mask_storeu_ps(sums + j, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, sums + j), e));
        else
            acc = _mm512_add_ps(acc, e);
    }
    if (!per_col) *sum += _mm512_reduce_add_ps(acc);
#elif defined(__AVX2__) && defined(__FMA__)
    __m256 acc = _mm256_setzero_ps(), sh = _mm256_set1_ps(shift[0]);
    for (; j + 8 <= n; j += 8) {
        if (per_col) sh = _mm256_loadu_ps(shift + j);
        __m256 e = smax_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + j), sh));
        _mm256_storeu_ps(y + j, e);
        if (per_col)
            _mm256_storeu_ps(sums + j, _mm256_add_ps(_mm256_loadu_ps(sums + j), e));
        else
            acc = _mm256_add_ps(acc, e);
    }
    if (!per_col) {
        float lanes[8];
        _mm256_storeu_ps(lanes, acc);
        for (int q = 0; q < 8; q++) *sum += lanes[q];
    }
#endif
    for (; j < n; j++) {
        float e = expf(x[j] - shift[per_col ? j : 0]);
        y[j] = e;
        if (per_col) sums[j] += e;
        else *sum += e;
    }
}

/* The largest element of x[0..n) ignoring NaN (-inf if none); NaN is taken care of by
 * the sum, which it turns into NaN. */
static float smax_max(const float *x, int64_t n)
{
    float m[16];
    int64_t j = 0;
    for (int q = 0; q < 16; q++) m[q] = -INFINITY;
    for (; j + 16 <= n; j += 16)
        for (int q = 0; q < 16; q++) m[q] = x[j + q] > m[q] ? x[j + q] : m[q];
    for (; j < n; j++) m[0] = x[j] > m[0] ? x[j] : m[0];
    for (int q = 1; q < 16; q++) m[0] = m[q] > m[0] ? m[q] : m[0];
    return m[0];
}

static void smax_run(const NdlrtAxis *p, const float *x, float *y, int logs)
{
    int64_t len = p->len, inner = p->inner;
    for (int64_t o = 0; o < p->outer; o++) {
        const float *xo = x + o * len * inner;
        float *yo = y + o * len * inner;
        if (inner == 1) {
            float mx = smax_max(xo, len), sum = 0.0f;
            smax_exp(xo, yo, len, &mx, 0, &sum, NULL);
            if (logs) { /* (x - max) - log(sum), as PyTorch: max + log(sum) would round to max's ulp */
                float ls = logf(sum);
                for (int64_t j = 0; j < len; j++) yo[j] = (xo[j] - mx) - ls;
            } else {
                float inv = 1.0f / sum;
                for (int64_t j = 0; j < len; j++) yo[j] *= inv;
            }
            continue;
        }
        for (int64_t q0 = 0; q0 < inner; q0 += SMAX_COLS) {
            int64_t w = inner - q0 < SMAX_COLS ? inner - q0 : SMAX_COLS;
            float mx[SMAX_COLS], sum[SMAX_COLS];
            for (int64_t q = 0; q < w; q++) mx[q] = -INFINITY, sum[q] = 0.0f;
            for (int64_t j = 0; j < len; j++) {
                const float *xr = xo + j * inner + q0;
                for (int64_t q = 0; q < w; q++) mx[q] = xr[q] > mx[q] ? xr[q] : mx[q];
            }
            for (int64_t j = 0; j < len; j++)
                smax_exp(xo + j * inner + q0, yo + j * inner + q0, w, mx, 1, NULL, sum);
            if (logs) {
                for (int64_t q = 0; q < w; q++) sum[q] = logf(sum[q]);
                for (int64_t j = 0; j < len; j++) {
                    const float *xr = xo + j * inner + q0;
                    float *yr = yo + j * inner + q0;
                    for (int64_t q = 0; q < w; q++) yr[q] = (xr[q] - mx[q]) - sum[q];
                }
            } else {
                for (int64_t q = 0; q < w; q++) sum[q] = 1.0f / sum[q];
                for (int64_t j = 0; j < len; j++) {
                    float *yr = yo + j * inner + q0;
                    for (int64_t q = 0; q < w; q++) yr[q] *= sum[q];
                }
            }
        }
    }
}

NDLRT_API void ndlrt_softmax_f32(const NdlrtAxis *p, const float *x, float *y)
{
    smax_run(p, x, y, 0);
}

NDLRT_API void ndlrt_log_softmax_f32(const NdlrtAxis *p, const float *x, float *y)
{
    smax_run(p, x, y, 1);
}

/* ---- reductions ------------------------------------------------------------------------ */

/* a op= v for max (kind 2) and min (kind 3), NaN winning. */
static float smax_pick(int kind, float a, float v)
{
    if (kind == 2) return (v > a || v != v) ? v : a;
    return (v < a || v != v) ? v : a;
}

NDLRT_API void ndlrt_reduce_f32(const NdlrtAxis *p, int kind, const float *x, float *y)
{
    int64_t len = p->len, inner = p->inner;
    for (int64_t o = 0; o < p->outer; o++) {
        const float *xo = x + o * len * inner;
        float *yo = y + o * inner;
        if (len == 0) {
            float v = kind == 0 ? 0.0f : NAN; /* mean of nothing is NaN, as in torch */
            for (int64_t q = 0; q < inner; q++) yo[q] = v;
            continue;
        }
        if (inner == 1) {
            if (kind <= 1) {
                double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                int64_t j = 0;
                for (; j + 8 <= len; j += 8)
                    for (int q = 0; q < 8; q++) s[q] += xo[j + q];
                for (; j < len; j++) s[0] += xo[j];
                double t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
                yo[0] = (float)(kind == 1 ? t / (double)len : t);
            } else {
                float a = xo[0];
                for (int64_t j = 1; j < len; j++) a = smax_pick(kind, a, xo[j]);
                yo[0] = a;
            }
            continue;
        }
        for (int64_t q0 = 0; q0 < inner; q0 += SMAX_COLS) {
            int64_t w = inner - q0 < SMAX_COLS ? inner - q0 : SMAX_COLS;
            if (kind <= 1) {
                double s[SMAX_COLS];
                for (int64_t q = 0; q < w; q++) s[q] = 0.0;
                for (int64_t j = 0; j < len; j++) {
                    const float *xr = xo + j * inner + q0;
                    for (int64_t q = 0; q < w; q++) s[q] += xr[q];
                }
                for (int64_t q = 0; q < w; q++)
                    yo[q0 + q] = (float)(kind == 1 ? s[q] / (double)len : s[q]);
            } else {
                float *a = yo + q0;
                for (int64_t q = 0; q < w; q++) a[q] = xo[q0 + q];
                for (int64_t j = 1; j < len; j++) {
                    const float *xr = xo + j * inner + q0;
                    for (int64_t q = 0; q < w; q++) a[q] = smax_pick(kind, a[q], xr[q]);
                }
            }
        }
    }
}

NDLRT_API void ndlrt_argmax_f32(const NdlrtAxis *p, const float *x, int64_t *y)
{
    int64_t len = p->len, inner = p->inner;
    for (int64_t o = 0; o < p->outer; o++)
        for (int64_t q = 0; q < inner; q++) {
            const float *xs = x + o * len * inner + q;
            int64_t best = 0;
            float b = len > 0 ? xs[0] : 0.0f;
            for (int64_t j = 1; j < len && b == b; j++) {
                float v = xs[j * inner];
                if (v > b || v != v) b = v, best = j;
            }
            y[o * inner + q] = best;
        }
}
