/* SPDX-License-Identifier: MIT
 * attention.c - fused scaled-dot-product attention with an online softmax (FlashAttention,
 * Dao et al. 2022, section 3.1): per head, blocks of BQ queries against blocks of BK keys,
 * S = Q K^T and O += P V through the GEMM core, with running row maxima and sums, so no
 * [tq, tk] matrix exists. Causal masking is top-left aligned (key j <= query i), as
 * F.scaled_dot_product_attention(is_causal=True); key blocks past the diagonal are skipped.
 * K^T and V are packed once per head (once in all when broadcast); the output rows are the
 * accumulator; Q and P are read in place by the GEMM. exp is vectorized (vmath.h). Needs
 * gemm.c.
 */
#include "../ndlrt.h"
#include "vmath.h"

#include <math.h>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

#define ATTN_BQ 64
#define ATTN_BK 128 /* a multiple of NR: key blocks start on K^T panel boundaries */
#define ATTN_ALIGN 16

static int64_t attn_min(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t attn_roundup(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

static float *attn_align(float *p)
{
    uintptr_t u = (uintptr_t)p, a = ATTN_ALIGN * sizeof(float);
    return (float *)(void *)((u + a - 1) / a * a);
}

/* s[j] = exp(s[j] * scale - shift) for j < n; returns the sum. */
static float attn_exp_row(float *s, int64_t n, float scale, float shift)
{
    int64_t j = 0;
    float sum = 0.0f;
#if defined(__AVX512F__)
    __m512 acc = _mm512_setzero_ps(), sh = _mm512_set1_ps(shift), sc = _mm512_set1_ps(scale);
    for (; j < n; j += 16) {
        __mmask16 m = (__mmask16)(n - j >= 16 ? 0xFFFF : (1u << (n - j)) - 1u);
        __m512 e = ndlrt_v16_exp(_mm512_fmsub_ps(_mm512_maskz_loadu_ps(m, s + j), sc, sh));
        e = _mm512_maskz_mov_ps(m, e);
        _mm512_mask_storeu_ps(s + j, m, e);
        acc = _mm512_add_ps(acc, e);
    }
    sum = _mm512_reduce_add_ps(acc);
#elif defined(__AVX2__) && defined(__FMA__)
    __m256 acc = _mm256_setzero_ps(), sh = _mm256_set1_ps(shift), sc = _mm256_set1_ps(scale);
    for (; j + 8 <= n; j += 8) {
        __m256 e = ndlrt_v8_exp(_mm256_fmsub_ps(_mm256_loadu_ps(s + j), sc, sh));
        _mm256_storeu_ps(s + j, e);
        acc = _mm256_add_ps(acc, e);
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, acc);
    for (int q = 0; q < 8; q++) sum += lanes[q];
#endif
    for (; j < n; j++) {
        s[j] = expf(s[j] * scale - shift);
        sum += s[j];
    }
    return sum;
}

/* The largest of s[j] * scale, j < n (-inf if none; NaN is carried by the sum). */
static float attn_max_row(const float *s, int64_t n, float scale)
{
    int64_t j = 0;
    float mx = -INFINITY;
#if defined(__AVX512F__)
    __m512 acc = _mm512_set1_ps(-INFINITY), sc = _mm512_set1_ps(scale);
    for (; j < n; j += 16) {
        __mmask16 m = (__mmask16)(n - j >= 16 ? 0xFFFF : (1u << (n - j)) - 1u);
        acc = _mm512_mask_max_ps(acc, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, s + j), sc), acc);
    }
    mx = _mm512_reduce_max_ps(acc);
#endif
    for (; j < n; j++) {
        float v = s[j] * scale;
        if (v > mx) mx = v;
    }
    return mx;
}

/* ---- the kernel --------------------------------------------------------------------------- */

typedef struct AttnScratch {
    float *kp, *vp, *s, *mrow, *lrow, *gs;
} AttnScratch;

/* Carves the scratch (when base is NULL, only counts); returns the floats used. */
static size_t attn_carve(const NdlrtAttention *p, float *base, AttnScratch *sc)
{
    int64_t bq = attn_min(p->tq, ATTN_BQ), bk = attn_min(p->tk, ATTN_BK);
    size_t gs_qk = ndlrt_gemm_scratch_floats(bq, bk, p->d, 0, 1);
    size_t gs_pv = ndlrt_gemm_scratch_floats(bq, p->dv, bk, 0, 1);
    size_t sizes[6] = {
        ndlrt_gemm_packed_b_floats(p->d, p->tk),
        (size_t)(attn_roundup(p->dv, NDLRT_GEMM_NR) * p->tk),
        (size_t)(bq * bk),
        (size_t)bq,
        (size_t)bq,
        gs_qk > gs_pv ? gs_qk : gs_pv,
    };
    float **slots[6] = {&sc->kp, &sc->vp, &sc->s, &sc->mrow, &sc->lrow, &sc->gs};
    size_t total = 0;
    for (int i = 0; i < 6; i++) {
        if (base) {
            *slots[i] = attn_align(base + total);
            total = (size_t)(*slots[i] - base) + sizes[i];
        } else {
            total += sizes[i] + ATTN_ALIGN;
        }
    }
    return total;
}

