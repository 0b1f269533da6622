/* SPDX-License-Identifier: MIT
 * emit_ops.c - one layer function per op (or fused group) of the C backend.
 *
 * Each function is `static int NAME(const int64_t *s, operands..., result, float *scratch)`
 * and returns 0 or an NdlrtStatus. Heavy ops call the runtime kernels (ndlrt.h) with
 * every known size written as a constant; elementwise ops, casts and concatenations
 * are emitted as loops, with scalar expressions taken from ir/eltwise.def so that they
 * cannot drift from the interpreter. Constant weights of linear/conv2d are packed here,
 * at compile time, by the same runtime code the kernels read them with.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "emit_impl.h"
#include "../../runtime/ndlrt.h"

#define P(...) fprintf(e->c, __VA_ARGS__)
/* a float attribute as a C literal, in a buffer that lives to the end of the statement */
#define F(x) emitc_float((float)(x), (char[EMITC_FLOAT_LEN]){0})

static const char *const ew1_expr[] = {
#define EW1(K, name, expr) [OP_##K] = #expr,
#include "../../ir/eltwise.def"
#undef EW1
};

static int act_of(OpKind k)
{
    switch (k) {
#define EW1(K, name, expr) case OP_##K: return NDLRT_ACT_##K;
#include "../../ir/eltwise.def"
#undef EW1
    default: return 0;
    }
}

/* ---- groups ------------------------------------------------------------------------------ */

/* Members of head o's group in order (ops with group == o). */
static unsigned group_members(const EmitC *e, OpId o, OpId *out, unsigned max)
{
    unsigned n = 0;
    for (OpId k = o + 1; k < e->m->ops.n && n < max; k++)
        if (e->m->ops.v[k].group == o && !(e->m->ops.v[k].flags & OPF_DEAD)) out[n++] = k;
    return n;
}

EmitcEpilogue emitc_group_epilogue(const EmitC *e, OpId o)
{
    EmitcEpilogue ep = {0};
    OpId mem[8];
    unsigned n = group_members(e, o, mem, 8);
    ValueId cur = e->m->ops.v[o].out;
    bool after_add = false;
    for (unsigned i = 0; i < n; i++) {
        const Op *op = &e->m->ops.v[mem[i]];
        if (op_info[op->kind].flags & OPF_EW1) {
            /* act? add? act2? (passes/fuse.c): a second unary op is act2 even without
             * an add between the two */
            if (after_add || ep.act) ep.act2 = act_of(op->kind);
            else ep.act = act_of(op->kind);
        } else if (op->kind == OP_ADD) {
            ValueId a = ir_operand(e->m, op, 0), b = ir_operand(e->m, op, 1);
            ep.residual = a == cur ? b : a;
            after_add = true;
        } else {
            NDLC_ICE("op %u fused into %u is not an epilogue", mem[i], o);
        }
        cur = op->out;
    }
    return ep;
}

OpId emitc_compressed_weight(const EmitC *e, const Op *op)
{
    return plan_compressed_weight(e->m, &e->plan, e->o->share_compressed, op);
}

unsigned emitc_group_operands(const EmitC *e, OpId o, ValueId *vals, unsigned max, ValueId *result)
{
    const Op *op = &e->m->ops.v[o];
    unsigned n = 0;
    for (unsigned i = 0; i < op->nin && n < max; i++) vals[n++] = ir_operand(e->m, op, i);
    OpId hashed = emitc_compressed_weight(e, op);
    if (hashed) vals[1] = ir_operand(e->m, ir_op(e->m, hashed), 0); /* the pool, read in the kernel */
    OpId mem[8];
    unsigned nm = group_members(e, o, mem, 8);
    EmitcEpilogue ep = emitc_group_epilogue(e, o);
    if (ep.residual && n < max) vals[n++] = ep.residual;
    *result = nm ? e->m->ops.v[mem[nm - 1]].out : op->out;
    return n;
}

/* ---- packing ---------------------------------------------------------------------------------- */

static int64_t cdim(const EmitC *e, Dim d)
{
    (void)e;
    return d >= 0 ? d : -1;
}

/* Conv params whose sizes are all known except the batch n (0 here). */
static NdlrtConv2d conv_params(const EmitC *e, const Op *op)
{
    const Module *m = e->m;
    const TensorType *x = ir_type(m, ir_operand(m, op, 0)), *w = ir_type(m, ir_operand(m, op, 1));
    const TensorType *y = ir_type(m, op->out);
    unsigned b = x->rank == 4;
    const int64_t *st = ir_op_ints(m, op, ATTR_STRIDE, NULL), *pd = ir_op_ints(m, op, ATTR_PAD, NULL);
    const int64_t *dl = ir_op_ints(m, op, ATTR_DILATION, NULL);
    NdlrtConv2d p = {.n = 0, .c = cdim(e, x->dims[b]), .h = cdim(e, x->dims[b + 1]), .w = cdim(e, x->dims[b + 2]),
                     .o = w->dims[0], .kh = w->dims[2], .kw = w->dims[3], .oh = cdim(e, y->dims[b + 1]),
                     .ow = cdim(e, y->dims[b + 2]), .sh = st[0], .sw = st[1], .ph = pd[0], .pw = pd[1],
                     .dh = dl[0], .dw = dl[1], .groups = ir_op_int(m, op, ATTR_GROUPS)};
    return p;
}

void emitc_collect_packing(EmitC *e)
{
    const Module *m = e->m;
    for (OpId o = 1; o < m->ops.n; o++) {
        const Op *op = &m->ops.v[o];
        if ((op->flags & OPF_DEAD) || (op->kind != OP_LINEAR && op->kind != OP_CONV2D)) continue;
        ValueId wv = ir_operand(m, op, 1);
        if (e->plan.v[wv].kind != ST_WEIGHT) continue;
        /* a tensor other ops read as stored (a tied embedding and LM head) is stored once,
         * unpacked; this op packs it at run time (spec 8.3: tied tensors are one tensor) */
        if (e->raw_weight[m->values.v[wv].weight]) continue;
        const Weight *w = &m->weights.v[m->values.v[wv].weight];
        CWeight c = {.src = m->values.v[wv].weight, .packer = o, .dtype = DT_F32};
        SparseLayer sl;
        if (sparse_layer(m, op, e->o->sparse, &sl) && sl.format != NDLRT_SPARSE_DENSE) {
            c.pack = 3;
            c.count = sl.packed_floats;
            c.data = xmalloc(c.count * sizeof(float) + 1);
            ndlrt_sparse_pack(&sl.info, sl.format, w->data, c.data);
        } else if (op->kind == OP_LINEAR) {
            c.pack = 1;
            c.count = ndlrt_linear_packed_floats(w->type.dims[0], w->type.dims[1]);
            c.data = xmalloc(c.count * sizeof(float) + 1);
            ndlrt_linear_pack(w->type.dims[0], w->type.dims[1], w->data, c.data);
        } else {
            NdlrtConv2d p = conv_params(e, op);
            if (p.h < 0 || p.w < 0 || p.c < 0) continue; /* symbolic image sizes: packed at run time */
            c.pack = 2;
            c.count = ndlrt_conv2d_packed_floats(&p);
            c.data = xmalloc(c.count * sizeof(float) + 1);
            ndlrt_conv2d_pack(&p, w->data, c.data);
        }
        char *name = xmalloc(strlen(e->fn_name[o] ? e->fn_name[o] : "w") + 16);
        sprintf(name, "P_%s", e->fn_name[o] ? e->fn_name[o] : "w");
        /* drop the model prefix: P_TinyNet_fc_linear -> P_fc_linear */
        size_t pl = strlen(e->prefix);
        if (strncmp(name + 2, e->prefix, pl) == 0 && name[2 + pl] == '_') memmove(name + 2, name + 3 + pl, strlen(name + 3 + pl) + 1);
        c.name = name;
        vec_push(e->cw, c);
    }
}

