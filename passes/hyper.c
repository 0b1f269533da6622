/* SPDX-License-Identifier: MIT
 * hyper.c - the weight-prediction pass (spec 8.5, issue 9): splits the graph into the
 * init part, the ops that depend on parameters and constants alone (parameter
 * expressions: a hypernetwork and what it predicts, PHNN kron sums, OFA kernel
 * transforms), and the run part, which reads model inputs.
 *
 * First, common subexpressions of the init part are merged: the same hypernetwork call
 * written twice (`hyper(emb[i])[0:k]` and `hyper(emb[i])[k:2k]`) is one computation.
 * Then, by --hyper:
 *   fold (default)  nothing more here; the fold pass that follows evaluates the whole
 *                   init part at compile time, so the artefact stores the predicted weights
 *                   and later passes see ordinary constants;
 *   init            every init op is flagged OPF_INIT: fold leaves it alone, fuse does not
 *                   group it, and the C backend computes it once in create (ST_INIT), so
 *                   the artefact stores the hypernetwork and its embeddings only.
 * A `hashed` expansion (and whatever depends on it) is not part of the init part: it is
 * parameter sharing (spec 8.3), which has its own rules (fold's size rule, --share).
 * Ops with a symbolic result size are never init ops (they need no model input, but a
 * size known only at run time).
 */
#include <stdlib.h>
#include <string.h>
#include "passes.h"

static bool concrete(const TensorType *t)
{
    for (unsigned i = 0; i < t->rank; i++)
        if (t->dims[i] < 0) return false;
    return true;
}

/* in_init[v]: value v is a parameter, a constant, or the result of an init op. */
bool *hyper_init_part(const Module *m)
{
    bool *in_init = xcalloc(m->values.n, sizeof *in_init);
    for (ValueId v = 1; v < m->values.n; v++)
        in_init[v] = m->values.v[v].kind == VAL_PARAM || m->values.v[v].kind == VAL_CONST;
    for (OpId o = 1; o < m->ops.n; o++) {
        const Op *op = ir_op(m, o);
        if ((op->flags & OPF_DEAD) || op->kind == OP_HASHED || !concrete(ir_type(m, op->out))) continue;
        bool all = true;
        for (unsigned i = 0; i < op->nin && all; i++) {
            ValueId a = ir_operand(m, op, i);
            all = !a || in_init[a];
        }
        in_init[op->out] = all;
    }
    return in_init;
}

static bool same_attrs(const Module *m, const Op *a, const Op *b)
{
    if (a->nattr != b->nattr) return false;
    for (unsigned i = 0; i < a->nattr; i++) {
        const Attr *x = &m->attrs.v[a->attr + i], *y = &m->attrs.v[b->attr + i];
        if (x->key != y->key || x->n != y->n) return false;
        switch (attr_info[x->key].kind) {
        case AK_INT: if (x->u.i != y->u.i) return false; break;
        case AK_FLOAT: if (memcmp(&x->u.f, &y->u.f, sizeof x->u.f) != 0) return false; break;
        case AK_INTS:
            if (x->n && memcmp(&m->ints.v[x->u.ints], &m->ints.v[y->u.ints], x->n * sizeof(int64_t)) != 0)
                return false;
            break;
        }
    }
    return true;
}

static bool same_computation(const Module *m, const Op *a, const Op *b)
{
    if (a->kind != b->kind || a->nin != b->nin) return false;
    for (unsigned i = 0; i < a->nin; i++)
        if (ir_operand(m, a, i) != ir_operand(m, b, i)) return false;
    return same_attrs(m, a, b);
}

static uint64_t op_hash(const Module *m, const Op *op)
{
    uint64_t h = 1469598103934665603u ^ (uint64_t)op->kind;
    for (unsigned i = 0; i < op->nin; i++) h = (h ^ ir_operand(m, op, i)) * 1099511628211u;
    return h;
}

/* Merges identical init ops (same kind, operands and attributes), in order, so chains
 * of duplicates collapse from their first op on. Returns whether anything changed. */
static bool merge_common(Module *m, const bool *in_init)
{
    uint32_t no = m->ops.n, cap = 64;
    while (cap < 2 * no) cap *= 2;
    OpId *table = xcalloc(cap, sizeof *table);
    ValueId *repl = xcalloc(m->values.n, sizeof *repl);
    bool changed = false;
    for (OpId o = 1; o < no; o++) {
        Op *op = ir_op(m, o);
        if (op->flags & OPF_DEAD) continue;
        for (unsigned i = 0; i < op->nin; i++) {
            ValueId *a = &m->operands.v[op->in + i];
            if (*a && repl[*a]) *a = repl[*a];
        }
        if (!in_init[op->out]) continue;
        uint32_t slot = (uint32_t)(op_hash(m, op) & (cap - 1));
        while (table[slot] && !same_computation(m, ir_op(m, table[slot]), op)) slot = (slot + 1) & (cap - 1);
        if (!table[slot]) {
            table[slot] = o;
            continue;
        }
        repl[op->out] = ir_op(m, table[slot])->out;
        op->flags |= OPF_DEAD;
        changed = true;
    }
    for (uint32_t i = 0; i < m->outputs.n; i++) {
        ValueId v = m->outputs.v[i].value;
        if (repl[v]) m->outputs.v[i].value = repl[v];
    }
    free(table);
    free(repl);
    return changed;
}

