/* SPDX-License-Identifier: MIT
 * vmath.h - vectorized float math for the kernels: exp and the activations of
 * ir/eltwise.def on 16 (AVX-512) or 8 (AVX2+FMA) lanes, and ndlrt_act_row(), which applies
 * an activation to a row with them (the scalar expression of ir/eltwise.def elsewhere, and
 * for the activations without a vector form: log).
 * Accuracy against the libm expressions of ir/eltwise.def (tests/unit/test_kernels.c checks
 * a dense grid and the special values): exp, sigmoid, silu, tanh, gelu_tanh within a few
 * ulp; gelu (erf) within 2e-7 relative (Abramowitz & Stegun 7.1.26 for erfc, |error| <=
 * 1.5e-7, computed without cancellation on both sides of 0). NaN, +-inf and signed zero
 * behave as the scalar expressions do (up to the sign of a zero).
 * Header-only (static inline); the generated C carries it once, before the kernels.
 */
#ifndef NDLRT_VMATH_H
#define NDLRT_VMATH_H

#include <math.h>
#include <stdint.h>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

/* Which activations the vector paths below implement: all but log, and the f16/bf16
 * roundings of a cast, which stay scalar (exact libm arithmetic; never the hot loop). */
static inline int ndlrt_act_has_vector(int act)
{
    return act != NDLRT_ACT_LOG && act != NDLRT_ACT_ROUND_F16 && act != NDLRT_ACT_ROUND_BF16;
}

#define VM_LOG2E 1.44269504088896341f
#define VM_LN2_HI 0.693359375f
#define VM_LN2_LO -2.12194440e-4f
/* Cephes expf: exp(r) = 1 + r + r^2 (P5 + P4 r + ...), |r| <= ln2 / 2 */
#define VM_EXP_P0 1.9875691500e-4f
#define VM_EXP_P1 1.3981999507e-3f
#define VM_EXP_P2 8.3334519073e-3f
#define VM_EXP_P3 4.1665795894e-2f
#define VM_EXP_P4 1.6666665459e-1f
#define VM_EXP_P5 5.0000001201e-1f
/* Abramowitz & Stegun 7.1.26: erfc(a) ~ t (A1 + t (A2 + ...)) exp(-a^2), t = 1/(1 + P a) */
#define VM_ERF_P 0.3275911f
#define VM_ERF_A1 0.254829592f
#define VM_ERF_A2 -0.284496736f
#define VM_ERF_A3 1.421413741f
#define VM_ERF_A4 -1.453152027f
#define VM_ERF_A5 1.061405429f
/* Cephes tanhf for |x| < 0.625: x + x^3 (T0 z^4 + ... + T4), z = x^2 */
#define VM_TANH_T0 -5.70498872745e-3f
#define VM_TANH_T1 2.06390887954e-2f
#define VM_TANH_T2 -5.37397155531e-2f
#define VM_TANH_T3 1.33314422036e-1f
#define VM_TANH_T4 -3.33332819422e-1f

#if defined(__AVX512F__)

#define VM_S16(c) _mm512_set1_ps(c)

/* exp(x): +inf above ~88.72, 0 below ~-103.9, NaN stays NaN. */
static inline __m512 ndlrt_v16_exp(__m512 x)
{
    x = _mm512_min_ps(VM_S16(104.0f), x); /* a NaN in the second operand survives */
    x = _mm512_max_ps(VM_S16(-104.0f), x);
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, VM_S16(VM_LOG2E)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, VM_S16(VM_LN2_HI), x);
    r = _mm512_fnmadd_ps(n, VM_S16(VM_LN2_LO), r);
    __m512 p = VM_S16(VM_EXP_P0);
    p = _mm512_fmadd_ps(p, r, VM_S16(VM_EXP_P1));
    p = _mm512_fmadd_ps(p, r, VM_S16(VM_EXP_P2));
    p = _mm512_fmadd_ps(p, r, VM_S16(VM_EXP_P3));
    p = _mm512_fmadd_ps(p, r, VM_S16(VM_EXP_P4));
    p = _mm512_fmadd_ps(p, r, VM_S16(VM_EXP_P5));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, VM_S16(1.0f)));
    return _mm512_scalef_ps(p, n); /* p * 2^n, overflowing to inf, underflowing to 0 */
}

