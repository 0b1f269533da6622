/* SPDX-License-Identifier: MIT
 * conv.c - F.conv2d on NCHW with the fused epilogue (bias per output channel).
 * Three paths, chosen from the shape alone (so packing and running agree):
 *   depthwise (groups == c == o): direct loops over each channel's plane;
 *   1x1, stride 1, no padding: per image and group, a GEMM of the packed weights
 *     [o/g, c/g] with the image seen as [c/g, h*w] (the core packs the image);
 *   otherwise: im2col written straight into the GEMM core's packed-B layout, one block
 *     of output columns at a time, then a GEMM with the packed weights.
 * Weights are packed at compile time: per group, MR-row panels of [o/g, c/g*kh*kw]
 * (ndlrt_gemm_pack_a); depthwise weights stay [c, kh*kw]. Needs gemm.c.
 * With AVX-512, convolutions whose output rows line up with the input's (stride 1 with
 * ow == w; stride 2 with ow == ceil(w/2), through even/odd phase planes of the input) run
 * as a direct convolution instead of im2col: a register tile of up to MR output channels
 * x 32 output positions accumulates, for each tap and input channel, a weight broadcast
 * from the same packed panels times 16-lane input vectors loaded in place at the tap's
 * offset, masked where the tap falls into the padding; the epilogue is applied in
 * registers. Channels left over by whole panels (16 = 14 + 2) join the last panel's in
 * equal tiles of up to 9 channels x 48 positions (8 + 8). 1x1 convolutions on 1 to 4
 * positions put output channels in the lanes instead (conv_pw_small). The packed layout,
 * and so what the compiler packs, is the same either way.
 */
#include "../ndlrt.h"
#include "vmath.h"

#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#if defined(_OPENMP) && NDLRT_THREADS > 1
#include <omp.h>
#define CONV_OMP 1
#else
#define CONV_OMP 0
#endif

/* Column blocks of im2col hold at most this many floats (with at least 64 columns), so
 * the block stays in L2 while the weights stream past it. */
#define CONV_BLOCK_FLOATS (96 * 1024)

static int conv_depthwise(const NdlrtConv2d *p)
{
    return p->groups == p->c && p->o == p->c;
}

static int conv_pointwise(const NdlrtConv2d *p)
{
    return p->kh == 1 && p->kw == 1 && p->sh == 1 && p->sw == 1 && p->ph == 0 && p->pw == 0 &&
           p->oh == p->h && p->ow == p->w;
}

static int64_t conv_k(const NdlrtConv2d *p) { return p->c / p->groups * p->kh * p->kw; }

/* Output columns per im2col block: a multiple of NR. */
static int64_t conv_cols(const NdlrtConv2d *p)
{
    int64_t hw = p->oh * p->ow, nr = NDLRT_GEMM_NR;
    int64_t all = (hw + nr - 1) / nr * nr, k = conv_k(p);
    int64_t fit = k > 0 ? CONV_BLOCK_FLOATS / k / nr * nr : all;
    if (fit < 2 * nr) fit = 2 * nr;
    return all < fit ? all : fit;
}

NDLRT_API size_t ndlrt_conv2d_packed_floats(const NdlrtConv2d *p)
{
    if (conv_depthwise(p)) return (size_t)(p->c * p->kh * p->kw);
    return (size_t)p->groups * ndlrt_gemm_packed_a_floats(p->o / p->groups, conv_k(p));
}

NDLRT_API void ndlrt_conv2d_pack(const NdlrtConv2d *p, const float *w, float *packed)
{
    if (conv_depthwise(p)) {
        memcpy(packed, w, (size_t)(p->c * p->kh * p->kw) * sizeof(float));
        return;
    }
    int64_t og = p->o / p->groups, k = conv_k(p);
    size_t per = ndlrt_gemm_packed_a_floats(og, k);
    for (int64_t g = 0; g < p->groups; g++)
        ndlrt_gemm_pack_a(og, k, w + g * og * k, k, 1, packed + (size_t)g * per);
}

/* ---- direct convolution (AVX-512; the scratch is sized for it on every target) ------ */

/* 0: no direct path; else the stride (1 or 2) of a shape whose output rows line up with
 * the input's rows (stride 1) or with its even/odd phase planes (stride 2). */
static int conv_direct_stride(const NdlrtConv2d *p)
{
    if (conv_depthwise(p) || p->oh <= 0 || p->ow <= 0 || p->kh * p->kw > 64 ||
        p->oh * p->ow >= (1 << 22) || p->h >= (1 << 20) || p->w >= (1 << 20))
        return 0;
    if (p->sh == 1 && p->sw == 1 && p->ow == p->w) return 1;
    if (p->sh == 2 && p->sw == 2 && p->ow == (p->w + 1) / 2 && p->oh <= (p->h + 1) / 2 &&
        p->dh == 1 && p->dw == 1)
        return 2;
    return 0;
}

/* Floats of one group's input as 4 phase planes of ceil(h/2) x ceil(w/2), aligned. */
static size_t conv_planes_floats(const NdlrtConv2d *p)
{
    int64_t hp = (p->h + 1) / 2, wp = (p->w + 1) / 2;
    return (size_t)(4 * (p->c / p->groups) * hp * wp + 32);
}

/* Floats of the direct path's scratch: the per-vector tap masks (uint16) and, for stride
 * 2, each thread's phase planes. */
static size_t conv_direct_floats(const NdlrtConv2d *p, int st)
{
    int64_t nvec = (p->oh * p->ow + 15) / 16 + 1, taps = p->kh * p->kw;
    size_t masks = (size_t)((nvec * taps + 1) / 2 + 16);
    if (st != 2) return masks;
    return masks + conv_planes_floats(p) * (size_t)NDLRT_THREADS;
}

static size_t conv_depthwise_scratch_floats(const NdlrtConv2d *p);

NDLRT_API size_t ndlrt_conv2d_scratch_floats(const NdlrtConv2d *p)
{
    if (conv_depthwise(p)) return conv_depthwise_scratch_floats(p);
    int64_t og = p->o / p->groups, cg = p->c / p->groups;
    size_t s;
    if (conv_pointwise(p)) s = ndlrt_gemm_scratch_floats(og, p->h * p->w, cg, 1, 0);
    else s = (size_t)(conv_k(p) * conv_cols(p) + NDLRT_GEMM_NR);
    int st = conv_direct_stride(p);
    if (st) {
        size_t d = conv_direct_floats(p, st);
        if (d > s) s = d;
    }
    return s;
}

#if defined(__AVX512F__)

#if defined(__GNUC__)
#define CONV_INLINE static inline __attribute__((always_inline))
#define CONV_NOINLINE static __attribute__((noinline))
#else
#define CONV_INLINE static inline
#define CONV_NOINLINE static
#endif

/* Lanes j < n (0 <= n; all 16 from n = 16 on). */
static __mmask16 conv_first_lanes(int64_t n)
{
    return (__mmask16)(n >= 16 ? 0xFFFF : n > 0 ? (1u << n) - 1u : 0u);
}

/* The epilogue's activations other than relu, one vector at a time, for the tiles' and the
 * depthwise paths' stores (out of line: one copy of the switch instead of one per store). */
CONV_NOINLINE __m512 conv_act16(__m512 v, int act)
{
    return ndlrt_v16_act(v, act);
}

/* What a tile needs besides its position. */
typedef struct ConvDirect {
    int64_t cg, taps, plane;      /* input channels, taps, floats between input channels */
    const int64_t *toff;          /* per tap: offset of the tap's source from the output index */
    const uint16_t *masks;        /* per output vector and tap: the lanes inside the input */
    int64_t ohw;                  /* output positions per channel */
    int inreg;                    /* the epilogue is applied in the tile's registers (every
                                     activation but those without a vector form) */
    int act, act2;
} ConvDirect;

/* y rows [0, mr) (output channels, row stride ohw), output positions [p0, p0 + 16 nv):
 * y = epilogue(sum over taps t and input channels c of a(row, c*taps + t) * x[c*plane +
 * p + toff[t]]), a being the packed MR-row panel. */
CONV_INLINE void conv_tile(const int mr, const int nv, const ConvDirect *d, const float *a,
                           const float *x, int64_t p0, float *y, const float *bias,
                           const float *res)
{
    __m512 z = _mm512_setzero_ps();
    __m512 c0_0 = z, c0_1 = z, c1_0 = z, c1_1 = z, c2_0 = z, c2_1 = z, c3_0 = z, c3_1 = z;
    __m512 c4_0 = z, c4_1 = z, c5_0 = z, c5_1 = z, c6_0 = z, c6_1 = z, c7_0 = z, c7_1 = z;
    __m512 c8_0 = z, c8_1 = z, c9_0 = z, c9_1 = z, c10_0 = z, c10_1 = z, c11_0 = z, c11_1 = z;
    __m512 c12_0 = z, c12_1 = z, c13_0 = z, c13_1 = z;
    int64_t vec = p0 / 16, astep = d->taps * NDLRT_GEMM_MR;
    for (int64_t t = 0; t < d->taps; t++) {
        __mmask16 k0 = (__mmask16)d->masks[vec * d->taps + t];
        __mmask16 k1 = nv > 1 ? (__mmask16)d->masks[(vec + 1) * d->taps + t] : (__mmask16)0;
        if (!(k0 | k1)) continue;
        const float *xs = x + p0 + d->toff[t], *ap = a + t * NDLRT_GEMM_MR;
        for (int64_t ci = 0; ci < d->cg; ci++, xs += d->plane, ap += astep) {
            __m512 b0 = _mm512_maskz_loadu_ps(k0, xs);
            __m512 b1 = nv > 1 ? _mm512_maskz_loadu_ps(k1, xs + 16) : z;
#define CONV_FMA(i)                                                                      \
    if (mr > i) {                                                                        \
        __m512 w = _mm512_set1_ps(ap[i]);                                                \
        c##i##_0 = _mm512_fmadd_ps(w, b0, c##i##_0);                                     \
        if (nv > 1) c##i##_1 = _mm512_fmadd_ps(w, b1, c##i##_1);                         \
    }
            CONV_FMA(0) CONV_FMA(1) CONV_FMA(2) CONV_FMA(3) CONV_FMA(4) CONV_FMA(5)
            CONV_FMA(6) CONV_FMA(7) CONV_FMA(8) CONV_FMA(9) CONV_FMA(10) CONV_FMA(11)
            CONV_FMA(12) CONV_FMA(13)
#undef CONV_FMA
        }
    }
    int64_t left = d->ohw - p0;
    __mmask16 s0 = conv_first_lanes(left);
    __mmask16 s1 = (__mmask16)(nv < 2 || left <= 16 ? 0u : left >= 32 ? 0xFFFF : (1u << (left - 16)) - 1u);
    int ra = d->act == NDLRT_ACT_RELU, rb = d->act2 == NDLRT_ACT_RELU;
    int hs = d->act == NDLRT_ACT_HARDSWISH; /* MobileNetV3's, inline */
#define CONV_EP(v, i, s, off)                                                            \
    if (d->inreg) {                                                                      \
        if (bias) v = _mm512_add_ps(v, _mm512_set1_ps(bias[i]));                         \
        if (ra) v = _mm512_max_ps(z, v);                                                 \
        else if (hs) v = ndlrt_v16_act(v, NDLRT_ACT_HARDSWISH);                          \
        else if (d->act) v = conv_act16(v, d->act);                                      \
        if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(s, res + i * d->ohw + p0 + off)); \
        if (rb) v = _mm512_max_ps(z, v);                                                 \
        else if (d->act2) v = conv_act16(v, d->act2);                                    \
    }                                                                                    \
    _mm512_mask_storeu_ps(y + i * d->ohw + p0 + off, s, v);
