/* SPDX-License-Identifier: MIT
 * driver.c - the main of a compiled model's executable (spec section 10):
 *
 *   PROG IN.safetensors OUT.safetensors [--repeat N]
 *
 * Reads the model's inputs by name from IN (validated by runtime/safetensors.c), checks
 * their dtypes and shapes against the model descriptor (NdlrtModelInfo, ndlrt.h),
 * binding each symbolic size where it first appears, runs the model and writes its
 * outputs by name to OUT (atomically). It depends on libc, POSIX, ndlrt.h and
 * safetensors.c only, because `ndlc --emit exe` compiles it together with generated code.
 * No globals: everything lives in one Run on main's stack.
 *
 * Input dtypes follow `ndlc run` (frontend/driver.c): an f32 input accepts F32, F16,
 * BF16 and F64 data; an i32 or i64 input any integer dtype (values must fit in i32); a
 * bool input BOOL or U8. Outputs are written as F32, I32, I64 or BOOL.
 *
 * Exit status: 0 success; 1 bad input (every message below naming IN, the weight file or
 * OUT); 2 usage; 3 internal error or out of memory. On status 1 and 3, OUT does not exist
 * afterwards (a previous file is removed, as GCC does); a usage error touches nothing.
 * Messages, on stderr, with their exit status (the first three are followed by the usage
 * line; --help prints only the usage line, on stdout, and exits 0):
 *   PROG: error: expected IN.safetensors and OUT.safetensors, got N file arguments   2
 *   PROG: error: unknown option '--x'   |   PROG: error: missing value for --repeat   2
 *   PROG: error: invalid --repeat value 'x' (expected an integer from 1 to 1000000)   2
 *   PROG: error: input and output are the same file 'OUT'                              2
 *   IN: error: <ndlrt_st_open message>                    (malformed or unreadable) 1
 *   IN: error: missing input tensor 'x' (f32[N,3])                                     1
 *   IN: error: input 'x' is I64[2,3] but the model declares f32[N,3]   (dtype or rank) 1
 *   IN: error: input 'x' has shape [2,5] but the model declares f32[N,4] with N = 2    1
 *       (" with ..." names the sizes that earlier inputs bound; absent if none)
 *   IN: error: input 'x' has N = 9 but the model declares N <= 8                       1
 *   IN: error: input 'x' dimension 0 is B*T, whose symbols cannot all be bound from it 1
 *   IN: error: input 'x' holds 4294967296, which does not fit in i32                   1
 *   IN: error: output 'y' would have shape [...], too large                            1
 *   IN: error: <model strerror>             (run/reserve: NDLRT_EINDEX, NDLRT_ESIZE)  1
 *   WEIGHTS: error: <ndlrt_st_open message, or model strerror>   (NDLRT_EWEIGHTS)      1
 *   WEIGHTS: error: tensor 'W_fc_weight' has shape [2,16] but the model needs [32]      1
 *       (or "... is missing", "... has dtype F16 but the model needs F32": ndlrt_st_check
 *       against NdlrtModelInfo.weights, when the file is valid safetensors)
 *   OUT: error: <ndlrt_st_write message>                                               1
 *   PROG: error: out of memory                                                         3
 *   PROG: error: internal error: <what> (a bad descriptor or another status code)      3
 * WEIGHTS is the executable's path + ".weights.safetensors" for a model compiled with
 * --external-weights (argv[0] if it names a path, else /proc/self/exe).
 *
 * --repeat N runs the model N more times after the first (warm-up) run and prints one
 * line to stdout:
 *   runs=N min_ms=0.012345 median_ms=0.013000 mean_ms=0.013100 p90_ms=0.014000
 * (p90 is the nearest-rank percentile; only the calls to run are timed), then for a model
 * with moe layers (spec 8.4) one line per layer, in program order, with the tokens each
 * expert received in the last run (the given input) and their mean per token:
 *   moe layer=0 tokens=64 mean_active=2.0000 load=9,7,8,...
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* clock_gettime, readlink */
#endif
#include "ndlrt.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "safetensors.h"

#if defined(__GNUC__)
#define DRV_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define DRV_PRINTF(f, a)
#endif