/* 0.5 x (1 + erf(x / sqrt 2)) = x (1 - e/2) for x >= 0, x e/2 below, e = erfc(|x| / sqrt 2) */
static inline __m512 ndlrt_v16_gelu(__m512 x)
{
    __m512 a = _mm512_mul_ps(_mm512_abs_ps(x), VM_S16(0.70710678118654752f));
    __m512 t = _mm512_div_ps(VM_S16(1.0f), _mm512_fmadd_ps(a, VM_S16(VM_ERF_P), VM_S16(1.0f)));
    __m512 p = _mm512_fmadd_ps(VM_S16(VM_ERF_A5), t, VM_S16(VM_ERF_A4));
    p = _mm512_fmadd_ps(p, t, VM_S16(VM_ERF_A3));
    p = _mm512_fmadd_ps(p, t, VM_S16(VM_ERF_A2));
    p = _mm512_fmadd_ps(p, t, VM_S16(VM_ERF_A1));
    p = _mm512_mul_ps(p, t);
    __m512 h = _mm512_mul_ps(_mm512_mul_ps(p, VM_S16(0.5f)),
                             ndlrt_v16_exp(_mm512_mul_ps(a, _mm512_sub_ps(_mm512_setzero_ps(), a))));
    __mmask16 pos = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GE_OQ);
    __m512 f = _mm512_mask_sub_ps(h, pos, VM_S16(1.0f), h);
    return _mm512_mul_ps(x, f);
}

/* tanh: the Cephes polynomial below 0.625, 1 - 2 / (exp(2|x|) + 1) above, with x's sign */
static inline __m512 ndlrt_v16_tanh(__m512 x)
{
    __m512 a = _mm512_abs_ps(x);
    __m512 e = ndlrt_v16_exp(_mm512_add_ps(a, a));
    __m512 big = _mm512_sub_ps(VM_S16(1.0f),
                               _mm512_div_ps(VM_S16(2.0f), _mm512_add_ps(e, VM_S16(1.0f))));
    big = _mm512_castsi512_ps(_mm512_or_si512(
        _mm512_castps_si512(big),
        _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32((int)0x80000000u))));
    __m512 z = _mm512_mul_ps(x, x);
    __m512 p = _mm512_fmadd_ps(VM_S16(VM_TANH_T0), z, VM_S16(VM_TANH_T1));
    p = _mm512_fmadd_ps(p, z, VM_S16(VM_TANH_T2));
    p = _mm512_fmadd_ps(p, z, VM_S16(VM_TANH_T3));
    p = _mm512_fmadd_ps(p, z, VM_S16(VM_TANH_T4));
    __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(p, z), x, x);
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, VM_S16(0.625f), _CMP_LT_OQ), big, small);
}

