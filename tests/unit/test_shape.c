/* SPDX-License-Identifier: MIT
 * test_shape.c - shape rules (ir/shape.c): the output type of every op, symbolic dims
 * flowing through, the exact message of each invalid case, broadcasting and FLOP counts.
 * Modules are built directly with the IR API; types are written as text ("f32[N,3]").
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "ir/ir.h"

typedef struct T {
    Module *m;
    char err[512];
    char buf[600];
    bool covered[OP_COUNT]; /* kinds with at least one successful build */
} T;

/* ---- helpers ------------------------------------------------------------------------- */

static SymId symbol(Module *m, const char *name, size_t len)
{
    for (SymId s = 1; s < m->syms.n; s++)
        if (strlen(m->syms.v[s].name) == len && strncmp(m->syms.v[s].name, name, len) == 0)
            return s;
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%.*s", (int)len, name);
    return ir_add_symbol(m, tmp, 0, (Span){0});
}

/* "f32[N,3,2*B]" -> TensorType; symbols are created on first use. */
static TensorType ty(T *t, const char *s)
{
    TensorType r;
    memset(&r, 0, sizeof r);
    const char *br = strchr(s, '[');
    char dt[16];
    snprintf(dt, sizeof dt, "%.*s", (int)(br - s), s);
    r.dtype = (DType)ir_dtype_lookup(dt);
    const char *p = br + 1;
    while (*p && *p != ']') {
        Dim d = 1;
        for (;;) {
            if (isdigit((unsigned char)*p)) {
                d = ir_dim_mul(t->m, d, strtoll(p, (char **)&p, 10));
            } else {
                const char *q = p;
                while (isalnum((unsigned char)*q) || *q == '_') q++;
                d = ir_dim_mul(t->m, d, ir_dim_symbol(t->m, symbol(t->m, p, (size_t)(q - p))));
                p = q;
            }
            if (*p != '*') break;
            p++;
        }
        r.dims[r.rank++] = d;
        if (*p == ',') p++;
    }
    return r;
}

static ValueId in(T *t, const char *type)
{
    TensorType tt = ty(t, type);
    return ir_add_input(t->m, "x", &tt, (Span){0});
}

static ValueId build(T *t, OpKind k, const ValueId *v, unsigned nin, const Attr *a, unsigned na)
{
    t->err[0] = '\0';
    ValueId r = ir_add_op(t->m, k, v, nin, a, na, NULL, (Span){0}, t->err, sizeof t->err);
    if (r) t->covered[k] = true;
    return r;
}

/* The result's type as text, or "error: <message>". */
static const char *type_of(T *t, ValueId v)
{
    if (!v) {
        snprintf(t->buf, sizeof t->buf, "error: %s", t->err);
        return t->buf;
    }
    return ir_format_type(t->m, ir_type(t->m, v), t->buf, sizeof t->buf);
}

/* The message of a failed build, or "ok: <type>". */
static const char *err_of(T *t, ValueId v)
{
    if (v) {
        char b[256];
        snprintf(t->buf, sizeof t->buf, "ok: %s",
                 ir_format_type(t->m, ir_type(t->m, v), b, sizeof b));
        return t->buf;
    }
    return t->err;
}

#define V(...)                                                                                     \
    ((const ValueId[]){__VA_ARGS__}), (unsigned)(sizeof((ValueId[]){__VA_ARGS__}) / sizeof(ValueId))
#define AT(...)                                                                                    \
    ((const Attr[]){__VA_ARGS__}), (unsigned)(sizeof((Attr[]){__VA_ARGS__}) / sizeof(Attr))
