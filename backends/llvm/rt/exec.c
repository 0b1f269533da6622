/* SPDX-License-Identifier: MIT
 * exec.c - the generic model executor of the LLVM backend. Compiled by clang into LLVM
 * bitcode when ndlc is built, embedded into ndlc, and linked into every model's module,
 * where emit.c gives it internal linkage so that O3 specializes it for the model.
 *
 * It reads the program (program.h) the emitter built from the planned IR and runs each
 * layer through the same runtime kernels (runtime/kernels) that the C backend's generated
 * code calls, computing the kernels' parameter structs from the tensors' dims exactly as
 * backends/c/emit_ops.c writes them. Like generated C: no globals, no I/O in run, memory
 * only in create/reserve and in run when a size grows beyond what was reserved.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../program.h"
#define NDLLL_MAX_RANK 8 /* IR_MAX_RANK */
#include "../../../runtime/ndlrt.h"
#include "../../../runtime/safetensors.h"
#include "exec.h"

struct NdlllCx {
    const int64_t *prog;
    const int64_t *s;                /* symbol values */
    const void *const *in;
    void *const *out;
    const void *const *w;            /* weight table */
    unsigned char *ws;
    const size_t *off;               /* workspace slot offsets, off[nslots] = scratch */
    void *const *init;               /* the instance's init buffers */
};
typedef NdlllCx Cx;

struct NdlllLayer {
    int op, nt, act, act2, residual, packed, nattr;
    const int64_t *rows, *attrs;
    /* where the tensors live: rows (dims and dtypes) and prows (pointers) are the same
     * layer's, except in a function shared by layers that differ only in where their
     * tensors live (ndlll_run_layer), where rows are the first such layer's */
    const int64_t *prows;
};
typedef NdlllLayer Layer;

/* ---- dims and rows --------------------------------------------------------------------- */

static size_t dtype_size(int64_t dt)
{
    switch (dt) {
    case NDLLL_DT_I64: case NDLLL_DT_F64: return 8;
    case NDLLL_DT_F32: case NDLLL_DT_I32: return 4;
    case NDLLL_DT_F16: case NDLLL_DT_BF16: case NDLLL_DT_I16: return 2;
    default: return 1;
    }
}

/* Without a division: dimv runs for every symbolic dim of every layer on every call, and a
 * 64-bit divide per dim was a fifth of a tiny model's executor time. */
static int mul_over(int64_t a, int64_t b, int64_t *r)
{
    if (a < 0 || b < 0) return 1;
    return __builtin_mul_overflow(a, b, r);
}

/* A dim's value; -1 on overflow. */
static int64_t dimv(const int64_t *prog, const int64_t *s, int64_t d)
{
    if (d >= 0) return d;
    const int64_t *e = prog + prog[NDLLL_H_DIMS] + (-d - 1) * NDLLL_DIM_WORDS;
    int64_t v = e[NDLLL_DIM_COEF];
    for (int64_t i = 0; i < e[NDLLL_DIM_NSYM]; i++)
        if (mul_over(v, s[e[NDLLL_DIM_SYM0 + i]], &v)) return -1;
    return v;
}

static const int64_t *row_of(const int64_t *prog, int64_t r) { return prog + prog[NDLLL_H_ROWS] + r * NDLLL_ROW_WORDS; }
static int rank_of(const Cx *c, int64_t r) { return (int)row_of(c->prog, r)[NDLLL_ROW_RANK]; }
static int64_t dtype_of(const Cx *c, int64_t r) { return row_of(c->prog, r)[NDLLL_ROW_DTYPE]; }
static int64_t dim_of(const Cx *c, int64_t r, int i) { return dimv(c->prog, c->s, row_of(c->prog, r)[NDLLL_ROW_DIMS + i]); }

/* Product of dims [from, to) of row r (saturating at -1 is not needed: run checked sizes). */
static int64_t prod(const Cx *c, int64_t r, int from, int to)
{
    int64_t p = 1;
    for (int i = from; i < to; i++) p *= dim_of(c, r, i);
    return p;
}

static int64_t numel(const Cx *c, int64_t r) { return prod(c, r, 0, rank_of(c, r)); }

/* Bytes of row r with saturation (SIZE_MAX when absurd, so that allocation fails). */
static size_t row_bytes(const int64_t *prog, const int64_t *s, int64_t r)
{
    const int64_t *w = row_of(prog, r);
    int64_t n = (int64_t)dtype_size(w[NDLLL_ROW_DTYPE]);
    for (int64_t i = 0; i < w[NDLLL_ROW_RANK]; i++) {
        int64_t d = dimv(prog, s, w[NDLLL_ROW_DIMS + i]);
        if (d < 0 || mul_over(n, d, &n)) return SIZE_MAX;
    }
    return (size_t)n;
}

static void *ptr_of(const Cx *c, int64_t r)
{
    if (r < 0) return NULL;
    const int64_t *w = row_of(c->prog, r);
    int64_t i = w[NDLLL_ROW_INDEX];
    switch (w[NDLLL_ROW_AT]) {
    case NDLLL_AT_INPUT: return (void *)c->in[i];
    case NDLLL_AT_OUTPUT: return c->out[i];
    case NDLLL_AT_WEIGHT: return (void *)c->w[i];
    case NDLLL_AT_INIT: return c->init[i];
    default: return c->ws + c->off[i];
    }
}

/* Layer k of the offset table at prog[table] (NDLLL_H_LAYERS: run, NDLLL_H_INIT_LAYERS: create). */
static Layer layer_in(const int64_t *prog, int table, int64_t k)
{
    const int64_t *p = prog + prog[prog[table] + k];
    Layer l;
    l.op = (int)p[NDLLL_L_OP];
    l.nt = (int)p[NDLLL_L_NT];
    l.rows = l.prows = p + NDLLL_L_ROWS;
    p = l.rows + l.nt;
    l.act = (int)p[0];
    l.act2 = (int)p[1];
    l.residual = (int)p[2];
    l.packed = (int)p[3];
    l.nattr = (int)p[4];
    l.attrs = p + 5;
    return l;
}

static Layer layer_at(const int64_t *prog, int64_t k) { return layer_in(prog, NDLLL_H_LAYERS, k); }

static const int64_t *attr(const Layer *l, int key, int64_t *n)
{
    const int64_t *a = l->attrs;
    for (int i = 0; i < l->nattr; i++) {
        if (a[0] == key) {
            if (n) *n = a[1];
            return a + 2;
        }
        a += 2 + a[1];
    }
    if (n) *n = 0;
    return NULL;
}

static int64_t attr_int(const Layer *l, int key)
{
    const int64_t *a = attr(l, key, NULL);
    return a ? a[0] : 0;
}

static float attr_float(const Layer *l, int key)
{
    const int64_t *a = attr(l, key, NULL);
    double d = 0;
    if (a) memcpy(&d, a, sizeof d);
    return (float)d;
}

#define X(i) ptr_of(c, l->prows[i])
#define Y ptr_of(c, l->prows[l->nt - 1])
#define YR (l->rows[l->nt - 1])

