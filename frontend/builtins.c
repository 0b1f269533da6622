/* SPDX-License-Identifier: MIT
 * builtins.c - the built-in functions of spec section 5 and the compile-time functions
 * of section 3, in one table: name, signature (PyTorch's argument names and defaults)
 * and implementation. Implementations turn bound arguments into IR ops; every check on
 * tensor shapes is the op's shape rule (ir/shape.c), reported at the call.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lower_impl.h"

/* ---- signatures ------------------------------------------------------------------------- */

/* Parses a default literal of a signature ("None", "true", "1", "1e-5", "\"none\""). */
static Cv sig_default(const char *text, size_t len)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%.*s", (int)len, text);
    if (strcmp(buf, "None") == 0) return cv_none();
    if (strcmp(buf, "true") == 0) return cv_bool(true);
    if (strcmp(buf, "false") == 0) return cv_bool(false);
    if (buf[0] == '"') {
        /* string defaults are literals of this file: static storage */
        static const char *const strings[] = {"none", "tanh"};
        for (size_t i = 0; i < sizeof strings / sizeof *strings; i++)
            if (strncmp(buf + 1, strings[i], strlen(strings[i])) == 0)
                return (Cv){.kind = CV_STR, .u.s = strings[i]};
        NDLC_ICE("unknown string default %s", buf);
    }
    if (strpbrk(buf, ".e")) return cv_real(strtod(buf, NULL));
    return cv_int(strtoll(buf, NULL, 10));
}

bool bind_args(Lower *L, const char *callee, const char *sig, const CallArgs *args, Bound *out)
{
    memset(out, 0, sizeof *out);
    out->call = args->span;
    const char *p = sig;
    const char *defaults[SIG_MAX];
    size_t deflen[SIG_MAX];
    while (*p) {
        while (*p == ' ') p++;
        if (!*p) break;
        const char *start = p;
        while (*p && *p != ' ' && *p != '=') p++;
        if (out->n == SIG_MAX) NDLC_ICE("signature of '%s' too long", callee);
        out->name[out->n] = arena_strndup(L->arena, start, (size_t)(p - start));
        defaults[out->n] = NULL;
        if (*p == '=') {
            const char *d = ++p;
            while (*p && *p != ' ') p++;
            defaults[out->n] = d;
            deflen[out->n] = (size_t)(p - d);
        }
        out->n++;
    }
    bool ok = true;
    if (args->npos > out->n) {
        diag_error(L->diag, args->pos_span[out->n], "'%s' takes at most %u argument%s, got %u", callee,
                   out->n, out->n == 1 ? "" : "s", args->npos);
        return false;
    }
    for (uint32_t i = 0; i < args->npos; i++) {
        out->v[i] = args->pos[i];
        out->span[i] = args->pos_span[i];
        out->given[i] = true;
    }
    for (uint32_t k = 0; k < args->nkw; k++) {
        int i = bound_index(out, args->kw_name[k]);
        if (i < 0) {
            diag_error(L->diag, args->kw_span[k], "'%s' has no argument '%s'", callee, args->kw_name[k]);
            ok = false;
            continue;
        }
        if (out->given[i]) {
            diag_error(L->diag, args->kw_span[k], "argument '%s' given twice", args->kw_name[k]);
            ok = false;
            continue;
        }
        out->v[i] = args->kw[k];
        out->span[i] = args->kw_span[k];
        out->given[i] = true;
    }
    for (uint32_t i = 0; i < out->n; i++) {
        if (out->given[i]) continue;
        out->span[i] = args->span;
        if (!defaults[i]) {
            diag_error(L->diag, args->span, "'%s' is missing argument '%s'", callee, out->name[i]);
            ok = false;
            continue;
        }
        out->v[i] = sig_default(defaults[i], deflen[i]);
    }
    return ok;
}

int bound_index(const Bound *b, const char *name)
{
    for (uint32_t i = 0; i < b->n; i++)
        if (strcmp(b->name[i], name) == 0) return (int)i;
    return -1;
}

/* Argument accessors by position in the signature. */
#define ARG(i) (&a->v[i])
#define ASPAN(i) (a->span[i])

static const char *layer_name(Lower *L) { return L->cur_path && L->cur_path[0] ? L->cur_path : NULL; }

static bool tensor_arg(Lower *L, const BuiltinFn *fn, Bound *a, int i, ValueId *out)
{
    char what[96];
    snprintf(what, sizeof what, "argument '%s' of '%s'", a->name[i], fn->name);
    return want_tensor(L, ARG(i), ASPAN(i), what, out);
}

/* Optional tensor: None gives 0. */
static bool opt_tensor_arg(Lower *L, const BuiltinFn *fn, Bound *a, int i, ValueId *out)
{
    if (ARG(i)->kind == CV_NONE) { *out = 0; return true; }
    return tensor_arg(L, fn, a, i, out);
}

