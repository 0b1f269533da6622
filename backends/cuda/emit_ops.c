/* SPDX-License-Identifier: MIT
 * emit_ops.c - one host function per layer (or fused group) of the CUDA backend.
 *
 * Each function is `static int NAME(const int64_t *s, operands..., result, float *scratch,
 * int *bad, cudaStream_t st)` over device pointers: it fills a parameter struct with
 * every known size written as a constant (symbolic sizes from s[]) and launches one
 * kernel of runtime/cuda/ndlcu.cuh, returning its launch status. A fused group (linear or
 * conv2d with bias, activations and a residual add, passes/fuse.c) is one GEMM launch
 * whose epilogue applies them. Ops or cases without a kernel are refused up front by
 * emitcu_op_supported, with the reason, so no wrong code is ever written.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "emit_impl.h"

#define P(...) fprintf(e->f, __VA_ARGS__)
#define F(x) emitc_float((float)(x), (char[EMITC_FLOAT_LEN]){0})

static const char *const act_names[] = {
#define EW1(K, name, expr) [OP_##K] = "NDLRT_ACT_" #K,
#include "../../ir/eltwise.def"
#undef EW1
};

static const char *D(const EmitCu *e, Dim d, char *buf) { return emitc_dim(&e->c, d, buf, 64); }

const char *emitcu_prod(const EmitCu *e, const TensorType *t, unsigned from, unsigned to, char *buf, size_t len)
{
    return emitc_prod(&e->c, t, from, to, buf, len);
}

static const char *numel(const EmitCu *e, ValueId v, char *buf)
{
    const TensorType *t = ir_type(e->c.m, v);
    return emitcu_prod(e, t, 0, t->rank, buf, 256);
}

/* ---- run-time row counts (dynamic symbols: moe experts, recurse steps) ---------------------- */

bool emitcu_dim_dynamic(const Module *m, Dim d)
{
    if (d >= 0) return false;
    const DimExpr *x = ir_dim_expr(m, d);
    for (unsigned k = 0; k < x->nsym; k++)
        if (m->syms.v[x->sym[k]].dynamic) return true;
    return false;
}

/* The dynamic symbol that is exactly t's first dim (its row count), or 0. */
static SymId row_symbol(const Module *m, const TensorType *t)
{
    if (!t->rank || !emitcu_dim_dynamic(m, t->dims[0])) return 0;
    const DimExpr *x = ir_dim_expr(m, t->dims[0]);
    return x->nsym == 1 && x->coef == 1 ? x->sym[0] : 0;
}

/* ---- helpers of what can be emitted (emitcu_op_supported, at the end) ---------------------- */

/* Attention operand t: batched like the result, or one matrix for all (stride 0). */
static bool head_stride(const EmitCu *e, const TensorType *t, const TensorType *y, char *buf, size_t len)
{
    bool all_one = true, same = t->rank == y->rank;
    for (unsigned i = 0; i + 2 < t->rank; i++) {
        all_one &= t->dims[i] == 1;
        if (same) same = t->dims[i] == y->dims[i];
    }
    if (t->rank <= 2 || (all_one && !same)) {
        snprintf(buf, len, "0");
        return true;
    }
    if (!same) return false;
    emitcu_prod(e, t, t->rank - 2, t->rank, buf, len);
    return true;
}

/* ---- groups ---------------------------------------------------------------------------------- */

/* NdlrtAct values by name (0: none), for the epilogue */
static const char *const act_values[] = {
    "0",
#define EW1(K, name, expr) "NDLRT_ACT_" #K,
#include "../../ir/eltwise.def"
#undef EW1
};

static void signature(EmitCu *e, OpId o, const char *what)
{
    const Module *m = e->c.m;
    ValueId vals[16], res;
    unsigned n = emitc_group_operands(&e->c, o, vals, 16, &res);
    emitc_layer_comment(&e->c, e->f, o, what);
    P("static int %s(const int64_t *s", e->c.fn_name[o]);
    for (unsigned i = 0; i < n; i++)
        P(", const %s *a%u", emitc_ctype(vals[i] ? ir_type(m, vals[i])->dtype : DT_F32), i);
    P(", %s *y, float *scratch, int *bad, int64_t *rows, cudaStream_t st)\n{\n", emitc_ctype(ir_type(m, res)->dtype));
    P("    (void)s;\n    (void)scratch;\n    (void)bad;\n    (void)rows;\n");
    for (unsigned i = 0; i < n; i++)
        if (!vals[i]) P("    (void)a%u; /* absent optional operand: NULL */\n", i);
}

static void epilogue_init(EmitCu *e, OpId o, bool has_bias)
{
    EmitcEpilogue ep = emitc_group_epilogue(&e->c, o);
    ValueId vals[16], res;
    unsigned n = emitc_group_operands(&e->c, o, vals, 16, &res);
    P("    const NdlrtEpilogue ep = {%s, %s, ", has_bias ? "a2" : "NULL", act_values[ep.act]);
    if (ep.residual) P("a%u", n - 1);
    else P("NULL");
    P(", %s};\n", act_values[ep.act2]);
}

/* ---- the ops ---------------------------------------------------------------------------------- */

static void layer_unary(EmitCu *e, OpId o)
{
    char n[256];
    signature(e, o, "");
    P("    return ndlcu_unary(%s, %s, a0, y, st);\n}\n\n", numel(e, e->c.m->ops.v[o].out, n), act_names[e->c.m->ops.v[o].kind]);
}

/* Stride of operand t per output axis (right-aligned; 0 where broadcast), as C text:
 * a number while the inner sizes are known, then a product with the symbolic ones. */