/* ---- helpers for layer bodies ------------------------------------------------------------------ */

static const char *D(const EmitC *e, Dim d, char *buf) { return emitc_dim(e, d, buf, 64); }

/* Product of dims [from, to) of t as a C expression: "96", "s[0]", "16*s[0]*s[1]". */
static const char *prod(const EmitC *e, const TensorType *t, unsigned from, unsigned to, char *buf, size_t len)
{
    int64_t c = 1;
    bool sym = false;
    for (unsigned i = from; i < to; i++) {
        if (t->dims[i] >= 0) c *= t->dims[i];
        else sym = true;
    }
    size_t o = 0;
    buf[0] = 0;
    if (!sym || c != 1) o = (size_t)snprintf(buf, len, "%" PRId64, c);
    char d[64];
    for (unsigned i = from; i < to && o < len; i++)
        if (t->dims[i] < 0) o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? "*" : "", D(e, t->dims[i], d));
    return buf;
}

const char *emitc_prod(const EmitC *e, const TensorType *t, unsigned from, unsigned to, char *buf, size_t len)
{
    return prod(e, t, from, to, buf, len);
}

/* The function header of op o's layer; s_decl declares the symbol sizes parameter. */
void emitc_layer_comment(const EmitC *e, FILE *f, OpId o, const char *what)
{
    const Module *m = e->m;
    const Op *op = &m->ops.v[o];
    ValueId vals[16], res;
    emitc_group_operands(e, o, vals, 16, &res);
    char loc[256], t[256];
    emitc_location(e, op->span, loc, sizeof loc);
    fprintf(f, "/* %s%s%s: %s", op_info[op->kind].name, op->name ? " " : "", op->name ? op->name : "",
            ir_format_type(m, ir_type(m, res), t, sizeof t));
    if (what && what[0]) fprintf(f, " (%s)", what);
    if (loc[0]) fprintf(f, ", %s", loc);
    fprintf(f, " */\n");
}

static void signature_s(EmitC *e, OpId o, const char *what, const char *s_decl)
{
    const Module *m = e->m;
    const Op *op = &m->ops.v[o];
    ValueId vals[16], res;
    unsigned n = emitc_group_operands(e, o, vals, 16, &res);
    emitc_layer_comment(e, e->c, o, what);
    P("static int %s(%s", e->fn_name[o], s_decl);
    for (unsigned i = 0; i < n; i++) {
        DType dt = vals[i] ? ir_type(m, vals[i])->dtype : DT_F32;
        bool packed = i == 1 && (op->kind == OP_LINEAR || op->kind == OP_CONV2D);
        P(", const %s *a%u", packed ? "float" : emitc_ctype(dt), i);
    }
    P(", %s *y, float *scratch)\n{\n    (void)s;\n    (void)scratch;\n", emitc_ctype(ir_type(m, res)->dtype));
    for (unsigned i = 0; i < n; i++)
        if (!vals[i]) P("    (void)a%u; /* absent optional operand: NULL */\n", i);
}

static void signature(EmitC *e, OpId o, const char *what) { signature_s(e, o, what, "const int64_t *s"); }

static void end_fn(EmitC *e) { P("    return 0;\n}\n\n"); }

static void epilogue_init(EmitC *e, OpId o, bool has_bias)
{
    EmitcEpilogue ep = emitc_group_epilogue(e, o);
    ValueId vals[16], res;
    unsigned n = emitc_group_operands(e, o, vals, 16, &res);
    P("    const NdlrtEpilogue ep = {%s, %d, %s, %d};\n", has_bias ? "a2" : "NULL", ep.act,
      ep.residual ? (char[8]){'a', (char)('0' + n - 1), 0} : "NULL", ep.act2);
}

/* The sparse form (pack 3) of op's weight, or NULL. */
static const CWeight *sparse_weight(const EmitC *e, const Op *op)
{
    OpId o = (OpId)(op - e->m->ops.v);
    for (uint32_t i = 0; i < e->cw.n; i++)
        if (e->cw.v[i].pack == 3 && e->cw.v[i].packer == o) return &e->cw.v[i];
    return NULL;
}

/* A linear or 1x1 conv over a weight packed sparse at compile time (format in a comment). */
static void layer_sparse(EmitC *e, OpId o, const CWeight *c)
{
    const Module *m = e->m;
    const Op *op = &m->ops.v[o];
    const float *h = c->data;
    char what[128], rows[256], d[64];
    snprintf(what, sizeof what, "sparse %s weights packed at compile time, %zu floats",
             sparse_format_name((int)h[0]), c->count);
    signature(e, o, what);
    epilogue_init(e, o, ir_operand(m, op, 2) != 0);
    const TensorType *x = ir_type(m, ir_operand(m, op, 0)), *w = ir_type(m, ir_operand(m, op, 1));
    if (op->kind == OP_LINEAR) {
        prod(e, x, 0, x->rank - 1, rows, sizeof rows);
        P("    const NdlrtSparseLinear p = {%s, %" PRId64 ", %" PRId64 ", a1, ep};\n", rows, w->dims[0], w->dims[1]);
        P("    ndlrt_sparse_linear_f32(&p, a0, y, scratch);\n");
    } else {
        const TensorType *y = ir_type(m, op->out);
        unsigned b = x->rank == 4;
        char hw[256];
        prod(e, y, b + 1, b + 3, hw, sizeof hw);
        P("    const NdlrtSparseConv1x1 p = {%s, %" PRId64 ", %s, %" PRId64 ", a1, ep};\n", b ? D(e, x->dims[0], d) : "1",
          w->dims[1], hw, w->dims[0]);
        P("    ndlrt_sparse_conv1x1_f32(&p, a0, y);\n");
    }
    end_fn(e);
}

static bool weight_is_packed(const EmitC *e, const Op *op)
{
    ValueId wv = ir_operand(e->m, op, 1);
    if (emitc_init_pack_of(e, op)) return true; /* by create */
    if (e->plan.v[wv].kind != ST_WEIGHT) return false;
    OpId o = (OpId)(op - e->m->ops.v);
    for (uint32_t i = 0; i < e->cw.n; i++)
        if (e->cw.v[i].pack && e->cw.v[i].packer == o) return true;
    return false;
}

/* ---- the ops ------------------------------------------------------------------------------------- */

static void layer_unary(EmitC *e, OpId o)
{
    const Op *op = &e->m->ops.v[o];
    char n[256];
    signature(e, o, "");
    P("    for (int64_t i = 0, n = %s; i < n; i++) {\n", emitc_numel(e, op->out, n, sizeof n));
    P("        const float x = a0[i];\n        y[i] = %s;\n    }\n", ew1_expr[op->kind]);
    end_fn(e);
}