static bool int_arg(Lower *L, const BuiltinFn *fn, Bound *a, int i, int64_t *out)
{
    char what[96];
    snprintf(what, sizeof what, "argument '%s' of '%s'", a->name[i], fn->name);
    return want_int(L, ARG(i), ASPAN(i), what, out);
}

static bool real_arg(Lower *L, const BuiltinFn *fn, Bound *a, int i, double *out)
{
    char what[96];
    snprintf(what, sizeof what, "argument '%s' of '%s'", a->name[i], fn->name);
    return want_real(L, ARG(i), ASPAN(i), what, out);
}

static bool bool_arg(Lower *L, const BuiltinFn *fn, Bound *a, int i, bool *out)
{
    char what[96];
    snprintf(what, sizeof what, "argument '%s' of '%s'", a->name[i], fn->name);
    return want_bool(L, ARG(i), ASPAN(i), what, out);
}

static bool pair_arg(Lower *L, const BuiltinFn *fn, Bound *a, int i, int64_t out[2])
{
    char what[96];
    snprintf(what, sizeof what, "argument '%s' of '%s'", a->name[i], fn->name);
    return want_pair(L, ARG(i), ASPAN(i), what, out);
}

/* A dimension index for a tensor of rank `rank`, negative counting from the end. */
static bool axis_arg(Lower *L, int64_t d, unsigned rank, Span span, int64_t *out)
{
    int64_t k = d < 0 ? d + rank : d;
    if (k < 0 || k >= (int64_t)rank) {
        diag_error(L->diag, span, "dimension %" PRId64 " is out of range for a tensor of rank %u", d, rank);
        return false;
    }
    *out = k;
    return true;
}

/* ---- elementwise and simple ops ----------------------------------------------------------- */

static Cv fn_unary(Lower *L, const BuiltinFn *fn, Bound *a)
{
    ValueId x;
    if (!tensor_arg(L, fn, a, 0, &x)) return cv_error();
    if (fn->op == OP_NEG) return emit_neg(L, x, layer_name(L), a->call);
    return emit_op(L, (OpKind)fn->op, &x, 1, NULL, 0, layer_name(L), a->call);
}

static Cv fn_binary_op(Lower *L, const BuiltinFn *fn, Bound *a)
{
    ValueId x, y;
    if (!tensor_arg(L, fn, a, 0, &x) || !tensor_arg(L, fn, a, 1, &y)) return cv_error();
    return emit_binary(L, (OpKind)fn->op, x, y, layer_name(L), a->call);
}

static Cv fn_softmax(Lower *L, const BuiltinFn *fn, Bound *a)
{
    ValueId x;
    int64_t d, axis;
    if (!tensor_arg(L, fn, a, 0, &x) || !int_arg(L, fn, a, 1, &d) ||
        !axis_arg(L, d, ir_type(L->m, x)->rank, ASPAN(1), &axis))
        return cv_error();
    Attr at = ir_attr_int(ATTR_DIM, axis);
    return emit_op(L, (OpKind)fn->op, &x, 1, &at, 1, layer_name(L), a->call);
}

/* sum/mean/max/min(x, dims=None, keepdim=false); max/min of numbers at compile time. */
static Cv fn_reduce(Lower *L, const BuiltinFn *fn, Bound *a)
{
    ValueId x;
    unsigned rank;
    int64_t dims[IR_MAX_RANK], norm[IR_MAX_RANK];
    uint32_t nd = 0;
    bool keep;
    if (!tensor_arg(L, fn, a, 0, &x) || !bool_arg(L, fn, a, 2, &keep)) return cv_error();
    rank = ir_type(L->m, x)->rank;
    if (ARG(1)->kind == CV_NONE) {
        for (unsigned i = 0; i < rank; i++) dims[nd++] = i;
    } else if (!want_ints(L, ARG(1), ASPAN(1), "argument 'dims'", dims, IR_MAX_RANK, &nd, true)) {
        return cv_error();
    }
    /* normalize, sort, reject duplicates */
    bool seen[IR_MAX_RANK] = {false};
    for (uint32_t i = 0; i < nd; i++) {
        int64_t k;
        if (!axis_arg(L, dims[i], rank, ASPAN(1), &k)) return cv_error();
        if (seen[k]) {
            diag_error(L->diag, ASPAN(1), "dimension %" PRId64 " appears twice in 'dims'", dims[i]);
            return cv_error();
        }
        seen[k] = true;
    }
    uint32_t n = 0;
    for (unsigned i = 0; i < rank; i++)
        if (seen[i]) norm[n++] = i;
    Attr at[2] = {ir_attr_ints(L->m, ATTR_DIMS, norm, n), ir_attr_int(ATTR_KEEPDIM, keep)};
    return emit_op(L, (OpKind)fn->op, &x, 1, at, 2, layer_name(L), a->call);
}

