/* SPDX-License-Identifier: MIT
 * test_driver.c - the executable driver (runtime/driver.c) against hand-written models.
 *
 * Two fake models implement the descriptor of ndlrt.h the way generated code will:
 * Affine (x: f32[N <= 8, 3], s: f32[2*N] -> y = 2x + 1, t = pairwise sums of s, pos = y > 0)
 * and Lookup (ids: i64[B, T], off: i32[], keep: bool[T] -> an embedding of ids + off with a
 * 4x2 table, embedded or read from an external weight file; an id out of range is
 * NDLRT_EINDEX). Each case runs ndlrt_driver_main in a forked child on files in a
 * temporary directory, then pins the exit status, the exact stderr/stdout and the output
 * file (present with the right tensors, or absent after a failure).
 */
#define _POSIX_C_SOURCE 200809L
#include "runtime/ndlrt.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "runtime/safetensors.h"

/* ---- fake models ------------------------------------------------------------------------ */

static const char *fake_strerror(int code)
{
    switch (code) {
    case NDLRT_OK: return "success";
    case NDLRT_ENOMEM: return "out of memory";
    case NDLRT_EARG: return "invalid argument";
    case NDLRT_ESIZE: return "a size is above its declared bound";
    case NDLRT_EWEIGHTS: return "the weight file does not match the model";
    case NDLRT_EINDEX: return "an index input is out of range";
    case NDLRT_ENOWEIGHTS: return "no weight file was given";
    default: return "unknown error";
    }
}

typedef struct Fake {
    float table[4][2];
    int64_t calls;      /* runs of this instance */
    int64_t reserved;   /* largest N reserved (Affine) */
} Fake;

static int fake_create(void **model, const char *weights_path)
{
    *model = NULL;
    if (weights_path) return NDLRT_EARG;   /* embedded weights: no path expected */
    Fake *f = calloc(1, sizeof *f);
    if (!f) return NDLRT_ENOMEM;
    for (int i = 0; i < 4; i++) {
        f->table[i][0] = (float)(10 * i);
        f->table[i][1] = (float)(10 * i + 1);
    }
    *model = f;
    return NDLRT_OK;
}

static void fake_destroy(void *model) { free(model); }

/* Affine: syms {N}; x [N,3], s [2N] -> y [N,3], t [N], pos [N,3]. */
static int affine_reserve(void *model, const int64_t *syms)
{
    Fake *f = model;
    if (syms[0] > 8) return NDLRT_ESIZE;
    if (syms[0] > f->reserved) f->reserved = syms[0];
    return NDLRT_OK;
}

static int affine_run(void *model, const int64_t *syms, const void *const *in, void *const *out)
{
    Fake *f = model;
    int64_t n = syms[0];
    const float *x = in[0], *s = in[1];
    float *y = out[0], *t = out[1];
    uint8_t *pos = out[2];
    if (n > f->reserved) return NDLRT_ESIZE;   /* the driver must reserve first */
    for (int64_t i = 0; i < 3 * n; i++) {
        y[i] = 2 * x[i] + 1;
        pos[i] = y[i] > 0;
    }
    for (int64_t i = 0; i < n; i++) t[i] = s[2 * i] + s[2 * i + 1];
    f->calls++;
    return NDLRT_OK;
}

static const char *const affine_syms[] = {"N"};
static const int64_t affine_bounds[] = {8};
#define DIM_N {1, 1, {0}}     /* N (symbol 0) */
#define DIM_2N {2, 1, {0}}    /* 2*N */
#define DIM_3 {3, 0, {0}}     /* the constant 3 */
static const NdlrtDim affine_x_dims[] = {DIM_N, DIM_3}, affine_s_dims[] = {DIM_2N},
                      affine_t_dims[] = {DIM_N};
static const NdlrtPort affine_inputs[] = {
    {"x", "f32", 2, affine_x_dims},
    {"s", "f32", 1, affine_s_dims},
};
static const NdlrtPort affine_outputs[] = {
    {"y", "f32", 2, affine_x_dims},
    {"t", "f32", 1, affine_t_dims},
    {"pos", "bool", 2, affine_x_dims},
};
static const NdlrtModelInfo affine_info = {
    "Affine", 1, affine_syms, affine_bounds, 2, 3, affine_inputs, affine_outputs, 0,
    fake_create, affine_reserve, affine_run, fake_destroy, fake_strerror, NULL, NULL, 0,
};

/* Lookup: syms {B, T}; ids [B,T] i64, off [] i32, keep [T] bool ->
 * y [B*T, 2] f32 (table[ids + off] * keep), idx [B,T] i32 (ids + off), calls [] i64. */