#define CONV_STORE(i)                                                                    \
    if (mr > i) {                                                                        \
        CONV_EP(c##i##_0, i, s0, 0)                                                      \
        if (nv > 1) { CONV_EP(c##i##_1, i, s1, 16) }                                     \
    }
    CONV_STORE(0) CONV_STORE(1) CONV_STORE(2) CONV_STORE(3) CONV_STORE(4) CONV_STORE(5)
    CONV_STORE(6) CONV_STORE(7) CONV_STORE(8) CONV_STORE(9) CONV_STORE(10) CONV_STORE(11)
    CONV_STORE(12) CONV_STORE(13)
#undef CONV_STORE
#undef CONV_EP
}

/* The same for up to CONV_ROWS_MAX output channels x nv (1..3) vectors, whose weight rows
 * are found through per-row pointers (w[i]: row i's first weight in its packed panel), so
 * that a tile may take the end of one MR-row panel and the start of the next: the channels
 * left over by whole panels then join the last panel's in tiles of equal size (16 channels:
 * 8 + 8 instead of 14 + 2, whose 2-row tile ran at half the speed). y and res point at
 * row 0 of the tile; rows are ohw apart. */
#define CONV_ROWS_MAX 9
CONV_INLINE void conv_tile_rows(const int mr, const int nv, const ConvDirect *d,
                                const float *const *w, const float *x, int64_t p0, float *y,
                                const float *bias, const float *res)
{
    __m512 z = _mm512_setzero_ps();
    __m512 c0_0 = z, c0_1 = z, c0_2 = z, c1_0 = z, c1_1 = z, c1_2 = z, c2_0 = z, c2_1 = z;
    __m512 c2_2 = z, c3_0 = z, c3_1 = z, c3_2 = z, c4_0 = z, c4_1 = z, c4_2 = z, c5_0 = z;
    __m512 c5_1 = z, c5_2 = z, c6_0 = z, c6_1 = z, c6_2 = z, c7_0 = z, c7_1 = z, c7_2 = z;
    __m512 c8_0 = z, c8_1 = z, c8_2 = z;
    const float *w0 = w[0], *w1 = mr > 1 ? w[1] : w0, *w2 = mr > 2 ? w[2] : w0;
    const float *w3 = mr > 3 ? w[3] : w0, *w4 = mr > 4 ? w[4] : w0, *w5 = mr > 5 ? w[5] : w0;
    const float *w6 = mr > 6 ? w[6] : w0, *w7 = mr > 7 ? w[7] : w0, *w8 = mr > 8 ? w[8] : w0;
    int64_t vec = p0 / 16, astep = d->taps * NDLRT_GEMM_MR;
    for (int64_t t = 0; t < d->taps; t++) {
        __mmask16 k0 = (__mmask16)d->masks[vec * d->taps + t];
        __mmask16 k1 = nv > 1 ? (__mmask16)d->masks[(vec + 1) * d->taps + t] : (__mmask16)0;
        __mmask16 k2 = nv > 2 ? (__mmask16)d->masks[(vec + 2) * d->taps + t] : (__mmask16)0;
        if (!(k0 | k1 | k2)) continue;
        const float *xs = x + p0 + d->toff[t];
        int64_t off = t * NDLRT_GEMM_MR; /* of this tap and input channel in every row */
        for (int64_t ci = 0; ci < d->cg; ci++, xs += d->plane, off += astep) {
            __m512 b0 = _mm512_maskz_loadu_ps(k0, xs);
            __m512 b1 = nv > 1 ? _mm512_maskz_loadu_ps(k1, xs + 16) : z;
            __m512 b2 = nv > 2 ? _mm512_maskz_loadu_ps(k2, xs + 32) : z;
#define CONV_FMA(i)                                                                      \
    if (mr > i) {                                                                        \
        __m512 wv = _mm512_set1_ps(w##i[off]);                                           \
        c##i##_0 = _mm512_fmadd_ps(wv, b0, c##i##_0);                                    \
        if (nv > 1) c##i##_1 = _mm512_fmadd_ps(wv, b1, c##i##_1);                        \
        if (nv > 2) c##i##_2 = _mm512_fmadd_ps(wv, b2, c##i##_2);                        \
    }
            CONV_FMA(0) CONV_FMA(1) CONV_FMA(2) CONV_FMA(3) CONV_FMA(4) CONV_FMA(5)
            CONV_FMA(6) CONV_FMA(7) CONV_FMA(8)
#undef CONV_FMA
        }
    }
    int64_t left = d->ohw - p0;
    __mmask16 s[3];
    for (int q = 0; q < 3; q++) {
        int64_t l = q < nv ? left - 16 * q : 0;
        s[q] = conv_first_lanes(l);
    }
    int ra = d->act == NDLRT_ACT_RELU, rb = d->act2 == NDLRT_ACT_RELU;
    int hs = d->act == NDLRT_ACT_HARDSWISH; /* MobileNetV3's, inline */
#define CONV_EP(v, i, q)                                                                 \
    if (d->inreg) {                                                                      \
        if (bias) v = _mm512_add_ps(v, _mm512_set1_ps(bias[i]));                         \
        if (ra) v = _mm512_max_ps(z, v);                                                 \
        else if (hs) v = ndlrt_v16_act(v, NDLRT_ACT_HARDSWISH);                          \
        else if (d->act) v = conv_act16(v, d->act);                                      \
        if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(s[q], res + i * d->ohw + p0 + 16 * q)); \
        if (rb) v = _mm512_max_ps(z, v);                                                 \
        else if (d->act2) v = conv_act16(v, d->act2);                                    \
    }                                                                                    \
    _mm512_mask_storeu_ps(y + i * d->ohw + p0 + 16 * q, s[q], v);
#define CONV_STORE(i)                                                                    \
    if (mr > i) {                                                                        \
        CONV_EP(c##i##_0, i, 0)                                                          \
        if (nv > 1) { CONV_EP(c##i##_1, i, 1) }                                          \
        if (nv > 2) { CONV_EP(c##i##_2, i, 2) }                                          \
    }
    CONV_STORE(0) CONV_STORE(1) CONV_STORE(2) CONV_STORE(3) CONV_STORE(4) CONV_STORE(5)
    CONV_STORE(6) CONV_STORE(7) CONV_STORE(8)
#undef CONV_STORE
#undef CONV_EP
}

static void conv_tile_rows_any(int mr, int nv, const ConvDirect *d, const float *const *w,
                               const float *x, int64_t p0, float *y, const float *bias,
                               const float *res)
{
#define CONV_CASE(r)                                                                     \
    case r:                                                                              \
        if (nv > 2) conv_tile_rows(r, 3, d, w, x, p0, y, bias, res);                     \
        else if (nv > 1) conv_tile_rows(r, 2, d, w, x, p0, y, bias, res);                \
        else conv_tile_rows(r, 1, d, w, x, p0, y, bias, res);                            \
        break;
    switch (mr) {
    CONV_CASE(9) CONV_CASE(8) CONV_CASE(7) CONV_CASE(6) CONV_CASE(5) CONV_CASE(4)
    CONV_CASE(3) CONV_CASE(2)
    default: CONV_CASE(1)
    }
#undef CONV_CASE
}

static void conv_tile_any(int mr, int nv, const ConvDirect *d, const float *a, const float *x,
                          int64_t p0, float *y, const float *bias, const float *res)
{
#define CONV_CASE(r)                                                                     \
    case r:                                                                              \
        if (nv > 1) conv_tile(r, 2, d, a, x, p0, y, bias, res);                          \
        else conv_tile(r, 1, d, a, x, p0, y, bias, res);                                 \
        break;
    switch (mr) {
    CONV_CASE(14) CONV_CASE(13) CONV_CASE(12) CONV_CASE(11) CONV_CASE(10) CONV_CASE(9)
    CONV_CASE(8) CONV_CASE(7) CONV_CASE(6) CONV_CASE(5) CONV_CASE(4) CONV_CASE(3)
    CONV_CASE(2)
    default: CONV_CASE(1)
    }
#undef CONV_CASE
}

/* Splits the 32 even/odd floats at src (n <= 32 valid) into 16 evens and 16 odds. */
static void conv_deinterleave(const float *src, int64_t n, float *ev, float *od, int64_t ne,
                              int64_t no)
{
    __mmask16 l0 = (__mmask16)(n >= 16 ? 0xFFFF : (1u << n) - 1u);
    __mmask16 l1 = (__mmask16)(n >= 32 ? 0xFFFF : n > 16 ? (1u << (n - 16)) - 1u : 0u);
    __m512 a = _mm512_maskz_loadu_ps(l0, src), b = _mm512_maskz_loadu_ps(l1, src + 16);
    __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    __m512i io = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    _mm512_mask_storeu_ps(ev, (__mmask16)(ne >= 16 ? 0xFFFF : (1u << ne) - 1u),
                          _mm512_permutex2var_ps(a, ie, b));
    if (no > 0)
        _mm512_mask_storeu_ps(od, (__mmask16)(no >= 16 ? 0xFFFF : (1u << no) - 1u),
                              _mm512_permutex2var_ps(a, io, b));
}

/* One image and group u = img * groups + g: (for stride 2, unless flags & 4) its phase
 * planes, then output vectors [v_begin, v_end) of every output channel. */
static void conv_direct_unit(const NdlrtConv2d *p, const ConvDirect *d, int st, const float *x,
                             float *y, int64_t u, float *planes, unsigned used_rows,
                             unsigned flags, int64_t v_begin, int64_t v_end)
{
    int64_t og = p->o / p->groups, cg = p->c / p->groups, k = conv_k(p);
    int64_t hw = p->h * p->w, ohw = p->oh * p->ow, img = u / p->groups, g = u % p->groups;
    int64_t hp = (p->h + 1) / 2, wp = (p->w + 1) / 2, pp = hp * wp;
    size_t per = ndlrt_gemm_packed_a_floats(og, k);
    const float *xg = x + (img * p->c + g * cg) * hw;
    if (st == 2) {
        if (!(flags & 4)) { /* the phase planes [2][2][cg][hp][wp] that some tap reads */
            for (int64_t ci = 0; ci < cg; ci++)
                for (int64_t iy = 0; iy < p->h; iy++) {
                    if (!(used_rows & (1u << (iy & 1)))) continue;
                    const float *row = xg + ci * hw + iy * p->w;
                    float *ev = planes + ((iy & 1) * 2 * cg + ci) * pp + (iy / 2) * wp;
                    float *od = ev + cg * pp;
                    for (int64_t x0 = 0; x0 < p->w; x0 += 32) {
                        int64_t n = p->w - x0 < 32 ? p->w - x0 : 32;
                        conv_deinterleave(row + x0, n, ev + x0 / 2, od + x0 / 2, (n + 1) / 2,
                                          flags & 2 ? n / 2 : 0);
                    }
                }
        }
        xg = planes;
    }
    int has_ep = !ndlrt_epilogue_empty(&p->ep);
    int64_t yoff = (img * p->o + g * og) * ohw;
    const float *wg = p->w_packed + (size_t)g * per;
    /* Output channels [0, tail0) in whole MR-row panels (conv_tile, 2 vectors); the rest,
     * a remainder of at most 6 channels with the last whole panel, or one of at most
     * CONV_ROWS_MAX alone, in equal tiles through row pointers (conv_tile_rows, 3 vectors). */
    int64_t full = og / NDLRT_GEMM_MR, rem = og % NDLRT_GEMM_MR, tail0 = og;
    if (rem && full >= 1 && rem <= 6) tail0 = (full - 1) * NDLRT_GEMM_MR;
    else if (rem && rem <= CONV_ROWS_MAX) tail0 = full * NDLRT_GEMM_MR;
    int64_t ntail = (og - tail0 + CONV_ROWS_MAX - 1) / CONV_ROWS_MAX;
    /* spatial blocks of 6 vectors, each against every channel tile while its inputs are
     * in L1 */
    for (int64_t v0 = v_begin; v0 < v_end; v0 += 6) {
        int64_t vend = v0 + 6 < v_end ? v0 + 6 : v_end;
        for (int64_t q = 0, o0 = 0; o0 < og; q++) {
            int rows_tile = o0 >= tail0;
            int64_t o1 = rows_tile ? tail0 + (og - tail0) * (q - tail0 / NDLRT_GEMM_MR + 1) / ntail
                                   : (o0 + NDLRT_GEMM_MR < tail0 ? o0 + NDLRT_GEMM_MR : tail0);
            int mr = (int)(o1 - o0);
            float *yt = y + yoff + o0 * ohw;
            const float *bias = p->ep.bias ? p->ep.bias + g * og + o0 : NULL;
            const float *res = p->ep.residual ? p->ep.residual + yoff + o0 * ohw : NULL;
            const float *wrow[CONV_ROWS_MAX];
            if (rows_tile)
                for (int i = 0; i < mr; i++) {
                    int64_t r = o0 + i;
                    wrow[i] = wg + r / NDLRT_GEMM_MR * NDLRT_GEMM_MR * k + r % NDLRT_GEMM_MR;
                }
            for (int64_t v = v0; v < vend;) {
                int64_t vleft = vend - v;
                int nv = rows_tile ? (vleft >= 3 ? 3 : (int)vleft) : vleft >= 2 ? 2 : 1;
                if (rows_tile) conv_tile_rows_any(mr, nv, d, wrow, xg, v * 16, yt, bias, res);
                else conv_tile_any(mr, nv, d, wg + o0 * k, xg, v * 16, yt, bias, res);
                if (has_ep && !d->inreg) {
                    int64_t cols = ohw - v * 16 < 16 * nv ? ohw - v * 16 : 16 * nv;
                    ndlrt_epilogue_f32(&p->ep, mr, cols, yt + v * 16, ohw,
                                       res ? res + v * 16 : NULL, bias, 1);
                }
                v += nv;
            }
            o0 = o1;
        }
    }
}

/* The direct convolution of every image and group (see the top of the file). */
static void conv_direct_run(const NdlrtConv2d *p, int st, const float *x, float *y, float *scratch)
{
    int64_t cg = p->c / p->groups;
    int64_t hw = p->h * p->w, ohw = p->oh * p->ow, taps = p->kh * p->kw;
    int64_t nvec = (ohw + 15) / 16;
    uint16_t *masks = (uint16_t *)(void *)scratch;
    float *planes = scratch + (nvec + 1) * taps / 2 + 16;
    planes = (float *)(void *)(((uintptr_t)planes + 63) / 64 * 64);
    int64_t hp = (p->h + 1) / 2, wp = (p->w + 1) / 2, pp = hp * wp;
    int64_t toff[64];
    unsigned used_rows = 0, used_cols = 0; /* stride 2: the row and column phases read */
    /* per tap: where its source lies relative to the output index (in the input plane, or
     * for stride 2 in its phase plane), and for every output vector the lanes that read
     * inside the input */
    for (int64_t ki = 0; ki < p->kh; ki++)
        for (int64_t kj = 0; kj < p->kw; kj++) {
            int64_t t = ki * p->kw + kj, dy = ki * p->dh - p->ph, dx = kj * p->dw - p->pw;
            if (st == 1) {
                toff[t] = dy * p->w + dx;
            } else { /* input (2 oy + dy, 2 ox + dx) = phase (dy & 1, dx & 1) at (oy + dy>>1, ox + dx>>1) */
                int64_t fy = dy >= 0 ? dy / 2 : -((-dy + 1) / 2), fx = dx >= 0 ? dx / 2 : -((-dx + 1) / 2);
                int64_t ph = (dy - 2 * fy) * 2 + (dx - 2 * fx);
                toff[t] = ph * cg * pp + fy * wp + fx;
                used_rows |= 1u << (dy - 2 * fy);
                used_cols |= 1u << (dx - 2 * fx);
            }
        }
    {
        /* lane coordinates of each output vector (float division is exact here: the
         * output index is below 2^24 for any image this path takes), then per tap the
         * lanes whose source row and column are inside */
        __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
        __m512i vow = _mm512_set1_epi32((int)p->ow), one = _mm512_set1_epi32(1);
        __m512 fow = _mm512_set1_ps((float)p->ow);
        for (int64_t v = 0; v < nvec; v++) {
            __m512i q = _mm512_add_epi32(_mm512_set1_epi32((int)(v * 16)), lane);
            __m512i oy = _mm512_cvttps_epi32(_mm512_div_ps(_mm512_cvtepi32_ps(q), fow));
            __m512i ox = _mm512_sub_epi32(q, _mm512_mullo_epi32(oy, vow));
            __mmask16 lo = _mm512_cmplt_epi32_mask(ox, _mm512_setzero_si512());
            oy = _mm512_mask_sub_epi32(oy, lo, oy, one), ox = _mm512_mask_add_epi32(ox, lo, ox, vow);
            __mmask16 hi = _mm512_cmpge_epi32_mask(ox, vow);
            oy = _mm512_mask_add_epi32(oy, hi, oy, one), ox = _mm512_mask_sub_epi32(ox, hi, ox, vow);
            __mmask16 in = _mm512_cmplt_epi32_mask(q, _mm512_set1_epi32((int)ohw));
            __m512i sy = _mm512_mullo_epi32(oy, _mm512_set1_epi32(st));
            __m512i sx = _mm512_mullo_epi32(ox, _mm512_set1_epi32(st));
            for (int64_t ki = 0; ki < p->kh; ki++) {
                __m512i iy = _mm512_add_epi32(sy, _mm512_set1_epi32((int)(ki * p->dh - p->ph)));
                __mmask16 my = in & _mm512_cmpge_epi32_mask(iy, _mm512_setzero_si512()) &
                               _mm512_cmplt_epi32_mask(iy, _mm512_set1_epi32((int)p->h));
                for (int64_t kj = 0; kj < p->kw; kj++) {
                    __m512i ix = _mm512_add_epi32(sx, _mm512_set1_epi32((int)(kj * p->dw - p->pw)));
                    __mmask16 m = my & _mm512_cmpge_epi32_mask(ix, _mm512_setzero_si512()) &
                                  _mm512_cmplt_epi32_mask(ix, _mm512_set1_epi32((int)p->w));
                    masks[v * taps + ki * p->kw + kj] = (uint16_t)m;
                }
            }
        }
    }
    ConvDirect d = {cg, taps, st == 1 ? hw : pp, toff, masks, ohw, 0, p->ep.act, p->ep.act2};
    d.inreg = ndlrt_v16_has_act(d.act) && ndlrt_v16_has_act(d.act2);
    int64_t units = p->n * p->groups, share = (int64_t)conv_planes_floats(p);
#if CONV_OMP
    /* images (and groups) across the threads, or with fewer of them than threads, the
     * spatial blocks of each */
    if ((double)units * (double)ohw * (double)(p->o / p->groups) * (double)(cg * taps) >= 262144.0 &&
        !omp_in_parallel()) {
        if (units >= NDLRT_THREADS) {
#pragma omp parallel for num_threads(NDLRT_THREADS) schedule(static)
            for (int64_t u = 0; u < units; u++) {
                float *pl = planes + (int64_t)omp_get_thread_num() * share;
                conv_direct_unit(p, &d, st, x, y, u, pl, used_rows, used_cols, 0, nvec);
            }
        } else {
            for (int64_t u = 0; u < units; u++) {
                if (st == 2) conv_direct_unit(p, &d, st, x, y, u, planes, used_rows, used_cols, 0, 0);
                int64_t nb = (nvec + 3) / 4;
#pragma omp parallel for num_threads(NDLRT_THREADS) schedule(static)
                for (int64_t b = 0; b < nb; b++)
                    conv_direct_unit(p, &d, st, x, y, u, planes, used_rows, used_cols | 4u,
                                     4 * b, 4 * b + 4 < nvec ? 4 * b + 4 : nvec);
            }
        }
        return;
    }
#endif
    (void)share;
    for (int64_t u = 0; u < units; u++)
        conv_direct_unit(p, &d, st, x, y, u, planes, used_rows, used_cols, 0, nvec);
}
#endif

/* ---- depthwise ---------------------------------------------------------------------- */

/* Output columns ox whose input column ox*s + off lies in [0, w): [*lo, *hi). */
static void conv_range(int64_t n, int64_t s, int64_t off, int64_t w, int64_t *lo, int64_t *hi)
{
    int64_t a, b;
    if (s == 1) {
        a = off >= 0 ? 0 : -off;
        b = w - off;
    } else {
        a = off >= 0 ? 0 : (-off + s - 1) / s;
        b = off > w - 1 ? 0 : (w - 1 - off) / s + 1;
    }
    *lo = a < n ? a : n;
    *hi = b < n ? b : n;
    if (*hi < *lo) *hi = *lo;
}

/* Per channel: the output plane is zeroed, then each tap (ki, kj) adds its weight times
 * the shifted input rows; a tap's valid column range is the same for every output row.
 * The path for shapes conv_dw_geom() refuses (strides other than 1 and 2, unequal
 * strides, stride 2 with dilation, more than CONV_DW_MAX_TAPS taps). */
static void conv_depthwise_rows(const NdlrtConv2d *p, const float *x, float *y)
{
    int64_t hw = p->h * p->w, ohw = p->oh * p->ow, taps = p->kh * p->kw;
    int has_ep = !ndlrt_epilogue_empty(&p->ep);
    for (int64_t img = 0; img < p->n; img++)
        for (int64_t ch = 0; ch < p->c; ch++) {
            const float *xc = x + (img * p->c + ch) * hw, *wc = p->w_packed + ch * taps;
            float *yc = y + (img * p->c + ch) * ohw;
            for (int64_t i = 0; i < ohw; i++) yc[i] = 0.0f;
            for (int64_t kj = 0; kj < p->kw; kj++) {
                int64_t off = kj * p->dw - p->pw, lo, hi;
                conv_range(p->ow, p->sw, off, p->w, &lo, &hi);
                if (lo >= hi) continue;
                for (int64_t ki = 0; ki < p->kh; ki++) {
                    float wv = wc[ki * p->kw + kj];
                    /* output rows whose input row oy*sh - ph + ki*dh is inside */
                    int64_t ylo, yhi;
                    conv_range(p->oh, p->sh, ki * p->dh - p->ph, p->h, &ylo, &yhi);
                    for (int64_t oy = ylo; oy < yhi; oy++) {
                        const float *xr = xc + (oy * p->sh - p->ph + ki * p->dh) * p->w + off;
                        float *yr = yc + oy * p->ow;
                        if (p->sw == 1)
                            for (int64_t ox = lo; ox < hi; ox++) yr[ox] += wv * xr[ox];
                        else
                            for (int64_t ox = lo; ox < hi; ox++) yr[ox] += wv * xr[ox * p->sw];
                    }
                }
            }
            if (has_ep) {
                const float *res = p->ep.residual ? p->ep.residual + (yc - y) : NULL;
                ndlrt_epilogue_f32(&p->ep, 1, ohw, yc, ohw, res, p->ep.bias ? p->ep.bias + ch : NULL,
                                   1);
            }
        }
}

/* The flat path below. MobileNet-style networks run depthwise convolutions on planes of
 * 2x2 to 32x32 with 3x3 to 7x7 kernels: per row there are too few outputs to vectorise
 * along a row and the taps-outer loop above re-reads and re-writes the output plane once
 * per tap (49 times for 7x7), which made these layers 90% of a small MobileNetV3's time.
 * Here each channel's input is first copied, zero-padded, into s*s phase planes of
 * hh x wh (stride s = 1 or 2; for stride 2, plane (rp, cp) holds the padded input's rows
 * 2a + rp and columns 2b + cp), so that tap (ki, kj) reads one plane at a constant offset
 * from the flat output position q = oy*wh + ox. The output plane is then one loop over q,
 * up to 64 positions at a time with every tap accumulated in registers; the wh - ow
 * columns per row past the output's width are computed and dropped when the rows are
 * copied out. */
enum { CONV_DW_LANES = 16, CONV_DW_MAX_TAPS = 81 };

typedef struct ConvDwGeom {
    int64_t s, hh, wh; /* stride, phase plane height and width */
    int64_t nq;        /* flat output positions: (oh - 1) * wh + ow */
} ConvDwGeom;

static int conv_dw_geom(const NdlrtConv2d *p, ConvDwGeom *g)
{
    if (p->sh != p->sw || (p->sh != 1 && p->sh != 2) || p->kh * p->kw > CONV_DW_MAX_TAPS ||
        (p->sh == 2 && (p->dh != 1 || p->dw != 1)))
        return 0;
    g->s = p->sh;
    if (g->s == 1) {
        g->hh = p->oh + (p->kh - 1) * p->dh;
        g->wh = p->ow + (p->kw - 1) * p->dw;
    } else {
        g->hh = p->oh + (p->kh - 1) / 2;
        g->wh = p->ow + (p->kw - 1) / 2;
    }
    g->nq = (p->oh - 1) * g->wh + p->ow;
    return 1;
}

/* Floats of the flat path's scratch: the phase planes, then the flat output rounded up to
 * whole blocks. The last block reads up to CONV_DW_LANES floats past the last plane: they
 * lie in the flat output, which is always initialised before it is read that way. */
static size_t conv_dw_scratch_floats(const ConvDwGeom *g)
{
    int64_t blocks = (g->nq + CONV_DW_LANES - 1) / CONV_DW_LANES;
    return (size_t)(g->s * g->s * g->hh * g->wh + (blocks + 1) * CONV_DW_LANES);
}

/* dst[b] = src[b] for b < n: rows of 2 to 32 floats, where a memcpy call per row cost more
 * than the copy. */
static void conv_dw_copy(float *dst, const float *src, int64_t n)
{
    int64_t b = 0;
#if defined(__AVX512F__)
    for (; b + 16 <= n; b += 16) _mm512_storeu_ps(dst + b, _mm512_loadu_ps(src + b));
    if (b < n) {
        __mmask16 m = (__mmask16)((1u << (n - b)) - 1);
        _mm512_mask_storeu_ps(dst + b, m, _mm512_maskz_loadu_ps(m, src + b));
    }
#else
    for (; b < n; b++) dst[b] = src[b];
#endif
}

/* dst[b] = src[2 * b] for b < n: the stride-2 planes' rows (scalar, it was 15% of the
 * depthwise time of a small MobileNetV3). Reads src[0 .. 2n - 2] only. */
static void conv_dw_copy_even(float *dst, const float *src, int64_t n)
{
    int64_t b = 0;
#if defined(__AVX512F__)
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (; b + 16 <= n; b += 16) { /* src[2b .. 2b + 30] */
        __m512 lo = _mm512_loadu_ps(src + 2 * b);
        __m512 hi = _mm512_maskz_loadu_ps((__mmask16)0x7fff, src + 2 * b + 16);
        _mm512_storeu_ps(dst + b, _mm512_permutex2var_ps(lo, even, hi));
    }
    if (b < n) { /* src[2b .. 2n - 2]: 2 (n - b) - 1 floats */
        int64_t m = 2 * (n - b) - 1;
        __mmask16 mlo = (__mmask16)(m >= 16 ? 0xffff : (1u << m) - 1);
        __mmask16 mhi = (__mmask16)(m > 16 ? (1u << (m - 16)) - 1 : 0);
        __m512 lo = _mm512_maskz_loadu_ps(mlo, src + 2 * b);
        __m512 hi = _mm512_maskz_loadu_ps(mhi, src + 2 * b + 16);
        _mm512_mask_storeu_ps(dst + b, (__mmask16)((1u << (n - b)) - 1),
                              _mm512_permutex2var_ps(lo, even, hi));
        return;
    }
#endif
    for (; b < n; b++) dst[b] = src[2 * b];
}

/* Plane (rp, cp) of channel xc [h, w]: element (a, b) is the input at row a*s + rp - ph,
 * column b*s + cp - pw. Only those inside the input are written: the padding is the same
 * for every channel, so it is zeroed once per call. */
static void conv_dw_fill(const NdlrtConv2d *p, const ConvDwGeom *g, const float *xc, float *planes)
{
    for (int64_t rp = 0; rp < g->s; rp++)
        for (int64_t cp = 0; cp < g->s; cp++) {
            float *pl = planes + (rp * g->s + cp) * g->hh * g->wh;
            int64_t lo, hi, alo, ahi; /* plane columns and rows that lie inside the input */
            conv_range(g->wh, g->s, cp - p->pw, p->w, &lo, &hi);
            conv_range(g->hh, g->s, rp - p->ph, p->h, &alo, &ahi);
            for (int64_t a = alo; a < ahi; a++) {
                float *row = pl + a * g->wh;
                const float *xr = xc + (a * g->s + rp - p->ph) * p->w + cp - p->pw;
                if (g->s == 1)
                    conv_dw_copy(row + lo, xr + lo, hi - lo);
                else
                    conv_dw_copy_even(row + lo, xr + 2 * lo, hi - lo);
            }
        }
}

/* flat[q] for q < blocks * CONV_DW_LANES: the sum over taps t of wc[t] * planes[toff[t] + q]. */
#if defined(__AVX512F__)
_Static_assert(CONV_DW_LANES == 16, "conv_dw_taps steps through blocks one vector at a time");

static void conv_dw_taps(const float *planes, const int64_t *toff, const float *wc, int64_t taps,
                         int64_t blocks, float *flat)
{
    int64_t q = 0, nq = blocks * CONV_DW_LANES;
    /* 64 positions at a time: four independent FMA chains hide the FMA latency */
    for (; q + 64 <= nq; q += 64) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t t = 0; t < taps; t++) {
            const float *src = planes + toff[t] + q;
            __m512 wv = _mm512_set1_ps(wc[t]);
            a0 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(src), a0);
            a1 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(src + 16), a1);
            a2 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(src + 32), a2);
            a3 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(src + 48), a3);
        }
        _mm512_storeu_ps(flat + q, a0);
        _mm512_storeu_ps(flat + q + 16, a1);
        _mm512_storeu_ps(flat + q + 32, a2);
        _mm512_storeu_ps(flat + q + 48, a3);
    }
    for (; q + 32 <= nq; q += 32) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0;
        for (int64_t t = 0; t < taps; t++) {
            const float *src = planes + toff[t] + q;
            __m512 wv = _mm512_set1_ps(wc[t]);
            a0 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(src), a0);
            a1 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(src + 16), a1);
        }
        _mm512_storeu_ps(flat + q, a0);
        _mm512_storeu_ps(flat + q + 16, a1);
    }
    if (q < nq) { /* the last vector: even and odd taps in two chains */
        __m512 a0 = _mm512_setzero_ps(), a1 = a0;
        int64_t t = 0;
        for (; t + 1 < taps; t += 2) {
            a0 = _mm512_fmadd_ps(_mm512_set1_ps(wc[t]), _mm512_loadu_ps(planes + toff[t] + q), a0);
            a1 = _mm512_fmadd_ps(_mm512_set1_ps(wc[t + 1]), _mm512_loadu_ps(planes + toff[t + 1] + q),
                                 a1);
        }
        if (t < taps)
            a0 = _mm512_fmadd_ps(_mm512_set1_ps(wc[t]), _mm512_loadu_ps(planes + toff[t] + q), a0);
        _mm512_storeu_ps(flat + q, _mm512_add_ps(a0, a1));
    }
}
#else
static void conv_dw_taps(const float *planes, const int64_t *toff, const float *wc, int64_t taps,
                         int64_t blocks, float *flat)
{
    for (int64_t q = 0; q < blocks * CONV_DW_LANES; q += CONV_DW_LANES) {
        float acc[CONV_DW_LANES] = {0};
        for (int64_t t = 0; t < taps; t++) {
            const float *src = planes + toff[t] + q;
            float wv = wc[t];
            for (int j = 0; j < CONV_DW_LANES; j++) acc[j] += wv * src[j];
        }
        memcpy(flat + q, acc, sizeof acc);
    }
}
#endif