enum {
    DRV_OK = 0,
    DRV_BAD_INPUT = 1,      /* the user's files or values */
    DRV_USAGE = 2,          /* the command line */
    DRV_INTERNAL = 3,       /* a bad descriptor, an unexpected status, out of memory */
};

#define DRV_MAX_REPEAT 1000000L    /* keeps the timing array at 8 MB at most */
#define DRV_MAX_NDIMS NDLRT_ST_MAX_RANK

typedef struct Run {
    const NdlrtModelInfo *info;
    const char *prog;        /* argv[0]'s last component, for PROG: messages */
    const char *argv0;
    const char *in_path, *out_path;
    long repeat;             /* timed runs after the first; 0 = no timing */
    int64_t *syms;           /* per symbol: its size, -1 while unbound */
    int *binder;             /* per symbol: 1 + the input that bound it, 0 if none */
    void **inputs, **outputs;
    int64_t *out_dims;       /* noutputs * DRV_MAX_NDIMS */
    char *weights;           /* external weight file, or NULL */
    void *model;
} Run;

static void msg(const char *where, const char *fmt, ...) DRV_PRINTF(2, 3);
static void msg(const char *where, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: error: ", where);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void usage(FILE *f, const char *prog)
{
    fprintf(f, "usage: %s IN.safetensors OUT.safetensors [--repeat N]\n", prog);
}

/* ---- the command line ------------------------------------------------------------------- */

static int parse_repeat(Run *r, const char *s)
{
    long v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9' && v <= DRV_MAX_REPEAT; p++) v = v * 10 + (*p - '0');
    if (p == s || *p || v < 1 || v > DRV_MAX_REPEAT) {
        msg(r->prog, "invalid --repeat value '%s' (expected an integer from 1 to %ld)", s,
            DRV_MAX_REPEAT);
        return -1;
    }
    r->repeat = v;
    return 0;
}

/* Fills r from argv; returns -1 after printing a usage error, 1 for --help. */
static int parse_args(Run *r, int argc, char **argv)
{
    const char *files[2] = {NULL, NULL};
    int nfiles = 0, options = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (options && strcmp(a, "--") == 0) {
            options = 0;
        } else if (options && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            return 1;
        } else if (options && strcmp(a, "--repeat") == 0) {
            if (i + 1 >= argc) {
                msg(r->prog, "missing value for --repeat");
                return -1;
            }
            if (parse_repeat(r, argv[++i]) < 0) return -1;
        } else if (options && strncmp(a, "--repeat=", 9) == 0) {
            if (parse_repeat(r, a + 9) < 0) return -1;
        } else if (options && a[0] == '-' && a[1] != '\0') {
            msg(r->prog, "unknown option '%s'", a);
            return -1;
        } else {
            if (nfiles < 2) files[nfiles] = a;
            nfiles++;
        }
    }
    if (nfiles != 2) {
        msg(r->prog, "expected IN.safetensors and OUT.safetensors, got %d file argument%s", nfiles,
            nfiles == 1 ? "" : "s");
        return -1;
    }
    r->in_path = files[0];
    r->out_path = files[1];
    return 0;
}

/* ---- the descriptor --------------------------------------------------------------------- */

/* "f32" etc. to the file dtype that carries it; -1 for an unknown name. */
static int port_dtype(const NdlrtPort *p)
{
    if (strcmp(p->dtype, "f32") == 0) return NDLRT_ST_F32;
    if (strcmp(p->dtype, "i32") == 0) return NDLRT_ST_I32;
    if (strcmp(p->dtype, "i64") == 0) return NDLRT_ST_I64;
    if (strcmp(p->dtype, "bool") == 0) return NDLRT_ST_BOOL;
    return -1;
}

static int check_port(const NdlrtModelInfo *info, const NdlrtPort *p, char *why, size_t len)
{
    if (!p->name || !p->dtype || port_dtype(p) < 0 || p->rank < 0 || p->rank > DRV_MAX_NDIMS ||
        (p->rank && !p->dims)) {
        snprintf(why, len, "port '%s' has no name, an unknown dtype or a bad rank",
                 p->name ? p->name : "?");
        return -1;
    }
    for (int k = 0; k < p->rank; k++) {
        const NdlrtDim *d = &p->dims[k];
        int ok = d->coef >= 0 && d->nsym >= 0 && d->nsym <= 4;
        for (int i = 0; ok && i < d->nsym; i++) ok = d->sym[i] >= 0 && d->sym[i] < info->nsyms;
        if (!ok) {
            snprintf(why, len, "port '%s' dimension %d is invalid", p->name, k);
            return -1;
        }
    }
    return 0;
}