static const char *binop_expr(OpKind k, DType dt, char *buf, size_t len)
{
    char c = k == OP_ADD ? '+' : k == OP_SUB ? '-' : k == OP_MUL ? '*' : '/';
    if (dt == DT_F32) snprintf(buf, len, "A %c B", c);
    else if (dt == DT_I32) snprintf(buf, len, "(int32_t)((uint32_t)A %c (uint32_t)B)", c);
    else snprintf(buf, len, "(int64_t)((uint64_t)A %c (uint64_t)B)", c);
    return buf;
}

/* Broadcast strides of operand t against out (right-aligned), as C expressions. */
static void bstrides(EmitC *e, const TensorType *t, const TensorType *out, char s[][EMITC_EXPR_LEN])
{
    unsigned off = out->rank - t->rank;
    char acc[EMITC_EXPR_LEN] = "1", d[64];
    for (int i = (int)out->rank - 1; i >= 0; i--) {
        if (i < (int)off || t->dims[i - off] == 1) {
            snprintf(s[i], EMITC_EXPR_LEN, "0");
            continue;
        }
        memcpy(s[i], acc, sizeof acc);
        size_t n = strlen(acc);
        if (snprintf(acc + n, sizeof acc - n, "*%s", D(e, t->dims[i - off], d)) >= (int)(sizeof acc - n))
            emitc_expr_too_long(e->err, sizeof e->err);
    }
}

static void layer_binary(EmitC *e, OpId o)
{
    const Module *m = e->m;
    const Op *op = &m->ops.v[o];
    const TensorType *ta = ir_type(m, ir_operand(m, op, 0)), *tb = ir_type(m, ir_operand(m, op, 1));
    const TensorType *ty = ir_type(m, op->out);
    char n[256], ex[128], ia[16], ib[16];
    signature(e, o, "");
    binop_expr(op->kind, ty->dtype, ex, sizeof ex);
    bool same_a = ir_type_equal(ta, ty), same_b = ir_type_equal(tb, ty);
    bool scal_a = true, scal_b = true;
    for (unsigned i = 0; i < ta->rank; i++) scal_a &= ta->dims[i] == 1;
    for (unsigned i = 0; i < tb->rank; i++) scal_b &= tb->dims[i] == 1;
    if ((same_a || scal_a) && (same_b || scal_b)) {
        snprintf(ia, sizeof ia, same_a ? "a0[i]" : "a0[0]");
        snprintf(ib, sizeof ib, same_b ? "a1[i]" : "a1[0]");
        P("    for (int64_t i = 0, n = %s; i < n; i++) {\n", emitc_numel(e, op->out, n, sizeof n));
        P("#define A %s\n#define B %s\n        y[i] = %s;\n#undef A\n#undef B\n    }\n", ia, ib, ex);
        end_fn(e);
        return;
    }
    /* general broadcasting: one loop per output axis */
    char sa[IR_MAX_RANK][EMITC_EXPR_LEN], sb[IR_MAX_RANK][EMITC_EXPR_LEN], d[64];
    bstrides(e, ta, ty, sa);
    bstrides(e, tb, ty, sb);
    P("    int64_t k = 0;\n");
    for (unsigned i = 0; i < ty->rank; i++)
        P("%*sfor (int64_t i%u = 0; i%u < %s; i%u++)\n", 4 + 4 * i, "", i, i, D(e, ty->dims[i], d), i);
    P("%*s{\n", 4 + 4 * ty->rank, "");
    P("%*sconst int64_t ia = 0", 8 + 4 * ty->rank, "");
    for (unsigned i = 0; i < ty->rank; i++) if (strcmp(sa[i], "0")) P(" + i%u*%s", i, sa[i]);
    P(", ib = 0");
    for (unsigned i = 0; i < ty->rank; i++) if (strcmp(sb[i], "0")) P(" + i%u*%s", i, sb[i]);
    P(";\n#define A a0[ia]\n#define B a1[ib]\n%*sy[k++] = %s;\n#undef A\n#undef B\n", 8 + 4 * ty->rank, "", ex);
    P("%*s}\n", 4 + 4 * ty->rank, "");
    end_fn(e);
}

static void layer_cast(EmitC *e, OpId o)
{
    const Module *m = e->m;
    const Op *op = &m->ops.v[o];
    DType from = ir_type(m, ir_operand(m, op, 0))->dtype, to = ir_type(m, op->out)->dtype;
    char n[256];
    signature(e, o, "");
    P("    for (int64_t i = 0, n = %s; i < n; i++) {\n", emitc_numel(e, op->out, n, sizeof n));
    if (from == DT_F32 && (to == DT_I32 || to == DT_I64)) {
        /* truncation toward zero; NaN and out-of-range give the minimum, as on x86 (no UB) */
        const char *lim = to == DT_I32 ? "2147483648.0f" : "9223372036854775808.0f";
        const char *mn = to == DT_I32 ? "INT32_MIN" : "INT64_MIN";
        P("        const float x = a0[i];\n");
        P("        y[i] = (x != x || x >= %s || x < -%s) ? %s : (%s)x;\n", lim, lim, mn, emitc_ctype(to));
    } else if (to == DT_BOOL) {
        P("        y[i] = a0[i] != 0;\n");
    } else if (from == DT_I64 && to == DT_I32) {
        P("        y[i] = (int32_t)(uint32_t)(uint64_t)a0[i];\n");
    } else {
        P("        y[i] = (%s)a0[i];\n", emitc_ctype(to));
    }
    P("    }\n");
    end_fn(e);
}

static void axis_split(const EmitC *e, const TensorType *t, unsigned from, unsigned to, char *outer, char *len,
                       char *inner)
{
    prod(e, t, 0, from, outer, 256);
    prod(e, t, from, to, len, 256);
    prod(e, t, to, t->rank, inner, 256);
}

static void layer_softmax(EmitC *e, OpId o)
{
    const Op *op = &e->m->ops.v[o];
    const TensorType *t = ir_type(e->m, op->out);
    unsigned d = (unsigned)ir_op_int(e->m, op, ATTR_DIM);
    char a[256], b[256], c[256];
    axis_split(e, t, d, d + 1, a, b, c);
    signature(e, o, "");
    P("    const NdlrtAxis p = {%s, %s, %s};\n", a, b, c);
    P("    ndlrt_%s_f32(&p, a0, y);\n", op->kind == OP_SOFTMAX ? "softmax" : "log_softmax");
    end_fn(e);
}

static void permute_call(EmitC *e, const TensorType *t, const int64_t *perm, const char *x, const char *y)
{
    char d[64];
    P("    {\n        const int64_t dims[%u] = {", t->rank);
    for (unsigned i = 0; i < t->rank; i++) P("%s%s", i ? ", " : "", D(e, t->dims[i], d));
    P("};\n        static const int64_t perm[%u] = {", t->rank);
    for (unsigned i = 0; i < t->rank; i++) P("%s%" PRId64, i ? ", " : "", perm[i]);
    P("};\n        ndlrt_permute(%u, dims, perm, sizeof(*%s), %s, %s);\n    }\n", t->rank, x, x, y);
}

