/* SPDX-License-Identifier: MIT
 * plan.c - where every value lives at run time, for both emitters.
 *
 * Inputs and weights stay where they are; a reshape is a view of its operand; a fused
 * group (Op.group) runs as one kernel at the position of its last member, and only that
 * member's result is stored; a value assigned to a model output is computed straight
 * into the caller's buffer when it can be. Everything else gets a workspace slot by a
 * linear scan over the execution order: a value's slot is released after its last use
 * (by any view of it) and reused by a later value, so the workspace is the peak of live
 * intermediates, not their sum (ggml's gallocr idea). Slot sizes are symbolic: the
 * generated code takes, per slot, the largest of its values at the actual sizes.
 */
#include <stdlib.h>
#include <string.h>
#include "backend.h"

ValueId plan_root(const Plan *p, ValueId v)
{
    while (p->v[v].kind == ST_ALIAS) v = p->v[v].index;
    return v;
}

/* Op index at which op o runs: a group head runs where its last member is. */
static OpId *exec_positions(const Module *m)
{
    OpId *pos = xcalloc(m->ops.n, sizeof *pos);
    for (OpId o = 1; o < m->ops.n; o++) pos[o] = o;
    for (OpId o = 1; o < m->ops.n; o++) {
        const Op *op = &m->ops.v[o];
        if (!(op->flags & OPF_DEAD) && op->group && o > pos[op->group]) pos[op->group] = o;
    }
    for (OpId o = 1; o < m->ops.n; o++)
        if (m->ops.v[o].group) pos[o] = pos[m->ops.v[o].group];
    return pos;
}

/* Reference size of a value in bytes, symbols at their bound (or 64), for best fit. */
static double ref_bytes(const Module *m, ValueId v)
{
    const TensorType *t = ir_type(m, v);
    int64_t sym[64];
    for (SymId s = 0; s < m->syms.n && s < 64; s++) sym[s] = m->syms.v[s].bound > 0 ? m->syms.v[s].bound : 64;
    double n = dtype_info[t->dtype].size;
    for (unsigned i = 0; i < t->rank; i++) n *= (double)ir_dim_eval(m, t->dims[i], sym);
    return n;
}

/* Values that depend on no input, which create computes once instead of every run: an
 * init op of --hyper init (a parameter expression, spec 8.5; views of them stay views),
 * and a `hashed` expansion of a stored pool to a concrete shape (--share materialize,
 * spec 8.3). */
static bool expands_once(const Module *m, const Plan *p, const Op *op)
{
    if (op->group) return false;
    if (op->flags & OPF_INIT) return !(op_info[op->kind].flags & OPF_VIEW);
    if (op->kind != OP_HASHED) return false;
    ValueId pool = ir_operand(m, op, 0);
    if (p->v[plan_root(p, pool)].kind != ST_WEIGHT) return false;
    const TensorType *t = ir_type(m, op->out);
    for (unsigned i = 0; i < t->rank; i++)
        if (t->dims[i] < 0) return false;
    return true;
}

static void build(const Module *m, Plan *p, bool init_values);

void plan_build(const Module *m, Plan *p) { build(m, p, false); }

void plan_build_with_init(const Module *m, Plan *p) { build(m, p, true); }