/* The descriptor comes from generated code, so a flaw in it is an internal error. */
static int check_info(const NdlrtModelInfo *info, char *why, size_t len)
{
    if (!info || info->nsyms < 0 || info->ninputs < 0 || info->noutputs < 0 ||
        (info->nsyms && !info->sym_names) || (info->ninputs && !info->inputs) ||
        (info->noutputs && !info->outputs) || !info->create || !info->run || !info->destroy) {
        snprintf(why, len, "the model descriptor is incomplete");
        return -1;
    }
    for (int i = 0; i < info->nsyms; i++) {
        if (!info->sym_names[i] || (info->sym_bounds && info->sym_bounds[i] < 0)) {
            snprintf(why, len, "symbol %d has no name or a negative bound", i);
            return -1;
        }
    }
    for (int i = 0; i < info->ninputs; i++)
        if (check_port(info, &info->inputs[i], why, len) < 0) return -1;
    for (int i = 0; i < info->noutputs; i++)
        if (check_port(info, &info->outputs[i], why, len) < 0) return -1;
    return 0;
}

/* The dtypes of file data an input accepts, as `ndlc run` (frontend/driver.c st_to_dtype). */
static int accepts(NdlrtStDType want, NdlrtStDType have)
{
    int f = ndlrt_st_dtype_is_float(have);
    if (want == NDLRT_ST_F32) return f;
    if (want == NDLRT_ST_BOOL) return have == NDLRT_ST_BOOL || have == NDLRT_ST_U8;
    return !f && have != NDLRT_ST_BOOL;
}

/* ---- formatting ------------------------------------------------------------------------- */

typedef struct Str {
    char b[512];
    size_t n;
} Str;

static void put(Str *s, const char *fmt, ...) DRV_PRINTF(2, 3);
static void put(Str *s, const char *fmt, ...)
{
    if (s->n >= sizeof s->b) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(s->b + s->n, sizeof s->b - s->n, fmt, ap);
    va_end(ap);
    s->n = k < 0 ? sizeof s->b : s->n + (size_t)k;
}

/* As ir_format_dim: "3", "N", "2*N", "B*T". */
static void put_dim(Str *s, const NdlrtModelInfo *info, const NdlrtDim *d)
{
    if (d->nsym == 0) {
        put(s, "%lld", (long long)d->coef);
        return;
    }
    if (d->coef != 1) put(s, "%lld*", (long long)d->coef);
    for (int i = 0; i < d->nsym; i++) put(s, "%s%s", i ? "*" : "", info->sym_names[d->sym[i]]);
}

/* As ir_format_type: "f32[N,3]". */
static const char *port_type(Str *s, const NdlrtModelInfo *info, const NdlrtPort *p)
{
    s->n = 0;
    s->b[0] = '\0';
    put(s, "%s[", p->dtype);
    for (int k = 0; k < p->rank; k++) {
        if (k) put(s, ",");
        put_dim(s, info, &p->dims[k]);
    }
    put(s, "]");
    return s->b;
}

static const char *shape_str(Str *s, const int64_t *dims, int rank)
{
    s->n = 0;
    s->b[0] = '\0';
    put(s, "[");
    for (int k = 0; k < rank; k++) put(s, "%s%lld", k ? "," : "", (long long)dims[k]);
    put(s, "]");
    return s->b;
}

/* ---- inputs ----------------------------------------------------------------------------- */

/* Binds or checks dimension `axis` of input `in` against the given size (as the reference
 * interpreter's bind_dim, so that the executable and `ndlc run` agree). */
