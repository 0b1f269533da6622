/* SPDX-License-Identifier: MIT
 * bnfold.c - BatchNorm folding: y = batch_norm(h(x, W, b), mean, var, g, beta) with h a
 * conv2d on [N,C,H,W] or a linear on [N,C] (so batch_norm's channel axis 1 is h's output
 * channel, the first axis of W), all of W, b, mean, var, g, beta constants, and h's
 * result used by nothing else, becomes h(x, W', b') with, per output channel c,
 *     s[c] = g[c] / sqrt(var[c] + eps)      (g = 1, beta = 0 when absent)
 *     W'[c, ...] = W[c, ...] * s[c]
 *     b'[c] = (b[c] - mean[c]) * s[c] + beta[c]   (b = 0 when h had no bias)
 * computed in double. W' and b' are new constants ("<W>.bnfold", "<b>.bnfold"); the
 * original weights are never written (they may be a read-only mapping of the file), and
 * dce drops them once unused. The batch_norm is marked OPF_DEAD and its uses (and model
 * outputs) now read h's result, which has the same type. Chains (batch_norm of a folded
 * batch_norm) fold too. Unbatched conv2d ([C,H,W]) and linear on rank > 2 are left
 * alone: there axis 1 is not the output channel.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "passes.h"

static bool is_constant(const Module *m, ValueId v)
{
    ValueKind k = ir_value(m, v)->kind;
    return k == VAL_PARAM || k == VAL_CONST;
}

/* An f32 constant vector [c] (or absent, when optional). */
static bool const_vec(const Module *m, ValueId v, int64_t c, bool optional)
{
    if (!v) return optional;
    const TensorType *t = ir_type(m, v);
    return is_constant(m, v) && t->dtype == DT_F32 && t->rank == 1 && t->dims[0] == c;
}

static const float *vec_data(const Module *m, ValueId v)
{
    return v ? m->weights.v[ir_value(m, v)->weight].data : NULL;
}

/* "<base><suffix>", made unique among the module's value names with "_2", "_3" ... */
static const char *unique_name(Module *m, const char *base, const char *suffix)
{
    return ir_unique_name(m, arena_printf(m->arena, "%s%s", base, suffix));
}

/* The conv2d/linear whose result batch_norm `bn` normalizes, when it can absorb it. */
static Op *foldable_head(const Module *m, const Op *bn, const uint32_t *uses)
{
    ValueId x = ir_operand(m, bn, 0);
    const Value *xv = ir_value(m, x);
    if (xv->kind != VAL_RESULT || uses[x] != 1) return NULL; /* only bn reads it */
    Op *h = ir_op(m, xv->def);
    if (h->flags & OPF_DEAD) return NULL;
    unsigned rank = ir_type(m, h->out)->rank;
    if (!((h->kind == OP_CONV2D && rank == 4) || (h->kind == OP_LINEAR && rank == 2)))
        return NULL;
    ValueId w = ir_operand(m, h, 1), b = ir_operand(m, h, 2);
    const TensorType *wt = ir_type(m, w);
    if (!is_constant(m, w) || wt->dtype != DT_F32 || wt->rank < 1) return NULL;
    int64_t c = wt->dims[0];
    if (ir_type(m, h->out)->dims[1] != c || !const_vec(m, b, c, true)) return NULL;
    for (unsigned i = 1; i <= 4; i++) /* mean and var required, g and beta optional */
        if (!const_vec(m, ir_operand(m, bn, i), c, i >= 3)) return NULL;
    return h;
}

/* Rewrites h's weight and bias operands to the folded constants. */
static void fold_into(Module *m, Op *h, const Op *bn)
{
    ValueId w = ir_operand(m, h, 1), b = ir_operand(m, h, 2);
    const float *mean = vec_data(m, ir_operand(m, bn, 1)), *var = vec_data(m, ir_operand(m, bn, 2));
    const float *g = vec_data(m, ir_operand(m, bn, 3)), *beta = vec_data(m, ir_operand(m, bn, 4));
    const float *W = vec_data(m, w), *B = vec_data(m, b);
    double eps = ir_op_float(m, bn, ATTR_EPS);
    TensorType wt = *ir_type(m, w);
    int64_t c = wt.dims[0], inner = 1;
    for (unsigned i = 1; i < wt.rank; i++) inner *= wt.dims[i];

    size_t nwn = (size_t)(c * inner), nbn = (size_t)c;
    float *nw = xmalloc((nwn ? nwn : 1) * sizeof *nw), *nb = xmalloc((nbn ? nbn : 1) * sizeof *nb);
    for (int64_t k = 0; k < c; k++) {
        double s = (g ? (double)g[k] : 1.0) / sqrt((double)var[k] + eps);
        double bias = B ? (double)B[k] : 0.0, shift = beta ? (double)beta[k] : 0.0;
        for (int64_t i = 0; i < inner; i++)
            nw[k * inner + i] = (float)((double)W[k * inner + i] * s);
        nb[k] = (float)((bias - (double)mean[k]) * s + shift);
    }

    /* names: "<W>.bnfold"; the bias after b, or after W with ".weight" made ".bias" */
    const char *wname = ir_value(m, w)->name, *bname = b ? ir_value(m, b)->name : NULL;
    const char *path = h->name ? h->name : op_info[h->kind].name;
    const char *wbase = wname ? wname : arena_printf(m->arena, "%s.weight", path);
    const char *bbase = bname;
    if (!bbase) {
        size_t n = strlen(wbase);
        bbase = n > 7 && strcmp(wbase + n - 7, ".weight") == 0
                    ? arena_printf(m->arena, "%.*s.bias", (int)(n - 7), wbase)
                    : arena_printf(m->arena, "%s.bias", path);
    }
    TensorType bt = ir_type_make(DT_F32, 1, &wt.dims[0]);
    ValueId cw = ir_add_const(m, &wt, nw, h->span), cb = ir_add_const(m, &bt, nb, h->span);
    m->values.v[cw].name = unique_name(m, wbase, ".bnfold");
    m->values.v[cb].name = unique_name(m, bbase, ".bnfold");
    free(nw);
    free(nb);
    m->operands.v[h->in + 1] = cw;
    m->operands.v[h->in + 2] = cb;
}

bool pass_bnfold(PassContext *cx)
{
    Module *m = cx->m;
    uint32_t nv = m->values.n, no = m->ops.n;
    uint32_t *uses = ir_count_uses(m);
    ValueId *repl = xcalloc(nv, sizeof *repl); /* folded batch_norm result -> head's result */
    bool changed = false;
    for (OpId o = 1; o < no; o++) {
        Op *bn = ir_op(m, o);
        if (bn->flags & OPF_DEAD) continue;
        for (unsigned i = 0; i < bn->nin; i++) {
            ValueId *a = &m->operands.v[bn->in + i];
            if (*a && *a < nv && repl[*a]) *a = repl[*a];
        }
        if (bn->kind != OP_BATCH_NORM) continue;
        Op *h = foldable_head(m, bn, uses);
        if (!h) continue;
        fold_into(m, h, bn);
        bn = ir_op(m, o);
        bn->flags |= OPF_DEAD;
        repl[bn->out] = h->out;
        uses[h->out] = uses[bn->out]; /* h's result now has bn's readers */
        changed = true;
    }
    for (uint32_t i = 0; i < m->outputs.n; i++) {
        ValueId v = m->outputs.v[i].value;
        if (v < nv && repl[v]) m->outputs.v[i].value = repl[v];
    }
    free(uses);
    free(repl);
    if (changed) ir_compact(m);
    return true;
}