static int lookup_run(void *model, const int64_t *syms, const void *const *in, void *const *out)
{
    Fake *f = model;
    int64_t b = syms[0], t = syms[1];
    const int64_t *ids = in[0];
    const int32_t *off = in[1];
    const uint8_t *keep = in[2];
    float *y = out[0];
    int32_t *idx = out[1];
    for (int64_t i = 0; i < b * t; i++) {
        int64_t id = ids[i] + *off;
        if (id < 0 || id >= 4) return NDLRT_EINDEX;
        idx[i] = (int32_t)id;
        for (int k = 0; k < 2; k++) y[2 * i + k] = keep[i % t] ? f->table[id][k] : 0;
    }
    *(int64_t *)out[2] = ++f->calls;
    return NDLRT_OK;
}

/* The external-weights variant reads "table" (F32 [4,2]) from the file beside the exe. */
static int lookup_create_ext(void **model, const char *weights_path)
{
    NdlrtSt *st;
    char err[256];
    if (!weights_path) return NDLRT_ENOWEIGHTS;
    if (ndlrt_st_open(weights_path, &st, err, sizeof err) != 0) return NDLRT_EWEIGHTS;
    const NdlrtStTensor *t = ndlrt_st_find(st, "table");
    int rc = NDLRT_EWEIGHTS;
    Fake *f = NULL;
    if (t && t->dtype == NDLRT_ST_F32 && t->rank == 2 && t->shape[0] == 4 && t->shape[1] == 2) {
        rc = (f = calloc(1, sizeof *f)) ? NDLRT_OK : NDLRT_ENOMEM;
        if (f) ndlrt_st_read_f32(t, &f->table[0][0]);
    }
    ndlrt_st_close(st);
    *model = f;
    return rc;
}

static const char *const lookup_syms[] = {"B", "T"};
#define DIM_B {1, 1, {0}}
#define DIM_T {1, 1, {1}}
#define DIM_BT {1, 2, {0, 1}}
#define DIM_2 {2, 0, {0}}
static const NdlrtDim lookup_ids_dims[] = {DIM_B, DIM_T}, lookup_keep_dims[] = {DIM_T},
                      lookup_y_dims[] = {DIM_BT, DIM_2};
static const NdlrtPort lookup_inputs[] = {
    {"ids", "i64", 2, lookup_ids_dims},
    {"off", "i32", 0, NULL},
    {"keep", "bool", 1, lookup_keep_dims},
};
static const NdlrtPort lookup_outputs[] = {
    {"y", "f32", 2, lookup_y_dims},
    {"idx", "i32", 2, lookup_ids_dims},
    {"calls", "i64", 0, NULL},
};
static const NdlrtModelInfo lookup_info = {
    "Lookup", 2, lookup_syms, NULL, 3, 3, lookup_inputs, lookup_outputs, 0,
    fake_create, NULL, lookup_run, fake_destroy, fake_strerror, NULL, NULL, 0,
};

/* Prod: z: f32[B*T] alone cannot bind its symbols. */
static const NdlrtDim prod_dims[] = {DIM_BT};
static const NdlrtPort prod_inputs[] = {{"z", "f32", 1, prod_dims}};
static const NdlrtModelInfo prod_info = {
    "Prod", 2, lookup_syms, NULL, 1, 1, prod_inputs, prod_inputs, 0,
    fake_create, NULL, lookup_run, fake_destroy, fake_strerror, NULL, NULL, 0,
};

/* ---- running the driver ----------------------------------------------------------------- */

static char dir[256];   /* the temporary directory */

static const char *tmp_path(char *buf, const char *name)
{
    snprintf(buf, 512, "%s/%s", dir, name);
    return buf;
}

typedef struct Res {
    int status;
    char out[8192], err[8192];
} Res;

static void slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    buf[n] = '\0';
    if (f) fclose(f);
}

/* Runs ndlrt_driver_main(info, {argv0, args..., NULL}) in a child, capturing its output. */
static void drive(Res *res, const NdlrtModelInfo *info, const char *argv0, ...)
{
    char *argv[16], outp[512], errp[512];
    int argc = 0;
    va_list ap;
    va_start(ap, argv0);
    argv[argc++] = (char *)argv0;
    for (const char *a; argc < 15 && (a = va_arg(ap, const char *));) argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    tmp_path(outp, "stdout.txt");
    tmp_path(errp, "stderr.txt");
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(outp, "w", stdout) || !freopen(errp, "w", stderr)) _exit(99);
        int rc = ndlrt_driver_main(info, argc, argv);
        exit(rc);   /* exit, not _exit: LeakSanitizer checks the driver in the child */
    }
    int ws = 0;
    waitpid(pid, &ws, 0);
    res->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    slurp(outp, res->out, sizeof res->out);
    slurp(errp, res->err, sizeof res->err);
    unlink(outp);
    unlink(errp);
}

/* ---- files ------------------------------------------------------------------------------ */

