/* SPDX-License-Identifier: MIT
 * test_sparse.c - runtime/kernels/sparse.c against a dense reference computed here in
 * double: every format (CSR, BLOCK, NM) through linear (one row, the per-row path and the
 * transposed-batch path, tails around 16 and 64) and 1x1 conv, with odd sizes, empty rows,
 * densities 0% and 100%, the epilogue; the analysis counts, the cost model's choices and
 * the packed sizes. Build it by hand with -march=native to test the AVX-512 paths.
 */
#include "check.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ndlrt.h"

typedef struct Rng {
    uint64_t s;
} Rng;

static uint32_t rnd_u32(Rng *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return (uint32_t)(r->s >> 16);
}

/* uniform in [-1, 1) */
static float rnd(Rng *r) { return (float)((double)rnd_u32(r) / 4294967296.0 * 2.0 - 1.0); }

static float *rnd_vec(Rng *r, int64_t n)
{
    float *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = rnd(r);
    return v;
}

/* W[n, k] with about `density` of its entries nonzero; rows listed in empty_every (> 0)
 * are all zero. */
static float *sparse_weight(Rng *r, int64_t n, int64_t k, double density, int empty_every)
{
    float *w = malloc((size_t)(n * k > 0 ? n * k : 1) * sizeof *w);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < k; j++) {
            int keep = (double)rnd_u32(r) / 4294967296.0 < density && !(empty_every && i % empty_every == 1);
            w[i * k + j] = keep ? rnd(r) : 0.0f;
        }
    return w;
}

/* Keeps the nn largest |w| of every mm consecutive elements (ties: the lower index). */
static void make_nm(float *w, int64_t numel, int nn, int mm)
{
    for (int64_t g = 0; g < numel; g += mm) {
        int keep[8] = {0};
        for (int t = 0; t < nn; t++) {
            int best = -1;
            for (int j = 0; j < mm; j++)
                if (!keep[j] && (best < 0 || fabsf(w[g + j]) > fabsf(w[g + best]))) best = j;
            keep[best] = 1;
        }
        for (int j = 0; j < mm; j++)
            if (!keep[j]) w[g + j] = 0.0f;
    }
}

static double ref_act(int act, double v) { return act == NDLRT_ACT_RELU ? (v > 0 ? v : 0) : v; }

/* |got - want| within float rounding of a k-term dot product */
static int close(float got, double want, double abssum)
{
    return fabs((double)got - want) <= 1e-5 * abssum + 1e-6;
}

static float *pack(const float *w, int64_t n, int64_t k, int format, NdlrtSparseInfo *info, size_t *floats)
{
    ndlrt_sparse_analyze(n, k, w, info);
    *floats = ndlrt_sparse_packed_floats(info, format);
    float *pk = malloc((*floats + 1) * sizeof *pk);
    ndlrt_sparse_pack(info, format, w, pk);
    return pk;
}

static void linear_case(Rng *r, int64_t m, int64_t n, int64_t k, double density, int format, int empty_every,
                        int epilogue)
{
    float *w = sparse_weight(r, n, k, density, empty_every);
    if (format == NDLRT_SPARSE_NM) make_nm(w, n * k, 2, 4);
    float *x = rnd_vec(r, m * k), *bias = rnd_vec(r, n), *res = rnd_vec(r, m * n);
    NdlrtSparseInfo info;
    size_t floats;
    float *pk = pack(w, n, k, format, &info, &floats);
    size_t ns = ndlrt_sparse_linear_scratch_floats(m, n, k);
    float *scratch = malloc((ns + 1) * sizeof *scratch), *y = malloc((size_t)(m * n) * sizeof *y);
    NdlrtSparseLinear p = {m, n, k, pk, {NULL, 0, NULL, 0}};
    if (epilogue) p.ep = (NdlrtEpilogue){bias, NDLRT_ACT_RELU, res, 0};
    ndlrt_sparse_linear_f32(&p, x, y, scratch);
    int bad = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double acc = 0, abssum = 0;
            for (int64_t t = 0; t < k; t++) {
                acc += (double)x[i * k + t] * w[j * k + t];
                abssum += fabs((double)x[i * k + t] * w[j * k + t]);
            }
            if (epilogue) acc = ref_act(NDLRT_ACT_RELU, acc + bias[j]) + res[i * n + j];
            if (!close(y[i * n + j], acc, abssum + 2) && bad++ < 3)
                fprintf(stderr, "linear format %d m %lld n %lld k %lld d %.2f: y[%lld, %lld] = %g, want %g\n", format,
                        (long long)m, (long long)n, (long long)k, density, (long long)i, (long long)j,
                        (double)y[i * n + j], acc);
        }
    CHECK(bad == 0);
    free(w), free(x), free(bias), free(res), free(pk), free(scratch), free(y);
}

