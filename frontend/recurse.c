/* SPDX-License-Identifier: MIT
 * recurse.c - `recurse(x, body, depth, max)` (spec 8.3: per-row dynamic depth with one
 * shared body, Mixture-of-Recursions token-choice, VersatileFFN's depth path).
 *
 * Lowered as max steps of: gather the rows whose depth exceeds the step (compacted, a
 * tensor [R, ...] whose first dim is a rows symbol R bound at run time), the body on
 * them, scatter the results back. Every step's body ops have the same types, so a
 * backend emits the body once and each step runs only on the rows still recursing.
 * The body must map rows independently: the rows symbol marks the row axis of every
 * value derived from the gathered rows, and each body op's use of that axis is checked
 * here (a located error), so kernels never see rows that mix.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "lower_impl.h"

#define RECURSE_MAX_STEPS 256 /* max is unrolled into steps; far above any published depth */

/* The axis of t that is exactly the rows symbol r, or -1; *mixed when r is part of a
 * product (rows merged with another axis) or appears on two axes (rows paired). */
static int row_axis(const Module *m, const TensorType *t, SymId r, bool *mixed)
{
    int ax = -1;
    for (unsigned i = 0; i < t->rank; i++) {
        if (t->dims[i] >= 0) continue;
        const DimExpr *e = ir_dim_expr(m, t->dims[i]);
        bool has = false;
        for (unsigned k = 0; k < e->nsym; k++) has |= e->sym[k] == r;
        if (!has) continue;
        if (e->nsym != 1 || e->coef != 1 || ax >= 0) *mixed = true;
        ax = (int)i;
    }
    return ax;
}

/* Product of t's dims before axis end. */
static Dim prefix(Module *m, const TensorType *t, int end)
{
    Dim p = 1;
    for (int i = 0; i < end; i++)
        if (!ir_dim_mul_checked(m, p, t->dims[i], &p)) return INT64_MAX;
    return p;
}

/* Why op makes a row of its result depend on other rows, or NULL when it does not. */
static const char *mixes_rows(Module *m, const Op *op, SymId r)
{
    int ax[IR_MAX_ATTRS + 8] = {0};
    bool mixed = false, tracked = false;
    for (unsigned i = 0; i < op->nin && i < sizeof ax / sizeof *ax; i++) {
        ValueId v = ir_operand(m, op, i);
        ax[i] = v ? row_axis(m, ir_type(m, v), r, &mixed) : -1;
        tracked |= ax[i] >= 0;
    }
    if (!tracked) return NULL;
    int out = row_axis(m, ir_type(m, op->out), r, &mixed);
    if (mixed) return "merges or pairs rows";
    if (out < 0) return "combines rows";
    const TensorType *x = ir_type(m, ir_operand(m, op, 0));
    int last = (int)x->rank - 1;
    switch (op->kind) {
    case OP_SOFTMAX: case OP_LOG_SOFTMAX: case OP_ARGMAX:
        return ir_op_int(m, op, ATTR_DIM) == ax[0] ? "runs over the row axis" : NULL;
    case OP_LAYER_NORM: case OP_RMS_NORM:
        return ax[0] == last ? "normalizes over the row axis" : NULL;
    case OP_ATTENTION:
        return ax[1] == last - 1 || ax[2] == last - 1 || ax[0] == last || ax[1] == last ? "attends across rows" : NULL;
    case OP_EMBEDDING: return ax[1] >= 0 ? "looks rows up by index" : NULL;
    case OP_TAKE: return ax[0] >= 0 ? "looks rows up by index" : NULL;
    case OP_CONV2D: case OP_MAX_POOL2D: case OP_AVG_POOL2D:
        return ax[0] >= 0 && !(x->rank == 4 && ax[0] == 0) ? "slides a window across rows" : NULL;
    case OP_RESHAPE: {
        /* the row index must stay the outer index of everything after it */
        Dim a = prefix(m, x, ax[0]), b = prefix(m, ir_type(m, op->out), out);
        return a != b || a == INT64_MAX ? "reinterprets rows" : NULL;
    }
    case OP_SLICE: {
        const int64_t *begin = ir_op_ints(m, op, ATTR_BEGIN, NULL), *step = ir_op_ints(m, op, ATTR_STEP, NULL);
        return begin[ax[0]] != 0 || step[ax[0]] != 1 ? "selects rows" : NULL;
    }
    default: return NULL;
    }
}

