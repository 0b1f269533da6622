/* SPDX-License-Identifier: MIT
 * moe.c - `moe(x, scores, experts, policy, shared=[..])` and its policies (spec 8.4).
 *
 * The IR has no subgraphs (module calls are inlined), so a moe call is elaborated straight
 * into its explicit, lowered form: one routing op makes the gate matrix [T,E] (the combine
 * weight of each selected (token, expert), 0 elsewhere); then for each expert a
 * moe_gather of its rows (a run-time count R_e <= T, a dynamic symbol), the expert's
 * forward inlined on [R_e, d], and a moe_scatter that adds gate * output into the result.
 * No expert sees a token that did not select it. Every check on the arguments is a
 * diagnostic at the argument.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "lower_impl.h"

enum { POLICY_TOPK, POLICY_THRESHOLD, POLICY_ASSIGN };

struct MoePolicy {
    int kind;
    int64_t k;               /* top-k's k, threshold's max_k, 1 for assign */
    double p;                /* threshold */
    bool renorm, softmax;
    ValueId idx;             /* assign */
    Span span;               /* the policy call, for "k > E" */
    Span k_span;
};

static Cv policy_value(Lower *L, MoePolicy pol)
{
    MoePolicy *p = arena_alloc(L->arena, sizeof *p);
    *p = pol;
    return (Cv){.kind = CV_POLICY, .u.policy = p};
}

static bool want_flag(Lower *L, Bound *a, int i, const char *fn, bool *out)
{
    char what[64];
    snprintf(what, sizeof what, "argument '%s' of '%s'", a->name[i], fn);
    return want_bool(L, &a->v[i], a->span[i], what, out);
}

Cv builtin_topk(Lower *L, const BuiltinFn *fn, Bound *a)
{
    MoePolicy p = {.kind = POLICY_TOPK, .span = a->call, .k_span = a->span[0]};
    if (!want_int(L, &a->v[0], a->span[0], "argument 'k' of 'topk'", &p.k) ||
        !want_flag(L, a, 2, fn->name, &p.softmax))
        return cv_error();
    if (p.k < 1) {
        diag_error(L->diag, a->span[0], "'topk' needs k >= 1, got %" PRId64, p.k);
        return cv_error();
    }
    /* renorm defaults to softmax: with softmax = false the selected scores themselves are
     * the weights (spec 8.4, NormRouter), unless renorm = true is written */
    p.renorm = p.softmax;
    if (a->v[1].kind != CV_NONE && !want_flag(L, a, 1, fn->name, &p.renorm)) return cv_error();
    return policy_value(L, p);
}

Cv builtin_threshold(Lower *L, const BuiltinFn *fn, Bound *a)
{
    MoePolicy p = {.kind = POLICY_THRESHOLD, .renorm = true, .softmax = true, .span = a->call,
                   .k_span = a->span[1]};
    (void)fn;
    if (!want_real(L, &a->v[0], a->span[0], "argument 'p' of 'threshold'", &p.p) ||
        !want_int(L, &a->v[1], a->span[1], "argument 'max_k' of 'threshold'", &p.k))
        return cv_error();
    if (!(p.p > 0 && p.p <= 1)) {
        diag_error(L->diag, a->span[0], "'threshold' needs p in (0, 1], got %g", p.p);
        return cv_error();
    }
    if (p.k < 1) {
        diag_error(L->diag, a->span[1], "'threshold' needs max_k >= 1, got %" PRId64, p.k);
        return cv_error();
    }
    return policy_value(L, p);
}

Cv builtin_assign(Lower *L, const BuiltinFn *fn, Bound *a)
{
    MoePolicy p = {.kind = POLICY_ASSIGN, .k = 1, .span = a->call, .k_span = a->call};
    (void)fn;
    if (!want_tensor(L, &a->v[0], a->span[0], "argument 'idx' of 'assign'", &p.idx)) return cv_error();
    const TensorType *t = ir_type(L->m, p.idx);
    if ((t->dtype != DT_I32 && t->dtype != DT_I64) || t->rank != 1) {
        char b[128];
        diag_error(L->diag, a->span[0], "'assign' expects idx i32[T] or i64[T], got %s",
                   ir_format_type(L->m, t, b, sizeof b));
        return cv_error();
    }
    return policy_value(L, p);
}

