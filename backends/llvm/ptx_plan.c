/* SPDX-License-Identifier: MIT
 * ptx_plan.c - the launch plan of --emit ptx: which kernel runs each fused group, with
 * which constant parameters, over which buffers, on what grid. No LLVM here: ptx.c turns
 * the plan into NVPTX kernels, the driver puts it in --report, and the host runtime
 * (runtime/cuda/ptxrt.c) reads it back from the comment lines that head the PTX.
 *
 * Same passes, same storage plan (backends/plan.c) as the other backends; this file only
 * lays the plan's storage out as byte offsets (one weight block, one workspace, both
 * 256-byte aligned per tensor) and describes each group head for the device functions of
 * rt/ptx_kernels.c. Every size must be known: a model with symbolic sizes is refused.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include "../backend.h"

enum { PTX_BLOCK = 256, PTX_MAX_GRID = 65535, PTX_ALIGN = 256 };

typedef struct Builder {
    const Module *m;
    Plan plan;
    PtxPlan *p;
    uint64_t *weight_off;    /* per WeightId: offset + 1 in the block, or 0 */
    uint64_t *slot_off;      /* per workspace slot */
    char *why;
    size_t whylen;
} Builder;

static uint64_t align_up(uint64_t x) { return (x + PTX_ALIGN - 1) / PTX_ALIGN * PTX_ALIGN; }

static int64_t numel(const TensorType *t, unsigned from, unsigned to)
{
    int64_t n = 1;
    for (unsigned i = from; i < to; i++) n *= t->dims[i];
    return n;
}

