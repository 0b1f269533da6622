/* SPDX-License-Identifier: MIT
 * test_passes.c - the fold, bnfold and fuse passes on small modules built with the IR
 * API. Every rewrite is checked as "interpreter(before) == interpreter(after)" on seeded
 * random inputs (|a-b| <= 1e-5 * max(1, |a|, |b|)), plus the shape of the result: which
 * ops are left, which constants exist and what they are called, which ops are grouped,
 * and the cases each pass must leave alone. Also interp_eval_op, the group remapping of
 * ir_compact, the group check of ir_verify, and the default pipeline's order.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "passes/passes.h"

typedef struct T {
    Module *m;
    char err[512];
    uint32_t seed;
} T;

/* ---- building ------------------------------------------------------------------------- */

static void fresh(T *t)
{
    ir_module_free(t->m);
    t->m = ir_module_new("test");
    t->seed = 12345;
}

static float rnd(T *t, float lo, float hi) /* deterministic LCG */
{
    t->seed = t->seed * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)(t->seed >> 8) / (float)(1u << 24);
}

#define DIMS(...) (const Dim[]){__VA_ARGS__}, (unsigned)(sizeof((Dim[]){__VA_ARGS__}) / sizeof(Dim))
static TensorType f32(const Dim *d, unsigned rank) { return ir_type_make(DT_F32, rank, d); }

static int64_t numel(const TensorType *tt)
{
    int64_t n = 1;
    for (unsigned i = 0; i < tt->rank; i++) n *= tt->dims[i];
    return n;
}

static ValueId input(T *t, const char *name, TensorType tt)
{
    return ir_add_input(t->m, name, &tt, (Span){0});
}

/* A parameter with random data in [lo, hi], owned by the module's arena. */
static ValueId param_range(T *t, const char *name, TensorType tt, float lo, float hi)
{
    size_t n = (size_t)numel(&tt);
    float *d = arena_alloc(t->m->arena, n * sizeof *d + 1);
    for (size_t i = 0; i < n; i++) d[i] = rnd(t, lo, hi);
    WeightId w = ir_add_weight(t->m, name, &tt, d, n * sizeof *d, (Span){0});
    return ir_add_param(t->m, w, name, (Span){0});
}
static ValueId param(T *t, const char *name, TensorType tt)
{
    return param_range(t, name, tt, -1, 1);
}

static ValueId op(T *t, OpKind k, const ValueId *v, unsigned nin, const Attr *a, unsigned na,
                  const char *name)
{
    ValueId r = ir_add_op(t->m, k, v, nin, a, na, name, (Span){0}, t->err, sizeof t->err);
    if (!r) fprintf(stderr, "building '%s' failed: %s\n", op_info[k].name, t->err);
    CHECK(r != 0);
    return r;
}

static void output(T *t, const char *name, ValueId v) { ir_add_output(t->m, name, v, (Span){0}); }

#define V(...)                                                                             \
    ((const ValueId[]){__VA_ARGS__}), (unsigned)(sizeof((ValueId[]){__VA_ARGS__}) / sizeof(ValueId))
#define NOATTRS NULL, 0u
#define INTS(key, ...)                                                                             \
    ir_attr_ints(t->m, key, (const int64_t[]){__VA_ARGS__},                                        \
                 (uint32_t)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))

static ValueId conv(T *t, ValueId x, ValueId w, ValueId b, int64_t pad, const char *name)
{
    Attr a[] = {INTS(ATTR_STRIDE, 1, 1), INTS(ATTR_PAD, pad, pad), INTS(ATTR_DILATION, 1, 1),
                ir_attr_int(ATTR_GROUPS, 1)};
    return op(t, OP_CONV2D, V(x, w, b), a, 4, name);
}

static ValueId bn(T *t, ValueId x, ValueId mean, ValueId var, ValueId g, ValueId b,
                  const char *name)
{
    Attr a = ir_attr_float(ATTR_EPS, 1e-3);
    return op(t, OP_BATCH_NORM, V(x, mean, var, g, b), &a, 1, name);
}

/* BatchNorm parameters for c channels, var in [0.5, 1.5]. */
static void bn_params(T *t, const char *layer, int64_t c, ValueId p[4])
{
    static const char *const what[] = {"running_mean", "running_var", "weight", "bias"};
    char name[64];
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "%s.%s", layer, what[i]);
        p[i] = i == 1 ? param_range(t, name, f32(DIMS(c)), 0.5f, 1.5f)
                      : param(t, name, f32(DIMS(c)));
    }
}

/* ---- inspecting ------------------------------------------------------------------------- */

static unsigned count_ops(const T *t, OpKind k)
{
    unsigned n = 0;
    for (OpId o = 1; o < t->m->ops.n; o++)
        n += !(t->m->ops.v[o].flags & OPF_DEAD) && t->m->ops.v[o].kind == k;
    return n;
}

static unsigned count_live_ops(const T *t)
{
    unsigned n = 0;
    for (OpId o = 1; o < t->m->ops.n; o++) n += !(t->m->ops.v[o].flags & OPF_DEAD);
    return n;
}

static unsigned count_values(const T *t, ValueKind k)
{
    unsigned n = 0;
    for (ValueId v = 1; v < t->m->values.n; v++) n += t->m->values.v[v].kind == k;
    return n;
}

/* The value named `name`, or 0. */
static ValueId named(const T *t, const char *name)
{
    for (ValueId v = 1; v < t->m->values.n; v++)
        if (t->m->values.v[v].name && strcmp(t->m->values.v[v].name, name) == 0) return v;
    return 0;
}

/* The first live op of kind k (after op `after`), or NULL. */
static const Op *find_op(const T *t, OpKind k, OpId after)
{
    for (OpId o = after + 1; o < t->m->ops.n; o++)
        if (!(t->m->ops.v[o].flags & OPF_DEAD) && t->m->ops.v[o].kind == k) return &t->m->ops.v[o];
    return NULL;
}

static OpId op_id(const T *t, const Op *op) { return op ? (OpId)(op - t->m->ops.v) : 0; }

/* ---- running ------------------------------------------------------------------------------ */

static void pass_error(void *ud, Span span, const char *msg)
{
    (void)span;
    fprintf(stderr, "pass error: %s\n", msg);
    *(int *)ud += 1;
}