NDLRT_API size_t ndlrt_attention_scratch_floats(const NdlrtAttention *p)
{
    AttnScratch sc;
    if (p->batch <= 0 || p->tq <= 0 || p->tk <= 0) return 0;
    return attn_carve(p, NULL, &sc);
}

NDLRT_API void ndlrt_attention_f32(const NdlrtAttention *p, const float *q, const float *k,
                                   const float *v, float *y, float *scratch)
{
    int64_t tq = p->tq, tk = p->tk, d = p->d, dv = p->dv;
    if (p->batch <= 0 || tq <= 0 || dv <= 0) return;
    if (tk <= 0) { /* softmax over no keys: an empty sum */
        for (int64_t h = 0; h < p->batch; h++)
            for (int64_t i = 0; i < tq * dv; i++) y[h * p->y_stride + i] = 0.0f;
        return;
    }
    AttnScratch sc;
    attn_carve(p, scratch, &sc);
    int64_t dvr = attn_roundup(dv, NDLRT_GEMM_NR);
    for (int64_t h = 0; h < p->batch; h++) {
        const float *qh = q + h * p->q_stride, *kh = k + h * p->k_stride;
        const float *vh = v + h * p->v_stride;
        float *yh = y + h * p->y_stride;
        if (h == 0 || p->k_stride != 0) ndlrt_gemm_pack_b(d, tk, kh, 1, d, sc.kp);
        if (h == 0 || p->v_stride != 0)
            for (int64_t j0 = 0; j0 < tk; j0 += ATTN_BK)
                ndlrt_gemm_pack_b(attn_min(ATTN_BK, tk - j0), dv, vh + j0 * dv, dv, 1,
                                  sc.vp + j0 * dvr);
        for (int64_t i0 = 0; i0 < tq; i0 += ATTN_BQ) {
            int64_t bq = attn_min(ATTN_BQ, tq - i0);
            int64_t jend = p->causal ? attn_min(tk, i0 + bq) : tk;
            for (int64_t i = 0; i < bq; i++) sc.mrow[i] = -INFINITY, sc.lrow[i] = 0.0f;
            for (int64_t j0 = 0; j0 < jend; j0 += ATTN_BK) {
                int64_t bk = attn_min(ATTN_BK, jend - j0);
                NdlrtGemm g = {0};
                g.m = bq, g.n = bk, g.k = d;
                g.a = qh + i0 * d, g.a_rs = d, g.a_cs = 1;
                g.b_packed = sc.kp + j0 * d;
                g.c = sc.s, g.c_rs = bk;
                ndlrt_gemm_f32(&g, sc.gs);
                for (int64_t i = 0; i < bq; i++) {
                    float *srow = sc.s + i * bk, *yrow = yh + (i0 + i) * dv;
                    int64_t lim = p->causal ? attn_min(bk, i0 + i + 1 - j0) : bk;
                    if (lim < 0) lim = 0;
                    float mx = attn_max_row(srow, lim, p->scale);
                    float mnew = sc.mrow[i] > mx ? sc.mrow[i] : mx;
                    if (lim <= 0 || mnew == -INFINITY) { /* nothing visible here yet */
                        for (int64_t j = 0; j < bk; j++) srow[j] = 0.0f;
                        continue;
                    }
                    float alpha = expf(sc.mrow[i] - mnew);
                    float sum = attn_exp_row(srow, lim, p->scale, mnew);
                    for (int64_t j = lim; j < bk; j++) srow[j] = 0.0f;
                    sc.lrow[i] = sc.lrow[i] * alpha + sum;
                    sc.mrow[i] = mnew;
                    if (j0 > 0 && alpha != 1.0f)
                        for (int64_t c = 0; c < dv; c++) yrow[c] *= alpha;
                }
                NdlrtGemm o = {0};
                o.m = bq, o.n = dv, o.k = bk;
                o.a = sc.s, o.a_rs = bk, o.a_cs = 1;
                o.b_packed = sc.vp + j0 * dvr;
                o.b_packed_k = attn_min(ATTN_BK, tk - j0); /* as packed; bk may be less */
                o.c = yh + i0 * dv, o.c_rs = dv;
                o.accumulate = j0 > 0;
                ndlrt_gemm_f32(&o, sc.gs);
            }
            for (int64_t i = 0; i < bq; i++) {
                float inv = 1.0f / sc.lrow[i], *yrow = yh + (i0 + i) * dv;
                for (int64_t c = 0; c < dv; c++) yrow[c] *= inv;
            }
        }
    }
}