static void bstrides(EmitCu *e, const TensorType *t, const TensorType *out, char s[][EMITC_EXPR_LEN])
{
    unsigned off = out->rank - t->rank;
    int64_t known = 1;
    char sym[EMITC_EXPR_LEN - 24] = "", d[64];
    for (int i = (int)out->rank - 1; i >= 0; i--) {
        if (i < (int)off || t->dims[i - off] == 1) {
            snprintf(s[i], EMITC_EXPR_LEN, "0");
            continue;
        }
        snprintf(s[i], EMITC_EXPR_LEN, "%" PRId64 "%s", known, sym);
        Dim dim = t->dims[i - off];
        if (dim >= 0) {
            known *= dim;
        } else {
            size_t n = strlen(sym);
            if (snprintf(sym + n, sizeof sym - n, "*%s", D(e, dim, d)) >= (int)(sizeof sym - n))
                emitc_expr_too_long(e->c.err, sizeof e->c.err);
        }
    }
}

static void dims_list(EmitCu *e, const TensorType *t)
{
    char d[64];
    P("{");
    for (unsigned i = 0; i < t->rank; i++) P("%s%s", i ? ", " : "", D(e, t->dims[i], d));
    if (!t->rank) P("1");
    P("}");
}

/* "{s0, s1, ...}" of rank C expressions ("{0}" for rank 0) */
static void list(EmitCu *e, char s[][EMITC_EXPR_LEN], unsigned rank)
{
    P("{");
    for (unsigned i = 0; i < rank; i++) P("%s%s", i ? ", " : "", s[i]);
    P("%s}", rank ? "" : "0");
}

static void layer_binary(EmitCu *e, OpId o)
{
    const Module *m = e->c.m;
    const Op *op = &m->ops.v[o];
    const TensorType *ta = ir_type(m, ir_operand(m, op, 0)), *tb = ir_type(m, ir_operand(m, op, 1));
    const TensorType *ty = ir_type(m, op->out);
    char sa[IR_MAX_RANK][EMITC_EXPR_LEN], sb[IR_MAX_RANK][EMITC_EXPR_LEN], n[256];
    bstrides(e, ta, ty, sa);
    bstrides(e, tb, ty, sb);
    signature(e, o, "");
    P("    const NdlcuBroadcast p = {%u, ", ty->rank ? ty->rank : 1);
    dims_list(e, ty);
    P(", ");
    list(e, sa, ty->rank);
    P(", ");
    list(e, sb, ty->rank);
    P("};\n");
    int code = op->kind == OP_ADD ? 0 : op->kind == OP_SUB ? 1 : op->kind == OP_MUL ? 2 : 3;
    P("    return ndlcu_binary<%s>(%s, %d /* %s */, &p, a0, a1, y, st);\n}\n\n", emitc_ctype(ty->dtype), numel(e, op->out, n),
      code, op_info[op->kind].name);
}

static void layer_cast(EmitCu *e, OpId o)
{
    const Module *m = e->c.m;
    const Op *op = &m->ops.v[o];
    DType from = ir_type(m, ir_operand(m, op, 0))->dtype, to = ir_type(m, op->out)->dtype;
    char n[256];
    signature(e, o, "");
    P("    return ndlcu_cast<%s, %s>(%s, a0, y, %d, st);\n}\n\n", emitc_ctype(to), emitc_ctype(from), numel(e, op->out, n),
      to == DT_BOOL);
}

static void axis_split(const EmitCu *e, const TensorType *t, unsigned from, unsigned to, char *outer, char *len,
                       char *inner)
{
    emitcu_prod(e, t, 0, from, outer, 256);
    emitcu_prod(e, t, from, to, len, 256);
    emitcu_prod(e, t, to, t->rank, inner, 256);
}

static void layer_softmax(EmitCu *e, OpId o)
{
    const Op *op = &e->c.m->ops.v[o];
    const TensorType *t = ir_type(e->c.m, op->out);
    unsigned d = (unsigned)ir_op_int(e->c.m, op, ATTR_DIM);
    char a[256], b[256], c[256];
    axis_split(e, t, d, d + 1, a, b, c);
    signature(e, o, "");
    P("    return ndlcu_softmax(%s, %s, %s, %d, a0, y, st);\n}\n\n", a, b, c, op->kind == OP_LOG_SOFTMAX);
}

/* A copy over t's index space with the input read through per-axis strides. */
static void copy_struct(EmitCu *e, const TensorType *t, char in_stride[][EMITC_EXPR_LEN], const char *in_off, const TensorType *y,
                        const char *out_off)
{
    char ys[IR_MAX_RANK][EMITC_EXPR_LEN];
    bstrides(e, y, y, ys);
    P("    const NdlcuCopy p = {%u, ", t->rank ? t->rank : 1);
    dims_list(e, t);
    P(", ");
    list(e, in_stride, t->rank);
    P(", ");
    list(e, ys, t->rank);
    P(", %s, %s};\n", in_off, out_off);
}

/* permuted[i] = x[perm[i]]: strides of x taken in the order of perm */
static void permute_into(EmitCu *e, const TensorType *x, const int64_t *perm, const char *src, const char *dst)
{
    char xs[IR_MAX_RANK][EMITC_EXPR_LEN], ps[IR_MAX_RANK][EMITC_EXPR_LEN];
    TensorType pt = *x;
    bstrides(e, x, x, xs);
    for (unsigned i = 0; i < x->rank; i++) {
        pt.dims[i] = x->dims[perm[i]];
        memcpy(ps[i], xs[perm[i]], sizeof ps[i]);
    }
    P("    {\n");
    copy_struct(e, &pt, ps, "0", &pt, "0");
    P("    int rc = ndlcu_copy(&p, sizeof *%s, %s, %s, st);\n    if (rc) return rc;\n    }\n", src, src, dst);
}

