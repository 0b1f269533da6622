/* SPDX-License-Identifier: MIT
 * sgemm_bench.c - single-thread GEMM throughput of ndlrt's kernels against OpenBLAS.
 * For each shape, ndlrt and OpenBLAS run alternately (so that load on the machine hits
 * both alike), each timed per call after warm-up (thread CPU time unless --wall); prints the median and best GFLOP/s of
 * each and the ratio of medians (ndlrt / OpenBLAS). Rows:
 *   core    ndlrt_gemm_f32, a [m,k] row-major, b [k,n] packed ahead  vs  sgemm(N, N)
 *   linear  ndlrt_linear_f32 with w [n,k] packed ahead               vs  sgemm(N, T)
 *           (for m = 1 also against sgemv, OpenBLAS's best for one row)
 * Only this benchmark links OpenBLAS; the runtime never does. See README.md.
 */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/ndlrt.h"

/* Thread CPU time by default: on a shared machine it leaves out the time this thread was
 * descheduled (--wall: monotonic wall-clock time instead). */
static clockid_t bench_clock = CLOCK_THREAD_CPUTIME_ID;

static double now(void)
{
    struct timespec t;
    clock_gettime(bench_clock, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static float *fill(size_t n, unsigned seed)
{
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        v[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
    }
    return v;
}

enum { KIND_CORE, KIND_LINEAR };

typedef struct Shape {
    const char *name;
    int kind;
    int64_t m, n, k;
} Shape;

typedef struct Run {
    int kind;
    int64_t m, n, k;
    const float *a, *b, *bp;
    float *c, *c_ref, *scratch;
    int blas_gemv;
} Run;

static void run_ndlrt(const Run *r)
{
    if (r->kind == KIND_CORE) {
        NdlrtGemm g;
        memset(&g, 0, sizeof g);
        g.m = r->m, g.n = r->n, g.k = r->k;
        g.a = r->a, g.a_rs = r->k, g.a_cs = 1;
        g.b_packed = r->bp;
        g.c = r->c, g.c_rs = r->n;
        ndlrt_gemm_f32(&g, r->scratch);
    } else {
        NdlrtLinear p;
        memset(&p, 0, sizeof p);
        p.m = r->m, p.n = r->n, p.k = r->k, p.w_packed = r->bp;
        ndlrt_linear_f32(&p, r->a, r->c, r->scratch);
    }
}

static void run_blas(const Run *r)
{
    int m = (int)r->m, n = (int)r->n, k = (int)r->k;
    if (r->kind == KIND_CORE)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, r->a, k, r->b, n,
                    0.0f, r->c_ref, n);
    else if (r->blas_gemv) /* y = W x for one row */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, n, k, 1.0f, r->b, k, r->a, 1, 0.0f, r->c_ref, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, r->a, k, r->b, k,
                    0.0f, r->c_ref, n);
}

/* Times both alternately; returns the median seconds of each in t[0] (ndlrt), t[1]. */
static void time_pair(const Run *r, int reps, double *med, double *best)
{
    double *tn = malloc((size_t)reps * sizeof *tn), *tb = malloc((size_t)reps * sizeof *tb);
    /* inner repetitions so that one sample lasts at least ~2 ms */
    double flop = 2.0 * (double)r->m * (double)r->n * (double)r->k;
    int inner = flop > 2e8 ? 1 : (int)(2e8 / flop) + 1;
    for (int w = 0; w < 2; w++) run_ndlrt(r), run_blas(r);
    for (int i = 0; i < reps; i++) {
        double t = now();
        for (int j = 0; j < inner; j++) run_ndlrt(r);
        tn[i] = (now() - t) / inner;
        t = now();
        for (int j = 0; j < inner; j++) run_blas(r);
        tb[i] = (now() - t) / inner;
    }
    qsort(tn, (size_t)reps, sizeof *tn, cmp_double);
    qsort(tb, (size_t)reps, sizeof *tb, cmp_double);
    med[0] = tn[reps / 2], med[1] = tb[reps / 2], best[0] = tn[0], best[1] = tb[0];
    free(tn), free(tb);
}