/* N:M weights of every pattern the analysis finds (N = 0 included: an all-zero layer) through
 * linear's paths: one row, per row, and the 64-column chunks of a batch (P = 8..129: one
 * and two chunks, widths not a multiple of 16), K not a multiple of the 128-column tile. */
static void nm_case(Rng *r, int64_t m, int64_t n, int64_t k, int nn, int mm)
{
    float *w = sparse_weight(r, n, k, 1.0, 0);
    make_nm(w, n * k, nn, mm);
    float *x = rnd_vec(r, m * k), *bias = rnd_vec(r, n);
    NdlrtSparseInfo info;
    size_t floats;
    float *pk = pack(w, n, k, NDLRT_SPARSE_NM, &info, &floats);
    CHECK_EQ_INT(info.nm_m, nn ? mm : 4); /* all zero: 0:4 is the sparsest pattern */
    CHECK_EQ_INT(info.nm_n, nn);
    size_t ns = ndlrt_sparse_linear_scratch_floats(m, n, k);
    float *scratch = malloc((ns + 1) * sizeof *scratch), *y = malloc((size_t)(m * n) * sizeof *y);
    NdlrtSparseLinear p = {m, n, k, pk, {bias, NDLRT_ACT_NONE, NULL, 0}};
    ndlrt_sparse_linear_f32(&p, x, y, scratch);
    int bad = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double acc = bias[j], abssum = 0;
            for (int64_t t = 0; t < k; t++) {
                acc += (double)x[i * k + t] * w[j * k + t];
                abssum += fabs((double)x[i * k + t] * w[j * k + t]);
            }
            if (!close(y[i * n + j], acc, abssum + 2) && bad++ < 3)
                fprintf(stderr, "nm %d:%d m %lld n %lld k %lld: y[%lld, %lld] = %g, want %g\n", nn, mm, (long long)m,
                        (long long)n, (long long)k, (long long)i, (long long)j, (double)y[i * n + j], acc);
        }
    CHECK(bad == 0);
    free(w), free(x), free(bias), free(pk), free(scratch), free(y);
}

static void conv_case(Rng *r, int64_t batch, int64_t c, int64_t hw, int64_t o, double density, int format)
{
    float *w = sparse_weight(r, o, c, density, 3);
    if (format == NDLRT_SPARSE_NM) make_nm(w, o * c, 2, 4);
    float *x = rnd_vec(r, batch * c * hw), *bias = rnd_vec(r, o), *res = rnd_vec(r, batch * o * hw);
    NdlrtSparseInfo info;
    size_t floats;
    float *pk = pack(w, o, c, format, &info, &floats);
    float *y = malloc((size_t)(batch * o * hw) * sizeof *y);
    NdlrtSparseConv1x1 p = {batch, c, hw, o, pk, {bias, NDLRT_ACT_RELU, res, 0}};
    ndlrt_sparse_conv1x1_f32(&p, x, y);
    int bad = 0;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t oc = 0; oc < o; oc++)
            for (int64_t s = 0; s < hw; s++) {
                double acc = 0, abssum = 0;
                for (int64_t ic = 0; ic < c; ic++) {
                    double t = (double)w[oc * c + ic] * x[(b * c + ic) * hw + s];
                    acc += t;
                    abssum += fabs(t);
                }
                int64_t at = (b * o + oc) * hw + s;
                acc = ref_act(NDLRT_ACT_RELU, acc + bias[oc]) + res[at];
                if (!close(y[at], acc, abssum + 2) && bad++ < 3)
                    fprintf(stderr, "conv1x1 format %d: y[%lld] = %g, want %g\n", format, (long long)at, (double)y[at],
                            acc);
            }
    CHECK(bad == 0);
    free(w), free(x), free(bias), free(res), free(pk), free(y);
}

