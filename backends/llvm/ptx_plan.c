/* SPDX-License-Identifier: MIT
 * ptx_plan.c - the launch plan of --emit ptx: which kernel runs each fused group, with
 * which constant parameters, over which buffers, on what grid. No LLVM here: ptx.c turns
 * the plan into NVPTX kernels, the driver puts it in --report, and the host runtime
 * (runtime/cuda/ptxrt.c) reads it back from the comment lines that head the PTX.
 *
 * Same passes, same storage plan (backends/plan.c) as the other backends; this file only
 * lays the plan's storage out (one weight block at byte offsets, 256-byte aligned per
 * tensor; workspace slots whose sizes are expressions) and describes each group head for the device functions of
 * rt/ptx_kernels.c. A size that depends on the model's symbols (`N`, `B*T`) is written as
 * an expression over them (Sz below), which the runtime evaluates once the inputs have
 * bound the symbols: such kernel parameters are passed at launch, grids and workspace slot
 * sizes are computed per run.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <stdarg.h>
#include "../backend.h"
#include "../cuda/emit_impl.h"

enum { PTX_BLOCK = 256, PTX_MAX_GRID = 65535, PTX_ALIGN = 256 };

typedef struct Builder {
    const Module *m;
    Plan plan;
    PtxPlan *p;
    uint64_t *weight_off;    /* per WeightId: offset + 1 in the block, or 0 */
    VEC(char *) texts;       /* every size expression's text made while building, freed at the end */
    char *why;
    size_t whylen;
} Builder;

static uint64_t align_up(uint64_t x) { return (x + PTX_ALIGN - 1) / PTX_ALIGN * PTX_ALIGN; }

/* A size: the constant c, or (e != NULL) an expression over the symbols, with the
 * precedence of its outermost operator so that operands are parenthesized only where needed. */
enum { PREC_ADD = 1, PREC_DIV, PREC_MUL, PREC_ATOM };
typedef struct Sz {
    int64_t c;
    const char *e;
    int prec;
} Sz;

static Sz sz_c(int64_t c) { return (Sz){c, NULL, PREC_ATOM}; }