/* Runs pass `name` and ir_verify. */
static void run_pass(T *t, const char *name)
{
    int errors = 0;
    PassContext cx = {.m = t->m, .error = pass_error, .ud = &errors};
    const Pass *p = pass_lookup(name);
    CHECK(p != NULL);
    if (!p) return;
    CHECK(p->run(&cx));
    CHECK_EQ_INT(errors, 0);
    bool ok = ir_verify(t->m, t->err, sizeof t->err);
    if (!ok) fprintf(stderr, "IR invalid after '%s': %s\n", name, t->err);
    CHECK(ok);
}

typedef struct Run {
    uint32_t nin, nout;
    Tensor in[8], out[16];
} Run;

/* Random inputs for every (concrete) model input; batch symbols are not used here. */
static void make_inputs(T *t, Run *r)
{
    memset(r, 0, sizeof *r);
    r->nin = t->m->inputs.n;
    if (r->nin > 8 || t->m->outputs.n > 16) NDLC_ICE("test module too large for Run");
    for (uint32_t i = 0; i < r->nin; i++) {
        const TensorType *tt = ir_type(t->m, t->m->inputs.v[i].value);
        Tensor *x = &r->in[i];
        x->dtype = tt->dtype;
        x->rank = tt->rank;
        for (unsigned d = 0; d < tt->rank; d++) x->dims[d] = tt->dims[d];
        x->data = malloc((size_t)numel(tt) * sizeof(float) + 1);
        for (int64_t k = 0; k < numel(tt); k++) ((float *)x->data)[k] = rnd(t, -2, 2);
    }
}

static bool interp(T *t, Run *r)
{
    r->nout = t->m->outputs.n;
    bool ok = interp_run(t->m, r->in, r->out, t->err, sizeof t->err);
    if (!ok) fprintf(stderr, "interp_run failed: %s\n", t->err);
    return ok;
}

static void free_run(Run *r, bool inputs)
{
    for (uint32_t i = 0; i < r->nout; i++) tensor_free(&r->out[i]);
    if (inputs)
        for (uint32_t i = 0; i < r->nin; i++) tensor_free(&r->in[i]);
}

/* Runs the interpreter, then pass `name` (and ir_verify), then the interpreter again on
 * the same inputs, and compares every output. */
static void check_same(T *t, const char *name, int line)
{
    Run before, after;
    make_inputs(t, &before);
    bool ok = interp(t, &before);
    CHECK(ok);
    run_pass(t, name);
    after = before;
    ok = ok && interp(t, &after);
    CHECK(ok);
    for (uint32_t i = 0; ok && i < before.nout; i++) {
        Tensor *a = &before.out[i], *b = &after.out[i];
        CHECK_EQ_INT(a->rank, b->rank);
        CHECK_EQ_INT(tensor_numel(a), tensor_numel(b));
        int bad = 0;
        for (int64_t k = 0; k < tensor_numel(a) && k < tensor_numel(b); k++) {
            float x = ((float *)a->data)[k], y = ((float *)b->data)[k];
            float tol = 1e-5f * fmaxf(1.0f, fmaxf(fabsf(x), fabsf(y)));
            if (!(fabsf(x - y) <= tol) && bad++ < 3)
                fprintf(stderr, "line %d: after '%s', output %u element %lld is %.9g, was %.9g\n",
                        line, name, i, (long long)k, y, x);
        }
        CHECK_EQ_INT(bad, 0);
    }
    free_run(&after, false);
    free_run(&before, true);
}
#define CHECK_SAME(t, pass) check_same(t, pass, __LINE__)

/* ---- interp_eval_op ------------------------------------------------------------------------ */

static void test_eval_op(T *t)
{
    fresh(t);
    ValueId a = param(t, "a", f32(DIMS(2, 3))), b = param(t, "b", f32(DIMS(3)));
    ValueId s = op(t, OP_ADD, V(a, b), NOATTRS, NULL);
    const Op *o = &t->m->ops.v[t->m->values.v[s].def];
    float ad[6] = {1, 2, 3, 4, 5, 6}, bd[3] = {10, 20, 30};
    Tensor in[2] = {{.dtype = DT_F32, .rank = 2, .dims = {2, 3}, .data = ad},
                    {.dtype = DT_F32, .rank = 1, .dims = {3}, .data = bd}};
    Tensor out;
    CHECK(interp_eval_op(t->m, o, in, &out, t->err, sizeof t->err));
    CHECK_EQ_INT(out.rank, 2);
    CHECK_EQ_INT(tensor_numel(&out), 6);
    if (out.data) {
        CHECK(((float *)out.data)[0] == 11 && ((float *)out.data)[5] == 36);
    }
    tensor_free(&out);

    /* an operand that does not have its IR type is refused, not indexed */
    in[1].dims[0] = 4;
    CHECK(!interp_eval_op(t->m, o, in, &out, t->err, sizeof t->err));
    CHECK_CONTAINS(t->err, "does not have its IR type");
    CHECK(out.data == NULL);

    /* a symbolic result size cannot be evaluated without inputs */
    SymId n = ir_add_symbol(t->m, "N", 0, (Span){0});
    Dim nd[2] = {ir_dim_symbol(t->m, n), 3};
    TensorType xt = ir_type_make(DT_F32, 2, nd);
    ValueId x = input(t, "x", xt);
    ValueId y = op(t, OP_RELU, V(x), NOATTRS, NULL);
    Tensor xin = {.dtype = DT_F32, .rank = 2, .dims = {2, 3}, .data = ad};
    CHECK(!interp_eval_op(t->m, &t->m->ops.v[t->m->values.v[y].def], &xin, &out, t->err,
                          sizeof t->err));
    CHECK(out.data == NULL);
}

/* ---- fold ---------------------------------------------------------------------------------- */

/* A chain of parameter expressions (slice -> reshape -> mul by a mask -> add a scalar)
 * used as a Linear weight, and a bias expression: all become constants; the mask and
 * the sliced parameter disappear (ir_compact), the input-dependent linear stays. */