static NdlrtEpilogue epilogue(const Cx *c, const Layer *l, int has_bias)
{
    NdlrtEpilogue ep = {has_bias ? (const float *)X(2) : NULL, l->act,
                        l->residual >= 0 ? (const float *)X(l->residual) : NULL, l->act2};
    return ep;
}

/* ---- elementwise ------------------------------------------------------------------------ */

int ndlll_op_unary(const Cx *c, const Layer *l, float *scratch)
{
    const float *a = X(0);
    float *y = Y;
    int64_t n = numel(c, YR);
    switch (l->op) {
#define EW1(K, name, expr) \
    case NDLLL_OP_##K: for (int64_t i = 0; i < n; i++) { const float x = a[i]; y[i] = expr; } break;
#include "../../../ir/eltwise.def"
#undef EW1
    default: return NDLRT_EARG;
    }
    return 0;
}

/* Broadcast strides (elements) of operand row r against the result's rank. */
static void bstrides(const Cx *c, int64_t r, int out_rank, int64_t *st)
{
    int rk = rank_of(c, r), off = out_rank - rk;
    int64_t acc = 1;
    for (int i = out_rank - 1; i >= 0; i--) {
        int64_t d = i < off ? 1 : dim_of(c, r, i - off);
        st[i] = d == 1 ? 0 : acc;
        acc *= d;
    }
}

/* y = A op B over the result's index space, the last axis innermost. */
#define BIN_LOOP(T, EXPR)                                                                  \
    do {                                                                                   \
        const T *a_ = X(0), *b_ = X(1);                                                    \
        T *y_ = Y;                                                                         \
        int64_t k_ = 0;                                                                    \
        for (int64_t o_ = 0; o_ < outer; o_++) {                                           \
            int64_t ia = 0, ib = 0, t_ = o_;                                               \
            for (int d_ = rank - 2; d_ >= 0; d_--) {                                       \
                int64_t q_ = dims[d_] ? t_ % dims[d_] : 0;                                 \
                t_ = dims[d_] ? t_ / dims[d_] : 0;                                         \
                ia += q_ * sa[d_];                                                         \
                ib += q_ * sb[d_];                                                         \
            }                                                                              \
            for (int64_t j = 0; j < last; j++, k_++) {                                     \
                T A = a_[ia + j * sa_l], B = b_[ib + j * sb_l];                            \
                y_[k_] = EXPR;                                                             \
            }                                                                              \
        }                                                                                  \
    } while (0)

#define BIN_OPS(T, UT)                                                                     \
    switch (l->op) {                                                                       \
    case NDLLL_OP_ADD: BIN_LOOP(T, (T)((UT)A + (UT)B)); break;                                   \
    case NDLLL_OP_SUB: BIN_LOOP(T, (T)((UT)A - (UT)B)); break;                                   \
    case NDLLL_OP_MUL: BIN_LOOP(T, (T)((UT)A * (UT)B)); break;                                   \
    default: BIN_LOOP(T, (T)((UT)A / (UT)B)); break;                                       \
    }

int ndlll_op_binary(const Cx *c, const Layer *l, float *scratch)
{
    int rank = rank_of(c, YR);
    int64_t sa[NDLLL_MAX_RANK + 1], sb[NDLLL_MAX_RANK + 1], dims[NDLLL_MAX_RANK + 1];
    if (rank == 0) {
        sa[0] = sb[0] = 0;
        dims[0] = 1;
        rank = 1;
    } else {
        bstrides(c, l->rows[0], rank, sa);
        bstrides(c, l->rows[1], rank, sb);
        for (int i = 0; i < rank; i++) dims[i] = dim_of(c, YR, i);
    }
    int64_t last = dims[rank - 1], sa_l = sa[rank - 1], sb_l = sb[rank - 1], outer = 1;
    for (int i = 0; i + 1 < rank; i++) outer *= dims[i];
    switch (dtype_of(c, YR)) {
    case NDLLL_DT_F32:
        switch (l->op) {
        case NDLLL_OP_ADD: BIN_LOOP(float, A + B); break;
        case NDLLL_OP_SUB: BIN_LOOP(float, A - B); break;
        case NDLLL_OP_MUL: BIN_LOOP(float, A * B); break;
        default: BIN_LOOP(float, A / B); break;
        }
        break;
    case NDLLL_DT_I32: BIN_OPS(int32_t, uint32_t) break;
    default: BIN_OPS(int64_t, uint64_t) break;
    }
    return 0;
}

#define CAST_LOOP(TS, TD, EXPR)                                                            \
    do {                                                                                   \
        const TS *a_ = X(0);                                                               \
        TD *y_ = Y;                                                                        \
        for (int64_t i = 0; i < n; i++) {                                                  \
            const TS x = a_[i];                                                            \
            y_[i] = EXPR;                                                                  \
        }                                                                                  \
    } while (0)

#define CAST_FROM(TS)                                                                      \
    switch (to) {                                                                          \
    case NDLLL_DT_F32: CAST_LOOP(TS, float, (float)x); break;                                    \
    case NDLLL_DT_I32: CAST_LOOP(TS, int32_t, (int32_t)x); break;                                \
    case NDLLL_DT_I64: CAST_LOOP(TS, int64_t, (int64_t)x); break;                                \
    default: CAST_LOOP(TS, uint8_t, x != 0); break;                                        \
    }

int ndlll_op_cast(const Cx *c, const Layer *l, float *scratch)
{
    int64_t from = dtype_of(c, l->rows[0]), to = dtype_of(c, YR), n = numel(c, YR);
    if (from == NDLLL_DT_F32) {
        /* truncation toward zero; NaN and out-of-range give the minimum, as on x86 */
        switch (to) {
        case NDLLL_DT_I32: CAST_LOOP(float, int32_t, (x != x || x >= 2147483648.0f || x < -2147483648.0f) ? INT32_MIN : (int32_t)x); break;
        case NDLLL_DT_I64: CAST_LOOP(float, int64_t, (x != x || x >= 9223372036854775808.0f || x < -9223372036854775808.0f) ? INT64_MIN : (int64_t)x); break;
        case NDLLL_DT_F32: CAST_LOOP(float, float, x); break;
        default: CAST_LOOP(float, uint8_t, x != 0); break;
        }
    } else if (from == NDLLL_DT_I64 && to == NDLLL_DT_I32) {
        CAST_LOOP(int64_t, int32_t, (int32_t)(uint32_t)(uint64_t)x);
    } else if (from == NDLLL_DT_I32) {
        CAST_FROM(int32_t)
    } else if (from == NDLLL_DT_I64) {
        CAST_FROM(int64_t)
    } else {
        CAST_FROM(uint8_t)
    }
    return 0;
}

/* ---- reductions and normalizations ---------------------------------------------------- */

static NdlrtAxis axis_split(const Cx *c, int64_t r, int from, int to)
{
    NdlrtAxis a = {prod(c, r, 0, from), prod(c, r, from, to), prod(c, r, to, rank_of(c, r))};
    return a;
}

int ndlll_op_softmax(const Cx *c, const Layer *l, float *scratch)
{
    int d = (int)attr_int(l, NDLLL_ATTR_DIM);
    NdlrtAxis p = axis_split(c, YR, d, d + 1);
    if (l->op == NDLLL_OP_SOFTMAX) ndlrt_softmax_f32(&p, X(0), Y);
    else ndlrt_log_softmax_f32(&p, X(0), Y);
    return 0;
}