int main(int argc, char **argv)
{
    static const Shape shapes[] = {
        {"sgemm 1024^3", KIND_CORE, 1024, 1024, 1024},
        {"sgemm 2048^3", KIND_CORE, 2048, 2048, 2048},
        {"linear b1 784->1024", KIND_LINEAR, 1, 1024, 784},
        {"linear b64 784->1024", KIND_LINEAR, 64, 1024, 784},
        {"linear b1 1024->1024", KIND_LINEAR, 1, 1024, 1024},
        {"linear b64 1024->1024", KIND_LINEAR, 64, 1024, 1024},
        {"linear b1 4096->4096", KIND_LINEAR, 1, 4096, 4096},
        {"linear b64 4096->4096", KIND_LINEAR, 64, 4096, 4096},
        {"linear b1024 1024->1024", KIND_LINEAR, 1024, 1024, 1024},
    };
    int reps = 25;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--wall") == 0) bench_clock = CLOCK_MONOTONIC;
        else only = argv[i];
    }
    if (reps < 1) reps = 1;
    printf("timer: %s, %d runs per shape (medians)\n",
           bench_clock == CLOCK_MONOTONIC ? "wall clock" : "thread CPU time", reps);
    printf("%-24s %-6s %9s %9s %9s %9s %7s\n", "shape", "blas", "ndlrt", "(best)", "openblas",
           "(best)", "ratio");
    printf("%-24s %-6s %9s %9s %9s %9s %7s\n", "", "", "GFLOP/s", "", "GFLOP/s", "", "median");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const Shape *sh = &shapes[s];
        if (only && !strstr(sh->name, only)) continue;
        int64_t m = sh->m, n = sh->n, k = sh->k;
        Run r;
        memset(&r, 0, sizeof r);
        r.kind = sh->kind, r.m = m, r.n = n, r.k = k;
        float *a = fill((size_t)(m * k), 1), *b = fill((size_t)(k * n), 2);
        float *bp = malloc(ndlrt_gemm_packed_b_floats(k, n) * sizeof *bp);
        if (sh->kind == KIND_CORE) ndlrt_gemm_pack_b(k, n, b, n, 1, bp); /* b [k, n] */
        else ndlrt_linear_pack(n, k, b, bp);                             /* b is w [n, k] */
        size_t ns = sh->kind == KIND_CORE ? ndlrt_gemm_scratch_floats(m, n, k, 0, 1)
                                          : ndlrt_linear_scratch_floats(m, n, k);
        r.a = a, r.b = b, r.bp = bp;
        r.c = malloc((size_t)(m * n) * sizeof(float));
        r.c_ref = malloc((size_t)(m * n) * sizeof(float));
        r.scratch = malloc((ns + 1) * sizeof(float));
        for (int gemv = 0; gemv <= (sh->kind == KIND_LINEAR && m == 1); gemv++) {
            r.blas_gemv = gemv;
            double med[2], best[2], flop = 2.0 * (double)m * (double)n * (double)k;
            time_pair(&r, reps, med, best);
            double err = 0, mag = 0;
            for (int64_t i = 0; i < m * n; i++) {
                double e = fabs((double)r.c[i] - r.c_ref[i]);
                if (e > err) err = e;
                if (fabs(r.c_ref[i]) > mag) mag = fabs(r.c_ref[i]);
            }
            printf("%-24s %-6s %9.1f %9.1f %9.1f %9.1f %7.2f%s\n", sh->name, gemv ? "sgemv" : "sgemm",
                   flop / med[0] / 1e9, flop / best[0] / 1e9, flop / med[1] / 1e9,
                   flop / best[1] / 1e9, med[1] / med[0],
                   err > 1e-4 * (mag + 1) ? "  MISMATCH" : "");
            fflush(stdout);
        }
        free(a), free(b), free(bp), free(r.c), free(r.c_ref), free(r.scratch);
    }
    return 0;
}