static void test_fold_chain(T *t)
{
    fresh(t);
    ValueId x = input(t, "x", f32(DIMS(3, 6)));
    ValueId big = param(t, "fc.big", f32(DIMS(8, 6)));
    ValueId mask = param(t, "fc.mask", f32(DIMS(4, 6)));
    ValueId bias = param(t, "fc.b", f32(DIMS(4)));
    Attr sl[] = {INTS(ATTR_BEGIN, 2, 0), INTS(ATTR_END, 6, INT64_MAX), INTS(ATTR_STEP, 1, 1)};
    ValueId w = op(t, OP_SLICE, V(big), sl, 3, "fc");
    Attr rs = INTS(ATTR_SHAPE, 24);
    w = op(t, OP_RESHAPE, V(w), &rs, 1, "fc");
    Attr rs2 = INTS(ATTR_SHAPE, 4, 6);
    w = op(t, OP_RESHAPE, V(w), &rs2, 1, "fc");
    w = op(t, OP_MUL, V(w, mask), NOATTRS, NULL);
    w = op(t, OP_ADD, V(w, ir_add_scalar_f32(t->m, 0.25f, (Span){0})), NOATTRS, NULL);
    ValueId b = op(t, OP_MUL, V(bias, ir_add_scalar_f32(t->m, 2.0f, (Span){0})), NOATTRS, NULL);
    ValueId y = op(t, OP_LINEAR, V(x, w, b), NOATTRS, "fc");
    y = op(t, OP_RELU, V(y), NOATTRS, NULL);
    output(t, "y", y);
    CHECK_SAME(t, "fold");
    CHECK_EQ_INT(count_live_ops(t), 2); /* linear, relu */
    CHECK_EQ_INT(count_values(t, VAL_PARAM), 0);
    CHECK_EQ_INT(count_values(t, VAL_CONST), 2);
    CHECK(named(t, "fc.weight") != 0);
    CHECK(named(t, "fc.bias") != 0);
    CHECK(named(t, "fc.mask") == 0);
    const Op *lin = find_op(t, OP_LINEAR, 0);
    CHECK(lin && ir_value(t->m, ir_operand(t->m, lin, 1))->kind == VAL_CONST);
    CHECK_EQ_INT(t->m->ops.n, 3); /* compacted: slot 0 + two ops */
}

/* Slices of one parameter inside its layer keep the parameter's name; outputs that are
 * constant become constants; an op depending on an input is never folded. */
static void test_fold_names_outputs(T *t)
{
    fresh(t);
    ValueId x = input(t, "x", f32(DIMS(2, 4)));
    ValueId ipw = param(t, "attn.in_proj_weight", f32(DIMS(12, 4)));
    Attr s0[] = {INTS(ATTR_BEGIN, 0, 0), INTS(ATTR_END, 4, 4), INTS(ATTR_STEP, 1, 1)};
    Attr s1[] = {INTS(ATTR_BEGIN, 4, 0), INTS(ATTR_END, 8, 4), INTS(ATTR_STEP, 1, 1)};
    ValueId q = op(t, OP_SLICE, V(ipw), s0, 3, "attn");
    ValueId k = op(t, OP_SLICE, V(ipw), s1, 3, "attn");
    ValueId yq = op(t, OP_LINEAR, V(x, q, 0), NOATTRS, "attn");
    ValueId yk = op(t, OP_LINEAR, V(x, k, 0), NOATTRS, "attn");
    /* two ops on a parameter of the layer: named after the role */
    Attr s2[] = {INTS(ATTR_BEGIN, 8, 0), INTS(ATTR_END, 12, 4), INTS(ATTR_STEP, 1, 1)};
    ValueId v = op(t, OP_SLICE, V(ipw), s2, 3, "attn");
    v = op(t, OP_NEG, V(v), NOATTRS, "attn");
    output(t, "v", op(t, OP_LINEAR, V(x, v, 0), NOATTRS, "attn"));
    ValueId c = op(t, OP_EXP, V(ipw), NOATTRS, NULL); /* a constant model output */
    output(t, "q", yq);
    output(t, "k", yk);
    output(t, "c", c);
    output(t, "x", x);
    CHECK_SAME(t, "fold");
    CHECK(named(t, "attn.in_proj_weight.slice") != 0);
    CHECK(named(t, "attn.in_proj_weight.slice_2") != 0);
    CHECK(named(t, "attn.in_proj_weight.exp") != 0);
    CHECK(named(t, "attn.weight") != 0);
    CHECK(named(t, "attn.in_proj_weight.slice_3") == 0);
    CHECK_EQ_INT(count_ops(t, OP_SLICE), 0);
    CHECK_EQ_INT(count_ops(t, OP_LINEAR), 3);
    ValueId out_c = t->m->outputs.v[3].value;
    CHECK_EQ_INT(ir_value(t->m, out_c)->kind, VAL_CONST);
    CHECK_EQ_INT(count_values(t, VAL_PARAM), 0);
}

/* The size rule: a hashed expansion to 2 MiB from a 16-byte pool stays an op (and so
 * does what uses it); one to 160 bytes folds. Any other parameter expression folds
 * whatever its size (--hyper fold, spec 8.5): broadcasts of two vectors to 1 MiB and to
 * 4 MiB both become constants. */
static void test_fold_size_rule(T *t)
{
    fresh(t);
    ValueId x = input(t, "x", f32(DIMS(2, 1024)));
    ValueId pool = param(t, "pool", f32(DIMS(4)));
    Attr hb[] = {INTS(ATTR_SHAPE, 512, 1024), ir_attr_int(ATTR_SEED, 7)};
    Attr hs[] = {INTS(ATTR_SHAPE, 5, 8), ir_attr_int(ATTR_SEED, 9)};
    ValueId wbig = op(t, OP_HASHED, V(pool), hb, 2, "big");
    ValueId wneg = op(t, OP_NEG, V(wbig), NOATTRS, "big");
    ValueId wsmall = op(t, OP_HASHED, V(pool), hs, 2, "small");
    output(t, "y", op(t, OP_LINEAR, V(x, wneg, 0), NOATTRS, "big"));
    output(t, "z", wsmall);
    ValueId col = param(t, "col", f32(DIMS(512, 1))), row = param(t, "row", f32(DIMS(1, 512)));
    ValueId col2 = param(t, "col2", f32(DIMS(1024, 1)));
    ValueId row2 = param(t, "row2", f32(DIMS(1, 1024)));
    output(t, "p", op(t, OP_MUL, V(col, row), NOATTRS, NULL));   /* 1 MiB: folds */
    output(t, "q", op(t, OP_MUL, V(col2, row2), NOATTRS, NULL)); /* 4 MiB: folds too */
    CHECK_SAME(t, "fold");
    CHECK_EQ_INT(count_ops(t, OP_HASHED), 1);
    CHECK_EQ_INT(count_ops(t, OP_NEG), 1);
    CHECK_EQ_INT(count_ops(t, OP_MUL), 0);
    CHECK(named(t, "col2.mul") != 0);
    const Op *h = find_op(t, OP_HASHED, 0);
    CHECK(h && ir_type(t->m, h->out)->dims[0] == 512);
    CHECK(named(t, "small.hashed") != 0);
    CHECK(named(t, "col.mul") != 0);
}