static int reduce_contiguous(const int64_t *dims, int64_t nd)
{
    return nd == 0 || dims[nd - 1] - dims[0] + 1 == nd;
}

int ndlll_op_reduce(const Cx *c, const Layer *l, float *scratch)
{
    int64_t nd;
    const int64_t *dims = attr(l, NDLLL_ATTR_DIMS, &nd);
    int kind = l->op == NDLLL_OP_REDUCE_SUM ? 0 : l->op == NDLLL_OP_REDUCE_MEAN ? 1 : l->op == NDLLL_OP_REDUCE_MAX ? 2 : 3;
    int64_t xr = l->rows[0];
    int rank = rank_of(c, xr);
    if (reduce_contiguous(dims, nd)) {
        NdlrtAxis p = axis_split(c, xr, nd ? (int)dims[0] : 0, nd ? (int)dims[nd - 1] + 1 : 0);
        ndlrt_reduce_f32(&p, kind, X(0), Y);
        return 0;
    }
    /* bring the reduced axes together: [kept..., reduced...] in scratch */
    int64_t perm[NDLLL_MAX_RANK], xd[NDLLL_MAX_RANK], kept = 1, red = 1;
    int k = 0, isred[NDLLL_MAX_RANK] = {0};
    for (int64_t i = 0; i < nd; i++) isred[dims[i]] = 1;
    for (int i = 0; i < rank; i++) {
        xd[i] = dim_of(c, xr, i);
        if (!isred[i]) { perm[k++] = i; kept *= xd[i]; }
    }
    for (int i = 0; i < rank; i++)
        if (isred[i]) { perm[k++] = i; red *= xd[i]; }
    ndlrt_permute(rank, xd, perm, sizeof(float), X(0), scratch);
    NdlrtAxis p = {kept, red, 1};
    ndlrt_reduce_f32(&p, kind, scratch, Y);
    return 0;
}

int ndlll_op_argmax(const Cx *c, const Layer *l, float *scratch)
{
    int64_t d = attr_int(l, NDLLL_ATTR_DIM), xr = l->rows[0];
    NdlrtAxis p = d < 0 ? axis_split(c, xr, 0, rank_of(c, xr)) : axis_split(c, xr, (int)d, (int)d + 1);
    ndlrt_argmax_f32(&p, X(0), Y);
    return 0;
}

int ndlll_op_norm(const Cx *c, const Layer *l, float *scratch)
{
    int64_t xr = l->rows[0];
    int rank = rank_of(c, xr);
    float eps = attr_float(l, NDLLL_ATTR_EPS);
    if (l->op == NDLLL_OP_BATCH_NORM)
        ndlrt_batch_norm_f32(prod(c, xr, 0, 1), dim_of(c, xr, 1), prod(c, xr, 2, rank), X(0), X(1), X(2), X(3),
                             X(4), eps, Y);
    else if (l->op == NDLLL_OP_LAYER_NORM)
        ndlrt_layer_norm_f32(prod(c, xr, 0, rank - 1), dim_of(c, xr, rank - 1), X(0), X(1), X(2), eps, Y);
    else
        ndlrt_rms_norm_f32(prod(c, xr, 0, rank - 1), dim_of(c, xr, rank - 1), X(0), X(1), eps, Y);
    return 0;
}

/* ---- GEMM-based ops -------------------------------------------------------------------- */

typedef struct MatmulShape {
    int64_t m, k, n;
} MatmulShape;

static MatmulShape matmul_shape(const Cx *c, const Layer *l)
{
    int64_t a = l->rows[0], b = l->rows[1];
    int ra = rank_of(c, a), rb = rank_of(c, b);
    MatmulShape s = {ra == 1 ? 1 : dim_of(c, a, ra - 2), dim_of(c, a, ra - 1), rb == 1 ? 1 : dim_of(c, b, rb - 1)};
    return s;
}

int ndlll_op_matmul(const Cx *c, const Layer *l, float *scratch)
{
    int64_t ar = l->rows[0], br = l->rows[1];
    int ra = rank_of(c, ar), rb = rank_of(c, br);
    MatmulShape s = matmul_shape(c, l);
    int ba = ra > 2 ? ra - 2 : 0, bb = rb > 2 ? rb - 2 : 0, by = ba > bb ? ba : bb;
    int64_t bt[NDLLL_MAX_RANK];
    for (int i = 0; i < by; i++) bt[i] = dim_of(c, YR, i);
    int a_full = ba == by, b_full = bb == by, a_none = 1, b_none = 1;
    for (int i = 0; i < ba; i++) {
        a_full &= dim_of(c, ar, i) == bt[i];
        a_none &= dim_of(c, ar, i) == 1;
    }
    for (int i = 0; i < bb; i++) {
        b_full &= dim_of(c, br, i) == bt[i + by - bb];
        b_none &= dim_of(c, br, i) == 1;
    }
    for (int i = 0; i < ba; i++) a_full &= dim_of(c, ar, i) == bt[i + by - ba];
    int64_t batch = 1;
    for (int i = 0; i < by; i++) batch *= bt[i];
    const float *a = X(0), *b = X(1);
    float *y = Y;
    if ((a_full || a_none) && (b_full || b_none)) {
        NdlrtMatmul q = {batch, s.m, s.n, s.k, a_full && by ? s.m * s.k : 0, b_full && by ? s.k * s.n : 0,
                         s.m * s.n, 0};
        ndlrt_matmul_f32(&q, a, b, y, scratch);
        return 0;
    }
    /* general batch broadcasting: one call per batch index */
    int64_t sa[NDLLL_MAX_RANK] = {0}, sb[NDLLL_MAX_RANK] = {0}, acc = 1;
    for (int i = by - 1; i >= 0; i--) {
        int j = i - (by - ba);
        int64_t d = j < 0 ? 1 : dim_of(c, ar, j);
        sa[i] = d == 1 ? 0 : acc;
        acc *= d;
    }
    acc = 1;
    for (int i = by - 1; i >= 0; i--) {
        int j = i - (by - bb);
        int64_t d = j < 0 ? 1 : dim_of(c, br, j);
        sb[i] = d == 1 ? 0 : acc;
        acc *= d;
    }
    NdlrtMatmul q = {1, s.m, s.n, s.k, 0, 0, 0, 0};
    for (int64_t t = 0; t < batch; t++) {
        int64_t ia = 0, ib = 0, r = t;
        for (int i = by - 1; i >= 0; i--) {
            int64_t qd = r % bt[i];
            r /= bt[i];
            ia += qd * sa[i];
            ib += qd * sb[i];
        }
        ndlrt_matmul_f32(&q, a + ia * s.m * s.k, b + ib * s.k * s.n, y + t * s.m * s.n, scratch);
    }
    return 0;
}