static void layer_reduce(EmitC *e, OpId o)
{
    const Module *m = e->m;
    const Op *op = &m->ops.v[o];
    const TensorType *x = ir_type(m, ir_operand(m, op, 0));
    uint32_t nd;
    const int64_t *dims = ir_op_ints(m, op, ATTR_DIMS, &nd);
    int kind = op->kind == OP_REDUCE_SUM ? 0 : op->kind == OP_REDUCE_MEAN ? 1 : op->kind == OP_REDUCE_MAX ? 2 : 3;
    bool contiguous = nd == 0 || dims[nd - 1] - dims[0] + 1 == (int64_t)nd;
    char a[256], b[256], c[256];
    signature(e, o, "");
    if (contiguous) {
        axis_split(e, x, nd ? (unsigned)dims[0] : 0, nd ? (unsigned)dims[nd - 1] + 1 : 0, a, b, c);
        P("    const NdlrtAxis p = {%s, %s, %s};\n    ndlrt_reduce_f32(&p, %d, a0, y);\n", a, b, c, kind);
    } else {
        /* bring the reduced axes together: [kept..., reduced...] in scratch */
        int64_t perm[IR_MAX_RANK];
        unsigned k = 0;
        bool red[IR_MAX_RANK] = {false};
        for (uint32_t i = 0; i < nd; i++) red[dims[i]] = true;
        for (unsigned i = 0; i < x->rank; i++) if (!red[i]) perm[k++] = i;
        for (unsigned i = 0; i < x->rank; i++) if (red[i]) perm[k++] = i;
        permute_call(e, x, perm, "a0", "scratch");
        TensorType pt = *x;
        for (unsigned i = 0; i < x->rank; i++) pt.dims[i] = x->dims[perm[i]];
        axis_split(e, &pt, x->rank - nd, x->rank, a, b, c);
        P("    const NdlrtAxis p = {%s, %s, 1};\n    ndlrt_reduce_f32(&p, %d, scratch, y);\n", a, b, kind);
    }
    end_fn(e);
}

static void layer_argmax(EmitC *e, OpId o)
{
    const Module *m = e->m;
    const Op *op = &m->ops.v[o];
    const TensorType *x = ir_type(m, ir_operand(m, op, 0));
    int64_t d = ir_op_int(m, op, ATTR_DIM);
    char a[256], b[256], c[256];
    if (d < 0) axis_split(e, x, 0, x->rank, a, b, c);
    else axis_split(e, x, (unsigned)d, (unsigned)d + 1, a, b, c);
    signature(e, o, "");
    P("    const NdlrtAxis p = {%s, %s, %s};\n    ndlrt_argmax_f32(&p, a0, y);\n", a, b, c);
    end_fn(e);
}

static void layer_matmul(EmitC *e, OpId o)
{
    const Module *m = e->m;
    const Op *op = &m->ops.v[o];
    const TensorType *ta = ir_type(m, ir_operand(m, op, 0)), *tb = ir_type(m, ir_operand(m, op, 1));
    const TensorType *ty = ir_type(m, op->out);
    char d[64], M[64], K[64], N[64];
    /* 1-D operands are promoted: a [k] -> [1, k]; b [k] -> [k, 1] */
    snprintf(M, sizeof M, "%s", ta->rank == 1 ? "1" : D(e, ta->dims[ta->rank - 2], d));
    snprintf(K, sizeof K, "%s", D(e, ta->dims[ta->rank - 1], d));
    snprintf(N, sizeof N, "%s", tb->rank == 1 ? "1" : D(e, tb->dims[tb->rank - 1], d));
    unsigned ba = ta->rank > 2 ? ta->rank - 2 : 0, bb = tb->rank > 2 ? tb->rank - 2 : 0;
    unsigned by = ba > bb ? ba : bb;
    /* batch shape of the result */
    TensorType bt = {.rank = (uint8_t)by};
    for (unsigned i = 0; i < by; i++) bt.dims[i] = ty->dims[i];
    bool a_full = ba == by, b_full = bb == by, a_none = true, b_none = true;
    for (unsigned i = 0; i < ba; i++) {
        a_full &= ta->dims[i] == bt.dims[i];
        a_none &= ta->dims[i] == 1;
    }
    for (unsigned i = 0; i < bb; i++) {
        b_full &= tb->dims[i] == bt.dims[i + by - bb];
        b_none &= tb->dims[i] == 1;
    }
    for (unsigned i = 0; i < ba; i++) a_full &= ta->dims[i] == bt.dims[i + by - ba];
    char batch[256];
    prod(e, &bt, 0, by, batch, sizeof batch);
    signature(e, o, "");
    if ((a_full || a_none) && (b_full || b_none)) {
        /* one kernel call: a batch axis that is all 1s is broadcast with stride 0 */
        char as[160], bs[160];
        snprintf(as, sizeof as, a_full && by ? "(int64_t)%s * %s" : "0", M, K);
        snprintf(bs, sizeof bs, b_full && by ? "(int64_t)%s * %s" : "0", K, N);
        P("    const NdlrtMatmul q = {%s, %s, %s, %s, %s, %s, (int64_t)%s * %s, 0};\n", batch, M, N, K, as, bs, M, N);
        P("    ndlrt_matmul_f32(&q, a0, a1, y, scratch);\n");
    } else {
        /* general batch broadcasting: loop over the batch axes */
        char sa[IR_MAX_RANK][EMITC_EXPR_LEN], sb[IR_MAX_RANK][EMITC_EXPR_LEN];
        TensorType aa = {.rank = (uint8_t)ba}, bbt = {.rank = (uint8_t)bb};
        for (unsigned i = 0; i < ba; i++) aa.dims[i] = ta->dims[i];
        for (unsigned i = 0; i < bb; i++) bbt.dims[i] = tb->dims[i];
        bstrides(e, &aa, &bt, sa);
        bstrides(e, &bbt, &bt, sb);
        P("    const NdlrtMatmul q = {1, %s, %s, %s, 0, 0, 0, 0};\n    int64_t c = 0;\n", M, N, K);
        for (unsigned i = 0; i < by; i++) P("%*sfor (int64_t i%u = 0; i%u < %s; i%u++)\n", 4 + 4 * i, "", i, i, D(e, bt.dims[i], d), i);
        P("%*s{\n%*sconst int64_t ia = 0", 4 + 4 * by, "", 8 + 4 * by, "");
        for (unsigned i = 0; i < by; i++) if (strcmp(sa[i], "0")) P(" + i%u*%s", i, sa[i]);
        P(", ib = 0");
        for (unsigned i = 0; i < by; i++) if (strcmp(sb[i], "0")) P(" + i%u*%s", i, sb[i]);
        P(";\n%*sndlrt_matmul_f32(&q, a0 + ia * q.m * q.k, a1 + ib * q.k * q.n, y + c++ * q.m * q.n, scratch);\n",
          8 + 4 * by, "");
        P("%*s}\n", 4 + 4 * by, "");
    }
    end_fn(e);
}

static void matmul_scratch(const EmitC *e, const Op *op, char *buf, size_t len)
{
    const Module *m = e->m;
    const TensorType *ta = ir_type(m, ir_operand(m, op, 0)), *tb = ir_type(m, ir_operand(m, op, 1));
    char d[64], M[64], K[64], N[64];
    snprintf(M, sizeof M, "%s", ta->rank == 1 ? "1" : D(e, ta->dims[ta->rank - 2], d));
    snprintf(K, sizeof K, "%s", D(e, ta->dims[ta->rank - 1], d));
    snprintf(N, sizeof N, "%s", tb->rank == 1 ? "1" : D(e, tb->dims[tb->rank - 1], d));
    snprintf(buf, len, "ndlrt_matmul_scratch_floats(&(NdlrtMatmul){1, %s, %s, %s, 0, 0, 0, 0})", M, N, K);
}

