/* SPDX-License-Identifier: MIT
 * shape.c - the shape rule and FLOP count of every op, and NumPy broadcasting.
 *
 * shape_<op>() validates an op's operands and attributes completely and writes its
 * output type, or returns false with a user-facing message (style.md 2.5: lowercase, no
 * trailing period, NDL names in 'quotes', shapes as [a,b,c]); the frontend locates it at
 * the NDL expression. Nothing here prints or aborts on bad input. Symbolic dims (Dim < 0)
 * flow through the Dim algebra of type.c. The rule and FLOP tables are expanded from
 * ops.def, so an op without shape_<name> and flops_<name> does not compile.
 *
 * Attribute conventions (the frontend normalizes to these; the IR checks them strictly):
 *   axes        DIM/DIMS are 0..rank-1 (DIMS ascending, unique, non-empty); argmax DIM
 *               -1 reduces the flattened tensor (keepdim: all dims 1, else a scalar).
 *   cast        DTYPE is the output DType (DT_F32, DT_I32, DT_I64 or DT_BOOL).
 *   reshape     SHAPE holds every output dim, already resolved (no -1: in the Dim
 *               encoding -1 is symbolic dim 0); numel must be equal.
 *   slice       BEGIN, END, STEP have one entry per axis. For a compile-time dim D:
 *               0 <= BEGIN <= D, BEGIN <= END <= D or END = INT64_MAX ("to the end", read
 *               as D), STEP >= 1, out = ceil((END - BEGIN) / STEP). A symbolic dim can
 *               only be taken whole (BEGIN 0, END INT64_MAX, STEP 1) and stays symbolic.
 *               Python-style clamping and negative indices are the frontend's job.
 *   hashed      SHAPE as for reshape; SEED in 0..2^32-1; the output dtype is the pool's.
 *   conv/pools  STRIDE, PAD, DILATION, KERNEL are [h, w] pairs. A symbolic H or W is
 *               kept only where the window preserves it (stride 1, span = 2 * pad + 1).
 */
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include "ir.h"

typedef struct Sh {     /* one shape-rule invocation */
    Module *m;
    const Op *op;
    char *err;
    size_t errlen;
    char buf[4][256];   /* formatted shapes for the message */
} Sh;

typedef bool ShapeFn(Sh *s, TensorType *out);

/* The op's name as the user writes it in NDL (reduce_sum is spelled sum). */
static const char *op_name(OpKind k)
{
    const char *n = op_info[k].name;
    if (k == OP_RECURSE_GATHER || k == OP_RECURSE_SCATTER) return "recurse"; /* spec 8.3's steps */
    return strncmp(n, "reduce_", 7) == 0 ? n + 7 : n;
}

static bool fail(Sh *s, const char *fmt, ...) NDLC_PRINTF(2, 3);
static bool fail(Sh *s, const char *fmt, ...)
{
    if (s->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->err, s->errlen, fmt, ap);
        va_end(ap);
    }
    return false;
}

#define NAME op_name(s->op->kind)

static const char *dims_str(Sh *s, int slot, const TensorType *t)
{
    return ir_format_dims(s->m, t, s->buf[slot], sizeof s->buf[slot]);
}

static const char *type_str(Sh *s, int slot, const TensorType *t)
{
    return ir_format_type(s->m, t, s->buf[slot], sizeof s->buf[slot]);
}

static const char *dim_str(Sh *s, int slot, Dim d)
{
    return ir_format_dim(s->m, d, s->buf[slot], sizeof s->buf[slot]);
}

static const char *pair_str(Sh *s, int slot, int64_t a, int64_t b)
{
    snprintf(s->buf[slot], sizeof s->buf[slot], "[%lld,%lld]", (long long)a, (long long)b);
    return s->buf[slot];
}

/* Operand i; role names it in the message when a required operand is absent. */
static const TensorType *arg(Sh *s, unsigned i, const char *role)
{
    ValueId v = i < s->op->nin ? ir_operand(s->m, s->op, i) : 0;
    if (v == 0 || v >= s->m->values.n) {
        fail(s, "'%s' is missing its %s", NAME, role);
        return NULL;
    }
    return ir_type(s->m, v);
}

/* Optional operand i, or NULL when absent. */
static const TensorType *opt(Sh *s, unsigned i)
{
    ValueId v = i < s->op->nin ? ir_operand(s->m, s->op, i) : 0;
    return v && v < s->m->values.n ? ir_type(s->m, v) : NULL;
}

static bool need_float(Sh *s, const TensorType *t, const char *role)
{
    if (ir_dtype_is_float(t->dtype)) return true;
    return fail(s, "'%s' expects a float %s, got %s", NAME, role, type_str(s, 0, t));
}

static bool need_index(Sh *s, const TensorType *t, const char *role)
{
    if (t->dtype == DT_I32 || t->dtype == DT_I64) return true;
    return fail(s, "'%s' expects i32 or i64 %s, got %s", NAME, role, type_str(s, 0, t));
}

static bool need_rank_min(Sh *s, const TensorType *t, unsigned r, const char *role)
{
    if (t->rank >= r) return true;
    return fail(s, "'%s' expects %s of rank %u or more, got %s", NAME, role, r,
                type_str(s, 0, t));
}

static const Attr *attr(Sh *s, AttrKey key, AttrKind kind)
{
    const Attr *a = ir_op_attr(s->m, s->op, key);
    if (!a || attr_info[key].kind != kind) {
        fail(s, "'%s' is missing attribute '%s'", NAME, attr_info[key].name);
        return NULL;
    }
    return a;
}

static bool get_int(Sh *s, AttrKey key, int64_t *v)
{
    const Attr *a = attr(s, key, AK_INT);
    if (a) *v = a->u.i;
    return a != NULL;
}

static bool get_float(Sh *s, AttrKey key, double *v)
{
    const Attr *a = attr(s, key, AK_FLOAT);
    if (a) *v = a->u.f;
    return a != NULL;
}

static bool get_ints(Sh *s, AttrKey key, const int64_t **v, uint32_t *n)
{
    const Attr *a = attr(s, key, AK_INTS);
    if (!a) return false;
    if (a->n && (a->u.ints > s->m->ints.n || a->n > s->m->ints.n - a->u.ints))
        return fail(s, "'%s' attribute '%s' is out of range", NAME, attr_info[key].name);
    *v = a->n ? s->m->ints.v + a->u.ints : NULL;
    *n = a->n;
    return true;
}

static bool get_flag(Sh *s, AttrKey key, int64_t *v)
{
    if (!get_int(s, key, v)) return false;
    if (*v == 0 || *v == 1) return true;
    return fail(s, "'%s' %s must be 0 or 1, got %lld", NAME, attr_info[key].name,
                (long long)*v);
}