/* A constant op that fails (take with an index out of range) is not folded: the run
 * still fails with the interpreter's message. */
static void test_fold_failing(T *t)
{
    fresh(t);
    ValueId x = input(t, "x", f32(DIMS(2)));
    ValueId pool = param(t, "pool", f32(DIMS(3)));
    TensorType it = ir_type_make(DT_I64, 1, (const Dim[]){2});
    int64_t idx[2] = {0, 7};
    ValueId iv = ir_add_const(t->m, &it, idx, (Span){0});
    ValueId g = op(t, OP_TAKE, V(pool, iv), NOATTRS, NULL);
    output(t, "y", op(t, OP_ADD, V(x, g), NOATTRS, NULL));
    run_pass(t, "fold");
    CHECK_EQ_INT(count_ops(t, OP_TAKE), 1);
    Run r;
    make_inputs(t, &r);
    CHECK(!interp_run(t->m, r.in, r.out, t->err, sizeof t->err));
    CHECK_CONTAINS(t->err, "out of range");
    free_run(&r, true);
}

/* ---- bnfold -------------------------------------------------------------------------------- */

static void test_bnfold_conv(T *t, bool with_bias, bool affine)
{
    fresh(t);
    ValueId x = input(t, "x", f32(DIMS(2, 3, 5, 4)));
    ValueId w = param(t, "conv.weight", f32(DIMS(4, 3, 3, 3)));
    ValueId b = with_bias ? param(t, "conv.bias", f32(DIMS(4))) : 0;
    ValueId p[4];
    bn_params(t, "bn", 4, p);
    const float *w_data = t->m->weights.v[ir_value(t->m, w)->weight].data;
    float w0 = w_data[0], w107 = w_data[107];
    ValueId h = conv(t, x, w, b, 1, "conv");
    ValueId y = bn(t, h, p[0], p[1], affine ? p[2] : 0, affine ? p[3] : 0, "bn");
    output(t, "y", op(t, OP_RELU, V(y), NOATTRS, NULL));
    CHECK_SAME(t, "bnfold");
    CHECK_EQ_INT(count_ops(t, OP_BATCH_NORM), 0);
    CHECK_EQ_INT(count_ops(t, OP_CONV2D), 1);
    const Op *c = find_op(t, OP_CONV2D, 0);
    CHECK(c && ir_operand(t->m, c, 2) != 0); /* a bias was created when missing */
    CHECK(named(t, "conv.weight.bnfold") != 0);
    CHECK(named(t, "conv.bias.bnfold") != 0);
    CHECK(named(t, "conv.weight") == 0); /* unused now, compacted away */
    CHECK(w_data[0] == w0 && w_data[107] == w107); /* the original weight is not written */
}

/* A grouped (depthwise) conv: W is [O, C/groups, kh, kw], still per output channel. */
static void test_bnfold_grouped(T *t)
{
    fresh(t);
    ValueId x = input(t, "x", f32(DIMS(1, 4, 5, 5)));
    ValueId w = param(t, "dw.weight", f32(DIMS(4, 1, 3, 3))), b = param(t, "dw.bias", f32(DIMS(4)));
    ValueId p[4];
    bn_params(t, "bn", 4, p);
    Attr a[] = {INTS(ATTR_STRIDE, 2, 2), INTS(ATTR_PAD, 1, 1), INTS(ATTR_DILATION, 1, 1),
                ir_attr_int(ATTR_GROUPS, 4)};
    ValueId h = op(t, OP_CONV2D, V(x, w, b), a, 4, "dw");
    output(t, "y", bn(t, h, p[0], p[1], p[2], p[3], "bn"));
    CHECK_SAME(t, "bnfold");
    CHECK_EQ_INT(count_ops(t, OP_BATCH_NORM), 0);
    CHECK(named(t, "dw.bias.bnfold") != 0);
}

static void test_bnfold_linear(T *t)
{
    fresh(t);
    ValueId x = input(t, "x", f32(DIMS(5, 6)));
    ValueId w = param(t, "fc.weight", f32(DIMS(4, 6))), b = param(t, "fc.bias", f32(DIMS(4)));
    ValueId p[4];
    bn_params(t, "bn", 4, p);
    ValueId h = op(t, OP_LINEAR, V(x, w, b), NOATTRS, "fc");
    ValueId y = bn(t, h, p[0], p[1], p[2], p[3], "bn");
    output(t, "y", y); /* the batch_norm's result is the output: now the linear's */
    CHECK_SAME(t, "bnfold");
    CHECK_EQ_INT(count_ops(t, OP_BATCH_NORM), 0);
    CHECK_EQ_INT(count_live_ops(t), 1);
    CHECK(named(t, "fc.bias.bnfold") != 0);
}

/* Two batch_norms in a row fold one after the other. */
static void test_bnfold_chain(T *t)
{
    fresh(t);
    ValueId x = input(t, "x", f32(DIMS(1, 2, 3, 3)));
    ValueId w = param(t, "c.weight", f32(DIMS(3, 2, 1, 1)));
    ValueId p[4], q[4];
    bn_params(t, "bn1", 3, p);
    bn_params(t, "bn2", 3, q);
    ValueId y = conv(t, x, w, 0, 0, "c");
    y = bn(t, y, p[0], p[1], p[2], p[3], "bn1");
    y = bn(t, y, q[0], q[1], q[2], q[3], "bn2");
    output(t, "y", y);
    CHECK_SAME(t, "bnfold");
    CHECK_EQ_INT(count_ops(t, OP_BATCH_NORM), 0);
    CHECK(named(t, "c.weight.bnfold.bnfold") != 0);
}