static void build(const Module *m, Plan *p, bool init_values)
{
    uint32_t nv = m->values.n, no = m->ops.n;
    p->v = xcalloc(nv, sizeof *p->v);
    p->output_copy = xcalloc(m->outputs.n + 1, sizeof *p->output_copy);
    p->nslots = 0;
    p->ninit = 0;
    for (uint32_t i = 0; i < m->inputs.n; i++)
        p->v[m->inputs.v[i].value] = (ValuePlan){ST_INPUT, i};
    for (ValueId v = 1; v < nv; v++)
        if (m->values.v[v].kind == VAL_PARAM || m->values.v[v].kind == VAL_CONST)
            p->v[v] = (ValuePlan){ST_WEIGHT, m->values.v[v].weight};

    OpId *pos = exec_positions(m);
    /* the stored result of a group is its last member's; the others are fused away */
    for (OpId o = 1; o < no; o++) {
        const Op *op = &m->ops.v[o];
        if (op->flags & OPF_DEAD) continue;
        OpId head = op->group ? op->group : o;
        bool last = pos[head] == o;
        bool has_members = !op->group && pos[o] != o;
        if ((op->group && !last) || has_members) p->v[op->out] = (ValuePlan){ST_FUSED, 0};
        else if (init_values && expands_once(m, p, op)) p->v[op->out] = (ValuePlan){ST_INIT, p->ninit++};
        else if (op_info[op->kind].flags & OPF_VIEW)
            p->v[op->out] = (ValuePlan){ST_ALIAS, plan_root(p, ir_operand(m, op, 0))};
    }
    /* outputs computed in place when their value is an unclaimed op result */
    for (uint32_t i = 0; i < m->outputs.n; i++) {
        ValueId v = m->outputs.v[i].value;
        if (m->values.v[v].kind == VAL_RESULT && p->v[v].kind == ST_NONE) p->v[v] = (ValuePlan){ST_OUTPUT, i};
        else p->output_copy[i] = true;
    }

    /* last use of each root value, in execution positions */
    OpId *last_use = xcalloc(nv, sizeof *last_use);
    for (OpId o = 1; o < no; o++) {
        const Op *op = &m->ops.v[o];
        if (op->flags & OPF_DEAD) continue;
        for (unsigned i = 0; i < op->nin; i++) {
            ValueId a = ir_operand(m, op, i);
            if (!a) continue;
            ValueId r = plan_root(p, a);
            if (pos[o] > last_use[r]) last_use[r] = pos[o];
        }
    }
    for (uint32_t i = 0; i < m->outputs.n; i++) last_use[plan_root(p, m->outputs.v[i].value)] = no;

    /* linear scan: values defined in execution order */
    uint32_t cap = 16, *slot_owner_end = xmalloc(cap * sizeof *slot_owner_end);
    double *slot_ref = xmalloc(cap * sizeof *slot_ref);
    for (OpId o = 1; o < no; o++) {
        const Op *op = &m->ops.v[o];
        if (op->flags & OPF_DEAD || p->v[op->out].kind != ST_NONE) continue;
        ValueId v = op->out;
        OpId at = pos[o];
        double need = ref_bytes(m, v);
        /* free slots: their current value's last use is before this op runs */
        int best = -1;
        for (uint32_t k = 0; k < p->nslots; k++) {
            if (slot_owner_end[k] >= at) continue;
            if (best < 0) { best = (int)k; continue; }
            bool fits_k = slot_ref[k] >= need, fits_b = slot_ref[best] >= need;
            if (fits_k != fits_b ? fits_k : (fits_k ? slot_ref[k] < slot_ref[best] : slot_ref[k] > slot_ref[best]))
                best = (int)k;
        }
        if (best < 0) {
            if (p->nslots == cap) {
                cap *= 2;
                slot_owner_end = xrealloc(slot_owner_end, cap * sizeof *slot_owner_end);
                slot_ref = xrealloc(slot_ref, cap * sizeof *slot_ref);
            }
            best = (int)p->nslots++;
            slot_ref[best] = 0;
        }
        p->v[v] = (ValuePlan){ST_WS, (uint32_t)best};
        slot_owner_end[best] = last_use[v] > at ? last_use[v] : at;
        if (need > slot_ref[best]) slot_ref[best] = need;
    }
    free(slot_owner_end);
    free(slot_ref);
    free(last_use);
    free(pos);
}

void plan_free(Plan *p)
{
    free(p->v);
    free(p->output_copy);
    p->v = NULL;
    p->output_copy = NULL;
}

size_t plan_value_bytes(const Module *m, ValueId v, const int64_t *symvals)
{
    const TensorType *t = ir_type(m, v);
    size_t n = dtype_info[t->dtype].size;
    for (unsigned i = 0; i < t->rank; i++) n *= (size_t)ir_dim_eval(m, t->dims[i], symvals);
    return n;
}

void plan_arena(const Module *m, const Plan *p, const int64_t *symvals, size_t *arena, size_t *unplanned)
{
    size_t *slot = xcalloc(p->nslots + 1, sizeof *slot);
    *unplanned = 0;
    for (ValueId v = 1; v < m->values.n; v++) {
        if (p->v[v].kind != ST_WS) continue;
        size_t b = plan_value_bytes(m, v, symvals);
        *unplanned += (b + 63) & ~(size_t)63;
        if (b > slot[p->v[v].index]) slot[p->v[v].index] = b;
    }
    *arena = 0;
    for (uint32_t k = 0; k < p->nslots; k++) *arena += (slot[k] + 63) & ~(size_t)63;
    free(slot);
}

OpId plan_compressed_weight(const Module *m, const Plan *p, bool share_compressed, const Op *op)
{
    if (!share_compressed || op->kind != OP_LINEAR) return 0;
    const Value *w = ir_value(m, ir_operand(m, op, 1));
    if (w->kind != VAL_RESULT) return 0;
    const Op *h = ir_op(m, w->def);
    if (h->kind != OP_HASHED || (h->flags & OPF_DEAD) || h->group || w->type.dtype != DT_F32) return 0;
    ValueId pool = ir_operand(m, h, 0);
    return p->v[plan_root(p, pool)].kind == ST_WEIGHT && ir_type(m, pool)->dtype == DT_F32 ? w->def : 0;
}

bool *plan_compressed_only(const Module *m, const Plan *p, bool share_compressed)
{
    bool *only = xcalloc(m->ops.n, sizeof *only), *other = xcalloc(m->ops.n, sizeof *other);
    for (OpId o = 1; o < m->ops.n; o++) {
        const Op *op = &m->ops.v[o];
        if (op->flags & OPF_DEAD) continue;
        OpId h = plan_compressed_weight(m, p, share_compressed, op);
        if (h) only[h] = true;
        for (unsigned i = 0; i < op->nin; i++) {
            ValueId v = ir_operand(m, op, i);
            if (v && m->values.v[v].kind == VAL_RESULT && !(h && i == 1)) other[m->values.v[v].def] = true;
        }
    }
    for (uint32_t i = 0; i < m->outputs.n; i++)
        if (m->values.v[m->outputs.v[i].value].kind == VAL_RESULT) other[m->values.v[m->outputs.v[i].value].def] = true;
    for (OpId o = 1; o < m->ops.n; o++) only[o] &= !other[o];
    free(other);
    return only;
}