static bool get_seed(Sh *s, int64_t *v)
{
    if (!get_int(s, ATTR_SEED, v)) return false;
    if (*v >= 0 && *v <= (int64_t)UINT32_MAX) return true;
    return fail(s, "'%s' seed must be in 0..4294967295, got %lld", NAME, (long long)*v);
}

/* A pair attribute ([h, w]) whose entries are all >= lo. */
static bool get_pair(Sh *s, AttrKey key, int64_t lo, int64_t p[2])
{
    const int64_t *v = NULL; /* initialised for gcc -O3's -Wmaybe-uninitialized */
    uint32_t n = 0;
    if (!get_ints(s, key, &v, &n)) return false;
    if (n != 2)
        return fail(s, "'%s' %s must have 2 entries [h,w], got %u", NAME, attr_info[key].name,
                    n);
    if (v[0] < lo || v[1] < lo || v[0] > INT32_MAX || v[1] > INT32_MAX)
        return fail(s, "'%s' %s must be %s, got %s", NAME, attr_info[key].name,
                    lo > 0 ? "positive" : "non-negative", pair_str(s, 0, v[0], v[1]));
    p[0] = v[0];
    p[1] = v[1];
    return true;
}

static bool check_axis(Sh *s, const char *what, int64_t d, const TensorType *t)
{
    if (d >= 0 && d < t->rank) return true;
    return fail(s, "'%s' %s %lld is out of range for %s", NAME, what, (long long)d,
                dims_str(s, 0, t));
}

/* A Dim taken from an attribute: a size or an interned symbolic dim (slot 0 of
 * Module.dimexprs is reserved, so -1 is never valid). */
static bool valid_dim(const Module *m, Dim d)
{
    uint64_t i = d >= 0 ? 0 : (uint64_t)(-(d + 1));
    return d >= 0 || (i >= 1 && i < m->dimexprs.n);
}

/* The element count of t, failing with a message where it is not representable. */
static bool numel(Sh *s, const TensorType *t, Dim *n)
{
    *n = 1;
    for (unsigned i = 0; i < t->rank; i++)
        if (!ir_dim_mul_checked(s->m, *n, t->dims[i], n))
            return fail(s, "'%s' element count of %s is too large", NAME, dims_str(s, 0, t));
    return true;
}

static bool shape_attr(Sh *s, TensorType *out)
{
    const int64_t *v;
    uint32_t n;
    if (!get_ints(s, ATTR_SHAPE, &v, &n)) return false;
    if (n > IR_MAX_RANK)
        return fail(s, "'%s' shape has %u dimensions, more than the %d supported", NAME, n,
                    IR_MAX_RANK);
    for (uint32_t i = 0; i < n; i++)
        if (!valid_dim(s->m, v[i]))
            return fail(s, "'%s' shape entry %u is not a valid size", NAME, i);
    out->rank = (uint8_t)n;
    for (uint32_t i = 0; i < n; i++) out->dims[i] = v[i];
    return true;
}

/* ---- elementwise ----------------------------------------------------------------- */

static bool shape_ew1(Sh *s, TensorType *out)
{
    const TensorType *x = arg(s, 0, "input");
    if (!x || !need_float(s, x, "input")) return false;
    *out = *x;
    return true;
}

bool ir_broadcast(Module *m, const TensorType *a, const TensorType *b, TensorType *out,
                  char *err, size_t errlen)
{
    unsigned r = a->rank > b->rank ? a->rank : b->rank;
    TensorType t;
    memset(&t, 0, sizeof t);
    t.dtype = a->dtype;
    t.rank = (uint8_t)r;
    for (unsigned i = 0; i < r; i++) {
        Dim da = i + a->rank < r ? 1 : a->dims[i + a->rank - r];
        Dim db = i + b->rank < r ? 1 : b->dims[i + b->rank - r];
        if (da == db || db == 1) {
            t.dims[i] = da;
        } else if (da == 1) {
            t.dims[i] = db;
        } else {
            char ba[256], bb[256];
            if (errlen)
                snprintf(err, errlen, "cannot broadcast %s with %s",
                         ir_format_dims(m, a, ba, sizeof ba), ir_format_dims(m, b, bb, sizeof bb));
            return false;
        }
    }
    *out = t;
    return true;
}

static bool shape_ew2(Sh *s, TensorType *out)
{
    const TensorType *a = arg(s, 0, "first operand"), *b = a ? arg(s, 1, "second operand") : NULL;
    if (!b) return false;
    if (a->dtype != b->dtype)
        return fail(s, "'%s' expects operands of equal dtype, got %s and %s", NAME,
                    type_str(s, 0, a), type_str(s, 1, b));
    if (a->dtype == DT_BOOL)
        return fail(s, "'%s' does not accept bool operands, got %s and %s", NAME,
                    type_str(s, 0, a), type_str(s, 1, b));
    if (s->op->kind == OP_DIV && !ir_dtype_is_float(a->dtype))
        return fail(s, "'%s' expects float operands, got %s and %s", NAME, type_str(s, 0, a),
                    type_str(s, 1, b));
    if (!ir_broadcast(s->m, a, b, out, s->err, s->errlen)) {
        size_t len = s->errlen ? strlen(s->err) : 0;
        if (s->errlen > len + 1) snprintf(s->err + len, s->errlen - len, " in '%s'", NAME);
        return false;
    }
    return true;
}

#define EW1(K, name, expr) \
    static bool shape_##name(Sh *s, TensorType *out) { return shape_ew1(s, out); }
#include "eltwise.def"
#undef EW1
static bool shape_add(Sh *s, TensorType *out) { return shape_ew2(s, out); }
static bool shape_sub(Sh *s, TensorType *out) { return shape_ew2(s, out); }
static bool shape_mul(Sh *s, TensorType *out) { return shape_ew2(s, out); }
static bool shape_div(Sh *s, TensorType *out) { return shape_ew2(s, out); }

static bool shape_cast(Sh *s, TensorType *out)
{
    const TensorType *x = arg(s, 0, "input");
    int64_t dt;
    if (!x || !get_int(s, ATTR_DTYPE, &dt)) return false;
    if (dt != DT_F32 && dt != DT_I32 && dt != DT_I64 && dt != DT_BOOL) {
        if (dt >= 0 && dt < DT_COUNT)
            return fail(s, "'cast' target dtype must be f32, i32, i64 or bool, got %s",
                        dtype_info[dt].name);
        return fail(s, "'cast' target dtype code %lld is not a dtype", (long long)dt);
    }
    *out = *x;
    out->dtype = (DType)dt;
    return true;
}

/* ---- softmax, reductions ---------------------------------------------------------- */

static bool shape_softmax_like(Sh *s, TensorType *out)
{
    const TensorType *x = arg(s, 0, "input");
    int64_t dim;
    if (!x || !need_float(s, x, "input") || !need_rank_min(s, x, 1, "an input")) return false;
    if (!get_int(s, ATTR_DIM, &dim) || !check_axis(s, "dim", dim, x)) return false;
    *out = *x;
    return true;
}

