/* SPDX-License-Identifier: MIT
 * test_interp.c - the reference interpreter (passes/interp.c) on hand-computed examples
 * for every op, input checking (dtype, rank, dims, symbol agreement, bounds), run-time
 * index errors, dead ops, and outputs that alias inputs. Expected values are worked out
 * by hand (or, for hashed/hash_route, from the spec formula written independently here).
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "passes/passes.h"

typedef struct T {
    Module *m;
    char err[512];
    bool covered[OP_COUNT]; /* kinds that ran successfully in some test */
} T;

/* ---- helpers ------------------------------------------------------------------------- */

static void fresh(T *t)
{
    ir_module_free(t->m);
    t->m = ir_module_new("test");
}

static SymId symbol(Module *m, const char *name, size_t len, int64_t bound)
{
    for (SymId s = 1; s < m->syms.n; s++)
        if (strlen(m->syms.v[s].name) == len && strncmp(m->syms.v[s].name, name, len) == 0)
            return s;
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%.*s", (int)len, name);
    return ir_add_symbol(m, tmp, bound, (Span){0});
}

/* "f32[N,3,2*B]" -> TensorType; "N<=64" declares a bound on first use. */
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
                char *end;
                d = ir_dim_mul(t->m, d, strtoll(p, &end, 10));
                p = end;
            } else {
                const char *q = p;
                int64_t bound = 0;
                while (isalnum((unsigned char)*q) || *q == '_') q++;
                size_t len = (size_t)(q - p);
                if (q[0] == '<' && q[1] == '=') {
                    char *end;
                    bound = strtoll(q + 2, &end, 10);
                    q = end;
                }
                d = ir_dim_mul(t->m, d, ir_dim_symbol(t->m, symbol(t->m, p, len, bound)));
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

static ValueId in(T *t, const char *name, const char *type)
{
    TensorType tt = ty(t, type);
    return ir_add_input(t->m, name, &tt, (Span){0});
}

/* A constant with data of the type's dtype. */
static ValueId cst(T *t, const char *type, const void *data)
{
    TensorType tt = ty(t, type);
    return ir_add_const(t->m, &tt, data, (Span){0});
}

static ValueId op(T *t, OpKind k, const ValueId *v, unsigned nin, const Attr *a, unsigned na)
{
    ValueId r = ir_add_op(t->m, k, v, nin, a, na, NULL, (Span){0}, t->err, sizeof t->err);
    if (!r) fprintf(stderr, "building '%s' failed: %s\n", op_info[k].name, t->err);
    CHECK(r != 0);
    return r;
}

static void out(T *t, const char *name, ValueId v) { ir_add_output(t->m, name, v, (Span){0}); }

/* Runs the module; on success marks every live op kind as covered. */
static bool run(T *t, const Tensor *inputs, Tensor *outputs)
{
    t->err[0] = '\0';
    bool ok = interp_run(t->m, inputs, outputs, t->err, sizeof t->err);
    if (ok)
        for (OpId o = 1; o < t->m->ops.n; o++)
            if (!(t->m->ops.v[o].flags & OPF_DEAD)) t->covered[t->m->ops.v[o].kind] = true;
    return ok;
}

/* A borrowed tensor: dims as "[2,3]". */
static Tensor tens(DType dt, const char *dims, const void *data)
{
    Tensor r;
    memset(&r, 0, sizeof r);
    r.dtype = dt;
    for (const char *p = dims + 1; *p && *p != ']';) {
        char *end;
        r.dims[r.rank++] = strtoll(p, &end, 10);
        p = *end == ',' ? end + 1 : end;
    }
    r.data = (void *)data;
    return r;
}

static const char *dims_of(const Tensor *x, char *buf, size_t len)
{
    size_t at = (size_t)snprintf(buf, len, "[");
    for (unsigned i = 0; i < x->rank; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%lld", i ? "," : "", (long long)x->dims[i]);
    snprintf(buf + at, len - at, "]");
    return buf;
}

/* Checks dims, dtype and values (|a-b| <= 1e-5 + 1e-5*|b|), then frees the tensor. */
static void expect_f32(Tensor *o, const char *dims, const float *want, size_t n, int line)
{
    char b[128];
    CHECK_STR(dims_of(o, b, sizeof b), dims);
    CHECK_EQ_INT(o->dtype, DT_F32);
    CHECK_EQ_INT(tensor_numel(o), n);
    for (size_t i = 0; o->data && i < n && (int64_t)i < tensor_numel(o); i++) {
        float got = ((const float *)o->data)[i];
        bool ok = fabsf(got - want[i]) <= 1e-5f + 1e-5f * fabsf(want[i]) ||
                  (isnan(got) && isnan(want[i])) || got == want[i];
        if (!ok)
            fprintf(stderr, "line %d: element %zu is %.9g, expected %.9g\n", line, i, got, want[i]);
        CHECK(ok);
    }
    tensor_free(o);
}

static void expect_i64(Tensor *o, const char *dims, const int64_t *want, size_t n, int line)
{
    char b[128];
    CHECK_STR(dims_of(o, b, sizeof b), dims);
    CHECK_EQ_INT(o->dtype, DT_I64);
    CHECK_EQ_INT(tensor_numel(o), n);
    for (size_t i = 0; o->data && i < n && (int64_t)i < tensor_numel(o); i++) {
        int64_t got = ((const int64_t *)o->data)[i];
        if (got != want[i])
            fprintf(stderr, "line %d: element %zu is %lld, expected %lld\n", line, i,
                    (long long)got, (long long)want[i]);
        CHECK_EQ_INT(got, want[i]);
    }
    tensor_free(o);
}

#define V(...)                                                                                     \
    ((const ValueId[]){__VA_ARGS__}), (unsigned)(sizeof((ValueId[]){__VA_ARGS__}) / sizeof(ValueId))
#define AT(...)                                                                                    \
    ((const Attr[]){__VA_ARGS__}), (unsigned)(sizeof((Attr[]){__VA_ARGS__}) / sizeof(Attr))
#define NOATTRS NULL, 0u
#define INTS(key, ...)                                                                             \
    ir_attr_ints(t->m, key, (const int64_t[]){__VA_ARGS__},                                        \
                 (uint32_t)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define I(key, v) ir_attr_int(key, v)
#define F(key, v) ir_attr_float(key, v)
#define FL(...) ((const float[]){__VA_ARGS__})
#define IL(...) ((const int64_t[]){__VA_ARGS__})
#define EXPECT_F32(o, dims, ...)                                                                   \
    expect_f32(o, dims, FL(__VA_ARGS__), sizeof(FL(__VA_ARGS__)) / sizeof(float), __LINE__)
#define EXPECT_I64(o, dims, ...)                                                                   \
    expect_i64(o, dims, IL(__VA_ARGS__), sizeof(IL(__VA_ARGS__)) / sizeof(int64_t), __LINE__)
#define PAIR(key, a, b) ir_attr_ints(t->m, key, (const int64_t[]){a, b}, 2)

/* Runs a module with one input and one output; false (with t->err) on failure. */
static bool run1(T *t, Tensor x, Tensor *y)
{
    bool ok = run(t, &x, y);
    if (!ok) fprintf(stderr, "run failed: %s\n", t->err);
    CHECK(ok);
    return ok;
}

/* ---- elementwise ------------------------------------------------------------------------ */

static void test_unary(T *t)
{
    static const struct {
        OpKind k;
        float x[3], want[3];
    } cases[] = {
        {OP_RELU, {-1, 0, 2}, {0, 0, 2}},
        {OP_RELU6, {-1, 3, 7}, {0, 3, 6}},
        {OP_GELU, {1, 0, -1}, {0.84134475f, 0, -0.15865525f}},
        {OP_GELU_TANH, {1, 0, -1}, {0.84119199f, 0, -0.15880801f}},
        {OP_SILU, {1, 0, -1}, {0.73105858f, 0, -0.26894142f}},
        {OP_SIGMOID, {0, 1, -1}, {0.5f, 0.73105858f, 0.26894142f}},
        {OP_TANH, {0, 0.5f, -0.5f}, {0, 0.46211716f, -0.46211716f}},
        {OP_HARDSWISH, {1, -4, 4}, {0.66666667f, 0, 4}},
        {OP_HARDSIGMOID, {1, -4, 4}, {0.66666667f, 0, 1}},
        {OP_EXP, {0, 1, -1}, {1, 2.7182818f, 0.36787944f}},
        {OP_LOG, {1, 2.7182818f, 0.5f}, {0, 1, -0.69314718f}},
        {OP_SQRT, {4, 0, 2}, {2, 0, 1.41421356f}},
        {OP_RSQRT, {4, 1, 0.25f}, {0.5f, 1, 2}},
        {OP_ABS, {-2, 0, 3}, {2, 0, 3}},
        {OP_NEG, {3, 0, -1.5f}, {-3, 0, 1.5f}},
        {OP_ROUND_F16, {3.14159265f, 65519, 2049}, {3.140625f, 65504, 2048}}, /* ties to even */
        {OP_ROUND_BF16, {3.14159265f, 257, 259}, {3.140625f, 256, 260}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fresh(t);
        ValueId x = in(t, "x", "f32[3]");
        out(t, "y", op(t, cases[i].k, V(x), NOATTRS));
        Tensor y;
        if (run1(t, tens(DT_F32, "[3]", cases[i].x), &y))
            expect_f32(&y, "[3]", cases[i].want, 3, __LINE__);
    }
}

static void test_binary(T *t)
{
    Tensor y[4];
    fresh(t);
    ValueId a = in(t, "a", "f32[2,3]"), b = cst(t, "f32[3]", FL(10, 20, 30));
    out(t, "add", op(t, OP_ADD, V(a, b), NOATTRS));
    out(t, "sub", op(t, OP_SUB, V(b, a), NOATTRS));
    out(t, "mul", op(t, OP_MUL, V(a, cst(t, "f32[2,1]", FL(2, -1))), NOATTRS));
    out(t, "div", op(t, OP_DIV, V(a, cst(t, "f32[]", FL(4))), NOATTRS));
    Tensor x = tens(DT_F32, "[2,3]", FL(1, 2, 3, 4, 5, 6));
    CHECK(run(t, &x, y));
    EXPECT_F32(&y[0], "[2,3]", 11, 22, 33, 14, 25, 36);
    EXPECT_F32(&y[1], "[2,3]", 9, 18, 27, 6, 15, 24);
    EXPECT_F32(&y[2], "[2,3]", 2, 4, 6, -4, -5, -6);
    EXPECT_F32(&y[3], "[2,3]", 0.25f, 0.5f, 0.75f, 1, 1.25f, 1.5f);

    /* integers: [2,1] - [1,3] broadcasts both ways; i32 wraps like torch */
    fresh(t);
    ValueId p = in(t, "p", "i64[2,1]"), q = in(t, "q", "i64[1,3]");
    out(t, "d", op(t, OP_SUB, V(p, q), NOATTRS));
    ValueId r = in(t, "r", "i32[2]");
    out(t, "m", op(t, OP_MUL, V(r, r), NOATTRS));
    Tensor ins[3] = {tens(DT_I64, "[2,1]", IL(10, 20)), tens(DT_I64, "[1,3]", IL(1, 2, 3)),
                     tens(DT_I32, "[2]", ((const int32_t[]){-3, 65536}))};
    CHECK(run(t, ins, y));
    EXPECT_I64(&y[0], "[2,3]", 9, 8, 7, 19, 18, 17);
    CHECK_EQ_INT(y[1].dtype, DT_I32);
    CHECK_EQ_INT(((int32_t *)y[1].data)[0], 9);
    CHECK_EQ_INT(((int32_t *)y[1].data)[1], 0); /* 2^32 wraps to 0 */
    tensor_free(&y[1]);
}

static void test_cast(T *t)
{
    Tensor y[3];
    fresh(t);
    ValueId x = in(t, "x", "f32[5]"), n = in(t, "n", "i64[3]");
    out(t, "i", op(t, OP_CAST, V(x), AT(I(ATTR_DTYPE, DT_I32))));
    out(t, "b", op(t, OP_CAST, V(x), AT(I(ATTR_DTYPE, DT_BOOL))));
    out(t, "f", op(t, OP_CAST, V(n), AT(I(ATTR_DTYPE, DT_F32))));
    Tensor ins[2] = {tens(DT_F32, "[5]", FL(-1.7f, 2.9f, 0, -0.2f, 100.5f)),
                     tens(DT_I64, "[3]", IL(-5, 0, 1 << 24))};
    CHECK(run(t, ins, y));
    const int32_t *iv = y[0].data;
    CHECK(iv[0] == -1 && iv[1] == 2 && iv[2] == 0 && iv[3] == 0 && iv[4] == 100);
    const uint8_t *bv = y[1].data;
    CHECK(bv[0] == 1 && bv[1] == 1 && bv[2] == 0 && bv[3] == 1 && bv[4] == 1);
    tensor_free(&y[0]);
    tensor_free(&y[1]);
    EXPECT_F32(&y[2], "[3]", -5, 0, 16777216);
}

/* ---- softmax, reductions, argmax ---------------------------------------------------------- */

static void test_softmax(T *t)
{
    Tensor y[3];
    fresh(t);
    ValueId x = in(t, "x", "f32[2,3]");
    out(t, "s", op(t, OP_SOFTMAX, V(x), AT(I(ATTR_DIM, 1))));
    out(t, "l", op(t, OP_LOG_SOFTMAX, V(x), AT(I(ATTR_DIM, 1))));
    out(t, "c", op(t, OP_SOFTMAX, V(x), AT(I(ATTR_DIM, 0))));
    /* row 0: softmax(0, ln 2, ln 5) = (1,2,5)/8; row 1 is huge but stable */
    Tensor xt = tens(DT_F32, "[2,3]", FL(0, 0.69314718f, 1.60943791f, 1000, 1000, 1001));
    CHECK(run(t, &xt, y));
    const float *s = y[0].data;
    CHECK(fabsf(s[3] + s[4] + s[5] - 1) < 1e-6f);
    float e = expf(1);
    EXPECT_F32(&y[0], "[2,3]", 0.125f, 0.25f, 0.625f, 1 / (2 + e), 1 / (2 + e), e / (2 + e));
    EXPECT_F32(&y[1], "[2,3]", -2.07944154f, -1.38629436f, -0.47000363f, -logf(2 + e), -logf(2 + e),
               1 - logf(2 + e));
    /* over dim 0: each column of (x0, x1) where x1 >> x0 gives (0, 1) */
    EXPECT_F32(&y[2], "[2,3]", 0, 0, 0, 1, 1, 1);
}

static void test_reduce(T *t)
{
    Tensor y[6];
    fresh(t);
    ValueId x = in(t, "x", "f32[2,3]");
    out(t, "sum", op(t, OP_REDUCE_SUM, V(x), AT(INTS(ATTR_DIMS, 1), I(ATTR_KEEPDIM, 0))));
    out(t, "mean", op(t, OP_REDUCE_MEAN, V(x), AT(INTS(ATTR_DIMS, 0), I(ATTR_KEEPDIM, 1))));
    out(t, "max", op(t, OP_REDUCE_MAX, V(x), AT(INTS(ATTR_DIMS, 0, 1), I(ATTR_KEEPDIM, 1))));
    out(t, "min", op(t, OP_REDUCE_MIN, V(x), AT(INTS(ATTR_DIMS, 1), I(ATTR_KEEPDIM, 0))));
    out(t, "arg", op(t, OP_ARGMAX, V(x), AT(I(ATTR_DIM, 1), I(ATTR_KEEPDIM, 0))));
    out(t, "flat", op(t, OP_ARGMAX, V(x), AT(I(ATTR_DIM, -1), I(ATTR_KEEPDIM, 0))));
    Tensor xt = tens(DT_F32, "[2,3]", FL(1, 3, 3, 5, 5, -6));
    CHECK(run(t, &xt, y));
    EXPECT_F32(&y[0], "[2]", 7, 4);
    EXPECT_F32(&y[1], "[1,3]", 3, 4, -1.5f);
    EXPECT_F32(&y[2], "[1,1]", 5);
    EXPECT_F32(&y[3], "[2]", 1, -6);
    EXPECT_I64(&y[4], "[2]", 1, 0); /* ties: the first maximum wins */
    EXPECT_I64(&y[5], "[]", 3);

    /* a 3-D reduction over the middle axis, argmax on ints with keepdim */
    fresh(t);
    x = in(t, "x", "f32[2,2,2]");
    out(t, "s", op(t, OP_REDUCE_SUM, V(x), AT(INTS(ATTR_DIMS, 1), I(ATTR_KEEPDIM, 0))));
    ValueId n = cst(t, "i64[2,2]", IL(4, 9, 9, 2));
    out(t, "a", op(t, OP_ARGMAX, V(n), AT(I(ATTR_DIM, 0), I(ATTR_KEEPDIM, 1))));
    xt = tens(DT_F32, "[2,2,2]", FL(1, 2, 3, 4, 5, 6, 7, 8));
    CHECK(run(t, &xt, y));
    EXPECT_F32(&y[0], "[2,2]", 4, 6, 12, 14);
    EXPECT_I64(&y[1], "[1,2]", 1, 0);
}

/* ---- matmul, linear ---------------------------------------------------------------------- */

static void test_matmul(T *t)
{
    Tensor y[4];
    fresh(t);
    ValueId a = in(t, "a", "f32[2,3]");
    ValueId b = cst(t, "f32[3,2]", FL(1, 0, 0, 1, 1, 1));
    ValueId v3 = cst(t, "f32[3]", FL(1, 2, 3));
    out(t, "mm", op(t, OP_MATMUL, V(a, b), NOATTRS));
    out(t, "mv", op(t, OP_MATMUL, V(a, v3), NOATTRS));   /* [2,3] @ [3] -> [2] */
    out(t, "vm", op(t, OP_MATMUL, V(v3, b), NOATTRS));   /* [3] @ [3,2] -> [2] */
    out(t, "dot", op(t, OP_MATMUL, V(v3, v3), NOATTRS)); /* [3] @ [3] -> [] */
    Tensor at = tens(DT_F32, "[2,3]", FL(1, 2, 3, 4, 5, 6));
    CHECK(run(t, &at, y));
    EXPECT_F32(&y[0], "[2,2]", 4, 5, 10, 11);
    EXPECT_F32(&y[1], "[2]", 14, 32);
    EXPECT_F32(&y[2], "[2]", 4, 5);
    EXPECT_F32(&y[3], "[]", 14);

    /* batch broadcasting: [2,1,1,2] @ [3,2,1] -> [2,3,1,1] */
    fresh(t);
    ValueId p = in(t, "p", "f32[2,1,1,2]"), q = in(t, "q", "f32[3,2,1]");
    out(t, "r", op(t, OP_MATMUL, V(p, q), NOATTRS));
    Tensor ins[2] = {tens(DT_F32, "[2,1,1,2]", FL(1, 2, 3, 4)),
                     tens(DT_F32, "[3,2,1]", FL(1, 0, 0, 1, 1, 1))};
    CHECK(run(t, ins, y));
    EXPECT_F32(&y[0], "[2,3,1,1]", 1, 2, 3, 3, 4, 7);
}

static void test_linear(T *t)
{
    Tensor y[2];
    fresh(t);
    ValueId x = in(t, "x", "f32[N,3]");
    ValueId w = cst(t, "f32[2,3]", FL(1, 0, -1, 0.5f, 0.5f, 0.5f)),
            b = cst(t, "f32[2]", FL(10, 20));
    out(t, "y", op(t, OP_LINEAR, V(x, w, b), NOATTRS));
    out(t, "z", op(t, OP_LINEAR, V(x, w, 0), NOATTRS));
    Tensor xt = tens(DT_F32, "[3,3]", FL(1, 2, 3, 4, 5, 6, -1, 0, 1));
    CHECK(run(t, &xt, y));
    EXPECT_F32(&y[0], "[3,2]", 8, 23, 8, 27.5f, 8, 20);
    EXPECT_F32(&y[1], "[3,2]", -2, 3, -2, 7.5f, -2, 0);
}

/* ---- convolution and pooling ----------------------------------------------------------- */

static Attr conv_attrs_groups(int64_t g) { return ir_attr_int(ATTR_GROUPS, g); }

static void test_conv(T *t)
{
    Tensor y[4];
    fresh(t);
    /* x = 1..9 as 3x3; w = [[1,0],[0,-1]]: out[i][j] = x[i][j] - x[i+1][j+1] = -4 */
    ValueId x = in(t, "x", "f32[1,1,3,3]");
    ValueId w = cst(t, "f32[1,1,2,2]", FL(1, 0, 0, -1));
    out(t, "plain",
        op(t, OP_CONV2D, V(x, w, 0),
           AT(PAIR(ATTR_STRIDE, 1, 1), PAIR(ATTR_PAD, 0, 0), PAIR(ATTR_DILATION, 1, 1),
              conv_attrs_groups(1))));
    /* pad 1, stride 2: windows start at -1 and 1; out[0][0] = -x[0][0] = -1,
     * out[0][1] = -x[0][2] = -3, out[1][0] = -x[2][0] = -7, out[1][1] = x[1][1] - x[2][2] = -4 */
    out(t, "strided",
        op(t, OP_CONV2D, V(x, w, cst(t, "f32[1]", FL(100))),
           AT(PAIR(ATTR_STRIDE, 2, 2), PAIR(ATTR_PAD, 1, 1), PAIR(ATTR_DILATION, 1, 1),
              conv_attrs_groups(1))));
    /* dilation 2: one output, x[0][0]*1 + x[2][2]*(-1) = 1 - 9 */
    out(t, "dilated",
        op(t, OP_CONV2D, V(x, w, 0),
           AT(PAIR(ATTR_STRIDE, 1, 1), PAIR(ATTR_PAD, 0, 0), PAIR(ATTR_DILATION, 2, 2),
              conv_attrs_groups(1))));
    /* a [1,2] kernel, stride (1,2), pad (0,1): out[i][j] = x[i][2j-1] + 2 x[i][2j] (0 outside) */
    out(t, "rect",
        op(t, OP_CONV2D, V(x, cst(t, "f32[1,1,1,2]", FL(1, 2)), 0),
           AT(PAIR(ATTR_STRIDE, 1, 2), PAIR(ATTR_PAD, 0, 1), PAIR(ATTR_DILATION, 1, 1),
              conv_attrs_groups(1))));
    Tensor xt = tens(DT_F32, "[1,1,3,3]", FL(1, 2, 3, 4, 5, 6, 7, 8, 9));
    CHECK(run(t, &xt, y));
    EXPECT_F32(&y[0], "[1,1,2,2]", -4, -4, -4, -4);
    EXPECT_F32(&y[1], "[1,1,2,2]", 99, 97, 93, 96);
    EXPECT_F32(&y[2], "[1,1,1,1]", -8);
    EXPECT_F32(&y[3], "[1,1,3,2]", 2, 8, 8, 17, 14, 26);

    /* groups 2 on an unbatched [2,2,2] input: channel c is scaled by (c+2) into output
     * channels 2c, 2c+1 with biases */
    fresh(t);
    x = in(t, "x", "f32[2,2,2]");
    w = cst(t, "f32[4,1,1,1]", FL(2, -2, 3, -3));
    out(t, "g",
        op(t, OP_CONV2D, V(x, w, cst(t, "f32[4]", FL(0, 1, 0, 1))),
           AT(PAIR(ATTR_STRIDE, 1, 1), PAIR(ATTR_PAD, 0, 0), PAIR(ATTR_DILATION, 1, 1),
              conv_attrs_groups(2))));
    xt = tens(DT_F32, "[2,2,2]", FL(1, 2, 3, 4, 10, 20, 30, 40));
    CHECK(run(t, &xt, y));
    EXPECT_F32(&y[0], "[4,2,2]", 2, 4, 6, 8, -1, -3, -5, -7, 30, 60, 90, 120, -29, -59, -89, -119);

    /* two input channels summed, batch of 2: w = ones [1,2,1,1] */
    fresh(t);
    x = in(t, "x", "f32[N,2,1,2]");
    out(t, "s",
        op(t, OP_CONV2D, V(x, cst(t, "f32[1,2,1,1]", FL(1, 1)), 0),
           AT(PAIR(ATTR_STRIDE, 1, 1), PAIR(ATTR_PAD, 0, 0), PAIR(ATTR_DILATION, 1, 1),
              conv_attrs_groups(1))));
    xt = tens(DT_F32, "[2,2,1,2]", FL(1, 2, 3, 4, 5, 6, 7, 8));
    CHECK(run(t, &xt, y));
    EXPECT_F32(&y[0], "[2,1,1,2]", 4, 6, 12, 14);
}

static void test_pool(T *t)
{
    Tensor y[3];
    fresh(t);
    ValueId x = in(t, "x", "f32[1,1,2,2]");
    Attr pa[3] = {PAIR(ATTR_KERNEL, 2, 2), PAIR(ATTR_STRIDE, 1, 1), PAIR(ATTR_PAD, 1, 1)};
    out(t, "max", op(t, OP_MAX_POOL2D, V(x), pa, 3));
    out(t, "avg", op(t, OP_AVG_POOL2D, V(x), pa, 3));
    out(t, "big",
        op(t, OP_MAX_POOL2D, V(x),
           AT(PAIR(ATTR_KERNEL, 2, 2), PAIR(ATTR_STRIDE, 2, 2), PAIR(ATTR_PAD, 0, 0))));
    /* negative values show the -inf padding of max pooling (zero padding would give 0) */
    Tensor xt = tens(DT_F32, "[1,1,2,2]", FL(-1, -2, -3, -4));
    CHECK(run(t, &xt, y));
    EXPECT_F32(&y[0], "[1,1,3,3]", -1, -1, -2, -1, -1, -2, -3, -3, -4);
    /* count_include_pad: every window divides by 4 */
    EXPECT_F32(&y[1], "[1,1,3,3]", -0.25f, -0.75f, -0.5f, -1, -2.5f, -1.5f, -0.75f, -1.75f, -1);
    EXPECT_F32(&y[2], "[1,1,1,1]", -1);

    /* unbatched [C,H,W], rectangular window 1x3 with stride 2 over width 5 */
    fresh(t);
    x = in(t, "x", "f32[1,1,5]");
    out(t, "m",
        op(t, OP_MAX_POOL2D, V(x),
           AT(PAIR(ATTR_KERNEL, 1, 3), PAIR(ATTR_STRIDE, 1, 2), PAIR(ATTR_PAD, 0, 0))));
    out(t, "a",
        op(t, OP_AVG_POOL2D, V(x),
           AT(PAIR(ATTR_KERNEL, 1, 3), PAIR(ATTR_STRIDE, 1, 2), PAIR(ATTR_PAD, 0, 0))));
    xt = tens(DT_F32, "[1,1,5]", FL(1, 5, 2, 0, 3));
    CHECK(run(t, &xt, y));
    EXPECT_F32(&y[0], "[1,1,2]", 5, 3);
    EXPECT_F32(&y[1], "[1,1,2]", 8.0f / 3, 5.0f / 3);
}

/* ---- normalization, attention -------------------------------------------------------------- */

static void test_norms(T *t)
{
    Tensor y[5];
    fresh(t);
    ValueId x = in(t, "x", "f32[1,2,1,2]");
    ValueId mean = cst(t, "f32[2]", FL(2, 3)), var = cst(t, "f32[2]", FL(1, 4));
    ValueId w = cst(t, "f32[2]", FL(1, 2)), b = cst(t, "f32[2]", FL(0, 1));
    out(t, "bn", op(t, OP_BATCH_NORM, V(x, mean, var, w, b), AT(F(ATTR_EPS, 0))));
    out(t, "bn0", op(t, OP_BATCH_NORM, V(x, mean, var, 0, 0), AT(F(ATTR_EPS, 3))));
    Tensor xt = tens(DT_F32, "[1,2,1,2]", FL(1, 3, 2, 4));
    CHECK(run(t, &xt, y));
    EXPECT_F32(&y[0], "[1,2,1,2]", -1, 1, 0, 2);
    EXPECT_F32(&y[1], "[1,2,1,2]", -0.5f, 0.5f, -0.37796447f, 0.37796447f);

    fresh(t);
    x = in(t, "x", "f32[2,4]");
    ValueId w4 = cst(t, "f32[4]", FL(1, 2, 1, 1)), b4 = cst(t, "f32[4]", FL(0, 0, 0, 10));
    out(t, "ln", op(t, OP_LAYER_NORM, V(x, w4, b4), AT(F(ATTR_EPS, 0))));
    out(t, "ln0", op(t, OP_LAYER_NORM, V(x, 0, 0), AT(F(ATTR_EPS, 0))));
    out(t, "rms", op(t, OP_RMS_NORM, V(x, w4), AT(F(ATTR_EPS, 0))));
    out(t, "rms0", op(t, OP_RMS_NORM, V(x, 0), AT(F(ATTR_EPS, 0))));
    /* row 0: mean 2.5, biased var 1.25; row 1 constant -> 0 with eps 0 would be 0/0, so
     * use 3,4,3,4 (mean 3.5, var 0.25). rms of (1,2,3,4) is sqrt(7.5); of (3,4,3,4) sqrt(12.5) */
    xt = tens(DT_F32, "[2,4]", FL(1, 2, 3, 4, 3, 4, 3, 4));
    CHECK(run(t, &xt, y));
    EXPECT_F32(&y[0], "[2,4]", -1.34164079f, -0.89442719f, 0.44721360f, 11.34164079f, -1, 2, -1,
               11);
    EXPECT_F32(&y[1], "[2,4]", -1.34164079f, -0.44721360f, 0.44721360f, 1.34164079f, -1, 1, -1, 1);
    EXPECT_F32(&y[2], "[2,4]", 0.36514837f, 1.46059349f, 1.09544512f, 1.46059349f, 0.84852814f,
               2.26274170f, 0.84852814f, 1.13137085f);
    EXPECT_F32(&y[3], "[2,4]", 0.36514837f, 0.73029674f, 1.09544512f, 1.46059349f, 0.84852814f,
               1.13137085f, 0.84852814f, 1.13137085f);
}

static void test_attention(T *t)
{
    Tensor y[2];
    fresh(t);
    /* one batch, Tq = Tk = 2, D = 1: scores for both queries are (0, ln 3) -> (1/4, 3/4);
     * v = (4, 8) -> 7. Causal: query 0 sees key 0 only -> 4. */
    ValueId q = in(t, "q", "f32[1,2,1]");
    ValueId k = cst(t, "f32[1,2,1]", FL(0, 1.09861229f)), v = cst(t, "f32[1,2,2]", FL(4, 1, 8, 1));
    out(t, "full", op(t, OP_ATTENTION, V(q, k, v), AT(I(ATTR_CAUSAL, 0), F(ATTR_SCALE, 1))));
    out(t, "causal", op(t, OP_ATTENTION, V(q, k, v), AT(I(ATTR_CAUSAL, 1), F(ATTR_SCALE, 1))));
    Tensor qt = tens(DT_F32, "[1,2,1]", FL(1, 1));
    CHECK(run(t, &qt, y));
    EXPECT_F32(&y[0], "[1,2,2]", 7, 1, 7, 1);
    EXPECT_F32(&y[1], "[1,2,2]", 4, 1, 7, 1);

    /* scale 0.5 with q = 2: same scores; two batches with different keys; Tq 1 != Tk 2 */
    fresh(t);
    q = in(t, "q", "f32[2,1,1]");
    k = cst(t, "f32[2,2,1]", FL(0, 1.09861229f, 1.09861229f, 0));
    v = cst(t, "f32[2,2,1]", FL(4, 8, 4, 8));
    out(t, "o", op(t, OP_ATTENTION, V(q, k, v), AT(I(ATTR_CAUSAL, 0), F(ATTR_SCALE, 0.5))));
    qt = tens(DT_F32, "[2,1,1]", FL(2, 2));
    CHECK(run(t, &qt, y));
    EXPECT_F32(&y[0], "[2,1,1]", 7, 5);
}

/* ---- data movement --------------------------------------------------------------------------- */

static void test_movement(T *t)
{
    Tensor y[6];
    fresh(t);
    ValueId x = in(t, "x", "f32[2,3]");
    out(t, "r", op(t, OP_RESHAPE, V(x), AT(INTS(ATTR_SHAPE, 3, 2))));
    out(t, "p", op(t, OP_PERMUTE, V(x), AT(INTS(ATTR_PERM, 1, 0))));
    out(t, "s",
        op(t, OP_SLICE, V(x),
           AT(INTS(ATTR_BEGIN, 1, 0), INTS(ATTR_END, 2, INT64_MAX), INTS(ATTR_STEP, 1, 2))));
    out(t, "c0", op(t, OP_CONCAT, V(x, x), AT(I(ATTR_DIM, 0))));
    out(t, "c1", op(t, OP_CONCAT, V(x, cst(t, "f32[2,1]", FL(7, 8)), x), AT(I(ATTR_DIM, 1))));
    out(t, "k",
        op(t, OP_KRON, V(cst(t, "f32[1,2]", FL(1, 2)), cst(t, "f32[2,1]", FL(1, 10))), NOATTRS));
    Tensor xt = tens(DT_F32, "[2,3]", FL(0, 1, 2, 3, 4, 5));
    CHECK(run(t, &xt, y));
    EXPECT_F32(&y[0], "[3,2]", 0, 1, 2, 3, 4, 5);
    EXPECT_F32(&y[1], "[3,2]", 0, 3, 1, 4, 2, 5);
    EXPECT_F32(&y[2], "[1,2]", 3, 5);
    EXPECT_F32(&y[3], "[4,3]", 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5);
    EXPECT_F32(&y[4], "[2,7]", 0, 1, 2, 7, 0, 1, 2, 3, 4, 5, 8, 3, 4, 5);
    EXPECT_F32(&y[5], "[2,2]", 1, 2, 10, 20);

    /* a 3-D permute and a step-2 slice over a symbolic batch */
    fresh(t);
    x = in(t, "x", "f32[N,2,3]");
    out(t, "p", op(t, OP_PERMUTE, V(x), AT(INTS(ATTR_PERM, 2, 0, 1))));
    out(t, "s",
        op(t, OP_SLICE, V(x),
           AT(INTS(ATTR_BEGIN, 0, 0, 1), INTS(ATTR_END, INT64_MAX, 2, 3),
              INTS(ATTR_STEP, 1, 1, 2))));
    out(t, "k",
        op(t, OP_KRON, V(cst(t, "i64[2]", IL(1, -2)), cst(t, "i64[2]", IL(3, 5))), NOATTRS));
    xt = tens(DT_F32, "[2,2,3]", FL(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11));
    CHECK(run(t, &xt, y));
    EXPECT_F32(&y[0], "[3,2,2]", 0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11);
    EXPECT_F32(&y[1], "[2,2,1]", 1, 4, 7, 10);
    EXPECT_I64(&y[2], "[4]", 3, 5, -6, -10);
}

static void test_gather(T *t)
{
    Tensor y[3];
    fresh(t);
    ValueId ids = in(t, "ids", "i64[N]");
    ValueId tab = cst(t, "f32[3,2]", FL(0, 1, 10, 11, 20, 21));
    ValueId src = cst(t, "f32[2,3]", FL(10, 11, 12, 13, 14, 15));
    out(t, "e", op(t, OP_EMBEDDING, V(ids, tab), NOATTRS));
    out(t, "t", op(t, OP_TAKE, V(src, ids), NOATTRS));
    Tensor it = tens(DT_I64, "[3]", IL(2, 0, -1));
    /* id -1 is out of range for embedding: a run-time error, nothing allocated */
    y[0].data = (void *)&y; /* must be reset */
    CHECK(!run(t, &it, y));
    CHECK_STR(t->err, "embedding: index -1 is out of range for a table of 3 rows");
    CHECK(y[0].data == NULL && y[1].data == NULL);

    it = tens(DT_I64, "[3]", IL(2, 0, 1));
    CHECK(run(t, &it, y));
    EXPECT_F32(&y[0], "[3,2]", 20, 21, 0, 1, 10, 11);
    EXPECT_F32(&y[1], "[3]", 12, 10, 11);

    /* take with negative indices (from the end) and an i32 index tensor */
    fresh(t);
    ValueId idx = in(t, "idx", "i32[2,2]");
    out(t, "t", op(t, OP_TAKE, V(cst(t, "f32[2,3]", FL(10, 11, 12, 13, 14, 15)), idx), NOATTRS));
    Tensor xt = tens(DT_I32, "[2,2]", ((const int32_t[]){-1, 0, 4, -6}));
    CHECK(run(t, &xt, y));
    EXPECT_F32(&y[0], "[2,2]", 15, 10, 14, 10);
    xt = tens(DT_I32, "[2,2]", ((const int32_t[]){0, 6, 1, 1}));
    CHECK(!run(t, &xt, y));
    CHECK_STR(t->err, "take: index 6 is out of range for a tensor of 6 elements");
    xt = tens(DT_I32, "[2,2]", ((const int32_t[]){0, -7, 1, 1}));
    CHECK(!run(t, &xt, y));
    CHECK_STR(t->err, "take: index -7 is out of range for a tensor of 6 elements");
}

/* recurse's steps (spec 8.3): row t doubled depth[t] times; a depth outside 0..max fails
 * before any row is read. */
static void test_recurse(T *t)
{
    Tensor y[1], xin[2];
    fresh(t);
    ValueId x = in(t, "x", "f32[4,2]"), depth = in(t, "depth", "i64[4]");
    Dim r = ir_dim_symbol(t->m, ir_add_dynamic_symbol(t->m, "R", 4, (Span){0}));
    ValueId cur = x;
    for (int64_t step = 0; step < 2; step++) {
        ValueId sv = cst(t, "i64[]", IL(step));
        ValueId g = op(t, OP_RECURSE_GATHER, V(cur, depth, sv),
                       AT(ir_attr_ints(t->m, ATTR_SHAPE, (int64_t[]){r, 2}, 2), I(ATTR_MAX, 2)));
        ValueId twice = op(t, OP_ADD, V(g, g), NOATTRS);
        cur = op(t, OP_RECURSE_SCATTER, V(cur, twice, depth, sv), NOATTRS);
    }
    out(t, "y", cur);
    xin[0] = tens(DT_F32, "[4,2]", FL(1, 2, 3, 4, 5, 6, 7, 8));
    xin[1] = tens(DT_I64, "[4]", IL(2, 0, 1, 2));
    CHECK(run(t, xin, y));
    EXPECT_F32(&y[0], "[4,2]", 4, 8, 3, 4, 10, 12, 28, 32);
    xin[1] = tens(DT_I64, "[4]", IL(0, 0, 0, 0)); /* no row recurses: empty steps */
    CHECK(run(t, xin, y));
    EXPECT_F32(&y[0], "[4,2]", 1, 2, 3, 4, 5, 6, 7, 8);
    xin[1] = tens(DT_I64, "[4]", IL(0, 3, 1, 1));
    y[0].data = (void *)&y; /* must be reset */
    CHECK(!run(t, xin, y));
    CHECK_STR(t->err, "recurse: depth 3 of row 1 is outside 0..2");
    CHECK(y[0].data == NULL);
}

/* The spec 8.3 formula, written out independently of interp.c. */
static uint32_t spec_fmix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

static void test_hashing(T *t)
{
    Tensor y[3];
    fresh(t);
    ValueId pool = in(t, "pool", "f32[5]");
    out(t, "w", op(t, OP_HASHED, V(pool), AT(INTS(ATTR_SHAPE, 7), I(ATTR_SEED, 42))));
    ValueId w2 = op(t, OP_HASHED, V(pool), AT(INTS(ATTR_SHAPE, 3, 4), I(ATTR_SEED, 3000000000)));
    out(t, "w2", w2);
    Tensor pt = tens(DT_F32, "[5]", FL(1, 2, 3, 4, 5));
    CHECK(run(t, &pt, y));
    /* pinned values (computed with an independent Python implementation) */
    EXPECT_F32(&y[0], "[7]", 3, -2, -2, -3, -3, -1, 5);
    float want[12];
    for (uint32_t i = 0; i < 12; i++) {
        uint32_t seed = 3000000000u;
        float s = (spec_fmix32(i ^ seed ^ 0x9E3779B9u) & 1) ? -1.0f : 1.0f;
        want[i] = s * (float)(1 + spec_fmix32(i ^ seed) % 5);
    }
    expect_f32(&y[1], "[3,4]", want, 12, __LINE__);

    fresh(t);
    ValueId ids = in(t, "ids", "i64[4]");
    out(t, "e", op(t, OP_HASH_ROUTE, V(ids), AT(I(ATTR_NUM, 8), I(ATTR_SEED, 7))));
    out(t, "f",
        op(t, OP_HASH_ROUTE, V(cst(t, "i64[2]", IL(5, 4294967301))),
           AT(I(ATTR_NUM, 3), I(ATTR_SEED, 0))));
    Tensor it = tens(DT_I64, "[4]", IL(0, 1, 12345, -1));
    CHECK(run(t, &it, y));
    EXPECT_I64(&y[0], "[4]", 4, 0, 1, 1);
    EXPECT_I64(&y[1], "[2]", 1, 1); /* only the low 32 bits of an id count */
}

/* ---- mixture of experts (spec 8.4) --------------------------------------------------------------- */

static void test_moe(T *t)
{
    Tensor y[3];
    fresh(t);
    ValueId x = in(t, "x", "f32[3,2]"), sc = in(t, "s", "f32[3,3]");
    /* softmax = false: the selected scores are the weights; among equal scores the lower
     * expert index is taken; a selected weight of exactly 0 adds nothing and is skipped */
    ValueId raw = op(t, OP_MOE_ROUTE, V(sc),
                     AT(I(ATTR_POLICY, 0), I(ATTR_K, 2), F(ATTR_P, 0), I(ATTR_RENORM, 0), I(ATTR_SOFTMAX, 0)));
    Dim rows = ir_dim_symbol(t->m, ir_add_dynamic_symbol(t->m, "R", 3, (Span){0}));
    ValueId xe = op(t, OP_MOE_GATHER, V(x, raw), AT(I(ATTR_EXPERT, 1), I(ATTR_ROWS, rows)));
    out(t, "g", raw);
    out(t, "y", op(t, OP_MOE_SCATTER, V(0, xe, raw), AT(I(ATTR_EXPERT, 1))));
    out(t, "r", op(t, OP_MOE_ROUTE, V(sc),
                   AT(I(ATTR_POLICY, 0), I(ATTR_K, 2), F(ATTR_P, 0), I(ATTR_RENORM, 1), I(ATTR_SOFTMAX, 0))));
    Tensor ins[2] = {tens(DT_F32, "[3,2]", FL(1, 2, 3, 4, 5, 6)),
                     tens(DT_F32, "[3,3]", FL(1, 3, 2, 5, 4, 4, 0, 0, 1))};
    CHECK(run(t, ins, y));
    EXPECT_F32(&y[0], "[3,3]", 0, 3, 2, 5, 4, 0, 0, 0, 1);
    EXPECT_F32(&y[1], "[3,2]", 3, 6, 12, 16, 0, 0); /* expert 1 (identity) on tokens 0, 1 */
    EXPECT_F32(&y[2], "[3,3]", 0, 0.6f, 0.4f, 5.0f / 9, 4.0f / 9, 0, 0, 0, 1);

    /* threshold 0.7 over softmax([ln 6, ln 3, ln 1]) = [0.6, 0.3, 0.1]: two experts, renormalized */
    fresh(t);
    sc = in(t, "s", "f32[1,3]");
    out(t, "g", op(t, OP_MOE_ROUTE, V(sc),
                   AT(I(ATTR_POLICY, 1), I(ATTR_K, 3), F(ATTR_P, 0.7), I(ATTR_RENORM, 1), I(ATTR_SOFTMAX, 1))));
    ins[0] = tens(DT_F32, "[1,3]", FL(logf(6), logf(3), 0));
    CHECK(run(t, ins, y));
    EXPECT_F32(&y[0], "[1,3]", 2.0f / 3, 1.0f / 3, 0);

    /* assign: one-hot gates; an index outside 0..E-1 is a run-time error */
    fresh(t);
    ValueId idx = in(t, "i", "i64[3]");
    out(t, "g", op(t, OP_MOE_ASSIGN, V(idx), AT(I(ATTR_NUM, 3))));
    ins[0] = tens(DT_I64, "[3]", IL(2, 0, 2));
    CHECK(run(t, ins, y));
    EXPECT_F32(&y[0], "[3,3]", 0, 0, 1, 1, 0, 0, 0, 0, 1);
    ins[0] = tens(DT_I64, "[3]", IL(2, 0, 3));
    CHECK(!run(t, ins, y));
    CHECK_STR(t->err, "moe: expert index 3 of token 2 is outside 0..2");
}

/* ---- input checking, symbols, liveness --------------------------------------------------------
 */

static void test_inputs(T *t)
{
    Tensor y[2];
    float data[600] = {0};
    fresh(t);
    ValueId x = in(t, "x", "f32[N<=64,4]"), z = in(t, "z", "f32[N,4]");
    out(t, "y", op(t, OP_ADD, V(x, z), NOATTRS));

    Tensor ins[2] = {tens(DT_F32, "[2,4]", data), tens(DT_F32, "[2,4]", data)};
    CHECK(run(t, ins, y));
    CHECK_EQ_INT(y[0].dims[0], 2);
    tensor_free(&y[0]);

    ins[0] = tens(DT_F32, "[2,5]", data);
    CHECK(!run(t, ins, y));
    CHECK_STR(t->err, "input 'x' has shape [2,5] but the model declares f32[N,4]");
    ins[0] = tens(DT_F32, "[2,4,1]", data);
    CHECK(!run(t, ins, y));
    CHECK_STR(t->err, "input 'x' has shape [2,4,1] but the model declares f32[N,4]");
    ins[0] = tens(DT_I64, "[2,4]", data);
    CHECK(!run(t, ins, y));
    CHECK_STR(t->err, "input 'x' has dtype i64 but the model declares f32[N,4]");
    ins[0] = tens(DT_F32, "[2,4]", data), ins[1] = tens(DT_F32, "[3,4]", data);
    CHECK(!run(t, ins, y));
    CHECK_STR(t->err, "input 'z' has shape [3,4] but the model declares f32[N,4] with N = 2");
    CHECK(y[0].data == NULL);
    ins[0] = tens(DT_F32, "[100,4]", data), ins[1] = tens(DT_F32, "[100,4]", data);
    CHECK(!run(t, ins, y));
    CHECK_STR(t->err, "input 'x' has N = 100 but the model declares N <= 64");
    ins[0] = tens(DT_F32, "[64,4]", data), ins[1] = tens(DT_F32, "[64,4]", data);
    CHECK(run(t, ins, y));
    tensor_free(&y[0]);

    /* a product dim binds its one unknown symbol: [N, 2*T] after N = 3 */
    fresh(t);
    ValueId a = in(t, "a", "f32[N,2]"), b = in(t, "b", "f32[N,2*T]");
    out(t, "s", op(t, OP_REDUCE_SUM, V(b), AT(INTS(ATTR_DIMS, 1), I(ATTR_KEEPDIM, 1))));
    out(t, "a", a);
    ins[0] = tens(DT_F32, "[3,2]", data), ins[1] = tens(DT_F32, "[3,6]", data);
    CHECK(run(t, ins, y));
    char buf[64];
    CHECK_STR(dims_of(&y[0], buf, sizeof buf), "[3,1]");
    CHECK(y[1].data != data); /* an input that is an output is copied */
    tensor_free(&y[0]);
    tensor_free(&y[1]);
    ins[1] = tens(DT_F32, "[3,5]", data);
    CHECK(!run(t, ins, y));
    CHECK_STR(t->err, "input 'b' has shape [3,5] but the model declares f32[N,2*T] with N = 3");
}

static void test_liveness(T *t)
{
    Tensor y[3];
    fresh(t);
    ValueId ids = in(t, "ids", "i64[2]");
    ValueId tab = cst(t, "f32[2,1]", FL(5, 6));
    ValueId e = op(t, OP_EMBEDDING, V(ids, tab), NOATTRS);
    ValueId r = op(t, OP_RELU, V(e), NOATTRS);
    ValueId dead = op(t, OP_EMBEDDING, V(cst(t, "i64[1]", IL(99)), tab), NOATTRS);
    t->m->ops.v[ir_value(t->m, dead)->def].flags |= OPF_DEAD; /* would fail if run */
    op(t, OP_NEG, V(r), NOATTRS);                             /* live but unused */
    out(t, "a", r);
    out(t, "b", r); /* the same value twice: two separate buffers */
    out(t, "w", tab);
    Tensor it = tens(DT_I64, "[2]", IL(1, 0));
    CHECK(run(t, &it, y));
    CHECK(y[0].data != y[1].data);
    EXPECT_F32(&y[0], "[2,1]", 6, 5);
    EXPECT_F32(&y[1], "[2,1]", 6, 5);
    EXPECT_F32(&y[2], "[2,1]", 5, 6);
}

int main(void)
{
    T t = {0};
    test_unary(&t);
    test_moe(&t);
    test_binary(&t);
    test_cast(&t);
    test_softmax(&t);
    test_reduce(&t);
    test_matmul(&t);
    test_linear(&t);
    test_conv(&t);
    test_pool(&t);
    test_norms(&t);
    test_attention(&t);
    test_movement(&t);
    test_gather(&t);
    test_hashing(&t);
    test_recurse(&t);
    test_inputs(&t);
    test_liveness(&t);
    for (int k = 0; k < OP_COUNT; k++)
        if (!t.covered[k]) {
            fprintf(stderr, "no interpreter test ran '%s'\n", op_info[k].name);
            CHECK(t.covered[k]);
        }
    ir_module_free(t.m);
    return check_done();
}