static void layer_linear(EmitC *e, OpId o)
{
    const Module *m = e->m;
    const Op *op = &m->ops.v[o];
    const TensorType *w = ir_type(m, ir_operand(m, op, 1));
    char rows[256];
    const TensorType *x = ir_type(m, ir_operand(m, op, 0));
    prod(e, x, 0, x->rank - 1, rows, sizeof rows);
    bool packed = weight_is_packed(e, op);
    if (sparse_weight(e, op)) {
        layer_sparse(e, o, sparse_weight(e, op));
        return;
    }
    OpId hashed = emitc_compressed_weight(e, op);
    if (hashed) {
        const Op *h = &m->ops.v[hashed];
        char np[256];
        const TensorType *pool = ir_type(m, ir_operand(m, h, 0));
        signature(e, o, "hashed weight computed in the kernel, --share compressed");
        epilogue_init(e, o, ir_operand(m, op, 2) != 0);
        P("    const NdlrtLinearHashed p = {%s, %" PRId64 ", %" PRId64 ", a1, %s, %" PRId64 "u, ep};\n", rows, w->dims[0],
          w->dims[1], prod(e, pool, 0, pool->rank, np, sizeof np), ir_op_int(m, h, ATTR_SEED));
        P("    ndlrt_linear_hashed_f32(&p, a0, y, scratch);\n");
        end_fn(e);
        return;
    }
    signature(e, o, packed ? "weights packed at compile time" : "weights packed at run time");
    epilogue_init(e, o, ir_operand(m, op, 2) != 0);
    if (packed) {
        P("    const NdlrtLinear p = {%s, %" PRId64 ", %" PRId64 ", a1, ep};\n", rows, w->dims[0], w->dims[1]);
        P("    ndlrt_linear_f32(&p, a0, y, scratch);\n");
    } else {
        P("    float *packed = scratch;\n");
        P("    ndlrt_linear_pack(%" PRId64 ", %" PRId64 ", a1, packed);\n", w->dims[0], w->dims[1]);
        P("    const NdlrtLinear p = {%s, %" PRId64 ", %" PRId64 ", packed, ep};\n", rows, w->dims[0], w->dims[1]);
        P("    ndlrt_linear_f32(&p, a0, y, scratch + ndlrt_linear_packed_floats(%" PRId64 ", %" PRId64 "));\n",
          w->dims[0], w->dims[1]);
    }
    end_fn(e);
}

static void conv_struct(EmitC *e, const Op *op, const char *wptr)
{
    const Module *m = e->m;
    const TensorType *x = ir_type(m, ir_operand(m, op, 0));
    NdlrtConv2d p = conv_params(e, op);
    const TensorType *y = ir_type(m, op->out);
    unsigned b = x->rank == 4;
    char n[64], c[64], h[64], w[64], oh[64], ow[64], d[64];
    snprintf(n, sizeof n, "%s", b ? D(e, x->dims[0], d) : "1");
    snprintf(c, sizeof c, "%s", D(e, x->dims[b], d));
    snprintf(h, sizeof h, "%s", D(e, x->dims[b + 1], d));
    snprintf(w, sizeof w, "%s", D(e, x->dims[b + 2], d));
    snprintf(oh, sizeof oh, "%s", D(e, y->dims[b + 1], d));
    snprintf(ow, sizeof ow, "%s", D(e, y->dims[b + 2], d));
    P("{%s, %s, %s, %s, %" PRId64 ", %" PRId64 ", %" PRId64 ", %s, %s, %" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64
      ", %" PRId64 ", %" PRId64 ", %" PRId64 ", %s, ep}",
      n, c, h, w, p.o, p.kh, p.kw, oh, ow, p.sh, p.sw, p.ph, p.pw, p.dh, p.dw, p.groups, wptr);
}

static void layer_conv(EmitC *e, OpId o)
{
    const Module *m = e->m;
    const Op *op = &m->ops.v[o];
    bool packed = weight_is_packed(e, op);
    if (sparse_weight(e, op)) {
        layer_sparse(e, o, sparse_weight(e, op));
        return;
    }
    signature(e, o, packed ? "weights packed at compile time" : "weights packed at run time");
    epilogue_init(e, o, ir_operand(m, op, 2) != 0);
    if (packed) {
        P("    const NdlrtConv2d p = ");
        conv_struct(e, op, "a1");
        P(";\n    ndlrt_conv2d_f32(&p, a0, y, scratch);\n");
    } else {
        P("    NdlrtConv2d p = ");
        conv_struct(e, op, "scratch");
        P(";\n    ndlrt_conv2d_pack(&p, a1, scratch);\n");
        P("    ndlrt_conv2d_f32(&p, a0, y, scratch + ndlrt_conv2d_packed_floats(&p));\n");
    }
    end_fn(e);
}

static void layer_pool(EmitC *e, OpId o)
{
    const Module *m = e->m;
    const Op *op = &m->ops.v[o];
    const TensorType *x = ir_type(m, ir_operand(m, op, 0)), *y = ir_type(m, op->out);
    unsigned b = x->rank == 4;
    const int64_t *k = ir_op_ints(m, op, ATTR_KERNEL, NULL), *st = ir_op_ints(m, op, ATTR_STRIDE, NULL);
    const int64_t *pd = ir_op_ints(m, op, ATTR_PAD, NULL);
    char d[6][64];
    signature(e, o, "");
    P("    const NdlrtPool2d p = {%s, %s, %s, %s, %s, %s, %" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64
      ", %" PRId64 "};\n",
      b ? D(e, x->dims[0], d[0]) : "1", D(e, x->dims[b], d[1]), D(e, x->dims[b + 1], d[2]), D(e, x->dims[b + 2], d[3]),
      D(e, y->dims[b + 1], d[4]), D(e, y->dims[b + 2], d[5]), k[0], k[1], st[0], st[1], pd[0], pd[1]);
    P("    ndlrt_%s_f32(&p, a0, y);\n", op->kind == OP_MAX_POOL2D ? "max_pool2d" : "avg_pool2d");
    end_fn(e);
}

static void layer_batch_norm(EmitC *e, OpId o)
{
    const Module *m = e->m;
    const Op *op = &m->ops.v[o];
    const TensorType *x = ir_type(m, ir_operand(m, op, 0));
    char n[256], c[64], in[256];
    prod(e, x, 0, 1, n, sizeof n);
    emitc_dim(e, x->dims[1], c, sizeof c);
    prod(e, x, 2, x->rank, in, sizeof in);
    signature(e, o, "");
    P("    ndlrt_batch_norm_f32(%s, %s, %s, a0, a1, a2, a3, a4, %s, y);\n", n, c, in, F(ir_op_float(m, op, ATTR_EPS)));
    end_fn(e);
}

static void layer_norm(EmitC *e, OpId o)
{
    const Module *m = e->m;
    const Op *op = &m->ops.v[o];
    const TensorType *x = ir_type(m, ir_operand(m, op, 0));
    char rows[256], d[64];
    prod(e, x, 0, x->rank - 1, rows, sizeof rows);
    emitc_dim(e, x->dims[x->rank - 1], d, sizeof d);
    signature(e, o, "");
    if (op->kind == OP_LAYER_NORM)
        P("    ndlrt_layer_norm_f32(%s, %s, a0, a1, a2, %s, y);\n", rows, d, F(ir_op_float(m, op, ATTR_EPS)));
    else
        P("    ndlrt_rms_norm_f32(%s, %s, a0, a1, %s, y);\n", rows, d, F(ir_op_float(m, op, ATTR_EPS)));
    end_fn(e);
}