static const char *sz_text(Builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *sz_text(Builder *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *t = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(t, (size_t)n + 1, fmt, ap);
    va_end(ap);
    vec_push(b->texts, t);
    return t;
}

/* x as an operand: its text, in parentheses when its operator binds looser than min_prec */
static const char *operand(Builder *b, Sz x, int min_prec)
{
    if (!x.e) return sz_text(b, "%" PRId64, x.c);
    return x.prec < min_prec ? sz_text(b, "(%s)", x.e) : x.e;
}

static Sz sz_mul(Builder *b, Sz x, Sz y)
{
    if (!x.e && !y.e) return sz_c(x.c * y.c);
    if ((!x.e && x.c == 0) || (!y.e && y.c == 0)) return sz_c(0);
    if (!x.e && x.c == 1) return y;
    if (!y.e && y.c == 1) return x;
    if (!y.e) { /* the constant first: 16*B */
        Sz t = x;
        x = y;
        y = t;
    }
    return (Sz){0, sz_text(b, "%s*%s", operand(b, x, PREC_DIV), operand(b, y, PREC_MUL)), PREC_MUL};
}

static Sz sz_add(Builder *b, Sz x, Sz y)
{
    if (!x.e && !y.e) return sz_c(x.c + y.c);
    if (!x.e && x.c == 0) return y;
    if (!y.e && y.c == 0) return x;
    return (Sz){0, sz_text(b, "%s+%s", operand(b, x, PREC_ADD), operand(b, y, PREC_ADD)), PREC_ADD};
}

/* ceil(x / d) for a constant d > 0 */
static Sz sz_ceil_div(Builder *b, Sz x, int64_t d)
{
    if (!x.e) return sz_c((x.c + d - 1) / d);
    if (d == 1) return x;
    return (Sz){0, sz_text(b, "(%s+%" PRId64 ")/%" PRId64, x.e, d - 1, d), PREC_DIV};
}

static Sz sz_max(Builder *b, Sz x, Sz y)
{
    if (!x.e && !y.e) return sz_c(x.c > y.c ? x.c : y.c);
    if (!x.e && x.c == 0) return y;
    if (!y.e && y.c == 0) return x;
    if (x.e && y.e && strcmp(x.e, y.e) == 0) return x;
    return (Sz){0, sz_text(b, "max(%s,%s)", operand(b, x, 0), operand(b, y, 0)), PREC_ATOM};
}

/* a dimension: coef * symbols, by the symbols' names; a row count known only on the device
 * (a dynamic symbol: an expert's or a recurse step's rows) at its maximum, which the
 * kernels on those rows run over (rt/ptx_kernels.c, "run-time row counts") */
static Sz sz_dim(Builder *b, Dim d)
{
    if (d >= 0) return sz_c(d);
    const DimExpr *x = ir_dim_expr(b->m, d);
    Sz r = sz_c(x->coef);
    for (unsigned i = 0; i < x->nsym; i++) {
        const Symbol *sym = &b->m->syms.v[x->sym[i]];
        r = sz_mul(b, r, sym->dynamic ? sz_dim(b, sym->max) : (Sz){0, sym->name, PREC_ATOM});
    }
    return r;
}

/* the size as plan text, malloc'd: a number or the expression */
static char *sz_dup(Builder *b, Sz x) { return xstrdup(operand(b, x, 0)); }

static Sz numel(Builder *b, const TensorType *t, unsigned from, unsigned to)
{
    Sz n = sz_c(1);
    for (unsigned i = from; i < to; i++) n = sz_mul(b, n, sz_dim(b, t->dims[i]));
    return n;
}

static Sz value_bytes(Builder *b, ValueId v)
{
    const TensorType *t = ir_type(b->m, v);
    return sz_mul(b, numel(b, t, 0, t->rank), sz_c((int64_t)dtype_info[t->dtype].size));
}

static PtxArg arg_of(Builder *b, ValueId v)
{
    if (!v) return (PtxArg){PTX_NULL, 0, 0};
    const ValuePlan *vp = &b->plan.v[plan_root(&b->plan, v)];
    switch (vp->kind) {
    case ST_INPUT: return (PtxArg){PTX_INPUT, vp->index, 0};
    case ST_OUTPUT: return (PtxArg){PTX_OUTPUT, vp->index, 0};
    case ST_WS: return (PtxArg){PTX_WS, vp->index, 0};
    case ST_WEIGHT: {
        if (!b->weight_off[vp->index]) {
            const Weight *w = &b->m->weights.v[vp->index];
            PtxWeightAt at = {vp->index, b->p->weight_bytes, w->nbytes};
            vec_push(b->p->weights, at);
            b->weight_off[vp->index] = b->p->weight_bytes + 1;
            b->p->weight_bytes = align_up(b->p->weight_bytes + w->nbytes);
        }
        return (PtxArg){PTX_WEIGHT, 0, b->weight_off[vp->index] - 1};
    }
    default: NDLC_ICE("value %%%u has no storage for --emit ptx", v);
    }
}

/* The epilogue of head o's group (passes/fuse.c: act, residual add, act2), its result. */
typedef struct Group {
    int64_t act, act2;
    ValueId residual, result;
    bool members;
} Group;

static int64_t act_of(OpKind k)
{
    switch (k) {
#define EW1(K, name, expr) case OP_##K: return NDLRT_ACT_##K;
#include "../../ir/eltwise.def"
#undef EW1
    default: return 0;
    }
}

static Group group_of(const Module *m, OpId o)
{
    Group g = {.result = m->ops.v[o].out};
    bool after_add = false;
    for (OpId k = o + 1; k < m->ops.n; k++) {
        const Op *op = &m->ops.v[k];
        if (op->group != o || (op->flags & OPF_DEAD)) continue;
        g.members = true;
        if (op_info[op->kind].flags & OPF_EW1) {
            if (after_add || g.act) g.act2 = act_of(op->kind);
            else g.act = act_of(op->kind);
        } else if (op->kind == OP_ADD) {
            ValueId a = ir_operand(m, op, 0), c = ir_operand(m, op, 1);
            g.residual = a == g.result ? c : a;
            after_add = true;
        } else {
            NDLC_ICE("op %u fused into %u is not an epilogue", k, o);
        }
        g.result = op->out;
    }
    return g;
}

static bool refuse(Builder *b, const char *fmt, const char *what)
{
    snprintf(b->why, b->whylen, fmt, what);
    return false;
}

static void param(PtxKernel *k, int64_t x)
{
    if (k->nparams >= PTX_MAX_PARAMS) NDLC_ICE("too many parameters for a ptx kernel");
    k->params[k->nparams++] = x;
}

/* a size parameter: folded into the kernel when constant, else passed at launch */
static void psz(Builder *b, PtxKernel *k, Sz x)
{
    param(k, x.c);
    if (!x.e) return;
    k->params[k->nparams - 1] = 0;
    k->param_expr[k->nparams - 1] = sz_dup(b, x);
    k->nsized++;
}

static void arg(Builder *b, PtxKernel *k, ValueId v)
{
    if (k->nargs >= PTX_MAX_ARGS) NDLC_ICE("too many tensors for a ptx kernel");
    k->args[k->nargs++] = arg_of(b, v);
}

static int64_t float_bits(double x)
{
    int64_t w;
    memcpy(&w, &x, sizeof w);
    return w;
}

/* element strides of t per axis of out (right-aligned, 0 where broadcast), into s[8] */
static void bstrides(Builder *b, const TensorType *t, const TensorType *out, Sz *s)
{
    unsigned off = out->rank - t->rank;
    Sz known = sz_c(1);
    for (int i = (int)out->rank - 1; i >= 0; i--) {
        if (i < (int)off || t->dims[i - off] == 1) {
            s[i] = sz_c(0);
            continue;
        }
        s[i] = known;
        known = sz_mul(b, known, sz_dim(b, t->dims[i - off]));
    }
}

static bool all_f32(const Module *m, const Op *op)
{
    for (unsigned i = 0; i < op->nin; i++) {
        ValueId v = ir_operand(m, op, i);
        if (v && ir_type(m, v)->dtype != DT_F32) return false;
    }
    return ir_type(m, op->out)->dtype == DT_F32;
}

static int64_t dtype_code(DType dt) { return dt == DT_F32 ? 0 : dt == DT_I32 ? 1 : dt == DT_I64 ? 2 : 3; }

/* the run's error word (an index out of range): one int32 word in a slot of its own,
 * passed to kernel k as its next tensor */
static void error_arg(Builder *b, PtxKernel *k)
{
    if (!b->p->has_error) {
        b->p->has_error = true;
        b->p->error_slot = b->p->slot_bytes.n;
        vec_push(b->p->slot_bytes, xstrdup("4"));
    }
    if (k->nargs >= PTX_MAX_ARGS) NDLC_ICE("too many tensors for a ptx kernel");
    k->args[k->nargs++] = (PtxArg){PTX_WS, b->p->error_slot, 0};
}

/* The ops whose operands are not all f32 (cast, argmax, embedding, take, hash_route) and
 * those of run-time row counts (moe routing, gathers and scatters; recurse steps). */
static bool describe_typed(Builder *b, OpId o, PtxKernel *k, Sz *work)
{
    const Module *m = b->m;
    const Op *op = &m->ops.v[o];
    const char *name = op_info[op->kind].name;
    ValueId first = ir_operand(m, op, 0); /* moe_scatter's accumulator may be absent */
    const TensorType *y = ir_type(m, op->out), *x = first ? ir_type(m, first) : y;
    *work = numel(b, y, 0, y->rank);
    for (unsigned i = 0; i < op->nin; i++) arg(b, k, ir_operand(m, op, i));
    switch (op->kind) {
    case OP_CAST:
        k->device_fn = "ndlptx_cast";
        psz(b, k, *work);
        param(k, dtype_code(x->dtype));
        param(k, dtype_code(y->dtype));
        break;
    case OP_ARGMAX: {
        if (x->dtype != DT_F32) return refuse(b, "'%s' of other than f32 tensors is not supported for --emit ptx yet", name);
        int64_t d = ir_op_int(m, op, ATTR_DIM);
        unsigned from = d < 0 ? 0 : (unsigned)d, to = d < 0 ? x->rank : (unsigned)d + 1;
        k->device_fn = "ndlptx_argmax";
        psz(b, k, numel(b, x, 0, from));
        psz(b, k, numel(b, x, from, to));
        psz(b, k, numel(b, x, to, x->rank));
        break;
    }
    case OP_EMBEDDING: case OP_TAKE: {
        bool take = op->kind == OP_TAKE;
        const TensorType *ids = ir_type(m, ir_operand(m, op, take ? 1 : 0));
        const TensorType *tab = ir_type(m, ir_operand(m, op, take ? 0 : 1));
        if (tab->dtype != DT_F32)
            return refuse(b, "'%s' of a non-f32 table is not supported for --emit ptx yet", name);
        k->device_fn = "ndlptx_gather";
        param(k, take);
        psz(b, k, *work);
        param(k, ids->dtype == DT_I64);
        psz(b, k, take ? numel(b, tab, 0, tab->rank) : sz_dim(b, tab->dims[0]));
        psz(b, k, take ? sz_c(1) : sz_dim(b, tab->dims[1]));
        error_arg(b, k);
        break;
    }
    case OP_MOE_ROUTE: {
        const TensorType *g = ir_type(m, op->out);
        *work = sz_dim(b, g->dims[0]);
        k->device_fn = "ndlptx_moe_route";
        psz(b, k, *work);
        psz(b, k, sz_dim(b, g->dims[1]));
        param(k, ir_op_int(m, op, ATTR_POLICY));
        param(k, ir_op_int(m, op, ATTR_K));
        param(k, float_bits(ir_op_float(m, op, ATTR_P)));
        param(k, ir_op_int(m, op, ATTR_RENORM));
        param(k, ir_op_int(m, op, ATTR_SOFTMAX));
        break;
    }
    case OP_MOE_ASSIGN:
        k->device_fn = "ndlptx_moe_assign";
        psz(b, k, *work);
        param(k, ir_op_int(m, op, ATTR_NUM));
        param(k, x->dtype == DT_I64);
        error_arg(b, k);
        break;
    case OP_MOE_GATHER: case OP_MOE_SCATTER: {
        const TensorType *g = ir_type(m, ir_operand(m, op, op->kind == OP_MOE_GATHER ? 1 : 2));
        *work = sz_dim(b, y->dims[1]);
        k->device_fn = op->kind == OP_MOE_GATHER ? "ndlptx_moe_gather" : "ndlptx_moe_scatter";
        psz(b, k, *work);
        psz(b, k, sz_dim(b, g->dims[0]));
        psz(b, k, sz_dim(b, g->dims[1]));
        param(k, ir_op_int(m, op, ATTR_EXPERT));
        break;
    }
    case OP_RECURSE_GATHER: case OP_RECURSE_SCATTER: {
        bool scatter = op->kind == OP_RECURSE_SCATTER;
        const TensorType *depth = ir_type(m, ir_operand(m, op, scatter ? 2 : 1));
        const TensorType *step = ir_type(m, ir_operand(m, op, scatter ? 3 : 2));
        *work = numel(b, x, 1, x->rank);
        k->device_fn = "ndlptx_recurse";
        param(k, scatter);
        psz(b, k, *work);
        psz(b, k, sz_dim(b, x->dims[0]));
        param(k, (int64_t)dtype_info[x->dtype].size);
        param(k, depth->dtype == DT_I64);
        param(k, step->dtype == DT_I64);
        param(k, scatter ? 0 : ir_op_int(m, op, ATTR_MAX));
        if (!scatter) error_arg(b, k);
        break;
    }
    default: /* OP_HASH_ROUTE */
        k->device_fn = "ndlptx_hash";
        param(k, 1);
        psz(b, k, *work);
        param(k, ir_op_int(m, op, ATTR_NUM));
        param(k, ir_op_int(m, op, ATTR_SEED));
        param(k, x->dtype == DT_I64);
        break;
    }
    arg(b, k, op->out);
    return true;
}

/* Fills k for head o: its device function, parameters and tensors; *work is the number of
 * threads the work needs (output elements, or rows), *tiles (when not negative) the blocks
 * of a tiled kernel. False: not supported yet. */
static bool describe(Builder *b, OpId o, PtxKernel *k, Sz *work, Sz *tiles)
{
    const Module *m = b->m;
    const Op *op = &m->ops.v[o];
    const char *name = op_info[op->kind].name;
    Group g = group_of(m, o);
    const TensorType *y = ir_type(m, g.result);
    const TensorType *x = op->nin ? ir_type(m, ir_operand(m, op, 0)) : y;
    bool copies = op->kind == OP_PERMUTE || op->kind == OP_SLICE || op->kind == OP_CONCAT || op->kind == OP_RESHAPE;
    switch (op->kind) {
    case OP_CAST: case OP_ARGMAX: case OP_EMBEDDING: case OP_TAKE: case OP_HASH_ROUTE:
    case OP_MOE_ROUTE: case OP_MOE_ASSIGN: case OP_MOE_GATHER: case OP_MOE_SCATTER:
    case OP_RECURSE_GATHER: case OP_RECURSE_SCATTER:
        return describe_typed(b, o, k, work);
    default: break;
    }
    if (!copies && !all_f32(m, op)) return refuse(b, "'%s' of other than f32 tensors is not supported for --emit ptx yet", name);
    if (g.members && op->kind != OP_LINEAR && op->kind != OP_CONV2D) NDLC_ICE("'%s' heads a fused group", name);
    *work = numel(b, y, 0, y->rank);
    for (unsigned i = 0; i < op->nin; i++) arg(b, k, ir_operand(m, op, i));
    if (op_info[op->kind].flags & OPF_EW1) {
        k->device_fn = "ndlptx_unary";
        psz(b, k, *work);
        param(k, act_of(op->kind));
    } else {
        switch (op->kind) {
        case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: {
            Sz sa[8], sb[8];
            bstrides(b, ir_type(m, ir_operand(m, op, 0)), y, sa);
            bstrides(b, ir_type(m, ir_operand(m, op, 1)), y, sb);
            k->device_fn = "ndlptx_binary";
            psz(b, k, *work);
            param(k, op->kind == OP_ADD ? 0 : op->kind == OP_SUB ? 1 : op->kind == OP_MUL ? 2 : 3);
            param(k, y->rank);
            for (unsigned i = 0; i < 8; i++) psz(b, k, i < y->rank ? sz_dim(b, y->dims[i]) : sz_c(1));
            for (unsigned i = 0; i < 8; i++) psz(b, k, i < y->rank ? sa[i] : sz_c(0));
            for (unsigned i = 0; i < 8; i++) psz(b, k, i < y->rank ? sb[i] : sz_c(0));
            break;
        }
        case OP_LINEAR: {
            const TensorType *w = ir_type(m, ir_operand(m, op, 1));
            /* a block per 16 x 16 tile of y (rt/ptx_kernels.c) */
            Sz rows = numel(b, x, 0, x->rank - 1);
            k->device_fn = "ndlptx_linear_tiled";
            *tiles = sz_mul(b, sz_ceil_div(b, rows, 16), sz_c((w->dims[0] + 15) / 16));
            psz(b, k, rows);
            param(k, w->dims[0]);
            param(k, w->dims[1]);
            param(k, g.act);
            param(k, g.act2);
            param(k, ir_operand(m, op, 2) != 0);
            param(k, g.residual != 0);
            break;
        }
        case OP_CONV2D: {
            const TensorType *w = ir_type(m, ir_operand(m, op, 1));
            const int64_t *st = ir_op_ints(m, op, ATTR_STRIDE, NULL), *pd = ir_op_ints(m, op, ATTR_PAD, NULL);
            const int64_t *dl = ir_op_ints(m, op, ATTR_DILATION, NULL);
            unsigned bt = x->rank == 4;
            Sz v[] = {bt ? sz_dim(b, x->dims[0]) : sz_c(1), sz_dim(b, x->dims[bt]), sz_dim(b, x->dims[bt + 1]),
                      sz_dim(b, x->dims[bt + 2]), sz_c(w->dims[0]), sz_c(w->dims[2]), sz_c(w->dims[3]),
                      sz_dim(b, y->dims[bt + 1]), sz_dim(b, y->dims[bt + 2]), sz_c(st[0]), sz_c(st[1]), sz_c(pd[0]),
                      sz_c(pd[1]), sz_c(dl[0]), sz_c(dl[1]), sz_c(ir_op_int(m, op, ATTR_GROUPS)), sz_c(g.act),
                      sz_c(g.act2), sz_c(ir_operand(m, op, 2) != 0), sz_c(g.residual != 0)};
            k->device_fn = "ndlptx_conv2d";
            for (size_t i = 0; i < sizeof v / sizeof *v; i++) psz(b, k, v[i]);
            break;
        }
        case OP_MATMUL: {
            const TensorType *ta = x, *tb = ir_type(m, ir_operand(m, op, 1));
            Sz M = ta->rank == 1 ? sz_c(1) : sz_dim(b, ta->dims[ta->rank - 2]), K = sz_dim(b, ta->dims[ta->rank - 1]);
            Sz N = tb->rank == 1 ? sz_c(1) : sz_dim(b, tb->dims[tb->rank - 1]);
            /* batch axes: the result's, less the matrix axes; each operand's right-aligned */
            unsigned by = y->rank - (ta->rank >= 2) - (tb->rank >= 2);
            if (by > 4) return refuse(b, "'%s' with more than 4 batch axes is not supported for --emit ptx yet", name);
            TensorType yb = {.rank = (uint8_t)by}, ab = {.rank = 0}, bb = {.rank = 0};
            for (unsigned i = 0; i < by; i++) yb.dims[i] = y->dims[i];
            for (unsigned i = 0; i + 2 < ta->rank; i++) ab.dims[ab.rank++] = ta->dims[i];
            for (unsigned i = 0; i + 2 < tb->rank; i++) bb.dims[bb.rank++] = tb->dims[i];
            Sz sa[8], sb[8];
            bstrides(b, &ab, &yb, sa);
            bstrides(b, &bb, &yb, sb);
            /* a block per 16 x 16 tile of each batch entry (rt/ptx_kernels.c) */
            k->device_fn = "ndlptx_matmul_tiled";
            Sz batch = numel(b, &yb, 0, by);
            *tiles = sz_mul(b, batch, sz_mul(b, sz_ceil_div(b, M, 16), sz_ceil_div(b, N, 16)));
            psz(b, k, batch);
            psz(b, k, M);
            psz(b, k, N);
            psz(b, k, K);
            param(k, by);
            for (unsigned i = 0; i < 4; i++) psz(b, k, i < by ? sz_dim(b, yb.dims[i]) : sz_c(1));
            for (unsigned i = 0; i < 4; i++) psz(b, k, i < by ? sz_mul(b, sa[i], sz_mul(b, M, K)) : sz_c(0));
            for (unsigned i = 0; i < 4; i++) psz(b, k, i < by ? sz_mul(b, sb[i], sz_mul(b, K, N)) : sz_c(0));
            break;
        }
        case OP_ATTENTION: {
            const TensorType *q = x, *kt = ir_type(m, ir_operand(m, op, 1)), *v = ir_type(m, ir_operand(m, op, 2));
            Sz st[3];
            for (int i = 0; i < 3; i++) {
                const TensorType *tt = i == 0 ? q : i == 1 ? kt : v;
                bool all_one = true, same = tt->rank == y->rank;
                for (unsigned a = 0; a + 2 < tt->rank; a++) {
                    all_one &= tt->dims[a] == 1;
                    if (same) same = tt->dims[a] == y->dims[a];
                }
                if (tt->rank > 2 && !same && !all_one)
                    return refuse(b, "'%s' with partially broadcast batch axes is not supported for --emit ptx yet", name);
                st[i] = tt->rank <= 2 || (all_one && !same) ? sz_c(0) : numel(b, tt, tt->rank - 2, tt->rank);
            }
            k->device_fn = "ndlptx_attention";
            psz(b, k, numel(b, y, 0, y->rank - 2));
            psz(b, k, sz_dim(b, q->dims[q->rank - 2]));
            psz(b, k, sz_dim(b, kt->dims[kt->rank - 2]));
            psz(b, k, sz_dim(b, q->dims[q->rank - 1]));
            psz(b, k, sz_dim(b, v->dims[v->rank - 1]));
            psz(b, k, st[0]);
            psz(b, k, st[1]);
            psz(b, k, st[2]);
            param(k, float_bits(ir_op_float(m, op, ATTR_SCALE)));
            param(k, ir_op_int(m, op, ATTR_CAUSAL));
            break;
        }
        case OP_KRON: {
            const TensorType *ta = x, *tb = ir_type(m, ir_operand(m, op, 1));
            Sz sa[8], sb[8];
            bstrides(b, ta, ta, sa);
            bstrides(b, tb, tb, sb);
            k->device_fn = "ndlptx_kron";
            psz(b, k, *work);
            param(k, y->rank);
            for (unsigned i = 0; i < 8; i++) psz(b, k, i < y->rank ? sz_dim(b, y->dims[i]) : sz_c(1));
            for (unsigned i = 0; i < 8; i++) psz(b, k, i < tb->rank ? sz_dim(b, tb->dims[i]) : sz_c(1));
            for (unsigned i = 0; i < 8; i++) psz(b, k, i < ta->rank ? sa[i] : sz_c(0));
            for (unsigned i = 0; i < 8; i++) psz(b, k, i < tb->rank ? sb[i] : sz_c(0));
            break;
        }
        case OP_HASHED:
            k->device_fn = "ndlptx_hash";
            param(k, 0);
            psz(b, k, *work);
            psz(b, k, numel(b, x, 0, x->rank));
            param(k, ir_op_int(m, op, ATTR_SEED));
            param(k, 0);
            break;
        case OP_MAX_POOL2D: case OP_AVG_POOL2D: {
            const int64_t *kk = ir_op_ints(m, op, ATTR_KERNEL, NULL), *st = ir_op_ints(m, op, ATTR_STRIDE, NULL);
            const int64_t *pd = ir_op_ints(m, op, ATTR_PAD, NULL);
            unsigned bt = x->rank == 4;
            Sz v[] = {numel(b, x, 0, bt + 1), sz_dim(b, x->dims[bt + 1]), sz_dim(b, x->dims[bt + 2]),
                      sz_dim(b, y->dims[bt + 1]), sz_dim(b, y->dims[bt + 2]), sz_c(kk[0]), sz_c(kk[1]), sz_c(st[0]),
                      sz_c(st[1]), sz_c(pd[0]), sz_c(pd[1]), sz_c(op->kind == OP_MAX_POOL2D)};
            k->device_fn = "ndlptx_pool";
            for (size_t i = 0; i < sizeof v / sizeof *v; i++) psz(b, k, v[i]);
            break;
        }
        case OP_SOFTMAX: case OP_LOG_SOFTMAX: {
            unsigned d = (unsigned)ir_op_int(m, op, ATTR_DIM);
            k->device_fn = "ndlptx_softmax";
            psz(b, k, numel(b, x, 0, d));
            psz(b, k, sz_dim(b, x->dims[d]));
            psz(b, k, numel(b, x, d + 1, x->rank));
            param(k, op->kind == OP_LOG_SOFTMAX);
            *work = sz_mul(b, numel(b, x, 0, d), numel(b, x, d + 1, x->rank));
            break;
        }
        case OP_REDUCE_SUM: case OP_REDUCE_MEAN: case OP_REDUCE_MAX: case OP_REDUCE_MIN: {
            uint32_t nd;
            const int64_t *dims = ir_op_ints(m, op, ATTR_DIMS, &nd);
            if (nd && dims[nd - 1] - dims[0] + 1 != (int64_t)nd) { /* kept axes index, reduced axes loop */
                bool red[8] = {false};
                Sz xs[8], kd[8], ks[8], rd[8], rs[8];
                unsigned nk = 0, nr = 0;
                for (uint32_t i = 0; i < nd; i++) red[dims[i]] = true;
                bstrides(b, x, x, xs);
                for (unsigned i = 0; i < x->rank; i++) {
                    if (red[i]) rd[nr] = sz_dim(b, x->dims[i]), rs[nr++] = xs[i];
                    else kd[nk] = sz_dim(b, x->dims[i]), ks[nk++] = xs[i];
                }
                k->device_fn = "ndlptx_reduce_axes";
                psz(b, k, *work);
                param(k, op->kind - OP_REDUCE_SUM);
                param(k, nk);
                for (unsigned i = 0; i < 8; i++) psz(b, k, i < nk ? kd[i] : sz_c(1));
                for (unsigned i = 0; i < 8; i++) psz(b, k, i < nk ? ks[i] : sz_c(0));
                param(k, nr);
                for (unsigned i = 0; i < 8; i++) psz(b, k, i < nr ? rd[i] : sz_c(1));
                for (unsigned i = 0; i < 8; i++) psz(b, k, i < nr ? rs[i] : sz_c(0));
                Sz len = sz_c(1);
                for (unsigned i = 0; i < nr; i++) len = sz_mul(b, len, rd[i]);
                psz(b, k, len);
                break;
            }
            unsigned from = nd ? (unsigned)dims[0] : 0, to = nd ? (unsigned)dims[nd - 1] + 1 : x->rank;
            k->device_fn = "ndlptx_reduce";
            psz(b, k, numel(b, x, 0, from));
            psz(b, k, numel(b, x, from, to));
            psz(b, k, numel(b, x, to, x->rank));
            param(k, op->kind - OP_REDUCE_SUM);
            break;
        }
        case OP_LAYER_NORM: case OP_RMS_NORM:
            if (op->kind == OP_RMS_NORM) arg(b, k, 0); /* no bias */
            k->device_fn = "ndlptx_norm";
            psz(b, k, numel(b, x, 0, x->rank - 1));
            psz(b, k, sz_dim(b, x->dims[x->rank - 1]));
            param(k, op->kind == OP_RMS_NORM);
            param(k, float_bits(ir_op_float(m, op, ATTR_EPS)));
            *work = numel(b, x, 0, x->rank - 1);
            break;
        case OP_BATCH_NORM:
            k->device_fn = "ndlptx_batch_norm";
            psz(b, k, sz_dim(b, x->dims[0]));
            psz(b, k, sz_dim(b, x->dims[1]));
            psz(b, k, numel(b, x, 2, x->rank));
            param(k, float_bits(ir_op_float(m, op, ATTR_EPS)));
            break;
        case OP_PERMUTE: case OP_SLICE: case OP_RESHAPE: {
            Sz xs[8], in[8], it[8], off = sz_c(0);
            bstrides(b, x, x, xs);
            const int64_t *perm = op->kind == OP_PERMUTE ? ir_op_ints(m, op, ATTR_PERM, NULL) : NULL;
            const int64_t *bg = op->kind == OP_SLICE ? ir_op_ints(m, op, ATTR_BEGIN, NULL) : NULL;
            const int64_t *st = op->kind == OP_SLICE ? ir_op_ints(m, op, ATTR_STEP, NULL) : NULL;
            unsigned rank = y->rank;
            for (unsigned i = 0; i < 8; i++) it[i] = i < rank ? sz_dim(b, y->dims[i]) : sz_c(1), in[i] = sz_c(0);
            if (op->kind == OP_RESHAPE) { /* a stored copy: the flat index space */
                rank = 1;
                it[0] = *work;
                in[0] = sz_c(1);
            }
            for (unsigned i = 0; op->kind != OP_RESHAPE && i < x->rank; i++) {
                in[i] = perm ? xs[perm[i]] : sz_mul(b, sz_c(st[i]), xs[i]);
                if (bg) off = sz_add(b, off, sz_mul(b, sz_c(bg[i]), xs[i]));
            }
            k->device_fn = "ndlptx_copy";
            psz(b, k, *work);
            param(k, rank ? rank : 1);
            param(k, (int64_t)dtype_info[y->dtype].size);
            psz(b, k, off);
            for (unsigned i = 0; i < 8; i++) psz(b, k, i < rank ? it[i] : sz_c(1));
            for (unsigned i = 0; i < 8; i++) psz(b, k, in[i]);
            break;
        }
        case OP_CONCAT: {
            unsigned ax = (unsigned)ir_op_int(m, op, ATTR_DIM);
            if (op->nin + 6 > PTX_MAX_PARAMS || op->nin + 1 > PTX_MAX_ARGS)
                return refuse(b, "'%s' of more than 15 tensors is not supported for --emit ptx yet", name);
            k->device_fn = "ndlptx_concat";
            psz(b, k, *work);
            psz(b, k, numel(b, y, 0, ax));
            psz(b, k, sz_dim(b, y->dims[ax]));
            psz(b, k, numel(b, y, ax + 1, y->rank));
            param(k, (int64_t)dtype_info[y->dtype].size);
            param(k, op->nin);
            for (unsigned i = 0; i < op->nin; i++) psz(b, k, sz_dim(b, ir_type(m, ir_operand(m, op, i))->dims[ax]));
            break;
        }
        default: return refuse(b, "'%s' is not supported for --emit ptx yet", name);
        }
    }
    if (g.residual) arg(b, k, g.residual);
    arg(b, k, g.result);
    return true;
}

/* <NDL path>_<op>, every other character '_', made unique with _<n> */
static char *kernel_name(const PtxPlan *p, const Module *m, const Op *op)
{
    const char *value = m->values.v[op->out].name;
    const char *path = op->name ? op->name : value ? value : "layer", *kind = op_info[op->kind].name;
    size_t len = strlen(path) + strlen(kind) + 32;
    char *r = xmalloc(len);
    snprintf(r, len, "%.160s_%s", path, kind); /* the runtime reads names of up to 255 bytes */
    for (char *c = r; *c; c++)
        if (!isalnum((unsigned char)*c)) *c = '_';
    size_t base = strlen(r);
    for (unsigned n = 2;; n++) {
        bool taken = false;
        for (uint32_t i = 0; i < p->kernels.n && !taken; i++) taken = strcmp(p->kernels.v[i].name, r) == 0;
        if (!taken) return r;
        snprintf(r + base, len - base, "_%u", n);
    }
}

bool ptx_plan_build(const Module *m, PtxPlan *p, OpId *bad, char *why, size_t len)
{
    memset(p, 0, sizeof *p);
    *bad = 0;
    Builder b = {.m = m, .p = p, .why = why, .whylen = len};
    plan_build(m, &b.plan);
    /* run-time rows run over their maximum: only where no op mixes rows (the CUDA C
     * backend's rule, backends/cuda/emit_ops.c) */
    for (OpId o = 1; o < m->ops.n; o++) {
        if (m->ops.v[o].flags & OPF_DEAD) continue;
        if (!emitcu_rows_supported(m, o, "for --emit ptx", why, len)) {
            *bad = o;
            plan_free(&b.plan);
            return false;
        }
    }
    /* the workspace: each slot as large as its largest value (at the run's sizes) */
    Sz *slot = xcalloc(b.plan.nslots + 1, sizeof *slot);
    for (uint32_t s = 0; s < b.plan.nslots; s++) slot[s] = sz_c(0);
    for (ValueId v = 1; v < m->values.n; v++)
        if (b.plan.v[v].kind == ST_WS) slot[b.plan.v[v].index] = sz_max(&b, slot[b.plan.v[v].index], value_bytes(&b, v));
    for (uint32_t s = 0; s < b.plan.nslots; s++) vec_push(p->slot_bytes, sz_dup(&b, slot[s]));
    free(slot);
    for (uint32_t i = 0; i < m->inputs.n; i++) vec_push(p->input_bytes, sz_dup(&b, value_bytes(&b, m->inputs.v[i].value)));
    for (uint32_t i = 0; i < m->outputs.n; i++)
        vec_push(p->output_bytes, sz_dup(&b, value_bytes(&b, m->outputs.v[i].value)));
    b.weight_off = xcalloc(m->weights.n + 1, sizeof *b.weight_off);
    /* kernels in run order: a group runs where its stored result is defined */
    OpId *head_at = xcalloc(m->ops.n + 1, sizeof *head_at);
    for (OpId h = 1; h < m->ops.n; h++) {
        const Op *op = &m->ops.v[h];
        if ((op->flags & OPF_DEAD) || op->group || b.plan.v[op->out].kind == ST_ALIAS) continue;
        head_at[m->values.v[group_of(m, h).result].def] = h;
    }
    bool ok = true;
    for (OpId o = 1; o < m->ops.n && ok; o++) {
        if (!head_at[o]) continue;
        PtxKernel k = {.op = head_at[o], .block = PTX_BLOCK};
        Sz work = sz_c(0), tiles = sz_c(-1);
        ok = describe(&b, head_at[o], &k, &work, &tiles);
        if (!ok) {
            *bad = head_at[o];
            for (uint32_t i = 0; i < k.nparams; i++) free(k.param_expr[i]);
            break;
        }
        Sz grid = tiles.e || tiles.c >= 0 ? tiles : sz_ceil_div(&b, work, PTX_BLOCK);
        /* a constant grid is clamped here, an expression by the runtime (the kernels are
           grid-stride loops, so a smaller grid only loops more) */
        if (grid.e) k.grid_expr = sz_dup(&b, grid);
        else k.grid = (uint32_t)(grid.c < 1 ? 1 : grid.c > PTX_MAX_GRID ? PTX_MAX_GRID : grid.c);
        k.name = kernel_name(p, m, &m->ops.v[head_at[o]]);
        vec_push(p->kernels, k);
    }
    free(head_at);
    for (uint32_t i = 0; ok && i < m->outputs.n; i++) {
        if (!b.plan.output_copy[i]) continue;
        ValueId v = m->outputs.v[i].value;
        PtxCopy c = {i, arg_of(&b, v), sz_dup(&b, value_bytes(&b, v))};
        vec_push(p->copies, c);
    }
    for (uint32_t i = 0; i < b.texts.n; i++) free(b.texts.v[i]);
    vec_free(b.texts);
    free(b.weight_off);
    plan_free(&b.plan);
    if (!ok) ptx_plan_free(p);
    return ok;
}

void ptx_plan_free(PtxPlan *p)
{
    for (uint32_t i = 0; i < p->kernels.n; i++) {
        PtxKernel *k = &p->kernels.v[i];
        free(k->name);
        free(k->grid_expr);
        for (uint32_t a = 0; a < k->nparams; a++) free(k->param_expr[a]);
    }
    for (uint32_t i = 0; i < p->copies.n; i++) free(p->copies.v[i].bytes);
    for (uint32_t i = 0; i < p->slot_bytes.n; i++) free(p->slot_bytes.v[i]);
    for (uint32_t i = 0; i < p->input_bytes.n; i++) free(p->input_bytes.v[i]);
    for (uint32_t i = 0; i < p->output_bytes.n; i++) free(p->output_bytes.v[i]);
    vec_free(p->kernels);
    vec_free(p->weights);
    vec_free(p->copies);
    vec_free(p->slot_bytes);
    vec_free(p->input_bytes);
    vec_free(p->output_bytes);
}

static void write_arg(FILE *f, PtxArg a)
{
    static const char where[] = {[PTX_NULL] = '-', [PTX_INPUT] = 'i', [PTX_OUTPUT] = 'o', [PTX_WEIGHT] = 'w',
                                 [PTX_WS] = 's'};
    if (a.at == PTX_NULL) fputs(" -", f);
    else fprintf(f, " %c%u+%" PRIu64, where[a.at], a.index, a.offset);
}

void ptx_plan_write(const PtxPlan *p, const Module *m, FILE *f)
{
    SymId nsym = ir_api_symbols(m) - 1;
    fprintf(f, "// ndlc-plan 2 model %s inputs %u outputs %u weights %" PRIu64 " slots %u kernels %u symbols %u\n",
            m->name, m->inputs.n, m->outputs.n, p->weight_bytes, p->slot_bytes.n, p->kernels.n, nsym);
    for (SymId s = 1; s <= nsym; s++)
        fprintf(f, "// ndlc-plan symbol %s %" PRId64 "\n", m->syms.v[s].name, m->syms.v[s].bound);
    for (uint32_t i = 0; i < p->input_bytes.n; i++) fprintf(f, "// ndlc-plan input %u %s\n", i, p->input_bytes.v[i]);
    for (uint32_t i = 0; i < p->output_bytes.n; i++) fprintf(f, "// ndlc-plan output %u %s\n", i, p->output_bytes.v[i]);
    for (uint32_t i = 0; i < p->slot_bytes.n; i++) fprintf(f, "// ndlc-plan slot %u %s\n", i, p->slot_bytes.v[i]);
    for (uint32_t i = 0; i < p->weights.n; i++) {
        const Weight *w = &m->weights.v[p->weights.v[i].weight];
        fprintf(f, "// ndlc-plan weight %s %" PRIu64 " %" PRIu64 "\n", w->key ? w->key : "(computed)",
                p->weights.v[i].offset, p->weights.v[i].bytes);
    }
    for (uint32_t i = 0; i < p->kernels.n; i++) {
        const PtxKernel *k = &p->kernels.v[i];
        fprintf(f, "// ndlc-plan kernel %s ", k->name);
        if (k->grid_expr) fputs(k->grid_expr, f);
        else fprintf(f, "%u", k->grid);
        fprintf(f, " %u %u %u", k->block, k->shared, k->nargs);
        for (uint32_t a = 0; a < k->nargs; a++) write_arg(f, k->args[a]);
        fprintf(f, "\n// ndlc-plan params %s %u", k->device_fn, k->nparams);
        for (uint32_t a = 0; a < k->nparams; a++) {
            if (k->param_expr[a]) fprintf(f, " %s", k->param_expr[a]);
            else fprintf(f, " %" PRId64, k->params[a]);
        }
        fputc('\n', f);
    }
    for (uint32_t i = 0; i < p->copies.n; i++) {
        fprintf(f, "// ndlc-plan copy %u", p->copies.v[i].output);
        write_arg(f, p->copies.v[i].from);
        fprintf(f, " %s\n", p->copies.v[i].bytes);
    }
    if (p->has_error) fprintf(f, "// ndlc-plan error %u\n", p->error_slot);
    fputs("// ndlc-plan end\n", f);
}

bool ptx_sm_valid(const char *sm) { return strcmp(sm, "sm_80") == 0 || strcmp(sm, "sm_90") == 0; }