static void conv_depthwise_flat(const NdlrtConv2d *p, const ConvDwGeom *g, const float *x,
                                float *y, float *scratch)
{
    int64_t hw = p->h * p->w, ohw = p->oh * p->ow, taps = p->kh * p->kw, plane = g->hh * g->wh;
    float *planes = scratch, *flat = scratch + g->s * g->s * plane;
    int64_t blocks = (g->nq + CONV_DW_LANES - 1) / CONV_DW_LANES;
    int64_t toff[CONV_DW_MAX_TAPS]; /* tap -> offset of its reads from planes + q */
    for (int64_t ki = 0; ki < p->kh; ki++)
        for (int64_t kj = 0; kj < p->kw; kj++) {
            int64_t t = ki * p->kw + kj;
            if (g->s == 1) toff[t] = ki * p->dh * g->wh + kj * p->dw;
            else toff[t] = ((ki & 1) * 2 + (kj & 1)) * plane + (ki >> 1) * g->wh + (kj >> 1);
        }
    for (int64_t i = 0; i < g->s * g->s * plane + (blocks + 1) * CONV_DW_LANES; i++) scratch[i] = 0.0f;
    for (int64_t img = 0; img < p->n; img++) {
        float *yi = y + img * p->c * ohw;
        for (int64_t ch = 0; ch < p->c; ch++) {
            float *yc = yi + ch * ohw;
            conv_dw_fill(p, g, x + (img * p->c + ch) * hw, planes);
            conv_dw_taps(planes, toff, p->w_packed + ch * taps, taps, blocks, flat);
            for (int64_t oy = 0; oy < p->oh; oy++) conv_dw_copy(yc + oy * p->ow, flat + oy * g->wh, p->ow);
        }
        /* one call per image: per channel, its fixed cost outweighed 16 outputs' work */
        if (!ndlrt_epilogue_empty(&p->ep))
            ndlrt_epilogue_f32(&p->ep, p->c, ohw, yi, ohw,
                               p->ep.residual ? p->ep.residual + (yi - y) : NULL, p->ep.bias, 1);
    }
}

