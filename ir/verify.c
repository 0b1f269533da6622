/* SPDX-License-Identifier: MIT
 * verify.c - ir_verify(): the structural invariants every pass must preserve.
 * Run after every pass under --verify-each (the default in debug builds and tests).
 * A failure is a compiler bug, never a user error: the message is for an ICE.
 */
#include <stdarg.h>
#include <stdio.h>
#include "ir.h"

static bool fail(char *err, size_t errlen, const char *fmt, ...) NDLC_PRINTF(3, 4);
static bool fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return false;
}

static bool weight_ok(const Weight *w)
{
    size_t n = dtype_info[w->type.dtype].size;
    for (unsigned i = 0; i < w->type.rank; i++) {
        if (w->type.dims[i] < 0) return false;
        n *= (size_t)w->type.dims[i];
    }
    return n == w->nbytes && (w->data || n == 0);
}

bool ir_verify(const Module *m, char *err, size_t errlen)
{
    char t1[256], t2[256];
    for (ValueId id = 1; id < m->values.n; id++) {
        const Value *v = &m->values.v[id];
        if (v->type.rank > IR_MAX_RANK) return fail(err, errlen, "%%%u: rank %u", id, v->type.rank);
        if (v->kind == VAL_RESULT && (v->def == 0 || v->def >= m->ops.n || m->ops.v[v->def].out != id))
            return fail(err, errlen, "%%%u: result of no op", id);
        if (v->kind == VAL_PARAM || v->kind == VAL_CONST) {
            if (v->weight == 0 || v->weight >= m->weights.n)
                return fail(err, errlen, "%%%u: no weight", id);
            const Weight *w = &m->weights.v[v->weight];
            if (!ir_type_equal(&w->type, &v->type))
                return fail(err, errlen, "%%%u: type %s differs from its weight's %s", id,
                            ir_format_type(m, &v->type, t1, sizeof t1),
                            ir_format_type(m, &w->type, t2, sizeof t2));
            if (!weight_ok(w)) return fail(err, errlen, "%%%u: weight size mismatch", id);
        }
    }
    for (OpId o = 1; o < m->ops.n; o++) {
        const Op *op = &m->ops.v[o];
        if (op->flags & OPF_DEAD) continue;
        const OpInfo *info = &op_info[op->kind];
        if (op->kind >= OP_COUNT) return fail(err, errlen, "op %u: bad kind", o);
        if ((info->nin >= 0 && op->nin != info->nin) || (info->nin < 0 && op->nin == 0))
            return fail(err, errlen, "op %u '%s': %u operands", o, info->name, op->nin);
        if (op->nattr != info->nattr)
            return fail(err, errlen, "op %u '%s': %u attributes", o, info->name, op->nattr);
        for (unsigned i = 0; i < op->nattr; i++)
            if (m->attrs.v[op->attr + i].key != info->attrs[i])
                return fail(err, errlen, "op %u '%s': attribute %u out of schema", o, info->name, i);
        for (unsigned i = 0; i < op->nin; i++) {
            ValueId a = ir_operand(m, op, i);
            if (a >= m->values.n) return fail(err, errlen, "op %u: dangling operand", o);
            const Value *av = &m->values.v[a];
            /* operands must be defined before use (ops are in execution order) */
            if (a && av->kind == VAL_RESULT && (av->def >= o || (m->ops.v[av->def].flags & OPF_DEAD)))
                return fail(err, errlen, "op %u '%s': operand %%%u used before definition", o,
                            info->name, a);
        }
        if (op->group) { /* fused into an earlier linear/conv2d (passes/fuse.c) */
            const Op *g = op->group < o ? &m->ops.v[op->group] : NULL;
            if (!g || (g->flags & OPF_DEAD) || g->group ||
                (g->kind != OP_LINEAR && g->kind != OP_CONV2D))
                return fail(err, errlen, "op %u '%s': group %u is not an earlier live "
                            "linear/conv2d", o, info->name, (unsigned)op->group);
        }
        if (op->out == 0 || op->out >= m->values.n || m->values.v[op->out].def != o)
            return fail(err, errlen, "op %u '%s': bad result", o, info->name);
        TensorType want;
        char why[256] = "";
        if (!ir_infer_shape((Module *)m, op, &want, why, sizeof why))
            return fail(err, errlen, "op %u '%s': %s", o, info->name, why);
        if (!ir_type_equal(&want, ir_type(m, op->out)))
            return fail(err, errlen, "op %u '%s': result type %s, shape rule says %s", o, info->name,
                        ir_format_type(m, ir_type(m, op->out), t1, sizeof t1),
                        ir_format_type(m, &want, t2, sizeof t2));
    }
    for (uint32_t i = 0; i < m->outputs.n; i++) {
        ValueId v = m->outputs.v[i].value;
        if (v == 0 || v >= m->values.n) return fail(err, errlen, "output '%s' has no value", m->outputs.v[i].name);
        if (m->values.v[v].kind == VAL_RESULT && (m->ops.v[m->values.v[v].def].flags & OPF_DEAD))
            return fail(err, errlen, "output '%s' is computed by a dead op", m->outputs.v[i].name);
    }
    return true;
}