/* What bnfold must leave alone: the conv result used twice or being an output, an
 * unbatched conv (axis 1 is not the channel), linear on rank 3, a batch_norm of an
 * input, and a mean that is not a constant. */
static void test_bnfold_not(T *t)
{
    fresh(t);
    ValueId x = input(t, "x", f32(DIMS(2, 3, 4, 4)));
    ValueId xu = input(t, "xu", f32(DIMS(3, 4, 4)));
    ValueId x3 = input(t, "x3", f32(DIMS(2, 4, 6)));
    ValueId mean_in = input(t, "mean", f32(DIMS(4)));
    ValueId w = param(t, "w", f32(DIMS(4, 3, 1, 1))), fw = param(t, "fw", f32(DIMS(4, 6)));
    ValueId p[4];
    bn_params(t, "bn", 4, p);
    ValueId c1 = conv(t, x, w, 0, 0, "c1"); /* used twice */
    output(t, "a", bn(t, c1, p[0], p[1], p[2], p[3], "bn"));
    output(t, "b", op(t, OP_RELU, V(c1), NOATTRS, NULL));
    ValueId c2 = conv(t, x, w, 0, 0, "c2"); /* an output itself */
    output(t, "c", bn(t, c2, p[0], p[1], p[2], p[3], "bn"));
    output(t, "c2", c2);
    ValueId c3 = conv(t, xu, w, 0, 0, "c3"); /* unbatched: [4,4,4], axis 1 is H */
    output(t, "d", bn(t, c3, p[0], p[1], p[2], p[3], "bn"));
    ValueId l3 = op(t, OP_LINEAR, V(x3, fw, 0), NOATTRS, "l3"); /* [2,4,4]: axis 1 is T */
    output(t, "e", bn(t, l3, p[0], p[1], p[2], p[3], "bn"));
    ValueId m3 = param(t, "m3", f32(DIMS(3))), v3 = param_range(t, "v3", f32(DIMS(3)), 0.5f, 1.5f);
    output(t, "f", bn(t, x, m3, v3, 0, 0, "bn")); /* of an input */
    ValueId c4 = conv(t, x, w, 0, 0, "c4"); /* mean from an input */
    output(t, "g", bn(t, c4, mean_in, p[1], p[2], p[3], "bn"));
    unsigned before = count_ops(t, OP_BATCH_NORM);
    run_pass(t, "bnfold");
    CHECK_EQ_INT(count_ops(t, OP_BATCH_NORM), before);
    CHECK_EQ_INT(count_values(t, VAL_CONST), 0);
}

/* ---- fuse ---------------------------------------------------------------------------------- */

/* The group of an op's result value v (0 when standalone). */
static OpId group_of(const T *t, ValueId v) { return ir_op(t->m, ir_value(t->m, v)->def)->group; }
static OpId def_of(const T *t, ValueId v) { return ir_value(t->m, v)->def; }

static void test_fuse_resblock(T *t)
{
    fresh(t);
    ValueId x = input(t, "x", f32(DIMS(2, 4, 5, 5)));
    ValueId w1 = param(t, "w1", f32(DIMS(4, 4, 3, 3))), b1 = param(t, "b1", f32(DIMS(4)));
    ValueId w2 = param(t, "w2", f32(DIMS(4, 4, 3, 3)));
    ValueId h = conv(t, x, w1, b1, 1, "conv1");
    ValueId a = op(t, OP_RELU, V(h), NOATTRS, NULL);
    ValueId h2 = conv(t, a, w2, 0, 1, "conv2");
    ValueId s = op(t, OP_ADD, V(x, h2), NOATTRS, NULL); /* residual first */
    ValueId r = op(t, OP_RELU, V(s), NOATTRS, NULL);
    output(t, "y", r);
    CHECK_SAME(t, "fuse");
    CHECK_EQ_INT(group_of(t, h), 0);
    CHECK_EQ_INT(group_of(t, a), def_of(t, h));
    CHECK_EQ_INT(group_of(t, h2), 0);
    CHECK_EQ_INT(group_of(t, s), def_of(t, h2));
    CHECK_EQ_INT(group_of(t, r), def_of(t, h2));

    /* the printer names the group by the head's result */
    static char buf[8192];
    FILE *f = tmpfile();
    CHECK(f != NULL);
    if (f) {
        ir_print(t->m, f, NULL, NULL);
        rewind(f);
        buf[fread(buf, 1, sizeof buf - 1, f)] = '\0';
        fclose(f);
    }
    char want[64];
    snprintf(want, sizeof want, "relu(%%%u) fused_into=%%%u:", (unsigned)s, (unsigned)h2);
    CHECK_CONTAINS(buf, want);
    snprintf(want, sizeof want, "relu(%%%u) fused_into=%%%u:", (unsigned)h, (unsigned)h);
    CHECK_CONTAINS(buf, want);

    /* running it again gives the same groups */
    run_pass(t, "fuse");
    CHECK_EQ_INT(group_of(t, r), def_of(t, h2));
    CHECK_EQ_INT(group_of(t, a), def_of(t, h));
}

/* linear + gelu, and two activations without a residual. */
static void test_fuse_linear(T *t)
{
    fresh(t);
    ValueId x = input(t, "x", f32(DIMS(3, 8)));
    ValueId w = param(t, "w", f32(DIMS(6, 8))), b = param(t, "b", f32(DIMS(6)));
    ValueId w2 = param(t, "w2", f32(DIMS(6, 6)));
    ValueId h = op(t, OP_LINEAR, V(x, w, b), NOATTRS, "fc1");
    ValueId g = op(t, OP_GELU, V(h), NOATTRS, NULL);
    ValueId h2 = op(t, OP_LINEAR, V(g, w2, 0), NOATTRS, "fc2");
    ValueId a1 = op(t, OP_RELU, V(h2), NOATTRS, NULL);
    ValueId a2 = op(t, OP_SIGMOID, V(a1), NOATTRS, NULL);
    ValueId a3 = op(t, OP_TANH, V(a2), NOATTRS, NULL); /* a third: stays standalone */
    output(t, "y", a3);
    CHECK_SAME(t, "fuse");
    CHECK_EQ_INT(group_of(t, g), def_of(t, h));
    CHECK_EQ_INT(group_of(t, a1), def_of(t, h2));
    CHECK_EQ_INT(group_of(t, a2), def_of(t, h2));
    CHECK_EQ_INT(group_of(t, a3), 0);
}