static int bind_dim(Run *r, int in, const NdlrtStTensor *t, int axis)
{
    const NdlrtModelInfo *info = r->info;
    const NdlrtPort *port = &info->inputs[in];
    const NdlrtDim *d = &port->dims[axis];
    int64_t have = t->shape[axis], known = d->coef;
    int unbound = -1, nunbound = 0;
    Str a, b;
    for (int i = 0; i < d->nsym; i++) {
        int s = d->sym[i];
        if (r->syms[s] < 0) {
            unbound = s;
            nunbound++;
        } else {
            int64_t v = r->syms[s];
            known = v && known > INT64_MAX / v ? -1 : known * v;
            if (known < 0) break;
        }
    }
    if (nunbound > 1) {
        a.n = 0;
        put_dim(&a, info, d);
        msg(r->in_path, "input '%s' dimension %d is %s, whose symbols cannot all be bound from it",
            port->name, axis, a.b);
        return -1;
    }
    if (nunbound == 1 && known > 0 && have % known == 0) {
        int64_t val = have / known, bound = info->sym_bounds ? info->sym_bounds[unbound] : 0;
        const char *name = info->sym_names[unbound];
        if (bound > 0 && val > bound) {
            msg(r->in_path, "input '%s' has %s = %lld but the model declares %s <= %lld",
                port->name, name, (long long)val, name, (long long)bound);
            return -1;
        }
        r->syms[unbound] = val;
        r->binder[unbound] = in + 1;
        return 0;
    }
    if (nunbound == 0 && known == have) return 0;
    /* name the sizes that earlier inputs bound the declaration's symbols to */
    Str note = {.n = 0, .b = ""};
    int seen[DRV_MAX_NDIMS * 4], nseen = 0;
    for (int k = 0; k < port->rank; k++) {
        for (int i = 0; i < port->dims[k].nsym; i++) {
            int s = port->dims[k].sym[i], dup = 0;
            for (int j = 0; j < nseen; j++) dup = dup || seen[j] == s;
            if (dup || r->binder[s] == 0 || r->binder[s] > in) continue;
            seen[nseen++] = s;
            put(&note, "%s %s = %lld", note.n ? "," : " with", info->sym_names[s],
                (long long)r->syms[s]);
        }
    }
    msg(r->in_path, "input '%s' has shape %s but the model declares %s%s", port->name,
        shape_str(&a, t->shape, t->rank), port_type(&b, info, port), note.b);
    return -1;
}

/* Copies (and converts) a tensor's data into an aligned buffer of the input's dtype. */
static int load_input(Run *r, int in, const NdlrtStTensor *t, NdlrtStDType want)
{
    size_t n = (size_t)t->nelem, esize = ndlrt_st_dtype_size(want);
    if (n > (SIZE_MAX - 1) / 8 || !(r->inputs[in] = malloc(n * esize + 1))) {
        msg(r->prog, "out of memory");
        return DRV_INTERNAL;
    }
    void *dst = r->inputs[in];
    if (want == NDLRT_ST_F32) {
        ndlrt_st_read_f32(t, dst);
        return DRV_OK;
    }
    int64_t *tmp = want == NDLRT_ST_I64 ? dst : malloc(n * sizeof *tmp + 1);
    if (!tmp) {
        msg(r->prog, "out of memory");
        return DRV_INTERNAL;
    }
    ndlrt_st_read_i64(t, tmp);
    int status = DRV_OK;
    if (want == NDLRT_ST_BOOL) {
        for (size_t k = 0; k < n; k++) ((uint8_t *)dst)[k] = tmp[k] != 0;
    } else if (want == NDLRT_ST_I32) {
        for (size_t k = 0; k < n && status == DRV_OK; k++) {
            if (tmp[k] < INT32_MIN || tmp[k] > INT32_MAX) {
                msg(r->in_path, "input '%s' holds %lld, which does not fit in i32",
                    r->info->inputs[in].name, (long long)tmp[k]);
                status = DRV_BAD_INPUT;
            } else {
                ((int32_t *)dst)[k] = (int32_t)tmp[k];
            }
        }
    }
    if (tmp != dst) free(tmp);
    return status;
}

/* Reads every input: names and dtypes (all reported), then dims in declaration order
 * (the first mismatch is reported), then the data. */
