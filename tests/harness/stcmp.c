/* SPDX-License-Identifier: MIT
 * stcmp.c - compares two safetensors files: the golden-test oracle check.
 *
 *   stcmp ACTUAL.safetensors EXPECTED.safetensors [--atol A] [--rtol R]
 *
 * Both files must hold the same tensor names with equal dtypes and shapes. Float
 * elements pass when |a - b| <= atol + rtol * |b| (defaults 1e-4 and 1e-4, spec section
 * 5), NaN equals only NaN and an infinity only the same infinity; integer and BOOL
 * elements must be equal. Every problem is printed (for value mismatches: the count and
 * the worst element with its index); the exit status is 0 when all match, 1 on any
 * mismatch or unreadable file, 2 for a usage error. Reads files only through the
 * runtime's validating reader (runtime/safetensors.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/safetensors.h"

static void usage(void)
{
    fprintf(stderr, "usage: stcmp ACTUAL.safetensors EXPECTED.safetensors "
                    "[--atol A] [--rtol R]\n");
    exit(2);
}

/* Parses a non-negative finite tolerance or exits with a usage error. */
static double parse_tol(const char *opt, const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0) || isinf(v)) {
        fprintf(stderr, "stcmp: %s: invalid tolerance '%s'\n", opt, s);
        exit(2);
    }
    return v;
}

static void shape_str(const NdlrtStTensor *t, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < t->rank && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, i ? ",%" PRId64 : "%" PRId64, t->shape[i]);
    if (n < len)
        snprintf(buf + n, len - n, "]");
}

/* Writes the multi-index of flat element `flat` of tensor t, as "[i,j,k]". */
static void index_str(const NdlrtStTensor *t, uint64_t flat, char *buf, size_t len)
{
    int64_t idx[NDLRT_ST_MAX_RANK];
    for (int i = t->rank - 1; i >= 0; i--) {
        uint64_t d = t->shape[i] > 0 ? (uint64_t)t->shape[i] : 1;
        idx[i] = (int64_t)(flat % d);
        flat /= d;
    }
    size_t n = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < t->rank && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, i ? ",%" PRId64 : "%" PRId64, idx[i]);
    if (n < len)
        snprintf(buf + n, len - n, "]");
}

static int same_shape(const NdlrtStTensor *a, const NdlrtStTensor *b)
{
    if (a->rank != b->rank)
        return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->shape[i] != b->shape[i])
            return 0;
    return 1;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "stcmp: out of memory\n");
        exit(2);
    }
    return p;
}

/* Compares float tensors element by element; returns 1 if all are within tolerance. */
static int compare_floats(const NdlrtStTensor *a, const NdlrtStTensor *e, double atol,
                          double rtol)
{
    uint64_t n = e->nelem, bad = 0, worst = 0;
    double worst_excess = -1;
    float *va = xmalloc((size_t)n * sizeof *va), *ve = xmalloc((size_t)n * sizeof *ve);
    ndlrt_st_read_f32(a, va);
    ndlrt_st_read_f32(e, ve);
    for (uint64_t i = 0; i < n; i++) {
        double x = va[i], y = ve[i], excess;
        if (isnan(x) || isnan(y))
            excess = (isnan(x) && isnan(y)) ? 0 : INFINITY;
        else if (x == y)
            excess = 0;                        /* also equal infinities */
        else if (isinf(x) || isinf(y))
            excess = INFINITY;
        else
            excess = fabs(x - y) - (atol + rtol * fabs(y));
        if (excess > 0) {
            bad++;
            if (excess > worst_excess) {
                worst_excess = excess;
                worst = i;
            }
        }
    }
    if (bad) {
        char idx[256];
        index_str(e, worst, idx, sizeof idx);
        double x = va[worst], y = ve[worst];
        fprintf(stderr,
                "stcmp: '%s': %" PRIu64 " of %" PRIu64 " elements differ (atol %g, rtol %g); "
                "worst at %s: actual %.9g, expected %.9g, |diff| %.3g > allowed %.3g\n",
                e->name, bad, n, atol, rtol, idx, x, y, fabs(x - y), atol + rtol * fabs(y));
    }
    free(va);
    free(ve);
    return bad == 0;
}