/* The op's name as written in NDL (reduce_sum is spelled sum). */
static const char *ndl_name(OpKind k)
{
    const char *n = op_info[k].name;
    return strncmp(n, "reduce_", 7) == 0 ? n + 7 : n;
}

/* Reports the first body op in [first, end) that mixes rows. */
static bool check_row_wise(Lower *L, OpId first, OpId end, SymId r, Span call)
{
    for (OpId o = first; o < end; o++) {
        const Op *op = ir_op(L->m, o);
        const char *why = mixes_rows(L->m, op, r);
        if (!why) continue;
        diag_error(L->diag, op->span, "'recurse' body must map rows independently, but '%s' %s",
                   ndl_name(op->kind), why);
        diag_note(L->diag, call, "rows recurse here");
        return false;
    }
    return true;
}

Cv builtin_recurse(Lower *L, Bound *a)
{
    ValueId x, depth;
    int64_t max;
    if (!want_tensor(L, &a->v[0], a->span[0], "argument 'x' of 'recurse'", &x)) return cv_error();
    if (a->v[1].kind != CV_INST) {
        want_fail(L, &a->v[1], a->span[1], "argument 'body' of 'recurse'", "a module instance");
        return cv_error();
    }
    if (!want_tensor(L, &a->v[2], a->span[2], "argument 'depth' of 'recurse'", &depth) ||
        !want_int(L, &a->v[3], a->span[3], "argument 'max' of 'recurse'", &max))
        return cv_error();
    if (max < 1 || max > RECURSE_MAX_STEPS) {
        diag_error(L->diag, a->span[3], "'recurse' max must be in 1..%d, got %" PRId64, RECURSE_MAX_STEPS, max);
        return cv_error();
    }
    const TensorType xt = *ir_type(L->m, x); /* a copy: emitting ops grows m->values */
    char t[256];
    if (xt.rank < 1 || xt.dims[0] < 0) {
        diag_error(L->diag, a->span[0], "'recurse' needs x with a fixed number of rows, got %s",
                   ir_format_type(L->m, &xt, t, sizeof t));
        return cv_error();
    }
    char name[32];
    snprintf(name, sizeof name, "rows%u", L->m->syms.n);
    SymId r = ir_add_dynamic_symbol(L->m, name, xt.dims[0], a->call);
    int64_t shape[IR_MAX_RANK];
    shape[0] = ir_dim_symbol(L->m, r);
    for (unsigned i = 1; i < xt.rank; i++) shape[i] = xt.dims[i];
    const char *layer = L->cur_path && L->cur_path[0] ? L->cur_path : NULL;
    Span xspan = a->span[0];
    ValueId cur = x;
    for (int64_t step = 0; step < max; step++) {
        Attr ga[2] = {ir_attr_ints(L->m, ATTR_SHAPE, shape, xt.rank), ir_attr_int(ATTR_MAX, max)};
        ValueId sv = const_scalar(L, (double)step, DT_I64, a->call);
        Cv rows = emit_op(L, OP_RECURSE_GATHER, (ValueId[]){cur, depth, sv}, 3, ga, 2, layer, a->call);
        if (rows.kind == CV_ERROR) return rows;
        OpId first = L->m->ops.n;
        CallArgs args = {.npos = 1, .pos = &rows, .pos_span = &xspan, .span = a->call};
        Cv y = call_value(L, NULL, a->v[1], &args, a->span[1]);
        ValueId yv;
        if (!want_tensor(L, &y, a->span[1], "the result of the 'recurse' body", &yv)) return cv_error();
        /* the steps are the same ops on the same types: checking the first suffices */
        if (step == 0 && !check_row_wise(L, first, L->m->ops.n, r, a->call)) return cv_error();
        Cv next = emit_op(L, OP_RECURSE_SCATTER, (ValueId[]){cur, yv, depth, sv}, 4, NULL, 0, layer, a->call);
        if (next.kind == CV_ERROR) return next;
        cur = next.u.t;
    }
    return cv_tensor(cur);
}