/* What fuse must leave alone. */
static void test_fuse_not(T *t)
{
    fresh(t);
    ValueId x = input(t, "x", f32(DIMS(2, 4, 3, 3)));
    ValueId w = param(t, "w", f32(DIMS(4, 4, 1, 1)));
    ValueId cb = param(t, "cb", f32(DIMS(1, 4, 1, 1)));
    /* two uses of the conv result */
    ValueId h1 = conv(t, x, w, 0, 0, "c1");
    ValueId r1 = op(t, OP_RELU, V(h1), NOATTRS, NULL);
    ValueId s1 = op(t, OP_ADD, V(h1, r1), NOATTRS, NULL);
    output(t, "a", s1);
    /* the conv result is a model output */
    ValueId h2 = conv(t, x, w, 0, 0, "c2");
    ValueId r2 = op(t, OP_RELU, V(h2), NOATTRS, NULL);
    output(t, "b", r2);
    output(t, "h2", h2);
    /* an activation's result that is an output stops the chain after it */
    ValueId h3 = conv(t, x, w, 0, 0, "c3");
    ValueId r3 = op(t, OP_RELU, V(h3), NOATTRS, NULL);
    ValueId s3 = op(t, OP_ADD, V(r3, x), NOATTRS, NULL);
    output(t, "r3", r3);
    output(t, "c", s3);
    /* a broadcasting add: not the same type */
    ValueId h4 = conv(t, x, w, 0, 0, "c4");
    ValueId s4 = op(t, OP_ADD, V(h4, cb), NOATTRS, NULL);
    output(t, "d", s4);
    /* the residual is computed after the head: only the later conv takes the add */
    ValueId h5 = conv(t, x, w, 0, 0, "c5");
    ValueId h6 = conv(t, x, w, 0, 0, "c6");
    ValueId s5 = op(t, OP_ADD, V(h5, h6), NOATTRS, NULL);
    output(t, "e", s5);
    /* two uses, the last one an activation */
    ValueId h8 = conv(t, x, w, 0, 0, "c8");
    ValueId s8 = op(t, OP_ADD, V(h8, x), NOATTRS, NULL);
    ValueId r8 = op(t, OP_RELU, V(h8), NOATTRS, NULL);
    output(t, "g", s8);
    output(t, "h", r8);
    /* the head's result is only an output */
    output(t, "i", conv(t, x, w, 0, 0, "c9"));
    /* a matmul is no head */
    ValueId mm = op(t, OP_MATMUL, V(x, x), NOATTRS, NULL);
    ValueId r7 = op(t, OP_RELU, V(mm), NOATTRS, NULL);
    output(t, "f", r7);
    CHECK_SAME(t, "fuse");
    CHECK_EQ_INT(group_of(t, r1), 0);
    CHECK_EQ_INT(group_of(t, s1), 0);
    CHECK_EQ_INT(group_of(t, r2), 0);
    CHECK_EQ_INT(group_of(t, r3), def_of(t, h3));
    CHECK_EQ_INT(group_of(t, s3), 0);
    CHECK_EQ_INT(group_of(t, s4), 0);
    CHECK_EQ_INT(group_of(t, s5), def_of(t, h6));
    CHECK_EQ_INT(group_of(t, r7), 0);
    CHECK_EQ_INT(group_of(t, s8), 0);
    CHECK_EQ_INT(group_of(t, r8), 0);
    CHECK_EQ_INT(t->m->ops.v[0].group, 0); /* the reserved slot stays untouched */
}

/* ir_compact renumbers ops and must carry Op.group along; ir_verify rejects a group that
 * is not an earlier live linear/conv2d. */
static void test_groups_compact_verify(T *t)
{
    fresh(t);
    ValueId x = input(t, "x", f32(DIMS(2, 3)));
    ValueId w = param(t, "w", f32(DIMS(3, 3)));
    op(t, OP_NEG, V(x), NOATTRS, NULL); /* unused: dce removes it */
    output(t, "e", op(t, OP_EXP, V(x), NOATTRS, NULL));
    ValueId h = op(t, OP_LINEAR, V(x, w, 0), NOATTRS, "fc");
    ValueId r = op(t, OP_RELU, V(h), NOATTRS, NULL);
    output(t, "y", r);
    run_pass(t, "fuse");
    CHECK_EQ_INT(group_of(t, r), 3);
    run_pass(t, "dce"); /* ir_compact: linear 3 -> 2 */
    CHECK_EQ_INT(t->m->ops.n, 4);
    const Op *lin = find_op(t, OP_LINEAR, 0);
    Op *relu = (Op *)find_op(t, OP_RELU, 0);
    CHECK(lin && relu && relu->group == op_id(t, lin) && relu->group == 2);
    if (!relu) return;

    relu->group = 3; /* itself: not earlier */
    CHECK(!ir_verify(t->m, t->err, sizeof t->err));
    CHECK_CONTAINS(t->err, "is not an earlier live linear/conv2d");
    relu->group = 1; /* the exp */
    CHECK(!ir_verify(t->m, t->err, sizeof t->err));
    CHECK_CONTAINS(t->err, "is not an earlier live linear/conv2d");
    relu->group = 2;
    CHECK(ir_verify(t->m, t->err, sizeof t->err));
}

/* ---- prune (structured removal) ----------------------------------------------------------- */

/* Sets row `row` of weight value w (all but the first axis) to zero and bias b[row] to bias. */
static void zero_row(T *t, ValueId w, ValueId b, int64_t row, float bias)
{
    const TensorType *tt = ir_type(t->m, w);
    int64_t inner = numel(tt) / tt->dims[0];
    float *d = t->m->weights.v[ir_value(t->m, w)->weight].data;
    for (int64_t i = 0; i < inner; i++) d[row * inner + i] = 0;
    if (b) ((float *)t->m->weights.v[ir_value(t->m, b)->weight].data)[row] = bias;
}