static size_t conv_depthwise_scratch_floats(const NdlrtConv2d *p)
{
    ConvDwGeom g;
    return conv_dw_geom(p, &g) ? conv_dw_scratch_floats(&g) : 0;
}

#if defined(__AVX512F__)
/* ---- depthwise on small planes without copies (AVX-512) ------------------------------
 * The flat path's fixed work per channel (filling padded phase planes, copying rows out,
 * an epilogue pass) outweighed the taps on the 2x2 to 8x8 planes of a small MobileNetV3
 * subnet. Two paths read the input in place and apply the epilogue in registers:
 *   masked: stride 1 with ow == w, where output position q reads input q + toff[t] for
 *     tap t (the direct path's rule for dense convolutions): per output vector, one masked
 *     load and one FMA per tap, the mask (lanes whose source is inside) shared by all
 *     channels;
 *   permute: the rest (the stride-2 layers) where each output vector's sources for one
 *     tap lie within 64 consecutive input floats: that window is loaded into 1, 2 or 4
 *     registers and a permute gathers the 16 sources, indices and masks again shared by
 *     all channels (up to CONV_DWP_MAX_ENTRIES vector-tap pairs: 16x16 -> 8x8 with 3x3).
 * Both precompute, per call, only the taps that read inside for each output vector; the
 * tables live on the stack (at most about 10 KiB). Both run four channels side by side:
 * each table entry is read once for four channels and their four FMA chains overlap (one
 * channel at a time, the table's loads and one chain's latency bounded the loop: 24
 * channels 8x8 3x3 0.85 -> 0.65 us, 16x16 -> 8x8 1.57 -> 1.20 us, 96 channels 8x8 -> 4x4
 * 7x7 11.6 -> 8.0 us; bench/supernet/dw_layers.c). */
