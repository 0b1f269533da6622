/* SPDX-License-Identifier: MIT
 * test_kernels.c - runtime/kernels/ against naive reference loops written here (in double):
 * the GEMM core (packed and strided operands, accumulate, every epilogue), linear (GEMV and
 * every row count around the tile), conv2d (1x1, im2col with strides, padding, dilation and
 * groups, depthwise), matmul (batch strides, broadcast, transposed b), fused attention
 * (causal or not, tq != tk, broadcast heads), pools, softmax, reductions, argmax, norms,
 * permute/slice of several element sizes, gathers and their errors, and ndlrt_strerror.
 * Every scratch is allocated at exactly the size its *_scratch_floats function gives and
 * followed by a guard zone that must stay untouched (ASan checks the rest).
 * Build it by hand with -march=native or -mavx2 -mfma to test the other kernel paths
 * (bench/sgemm/isa_check.sh does).
 */
#include "check.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ndlrt.h"

/* ---- helpers -------------------------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd_u32(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

/* uniform in [-1, 1) */
static float rnd(void) { return (float)((double)rnd_u32() / 4294967296.0 * 2.0 - 1.0); }

static float *rnd_vec(int64_t n)
{
    float *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = rnd();
    return v;
}

#define GUARD 64
#define GUARD_VAL 12345.0f

/* A scratch of exactly n floats followed by a guard zone. */
static float *scratch_new(size_t n)
{
    float *s = malloc((n + GUARD) * sizeof *s);
    for (size_t i = 0; i < n + GUARD; i++) s[i] = GUARD_VAL;
    return s;
}

static int scratch_ok(const float *s, size_t n)
{
    for (size_t i = n; i < n + GUARD; i++)
        if (s[i] != GUARD_VAL) return 0;
    return 1;
}

static double worst_err; /* for reporting */

/* got within tol_abs + rel*|ref| of ref (NaN matches NaN); prints the worst element. */
static int close_vec(const char *what, const float *got, const double *ref, int64_t n,
                     const double *tol_abs, double tol_scalar, double rel)
{
    int64_t bad = -1;
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double g = got[i], r = ref[i];
        if (isnan(r) || isnan(g)) {
            if (!(isnan(r) && isnan(g))) {
                bad = i;
                worst = INFINITY;
                break;
            }
            continue;
        }
        if (isinf(r) || isinf(g)) {
            if (g != r) {
                bad = i;
                worst = INFINITY;
                break;
            }
            continue;
        }
        double tol = (tol_abs ? tol_abs[i] : tol_scalar) + rel * fabs(r);
        double e = fabs(g - r) / tol;
        if (e > worst) worst = e, bad = i;
    }
    if (worst > worst_err && isfinite(worst)) worst_err = worst;
    if (worst > 1.0) {
        fprintf(stderr, "%s: element %lld: got %.9g, expected %.9g (error %.3g x tolerance)\n",
                what, (long long)bad, (double)got[bad], ref[bad], worst);
        return 0;
    }
    return 1;
}

static double act_ref(int act, double v)
{
    float x = (float)v;
    switch (act) {
#define EW1(K, name, expr)                                                               \
    case NDLRT_ACT_##K:                                                                  \
        return (double)(expr);
#include "ir/eltwise.def"
#undef EW1
    default:
        return v;
    }
}

/* The epilogue in double: y = act2(act(acc + bias) + res). */
static double ep_ref(double acc, const NdlrtEpilogue *ep, int64_t ch, int64_t i)
{
    double v = acc + (ep->bias ? ep->bias[ch] : 0.0);
    v = act_ref(ep->act, v);
    if (ep->residual) v += ep->residual[i];
    return act_ref(ep->act2, v);
}

/* A tolerance tol on the accumulator, carried through the epilogue (the output's spread
 * when acc moves by +-tol), never below tol itself. */
static double ep_tol(double acc, const NdlrtEpilogue *ep, int64_t ch, int64_t i, double tol)
{
    double r = ep_ref(acc, ep, ch, i), up = fabs(ep_ref(acc + tol, ep, ch, i) - r);
    double down = fabs(ep_ref(acc - tol, ep, ch, i) - r), t = up > down ? up : down;
    return isfinite(t) && t > tol ? t : tol;
}

/* The tolerance of a dot product of k terms whose absolute values sum to abssum, plus the
 * spec's 1e-4 (applied relative by the caller); activations may grow it a little. */
static double dot_tol(int64_t k, double abssum)
{
    return 1e-5 + 4e-7 * sqrt((double)(k > 0 ? k : 1)) * abssum;
}

/* ---- the f16 / bf16 roundings of cast ------------------------------------------------ */

/* x.to(float16).float() bit by bit (ties to even; subnormals through an exact double
 * product; from 65520 up, infinity): written apart from eltwise.def's ldexpf/ilogbf form. */
static float f16_ref(float f)
{
    uint32_t x, sign;
    memcpy(&x, &f, 4);
    sign = x & 0x80000000u;
    x ^= sign;
    uint32_t h;
    if (x > 0x7f800000u) return f;                      /* NaN */
    if (x >= 0x477ff000u) h = 0x7c00;                    /* >= 65520: infinity */
    else if (x < 0x38800000u) {                          /* below 2^-14: multiples of 2^-24 */
        float a;
        memcpy(&a, &x, 4);
        h = (uint32_t)nearbyint((double)a * 16777216.0);
    } else {
        x += 0xc8000fffu + ((x >> 13) & 1);              /* rebias 127 -> 15, round to even */
        h = x >> 13;
    }
    uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v = e == 31 ? INFINITY : e ? ldexp(1024.0 + m, (int)e - 25) : ldexp(m, -24);
    return sign ? -(float)v : (float)v;
}

/* x.to(bfloat16).float(): PyTorch's round_to_nearest_even on the bits */
static float bf16_ref(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return f;
    x = (x + 0x7fffu + ((x >> 16) & 1)) & 0xffff0000u;
    memcpy(&f, &x, 4);
    return f;
}

/* The kernels' rounding (the epilogue path generated code takes) against the references on
 * a million bit patterns spread over all floats (stride 4099), and the edges: ties, the
 * largest finite f16 and the overflow threshold, subnormals of both formats. Results must
 * be identical bits (signed zeros too), NaN for NaN. */
static void test_half_roundings(void)
{
    const float edges[] = {2049.0f, 2051.0f, 65504.0f, 65519.996f, 65520.0f, -65520.0f, 65536.0f,
                           0x1p-24f, 0x1p-25f, 0x3p-26f, 0x1p-14f, 0x1.ffcp-15f, -0x1p-25f,
                           257.0f, 259.0f, 0x1.fffffep127f, 0x1.ff8p127f, 0x1p-149f, 0x1p-126f,
                           0.0f, -0.0f, INFINITY, -INFINITY, NAN};
    enum { NE = sizeof edges / sizeof *edges };
    int64_t n = NE + ((1ll << 32) / 4099 + 1);
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    memcpy(x, edges, sizeof edges);
    int64_t at = NE;
    for (uint64_t b = 0; b < (1ull << 32); b += 4099, at++) {
        uint32_t u = (uint32_t)b;
        memcpy(&x[at], &u, 4);
    }
    for (int half = 0; half < 2; half++) {
        NdlrtEpilogue ep = {NULL, half ? NDLRT_ACT_ROUND_BF16 : NDLRT_ACT_ROUND_F16, NULL, NDLRT_ACT_NONE};
        memcpy(y, x, (size_t)at * sizeof *y);
        ndlrt_epilogue_f32(&ep, 1, at, y, at, NULL, NULL, 0);
        int64_t bad = 0;
        for (int64_t i = 0; i < at; i++) {
            float r = half ? bf16_ref(x[i]) : f16_ref(x[i]);
            if (isnan(r) ? !isnan(y[i]) : memcmp(&r, &y[i], 4) != 0) {
                if (bad++ < 4)
                    fprintf(stderr, "round_%s(%a) = %a, expected %a\n", half ? "bf16" : "f16",
                            (double)x[i], (double)y[i], (double)r);
            }
        }
        CHECK(bad == 0);
    }
    free(x);
    free(y);
}

/* ---- vectorized activations ------------------------------------------------------------ */