static void write_st(const char *path, const NdlrtStOut *t, size_t n)
{
    char err[256];
    if (ndlrt_st_write(path, t, n, err, sizeof err) != 0) {
        fprintf(stderr, "cannot write %s: %s\n", path, err);
        exit(1);
    }
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* No temporary file of the writer is left in the directory. */
static int no_temporaries(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int ok = 1;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp")) ok = 0;
    if (d) closedir(d);
    return ok;
}

/* Affine inputs: x = [n,3] (0, 1, 2, ... minus 2), s = [sn] (1, 2, 3, ...). */
static void affine_input(const char *path, int64_t n, int64_t sn)
{
    static float x[64 * 3], s[128];
    for (int i = 0; i < 64 * 3; i++) x[i] = (float)i - 2;
    for (int i = 0; i < 128; i++) s[i] = (float)(i + 1);
    int64_t xs[2] = {n, 3}, ss[1] = {sn};
    NdlrtStOut t[2] = {{"x", NDLRT_ST_F32, 2, xs, x}, {"s", NDLRT_ST_F32, 1, ss, s}};
    write_st(path, t, 2);
}

/* Lookup inputs: ids = [b,t] of I64 from `ids`, off as I32 scalar, keep all ones. */
static void lookup_input(const char *path, int64_t b, int64_t t, const int64_t *ids, int32_t off)
{
    static const uint8_t keep[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    int64_t is[2] = {b, t}, ks[1] = {t};
    NdlrtStOut v[3] = {{"ids", NDLRT_ST_I64, 2, is, ids},
                       {"off", NDLRT_ST_I32, 0, NULL, &off},
                       {"keep", NDLRT_ST_BOOL, 1, ks, keep}};
    write_st(path, v, 3);
}

static const NdlrtStTensor *out_tensor(NdlrtSt *st, const char *name, NdlrtStDType dt, int rank,
                                       const int64_t *shape)
{
    const NdlrtStTensor *t = ndlrt_st_find(st, name);
    CHECK(t != NULL);
    if (!t) return NULL;
    CHECK_EQ_INT(t->dtype, dt);
    CHECK_EQ_INT(t->rank, rank);
    for (int k = 0; k < rank && k < t->rank; k++) CHECK_EQ_INT(t->shape[k], shape[k]);
    return t;
}

static NdlrtSt *open_out(const char *path)
{
    NdlrtSt *st = NULL;
    char err[256];
    if (ndlrt_st_open(path, &st, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", path, err);
        CHECK(!"output file readable");
        return NULL;
    }
    return st;
}

/* "IN: error: MSG\n" for the input file of the tests. */
static const char *in_msg(char *buf, const char *path, const char *text)
{
    snprintf(buf, 2048, "%s: error: %s\n", path, text);
    return buf;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_affine_ok(void)
{
    char in[512], out[512];
    Res r;
    tmp_path(in, "a.in.safetensors");
    tmp_path(out, "a.out.safetensors");
    affine_input(in, 2, 4);
    drive(&r, &affine_info, "./affine", in, out, NULL);
    CHECK_EQ_INT(r.status, 0);
    CHECK_STR(r.err, "");
    CHECK_STR(r.out, "");
    NdlrtSt *st = open_out(out);
    if (!st) return;
    CHECK_EQ_INT(ndlrt_st_count(st), 3);
    const NdlrtStTensor *y = out_tensor(st, "y", NDLRT_ST_F32, 2, (int64_t[]){2, 3});
    const NdlrtStTensor *t = out_tensor(st, "t", NDLRT_ST_F32, 1, (int64_t[]){2});
    const NdlrtStTensor *pos = out_tensor(st, "pos", NDLRT_ST_BOOL, 2, (int64_t[]){2, 3});
    float yv[6], tv[2];
    if (y && y->nelem == 6) {
        ndlrt_st_read_f32(y, yv);
        for (int i = 0; i < 6; i++) CHECK(yv[i] == 2 * ((float)i - 2) + 1);
    }
    if (t && t->nelem == 2) {
        ndlrt_st_read_f32(t, tv);
        CHECK(tv[0] == 3 && tv[1] == 7);
    }
    if (pos && pos->nelem == 6) {
        static const unsigned char want[6] = {0, 0, 1, 1, 1, 1};
        CHECK(memcmp(pos->data, want, 6) == 0);
    }
    ndlrt_st_close(st);

    /* F64 and BF16 data for f32 inputs are converted, as `ndlc run` does */
    double x64[3] = {0.5, -1, 2};
    uint16_t s16[2] = {0x3F80, 0x4000};   /* bf16 1.0, 2.0 */
    int64_t xs[2] = {1, 3}, ss[1] = {2};
    NdlrtStOut v[2] = {{"x", NDLRT_ST_F64, 2, xs, x64}, {"s", NDLRT_ST_BF16, 1, ss, s16}};
    write_st(in, v, 2);
    drive(&r, &affine_info, "./affine", in, out, NULL);
    CHECK_EQ_INT(r.status, 0);
    CHECK_STR(r.err, "");
    if ((st = open_out(out))) {
        y = out_tensor(st, "y", NDLRT_ST_F32, 2, (int64_t[]){1, 3});
        t = out_tensor(st, "t", NDLRT_ST_F32, 1, (int64_t[]){1});
        if (y && y->nelem == 3) {
            ndlrt_st_read_f32(y, yv);
            CHECK(yv[0] == 2 && yv[1] == -1 && yv[2] == 5);
        }
        if (t && t->nelem == 1) {
            ndlrt_st_read_f32(t, tv);
            CHECK(tv[0] == 3);
        }
        ndlrt_st_close(st);
    }

    /* N = 0: zero-size tensors; N = 8: the bound itself */
    affine_input(in, 0, 0);
    drive(&r, &affine_info, "./affine", in, out, NULL);
    CHECK_EQ_INT(r.status, 0);
    CHECK_STR(r.err, "");
    if ((st = open_out(out))) {
        out_tensor(st, "y", NDLRT_ST_F32, 2, (int64_t[]){0, 3});
        ndlrt_st_close(st);
    }
    affine_input(in, 8, 16);
    drive(&r, &affine_info, "./affine", in, out, NULL);
    CHECK_EQ_INT(r.status, 0);
    CHECK_STR(r.err, "");
    CHECK(no_temporaries());
    unlink(in);
    unlink(out);
}

static void test_lookup_ok(void)
{
    char in[512], out[512];
    Res r;
    tmp_path(in, "l.in.safetensors");
    tmp_path(out, "l.out.safetensors");
    /* ids as I32, off as I64, keep as U8: each is converted to the declared dtype */
    int32_t ids[6] = {0, 1, 2, 2, 1, 0};
    int64_t off = 1, is[2] = {2, 3}, ks[1] = {3};
    uint8_t keep[3] = {1, 0, 7};
    NdlrtStOut v[3] = {{"ids", NDLRT_ST_I32, 2, is, ids},
                       {"off", NDLRT_ST_I64, 0, NULL, &off},
                       {"keep", NDLRT_ST_U8, 1, ks, keep}};
    write_st(in, v, 3);
    drive(&r, &lookup_info, "lookup", in, out, NULL);
    CHECK_EQ_INT(r.status, 0);
    CHECK_STR(r.err, "");
    NdlrtSt *st = open_out(out);
    if (!st) return;
    const NdlrtStTensor *y = out_tensor(st, "y", NDLRT_ST_F32, 2, (int64_t[]){6, 2});
    const NdlrtStTensor *idx = out_tensor(st, "idx", NDLRT_ST_I32, 2, (int64_t[]){2, 3});
    const NdlrtStTensor *calls = out_tensor(st, "calls", NDLRT_ST_I64, 0, NULL);
    if (y && y->nelem == 12) {
        float yv[12];
        static const float want[12] = {10, 11, 0, 0, 30, 31, 30, 31, 0, 0, 10, 11};
        ndlrt_st_read_f32(y, yv);
        CHECK(memcmp(yv, want, sizeof want) == 0);
    }
    if (idx && idx->nelem == 6) {
        int64_t iv[6];
        ndlrt_st_read_i64(idx, iv);
        for (int i = 0; i < 6; i++) CHECK_EQ_INT(iv[i], ids[i] + 1);
    }
    if (calls) {
        int64_t c = 0;
        ndlrt_st_read_i64(calls, &c);
        CHECK_EQ_INT(c, 1);
    }
    ndlrt_st_close(st);
    unlink(in);
    unlink(out);
}

/* Every input error: status 1, one exact message, and no output file afterwards, even
 * when one existed before. */
static void expect_input_error(const NdlrtModelInfo *info, const char *in, const char *want)
{
    char out[512];
    Res r;
    tmp_path(out, "stale.out.safetensors");
    write_bytes(out, "stale", 5);
    drive(&r, info, "./model", in, out, NULL);
    CHECK_EQ_INT(r.status, 1);
    CHECK_STR(r.err, want);
    CHECK_STR(r.out, "");
    CHECK(!exists(out));
}

static void test_input_errors(void)
{
    char in[512], m[2048];
    tmp_path(in, "bad.in.safetensors");
    float x[64] = {0};
    int64_t s23[2] = {2, 3}, s6[1] = {6}, s4[1] = {4}, s25[2] = {2, 5}, s93[2] = {9, 3},
            s5[1] = {5}, s3[1] = {3};

    /* missing tensors: every one is reported */
    write_st(in, (NdlrtStOut[]){{"other", NDLRT_ST_F32, 1, s4, x}}, 1);
    snprintf(m, sizeof m,
             "%s: error: missing input tensor 'x' (f32[N,3])\n"
             "%s: error: missing input tensor 's' (f32[2*N])\n", in, in);
    expect_input_error(&affine_info, in, m);

    /* wrong dtype, wrong rank */
    int64_t xi[6] = {0};
    write_st(in, (NdlrtStOut[]){{"x", NDLRT_ST_I64, 2, s23, xi}, {"s", NDLRT_ST_F32, 1, s4, x}},
             2);
    expect_input_error(&affine_info, in,
                       in_msg(m, in, "input 'x' is I64[2,3] but the model declares f32[N,3]"));
    write_st(in, (NdlrtStOut[]){{"x", NDLRT_ST_F32, 1, s6, x}, {"s", NDLRT_ST_F32, 1, s4, x}}, 2);
    expect_input_error(&affine_info, in,
                       in_msg(m, in, "input 'x' is F32[6] but the model declares f32[N,3]"));
    write_st(in, (NdlrtStOut[]){{"x", NDLRT_ST_F32, 2, s23, x}, {"s", NDLRT_ST_F32, 0, NULL, x}},
             2);
    expect_input_error(&affine_info, in,
                       in_msg(m, in, "input 's' is F32[] but the model declares f32[2*N]"));
    /* an integer input takes no float or BOOL data; a bool input no F32 or I32 */
    write_st(in, (NdlrtStOut[]){{"ids", NDLRT_ST_F32, 2, s23, x},
                                {"off", NDLRT_ST_BOOL, 0, NULL, x},
                                {"keep", NDLRT_ST_I32, 1, s3, x}}, 3);
    snprintf(m, sizeof m,
             "%s: error: input 'ids' is F32[2,3] but the model declares i64[B,T]\n"
             "%s: error: input 'off' is BOOL[] but the model declares i32[]\n"
             "%s: error: input 'keep' is I32[3] but the model declares bool[T]\n", in, in, in);
    expect_input_error(&lookup_info, in, m);

    /* wrong dims; a symbol that two inputs disagree on (with the product 2*N) */
    write_st(in, (NdlrtStOut[]){{"x", NDLRT_ST_F32, 2, s25, x}, {"s", NDLRT_ST_F32, 1, s4, x}},
             2);
    expect_input_error(&affine_info, in,
                       in_msg(m, in, "input 'x' has shape [2,5] but the model declares f32[N,3]"));
    write_st(in, (NdlrtStOut[]){{"x", NDLRT_ST_F32, 2, s23, x}, {"s", NDLRT_ST_F32, 1, s6, x}},
             2);
    expect_input_error(&affine_info, in,
                       in_msg(m, in, "input 's' has shape [6] but the model declares f32[2*N] "
                                     "with N = 2"));
    write_st(in, (NdlrtStOut[]){{"x", NDLRT_ST_F32, 2, s23, x}, {"s", NDLRT_ST_F32, 1, s5, x}},
             2);
    expect_input_error(&affine_info, in,
                       in_msg(m, in, "input 's' has shape [5] but the model declares f32[2*N] "
                                     "with N = 2"));
    int64_t ids[6] = {0};
    uint8_t keep[4] = {1, 1, 1, 1};
    int32_t off = 0;
    write_st(in, (NdlrtStOut[]){{"ids", NDLRT_ST_I64, 2, s23, ids},
                                {"off", NDLRT_ST_I32, 0, NULL, &off},
                                {"keep", NDLRT_ST_BOOL, 1, s4, keep}}, 3);
    expect_input_error(&lookup_info, in,
                       in_msg(m, in, "input 'keep' has shape [4] but the model declares bool[T] "
                                     "with T = 3"));

    /* bound exceeded */
    write_st(in, (NdlrtStOut[]){{"x", NDLRT_ST_F32, 2, s93, x}, {"s", NDLRT_ST_F32, 1, s4, x}},
             2);
    expect_input_error(&affine_info, in,
                       in_msg(m, in, "input 'x' has N = 9 but the model declares N <= 8"));

    /* a product of two unbound symbols */
    write_st(in, (NdlrtStOut[]){{"z", NDLRT_ST_F32, 1, s6, x}}, 1);
    expect_input_error(&prod_info, in,
                       in_msg(m, in, "input 'z' dimension 0 is B*T, whose symbols cannot all "
                                     "be bound from it"));

    /* i32 range */
    int64_t big = (int64_t)1 << 40;
    write_st(in, (NdlrtStOut[]){{"ids", NDLRT_ST_I64, 2, s23, ids},
                                {"off", NDLRT_ST_I64, 0, NULL, &big},
                                {"keep", NDLRT_ST_BOOL, 1, s3, keep}}, 3);
    expect_input_error(&lookup_info, in,
                       in_msg(m, in, "input 'off' holds 1099511627776, which does not fit in i32"));

    /* malformed and missing files: the reader's messages */
    write_bytes(in, "abc", 3);
    expect_input_error(&affine_info, in,
                       in_msg(m, in, "file is 3 bytes long, too short for the 8-byte header "
                                     "length"));
    write_bytes(in, "\x10\0\0\0\0\0\0\0{\"x\":{}}        ", 24);
    expect_input_error(&affine_info, in,
                       in_msg(m, in, "tensor 'x': missing field 'dtype'"));
    unlink(in);
    expect_input_error(&affine_info, in, in_msg(m, in, "cannot open: No such file or directory"));
}

static void test_model_errors(void)
{
    char in[512], out[512], m[2048];
    Res r;
    tmp_path(in, "e.in.safetensors");
    tmp_path(out, "e.out.safetensors");

    /* an id out of range: the model's NDLRT_EINDEX is bad input, named after IN */
    int64_t ids[4] = {0, 1, 2, 3};
    lookup_input(in, 2, 2, ids, 1);
    expect_input_error(&lookup_info, in, in_msg(m, in, "an index input is out of range"));

    /* other status codes are internal errors (3), and out of memory too */
    NdlrtModelInfo bad = lookup_info;
    lookup_input(in, 2, 2, ids, 0);
    bad.run = NULL;
    write_bytes(out, "stale", 5);
    drive(&r, &bad, "/some/dir/lookup", in, out, NULL);
    CHECK_EQ_INT(r.status, 3);
    CHECK_STR(r.err, "lookup: error: internal error: the model descriptor is incomplete\n");
    CHECK(!exists(out));

    bad = lookup_info;
    NdlrtPort ports[3];
    memcpy(ports, lookup_outputs, sizeof ports);
    ports[2].dtype = "f16";
    bad.outputs = ports;
    drive(&r, &bad, "lookup", in, out, NULL);
    CHECK_EQ_INT(r.status, 3);
    CHECK_STR(r.err, "lookup: error: internal error: port 'calls' has no name, an unknown dtype "
                     "or a bad rank\n");

    bad = affine_info;
    bad.reserve = NULL;   /* Affine's run then returns NDLRT_ESIZE: bad input */
    affine_input(in, 2, 4);
    drive(&r, &bad, "affine", in, out, NULL);
    CHECK_EQ_INT(r.status, 1);
    CHECK_STR(r.err, in_msg(m, in, "a size is above its declared bound"));

    /* create with a weight path for a model with embedded weights: status NDLRT_EARG */
    bad = affine_info;
    bad.external_weights = 1;
    drive(&r, &bad, "/x/affine", in, out, NULL);
    CHECK_EQ_INT(r.status, 3);
    CHECK_STR(r.err, "affine: error: internal error: create returned 2 (invalid argument)\n");
    CHECK(!exists(out));
    unlink(in);
}

static int create_oom(void **model, const char *weights_path)
{
    (void)weights_path;
    *model = NULL;
    return NDLRT_ENOMEM;
}

static int run_42(void *model, const int64_t *syms, const void *const *in, void *const *out)
{
    (void)model, (void)syms, (void)in, (void)out;
    return 42;
}

static void test_internal_errors(void)
{
    char in[512], out[512];
    Res r;
    tmp_path(in, "i.in.safetensors");
    tmp_path(out, "i.out.safetensors");
    affine_input(in, 1, 2);
    NdlrtModelInfo bad = affine_info;
    bad.create = create_oom;
    write_bytes(out, "stale", 5);
    drive(&r, &bad, "./affine", in, out, NULL);
    CHECK_EQ_INT(r.status, 3);
    CHECK_STR(r.err, "affine: error: out of memory\n");
    CHECK(!exists(out));

    bad = affine_info;
    bad.run = run_42;
    bad.strerror = NULL;
    drive(&r, &bad, "./affine", in, out, NULL);
    CHECK_EQ_INT(r.status, 3);
    CHECK_STR(r.err, "affine: error: internal error: run returned 42 (unknown error)\n");
    unlink(in);
}

static void test_external_weights(void)
{
    char in[512], out[512], exe[512], w[512], m[2048];
    Res r;
    tmp_path(in, "x.in.safetensors");
    tmp_path(out, "x.out.safetensors");
    tmp_path(exe, "lookup");
    tmp_path(w, "lookup.weights.safetensors");
    NdlrtModelInfo ext = lookup_info;
    ext.external_weights = 1;
    ext.create = lookup_create_ext;
    int64_t ids[2] = {3, 0};
    lookup_input(in, 1, 2, ids, 0);

    /* no weight file: the reader's message, naming the file beside the executable */
    write_bytes(out, "stale", 5);
    drive(&r, &ext, exe, in, out, NULL);
    CHECK_EQ_INT(r.status, 1);
    CHECK_STR(r.err, in_msg(m, w, "cannot open: No such file or directory"));
    CHECK(!exists(out));

    /* a valid file without the tensor: the model's message */
    float table[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    int64_t ts[2] = {4, 2}, ts2[2] = {2, 4};
    write_st(w, (NdlrtStOut[]){{"table", NDLRT_ST_F32, 2, ts2, table}}, 1);
    drive(&r, &ext, exe, in, out, NULL);
    CHECK_EQ_INT(r.status, 1);
    CHECK_STR(r.err, in_msg(m, w, "the weight file does not match the model"));

    /* with the model's weight table the driver names the tensor (ndlrt_st_check) */
    static const NdlrtWeightSpec specs[] = {{"table", NDLRT_ST_F32, 2, {4, 2}}};
    ext.weights = specs;
    ext.nweights = 1;
    write_bytes(out, "stale", 5);
    drive(&r, &ext, exe, in, out, NULL);
    CHECK_EQ_INT(r.status, 1);
    CHECK_STR(r.err, in_msg(m, w, "tensor 'table' has shape [2,4] but the model needs [4,2]"));
    CHECK(!exists(out));
    write_st(w, (NdlrtStOut[]){{"tablet", NDLRT_ST_F32, 2, ts, table}}, 1);
    drive(&r, &ext, exe, in, out, NULL);
    CHECK_EQ_INT(r.status, 1);
    CHECK_STR(r.err, in_msg(m, w, "tensor 'table' is missing"));
    write_st(w, (NdlrtStOut[]){{"table", NDLRT_ST_I32, 2, ts, table}}, 1);
    drive(&r, &ext, exe, in, out, NULL);
    CHECK_EQ_INT(r.status, 1);
    CHECK_STR(r.err, in_msg(m, w, "tensor 'table' has dtype I32 but the model needs F32"));

    write_st(w, (NdlrtStOut[]){{"table", NDLRT_ST_F32, 2, ts, table}}, 1);
    drive(&r, &ext, exe, in, out, NULL);
    CHECK_EQ_INT(r.status, 0);
    CHECK_STR(r.err, "");
    NdlrtSt *st = open_out(out);
    if (st) {
        const NdlrtStTensor *y = out_tensor(st, "y", NDLRT_ST_F32, 2, (int64_t[]){2, 2});
        if (y && y->nelem == 4) {
            float yv[4];
            ndlrt_st_read_f32(y, yv);
            CHECK(yv[0] == 6 && yv[1] == 7 && yv[2] == 0 && yv[3] == 1);
        }
        ndlrt_st_close(st);
    }
    unlink(w);

    /* a bare argv[0] (found on PATH): the file beside /proc/self/exe */
    char self[512], wself[600];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        snprintf(wself, sizeof wself, "%s.weights.safetensors", self);
        drive(&r, &ext, "lookup", in, out, NULL);
        CHECK_EQ_INT(r.status, 1);
        CHECK_STR(r.err, in_msg(m, wself, "cannot open: No such file or directory"));
        write_st(wself, (NdlrtStOut[]){{"table", NDLRT_ST_F32, 2, ts, table}}, 1);
        drive(&r, &ext, "lookup", in, out, NULL);
        CHECK_EQ_INT(r.status, 0);
        CHECK_STR(r.err, "");
        unlink(wself);
    }
    unlink(in);
    unlink(out);
}

static void test_repeat(void)
{
    char in[512], out[512];
    Res r;
    tmp_path(in, "r.in.safetensors");
    tmp_path(out, "r.out.safetensors");
    int64_t ids[2] = {1, 2};
    lookup_input(in, 1, 2, ids, 0);
    drive(&r, &lookup_info, "./lookup", in, out, "--repeat", "5", NULL);
    CHECK_EQ_INT(r.status, 0);
    CHECK_STR(r.err, "");
    long runs = 0;
    double mn = -1, med = -1, mean = -1, p90 = -1;
    char tail = 0;
    int k = sscanf(r.out, "runs=%ld min_ms=%lf median_ms=%lf mean_ms=%lf p90_ms=%lf%c", &runs, &mn,
                   &med, &mean, &p90, &tail);
    CHECK_EQ_INT(k, 6);
    CHECK_EQ_INT(runs, 5);
    CHECK(tail == '\n' && strchr(r.out, '\n') == r.out + strlen(r.out) - 1);
    CHECK(mn >= 0 && mn <= med && med <= p90 && mn <= mean);
    NdlrtSt *st = open_out(out);
    if (st) {   /* the warm-up run and 5 timed runs on one instance */
        const NdlrtStTensor *calls = out_tensor(st, "calls", NDLRT_ST_I64, 0, NULL);
        int64_t c = 0;
        if (calls) ndlrt_st_read_i64(calls, &c);
        CHECK_EQ_INT(c, 6);
        ndlrt_st_close(st);
    }
    /* options may come first, and --repeat=N works too */
    drive(&r, &lookup_info, "./lookup", "--repeat=1", in, out, NULL);
    CHECK_EQ_INT(r.status, 0);
    CHECK(strncmp(r.out, "runs=1 min_ms=", 14) == 0);
    /* a failure in a timed run is reported like any other */
    int64_t bad[2] = {1, 9};
    lookup_input(in, 1, 2, bad, 0);
    drive(&r, &lookup_info, "./lookup", in, out, "--repeat", "3", NULL);
    CHECK_EQ_INT(r.status, 1);
    CHECK_STR(r.out, "");
    CHECK(!exists(out));
    unlink(in);
}

static void test_usage(void)
{
    char in[512], out[512], m[2048];
    Res r;
    tmp_path(in, "u.in.safetensors");
    tmp_path(out, "u.out.safetensors");
    const char *use = "usage: affine IN.safetensors OUT.safetensors [--repeat N]\n";
    write_bytes(out, "keep", 4);   /* a usage error touches no file */

    drive(&r, &affine_info, "./affine", NULL);
    CHECK_EQ_INT(r.status, 2);
    snprintf(m, sizeof m, "affine: error: expected IN.safetensors and OUT.safetensors, got 0 file "
                          "arguments\n%s", use);
    CHECK_STR(r.err, m);
    drive(&r, &affine_info, "./affine", in, NULL);
    CHECK_EQ_INT(r.status, 2);
    snprintf(m, sizeof m, "affine: error: expected IN.safetensors and OUT.safetensors, got 1 file "
                          "argument\n%s", use);
    CHECK_STR(r.err, m);
    drive(&r, &affine_info, "./affine", in, out, "extra", NULL);
    CHECK_EQ_INT(r.status, 2);
    drive(&r, &affine_info, "./affine", in, out, "--repeat", NULL);
    CHECK_EQ_INT(r.status, 2);
    snprintf(m, sizeof m, "affine: error: missing value for --repeat\n%s", use);
    CHECK_STR(r.err, m);
    static const char *const bad_repeat[] = {"0", "-1", "abc", "3x", "", "1000001",
                                             "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad_repeat / sizeof *bad_repeat; i++) {
        drive(&r, &affine_info, "./affine", in, out, "--repeat", bad_repeat[i], NULL);
        CHECK_EQ_INT(r.status, 2);
        snprintf(m, sizeof m, "affine: error: invalid --repeat value '%s' (expected an integer "
                              "from 1 to 1000000)\n%s", bad_repeat[i], use);
        CHECK_STR(r.err, m);
    }
    drive(&r, &affine_info, "./affine", in, out, "--fast", NULL);
    CHECK_EQ_INT(r.status, 2);
    snprintf(m, sizeof m, "affine: error: unknown option '--fast'\n%s", use);
    CHECK_STR(r.err, m);
    drive(&r, &affine_info, "./affine", in, in, NULL);
    CHECK_EQ_INT(r.status, 2);
    snprintf(m, sizeof m, "affine: error: input and output are the same file '%s'\n", in);
    CHECK_STR(r.err, m);
    CHECK(exists(out));

    drive(&r, &affine_info, "./affine", "--help", NULL);
    CHECK_EQ_INT(r.status, 0);
    CHECK_STR(r.out, use);
    CHECK_STR(r.err, "");

    /* after "--", a name starting with '-' is a file */
    char dash[512];
    tmp_path(dash, "-in.safetensors");
    affine_input(dash, 1, 2);
    if (chdir(dir) == 0) {
        drive(&r, &affine_info, "./affine", "--", "-in.safetensors", out, NULL);
        CHECK_EQ_INT(r.status, 0);
        CHECK_STR(r.err, "");
    }
    unlink(dash);
    unlink(out);
}

static void test_write_error(void)
{
    char in[512], out[512], m[2048];
    Res r;
    tmp_path(in, "w.in.safetensors");
    tmp_path(out, "no/such/dir/out.safetensors");
    affine_input(in, 1, 2);
    drive(&r, &affine_info, "./affine", in, out, NULL);
    CHECK_EQ_INT(r.status, 1);
    CHECK_STR(r.err, in_msg(m, out, "cannot create a temporary file next to it: No such file or "
                                    "directory"));
    unlink(in);
}

int main(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/ndlc_driver.XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_affine_ok();
    test_lookup_ok();
    test_input_errors();
    test_model_errors();
    test_internal_errors();
    test_external_weights();
    test_repeat();
    test_write_error();
    test_usage();   /* last: it changes the working directory */
    CHECK(no_temporaries());
    if (rmdir(dir) != 0) {
        perror(dir);
        CHECK(!"the temporary directory is left empty");
    }
    return check_done();
}