static bool shape_softmax(Sh *s, TensorType *out) { return shape_softmax_like(s, out); }
static bool shape_log_softmax(Sh *s, TensorType *out) { return shape_softmax_like(s, out); }

static bool shape_reduce(Sh *s, TensorType *out)
{
    const TensorType *x = arg(s, 0, "input");
    const int64_t *dims;
    uint32_t n;
    int64_t keep;
    if (!x || !need_float(s, x, "input")) return false;
    if (!get_ints(s, ATTR_DIMS, &dims, &n) || !get_flag(s, ATTR_KEEPDIM, &keep)) return false;
    if (n == 0) return fail(s, "'%s' needs at least one axis in dims", NAME);
    bool reduced[IR_MAX_RANK] = {false};
    for (uint32_t i = 0; i < n; i++) {
        if (!check_axis(s, "dim", dims[i], x)) return false;
        if (i > 0 && dims[i] <= dims[i - 1])
            return fail(s, "'%s' dims must be ascending and unique", NAME);
        reduced[dims[i]] = true;
    }
    out->dtype = x->dtype;
    out->rank = 0;
    for (unsigned i = 0; i < x->rank; i++) {
        if (!reduced[i])
            out->dims[out->rank++] = x->dims[i];
        else if (keep)
            out->dims[out->rank++] = 1;
    }
    return true;
}

static bool shape_reduce_sum(Sh *s, TensorType *out) { return shape_reduce(s, out); }
static bool shape_reduce_mean(Sh *s, TensorType *out) { return shape_reduce(s, out); }
static bool shape_reduce_max(Sh *s, TensorType *out) { return shape_reduce(s, out); }
static bool shape_reduce_min(Sh *s, TensorType *out) { return shape_reduce(s, out); }

static bool shape_argmax(Sh *s, TensorType *out)
{
    const TensorType *x = arg(s, 0, "input");
    int64_t dim, keep;
    if (!x) return false;
    if (x->dtype != DT_F32 && x->dtype != DT_I32 && x->dtype != DT_I64)
        return fail(s, "'argmax' expects a float or integer input, got %s", type_str(s, 0, x));
    if (!get_int(s, ATTR_DIM, &dim) || !get_flag(s, ATTR_KEEPDIM, &keep)) return false;
    if (dim != -1 && !check_axis(s, "dim", dim, x)) return false;
    out->dtype = DT_I64;
    out->rank = 0;
    for (int i = 0; i < x->rank; i++) {
        if (dim != -1 && i != dim)
            out->dims[out->rank++] = x->dims[i];
        else if (keep)
            out->dims[out->rank++] = 1;
    }
    return true;
}

/* ---- matmul, linear ------------------------------------------------------------------ */

static bool shape_matmul(Sh *s, TensorType *out)
{
    const TensorType *a = arg(s, 0, "first operand"), *b = a ? arg(s, 1, "second operand") : NULL;
    if (!b) return false;
    if (!ir_dtype_is_float(a->dtype) || a->dtype != b->dtype)
        return fail(s, "'matmul' expects float operands of equal dtype, got %s and %s",
                    type_str(s, 0, a), type_str(s, 1, b));
    if (a->rank == 0 || b->rank == 0)
        return fail(s, "'matmul' expects operands of rank 1 or more, got %s and %s",
                    dims_str(s, 0, a), dims_str(s, 1, b));
    Dim ka = a->dims[a->rank - 1];
    Dim kb = b->rank >= 2 ? b->dims[b->rank - 2] : b->dims[0];
    if (ka != kb)
        return fail(s, "'matmul' cannot multiply %s by %s: inner dimensions %s and %s differ",
                    dims_str(s, 0, a), dims_str(s, 1, b), dim_str(s, 2, ka), dim_str(s, 3, kb));
    TensorType ba, bb, bo;
    memset(&ba, 0, sizeof ba);
    memset(&bb, 0, sizeof bb);
    ba.rank = a->rank > 2 ? (uint8_t)(a->rank - 2) : 0;
    bb.rank = b->rank > 2 ? (uint8_t)(b->rank - 2) : 0;
    memcpy(ba.dims, a->dims, ba.rank * sizeof(Dim));
    memcpy(bb.dims, b->dims, bb.rank * sizeof(Dim));
    if (!ir_broadcast(s->m, &ba, &bb, &bo, s->err, s->errlen))
        return fail(s, "'matmul' cannot broadcast the batch dimensions of %s and %s",
                    dims_str(s, 0, a), dims_str(s, 1, b));
    *out = bo;
    out->dtype = a->dtype;
    if (a->rank >= 2) out->dims[out->rank++] = a->dims[a->rank - 2];
    if (b->rank >= 2) out->dims[out->rank++] = b->dims[b->rank - 1];
    return true;
}

static bool shape_linear(Sh *s, TensorType *out)
{
    const TensorType *x = arg(s, 0, "input"), *w = x ? arg(s, 1, "weight") : NULL, *b = opt(s, 2);
    if (!w) return false;
    if (!need_float(s, x, "input") || !need_float(s, w, "weight")) return false;
    if (b && !need_float(s, b, "bias")) return false;
    if (!need_rank_min(s, x, 1, "an input")) return false;
    if (w->rank != 2)
        return fail(s, "'linear' expects a 2-D weight [out,in], got %s", dims_str(s, 0, w));
    if (x->dtype != w->dtype || (b && b->dtype != w->dtype))
        return fail(s, "'linear' expects operands of equal dtype");
    if (x->dims[x->rank - 1] != w->dims[1])
        return fail(s, "'linear' expects input [...,%s] for weight %s, got %s",
                    dim_str(s, 0, w->dims[1]), dims_str(s, 1, w), dims_str(s, 2, x));
    if (b && (b->rank != 1 || b->dims[0] != w->dims[0]))
        return fail(s, "'linear' expects bias [%s] for weight %s, got %s",
                    dim_str(s, 0, w->dims[0]), dims_str(s, 1, w), dims_str(s, 2, b));
    *out = *x;
    out->dims[x->rank - 1] = w->dims[0];
    return true;
}

/* ---- convolution and pooling ---------------------------------------------------------- */

/* Output size along one spatial axis of a window whose dilated extent is `span`; a
 * symbolic size survives only when the window preserves it. */
static bool window_out(Sh *s, const char *axis, Dim in, int64_t span, int64_t pad,
                       int64_t stride, Dim *out, const TensorType *x)
{
    if (!ir_dim_is_const(in)) {
        if (stride == 1 && span == 2 * pad + 1) {
            *out = in;
            return true;
        }
        return fail(s, "'%s' cannot compute the output %s from symbolic size %s of %s: only "
                    "stride 1 with 2*pad+1 equal to the dilated kernel keeps it",
                    NAME, axis, dim_str(s, 0, in), dims_str(s, 1, x));
    }
    if (in > INT64_MAX / 2)
        return fail(s, "'%s' input %s is too large", NAME, dims_str(s, 0, x));
    if (in + 2 * pad < span)
        return fail(s, "'%s' %s extent %lld is larger than the padded input %s %lld of %s",
                    NAME, s->op->kind == OP_CONV2D ? "kernel" : "window", (long long)span, axis,
                    (long long)(in + 2 * pad), dims_str(s, 0, x));
    *out = (in + 2 * pad - span) / stride + 1;
    return true;
}