/* Limits, measured against the flat path (bench/README.md, 2026-11-27 19:00 and
 * 2026-11-28): the masked path wins up to 16 output vectors per channel (8x8: 0.65 vs 1.64
 * us at 24 channels 3x3; 16x16 3x3 at 8 channels 1.05 vs 1.19 us) and loses beyond (32x32
 * 3x3: 6.4 vs 4.7 us before the four-channel loop), where the flat path's fixed work is
 * small against the taps; the permute path's three permute-port operations per vector and
 * tap win up to 64 such pairs (16x16 -> 8x8 3x3: 1.2 vs 4.1 us) and lose beyond (16x16 ->
 * 8x8 7x7: 27 vs 15 us). */
enum { CONV_DWM_MAX_VECS = 16, CONV_DWM_MAX_ENTRIES = 4 * CONV_DW_MAX_TAPS, CONV_DWP_MAX_ENTRIES = 64 };

/* v + bias (when has_bias), act, + res (when has_res), act2: ep's steps on one output
 * vector, with the bias and the residual already in registers. */
CONV_INLINE __m512 conv_ep16_regs(const NdlrtEpilogue *ep, __m512 v, int has_bias, __m512 bias,
                                  int has_res, __m512 res)
{
    if (has_bias) v = _mm512_add_ps(v, bias);
    if (ep->act == NDLRT_ACT_RELU) v = _mm512_max_ps(_mm512_setzero_ps(), v);
    else if (ep->act == NDLRT_ACT_HARDSWISH) v = ndlrt_v16_act(v, NDLRT_ACT_HARDSWISH); /* MobileNetV3's */
    else if (ep->act) v = conv_act16(v, ep->act);
    if (has_res) v = _mm512_add_ps(v, res);
    if (ep->act2 == NDLRT_ACT_RELU) v = _mm512_max_ps(_mm512_setzero_ps(), v);
    else if (ep->act2) v = conv_act16(v, ep->act2);
    return v;
}

/* The same with one bias for every lane and the residual loaded from res (lanes m). */
CONV_INLINE __m512 conv_ep16(const NdlrtEpilogue *ep, __m512 v, const float *bias,
                             const float *res, __mmask16 m)
{
    return conv_ep16_regs(ep, v, bias != NULL, bias ? _mm512_set1_ps(*bias) : _mm512_setzero_ps(),
                          res != NULL, res ? _mm512_maskz_loadu_ps(m, res) : _mm512_setzero_ps());
}

/* Output vector v's rows and columns (lane j: output position 16 v + j), and the lanes
 * that exist. */
static void conv_lanes(const NdlrtConv2d *p, int64_t v, __m512i *oy, __m512i *ox, __mmask16 *in)
{
    int32_t ly[16], lx[16];
    int64_t q0 = v * 16, ohw = p->oh * p->ow;
    int64_t y0 = q0 / p->ow, x0 = q0 % p->ow;
    for (int j = 0; j < 16; j++) {
        ly[j] = (int32_t)y0, lx[j] = (int32_t)x0;
        if (++x0 == p->ow) x0 = 0, y0++;
    }
    *oy = _mm512_loadu_si512(ly);
    *ox = _mm512_loadu_si512(lx);
    int64_t left = ohw - q0;
    *in = conv_first_lanes(left);
}

/* Lanes of tap (ki, kj) whose source row and column lie inside the input, for output rows
 * oy and columns ox. */
static __mmask16 conv_tap_mask(const NdlrtConv2d *p, __m512i oy, __m512i ox, __mmask16 in,
                               int64_t ki, int64_t kj, __m512i *iy, __m512i *ix)
{
    *iy = _mm512_add_epi32(_mm512_mullo_epi32(oy, _mm512_set1_epi32((int)p->sh)),
                           _mm512_set1_epi32((int)(ki * p->dh - p->ph)));
    *ix = _mm512_add_epi32(_mm512_mullo_epi32(ox, _mm512_set1_epi32((int)p->sw)),
                           _mm512_set1_epi32((int)(kj * p->dw - p->pw)));
    __m512i zero = _mm512_setzero_si512();
    return in & _mm512_cmpge_epi32_mask(*iy, zero) &
           _mm512_cmplt_epi32_mask(*iy, _mm512_set1_epi32((int)p->h)) &
           _mm512_cmpge_epi32_mask(*ix, zero) &
           _mm512_cmplt_epi32_mask(*ix, _mm512_set1_epi32((int)p->w));
}

static int conv_dw_acts_in_regs(const NdlrtConv2d *p)
{
    return ndlrt_v16_has_act(p->ep.act) && ndlrt_v16_has_act(p->ep.act2);
}

static int conv_dw_masked_ok(const NdlrtConv2d *p)
{
    int64_t nvo = (p->oh * p->ow + 15) / 16;
    return conv_dw_acts_in_regs(p) && p->sh == 1 && p->sw == 1 && p->ow == p->w &&
           nvo <= CONV_DWM_MAX_VECS && nvo * p->kh * p->kw <= CONV_DWM_MAX_ENTRIES;
}

/* The masked path's table: per output vector v, its entries first[v] .. first[v + 1] - 1,
 * each a tap that reads inside for some lane: the tap, its offset from the output
 * position and the lanes that read inside. */
typedef struct ConvDwMasked {
    int32_t first[CONV_DWM_MAX_VECS + 1], off[CONV_DWM_MAX_ENTRIES], tap[CONV_DWM_MAX_ENTRIES];
    uint16_t mask[CONV_DWM_MAX_ENTRIES];
    __mmask16 store[CONV_DWM_MAX_VECS];
} ConvDwMasked;

/* The output vector at flat position q (lanes st) of channels ch0 .. ch0 + nc - 1 of image
 * img from their sums acc: the epilogue in registers, then the store. */
