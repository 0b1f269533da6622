/* SPDX-License-Identifier: MIT
 * emit.c - the LLVM backend: a planned module to LLVM IR, an object or an executable
 * through the LLVM C API, with no C compiler involved (the system `cc` only links).
 *
 * The module is built from three things: the runtime (kernels, safetensors reader,
 * driver and the generic executor rt/exec.c) as bitcode compiled with ndlc and embedded
 * in it, one variant per x86 ISA level; the model's program (program.h), the planned
 * and fused IR serialized as one constant; and the weights, each one constant global
 * made from its raw bytes (no per-element work), 64-byte aligned in read-only data.
 * The API of spec section 10 is emitted as thin functions over the executor; everything
 * else gets internal linkage, so that default<O3> for the --cpu target machine inlines
 * and specializes the runtime for this model. LLVM types never leave this file.
 */
#define _POSIX_C_SOURCE 200809L /* mkstemp */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <llvm-c/Analysis.h>
#include <llvm-c/BitReader.h>
#include <llvm-c/Core.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include "../backend.h"
#include "../../runtime/ndlrt.h"
#include "../../runtime/safetensors.h"
#include "program.h"

_Static_assert((int)NDLLL_OP_COUNT == (int)OP_COUNT, "program.h numbers ops as ir.h does");
_Static_assert((int)NDLLL_ATTR_COUNT == (int)ATTR_COUNT, "program.h numbers attributes as ir.h does");
_Static_assert((int)NDLLL_DT_COUNT == (int)DT_COUNT, "program.h numbers dtypes as ir.h does");
_Static_assert(IR_MAX_RANK == 8, "program.h reserves 8 dims per row");

/* the runtime bitcode, one per ISA level (backends/llvm/bitcode.c, made by CMake) */
extern const unsigned char ndlc_bc_v4[], ndlc_bc_v4_end[], ndlc_bc_v3[], ndlc_bc_v3_end[],
    ndlc_bc_v1[], ndlc_bc_v1_end[];

enum { MAX_SLOTS = 4096 }; /* rt/exec.c keeps off[] on the stack */

typedef VEC(int64_t) I64Vec;
typedef VEC(char *) NameVec;

/* A tensor of the weight table: raw IR weight data, or packed at compile time. */
typedef struct LWeight {
    const void *data;
    size_t bytes, count;
    DType dtype;
    char *name;              /* its key in an external weight file */
    void *owned;             /* packed copy, freed at the end */
} LWeight;

typedef struct EmitL {
    const Module *m;
    const EmitOptions *o;
    Plan plan;
    I64Vec prog;
    VEC(LWeight) w;
    int64_t *value_row;      /* per ValueId: row + 1, or 0 */
    uint32_t *weight_entry;  /* per WeightId: raw entry + 1, or 0 */
    int64_t nrows;
    I64Vec rows;       /* NDLLL_ROW_WORDS per row */
    bool *compressed_only;   /* per OpId: a `hashed` no layer computes (plan_compressed_only) */
    int64_t nlayers;         /* run layers recorded so far (a pack entry names its reader) */
    I64Vec packs;            /* NDLLL_H_PACKS triples */
    bool op_used[OP_COUNT];
    char err[256];
    /* LLVM */
    LLVMContextRef ctx;
    LLVMModuleRef mod;
    LLVMBuilderRef b;
    LLVMTypeRef i8, i32, i64, ptr, vd;
} EmitL;

/* ---- the program -------------------------------------------------------------------- */

static void put(EmitL *e, int64_t x) { vec_push(e->prog, x); }

/* A row is a pure descriptor, so identical rows are one: a shared layer applied again
 * (or a recurse step) then has records identical to the first application's, which
 * put_layer stores once (the program does not grow with the number of applications). */
static int64_t add_row(EmitL *e, int at, uint32_t index, const TensorType *t, bool own)
{
    int64_t r[NDLLL_ROW_WORDS] = {at, index, t->dtype, own, t->rank};
    for (unsigned i = 0; i < t->rank; i++) r[NDLLL_ROW_DIMS + i] = t->dims[i];
    for (int64_t k = 0; k < e->nrows; k++)
        if (memcmp(&e->rows.v[k * NDLLL_ROW_WORDS], r, sizeof r) == 0) return k;
    for (int i = 0; i < NDLLL_ROW_WORDS; i++) vec_push(e->rows, r[i]);
    return e->nrows++;
}

/* Records rec[start..] as a layer whose offset goes to starts: an identical earlier record
 * (same op, rows, epilogue, attributes) is reused and the copy dropped. */
static void end_layer(I64Vec *rec, uint32_t start, I64Vec *starts)
{
    size_t len = rec->n - start;
    for (uint32_t i = 0; i < starts->n; i++) {
        uint32_t s = (uint32_t)starts->v[i];
        if (s + len <= start && rec->v[s] == rec->v[start] && rec->v[s + 1] == rec->v[start + 1] &&
            memcmp(&rec->v[s], &rec->v[start], len * sizeof *rec->v) == 0) {
            rec->n = start;
            vec_push(*starts, s);
            return;
        }
    }
    vec_push(*starts, start);
}

static char *ident(const char *prefix, const char *s, size_t n)
{
    size_t len = strlen(prefix) + strlen(s) + 24;
    char *r = xmalloc(len);
    int k = snprintf(r, len, "%s", prefix);
    for (const char *p = s; *p; p++) r[k++] = isalnum((unsigned char)*p) ? *p : '_';
    snprintf(r + k, len - (size_t)k, "_%zu", n);
    return r;
}

static uint32_t raw_weight(EmitL *e, WeightId wi)
{
    if (!e->weight_entry[wi]) {
        const Weight *w = &e->m->weights.v[wi];
        LWeight lw = {.data = w->data, .bytes = w->nbytes, .dtype = w->type.dtype,
                      .count = w->nbytes / dtype_info[w->type.dtype].size,
                      .name = ident("W_", w->key ? w->key : "const", e->w.n)};
        vec_push(e->w, lw);
        e->weight_entry[wi] = e->w.n;
    }
    return e->weight_entry[wi] - 1;
}

/* The row of value v: its root's storage, its own dims. */
static int64_t row_of(EmitL *e, ValueId v)
{
    if (!v) return -1;
    if (e->value_row[v]) return e->value_row[v] - 1;
    ValueId r = plan_root(&e->plan, v);
    const ValuePlan *p = &e->plan.v[r];
    int at;
    uint32_t index = p->index;
    switch (p->kind) {
    case ST_INPUT: at = NDLLL_AT_INPUT; break;
    case ST_OUTPUT: at = NDLLL_AT_OUTPUT; break;
    case ST_WS: at = NDLLL_AT_WS; break;
    case ST_WEIGHT: at = NDLLL_AT_WEIGHT; index = raw_weight(e, p->index); break;
    case ST_INIT: at = NDLLL_AT_INIT; break;
    default: NDLC_ICE("value %%%u has no storage", v);
    }
    int64_t row = add_row(e, at, index, ir_type(e->m, v), r == v);
    e->value_row[v] = row + 1;
    return row;
}

static int act_of(OpKind k)
{
    switch (k) {
#define EW1(K, name, expr) case OP_##K: return NDLRT_ACT_##K;
#include "../../ir/eltwise.def"
#undef EW1
    default: return 0;
    }
}

/* The group of head o (passes/fuse.c): members in order, the epilogue, the result. */
typedef struct Group {
    int act, act2;
    ValueId residual, result;
} Group;

static Group group_of(const EmitL *e, OpId o)
{
    const Module *m = e->m;
    Group g = {.result = m->ops.v[o].out};
    bool after_add = false;
    for (OpId k = o + 1; k < m->ops.n; k++) {
        const Op *op = &m->ops.v[k];
        if (op->group != o || (op->flags & OPF_DEAD)) continue;
        if (op_info[op->kind].flags & OPF_EW1) {
            /* act? add? act2? - a second unary op is act2 even without an add between */
            if (after_add || g.act) g.act2 = act_of(op->kind);
            else g.act = act_of(op->kind);
        } else if (op->kind == OP_ADD) {
            ValueId a = ir_operand(m, op, 0), b = ir_operand(m, op, 1);
            g.residual = a == g.result ? b : a;
            after_add = true;
        } else {
            NDLC_ICE("op %u fused into %u is not an epilogue", k, o);
        }
        g.result = op->out;
    }
    return g;
}