int ndlll_op_linear(const Cx *c, const Layer *l, float *scratch)
{
    int64_t xr = l->rows[0], wr = l->rows[1];
    int64_t rows = prod(c, xr, 0, rank_of(c, xr) - 1), n = dim_of(c, wr, 0), k = dim_of(c, wr, 1);
    if (l->packed == NDLLL_PACK_HASHED) { /* the weight's rows hashed from the pool, tile by tile */
        const int64_t *wt = c->prog + c->prog[NDLLL_H_WEIGHTS] + 3 * row_of(c->prog, l->prows[1])[NDLLL_ROW_INDEX];
        const NdlrtLinearHashed q = {rows, n, k, X(1), wt[1], (uint32_t)attr_int(l, NDLLL_ATTR_SEED),
                                     epilogue(c, l, l->rows[2] >= 0)};
        ndlrt_linear_hashed_f32(&q, X(0), Y, scratch);
        return 0;
    }
    if (l->packed == NDLLL_PACK_SPARSE) {
        const NdlrtSparseLinear q = {rows, n, k, X(1), epilogue(c, l, l->rows[2] >= 0)};
        ndlrt_sparse_linear_f32(&q, X(0), Y, scratch);
        return 0;
    }
    NdlrtLinear p = {rows, n, k, X(1), epilogue(c, l, l->rows[2] >= 0)};
    if (!l->packed) {
        ndlrt_linear_pack(n, k, X(1), scratch);
        p.w_packed = scratch;
        scratch += ndlrt_linear_packed_floats(n, k);
    }
    ndlrt_linear_f32(&p, X(0), Y, scratch);
    return 0;
}

static NdlrtConv2d conv_params(const Cx *c, const Layer *l)
{
    int64_t xr = l->rows[0], wr = l->rows[1];
    int b = rank_of(c, xr) == 4;
    const int64_t *st = attr(l, NDLLL_ATTR_STRIDE, NULL), *pd = attr(l, NDLLL_ATTR_PAD, NULL);
    const int64_t *dl = attr(l, NDLLL_ATTR_DILATION, NULL);
    NdlrtConv2d p = {b ? dim_of(c, xr, 0) : 1, dim_of(c, xr, b), dim_of(c, xr, b + 1), dim_of(c, xr, b + 2),
                     dim_of(c, wr, 0), dim_of(c, wr, 2), dim_of(c, wr, 3), dim_of(c, YR, b + 1),
                     dim_of(c, YR, b + 2), st[0], st[1], pd[0], pd[1], dl[0], dl[1],
                     attr_int(l, NDLLL_ATTR_GROUPS), NULL, {NULL, 0, NULL, 0}};
    return p;
}

int ndlll_op_conv(const Cx *c, const Layer *l, float *scratch)
{
    NdlrtConv2d p = conv_params(c, l);
    p.ep = epilogue(c, l, l->rows[2] >= 0);
    if (l->packed == NDLLL_PACK_SPARSE) { /* a 1x1 conv, stride 1, no padding, one group */
        const NdlrtSparseConv1x1 q = {p.n, p.c, p.oh * p.ow, p.o, X(1), p.ep};
        ndlrt_sparse_conv1x1_f32(&q, X(0), Y);
        return 0;
    }
    p.w_packed = X(1);
    if (!l->packed) {
        ndlrt_conv2d_pack(&p, X(1), scratch);
        p.w_packed = scratch;
        scratch += ndlrt_conv2d_packed_floats(&p);
    }
    ndlrt_conv2d_f32(&p, X(0), Y, scratch);
    return 0;
}

/* Batch stride of operand r against the result (0: broadcast heads); -1 if unsupported. */
static int64_t head_stride(const Cx *c, int64_t r, int64_t q)
{
    int rk = rank_of(c, r);
    int all_one = 1, same = rk == rank_of(c, q);
    for (int i = 0; i + 2 < rk; i++) {
        all_one &= dim_of(c, r, i) == 1;
        if (same) same = dim_of(c, r, i) == dim_of(c, q, i);
    }
    if (rk <= 2 || (all_one && !same)) return 0;
    if (!same) return -1;
    return prod(c, r, rk - 2, rk);
}

static NdlrtAttention attention_params(const Cx *c, const Layer *l)
{
    int64_t q = l->rows[0], k = l->rows[1], v = l->rows[2];
    int rq = rank_of(c, q), rk = rank_of(c, k), rv = rank_of(c, v), ry = rank_of(c, YR);
    NdlrtAttention p = {prod(c, YR, 0, ry - 2), dim_of(c, q, rq - 2), dim_of(c, k, rk - 2), dim_of(c, q, rq - 1),
                        dim_of(c, v, rv - 1), head_stride(c, q, YR), head_stride(c, k, YR), head_stride(c, v, YR),
                        prod(c, YR, ry - 2, ry), attr_float(l, NDLLL_ATTR_SCALE), (int)attr_int(l, NDLLL_ATTR_CAUSAL)};
    return p;
}

int ndlll_op_attention(const Cx *c, const Layer *l, float *scratch)
{
    NdlrtAttention p = attention_params(c, l);
    if (p.q_stride < 0 || p.k_stride < 0 || p.v_stride < 0) return NDLRT_ESIZE;
    ndlrt_attention_f32(&p, X(0), X(1), X(2), Y, scratch);
    return 0;
}

/* ---- data movement and gathers ----------------------------------------------------------- */

static void dims_of(const Cx *c, int64_t r, int64_t *d)
{
    for (int i = 0; i < rank_of(c, r); i++) d[i] = dim_of(c, r, i);
}

int ndlll_op_move(const Cx *c, const Layer *l, float *scratch)
{
    int64_t xr = l->rows[0], in[NDLLL_MAX_RANK], out[NDLLL_MAX_RANK];
    size_t es = dtype_size(dtype_of(c, xr));
    dims_of(c, xr, in);
    if (l->op == NDLLL_OP_PERMUTE) {
        ndlrt_permute(rank_of(c, xr), in, attr(l, NDLLL_ATTR_PERM, NULL), es, X(0), Y);
    } else if (l->op == NDLLL_OP_SLICE) {
        dims_of(c, YR, out);
        ndlrt_slice(rank_of(c, xr), in, attr(l, NDLLL_ATTR_BEGIN, NULL), attr(l, NDLLL_ATTR_STEP, NULL), out, es, X(0), Y);
    } else { /* reshape with storage of its own */
        memcpy(Y, X(0), (size_t)numel(c, YR) * dtype_size(dtype_of(c, YR)));
    }
    return 0;
}

int ndlll_op_concat(const Cx *c, const Layer *l, float *scratch)
{
    int ax = (int)attr_int(l, NDLLL_ATTR_DIM), rank = rank_of(c, YR);
    int64_t outer = prod(c, YR, 0, ax), inner = prod(c, YR, ax + 1, rank), at = 0;
    size_t es = dtype_size(dtype_of(c, YR));
    unsigned char *y = Y;
    for (int64_t i = 0; i < outer; i++)
        for (int k = 0; k + 1 < l->nt; k++) {
            int64_t len = dim_of(c, l->rows[k], ax) * inner;
            memcpy(y + at * es, (const unsigned char *)X(k) + i * len * es, (size_t)len * es);
            at += len;
        }
    return 0;
}