static const IrRemoval *removal_of(const T *t, const char *layer)
{
    for (uint32_t i = 0; i < t->m->removals.n; i++)
        if (strcmp(t->m->removals.v[i].layer, layer) == 0) return &t->m->removals.v[i];
    return NULL;
}

/* A zero row whose constant relu(b) is 0 goes even before a zero-padded conv; one whose
 * constant is not stays there, but folds into an unpadded conv's bias. */
static void test_prune_padding(T *t, int64_t pad_b)
{
    fresh(t);
    ValueId x = input(t, "x", f32(DIMS(2, 2, 6, 5)));
    ValueId wa = param(t, "a.weight", f32(DIMS(4, 2, 3, 3))), ba = param(t, "a.bias", f32(DIMS(4)));
    ValueId wb = param(t, "b.weight", f32(DIMS(3, 4, 3, 3))), bb = param(t, "b.bias", f32(DIMS(3)));
    zero_row(t, wa, ba, 1, -0.5f); /* relu: 0 */
    zero_row(t, wa, ba, 2, 0.7f);  /* relu: 0.7 */
    ValueId h = op(t, OP_RELU, V(conv(t, x, wa, ba, 1, "a")), NOATTRS, NULL);
    output(t, "y", conv(t, h, wb, bb, pad_b, "b"));
    CHECK_SAME(t, "prune");
    const IrRemoval *r = removal_of(t, "a");
    CHECK(r != NULL);
    if (!r) return;
    CHECK_EQ_INT(r->channels, 4);
    if (pad_b) {
        CHECK_EQ_INT(r->nremoved, 1);
        CHECK_EQ_INT(r->nkept, 1);
        CHECK(r->nkept == 1 && r->kept[0] == 2 && strstr(r->why[0], "zero-padded conv2d 'b'"));
    } else {
        CHECK_EQ_INT(r->nremoved, 2);
        CHECK_EQ_INT(r->nkept, 0);
    }
    const Op *a = find_op(t, OP_CONV2D, 0);
    CHECK(a && ir_type(t->m, a->out)->dims[1] == (pad_b ? 3 : 2));
}

/* A layer pruned to 100%: one channel stays (no empty tensor), carrying its constant. */
static void test_prune_all_zero(T *t)
{
    fresh(t);
    ValueId x = input(t, "x", f32(DIMS(3, 4)));
    ValueId w1 = param(t, "fc1.weight", f32(DIMS(3, 4))), b1 = param(t, "fc1.bias", f32(DIMS(3)));
    ValueId w2 = param(t, "fc2.weight", f32(DIMS(2, 3))), b2 = param(t, "fc2.bias", f32(DIMS(2)));
    for (int64_t r = 0; r < 3; r++) zero_row(t, w1, b1, r, 0.25f * (float)(r + 1));
    ValueId h = op(t, OP_RELU, V(op(t, OP_LINEAR, V(x, w1, b1), NOATTRS, "fc1")), NOATTRS, NULL);
    output(t, "y", op(t, OP_LINEAR, V(h, w2, b2), NOATTRS, "fc2"));
    CHECK_SAME(t, "prune");
    const IrRemoval *r = removal_of(t, "fc1");
    CHECK(r && r->nremoved == 2 && r->nkept == 1 && r->kept[0] == 2);
    const Op *fc1 = find_op(t, OP_LINEAR, 0);
    CHECK(fc1 && ir_type(t->m, fc1->out)->dims[1] == 1);
}

/* Readers that cannot follow channels keep them all: a grouped conv, a model output. */
static void test_prune_pinned(T *t)
{
    fresh(t);
    ValueId x = input(t, "x", f32(DIMS(1, 2, 4, 4)));
    ValueId wa = param(t, "a.weight", f32(DIMS(4, 2, 1, 1))), ba = param(t, "a.bias", f32(DIMS(4)));
    ValueId wg = param(t, "g.weight", f32(DIMS(4, 2, 1, 1)));
    zero_row(t, wa, ba, 0, 0.0f);
    ValueId h = conv(t, x, wa, ba, 0, "a");
    Attr ga[] = {INTS(ATTR_STRIDE, 1, 1), INTS(ATTR_PAD, 0, 0), INTS(ATTR_DILATION, 1, 1),
                 ir_attr_int(ATTR_GROUPS, 2)};
    output(t, "y", op(t, OP_CONV2D, V(h, wg, 0), ga, 4, "g"));
    CHECK_SAME(t, "prune");
    const IrRemoval *r = removal_of(t, "a");
    CHECK(r && r->nremoved == 0 && r->nkept == 1 && strstr(r->why[0], "conv2d 'g' reads it"));
    CHECK(ir_type(t->m, find_op(t, OP_CONV2D, 0)->out)->dims[1] == 4);
}

/* ---- hyper: the init part ------------------------------------------------------------------ */

/* A LoGAH-like weight: the same hypernetwork call (slice, reshape, linear) written twice,
 * once per low-rank factor, feeding fc's weight. Returns fc's output. */
static ValueId hyper_model(T *t)
{
    fresh(t);
    ValueId x = input(t, "x", f32(DIMS(2, 4)));
    ValueId emb = param(t, "emb", f32(DIMS(2, 3)));
    ValueId hw = param(t, "hyper.weight", f32(DIMS(8, 3))), hb = param(t, "hyper.bias", f32(DIMS(8)));
    ValueId factor[2];
    for (int k = 0; k < 2; k++) {
        Attr sl[] = {INTS(ATTR_BEGIN, 1, 0), INTS(ATTR_END, 2, INT64_MAX), INTS(ATTR_STEP, 1, 1)};
        ValueId e = op(t, OP_SLICE, V(emb), sl, 3, NULL);
        Attr rs = INTS(ATTR_SHAPE, 3);
        e = op(t, OP_RESHAPE, V(e), &rs, 1, NULL);
        ValueId h = op(t, OP_LINEAR, V(e, hw, hb), NOATTRS, "hyper");
        Attr rf = INTS(ATTR_SHAPE, 4, 2);
        factor[k] = op(t, OP_RESHAPE, V(h), &rf, 1, NULL);
    }
    Attr pm = INTS(ATTR_PERM, 1, 0);
    ValueId vt = op(t, OP_PERMUTE, V(factor[1]), &pm, 1, "fc");
    ValueId w = op(t, OP_MATMUL, V(factor[0], vt), NOATTRS, "fc");
    ValueId y = op(t, OP_LINEAR, V(x, w, 0), NOATTRS, "fc");
    output(t, "y", y);
    return y;
}