static void layer_reduce(EmitCu *e, OpId o)
{
    const Module *m = e->c.m;
    const Op *op = &m->ops.v[o];
    const TensorType *x = ir_type(m, ir_operand(m, op, 0));
    uint32_t nd;
    const int64_t *dims = ir_op_ints(m, op, ATTR_DIMS, &nd);
    int kind = op->kind == OP_REDUCE_SUM ? 0 : op->kind == OP_REDUCE_MEAN ? 1 : op->kind == OP_REDUCE_MAX ? 2 : 3;
    bool contiguous = nd == 0 || dims[nd - 1] - dims[0] + 1 == (int64_t)nd;
    char a[256], b[256], c[256];
    signature(e, o, "");
    if (contiguous) {
        /* no dims: over all axes */
        axis_split(e, x, nd ? (unsigned)dims[0] : 0, nd ? (unsigned)dims[nd - 1] + 1 : x->rank, a, b, c);
        P("    return ndlcu_reduce(%s, %s, %s, %d, a0, y, st);\n}\n\n", a, b, c, kind);
        return;
    }
    /* bring the reduced axes together: [kept..., reduced...] in scratch */
    int64_t perm[IR_MAX_RANK];
    unsigned k = 0;
    bool red[IR_MAX_RANK] = {false};
    for (uint32_t i = 0; i < nd; i++) red[dims[i]] = true;
    for (unsigned i = 0; i < x->rank; i++) if (!red[i]) perm[k++] = i;
    for (unsigned i = 0; i < x->rank; i++) if (red[i]) perm[k++] = i;
    permute_into(e, x, perm, "a0", "scratch");
    TensorType pt = *x;
    for (unsigned i = 0; i < x->rank; i++) pt.dims[i] = x->dims[perm[i]];
    axis_split(e, &pt, x->rank - nd, x->rank, a, b, c);
    P("    return ndlcu_reduce(%s, %s, 1, %d, scratch, y, st);\n}\n\n", a, b, kind);
}

static void layer_argmax(EmitCu *e, OpId o)
{
    const Module *m = e->c.m;
    const Op *op = &m->ops.v[o];
    const TensorType *x = ir_type(m, ir_operand(m, op, 0));
    int64_t d = ir_op_int(m, op, ATTR_DIM);
    char a[256], b[256], c[256];
    if (d < 0) axis_split(e, x, 0, x->rank, a, b, c);
    else axis_split(e, x, (unsigned)d, (unsigned)d + 1, a, b, c);
    signature(e, o, "");
    P("    return ndlcu_argmax(%s, %s, %s, a0, y, st);\n}\n\n", a, b, c);
}

static void layer_matmul(EmitCu *e, OpId o)
{
    const Module *m = e->c.m;
    const Op *op = &m->ops.v[o];
    const TensorType *ta = ir_type(m, ir_operand(m, op, 0)), *tb = ir_type(m, ir_operand(m, op, 1));
    const TensorType *ty = ir_type(m, op->out);
    char d[64], M[64], K[64], N[64];
    /* 1-D operands are promoted: a [k] -> [1, k]; b [k] -> [k, 1] */
    snprintf(M, sizeof M, "%s", ta->rank == 1 ? "1" : D(e, ta->dims[ta->rank - 2], d));
    snprintf(K, sizeof K, "%s", D(e, ta->dims[ta->rank - 1], d));
    snprintf(N, sizeof N, "%s", tb->rank == 1 ? "1" : D(e, tb->dims[tb->rank - 1], d));
    /* batch axes: the result's, less the matrix axes the operands keep; each operand's
     * batch axes are right-aligned against them, and broadcast where 1 or absent */
    unsigned by = ty->rank - (ta->rank >= 2) - (tb->rank >= 2);
    TensorType yb = {.rank = (uint8_t)by}, ab = {.rank = 0}, bb = {.rank = 0};
    for (unsigned i = 0; i < by; i++) yb.dims[i] = ty->dims[i];
    for (unsigned i = 0; i + 2 < ta->rank; i++) ab.dims[ab.rank++] = ta->dims[i];
    for (unsigned i = 0; i + 2 < tb->rank; i++) bb.dims[bb.rank++] = tb->dims[i];
    char sa[IR_MAX_RANK][EMITC_EXPR_LEN], sb[IR_MAX_RANK][EMITC_EXPR_LEN], sy[IR_MAX_RANK][EMITC_EXPR_LEN];
    bstrides(e, &ab, &yb, sa);
    bstrides(e, &bb, &yb, sb);
    bstrides(e, &yb, &yb, sy);
    signature(e, o, "tensor cores, TF32");
    P("    const NdlcuGemm p = {%s, %s, %s, a0, %s, a1, %s, 0, y, %s, %u, ", M, N, K, K, N, N, by ? by : 1);
    if (!by) {
        P("{1}, {0}, {0}, {0}, ");
    } else {
        dims_list(e, &yb);
        char (*st[3])[EMITC_EXPR_LEN] = {sa, sb, sy};
        const char *rows[3] = {M, K, M}, *cols[3] = {K, N, N};
        for (int w = 0; w < 3; w++) {
            P(", {");
            for (unsigned i = 0; i < by; i++) {
                char mat[160];
                snprintf(mat, sizeof mat, "%s*%s", rows[w], cols[w]);
                if (strcmp(st[w][i], "0") == 0) P("%s0", i ? ", " : "");
                else P("%s(int64_t)%s * %s", i ? ", " : "", st[w][i], mat);
            }
            P("}");
        }
        P(", ");
    }
    P("{NULL, 0, NULL, 0}};\n    return ndlcu_gemm<false>(&p, st);\n}\n\n");
}

/* A linear or 1x1 conv whose weight was packed sparse at compile time (emit.c's
 * collect_weights): its caller passes the packed array as the weight operand a1. */