/* Every activation through the epilogue (the path the kernels' vector code takes) against
 * ir/eltwise.def's libm expression in float, over a dense grid of [-30, 30] (step 1/512),
 * a logarithmic grid out to +-1e30, denormals and the special values. The error must stay
 * under 1% of the spec's tolerance 1e-4 + 1e-4 |ref| (the vector forms are within a few ulp,
 * gelu's erfc within 1.5e-7); NaN must match NaN and infinities must match exactly. */
static void test_activations(void)
{
    enum { NGRID = 60 * 512 + 1, NLOG = 2 * 61 * 8, NSPEC = 12 };
    int64_t n = NGRID + NLOG + NSPEC;
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    int64_t at = 0;
    for (int i = 0; i < NGRID; i++) x[at++] = -30.0f + (float)i / 512.0f;
    for (int e = -30; e <= 30; e++)
        for (int q = 0; q < 8; q++) {
            float v = (float)pow(10.0, e + q / 8.0);
            x[at++] = v;
            x[at++] = -v;
        }
    const float spec[NSPEC] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-40f, -1e-40f, 88.7f,
                               -88.7f, 104.5f, -104.5f, 3.4e38f};
    for (int i = 0; i < NSPEC; i++) x[at++] = spec[i];
    double all_worst = 0;
    for (int act = 1; act < NDLRT_ACT_COUNT; act++) {
        NdlrtEpilogue ep = {NULL, act, NULL, NDLRT_ACT_NONE};
        for (int slot = 0; slot < 2; slot++) {
            if (slot) ep.act = NDLRT_ACT_NONE, ep.act2 = act; /* after a zero residual */
            float *zero = calloc((size_t)n, sizeof *zero);
            if (slot) ep.residual = zero;
            memcpy(y, x, (size_t)n * sizeof *y);
            /* odd row lengths: the masked tails of the vector code */
            for (int64_t r0 = 0; r0 < n;) {
                int64_t len = r0 % 7 == 0 ? 37 : 1000;
                if (len > n - r0) len = n - r0;
                ndlrt_epilogue_f32(&ep, 1, len, y + r0, len, slot ? zero + r0 : NULL, NULL, 0);
                r0 += len;
            }
            double worst = 0;
            int64_t bad = -1;
            for (int64_t i = 0; i < n; i++) {
                float xi = slot ? x[i] + 0.0f : x[i], ref = (float)act_ref(act, xi);
                if (isnan(ref) || isnan(y[i]) || isinf(ref) || isinf(y[i])) {
                    if (!(isnan(ref) && isnan(y[i])) && ref != y[i]) worst = INFINITY, bad = i;
                    continue;
                }
                double e = fabs((double)y[i] - ref) / (1e-4 + 1e-4 * fabs(ref));
                if (e > worst) worst = e, bad = i;
            }
            if (worst > all_worst) all_worst = worst;
            if (worst > 0.01) {
                fprintf(stderr, "activation %d (slot %d): x = %.9g: got %.9g, expected %.9g "
                        "(%.3g x the spec tolerance)\n", act, slot + 1, (double)x[bad],
                        (double)y[bad], act_ref(act, slot ? x[bad] + 0.0f : x[bad]), worst);
                CHECK(worst <= 0.01);
            }
            free(zero);
        }
    }
    fprintf(stderr, "activations: worst error %.3g x the spec tolerance\n", all_worst);
    free(x), free(y);
}

/* ---- the GEMM core ------------------------------------------------------------------------ */

typedef struct GemmCase {
    int64_t m, n, k;
    int a_packed, b_packed, b_trans, accumulate, bias_per_row, act, act2, bias, res, ldc_pad;
} GemmCase;

static void test_gemm_case(const GemmCase *tc)
{
    int64_t m = tc->m, n = tc->n, k = tc->k, ldc = n + tc->ldc_pad;
    float *a = rnd_vec(m * k), *b = rnd_vec(k * n), *c = rnd_vec(m * ldc);
    float *bias = rnd_vec(tc->bias_per_row ? m : n), *res = rnd_vec(m * ldc);
    float *c0 = malloc((size_t)(m * ldc > 0 ? m * ldc : 1) * sizeof *c0);
    memcpy(c0, c, (size_t)(m * ldc) * sizeof *c);
    float *ap = NULL, *bp = NULL;
    /* b is [k, n] (or [n, k] when transposed) */
    int64_t b_rs = tc->b_trans ? 1 : n, b_cs = tc->b_trans ? k : 1;
    if (tc->a_packed) {
        ap = malloc(ndlrt_gemm_packed_a_floats(m, k) * sizeof *ap + 4);
        ndlrt_gemm_pack_a(m, k, a, k, 1, ap);
    }
    if (tc->b_packed) {
        bp = malloc(ndlrt_gemm_packed_b_floats(k, n) * sizeof *bp + 4);
        ndlrt_gemm_pack_b(k, n, b, b_rs, b_cs, bp);
    }
    NdlrtGemm g = {0};
    g.m = m, g.n = n, g.k = k;
    g.a = a, g.a_rs = k, g.a_cs = 1, g.a_packed = ap;
    g.b = b, g.b_rs = b_rs, g.b_cs = b_cs, g.b_packed = bp;
    g.c = c, g.c_rs = ldc;
    g.accumulate = tc->accumulate;
    g.bias_per_row = tc->bias_per_row;
    g.ep.bias = tc->bias ? bias : NULL;
    g.ep.residual = tc->res ? res : NULL;
    g.ep.act = tc->act;
    g.ep.act2 = tc->act2;
    size_t ns = ndlrt_gemm_scratch_floats(m, n, k, tc->a_packed, tc->b_packed);
    float *s = scratch_new(ns);
    ndlrt_gemm_f32(&g, s);

    double *ref = malloc((size_t)(m * ldc > 0 ? m * ldc : 1) * sizeof *ref);
    double *tol = malloc((size_t)(m * ldc > 0 ? m * ldc : 1) * sizeof *tol);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < ldc; j++) {
            int64_t at = i * ldc + j;
            if (j >= n) { /* the gap past n must be untouched */
                ref[at] = c0[at], tol[at] = 0;
                continue;
            }
            double acc = tc->accumulate ? c0[at] : 0.0, abssum = fabs(acc);
            for (int64_t p = 0; p < k; p++) {
                double t = (double)a[i * k + p] * b[p * b_rs + j * b_cs];
                acc += t, abssum += fabs(t);
            }
            ref[at] = ep_ref(acc, &g.ep, tc->bias_per_row ? i : j, at);
            tol[at] = ep_tol(acc, &g.ep, tc->bias_per_row ? i : j, at, 4 * dot_tol(k, abssum + 2));
        }
    char what[160];
    snprintf(what, sizeof what, "gemm m=%lld n=%lld k=%lld ap=%d bp=%d bt=%d acc=%d act=%d,%d",
             (long long)m, (long long)n, (long long)k, tc->a_packed, tc->b_packed, tc->b_trans,
             tc->accumulate, tc->act, tc->act2);
    CHECK(close_vec(what, c, ref, m * ldc, tol, 0, 1e-5));
    CHECK(scratch_ok(s, ns));
    free(a), free(b), free(c), free(c0), free(bias), free(res), free(ap), free(bp), free(s);
    free(ref), free(tol);
}

/* a_packed_k / b_packed_k: a call that uses the leading k of panels packed with more. */
static void test_gemm_slice(void)
{
    int64_t m = 20, n = 70, k = 13, kfull = 40;
    float *a = rnd_vec(m * kfull), *b = rnd_vec(kfull * n), *c = rnd_vec(m * n);
    float *ap = malloc(ndlrt_gemm_packed_a_floats(m, kfull) * sizeof *ap);
    float *bp = malloc(ndlrt_gemm_packed_b_floats(kfull, n) * sizeof *bp);
    ndlrt_gemm_pack_a(m, kfull, a, kfull, 1, ap);
    ndlrt_gemm_pack_b(kfull, n, b, n, 1, bp);
    double *ref = malloc((size_t)(m * n) * sizeof *ref);
    for (int rows = 1; rows <= 2; rows++) { /* 2: also one row against packed b (GEMV) */
        int64_t mm = rows == 1 ? m : 1;
        NdlrtGemm g = {0};
        g.m = mm, g.n = n, g.k = k;
        if (rows == 1) g.a_packed = ap, g.a_packed_k = kfull;
        else g.a = a, g.a_rs = kfull, g.a_cs = 1;
        g.b_packed = bp, g.b_packed_k = kfull;
        g.c = c, g.c_rs = n;
        ndlrt_gemm_f32(&g, NULL);
        for (int64_t i = 0; i < mm; i++)
            for (int64_t j = 0; j < n; j++) {
                double acc = 0;
                for (int64_t p = 0; p < k; p++) acc += (double)a[i * kfull + p] * b[p * n + j];
                ref[i * n + j] = acc;
            }
        CHECK(close_vec("gemm leading k-slice of packed panels", c, ref, mm * n, NULL, 1e-5, 1e-5));
    }
    free(a), free(b), free(c), free(ap), free(bp), free(ref);
}