int ndlll_op_gather(const Cx *c, const Layer *l, float *scratch)
{
    if (l->op == NDLLL_OP_EMBEDDING)
        return ndlrt_embedding_f32(numel(c, l->rows[0]), X(0), dtype_of(c, l->rows[0]) == NDLLL_DT_I64,
                                   dim_of(c, l->rows[1], 0), dim_of(c, l->rows[1], 1), X(1), Y);
    return ndlrt_take_f32(numel(c, l->rows[1]), X(1), dtype_of(c, l->rows[1]) == NDLLL_DT_I64, numel(c, l->rows[0]),
                          X(0), Y);
}

#define KRON_LOOP(T)                                                                       \
    do {                                                                                   \
        const T *a_ = X(0), *b_ = X(1);                                                    \
        T *y_ = Y;                                                                         \
        for (int64_t t = 0; t < total; t++) {                                              \
            int64_t rem = t, ia = 0, ib = 0, iy = 0, idx[2 * NDLLL_MAX_RANK];                 \
            for (int q = 2 * r - 1; q >= 0; q--) {                                         \
                int64_t d = q < r ? ad[q] : bd[q - r];                                     \
                idx[q] = d ? rem % d : 0;                                                  \
                rem = d ? rem / d : 0;                                                     \
            }                                                                              \
            for (int q = 0; q < r; q++) {                                                  \
                iy = iy * yd[q] + idx[q] * bd[q] + idx[r + q];                             \
                ia = ia * ad[q] + idx[q];                                                  \
                ib = ib * bd[q] + idx[r + q];                                              \
            }                                                                              \
            y_[iy] = a_[ia] * b_[ib];                                                      \
        }                                                                                  \
    } while (0)

int ndlll_op_kron(const Cx *c, const Layer *l, float *scratch)
{
    int64_t ad[NDLLL_MAX_RANK], bd[NDLLL_MAX_RANK], yd[NDLLL_MAX_RANK], total = 1;
    int r = rank_of(c, l->rows[0]);
    dims_of(c, l->rows[0], ad);
    dims_of(c, l->rows[1], bd);
    dims_of(c, YR, yd);
    for (int q = 0; q < r; q++) total *= ad[q] * bd[q];
    switch (dtype_of(c, YR)) {
    case NDLLL_DT_I32: KRON_LOOP(int32_t); break;
    case NDLLL_DT_I64: KRON_LOOP(int64_t); break;
    default: KRON_LOOP(float); break;
    }
    return 0;
}

int ndlll_op_hash(const Cx *c, const Layer *l, float *scratch)
{
    if (l->op == NDLLL_OP_HASHED)
        ndlrt_hashed_f32(numel(c, YR), X(0), numel(c, l->rows[0]), (uint32_t)attr_int(l, NDLLL_ATTR_SEED), Y);
    else
        ndlrt_hash_route(numel(c, YR), X(0), dtype_of(c, l->rows[0]) == NDLLL_DT_I64, attr_int(l, NDLLL_ATTR_NUM),
                         (uint32_t)attr_int(l, NDLLL_ATTR_SEED), Y);
    return 0;
}

/* Mixture of experts (spec 8.4, runtime/kernels/moe.c). A gather stores its expert's row
 * count in the dynamic symbol the expert's layers read: c->s is the run's own copy of the
 * sizes (run_syms), not the caller's array. */
int ndlll_op_moe(const Cx *c, const Layer *l, float *scratch)
{
    switch (l->op) {
    case NDLLL_OP_MOE_ROUTE:
        ndlrt_moe_route_f32(dim_of(c, YR, 0), dim_of(c, YR, 1), X(0), (int)attr_int(l, NDLLL_ATTR_POLICY),
                            attr_int(l, NDLLL_ATTR_K), attr_float(l, NDLLL_ATTR_P), (int)attr_int(l, NDLLL_ATTR_RENORM),
                            (int)attr_int(l, NDLLL_ATTR_SOFTMAX), Y, scratch);
        return 0;
    case NDLLL_OP_MOE_ASSIGN:
        return ndlrt_moe_assign(dim_of(c, YR, 0), dim_of(c, YR, 1), X(0), dtype_of(c, l->rows[0]) == NDLLL_DT_I64, Y);
    case NDLLL_OP_MOE_GATHER: {
        int64_t xr = l->rows[0], gr = l->rows[1], ex = attr_int(l, NDLLL_ATTR_EXPERT);
        int64_t d = attr_int(l, NDLLL_ATTR_ROWS);
        const int64_t *e = c->prog + c->prog[NDLLL_H_DIMS] + (-d - 1) * NDLLL_DIM_WORDS;
        ((int64_t *)c->s)[e[NDLLL_DIM_SYM0]] = ndlrt_moe_rows(dim_of(c, xr, 0), dim_of(c, gr, 1), ex, X(1));
        ndlrt_moe_gather_f32(dim_of(c, xr, 0), dim_of(c, xr, 1), dim_of(c, gr, 1), ex, X(0), X(1), Y);
        return 0;
    }
    default:
        ndlrt_moe_scatter_f32(dim_of(c, YR, 0), dim_of(c, YR, 1), dim_of(c, l->rows[2], 1),
                              attr_int(l, NDLLL_ATTR_EXPERT), X(0), X(1), X(2), Y);
        return 0;
    }
}

/* Spec 8.3 recurse, one step (the C backend's layer_recurse_gather/scatter): the rows t
 * with depth[t] > step, compacted; the gather checks every depth first (a run-time error,
 * never an out-of-bounds access) and stores the number of rows still recursing in the
 * rows symbol the body's layers read (c->s is the run's own copy, as for moe). The step
 * is an operand, so every step is the same records over the same kernels. */
/* element i of the layer's integer tensor j */
static int64_t int_at(const Cx *c, const Layer *l, int j, int64_t i)
{
    const void *p = ptr_of(c, l->prows[j]);
    return dtype_of(c, l->rows[j]) == NDLLL_DT_I32 ? ((const int32_t *)p)[i] : ((const int64_t *)p)[i];
}

int ndlll_op_recurse(const Cx *c, const Layer *l, float *scratch)
{
    int gather = l->op == NDLLL_OP_RECURSE_GATHER;
    int dj = gather ? 1 : 2;
    int64_t xr = l->rows[0];
    int64_t n = dim_of(c, xr, 0), step = int_at(c, l, gather ? 2 : 3, 0), r = 0;
    size_t row = (size_t)prod(c, xr, 1, rank_of(c, xr)) * dtype_size(dtype_of(c, xr));
    unsigned char *y = Y;
    (void)scratch;
    if (gather) {
        int64_t max = attr_int(l, NDLLL_ATTR_MAX);
        for (int64_t t = 0; t < n; t++) {
            int64_t k = int_at(c, l, dj, t);
            if (k < 0 || k > max) return NDLRT_EINDEX; /* depth outside 0..max */
        }
        const unsigned char *x = X(0);
        for (int64_t t = 0; t < n; t++)
            if (int_at(c, l, dj, t) > step) memcpy(y + (size_t)r++ * row, x + (size_t)t * row, row);
        int64_t d = row_of(c->prog, YR)[NDLLL_ROW_DIMS];
        const int64_t *e = c->prog + c->prog[NDLLL_H_DIMS] + (-d - 1) * NDLLL_DIM_WORDS;
        ((int64_t *)c->s)[e[NDLLL_DIM_SYM0]] = r;
        return 0;
    }
    const unsigned char *body = X(1);
    if (y != (const unsigned char *)X(0)) memcpy(y, X(0), (size_t)n * row);
    for (int64_t t = 0; t < n; t++)
        if (int_at(c, l, dj, t) > step) memcpy(y + (size_t)t * row, body + (size_t)r++ * row, row);
    return 0;
}