static Cv fn_argmax(Lower *L, const BuiltinFn *fn, Bound *a)
{
    ValueId x;
    int64_t d, axis = -1;
    bool keep;
    if (!tensor_arg(L, fn, a, 0, &x) || !bool_arg(L, fn, a, 2, &keep)) return cv_error();
    if (ARG(1)->kind != CV_NONE &&
        (!int_arg(L, fn, a, 1, &d) || !axis_arg(L, d, ir_type(L->m, x)->rank, ASPAN(1), &axis)))
        return cv_error();
    Attr at[2] = {ir_attr_int(ATTR_DIM, axis), ir_attr_int(ATTR_KEEPDIM, keep)};
    return emit_op(L, OP_ARGMAX, &x, 1, at, 2, layer_name(L), a->call);
}

static Cv fn_linear(Lower *L, const BuiltinFn *fn, Bound *a)
{
    ValueId in[3];
    if (!tensor_arg(L, fn, a, 0, &in[0]) || !tensor_arg(L, fn, a, 1, &in[1]) ||
        !opt_tensor_arg(L, fn, a, 2, &in[2]))
        return cv_error();
    return emit_op(L, OP_LINEAR, in, 3, NULL, 0, layer_name(L), a->call);
}

Cv emit_conv2d(Lower *L, const ValueId in[3], const int64_t stride[2], const int64_t pad[2],
               const int64_t dil[2], int64_t groups, const char *name, Span span)
{
    Attr at[4] = {ir_attr_ints(L->m, ATTR_STRIDE, stride, 2), ir_attr_ints(L->m, ATTR_PAD, pad, 2),
                  ir_attr_ints(L->m, ATTR_DILATION, dil, 2), ir_attr_int(ATTR_GROUPS, groups)};
    return emit_op(L, OP_CONV2D, in, 3, at, 4, name, span);
}

static Cv fn_conv2d(Lower *L, const BuiltinFn *fn, Bound *a)
{
    ValueId in[3];
    int64_t stride[2], pad[2], dil[2], groups;
    if (!tensor_arg(L, fn, a, 0, &in[0]) || !tensor_arg(L, fn, a, 1, &in[1]) ||
        !opt_tensor_arg(L, fn, a, 2, &in[2]) || !pair_arg(L, fn, a, 3, stride) ||
        !pair_arg(L, fn, a, 4, pad) || !pair_arg(L, fn, a, 5, dil) || !int_arg(L, fn, a, 6, &groups))
        return cv_error();
    return emit_conv2d(L, in, stride, pad, dil, groups, layer_name(L), a->call);
}

Cv emit_pool(Lower *L, OpKind kind, ValueId x, const int64_t k[2], const int64_t s[2],
             const int64_t p[2], const char *name, Span span)
{
    Attr at[3] = {ir_attr_ints(L->m, ATTR_KERNEL, k, 2), ir_attr_ints(L->m, ATTR_STRIDE, s, 2),
                  ir_attr_ints(L->m, ATTR_PAD, p, 2)};
    return emit_op(L, kind, &x, 1, at, 3, name, span);
}

static Cv fn_pool(Lower *L, const BuiltinFn *fn, Bound *a)
{
    ValueId x;
    int64_t k[2], s[2], p[2];
    if (!tensor_arg(L, fn, a, 0, &x) || !pair_arg(L, fn, a, 1, k) || !pair_arg(L, fn, a, 3, p))
        return cv_error();
    if (ARG(2)->kind == CV_NONE) { s[0] = k[0]; s[1] = k[1]; }
    else if (!pair_arg(L, fn, a, 2, s)) return cv_error();
    return emit_pool(L, (OpKind)fn->op, x, k, s, p, layer_name(L), a->call);
}

static Cv fn_batch_norm(Lower *L, const BuiltinFn *fn, Bound *a)
{
    ValueId in[5];
    double eps;
    for (int i = 0; i < 3; i++)
        if (!tensor_arg(L, fn, a, i, &in[i])) return cv_error();
    if (!opt_tensor_arg(L, fn, a, 3, &in[3]) || !opt_tensor_arg(L, fn, a, 4, &in[4]) ||
        !real_arg(L, fn, a, 5, &eps))
        return cv_error();
    Attr at = ir_attr_float(ATTR_EPS, eps);
    return emit_op(L, OP_BATCH_NORM, in, 5, &at, 1, layer_name(L), a->call);
}

static Cv fn_layer_norm(Lower *L, const BuiltinFn *fn, Bound *a)
{
    ValueId in[3];
    double eps;
    if (!tensor_arg(L, fn, a, 0, &in[0]) || !opt_tensor_arg(L, fn, a, 1, &in[1]) ||
        !opt_tensor_arg(L, fn, a, 2, &in[2]) || !real_arg(L, fn, a, 3, &eps))
        return cv_error();
    Attr at = ir_attr_float(ATTR_EPS, eps);
    return emit_op(L, OP_LAYER_NORM, in, 3, &at, 1, layer_name(L), a->call);
}