/* The executor's function for an op kind (rt/exec.h), NULL: not supported. */
static const char *op_fn(OpKind k)
{
    switch (k) {
#define EW1(K, name, expr) case OP_##K:
#include "../../ir/eltwise.def"
#undef EW1
        return "ndlll_op_unary";
    case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: return "ndlll_op_binary";
    case OP_CAST: return "ndlll_op_cast";
    case OP_SOFTMAX: case OP_LOG_SOFTMAX: return "ndlll_op_softmax";
    case OP_REDUCE_SUM: case OP_REDUCE_MEAN: case OP_REDUCE_MAX: case OP_REDUCE_MIN: return "ndlll_op_reduce";
    case OP_ARGMAX: return "ndlll_op_argmax";
    case OP_BATCH_NORM: case OP_LAYER_NORM: case OP_RMS_NORM: return "ndlll_op_norm";
    case OP_MATMUL: return "ndlll_op_matmul";
    case OP_LINEAR: return "ndlll_op_linear";
    case OP_CONV2D: return "ndlll_op_conv";
    case OP_MAX_POOL2D: case OP_AVG_POOL2D: return "ndlll_op_pool";
    case OP_ATTENTION: return "ndlll_op_attention";
    case OP_RESHAPE: case OP_PERMUTE: case OP_SLICE: return "ndlll_op_move";
    case OP_CONCAT: return "ndlll_op_concat";
    case OP_EMBEDDING: case OP_TAKE: return "ndlll_op_gather";
    case OP_KRON: return "ndlll_op_kron";
    case OP_HASHED: case OP_HASH_ROUTE: return "ndlll_op_hash";
    case OP_MOE_ROUTE: case OP_MOE_ASSIGN: case OP_MOE_GATHER: case OP_MOE_SCATTER: return "ndlll_op_moe";
    case OP_RECURSE_GATHER: case OP_RECURSE_SCATTER: return "ndlll_op_recurse";
    default: return NULL;
    }
}

/* Conv2d's image sizes are known at compile time (so its weight can be packed before run). */
static bool conv_sizes_known(const Module *m, const Op *op)
{
    const TensorType *x = ir_type(m, ir_operand(m, op, 0));
    unsigned b = x->rank == 4;
    return x->dims[b] >= 0 && x->dims[b + 1] >= 0 && x->dims[b + 2] >= 0;
}

/* Operand 1 of a run layer is an init value or a view of one (a predicted or materialized
 * hashed weight, perhaps reshaped):
 * create packs it once, after computing it, into a buffer of its own (a pack entry), and
 * the layer reads that buffer as the compile-time packed weight. */
static int64_t init_packed_row(EmitL *e, const Op *op, int *pack)
{
    const Module *m = e->m;
    ValueId wv = ir_operand(m, op, 1);
    if (op->kind == OP_CONV2D && !conv_sizes_known(m, op)) return -1;
    uint32_t buffer = e->plan.ninit + e->packs.n / 3;
    vec_push(e->packs, row_of(e, wv));
    vec_push(e->packs, buffer);
    vec_push(e->packs, e->nlayers);
    *pack = NDLLL_PACK_DENSE;
    return add_row(e, NDLLL_AT_INIT, buffer, ir_type(m, wv), false);
}

/* --share compressed: a linear whose weight is a `hashed` of a stored pool reads the pool
 * (a row with the weight's dims over the pool's weight entry; *pack = NDLLL_PACK_HASHED). */
static int64_t hashed_pool_row(EmitL *e, OpId hashed, int *pack)
{
    const Op *h = &e->m->ops.v[hashed];
    ValueId pool = plan_root(&e->plan, ir_operand(e->m, h, 0));
    *pack = NDLLL_PACK_HASHED;
    return add_row(e, NDLLL_AT_WEIGHT, raw_weight(e, e->plan.v[pool].index), ir_type(e->m, h->out), false);
}

/* Packs operand 1 of a linear/conv2d head at compile time when it is a weight (and, for
 * a conv, its image sizes are known), as the C backend does: sparse where
 * backends/sparse.c says so (*pack = NDLLL_PACK_SPARSE), else in the dense kernels'
 * layout (NDLLL_PACK_DENSE). Returns its row, or -1 (*pack = NDLLL_PACK_NONE). */
static int64_t packed_row(EmitL *e, const Op *op, int *pack)
{
    const Module *m = e->m;
    ValueId wv = ir_operand(m, op, 1);
    *pack = NDLLL_PACK_NONE;
    if (e->plan.v[plan_root(&e->plan, wv)].kind == ST_INIT) return init_packed_row(e, op, pack);
    if (e->plan.v[plan_root(&e->plan, wv)].kind != ST_WEIGHT || plan_root(&e->plan, wv) != wv) return -1;
    const Weight *w = &m->weights.v[e->plan.v[wv].index];
    LWeight lw = {.dtype = DT_F32};
    SparseLayer sl;
    if (sparse_layer(m, op, e->o->sparse, &sl) && sl.format != NDLRT_SPARSE_DENSE) {
        lw.count = sl.packed_floats;
        lw.owned = xmalloc(lw.count * sizeof(float) + 1);
        ndlrt_sparse_pack(&sl.info, sl.format, w->data, lw.owned);
        *pack = NDLLL_PACK_SPARSE;
    } else if (op->kind == OP_LINEAR) {
        lw.count = ndlrt_linear_packed_floats(w->type.dims[0], w->type.dims[1]);
        lw.owned = xmalloc(lw.count * sizeof(float) + 1);
        ndlrt_linear_pack(w->type.dims[0], w->type.dims[1], w->data, lw.owned);
    } else {
        const TensorType *x = ir_type(m, ir_operand(m, op, 0)), *y = ir_type(m, op->out);
        unsigned b = x->rank == 4;
        if (!conv_sizes_known(m, op)) return -1;
        const int64_t *st = ir_op_ints(m, op, ATTR_STRIDE, NULL), *pd = ir_op_ints(m, op, ATTR_PAD, NULL);
        const int64_t *dl = ir_op_ints(m, op, ATTR_DILATION, NULL);
        NdlrtConv2d p = {.n = 0, .c = x->dims[b], .h = x->dims[b + 1], .w = x->dims[b + 2], .o = w->type.dims[0],
                         .kh = w->type.dims[2], .kw = w->type.dims[3], .oh = y->dims[b + 1], .ow = y->dims[b + 2],
                         .sh = st[0], .sw = st[1], .ph = pd[0], .pw = pd[1], .dh = dl[0], .dw = dl[1],
                         .groups = ir_op_int(m, op, ATTR_GROUPS)};
        lw.count = ndlrt_conv2d_packed_floats(&p);
        lw.owned = xmalloc(lw.count * sizeof(float) + 1);
        ndlrt_conv2d_pack(&p, w->data, lw.owned);
    }
    if (*pack == NDLLL_PACK_NONE) *pack = NDLLL_PACK_DENSE;
    lw.data = lw.owned;
    lw.bytes = lw.count * sizeof(float);
    /* a shared layer applied again packs the same bytes: one entry (spec 8.3) */
    uint32_t entry = e->w.n;
    for (uint32_t i = 0; i < e->w.n && entry == e->w.n; i++)
        if (e->w.v[i].owned && e->w.v[i].bytes == lw.bytes && memcmp(e->w.v[i].owned, lw.owned, lw.bytes) == 0)
            entry = i;
    if (entry < e->w.n) {
        free(lw.owned);
    } else {
        lw.name = ident("P_", op->name ? op->name : op_info[op->kind].name, e->w.n);
        vec_push(e->w, lw);
    }
    /* the row keeps the IR weight's dims: the executor reads n, k (kh, kw) from them */
    return add_row(e, NDLLL_AT_WEIGHT, entry, &w->type, false);
}