/* Fills out's two spatial dims (the last two axes) from the window. */
static bool spatial(Sh *s, const TensorType *x, const int64_t k[2], const int64_t dil[2],
                    const int64_t pad[2], const int64_t stride[2], TensorType *out)
{
    static const char *const axis[2] = {"height", "width"};
    int h = x->rank - 2;
    for (int i = 0; i < 2; i++) {
        int64_t span = dil[i] * (k[i] - 1) + 1;
        if (!window_out(s, axis[i], x->dims[h + i], span, pad[i], stride[i], &out->dims[h + i], x))
            return false;
    }
    return true;
}

static bool need_image(Sh *s, const TensorType *x)
{
    if (!need_float(s, x, "input")) return false;
    if (x->rank == 3 || x->rank == 4) return true;
    return fail(s, "'%s' expects a [N,C,H,W] or [C,H,W] input, got %s", NAME,
                dims_str(s, 0, x));
}

static bool shape_conv2d(Sh *s, TensorType *out)
{
    const TensorType *x = arg(s, 0, "input"), *w = x ? arg(s, 1, "weight") : NULL, *b = opt(s, 2);
    int64_t stride[2], pad[2], dil[2], groups;
    if (!w || !need_image(s, x) || !need_float(s, w, "weight")) return false;
    if (b && !need_float(s, b, "bias")) return false;
    if (x->dtype != w->dtype || (b && b->dtype != w->dtype))
        return fail(s, "'conv2d' expects operands of equal dtype");
    if (w->rank != 4)
        return fail(s, "'conv2d' expects a weight [O,C/groups,kh,kw], got %s", dims_str(s, 0, w));
    if (!get_pair(s, ATTR_STRIDE, 1, stride) || !get_pair(s, ATTR_PAD, 0, pad) ||
        !get_pair(s, ATTR_DILATION, 1, dil) || !get_int(s, ATTR_GROUPS, &groups))
        return false;
    if (groups < 1 || groups > INT32_MAX)
        return fail(s, "'conv2d' groups must be positive, got %lld", (long long)groups);
    for (int i = 2; i < 4; i++)
        if (!ir_dim_is_const(w->dims[i]) || w->dims[i] < 1 || w->dims[i] > INT32_MAX)
            return fail(s, "'conv2d' expects a non-empty compile-time kernel, got weight %s",
                        dims_str(s, 0, w));
    Dim c = x->dims[x->rank - 3], want;
    if (!ir_dim_mul_checked(s->m, w->dims[1], groups, &want))
        return fail(s, "'conv2d' groups %lld is too large", (long long)groups);
    if (c != want)
        return fail(s, "'conv2d' input %s has %s channels but weight %s with groups %lld expects %s",
                    dims_str(s, 3, x), dim_str(s, 0, c), dims_str(s, 1, w), (long long)groups,
                    dim_str(s, 2, want));
    Dim per;
    if (!ir_dim_div(s->m, w->dims[0], groups, &per))
        return fail(s, "'conv2d' groups %lld does not divide the %s output channels of weight %s",
                    (long long)groups, dim_str(s, 0, w->dims[0]), dims_str(s, 1, w));
    if (b && (b->rank != 1 || b->dims[0] != w->dims[0]))
        return fail(s, "'conv2d' expects bias [%s] for weight %s, got %s",
                    dim_str(s, 0, w->dims[0]), dims_str(s, 1, w), dims_str(s, 2, b));
    *out = *x;
    out->dims[x->rank - 3] = w->dims[0];
    int64_t k[2] = {w->dims[2], w->dims[3]};
    return spatial(s, x, k, dil, pad, stride, out);
}

static bool shape_pool(Sh *s, TensorType *out)
{
    const TensorType *x = arg(s, 0, "input");
    int64_t k[2], stride[2], pad[2], dil[2] = {1, 1};
    if (!x || !need_image(s, x)) return false;
    if (!get_pair(s, ATTR_KERNEL, 1, k) || !get_pair(s, ATTR_STRIDE, 1, stride) ||
        !get_pair(s, ATTR_PAD, 0, pad))
        return false;
    if (2 * pad[0] > k[0] || 2 * pad[1] > k[1])
        return fail(s, "'%s' pad %s must be at most half of kernel %s", NAME,
                    pair_str(s, 0, pad[0], pad[1]), pair_str(s, 1, k[0], k[1]));
    *out = *x;
    return spatial(s, x, k, dil, pad, stride, out);
}

static bool shape_max_pool2d(Sh *s, TensorType *out) { return shape_pool(s, out); }
static bool shape_avg_pool2d(Sh *s, TensorType *out) { return shape_pool(s, out); }

/* ---- normalization, attention ---------------------------------------------------------- */

static bool get_eps(Sh *s)
{
    double eps;
    if (!get_float(s, ATTR_EPS, &eps)) return false;
    if (eps >= 0 && isfinite(eps)) return true;
    return fail(s, "'%s' eps must be finite and non-negative, got %g", NAME, eps);
}

/* A per-channel vector operand (mean, var, weight, bias) that must be [c]. */
static bool check_vec(Sh *s, const TensorType *v, const char *role, Dim c, const TensorType *x)
{
    if (!need_float(s, v, role)) return false;
    if (v->rank == 1 && v->dims[0] == c && v->dtype == x->dtype) return true;
    return fail(s, "'%s' expects %s [%s] for input %s, got %s", NAME, role, dim_str(s, 0, c),
                dims_str(s, 1, x), type_str(s, 2, v));
}

static bool shape_batch_norm(Sh *s, TensorType *out)
{
    static const char *const role[5] = {"input", "mean", "var", "weight", "bias"};
    const TensorType *x = arg(s, 0, "input");
    if (!x || !need_float(s, x, "input") || !need_rank_min(s, x, 2, "an input [N,C,...]"))
        return false;
    for (unsigned i = 1; i < 5; i++) {
        const TensorType *v = i < 3 ? arg(s, i, role[i]) : opt(s, i);
        if (i < 3 && !v) return false;
        if (v && !check_vec(s, v, role[i], x->dims[1], x)) return false;
    }
    if (!get_eps(s)) return false;
    *out = *x;
    return true;
}