static void test_gemm(void)
{
    test_gemm_slice();
    static const int64_t sizes[][3] = {
        {1, 1, 1},    {1, 33, 7},   {2, 5, 3},     {13, 31, 17},  {14, 32, 16}, {15, 33, 1},
        {29, 64, 70}, {3, 100, 300}, {40, 45, 257}, {171, 40, 20}, {1, 70, 520}, {7, 3, 4096},
        {16, 1, 9},   {0, 5, 5},    {5, 0, 5},     {4, 6, 0},     {200, 97, 33}, {30, 1100, 12},
    };
    int ns = (int)(sizeof sizes / sizeof sizes[0]);
    for (int i = 0; i < ns; i++)
        for (int variant = 0; variant < 6; variant++) {
            GemmCase tc = {sizes[i][0], sizes[i][1], sizes[i][2], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
            tc.a_packed = variant & 1;
            tc.b_packed = (variant >> 1) & 1;
            tc.b_trans = variant >= 4;
            tc.accumulate = variant == 3 || variant == 5;
            tc.ldc_pad = variant == 2 ? 3 : 0;
            tc.bias = variant >= 2;
            tc.bias_per_row = variant == 4;
            tc.res = variant == 1 || variant == 5;
            tc.act = variant == 2 ? NDLRT_ACT_RELU : variant == 5 ? NDLRT_ACT_GELU : 0;
            tc.act2 = variant == 5 ? NDLRT_ACT_SILU : 0;
            test_gemm_case(&tc);
        }
    /* few rows against at least 1 MiB of packed B: the path that prefetches the next B panel
     * (next columns; next k slice when as deep: k = 1100 cuts 550 + 550, k = 1025 cuts
     * 513 + 512, whose last panel prefetches nothing); k = 1024 packs A (4 KiB row stride),
     * 1025 reads it in place; 16 rows = tiles of 14 + 2, 64 = 4 x 14 + 8, 65 leaves the path */
    static const int64_t streamed[][3] = {
        {16, 300, 1024}, {1, 520, 1025}, {16, 520, 1025}, {5, 250, 1100}, {64, 270, 1024},
        {65, 270, 1024}, {3, 17, 16384},
    };
    for (int i = 0; i < (int)(sizeof streamed / sizeof streamed[0]); i++)
        for (int variant = 0; variant < 2; variant++) {
            GemmCase tc = {streamed[i][0], streamed[i][1], streamed[i][2], 0, 1, 0, variant, 0,
                           variant ? NDLRT_ACT_GELU : 0, 0, 1, variant, 0};
            test_gemm_case(&tc);
        }
    /* every activation in both slots on a few shapes */
    for (int act = 0; act < NDLRT_ACT_COUNT; act++) {
        GemmCase tc = {17, 35, 9, 0, 1, 0, 0, 0, act, 0, 1, 1, 0};
        if (act == NDLRT_ACT_LOG || act == NDLRT_ACT_SQRT || act == NDLRT_ACT_RSQRT)
            tc.act = NDLRT_ACT_ABS, tc.act2 = act; /* positive inputs (or NaN, checked) */
        else
            tc.act2 = (act + 3) % NDLRT_ACT_COUNT;
        if (tc.act2 == NDLRT_ACT_LOG || tc.act2 == NDLRT_ACT_SQRT || tc.act2 == NDLRT_ACT_RSQRT)
            tc.res = 0;
        test_gemm_case(&tc);
    }
}

/* ---- linear ----------------------------------------------------------------------------- */

static void test_linear_case(int64_t m, int64_t n, int64_t k, int bias, int res, int act, int act2)
{
    float *x = rnd_vec(m * k), *w = rnd_vec(n * k), *b = rnd_vec(n), *r = rnd_vec(m * n);
    float *y = rnd_vec(m * n);
    float *wp = malloc(ndlrt_linear_packed_floats(n, k) * sizeof *wp + 4);
    ndlrt_linear_pack(n, k, w, wp);
    NdlrtLinear p = {m, n, k, wp, {bias ? b : NULL, act, res ? r : NULL, act2}};
    size_t ns = ndlrt_linear_scratch_floats(m, n, k);
    float *s = scratch_new(ns);
    ndlrt_linear_f32(&p, x, y, s);
    double *ref = malloc((size_t)(m * n > 0 ? m * n : 1) * sizeof *ref);
    double *tol = malloc((size_t)(m * n > 0 ? m * n : 1) * sizeof *tol);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double acc = 0, abssum = 0;
            for (int64_t q = 0; q < k; q++) {
                double t = (double)x[i * k + q] * w[j * k + q];
                acc += t, abssum += fabs(t);
            }
            ref[i * n + j] = ep_ref(acc, &p.ep, j, i * n + j);
            tol[i * n + j] = ep_tol(acc, &p.ep, j, i * n + j, 4 * dot_tol(k, abssum + 2));
        }
    char what[128];
    snprintf(what, sizeof what, "linear m=%lld n=%lld k=%lld", (long long)m, (long long)n,
             (long long)k);
    CHECK(close_vec(what, y, ref, m * n, tol, 0, 1e-5));
    CHECK(scratch_ok(s, ns));
    free(x), free(w), free(b), free(r), free(y), free(wp), free(s), free(ref), free(tol);
}

static void test_linear(void)
{
    for (int64_t m = 1; m <= 30; m++) test_linear_case(m, 37, 19, m & 1, m % 3 == 0, m % 4, 0);
    test_linear_case(1, 1024, 784, 1, 0, NDLRT_ACT_RELU, 0);
    test_linear_case(1, 10, 4096, 1, 1, 0, NDLRT_ACT_TANH);
    test_linear_case(1, 33, 1, 0, 0, 0, 0);
    test_linear_case(64, 100, 784, 1, 0, NDLRT_ACT_RELU, 0);
    test_linear_case(3, 65, 4096, 1, 1, 0, 0);
    test_linear_case(5, 1, 300, 1, 0, 0, 0);
    test_linear_case(0, 8, 8, 1, 0, 0, 0);
    /* the epilogue's 4-vectors-at-a-time path (gelu, and any act pair) across tile rows
     * and column tails: n = 77 leaves a 13-column tile, m = 29 a 1-row one */
    test_linear_case(29, 77, 40, 1, 0, NDLRT_ACT_GELU, 0);
    test_linear_case(29, 77, 40, 1, 1, NDLRT_ACT_GELU, 0);
    test_linear_case(29, 77, 40, 0, 1, NDLRT_ACT_GELU, NDLRT_ACT_RELU);
    test_linear_case(15, 5, 3, 1, 1, NDLRT_ACT_SILU, NDLRT_ACT_GELU);
    test_linear_case(1, 77, 40, 1, 1, NDLRT_ACT_GELU, 0);
    test_linear_case(14, 16, 8, 1, 0, NDLRT_ACT_RELU, NDLRT_ACT_RELU);
}

/* ---- conv2d ------------------------------------------------------------------------------ */

typedef struct ConvCase {
    int64_t n, c, h, w, o, kh, kw, sh, sw, ph, pw, dh, dw, groups;
} ConvCase;