/* One layer record (program.h) for head o; run: a layer of run (not of create). */
static void put_layer(EmitL *e, OpId o, I64Vec *rec, bool run)
{
    const Module *m = e->m;
    const Op *op = &m->ops.v[o];
    Group g = group_of(e, o);
    if (op->kind == OP_EMBEDDING || op->kind == OP_TAKE) {
        const TensorType *tab = ir_type(m, ir_operand(m, op, op->kind == OP_EMBEDDING ? 1 : 0));
        if (tab->dtype != DT_F32)
            snprintf(e->err, sizeof e->err, "'%s' of a %s table is not supported by the LLVM backend",
                     op_info[op->kind].name, dtype_info[tab->dtype].name);
    }
    if (!op_fn(op->kind))
        snprintf(e->err, sizeof e->err, "the LLVM backend cannot emit '%s'", op_info[op->kind].name);
    e->op_used[op->kind] = true;
    int pack = NDLLL_PACK_NONE;
    OpId hashed = plan_compressed_weight(m, &e->plan, e->o->share_compressed, op);
    int64_t packed = -1;
    if (hashed) packed = hashed_pool_row(e, hashed, &pack);
    else if ((op->kind == OP_LINEAR || op->kind == OP_CONV2D) &&
             (run || e->plan.v[plan_root(&e->plan, ir_operand(m, op, 1))].kind != ST_INIT))
        packed = packed_row(e, op, &pack);
    unsigned nt = op->nin + (g.residual ? 1 : 0) + 1;
    vec_push(*rec, op->kind);
    vec_push(*rec, nt);
    for (unsigned i = 0; i < op->nin; i++)
        vec_push(*rec, i == 1 && packed >= 0 ? packed : row_of(e, ir_operand(m, op, i)));
    if (g.residual) vec_push(*rec, row_of(e, g.residual));
    vec_push(*rec, row_of(e, g.result));
    vec_push(*rec, g.act);
    vec_push(*rec, g.act2);
    vec_push(*rec, g.residual ? (int64_t)op->nin : -1);
    vec_push(*rec, pack);
    vec_push(*rec, op->nattr + (hashed ? 1 : 0));
    if (hashed) {
        vec_push(*rec, ATTR_SEED);
        vec_push(*rec, 1);
        vec_push(*rec, ir_op_int(m, &m->ops.v[hashed], ATTR_SEED));
    }
    for (unsigned i = 0; i < op->nattr; i++) {
        const Attr *a = &m->attrs.v[op->attr + i];
        vec_push(*rec, a->key);
        if (attr_info[a->key].kind == AK_INTS) {
            vec_push(*rec, a->n);
            for (uint32_t k = 0; k < a->n; k++) vec_push(*rec, m->ints.v[a->u.ints + k]);
        } else {
            vec_push(*rec, 1);
            int64_t bits = a->u.i;
            if (attr_info[a->key].kind == AK_FLOAT) memcpy(&bits, &a->u.f, sizeof bits);
            vec_push(*rec, bits);
        }
    }
}

static NdlrtStDType st_dtype(DType dt)
{
    return dt == DT_I32 ? NDLRT_ST_I32 : dt == DT_I64 ? NDLRT_ST_I64 : dt == DT_BOOL ? NDLRT_ST_BOOL : NDLRT_ST_F32;
}

/* Builds e->prog: header, dims, rows, layers, outputs, bounds, weights. */
static void build_program(EmitL *e)
{
    const Module *m = e->m;
    e->value_row = xcalloc(m->values.n + 1, sizeof *e->value_row);
    e->weight_entry = xcalloc(m->weights.n + 1, sizeof *e->weight_entry);
    e->compressed_only = plan_compressed_only(m, &e->plan, e->o->share_compressed);
    /* layers in execution order: a group runs where its stored result is defined; values
     * of weights alone (ST_INIT, never a group) are computed by create, in op order */
    OpId *head_at = xcalloc(m->ops.n + 1, sizeof *head_at);
    I64Vec layers = {0}, starts = {0}, init_layers = {0}, init_starts = {0};
    for (OpId h = 1; h < m->ops.n && !e->err[0]; h++) {
        const Op *op = &m->ops.v[h];
        if ((op->flags & OPF_DEAD) || op->group || e->plan.v[op->out].kind == ST_ALIAS || e->compressed_only[h])
            continue;
        if (e->plan.v[op->out].kind == ST_INIT) {
            uint32_t start = init_layers.n;
            put_layer(e, h, &init_layers, false);
            end_layer(&init_layers, start, &init_starts);
        } else {
            head_at[m->values.v[group_of(e, h).result].def] = h;
        }
    }
    for (OpId o = 1; o < m->ops.n && !e->err[0]; o++) {
        if (!head_at[o]) continue;
        uint32_t start = layers.n;
        put_layer(e, head_at[o], &layers, true);
        end_layer(&layers, start, &starts);
        e->nlayers++;
    }
    free(head_at);
    /* the init buffers: each computed value's row; packed forms and never-computed hashed
     * weights have none (-1) */
    int64_t *init_row = xmalloc((e->plan.ninit + e->packs.n / 3 + 1) * sizeof *init_row);
    for (uint32_t k = 0; k < e->plan.ninit + e->packs.n / 3; k++) init_row[k] = -1;
    for (ValueId v = 1; v < m->values.n; v++)
        if (e->plan.v[v].kind == ST_INIT && !e->compressed_only[m->values.v[v].def])
            init_row[e->plan.v[v].index] = row_of(e, v);
    for (ValueId v = 1; v < m->values.n; v++) /* every slot's values size it */
        if (e->plan.v[v].kind == ST_WS) row_of(e, v);
    int64_t *outrows = xcalloc(m->outputs.n + 1, sizeof *outrows);
    for (uint32_t i = 0; i < m->outputs.n; i++) outrows[i] = row_of(e, m->outputs.v[i].value);

    int64_t h[NDLLL_H_WORDS] = {0};
    h[NDLLL_H_MAGIC] = NDLLL_MAGIC;
    SymId napi = ir_api_symbols(m);
    if (m->syms.n - 1 > NDLLL_MAX_SYMS)
        snprintf(e->err, sizeof e->err, "the LLVM backend supports at most %d sizes (symbols and experts' row counts), this model has %u",
                 NDLLL_MAX_SYMS, m->syms.n - 1);
    h[NDLLL_H_NSYMS] = napi - 1;
    h[NDLLL_H_NDYN] = m->syms.n - napi;
    h[NDLLL_H_NSLOTS] = e->plan.nslots;
    h[NDLLL_H_NLAYERS] = starts.n;
    h[NDLLL_H_NINPUTS] = m->inputs.n;
    h[NDLLL_H_NOUTPUTS] = m->outputs.n;
    h[NDLLL_H_NWEIGHTS] = e->w.n;
    h[NDLLL_H_EXTERNAL] = e->o->external_weights;
    h[NDLLL_H_NROWS] = e->nrows;
    int64_t at = NDLLL_H_WORDS;
    h[NDLLL_H_DIMS] = at;
    at += (int64_t)m->dimexprs.n * NDLLL_DIM_WORDS;
    h[NDLLL_H_ROWS] = at;
    at += (int64_t)e->rows.n;
    h[NDLLL_H_LAYERS] = at;
    at += starts.n;
    int64_t layer_base = at;
    at += layers.n;
    h[NDLLL_H_OUTPUTS] = at;
    at += 2 * (int64_t)m->outputs.n;
    h[NDLLL_H_BOUNDS] = at;
    at += napi - 1;
    h[NDLLL_H_DYNMAX] = at;
    at += m->syms.n - napi;
    h[NDLLL_H_WEIGHTS] = at;
    at += 3 * (int64_t)e->w.n;
    h[NDLLL_H_NINIT] = e->plan.ninit + e->packs.n / 3;
    h[NDLLL_H_INIT] = at;
    at += h[NDLLL_H_NINIT];
    h[NDLLL_H_NINIT_LAYERS] = init_starts.n;
    h[NDLLL_H_INIT_LAYERS] = at;
    at += init_starts.n;
    int64_t init_base = at;
    at += init_layers.n;
    h[NDLLL_H_NPACKS] = e->packs.n / 3;
    h[NDLLL_H_PACKS] = at;
    for (int i = 0; i < NDLLL_H_WORDS; i++) put(e, h[i]);
    for (uint32_t k = 0; k < m->dimexprs.n; k++) {
        const DimExpr *x = &m->dimexprs.v[k];
        int64_t d[NDLLL_DIM_WORDS] = {x->coef, x->nsym};
        for (unsigned i = 0; i < x->nsym; i++) d[NDLLL_DIM_SYM0 + i] = x->sym[i] - 1;
        for (int i = 0; i < NDLLL_DIM_WORDS; i++) put(e, d[i]);
    }
    for (uint32_t i = 0; i < e->rows.n; i++) put(e, e->rows.v[i]);
    for (uint32_t i = 0; i < starts.n; i++) put(e, layer_base + starts.v[i]);
    for (uint32_t i = 0; i < layers.n; i++) put(e, layers.v[i]);
    for (uint32_t i = 0; i < m->outputs.n; i++) {
        put(e, outrows[i]);
        put(e, e->plan.output_copy[i]);
    }
    for (SymId k = 1; k < napi; k++) put(e, m->syms.v[k].bound);
    for (SymId k = napi; k < m->syms.n; k++) put(e, m->syms.v[k].max);
    for (uint32_t i = 0; i < e->w.n; i++) {
        put(e, st_dtype(e->w.v[i].dtype));
        put(e, (int64_t)e->w.v[i].count);
        put(e, (int64_t)e->w.v[i].bytes);
    }
    for (int64_t k = 0; k < h[NDLLL_H_NINIT]; k++) put(e, init_row[k]);
    for (uint32_t i = 0; i < init_starts.n; i++) put(e, init_base + init_starts.v[i]);
    for (uint32_t i = 0; i < init_layers.n; i++) put(e, init_layers.v[i]);
    for (uint32_t i = 0; i < e->packs.n; i++) put(e, e->packs.v[i]);
    free(init_row);
    vec_free(init_layers);
    vec_free(init_starts);
    vec_free(layers);
    vec_free(starts);
    free(outrows);
}