static int read_inputs(Run *r)
{
    const NdlrtModelInfo *info = r->info;
    NdlrtSt *st;
    char err[512];
    Str a, b;
    if (ndlrt_st_open(r->in_path, &st, err, sizeof err) != 0) {
        msg(r->in_path, "%s", err);
        return strcmp(err, "out of memory") == 0 ? DRV_INTERNAL : DRV_BAD_INPUT;
    }
    int status = DRV_OK;
    for (int i = 0; i < info->ninputs; i++) {
        const NdlrtPort *p = &info->inputs[i];
        const NdlrtStTensor *t = ndlrt_st_find(st, p->name);
        if (!t) {
            msg(r->in_path, "missing input tensor '%s' (%s)", p->name, port_type(&b, info, p));
            status = DRV_BAD_INPUT;
        } else if (!accepts((NdlrtStDType)port_dtype(p), t->dtype) || t->rank != p->rank) {
            shape_str(&a, t->shape, t->rank);
            msg(r->in_path, "input '%s' is %s%s but the model declares %s", p->name,
                ndlrt_st_dtype_name(t->dtype), a.b, port_type(&b, info, p));
            status = DRV_BAD_INPUT;
        }
    }
    for (int i = 0; i < info->ninputs && status == DRV_OK; i++) {
        const NdlrtStTensor *t = ndlrt_st_find(st, info->inputs[i].name);
        for (int k = 0; k < t->rank && status == DRV_OK; k++)
            if (bind_dim(r, i, t, k) < 0) status = DRV_BAD_INPUT;
    }
    for (int i = 0; i < info->ninputs && status == DRV_OK; i++) {
        const NdlrtPort *p = &info->inputs[i];
        status = load_input(r, i, ndlrt_st_find(st, p->name), (NdlrtStDType)port_dtype(p));
    }
    ndlrt_st_close(st);
    for (int s = 0; s < info->nsyms && status == DRV_OK; s++) {
        if (r->syms[s] < 0) {
            msg(r->prog, "internal error: symbol '%s' is not bound by any input",
                info->sym_names[s]);
            status = DRV_INTERNAL;
        }
    }
    return status;
}

/* ---- outputs ---------------------------------------------------------------------------- */

/* Computes each output's dims from the bound symbols and allocates it. */
static int alloc_outputs(Run *r)
{
    const NdlrtModelInfo *info = r->info;
    for (int o = 0; o < info->noutputs; o++) {
        const NdlrtPort *p = &info->outputs[o];
        int64_t *dims = &r->out_dims[(size_t)o * DRV_MAX_NDIMS];
        uint64_t nelem = 1;
        int big = 0;
        for (int k = 0; k < p->rank; k++) {
            const NdlrtDim *d = &p->dims[k];
            int64_t v = d->coef;
            for (int i = 0; i < d->nsym; i++) {
                int64_t s = r->syms[d->sym[i]];
                if (s && v > INT64_MAX / s) big = 1, v = 0;
                else v *= s;
            }
            dims[k] = v;
            if (v && nelem > (UINT64_MAX >> 1) / (uint64_t)v) big = 1;
            else nelem *= (uint64_t)v;
        }
        size_t esize = ndlrt_st_dtype_size((NdlrtStDType)port_dtype(p));
        if (big || nelem > (SIZE_MAX - 1) / esize) {
            Str a;
            a.n = 0;
            for (int k = 0; k < p->rank; k++) {
                put(&a, "%s", k ? "," : "");
                put_dim(&a, info, &p->dims[k]);
            }
            msg(r->in_path, "output '%s' would have shape [%s], too large", p->name, a.b);
            return DRV_BAD_INPUT;
        }
        if (!(r->outputs[o] = calloc((size_t)nelem * esize + 1, 1))) {
            msg(r->prog, "out of memory");
            return DRV_INTERNAL;
        }
    }
    return DRV_OK;
}

static int write_outputs(Run *r)
{
    const NdlrtModelInfo *info = r->info;
    NdlrtStOut *w = calloc((size_t)info->noutputs + 1, sizeof *w);
    char err[512];
    if (!w) {
        msg(r->prog, "out of memory");
        return DRV_INTERNAL;
    }
    for (int o = 0; o < info->noutputs; o++) {
        const NdlrtPort *p = &info->outputs[o];
        w[o] = (NdlrtStOut){p->name, (NdlrtStDType)port_dtype(p), p->rank,
                            &r->out_dims[(size_t)o * DRV_MAX_NDIMS], r->outputs[o]};
    }
    int status = DRV_OK;
    if (ndlrt_st_write(r->out_path, w, (size_t)info->noutputs, err, sizeof err) != 0) {
        msg(r->out_path, "%s", err);
        status = strcmp(err, "out of memory") == 0 ? DRV_INTERNAL : DRV_BAD_INPUT;
    }
    free(w);
    return status;
}