/* Batch stride of operand t (heads broadcast when its batch axes are all 1). */
static bool head_stride(const EmitC *e, const TensorType *t, const TensorType *q, char *buf, size_t len)
{
    bool all_one = true, same = t->rank == q->rank;
    for (unsigned i = 0; i + 2 < t->rank; i++) {
        all_one &= t->dims[i] == 1;
        if (same) same = t->dims[i] == q->dims[i];
    }
    if (t->rank <= 2 || (all_one && !same)) {
        snprintf(buf, len, "0");
        return true;
    }
    if (!same) return false;
    prod(e, t, t->rank - 2, t->rank, buf, len);
    return true;
}

static void layer_attention(EmitC *e, OpId o)
{
    const Module *m = e->m;
    const Op *op = &m->ops.v[o];
    const TensorType *q = ir_type(m, ir_operand(m, op, 0)), *k = ir_type(m, ir_operand(m, op, 1));
    const TensorType *v = ir_type(m, ir_operand(m, op, 2)), *y = ir_type(m, op->out);
    char batch[256], qs[256], ks[256], vs[256], ys[256], d[5][64];
    prod(e, y, 0, y->rank - 2, batch, sizeof batch);
    if (!head_stride(e, q, y, qs, sizeof qs) || !head_stride(e, k, y, ks, sizeof ks) ||
        !head_stride(e, v, y, vs, sizeof vs)) {
        snprintf(e->err, sizeof e->err, "attention with partially broadcast batch axes is not supported by the C backend");
        return;
    }
    prod(e, y, y->rank - 2, y->rank, ys, sizeof ys);
    signature(e, o, "fused, online softmax");
    P("    const NdlrtAttention p = {%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %d};\n", batch,
      D(e, q->dims[q->rank - 2], d[0]), D(e, k->dims[k->rank - 2], d[1]), D(e, q->dims[q->rank - 1], d[2]),
      D(e, v->dims[v->rank - 1], d[3]), qs, ks, vs, ys, F(ir_op_float(m, op, ATTR_SCALE)),
      (int)ir_op_int(m, op, ATTR_CAUSAL));
    P("    ndlrt_attention_f32(&p, a0, a1, a2, y, scratch);\n");
    end_fn(e);
}

static void attention_scratch(const EmitC *e, const Op *op, char *buf, size_t len)
{
    const Module *m = e->m;
    const TensorType *q = ir_type(m, ir_operand(m, op, 0)), *k = ir_type(m, ir_operand(m, op, 1));
    const TensorType *v = ir_type(m, ir_operand(m, op, 2));
    char d[4][64];
    snprintf(buf, len, "ndlrt_attention_scratch_floats(&(NdlrtAttention){1, %s, %s, %s, %s, 0, 0, 0, 0, 1.0f, 0})",
             D(e, q->dims[q->rank - 2], d[0]), D(e, k->dims[k->rank - 2], d[1]), D(e, q->dims[q->rank - 1], d[2]),
             D(e, v->dims[v->rank - 1], d[3]));
}

static void layer_permute(EmitC *e, OpId o)
{
    const Module *m = e->m;
    const Op *op = &m->ops.v[o];
    signature(e, o, "");
    permute_call(e, ir_type(m, ir_operand(m, op, 0)), ir_op_ints(m, op, ATTR_PERM, NULL), "a0", "y");
    end_fn(e);
}

static void layer_slice(EmitC *e, OpId o)
{
    const Module *m = e->m;
    const Op *op = &m->ops.v[o];
    const TensorType *x = ir_type(m, ir_operand(m, op, 0)), *y = ir_type(m, op->out);
    const int64_t *b = ir_op_ints(m, op, ATTR_BEGIN, NULL), *st = ir_op_ints(m, op, ATTR_STEP, NULL);
    char d[64];
    signature(e, o, "");
    P("    const int64_t in_dims[%u] = {", x->rank);
    for (unsigned i = 0; i < x->rank; i++) P("%s%s", i ? ", " : "", D(e, x->dims[i], d));
    P("}, out_dims[%u] = {", x->rank);
    for (unsigned i = 0; i < y->rank; i++) P("%s%s", i ? ", " : "", D(e, y->dims[i], d));
    P("};\n    static const int64_t begin[%u] = {", x->rank);
    for (unsigned i = 0; i < x->rank; i++) P("%s%" PRId64, i ? ", " : "", b[i]);
    P("}, step[%u] = {", x->rank);
    for (unsigned i = 0; i < x->rank; i++) P("%s%" PRId64, i ? ", " : "", st[i]);
    P("};\n    ndlrt_slice(%u, in_dims, begin, step, out_dims, sizeof(*a0), a0, y);\n", x->rank);
    end_fn(e);
}

static void layer_concat(EmitC *e, OpId o)
{
    const Module *m = e->m;
    const Op *op = &m->ops.v[o];
    const TensorType *y = ir_type(m, op->out);
    unsigned ax = (unsigned)ir_op_int(m, op, ATTR_DIM);
    char outer[256], inner[256], len[256];
    prod(e, y, 0, ax, outer, sizeof outer);
    prod(e, y, ax + 1, y->rank, inner, sizeof inner);
    signature(e, o, "");
    P("    const int64_t outer = %s, inner = %s;\n    int64_t at = 0;\n", outer, inner);
    P("    for (int64_t i = 0; i < outer; i++) {\n");
    for (unsigned k = 0; k < op->nin; k++) {
        const TensorType *t = ir_type(m, ir_operand(m, op, k));
        prod(e, t, ax, ax + 1, len, sizeof len);
        P("        memcpy(y + at, a%u + i * %s * inner, (size_t)(%s * inner) * sizeof *y);\n", k, len, len);
        P("        at += %s * inner;\n", len);
    }
    P("    }\n");
    end_fn(e);
}

static void layer_gather(EmitC *e, OpId o)
{
    const Module *m = e->m;
    const Op *op = &m->ops.v[o];
    const TensorType *ids = ir_type(m, ir_operand(m, op, op->kind == OP_EMBEDDING ? 0 : 1));
    const TensorType *tab = ir_type(m, ir_operand(m, op, op->kind == OP_EMBEDDING ? 1 : 0));
    char n[256], tn[256], d[64];
    if (tab->dtype != DT_F32) {
        snprintf(e->err, sizeof e->err, "'%s' of a %s table is not supported by the C backend", op_info[op->kind].name,
                 dtype_info[tab->dtype].name);
        return;
    }
    prod(e, ids, 0, ids->rank, n, sizeof n);
    signature(e, o, "");
    if (op->kind == OP_EMBEDDING)
        P("    return ndlrt_embedding_f32(%s, a0, %d, %s, %s, a1, y);\n}\n\n", n, ids->dtype == DT_I64,
          D(e, tab->dims[0], d), D(e, tab->dims[1], tn));
    else
        P("    return ndlrt_take_f32(%s, a1, %d, %s, a0, y);\n}\n\n", n, ids->dtype == DT_I64,
          prod(e, tab, 0, tab->rank, tn, sizeof tn));
}