static bool shape_norm_last(Sh *s, TensorType *out, unsigned nvec)
{
    static const char *const role[3] = {"input", "weight", "bias"};
    const TensorType *x = arg(s, 0, "input");
    if (!x || !need_float(s, x, "input") || !need_rank_min(s, x, 1, "an input")) return false;
    for (unsigned i = 1; i <= nvec; i++) {
        const TensorType *v = opt(s, i);
        if (v && !check_vec(s, v, role[i], x->dims[x->rank - 1], x)) return false;
    }
    if (!get_eps(s)) return false;
    *out = *x;
    return true;
}

static bool shape_layer_norm(Sh *s, TensorType *out) { return shape_norm_last(s, out, 2); }
static bool shape_rms_norm(Sh *s, TensorType *out) { return shape_norm_last(s, out, 1); }

static bool shape_attention(Sh *s, TensorType *out)
{
    const TensorType *q = arg(s, 0, "q"), *k = q ? arg(s, 1, "k") : NULL,
                     *v = k ? arg(s, 2, "v") : NULL;
    int64_t causal;
    double scale;
    if (!v || !need_float(s, q, "q") || !need_float(s, k, "k") || !need_float(s, v, "v"))
        return false;
    if (q->dtype != k->dtype || q->dtype != v->dtype)
        return fail(s, "'attention' expects q, k and v of equal dtype");
    if (q->rank < 2 || k->rank != q->rank || v->rank != q->rank)
        return fail(s, "'attention' expects q, k and v of equal rank 2 or more [...,T,D], "
                    "got %s, %s and %s", dims_str(s, 0, q), dims_str(s, 1, k), dims_str(s, 2, v));
    unsigned r = q->rank;
    for (unsigned i = 0; i + 2 < r; i++)
        if (k->dims[i] != q->dims[i] || v->dims[i] != q->dims[i])
            return fail(s, "'attention' expects equal batch dimensions, got q %s, k %s and v %s",
                        dims_str(s, 0, q), dims_str(s, 1, k), dims_str(s, 2, v));
    if (k->dims[r - 1] != q->dims[r - 1])
        return fail(s, "'attention' expects keys of size %s like the queries %s, got k %s",
                    dim_str(s, 0, q->dims[r - 1]), dims_str(s, 1, q), dims_str(s, 2, k));
    if (v->dims[r - 2] != k->dims[r - 2])
        return fail(s, "'attention' expects as many values as keys, got k %s and v %s",
                    dims_str(s, 0, k), dims_str(s, 1, v));
    if (!get_flag(s, ATTR_CAUSAL, &causal) || !get_float(s, ATTR_SCALE, &scale)) return false;
    if (!isfinite(scale)) return fail(s, "'attention' scale must be finite, got %g", scale);
    *out = *q;
    out->dims[r - 1] = v->dims[r - 1];
    return true;
}

/* ---- data movement -------------------------------------------------------------------- */

static bool shape_reshape(Sh *s, TensorType *out)
{
    const TensorType *x = arg(s, 0, "input");
    if (!x || !shape_attr(s, out)) return false;
    out->dtype = x->dtype;
    Dim nin, nout;
    if (!numel(s, x, &nin) || !numel(s, out, &nout)) return false;
    if (nin != nout)
        return fail(s, "'reshape' cannot reshape %s (%s elements) to %s (%s elements)",
                    dims_str(s, 0, x), dim_str(s, 1, nin), dims_str(s, 2, out),
                    dim_str(s, 3, nout));
    return true;
}

static bool shape_permute(Sh *s, TensorType *out)
{
    const TensorType *x = arg(s, 0, "input");
    const int64_t *perm;
    uint32_t n;
    if (!x || !get_ints(s, ATTR_PERM, &perm, &n)) return false;
    bool seen[IR_MAX_RANK] = {false};
    bool ok = n == x->rank;
    for (uint32_t i = 0; ok && i < n; i++) {
        ok = perm[i] >= 0 && perm[i] < n && !seen[perm[i]];
        if (ok) seen[perm[i]] = true;
    }
    if (!ok) {
        int len = 0;
        char *p = s->buf[1];
        len += snprintf(p, sizeof s->buf[1], "[");
        for (uint32_t i = 0; i < n && len < (int)sizeof s->buf[1]; i++)
            len += snprintf(p + len, sizeof s->buf[1] - len, "%s%lld", i ? "," : "",
                            (long long)perm[i]);
        if (len < (int)sizeof s->buf[1]) snprintf(p + len, sizeof s->buf[1] - len, "]");
        return fail(s, "'permute' perm %s is not a permutation of the %u axes of %s", p,
                    x->rank, dims_str(s, 0, x));
    }
    *out = *x;
    for (uint32_t i = 0; i < n; i++) out->dims[i] = x->dims[perm[i]];
    return true;
}

static bool shape_slice(Sh *s, TensorType *out)
{
    const TensorType *x = arg(s, 0, "input");
    const int64_t *begin = NULL, *end = NULL, *step = NULL; /* for gcc -O3, as in get_pair */
    uint32_t nb = 0, ne = 0, ns = 0;
    if (!x || !get_ints(s, ATTR_BEGIN, &begin, &nb) || !get_ints(s, ATTR_END, &end, &ne) ||
        !get_ints(s, ATTR_STEP, &step, &ns))
        return false;
    if (nb != x->rank || ne != x->rank || ns != x->rank)
        return fail(s, "'slice' needs begin, end and step for each of the %u axes of %s, got "
                    "%u, %u and %u", x->rank, dims_str(s, 0, x), nb, ne, ns);
    *out = *x;
    for (unsigned i = 0; i < x->rank; i++) {
        Dim d = x->dims[i];
        if (step[i] < 1)
            return fail(s, "'slice' step must be positive, got %lld for axis %u",
                        (long long)step[i], i);
        if (!ir_dim_is_const(d)) {
            if (begin[i] == 0 && end[i] == INT64_MAX && step[i] == 1) continue;
            return fail(s, "'slice' can only take symbolic dimension %s of %s whole",
                        dim_str(s, 0, d), dims_str(s, 1, x));
        }
        int64_t e = end[i] == INT64_MAX ? d : end[i];
        if (begin[i] < 0 || begin[i] > d || e < begin[i] || e > d) {
            char range[64];
            if (end[i] == INT64_MAX)
                snprintf(range, sizeof range, "%lld:", (long long)begin[i]);
            else
                snprintf(range, sizeof range, "%lld:%lld", (long long)begin[i], (long long)e);
            return fail(s, "'slice' range %s is out of bounds for axis %u of %s", range, i,
                        dims_str(s, 0, x));
        }
        out->dims[i] = e == begin[i] ? 0 : (e - begin[i] - 1) / step[i] + 1;
    }
    return true;
}

