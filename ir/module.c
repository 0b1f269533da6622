/* SPDX-License-Identifier: MIT
 * module.c - creating and freeing modules, adding values, weights and ops.
 *
 * Invariant: ops are appended only after all their operands exist, so the op vector is
 * always in a valid execution order. Slot 0 of every table is reserved as "none".
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ir.h"

Module *ir_module_new(const char *name)
{
    Module *m = xcalloc(1, sizeof *m);
    m->arena = arena_new();
    m->name = arena_strdup(m->arena, name ? name : "model");
    vec_push(m->values, (Value){0});
    vec_push(m->ops, (Op){0});
    vec_push(m->operands, 0);
    vec_push(m->attrs, (Attr){0});
    vec_push(m->ints, 0);
    vec_push(m->weights, (Weight){0});
    vec_push(m->syms, (Symbol){.name = "?"});
    return m;
}

void ir_module_free(Module *m)
{
    if (!m) return;
    for (uint32_t i = m->cleanups.n; i-- > 0;) m->cleanups.v[i].fn(m->cleanups.v[i].arg);
    vec_free(m->cleanups);
    vec_free(m->values);
    vec_free(m->ops);
    vec_free(m->operands);
    vec_free(m->attrs);
    vec_free(m->ints);
    vec_free(m->weights);
    vec_free(m->syms);
    vec_free(m->dimexprs);
    vec_free(m->inputs);
    vec_free(m->outputs);
    vec_free(m->deps);
    vec_free(m->removals);
    vec_free(m->predicted);
    arena_free(m->arena);
    free(m);
}

void ir_module_on_free(Module *m, void (*fn)(void *), void *arg)
{
    vec_push(m->cleanups, ((IrCleanup){fn, arg}));
}

SymId ir_add_symbol(Module *m, const char *name, int64_t bound, Span span)
{
    vec_push(m->syms, ((Symbol){arena_strdup(m->arena, name), bound, span, false, 0}));
    return m->syms.n - 1;
}

SymId ir_add_dynamic_symbol(Module *m, const char *name, Dim max, Span span)
{
    vec_push(m->syms, ((Symbol){arena_strdup(m->arena, name), 0, span, true, max}));
    return m->syms.n - 1;
}

SymId ir_api_symbols(const Module *m)
{
    SymId n = 1;
    while (n < m->syms.n && !m->syms.v[n].dynamic) n++;
    return n;
}

static ValueId add_value(Module *m, Value v)
{
    vec_push(m->values, v);
    return m->values.n - 1;
}

ValueId ir_add_input(Module *m, const char *name, const TensorType *t, Span span)
{
    ValueId v = add_value(m, (Value){.kind = VAL_INPUT, .type = *t,
                                     .name = arena_strdup(m->arena, name), .span = span});
    vec_push(m->inputs, ((IrPort){m->values.v[v].name, v, span}));
    return v;
}

void ir_add_output(Module *m, const char *name, ValueId v, Span span)
{
    vec_push(m->outputs, ((IrPort){arena_strdup(m->arena, name), v, span}));
}

WeightId ir_add_weight(Module *m, const char *key, const TensorType *t, void *data,
                       size_t nbytes, Span span)
{
    Weight w = {.key = key ? arena_strdup(m->arena, key) : NULL, .type = *t, .data = data,
                .nbytes = nbytes, .span = span};
    vec_push(m->weights, w);
    return m->weights.n - 1;
}

ValueId ir_add_param(Module *m, WeightId w, const char *name, Span span)
{
    return add_value(m, (Value){.kind = VAL_PARAM, .type = m->weights.v[w].type, .weight = w,
                                .name = name ? arena_strdup(m->arena, name) : NULL,
                                .span = span});
}

ValueId ir_add_const(Module *m, const TensorType *t, const void *data, Span span)
{
    size_t n = dtype_info[t->dtype].size;
    for (unsigned i = 0; i < t->rank; i++) {
        if (t->dims[i] < 0) NDLC_ICE("constant with a symbolic dimension");
        n *= (size_t)t->dims[i];
    }
    void *copy = arena_alloc(m->arena, n ? n : 1);
    if (n) memcpy(copy, data, n);
    WeightId w = ir_add_weight(m, NULL, t, copy, n, span);
    return add_value(m, (Value){.kind = VAL_CONST, .type = *t, .weight = w, .span = span});
}

ValueId ir_add_scalar_f32(Module *m, float x, Span span)
{
    TensorType t = {.dtype = DT_F32, .rank = 0};
    return ir_add_const(m, &t, &x, span);
}

static bool name_taken(const Module *m, const char *name)
{
    for (ValueId v = 1; v < m->values.n; v++)
        if (m->values.v[v].name && strcmp(m->values.v[v].name, name) == 0) return true;
    return false;
}

const char *ir_unique_name(Module *m, const char *name)
{
    const char *unique = name;
    for (unsigned k = 2; name_taken(m, unique); k++) unique = arena_printf(m->arena, "%s_%u", name, k);
    return unique;
}

Attr ir_attr_int(AttrKey key, int64_t v) { return (Attr){.key = key, .u.i = v}; }
Attr ir_attr_float(AttrKey key, double v) { return (Attr){.key = key, .u.f = v}; }

Attr ir_attr_ints(Module *m, AttrKey key, const int64_t *v, uint32_t n)
{
    Attr a = {.key = key, .n = n, .u.ints = m->ints.n};
    vec_reserve(m->ints, m->ints.n + n);
    for (uint32_t i = 0; i < n; i++) m->ints.v[m->ints.n++] = v[i];
    return a;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

ValueId ir_add_op(Module *m, OpKind kind, const ValueId *in, unsigned nin, const Attr *attrs,
                  unsigned nattr, const char *name, Span span, char *err, size_t errlen)
{
    const OpInfo *info = &op_info[kind];
    if ((info->nin >= 0 && nin != (unsigned)info->nin) || (info->nin < 0 && nin == 0))
        NDLC_ICE("'%s' built with %u operands", info->name, nin);
    if (nattr != info->nattr) NDLC_ICE("'%s' built with %u attributes", info->name, nattr);
    for (unsigned i = 0; i < nin; i++)
        if (in[i] >= m->values.n) NDLC_ICE("'%s' operand %u is not a value", info->name, i);

    Op op = {.kind = kind, .nin = (uint16_t)nin, .nattr = (uint16_t)nattr,
             .in = m->operands.n, .attr = m->attrs.n, .span = span,
             .name = name ? arena_strdup(m->arena, name) : NULL};
    for (unsigned i = 0; i < nin; i++) vec_push(m->operands, in[i]);
    /* store attributes in schema order */
    for (unsigned s = 0; s < info->nattr; s++) {
        unsigned j = 0;
        while (j < nattr && attrs[j].key != info->attrs[s]) j++;
        if (j == nattr) NDLC_ICE("'%s' built without attribute '%s'", info->name,
                                 attr_info[info->attrs[s]].name);
        vec_push(m->attrs, attrs[j]);
    }

    TensorType out;
    if (!ir_infer_shape(m, &op, &out, err, errlen)) {
        m->operands.n = op.in; /* drop what this op added */
        m->attrs.n = op.attr;
        if (!err[0]) set_err(err, errlen, "invalid operands for '%s'", info->name);
        return 0;
    }
    OpId id = m->ops.n;
    op.out = add_value(m, (Value){.kind = VAL_RESULT, .type = out, .def = id, .span = span});
    vec_push(m->ops, op);
    return op.out;
}