static void layer_sparse(EmitCu *e, OpId o)
{
    const Module *m = e->c.m;
    const Op *op = &m->ops.v[o];
    const CWeight *c = &e->c.cw.v[e->sparse_cw[o] - 1];
    const TensorType *w = ir_type(m, ir_operand(m, op, 1)), *x = ir_type(m, ir_operand(m, op, 0));
    int format = (int)((const float *)c->data)[0];
    char what[160], batch[256], plane[256], d[64];
    snprintf(what, sizeof what, "sparse %s, packed at compile time (%zu floats): a warp per output over its row's %s",
             sparse_format_name(format), c->count, format == NDLRT_SPARSE_CSR ? "nonzeros" : "groups");
    if (op->kind == OP_LINEAR) {
        emitcu_prod(e, x, 0, x->rank - 1, batch, sizeof batch);
        snprintf(plane, sizeof plane, "1");
    } else { /* 1x1, stride 1, no padding: the plane is the image's */
        unsigned b = x->rank == 4;
        snprintf(batch, sizeof batch, "%s", b ? D(e, x->dims[0], d) : "1");
        emitcu_prod(e, x, b + 1, x->rank, plane, sizeof plane);
    }
    signature(e, o, what);
    epilogue_init(e, o, ir_operand(m, op, 2) != 0);
    P("    const NdlcuSparse p = {%s, %s, %" PRId64 ", %" PRId64 ", %s, a1 /* m->%s */, a0, y, ep};\n",
      format == NDLRT_SPARSE_CSR ? "NDLRT_SPARSE_CSR" : "NDLRT_SPARSE_NM", batch, w->dims[0], w->dims[1], plane, c->name);
    P("    return ndlcu_sparse(&p, st);\n}\n\n");
}

static void layer_linear(EmitCu *e, OpId o)
{
    const Module *m = e->c.m;
    const Op *op = &m->ops.v[o];
    if (e->sparse_cw[o]) {
        layer_sparse(e, o);
        return;
    }
    const TensorType *w = ir_type(m, ir_operand(m, op, 1)), *x = ir_type(m, ir_operand(m, op, 0));
    char rows[256];
    emitcu_prod(e, x, 0, x->rank - 1, rows, sizeof rows);
    SymId dyn = row_symbol(m, x);
    signature(e, o, dyn ? "f32 on the run-time rows of a moe expert or recurse step" : "tensor cores, TF32");
    epilogue_init(e, o, ir_operand(m, op, 2) != 0);
    P("    const NdlcuGemm p = {%s, %" PRId64 ", %" PRId64 ", a0, %" PRId64 ", a1, %" PRId64 ", 1, y, %" PRId64
      ", 1, {1}, {0}, {0}, {0}, ep};\n", rows, w->dims[0], w->dims[1], w->dims[1], w->dims[1], w->dims[0]);
    if (dyn) {
        char per[256];
        emitcu_prod(e, x, 1, x->rank - 1, per, sizeof per);
        P("    return ndlcu_gemm_rows(&p, rows + %u /* %s */, %s, st);\n}\n\n", dyn - 1, m->syms.v[dyn].name, per);
        return;
    }
    P("    return ndlcu_gemm<true>(&p, st);\n}\n\n");
}

static void layer_conv(EmitCu *e, OpId o)
{
    const Module *m = e->c.m;
    const Op *op = &m->ops.v[o];
    if (e->sparse_cw[o]) {
        layer_sparse(e, o);
        return;
    }
    const TensorType *x = ir_type(m, ir_operand(m, op, 0)), *w = ir_type(m, ir_operand(m, op, 1));
    const TensorType *y = ir_type(m, op->out);
    const int64_t *st = ir_op_ints(m, op, ATTR_STRIDE, NULL), *pd = ir_op_ints(m, op, ATTR_PAD, NULL);
    const int64_t *dl = ir_op_ints(m, op, ATTR_DILATION, NULL);
    unsigned b = x->rank == 4;
    char d[6][64];
    signature(e, o, "implicit GEMM on tensor cores, TF32");
    epilogue_init(e, o, ir_operand(m, op, 2) != 0);
    P("    const NdlcuConv p = {%s, %s, %s, %s, %" PRId64 ", %" PRId64 ", %" PRId64 ", %s, %s, %" PRId64 ", %" PRId64
      ", %" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 ", a0, a1, y, ep};\n",
      b ? D(e, x->dims[0], d[0]) : "1", D(e, x->dims[b], d[1]), D(e, x->dims[b + 1], d[2]), D(e, x->dims[b + 2], d[3]),
      w->dims[0], w->dims[2], w->dims[3], D(e, y->dims[b + 1], d[4]), D(e, y->dims[b + 2], d[5]), st[0], st[1], pd[0],
      pd[1], dl[0], dl[1], ir_op_int(m, op, ATTR_GROUPS));
    P("    return ndlcu_conv2d(&p, st);\n}\n\n");
}

static void layer_pool(EmitCu *e, OpId o)
{
    const Module *m = e->c.m;
    const Op *op = &m->ops.v[o];
    const TensorType *x = ir_type(m, ir_operand(m, op, 0)), *y = ir_type(m, op->out);
    unsigned b = x->rank == 4;
    const int64_t *k = ir_op_ints(m, op, ATTR_KERNEL, NULL), *st = ir_op_ints(m, op, ATTR_STRIDE, NULL);
    const int64_t *pd = ir_op_ints(m, op, ATTR_PAD, NULL);
    char d[6][64];
    signature(e, o, "");
    P("    const NdlcuPool p = {%s, %s, %s, %s, %s, %s, %" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64
      ", %" PRId64 ", %d};\n",
      b ? D(e, x->dims[0], d[0]) : "1", D(e, x->dims[b], d[1]), D(e, x->dims[b + 1], d[2]), D(e, x->dims[b + 2], d[3]),
      D(e, y->dims[b + 1], d[4]), D(e, y->dims[b + 2], d[5]), k[0], k[1], st[0], st[1], pd[0], pd[1],
      op->kind == OP_MAX_POOL2D);
    P("    return ndlcu_pool(&p, a0, y, st);\n}\n\n");
}