/* The row-count symbol of expert inst for T tokens, made on first use. */
static Dim expert_rows(Lower *L, const Inst *inst, Dim tokens, Span span)
{
    for (uint32_t i = 0; i < L->moe_rows.n; i++)
        if (L->moe_rows.v[i].expert == inst && L->moe_rows.v[i].tokens == tokens)
            return L->moe_rows.v[i].rows;
    const char *name = arena_printf(L->arena, "%s.rows", inst->path);
    Dim rows = ir_dim_symbol(L->m, ir_add_dynamic_symbol(L->m, name, tokens, span));
    vec_push(L->moe_rows, ((MoeRows){inst, tokens, rows}));
    return rows;
}

/* Calls module instance inst on one tensor. */
static Cv call_on(Lower *L, Cv inst, ValueId x, Span span)
{
    Cv arg = cv_tensor(x);
    CallArgs args = {.npos = 1, .pos = &arg, .pos_span = &span, .span = span};
    return call_value(L, NULL, inst, &args, span);
}

/* A list of module instances (experts, shared); false with an error at span. */
static bool want_instances(Lower *L, const Cv *v, Span span, const char *what, bool allow_empty)
{
    if (v->kind == CV_ERROR) return false;
    bool ok = v->kind == CV_LIST && (allow_empty || v->u.list.n > 0);
    for (uint32_t i = 0; ok && i < v->u.list.n; i++) ok = v->u.list.v[i].kind == CV_INST;
    if (!ok)
        diag_error(L->diag, span, "'moe' expects %s to be a%s list of module instances, got %s", what,
                   allow_empty ? "" : " non-empty", cv_kind_name(L, v));
    return ok;
}

/* Output of one expert or shared module: f32[rows, n], n equal for all (first sets *n). */
static bool check_output(Lower *L, const Cv *y, Dim rows, Dim tokens, int64_t *n, const char *what,
                         uint32_t i, const Inst *inst, Span span)
{
    if (y->kind == CV_ERROR) return false;
    char b[128], b2[128];
    if (y->kind != CV_TENSOR) {
        diag_error(L->diag, span, "'moe' %s %u ('%s') returns %s, expected a tensor", what, i,
                   inst->path, cv_kind_name(L, y));
        return false;
    }
    const TensorType *t = ir_type(L->m, y->u.t);
    if (t->dtype != DT_F32 || t->rank != 2 || t->dims[0] != rows || (*n >= 0 && t->dims[1] != *n) ||
        t->dims[1] < 0) {
        /* shown over the tokens T, not the expert's run-time row count */
        TensorType got = *t, want = ir_type_make(DT_F32, 2, (Dim[]){tokens, *n});
        if (got.rank >= 1 && got.dims[0] == rows) got.dims[0] = tokens;
        if (*n < 0) want.dims[1] = got.rank == 2 ? got.dims[1] : 0;
        diag_error(L->diag, span,
                   "'moe' experts must all map [T,d] to the same f32[T,n] row by row: %s %u ('%s') "
                   "gives %s, expected %s",
                   what, i, inst->path, ir_format_type(L->m, &got, b, sizeof b),
                   ir_format_type(L->m, &want, b2, sizeof b2));
        return false;
    }
    *n = t->dims[1];
    return true;
}