static void test_hyper_common(T *t)
{
    hyper_model(t);
    CHECK_EQ_INT(count_ops(t, OP_LINEAR), 3);
    CHECK_SAME(t, "hyper");
    CHECK_EQ_INT(count_ops(t, OP_LINEAR), 2); /* the hypernetwork call once, and fc */
    CHECK_EQ_INT(count_ops(t, OP_SLICE), 1);
    CHECK_EQ_INT(t->m->predicted.n, 1);
    if (t->m->predicted.n == 1) {
        const PredictedWeight *p = &t->m->predicted.v[0];
        CHECK_STR(p->name, "fc.weight");
        CHECK_EQ_INT((int64_t)p->bytes, 4 * 4 * 4);
        CHECK_EQ_INT(p->ops, 6); /* slice, reshape, linear, reshape (both factors), permute, matmul */
        CHECK(fabs(p->init_bytes - 4.0 * (6 + 24 + 8)) < 1e-9);
    }
    for (OpId o = 1; o < t->m->ops.n; o++) CHECK(!(t->m->ops.v[o].flags & OPF_INIT));
    CHECK_SAME(t, "fold"); /* everything but fc folds */
    CHECK_EQ_INT(count_live_ops(t), 1);
}

static void test_hyper_init(T *t)
{
    hyper_model(t);
    Run before, after;
    make_inputs(t, &before);
    CHECK(interp(t, &before));
    int errors = 0;
    PassContext cx = {.m = t->m, .error = pass_error, .ud = &errors, .hyper_init = true};
    CHECK(pass_hyper(&cx));
    CHECK(t->m->hyper_init);
    for (OpId o = 1; o < t->m->ops.n; o++) {
        const Op *op = &t->m->ops.v[o];
        if (op->flags & OPF_DEAD) continue;
        bool run_part = op->kind == OP_LINEAR && op->name && strcmp(op->name, "fc") == 0;
        CHECK_EQ_INT(!(op->flags & OPF_INIT), run_part);
    }
    run_pass(t, "fold"); /* leaves the init part to create */
    run_pass(t, "fuse");
    CHECK_EQ_INT(count_ops(t, OP_MATMUL), 1);
    CHECK_EQ_INT(count_ops(t, OP_LINEAR), 2);
    CHECK_EQ_INT(count_values(t, VAL_PARAM), 3);
    after = before;
    CHECK(interp(t, &after));
    CHECK(memcmp(after.out[0].data, before.out[0].data, 2 * 4 * sizeof(float)) == 0);
    free_run(&after, false);
    free_run(&before, true);
}

/* ---- the pipeline -------------------------------------------------------------------------- */

static void test_pipeline(T *t)
{
    static const char *const want[] = {"hyper", "fold", "bnfold", "dce", "prune", "fuse"};
    CHECK_EQ_INT(pipeline_default_len, 6);
    for (unsigned i = 0; i < 6 && i < pipeline_default_len; i++)
        CHECK_STR(pipeline_default[i], want[i]);

    /* conv -> batch_norm(gamma given as a reshape expression) -> relu, end to end */
    fresh(t);
    ValueId x = input(t, "x", f32(DIMS(1, 2, 4, 4)));
    ValueId w = param(t, "conv.weight", f32(DIMS(3, 2, 3, 3)));
    ValueId p[4];
    bn_params(t, "bn", 3, p);
    ValueId g2 = param(t, "bn.gamma2", f32(DIMS(1, 3)));
    Attr rs = INTS(ATTR_SHAPE, 3);
    ValueId g = op(t, OP_RESHAPE, V(g2), &rs, 1, "bn");
    ValueId y = bn(t, conv(t, x, w, 0, 1, "conv"), p[0], p[1], g, p[3], "bn");
    output(t, "y", op(t, OP_RELU, V(y), NOATTRS, NULL));
    Run before, after;
    make_inputs(t, &before);
    CHECK(interp(t, &before));
    int errors = 0;
    PassContext cx = {.m = t->m, .error = pass_error, .ud = &errors};
    CHECK(pipeline_run(&cx, pipeline_default, pipeline_default_len, true, NULL, NULL, NULL, NULL, NULL, NULL));
    CHECK_EQ_INT(count_live_ops(t), 2); /* conv, relu fused into it */
    const Op *relu = find_op(t, OP_RELU, 0);
    CHECK(relu && relu->group == op_id(t, find_op(t, OP_CONV2D, 0)));
    after = before;
    CHECK(interp(t, &after));
    for (int64_t k = 0; k < tensor_numel(&before.out[0]); k++) {
        float a = ((float *)before.out[0].data)[k], b = ((float *)after.out[0].data)[k];
        CHECK(fabsf(a - b) <= 1e-5f * fmaxf(1.0f, fabsf(a)));
    }
    free_run(&after, false);
    free_run(&before, true);
}

int main(void)
{
    T t = {0};
    test_eval_op(&t);
    test_fold_chain(&t);
    test_fold_names_outputs(&t);
    test_fold_size_rule(&t);
    test_fold_failing(&t);
    test_bnfold_conv(&t, false, true);
    test_bnfold_conv(&t, true, true);
    test_bnfold_conv(&t, true, false);
    test_bnfold_grouped(&t);
    test_bnfold_linear(&t);
    test_bnfold_chain(&t);
    test_bnfold_not(&t);
    test_fuse_resblock(&t);
    test_fuse_linear(&t);
    test_fuse_not(&t);
    test_groups_compact_verify(&t);
    test_prune_padding(&t, 1);
    test_prune_padding(&t, 0);
    test_prune_all_zero(&t);
    test_prune_pinned(&t);
    test_hyper_common(&t);
    test_hyper_init(&t);
    test_pipeline(&t);
    ir_module_free(t.m);
    return check_done();
}