#undef X
#undef Y
#undef YR

int ndlll_op_pool(const Cx *c, const Layer *l, float *scratch)
{
    int64_t xr = l->rows[0], yr = l->rows[l->nt - 1];
    int b = rank_of(c, xr) == 4;
    const int64_t *k = attr(l, NDLLL_ATTR_KERNEL, NULL), *st = attr(l, NDLLL_ATTR_STRIDE, NULL);
    const int64_t *pd = attr(l, NDLLL_ATTR_PAD, NULL);
    NdlrtPool2d p = {b ? dim_of(c, xr, 0) : 1, dim_of(c, xr, b), dim_of(c, xr, b + 1), dim_of(c, xr, b + 2),
                     dim_of(c, yr, b + 1), dim_of(c, yr, b + 2), k[0], k[1], st[0], st[1], pd[0], pd[1]};
    (void)scratch;
    if (l->op == NDLLL_OP_MAX_POOL2D) ndlrt_max_pool2d_f32(&p, ptr_of(c, l->prows[0]), ptr_of(c, l->prows[l->nt - 1]));
    else ndlrt_avg_pool2d_f32(&p, ptr_of(c, l->prows[0]), ptr_of(c, l->prows[l->nt - 1]));
    return 0;
}

/* Scratch floats a layer needs (the C backend's emitc_scratch_expr). */
static size_t layer_scratch(const Cx *c, const Layer *l)
{
    switch (l->op) {
    case NDLLL_OP_LINEAR: {
        int64_t xr = l->rows[0], wr = l->rows[1];
        int64_t rows = prod(c, xr, 0, rank_of(c, xr) - 1), n = dim_of(c, wr, 0), k = dim_of(c, wr, 1);
        if (l->packed == NDLLL_PACK_SPARSE) return ndlrt_sparse_linear_scratch_floats(rows, n, k);
        if (l->packed == NDLLL_PACK_HASHED) return ndlrt_linear_hashed_scratch_floats(rows, n, k);
        return ndlrt_linear_scratch_floats(rows, n, k) + (l->packed ? 0 : ndlrt_linear_packed_floats(n, k));
    }
    case NDLLL_OP_CONV2D: {
        if (l->packed == NDLLL_PACK_SPARSE) return 0; /* the sparse 1x1 conv needs none */
        NdlrtConv2d p = conv_params(c, l);
        return ndlrt_conv2d_scratch_floats(&p) + (l->packed ? 0 : ndlrt_conv2d_packed_floats(&p));
    }
    case NDLLL_OP_MATMUL: {
        MatmulShape s = matmul_shape(c, l);
        NdlrtMatmul q = {1, s.m, s.n, s.k, 0, 0, 0, 0};
        return ndlrt_matmul_scratch_floats(&q);
    }
    case NDLLL_OP_ATTENTION: {
        NdlrtAttention p = attention_params(c, l);
        p.batch = 1;
        p.q_stride = p.k_stride = p.v_stride = p.y_stride = 0;
        return ndlrt_attention_scratch_floats(&p);
    }
    case NDLLL_OP_REDUCE_SUM: case NDLLL_OP_REDUCE_MEAN: case NDLLL_OP_REDUCE_MAX: case NDLLL_OP_REDUCE_MIN: {
        int64_t nd;
        const int64_t *dims = attr(l, NDLLL_ATTR_DIMS, &nd);
        return reduce_contiguous(dims, nd) ? 0 : (size_t)numel(c, l->rows[0]);
    }
    case NDLLL_OP_MOE_ROUTE: return 2 * (size_t)dim_of(c, l->rows[l->nt - 1], 1);
    default: return 0;
    }
}

/* Run layer k_at with the op, sizes and attributes of layer k (the same but for where
 * their tensors live). The emitter's ndlll_layers runs the layers through this with prog
 * the program global and k constant, and makes it and ndlll_layer and the ndlll_op_*
 * always-inline: O3 then folds the record's decoding, the op switch, the attribute
 * lookups and every concrete dim into constants, so each layer becomes the direct call of
 * its kernel with constant sizes that the C backend writes (its loops specialized too). */
int ndlll_run_layer(const int64_t *prog, const Cx *cx, NdlllModel *m, int64_t k, int64_t k_at, float *scratch,
                    int64_t *moe_at)
{
    Cx c = *cx;
    c.prog = prog; /* the constant, not the caller's copy of it, which O3 cannot see through */
    Layer l = layer_at(prog, k);
    l.prows = layer_at(prog, k_at).rows;
    int rc = ndlll_layer(l.op, &c, &l, scratch);
    if (rc || l.op != NDLLL_OP_MOE_GATHER) return rc;
    /* a moe_gather's rows (the symbol it set) and its moe layer's tokens */
    if (attr_int(&l, NDLLL_ATTR_EXPERT) == 0) m->moe_tokens[moe_at[1]++] = dim_of(&c, l.rows[0], 0);
    m->moe_load[moe_at[0]++] = dim_of(&c, l.rows[l.nt - 1], 0);
    return 0;
}

/* ---- the plan and the API ------------------------------------------------------------------ */

static size_t sat_add(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }

/* Fills off[0..nslots] (slot offsets, 64-byte aligned) and returns the workspace bytes. */
static size_t plan(const int64_t *prog, const int64_t *s, size_t *off)
{
    int64_t ns = prog[NDLLL_H_NSLOTS];
    for (int64_t k = 0; k <= ns; k++) off[k] = 0;
    for (int64_t r = 0; r < prog[NDLLL_H_NROWS]; r++) {
        const int64_t *w = row_of(prog, r);
        if (w[NDLLL_ROW_AT] != NDLLL_AT_WS || !w[NDLLL_ROW_OWN]) continue;
        size_t b = row_bytes(prog, s, r);
        if (b > off[w[NDLLL_ROW_INDEX]]) off[w[NDLLL_ROW_INDEX]] = b;
    }
    Cx c = {.prog = prog, .s = s};
    for (int64_t k = 0; k < prog[NDLLL_H_NLAYERS]; k++) {
        Layer l = layer_at(prog, k);
        size_t f = layer_scratch(&c, &l);
        size_t b = f > SIZE_MAX / sizeof(float) ? SIZE_MAX : f * sizeof(float);
        if (b > off[ns]) off[ns] = b;
    }
    size_t total = 0;
    for (int64_t k = 0; k <= ns; k++) {
        size_t sz = off[k];
        off[k] = total;
        total = sat_add(total, sat_add(sz, 63) & ~(size_t)63);
    }
    return total;
}

/* Symbols must be >= 0 and within their bounds. Copies them into sv[NDLLL_MAX_SYMS] and
 * appends the dynamic ones (moe row counts) at their maxima, for the plan. */