static void test_conv_case(const ConvCase *cc, int bias, int res, int act)
{
    NdlrtConv2d p = {0};
    p.n = cc->n, p.c = cc->c, p.h = cc->h, p.w = cc->w, p.o = cc->o, p.kh = cc->kh;
    p.kw = cc->kw, p.sh = cc->sh, p.sw = cc->sw, p.ph = cc->ph, p.pw = cc->pw, p.dh = cc->dh;
    p.dw = cc->dw, p.groups = cc->groups;
    p.oh = (p.h + 2 * p.ph - p.dh * (p.kh - 1) - 1) / p.sh + 1;
    p.ow = (p.w + 2 * p.pw - p.dw * (p.kw - 1) - 1) / p.sw + 1;
    int64_t cg = p.c / p.groups, og = p.o / p.groups, ny = p.n * p.o * p.oh * p.ow;
    float *x = rnd_vec(p.n * p.c * p.h * p.w), *w = rnd_vec(p.o * cg * p.kh * p.kw);
    float *b = rnd_vec(p.o), *r = rnd_vec(ny), *y = rnd_vec(ny);
    float *wp = malloc(ndlrt_conv2d_packed_floats(&p) * sizeof *wp + 4);
    ndlrt_conv2d_pack(&p, w, wp);
    p.w_packed = wp;
    p.ep.bias = bias ? b : NULL;
    p.ep.residual = res ? r : NULL;
    p.ep.act = act;
    size_t ns = ndlrt_conv2d_scratch_floats(&p);
    float *s = scratch_new(ns);
    ndlrt_conv2d_f32(&p, x, y, s);
    double *ref = malloc((size_t)ny * sizeof *ref), *tol = malloc((size_t)ny * sizeof *tol);
    for (int64_t img = 0; img < p.n; img++)
        for (int64_t oc = 0; oc < p.o; oc++)
            for (int64_t oy = 0; oy < p.oh; oy++)
                for (int64_t ox = 0; ox < p.ow; ox++) {
                    int64_t g = oc / og, at = ((img * p.o + oc) * p.oh + oy) * p.ow + ox;
                    double acc = 0, abssum = 0;
                    for (int64_t ci = 0; ci < cg; ci++)
                        for (int64_t ki = 0; ki < p.kh; ki++)
                            for (int64_t kj = 0; kj < p.kw; kj++) {
                                int64_t iy = oy * p.sh - p.ph + ki * p.dh;
                                int64_t ix = ox * p.sw - p.pw + kj * p.dw;
                                if (iy < 0 || iy >= p.h || ix < 0 || ix >= p.w) continue;
                                double t = (double)x[((img * p.c + g * cg + ci) * p.h + iy) * p.w + ix] *
                                           w[((oc * cg + ci) * p.kh + ki) * p.kw + kj];
                                acc += t, abssum += fabs(t);
                            }
                    ref[at] = ep_ref(acc, &p.ep, oc, at);
                    tol[at] = ep_tol(acc, &p.ep, oc, at, 4 * dot_tol(cg * p.kh * p.kw, abssum + 2));
                }
    char what[200];
    snprintf(what, sizeof what,
             "conv n=%lld c=%lld %lldx%lld o=%lld k=%lldx%lld s=%lld,%lld p=%lld,%lld d=%lld,%lld g=%lld",
             (long long)p.n, (long long)p.c, (long long)p.h, (long long)p.w, (long long)p.o,
             (long long)p.kh, (long long)p.kw, (long long)p.sh, (long long)p.sw, (long long)p.ph,
             (long long)p.pw, (long long)p.dh, (long long)p.dw, (long long)p.groups);
    CHECK(close_vec(what, y, ref, ny, tol, 0, 1e-5));
    CHECK(scratch_ok(s, ns));
    free(x), free(w), free(b), free(r), free(y), free(wp), free(s), free(ref), free(tol);
}