/* ---- LLVM helpers ---------------------------------------------------------------------- */

/* A private constant global holding bytes (no terminating NUL unless nul). */
static LLVMValueRef const_bytes(EmitL *e, const char *name, const void *data, size_t n, unsigned align, bool nul)
{
    LLVMValueRef init = LLVMConstStringInContext(e->ctx, data ? (const char *)data : "", (unsigned)n, !nul);
    LLVMValueRef g = LLVMAddGlobal(e->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(g, init);
    LLVMSetGlobalConstant(g, 1);
    LLVMSetLinkage(g, LLVMPrivateLinkage);
    LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
    LLVMSetAlignment(g, align);
    return g;
}

static LLVMValueRef cstr(EmitL *e, const char *s) { return const_bytes(e, ".str", s, strlen(s), 1, true); }

static LLVMValueRef const_ptr_array(EmitL *e, const char *name, LLVMValueRef *v, unsigned n)
{
    LLVMValueRef null = LLVMConstNull(e->ptr);
    LLVMValueRef init = LLVMConstArray(e->ptr, n ? v : &null, n ? n : 1);
    LLVMValueRef g = LLVMAddGlobal(e->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(g, init);
    LLVMSetGlobalConstant(g, 1);
    LLVMSetLinkage(g, LLVMPrivateLinkage);
    return g;
}

static LLVMValueRef runtime_fn(EmitL *e, const char *name)
{
    LLVMValueRef f = LLVMGetNamedFunction(e->mod, name);
    if (!f) NDLC_ICE("the runtime bitcode lacks '%s'", name);
    return f;
}

static LLVMValueRef call(EmitL *e, LLVMValueRef f, LLVMValueRef *args, unsigned n)
{
    return LLVMBuildCall2(e->b, LLVMGlobalGetValueType(f), f, args, n, "");
}

static LLVMValueRef define(EmitL *e, const char *name, LLVMTypeRef ret, LLVMTypeRef *params, unsigned n, bool exported)
{
    LLVMValueRef f = LLVMAddFunction(e->mod, name, LLVMFunctionType(ret, params, n, 0));
    LLVMSetLinkage(f, exported ? LLVMExternalLinkage : LLVMInternalLinkage);
    LLVMPositionBuilderAtEnd(e->b, LLVMAppendBasicBlockInContext(e->ctx, f, "entry"));
    return f;
}

/* An array of n values of type t on the stack (at least one element), filled with v. */
static LLVMValueRef stack_array(EmitL *e, LLVMTypeRef t, LLVMValueRef *v, unsigned n)
{
    LLVMTypeRef at = LLVMArrayType(t, n ? n : 1);
    LLVMValueRef a = LLVMBuildAlloca(e->b, at, "");
    for (unsigned i = 0; i < n; i++) {
        LLVMValueRef idx[2] = {LLVMConstInt(e->i32, 0, 0), LLVMConstInt(e->i32, i, 0)};
        LLVMBuildStore(e->b, v[i], LLVMBuildInBoundsGEP2(e->b, at, a, idx, 2, ""));
    }
    return a;
}

static char *api_name(const char *prefix, const char *what)
{
    char *r = xmalloc(strlen(prefix) + strlen(what) + 2);
    sprintf(r, "%s_%s", prefix, what);
    return r;
}

/* prefix_what, remembered as a name that stays external */
static char *export_name(NameVec *exported, const char *prefix, const char *what)
{
    char *name = api_name(prefix, what);
    vec_push(*exported, name);
    return name;
}

/* ---- the API ---------------------------------------------------------------------------- */

/* --external-weights: ndlrt.h's NdlrtWeightSpec per weight table entry (name, safetensors
 * dtype, shape [count] as write_weight_file writes it), in the C ABI's natural layout; the
 * executor checks the file against it and the info hands it to the driver. */
static LLVMValueRef weight_specs(EmitL *e)
{
    LLVMTypeRef dims_t = LLVMArrayType(e->i64, NDLRT_MAX_WEIGHT_RANK);
    LLVMTypeRef spec_t = LLVMStructTypeInContext(e->ctx, (LLVMTypeRef[]){e->ptr, e->i32, e->i32, dims_t}, 4, 0);
    LLVMValueRef *sv = xcalloc(e->w.n + 1, sizeof *sv);
    for (uint32_t i = 0; i < e->w.n; i++) {
        LLVMValueRef dims[NDLRT_MAX_WEIGHT_RANK];
        for (unsigned k = 0; k < NDLRT_MAX_WEIGHT_RANK; k++)
            dims[k] = LLVMConstInt(e->i64, k == 0 ? (unsigned long long)e->w.v[i].count : 0, 0);
        LLVMValueRef fields[4] = {cstr(e, e->w.v[i].name), LLVMConstInt(e->i32, (unsigned)st_dtype(e->w.v[i].dtype), 0),
                                  LLVMConstInt(e->i32, 1, 0), LLVMConstArray(e->i64, dims, NDLRT_MAX_WEIGHT_RANK)};
        sv[i] = LLVMConstStructInContext(e->ctx, fields, 4, 0);
    }
    LLVMValueRef init = LLVMConstArray(spec_t, sv, e->w.n);
    LLVMValueRef g = LLVMAddGlobal(e->mod, LLVMTypeOf(init), "ndlll_weight_specs");
    LLVMSetInitializer(g, init);
    LLVMSetGlobalConstant(g, 1);
    LLVMSetLinkage(g, LLVMPrivateLinkage);
    free(sv);
    return g;
}

typedef struct Api {
    LLVMValueRef prog, wtab, info;
    LLVMValueRef specs;      /* external weights: NdlrtWeightSpec[nweights]; else a null pointer */
    unsigned nspecs;
    unsigned nsym;
} Api;

static void emit_api(EmitL *e, const char *P, Api *a, NameVec *exported)
{
    const Module *m = e->m;
    LLVMTypeRef *pt = xcalloc(a->nsym + m->inputs.n + m->outputs.n + 5, sizeof *pt);
    LLVMValueRef *av = xcalloc(a->nsym + m->inputs.n + m->outputs.n + 5, sizeof *av);
#define EXPORT(n) export_name(exported, P, n)
    /* create(model, path) */
    pt[0] = e->ptr;
    pt[1] = e->ptr;
    LLVMValueRef create = define(e, EXPORT("create"), e->i32, pt, 2, true);
    av[0] = a->prog;
    av[1] = a->wtab;
    av[2] = a->specs;
    av[3] = LLVMGetParam(create, 0);
    av[4] = LLVMGetParam(create, 1);
    LLVMBuildRet(e->b, call(e, runtime_fn(e, "ndlll_create"), av, 5));
    /* reserve(model, syms...) */
    for (unsigned i = 0; i <= a->nsym; i++) pt[i] = i ? e->i64 : e->ptr;
    LLVMValueRef f = define(e, EXPORT("reserve"), e->i32, pt, a->nsym + 1, true);
    for (unsigned i = 0; i < a->nsym; i++) av[i] = LLVMGetParam(f, i + 1);
    LLVMValueRef s = stack_array(e, e->i64, av, a->nsym);
    LLVMValueRef args[6] = {a->prog, LLVMGetParam(f, 0), s};
    LLVMBuildRet(e->b, call(e, runtime_fn(e, "ndlll_reserve"), args, 3));
    /* run(model, syms..., inputs..., outputs...) */
    unsigned np = 1 + a->nsym + m->inputs.n + m->outputs.n;
    for (unsigned i = 0; i < np; i++) pt[i] = i == 0 || i > a->nsym ? e->ptr : e->i64;
    f = define(e, EXPORT("run"), e->i32, pt, np, true);
    for (unsigned i = 0; i < a->nsym; i++) av[i] = LLVMGetParam(f, 1 + i);
    s = stack_array(e, e->i64, av, a->nsym);
    for (unsigned i = 0; i < m->inputs.n; i++) av[i] = LLVMGetParam(f, 1 + a->nsym + i);
    LLVMValueRef in = stack_array(e, e->ptr, av, m->inputs.n);
    for (unsigned i = 0; i < m->outputs.n; i++) av[i] = LLVMGetParam(f, 1 + a->nsym + m->inputs.n + i);
    LLVMValueRef out = stack_array(e, e->ptr, av, m->outputs.n);
    LLVMValueRef rargs[6] = {a->prog, a->wtab, LLVMGetParam(f, 0), s, in, out};
    LLVMBuildRet(e->b, call(e, runtime_fn(e, "ndlll_run"), rargs, 6));
    /* <output>_dims(syms..., dims) */
    for (uint32_t k = 0; k < m->outputs.n; k++) {
        char what[512];
        snprintf(what, sizeof what, "%s_dims", m->outputs.v[k].name);
        for (unsigned i = 0; i <= a->nsym; i++) pt[i] = i < a->nsym ? e->i64 : e->ptr;
        f = define(e, EXPORT(what), e->i32, pt, a->nsym + 1, true);
        for (unsigned i = 0; i < a->nsym; i++) av[i] = LLVMGetParam(f, i);
        s = stack_array(e, e->i64, av, a->nsym);
        LLVMValueRef dargs[4] = {a->prog, LLVMConstInt(e->i64, k, 0), s, LLVMGetParam(f, a->nsym)};
        LLVMBuildRet(e->b, call(e, runtime_fn(e, "ndlll_dims"), dargs, 4));
    }
    /* workspace_bytes(syms...) */
    for (unsigned i = 0; i < a->nsym; i++) pt[i] = e->i64;
    f = define(e, EXPORT("workspace_bytes"), e->i64, pt, a->nsym, true);
    for (unsigned i = 0; i < a->nsym; i++) av[i] = LLVMGetParam(f, i);
    s = stack_array(e, e->i64, av, a->nsym);
    LLVMValueRef wargs[2] = {a->prog, s};
    LLVMBuildRet(e->b, call(e, runtime_fn(e, "ndlll_workspace_bytes"), wargs, 2));
    /* destroy, strerror */
    pt[0] = e->ptr;
    f = define(e, EXPORT("destroy"), e->vd, pt, 1, true);
    av[0] = LLVMGetParam(f, 0);
    call(e, runtime_fn(e, "ndlll_destroy"), av, 1);
    LLVMBuildRetVoid(e->b);
    pt[0] = e->i32;
    f = define(e, EXPORT("strerror"), e->ptr, pt, 1, true);
    av[0] = LLVMGetParam(f, 0);
    LLVMBuildRet(e->b, call(e, runtime_fn(e, "ndlrt_strerror"), av, 1));
    /* the info's generic entry points: reserve_v(model, s), run_v(model, s, in, out) */
    pt[0] = e->ptr;
    pt[1] = e->ptr;
    LLVMValueRef reserve_v = define(e, "ndlll_model_reserve", e->i32, pt, 2, false);
    LLVMValueRef vargs[6] = {a->prog, LLVMGetParam(reserve_v, 0), LLVMGetParam(reserve_v, 1)};
    LLVMBuildRet(e->b, call(e, runtime_fn(e, "ndlll_reserve"), vargs, 3));
    pt[2] = pt[3] = e->ptr;
    LLVMValueRef run_v = define(e, "ndlll_model_run", e->i32, pt, 4, false);
    LLVMValueRef qargs[6] = {a->prog, a->wtab, LLVMGetParam(run_v, 0), LLVMGetParam(run_v, 1),
                             LLVMGetParam(run_v, 2), LLVMGetParam(run_v, 3)};
    LLVMBuildRet(e->b, call(e, runtime_fn(e, "ndlll_run"), qargs, 6));

    /* struct NdlrtModelInfo and its ports, with the C ABI's natural layout */
    LLVMTypeRef dim_t = LLVMStructTypeInContext(e->ctx, (LLVMTypeRef[]){e->i64, e->i32, LLVMArrayType(e->i32, 4)}, 3, 0);
    LLVMTypeRef port_t = LLVMStructTypeInContext(e->ctx, (LLVMTypeRef[]){e->ptr, e->ptr, e->i32, e->ptr}, 4, 0);
    LLVMValueRef ports[2];
    for (int io = 0; io < 2; io++) {
        const IrPort *pp = io ? m->outputs.v : m->inputs.v;
        uint32_t n = io ? m->outputs.n : m->inputs.n;
        LLVMValueRef *pv = xcalloc(n + 1, sizeof *pv);
        for (uint32_t i = 0; i < n; i++) {
            const TensorType *t = ir_type(m, pp[i].value);
            LLVMValueRef dv[IR_MAX_RANK + 1];
            for (unsigned k = 0; k < t->rank; k++) {
                int64_t coef = t->dims[k];
                LLVMValueRef sym[4];
                unsigned nsym = 0;
                const DimExpr *x = t->dims[k] < 0 ? ir_dim_expr(m, t->dims[k]) : NULL;
                if (x) { coef = x->coef; nsym = x->nsym; }
                for (unsigned j = 0; j < 4; j++) sym[j] = LLVMConstInt(e->i32, j < nsym ? x->sym[j] - 1 : 0, 0);
                LLVMValueRef fields[3] = {LLVMConstInt(e->i64, (unsigned long long)coef, 1), LLVMConstInt(e->i32, nsym, 0),
                                          LLVMConstArray(e->i32, sym, 4)};
                dv[k] = LLVMConstStructInContext(e->ctx, fields, 3, 0);
            }
            if (!t->rank) dv[0] = LLVMConstNull(dim_t);
            LLVMValueRef dinit = LLVMConstArray(dim_t, dv, t->rank ? t->rank : 1);
            LLVMValueRef dg = LLVMAddGlobal(e->mod, LLVMTypeOf(dinit), ".dims");
            LLVMSetInitializer(dg, dinit);
            LLVMSetGlobalConstant(dg, 1);
            LLVMSetLinkage(dg, LLVMPrivateLinkage);
            LLVMValueRef fields[4] = {cstr(e, pp[i].name), cstr(e, dtype_info[t->dtype].name),
                                      LLVMConstInt(e->i32, t->rank, 0), dg};
            pv[i] = LLVMConstStructInContext(e->ctx, fields, 4, 0);
        }
        if (!n) pv[0] = LLVMConstNull(port_t);
        LLVMValueRef pinit = LLVMConstArray(port_t, pv, n ? n : 1);
        ports[io] = LLVMAddGlobal(e->mod, LLVMTypeOf(pinit), ".ports");
        LLVMSetInitializer(ports[io], pinit);
        LLVMSetGlobalConstant(ports[io], 1);
        LLVMSetLinkage(ports[io], LLVMPrivateLinkage);
        free(pv);
    }
    LLVMValueRef *sn = xcalloc(a->nsym + 1, sizeof *sn), *sb = xcalloc(a->nsym + 1, sizeof *sb);
    for (unsigned k = 0; k < a->nsym; k++) {
        sn[k] = cstr(e, m->syms.v[k + 1].name);
        sb[k] = LLVMConstInt(e->i64, (unsigned long long)m->syms.v[k + 1].bound, 0);
    }
    if (!a->nsym) sb[0] = LLVMConstInt(e->i64, 0, 0);
    LLVMValueRef sym_names = const_ptr_array(e, ".sym_names", sn, a->nsym);
    LLVMValueRef binit = LLVMConstArray(e->i64, sb, a->nsym ? a->nsym : 1);
    LLVMValueRef sym_bounds = LLVMAddGlobal(e->mod, LLVMTypeOf(binit), ".sym_bounds");
    LLVMSetInitializer(sym_bounds, binit);
    LLVMSetGlobalConstant(sym_bounds, 1);
    LLVMSetLinkage(sym_bounds, LLVMPrivateLinkage);
    free(sn);
    free(sb);
    /* moe_stats(model, layer, tokens, counts): the header declares it when the model has
     * moe layers (emitc_write_header); also the info's entry */
    LLVMValueRef moe_stats = LLVMConstNull(e->ptr);
    bool moe = false;
    for (OpId o = 1; o < m->ops.n; o++) moe |= !(m->ops.v[o].flags & OPF_DEAD) && m->ops.v[o].kind == OP_MOE_GATHER;
    if (moe) {
        LLVMTypeRef mt[4] = {e->ptr, e->i32, e->ptr, e->ptr};
        moe_stats = define(e, EXPORT("moe_stats"), e->i64, mt, 4, true);
        LLVMValueRef margs[5] = {a->prog, LLVMGetParam(moe_stats, 0), LLVMGetParam(moe_stats, 1),
                                 LLVMGetParam(moe_stats, 2), LLVMGetParam(moe_stats, 3)};
        LLVMBuildRet(e->b, call(e, runtime_fn(e, "ndlll_moe_stats"), margs, 5));
    }
    LLVMValueRef info_fields[17] = {
        cstr(e, m->name), LLVMConstInt(e->i32, a->nsym, 0), sym_names, sym_bounds,
        LLVMConstInt(e->i32, m->inputs.n, 0), LLVMConstInt(e->i32, m->outputs.n, 0), ports[0], ports[1],
        LLVMConstInt(e->i32, e->o->external_weights, 0), create, reserve_v, run_v,
        runtime_fn(e, "ndlll_destroy"), runtime_fn(e, "ndlrt_strerror"), moe_stats,
        a->specs, LLVMConstInt(e->i32, a->nspecs, 0)};
    LLVMValueRef iinit = LLVMConstStructInContext(e->ctx, info_fields, 17, 0);
    LLVMValueRef info = LLVMAddGlobal(e->mod, LLVMTypeOf(iinit), ".info");
    LLVMSetInitializer(info, iinit);
    LLVMSetGlobalConstant(info, 1);
    LLVMSetLinkage(info, LLVMPrivateLinkage);
    f = define(e, EXPORT("info"), e->ptr, NULL, 0, true);
    LLVMBuildRet(e->b, info);
    a->info = f;
#undef EXPORT
    free(pt);
    free(av);
}

/* ndlll_layer(op, cx, layer, scratch): a switch over the op kinds this model has. */
static void emit_dispatch(EmitL *e)
{
    LLVMTypeRef pt[4] = {e->i32, e->ptr, e->ptr, e->ptr};
    LLVMValueRef f = LLVMGetNamedFunction(e->mod, "ndlll_layer");
    if (!f) NDLC_ICE("the runtime bitcode does not call ndlll_layer");
    LLVMPositionBuilderAtEnd(e->b, LLVMAppendBasicBlockInContext(e->ctx, f, "entry"));
    LLVMBasicBlockRef other = LLVMAppendBasicBlockInContext(e->ctx, f, "other");
    unsigned n = 0;
    for (int k = 0; k < OP_COUNT; k++) n += e->op_used[k];
    LLVMValueRef sw = LLVMBuildSwitch(e->b, LLVMGetParam(f, 0), other, n);
    for (int k = 0; k < OP_COUNT; k++) {
        if (!e->op_used[k]) continue;
        LLVMBasicBlockRef bb = LLVMAppendBasicBlockInContext(e->ctx, f, op_info[k].name);
        LLVMAddCase(sw, LLVMConstInt(e->i32, (unsigned long long)k, 0), bb);
        LLVMPositionBuilderAtEnd(e->b, bb);
        LLVMValueRef args[3] = {LLVMGetParam(f, 1), LLVMGetParam(f, 2), LLVMGetParam(f, 3)};
        LLVMBuildRet(e->b, call(e, runtime_fn(e, op_fn((OpKind)k)), args, 3));
    }
    LLVMPositionBuilderAtEnd(e->b, other);
    LLVMBuildRet(e->b, LLVMConstInt(e->i32, NDLRT_EARG, 0));
    (void)pt;
}

/* What ndlll_run_layer folds into a layer's code: run layer k's record with each row's
 * place (input, output, weight or slot and its index) left out, into key. */
static void layer_key(const EmitL *e, int64_t k, I64Vec *key)
{
    const int64_t *prog = e->prog.v, *rec = prog + prog[prog[NDLLL_H_LAYERS] + k];
    int64_t nt = rec[NDLLL_L_NT];
    key->n = 0;
    vec_push(*key, rec[NDLLL_L_OP]);
    vec_push(*key, nt);
    for (int64_t i = 0; i < nt; i++) {
        int64_t r = rec[NDLLL_L_ROWS + i];
        const int64_t *row = prog + prog[NDLLL_H_ROWS] + r * NDLLL_ROW_WORDS;
        for (int w = NDLLL_ROW_DTYPE; w < NDLLL_ROW_WORDS; w++) vec_push(*key, r < 0 ? -1 : row[w]);
    }
    const int64_t *tail = rec + NDLLL_L_ROWS + nt, *end = tail + 5;
    for (int64_t a = 0; a < tail[4]; a++) end += 2 + end[1];
    for (const int64_t *p = tail; p < end; p++) vec_push(*key, *p);
}

static bool same_key(const I64Vec *a, const I64Vec *b)
{
    return a->n == b->n && memcmp(a->v, b->v, a->n * sizeof *a->v) == 0;
}

static void add_fn_attr(EmitL *e, LLVMValueRef f, const char *name)
{
    unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
    LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(e->ctx, kind, 0));
}

/* ndlll_layers(cx, model, scratch, moe_at): the run's layers unrolled, each one
 * ndlll_run_layer(prog, cx, model, k, k_at, scratch, moe_at) with the program and k
 * constant, the first nonzero status returned. With the executor's layer path
 * always-inline, O3 turns each into its layer's kernel call with the sizes folded in,
 * where a loop over the records decoded them and dispatched on every call (the C
 * backend's NET_run shape). Layers that differ only in where their tensors live (a
 * shared layer applied again, a recurse step, equal blocks) share one function,
 * `ndlll_shared`, specialized on the first of them and given k_at at run time, so that
 * code does not grow with the number of applications (tests/llvm/check_sharing.sh). */
static void emit_layers(EmitL *e, LLVMValueRef prog)
{
    LLVMValueRef f = LLVMGetNamedFunction(e->mod, "ndlll_layers");
    if (!f) NDLC_ICE("the runtime bitcode does not call ndlll_layers");
    LLVMValueRef step = runtime_fn(e, "ndlll_run_layer");
    add_fn_attr(e, step, "alwaysinline");
    add_fn_attr(e, runtime_fn(e, "ndlll_layer"), "alwaysinline");
    for (int k = 0; k < OP_COUNT; k++)
        if (e->op_used[k]) add_fn_attr(e, runtime_fn(e, op_fn((OpKind)k)), "alwaysinline");
    int64_t nlayers = e->prog.v[NDLLL_H_NLAYERS];
    /* first[k]: the first layer with k's key; uses[k]: how many layers have it (at first[k]) */
    int64_t *first = xcalloc((size_t)nlayers + 1, sizeof *first), *uses = xcalloc((size_t)nlayers + 1, sizeof *uses);
    I64Vec *keys = xcalloc((size_t)nlayers + 1, sizeof *keys);
    for (int64_t k = 0; k < nlayers; k++) {
        layer_key(e, k, &keys[k]);
        first[k] = k;
        for (int64_t j = 0; j < k; j++)
            if (first[j] == j && same_key(&keys[j], &keys[k])) {
                first[k] = j;
                break;
            }
        uses[first[k]]++;
    }
    /* one shared function per key of several layers: ndlll_shared(cx, model, k_at, scratch, moe_at) */
    LLVMValueRef *shared = xcalloc((size_t)nlayers + 1, sizeof *shared);
    LLVMTypeRef spt[5] = {e->ptr, e->ptr, e->i64, e->ptr, e->ptr};
    for (int64_t k = 0; k < nlayers; k++) {
        if (first[k] != k || uses[k] < 2) continue;
        shared[k] = define(e, "ndlll_shared", e->i32, spt, 5, false);
        add_fn_attr(e, shared[k], "noinline");
        LLVMValueRef args[7] = {prog, LLVMGetParam(shared[k], 0), LLVMGetParam(shared[k], 1),
                                LLVMConstInt(e->i64, (unsigned long long)k, 0), LLVMGetParam(shared[k], 2),
                                LLVMGetParam(shared[k], 3), LLVMGetParam(shared[k], 4)};
        LLVMBuildRet(e->b, call(e, step, args, 7));
    }
    LLVMPositionBuilderAtEnd(e->b, LLVMAppendBasicBlockInContext(e->ctx, f, "entry"));
    for (int64_t k = 0; k < nlayers; k++) {
        LLVMValueRef kc = LLVMConstInt(e->i64, (unsigned long long)k, 0), rc;
        if (shared[first[k]]) {
            LLVMValueRef args[5] = {LLVMGetParam(f, 0), LLVMGetParam(f, 1), kc, LLVMGetParam(f, 2), LLVMGetParam(f, 3)};
            rc = call(e, shared[first[k]], args, 5);
        } else {
            LLVMValueRef args[7] = {prog, LLVMGetParam(f, 0), LLVMGetParam(f, 1), kc, kc, LLVMGetParam(f, 2),
                                    LLVMGetParam(f, 3)};
            rc = call(e, step, args, 7);
        }
        LLVMBasicBlockRef fail = LLVMAppendBasicBlockInContext(e->ctx, f, "fail");
        LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(e->ctx, f, "next");
        LLVMBuildCondBr(e->b, LLVMBuildICmp(e->b, LLVMIntNE, rc, LLVMConstInt(e->i32, 0, 0), ""), fail, next);
        LLVMPositionBuilderAtEnd(e->b, fail);
        LLVMBuildRet(e->b, rc);
        LLVMPositionBuilderAtEnd(e->b, next);
    }
    LLVMBuildRet(e->b, LLVMConstInt(e->i32, 0, 0));
    for (int64_t k = 0; k < nlayers; k++) vec_free(keys[k]);
    free(keys);
    free(first);
    free(uses);
    free(shared);
}

/* ---- target ------------------------------------------------------------------------------- */

/* The ISA level of the runtime bitcode for a CPU: 4 AVX-512, 3 AVX2+FMA, 1 baseline. */
static int isa_level(const char *cpu, const char *features)
{
    if (features && features[0]) {
        bool f512 = strstr(features, "+avx512f") && strstr(features, "+avx512bw") && strstr(features, "+avx512dq") &&
                    strstr(features, "+avx512vl");
        if (f512) return 4;
        return strstr(features, "+avx2") && strstr(features, "+fma") ? 3 : 1;
    }
    static const char *const v4[] = {"x86-64-v4", "skylake-avx512", "skx", "cascadelake", "cooperlake",
                                      "cannonlake", "icelake", "tigerlake", "sapphirerapids", "graniterapids",
                                      "emeraldrapids", "rocketlake", "znver4", "znver5"};
    static const char *const v3[] = {"x86-64-v3", "haswell", "broadwell", "skylake", "alderlake", "raptorlake",
                                      "meteorlake", "arrowlake", "znver1", "znver2", "znver3", "bdver4"};
    for (size_t i = 0; i < sizeof v4 / sizeof *v4; i++)
        if (strncmp(cpu, v4[i], strlen(v4[i])) == 0) return 4;
    for (size_t i = 0; i < sizeof v3 / sizeof *v3; i++)
        if (strncmp(cpu, v3[i], strlen(v3[i])) == 0) return 3;
    return 1;
}

static LLVMTargetMachineRef make_tm(const char *cpu_opt, int opt_level, char **cpu_out, char **features_out,
                                    int *level, char *err, size_t errlen)
{
    LLVMInitializeNativeTarget();
    LLVMInitializeNativeAsmPrinter();
    char *triple = LLVMGetDefaultTargetTriple();
    LLVMTargetRef target;
    char *msg = NULL;
    if (LLVMGetTargetFromTriple(triple, &target, &msg)) {
        snprintf(err, errlen, "no LLVM target for '%s': %s", triple, msg ? msg : "");
        LLVMDisposeMessage(msg);
        LLVMDisposeMessage(triple);
        return NULL;
    }
    bool host = !cpu_opt || !cpu_opt[0] || strcmp(cpu_opt, "native") == 0;
    char *cpu = host ? LLVMGetHostCPUName() : xstrdup(cpu_opt);
    char *features = host ? LLVMGetHostCPUFeatures() : xstrdup("");
    *level = isa_level(cpu, features);
    LLVMCodeGenOptLevel cg = opt_level <= 0 ? LLVMCodeGenLevelNone
                             : opt_level == 1 ? LLVMCodeGenLevelLess : LLVMCodeGenLevelAggressive;
    LLVMTargetMachineRef tm = LLVMCreateTargetMachine(target, triple, cpu, features, cg, LLVMRelocPIC,
                                                      LLVMCodeModelDefault);
    LLVMDisposeMessage(triple);
    if (host) {
        *cpu_out = xstrdup(cpu);
        *features_out = xstrdup(features);
        LLVMDisposeMessage(cpu);
        LLVMDisposeMessage(features);
    } else {
        *cpu_out = cpu;
        *features_out = features;
    }
    if (!tm) snprintf(err, errlen, "LLVM cannot make a target machine for --cpu '%s'", *cpu_out);
    return tm;
}

/* Every function of the runtime gets the target's CPU and features; everything but the
 * API (and main) becomes internal, so that O3 can inline, specialize and drop it. */
static void finish_functions(EmitL *e, const char *cpu, const char *features, char **exported, uint32_t nexp)
{
    for (LLVMValueRef f = LLVMGetFirstFunction(e->mod); f; f = LLVMGetNextFunction(f)) {
        if (LLVMIsDeclaration(f)) continue;
        LLVMRemoveStringAttributeAtIndex(f, LLVMAttributeFunctionIndex, "tune-cpu", 8);
        LLVMRemoveStringAttributeAtIndex(f, LLVMAttributeFunctionIndex, "target-features", 15);
        LLVMAddTargetDependentFunctionAttr(f, "target-cpu", cpu);
        if (features[0]) LLVMAddTargetDependentFunctionAttr(f, "target-features", features);
        size_t len;
        const char *name = LLVMGetValueName2(f, &len);
        bool keep = strcmp(name, "main") == 0;
        for (uint32_t i = 0; i < nexp && !keep; i++) keep = strcmp(name, exported[i]) == 0;
        if (!keep) LLVMSetLinkage(f, LLVMInternalLinkage);
    }
    for (LLVMValueRef g = LLVMGetFirstGlobal(e->mod); g; g = LLVMGetNextGlobal(g))
        if (!LLVMIsDeclaration(g) && LLVMGetLinkage(g) == LLVMExternalLinkage) LLVMSetLinkage(g, LLVMInternalLinkage);
}

/* ---- output ---------------------------------------------------------------------------------- */

static bool run_linker(const char *obj, const char *exe, char *err, size_t errlen)
{
    const char *cc = getenv("CC");
    char *argv[] = {(char *)(cc && cc[0] ? cc : "cc"), "-o", (char *)exe, (char *)obj, "-lm", NULL};
    return backend_run(argv, "the linker", "on the object", err, errlen);
}

/* The object (or IR) goes to a temporary beside out (backend_temp_create; an object
 * without a suffix is still linker input for cc), then to out by backend_install; an
 * executable links the object into a second, regular temporary. */
static bool write_output(EmitL *e, LLVMTargetMachineRef tm, EmitLlvmKind kind, const char *out, char *err,
                         size_t errlen)
{
    char *msg = NULL;
    char *tmp = backend_temp_create(out, kind == EMITLL_EXE, NULL, err, errlen);
    if (!tmp) return false;
    bool ok;
    if (kind == EMITLL_IR) ok = !LLVMPrintModuleToFile(e->mod, tmp, &msg);
    else ok = !LLVMTargetMachineEmitToFile(tm, e->mod, tmp, LLVMObjectFile, &msg);
    if (!ok) snprintf(err, errlen, "LLVM cannot write '%s': %s", out, msg ? msg : "");
    LLVMDisposeMessage(msg);
    if (ok && kind == EMITLL_EXE) {
        char *exe = backend_temp_create(out, true, NULL, err, errlen);
        ok = exe && run_linker(tmp, exe, err, errlen);
        ok = ok && backend_install(exe, out, err, errlen);
        if (exe) unlink(exe);
        free(exe);
    } else if (ok) {
        ok = backend_install(tmp, out, err, errlen);
    }
    if (strcmp(tmp, out) != 0) unlink(tmp);
    free(tmp);
    return ok;
}

static bool write_weight_file(EmitL *e, char *err, size_t errlen)
{
    NdlrtStOut *t = xcalloc(e->w.n + 1, sizeof *t);
    int64_t *shapes = xcalloc(e->w.n + 1, sizeof *shapes);
    for (uint32_t i = 0; i < e->w.n; i++) {
        shapes[i] = (int64_t)e->w.v[i].count;
        t[i] = (NdlrtStOut){e->w.v[i].name, st_dtype(e->w.v[i].dtype), 1, &shapes[i], e->w.v[i].data};
    }
    bool ok = ndlrt_st_write(e->o->weights_path, t, e->w.n, err, errlen) == 0;
    free(t);
    free(shapes);
    return ok;
}

bool emitll_available(void) { return true; }

bool emitll_module(const Module *m, const EmitOptions *o, EmitLlvmKind kind, const char *out, const char *cpu_opt,
                   char *err, size_t errlen)
{
    EmitL e = {.m = m, .o = o};
    plan_build_with_init(m, &e.plan);
    bool ok = e.plan.nslots <= MAX_SLOTS;
    if (!ok) snprintf(err, errlen, "the LLVM backend supports at most %d workspace slots", MAX_SLOTS);
    if (ok) build_program(&e);
    if (ok && e.err[0]) {
        snprintf(err, errlen, "%s", e.err);
        ok = false;
    }
    char *cpu = NULL, *features = NULL;
    int level = 1;
    LLVMTargetMachineRef tm = ok ? make_tm(cpu_opt, o->opt_level, &cpu, &features, &level, err, errlen) : NULL;
    ok = ok && tm;
    if (ok) {
        e.ctx = LLVMContextCreate();
        const unsigned char *bc = level == 4 ? ndlc_bc_v4 : level == 3 ? ndlc_bc_v3 : ndlc_bc_v1;
        const unsigned char *end = level == 4 ? ndlc_bc_v4_end : level == 3 ? ndlc_bc_v3_end : ndlc_bc_v1_end;
        LLVMMemoryBufferRef buf = LLVMCreateMemoryBufferWithMemoryRange((const char *)bc, (size_t)(end - bc),
                                                                        "ndlrt.bc", 0);
        if (LLVMParseBitcodeInContext2(e.ctx, buf, &e.mod)) NDLC_ICE("the embedded runtime bitcode does not parse");
        LLVMDisposeMemoryBuffer(buf);
        char *triple = LLVMGetTargetMachineTriple(tm);
        LLVMSetTarget(e.mod, triple);
        LLVMDisposeMessage(triple);
        LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
        LLVMSetModuleDataLayout(e.mod, td);
        LLVMDisposeTargetData(td);
        e.b = LLVMCreateBuilderInContext(e.ctx);
        e.i8 = LLVMInt8TypeInContext(e.ctx);
        e.i32 = LLVMInt32TypeInContext(e.ctx);
        e.i64 = LLVMInt64TypeInContext(e.ctx);
        e.ptr = LLVMPointerType(e.i8, 0);
        e.vd = LLVMVoidTypeInContext(e.ctx);

        char *P = emitc_prefix(m);
        Api a = {.nsym = ir_api_symbols(m) - 1};
        a.prog = const_bytes(&e, "ndlll_program", e.prog.v, e.prog.n * sizeof(int64_t), 8, false);
        LLVMValueRef *wv = xcalloc(e.w.n + 1, sizeof *wv);
        for (uint32_t i = 0; i < e.w.n; i++)
            wv[i] = o->external_weights ? LLVMConstNull(e.ptr)
                                        : const_bytes(&e, e.w.v[i].name, e.w.v[i].data, e.w.v[i].bytes, 64, false);
        a.wtab = const_ptr_array(&e, "ndlll_weights", wv, e.w.n);
        free(wv);
        a.specs = LLVMConstNull(e.ptr);
        if (o->external_weights && e.w.n) {
            a.specs = weight_specs(&e);
            a.nspecs = e.w.n;
        }
        NameVec exported = {0};
        emit_api(&e, P, &a, &exported);
        emit_dispatch(&e);
        emit_layers(&e, a.prog);
        if (kind == EMITLL_EXE) {
            LLVMTypeRef pt[2] = {e.i32, e.ptr};
            LLVMValueRef mainf = define(&e, "main", e.i32, pt, 2, true);
            LLVMValueRef info = call(&e, a.info, NULL, 0);
            LLVMValueRef args[3] = {info, LLVMGetParam(mainf, 0), LLVMGetParam(mainf, 1)};
            LLVMBuildRet(e.b, call(&e, runtime_fn(&e, "ndlrt_driver_main"), args, 3));
        }
        if (kind == EMITLL_IR) { /* the program as written, for readers of the IR: O3 may fold it away */
            LLVMMetadataRef *md = xmalloc((e.prog.n + 1) * sizeof *md);
            for (uint32_t i = 0; i < e.prog.n; i++)
                md[i] = LLVMValueAsMetadata(LLVMConstInt(e.i64, (unsigned long long)e.prog.v[i], 1));
            LLVMAddNamedMetadataOperand(e.mod, "ndlll.program",
                                        LLVMMetadataAsValue(e.ctx, LLVMMDNodeInContext2(e.ctx, md, e.prog.n)));
            free(md);
        }
        finish_functions(&e, cpu, features, exported.v, exported.n);
        char *msg = NULL;
        if (LLVMVerifyModule(e.mod, LLVMReturnStatusAction, &msg)) NDLC_ICE("invalid LLVM module: %s", msg);
        LLVMDisposeMessage(msg);
        LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
        /* -O0 and -O1 as LLVM's; the default -O2 and -O3 are O3, as the C backend's cc */
        const char *pipeline = o->opt_level <= 0 ? "globaldce,default<O0>"
                               : o->opt_level == 1 ? "globaldce,default<O1>" : "globaldce,default<O3>";
        LLVMErrorRef perr = LLVMRunPasses(e.mod, pipeline, tm, po);
        if (perr) {
            char *pm = LLVMGetErrorMessage(perr);
            NDLC_ICE("LLVM passes failed: %s", pm);
        }
        LLVMDisposePassBuilderOptions(po);
        ok = write_output(&e, tm, kind, out, err, errlen);
        if (ok && o->external_weights) ok = write_weight_file(&e, err, errlen);
        for (uint32_t i = 0; i < exported.n; i++) free(exported.v[i]);
        vec_free(exported);
        free(P);
        LLVMDisposeBuilder(e.b);
        LLVMDisposeModule(e.mod);
        LLVMContextDispose(e.ctx);
    }
    if (tm) LLVMDisposeTargetMachine(tm);
    free(cpu);
    free(features);
    for (uint32_t i = 0; i < e.w.n; i++) {
        free(e.w.v[i].name);
        free(e.w.v[i].owned);
    }
    vec_free(e.w);
    vec_free(e.prog);
    vec_free(e.rows);
    free(e.value_row);
    free(e.weight_entry);
    free(e.compressed_only);
    vec_free(e.packs);
    plan_free(&e.plan);
    return ok;
}