/* x / (1 + exp(-s x)) (s = 1: silu; times 1/x: sigmoid) */
static inline __m512 ndlrt_v16_silu(__m512 x)
{
    return _mm512_div_ps(x, _mm512_add_ps(VM_S16(1.0f),
                                          ndlrt_v16_exp(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

static inline __m512 ndlrt_v16_sigmoid(__m512 x)
{
    return _mm512_div_ps(VM_S16(1.0f), _mm512_add_ps(VM_S16(1.0f),
                         ndlrt_v16_exp(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

/* 0.5 x (1 + tanh(u)) = x / (1 + exp(-2u)), u = 0.7978845608 (x + 0.044715 x^3) */
static inline __m512 ndlrt_v16_gelu_tanh(__m512 x)
{
    __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
    __m512 u = _mm512_mul_ps(_mm512_fmadd_ps(x3, VM_S16(0.044715f), x),
                             VM_S16(-2.0f * 0.79788456080286536f));
    return _mm512_div_ps(x, _mm512_add_ps(VM_S16(1.0f), ndlrt_v16_exp(u)));
}

/* min(max(v, 0), 6) with fmaxf/fminf's NaN rule (the number wins) */
static inline __m512 ndlrt_v16_clamp6(__m512 v)
{
    return _mm512_min_ps(_mm512_max_ps(v, _mm512_setzero_ps()), VM_S16(6.0f));
}

/* Whether ndlrt_v16_act has a vector form of act. */
static inline int ndlrt_v16_has_act(int act) { return ndlrt_act_has_vector(act); }

/* The activation act (NdlrtAct) on 16 lanes; act must satisfy ndlrt_v16_has_act. */
static inline __m512 ndlrt_v16_act(__m512 x, int act)
{
    switch (act) {
    case NDLRT_ACT_RELU: /* x > 0 ? x : (NaN ? x : 0): MAXPS returns its second operand on NaN */
        return _mm512_max_ps(_mm512_setzero_ps(), x);
    case NDLRT_ACT_RELU6: {
        __m512 v = ndlrt_v16_clamp6(x);
        return _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x);
    }
    case NDLRT_ACT_GELU: return ndlrt_v16_gelu(x);
    case NDLRT_ACT_GELU_TANH: return ndlrt_v16_gelu_tanh(x);
    case NDLRT_ACT_SILU: return ndlrt_v16_silu(x);
    case NDLRT_ACT_SIGMOID: return ndlrt_v16_sigmoid(x);
    case NDLRT_ACT_TANH: return ndlrt_v16_tanh(x);
    case NDLRT_ACT_HARDSWISH:
        return _mm512_div_ps(_mm512_mul_ps(x, ndlrt_v16_clamp6(_mm512_add_ps(x, VM_S16(3.0f)))),
                             VM_S16(6.0f));
    case NDLRT_ACT_HARDSIGMOID:
        return _mm512_div_ps(ndlrt_v16_clamp6(_mm512_add_ps(x, VM_S16(3.0f))), VM_S16(6.0f));
    case NDLRT_ACT_EXP: return ndlrt_v16_exp(x);
    case NDLRT_ACT_SQRT: return _mm512_sqrt_ps(x);
    case NDLRT_ACT_RSQRT: return _mm512_div_ps(VM_S16(1.0f), _mm512_sqrt_ps(x));
    case NDLRT_ACT_ABS: return _mm512_abs_ps(x);
    case NDLRT_ACT_NEG:
        return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(x),
                                                    _mm512_set1_epi32((int)0x80000000u)));
    default: return x;
    }
}

#elif defined(__AVX2__) && defined(__FMA__)

#define VM_S8(c) _mm256_set1_ps(c)

/* exp(x): +inf above ~88.72, 0 below ~-87.3, NaN stays NaN. */
static inline __m256 ndlrt_v8_exp(__m256 x0)
{
    __m256 x = _mm256_min_ps(VM_S8(88.0f), x0);
    x = _mm256_max_ps(VM_S8(-87.33654f), x);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, VM_S8(VM_LOG2E)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, VM_S8(VM_LN2_HI), x);
    r = _mm256_fnmadd_ps(n, VM_S8(VM_LN2_LO), r);
    __m256 p = VM_S8(VM_EXP_P0);
    p = _mm256_fmadd_ps(p, r, VM_S8(VM_EXP_P1));
    p = _mm256_fmadd_ps(p, r, VM_S8(VM_EXP_P2));
    p = _mm256_fmadd_ps(p, r, VM_S8(VM_EXP_P3));
    p = _mm256_fmadd_ps(p, r, VM_S8(VM_EXP_P4));
    p = _mm256_fmadd_ps(p, r, VM_S8(VM_EXP_P5));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, VM_S8(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)),
                                  23);
    __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
    y = _mm256_andnot_ps(_mm256_cmp_ps(x0, VM_S8(-87.33654f), _CMP_LT_OQ), y);
    y = _mm256_blendv_ps(y, VM_S8(INFINITY), _mm256_cmp_ps(x0, VM_S8(88.0f), _CMP_GT_OQ));
    return _mm256_blendv_ps(y, x0, _mm256_cmp_ps(x0, x0, _CMP_UNORD_Q));
}

static inline __m256 ndlrt_v8_gelu(__m256 x)
{
    __m256 a = _mm256_mul_ps(_mm256_andnot_ps(VM_S8(-0.0f), x), VM_S8(0.70710678118654752f));
    __m256 t = _mm256_div_ps(VM_S8(1.0f), _mm256_fmadd_ps(a, VM_S8(VM_ERF_P), VM_S8(1.0f)));
    __m256 p = _mm256_fmadd_ps(VM_S8(VM_ERF_A5), t, VM_S8(VM_ERF_A4));
    p = _mm256_fmadd_ps(p, t, VM_S8(VM_ERF_A3));
    p = _mm256_fmadd_ps(p, t, VM_S8(VM_ERF_A2));
    p = _mm256_fmadd_ps(p, t, VM_S8(VM_ERF_A1));
    p = _mm256_mul_ps(p, t);
    __m256 h = _mm256_mul_ps(_mm256_mul_ps(p, VM_S8(0.5f)),
                             ndlrt_v8_exp(_mm256_mul_ps(a, _mm256_sub_ps(_mm256_setzero_ps(), a))));
    __m256 pos = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ);
    __m256 f = _mm256_blendv_ps(h, _mm256_sub_ps(VM_S8(1.0f), h), pos);
    return _mm256_mul_ps(x, f);
}

static inline __m256 ndlrt_v8_tanh(__m256 x)
{
    __m256 a = _mm256_andnot_ps(VM_S8(-0.0f), x);
    __m256 e = ndlrt_v8_exp(_mm256_add_ps(a, a));
    __m256 big = _mm256_sub_ps(VM_S8(1.0f), _mm256_div_ps(VM_S8(2.0f), _mm256_add_ps(e, VM_S8(1.0f))));
    big = _mm256_or_ps(big, _mm256_and_ps(x, VM_S8(-0.0f)));
    __m256 z = _mm256_mul_ps(x, x);
    __m256 p = _mm256_fmadd_ps(VM_S8(VM_TANH_T0), z, VM_S8(VM_TANH_T1));
    p = _mm256_fmadd_ps(p, z, VM_S8(VM_TANH_T2));
    p = _mm256_fmadd_ps(p, z, VM_S8(VM_TANH_T3));
    p = _mm256_fmadd_ps(p, z, VM_S8(VM_TANH_T4));
    __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
    return _mm256_blendv_ps(big, small, _mm256_cmp_ps(a, VM_S8(0.625f), _CMP_LT_OQ));
}

static inline __m256 ndlrt_v8_clamp6(__m256 v)
{
    return _mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), VM_S8(6.0f));
}