static void layer_batch_norm(EmitCu *e, OpId o)
{
    const Module *m = e->c.m;
    const Op *op = &m->ops.v[o];
    const TensorType *x = ir_type(m, ir_operand(m, op, 0));
    char n[256], c[64], in[256];
    emitcu_prod(e, x, 0, 1, n, sizeof n);
    D(e, x->dims[1], c);
    emitcu_prod(e, x, 2, x->rank, in, sizeof in);
    signature(e, o, "");
    P("    return ndlcu_batch_norm(%s, %s, %s, a0, a1, a2, a3, a4, %s, y, st);\n}\n\n", n, c, in,
      F(ir_op_float(m, op, ATTR_EPS)));
}

static void layer_norm(EmitCu *e, OpId o)
{
    const Module *m = e->c.m;
    const Op *op = &m->ops.v[o];
    const TensorType *x = ir_type(m, ir_operand(m, op, 0));
    char rows[256], d[64];
    emitcu_prod(e, x, 0, x->rank - 1, rows, sizeof rows);
    D(e, x->dims[x->rank - 1], d);
    signature(e, o, "");
    P("    return ndlcu_norm(%s, %s, %d, a0, a1, %s, %s, y, st);\n}\n\n", rows, d, op->kind == OP_RMS_NORM,
      op->kind == OP_LAYER_NORM ? "a2" : "NULL", F(ir_op_float(m, op, ATTR_EPS)));
}

static void layer_attention(EmitCu *e, OpId o)
{
    const Module *m = e->c.m;
    const Op *op = &m->ops.v[o];
    const TensorType *q = ir_type(m, ir_operand(m, op, 0)), *k = ir_type(m, ir_operand(m, op, 1));
    const TensorType *v = ir_type(m, ir_operand(m, op, 2)), *y = ir_type(m, op->out);
    char batch[256], qs[256], ks[256], vs[256], ys[256], d[4][64];
    emitcu_prod(e, y, 0, y->rank - 2, batch, sizeof batch);
    head_stride(e, q, y, qs, sizeof qs);
    head_stride(e, k, y, ks, sizeof ks);
    head_stride(e, v, y, vs, sizeof vs);
    emitcu_prod(e, y, y->rank - 2, y->rank, ys, sizeof ys);
    signature(e, o, "a warp per query row, online softmax");
    P("    const NdlcuAttention p = {%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %d};\n", batch,
      D(e, q->dims[q->rank - 2], d[0]), D(e, k->dims[k->rank - 2], d[1]), D(e, q->dims[q->rank - 1], d[2]),
      D(e, v->dims[v->rank - 1], d[3]), qs, ks, vs, ys, F(ir_op_float(m, op, ATTR_SCALE)),
      (int)ir_op_int(m, op, ATTR_CAUSAL));
    P("    return ndlcu_attention(&p, a0, a1, a2, y, st);\n}\n\n");
}

static void layer_permute(EmitCu *e, OpId o)
{
    const Module *m = e->c.m;
    const Op *op = &m->ops.v[o];
    signature(e, o, "");
    permute_into(e, ir_type(m, ir_operand(m, op, 0)), ir_op_ints(m, op, ATTR_PERM, NULL), "a0", "y");
    P("    return 0;\n}\n\n");
}

static void layer_slice(EmitCu *e, OpId o)
{
    const Module *m = e->c.m;
    const Op *op = &m->ops.v[o];
    const TensorType *x = ir_type(m, ir_operand(m, op, 0)), *y = ir_type(m, op->out);
    const int64_t *b = ir_op_ints(m, op, ATTR_BEGIN, NULL), *st = ir_op_ints(m, op, ATTR_STEP, NULL);
    char xs[IR_MAX_RANK][EMITC_EXPR_LEN], in[IR_MAX_RANK][EMITC_EXPR_LEN], off[2048] = "0";
    bstrides(e, x, x, xs);
    for (unsigned i = 0; i < x->rank; i++) {
        if (snprintf(in[i], sizeof in[i], "%" PRId64 "*%s", st[i], xs[i]) >= (int)sizeof in[i])
            emitc_expr_too_long(e->c.err, sizeof e->c.err);
        size_t n = strlen(off);
        if (b[i] && snprintf(off + n, sizeof off - n, " + %" PRId64 "*%s", b[i], xs[i]) >= (int)(sizeof off - n))
            emitc_expr_too_long(e->c.err, sizeof e->c.err);
    }
    signature(e, o, "");
    copy_struct(e, y, in, off, y, "0");
    P("    return ndlcu_copy(&p, sizeof *a0, a0, y, st);\n}\n\n");
}

static void layer_concat(EmitCu *e, OpId o)
{
    const Module *m = e->c.m;
    const Op *op = &m->ops.v[o];
    const TensorType *y = ir_type(m, op->out);
    unsigned ax = (unsigned)ir_op_int(m, op, ATTR_DIM);
    char at[1024] = "0", inner[256], len[256];
    emitcu_prod(e, y, ax + 1, y->rank, inner, sizeof inner);
    signature(e, o, "");
    for (unsigned k = 0; k < op->nin; k++) {
        const TensorType *t = ir_type(m, ir_operand(m, op, k));
        char ts[IR_MAX_RANK][EMITC_EXPR_LEN], off[1400];
        bstrides(e, t, t, ts);
        snprintf(off, sizeof off, "(%s) * %s", at, inner);
        P("    {\n");
        copy_struct(e, t, ts, "0", y, off);
        P("    int rc = ndlcu_copy(&p, sizeof *a%u, a%u, y, st);\n    if (rc) return rc;\n    }\n", k, k);
        emitcu_prod(e, t, ax, ax + 1, len, sizeof len);
        size_t l = strlen(at);
        if (snprintf(at + l, sizeof at - l, " + %s", len) >= (int)(sizeof at - l))
            emitc_expr_too_long(e->c.err, sizeof e->c.err);
    }
    P("    return 0;\n}\n\n");
}