/* ---- running ---------------------------------------------------------------------------- */

/* The external weight file: the executable's path + ".weights.safetensors". argv[0] is
 * that path when it holds a '/'; a bare name was found on PATH, so ask the kernel. */
static char *weights_path(const char *argv0)
{
    static const char suffix[] = ".weights.safetensors";
    char self[4096];
    const char *exe = argv0;
    if (!exe || !strchr(exe, '/')) {
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n > 0) {
            self[n] = '\0';
            exe = self;
        }
    }
    if (!exe) exe = "a.out";
    char *path = malloc(strlen(exe) + sizeof suffix);
    if (path) {
        strcpy(path, exe);
        strcat(path, suffix);
    }
    return path;
}

/* Reports a nonzero status from the model's create, reserve or run; returns the exit
 * status. Index and size errors come from the input values, weight errors from the file. */
static int model_error(Run *r, const char *step, int code)
{
    const char *text = r->info->strerror ? r->info->strerror(code) : NULL;
    char err[512];
    if (!text) text = "unknown error";
    switch (code) {
    case NDLRT_EINDEX:
    case NDLRT_ESIZE:
        msg(r->in_path, "%s", text);
        return DRV_BAD_INPUT;
    case NDLRT_ENOMEM:
        msg(r->prog, "out of memory");
        return DRV_INTERNAL;
    case NDLRT_EWEIGHTS:
        if (r->weights) {
            NdlrtSt *st;
            if (ndlrt_st_open(r->weights, &st, err, sizeof err) == 0) {
                /* valid safetensors, but not what the model needs: name the tensor, from the
                 * model's weight table (the model's message when that finds nothing) */
                long bad = r->info->weights && r->info->nweights > 0
                               ? ndlrt_st_check(st, r->info->weights, (size_t)r->info->nweights, err, sizeof err)
                               : -1;
                ndlrt_st_close(st);
                msg(r->weights, "%s", bad >= 0 ? err : text);
            } else {
                msg(r->weights, "%s", err);
            }
            return DRV_BAD_INPUT;
        }
        break;
    default: break;
    }
    msg(r->prog, "internal error: %s returned %d (%s)", step, code, text);
    return DRV_INTERNAL;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Per moe layer, the tokens each expert received in the last run (--repeat's lines). */
static int print_moe_load(Run *r)
{
    const NdlrtModelInfo *info = r->info;
    for (int layer = 0; info->moe_stats; layer++) {
        int64_t tokens = 0, n = info->moe_stats(r->model, layer, &tokens, NULL), sum = 0;
        if (n <= 0) break;
        int64_t *counts = malloc((size_t)n * sizeof *counts);
        if (!counts) {
            msg(r->prog, "out of memory");
            return DRV_INTERNAL;
        }
        info->moe_stats(r->model, layer, NULL, counts);
        for (int64_t e = 0; e < n; e++) sum += counts[e];
        printf("moe layer=%d tokens=%" PRId64 " mean_active=%.4f load=", layer, tokens,
               tokens > 0 ? (double)sum / (double)tokens : 0.0);
        for (int64_t e = 0; e < n; e++) printf("%s%" PRId64, e ? "," : "", counts[e]);
        printf("\n");
        free(counts);
    }
    fflush(stdout);
    return DRV_OK;
}

/* The warm-up run, then r->repeat timed runs with their statistics on stdout. */
static int run_model(Run *r)
{
    const NdlrtModelInfo *info = r->info;
    int rc = info->run(r->model, r->syms, (const void *const *)r->inputs, r->outputs);
    if (rc != 0) return model_error(r, "run", rc);
    if (r->repeat <= 0) return DRV_OK;
    double *ms = malloc((size_t)r->repeat * sizeof *ms), sum = 0;
    if (!ms) {
        msg(r->prog, "out of memory");
        return DRV_INTERNAL;
    }
    for (long i = 0; i < r->repeat; i++) {
        double t0 = now_ms();
        rc = info->run(r->model, r->syms, (const void *const *)r->inputs, r->outputs);
        ms[i] = now_ms() - t0;
        if (rc != 0) {
            free(ms);
            return model_error(r, "run", rc);
        }
        sum += ms[i];
    }
    long n = r->repeat;
    qsort(ms, (size_t)n, sizeof *ms, cmp_double);
    double median = n % 2 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2;
    long p90 = (9 * n + 9) / 10 - 1;   /* nearest rank: ceil(0.9 n) - 1 */
    printf("runs=%ld min_ms=%.6f median_ms=%.6f mean_ms=%.6f p90_ms=%.6f\n", n, ms[0], median,
           sum / (double)n, ms[p90]);
    fflush(stdout);
    free(ms);
    return print_moe_load(r);
}

static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

static int drive(Run *r)
{
    const NdlrtModelInfo *info = r->info;
    size_t nsyms = (size_t)info->nsyms, nin = (size_t)info->ninputs,
           nout = (size_t)info->noutputs;
    r->syms = malloc((nsyms + 1) * sizeof *r->syms);
    r->binder = calloc(nsyms + 1, sizeof *r->binder);
    r->inputs = calloc(nin + 1, sizeof *r->inputs);
    r->outputs = calloc(nout + 1, sizeof *r->outputs);
    r->out_dims = calloc(nout * DRV_MAX_NDIMS + 1, sizeof *r->out_dims);
    if (!r->syms || !r->binder || !r->inputs || !r->outputs || !r->out_dims) {
        msg(r->prog, "out of memory");
        return DRV_INTERNAL;
    }
    for (size_t s = 0; s < nsyms; s++) r->syms[s] = -1;
    int status = read_inputs(r);
    if (status == DRV_OK) status = alloc_outputs(r);
    if (status != DRV_OK) return status;
    if (info->external_weights && !(r->weights = weights_path(r->argv0))) {
        msg(r->prog, "out of memory");
        return DRV_INTERNAL;
    }
    int rc = info->create(&r->model, r->weights);
    if (rc != 0) {
        r->model = NULL;
        return model_error(r, "create", rc);
    }
    if (info->reserve && (rc = info->reserve(r->model, r->syms)) != 0)
        return model_error(r, "reserve", rc);
    status = run_model(r);
    if (status == DRV_OK) status = write_outputs(r);
    return status;
}

int ndlrt_driver_main(const NdlrtModelInfo *info, int argc, char **argv)
{
    Run r;
    memset(&r, 0, sizeof r);
    r.info = info;
    r.argv0 = argc > 0 ? argv[0] : NULL;
    r.prog = r.argv0 && *r.argv0 ? r.argv0 : info && info->name ? info->name : "model";
    const char *slash = strrchr(r.prog, '/');
    if (slash && slash[1]) r.prog = slash + 1;

    int parsed = parse_args(&r, argc, argv);
    if (parsed > 0) {
        usage(stdout, r.prog);
        return DRV_OK;
    }
    if (parsed < 0) {
        usage(stderr, r.prog);
        return DRV_USAGE;
    }
    if (strcmp(r.in_path, r.out_path) == 0 || same_file(r.in_path, r.out_path)) {
        msg(r.prog, "input and output are the same file '%s'", r.out_path);
        return DRV_USAGE;
    }
    char why[256];
    int status;
    if (check_info(info, why, sizeof why) < 0) {
        msg(r.prog, "internal error: %s", why);
        status = DRV_INTERNAL;
    } else {
        status = drive(&r);
    }
    if (r.model) info->destroy(r.model);
    if (info) {
        for (int i = 0; r.inputs && i < info->ninputs; i++) free(r.inputs[i]);
        for (int o = 0; r.outputs && o < info->noutputs; o++) free(r.outputs[o]);
    }
    free(r.syms);
    free(r.binder);
    free(r.inputs);
    free(r.outputs);
    free(r.out_dims);
    free(r.weights);
    /* no stale or partial output survives a failure (as GCC) */
    if (status != DRV_OK) ndlrt_out_remove(r.out_path); /* a regular file only, never a device */
    return status;
}