/* Marks in seen the values of v's expression (ops and their operands) not yet marked,
 * and adds its new ops to *ops and *flops (when not NULL). */
static void walk_expression(const Module *m, ValueId v, bool *seen, uint32_t *ops, int64_t *flops)
{
    if (!v || seen[v]) return;
    seen[v] = true;
    const Value *val = ir_value(m, v);
    if (val->kind != VAL_RESULT) return;
    const Op *op = ir_op(m, val->def);
    if (ops) *ops += 1;
    if (flops) *flops += ir_op_flops(m, op);
    for (unsigned i = 0; i < op->nin; i++) walk_expression(m, ir_operand(m, op, i), seen, ops, flops);
}

/* The weight and bias operands of linear and conv2d ops of the run part that init ops
 * compute: the predicted weights. at[k] is (op, operand index) of the k-th. */
typedef struct Use { OpId op; unsigned operand; } Use;
typedef VEC(Use) UseVec;

static UseVec predicted_uses(const Module *m, const bool *in_init)
{
    UseVec uses = {0};
    for (OpId o = 1; o < m->ops.n; o++) {
        const Op *op = ir_op(m, o);
        if ((op->flags & OPF_DEAD) || (op->kind != OP_LINEAR && op->kind != OP_CONV2D) || in_init[op->out]) continue;
        for (unsigned i = 1; i < op->nin && i <= 2; i++) {
            ValueId v = ir_operand(m, op, i);
            if (v && in_init[v] && ir_value(m, v)->kind == VAL_RESULT) vec_push(uses, ((Use){o, i}));
        }
    }
    return uses;
}

/* Records, for --report, every predicted weight: its expression's size, and the bytes of
 * each mode (the parameters' bytes shared among the weights that read them). */
static void record_predicted(Module *m, const bool *in_init)
{
    UseVec uses = predicted_uses(m, in_init);
    bool *seen = xcalloc(m->values.n, sizeof *seen);
    uint32_t *readers = xcalloc(m->values.n, sizeof *readers); /* per parameter */
    for (uint32_t k = 0; k < uses.n; k++) {
        memset(seen, 0, m->values.n * sizeof *seen);
        walk_expression(m, ir_operand(m, ir_op(m, uses.v[k].op), uses.v[k].operand), seen, NULL, NULL);
        for (ValueId v = 1; v < m->values.n; v++) readers[v] += seen[v] && ir_value(m, v)->kind == VAL_PARAM;
    }
    for (uint32_t k = 0; k < uses.n; k++) {
        const Op *op = ir_op(m, uses.v[k].op);
        ValueId w = ir_operand(m, op, uses.v[k].operand);
        PredictedWeight p = {.name = arena_printf(m->arena, "%s.%s", op->name ? op->name : "?",
                                                  uses.v[k].operand == 1 ? "weight" : "bias")};
        memset(seen, 0, m->values.n * sizeof *seen);
        walk_expression(m, w, seen, &p.ops, &p.flops);
        for (ValueId v = 1; v < m->values.n; v++)
            if (seen[v] && ir_value(m, v)->kind == VAL_PARAM)
                p.init_bytes += (double)m->weights.v[ir_value(m, v)->weight].nbytes / readers[v];
        const TensorType *t = ir_type(m, w);
        p.bytes = dtype_info[t->dtype].size;
        for (unsigned d = 0; d < t->rank; d++) p.bytes *= (uint64_t)t->dims[d];
        vec_push(m->predicted, p);
    }
    free(readers);
    free(seen);
    vec_free(uses);
}

bool pass_hyper(PassContext *cx)
{
    Module *m = cx->m;
    bool *in_init = hyper_init_part(m);
    if (merge_common(m, in_init)) {
        free(in_init);
        ir_compact(m);
        in_init = hyper_init_part(m);
    }
    m->predicted.n = 0;
    record_predicted(m, in_init);
    m->hyper_init = cx->hyper_init;
    if (cx->hyper_init)
        for (OpId o = 1; o < m->ops.n; o++) {
            Op *op = ir_op(m, o);
            if (!(op->flags & OPF_DEAD) && in_init[op->out]) op->flags |= OPF_INIT;
        }
    free(in_init);
    return true;
}