CONV_INLINE void conv_dw_out(const int nc, const NdlrtConv2d *p, const __m512 *acc, int64_t img,
                             int64_t ch0, int64_t q, __mmask16 st, float *y)
{
    const NdlrtEpilogue *ep = &p->ep;
    for (int k = 0; k < nc; k++) {
        int64_t at = (img * p->c + ch0 + k) * p->oh * p->ow + q;
        __m512 r = conv_ep16(ep, acc[k], ep->bias ? ep->bias + ch0 + k : NULL,
                             ep->residual ? ep->residual + at : NULL, st);
        _mm512_mask_storeu_ps(y + at, st, r);
    }
}

/* Channels ch0 .. ch0 + nc - 1 of image img side by side: each entry's offset and mask
 * are read once for nc channels, whose FMA chains overlap. */
CONV_INLINE void conv_dwm_channels(const int nc, const NdlrtConv2d *p, const ConvDwMasked *t,
                                   int64_t img, int64_t ch0, const float *x, float *y)
{
    int64_t hw = p->h * p->w, ohw = p->oh * p->ow, taps = p->kh * p->kw;
    int64_t nvo = (ohw + 15) / 16;
    const float *xc = x + (img * p->c + ch0) * hw, *wc = p->w_packed + ch0 * taps;
    for (int64_t v = 0; v < nvo; v++) {
        __m512 acc[4];
        for (int k = 0; k < nc; k++) acc[k] = _mm512_setzero_ps();
        for (int32_t e = t->first[v]; e < t->first[v + 1]; e++) {
            __mmask16 m = (__mmask16)t->mask[e];
            const float *src = xc + t->off[e], *w = wc + t->tap[e];
            for (int k = 0; k < nc; k++)
                acc[k] = _mm512_fmadd_ps(_mm512_set1_ps(w[k * taps]),
                                         _mm512_maskz_loadu_ps(m, src + k * hw), acc[k]);
        }
        conv_dw_out(nc, p, acc, img, ch0, v * 16, t->store[v], y);
    }
}

static void conv_depthwise_masked(const NdlrtConv2d *p, const float *x, float *y)
{
    int64_t ohw = p->oh * p->ow;
    int64_t nvo = (ohw + 15) / 16;
    ConvDwMasked t;
    int32_t ne = 0;
    for (int64_t v = 0; v < nvo; v++) {
        __m512i oy, ox, iy, ix;
        __mmask16 in;
        conv_lanes(p, v, &oy, &ox, &in);
        t.store[v] = in;
        t.first[v] = ne;
        for (int64_t ki = 0; ki < p->kh; ki++)
            for (int64_t kj = 0; kj < p->kw; kj++) {
                __mmask16 m = conv_tap_mask(p, oy, ox, in, ki, kj, &iy, &ix);
                if (!m) continue;
                t.off[ne] = (int32_t)(v * 16 + (ki * p->dh - p->ph) * p->w + kj * p->dw - p->pw);
                t.tap[ne] = (int32_t)(ki * p->kw + kj);
                t.mask[ne++] = (uint16_t)m;
            }
    }
    t.first[nvo] = ne;
    for (int64_t img = 0; img < p->n; img++) {
        int64_t ch = 0;
        for (; ch + 4 <= p->c; ch += 4) conv_dwm_channels(4, p, &t, img, ch, x, y);
        for (; ch < p->c; ch++) conv_dwm_channels(1, p, &t, img, ch, x, y);
    }
}

/* ---- depthwise 3x3 on rows of 16 or more (AVX-512) --------------------------------------
 * The commonest depthwise layers (MobileNetV2/V3, pad 1), without a table, the nine
 * weights of two channels in registers. Stride 1 on rows of w >= 16: a block of up to 16
 * output columns of row oy is one vector, and tap (ki, kj) reads input row oy + ki - 1 at
 * column offset kj - 1, the lanes that leave the row masked. Down each column block, each
 * input row is loaded once as its three column shifts and adds to the three output rows
 * it touches: three loads per nine FMAs, where the masked path's table and weight
 * broadcasts made it nearly three per FMA (16x16 at 8 channels: 1.04 -> 0.50 us; 32x32
 * through the phase planes: 3.7 -> 2.0 us). */
static int conv_dw3_ok(const NdlrtConv2d *p)
{
    return conv_dw_acts_in_regs(p) && p->kh == 3 && p->kw == 3 && p->sh == 1 && p->sw == 1 &&
           p->dh == 1 && p->dw == 1 && p->ph == 1 && p->pw == 1 && p->w >= 16 && p->ow == p->w &&
           p->h == p->oh;
}

/* Channels ch0 .. ch0 + nc - 1 (nc 1 or 2) of image img. */
CONV_INLINE void conv_dw3_channels(const int nc, const NdlrtConv2d *p, int64_t img, int64_t ch0,
                                   const float *x, float *y)
{
    int64_t oh = p->oh, w = p->w, hw = oh * w;
    const float *xc = x + (img * p->c + ch0) * hw, *wc = p->w_packed + ch0 * 9;
    __m512 wt[2][9];
    for (int k = 0; k < nc; k++)
        for (int t = 0; t < 9; t++) wt[k][t] = _mm512_set1_ps(wc[k * 9 + t]);
    for (int64_t c0 = 0; c0 < w; c0 += 16) {
        /* lanes whose source column c0 + j + kj - 1 lies in the row, per kj */
        __mmask16 m1 = conv_first_lanes(w - c0), m2 = conv_first_lanes(w - c0 - 1);
        __mmask16 m0 = c0 == 0 ? (__mmask16)(m1 & 0xFFFE) : m1;
        /* input row iy, loaded once as its three column shifts, adds kernel row 2 to output
         * row iy - 1 (complete afterwards), row 1 to output row iy and row 0 to row iy + 1 */
        __m512 up[2], mid[2], down[2]; /* output rows iy - 1, iy, iy + 1 */
        for (int k = 0; k < nc; k++) up[k] = mid[k] = down[k] = _mm512_setzero_ps();
        for (int64_t iy = 0; iy < oh; iy++) {
            for (int k = 0; k < nc; k++) {
                const float *r = xc + k * hw + iy * w + c0;
                __m512 s0 = _mm512_maskz_loadu_ps(m0, r - 1), s1 = _mm512_maskz_loadu_ps(m1, r),
                       s2 = _mm512_maskz_loadu_ps(m2, r + 1);
                up[k] = _mm512_fmadd_ps(wt[k][6], s0, up[k]);
                mid[k] = _mm512_fmadd_ps(wt[k][3], s0, mid[k]);
                down[k] = _mm512_fmadd_ps(wt[k][0], s0, _mm512_setzero_ps());
                up[k] = _mm512_fmadd_ps(wt[k][7], s1, up[k]);
                mid[k] = _mm512_fmadd_ps(wt[k][4], s1, mid[k]);
                down[k] = _mm512_fmadd_ps(wt[k][1], s1, down[k]);
                up[k] = _mm512_fmadd_ps(wt[k][8], s2, up[k]);
                mid[k] = _mm512_fmadd_ps(wt[k][5], s2, mid[k]);
                down[k] = _mm512_fmadd_ps(wt[k][2], s2, down[k]);
            }
            if (iy > 0) conv_dw_out(nc, p, up, img, ch0, (iy - 1) * w + c0, m1, y);
            for (int k = 0; k < nc; k++) up[k] = mid[k], mid[k] = down[k];
        }
        conv_dw_out(nc, p, up, img, ch0, (oh - 1) * w + c0, m1, y);
    }
}

/* Stride 2 on rows of 16 (16x16 -> 8x8, pad 1): output vector v holds output rows 2v and
 * 2v + 1, and kernel row ki reads input rows 4v + ki - 1 (lanes 0-7) and 4v + ki + 1
 * (lanes 8-15), one register each, tap column kj gathering columns 2 ox + kj - 1 from the
 * pair with one permute (column -1 masked). The five input rows of a vector are loaded
 * once for the three kernel rows (24 channels: 1.1 us through the permute path's table,
 * 0.41 us here). */
static int conv_dw3s2_ok(const NdlrtConv2d *p)
{
    return conv_dw_acts_in_regs(p) && p->kh == 3 && p->kw == 3 && p->sh == 2 && p->sw == 2 &&
           p->dh == 1 && p->dw == 1 && p->ph == 1 && p->pw == 1 && p->w == 16 && p->ow == 8 &&
           p->h == 2 * p->oh;
}

CONV_INLINE void conv_dw3s2_channels(const int nc, const NdlrtConv2d *p, int64_t img, int64_t ch0,
                                     const float *x, float *y)
{
    const __m512i idx0 = _mm512_setr_epi32(0, 1, 3, 5, 7, 9, 11, 13, 16, 17, 19, 21, 23, 25, 27, 29);
    const __m512i idx1 = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i idx2 = _mm512_add_epi32(idx1, _mm512_set1_epi32(1));
    const __mmask16 col0 = 0xFEFE; /* kj = 0: lanes with ox = 0 read column -1 */
    int64_t h = p->h, hw = h * 16, ohw = p->oh * 8, nvo = (ohw + 15) / 16;
    const float *xc = x + (img * p->c + ch0) * hw, *wc = p->w_packed + ch0 * 9;
    __m512 w[2][9];
    for (int k = 0; k < nc; k++)
        for (int t = 0; t < 9; t++) w[k][t] = _mm512_set1_ps(wc[k * 9 + t]);
    for (int64_t v = 0; v < nvo; v++) {
        __m512 acc[2];
        for (int k = 0; k < nc; k++) {
            __m512 row[5]; /* input rows 4v - 1 .. 4v + 3, zero outside */
            for (int i = 0; i < 5; i++) {
                int64_t iy = 4 * v - 1 + i;
                row[i] = iy >= 0 && iy < h ? _mm512_loadu_ps(xc + k * hw + iy * 16)
                                           : _mm512_setzero_ps();
            }
            __m512 a = _mm512_setzero_ps();
            for (int ki = 0; ki < 3; ki++) {
                __m512 top = row[ki], bottom = row[ki + 2]; /* lanes 0-7, lanes 8-15 */
                a = _mm512_fmadd_ps(w[k][ki * 3],
                                    _mm512_maskz_permutex2var_ps(col0, top, idx0, bottom), a);
                a = _mm512_fmadd_ps(w[k][ki * 3 + 1], _mm512_permutex2var_ps(top, idx1, bottom), a);
                a = _mm512_fmadd_ps(w[k][ki * 3 + 2], _mm512_permutex2var_ps(top, idx2, bottom), a);
            }
            acc[k] = a;
        }
        conv_dw_out(nc, p, acc, img, ch0, v * 16, conv_first_lanes(ohw - v * 16), y);
    }
}