static void layer_gather(EmitCu *e, OpId o)
{
    const Module *m = e->c.m;
    const Op *op = &m->ops.v[o];
    const TensorType *ids = ir_type(m, ir_operand(m, op, op->kind == OP_EMBEDDING ? 0 : 1));
    const TensorType *tab = ir_type(m, ir_operand(m, op, op->kind == OP_EMBEDDING ? 1 : 0));
    char n[256], tn[256], d[64];
    emitcu_prod(e, ids, 0, ids->rank, n, sizeof n);
    signature(e, o, "");
    if (op->kind == OP_EMBEDDING)
        P("    return ndlcu_embedding(%s, a0, %d, %s, %s, a1, y, bad, st);\n}\n\n", n, ids->dtype == DT_I64,
          D(e, tab->dims[0], d), D(e, tab->dims[1], tn));
    else
        P("    return ndlcu_take(%s, a1, %d, %s, a0, y, bad, st);\n}\n\n", n, ids->dtype == DT_I64,
          emitcu_prod(e, tab, 0, tab->rank, tn, sizeof tn));
}

static void layer_kron(EmitCu *e, OpId o)
{
    const Module *m = e->c.m;
    const Op *op = &m->ops.v[o];
    const TensorType *a = ir_type(m, ir_operand(m, op, 0)), *b = ir_type(m, ir_operand(m, op, 1));
    const TensorType *y = ir_type(m, op->out);
    char as[IR_MAX_RANK][EMITC_EXPR_LEN], bs[IR_MAX_RANK][EMITC_EXPR_LEN], n[256];
    bstrides(e, a, a, as);
    bstrides(e, b, b, bs);
    signature(e, o, "");
    P("    const NdlcuKron p = {%u, ", y->rank);
    dims_list(e, y);
    P(", ");
    dims_list(e, b);
    P(", ");
    list(e, as, a->rank);
    P(", ");
    list(e, bs, b->rank);
    P("};\n    return ndlcu_kron(%s, &p, a0, a1, y, st);\n}\n\n", numel(e, op->out, n));
}

static void layer_hashed(EmitCu *e, OpId o)
{
    const Module *m = e->c.m;
    const Op *op = &m->ops.v[o];
    char n[256], np[256];
    const TensorType *pool = ir_type(m, ir_operand(m, op, 0));
    signature(e, o, "");
    P("    return ndlcu_hashed(%s, a0, %s, %" PRId64 "u, y, st);\n}\n\n", numel(e, op->out, n),
      emitcu_prod(e, pool, 0, pool->rank, np, sizeof np), ir_op_int(m, op, ATTR_SEED));
}

static void layer_hash_route(EmitCu *e, OpId o)
{
    const Module *m = e->c.m;
    const Op *op = &m->ops.v[o];
    char n[256];
    signature(e, o, "");
    P("    return ndlcu_hash_route(%s, a0, %d, %" PRId64 ", %" PRId64 "u, y, st);\n}\n\n", numel(e, op->out, n),
      ir_type(m, ir_operand(m, op, 0))->dtype == DT_I64, ir_op_int(m, op, ATTR_NUM), ir_op_int(m, op, ATTR_SEED));
}

/* a reshape with its own storage (never: views are aliases) - kept for the table */
static void layer_reshape(EmitCu *e, OpId o)
{
    char n[256];
    signature(e, o, "copy");
    P("    return ndlcu_status(cudaMemcpyAsync(y, a0, (size_t)(%s) * sizeof *y, cudaMemcpyDeviceToDevice, st));\n}\n\n",
      numel(e, e->c.m->ops.v[o].out, n));
}

/* ---- mixture of experts (spec 8.4) and recurse (spec 8.3): ndlcu.cuh's run-time rows ------------
 * The scratch holds T int64 flags that become each row's place among the selected (-1: not
 * selected), and for a scatter its own count after them; a gather stores the count in rows[]. */

static void layer_moe_route(EmitCu *e, OpId o)
{
    const Module *m = e->c.m;
    const Op *op = &m->ops.v[o];
    const TensorType *g = ir_type(m, op->out);
    char d[64];
    signature(e, o, "a thread per token");
    P("    return ndlcu_moe_route(%s, %" PRId64 ", a0, %d, %" PRId64 ", %s, %d, %d, y, scratch, st);\n}\n\n",
      D(e, g->dims[0], d), g->dims[1], (int)ir_op_int(m, op, ATTR_POLICY), ir_op_int(m, op, ATTR_K),
      F(ir_op_float(m, op, ATTR_P)), (int)ir_op_int(m, op, ATTR_RENORM), (int)ir_op_int(m, op, ATTR_SOFTMAX));
}

static void layer_moe_assign(EmitCu *e, OpId o)
{
    const Module *m = e->c.m;
    const Op *op = &m->ops.v[o];
    const TensorType *g = ir_type(m, op->out);
    char d[64];
    signature(e, o, "");
    P("    return ndlcu_moe_assign(%s, %" PRId64 ", a0, %d, y, bad, st);\n}\n\n", D(e, g->dims[0], d), g->dims[1],
      ir_type(m, ir_operand(m, op, 0))->dtype == DT_I64);
}

/* The expert's rows to the front of y (all T reserved), their count into rows[]. */
static void layer_moe_gather(EmitCu *e, OpId o)
{
    const Module *m = e->c.m;
    const Op *op = &m->ops.v[o];
    const TensorType *x = ir_type(m, ir_operand(m, op, 0)), *g = ir_type(m, ir_operand(m, op, 1));
    SymId r = ir_dim_expr(m, ir_op_int(m, op, ATTR_ROWS))->sym[0];
    int64_t ex = ir_op_int(m, op, ATTR_EXPERT);
    char T[64];
    D(e, x->dims[0], T);
    signature(e, o, "the expert's rows, counted on the device");
    P("    int64_t *row = (int64_t *)scratch;\n");
    P("    int rc = ndlcu_flag_gate(%s, %" PRId64 ", %" PRId64 ", a1, row, st);\n", T, g->dims[1], ex);
    P("    if (!rc) rc = ndlcu_compact(%s, row, rows + %u, st); /* %s */\n", T, r - 1, m->syms.v[r].name);
    P("    return rc ? rc : ndlcu_rows_gather<float>(%s, %" PRId64 ", a0, row, rows + %u, y, st);\n}\n\n", T, x->dims[1],
      r - 1);
}