static Cv fn_rms_norm(Lower *L, const BuiltinFn *fn, Bound *a)
{
    ValueId in[2];
    double eps;
    if (!tensor_arg(L, fn, a, 0, &in[0]) || !opt_tensor_arg(L, fn, a, 1, &in[1]) ||
        !real_arg(L, fn, a, 2, &eps))
        return cv_error();
    Attr at = ir_attr_float(ATTR_EPS, eps);
    return emit_op(L, OP_RMS_NORM, in, 2, &at, 1, layer_name(L), a->call);
}

Cv emit_attention(Lower *L, const ValueId in[3], bool causal, double scale, bool has_scale,
                  const char *name, Span span)
{
    const TensorType *q = ir_type(L->m, in[0]);
    if (!has_scale) {
        Dim d = q->rank ? q->dims[q->rank - 1] : 0;
        if (d <= 0) {
            diag_error(L->diag, span, "'attention' needs a fixed, nonzero last dimension of q to "
                       "derive its default scale");
            return cv_error();
        }
        scale = 1.0 / sqrt((double)d);
    }
    Attr at[2] = {ir_attr_int(ATTR_CAUSAL, causal), ir_attr_float(ATTR_SCALE, scale)};
    return emit_op(L, OP_ATTENTION, in, 3, at, 2, name, span);
}

static Cv fn_attention(Lower *L, const BuiltinFn *fn, Bound *a)
{
    ValueId in[3];
    bool causal;
    double scale = 0;
    for (int i = 0; i < 3; i++)
        if (!tensor_arg(L, fn, a, i, &in[i])) return cv_error();
    if (!bool_arg(L, fn, a, 3, &causal)) return cv_error();
    bool has_scale = ARG(4)->kind != CV_NONE;
    if (has_scale && !real_arg(L, fn, a, 4, &scale)) return cv_error();
    return emit_attention(L, in, causal, scale, has_scale, layer_name(L), a->call);
}

/* ---- shape ops ---------------------------------------------------------------------------- */

static Cv fn_reshape(Lower *L, const BuiltinFn *fn, Bound *a)
{
    ValueId x;
    if (!tensor_arg(L, fn, a, 0, &x)) return cv_error();
    const Cv *sh = ARG(1);
    if (sh->kind != CV_LIST && sh->kind != CV_TUPLE) {
        want_fail(L, sh, ASPAN(1), "argument 'shape' of 'reshape'", "a list of sizes");
        return cv_error();
    }
    if (sh->u.list.n > IR_MAX_RANK) {
        diag_error(L->diag, ASPAN(1), "'reshape' to rank %u is above the maximum %d", sh->u.list.n, IR_MAX_RANK);
        return cv_error();
    }
    Dim dims[IR_MAX_RANK], known = 1;
    int infer = -1;
    for (uint32_t i = 0; i < sh->u.list.n; i++) {
        const Cv *d = &sh->u.list.v[i];
        if (d->kind == CV_INT && d->u.i == -1) {
            if (infer >= 0) {
                diag_error(L->diag, ASPAN(1), "only one dimension of 'reshape' can be -1");
                return cv_error();
            }
            infer = (int)i;
            continue;
        }
        if (d->kind == CV_INT && d->u.i < 0) {
            diag_error(L->diag, ASPAN(1), "invalid size %" PRId64 " in 'reshape'", d->u.i);
            return cv_error();
        }
        if (!want_dim(L, d, ASPAN(1), "a size in 'reshape'", &dims[i])) return cv_error();
        if (!ir_dim_mul_checked(L->m, known, dims[i], &known)) {
            diag_error(L->diag, ASPAN(1), "the sizes of 'reshape' multiply to more than this compiler represents");
            return cv_error();
        }
    }
    if (infer >= 0) {
        char t1[128], t2[64];
        Dim total;
        if (!ir_type_numel(L->m, ir_type(L->m, x), &total) || !ir_dim_div(L->m, total, known, &dims[infer])) {
            diag_error(L->diag, ASPAN(1), "cannot infer the -1 of 'reshape': %s elements of %s are "
                       "not a multiple of %s", ir_format_dim(L->m, total, t2, sizeof t2),
                       ir_format_dims(L->m, ir_type(L->m, x), t1, sizeof t1),
                       ir_format_dim(L->m, known, t2 + 32, 32));
            return cv_error();
        }
    }
    Attr at = ir_attr_ints(L->m, ATTR_SHAPE, dims, sh->u.list.n);
    return emit_op(L, OP_RESHAPE, &x, 1, &at, 1, layer_name(L), a->call);
}