static void test_conv(void)
{
    static const ConvCase cases[] = {
        /* n  c  h   w   o  kh kw sh sw ph pw dh dw g */
        {1, 8, 5, 7, 16, 1, 1, 1, 1, 0, 0, 1, 1, 1},      /* 1x1: direct GEMM */
        {2, 3, 9, 9, 5, 1, 1, 1, 1, 0, 0, 1, 1, 1},       /* 1x1, odd sizes, batch */
        {1, 6, 9, 11, 4, 1, 1, 2, 2, 0, 0, 1, 1, 1},      /* 1x1 stride 2: im2col */
        {1, 4, 8, 8, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1},       /* 3x3 pad 1 */
        {2, 5, 10, 9, 7, 3, 3, 2, 2, 1, 1, 1, 1, 1},      /* 3x3 stride 2 */
        {1, 3, 17, 17, 8, 7, 7, 2, 2, 3, 3, 1, 1, 1},     /* a 7x7 stem */
        {1, 4, 12, 12, 4, 3, 3, 1, 1, 2, 2, 2, 2, 1},     /* dilation 2 */
        {1, 2, 9, 13, 3, 2, 5, 1, 3, 0, 2, 1, 1, 1},      /* asymmetric */
        {1, 8, 6, 6, 12, 3, 3, 1, 1, 1, 1, 1, 1, 4},      /* groups 4 */
        {2, 6, 7, 7, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2},       /* groups 2 */
        {1, 16, 9, 9, 16, 3, 3, 1, 1, 1, 1, 1, 1, 16},    /* depthwise */
        {2, 5, 11, 10, 5, 3, 3, 2, 2, 1, 1, 1, 1, 5},     /* depthwise stride 2 */
        {1, 3, 10, 10, 3, 5, 5, 1, 2, 2, 1, 2, 1, 3},     /* depthwise dilated, asymmetric */
        /* depthwise through phase planes: MobileNetV3's 3x3..7x7 on 2x2..32x32 planes */
        {1, 7, 4, 4, 7, 7, 7, 1, 1, 3, 3, 1, 1, 7},       /* 7x7 on 4x4: mostly padding */
        {2, 3, 9, 9, 3, 7, 7, 2, 2, 3, 3, 1, 1, 3},       /* 7x7 stride 2, odd size, batch */
        {1, 4, 32, 32, 4, 5, 5, 2, 2, 2, 2, 1, 1, 4},     /* 5x5 stride 2, several blocks */
        {1, 5, 2, 2, 5, 3, 3, 1, 1, 1, 1, 1, 1, 5},       /* 2x2 plane: one partial block */
        {1, 2, 3, 3, 2, 3, 3, 2, 2, 1, 1, 1, 1, 2},       /* stride 2, 2x2 output */
        {1, 3, 11, 7, 3, 3, 5, 1, 1, 0, 2, 2, 1, 3},      /* dilated rows, unequal pads */
        {1, 2, 10, 12, 2, 4, 2, 2, 2, 0, 1, 1, 1, 2},     /* even kernel, stride 2 */
        {1, 4, 8, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 4},       /* channel multiplier 2 */
        {1, 1, 6, 6, 1, 3, 3, 1, 1, 0, 0, 1, 1, 1},       /* one channel */
        {1, 64, 20, 20, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1},   /* several im2col column blocks */
        {1, 2, 3, 3, 4, 3, 3, 1, 1, 0, 0, 1, 1, 1},       /* one output pixel */
        {1, 2, 2, 2, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1},       /* mostly padding */
        {1, 30, 15, 15, 33, 1, 1, 1, 1, 0, 0, 1, 1, 3},   /* grouped 1x1 */
        /* output channels around the 14-row panels (direct path with AVX-512): tiles of
         * the last panel plus the rest, across the panel boundary, over 7 output vectors
         * (a block of 6 and one left over) */
        {1, 5, 10, 10, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1},    /* 16 = 8 + 8 */
        {2, 3, 9, 9, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1},      /* stride 2, 32 = 14 + 9 + 9 */
        {1, 4, 6, 6, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1},      /* 20 = 7 + 7 + 6 */
        {1, 4, 7, 7, 21, 3, 3, 1, 1, 1, 1, 1, 1, 1},      /* 21 = 14 + 7 */
        {1, 3, 8, 8, 27, 3, 3, 1, 1, 1, 1, 1, 1, 1},      /* 27 = 14 + 13: panels only */
        {1, 6, 8, 8, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1},      /* 64 = 4 x 14 + 8 */
        {1, 4, 10, 10, 18, 3, 3, 1, 1, 1, 1, 1, 1, 2},    /* groups 2 of 9 channels */
    };
    int n = (int)(sizeof cases / sizeof cases[0]);
    for (int i = 0; i < n; i++) {
        test_conv_case(&cases[i], 0, 0, 0);
        test_conv_case(&cases[i], 1, 1, NDLRT_ACT_RELU);
    }
    /* the unbatched form is the batched one with n = 1; a batch must equal its images */
    ConvCase one = {1, 3, 6, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1};
    test_conv_case(&one, 1, 0, NDLRT_ACT_SILU);
    /* an epilogue applied after the tiles, on tiles that cross a panel boundary */
    ConvCase rows = {1, 5, 10, 10, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1};
    test_conv_case(&rows, 1, 1, NDLRT_ACT_SILU);
    /* the small-plane depthwise paths (masked loads for stride 1 with ow == w, permutes of
     * windows of 1, 2 or 4 vectors otherwise), their limits, and the 1x1 layers of a small
     * MobileNetV3 subnet, with its hard-swish in the registers' epilogue */
    static const ConvCase small[] = {
        /* n  c  h   w   o  kh kw sh sw ph pw dh dw g */
        {1, 8, 16, 16, 8, 3, 3, 1, 1, 1, 1, 1, 1, 8},     /* 3x3 on rows of 16, channel pairs */
        {1, 5, 7, 16, 5, 3, 3, 1, 1, 1, 1, 1, 1, 5},      /* 3x3 on rows of 16, one channel left */
        {2, 3, 1, 16, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3},      /* 3x3 on one row of 16, batch */
        {1, 6, 16, 16, 6, 3, 3, 1, 1, 2, 2, 2, 2, 6},     /* masked, 16 vectors, 4 + 2 channels */
        {1, 8, 32, 32, 8, 3, 3, 1, 1, 1, 1, 1, 1, 8},     /* 3x3 on rows of 32: two blocks */
        {1, 3, 5, 20, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3},      /* rows of 20: a block of 4 */
        {2, 5, 4, 17, 5, 3, 3, 1, 1, 1, 1, 1, 1, 5},      /* rows of 17: a block of 1, batch */
        {1, 3, 20, 20, 3, 5, 5, 1, 1, 2, 2, 1, 1, 3},     /* flat: past the masked path's 16 */
        {1, 24, 8, 8, 24, 3, 3, 2, 2, 1, 1, 1, 1, 24},    /* permute, 4 registers */
        {1, 24, 4, 4, 24, 3, 3, 2, 2, 1, 1, 1, 1, 24},    /* permute, 1 register */
        {1, 6, 5, 6, 6, 3, 3, 2, 2, 1, 1, 1, 1, 6},       /* permute, 2 registers */
        {1, 4, 8, 8, 4, 7, 7, 2, 2, 3, 3, 1, 1, 4},       /* permute, 7x7 mostly padding */
        {1, 24, 16, 16, 24, 3, 3, 2, 2, 1, 1, 1, 1, 24},  /* 3x3 stride 2 on rows of 16 */
        {1, 5, 14, 16, 5, 3, 3, 2, 2, 1, 1, 1, 1, 5},     /* the same, 7 rows, one channel left */
        {1, 24, 16, 12, 24, 3, 3, 2, 2, 1, 1, 1, 1, 24},  /* permute, 3 output vectors */
        {2, 5, 15, 15, 5, 3, 3, 2, 2, 1, 1, 1, 1, 5},     /* permute, windows across rows */
        {1, 8, 16, 16, 8, 7, 7, 2, 2, 3, 3, 1, 1, 8},     /* flat: past the permute's 64 */
        {1, 48, 2, 2, 48, 3, 3, 1, 1, 1, 1, 1, 1, 48},    /* masked, one partial vector */
        {2, 5, 7, 7, 5, 7, 7, 1, 1, 3, 3, 1, 1, 5},       /* masked 7x7, batch, 49 outputs */
        {1, 3, 6, 5, 3, 3, 3, 1, 1, 2, 1, 2, 1, 3},       /* masked, dilated rows */
        {1, 24, 4, 4, 8, 1, 1, 1, 1, 0, 0, 1, 1, 1},      /* 1x1 on 4x4 */
        {1, 16, 2, 2, 48, 1, 1, 1, 1, 0, 0, 1, 1, 1},     /* 1x1 on 2x2, 48 = 14 + 14 + 10 + 10 */
        /* 1x1 on 1 to 4 positions: output channels in the lanes (panels of 14, the last
         * partial), positions gathered and scattered */
        {2, 32, 1, 1, 48, 1, 1, 1, 1, 0, 0, 1, 1, 1},     /* squeeze-excite's 1x1, batch */
        {1, 30, 1, 3, 33, 1, 1, 1, 1, 0, 0, 1, 1, 3},     /* grouped, 3 positions */
        {2, 8, 2, 2, 20, 1, 1, 1, 1, 0, 0, 1, 1, 1},      /* 2x2, batch */
        {1, 3, 2, 1, 5, 1, 1, 1, 1, 0, 0, 1, 1, 1},       /* 2 positions, one partial panel */
    };
    for (int i = 0; i < (int)(sizeof small / sizeof small[0]); i++) {
        test_conv_case(&small[i], 0, 0, 0);
        test_conv_case(&small[i], 1, 0, NDLRT_ACT_HARDSWISH);
        test_conv_case(&small[i], 1, 1, NDLRT_ACT_RELU);
    }
}

/* ---- matmul -------------------------------------------------------------------------------- */

static void test_matmul_case(int64_t batch, int64_t m, int64_t n, int64_t k, int bcast_a,
                             int bcast_b, int bt)
{
    NdlrtMatmul p = {batch, m, n, k, bcast_a ? 0 : m * k, bcast_b ? 0 : k * n, m * n, bt};
    int64_t na = (bcast_a ? 1 : batch) * m * k, nb = (bcast_b ? 1 : batch) * k * n;
    float *a = rnd_vec(na), *b = rnd_vec(nb), *c = rnd_vec(batch * m * n);
    size_t ns = ndlrt_matmul_scratch_floats(&p);
    float *s = scratch_new(ns);
    ndlrt_matmul_f32(&p, a, b, c, s);
    double *ref = malloc((size_t)(batch * m * n + 1) * sizeof *ref);
    double *tol = malloc((size_t)(batch * m * n + 1) * sizeof *tol);
    for (int64_t t = 0; t < batch; t++)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                const float *at = a + t * p.a_stride, *bt_ = b + t * p.b_stride;
                double acc = 0, abssum = 0;
                for (int64_t q = 0; q < k; q++) {
                    double v = (double)at[i * k + q] * (bt ? bt_[j * k + q] : bt_[q * n + j]);
                    acc += v, abssum += fabs(v);
                }
                ref[(t * m + i) * n + j] = acc;
                tol[(t * m + i) * n + j] = 4 * dot_tol(k, abssum);
            }
    char what[128];
    snprintf(what, sizeof what, "matmul batch=%lld m=%lld n=%lld k=%lld ba=%d bb=%d bt=%d",
             (long long)batch, (long long)m, (long long)n, (long long)k, bcast_a, bcast_b, bt);
    CHECK(close_vec(what, c, ref, batch * m * n, tol, 0, 1e-5));
    CHECK(scratch_ok(s, ns));
    free(a), free(b), free(c), free(s), free(ref), free(tol);
}

static void test_matmul(void)
{
    test_matmul_case(1, 33, 47, 29, 0, 0, 0);
    test_matmul_case(3, 20, 17, 64, 0, 0, 0);
    test_matmul_case(3, 20, 17, 64, 0, 0, 1);
    test_matmul_case(4, 7, 40, 9, 1, 0, 0);  /* a broadcast */
    test_matmul_case(5, 9, 40, 33, 0, 1, 0); /* b broadcast: packed once */
    test_matmul_case(5, 1, 70, 33, 0, 1, 1); /* b broadcast, one row: GEMV */
    test_matmul_case(2, 3, 1100, 300, 0, 1, 0); /* b broadcast too big to pack once */
    test_matmul_case(2, 1, 1, 1, 0, 0, 0);
    test_matmul_case(2, 150, 3, 500, 0, 0, 1);
    test_matmul_case(0, 3, 3, 3, 0, 0, 0);
}

/* ---- attention ------------------------------------------------------------------------------ */