static bool shape_concat(Sh *s, TensorType *out)
{
    const TensorType *x = arg(s, 0, "first operand");
    int64_t dim;
    if (!x || !get_int(s, ATTR_DIM, &dim)) return false;
    if (!check_axis(s, "dim", dim, x)) return false;
    *out = *x;
    for (unsigned i = 1; i < s->op->nin; i++) {
        const TensorType *y = arg(s, i, "operand");
        if (!y) return false;
        if (y->dtype != x->dtype)
            return fail(s, "'concat' expects operands of equal dtype, got %s and %s",
                        type_str(s, 0, x), type_str(s, 1, y));
        bool same = y->rank == x->rank;
        for (unsigned a = 0; same && a < x->rank; a++)
            same = a == dim || y->dims[a] == x->dims[a];
        if (!same)
            return fail(s, "'concat' expects operands that match except in dim %lld, got %s "
                        "and %s", (long long)dim, dims_str(s, 0, x), dims_str(s, 1, y));
        Dim sum;
        if (!ir_dim_add(s->m, out->dims[dim], y->dims[dim], &sum))
            return fail(s, "'concat' cannot add sizes %s and %s along dim %lld",
                        dim_str(s, 0, out->dims[dim]), dim_str(s, 1, y->dims[dim]),
                        (long long)dim);
        out->dims[dim] = sum;
    }
    return true;
}

static bool shape_embedding(Sh *s, TensorType *out)
{
    const TensorType *ids = arg(s, 0, "ids"), *tab = ids ? arg(s, 1, "table") : NULL;
    if (!tab || !need_index(s, ids, "ids")) return false;
    if (tab->rank != 2)
        return fail(s, "'embedding' expects a 2-D table [n,d], got %s", dims_str(s, 0, tab));
    if (ids->rank + 1 > IR_MAX_RANK)
        return fail(s, "'embedding' result would have rank %u, more than the %d supported",
                    ids->rank + 1, IR_MAX_RANK);
    *out = *ids;
    out->dtype = tab->dtype;
    out->dims[out->rank++] = tab->dims[1];
    return true;
}

static bool shape_take(Sh *s, TensorType *out)
{
    const TensorType *x = arg(s, 0, "input"), *idx = x ? arg(s, 1, "indices") : NULL;
    Dim nx, ni;
    if (!idx || !need_index(s, idx, "indices") || !numel(s, x, &nx) || !numel(s, idx, &ni))
        return false;
    if (nx == 0 && ni != 0)
        return fail(s, "'take' cannot index the empty tensor %s", dims_str(s, 0, x));
    *out = *idx;
    out->dtype = x->dtype;
    return true;
}

static bool shape_kron(Sh *s, TensorType *out)
{
    const TensorType *a = arg(s, 0, "first operand"), *b = a ? arg(s, 1, "second operand") : NULL;
    if (!b) return false;
    if (a->dtype != b->dtype || a->dtype == DT_BOOL)
        return fail(s, "'kron' expects numeric operands of equal dtype, got %s and %s",
                    type_str(s, 0, a), type_str(s, 1, b));
    if (a->rank != b->rank)
        return fail(s, "'kron' expects operands of equal rank, got %s and %s", dims_str(s, 0, a),
                    dims_str(s, 1, b));
    *out = *a;
    for (unsigned i = 0; i < a->rank; i++)
        if (!ir_dim_mul_checked(s->m, a->dims[i], b->dims[i], &out->dims[i]))
            return fail(s, "'kron' result of %s and %s is too large", dims_str(s, 0, a),
                        dims_str(s, 1, b));
    return true;
}

static bool shape_hashed(Sh *s, TensorType *out)
{
    const TensorType *pool = arg(s, 0, "pool");
    int64_t seed;
    Dim n;
    if (!pool || !need_float(s, pool, "pool") || !shape_attr(s, out) || !get_seed(s, &seed) ||
        !numel(s, out, &n) || !numel(s, pool, &n))
        return false;
    if (n == 0)
        return fail(s, "'hashed' needs a non-empty pool, got %s", dims_str(s, 0, pool));
    out->dtype = pool->dtype;
    return true;
}

static bool shape_hash_route(Sh *s, TensorType *out)
{
    const TensorType *ids = arg(s, 0, "ids");
    int64_t num, seed;
    if (!ids || !need_index(s, ids, "ids") || !get_int(s, ATTR_NUM, &num) || !get_seed(s, &seed))
        return false;
    if (num < 1)
        return fail(s, "'hash_route' number of experts must be positive, got %lld",
                    (long long)num);
    *out = *ids;
    out->dtype = DT_I64;
    return true;
}

/* Is d one dynamic symbol (a moe row count, a recurse rows symbol)? */
static bool dynamic_rows(const Module *m, Dim d)
{
    if (d >= 0) return false;
    const DimExpr *x = ir_dim_expr(m, d);
    return x->coef == 1 && x->nsym == 1 && x->sym[0] < m->syms.n && m->syms.v[x->sym[0]].dynamic;
}

/* Rows of x [T, ...] and of the depth vector [T] agree, the step is an integer scalar,
 * and the trailing dims of rows (if given) are x's. */
static bool recurse_operands(Sh *s, const TensorType *x, const TensorType *depth, const TensorType *step,
                             const TensorType *rows)
{
    int64_t mx;
    if (!need_rank_min(s, x, 1, "input") || !need_index(s, depth, "depth") || !need_index(s, step, "step"))
        return false;
    if (s->op->kind == OP_RECURSE_GATHER && (!get_int(s, ATTR_MAX, &mx) || mx < 1))
        return fail(s, "'%s' needs a positive max", NAME);
    if (step->rank != 0) return fail(s, "'%s' step must be a scalar, got %s", NAME, dims_str(s, 0, step));
    if (depth->rank != 1 || depth->dims[0] != x->dims[0])
        return fail(s, "'recurse' depth must be [%s] (one per row of %s), got %s", dim_str(s, 0, x->dims[0]),
                    dims_str(s, 1, x), dims_str(s, 2, depth));
    if (!rows) return true;
    bool same = rows->rank == x->rank && rows->dtype == x->dtype && dynamic_rows(s->m, rows->dims[0]);
    for (unsigned i = 1; same && i < x->rank; i++) same = rows->dims[i] == x->dims[i];
    if (!same)
        return fail(s, "'recurse' body must map rows %s to rows of the same shape, got %s", type_str(s, 0, x),
                    type_str(s, 1, rows));
    return true;
}

static bool shape_recurse_gather(Sh *s, TensorType *out)
{
    const TensorType *x = arg(s, 0, "input"), *depth = x ? arg(s, 1, "depth") : NULL;
    const TensorType *step = depth ? arg(s, 2, "step") : NULL;
    if (!step || !shape_attr(s, out)) return false;
    out->dtype = x->dtype;
    return recurse_operands(s, x, depth, step, out);
}

static bool shape_recurse_scatter(Sh *s, TensorType *out)
{
    const TensorType *x = arg(s, 0, "input"), *y = x ? arg(s, 1, "rows") : NULL;
    const TensorType *depth = y ? arg(s, 2, "depth") : NULL, *step = depth ? arg(s, 3, "step") : NULL;
    if (!step || !recurse_operands(s, x, depth, step, y)) return false;
    *out = *x;
    return true;
}