static void layer_kron(EmitC *e, OpId o)
{
    const Module *m = e->m;
    const Op *op = &m->ops.v[o];
    const TensorType *a = ir_type(m, ir_operand(m, op, 0)), *b = ir_type(m, ir_operand(m, op, 1));
    const TensorType *y = ir_type(m, op->out);
    char d[64];
    unsigned r = a->rank;
    signature(e, o, "");
    /* y[i*B + j] = a[i] * b[j], axis by axis: loops over a's axes, then b's */
    for (unsigned i = 0; i < 2 * r; i++) {
        char c = i < r ? 'i' : 'j';
        unsigned k = i % r;
        P("%*sfor (int64_t %c%u = 0; %c%u < %s; %c%u++)\n", 4 + 4 * i, "", c, k, c, k,
          D(e, (i < r ? a : b)->dims[k], d), c, k);
    }
    /* row-major offsets in Horner form: ((0*Y0 + i0*B0 + j0)*Y1 + i1*B1 + j1)*Y2 + ... */
    char d2[64];
    P("%*sy[", 4 + 8 * r, "");
    for (unsigned k = 0; k < r; k++) P("(");
    P("0");
    for (unsigned k = 0; k < r; k++)
        P(") * %s + i%u * %s + j%u", D(e, y->dims[k], d), k, D(e, b->dims[k], d2), k);
    P("] = a0[");
    for (unsigned k = 0; k < r; k++) P("(");
    P("0");
    for (unsigned k = 0; k < r; k++) P(") * %s + i%u", D(e, a->dims[k], d), k);
    P("] * a1[");
    for (unsigned k = 0; k < r; k++) P("(");
    P("0");
    for (unsigned k = 0; k < r; k++) P(") * %s + j%u", D(e, b->dims[k], d), k);
    P("];\n");
    end_fn(e);
}

static void layer_hashed(EmitC *e, OpId o)
{
    const Module *m = e->m;
    const Op *op = &m->ops.v[o];
    char n[256], np[256];
    const TensorType *pool = ir_type(m, ir_operand(m, op, 0));
    signature(e, o, "");
    P("    ndlrt_hashed_f32(%s, a0, %s, %" PRId64 "u, y);\n", emitc_numel(e, op->out, n, sizeof n),
      prod(e, pool, 0, pool->rank, np, sizeof np), ir_op_int(m, op, ATTR_SEED));
    end_fn(e);
}

static void layer_hash_route(EmitC *e, OpId o)
{
    const Module *m = e->m;
    const Op *op = &m->ops.v[o];
    char n[256];
    signature(e, o, "");
    P("    ndlrt_hash_route(%s, a0, %d, %" PRId64 ", %" PRId64 "u, y);\n", emitc_numel(e, op->out, n, sizeof n),
      ir_type(m, ir_operand(m, op, 0))->dtype == DT_I64, ir_op_int(m, op, ATTR_NUM), ir_op_int(m, op, ATTR_SEED));
    end_fn(e);
}

/* Spec 8.3 recurse, one step: every depth is checked (a run-time error, never an
 * out-of-bounds access), the rows still recursing are compacted and their count is the
 * rows symbol, so the body's layers run on those rows only. Writes s (run's own array).
 * The step is an operand (a2), so every step calls the same function. */
static void layer_recurse_gather(EmitC *e, OpId o)
{
    const Module *m = e->m;
    const Op *op = &m->ops.v[o];
    const TensorType *x = ir_type(m, ir_operand(m, op, 0));
    const DimExpr *rows = ir_dim_expr(m, ir_type(m, op->out)->dims[0]);
    char row[256];
    prod(e, x, 1, x->rank, row, sizeof row);
    signature_s(e, o, "", "int64_t *s");
    P("    const int64_t row = %s;\n    int64_t r = 0;\n", row);
    P("    for (int64_t t = 0; t < %" PRId64 "; t++)\n", x->dims[0]);
    P("        if (a1[t] < 0 || a1[t] > %" PRId64 ") return NDLRT_EINDEX; /* depth outside 0..max */\n",
      ir_op_int(m, op, ATTR_MAX));
    P("    for (int64_t t = 0; t < %" PRId64 "; t++)\n", x->dims[0]);
    P("        if (a1[t] > a2[0]) memcpy(y + r++ * row, a0 + t * row, (size_t)row * sizeof *y);\n");
    P("    s[%u] = r;\n", rows->sym[0] - 1);
    end_fn(e);
}

static void layer_recurse_scatter(EmitC *e, OpId o)
{
    const Module *m = e->m;
    const Op *op = &m->ops.v[o];
    const TensorType *x = ir_type(m, ir_operand(m, op, 0));
    char row[256];
    prod(e, x, 1, x->rank, row, sizeof row);
    signature(e, o, "");
    P("    const int64_t row = %s;\n    int64_t r = 0;\n", row);
    P("    memcpy(y, a0, (size_t)(%" PRId64 " * row) * sizeof *y);\n", x->dims[0]);
    P("    for (int64_t t = 0; t < %" PRId64 "; t++)\n", x->dims[0]);
    P("        if (a2[t] > a3[0]) memcpy(y + t * row, a1 + r++ * row, (size_t)row * sizeof *y);\n");
    end_fn(e);
}

/* A reshape that needs its own storage (never: views are aliases) - kept for the table. */
static void layer_reshape(EmitC *e, OpId o)
{
    char n[256];
    signature(e, o, "copy");
    P("    memcpy(y, a0, (size_t)(%s) * sizeof *y);\n", emitc_numel(e, e->m->ops.v[o].out, n, sizeof n));
    end_fn(e);
}

/* ---- mixture of experts (spec 8.4) ---------------------------------------------------------- */

static void layer_moe_route(EmitC *e, OpId o)
{
    const Module *m = e->m;
    const Op *op = &m->ops.v[o];
    const TensorType *g = ir_type(m, op->out);
    char d[64];
    signature(e, o, "");
    P("    ndlrt_moe_route_f32(%s, %" PRId64 ", a0, %d, %" PRId64 ", %s, %d, %d, y, scratch);\n", D(e, g->dims[0], d),
      g->dims[1], (int)ir_op_int(m, op, ATTR_POLICY), ir_op_int(m, op, ATTR_K), F(ir_op_float(m, op, ATTR_P)),
      (int)ir_op_int(m, op, ATTR_RENORM), (int)ir_op_int(m, op, ATTR_SOFTMAX));
    end_fn(e);
}

static void layer_moe_assign(EmitC *e, OpId o)
{
    const Module *m = e->m;
    const Op *op = &m->ops.v[o];
    const TensorType *g = ir_type(m, op->out);
    char d[64];
    signature(e, o, "");
    P("    return ndlrt_moe_assign(%s, %" PRId64 ", a0, %d, y);\n}\n\n", D(e, g->dims[0], d), g->dims[1],
      ir_type(m, ir_operand(m, op, 0))->dtype == DT_I64);
}

/* Also stores the expert's row count in its dynamic symbol, which every layer of the
 * expert reads from s[] (run's s is not const when the model has such symbols). */
static void layer_moe_gather(EmitC *e, OpId o)
{
    const Module *m = e->m;
    const Op *op = &m->ops.v[o];
    const TensorType *x = ir_type(m, ir_operand(m, op, 0)), *g = ir_type(m, ir_operand(m, op, 1));
    SymId rows = ir_dim_expr(m, ir_op_int(m, op, ATTR_ROWS))->sym[0];
    int64_t ex = ir_op_int(m, op, ATTR_EXPERT);
    char d[64];
    signature(e, o, "the expert's rows");
    P("    ((int64_t *)s)[%u] = ndlrt_moe_rows(%s, %" PRId64 ", %" PRId64 ", a1);\n", rows - 1, D(e, x->dims[0], d),
      g->dims[1], ex);
    P("    ndlrt_moe_gather_f32(%s, %" PRId64 ", %" PRId64 ", %" PRId64 ", a0, a1, y);\n", D(e, x->dims[0], d), x->dims[1],
      g->dims[1], ex);
    end_fn(e);
}