static void conv_depthwise_3x3(const NdlrtConv2d *p, const float *x, float *y)
{
    for (int64_t img = 0; img < p->n; img++) {
        int64_t ch = 0;
        if (p->sh == 2) {
            for (; ch + 2 <= p->c; ch += 2) conv_dw3s2_channels(2, p, img, ch, x, y);
            if (ch < p->c) conv_dw3s2_channels(1, p, img, ch, x, y);
            continue;
        }
        for (; ch + 2 <= p->c; ch += 2) conv_dw3_channels(2, p, img, ch, x, y);
        if (ch < p->c) conv_dw3_channels(1, p, img, ch, x, y);
    }
}

static int conv_dw_permute_ok(const NdlrtConv2d *p)
{
    int64_t nvo = (p->oh * p->ow + 15) / 16;
    return conv_dw_acts_in_regs(p) && nvo * p->kh * p->kw <= CONV_DWP_MAX_ENTRIES &&
           p->h * p->w < (1 << 20);
}

/* The permute path's table: per output vector and tap that reads inside, the window of
 * the input plane it reads (at most 16 * nreg floats from base) and where each lane's
 * source lies in it. */
typedef struct ConvDwPermute {
    int32_t ne;                            /* entries */
    int32_t first[CONV_DWP_MAX_ENTRIES + 1]; /* output vector v's entries, from first[v] */
    __m512i idx[CONV_DWP_MAX_ENTRIES];     /* lane -> source - base (bits 0-4: within a
                                              register pair, bit 5: the upper pair) */
    int32_t base[CONV_DWP_MAX_ENTRIES], tap[CONV_DWP_MAX_ENTRIES];
    uint16_t valid[CONV_DWP_MAX_ENTRIES], upper[CONV_DWP_MAX_ENTRIES];
    uint16_t load[CONV_DWP_MAX_ENTRIES][4]; /* lanes of each window register inside the plane */
    /* the same sources as two 16-float chunks of the plane, at pair_base[e][0] and [1]
     * (lanes pair_load[e][i] inside it), pair_idx[e] selecting from the pair: when every
     * entry's sources fall into two chunks, one permute instead of two and a blend */
    __m512i pair_idx[CONV_DWP_MAX_ENTRIES];
    int32_t pair_base[CONV_DWP_MAX_ENTRIES][2];
    uint16_t pair_load[CONV_DWP_MAX_ENTRIES][2];
} ConvDwPermute;

/* One permute step: the sources of entry e from the window registers r0..r3 (nreg 1, 2 or
 * 4), or with nreg 0 from its two chunks. */
CONV_INLINE __m512 conv_dwp_gather(const int nreg, const ConvDwPermute *t, int32_t e,
                                   const float *xc)
{
    if (nreg == 0)
        return _mm512_permutex2var_ps(
            _mm512_maskz_loadu_ps((__mmask16)t->pair_load[e][0], xc + t->pair_base[e][0]),
            t->pair_idx[e],
            _mm512_maskz_loadu_ps((__mmask16)t->pair_load[e][1], xc + t->pair_base[e][1]));
    const float *wb = xc + t->base[e];
    __m512 r0 = _mm512_maskz_loadu_ps((__mmask16)t->load[e][0], wb);
    if (nreg == 1) return _mm512_permutexvar_ps(t->idx[e], r0);
    __m512 r1 = _mm512_maskz_loadu_ps((__mmask16)t->load[e][1], wb + 16);
    if (nreg == 2) return _mm512_permutex2var_ps(r0, t->idx[e], r1);
    __m512 r2 = _mm512_maskz_loadu_ps((__mmask16)t->load[e][2], wb + 32);
    __m512 r3 = _mm512_maskz_loadu_ps((__mmask16)t->load[e][3], wb + 48);
    return _mm512_mask_blend_ps((__mmask16)t->upper[e], _mm512_permutex2var_ps(r0, t->idx[e], r1),
                                _mm512_permutex2var_ps(r2, t->idx[e], r3));
}

/* The permute path with windows of 16 * nreg floats (nreg 1, 2 or 4) or chunk pairs (0),
 * on channels ch0 .. ch0 + nc - 1 of image img side by side (as conv_dwm_channels). */
CONV_INLINE void conv_dwp_channels(const int nreg, const int nc, const NdlrtConv2d *p,
                                   const ConvDwPermute *t, int64_t img, int64_t ch0, const float *x,
                                   float *y)
{
    int64_t hw = p->h * p->w, ohw = p->oh * p->ow, taps = p->kh * p->kw;
    int64_t nvo = (ohw + 15) / 16;
    const float *xc = x + (img * p->c + ch0) * hw, *wc = p->w_packed + ch0 * taps;
    for (int64_t v = 0; v < nvo; v++) {
        __m512 acc[4];
        for (int k = 0; k < nc; k++) acc[k] = _mm512_setzero_ps();
        for (int32_t e = t->first[v]; e < t->first[v + 1]; e++) {
            __mmask16 m = (__mmask16)t->valid[e];
            const float *w = wc + t->tap[e];
            for (int k = 0; k < nc; k++)
                acc[k] = _mm512_mask3_fmadd_ps(_mm512_set1_ps(w[k * taps]),
                                               conv_dwp_gather(nreg, t, e, xc + k * hw), acc[k], m);
        }
        conv_dw_out(nc, p, acc, img, ch0, v * 16, conv_first_lanes(ohw - v * 16), y);
    }
}

CONV_INLINE void conv_depthwise_permute_n(const int nreg, const NdlrtConv2d *p,
                                          const ConvDwPermute *t, const float *x, float *y)
{
    for (int64_t img = 0; img < p->n; img++) {
        int64_t ch = 0;
        for (; ch + 4 <= p->c; ch += 4) conv_dwp_channels(nreg, 4, p, t, img, ch, x, y);
        for (; ch < p->c; ch++) conv_dwp_channels(nreg, 1, p, t, img, ch, x, y);
    }
}

/* Fills t's chunk pairs (for windows wider than 32 floats, where they save permutes):
 * false when some entry's sources lie in more than two 16-float chunks of the plane. */
static int conv_dwp_pairs(ConvDwPermute *t, int64_t hw)
{
    for (int32_t e = 0; e < t->ne; e++) {
        __mmask16 m = (__mmask16)t->valid[e];
        __m512i src = _mm512_add_epi32(t->idx[e], _mm512_set1_epi32(t->base[e]));
        /* the chunks of the first and the last source; lanes in neither: no pair */
        int32_t c0 = t->base[e] / 16, c1 = _mm512_mask_reduce_max_epi32(m, src) / 16;
        __m512i chunk = _mm512_srli_epi32(src, 4);
        __mmask16 in0 = _mm512_mask_cmpeq_epi32_mask(m, chunk, _mm512_set1_epi32(c0));
        __mmask16 in1 = _mm512_mask_cmpeq_epi32_mask(m, chunk, _mm512_set1_epi32(c1));
        if ((__mmask16)(in0 | in1) != m) return 0;
        __m512i from1 = _mm512_sub_epi32(src, _mm512_set1_epi32(16 * c1 - 16));
        t->pair_idx[e] = _mm512_mask_mov_epi32(_mm512_maskz_mov_epi32((__mmask16)(in1 & ~in0), from1),
                                              in0, _mm512_sub_epi32(src, _mm512_set1_epi32(16 * c0)));
        for (int i = 0; i < 2; i++) {
            int32_t b = 16 * (i ? c1 : c0);
            int64_t l = hw - b;
            t->pair_base[e][i] = b;
            t->pair_load[e][i] = (uint16_t)conv_first_lanes(l);
        }
    }
    return 1;
}

/* Builds the table (false: some window is wider than 64 floats) and runs the path. */
static int conv_depthwise_permute(const NdlrtConv2d *p, const float *x, float *y)
{
    ConvDwPermute t;
    int64_t hw = p->h * p->w, nvo = (p->oh * p->ow + 15) / 16, span = 0;
    t.ne = 0;
    for (int64_t v = 0; v < nvo; v++) {
        __m512i oy, ox, iy, ix;
        __mmask16 in;
        conv_lanes(p, v, &oy, &ox, &in);
        t.first[v] = t.ne;
        for (int64_t ki = 0; ki < p->kh; ki++)
            for (int64_t kj = 0; kj < p->kw; kj++) {
                __mmask16 m = conv_tap_mask(p, oy, ox, in, ki, kj, &iy, &ix);
                if (!m) continue;
                __m512i src = _mm512_add_epi32(_mm512_mullo_epi32(iy, _mm512_set1_epi32((int)p->w)), ix);
                int32_t lo = _mm512_mask_reduce_min_epi32(m, src);
                int32_t hi = _mm512_mask_reduce_max_epi32(m, src);
                if (hi - lo + 1 > span) span = hi - lo + 1;
                if (span > 64) return 0;
                int32_t e = t.ne++;
                t.idx[e] = _mm512_maskz_sub_epi32(m, src, _mm512_set1_epi32(lo));
                t.upper[e] = (uint16_t)_mm512_test_epi32_mask(t.idx[e], _mm512_set1_epi32(32));
                t.valid[e] = (uint16_t)m;
                t.tap[e] = (int32_t)(ki * p->kw + kj);
                t.base[e] = lo;
                for (int i = 0; i < 4; i++) { /* lanes of lo + 16 i + [0, 16) inside [0, hw) */
                    int64_t l = hw - (lo + 16 * i);
                    t.load[e][i] = (uint16_t)conv_first_lanes(l);
                }
            }
    }
    t.first[nvo] = t.ne;
    if (span <= 16) conv_depthwise_permute_n(1, p, &t, x, y);
    else if (span <= 32) conv_depthwise_permute_n(2, p, &t, x, y);
    else if (conv_dwp_pairs(&t, hw)) conv_depthwise_permute_n(0, p, &t, x, y);
    else conv_depthwise_permute_n(4, p, &t, x, y);
    return 1;
}

/* ---- pointwise convolutions on planes of 1 to 4 positions (AVX-512) -------------------
 * Squeeze-excite's 1x1 convolutions and a MobileNet head's 2x2 ones: the direct tiles put
 * output positions in the lanes, which leaves 12 to 15 of 16 lanes idle and pays one
 * broadcast and one FMA per weight (a 32 -> 48 1x1 took 0.42 us). Here the lanes hold the
 * MR output channels of one packed panel row, so each FMA does MR weights and each input
 * value is broadcast once per panel. Per output the sum runs over the input channels in
 * the same order, through the same FMAs and epilogue, as in the tiles: the results are
 * the same bits. */
enum { CONV_PW_SMALL_MAX = 4 };

static int conv_pw_small_ok(const NdlrtConv2d *p)
{
    return conv_pointwise(p) && p->oh * p->ow <= CONV_PW_SMALL_MAX && conv_dw_acts_in_regs(p);
}