Cv emit_flatten(Lower *L, ValueId x, int64_t start, int64_t end, Span span)
{
    const TensorType *t = ir_type(L->m, x);
    int64_t s, e;
    if (t->rank == 0) {
        Dim one = 1;
        return emit_reshape(L, x, &one, 1, layer_name(L), span);
    }
    if (!axis_arg(L, start, t->rank, span, &s) || !axis_arg(L, end, t->rank, span, &e)) return cv_error();
    if (s > e) {
        diag_error(L->diag, span, "'flatten' start dimension %" PRId64 " comes after end dimension %" PRId64,
                   start, end);
        return cv_error();
    }
    Dim dims[IR_MAX_RANK];
    unsigned n = 0;
    for (int64_t i = 0; i < s; i++) dims[n++] = t->dims[i];
    Dim p = 1;
    for (int64_t i = s; i <= e; i++)
        if (!ir_dim_mul_checked(L->m, p, t->dims[i], &p)) {
            diag_error(L->diag, span, "'flatten' of %s gives a size this compiler cannot represent",
                       ir_format_dims(L->m, t, (char[256]){0}, 256));
            return cv_error();
        }
    dims[n++] = p;
    for (int64_t i = e + 1; i < t->rank; i++) dims[n++] = t->dims[i];
    return emit_reshape(L, x, dims, n, layer_name(L), span);
}

static Cv fn_flatten(Lower *L, const BuiltinFn *fn, Bound *a)
{
    ValueId x;
    int64_t s, e;
    if (!tensor_arg(L, fn, a, 0, &x) || !int_arg(L, fn, a, 1, &s) || !int_arg(L, fn, a, 2, &e))
        return cv_error();
    return emit_flatten(L, x, s, e, a->call);
}

static Cv fn_permute(Lower *L, const BuiltinFn *fn, Bound *a)
{
    ValueId x;
    int64_t p[IR_MAX_RANK], norm[IR_MAX_RANK];
    uint32_t n;
    if (!tensor_arg(L, fn, a, 0, &x) ||
        !want_ints(L, ARG(1), ASPAN(1), "argument 'dims' of 'permute'", p, IR_MAX_RANK, &n, false))
        return cv_error();
    unsigned rank = ir_type(L->m, x)->rank;
    if (n != rank) {
        diag_error(L->diag, ASPAN(1), "'permute' of a tensor of rank %u needs %u dimensions, got %u",
                   rank, rank, n);
        return cv_error();
    }
    for (uint32_t i = 0; i < n; i++)
        if (!axis_arg(L, p[i], rank, ASPAN(1), &norm[i])) return cv_error();
    return emit_permute(L, x, norm, n, layer_name(L), a->call);
}

static Cv fn_transpose(Lower *L, const BuiltinFn *fn, Bound *a)
{
    ValueId x;
    int64_t d0, d1, k0, k1, perm[IR_MAX_RANK];
    if (!tensor_arg(L, fn, a, 0, &x) || !int_arg(L, fn, a, 1, &d0) || !int_arg(L, fn, a, 2, &d1))
        return cv_error();
    unsigned rank = ir_type(L->m, x)->rank;
    if (!axis_arg(L, d0, rank, ASPAN(1), &k0) || !axis_arg(L, d1, rank, ASPAN(2), &k1)) return cv_error();
    for (unsigned i = 0; i < rank; i++) perm[i] = i;
    perm[k0] = k1;
    perm[k1] = k0;
    if (k0 == k1) return cv_tensor(x);
    return emit_permute(L, x, perm, rank, layer_name(L), a->call);
}

static Cv fn_concat(Lower *L, const BuiltinFn *fn, Bound *a)
{
    const Cv *xs = ARG(0);
    int64_t d, axis;
    if (xs->kind != CV_LIST && xs->kind != CV_TUPLE) {
        want_fail(L, xs, ASPAN(0), "argument 'xs' of 'concat'", "a list of tensors");
        return cv_error();
    }
    if (xs->u.list.n == 0) {
        diag_error(L->diag, ASPAN(0), "'concat' needs at least one tensor");
        return cv_error();
    }
    ValueId *in = arena_alloc(L->arena, xs->u.list.n * sizeof *in);
    for (uint32_t i = 0; i < xs->u.list.n; i++)
        if (!want_tensor(L, &xs->u.list.v[i], ASPAN(0), "an element of 'concat'", &in[i])) return cv_error();
    if (!int_arg(L, fn, a, 1, &d) || !axis_arg(L, d, ir_type(L->m, in[0])->rank, ASPAN(1), &axis))
        return cv_error();
    if (xs->u.list.n == 1) return cv_tensor(in[0]);
    Attr at = ir_attr_int(ATTR_DIM, axis);
    return emit_op(L, OP_CONCAT, in, xs->u.list.n, &at, 1, layer_name(L), a->call);
}

