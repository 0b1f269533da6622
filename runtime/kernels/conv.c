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
 */
#include "../ndlrt.h"

#include <string.h>

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

NDLRT_API size_t ndlrt_conv2d_scratch_floats(const NdlrtConv2d *p)
{
    if (conv_depthwise(p)) return 0;
    int64_t og = p->o / p->groups, cg = p->c / p->groups;
    if (conv_pointwise(p)) return ndlrt_gemm_scratch_floats(og, p->h * p->w, cg, 1, 0);
    return (size_t)(conv_k(p) * conv_cols(p) + NDLRT_GEMM_NR);
}

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
 * the shifted input rows; a tap's valid column range is the same for every output row. */
static void conv_depthwise_run(const NdlrtConv2d *p, const float *x, float *y)
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
        conv_depthwise_run(p, x, y);
        return;
    }
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