/* Panels [pan0, pan0 + npan) (npan 1..CONV_PW_SMALL_PANELS, accumulated side by side so
 * that their FMA chains overlap) of one image and group, np (1..CONV_PW_SMALL_MAX) output
 * positions per channel. a: the group's packed weights; xg, yg: its input and output. */
enum { CONV_PW_SMALL_PANELS = 4 };
CONV_INLINE void conv_pw_small_panels(const int npan, const int np, const NdlrtConv2d *p,
                                      const float *a, const float *xg, float *yg,
                                      const float *bias, const float *res, int64_t pan0)
{
    const int64_t mr = NDLRT_GEMM_MR;
    int64_t og = p->o / p->groups, cg = p->c / p->groups;
    /* lane i: channel i of the panel, np floats after channel i - 1 */
    __m512i rows = _mm512_mullo_epi32(
        _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), _mm512_set1_epi32(np));
    __mmask16 panel_lanes = (__mmask16)((1u << mr) - 1u);
    __m512 acc[CONV_PW_SMALL_PANELS][CONV_PW_SMALL_MAX];
    for (int k = 0; k < npan; k++)
        for (int q = 0; q < np; q++) acc[k][q] = _mm512_setzero_ps();
    const float *ap = a + pan0 * cg * mr;
    for (int64_t ci = 0; ci < cg; ci++, ap += mr)
        for (int k = 0; k < npan; k++) {
            __m512 w = _mm512_maskz_loadu_ps(panel_lanes, ap + k * cg * mr);
            for (int q = 0; q < np; q++)
                acc[k][q] = _mm512_fmadd_ps(w, _mm512_set1_ps(xg[ci * np + q]), acc[k][q]);
        }
    for (int k = 0; k < npan; k++) {
        int64_t o0 = (pan0 + k) * mr;
        __mmask16 m = og - o0 >= mr ? panel_lanes : (__mmask16)((1u << (og - o0)) - 1u);
        __m512 bv = bias ? _mm512_maskz_loadu_ps(m, bias + o0) : _mm512_setzero_ps();
        float *yt = yg + o0 * np;
        for (int q = 0; q < np; q++) {
            __m512 rv = _mm512_setzero_ps();
            if (res)
                rv = np == 1 ? _mm512_maskz_loadu_ps(m, res + o0)
                             : _mm512_mask_i32gather_ps(rv, m, rows, res + o0 * np + q, 4);
            __m512 v = conv_ep16_regs(&p->ep, acc[k][q], bias != NULL, bv, res != NULL, rv);
            if (np == 1) _mm512_mask_storeu_ps(yt, m, v);
            else _mm512_mask_i32scatter_ps(yt + q, m, rows, v, 4);
        }
    }
}

CONV_INLINE void conv_pw_small_n(const int np, const NdlrtConv2d *p, const float *x, float *y)
{
    int64_t og = p->o / p->groups, cg = p->c / p->groups;
    int64_t panels = (og + NDLRT_GEMM_MR - 1) / NDLRT_GEMM_MR;
    size_t per = ndlrt_gemm_packed_a_floats(og, cg);
    for (int64_t img = 0; img < p->n; img++)
        for (int64_t g = 0; g < p->groups; g++) {
            const float *xg = x + (img * p->c + g * cg) * np, *a = p->w_packed + (size_t)g * per;
            int64_t yoff = (img * p->o + g * og) * np;
            const float *bias = p->ep.bias ? p->ep.bias + g * og : NULL;
            const float *res = p->ep.residual ? p->ep.residual + yoff : NULL;
            for (int64_t pan0 = 0; pan0 < panels; pan0 += CONV_PW_SMALL_PANELS) {
                int64_t left = panels - pan0;
                if (left >= 4) conv_pw_small_panels(4, np, p, a, xg, y + yoff, bias, res, pan0);
                else if (left == 3) conv_pw_small_panels(3, np, p, a, xg, y + yoff, bias, res, pan0);
                else if (left == 2) conv_pw_small_panels(2, np, p, a, xg, y + yoff, bias, res, pan0);
                else conv_pw_small_panels(1, np, p, a, xg, y + yoff, bias, res, pan0);
            }
        }
}

static void conv_pw_small(const NdlrtConv2d *p, const float *x, float *y)
{
    switch (p->oh * p->ow) {
    case 1: conv_pw_small_n(1, p, x, y); break;
    case 2: conv_pw_small_n(2, p, x, y); break;
    case 3: conv_pw_small_n(3, p, x, y); break;
    default: conv_pw_small_n(4, p, x, y); break;
    }
}
#endif

static void conv_depthwise_run(const NdlrtConv2d *p, const float *x, float *y, float *scratch)
{
    ConvDwGeom g;
#if defined(__AVX512F__)
    if (conv_dw3_ok(p) || conv_dw3s2_ok(p)) {
        conv_depthwise_3x3(p, x, y);
        return;
    }
    if (conv_dw_masked_ok(p)) {
        conv_depthwise_masked(p, x, y);
        return;
    }
    if (conv_dw_permute_ok(p) && conv_depthwise_permute(p, x, y)) return;
#endif
    if (conv_dw_geom(p, &g)) conv_depthwise_flat(p, &g, x, y, scratch);
    else conv_depthwise_rows(p, x, y);
}

/* ---- im2col into packed panels ---------------------------------------------------------- */

/* Fills the packed-B panels for output columns [col0, col0 + ncols) of one group's input
 * xg [cg, h, w]: row q = (ci, ki, kj) of panel t holds the inputs that output position
 * col0 + t*NR + j reads through that tap, 0 in the padding and past the last column. */
static void conv_im2col(const NdlrtConv2d *p, const float *xg, int64_t cg, int64_t col0,
                        int64_t ncols, float *dst)
{
    enum { NR = NDLRT_GEMM_NR };
    int64_t k = cg * p->kh * p->kw, hw = p->h * p->w, ohw = p->oh * p->ow;
    int64_t taps = p->kh * p->kw, cstride = taps * NR; /* floats between channels' rows */
    for (int64_t t0 = 0; t0 < ncols; t0 += NR, dst += k * NR) {
        /* The panel's columns as runs along output rows: run r covers panel columns
         * [jr[r], jr[r] + len[r]) at output row oy[r], starting at output column ox[r]. */
        int64_t oy[NR], ox[NR], jr[NR], len[NR], nrun = 0, j = 0;
        int64_t pos = col0 + t0, end = col0 + ncols;
        while (j < NR && pos < end && pos < ohw) {
            int64_t y0 = pos / p->ow, x0 = pos % p->ow, l = p->ow - x0;
            if (l > NR - j) l = NR - j;
            if (l > end - pos) l = end - pos;
            oy[nrun] = y0, ox[nrun] = x0, jr[nrun] = j, len[nrun] = l, nrun++;
            j += l, pos += l;
        }
        if (j < NR) /* past the last column: zero columns j.. of every row */
            for (int64_t q = 0; q < k; q++)
                for (int64_t c = j; c < NR; c++) dst[q * NR + c] = 0.0f;
        for (int64_t r = 0; r < nrun; r++)
            for (int64_t ki = 0; ki < p->kh; ki++) {
                int64_t iy = oy[r] * p->sh - p->ph + ki * p->dh, l = len[r];
                for (int64_t kj = 0; kj < p->kw; kj++) {
                    float *d = dst + (ki * p->kw + kj) * NR + jr[r];
                    if (iy < 0 || iy >= p->h) {
                        for (int64_t ci = 0; ci < cg; ci++, d += cstride)
                            for (int64_t q = 0; q < l; q++) d[q] = 0.0f;
                        continue;
                    }
                    int64_t off = ox[r] * p->sw - p->pw + kj * p->dw, lo, hi;
                    conv_range(l, p->sw, off, p->w, &lo, &hi);
                    const float *xs = xg + iy * p->w + off;
                    for (int64_t ci = 0; ci < cg; ci++, d += cstride, xs += hw) {
                        for (int64_t q = 0; q < lo; q++) d[q] = 0.0f;
                        if (p->sw == 1)
                            for (int64_t q = lo; q < hi; q++) d[q] = xs[q];
                        else
                            for (int64_t q = lo; q < hi; q++) d[q] = xs[q * p->sw];
                        for (int64_t q = hi; q < l; q++) d[q] = 0.0f;
                    }
                }
            }
    }
}

NDLRT_API void ndlrt_conv2d_f32(const NdlrtConv2d *p, const float *x, float *y, float *scratch)
{
    if (p->n <= 0 || p->o <= 0 || p->oh <= 0 || p->ow <= 0) return;
    if (conv_depthwise(p)) {
        conv_depthwise_run(p, x, y, scratch);
        return;
    }
#if defined(__AVX512F__)
    if (conv_pw_small_ok(p)) {
        conv_pw_small(p, x, y);
        return;
    }
    int st = conv_direct_stride(p);
    if (st) {
        conv_direct_run(p, st, x, y, scratch);
        return;
    }
#endif
    int64_t og = p->o / p->groups, cg = p->c / p->groups, k = conv_k(p);
    int64_t hw = p->h * p->w, ohw = p->oh * p->ow;
    size_t per = ndlrt_gemm_packed_a_floats(og, k);
    int pointwise = conv_pointwise(p);
    int64_t cols = pointwise ? ohw : conv_cols(p);
    float *panels = scratch;
    if (!pointwise) { /* 64-byte aligned */
        uintptr_t u = (uintptr_t)scratch, a = 64;
        panels = (float *)(void *)((u + a - 1) / a * a);
    }
    for (int64_t img = 0; img < p->n; img++)
        for (int64_t g = 0; g < p->groups; g++) {
            const float *xg = x + (img * p->c + g * cg) * hw;
            int64_t yoff = (img * p->o + g * og) * ohw;
            for (int64_t col0 = 0; col0 < ohw; col0 += cols) {
                int64_t nc = ohw - col0 < cols ? ohw - col0 : cols;
                NdlrtGemm gm = {0};
                gm.m = og;
                gm.n = nc;
                gm.k = k;
                gm.a_packed = p->w_packed + (size_t)g * per;
                if (pointwise) {
                    gm.b = xg;
                    gm.b_rs = hw;
                    gm.b_cs = 1;
                } else {
                    conv_im2col(p, xg, cg, col0, nc, panels);
                    gm.b_packed = panels;
                }
                gm.c = y + yoff + col0;
                gm.c_rs = ohw;
                gm.bias_per_row = 1;
                gm.ep = p->ep;
                if (p->ep.bias) gm.ep.bias = p->ep.bias + g * og;
                if (p->ep.residual) gm.ep.residual = p->ep.residual + yoff + col0;
                ndlrt_gemm_f32(&gm, scratch);
            }
        }
}