static void layer_moe_scatter(EmitCu *e, OpId o)
{
    const Module *m = e->c.m;
    const Op *op = &m->ops.v[o];
    const TensorType *y = ir_type(m, op->out), *g = ir_type(m, ir_operand(m, op, 2));
    int64_t ex = ir_op_int(m, op, ATTR_EXPERT);
    char T[64];
    D(e, y->dims[0], T);
    signature(e, o, "weighted add of the expert's rows");
    P("    int64_t *row = (int64_t *)scratch;\n");
    P("    int rc = ndlcu_flag_gate(%s, %" PRId64 ", %" PRId64 ", a2, row, st);\n", T, g->dims[1], ex);
    P("    if (!rc) rc = ndlcu_compact(%s, row, row + %s, st);\n", T, T);
    P("    return rc ? rc : ndlcu_moe_scatter(%s, %" PRId64 ", %" PRId64 ", %" PRId64 ", a0, a1, a2, row, y, st);\n}\n\n",
      T, y->dims[1], g->dims[1], ex);
}

/* One recurse step: the rows whose depth exceeds the step (an operand, so every step calls
 * the same function) to the front of y, their count into rows[]; a depth outside 0..max
 * sets the error word (the C backend returns NDLRT_EINDEX at once). */
static void layer_recurse_gather(EmitCu *e, OpId o)
{
    const Module *m = e->c.m;
    const Op *op = &m->ops.v[o];
    const TensorType *x = ir_type(m, ir_operand(m, op, 0));
    SymId r = row_symbol(m, ir_type(m, op->out));
    char row[256];
    emitcu_prod(e, x, 1, x->rank, row, sizeof row);
    signature(e, o, "the rows still recursing, counted on the device");
    P("    int64_t *row = (int64_t *)scratch;\n");
    P("    int rc = ndlcu_flag_depth(%" PRId64 ", a1, a2, %" PRId64 ", row, bad, st);\n", x->dims[0],
      ir_op_int(m, op, ATTR_MAX));
    P("    if (!rc) rc = ndlcu_compact(%" PRId64 ", row, rows + %u, st); /* %s */\n", x->dims[0], r - 1,
      m->syms.v[r].name);
    P("    return rc ? rc : ndlcu_rows_gather(%" PRId64 ", %s, a0, row, rows + %u, y, st);\n}\n\n", x->dims[0], row,
      r - 1);
}

static void layer_recurse_scatter(EmitCu *e, OpId o)
{
    const Module *m = e->c.m;
    const Op *op = &m->ops.v[o];
    const TensorType *x = ir_type(m, ir_operand(m, op, 0));
    char row[256];
    emitcu_prod(e, x, 1, x->rank, row, sizeof row);
    signature(e, o, "");
    P("    int64_t *row = (int64_t *)scratch;\n");
    P("    int rc = ndlcu_flag_depth(%" PRId64 ", a2, a3, INT64_MAX, row, (int *)NULL, st);\n", x->dims[0]);
    P("    if (!rc) rc = ndlcu_compact(%" PRId64 ", row, row + %" PRId64 ", st);\n", x->dims[0], x->dims[0]);
    P("    return rc ? rc : ndlcu_recurse_scatter(%" PRId64 ", %s, a0, a1, row, y, st);\n}\n\n", x->dims[0], row);
}

typedef void EmitLayerFn(EmitCu *e, OpId o);

/* NULL: no CUDA kernel yet (emitcu_op_supported refuses the op before anything is written) */
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
    [OP_EMBEDDING] = layer_gather, [OP_TAKE] = layer_gather, [OP_KRON] = layer_kron, [OP_HASHED] = layer_hashed,
    [OP_HASH_ROUTE] = layer_hash_route, [OP_MOE_ROUTE] = layer_moe_route, [OP_MOE_ASSIGN] = layer_moe_assign,
    [OP_MOE_GATHER] = layer_moe_gather, [OP_MOE_SCATTER] = layer_moe_scatter,
    [OP_RECURSE_GATHER] = layer_recurse_gather, [OP_RECURSE_SCATTER] = layer_recurse_scatter,
};

void emitcu_layer(EmitCu *e, OpId o)
{
    const Op *op = &e->c.m->ops.v[o];
    if (!layer_fns[op->kind]) NDLC_ICE("no CUDA layer for '%s' (emitcu_op_supported lets it through)", op_info[op->kind].name);
    layer_fns[op->kind](e, o);
}

bool emitcu_op_supported(const Module *m, OpId o, char *why, size_t len)
{
    const Op *op = &m->ops.v[o];
    switch (op->kind) {
    case OP_MATMUL: {
        const TensorType *a = ir_type(m, ir_operand(m, op, 0)), *b = ir_type(m, ir_operand(m, op, 1));
        if (ir_type(m, op->out)->rank - (a->rank >= 2) - (b->rank >= 2) > 4) {
            snprintf(why, len, "'matmul' with more than 4 batch axes is not supported on --target cuda yet");
            return false;
        }
        return true;
    }
    case OP_ATTENTION: {
        const TensorType *v = ir_type(m, ir_operand(m, op, 2)), *y = ir_type(m, op->out);
        Dim dv = v->dims[v->rank - 1];
        if (dv < 0 || dv > 256) {
            snprintf(why, len, "'attention' with a value width above 256 (or symbolic) is not supported on "
                     "--target cuda yet");
            return false;
        }
        for (int i = 0; i < 3; i++) {
            const TensorType *t = ir_type(m, ir_operand(m, op, (unsigned)i));
            bool all_one = true, same = t->rank == y->rank;
            for (unsigned k = 0; k + 2 < t->rank; k++) {
                all_one &= t->dims[k] == 1;
                if (same) same = t->dims[k] == y->dims[k];
            }
            if (t->rank > 2 && !same && !all_one) {
                snprintf(why, len, "'attention' with partially broadcast batch axes is not supported on --target cuda yet");
                return false;
            }
        }
        return true;
    }
    case OP_EMBEDDING: case OP_TAKE: {
        DType dt = ir_type(m, ir_operand(m, op, op->kind == OP_EMBEDDING ? 1 : 0))->dtype;
        if (dt != DT_F32) {
            snprintf(why, len, "'%s' of a %s table is not supported on --target cuda yet", op_info[op->kind].name,
                     dtype_info[dt].name);
            return false;
        }
        return true;
    }
    default:
        if (layer_fns[op->kind]) return true;
        snprintf(why, len, "'%s' is not supported on --target cuda yet", op_info[op->kind].name);
        return false;
    }
}