#define NOATTRS NULL, 0u
#define INTS(t, key, ...)                                                                          \
    ir_attr_ints((t)->m, key, (const int64_t[]){__VA_ARGS__},                                      \
                 (uint32_t)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define I(key, v) ir_attr_int(key, v)
#define F(key, v) ir_attr_float(key, v)

/* A SHAPE attribute from a type's dims ("f32[N,16]"). */
static Attr shape_of(T *t, const char *type)
{
    TensorType tt = ty(t, type);
    return ir_attr_ints(t->m, ATTR_SHAPE, tt.dims, tt.rank);
}

static Attr conv_attr(T *t, int which, int64_t a, int64_t b)
{
    static const AttrKey keys[] = {ATTR_STRIDE, ATTR_PAD, ATTR_DILATION, ATTR_KERNEL};
    return ir_attr_ints(t->m, keys[which], (const int64_t[]){a, b}, 2);
}
#define STRIDE(a, b) conv_attr(t, 0, a, b)
#define PAD(a, b) conv_attr(t, 1, a, b)
#define DIL(a, b) conv_attr(t, 2, a, b)
#define KERNEL(a, b) conv_attr(t, 3, a, b)

static ValueId conv(T *t, ValueId x, ValueId w, ValueId b, int64_t s, int64_t p, int64_t d,
                    int64_t g)
{
    return build(t, OP_CONV2D, V(x, w, b),
                 AT(STRIDE(s, s), PAD(p, p), DIL(d, d), I(ATTR_GROUPS, g)));
}

static ValueId slice(T *t, ValueId x, unsigned rank, const int64_t *b, const int64_t *e,
                     const int64_t *s)
{
    return build(t, OP_SLICE, V(x),
                 AT(ir_attr_ints(t->m, ATTR_BEGIN, b, rank), ir_attr_ints(t->m, ATTR_END, e, rank),
                    ir_attr_ints(t->m, ATTR_STEP, s, rank)));
}

/* ---- broadcasting ------------------------------------------------------------------------ */

static void test_broadcast(T *t)
{
    TensorType a = ty(t, "f32[8,64]"), b = ty(t, "f32[8,32]"), o;
    char err[256];
    CHECK(!ir_broadcast(t->m, &a, &b, &o, err, sizeof err));
    CHECK_STR(err, "cannot broadcast [8,64] with [8,32]");

    a = ty(t, "f32[N,1]"), b = ty(t, "f32[1,5]");
    CHECK(ir_broadcast(t->m, &a, &b, &o, err, sizeof err));
    CHECK_STR(ir_format_type(t->m, &o, t->buf, sizeof t->buf), "f32[N,5]");

    a = ty(t, "f32[N]"), b = ty(t, "f32[1]"); /* a symbol with 1 keeps the symbol */
    CHECK(ir_broadcast(t->m, &a, &b, &o, err, sizeof err));
    CHECK_STR(ir_format_type(t->m, &o, t->buf, sizeof t->buf), "f32[N]");

    a = ty(t, "f32[3,1,4]"), b = ty(t, "f32[2,1]");
    CHECK(ir_broadcast(t->m, &a, &b, &o, err, sizeof err));
    CHECK_STR(ir_format_type(t->m, &o, t->buf, sizeof t->buf), "f32[3,2,4]");

    a = ty(t, "f32[]"), b = ty(t, "f32[2,N]");
    CHECK(ir_broadcast(t->m, &a, &b, &o, err, sizeof err));
    CHECK_STR(ir_format_type(t->m, &o, t->buf, sizeof t->buf), "f32[2,N]");

    a = ty(t, "f32[N]"), b = ty(t, "f32[M]"); /* two different symbols never broadcast */
    CHECK(!ir_broadcast(t->m, &a, &b, &o, err, sizeof err));
    CHECK_STR(err, "cannot broadcast [N] with [M]");

    a = ty(t, "f32[0,3]"), b = ty(t, "f32[1,3]");
    CHECK(ir_broadcast(t->m, &a, &b, &o, err, sizeof err));
    CHECK_STR(ir_format_type(t->m, &o, t->buf, sizeof t->buf), "f32[0,3]");
}

/* ---- output types of every op ------------------------------------------------------------ */

static void test_types(T *t)
{
    ValueId x = in(t, "f32[N,3]");
    for (int k = 0; k < OP_COUNT; k++)
        if (op_info[k].flags & OPF_EW1)
            CHECK_STR(type_of(t, build(t, (OpKind)k, V(x), NOATTRS)), "f32[N,3]");

    ValueId a = in(t, "f32[N,1,4]"), b = in(t, "f32[3,1]");
    CHECK_STR(type_of(t, build(t, OP_ADD, V(a, b), NOATTRS)), "f32[N,3,4]");
    CHECK_STR(type_of(t, build(t, OP_SUB, V(b, a), NOATTRS)), "f32[N,3,4]");
    CHECK_STR(type_of(t, build(t, OP_MUL, V(a, in(t, "f32[]")), NOATTRS)), "f32[N,1,4]");
    CHECK_STR(type_of(t, build(t, OP_DIV, V(a, a), NOATTRS)), "f32[N,1,4]");
    ValueId ii = in(t, "i64[N,2]");
    CHECK_STR(type_of(t, build(t, OP_ADD, V(ii, in(t, "i64[1]")), NOATTRS)), "i64[N,2]");
    CHECK_STR(type_of(t, build(t, OP_MUL, V(in(t, "i32[2]"), in(t, "i32[2]")), NOATTRS)), "i32[2]");

    CHECK_STR(type_of(t, build(t, OP_CAST, V(x), AT(I(ATTR_DTYPE, DT_I64)))), "i64[N,3]");
    CHECK_STR(type_of(t, build(t, OP_CAST, V(ii), AT(I(ATTR_DTYPE, DT_F32)))), "f32[N,2]");
    CHECK_STR(type_of(t, build(t, OP_CAST, V(ii), AT(I(ATTR_DTYPE, DT_BOOL)))), "bool[N,2]");

    CHECK_STR(type_of(t, build(t, OP_SOFTMAX, V(x), AT(I(ATTR_DIM, 1)))), "f32[N,3]");
    CHECK_STR(type_of(t, build(t, OP_LOG_SOFTMAX, V(x), AT(I(ATTR_DIM, 0)))), "f32[N,3]");

    ValueId r = in(t, "f32[N,3,4]");
    CHECK_STR(
        type_of(t, build(t, OP_REDUCE_SUM, V(r), AT(INTS(t, ATTR_DIMS, 1), I(ATTR_KEEPDIM, 0)))),
        "f32[N,4]");
    CHECK_STR(type_of(t, build(t, OP_REDUCE_MEAN, V(r),
                               AT(INTS(t, ATTR_DIMS, 1, 2), I(ATTR_KEEPDIM, 1)))),
              "f32[N,1,1]");
    CHECK_STR(
        type_of(t, build(t, OP_REDUCE_MAX, V(r), AT(INTS(t, ATTR_DIMS, 0, 2), I(ATTR_KEEPDIM, 0)))),
        "f32[3]");
    CHECK_STR(type_of(t, build(t, OP_REDUCE_MIN, V(r),
                               AT(INTS(t, ATTR_DIMS, 0, 1, 2), I(ATTR_KEEPDIM, 0)))),
              "f32[]");

    CHECK_STR(type_of(t, build(t, OP_ARGMAX, V(r), AT(I(ATTR_DIM, 1), I(ATTR_KEEPDIM, 0)))),
              "i64[N,4]");
    CHECK_STR(type_of(t, build(t, OP_ARGMAX, V(r), AT(I(ATTR_DIM, 2), I(ATTR_KEEPDIM, 1)))),
              "i64[N,3,1]");
    CHECK_STR(type_of(t, build(t, OP_ARGMAX, V(r), AT(I(ATTR_DIM, -1), I(ATTR_KEEPDIM, 0)))),
              "i64[]");
    CHECK_STR(type_of(t, build(t, OP_ARGMAX, V(r), AT(I(ATTR_DIM, -1), I(ATTR_KEEPDIM, 1)))),
              "i64[1,1,1]");
    CHECK_STR(type_of(t, build(t, OP_ARGMAX, V(ii), AT(I(ATTR_DIM, 1), I(ATTR_KEEPDIM, 0)))),
              "i64[N]");

    ValueId w = in(t, "f32[784,10]"), xa = in(t, "f32[N,784]"), v784 = in(t, "f32[784]");
    CHECK_STR(type_of(t, build(t, OP_MATMUL, V(xa, w), NOATTRS)), "f32[N,10]");
    CHECK_STR(type_of(t, build(t, OP_MATMUL, V(v784, w), NOATTRS)), "f32[10]");
    CHECK_STR(type_of(t, build(t, OP_MATMUL, V(xa, v784), NOATTRS)), "f32[N]");
    CHECK_STR(type_of(t, build(t, OP_MATMUL, V(v784, v784), NOATTRS)), "f32[]");
    CHECK_STR(
        type_of(t, build(t, OP_MATMUL, V(in(t, "f32[2,1,3,4]"), in(t, "f32[5,4,6]")), NOATTRS)),
        "f32[2,5,3,6]");
    CHECK_STR(
        type_of(t, build(t, OP_MATMUL, V(in(t, "f32[B,H,T,D]"), in(t, "f32[B,H,D,T]")), NOATTRS)),
        "f32[B,H,T,T]");
    CHECK_STR(type_of(t, build(t, OP_MATMUL, V(in(t, "f32[4]"), in(t, "f32[N,4,6]")), NOATTRS)),
              "f32[N,6]");

    ValueId lw = in(t, "f32[10,784]"), lb = in(t, "f32[10]");
    CHECK_STR(type_of(t, build(t, OP_LINEAR, V(xa, lw, lb), NOATTRS)), "f32[N,10]");
    CHECK_STR(type_of(t, build(t, OP_LINEAR, V(xa, lw, 0), NOATTRS)), "f32[N,10]");
    CHECK_STR(type_of(t, build(t, OP_LINEAR, V(in(t, "f32[B,T,784]"), lw, 0), NOATTRS)),
              "f32[B,T,10]");
    CHECK_STR(type_of(t, build(t, OP_LINEAR, V(in(t, "f32[B*T,784]"), lw, 0), NOATTRS)),
              "f32[B*T,10]");

    ValueId img = in(t, "f32[N,3,32,32]"), cw = in(t, "f32[16,3,3,3]"), cb = in(t, "f32[16]");
    CHECK_STR(type_of(t, conv(t, img, cw, cb, 1, 1, 1, 1)), "f32[N,16,32,32]");
    CHECK_STR(type_of(t, conv(t, img, cw, 0, 2, 1, 1, 1)), "f32[N,16,16,16]");
    CHECK_STR(type_of(t, conv(t, img, cw, 0, 1, 0, 2, 1)), "f32[N,16,28,28]");
    CHECK_STR(type_of(t, conv(t, in(t, "f32[1,4,8,8]"), in(t, "f32[6,2,3,3]"), 0, 1, 0, 1, 2)),
              "f32[1,6,6,6]");
    CHECK_STR(type_of(t, conv(t, in(t, "f32[3,8,8]"), cw, cb, 1, 0, 1, 1)), "f32[16,6,6]");
    CHECK_STR(type_of(t, conv(t, in(t, "f32[N,3,H,W]"), cw, cb, 1, 1, 1, 1)), "f32[N,16,H,W]");
    CHECK_STR(type_of(t, conv(t, in(t, "f32[N,3,H,W]"), cw, cb, 1, 2, 2, 1)), "f32[N,16,H,W]");
    CHECK_STR(type_of(t, build(t, OP_CONV2D, V(in(t, "f32[1,3,10,7]"), in(t, "f32[8,3,3,1]"), 0),
                               AT(STRIDE(2, 3), PAD(1, 0), DIL(1, 1), I(ATTR_GROUPS, 1)))),
              "f32[1,8,5,3]");

    ValueId fm = in(t, "f32[N,16,32,32]");
    CHECK_STR(type_of(t, build(t, OP_MAX_POOL2D, V(fm), AT(KERNEL(2, 2), STRIDE(2, 2), PAD(0, 0)))),
              "f32[N,16,16,16]");
    CHECK_STR(type_of(t, build(t, OP_AVG_POOL2D, V(fm), AT(KERNEL(3, 3), STRIDE(2, 2), PAD(1, 1)))),
              "f32[N,16,16,16]");
    CHECK_STR(type_of(t, build(t, OP_MAX_POOL2D, V(in(t, "f32[4,7,5]")),
                               AT(KERNEL(3, 2), STRIDE(2, 1), PAD(0, 0)))),
              "f32[4,3,4]");
    CHECK_STR(type_of(t, build(t, OP_AVG_POOL2D, V(in(t, "f32[N,3,H,W]")),
                               AT(KERNEL(3, 3), STRIDE(1, 1), PAD(1, 1)))),
              "f32[N,3,H,W]");

    ValueId c16 = in(t, "f32[16]");
    CHECK_STR(type_of(t, build(t, OP_BATCH_NORM, V(fm, c16, c16, c16, c16), AT(F(ATTR_EPS, 1e-5)))),
              "f32[N,16,32,32]");
    CHECK_STR(type_of(t, build(t, OP_BATCH_NORM, V(in(t, "f32[N,16]"), c16, c16, 0, 0),
                               AT(F(ATTR_EPS, 1e-5)))),
              "f32[N,16]");
    ValueId seq = in(t, "f32[B,T,64]"), d64 = in(t, "f32[64]");
    CHECK_STR(type_of(t, build(t, OP_LAYER_NORM, V(seq, d64, d64), AT(F(ATTR_EPS, 1e-5)))),
              "f32[B,T,64]");
    CHECK_STR(type_of(t, build(t, OP_LAYER_NORM, V(seq, 0, 0), AT(F(ATTR_EPS, 1e-5)))),
              "f32[B,T,64]");
    CHECK_STR(type_of(t, build(t, OP_RMS_NORM, V(seq, d64), AT(F(ATTR_EPS, 1e-6)))), "f32[B,T,64]");

    ValueId q = in(t, "f32[B,4,T,16]"), k = in(t, "f32[B,4,S,16]"), vv = in(t, "f32[B,4,S,8]");
    CHECK_STR(
        type_of(t, build(t, OP_ATTENTION, V(q, k, vv), AT(I(ATTR_CAUSAL, 1), F(ATTR_SCALE, 0.25)))),
        "f32[B,4,T,8]");

    ValueId rs = in(t, "f32[N,4,4]");
    CHECK_STR(type_of(t, build(t, OP_RESHAPE, V(rs), AT(shape_of(t, "f32[N,16]")))), "f32[N,16]");
    CHECK_STR(type_of(t, build(t, OP_RESHAPE, V(rs), AT(shape_of(t, "f32[2,N,8]")))), "f32[2,N,8]");
    CHECK_STR(type_of(t, build(t, OP_RESHAPE, V(in(t, "i64[B,T]")), AT(shape_of(t, "f32[B*T]")))),
              "i64[B*T]");
    CHECK_STR(type_of(t, build(t, OP_RESHAPE, V(in(t, "f32[1]")), AT(shape_of(t, "f32[]")))),
              "f32[]");

    CHECK_STR(type_of(t, build(t, OP_PERMUTE, V(r), AT(INTS(t, ATTR_PERM, 2, 0, 1)))),
              "f32[4,N,3]");

    ValueId sl = in(t, "f32[N,10]");
    CHECK_STR(type_of(t, slice(t, sl, 2, (int64_t[]){0, 2}, (int64_t[]){INT64_MAX, 8},
                               (int64_t[]){1, 2})),
              "f32[N,3]");
    CHECK_STR(type_of(t, slice(t, sl, 2, (int64_t[]){0, 3}, (int64_t[]){INT64_MAX, INT64_MAX},
                               (int64_t[]){1, 3})),
              "f32[N,3]");
    CHECK_STR(type_of(t, slice(t, sl, 2, (int64_t[]){0, 4}, (int64_t[]){INT64_MAX, 4},
                               (int64_t[]){1, 1})),
              "f32[N,0]");
    CHECK_STR(type_of(t, slice(t, sl, 2, (int64_t[]){0, 10}, (int64_t[]){INT64_MAX, INT64_MAX},
                               (int64_t[]){1, 1})),
              "f32[N,0]");

    CHECK_STR(type_of(t, build(t, OP_CONCAT, V(in(t, "f32[N,3]"), in(t, "f32[N,5]")),
                               AT(I(ATTR_DIM, 1)))),
              "f32[N,8]");
    CHECK_STR(type_of(t, build(t, OP_CONCAT, V(sl, sl, sl), AT(I(ATTR_DIM, 0)))), "f32[3*N,10]");
    CHECK_STR(type_of(t, build(t, OP_CONCAT, V(sl), AT(I(ATTR_DIM, 1)))), "f32[N,10]");

    ValueId ids = in(t, "i64[B,T]"), tab = in(t, "f32[100,32]");
    CHECK_STR(type_of(t, build(t, OP_EMBEDDING, V(ids, tab), NOATTRS)), "f32[B,T,32]");
    CHECK_STR(type_of(t, build(t, OP_EMBEDDING, V(in(t, "i32[5]"), in(t, "i64[10,2]")), NOATTRS)),
              "i64[5,2]");

    CHECK_STR(type_of(t, build(t, OP_TAKE, V(in(t, "f32[1000]"), in(t, "i64[64,32]")), NOATTRS)),
              "f32[64,32]");
    CHECK_STR(type_of(t, build(t, OP_TAKE, V(in(t, "f32[10,10]"), in(t, "i32[N]")), NOATTRS)),
              "f32[N]");

    CHECK_STR(type_of(t, build(t, OP_KRON, V(in(t, "f32[2,3]"), in(t, "f32[4,5]")), NOATTRS)),
              "f32[8,15]");
    CHECK_STR(type_of(t, build(t, OP_KRON, V(in(t, "f32[N,3]"), in(t, "f32[2,1]")), NOATTRS)),
              "f32[2*N,3]");

    CHECK_STR(type_of(t, build(t, OP_HASHED, V(in(t, "f32[1000]")),
                               AT(shape_of(t, "f32[64,32]"), I(ATTR_SEED, 42)))),
              "f32[64,32]");
    CHECK_STR(type_of(t, build(t, OP_HASHED, V(in(t, "f32[10,10]")),
                               AT(shape_of(t, "f32[7]"), I(ATTR_SEED, 4294967295)))),
              "f32[7]");
    CHECK_STR(type_of(t, build(t, OP_HASH_ROUTE, V(in(t, "i64[T]")),
                               AT(I(ATTR_NUM, 8), I(ATTR_SEED, 7)))),
              "i64[T]");
    CHECK_STR(type_of(t, build(t, OP_HASH_ROUTE, V(in(t, "i32[B,T]")),
                               AT(I(ATTR_NUM, 8), I(ATTR_SEED, 0)))),
              "i64[B,T]");
    /* mixture of experts: gates [T,E]; an expert's rows are a dynamic symbol R <= T */
    Attr topk2[5] = {I(ATTR_POLICY, 0), I(ATTR_K, 2), F(ATTR_P, 0), I(ATTR_RENORM, 1), I(ATTR_SOFTMAX, 1)};
    CHECK_STR(type_of(t, build(t, OP_MOE_ROUTE, V(in(t, "f32[T,4]")), topk2, 5)), "f32[T,4]");
    CHECK_STR(type_of(t, build(t, OP_MOE_ASSIGN, V(in(t, "i32[T]")), AT(I(ATTR_NUM, 4)))), "f32[T,4]");
    ValueId mx = in(t, "f32[T,16]"), mg = in(t, "f32[T,4]");
    Dim rows = ir_dim_symbol(t->m, ir_add_dynamic_symbol(t->m, "R", ir_type(t->m, mx)->dims[0], (Span){0}));
    ValueId xe = build(t, OP_MOE_GATHER, V(mx, mg), AT(I(ATTR_EXPERT, 3), I(ATTR_ROWS, rows)));
    CHECK_STR(type_of(t, xe), "f32[R,16]");
    CHECK_STR(type_of(t, build(t, OP_MOE_SCATTER, V(0, xe, mg), AT(I(ATTR_EXPERT, 3)))), "f32[T,16]");
    CHECK_STR(err_of(t, build(t, OP_MOE_GATHER, V(mx, mg), AT(I(ATTR_EXPERT, 4), I(ATTR_ROWS, rows)))),
              "'moe_gather' expert 4 is outside 0..3");
    CHECK_STR(err_of(t, build(t, OP_MOE_GATHER, V(mx, mg), AT(I(ATTR_EXPERT, 0), I(ATTR_ROWS, 5)))),
              "'moe_gather' rows must be a dynamic symbol of at most T rows");
    CHECK_STR(err_of(t, build(t, OP_MOE_SCATTER, V(mx, mx, mg), AT(I(ATTR_EXPERT, 0)))),
              "'moe_scatter' expects an expert output f32[R,n] over the expert's rows, got f32[T,16]");
    topk2[1] = I(ATTR_K, 5);
    CHECK_STR(err_of(t, build(t, OP_MOE_ROUTE, V(in(t, "f32[T,4]")), topk2, 5)),
              "'moe_route' k must be in 1..4 (the number of experts), got 5");

    for (int kind = 0; kind < OP_COUNT; kind++)
        if (!t->covered[kind]) {
            fprintf(stderr, "no successful shape test for '%s'\n", op_info[kind].name);
            CHECK(t->covered[kind]);
        }
}

/* recurse's steps (spec 8.3), in a module of their own: rows symbols follow every input
 * symbol, so none may be declared after them. */
static void test_recurse(T *t)
{
    Module *outer = t->m;
    t->m = ir_module_new("recurse");
    ValueId x = in(t, "f32[12,16]"), d64 = in(t, "i64[12]"), d32 = in(t, "i32[12]"), step = in(t, "i64[]");
    Dim r = ir_dim_symbol(t->m, ir_add_dynamic_symbol(t->m, "R", 12, (Span){0}));
    Attr rows = ir_attr_ints(t->m, ATTR_SHAPE, (int64_t[]){r, 16}, 2);
    ValueId g = build(t, OP_RECURSE_GATHER, V(x, d64, step), AT(rows, I(ATTR_MAX, 3)));
    CHECK_STR(type_of(t, g), "f32[R,16]");
    CHECK_STR(type_of(t, build(t, OP_RECURSE_SCATTER, V(x, g, d32, step), NOATTRS)), "f32[12,16]");
    CHECK_STR(err_of(t, build(t, OP_RECURSE_GATHER, V(x, in(t, "i64[11]"), step), AT(rows, I(ATTR_MAX, 3)))),
              "'recurse' depth must be [12] (one per row of [12,16]), got [11]");
    CHECK_STR(err_of(t, build(t, OP_RECURSE_GATHER, V(x, d64, d64), AT(rows, I(ATTR_MAX, 3)))),
              "'recurse' step must be a scalar, got [12]");
    CHECK_STR(err_of(t, build(t, OP_RECURSE_GATHER, V(x, d64, step), AT(rows, I(ATTR_MAX, 0)))),
              "'recurse' needs a positive max");
    CHECK_STR(err_of(t, build(t, OP_RECURSE_GATHER, V(x, d64, step), AT(shape_of(t, "f32[12,16]"), I(ATTR_MAX, 3)))),
              "'recurse' body must map rows f32[12,16] to rows of the same shape, got f32[12,16]");
    CHECK_STR(err_of(t, build(t, OP_RECURSE_SCATTER, V(x, x, d64, step), NOATTRS)),
              "'recurse' body must map rows f32[12,16] to rows of the same shape, got f32[12,16]");
    CHECK_STR(err_of(t, build(t, OP_RECURSE_SCATTER, V(x, g, in(t, "f32[12]"), step), NOATTRS)),
              "'recurse' expects i32 or i64 depth, got f32[12]");
    ir_module_free(t->m);
    t->m = outer;
}

/* ---- invalid cases: the exact user-facing message ------------------------------------------ */

static void test_errors(T *t)
{
    CHECK_STR(err_of(t, build(t, OP_ADD, V(in(t, "f32[8,64]"), in(t, "f32[8,32]")), NOATTRS)),
              "cannot broadcast [8,64] with [8,32] in 'add'");
    CHECK_STR(err_of(t, build(t, OP_MUL, V(in(t, "f32[N]"), in(t, "f32[M]")), NOATTRS)),
              "cannot broadcast [N] with [M] in 'mul'");
    CHECK_STR(err_of(t, build(t, OP_ADD, V(in(t, "f32[4]"), in(t, "i64[4]")), NOATTRS)),
              "'add' expects operands of equal dtype, got f32[4] and i64[4]");
    CHECK_STR(err_of(t, build(t, OP_DIV, V(in(t, "i64[4]"), in(t, "i64[4]")), NOATTRS)),
              "'div' expects float operands, got i64[4] and i64[4]");
    CHECK_STR(err_of(t, build(t, OP_SUB, V(in(t, "bool[4]"), in(t, "bool[4]")), NOATTRS)),
              "'sub' does not accept bool operands, got bool[4] and bool[4]");
    CHECK_STR(err_of(t, build(t, OP_RELU, V(in(t, "i64[4]")), NOATTRS)),
              "'relu' expects a float input, got i64[4]");
    CHECK_STR(err_of(t, build(t, OP_CAST, V(in(t, "f32[4]")), AT(I(ATTR_DTYPE, DT_F16)))),
              "'cast' target dtype must be f32, i32, i64 or bool, got f16");
    CHECK_STR(err_of(t, build(t, OP_SOFTMAX, V(in(t, "f32[2,3]")), AT(I(ATTR_DIM, 2)))),
              "'softmax' dim 2 is out of range for [2,3]");
    CHECK_STR(err_of(t, build(t, OP_REDUCE_SUM, V(in(t, "f32[2,3]")),
                              AT(INTS(t, ATTR_DIMS, 1, 0), I(ATTR_KEEPDIM, 0)))),
              "'sum' dims must be ascending and unique");
    CHECK_STR(err_of(t, build(t, OP_REDUCE_MEAN, V(in(t, "f32[2,3]")),
                              AT(ir_attr_ints(t->m, ATTR_DIMS, NULL, 0), I(ATTR_KEEPDIM, 0)))),
              "'mean' needs at least one axis in dims");
    CHECK_STR(err_of(t, build(t, OP_ARGMAX, V(in(t, "f32[2,3]")),
                              AT(I(ATTR_DIM, 0), I(ATTR_KEEPDIM, 2)))),
              "'argmax' keepdim must be 0 or 1, got 2");
    CHECK_STR(err_of(t, build(t, OP_MATMUL, V(in(t, "f32[8,784]"), in(t, "f32[512,10]")), NOATTRS)),
              "'matmul' cannot multiply [8,784] by [512,10]: inner dimensions 784 and 512 differ");
    CHECK_STR(err_of(t, build(t, OP_MATMUL, V(in(t, "f32[2,3,4]"), in(t, "f32[5,4,6]")), NOATTRS)),
              "'matmul' cannot broadcast the batch dimensions of [2,3,4] and [5,4,6]");
    CHECK_STR(
        err_of(t, build(t, OP_LINEAR, V(in(t, "f32[N,784]"), in(t, "f32[10,512]"), 0), NOATTRS)),
        "'linear' expects input [...,512] for weight [10,512], got [N,784]");
    CHECK_STR(
        err_of(t, build(t, OP_LINEAR, V(in(t, "f32[N,784]"), in(t, "f32[10,784]"), in(t, "f32[5]")),
                        NOATTRS)),
        "'linear' expects bias [10] for weight [10,784], got [5]");
    CHECK_STR(
        err_of(t, build(t, OP_LINEAR, V(in(t, "f32[N,784]"), in(t, "f32[7840]"), 0), NOATTRS)),
        "'linear' expects a 2-D weight [out,in], got [7840]");
    CHECK_STR(err_of(t, conv(t, in(t, "f32[N,3,32,32]"), in(t, "f32[16,4,3,3]"), 0, 1, 1, 1, 1)),
              "'conv2d' input [N,3,32,32] has 3 channels but weight [16,4,3,3] with groups 1 expects 4");
    CHECK_STR(err_of(t, conv(t, in(t, "f32[1,4,8,8]"), in(t, "f32[15,2,3,3]"), 0, 1, 1, 1, 2)),
              "'conv2d' groups 2 does not divide the 15 output channels of weight [15,2,3,3]");
    CHECK_STR(err_of(t, conv(t, in(t, "f32[1,3,2,2]"), in(t, "f32[4,3,5,5]"), 0, 1, 1, 1, 1)),
              "'conv2d' kernel extent 5 is larger than the padded input height 4 of [1,3,2,2]");
    CHECK_STR(err_of(t, conv(t, in(t, "f32[N,3,H,W]"), in(t, "f32[4,3,3,3]"), 0, 2, 1, 1, 1)),
              "'conv2d' cannot compute the output height from symbolic size H of [N,3,H,W]: only "
              "stride 1 with 2*pad+1 equal to the dilated kernel keeps it");
    CHECK_STR(err_of(t, build(t, OP_CONV2D, V(in(t, "f32[1,3,8,8]"), in(t, "f32[4,3,3,3]"), 0),
                              AT(STRIDE(0, 1), PAD(0, 0), DIL(1, 1), I(ATTR_GROUPS, 1)))),
              "'conv2d' stride must be positive, got [0,1]");
    CHECK_STR(err_of(t, conv(t, in(t, "f32[1,3,8,8]"), in(t, "f32[4,3,3,3]"), 0, 1, 1, 1, 0)),
              "'conv2d' groups must be positive, got 0");
    CHECK_STR(err_of(t, conv(t, in(t, "f32[3,8]"), in(t, "f32[4,3,3,3]"), 0, 1, 1, 1, 1)),
              "'conv2d' expects a [N,C,H,W] or [C,H,W] input, got [3,8]");
    CHECK_STR(err_of(t, conv(t, in(t, "f32[1,3,8,8]"), in(t, "f32[4,3,3,3]"), in(t, "f32[3]"), 1, 1,
                             1, 1)),
              "'conv2d' expects bias [4] for weight [4,3,3,3], got [3]");
    CHECK_STR(err_of(t, build(t, OP_MAX_POOL2D, V(in(t, "f32[1,3,8,8]")),
                              AT(KERNEL(3, 3), STRIDE(1, 1), PAD(2, 2)))),
              "'max_pool2d' pad [2,2] must be at most half of kernel [3,3]");
    CHECK_STR(err_of(t, build(t, OP_AVG_POOL2D, V(in(t, "f32[1,3,2,8]")),
                              AT(KERNEL(3, 3), STRIDE(1, 1), PAD(0, 0)))),
              "'avg_pool2d' window extent 3 is larger than the padded input height 2 of [1,3,2,8]");
    CHECK_STR(err_of(t, build(t, OP_BATCH_NORM,
                              V(in(t, "f32[N,16,8,8]"), in(t, "f32[8]"), in(t, "f32[16]"), 0, 0),
                              AT(F(ATTR_EPS, 1e-5)))),
              "'batch_norm' expects mean [16] for input [N,16,8,8], got f32[8]");
    CHECK_STR(err_of(t, build(t, OP_LAYER_NORM, V(in(t, "f32[N,64]"), in(t, "f32[32]"), 0),
                              AT(F(ATTR_EPS, 1e-5)))),
              "'layer_norm' expects weight [64] for input [N,64], got f32[32]");
    CHECK_STR(err_of(t, build(t, OP_RMS_NORM, V(in(t, "f32[N,64]"), 0), AT(F(ATTR_EPS, -1.0)))),
              "'rms_norm' eps must be finite and non-negative, got -1");
    CHECK_STR(err_of(t, build(t, OP_ATTENTION,
                              V(in(t, "f32[2,8,16]"), in(t, "f32[2,8,32]"), in(t, "f32[2,8,32]")),
                              AT(I(ATTR_CAUSAL, 0), F(ATTR_SCALE, 0.25)))),
              "'attention' expects keys of size 16 like the queries [2,8,16], got k [2,8,32]");
    CHECK_STR(err_of(t, build(t, OP_ATTENTION,
                              V(in(t, "f32[2,8,16]"), in(t, "f32[2,8,16]"), in(t, "f32[2,6,16]")),
                              AT(I(ATTR_CAUSAL, 0), F(ATTR_SCALE, 0.25)))),
              "'attention' expects as many values as keys, got k [2,8,16] and v [2,6,16]");
    CHECK_STR(err_of(t, build(t, OP_RESHAPE, V(in(t, "f32[2,6]")), AT(shape_of(t, "f32[5,2]")))),
              "'reshape' cannot reshape [2,6] (12 elements) to [5,2] (10 elements)");
    CHECK_STR(err_of(t, build(t, OP_RESHAPE, V(in(t, "f32[N,4]")), AT(shape_of(t, "f32[M,4]")))),
              "'reshape' cannot reshape [N,4] (4*N elements) to [M,4] (4*M elements)");
    CHECK_STR(err_of(t, build(t, OP_RESHAPE, V(in(t, "f32[2,6]")), AT(INTS(t, ATTR_SHAPE, -1, 6)))),
              "'reshape' shape entry 0 is not a valid size");
    CHECK_STR(
        err_of(t, build(t, OP_PERMUTE, V(in(t, "f32[2,3,4]")), AT(INTS(t, ATTR_PERM, 0, 1, 1)))),
        "'permute' perm [0,1,1] is not a permutation of the 3 axes of [2,3,4]");
    CHECK_STR(err_of(t, build(t, OP_PERMUTE, V(in(t, "f32[2,3,4]")), AT(INTS(t, ATTR_PERM, 1, 0)))),
              "'permute' perm [1,0] is not a permutation of the 3 axes of [2,3,4]");
    CHECK_STR(err_of(t, slice(t, in(t, "f32[4,10]"), 2, (int64_t[]){0, 2}, (int64_t[]){4, 12},
                              (int64_t[]){1, 1})),
              "'slice' range 2:12 is out of bounds for axis 1 of [4,10]");
    CHECK_STR(err_of(t, slice(t, in(t, "f32[4,10]"), 2, (int64_t[]){0, 11},
                              (int64_t[]){4, INT64_MAX}, (int64_t[]){1, 1})),
              "'slice' range 11: is out of bounds for axis 1 of [4,10]");
    CHECK_STR(err_of(t, slice(t, in(t, "f32[N,4]"), 2, (int64_t[]){1, 0}, (int64_t[]){INT64_MAX, 4},
                              (int64_t[]){1, 1})),
              "'slice' can only take symbolic dimension N of [N,4] whole");
    CHECK_STR(err_of(t, slice(t, in(t, "f32[4,10]"), 2, (int64_t[]){0, 0}, (int64_t[]){4, 10},
                              (int64_t[]){0, 1})),
              "'slice' step must be positive, got 0 for axis 0");
    CHECK_STR(
        err_of(t, build(t, OP_CONCAT, V(in(t, "f32[2,3]"), in(t, "f32[4,4]")), AT(I(ATTR_DIM, 1)))),
        "'concat' expects operands that match except in dim 1, got [2,3] and [4,4]");
    CHECK_STR(
        err_of(t, build(t, OP_CONCAT, V(in(t, "f32[N,4]"), in(t, "f32[3,4]")), AT(I(ATTR_DIM, 0)))),
        "'concat' cannot add sizes N and 3 along dim 0");
    CHECK_STR(err_of(t, build(t, OP_EMBEDDING, V(in(t, "f32[4]"), in(t, "f32[10,2]")), NOATTRS)),
              "'embedding' expects i32 or i64 ids, got f32[4]");
    CHECK_STR(err_of(t, build(t, OP_EMBEDDING, V(in(t, "i64[4]"), in(t, "f32[10]")), NOATTRS)),
              "'embedding' expects a 2-D table [n,d], got [10]");
    CHECK_STR(err_of(t, build(t, OP_TAKE, V(in(t, "f32[0]"), in(t, "i64[3]")), NOATTRS)),
              "'take' cannot index the empty tensor [0]");
    CHECK_STR(err_of(t, build(t, OP_KRON, V(in(t, "f32[2,3]"), in(t, "f32[3]")), NOATTRS)),
              "'kron' expects operands of equal rank, got [2,3] and [3]");
    CHECK_STR(err_of(t, build(t, OP_HASHED, V(in(t, "f32[10]")),
                              AT(shape_of(t, "f32[4]"), I(ATTR_SEED, -1)))),
              "'hashed' seed must be in 0..4294967295, got -1");
    CHECK_STR(err_of(t, build(t, OP_HASHED, V(in(t, "i64[10]")),
                              AT(shape_of(t, "f32[4]"), I(ATTR_SEED, 1)))),
              "'hashed' expects a float pool, got i64[10]");
    CHECK_STR(
        err_of(t, build(t, OP_HASH_ROUTE, V(in(t, "i64[4]")), AT(I(ATTR_NUM, 0), I(ATTR_SEED, 1)))),
        "'hash_route' number of experts must be positive, got 0");
}

/* ---- FLOP counts (multiply-add = 2, symbols count as 1) ------------------------------------- */

static void test_flops(T *t)
{
    ValueId x = in(t, "f32[N,784]"), w = in(t, "f32[10,784]"), b = in(t, "f32[10]");
    ValueId y = build(t, OP_LINEAR, V(x, w, b), NOATTRS);
    CHECK_EQ_INT(ir_op_flops(t->m, ir_op(t->m, ir_value(t->m, y)->def)), 2 * 784 * 10 + 10);
    y = build(t, OP_MATMUL, V(in(t, "f32[2,3,4]"), in(t, "f32[4,5]")), NOATTRS);
    CHECK_EQ_INT(ir_op_flops(t->m, ir_op(t->m, ir_value(t->m, y)->def)), 2 * 2 * 3 * 5 * 4);
    y = conv(t, in(t, "f32[1,4,8,8]"), in(t, "f32[6,2,3,3]"), 0, 1, 1, 1, 2);
    CHECK_EQ_INT(ir_op_flops(t->m, ir_op(t->m, ir_value(t->m, y)->def)), 2 * 6 * 8 * 8 * 2 * 3 * 3);
    y = build(t, OP_RELU, V(in(t, "f32[N,5]")), NOATTRS);
    CHECK_EQ_INT(ir_op_flops(t->m, ir_op(t->m, ir_value(t->m, y)->def)), 5);
    y = build(t, OP_MAX_POOL2D, V(in(t, "f32[1,2,4,4]")),
              AT(KERNEL(2, 2), STRIDE(2, 2), PAD(0, 0)));
    CHECK_EQ_INT(ir_op_flops(t->m, ir_op(t->m, ir_value(t->m, y)->def)), 2 * 2 * 2 * 4);
    y = build(t, OP_RESHAPE, V(in(t, "f32[2,6]")), AT(shape_of(t, "f32[12]")));
    CHECK_EQ_INT(ir_op_flops(t->m, ir_op(t->m, ir_value(t->m, y)->def)), 0);
}

int main(void)
{
    T t = {0};
    t.m = ir_module_new("shapes");
    test_broadcast(&t);
    test_recurse(&t);
    test_types(&t);
    test_errors(&t);
    test_flops(&t);
    ir_module_free(t.m);
    return check_done();
}
