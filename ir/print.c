/* SPDX-License-Identifier: MIT
 * print.c - the textual IR (--emit ir, --dump-after) and the Graphviz picture
 * (--emit dot). Output is deterministic: ids in order, no addresses, no timestamps.
 *
 *   model TinyNet
 *     symbol N
 *     %1 = input x: f32[N,3,32,32]
 *     %2 = param stem.weight: f32[16,3,3,3]
 *     %5 = const: f32[] 0.5
 *     %7 = conv2d(%1, %2, %3) stride=[1,1] pad=[1,1] dilation=[1,1] groups=1: f32[N,16,32,32]  # stem, tiny.ndl:25:9
 *     %8 = relu(%7) fused_into=%7: f32[N,16,32,32]   (computed in %7's kernel epilogue)
 *     output y = %12
 */
#include <stdio.h>
#include <string.h>
#include "ir.h"

static void print_attr(const Module *m, const Attr *a, FILE *out)
{
    char d[64];
    fprintf(out, " %s=", attr_info[a->key].name);
    switch (attr_info[a->key].kind) {
    case AK_INT: fprintf(out, "%lld", (long long)a->u.i); break;
    case AK_FLOAT: fprintf(out, "%.9g", a->u.f); break;
    case AK_INTS:
        fputc('[', out);
        for (uint32_t i = 0; i < a->n; i++) {
            int64_t v = m->ints.v[a->u.ints + i];
            /* dims in SHAPE use the Dim encoding; print symbols by name */
            if (a->key == ATTR_SHAPE) fprintf(out, "%s%s", i ? "," : "", ir_format_dim(m, v, d, sizeof d));
            else fprintf(out, "%s%lld", i ? "," : "", (long long)v);
        }
        fputc(']', out);
        break;
    }
}

static void print_const(const Module *m, const Value *v, FILE *out)
{
    const Weight *w = &m->weights.v[v->weight];
    if (v->type.rank != 0) {
        fprintf(out, " <%zu bytes>", w->nbytes);
        return;
    }
    switch (v->type.dtype) {
    case DT_F32: fprintf(out, " %.9g", (double)*(const float *)w->data); break;
    case DT_I32: fprintf(out, " %d", (int)*(const int32_t *)w->data); break;
    case DT_I64: fprintf(out, " %lld", (long long)*(const int64_t *)w->data); break;
    default: fprintf(out, " %u", (unsigned)*(const uint8_t *)w->data); break;
    }
}

void ir_print(const Module *m, FILE *out, IrSpanFormatter *fmt, void *ud)
{
    char t[256], loc[256];
    fprintf(out, "model %s\n", m->name);
    for (SymId s = 1; s < m->syms.n; s++) {
        fprintf(out, "  symbol %s", m->syms.v[s].name);
        if (m->syms.v[s].bound) fprintf(out, " <= %lld", (long long)m->syms.v[s].bound);
        if (m->syms.v[s].dynamic) {
            char b[64];
            fprintf(out, " (rows at run time, at most %s)", ir_format_dim(m, m->syms.v[s].max, b, sizeof b));
        }
        fputc('\n', out);
    }
    /* values that are not op results, then ops in order */
    for (ValueId id = 1; id < m->values.n; id++) {
        const Value *v = &m->values.v[id];
        if (v->kind == VAL_RESULT) continue;
        const char *what = v->kind == VAL_INPUT ? "input" : v->kind == VAL_PARAM ? "param" : "const";
        fprintf(out, "  %%%u = %s%s%s: %s", id, what, v->name ? " " : "", v->name ? v->name : "",
                ir_format_type(m, &v->type, t, sizeof t));
        if (v->kind == VAL_CONST) print_const(m, v, out);
        if (v->kind == VAL_PARAM && m->weights.v[v->weight].key &&
            (!v->name || strcmp(m->weights.v[v->weight].key, v->name) != 0))
            fprintf(out, " from \"%s\"", m->weights.v[v->weight].key);
        fputc('\n', out);
    }
    for (OpId o = 1; o < m->ops.n; o++) {
        const Op *op = &m->ops.v[o];
        if (op->flags & OPF_DEAD) continue;
        fprintf(out, "  %%%u = %s(", op->out, op_info[op->kind].name);
        for (unsigned i = 0; i < op->nin; i++) {
            ValueId a = ir_operand(m, op, i);
            if (a) fprintf(out, "%s%%%u", i ? ", " : "", a);
            else fprintf(out, "%s_", i ? ", " : "");
        }
        fputc(')', out);
        for (unsigned i = 0; i < op->nattr; i++) print_attr(m, &m->attrs.v[op->attr + i], out);
        if (op->group && op->group < m->ops.n) /* the group is named by its head's result */
            fprintf(out, " fused_into=%%%u", m->ops.v[op->group].out);
        fprintf(out, ": %s", ir_format_type(m, ir_type(m, op->out), t, sizeof t));
        const char *l = fmt && op->span.file ? fmt(ud, op->span, loc, sizeof loc) : NULL;
        if (op->name || l)
            fprintf(out, "  # %s%s%s", op->name ? op->name : "", op->name && l ? ", " : "", l ? l : "");
        fputc('\n', out);
    }
    for (uint32_t i = 0; i < m->outputs.n; i++)
        fprintf(out, "  output %s = %%%u\n", m->outputs.v[i].name, m->outputs.v[i].value);
}

void ir_print_dot(const Module *m, FILE *out)
{
    char t[256];
    fprintf(out, "digraph \"%s\" {\n  rankdir=TB;\n  node [fontname=\"monospace\"];\n", m->name);
    for (ValueId id = 1; id < m->values.n; id++) {
        const Value *v = &m->values.v[id];
        if (v->kind == VAL_INPUT)
            fprintf(out, "  v%u [shape=oval,label=\"%s\\n%s\"];\n", id, v->name,
                    ir_format_type(m, &v->type, t, sizeof t));
        else if (v->kind != VAL_RESULT)
            fprintf(out, "  v%u [shape=note,label=\"%s\\n%s\"];\n", id, v->name ? v->name : "const",
                    ir_format_type(m, &v->type, t, sizeof t));
    }
    for (OpId o = 1; o < m->ops.n; o++) {
        const Op *op = &m->ops.v[o];
        if (op->flags & OPF_DEAD) continue;
        fprintf(out, "  v%u [shape=box,label=\"%s%s%s\\n%s\"];\n", op->out, op_info[op->kind].name,
                op->name ? " " : "", op->name ? op->name : "",
                ir_format_type(m, ir_type(m, op->out), t, sizeof t));
        for (unsigned i = 0; i < op->nin; i++)
            if (ir_operand(m, op, i)) fprintf(out, "  v%u -> v%u;\n", ir_operand(m, op, i), op->out);
    }
    for (uint32_t i = 0; i < m->outputs.n; i++) {
        fprintf(out, "  out%u [shape=oval,label=\"%s\"];\n", i, m->outputs.v[i].name);
        fprintf(out, "  v%u -> out%u;\n", m->outputs.v[i].value, i);
    }
    fprintf(out, "}\n");
}