/* Why op o, on a run-time row count, cannot run over the reserved maximum rows (false), or
 * true. Its layers see all T rows, the ones past the count zero-filled: that is right when
 * each result row depends only on the same row of its inputs, with the rows on the first
 * axis (frontend/recurse.c checks a recurse body likewise; a moe expert is not checked
 * there, as the CPU backends run it on exactly its rows), and when no kernel reports an
 * index error on a padding row. */
bool emitcu_rows_supported(const Module *m, OpId o, const char *where, char *why, size_t len)
{
    const Op *op = &m->ops.v[o];
    const char *name = op_info[op->kind].name, *problem = NULL;
    bool in_rows = false, any_rows = false;
    for (unsigned i = 0; i <= op->nin; i++) {
        ValueId v = i < op->nin ? ir_operand(m, op, i) : op->out;
        if (!v) continue;
        const TensorType *t = ir_type(m, v);
        for (unsigned k = 0; k < t->rank; k++) {
            if (!emitcu_dim_dynamic(m, t->dims[k])) continue;
            any_rows = true;
            in_rows |= i < op->nin;
            if (k != 0 || !row_symbol(m, t)) problem = "with the rows not alone on the first axis";
        }
    }
    if (!any_rows) return true;
    bool out_rows = row_symbol(m, ir_type(m, op->out)) != 0;
    const TensorType *x = ir_type(m, ir_operand(m, op, 0));
    switch (op->kind) {
    case OP_MOE_ROUTE: case OP_MOE_ASSIGN: case OP_MOE_GATHER: case OP_RECURSE_GATHER:
        if (in_rows) problem = "nested in a moe expert or a recurse body";
        break;
    case OP_MOE_SCATTER: case OP_RECURSE_SCATTER:
        out_rows = true; /* they end the rows */
        if (row_symbol(m, ir_type(m, op->out))) problem = "nested in a moe expert or a recurse body";
        break;
    case OP_SOFTMAX: case OP_LOG_SOFTMAX: case OP_ARGMAX:
        if (ir_op_int(m, op, ATTR_DIM) == 0) problem = "over the row axis";
        break;
    case OP_LAYER_NORM: case OP_RMS_NORM:
        if (x->rank < 2) problem = "over the row axis";
        break;
    case OP_MATMUL: {
        const TensorType *b = ir_type(m, ir_operand(m, op, 1));
        if ((row_symbol(m, x) && x->rank < 2) || (row_symbol(m, b) && b->rank < 3)) problem = "across rows";
        break;
    }
    case OP_ATTENTION:
        for (unsigned i = 0; i < 3; i++)
            if (row_symbol(m, ir_type(m, ir_operand(m, op, i))) && ir_type(m, ir_operand(m, op, i))->rank < 3)
                problem = "across rows";
        break;
    case OP_CONV2D: case OP_MAX_POOL2D: case OP_AVG_POOL2D:
        if (x->rank != 4) problem = "across rows";
        break;
    case OP_SLICE: {
        const int64_t *begin = ir_op_ints(m, op, ATTR_BEGIN, NULL), *step = ir_op_ints(m, op, ATTR_STEP, NULL);
        if (begin[0] != 0 || step[0] != 1) problem = "selecting rows";
        break;
    }
    case OP_EMBEDDING: case OP_TAKE:
        problem = "(an index error would be reported for the padding rows)";
        break;
    default: break;
    }
    if (!problem && !out_rows) problem = "combining rows";
    if (!problem) return true;
    snprintf(why, len, "'%s' %s on the run-time rows of a moe expert or recurse step is not supported %s yet",
             name, problem, where);
    return false;
}

void emitcu_scratch_expr(EmitCu *e, OpId o, char *buf, size_t len)
{
    const Module *m = e->c.m;
    const Op *op = &m->ops.v[o];
    snprintf(buf, len, "0");
    if (op->kind >= OP_REDUCE_SUM && op->kind <= OP_REDUCE_MIN) {
        uint32_t nd;
        const int64_t *dims = ir_op_ints(m, op, ATTR_DIMS, &nd);
        const TensorType *x = ir_type(m, ir_operand(m, op, 0));
        if (nd && dims[nd - 1] - dims[0] + 1 != (int64_t)nd) emitcu_prod(e, x, 0, x->rank, buf, len);
        return;
    }
    char T[64];
    switch (op->kind) {
    case OP_MOE_ROUTE: /* 2 E floats per token */
        snprintf(buf, len, "2*%" PRId64 "*%s", ir_type(m, op->out)->dims[1], D(e, ir_type(m, op->out)->dims[0], T));
        break;
    case OP_MOE_GATHER: case OP_MOE_SCATTER: case OP_RECURSE_GATHER: case OP_RECURSE_SCATTER:
        /* T + 1 int64: the rows' places and a count */
        snprintf(buf, len, "2*(%s + 1)", D(e, ir_type(m, ir_operand(m, op, op->kind == OP_MOE_SCATTER ? 2 : 0))->dims[0], T));
        break;
    default: break;
    }
}