static int check_syms(const int64_t *prog, const int64_t *s, int64_t *sv)
{
    const int64_t *bounds = prog + prog[NDLLL_H_BOUNDS], *dynmax = prog + prog[NDLLL_H_DYNMAX];
    int64_t n = prog[NDLLL_H_NSYMS];
    if (n + prog[NDLLL_H_NDYN] > NDLLL_MAX_SYMS) return NDLRT_ESIZE;
    for (int64_t k = 0; k < n; k++) {
        if (s[k] < 0 || (bounds[k] && s[k] > bounds[k])) return NDLRT_ESIZE;
        sv[k] = s[k];
    }
    for (int64_t k = 0; k < prog[NDLLL_H_NDYN]; k++) sv[n + k] = dimv(prog, sv, dynmax[k]);
    return 0;
}

static int grow(NdlllModel *m, size_t need)
{
    if (need <= m->ws_bytes) return 0;
    if (need > SIZE_MAX - 64) return NDLRT_ENOMEM;
    unsigned char *b = malloc(need + 64);
    if (!b) return NDLRT_ENOMEM;
    free(m->ws_block);
    m->ws_block = b;
    m->ws = b + (64 - (uintptr_t)b % 64) % 64;
    m->ws_bytes = need;
    return 0;
}

/* Scratch words for off[]: nslots + 1 entries (the emitter bounds nslots). */
enum { MAX_SLOTS = 4096 };

int ndlll_reserve(const int64_t *prog, void *model, const int64_t *s)
{
    size_t off[MAX_SLOTS + 1];
    int64_t sv[NDLLL_MAX_SYMS];
    if (!model) return NDLRT_EARG;
    int rc = check_syms(prog, s, sv);
    return rc ? rc : grow(model, plan(prog, sv, off));
}

/* The weight table from the file at path: checked whole against specs (name, dtype and
 * shape) first, then copied into one block, each tensor 64-byte aligned. */
static int load_weights(const int64_t *prog, const NdlrtWeightSpec *specs, NdlllModel *m, const char *path)
{
    int64_t nw = prog[NDLLL_H_NWEIGHTS];
    const int64_t *want = prog + prog[NDLLL_H_WEIGHTS];
    if (nw == 0) return 0;
    if (!specs) return NDLRT_EARG;
    NdlrtSt *st;
    char err[256];
    if (ndlrt_st_open(path, &st, err, sizeof err) != 0) return NDLRT_EWEIGHTS;
    if (ndlrt_st_check(st, specs, (size_t)nw, err, sizeof err) >= 0) {
        ndlrt_st_close(st);
        return NDLRT_EWEIGHTS;
    }
    size_t total = 0;
    for (int64_t i = 0; i < nw; i++) total = sat_add(total, ((size_t)want[3 * i + 2] + 63) & ~(size_t)63);
    m->weights = total < SIZE_MAX - 64 ? malloc(total + 64) : NULL;
    m->wptr = calloc((size_t)nw, sizeof *m->wptr);
    int rc = m->weights && m->wptr ? NDLRT_OK : NDLRT_ENOMEM;
    unsigned char *base = m->weights ? m->weights + (64 - (uintptr_t)m->weights % 64) % 64 : NULL;
    for (int64_t i = 0; rc == NDLRT_OK && i < nw; i++) {
        const NdlrtStTensor *t = ndlrt_st_find(st, specs[i].name);
        if (!t || (int64_t)t->dtype != want[3 * i] || (int64_t)t->nelem != want[3 * i + 1]) { /* program vs specs */
            rc = NDLRT_EWEIGHTS;
        } else {
            memcpy(base, t->data, (size_t)(t->end - t->begin));
            m->wptr[i] = base;
            base += ((size_t)want[3 * i + 2] + 63) & ~(size_t)63;
        }
    }
    ndlrt_st_close(st);
    return rc;
}

/* The moe layers' load statistics: the moe_gather layers in program order, one per
 * (layer, expert), a layer starting at its expert 0 (as the C backend's moe_gathers).
 * Counts the gathers, and the layers into *nlayers. */
static int64_t moe_gathers(const int64_t *prog, int64_t *nlayers)
{
    int64_t n = 0;
    *nlayers = 0;
    for (int64_t k = 0; k < prog[NDLLL_H_NLAYERS]; k++) {
        Layer l = layer_at(prog, k);
        if (l.op != NDLLL_OP_MOE_GATHER) continue;
        *nlayers += attr_int(&l, NDLLL_ATTR_EXPERT) == 0;
        n++;
    }
    return n;
}

int64_t ndlll_moe_stats(const int64_t *prog, const void *model, int layer, int64_t *tokens, int64_t *counts)
{
    const NdlllModel *m = model;
    int64_t cur = -1, first = -1, n = 0, g = 0;
    if (!m || !m->moe_load || layer < 0) return 0;
    for (int64_t k = 0; k < prog[NDLLL_H_NLAYERS]; k++) {
        Layer l = layer_at(prog, k);
        if (l.op != NDLLL_OP_MOE_GATHER) continue;
        cur += attr_int(&l, NDLLL_ATTR_EXPERT) == 0;
        if (cur == layer) {
            if (first < 0) first = g;
            n++;
        }
        g++;
    }
    if (n == 0) return 0;
    if (tokens) *tokens = m->moe_tokens[layer];
    if (counts) memcpy(counts, m->moe_load + first, (size_t)n * sizeof *counts);
    return n;
}

static void *alloc_bytes(size_t n) { return n < SIZE_MAX - 64 ? malloc(n + 1) : NULL; }

/* Packs init value src into buffer dst in the dense layout of run layer k (a linear, or a
 * conv2d whose image sizes are concrete), as the emitter packs a constant weight. */
static int pack_init(const Cx *c, NdlllModel *m, int64_t src, int64_t dst, int64_t k)
{
    Layer l = layer_at(c->prog, k);
    if (l.op == NDLLL_OP_LINEAR) {
        int64_t n = dim_of(c, l.rows[1], 0), kk = dim_of(c, l.rows[1], 1);
        size_t f = ndlrt_linear_packed_floats(n, kk);
        m->init[dst] = f < SIZE_MAX / sizeof(float) ? alloc_bytes(f * sizeof(float)) : NULL;
        if (!m->init[dst]) return NDLRT_ENOMEM;
        ndlrt_linear_pack(n, kk, ptr_of(c, src), m->init[dst]);
        return 0;
    }
    NdlrtConv2d p = conv_params(c, &l);
    size_t f = ndlrt_conv2d_packed_floats(&p);
    m->init[dst] = f < SIZE_MAX / sizeof(float) ? alloc_bytes(f * sizeof(float)) : NULL;
    if (!m->init[dst]) return NDLRT_ENOMEM;
    ndlrt_conv2d_pack(&p, ptr_of(c, src), m->init[dst]);
    return 0;
}

/* The values that depend on weights alone, computed once (the C backend's create does the
 * same with its layer functions): each init layer into its own buffer, in order, with
 * one scratch block for the largest, then the packed forms the run layers read. */