/* Gate matrix of moe ops: f32[T, E] with a concrete E >= 1. */
static bool need_gates(Sh *s, const TensorType *g, const char *role)
{
    if (g->dtype != DT_F32 || g->rank != 2 || g->dims[1] < 1)
        return fail(s, "'%s' expects %s f32[T,E] with a compile-time E >= 1, got %s", NAME, role,
                    type_str(s, 0, g));
    return true;
}

static bool get_expert(Sh *s, const TensorType *gates, int64_t *e)
{
    if (!get_int(s, ATTR_EXPERT, e)) return false;
    if (*e < 0 || *e >= gates->dims[1])
        return fail(s, "'%s' expert %lld is outside 0..%lld", NAME, (long long)*e,
                    (long long)gates->dims[1] - 1);
    return true;
}

static bool shape_moe_route(Sh *s, TensorType *out)
{
    const TensorType *sc = arg(s, 0, "scores");
    int64_t policy, k, renorm, softmax;
    double p;
    if (!sc || !get_int(s, ATTR_POLICY, &policy) || !get_int(s, ATTR_K, &k) ||
        !get_float(s, ATTR_P, &p) || !get_flag(s, ATTR_RENORM, &renorm) ||
        !get_flag(s, ATTR_SOFTMAX, &softmax) || !need_gates(s, sc, "scores"))
        return false;
    if (policy != 0 && policy != 1)
        return fail(s, "'%s' policy must be 0 (top-k) or 1 (threshold), got %lld", NAME,
                    (long long)policy);
    if (k < 1 || k > sc->dims[1])
        return fail(s, "'%s' k must be in 1..%lld (the number of experts), got %lld", NAME,
                    (long long)sc->dims[1], (long long)k);
    if (policy == 1 && !(p > 0 && p <= 1))
        return fail(s, "'%s' threshold must be in (0, 1], got %g", NAME, p);
    *out = *sc;
    return true;
}

static bool shape_moe_assign(Sh *s, TensorType *out)
{
    const TensorType *idx = arg(s, 0, "idx");
    int64_t num;
    if (!idx || !need_index(s, idx, "idx") || !get_int(s, ATTR_NUM, &num)) return false;
    if (idx->rank != 1)
        return fail(s, "'%s' expects idx of rank 1 [T], got %s", NAME, type_str(s, 0, idx));
    if (num < 1)
        return fail(s, "'%s' number of experts must be positive, got %lld", NAME, (long long)num);
    Dim dims[2] = {idx->dims[0], num};
    *out = ir_type_make(DT_F32, 2, dims);
    return true;
}

static bool shape_moe_gather(Sh *s, TensorType *out)
{
    const TensorType *x = arg(s, 0, "input"), *g = arg(s, 1, "gates");
    int64_t e, rows;
    if (!x || !g || !need_gates(s, g, "gates") || !get_expert(s, g, &e) ||
        !get_int(s, ATTR_ROWS, &rows))
        return false;
    if (x->dtype != DT_F32 || x->rank != 2 || x->dims[0] != g->dims[0])
        return fail(s, "'%s' expects an input f32[T,d] with T of the gates %s, got %s", NAME,
                    dims_str(s, 0, g), type_str(s, 1, x));
    if (!dynamic_rows(s->m, rows) ||
        s->m->syms.v[ir_dim_expr(s->m, rows)->sym[0]].max != x->dims[0])
        return fail(s, "'%s' rows must be a dynamic symbol of at most %s rows", NAME,
                    dim_str(s, 0, x->dims[0]));
    Dim dims[2] = {rows, x->dims[1]};
    *out = ir_type_make(DT_F32, 2, dims);
    return true;
}

static bool shape_moe_scatter(Sh *s, TensorType *out)
{
    const TensorType *acc = opt(s, 0), *y = arg(s, 1, "expert output"), *g = arg(s, 2, "gates");
    int64_t e;
    if (!y || !g || !need_gates(s, g, "gates") || !get_expert(s, g, &e)) return false;
    if (y->dtype != DT_F32 || y->rank != 2 || !dynamic_rows(s->m, y->dims[0]))
        return fail(s, "'%s' expects an expert output f32[R,n] over the expert's rows, got %s",
                    NAME, type_str(s, 0, y));
    Dim dims[2] = {g->dims[0], y->dims[1]};
    *out = ir_type_make(DT_F32, 2, dims);
    if (acc && !ir_type_equal(acc, out))
        return fail(s, "'%s' expects an accumulator %s, got %s", NAME, type_str(s, 0, out),
                    type_str(s, 1, acc));
    return true;
}

/* ---- the rule table --------------------------------------------------------------------- */

static ShapeFn *const shape_rules[] = {
#define A(k)
#define NOATTR
#define OP(E, name, nin, flags, ...) [OP_##E] = shape_##name,
#include "ops.def"
#undef OP
#undef NOATTR
#undef A
};
_Static_assert(sizeof shape_rules / sizeof shape_rules[0] == OP_COUNT,
               "every op in ops.def needs a shape rule");

bool ir_infer_shape(Module *m, const Op *op, TensorType *out, char *err, size_t errlen)
{
    Sh s = {.m = m, .op = op, .err = err, .errlen = errlen};
    TensorType t;
    memset(&t, 0, sizeof t);
    if (errlen) err[0] = '\0';
    if ((unsigned)op->kind >= OP_COUNT) return fail(&s, "unknown op kind %d", (int)op->kind);
    if (op->nin && (op->in > m->operands.n || op->nin > m->operands.n - op->in))
        return fail(&s, "'%s' operands are out of range", op_name(op->kind));
    for (unsigned i = 0; i < op->nin; i++)
        if (ir_operand(m, op, i) >= m->values.n)
            return fail(&s, "'%s' operand %u is not a value", op_name(op->kind), i);
    if (!shape_rules[op->kind](&s, &t)) return false;
    *out = t;
    return true;
}

/* ---- FLOP counts ------------------------------------------------------------------------
 * A multiply-add is 2 FLOPs; each symbolic dim counts as its coefficient (symbols = 1).
 * Elementwise ops, reductions, argmax, pooling windows and hashed's sign count 1 per
 * element touched; softmax 5 (max, subtract, exp, sum, divide) and log_softmax 5;
 * batch_norm 2 (folded scale and shift); layer_norm 6; rms_norm 4; attention the two
 * products plus 5 per score. Data movement (cast, reshape, permute, slice, concat,
 * embedding, take, hash_route) is 0. */

typedef int64_t FlopsFn(const Module *m, const Op *op);

static int64_t sat_mul(int64_t a, int64_t b)
{
    if (a <= 0 || b <= 0) return 0;
    return a > INT64_MAX / b ? INT64_MAX : a * b;
}