/* Compares integer or BOOL tensors exactly; returns 1 if equal. */
static int compare_ints(const NdlrtStTensor *a, const NdlrtStTensor *e)
{
    uint64_t n = e->nelem, bad = 0, first = 0;
    int64_t *va = xmalloc((size_t)n * sizeof *va), *ve = xmalloc((size_t)n * sizeof *ve);
    ndlrt_st_read_i64(a, va);
    ndlrt_st_read_i64(e, ve);
    for (uint64_t i = 0; i < n; i++)
        if (va[i] != ve[i] && bad++ == 0)
            first = i;
    if (bad) {
        char idx[256];
        index_str(e, first, idx, sizeof idx);
        fprintf(stderr,
                "stcmp: '%s': %" PRIu64 " of %" PRIu64 " elements differ; first at %s: "
                "actual %" PRId64 ", expected %" PRId64 "\n",
                e->name, bad, n, idx, va[first], ve[first]);
    }
    free(va);
    free(ve);
    return bad == 0;
}

static NdlrtSt *open_or_report(const char *path)
{
    NdlrtSt *st = NULL;
    char err[512] = "";
    if (ndlrt_st_open(path, &st, err, sizeof err) != 0) {
        fprintf(stderr, "stcmp: %s: error: %s\n", path, err[0] ? err : "cannot read");
        return NULL;
    }
    return st;
}

int main(int argc, char **argv)
{
    const char *paths[2] = {NULL, NULL};
    int npaths = 0;
    double atol = 1e-4, rtol = 1e-4;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--atol") || !strcmp(argv[i], "--rtol")) {
            if (i + 1 >= argc)
                usage();
            double v = parse_tol(argv[i], argv[i + 1]);
            if (argv[i][2] == 'a')
                atol = v;
            else
                rtol = v;
            i++;
        } else if (!strncmp(argv[i], "--atol=", 7)) {
            atol = parse_tol("--atol", argv[i] + 7);
        } else if (!strncmp(argv[i], "--rtol=", 7)) {
            rtol = parse_tol("--rtol", argv[i] + 7);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            usage();
        } else if (npaths < 2) {
            paths[npaths++] = argv[i];
        } else {
            usage();
        }
    }
    if (npaths != 2)
        usage();

    NdlrtSt *got = open_or_report(paths[0]);
    NdlrtSt *want = open_or_report(paths[1]);
    if (!got || !want) {
        ndlrt_st_close(got);
        ndlrt_st_close(want);
        return 1;
    }

    int ok = 1;
    size_t ne = ndlrt_st_count(want), na = ndlrt_st_count(got);
    for (size_t i = 0; i < na; i++) {
        const NdlrtStTensor *t = ndlrt_st_tensor(got, i);
        if (!ndlrt_st_find(want, t->name)) {
            fprintf(stderr, "stcmp: '%s': in %s but not expected\n", t->name, paths[0]);
            ok = 0;
        }
    }
    for (size_t i = 0; i < ne; i++) {
        const NdlrtStTensor *e = ndlrt_st_tensor(want, i);
        const NdlrtStTensor *a = ndlrt_st_find(got, e->name);
        if (!a) {
            fprintf(stderr, "stcmp: '%s': missing from %s\n", e->name, paths[0]);
            ok = 0;
            continue;
        }
        if (a->dtype != e->dtype) {
            fprintf(stderr, "stcmp: '%s': dtype %s, expected %s\n", e->name,
                    ndlrt_st_dtype_name(a->dtype), ndlrt_st_dtype_name(e->dtype));
            ok = 0;
            continue;
        }
        if (!same_shape(a, e)) {
            char sa[256], se[256];
            shape_str(a, sa, sizeof sa);
            shape_str(e, se, sizeof se);
            fprintf(stderr, "stcmp: '%s': shape %s, expected %s\n", e->name, sa, se);
            ok = 0;
            continue;
        }
        if (ndlrt_st_dtype_is_float(e->dtype))
            ok &= compare_floats(a, e, atol, rtol);
        else
            ok &= compare_ints(a, e);
    }
    ndlrt_st_close(got);
    ndlrt_st_close(want);
    if (ok)
        printf("stcmp: %zu tensor%s within tolerance\n", ne, ne == 1 ? "" : "s");
    return ok ? 0 : 1;
}