static void test_kernels(void)
{
    Rng r = {0x9E3779B97F4A7C15ull};
    static const int formats[] = {NDLRT_SPARSE_CSR, NDLRT_SPARSE_BLOCK, NDLRT_SPARSE_NM, NDLRT_SPARSE_ELL};
    enum { NF = sizeof formats / sizeof *formats };
    static const int64_t rows[] = {1, 3, 8, 13, 70, 129};
    static const double densities[] = {0.0, 0.1, 0.5, 1.0};
    for (int f = 0; f < NF; f++)
        for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
            for (size_t d = 0; d < sizeof densities / sizeof *densities; d++) {
                linear_case(&r, rows[i], 37, 44, densities[d], formats[f], 0, 0);
                linear_case(&r, rows[i], 17, 20, densities[d], formats[f], 4, 1);
            }
    /* rows longer than the kernels' decode chunk (256) */
    for (int f = 0; f < NF; f++) {
        linear_case(&r, 1, 20, 1200, 0.6, formats[f], 5, 1);
        linear_case(&r, 9, 20, 1200, 0.6, formats[f], 5, 1);
    }
    /* ELL: chunks of 64 columns with a partial last one, 16-row panels with a partial last */
    linear_case(&r, 1, 35, 3 * 64 + 5, 0.2, NDLRT_SPARSE_ELL, 3, 1);
    linear_case(&r, 9, 35, 3 * 64 + 5, 0.2, NDLRT_SPARSE_ELL, 3, 1);
    linear_case(&r, 2, 33, 128, 0.9, NDLRT_SPARSE_ELL, 0, 0);
    /* N:M: every N <= M / 2, batches around the 16-column vectors and 64-column chunks */
    static const int64_t batches[] = {1, 8, 17, 64, 65, 100};
    for (size_t b = 0; b < sizeof batches / sizeof *batches; b++) {
        for (int nn = 0; nn <= 2; nn++) nm_case(&r, batches[b], 19, 4 * 75, nn, 4);
        for (int nn = 1; nn <= 4; nn++) nm_case(&r, batches[b], 5, 8 * 21, nn, 8);
        nm_case(&r, batches[b], 33, 4, 2, 4); /* one group per row */
    }
    /* the chunked CSR / ELL batch: several chunks, ELL chunks with more than 16 slices
     * (dense rows) and rows longer than the decode lists, all-zero rows */
    for (size_t b = 1; b < sizeof batches / sizeof *batches; b++) {
        linear_case(&r, batches[b], 35, 3 * 64 + 5, 0.9, NDLRT_SPARSE_ELL, 3, 1);
        linear_case(&r, batches[b], 21, 300, 0.7, NDLRT_SPARSE_ELL, 4, 0);
        linear_case(&r, batches[b], 35, 3 * 64 + 5, 0.2, NDLRT_SPARSE_CSR, 3, 1);
    }
    linear_case(&r, 100, 17, 700, 1.0, NDLRT_SPARSE_ELL, 0, 1);
    linear_case(&r, 33, 17, 700, 1.0, NDLRT_SPARSE_CSR, 0, 0);
    for (int f = 0; f < NF; f++) {
        conv_case(&r, 2, 12, 1, 7, 0.3, formats[f]);
        conv_case(&r, 1, 16, 49, 33, 0.3, formats[f]);
        conv_case(&r, 3, 8, 83, 5, 1.0, formats[f]);
        conv_case(&r, 2, 8, 70, 5, 0.0, formats[f]);
    }
}