static int64_t sat_add(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static int64_t dim1(const Module *m, Dim d)
{
    return d >= 0 ? d : ir_dim_expr(m, d)->coef;
}

static int64_t numel1(const Module *m, const TensorType *t)
{
    int64_t n = 1;
    for (unsigned i = 0; i < t->rank; i++) n = sat_mul(n, dim1(m, t->dims[i]));
    return n;
}

static const TensorType *in_type(const Module *m, const Op *op, unsigned i)
{
    ValueId v = ir_operand(m, op, i);
    return v ? ir_type(m, v) : NULL;
}

static int64_t out_numel(const Module *m, const Op *op) { return numel1(m, ir_type(m, op->out)); }
static int64_t in_numel(const Module *m, const Op *op) { return numel1(m, in_type(m, op, 0)); }
static int64_t flops_zero(const Module *m, const Op *op) { return 0; }
static int64_t per_elem(const Module *m, const Op *op, int64_t k)
{
    return sat_mul(k, out_numel(m, op));
}

#define EW1(K, name, expr) \
    static int64_t flops_##name(const Module *m, const Op *op) { return out_numel(m, op); }
#include "eltwise.def"
#undef EW1
static int64_t flops_add(const Module *m, const Op *op) { return out_numel(m, op); }
static int64_t flops_sub(const Module *m, const Op *op) { return out_numel(m, op); }
static int64_t flops_mul(const Module *m, const Op *op) { return out_numel(m, op); }
static int64_t flops_div(const Module *m, const Op *op) { return out_numel(m, op); }
static int64_t flops_cast(const Module *m, const Op *op) { return 0; }
static int64_t flops_softmax(const Module *m, const Op *op) { return per_elem(m, op, 5); }
static int64_t flops_log_softmax(const Module *m, const Op *op) { return per_elem(m, op, 5); }
static int64_t flops_reduce_sum(const Module *m, const Op *op) { return in_numel(m, op); }
static int64_t flops_reduce_mean(const Module *m, const Op *op)
{
    return sat_add(in_numel(m, op), out_numel(m, op));
}
static int64_t flops_reduce_max(const Module *m, const Op *op) { return in_numel(m, op); }
static int64_t flops_reduce_min(const Module *m, const Op *op) { return in_numel(m, op); }
static int64_t flops_argmax(const Module *m, const Op *op) { return in_numel(m, op); }

static int64_t flops_matmul(const Module *m, const Op *op)
{
    const TensorType *a = in_type(m, op, 0);
    return sat_mul(sat_mul(2, out_numel(m, op)), dim1(m, a->dims[a->rank - 1]));
}

static int64_t flops_linear(const Module *m, const Op *op)
{
    const TensorType *w = in_type(m, op, 1);
    int64_t f = sat_mul(sat_mul(2, out_numel(m, op)), dim1(m, w->dims[1]));
    return in_type(m, op, 2) ? sat_add(f, out_numel(m, op)) : f;
}

static int64_t flops_conv2d(const Module *m, const Op *op)
{
    const TensorType *w = in_type(m, op, 1);
    int64_t per = sat_mul(dim1(m, w->dims[1]), sat_mul(dim1(m, w->dims[2]), dim1(m, w->dims[3])));
    int64_t f = sat_mul(sat_mul(2, out_numel(m, op)), per);
    return in_type(m, op, 2) ? sat_add(f, out_numel(m, op)) : f;
}

static int64_t flops_pool(const Module *m, const Op *op)
{
    uint32_t n;
    const int64_t *k = ir_op_ints(m, op, ATTR_KERNEL, &n);
    return n == 2 ? sat_mul(out_numel(m, op), sat_mul(k[0], k[1])) : 0;
}
static int64_t flops_max_pool2d(const Module *m, const Op *op) { return flops_pool(m, op); }
static int64_t flops_avg_pool2d(const Module *m, const Op *op) { return flops_pool(m, op); }
static int64_t flops_batch_norm(const Module *m, const Op *op) { return per_elem(m, op, 2); }
static int64_t flops_layer_norm(const Module *m, const Op *op) { return per_elem(m, op, 6); }
static int64_t flops_rms_norm(const Module *m, const Op *op) { return per_elem(m, op, 4); }

static int64_t flops_attention(const Module *m, const Op *op)
{
    const TensorType *q = in_type(m, op, 0), *k = in_type(m, op, 1), *v = in_type(m, op, 2);
    unsigned r = q->rank;
    int64_t scores = dim1(m, k->dims[r - 2]); /* batch * Tq * Tk */
    for (unsigned i = 0; i + 1 < r; i++) scores = sat_mul(scores, dim1(m, q->dims[i]));
    int64_t dd = sat_add(dim1(m, q->dims[r - 1]), dim1(m, v->dims[r - 1]));
    return sat_add(sat_mul(sat_mul(2, scores), dd), sat_mul(5, scores));
}

static int64_t flops_reshape(const Module *m, const Op *op) { return 0; }
static int64_t flops_permute(const Module *m, const Op *op) { return 0; }
static int64_t flops_slice(const Module *m, const Op *op) { return 0; }
static int64_t flops_concat(const Module *m, const Op *op) { return 0; }
static int64_t flops_embedding(const Module *m, const Op *op) { return 0; }
static int64_t flops_take(const Module *m, const Op *op) { return 0; }
static int64_t flops_kron(const Module *m, const Op *op) { return out_numel(m, op); }
static int64_t flops_hashed(const Module *m, const Op *op) { return out_numel(m, op); }
static int64_t flops_hash_route(const Module *m, const Op *op) { return flops_zero(m, op); }
static int64_t flops_recurse_gather(const Module *m, const Op *op) { return flops_zero(m, op); }
static int64_t flops_recurse_scatter(const Module *m, const Op *op) { return flops_zero(m, op); }
/* routing: softmax (5) plus a selection pass (1) per score; the gate scans move data */
static int64_t flops_moe_route(const Module *m, const Op *op) { return per_elem(m, op, 6); }
static int64_t flops_moe_assign(const Module *m, const Op *op) { return flops_zero(m, op); }
static int64_t flops_moe_gather(const Module *m, const Op *op) { return flops_zero(m, op); }
static int64_t flops_moe_scatter(const Module *m, const Op *op)
{
    return sat_mul(2, numel1(m, in_type(m, op, 1)));
}

static FlopsFn *const flops_rules[] = {
#define A(k)
#define NOATTR
#define OP(E, name, nin, flags, ...) [OP_##E] = flops_##name,
#include "ops.def"
#undef OP
#undef NOATTR
#undef A
};
_Static_assert(sizeof flops_rules / sizeof flops_rules[0] == OP_COUNT,
               "every op in ops.def needs a FLOP count");

int64_t ir_op_flops(const Module *m, const Op *op)
{
    if ((unsigned)op->kind >= OP_COUNT || !op->out) return 0;
    return flops_rules[op->kind](m, op);
}