/* split(x, sizes, dim=0): torch.split - an int is a chunk size, a list the sizes. */
static Cv fn_split(Lower *L, const BuiltinFn *fn, Bound *a)
{
    ValueId x;
    int64_t d, axis, sizes[256];
    uint32_t n;
    if (!tensor_arg(L, fn, a, 0, &x) || !int_arg(L, fn, a, 2, &d) ||
        !axis_arg(L, d, ir_type(L->m, x)->rank, ASPAN(2), &axis))
        return cv_error();
    Dim len = ir_type(L->m, x)->dims[axis];
    if (len < 0) {
        diag_error(L->diag, ASPAN(2), "'split' along a symbolic dimension is not supported");
        return cv_error();
    }
    if (ARG(1)->kind == CV_INT) {
        int64_t c = ARG(1)->u.i;
        if (c <= 0) {
            diag_error(L->diag, ASPAN(1), "'split' chunk size must be positive, got %" PRId64, c);
            return cv_error();
        }
        n = 0;
        for (int64_t off = 0; off < len || (len == 0 && n == 0); off += c) {
            if (n == 256) {
                diag_error(L->diag, ASPAN(1), "'split' into more than 256 parts");
                return cv_error();
            }
            sizes[n++] = len - off < c ? len - off : c;
            if (len == 0) break;
        }
    } else {
        if (!want_ints(L, ARG(1), ASPAN(1), "argument 'sizes' of 'split'", sizes, 256, &n, false))
            return cv_error();
        int64_t sum = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (sizes[i] < 0) {
                diag_error(L->diag, ASPAN(1), "'split' sizes must not be negative");
                return cv_error();
            }
            sum += sizes[i];
        }
        if (sum != len) {
            diag_error(L->diag, ASPAN(1), "'split' sizes add up to %" PRId64 " but dimension %" PRId64
                       " has size %" PRId64, sum, axis, len);
            return cv_error();
        }
    }
    Cv *parts = arena_alloc(L->arena, (n ? n : 1) * sizeof *parts);
    int64_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        parts[i] = emit_slice_axis(L, x, (unsigned)axis, off, off + sizes[i], 1, layer_name(L), a->call);
        if (parts[i].kind == CV_ERROR) return cv_error();
        off += sizes[i];
    }
    Cv r = {.kind = CV_TUPLE};
    r.u.list.v = parts;
    r.u.list.n = n;
    return r;
}

static Cv fn_kron(Lower *L, const BuiltinFn *fn, Bound *a)
{
    ValueId in[2];
    if (!tensor_arg(L, fn, a, 0, &in[0]) || !tensor_arg(L, fn, a, 1, &in[1])) return cv_error();
    /* torch.kron prepends size-1 axes to the operand of lower rank */
    unsigned ra = ir_type(L->m, in[0])->rank, rb = ir_type(L->m, in[1])->rank;
    unsigned r = ra > rb ? ra : rb;
    for (int k = 0; k < 2; k++) {
        const TensorType *t = ir_type(L->m, in[k]);
        if (t->rank == r) continue;
        Dim dims[IR_MAX_RANK];
        unsigned pad = r - t->rank;
        for (unsigned i = 0; i < r; i++) dims[i] = i < pad ? 1 : t->dims[i - pad];
        Cv v = emit_reshape(L, in[k], dims, r, layer_name(L), a->call);
        if (v.kind != CV_TENSOR) return v;
        in[k] = v.u.t;
    }
    return emit_op(L, OP_KRON, in, 2, NULL, 0, layer_name(L), a->call);
}

static Cv fn_lowrank(Lower *L, const BuiltinFn *fn, Bound *a)
{
    ValueId u, v;
    if (!tensor_arg(L, fn, a, 0, &u) || !tensor_arg(L, fn, a, 1, &v)) return cv_error();
    if (ir_type(L->m, v)->rank != 2 || ir_type(L->m, u)->rank != 2) {
        diag_error(L->diag, a->call, "'lowrank' needs two matrices");
        return cv_error();
    }
    int64_t perm[2] = {1, 0};
    Cv vt = emit_permute(L, v, perm, 2, layer_name(L), a->call);
    if (vt.kind != CV_TENSOR) return vt;
    return emit_binary(L, OP_MATMUL, u, vt.u.t, layer_name(L), a->call);
}

static Cv fn_cast(Lower *L, const BuiltinFn *fn, Bound *a)
{
    ValueId x;
    if (!tensor_arg(L, fn, a, 0, &x)) return cv_error();
    if (ARG(1)->kind != CV_DTYPE) {
        want_fail(L, ARG(1), ASPAN(1), "argument 'dtype' of 'cast'", "a dtype (f32, i32, i64, bool)");
        return cv_error();
    }
    DType to = (DType)ARG(1)->u.i, dt = ir_dtype_compute(to);
    if (dt != ir_type(L->m, x)->dtype) {
        Attr at = ir_attr_int(ATTR_DTYPE, dt);
        Cv c = emit_op(L, OP_CAST, &x, 1, &at, 1, layer_name(L), a->call);
        if (c.kind != CV_TENSOR) return c;
        x = c.u.t;
    }
    /* f16/bf16 are computed in f32, but x.to(float16) rounds: keep the rounded value */
    if (to == DT_F16 || to == DT_BF16)
        return emit_op(L, to == DT_F16 ? OP_ROUND_F16 : OP_ROUND_BF16, &x, 1, NULL, 0, layer_name(L), a->call);
    return cv_tensor(x);
}