static void test_attention_case(int64_t batch, int64_t tq, int64_t tk, int64_t d, int64_t dv,
                                int causal, int bcast_kv)
{
    NdlrtAttention p = {batch, tq, tk, d, dv, tq * d, bcast_kv ? 0 : tk * d, bcast_kv ? 0 : tk * dv,
                        tq * dv, (float)(1.0 / sqrt((double)(d > 0 ? d : 1))), causal};
    int64_t nk = (bcast_kv ? 1 : batch) * tk;
    float *q = rnd_vec(batch * tq * d), *k = rnd_vec(nk * d), *v = rnd_vec(nk * dv);
    for (int64_t i = 0; i < batch * tq * d; i++) q[i] *= 3.0f; /* sharper softmax */
    float *y = rnd_vec(batch * tq * dv);
    size_t ns = ndlrt_attention_scratch_floats(&p);
    float *s = scratch_new(ns);
    ndlrt_attention_f32(&p, q, k, v, y, s);
    double *ref = malloc((size_t)(batch * tq * dv + 1) * sizeof *ref);
    double *sc = malloc((size_t)(tk + 1) * sizeof *sc);
    for (int64_t h = 0; h < batch; h++)
        for (int64_t i = 0; i < tq; i++) {
            const float *qi = q + h * p.q_stride + i * d, *kh = k + h * p.k_stride;
            const float *vh = v + h * p.v_stride;
            int64_t lim = causal ? (i + 1 < tk ? i + 1 : tk) : tk;
            double mx = -INFINITY, sum = 0;
            for (int64_t j = 0; j < lim; j++) {
                double t = 0;
                for (int64_t c = 0; c < d; c++) t += (double)qi[c] * kh[j * d + c];
                sc[j] = t * p.scale;
                if (sc[j] > mx) mx = sc[j];
            }
            for (int64_t j = 0; j < lim; j++) sum += sc[j] = exp(sc[j] - mx);
            for (int64_t c = 0; c < dv; c++) {
                double o = 0;
                for (int64_t j = 0; j < lim; j++) o += sc[j] * vh[j * dv + c];
                ref[(h * tq + i) * dv + c] = lim ? o / sum : 0.0;
            }
        }
    char what[128];
    snprintf(what, sizeof what, "attention b=%lld tq=%lld tk=%lld d=%lld dv=%lld causal=%d bc=%d",
             (long long)batch, (long long)tq, (long long)tk, (long long)d, (long long)dv, causal,
             bcast_kv);
    CHECK(close_vec(what, y, ref, batch * tq * dv, NULL, 2e-5 * sqrt((double)d + 1), 1e-4));
    CHECK(scratch_ok(s, ns));
    free(q), free(k), free(v), free(y), free(s), free(ref), free(sc);
}

static void test_attention(void)
{
    for (int causal = 0; causal < 2; causal++) {
        test_attention_case(2, 16, 16, 8, 8, causal, 0);
        test_attention_case(1, 128, 128, 64, 64, causal, 0);
        test_attention_case(3, 150, 300, 40, 24, causal, 0); /* several query and key blocks */
        test_attention_case(2, 300, 150, 33, 70, causal, 0); /* tq > tk */
        test_attention_case(4, 70, 129, 16, 16, causal, 1);  /* shared k and v */
        test_attention_case(1, 1, 200, 32, 32, causal, 0);   /* one query */
        test_attention_case(2, 5, 1, 7, 3, causal, 0);       /* one key */
        test_attention_case(1, 3, 0, 4, 4, causal, 0);       /* no keys: zeros */
    }
}

/* ---- pools ---------------------------------------------------------------------------------- */

static void test_pool_case(int64_t n, int64_t c, int64_t h, int64_t w, int64_t kh, int64_t kw,
                           int64_t sh, int64_t sw, int64_t ph, int64_t pw)
{
    NdlrtPool2d p = {n, c, h, w, (h + 2 * ph - kh) / sh + 1, (w + 2 * pw - kw) / sw + 1,
                     kh, kw, sh, sw, ph, pw};
    int64_t nx = n * c * h * w, ny = n * c * p.oh * p.ow;
    float *x = rnd_vec(nx), *y = rnd_vec(ny);
    if (nx > 5) x[5] = NAN;
    double *ref = malloc((size_t)ny * sizeof *ref);
    for (int kind = 0; kind < 2; kind++) {
        for (int64_t pl = 0; pl < n * c; pl++)
            for (int64_t oy = 0; oy < p.oh; oy++)
                for (int64_t ox = 0; ox < p.ow; ox++) {
                    double mx = -INFINITY, sum = 0;
                    for (int64_t ki = 0; ki < kh; ki++)
                        for (int64_t kj = 0; kj < kw; kj++) {
                            int64_t iy = oy * sh - ph + ki, ix = ox * sw - pw + kj;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                            double v = x[(pl * h + iy) * w + ix];
                            if (v > mx || isnan(v)) mx = isnan(mx) ? mx : v;
                            sum += v;
                        }
                    ref[(pl * p.oh + oy) * p.ow + ox] = kind == 0 ? mx : sum / (double)(kh * kw);
                }
        if (kind == 0) ndlrt_max_pool2d_f32(&p, x, y);
        else ndlrt_avg_pool2d_f32(&p, x, y);
        CHECK(close_vec(kind ? "avg_pool2d" : "max_pool2d", y, ref, ny, NULL, 1e-6, 1e-6));
    }
    free(x), free(y), free(ref);
}

static void test_pool(void)
{
    test_pool_case(1, 2, 8, 8, 2, 2, 2, 2, 0, 0);
    test_pool_case(2, 3, 9, 7, 3, 3, 2, 2, 1, 1);
    test_pool_case(1, 1, 5, 6, 3, 2, 1, 2, 1, 0);
    test_pool_case(1, 4, 7, 7, 7, 7, 7, 7, 0, 0); /* global */
    test_pool_case(1, 2, 4, 4, 5, 5, 1, 1, 2, 2);
}

/* ---- softmax, reductions, argmax ------------------------------------------------------------- */

static void test_softmax_case(int64_t outer, int64_t len, int64_t inner, int with_nan)
{
    NdlrtAxis p = {outer, len, inner};
    int64_t nx = outer * len * inner;
    float *x = rnd_vec(nx), *y = rnd_vec(nx);
    for (int64_t i = 0; i < nx; i++) x[i] *= 20.0f;
    if (with_nan && nx > 3) x[3] = NAN;
    if (nx > 7) x[7] = -INFINITY;
    double *ref = malloc((size_t)(nx + 1) * sizeof *ref);
    for (int logs = 0; logs < 2; logs++) {
        for (int64_t o = 0; o < outer; o++)
            for (int64_t q = 0; q < inner; q++) {
                const float *xs = x + o * len * inner + q;
                double mx = -INFINITY, sum = 0;
                int nan = 0;
                for (int64_t j = 0; j < len; j++) {
                    nan |= isnan(xs[j * inner]);
                    if (xs[j * inner] > mx) mx = xs[j * inner];
                }
                for (int64_t j = 0; j < len; j++) sum += exp(xs[j * inner] - mx);
                for (int64_t j = 0; j < len; j++) {
                    double d = xs[j * inner] - mx;
                    ref[o * len * inner + q + j * inner] =
                        nan ? NAN : logs ? d - log(sum) : exp(d) / sum;
                }
            }
        if (logs) ndlrt_log_softmax_f32(&p, x, y);
        else ndlrt_softmax_f32(&p, x, y);
        char what[96];
        snprintf(what, sizeof what, "%s [%lld, %lld, %lld]", logs ? "log_softmax" : "softmax",
                 (long long)outer, (long long)len, (long long)inner);
        CHECK(close_vec(what, y, ref, nx, NULL, logs ? 1e-5 : 1e-7, 1e-5));
    }
    free(x), free(y), free(ref);
}