static void test_analysis(void)
{
    /* 2 x 8: row 0 keeps 1 of each 4 (1:4, also 2:8: the smaller M wins), row 1 all zero */
    const float w[16] = {0, 3, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    NdlrtSparseInfo s;
    ndlrt_sparse_analyze(2, 8, w, &s);
    CHECK_EQ_INT(s.nnz, 2);
    CHECK_EQ_INT(s.blocks, 2);
    CHECK_EQ_INT(s.nm_n, 1);
    CHECK_EQ_INT(s.nm_m, 4);
    CHECK_EQ_INT(s.ell_slices, 2);        /* one 16 x 64 tile; its longest row has 2 */
    const float dense[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    ndlrt_sparse_analyze(1, 8, dense, &s);
    CHECK_EQ_INT(s.nm_m, 0);
    CHECK_EQ_INT(ndlrt_sparse_choose(&s, 1, 1, NDLRT_SPARSE_AUTO), NDLRT_SPARSE_DENSE);
    CHECK_EQ_INT(ndlrt_sparse_choose(&s, 1, 1, NDLRT_SPARSE_NM), NDLRT_SPARSE_DENSE);
    CHECK_EQ_INT(ndlrt_sparse_choose(&s, 1, 1, NDLRT_SPARSE_CSR), NDLRT_SPARSE_CSR);

    /* the cost model (constants measured, see ndlrt_sparse_choose): at one column ELL where
     * it halves the dense time (92%, 16-row blocks), not at 50%; with a batch 92% -> CSR,
     * 2:4 -> NM (dense at one column); a 92%-sparse CSR or ELL pack stores at most 25% of the dense floats */
    Rng r = {12345};
    int64_t n = 256, k = 512;
    float *u = sparse_weight(&r, n, k, 0.08, 0);
    ndlrt_sparse_analyze(n, k, u, &s);
    CHECK_EQ_INT(ndlrt_sparse_choose(&s, 1, 1, NDLRT_SPARSE_AUTO), NDLRT_SPARSE_ELL);
    CHECK_EQ_INT(ndlrt_sparse_choose(&s, 64, 1, NDLRT_SPARSE_AUTO), NDLRT_SPARSE_CSR);
    CHECK(ndlrt_sparse_packed_floats(&s, NDLRT_SPARSE_CSR) <= (size_t)(n * k) / 4);
    CHECK(ndlrt_sparse_packed_floats(&s, NDLRT_SPARSE_ELL) <= (size_t)(n * k) / 4);
    float *half = sparse_weight(&r, n, k, 0.5, 0);
    ndlrt_sparse_analyze(n, k, half, &s);
    CHECK_EQ_INT(ndlrt_sparse_choose(&s, 1, 1, NDLRT_SPARSE_AUTO), NDLRT_SPARSE_DENSE); /* < 2x */
    CHECK_EQ_INT(ndlrt_sparse_choose(&s, 64, 1, NDLRT_SPARSE_AUTO), NDLRT_SPARSE_DENSE);
    make_nm(half, n * k, 2, 4);
    ndlrt_sparse_analyze(n, k, half, &s);
    CHECK_EQ_INT(s.nm_n, 2);
    CHECK_EQ_INT(s.nm_m, 4);
    CHECK_EQ_INT(ndlrt_sparse_choose(&s, 64, 1, NDLRT_SPARSE_AUTO), NDLRT_SPARSE_NM); /* chunk kernel */
    CHECK_EQ_INT(ndlrt_sparse_choose(&s, 64, 0, NDLRT_SPARSE_AUTO), NDLRT_SPARSE_DENSE); /* a conv's plane */
    CHECK_EQ_INT(ndlrt_sparse_choose(&s, 1, 1, NDLRT_SPARSE_AUTO), NDLRT_SPARSE_DENSE);
    CHECK_EQ_INT(ndlrt_sparse_choose(&s, 64, 1, NDLRT_SPARSE_NM), NDLRT_SPARSE_NM);
    CHECK(ndlrt_sparse_packed_floats(&s, NDLRT_SPARSE_NM) < (size_t)(n * k) * 4 / 5);
    float *blk = calloc((size_t)(n * k), sizeof *blk);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < k; j += 7) blk[i * k + j] = 1.0f + (float)(i % 3);
    ndlrt_sparse_analyze(n, k, blk, &s);
    CHECK_EQ_INT(s.blocks, (n / 16) * ((k + 6) / 7));
    CHECK_EQ_INT(ndlrt_sparse_choose(&s, 1, 1, NDLRT_SPARSE_AUTO), NDLRT_SPARSE_ELL);
    CHECK_EQ_INT(s.ell_slices * 16, s.nnz); /* every row alike: no padding */
    /* ELL panels group rows that peak in the same chunks: even rows hold 8 nonzeros in
     * columns 0..63, odd rows 8 in 64..127; consecutive 16-row panels would need 8 + 8
     * slices each (32), grouped panels of only even or only odd rows 8 each (16) */
    int64_t gn = 32, gk = 128;
    float *alt = calloc((size_t)(gn * gk), sizeof *alt);
    for (int64_t i = 0; i < gn; i++)
        for (int64_t j = 0; j < 8; j++) alt[i * gk + (i % 2) * 64 + j * 7 + i % 5] = 1.0f + (float)(i + j);
    ndlrt_sparse_analyze(gn, gk, alt, &s);
    CHECK_EQ_INT(s.ell_slices, 16);
    float *gx = rnd_vec(&r, gk), gy[32];
    size_t gf;
    float *gp = pack(alt, gn, gk, NDLRT_SPARSE_ELL, &s, &gf);
    NdlrtSparseLinear gl = {1, gn, gk, gp, {NULL, 0, NULL, 0}};
    ndlrt_sparse_linear_f32(&gl, gx, gy, NULL);
    for (int64_t i = 0; i < gn; i++) {
        double want = 0, abssum = 0;
        for (int64_t j = 0; j < gk; j++) want += (double)alt[i * gk + j] * gx[j], abssum += fabs((double)alt[i * gk + j] * gx[j]);
        CHECK(close(gy[i], want, abssum + 1));
    }
    free(u), free(half), free(blk), free(alt), free(gx), free(gp);
}

int main(void)
{
    test_analysis();
    test_kernels();
    return check_done();
}