const Attr *ir_op_attr(const Module *m, const Op *op, AttrKey key)
{
    for (unsigned i = 0; i < op->nattr; i++)
        if (m->attrs.v[op->attr + i].key == key) return &m->attrs.v[op->attr + i];
    return NULL;
}

static const Attr *must_attr(const Module *m, const Op *op, AttrKey key)
{
    const Attr *a = ir_op_attr(m, op, key);
    if (!a) NDLC_ICE("'%s' has no attribute '%s'", op_info[op->kind].name, attr_info[key].name);
    return a;
}

int64_t ir_op_int(const Module *m, const Op *op, AttrKey key) { return must_attr(m, op, key)->u.i; }
double ir_op_float(const Module *m, const Op *op, AttrKey key) { return must_attr(m, op, key)->u.f; }

const int64_t *ir_op_ints(const Module *m, const Op *op, AttrKey key, uint32_t *n)
{
    const Attr *a = must_attr(m, op, key);
    if (n) *n = a->n;
    return &m->ints.v[a->u.ints];
}

uint32_t *ir_count_uses(const Module *m)
{
    uint32_t *uses = xcalloc(m->values.n, sizeof *uses);
    for (OpId o = 1; o < m->ops.n; o++) {
        const Op *op = &m->ops.v[o];
        if (op->flags & OPF_DEAD) continue;
        for (unsigned i = 0; i < op->nin; i++) uses[ir_operand(m, op, i)]++;
    }
    for (uint32_t i = 0; i < m->outputs.n; i++) uses[m->outputs.v[i].value]++;
    uses[0] = 0;
    return uses;
}