static void test_reduce_case(int64_t outer, int64_t len, int64_t inner)
{
    NdlrtAxis p = {outer, len, inner};
    int64_t nx = outer * len * inner, ny = outer * inner;
    float *x = rnd_vec(nx), *y = rnd_vec(ny);
    if (nx > 10) x[10] = NAN;
    int64_t *am = malloc((size_t)(ny + 1) * sizeof *am);
    double *ref = malloc((size_t)(ny + 1) * sizeof *ref);
    for (int kind = 0; kind < 4; kind++) {
        for (int64_t o = 0; o < outer; o++)
            for (int64_t q = 0; q < inner; q++) {
                const float *xs = x + o * len * inner + q;
                double s = kind == 2 ? -INFINITY : kind == 3 ? INFINITY : 0;
                for (int64_t j = 0; j < len; j++) {
                    double v = xs[j * inner];
                    if (kind <= 1) s += v;
                    else if (isnan(v) || isnan(s)) s = NAN;
                    else s = kind == 2 ? fmax(s, v) : fmin(s, v);
                }
                ref[o * inner + q] = kind == 1 ? (len ? s / (double)len : NAN) : s;
            }
        ndlrt_reduce_f32(&p, kind, x, y);
        char what[64];
        snprintf(what, sizeof what, "reduce kind %d [%lld, %lld, %lld]", kind, (long long)outer,
                 (long long)len, (long long)inner);
        CHECK(close_vec(what, y, ref, ny, NULL, 1e-6, 1e-6));
    }
    /* argmax: first maximum, NaN wins */
    for (int64_t i = 0; i < nx; i += 3) x[i] = 0.5f; /* ties */
    ndlrt_argmax_f32(&p, x, am);
    int ok = 1;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t q = 0; q < inner; q++) {
            const float *xs = x + o * len * inner + q;
            int64_t best = 0;
            for (int64_t j = 1; j < len; j++) {
                float v = xs[j * inner], b = xs[best * inner];
                if (!isnan(b) && (v > b || isnan(v))) best = j;
            }
            if (am[o * inner + q] != best) ok = 0;
        }
    CHECK(ok);
    free(x), free(y), free(am), free(ref);
}

static void test_softmax_reduce(void)
{
    test_softmax_case(3, 10, 1, 0);
    test_softmax_case(2, 1000, 1, 0);
    test_softmax_case(2, 33, 1, 1);
    test_softmax_case(2, 17, 70, 0); /* inner past one column block */
    test_softmax_case(1, 5, 3, 1);
    test_softmax_case(4, 1, 1, 0);
    test_reduce_case(3, 1000, 1);
    test_reduce_case(2, 7, 130);
    test_reduce_case(1, 1, 5);
    test_reduce_case(5, 3, 1);
    /* a row of -inf is NaN, as exp(-inf - -inf) */
    float ninf[3] = {-INFINITY, -INFINITY, -INFINITY}, o3[3];
    ndlrt_softmax_f32(&(NdlrtAxis){1, 3, 1}, ninf, o3);
    CHECK(isnan(o3[0]) && isnan(o3[2]));
    /* one-hot extremes */
    float big[4] = {1000.0f, 0.0f, -1000.0f, 999.0f}, o4[4];
    ndlrt_softmax_f32(&(NdlrtAxis){1, 4, 1}, big, o4);
    CHECK(fabsf(o4[0] - 0.7310586f) < 1e-6f && o4[1] == 0.0f && o4[2] == 0.0f);
}

/* ---- norms ----------------------------------------------------------------------------------- */

static void test_norm(void)
{
    int64_t rows = 7, dims[] = {1, 5, 16, 33, 1024};
    for (int di = 0; di < 5; di++) {
        int64_t d = dims[di];
        float *x = rnd_vec(rows * d), *w = rnd_vec(d), *b = rnd_vec(d), *y = rnd_vec(rows * d);
        for (int64_t i = 0; i < rows * d; i++) x[i] = x[i] * 3.0f + 5.0f; /* an offset mean */
        double *ref = malloc((size_t)(rows * d) * sizeof *ref);
        for (int variant = 0; variant < 4; variant++) {
            const float *wv = variant & 1 ? w : NULL, *bv = variant & 2 ? b : NULL;
            for (int64_t r = 0; r < rows; r++) {
                double mean = 0, var = 0;
                for (int64_t j = 0; j < d; j++) mean += x[r * d + j];
                mean /= (double)d;
                for (int64_t j = 0; j < d; j++) var += (x[r * d + j] - mean) * (x[r * d + j] - mean);
                var /= (double)d;
                for (int64_t j = 0; j < d; j++)
                    ref[r * d + j] = (x[r * d + j] - mean) / sqrt(var + 1e-5) * (wv ? wv[j] : 1) +
                                     (bv ? bv[j] : 0);
            }
            ndlrt_layer_norm_f32(rows, d, x, wv, bv, 1e-5f, y);
            CHECK(close_vec("layer_norm", y, ref, rows * d, NULL, 2e-5, 1e-4));
            for (int64_t r = 0; r < rows; r++) {
                double ms = 0;
                for (int64_t j = 0; j < d; j++) ms += (double)x[r * d + j] * x[r * d + j];
                ms /= (double)d;
                for (int64_t j = 0; j < d; j++)
                    ref[r * d + j] = x[r * d + j] / sqrt(ms + 1.1920929e-7) * (wv ? wv[j] : 1);
            }
            ndlrt_rms_norm_f32(rows, d, x, wv, 1.1920929e-7f, y);
            CHECK(close_vec("rms_norm", y, ref, rows * d, NULL, 1e-5, 1e-4));
        }
        free(x), free(w), free(b), free(y), free(ref);
    }
    int64_t n = 2, c = 5, inner = 13;
    float *x = rnd_vec(n * c * inner), *mean = rnd_vec(c), *var = rnd_vec(c), *w = rnd_vec(c);
    float *b = rnd_vec(c), *y = rnd_vec(n * c * inner);
    for (int64_t i = 0; i < c; i++) var[i] = fabsf(var[i]) + 0.1f;
    double *ref = malloc((size_t)(n * c * inner) * sizeof *ref);
    for (int variant = 0; variant < 4; variant++) {
        const float *wv = variant & 1 ? w : NULL, *bv = variant & 2 ? b : NULL;
        for (int64_t i = 0; i < n * c * inner; i++) {
            int64_t ch = i / inner % c;
            ref[i] = (x[i] - mean[ch]) / sqrt(var[ch] + 1e-5) * (wv ? wv[ch] : 1) + (bv ? bv[ch] : 0);
        }
        ndlrt_batch_norm_f32(n, c, inner, x, mean, var, wv, bv, 1e-5f, y);
        CHECK(close_vec("batch_norm", y, ref, n * c * inner, NULL, 1e-5, 1e-5));
    }
    free(x), free(mean), free(var), free(w), free(b), free(y), free(ref);
}

/* ---- permute and slice --------------------------------------------------------------------------- */

/* Element i of a tensor of elem bytes holds bytes derived from i. */
static void fill_pattern(unsigned char *x, int64_t n, size_t elem)
{
    for (int64_t i = 0; i < n; i++)
        for (size_t b = 0; b < elem; b++) x[(size_t)i * elem + b] = (unsigned char)(i * 7 + b * 31 + (i >> 8));
}

static void test_permute_case(int rank, const int64_t *dims, const int64_t *perm, size_t elem)
{
    int64_t n = 1, st[8], od[8], idx[8] = {0};
    for (int i = rank - 1; i >= 0; i--) st[i] = n, n *= dims[i];
    for (int i = 0; i < rank; i++) od[i] = dims[perm[i]];
    unsigned char *x = calloc((size_t)n * elem + 1, 1), *y = calloc((size_t)n * elem + 1, 1);
    fill_pattern(x, n, elem);
    ndlrt_permute(rank, dims, perm, elem, x, y);
    int ok = 1;
    for (int64_t o = 0; o < n; o++) {
        int64_t src = 0;
        for (int i = 0; i < rank; i++) src += idx[i] * st[perm[i]];
        if (memcmp(y + (size_t)o * elem, x + (size_t)src * elem, elem) != 0) ok = 0;
        for (int i = rank - 1; i >= 0; i--) {
            if (++idx[i] < od[i]) break;
            idx[i] = 0;
        }
    }
    if (!ok) fprintf(stderr, "permute rank %d elem %zu wrong\n", rank, elem);
    CHECK(ok);
    free(x), free(y);
}