Cv builtin_moe(Lower *L, const BuiltinFn *fn, Bound *a)
{
    enum { A_X, A_SCORES, A_EXPERTS, A_POLICY, A_SHARED };
    (void)fn;
    const char *lname = L->cur_path && L->cur_path[0] ? L->cur_path : NULL;
    char b[128], b2[128];
    ValueId x;
    if (!want_tensor(L, &a->v[A_X], a->span[A_X], "argument 'x' of 'moe'", &x)) return cv_error();
    const TensorType *xt = ir_type(L->m, x);
    if (xt->dtype != DT_F32 || xt->rank != 2) {
        diag_error(L->diag, a->span[A_X], "'moe' expects x f32[T,d] (flatten batch and sequence first), got %s",
                   ir_format_type(L->m, xt, b, sizeof b));
        return cv_error();
    }
    Dim T = xt->dims[0];
    if (!want_instances(L, &a->v[A_EXPERTS], a->span[A_EXPERTS], "experts", false)) return cv_error();
    const Cv *experts = a->v[A_EXPERTS].u.list.v;
    int64_t E = a->v[A_EXPERTS].u.list.n;
    if (a->v[A_POLICY].kind != CV_POLICY) {
        want_fail(L, &a->v[A_POLICY], a->span[A_POLICY], "argument 'policy' of 'moe'",
                  "a routing policy (topk, threshold or assign)");
        return cv_error();
    }
    const MoePolicy *pol = a->v[A_POLICY].u.policy;
    const Cv *shared = &a->v[A_SHARED];
    if (shared->kind != CV_NONE && !want_instances(L, shared, a->span[A_SHARED], "shared", true))
        return cv_error();

    /* routing: the gate matrix [T, E] */
    Cv gates;
    if (pol->kind == POLICY_ASSIGN) {
        if (ir_type(L->m, pol->idx)->dims[0] != T) {
            diag_error(L->diag, pol->span, "'assign' needs one expert index per token, %s, got %s",
                       ir_format_dim(L->m, T, b, sizeof b),
                       ir_format_type(L->m, ir_type(L->m, pol->idx), b2, sizeof b2));
            return cv_error();
        }
        Attr at = ir_attr_int(ATTR_NUM, E);
        gates = emit_op(L, OP_MOE_ASSIGN, &pol->idx, 1, &at, 1, lname, a->call);
    } else {
        ValueId scores;
        if (!want_tensor(L, &a->v[A_SCORES], a->span[A_SCORES], "argument 'scores' of 'moe'", &scores))
            return cv_error();
        const TensorType *st = ir_type(L->m, scores);
        if (st->dtype != DT_F32 || st->rank != 2 || st->dims[0] != T || st->dims[1] != E) {
            TensorType want = ir_type_make(DT_F32, 2, (Dim[]){T, E});
            diag_error(L->diag, a->span[A_SCORES],
                       "'moe' expects scores %s (tokens by experts), got %s",
                       ir_format_type(L->m, &want, b, sizeof b), ir_format_type(L->m, st, b2, sizeof b2));
            return cv_error();
        }
        if (pol->k > E) {
            diag_error(L->diag, pol->k_span, "'%s' takes %s %" PRId64 " of %" PRId64 " experts",
                       pol->kind == POLICY_TOPK ? "topk" : "threshold",
                       pol->kind == POLICY_TOPK ? "k =" : "max_k =", pol->k, E);
            return cv_error();
        }
        Attr at[5] = {ir_attr_int(ATTR_POLICY, pol->kind == POLICY_TOPK ? 0 : 1),
                      ir_attr_int(ATTR_K, pol->k), ir_attr_float(ATTR_P, pol->p),
                      ir_attr_int(ATTR_RENORM, pol->renorm), ir_attr_int(ATTR_SOFTMAX, pol->softmax)};
        gates = emit_op(L, OP_MOE_ROUTE, &scores, 1, at, 5, lname, a->call);
    }
    if (gates.kind != CV_TENSOR) return cv_error();

    /* each expert on its rows, accumulated in token order of the experts */
    ValueId acc = 0;
    int64_t n = -1;
    for (int64_t e = 0; e < E; e++) {
        const Inst *inst = experts[e].u.inst;
        Dim rows = expert_rows(L, inst, T, a->call);
        ValueId in[3] = {x, gates.u.t, 0};
        Attr ga[2] = {ir_attr_int(ATTR_EXPERT, e), ir_attr_int(ATTR_ROWS, rows)};
        Cv xe = emit_op(L, OP_MOE_GATHER, in, 2, ga, 2, inst->path, a->call);
        if (xe.kind != CV_TENSOR) return cv_error();
        Cv ye = call_on(L, experts[e], xe.u.t, a->span[A_EXPERTS]);
        if (!check_output(L, &ye, rows, T, &n, "expert", (uint32_t)e, inst, a->span[A_EXPERTS]))
            return cv_error();
        ValueId sin[3] = {acc, ye.u.t, gates.u.t};
        Attr sa = ir_attr_int(ATTR_EXPERT, e);
        Cv sum = emit_op(L, OP_MOE_SCATTER, sin, 3, &sa, 1, inst->path, a->call);
        if (sum.kind != CV_TENSOR) return cv_error();
        acc = sum.u.t;
    }
    /* shared experts: every token, weight 1 */
    for (uint32_t i = 0; shared->kind == CV_LIST && i < shared->u.list.n; i++) {
        Cv y = call_on(L, shared->u.list.v[i], x, a->span[A_SHARED]);
        if (!check_output(L, &y, T, T, &n, "shared expert", i, shared->u.list.v[i].u.inst, a->span[A_SHARED]))
            return cv_error();
        Cv sum = emit_binary(L, OP_ADD, acc, y.u.t, lname, a->call);
        if (sum.kind != CV_TENSOR) return cv_error();
        acc = sum.u.t;
    }
    return cv_tensor(acc);
}