static bool seed_arg(Lower *L, const BuiltinFn *fn, Bound *a, int i, int64_t *seed)
{
    if (!int_arg(L, fn, a, i, seed)) return false;
    if (*seed < 0 || *seed > 0xFFFFFFFFll) {
        diag_error(L->diag, ASPAN(i), "seed must be in 0 .. 2^32-1, got %" PRId64, *seed);
        return false;
    }
    return true;
}

static Cv fn_hashed(Lower *L, const BuiltinFn *fn, Bound *a)
{
    ValueId pool;
    int64_t shape[IR_MAX_RANK], seed;
    uint32_t n;
    if (!tensor_arg(L, fn, a, 0, &pool) ||
        !want_ints(L, ARG(1), ASPAN(1), "argument 'shape' of 'hashed'", shape, IR_MAX_RANK, &n, false) ||
        !seed_arg(L, fn, a, 2, &seed))
        return cv_error();
    for (uint32_t i = 0; i < n; i++)
        if (shape[i] < 0) {
            diag_error(L->diag, ASPAN(1), "'hashed' shape entries must not be negative");
            return cv_error();
        }
    if (!check_param_expr(L, pool, ASPAN(0))) return cv_error();
    Attr at[2] = {ir_attr_ints(L->m, ATTR_SHAPE, shape, n), ir_attr_int(ATTR_SEED, seed)};
    return emit_op(L, OP_HASHED, &pool, 1, at, 2, layer_name(L), a->call);
}

static Cv fn_hash_route(Lower *L, const BuiltinFn *fn, Bound *a)
{
    ValueId ids;
    int64_t e, seed;
    if (!tensor_arg(L, fn, a, 0, &ids) || !int_arg(L, fn, a, 1, &e) || !seed_arg(L, fn, a, 2, &seed))
        return cv_error();
    if (e <= 0) {
        diag_error(L->diag, ASPAN(1), "'hash_route' needs a positive expert count, got %" PRId64, e);
        return cv_error();
    }
    Attr at[2] = {ir_attr_int(ATTR_NUM, e), ir_attr_int(ATTR_SEED, seed)};
    return emit_op(L, OP_HASH_ROUTE, &ids, 1, at, 2, layer_name(L), a->call);
}

static Cv fn_recurse(Lower *L, const BuiltinFn *fn, Bound *a)
{
    (void)fn;
    return builtin_recurse(L, a);
}

/* ---- compile-time functions ---------------------------------------------------------------- */

static bool number(const Cv *v, double *x)
{
    if (v->kind == CV_INT) { *x = (double)v->u.i; return true; }
    if (v->kind == CV_REAL) { *x = v->u.r; return true; }
    return false;
}

static Cv ct_to_int(Lower *L, double r, Span span)
{
    if (!(r >= -9.2e18 && r <= 9.2e18)) {
        diag_error(L->diag, span, "value %g does not fit in an int", r);
        return cv_error();
    }
    return cv_int((int64_t)r);
}

static Cv fn_round(Lower *L, const BuiltinFn *fn, Bound *a)
{
    double x;
    if (!real_arg(L, fn, a, 0, &x)) return cv_error();
    Cv r = ct_to_int(L, fn->op == 0 ? nearbyint(x) : fn->op == 1 ? floor(x) : ceil(x), a->call);
    r.elastic = ARG(0)->elastic;
    return r; /* nearbyint rounds half to even in the default rounding mode, as Python */
}

static Cv fn_make_divisible(Lower *L, const BuiltinFn *fn, Bound *a)
{
    double v;
    int64_t d;
    if (!real_arg(L, fn, a, 0, &v) || !int_arg(L, fn, a, 1, &d)) return cv_error();
    if (d <= 0) {
        diag_error(L->diag, ASPAN(1), "'make_divisible' needs a positive divisor, got %" PRId64, d);
        return cv_error();
    }
    Cv t = ct_to_int(L, v + (double)d / 2, a->call); /* int() truncates toward zero */
    if (t.kind == CV_ERROR) return t;
    int64_t q = t.u.i / d - (t.u.i % d != 0 && t.u.i < 0);
    int64_t nv = q * d;
    if (nv < d) nv = d;
    if ((double)nv < 0.9 * v) nv += d;
    Cv r = cv_int(nv);
    r.elastic = ARG(0)->elastic || ARG(1)->elastic;
    return r;
}

/* ---- the table ------------------------------------------------------------------------------- */