static void layer_moe_scatter(EmitC *e, OpId o)
{
    const Module *m = e->m;
    const Op *op = &m->ops.v[o];
    const TensorType *y = ir_type(m, op->out), *g = ir_type(m, ir_operand(m, op, 2));
    char d[64];
    signature(e, o, "weighted add of the expert's rows");
    P("    ndlrt_moe_scatter_f32(%s, %" PRId64 ", %" PRId64 ", %" PRId64 ", a0, a1, a2, y);\n", D(e, y->dims[0], d),
      y->dims[1], g->dims[1], ir_op_int(m, op, ATTR_EXPERT));
    end_fn(e);
}

typedef void EmitLayerFn(EmitC *e, OpId o);

static EmitLayerFn *const layer_fns[OP_COUNT] = {
#define EW1(K, name, expr) [OP_##K] = layer_unary,
#include "../../ir/eltwise.def"
#undef EW1
    [OP_ADD] = layer_binary, [OP_SUB] = layer_binary, [OP_MUL] = layer_binary, [OP_DIV] = layer_binary,
    [OP_CAST] = layer_cast, [OP_SOFTMAX] = layer_softmax, [OP_LOG_SOFTMAX] = layer_softmax,
    [OP_REDUCE_SUM] = layer_reduce, [OP_REDUCE_MEAN] = layer_reduce, [OP_REDUCE_MAX] = layer_reduce,
    [OP_REDUCE_MIN] = layer_reduce, [OP_ARGMAX] = layer_argmax, [OP_MATMUL] = layer_matmul,
    [OP_LINEAR] = layer_linear, [OP_CONV2D] = layer_conv, [OP_MAX_POOL2D] = layer_pool,
    [OP_AVG_POOL2D] = layer_pool, [OP_BATCH_NORM] = layer_batch_norm, [OP_LAYER_NORM] = layer_norm,
    [OP_RMS_NORM] = layer_norm, [OP_ATTENTION] = layer_attention, [OP_RESHAPE] = layer_reshape,
    [OP_PERMUTE] = layer_permute, [OP_SLICE] = layer_slice, [OP_CONCAT] = layer_concat,
    [OP_EMBEDDING] = layer_gather, [OP_TAKE] = layer_gather, [OP_KRON] = layer_kron,
    [OP_HASHED] = layer_hashed, [OP_HASH_ROUTE] = layer_hash_route,
    [OP_RECURSE_GATHER] = layer_recurse_gather, [OP_RECURSE_SCATTER] = layer_recurse_scatter,
    [OP_MOE_ROUTE] = layer_moe_route, [OP_MOE_ASSIGN] = layer_moe_assign,
    [OP_MOE_GATHER] = layer_moe_gather, [OP_MOE_SCATTER] = layer_moe_scatter,
};

void emitc_layer(EmitC *e, OpId o)
{
    const Op *op = &e->m->ops.v[o];
    if (!layer_fns[op->kind]) {
        snprintf(e->err, sizeof e->err, "the C backend cannot emit '%s'", op_info[op->kind].name);
        return;
    }
    layer_fns[op->kind](e, o);
}

void emitc_scratch_expr(EmitC *e, OpId o, char *buf, size_t len)
{
    const Module *m = e->m;
    const Op *op = &m->ops.v[o];
    snprintf(buf, len, "0");
    switch (op->kind) {
    case OP_LINEAR: {
        const TensorType *x = ir_type(m, ir_operand(m, op, 0)), *w = ir_type(m, ir_operand(m, op, 1));
        char rows[256];
        prod(e, x, 0, x->rank - 1, rows, sizeof rows);
        if (emitc_compressed_weight(e, op))
            snprintf(buf, len, "ndlrt_linear_hashed_scratch_floats(%s, %" PRId64 ", %" PRId64 ")", rows, w->dims[0],
                     w->dims[1]);
        else if (sparse_weight(e, op))
            snprintf(buf, len, "ndlrt_sparse_linear_scratch_floats(%s, %" PRId64 ", %" PRId64 ")", rows, w->dims[0],
                     w->dims[1]);
        else if (weight_is_packed(e, op))
            snprintf(buf, len, "ndlrt_linear_scratch_floats(%s, %" PRId64 ", %" PRId64 ")", rows, w->dims[0], w->dims[1]);
        else
            snprintf(buf, len, "(ndlrt_linear_packed_floats(%" PRId64 ", %" PRId64 ") + ndlrt_linear_scratch_floats(%s, %" PRId64
                     ", %" PRId64 "))", w->dims[0], w->dims[1], rows, w->dims[0], w->dims[1]);
        break;
    }
    case OP_CONV2D: {
        if (sparse_weight(e, op)) break; /* the sparse 1x1 conv needs none */
        /* scratch of the conv with the actual sizes: build the params as the layer does */
        char n[64], c[64], h[64], w[64], oh[64], ow[64];
        const TensorType *x = ir_type(m, ir_operand(m, op, 0)), *y = ir_type(m, op->out);
        unsigned b = x->rank == 4;
        NdlrtConv2d p = conv_params(e, op);
        char d[64];
        snprintf(n, sizeof n, "%s", b ? D(e, x->dims[0], d) : "1");
        snprintf(c, sizeof c, "%s", D(e, x->dims[b], d));
        snprintf(h, sizeof h, "%s", D(e, x->dims[b + 1], d));
        snprintf(w, sizeof w, "%s", D(e, x->dims[b + 2], d));
        snprintf(oh, sizeof oh, "%s", D(e, y->dims[b + 1], d));
        snprintf(ow, sizeof ow, "%s", D(e, y->dims[b + 2], d));
        char params[1024];
        snprintf(params, sizeof params,
                 "&(NdlrtConv2d){%s, %s, %s, %s, %" PRId64 ", %" PRId64 ", %" PRId64 ", %s, %s, %" PRId64 ", %" PRId64
                 ", %" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 ", NULL, {NULL, 0, NULL, 0}}",
                 n, c, h, w, p.o, p.kh, p.kw, oh, ow, p.sh, p.sw, p.ph, p.pw, p.dh, p.dw, p.groups);
        if (weight_is_packed(e, op)) snprintf(buf, len, "ndlrt_conv2d_scratch_floats(%s)", params);
        else snprintf(buf, len, "(ndlrt_conv2d_packed_floats(%s) + ndlrt_conv2d_scratch_floats(%s))", params, params);
        break;
    }
    case OP_MATMUL: matmul_scratch(e, op, buf, len); break;
    case OP_MOE_ROUTE: snprintf(buf, len, "%" PRId64, 2 * ir_type(m, op->out)->dims[1]); break;
    case OP_ATTENTION: attention_scratch(e, op, buf, len); break;
    case OP_REDUCE_SUM: case OP_REDUCE_MEAN: case OP_REDUCE_MAX: case OP_REDUCE_MIN: {
        uint32_t nd;
        const int64_t *dims = ir_op_ints(m, op, ATTR_DIMS, &nd);
        if (nd && dims[nd - 1] - dims[0] + 1 != (int64_t)nd) emitc_numel(e, ir_operand(m, op, 0), buf, len);
        break;
    }
    default: break;
    }
}
