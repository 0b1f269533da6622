/* SPDX-License-Identifier: MIT
 * fuse.c - epilogue grouping. The linear and conv2d kernels apply an epilogue to each
 * result element as it is produced, y = act2(act(acc + bias) + residual) (runtime/ndlrt.h
 * NdlrtEpilogue; the bias is already the op's third operand). For each head op of kind
 * linear or conv2d this pass absorbs, in this order and each optional:
 *   1. one unary elementwise op (OPF_EW1) reading the head's result     -> act
 *   2. one `add` of that value and a tensor of exactly the same type    -> residual
 *      (either operand order), the residual defined before the head
 *   3. one more unary elementwise op reading the value so far           -> act2
 * each only when the value it reads has exactly one use and is not a model output.
 * Absorbed ops get Op.group = the head's id; nothing else changes (the interpreter
 * ignores groups, emitters generate a group as one kernel call). Because the residual is
 * defined before the head and every intermediate value has its single use inside the
 * group, a group can be computed at the head's position. check_groups() states the
 * invariant and is run on the result (an ICE if it does not hold).
 */
#include <stdlib.h>
#include "passes.h"

typedef struct Fuse {
    Module *m;
    uint32_t *uses; /* per value: operand uses + output uses */
    OpId *user;     /* per value: the last op reading it (the only one when uses == 1) */
} Fuse;

static bool is_head(const Op *op) { return op->kind == OP_LINEAR || op->kind == OP_CONV2D; }

/* The op that is v's only use, if v is not a model output and that op is standalone. */
static Op *sole_user(const Fuse *f, ValueId v)
{
    /* uses counts outputs too: an output read by one op has 2; one read by none has
     * no user */
    if (f->uses[v] != 1 || !f->user[v]) return NULL;
    Op *u = ir_op(f->m, f->user[v]);
    return (u->flags & OPF_DEAD) || u->group ? NULL : u;
}

static bool is_ew1(const Op *op) { return (op_info[op->kind].flags & OPF_EW1) != 0; }

/* The operand of add `op` that is not v, when it can be head's residual; else 0. */
static ValueId residual_of(const Module *m, const Op *op, ValueId v, OpId head)
{
    ValueId a = ir_operand(m, op, 0), b = ir_operand(m, op, 1);
    ValueId r = a == v ? b : a;
    if (r == v || (a != v && b != v)) return 0;
    const TensorType *t = ir_type(m, v);
    if (!ir_type_equal(ir_type(m, r), t) || !ir_type_equal(ir_type(m, op->out), t)) return 0;
    const Value *rv = ir_value(m, r);
    return rv->kind != VAL_RESULT || rv->def < head ? r : 0;
}

static void fuse_head(Fuse *f, OpId h)
{
    Module *m = f->m;
    ValueId cur = ir_op(m, h)->out;
    Op *u = sole_user(f, cur);
    if (u && is_ew1(u)) {
        u->group = h;
        cur = u->out;
        u = sole_user(f, cur);
    }
    if (u && u->kind == OP_ADD && residual_of(m, u, cur, h)) {
        u->group = h;
        cur = u->out;
        u = sole_user(f, cur);
    }
    if (u && is_ew1(u)) u->group = h;
}

static void ice(const Module *m, OpId o, const char *what)
{
    NDLC_ICE("fuse: op %u '%s' is in a malformed group: %s", (unsigned)o,
             op_info[ir_op(m, o)->kind].name, what);
}

/* The group invariant, checked from scratch: each grouped op belongs to a live,
 * standalone linear/conv2d before it; a head's members, in op order, form the chain
 * act? add? act2?, each reading the previous value (the head's result first), which has
 * no other use and is no output; an add's other operand has the same type and is
 * defined before the head. */
static void check_groups(const Fuse *f)
{
    const Module *m = f->m;
    for (OpId h = 1; h < m->ops.n; h++) {
        const Op *head = ir_op(m, h);
        if (head->flags & OPF_DEAD) continue;
        if (head->group) {
            const Op *g = head->group < h ? ir_op(m, head->group) : NULL;
            if (!g || !is_head(g) || g->group || (g->flags & OPF_DEAD))
                ice(m, h, "its group is not an earlier live linear/conv2d");
            if (!is_ew1(head) && head->kind != OP_ADD) ice(m, h, "not an epilogue op");
            continue;
        }
        if (!is_head(head)) continue;
        ValueId cur = head->out;
        int stage = 0; /* 0: nothing yet, 1: after act, 2: after add, 3: after act2 */
        for (OpId o = h + 1; o < m->ops.n; o++) {
            const Op *op = ir_op(m, o);
            if ((op->flags & OPF_DEAD) || op->group != h) continue;
            bool reads = false;
            for (unsigned i = 0; i < op->nin; i++) reads = reads || ir_operand(m, op, i) == cur;
            if (!reads || f->uses[cur] != 1 || f->user[cur] != o)
                ice(m, o, "it does not consume the group's value as its only use");
            if (is_ew1(op) && stage == 0)
                stage = 1;
            else if (op->kind == OP_ADD && stage <= 1 && residual_of(m, op, cur, h))
                stage = 2;
            else if (is_ew1(op) && stage <= 2)
                stage = 3;
            else
                ice(m, o, "the group is not act? add? act2?");
            cur = op->out;
        }
    }
}

bool pass_fuse(PassContext *cx)
{
    Module *m = cx->m;
    Fuse f = {.m = m, .uses = ir_count_uses(m), .user = xcalloc(m->values.n, sizeof(OpId))};
    for (OpId o = 1; o < m->ops.n; o++) {
        Op *op = ir_op(m, o);
        op->group = 0; /* recomputed from scratch: the pass can run twice */
        if (op->flags & OPF_DEAD) continue;
        for (unsigned i = 0; i < op->nin; i++)
            if (ir_operand(m, op, i)) f.user[ir_operand(m, op, i)] = o;
    }
    for (OpId o = 1; o < m->ops.n; o++) {
        const Op *op = ir_op(m, o);
        /* init ops (--hyper init) run once in create, each by itself */
        if (!(op->flags & (OPF_DEAD | OPF_INIT)) && !op->group && is_head(op)) fuse_head(&f, o);
    }
    check_groups(&f);
    free(f.uses);
    free(f.user);
    return true;
}