static inline int ndlrt_v8_has_act(int act) { return ndlrt_act_has_vector(act); }

static inline __m256 ndlrt_v8_act(__m256 x, int act)
{
    __m256 z = _mm256_setzero_ps(), one = VM_S8(1.0f);
    switch (act) {
    case NDLRT_ACT_RELU: return _mm256_max_ps(z, x);
    case NDLRT_ACT_RELU6:
        return _mm256_blendv_ps(ndlrt_v8_clamp6(x), x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
    case NDLRT_ACT_GELU: return ndlrt_v8_gelu(x);
    case NDLRT_ACT_GELU_TANH: {
        __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
        __m256 u = _mm256_mul_ps(_mm256_fmadd_ps(x3, VM_S8(0.044715f), x),
                                 VM_S8(-2.0f * 0.79788456080286536f));
        return _mm256_div_ps(x, _mm256_add_ps(one, ndlrt_v8_exp(u)));
    }
    case NDLRT_ACT_SILU: return _mm256_div_ps(x, _mm256_add_ps(one, ndlrt_v8_exp(_mm256_sub_ps(z, x))));
    case NDLRT_ACT_SIGMOID:
        return _mm256_div_ps(one, _mm256_add_ps(one, ndlrt_v8_exp(_mm256_sub_ps(z, x))));
    case NDLRT_ACT_TANH: return ndlrt_v8_tanh(x);
    case NDLRT_ACT_HARDSWISH:
        return _mm256_div_ps(_mm256_mul_ps(x, ndlrt_v8_clamp6(_mm256_add_ps(x, VM_S8(3.0f)))),
                             VM_S8(6.0f));
    case NDLRT_ACT_HARDSIGMOID:
        return _mm256_div_ps(ndlrt_v8_clamp6(_mm256_add_ps(x, VM_S8(3.0f))), VM_S8(6.0f));
    case NDLRT_ACT_EXP: return ndlrt_v8_exp(x);
    case NDLRT_ACT_SQRT: return _mm256_sqrt_ps(x);
    case NDLRT_ACT_RSQRT: return _mm256_div_ps(one, _mm256_sqrt_ps(x));
    case NDLRT_ACT_ABS: return _mm256_andnot_ps(VM_S8(-0.0f), x);
    case NDLRT_ACT_NEG: return _mm256_xor_ps(x, VM_S8(-0.0f));
    default: return x;
    }
}

#endif

/* The scalar activation (ir/eltwise.def's expression). */
static inline float ndlrt_act1(float x, int act)
{
    switch (act) {
#define EW1(K, name, expr)                                                               \
    case NDLRT_ACT_##K:                                                                  \
        return expr;
#include "../../ir/eltwise.def"
#undef EW1
    default:
        return x;
    }
}

/* y[i] = act(x[i]) for i < n (x == y allowed). */
static inline void ndlrt_act_row(float *y, const float *x, int64_t n, int act)
{
    if (act == NDLRT_ACT_NONE) {
        if (x != y)
            for (int64_t i = 0; i < n; i++) y[i] = x[i];
        return;
    }
    int64_t i = 0;
#if defined(__AVX512F__)
    if (ndlrt_v16_has_act(act)) {
        for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, ndlrt_v16_act(_mm512_loadu_ps(x + i), act));
        if (i < n) {
            __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
            _mm512_mask_storeu_ps(y + i, m, ndlrt_v16_act(_mm512_maskz_loadu_ps(m, x + i), act));
            return;
        }
    }
#elif defined(__AVX2__) && defined(__FMA__)
    if (ndlrt_v8_has_act(act))
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, ndlrt_v8_act(_mm256_loadu_ps(x + i), act));
#endif
    for (; i < n; i++) y[i] = ndlrt_act1(x[i], act);
}

#endif
