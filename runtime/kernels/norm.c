/* SPDX-License-Identifier: MIT
 * norm.c - layer_norm and rms_norm over the last axis of [rows, d], and batch_norm in eval
 * mode on [n, c, inner]. layer_norm takes the mean first and then the biased variance of
 * the centred values (two passes: no cancellation); sums run in 16 independent float lanes
 * so that compilers can vectorize them without reassociating.
 */
#include "../ndlrt.h"

#include <math.h>

#if defined(__AVX512F__)
#include <immintrin.h>

/* The sum of x[0..n) and, with c, of (x - c)^2, in 4 x 16 lanes. */
static float norm_sum16(const float *x, int64_t n, int sq, float c)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, vc = _mm512_set1_ps(c);
    int64_t j = 0;
    for (; j + 64 <= n; j += 64) {
        __m512 v0 = _mm512_loadu_ps(x + j), v1 = _mm512_loadu_ps(x + j + 16);
        __m512 v2 = _mm512_loadu_ps(x + j + 32), v3 = _mm512_loadu_ps(x + j + 48);
        if (sq) {
            v0 = _mm512_sub_ps(v0, vc), v1 = _mm512_sub_ps(v1, vc);
            v2 = _mm512_sub_ps(v2, vc), v3 = _mm512_sub_ps(v3, vc);
            a0 = _mm512_fmadd_ps(v0, v0, a0), a1 = _mm512_fmadd_ps(v1, v1, a1);
            a2 = _mm512_fmadd_ps(v2, v2, a2), a3 = _mm512_fmadd_ps(v3, v3, a3);
        } else {
            a0 = _mm512_add_ps(a0, v0), a1 = _mm512_add_ps(a1, v1);
            a2 = _mm512_add_ps(a2, v2), a3 = _mm512_add_ps(a3, v3);
        }
    }
    for (; j < n; j += 16) {
        __mmask16 m = (__mmask16)(n - j >= 16 ? 0xFFFF : (1u << (n - j)) - 1u);
        __m512 v = _mm512_maskz_loadu_ps(m, x + j);
        if (sq) {
            v = _mm512_maskz_sub_ps(m, v, vc);
            a0 = _mm512_fmadd_ps(v, v, a0);
        } else {
            a0 = _mm512_add_ps(a0, v);
        }
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

/* y = (x - mean) * inv * w + b (w, b may be NULL) */
static void norm_apply16(const float *x, int64_t n, float mean, float inv, const float *w,
                         const float *b, float *y)
{
    __m512 vm = _mm512_set1_ps(mean), vi = _mm512_set1_ps(inv);
    for (int64_t j = 0; j < n; j += 16) {
        __mmask16 m = (__mmask16)(n - j >= 16 ? 0xFFFF : (1u << (n - j)) - 1u);
        __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), vm), vi);
        if (w) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + j));
        if (b) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, b + j));
        _mm512_mask_storeu_ps(y + j, m, v);
    }
}
#endif

#define NORM_LANES 16

static float norm_sum(const float *x, int64_t n)
{
    float s[NORM_LANES] = {0};
    int64_t j = 0;
    for (; j + NORM_LANES <= n; j += NORM_LANES)
        for (int q = 0; q < NORM_LANES; q++) s[q] += x[j + q];
    for (; j < n; j++) s[0] += x[j];
    for (int w = NORM_LANES / 2; w > 0; w /= 2)
        for (int q = 0; q < w; q++) s[q] += s[q + w];
    return s[0];
}

/* sum of (x - c)^2 */
static float norm_sqsum(const float *x, int64_t n, float c)
{
    float s[NORM_LANES] = {0};
    int64_t j = 0;
    for (; j + NORM_LANES <= n; j += NORM_LANES)
        for (int q = 0; q < NORM_LANES; q++) {
            float v = x[j + q] - c;
            s[q] += v * v;
        }
    for (; j < n; j++) {
        float v = x[j] - c;
        s[0] += v * v;
    }
    for (int w = NORM_LANES / 2; w > 0; w /= 2)
        for (int q = 0; q < w; q++) s[q] += s[q + w];
    return s[0];
}

NDLRT_API void ndlrt_layer_norm_f32(int64_t rows, int64_t d, const float *x, const float *w,
                                    const float *b, float eps, float *y)
{
    if (d <= 0) return;
#if defined(__AVX512F__)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        float mean = norm_sum16(xr, d, 0, 0.0f) / (float)d;
        float var = norm_sum16(xr, d, 1, mean) / (float)d;
        norm_apply16(xr, d, mean, 1.0f / sqrtf(var + eps), w, b, y + r * d);
    }
    return;
#endif
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        float *yr = y + r * d;
        float mean = norm_sum(xr, d) / (float)d;
        float var = norm_sqsum(xr, d, mean) / (float)d;
        float inv = 1.0f / sqrtf(var + eps);
        if (w && b)
            for (int64_t j = 0; j < d; j++) yr[j] = (xr[j] - mean) * inv * w[j] + b[j];
        else if (w)
            for (int64_t j = 0; j < d; j++) yr[j] = (xr[j] - mean) * inv * w[j];
        else if (b)
            for (int64_t j = 0; j < d; j++) yr[j] = (xr[j] - mean) * inv + b[j];
        else
            for (int64_t j = 0; j < d; j++) yr[j] = (xr[j] - mean) * inv;
    }
}

NDLRT_API void ndlrt_rms_norm_f32(int64_t rows, int64_t d, const float *x, const float *w,
                                  float eps, float *y)
{
    if (d <= 0) return;
#if defined(__AVX512F__)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        float inv = 1.0f / sqrtf(norm_sum16(xr, d, 1, 0.0f) / (float)d + eps);
        norm_apply16(xr, d, 0.0f, inv, w, NULL, y + r * d);
    }
    return;
#endif
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        float *yr = y + r * d;
        float inv = 1.0f / sqrtf(norm_sqsum(xr, d, 0.0f) / (float)d + eps);
        if (w)
            for (int64_t j = 0; j < d; j++) yr[j] = xr[j] * inv * w[j];
        else
            for (int64_t j = 0; j < d; j++) yr[j] = xr[j] * inv;
    }
}

/* y = (x - mean) / sqrt(var + eps) * w + b, per channel; applied as (x - mean) * s + b. */
NDLRT_API void ndlrt_batch_norm_f32(int64_t n, int64_t c, int64_t inner, const float *x,
                                    const float *mean, const float *var, const float *w,
                                    const float *b, float eps, float *y)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t ch = 0; ch < c; ch++) {
            float s = 1.0f / sqrtf(var[ch] + eps), mu = mean[ch];
            if (w) s *= w[ch];
            float t = b ? b[ch] : 0.0f;
            const float *xs = x + (i * c + ch) * inner;
            float *ys = y + (i * c + ch) * inner;
            for (int64_t j = 0; j < inner; j++) ys[j] = (xs[j] - mu) * s + t;
        }
}