static const BuiltinFn builtin_fns[] = {
#define EW1(K, nm, expr) {#nm, "x", fn_unary, OP_##K},
#include "../ir/eltwise.def"
#undef EW1
    {"add", "a b", fn_binary_op, OP_ADD},
    {"sub", "a b", fn_binary_op, OP_SUB},
    {"mul", "a b", fn_binary_op, OP_MUL},
    {"div", "a b", fn_binary_op, OP_DIV},
    {"softmax", "x dim", fn_softmax, OP_SOFTMAX},
    {"log_softmax", "x dim", fn_softmax, OP_LOG_SOFTMAX},
    {"sum", "x dims=None keepdim=false", fn_reduce, OP_REDUCE_SUM},
    {"mean", "x dims=None keepdim=false", fn_reduce, OP_REDUCE_MEAN},
    {"max", "x dims=None keepdim=false", fn_reduce, OP_REDUCE_MAX},
    {"min", "x dims=None keepdim=false", fn_reduce, OP_REDUCE_MIN},
    {"argmax", "x dim=None keepdim=false", fn_argmax, OP_ARGMAX},
    {"matmul", "a b", fn_binary_op, OP_MATMUL},
    {"linear", "x w b=None", fn_linear, OP_LINEAR},
    {"conv2d", "x w b=None stride=1 pad=0 dilation=1 groups=1", fn_conv2d, OP_CONV2D},
    {"max_pool2d", "x kernel stride=None pad=0", fn_pool, OP_MAX_POOL2D},
    {"avg_pool2d", "x kernel stride=None pad=0", fn_pool, OP_AVG_POOL2D},
    {"batch_norm", "x mean var w=None b=None eps=1e-5", fn_batch_norm, OP_BATCH_NORM},
    {"layer_norm", "x w=None b=None eps=1e-5", fn_layer_norm, OP_LAYER_NORM},
    {"rms_norm", "x w=None eps=1.1920929e-7", fn_rms_norm, OP_RMS_NORM},
    {"attention", "q k v causal=false scale=None", fn_attention, OP_ATTENTION},
    {"reshape", "x shape", fn_reshape, OP_RESHAPE},
    {"flatten", "x start=1 end=-1", fn_flatten, -1},
    {"permute", "x dims", fn_permute, OP_PERMUTE},
    {"transpose", "x a b", fn_transpose, -1},
    {"concat", "xs dim=0", fn_concat, OP_CONCAT},
    {"split", "x sizes dim=0", fn_split, -1},
    {"embedding", "ids table", fn_binary_op, OP_EMBEDDING},
    {"take", "x idx", fn_binary_op, OP_TAKE},
    {"kron", "a b", fn_kron, OP_KRON},
    {"lowrank", "u v", fn_lowrank, -1},
    {"cast", "x dtype", fn_cast, OP_CAST},
    {"hashed", "pool shape seed", fn_hashed, OP_HASHED},
    {"hash_route", "ids E seed", fn_hash_route, OP_HASH_ROUTE},
    {"recurse", "x body depth max", fn_recurse, -1},
    {"moe", "x scores experts policy shared=None", builtin_moe, -1},
    {"topk", "k renorm=None softmax=true", builtin_topk, -1},
    {"threshold", "p max_k", builtin_threshold, -1},
    {"assign", "idx", builtin_assign, -1},
    {"round", "x", fn_round, 0},
    {"floor", "x", fn_round, 1},
    {"ceil", "x", fn_round, 2},
    {"make_divisible", "v d", fn_make_divisible, -1},
};

const BuiltinFn *builtin_fn_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof builtin_fns / sizeof *builtin_fns; i++)
        if (strcmp(builtin_fns[i].name, name) == 0) return &builtin_fns[i];
    return NULL;
}

/* min/max of compile-time numbers: min(a, b, ...), the first extreme argument as it is
 * (Python's rule: its int or real kind is kept; ties keep the earlier argument). */
static Cv ct_minmax(Lower *L, bool is_max, CallArgs *args)
{
    if (args->nkw || args->npos < 2) {
        diag_error(L->diag, args->span, "'%s' of numbers takes two or more positional arguments",
                   is_max ? "max" : "min");
        return cv_error();
    }
    uint32_t best = 0;
    bool elastic = false;
    for (uint32_t i = 0; i < args->npos; i++) {
        const Cv *v = &args->pos[i];
        double x, y = 0;
        if (!number(v, &x)) {
            want_fail(L, v, args->pos_span[i], is_max ? "'max'" : "'min'", "a number");
            return cv_error();
        }
        elastic |= v->elastic;
        number(&args->pos[best], &y);
        bool better = v->kind == CV_INT && args->pos[best].kind == CV_INT
                          ? (is_max ? v->u.i > args->pos[best].u.i : v->u.i < args->pos[best].u.i)
                          : (is_max ? x > y : x < y);
        if (better) best = i;
    }
    /* Python returns the chosen argument unchanged: min(2, 3.5) is the int 2 */
    Cv out = args->pos[best];
    out.elastic = elastic;
    return out;
}

Cv call_builtin_fn(Lower *L, const BuiltinFn *fn, CallArgs *args)
{
    bool minmax = strcmp(fn->name, "max") == 0 || strcmp(fn->name, "min") == 0;
    if (minmax && args->npos >= 1 && args->pos[0].kind != CV_TENSOR)
        return ct_minmax(L, fn->name[1] == 'a', args);
    Bound b;
    if (!bind_args(L, fn->name, fn->sig, args, &b)) return cv_error();
    return fn->impl(L, fn, &b);
}