static void test_slice_case(int rank, const int64_t *dims, const int64_t *begin,
                            const int64_t *step, const int64_t *out, size_t elem)
{
    int64_t n = 1, no = 1, st[8], idx[8] = {0};
    for (int i = rank - 1; i >= 0; i--) st[i] = n, n *= dims[i];
    for (int i = 0; i < rank; i++) no *= out[i];
    unsigned char *x = malloc((size_t)n * elem + 1), *y = malloc((size_t)no * elem + 1);
    fill_pattern(x, n, elem);
    ndlrt_slice(rank, dims, begin, step, out, elem, x, y);
    int ok = 1;
    for (int64_t o = 0; o < no; o++) {
        int64_t src = 0;
        for (int i = 0; i < rank; i++) src += (begin[i] + idx[i] * step[i]) * st[i];
        if (memcmp(y + (size_t)o * elem, x + (size_t)src * elem, elem) != 0) ok = 0;
        for (int i = rank - 1; i >= 0; i--) {
            if (++idx[i] < out[i]) break;
            idx[i] = 0;
        }
    }
    if (!ok) fprintf(stderr, "slice rank %d elem %zu wrong\n", rank, elem);
    CHECK(ok);
    free(x), free(y);
}

static void test_move(void)
{
    static const size_t elems[] = {1, 2, 3, 4, 8, 12};
    for (int e = 0; e < 6; e++) {
        size_t el = elems[e];
        test_permute_case(2, (int64_t[]){37, 53}, (int64_t[]){1, 0}, el);
        test_permute_case(3, (int64_t[]){4, 5, 6}, (int64_t[]){0, 2, 1}, el);
        test_permute_case(3, (int64_t[]){4, 5, 6}, (int64_t[]){2, 0, 1}, el);
        test_permute_case(4, (int64_t[]){2, 3, 40, 41}, (int64_t[]){0, 2, 3, 1}, el); /* NCHW->NHWC */
        test_permute_case(4, (int64_t[]){2, 3, 1, 5}, (int64_t[]){3, 2, 1, 0}, el);
        test_permute_case(5, (int64_t[]){2, 3, 4, 5, 6}, (int64_t[]){1, 0, 2, 4, 3}, el);
        test_permute_case(3, (int64_t[]){2, 3, 4}, (int64_t[]){0, 1, 2}, el); /* identity */
        test_permute_case(1, (int64_t[]){9}, (int64_t[]){0}, el);
        test_permute_case(8, (int64_t[]){2, 1, 2, 3, 1, 2, 2, 3}, (int64_t[]){7, 6, 5, 4, 3, 2, 1, 0}, el);
        test_permute_case(2, (int64_t[]){0, 5}, (int64_t[]){1, 0}, el); /* empty */
        test_slice_case(2, (int64_t[]){10, 12}, (int64_t[]){2, 1}, (int64_t[]){3, 2},
                        (int64_t[]){3, 5}, el);
        test_slice_case(3, (int64_t[]){4, 5, 6}, (int64_t[]){1, 0, 0}, (int64_t[]){1, 1, 1},
                        (int64_t[]){2, 5, 6}, el);
        test_slice_case(3, (int64_t[]){4, 5, 6}, (int64_t[]){0, 2, 3}, (int64_t[]){2, 1, 1},
                        (int64_t[]){2, 3, 3}, el);
        test_slice_case(1, (int64_t[]){9}, (int64_t[]){8}, (int64_t[]){1}, (int64_t[]){1}, el);
        test_slice_case(2, (int64_t[]){3, 4}, (int64_t[]){0, 0}, (int64_t[]){1, 1},
                        (int64_t[]){0, 4}, el);
    }
    /* rank 0: one element */
    float a = 3.5f, b = 0;
    ndlrt_permute(0, NULL, NULL, sizeof a, &a, &b);
    CHECK(b == 3.5f);
    b = 0;
    ndlrt_slice(0, NULL, NULL, NULL, NULL, sizeof a, &a, &b);
    CHECK(b == 3.5f);
}

/* ---- gathers ------------------------------------------------------------------------------------- */

static uint32_t fmix32_ref(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    x *= 0xc2b2ae35u;
    x ^= x >> 16;
    return x;
}

static void test_gather(void)
{
    float table[5 * 3], y[4 * 3];
    for (int i = 0; i < 15; i++) table[i] = (float)i;
    int32_t ids32[4] = {4, 0, 2, 4};
    int64_t ids64[4] = {1, 3, 0, 2};
    CHECK_EQ_INT(ndlrt_embedding_f32(4, ids32, 0, 5, 3, table, y), NDLRT_OK);
    CHECK(y[0] == 12 && y[2] == 14 && y[3] == 0 && y[7] == 7 && y[11] == 14);
    CHECK_EQ_INT(ndlrt_embedding_f32(4, ids64, 1, 5, 3, table, y), NDLRT_OK);
    CHECK(y[0] == 3 && y[3] == 9 && y[6] == 0 && y[9] == 6);
    int32_t bad32[2] = {1, 5};
    int64_t bad64[2] = {-1, 0};
    CHECK_EQ_INT(ndlrt_embedding_f32(2, bad32, 0, 5, 3, table, y), NDLRT_EINDEX);
    CHECK_EQ_INT(ndlrt_embedding_f32(2, bad64, 1, 5, 3, table, y), NDLRT_EINDEX);
    CHECK_EQ_INT(ndlrt_embedding_f32(0, NULL, 0, 5, 3, table, y), NDLRT_OK);
    CHECK_EQ_INT(ndlrt_embedding_f32(-1, ids32, 0, 5, 3, table, y), NDLRT_EARG);

    int64_t tk[4] = {0, -1, 14, -15};
    CHECK_EQ_INT(ndlrt_take_f32(4, tk, 1, 15, table, y), NDLRT_OK);
    CHECK(y[0] == 0 && y[1] == 14 && y[2] == 14 && y[3] == 0);
    int32_t tk32[2] = {3, -16};
    CHECK_EQ_INT(ndlrt_take_f32(2, tk32, 0, 15, table, y), NDLRT_EINDEX);
    int32_t tk32b[1] = {15};
    CHECK_EQ_INT(ndlrt_take_f32(1, tk32b, 0, 15, table, y), NDLRT_EINDEX);

    float pool[7], w[100];
    for (int i = 0; i < 7; i++) pool[i] = (float)(i + 1);
    ndlrt_hashed_f32(100, pool, 7, 12345u, w);
    int ok = 1;
    for (uint32_t i = 0; i < 100; i++) {
        float s = (fmix32_ref(i ^ 12345u ^ 0x9E3779B9u) & 1u) ? -1.0f : 1.0f;
        if (w[i] != s * pool[fmix32_ref(i ^ 12345u) % 7]) ok = 0;
    }
    CHECK(ok);
    int64_t route[4];
    int64_t rid[4] = {0, 1, 99, 0x100000005ll};
    ndlrt_hash_route(4, rid, 1, 8, 7u, route);
    CHECK(route[0] == fmix32_ref(0u ^ 7u) % 8 && route[2] == fmix32_ref(99u ^ 7u) % 8);
    CHECK(route[3] == fmix32_ref(5u ^ 7u) % 8); /* low 32 bits of the id */
    int32_t rid32[2] = {1, -1};
    ndlrt_hash_route(2, rid32, 0, 3, 0u, route);
    CHECK(route[0] == fmix32_ref(1u) % 3 && route[1] == fmix32_ref(0xFFFFFFFFu) % 3);
}

static void test_strerror(void)
{
    for (int i = 0; i < NDLRT_STATUS_COUNT; i++) CHECK(ndlrt_strerror(i) && *ndlrt_strerror(i));
    CHECK_STR(ndlrt_strerror(NDLRT_OK), "success");
    CHECK_CONTAINS(ndlrt_strerror(NDLRT_EINDEX), "index");
    CHECK_STR(ndlrt_strerror(-1), "unknown error");
    CHECK_STR(ndlrt_strerror(NDLRT_STATUS_COUNT), "unknown error");
}

int main(void)
{
    test_activations();
    test_half_roundings();
    test_gemm();
    test_linear();
    test_conv();
    test_matmul();
    test_attention();
    test_pool();
    test_softmax_reduce();
    test_norm();
    test_move();
    test_gather();
    test_strerror();
    fprintf(stderr, "worst error: %.3g x tolerance\n", worst_err);
    return check_done();
}