static int run_init(const int64_t *prog, const void *const *w, NdlllModel *m)
{
    int64_t n = prog[NDLLL_H_NINIT];
    if (n == 0) return 0;
    m->init = calloc((size_t)n, sizeof *m->init);
    if (!m->init) return NDLRT_ENOMEM;
    m->ninit = n;
    int64_t s[NDLLL_MAX_SYMS] = {0}; /* init values have concrete sizes; a pack reads no batch */
    const int64_t *rows = prog + prog[NDLLL_H_INIT];
    for (int64_t k = 0; k < n; k++)
        if (rows[k] >= 0 && !(m->init[k] = alloc_bytes(row_bytes(prog, s, rows[k])))) return NDLRT_ENOMEM;
    Cx c = {.prog = prog, .s = s, .w = w, .init = m->init};
    size_t most = 0;
    for (int64_t k = 0; k < prog[NDLLL_H_NINIT_LAYERS]; k++) {
        Layer l = layer_in(prog, NDLLL_H_INIT_LAYERS, k);
        size_t f = layer_scratch(&c, &l);
        if (f > most) most = f;
    }
    float *scratch = most < SIZE_MAX / sizeof(float) ? alloc_bytes(most * sizeof(float)) : NULL;
    if (!scratch) return NDLRT_ENOMEM;
    int rc = 0;
    for (int64_t k = 0; k < prog[NDLLL_H_NINIT_LAYERS] && !rc; k++) {
        Layer l = layer_in(prog, NDLLL_H_INIT_LAYERS, k);
        rc = ndlll_layer(l.op, &c, &l, scratch);
    }
    free(scratch);
    const int64_t *packs = prog + prog[NDLLL_H_PACKS];
    for (int64_t k = 0; k < prog[NDLLL_H_NPACKS] && !rc; k++)
        rc = pack_init(&c, m, packs[3 * k], packs[3 * k + 1], packs[3 * k + 2]);
    return rc;
}

int ndlll_create(const int64_t *prog, const void *const *wtab, const NdlrtWeightSpec *specs, void **out,
                 const char *path)
{
    if (!out) return NDLRT_EARG;
    *out = NULL;
    if (prog[NDLLL_H_EXTERNAL] && !path) return NDLRT_ENOWEIGHTS;
    if (!prog[NDLLL_H_EXTERNAL] && path) return NDLRT_EARG; /* the weights are embedded */
    if (prog[NDLLL_H_NSLOTS] > MAX_SLOTS) return NDLRT_ESIZE;
    NdlllModel *m = calloc(1, sizeof *m);
    if (!m) return NDLRT_ENOMEM;
    m->plan_off = calloc((size_t)prog[NDLLL_H_NSLOTS] + 1, sizeof *m->plan_off);
    m->plan_syms = calloc((size_t)(prog[NDLLL_H_NSYMS] + prog[NDLLL_H_NDYN]) + 1, sizeof *m->plan_syms);
    int rc = !m->plan_off || !m->plan_syms ? NDLRT_ENOMEM : 0;
    if (!rc && prog[NDLLL_H_EXTERNAL]) rc = load_weights(prog, specs, m, path);
    int64_t nlayers, ngathers = moe_gathers(prog, &nlayers);
    if (!rc && ngathers) {
        m->moe_load = calloc((size_t)ngathers, sizeof *m->moe_load);
        m->moe_tokens = calloc((size_t)nlayers, sizeof *m->moe_tokens);
        if (!m->moe_load || !m->moe_tokens) rc = NDLRT_ENOMEM;
    }
    if (!rc) rc = run_init(prog, m->wptr ? (const void *const *)m->wptr : wtab, m);
    /* bounded symbols: reserve at the bounds, so that run never allocates */
    const int64_t *bounds = prog + prog[NDLLL_H_BOUNDS];
    int all_bounded = 1;
    int64_t s[64];
    for (int64_t k = 0; k < prog[NDLLL_H_NSYMS]; k++) {
        all_bounded &= bounds[k] > 0 && k < 64;
        if (k < 64) s[k] = bounds[k];
    }
    if (!rc && all_bounded) rc = ndlll_reserve(prog, m, s);
    if (rc) {
        ndlll_destroy(m);
        return rc;
    }
    *out = m;
    return NDLRT_OK;
}

int ndlll_run(const int64_t *prog, const void *const *wtab, void *model, const int64_t *s, const void *const *in,
              void *const *out)
{
    NdlllModel *m = model;
    if (!m) return NDLRT_EARG;
    for (int64_t i = 0; i < prog[NDLLL_H_NINPUTS]; i++)
        if (!in[i]) return NDLRT_EARG;
    for (int64_t i = 0; i < prog[NDLLL_H_NOUTPUTS]; i++)
        if (!out[i]) return NDLRT_EARG;
    int64_t sv[NDLLL_MAX_SYMS];
    int rc = check_syms(prog, s, sv);
    if (rc) return rc;
    size_t nsv = (size_t)(prog[NDLLL_H_NSYMS] + prog[NDLLL_H_NDYN]), *off = m->plan_off;
    if (!m->planned || memcmp(sv, m->plan_syms, nsv * sizeof *sv) != 0) {
        m->planned = 0;
        rc = grow(m, plan(prog, sv, off));
        if (rc) return rc;
        memcpy(m->plan_syms, sv, nsv * sizeof *sv);
        m->planned = 1;
    }
    Cx c = {prog, sv, in, out, m->wptr ? (const void *const *)m->wptr : wtab, m->ws, off, m->init};
    float *scratch = (float *)(m->ws + off[prog[NDLLL_H_NSLOTS]]);
    int64_t moe_at[2] = {0, 0};
    rc = ndlll_layers(&c, m, scratch, moe_at);
    if (rc) return rc;
    const int64_t *outs = prog + prog[NDLLL_H_OUTPUTS];
    for (int64_t i = 0; i < prog[NDLLL_H_NOUTPUTS]; i++)
        if (outs[2 * i + 1]) memcpy(out[i], ptr_of(&c, outs[2 * i]), row_bytes(prog, sv, outs[2 * i]));
    return NDLRT_OK;
}

int ndlll_dims(const int64_t *prog, int64_t output, const int64_t *s, int64_t *dims)
{
    int64_t sv[NDLLL_MAX_SYMS];
    if (check_syms(prog, s, sv)) return 0;
    const int64_t *w = row_of(prog, prog[prog[NDLLL_H_OUTPUTS] + 2 * output]);
    if (dims)
        for (int64_t i = 0; i < w[NDLLL_ROW_RANK]; i++) dims[i] = dimv(prog, sv, w[NDLLL_ROW_DIMS + i]);
    return (int)w[NDLLL_ROW_RANK];
}

size_t ndlll_workspace_bytes(const int64_t *prog, const int64_t *s)
{
    size_t off[MAX_SLOTS + 1];
    int64_t sv[NDLLL_MAX_SYMS];
    if (check_syms(prog, s, sv) || prog[NDLLL_H_NSLOTS] > MAX_SLOTS) return 0;
    return plan(prog, sv, off);
}

void ndlll_destroy(void *model)
{
    NdlllModel *m = model;
    if (!m) return;
    for (int64_t k = 0; k < m->ninit; k++) free(m->init[k]);
    free(m->init);
    free(m->ws_block);
    free(m->weights);
    free(m->wptr);
    free(m->moe_load);
    free(m->moe_tokens);
    free(m->plan_off);
    free(m->plan_syms);
    free(m);
}