static PtxArg arg_of(Builder *b, ValueId v)
{
    if (!v) return (PtxArg){PTX_NULL, 0, 0};
    const ValuePlan *vp = &b->plan.v[plan_root(&b->plan, v)];
    switch (vp->kind) {
    case ST_INPUT: return (PtxArg){PTX_INPUT, vp->index, 0};
    case ST_OUTPUT: return (PtxArg){PTX_OUTPUT, vp->index, 0};
    case ST_WS: return (PtxArg){PTX_WS, 0, b->slot_off[vp->index]};
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
static void bstrides(const TensorType *t, const TensorType *out, int64_t *s)
{
    unsigned off = out->rank - t->rank;
    int64_t known = 1;
    for (int i = (int)out->rank - 1; i >= 0; i--) {
        if (i < (int)off || t->dims[i - off] == 1) {
            s[i] = 0;
            continue;
        }
        s[i] = known;
        known *= t->dims[i - off];
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

/* The ops whose operands are not all f32: cast, argmax, embedding, take, hash_route. */
static bool describe_typed(Builder *b, OpId o, PtxKernel *k, int64_t *work)
{
    const Module *m = b->m;
    const Op *op = &m->ops.v[o];
    const char *name = op_info[op->kind].name;
    const TensorType *y = ir_type(m, op->out), *x = ir_type(m, ir_operand(m, op, 0));
    *work = numel(y, 0, y->rank);
    for (unsigned i = 0; i < op->nin; i++) arg(b, k, ir_operand(m, op, i));
    switch (op->kind) {
    case OP_CAST:
        k->device_fn = "ndlptx_cast";
        param(k, *work);
        param(k, dtype_code(x->dtype));
        param(k, dtype_code(y->dtype));
        break;
    case OP_ARGMAX: {
        if (x->dtype != DT_F32) return refuse(b, "'%s' of other than f32 tensors is not supported for --emit ptx yet", name);
        int64_t d = ir_op_int(m, op, ATTR_DIM);
        unsigned from = d < 0 ? 0 : (unsigned)d, to = d < 0 ? x->rank : (unsigned)d + 1;
        k->device_fn = "ndlptx_argmax";
        param(k, numel(x, 0, from));
        param(k, numel(x, from, to));
        param(k, numel(x, to, x->rank));
        break;
    }
    case OP_EMBEDDING: case OP_TAKE: {
        bool take = op->kind == OP_TAKE;
        const TensorType *ids = ir_type(m, ir_operand(m, op, take ? 1 : 0));
        const TensorType *tab = ir_type(m, ir_operand(m, op, take ? 0 : 1));
        if (tab->dtype != DT_F32)
            return refuse(b, "'%s' of a non-f32 table is not supported for --emit ptx yet", name);
        if (!b->p->has_error) { /* one int32 word after the slots */
            b->p->has_error = true;
            b->p->error_offset = b->p->workspace_bytes;
            b->p->workspace_bytes += PTX_ALIGN;
        }
        k->device_fn = "ndlptx_gather";
        param(k, take);
        param(k, *work);
        param(k, ids->dtype == DT_I64);
        param(k, take ? numel(tab, 0, tab->rank) : tab->dims[0]);
        param(k, take ? 1 : tab->dims[1]);
        k->args[k->nargs++] = (PtxArg){PTX_WS, 0, b->p->error_offset};
        break;
    }
    default: /* OP_HASH_ROUTE */
        k->device_fn = "ndlptx_hash";
        param(k, 1);
        param(k, *work);
        param(k, ir_op_int(m, op, ATTR_NUM));
        param(k, ir_op_int(m, op, ATTR_SEED));
        param(k, x->dtype == DT_I64);
        break;
    }
    arg(b, k, op->out);
    return true;
}

/* Fills k for head o: its device function, parameters and tensors; *work is the number of
 * threads the work needs (output elements, or rows). False: not supported yet. */
static bool describe(Builder *b, OpId o, PtxKernel *k, int64_t *work)
{
    const Module *m = b->m;
    const Op *op = &m->ops.v[o];
    const char *name = op_info[op->kind].name;
    Group g = group_of(m, o);
    const TensorType *y = ir_type(m, g.result);
    const TensorType *x = op->nin ? ir_type(m, ir_operand(m, op, 0)) : y;
    bool copies = op->kind == OP_PERMUTE || op->kind == OP_SLICE || op->kind == OP_CONCAT || op->kind == OP_RESHAPE;
    if (op->kind == OP_CAST || op->kind == OP_ARGMAX || op->kind == OP_EMBEDDING || op->kind == OP_TAKE ||
        op->kind == OP_HASH_ROUTE)
        return describe_typed(b, o, k, work);
    if (!copies && !all_f32(m, op)) return refuse(b, "'%s' of other than f32 tensors is not supported for --emit ptx yet", name);
    if (g.members && op->kind != OP_LINEAR && op->kind != OP_CONV2D) NDLC_ICE("'%s' heads a fused group", name);
    *work = numel(y, 0, y->rank);
    for (unsigned i = 0; i < op->nin; i++) arg(b, k, ir_operand(m, op, i));
    if (op_info[op->kind].flags & OPF_EW1) {
        k->device_fn = "ndlptx_unary";
        param(k, *work);
        param(k, act_of(op->kind));
    } else {
        switch (op->kind) {
        case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: {
            int64_t sa[8] = {0}, sb[8] = {0};
            bstrides(ir_type(m, ir_operand(m, op, 0)), y, sa);
            bstrides(ir_type(m, ir_operand(m, op, 1)), y, sb);
            k->device_fn = "ndlptx_binary";
            param(k, *work);
            param(k, op->kind == OP_ADD ? 0 : op->kind == OP_SUB ? 1 : op->kind == OP_MUL ? 2 : 3);
            param(k, y->rank);
            for (unsigned i = 0; i < 8; i++) param(k, i < y->rank ? y->dims[i] : 1);
            for (unsigned i = 0; i < 8; i++) param(k, sa[i]);
            for (unsigned i = 0; i < 8; i++) param(k, sb[i]);
            break;
        }
        case OP_LINEAR: {
            const TensorType *w = ir_type(m, ir_operand(m, op, 1));
            /* a block per 16 x 16 tile of y (rt/ptx_kernels.c), so the work is tiles x 256 */
            int64_t rows = numel(x, 0, x->rank - 1);
            k->device_fn = "ndlptx_linear_tiled";
            *work = ((rows + 15) / 16) * ((w->dims[0] + 15) / 16) * PTX_BLOCK;
            param(k, rows);
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
            int64_t v[] = {bt ? x->dims[0] : 1, x->dims[bt], x->dims[bt + 1], x->dims[bt + 2], w->dims[0], w->dims[2],
                           w->dims[3], y->dims[bt + 1], y->dims[bt + 2], st[0], st[1], pd[0], pd[1], dl[0], dl[1],
                           ir_op_int(m, op, ATTR_GROUPS), g.act, g.act2, ir_operand(m, op, 2) != 0, g.residual != 0};
            k->device_fn = "ndlptx_conv2d";
            for (size_t i = 0; i < sizeof v / sizeof *v; i++) param(k, v[i]);
            break;
        }
        case OP_MATMUL: {
            const TensorType *ta = x, *tb = ir_type(m, ir_operand(m, op, 1));
            int64_t M = ta->rank == 1 ? 1 : ta->dims[ta->rank - 2], K = ta->dims[ta->rank - 1];
            int64_t N = tb->rank == 1 ? 1 : tb->dims[tb->rank - 1];
            /* batch axes: the result's, less the matrix axes; each operand's right-aligned */
            unsigned by = y->rank - (ta->rank >= 2) - (tb->rank >= 2);
            if (by > 4) return refuse(b, "'%s' with more than 4 batch axes is not supported for --emit ptx yet", name);
            TensorType yb = {.rank = (uint8_t)by}, ab = {.rank = 0}, bb = {.rank = 0};
            for (unsigned i = 0; i < by; i++) yb.dims[i] = y->dims[i];
            for (unsigned i = 0; i + 2 < ta->rank; i++) ab.dims[ab.rank++] = ta->dims[i];
            for (unsigned i = 0; i + 2 < tb->rank; i++) bb.dims[bb.rank++] = tb->dims[i];
            int64_t sa[8] = {0}, sb[8] = {0};
            bstrides(&ab, &yb, sa);
            bstrides(&bb, &yb, sb);
            /* a block per 16 x 16 tile of each batch entry (rt/ptx_kernels.c) */
            k->device_fn = "ndlptx_matmul_tiled";
            *work = numel(&yb, 0, by) * ((M + 15) / 16) * ((N + 15) / 16) * PTX_BLOCK;
            param(k, numel(&yb, 0, by));
            param(k, M);
            param(k, N);
            param(k, K);
            param(k, by);
            for (unsigned i = 0; i < 4; i++) param(k, i < by ? yb.dims[i] : 1);
            for (unsigned i = 0; i < 4; i++) param(k, sa[i] * M * K);
            for (unsigned i = 0; i < 4; i++) param(k, sb[i] * K * N);
            break;
        }
        case OP_ATTENTION: {
            const TensorType *q = x, *kt = ir_type(m, ir_operand(m, op, 1)), *v = ir_type(m, ir_operand(m, op, 2));
            int64_t st[3];
            for (int i = 0; i < 3; i++) {
                const TensorType *tt = i == 0 ? q : i == 1 ? kt : v;
                bool all_one = true, same = tt->rank == y->rank;
                for (unsigned a = 0; a + 2 < tt->rank; a++) {
                    all_one &= tt->dims[a] == 1;
                    if (same) same = tt->dims[a] == y->dims[a];
                }
                if (tt->rank > 2 && !same && !all_one)
                    return refuse(b, "'%s' with partially broadcast batch axes is not supported for --emit ptx yet", name);
                st[i] = tt->rank <= 2 || (all_one && !same) ? 0 : numel(tt, tt->rank - 2, tt->rank);
            }
            k->device_fn = "ndlptx_attention";
            param(k, numel(y, 0, y->rank - 2));
            param(k, q->dims[q->rank - 2]);
            param(k, kt->dims[kt->rank - 2]);
            param(k, q->dims[q->rank - 1]);
            param(k, v->dims[v->rank - 1]);
            param(k, st[0]);
            param(k, st[1]);
            param(k, st[2]);
            param(k, float_bits(ir_op_float(m, op, ATTR_SCALE)));
            param(k, ir_op_int(m, op, ATTR_CAUSAL));
            break;
        }
        case OP_KRON: {
            const TensorType *ta = x, *tb = ir_type(m, ir_operand(m, op, 1));
            int64_t sa[8] = {0}, sb[8] = {0};
            bstrides(ta, ta, sa);
            bstrides(tb, tb, sb);
            k->device_fn = "ndlptx_kron";
            param(k, *work);
            param(k, y->rank);
            for (unsigned i = 0; i < 8; i++) param(k, i < y->rank ? y->dims[i] : 1);
            for (unsigned i = 0; i < 8; i++) param(k, i < tb->rank ? tb->dims[i] : 1);
            for (unsigned i = 0; i < 8; i++) param(k, sa[i]);
            for (unsigned i = 0; i < 8; i++) param(k, sb[i]);
            break;
        }
        case OP_HASHED:
            k->device_fn = "ndlptx_hash";
            param(k, 0);
            param(k, *work);
            param(k, numel(x, 0, x->rank));
            param(k, ir_op_int(m, op, ATTR_SEED));
            param(k, 0);
            break;
        case OP_MAX_POOL2D: case OP_AVG_POOL2D: {
            const int64_t *kk = ir_op_ints(m, op, ATTR_KERNEL, NULL), *st = ir_op_ints(m, op, ATTR_STRIDE, NULL);
            const int64_t *pd = ir_op_ints(m, op, ATTR_PAD, NULL);
            unsigned bt = x->rank == 4;
            int64_t v[] = {numel(x, 0, bt + 1), x->dims[bt + 1], x->dims[bt + 2], y->dims[bt + 1], y->dims[bt + 2],
                           kk[0], kk[1], st[0], st[1], pd[0], pd[1], op->kind == OP_MAX_POOL2D};
            k->device_fn = "ndlptx_pool";
            for (size_t i = 0; i < sizeof v / sizeof *v; i++) param(k, v[i]);
            break;
        }
        case OP_SOFTMAX: case OP_LOG_SOFTMAX: {
            unsigned d = (unsigned)ir_op_int(m, op, ATTR_DIM);
            k->device_fn = "ndlptx_softmax";
            param(k, numel(x, 0, d));
            param(k, x->dims[d]);
            param(k, numel(x, d + 1, x->rank));
            param(k, op->kind == OP_LOG_SOFTMAX);
            *work = numel(x, 0, d) * numel(x, d + 1, x->rank);
            break;
        }
        case OP_REDUCE_SUM: case OP_REDUCE_MEAN: case OP_REDUCE_MAX: case OP_REDUCE_MIN: {
            uint32_t nd;
            const int64_t *dims = ir_op_ints(m, op, ATTR_DIMS, &nd);
            if (nd && dims[nd - 1] - dims[0] + 1 != (int64_t)nd) { /* kept axes index, reduced axes loop */
                bool red[8] = {false};
                int64_t xs[8] = {0}, kd[8], ks[8], rd[8], rs[8];
                unsigned nk = 0, nr = 0;
                for (uint32_t i = 0; i < nd; i++) red[dims[i]] = true;
                bstrides(x, x, xs);
                for (unsigned i = 0; i < x->rank; i++) {
                    if (red[i]) rd[nr] = x->dims[i], rs[nr++] = xs[i];
                    else kd[nk] = x->dims[i], ks[nk++] = xs[i];
                }
                k->device_fn = "ndlptx_reduce_axes";
                param(k, *work);
                param(k, op->kind - OP_REDUCE_SUM);
                param(k, nk);
                for (unsigned i = 0; i < 8; i++) param(k, i < nk ? kd[i] : 1);
                for (unsigned i = 0; i < 8; i++) param(k, i < nk ? ks[i] : 0);
                param(k, nr);
                for (unsigned i = 0; i < 8; i++) param(k, i < nr ? rd[i] : 1);
                for (unsigned i = 0; i < 8; i++) param(k, i < nr ? rs[i] : 0);
                int64_t len = 1;
                for (unsigned i = 0; i < nr; i++) len *= rd[i];
                param(k, len);
                break;
            }
            unsigned from = nd ? (unsigned)dims[0] : 0, to = nd ? (unsigned)dims[nd - 1] + 1 : x->rank;
            k->device_fn = "ndlptx_reduce";
            param(k, numel(x, 0, from));
            param(k, numel(x, from, to));
            param(k, numel(x, to, x->rank));
            param(k, op->kind - OP_REDUCE_SUM);
            break;
        }
        case OP_LAYER_NORM: case OP_RMS_NORM:
            if (op->kind == OP_RMS_NORM) arg(b, k, 0); /* no bias */
            k->device_fn = "ndlptx_norm";
            param(k, numel(x, 0, x->rank - 1));
            param(k, x->dims[x->rank - 1]);
            param(k, op->kind == OP_RMS_NORM);
            param(k, float_bits(ir_op_float(m, op, ATTR_EPS)));
            *work = numel(x, 0, x->rank - 1);
            break;
        case OP_BATCH_NORM:
            k->device_fn = "ndlptx_batch_norm";
            param(k, x->dims[0]);
            param(k, x->dims[1]);
            param(k, numel(x, 2, x->rank));
            param(k, float_bits(ir_op_float(m, op, ATTR_EPS)));
            break;
        case OP_PERMUTE: case OP_SLICE: case OP_RESHAPE: {
            int64_t xs[8] = {0}, in[8] = {0}, off = 0;
            bstrides(x, x, xs);
            const int64_t *perm = op->kind == OP_PERMUTE ? ir_op_ints(m, op, ATTR_PERM, NULL) : NULL;
            const int64_t *bg = op->kind == OP_SLICE ? ir_op_ints(m, op, ATTR_BEGIN, NULL) : NULL;
            const int64_t *st = op->kind == OP_SLICE ? ir_op_ints(m, op, ATTR_STEP, NULL) : NULL;
            TensorType it = *y;
            if (op->kind == OP_RESHAPE) { /* a stored copy: the flat index space */
                it.rank = 1;
                it.dims[0] = *work;
                in[0] = 1;
            }
            for (unsigned i = 0; op->kind != OP_RESHAPE && i < x->rank; i++) {
                in[i] = perm ? xs[perm[i]] : st[i] * xs[i];
                if (bg) off += bg[i] * xs[i];
            }
            k->device_fn = "ndlptx_copy";
            param(k, *work);
            param(k, it.rank ? it.rank : 1);
            param(k, dtype_info[y->dtype].size);
            param(k, off);
            for (unsigned i = 0; i < 8; i++) param(k, i < it.rank ? it.dims[i] : 1);
            for (unsigned i = 0; i < 8; i++) param(k, in[i]);
            break;
        }
        case OP_CONCAT: {
            unsigned ax = (unsigned)ir_op_int(m, op, ATTR_DIM);
            if (op->nin + 6 > PTX_MAX_PARAMS || op->nin + 1 > PTX_MAX_ARGS)
                return refuse(b, "'%s' of more than 15 tensors is not supported for --emit ptx yet", name);
            k->device_fn = "ndlptx_concat";
            param(k, *work);
            param(k, numel(y, 0, ax));
            param(k, y->dims[ax]);
            param(k, numel(y, ax + 1, y->rank));
            param(k, dtype_info[y->dtype].size);
            param(k, op->nin);
            for (unsigned i = 0; i < op->nin; i++) param(k, ir_type(m, ir_operand(m, op, i))->dims[ax]);
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

static bool has_symbols(const Module *m, ValueId v)
{
    const TensorType *t = ir_type(m, v);
    for (unsigned i = 0; i < t->rank; i++)
        if (t->dims[i] < 0) return true;
    return false;
}

bool ptx_plan_build(const Module *m, PtxPlan *p, OpId *bad, char *why, size_t len)
{
    memset(p, 0, sizeof *p);
    *bad = 0;
    Builder b = {.m = m, .p = p, .why = why, .whylen = len};
    plan_build(m, &b.plan);
    for (OpId o = 1; o < m->ops.n; o++) {
        const Op *op = &m->ops.v[o];
        if (op->flags & OPF_DEAD) continue;
        bool sym = has_symbols(m, op->out);
        for (unsigned i = 0; i < op->nin && !sym; i++) sym = ir_operand(m, op, i) && has_symbols(m, ir_operand(m, op, i));
        if (sym) {
            *bad = o;
            snprintf(why, len, "'%s' with symbolic sizes is not supported for --emit ptx yet",
                     op_info[op->kind].name);
            plan_free(&b.plan);
            return false;
        }
    }
    /* the workspace: each slot as large as its largest value */
    int64_t *symvals = xcalloc(m->syms.n + 1, sizeof *symvals);
    uint64_t *slot_bytes = xcalloc(b.plan.nslots + 1, sizeof *slot_bytes);
    for (ValueId v = 1; v < m->values.n; v++) {
        if (b.plan.v[v].kind != ST_WS) continue;
        uint64_t n = plan_value_bytes(m, v, symvals);
        if (n > slot_bytes[b.plan.v[v].index]) slot_bytes[b.plan.v[v].index] = n;
    }
    b.slot_off = xcalloc(b.plan.nslots + 1, sizeof *b.slot_off);
    for (uint32_t s = 0; s < b.plan.nslots; s++) {
        b.slot_off[s] = p->workspace_bytes;
        p->workspace_bytes = align_up(p->workspace_bytes + slot_bytes[s]);
    }
    free(slot_bytes);
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
        int64_t work = 0;
        ok = describe(&b, head_at[o], &k, &work);
        if (!ok) {
            *bad = head_at[o];
            break;
        }
        int64_t grid = (work + PTX_BLOCK - 1) / PTX_BLOCK;
        k.grid = (uint32_t)(grid < 1 ? 1 : grid > PTX_MAX_GRID ? PTX_MAX_GRID : grid);
        k.name = kernel_name(p, m, &m->ops.v[head_at[o]]);
        vec_push(p->kernels, k);
    }
    free(head_at);
    for (uint32_t i = 0; ok && i < m->outputs.n; i++) {
        if (!b.plan.output_copy[i]) continue;
        ValueId v = m->outputs.v[i].value;
        PtxCopy c = {i, arg_of(&b, v), plan_value_bytes(m, v, symvals)};
        vec_push(p->copies, c);
    }
    free(symvals);
    free(b.weight_off);
    free(b.slot_off);
    plan_free(&b.plan);
    if (!ok) ptx_plan_free(p);
    return ok;
}

void ptx_plan_free(PtxPlan *p)
{
    for (uint32_t i = 0; i < p->kernels.n; i++) free(p->kernels.v[i].name);
    vec_free(p->kernels);
    vec_free(p->weights);
    vec_free(p->copies);
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
    fprintf(f, "// ndlc-plan 1 model %s inputs %u outputs %u weights %" PRIu64 " workspace %" PRIu64 " kernels %u\n",
            m->name, m->inputs.n, m->outputs.n, p->weight_bytes, p->workspace_bytes, p->kernels.n);
    for (uint32_t i = 0; i < p->weights.n; i++) {
        const Weight *w = &m->weights.v[p->weights.v[i].weight];
        fprintf(f, "// ndlc-plan weight %s %" PRIu64 " %" PRIu64 "\n", w->key ? w->key : "(computed)",
                p->weights.v[i].offset, p->weights.v[i].bytes);
    }
    for (uint32_t i = 0; i < p->kernels.n; i++) {
        const PtxKernel *k = &p->kernels.v[i];
        fprintf(f, "// ndlc-plan kernel %s %u %u %u %u", k->name, k->grid, k->block, k->shared, k->nargs);
        for (uint32_t a = 0; a < k->nargs; a++) write_arg(f, k->args[a]);
        fprintf(f, "\n// ndlc-plan params %s %u", k->device_fn, k->nparams);
        for (uint32_t a = 0; a < k->nparams; a++) fprintf(f, " %" PRId64, k->params[a]);
        fputc('\n', f);
    }
    for (uint32_t i = 0; i < p->copies.n; i++) {
        fprintf(f, "// ndlc-plan copy %u", p->copies.v[i].output);
        write_arg(f, p->copies.v[i].from);
        fprintf(f, " %" PRIu64 "\n", p->copies.v[i].bytes);
    }
    if (p->has_error) fprintf(f, "// ndlc-plan error %" PRIu64 "\n", p->error_offset);
    fputs("// ndlc-plan end\n", f);
}

bool ptx_sm_valid(const char *sm) { return strcmp(sm, "sm_80") == 0 || strcmp(sm, "sm_90") == 0; }
