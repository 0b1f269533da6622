/* SPDX-License-Identifier: MIT
 * interp.c - the reference interpreter: runs any IR with plain, obviously-correct loops.
 *
 * It is the oracle every pass and backend is tested against, so each kernel is a direct
 * loop nest over concrete dims, written for the reader; it never calls runtime/ kernels.
 * Floats are computed in float32 like PyTorch's CPU kernels, with reductions and dot
 * products accumulated in double. Input tensors are checked against the declarations
 * (binding symbols in input order), ops run in m->ops order skipping OPF_DEAD, and each
 * intermediate buffer is freed after its last use. Every failure, including run-time
 * index errors, returns false with a message and leaves nothing allocated. Kernels
 * re-check that their operands agree with the op's IR type before indexing, so an
 * inconsistent IR is an error message, never an out-of-bounds access.
 * interp_eval_op runs one op's kernel on given tensors (constant folding at compile
 * time); it goes through the same exec_op as interp_run, so there is one set of kernels.
 */
#include "passes.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum { V_NONE, V_BORROWED, V_OWNED }; /* Interp.state: where a value's data lives */

typedef struct Interp {
    const Module *m;
    int64_t *symvals;  /* per symbol: its size, -1 while unbound */
    uint32_t *binder;  /* per symbol: 1 + index of the input that bound it, 0 if none */
    Tensor *vals;      /* per value: its tensor once computed */
    uint8_t *state;    /* per value: V_NONE, V_BORROWED (input, weight) or V_OWNED */
    uint32_t *uses;    /* per value: uses not yet executed (outputs count as a use) */
    char *err;
    size_t errlen;
} Interp;

/* A kernel: in[i] is operand i (NULL for an absent optional operand); out has its dims,
 * dtype and zeroed data set from the op's IR type. */
typedef bool InterpFn(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out);

static bool fail(Interp *ip, const char *fmt, ...) NDLC_PRINTF(2, 3);
static bool fail(Interp *ip, const char *fmt, ...)
{
    if (ip->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ip->err, ip->errlen, fmt, ap);
        va_end(ap);
    }
    return false;
}

/* The op's name as written in NDL (reduce_sum is spelled sum). */
static const char *op_name(OpKind k)
{
    const char *n = op_info[k].name;
    return strncmp(n, "reduce_", 7) == 0 ? n + 7 : n;
}

static bool inconsistent(Interp *ip, const Op *op, const char *what)
{
    return fail(ip, "internal error: operands of '%s' disagree with its IR type (%s)",
                op_name(op->kind), what);
}

/* Guards every index computation of a kernel. */
#define ICHECK(cond)                                                                     \
    do {                                                                                 \
        if (!(cond)) return inconsistent(ip, op, #cond);                                 \
    } while (0)

int64_t tensor_numel(const Tensor *t)
{
    int64_t n = 1;
    for (unsigned i = 0; i < t->rank; i++) n *= t->dims[i];
    return n;
}

void tensor_free(Tensor *t)
{
    free(t->data);
    t->data = NULL;
}

static size_t dsize(DType dt) { return dtype_info[dt].size; }

/* Row-major element strides of t. */
static void strides(const Tensor *t, int64_t *st)
{
    int64_t s = 1;
    for (int i = t->rank - 1; i >= 0; i--) {
        st[i] = s;
        s *= t->dims[i];
    }
}

/* Product of dims[lo..hi-1]. */
static int64_t prod(const int64_t *dims, int lo, int hi)
{
    int64_t n = 1;
    for (int i = lo; i < hi; i++) n *= dims[i];
    return n;
}

static bool same_dims(const Tensor *a, const Tensor *b)
{
    if (a->rank != b->rank) return false;
    for (unsigned i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i]) return false;
    return true;
}

/* Strides of t (right-aligned to an output of rank r and dims odims), 0 on axes that
 * broadcast; false when t does not broadcast to odims. */
static bool bcast_strides(const Tensor *t, int r, const int64_t *odims, int64_t *st)
{
    int64_t own[IR_MAX_RANK];
    if (t->rank > r) return false;
    strides(t, own);
    for (int i = 0; i < r; i++) {
        int j = i - (r - t->rank);
        if (j < 0)
            st[i] = 0;
        else if (t->dims[j] == odims[i])
            st[i] = t->dims[j] == 1 ? 0 : own[j];
        else if (t->dims[j] == 1)
            st[i] = 0;
        else
            return false;
    }
    return true;
}

/* An odometer over an output of rank r, tracking the offsets of two operands. */
typedef struct Walk {
    int r;
    const int64_t *dims;
    int64_t idx[IR_MAX_RANK], sa[IR_MAX_RANK], sb[IR_MAX_RANK];
    int64_t oa, ob;
} Walk;

static void walk_next(Walk *w)
{
    for (int d = w->r - 1; d >= 0; d--) {
        w->idx[d]++;
        w->oa += w->sa[d];
        w->ob += w->sb[d];
        if (w->idx[d] < w->dims[d]) return;
        w->oa -= w->sa[d] * w->dims[d];
        w->ob -= w->sb[d] * w->dims[d];
        w->idx[d] = 0;
    }
}

/* ---- elementwise ------------------------------------------------------------------- */

#define EW1(K, name, expr)                                                               \
    static bool interp_##name(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out) \
    {                                                                                    \
        ICHECK(in[0]->dtype == DT_F32 && out->dtype == DT_F32 && same_dims(in[0], out)); \
        const float *a = in[0]->data;                                                    \
        float *o = out->data;                                                            \
        for (int64_t i = 0, n = tensor_numel(out); i < n; i++) {                         \
            float x = a[i];                                                              \
            o[i] = expr;                                                                 \
        }                                                                                \
        return true;                                                                     \
    }
#include "../ir/eltwise.def"
#undef EW1

static float ew2_f32(OpKind k, float x, float y)
{
    switch (k) {
    case OP_ADD: return x + y;
    case OP_SUB: return x - y;
    case OP_MUL: return x * y;
    default: return x / y;
    }
}

/* Integer add/sub/mul wrap around, as PyTorch's do (unsigned: no undefined overflow). */
static uint64_t ew2_int(OpKind k, uint64_t x, uint64_t y)
{
    switch (k) {
    case OP_ADD: return x + y;
    case OP_SUB: return x - y;
    default: return x * y;
    }
}

static bool interp_ew2(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    const Tensor *a = in[0], *b = in[1];
    Walk w = {.r = out->rank, .dims = out->dims};
    ICHECK(a->dtype == out->dtype && b->dtype == out->dtype);
    ICHECK(out->dtype == DT_F32 || (op->kind != OP_DIV &&
                                    (out->dtype == DT_I32 || out->dtype == DT_I64)));
    ICHECK(bcast_strides(a, out->rank, out->dims, w.sa));
    ICHECK(bcast_strides(b, out->rank, out->dims, w.sb));
    int64_t n = tensor_numel(out);
    if (out->dtype == DT_F32) {
        const float *x = a->data, *y = b->data;
        float *o = out->data;
        for (int64_t i = 0; i < n; i++, walk_next(&w)) o[i] = ew2_f32(op->kind, x[w.oa], y[w.ob]);
    } else if (out->dtype == DT_I32) {
        const int32_t *x = a->data, *y = b->data;
        int32_t *o = out->data;
        for (int64_t i = 0; i < n; i++, walk_next(&w))
            o[i] = (int32_t)(uint32_t)ew2_int(op->kind, (uint64_t)x[w.oa], (uint64_t)y[w.ob]);
    } else {
        const int64_t *x = a->data, *y = b->data;
        int64_t *o = out->data;
        for (int64_t i = 0; i < n; i++, walk_next(&w))
            o[i] = (int64_t)ew2_int(op->kind, (uint64_t)x[w.oa], (uint64_t)y[w.ob]);
    }
    return true;
}

static bool interp_add(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    return interp_ew2(ip, op, in, out);
}
static bool interp_sub(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    return interp_ew2(ip, op, in, out);
}
static bool interp_mul(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    return interp_ew2(ip, op, in, out);
}
static bool interp_div(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    return interp_ew2(ip, op, in, out);
}

/* ---- cast ----------------------------------------------------------------------------- */

/* float -> int truncates toward zero; NaN and out-of-range values give the type's
 * minimum, which is what x86 (and so PyTorch on it) produces, without C's undefined
 * behaviour. */
static int64_t float_to_int(float x, DType dt)
{
    if (dt == DT_I32)
        return x >= -2147483648.0f && x < 2147483648.0f ? (int32_t)x : INT32_MIN;
    return x >= -9223372036854775808.0f && x < 9223372036854775808.0f ? (int64_t)x : INT64_MIN;
}

static int64_t load_int(const Tensor *t, int64_t i)
{
    switch (t->dtype) {
    case DT_I32: return ((const int32_t *)t->data)[i];
    case DT_I64: return ((const int64_t *)t->data)[i];
    default: return ((const uint8_t *)t->data)[i] != 0;
    }
}

static bool interp_cast(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    const Tensor *x = in[0];
    ICHECK(same_dims(x, out));
    ICHECK(x->dtype == DT_F32 || x->dtype == DT_I32 || x->dtype == DT_I64 || x->dtype == DT_BOOL);
    ICHECK(out->dtype == DT_F32 || out->dtype == DT_I32 || out->dtype == DT_I64 ||
           out->dtype == DT_BOOL);
    for (int64_t i = 0, n = tensor_numel(out); i < n; i++) {
        if (x->dtype == DT_F32) {
            float v = ((const float *)x->data)[i];
            switch (out->dtype) {
            case DT_F32: ((float *)out->data)[i] = v; break;
            case DT_I32: ((int32_t *)out->data)[i] = (int32_t)float_to_int(v, DT_I32); break;
            case DT_I64: ((int64_t *)out->data)[i] = float_to_int(v, DT_I64); break;
            default: ((uint8_t *)out->data)[i] = v != 0.0f; break;
            }
        } else {
            int64_t v = load_int(x, i);
            switch (out->dtype) {
            case DT_F32: ((float *)out->data)[i] = (float)v; break;
            case DT_I32: ((int32_t *)out->data)[i] = (int32_t)(uint32_t)(uint64_t)v; break;
            case DT_I64: ((int64_t *)out->data)[i] = v; break;
            default: ((uint8_t *)out->data)[i] = v != 0; break;
            }
        }
    }
    return true;
}

/* ---- softmax, reductions, argmax ---------------------------------------------------------- */

/* Numerically stable: subtract the row maximum before exp; the sum is in double. */
static bool softmax_like(Interp *ip, const Op *op, const Tensor *x, Tensor *out, bool logs)
{
    int64_t dim = ir_op_int(ip->m, op, ATTR_DIM);
    ICHECK(x->dtype == DT_F32 && same_dims(x, out) && dim >= 0 && dim < x->rank);
    int64_t outer = prod(x->dims, 0, (int)dim), len = x->dims[dim];
    int64_t inner = prod(x->dims, (int)dim + 1, x->rank);
    const float *a = x->data;
    float *o = out->data;
    for (int64_t p = 0; p < outer; p++) {
        for (int64_t q = 0; q < inner; q++) {
            int64_t base = p * len * inner + q;
            float mx = -INFINITY;
            for (int64_t j = 0; j < len; j++) {
                float v = a[base + j * inner];
                if (v > mx || isnan(v)) mx = v;
            }
            double sum = 0;
            for (int64_t j = 0; j < len; j++) sum += expf(a[base + j * inner] - mx);
            for (int64_t j = 0; j < len; j++) {
                float d = a[base + j * inner] - mx;
                o[base + j * inner] = logs ? (float)((double)d - log(sum)) : (float)(expf(d) / sum);
            }
        }
    }
    return true;
}

static bool interp_softmax(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    return softmax_like(ip, op, in[0], out, false);
}
static bool interp_log_softmax(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    return softmax_like(ip, op, in[0], out, true);
}

/* sum/mean/amax/amin over DIMS: each input element is folded into the output element it
 * maps to (its reduced coordinates dropped); NaN propagates through max and min. */
static bool reduce(Interp *ip, const Op *op, const Tensor *x, Tensor *out)
{
    uint32_t nd;
    const int64_t *dims = ir_op_ints(ip->m, op, ATTR_DIMS, &nd);
    bool keep = ir_op_int(ip->m, op, ATTR_KEEPDIM) != 0, red[IR_MAX_RANK] = {false};
    ICHECK(x->dtype == DT_F32 && out->dtype == DT_F32);
    for (uint32_t i = 0; i < nd; i++) {
        ICHECK(dims[i] >= 0 && dims[i] < x->rank);
        red[dims[i]] = true;
    }
    /* Output axis of each input axis, and the expected output dims. */
    int64_t ost[IR_MAX_RANK], st[IR_MAX_RANK] = {0};
    unsigned r = 0;
    int map[IR_MAX_RANK];
    for (unsigned i = 0; i < x->rank; i++) {
        map[i] = red[i] && !keep ? -1 : (int)r;
        if (map[i] >= 0) {
            ICHECK(r < out->rank && out->dims[r] == (red[i] ? 1 : x->dims[i]));
            r++;
        }
    }
    ICHECK(r == out->rank);
    strides(out, ost);
    for (unsigned i = 0; i < x->rank; i++) st[i] = red[i] || map[i] < 0 ? 0 : ost[map[i]];

    int64_t n = tensor_numel(x), no = tensor_numel(out), count = no ? n / no : 0;
    OpKind k = op->kind;
    if ((k == OP_REDUCE_MAX || k == OP_REDUCE_MIN) && count == 0 && no > 0)
        return fail(ip, "%s: cannot reduce an empty dimension", op_name(k));
    double init = k == OP_REDUCE_MAX ? -INFINITY : k == OP_REDUCE_MIN ? INFINITY : 0.0;
    double *acc = xmalloc((size_t)(no ? no : 1) * sizeof *acc);
    for (int64_t i = 0; i < no; i++) acc[i] = init;
    Walk w = {.r = x->rank, .dims = x->dims};
    memcpy(w.sa, st, sizeof st);
    const float *a = x->data;
    for (int64_t i = 0; i < n; i++, walk_next(&w)) {
        double v = a[i], *s = &acc[w.oa];
        if (k == OP_REDUCE_SUM || k == OP_REDUCE_MEAN)
            *s += v;
        else if (k == OP_REDUCE_MAX ? (v > *s || isnan(v)) : (v < *s || isnan(v)))
            *s = v;
    }
    float *o = out->data;
    for (int64_t i = 0; i < no; i++)
        o[i] = (float)(k == OP_REDUCE_MEAN ? acc[i] / (double)count : acc[i]);
    free(acc);
    return true;
}

static bool interp_reduce_sum(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    return reduce(ip, op, in[0], out);
}
static bool interp_reduce_mean(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    return reduce(ip, op, in[0], out);
}
static bool interp_reduce_max(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    return reduce(ip, op, in[0], out);
}
static bool interp_reduce_min(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    return reduce(ip, op, in[0], out);
}

/* Is element i of t greater than element j (NaN counts as the largest, as in torch)? */
static bool greater(const Tensor *t, int64_t i, int64_t j)
{
    if (t->dtype == DT_F32) {
        float a = ((const float *)t->data)[i], b = ((const float *)t->data)[j];
        return isnan(b) ? false : a > b || isnan(a);
    }
    return load_int(t, i) > load_int(t, j);
}

/* torch.argmax: the first maximum wins; DIM -1 reduces the flattened tensor. */
static bool interp_argmax(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    const Tensor *x = in[0];
    int64_t dim = ir_op_int(ip->m, op, ATTR_DIM);
    ICHECK(out->dtype == DT_I64 && (x->dtype == DT_F32 || x->dtype == DT_I32 ||
                                    x->dtype == DT_I64));
    ICHECK(dim >= -1 && dim < x->rank);
    int64_t outer, len, inner;
    if (dim < 0) {
        outer = 1, len = tensor_numel(x), inner = 1;
    } else {
        outer = prod(x->dims, 0, (int)dim), len = x->dims[dim];
        inner = prod(x->dims, (int)dim + 1, x->rank);
    }
    ICHECK(tensor_numel(out) == outer * inner);
    if (len == 0 && outer * inner > 0)
        return fail(ip, "argmax: cannot reduce an empty dimension");
    int64_t *o = out->data;
    for (int64_t p = 0; p < outer; p++)
        for (int64_t q = 0; q < inner; q++) {
            int64_t base = p * len * inner + q, best = 0;
            for (int64_t j = 1; j < len; j++)
                if (greater(x, base + j * inner, base + best * inner)) best = j;
            o[p * inner + q] = best;
        }
    return true;
}

/* ---- matmul, linear ------------------------------------------------------------------- */

/* Offset of a broadcast batch index (over the output's nb leading dims) in an operand
 * whose own batch dims are bd[0..nbd-1] (right-aligned). */
static int64_t batch_offset(const int64_t *idx, int nb, const int64_t *bd, int nbd)
{
    int64_t off = 0, st = 1;
    for (int i = nbd - 1; i >= 0; i--) {
        int64_t j = idx[nb - nbd + i];
        off += (bd[i] == 1 ? 0 : j) * st;
        st *= bd[i];
    }
    return off;
}

/* torch.matmul: 1-D operands are promoted ([K] -> [1,K] on the left, [K,1] on the right)
 * and the added axis dropped; batch dims broadcast. C[M,N] = A[M,K] B[K,N] per batch, in
 * i-k-j order with a double accumulator row. */
static bool interp_matmul(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    const Tensor *a = in[0], *b = in[1];
    ICHECK(a->dtype == DT_F32 && b->dtype == DT_F32 && out->dtype == DT_F32);
    ICHECK(a->rank >= 1 && b->rank >= 1);
    int ra = a->rank, rb = b->rank;
    int64_t M = ra >= 2 ? a->dims[ra - 2] : 1, K = a->dims[ra - 1];
    int64_t Kb = rb >= 2 ? b->dims[rb - 2] : b->dims[0], N = rb >= 2 ? b->dims[rb - 1] : 1;
    int nba = ra > 2 ? ra - 2 : 0, nbb = rb > 2 ? rb - 2 : 0, nb = nba > nbb ? nba : nbb;
    ICHECK(K == Kb);
    ICHECK(out->rank == nb + (ra >= 2) + (rb >= 2));
    if (ra >= 2) ICHECK(out->dims[nb] == M);
    if (rb >= 2) ICHECK(out->dims[out->rank - 1] == N);
    for (int i = 0; i < nb; i++) {
        int ja = i - (nb - nba), jb = i - (nb - nbb);
        int64_t da = ja >= 0 ? a->dims[ja] : 1, db = jb >= 0 ? b->dims[jb] : 1;
        ICHECK((da == out->dims[i] || da == 1) && (db == out->dims[i] || db == 1));
    }
    int64_t batches = prod(out->dims, 0, nb), idx[IR_MAX_RANK] = {0};
    double *acc = xmalloc((size_t)(N ? N : 1) * sizeof *acc);
    const float *A = a->data, *B = b->data;
    float *C = out->data;
    for (int64_t t = 0; t < batches; t++) {
        const float *pa = A + batch_offset(idx, nb, a->dims, nba) * M * K;
        const float *pb = B + batch_offset(idx, nb, b->dims, nbb) * K * N;
        float *pc = C + t * M * N;
        for (int64_t i = 0; i < M; i++) {
            for (int64_t j = 0; j < N; j++) acc[j] = 0;
            for (int64_t k = 0; k < K; k++) {
                double aik = pa[i * K + k];
                for (int64_t j = 0; j < N; j++) acc[j] += aik * pb[k * N + j];
            }
            for (int64_t j = 0; j < N; j++) pc[i * N + j] = (float)acc[j];
        }
        for (int d = nb - 1; d >= 0; d--) { /* next batch index */
            if (++idx[d] < out->dims[d]) break;
            idx[d] = 0;
        }
    }
    free(acc);
    return true;
}

/* F.linear: y[r, o] = dot(x[r, :], w[o, :]) + b[o]. Rows of x are taken in blocks so
 * that each weight row is read once per block while the block stays in cache. */
static bool interp_linear(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    const Tensor *x = in[0], *w = in[1], *b = in[2];
    ICHECK(x->dtype == DT_F32 && w->dtype == DT_F32 && out->dtype == DT_F32);
    ICHECK(x->rank >= 1 && w->rank == 2 && x->dims[x->rank - 1] == w->dims[1]);
    ICHECK(out->rank == x->rank && out->dims[out->rank - 1] == w->dims[0]);
    for (int i = 0; i + 1 < x->rank; i++) ICHECK(out->dims[i] == x->dims[i]);
    if (b) ICHECK(b->dtype == DT_F32 && b->rank == 1 && b->dims[0] == w->dims[0]);
    int64_t O = w->dims[0], I = w->dims[1], R = prod(x->dims, 0, x->rank - 1);
    const float *X = x->data, *W = w->data, *B = b ? b->data : NULL;
    float *Y = out->data;
    enum { BLOCK = 32 };
    for (int64_t r0 = 0; r0 < R; r0 += BLOCK) {
        int64_t r1 = r0 + BLOCK < R ? r0 + BLOCK : R;
        for (int64_t o = 0; o < O; o++) {
            const float *wr = W + o * I;
            for (int64_t r = r0; r < r1; r++) {
                const float *xr = X + r * I;
                double acc = B ? B[o] : 0.0;
                for (int64_t k = 0; k < I; k++) acc += (double)xr[k] * wr[k];
                Y[r * O + o] = (float)acc;
            }
        }
    }
    return true;
}

/* ---- convolution and pooling -------------------------------------------------------- */

typedef struct Window {      /* a 2-D window geometry, from the attributes */
    int64_t kh, kw, sh, sw, ph, pw, dh, dw;
} Window;

static int64_t pair_at(Interp *ip, const Op *op, AttrKey key, int i, int64_t dflt)
{
    uint32_t n;
    const int64_t *v = ir_op_ints(ip->m, op, key, &n);
    return n == 2 ? v[i] : dflt;
}

/* out spatial size for in with the window, or -1 when it does not fit. */
static int64_t window_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d)
{
    int64_t span = d * (k - 1) + 1;
    if (s < 1 || p < 0 || d < 1 || k < 1 || in + 2 * p < span) return -1;
    return (in + 2 * p - span) / s + 1;
}

/* F.conv2d on [N,C,H,W] (or unbatched [C,H,W]): zero padding, stride, dilation, groups. */
static bool interp_conv2d(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    const Tensor *x = in[0], *w = in[1], *b = in[2];
    ICHECK(x->dtype == DT_F32 && w->dtype == DT_F32 && out->dtype == DT_F32);
    ICHECK((x->rank == 3 || x->rank == 4) && out->rank == x->rank && w->rank == 4);
    int64_t g = ir_op_int(ip->m, op, ATTR_GROUPS);
    Window k = {w->dims[2], w->dims[3], pair_at(ip, op, ATTR_STRIDE, 0, 0),
                pair_at(ip, op, ATTR_STRIDE, 1, 0), pair_at(ip, op, ATTR_PAD, 0, -1),
                pair_at(ip, op, ATTR_PAD, 1, -1), pair_at(ip, op, ATTR_DILATION, 0, 0),
                pair_at(ip, op, ATTR_DILATION, 1, 0)};
    int o4 = x->rank - 4; /* -1 when unbatched */
    int64_t Nb = o4 < 0 ? 1 : x->dims[0], C = x->dims[o4 + 1], H = x->dims[o4 + 2],
            Wd = x->dims[o4 + 3];
    int64_t O = w->dims[0], OH = out->dims[o4 + 2], OW = out->dims[o4 + 3];
    ICHECK(g >= 1 && C == w->dims[1] * g && O % g == 0 && out->dims[o4 + 1] == O);
    ICHECK(o4 < 0 || out->dims[0] == Nb);
    ICHECK(OH == window_size(H, k.kh, k.sh, k.ph, k.dh));
    ICHECK(OW == window_size(Wd, k.kw, k.sw, k.pw, k.dw));
    if (b) ICHECK(b->dtype == DT_F32 && b->rank == 1 && b->dims[0] == O);
    int64_t cpg = C / g, opg = O / g;
    const float *X = x->data, *Wt = w->data, *B = b ? b->data : NULL;
    float *Y = out->data;
    for (int64_t n = 0; n < Nb; n++)
        for (int64_t oc = 0; oc < O; oc++) {
            int64_t grp = oc / opg;
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    double acc = B ? B[oc] : 0.0;
                    for (int64_t icg = 0; icg < cpg; icg++) {
                        int64_t ic = grp * cpg + icg;
                        for (int64_t i = 0; i < k.kh; i++) {
                            int64_t ih = oh * k.sh - k.ph + i * k.dh;
                            if (ih < 0 || ih >= H) continue;
                            for (int64_t j = 0; j < k.kw; j++) {
                                int64_t iw = ow * k.sw - k.pw + j * k.dw;
                                if (iw < 0 || iw >= Wd) continue;
                                acc += (double)X[((n * C + ic) * H + ih) * Wd + iw] *
                                       Wt[((oc * cpg + icg) * k.kh + i) * k.kw + j];
                            }
                        }
                    }
                    Y[((n * O + oc) * OH + oh) * OW + ow] = (float)acc;
                }
        }
    return true;
}

/* max_pool2d pads with -inf (padded taps never win); avg_pool2d counts the padding
 * (count_include_pad=True), and with ceil_mode=False its divisor is always kh*kw. */
static bool pool(Interp *ip, const Op *op, const Tensor *x, Tensor *out, bool is_max)
{
    ICHECK(x->dtype == DT_F32 && out->dtype == DT_F32);
    ICHECK((x->rank == 3 || x->rank == 4) && out->rank == x->rank);
    Window k = {pair_at(ip, op, ATTR_KERNEL, 0, 0), pair_at(ip, op, ATTR_KERNEL, 1, 0),
                pair_at(ip, op, ATTR_STRIDE, 0, 0), pair_at(ip, op, ATTR_STRIDE, 1, 0),
                pair_at(ip, op, ATTR_PAD, 0, -1), pair_at(ip, op, ATTR_PAD, 1, -1), 1, 1};
    int r = x->rank;
    int64_t planes = prod(x->dims, 0, r - 2), H = x->dims[r - 2], Wd = x->dims[r - 1];
    int64_t OH = out->dims[r - 2], OW = out->dims[r - 1];
    for (int i = 0; i < r - 2; i++) ICHECK(out->dims[i] == x->dims[i]);
    ICHECK(OH == window_size(H, k.kh, k.sh, k.ph, 1) && OW == window_size(Wd, k.kw, k.sw, k.pw, 1));
    const float *X = x->data;
    float *Y = out->data;
    for (int64_t p = 0; p < planes; p++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                double acc = is_max ? -INFINITY : 0.0;
                for (int64_t i = 0; i < k.kh; i++) {
                    int64_t ih = oh * k.sh - k.ph + i;
                    if (ih < 0 || ih >= H) continue;
                    for (int64_t j = 0; j < k.kw; j++) {
                        int64_t iw = ow * k.sw - k.pw + j;
                        if (iw < 0 || iw >= Wd) continue;
                        double v = X[(p * H + ih) * Wd + iw];
                        if (!is_max)
                            acc += v;
                        else if (v > acc || isnan(v))
                            acc = v;
                    }
                }
                Y[(p * OH + oh) * OW + ow] = (float)(is_max ? acc : acc / (double)(k.kh * k.kw));
            }
    return true;
}

static bool interp_max_pool2d(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    return pool(ip, op, in[0], out, true);
}
static bool interp_avg_pool2d(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    return pool(ip, op, in[0], out, false);
}

/* ---- normalization, attention ----------------------------------------------------------- */

static bool is_vec(const Tensor *t, int64_t n)
{
    return !t || (t->dtype == DT_F32 && t->rank == 1 && t->dims[0] == n);
}

/* Eval mode: (x - mean[c]) / sqrt(var[c] + eps) * w[c] + b[c], c = axis 1. */
static bool interp_batch_norm(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    const Tensor *x = in[0], *mean = in[1], *var = in[2], *w = in[3], *b = in[4];
    ICHECK(x->dtype == DT_F32 && x->rank >= 2 && same_dims(x, out) && out->dtype == DT_F32);
    int64_t C = x->dims[1];
    ICHECK(mean && var && is_vec(mean, C) && is_vec(var, C) && is_vec(w, C) && is_vec(b, C));
    double eps = ir_op_float(ip->m, op, ATTR_EPS);
    int64_t N = x->dims[0], inner = prod(x->dims, 2, x->rank);
    const float *X = x->data, *Mu = mean->data, *V = var->data;
    const float *Wt = w ? w->data : NULL, *B = b ? b->data : NULL;
    float *Y = out->data;
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            double inv = 1.0 / sqrt((double)V[c] + eps);
            double scale = Wt ? Wt[c] : 1.0, shift = B ? B[c] : 0.0;
            for (int64_t i = 0; i < inner; i++) {
                int64_t at = (n * C + c) * inner + i;
                Y[at] = (float)(((double)X[at] - Mu[c]) * inv * scale + shift);
            }
        }
    return true;
}

/* layer_norm (biased variance) and rms_norm, both over the last axis. */
static bool norm_last(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out, bool rms)
{
    const Tensor *x = in[0], *w = in[1], *b = rms ? NULL : in[2];
    ICHECK(x->dtype == DT_F32 && x->rank >= 1 && same_dims(x, out) && out->dtype == DT_F32);
    int64_t D = x->dims[x->rank - 1], rows = prod(x->dims, 0, x->rank - 1);
    ICHECK(is_vec(w, D) && is_vec(b, D));
    double eps = ir_op_float(ip->m, op, ATTR_EPS);
    const float *Wt = w ? w->data : NULL, *B = b ? b->data : NULL;
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = (const float *)x->data + r * D;
        float *yr = (float *)out->data + r * D;
        double mean = 0, ms = 0;
        if (!rms) {
            for (int64_t i = 0; i < D; i++) mean += xr[i];
            mean /= (double)D;
        }
        for (int64_t i = 0; i < D; i++) ms += ((double)xr[i] - mean) * ((double)xr[i] - mean);
        double inv = 1.0 / sqrt(ms / (double)D + eps);
        for (int64_t i = 0; i < D; i++)
            yr[i] = (float)(((double)xr[i] - mean) * inv * (Wt ? Wt[i] : 1.0) + (B ? B[i] : 0.0));
    }
    return true;
}

static bool interp_layer_norm(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    return norm_last(ip, op, in, out, false);
}
static bool interp_rms_norm(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    return norm_last(ip, op, in, out, true);
}

/* softmax(q k^T * scale, masking key j > query i when causal) v, per batch. */
static bool interp_attention(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    const Tensor *q = in[0], *k = in[1], *v = in[2];
    int r = q->rank;
    ICHECK(q->dtype == DT_F32 && k->dtype == DT_F32 && v->dtype == DT_F32);
    ICHECK(r >= 2 && k->rank == r && v->rank == r && out->rank == r && out->dtype == DT_F32);
    for (int i = 0; i < r - 2; i++)
        ICHECK(k->dims[i] == q->dims[i] && v->dims[i] == q->dims[i] && out->dims[i] == q->dims[i]);
    int64_t Tq = q->dims[r - 2], D = q->dims[r - 1], Tk = k->dims[r - 2], Dv = v->dims[r - 1];
    ICHECK(k->dims[r - 1] == D && v->dims[r - 2] == Tk);
    ICHECK(out->dims[r - 2] == Tq && out->dims[r - 1] == Dv);
    bool causal = ir_op_int(ip->m, op, ATTR_CAUSAL) != 0;
    double scale = ir_op_float(ip->m, op, ATTR_SCALE);
    int64_t B = prod(q->dims, 0, r - 2);
    double *s = xmalloc((size_t)(Tk ? Tk : 1) * sizeof *s);
    double *acc = xmalloc((size_t)(Dv ? Dv : 1) * sizeof *acc);
    for (int64_t bt = 0; bt < B; bt++) {
        const float *Q = (const float *)q->data + bt * Tq * D;
        const float *K = (const float *)k->data + bt * Tk * D;
        const float *V = (const float *)v->data + bt * Tk * Dv;
        float *Y = (float *)out->data + bt * Tq * Dv;
        for (int64_t i = 0; i < Tq; i++) {
            double mx = -INFINITY, sum = 0;
            for (int64_t j = 0; j < Tk; j++) {
                double dot = 0;
                for (int64_t d = 0; d < D; d++) dot += (double)Q[i * D + d] * K[j * D + d];
                s[j] = causal && j > i ? -INFINITY : dot * scale;
                if (s[j] > mx) mx = s[j];
            }
            for (int64_t j = 0; j < Tk; j++) {
                s[j] = s[j] == -INFINITY ? 0.0 : exp(s[j] - mx);
                sum += s[j];
            }
            for (int64_t d = 0; d < Dv; d++) acc[d] = 0;
            for (int64_t j = 0; j < Tk; j++)
                for (int64_t d = 0; d < Dv; d++) acc[d] += s[j] * V[j * Dv + d];
            for (int64_t d = 0; d < Dv; d++) Y[i * Dv + d] = (float)(acc[d] / sum);
        }
    }
    free(s);
    free(acc);
    return true;
}

/* ---- data movement ------------------------------------------------------------------------ */

static bool interp_reshape(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    ICHECK(in[0]->dtype == out->dtype && tensor_numel(in[0]) == tensor_numel(out));
    memcpy(out->data, in[0]->data, (size_t)tensor_numel(out) * dsize(out->dtype));
    return true;
}

/* Copies element by element: out[idx] = in[offset(idx)], where offset is the dot
 * product of idx with st (input strides rearranged to the output's axes). */
static void gather_strided(const Tensor *x, Tensor *out, const int64_t *st, int64_t base)
{
    size_t es = dsize(x->dtype);
    Walk w = {.r = out->rank, .dims = out->dims, .oa = base};
    memcpy(w.sa, st, sizeof w.sa);
    const char *src = x->data;
    char *dst = out->data;
    for (int64_t i = 0, n = tensor_numel(out); i < n; i++, walk_next(&w))
        memcpy(dst + (size_t)i * es, src + (size_t)w.oa * es, es);
}

static bool interp_permute(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    const Tensor *x = in[0];
    uint32_t n;
    const int64_t *perm = ir_op_ints(ip->m, op, ATTR_PERM, &n);
    int64_t ist[IR_MAX_RANK], st[IR_MAX_RANK] = {0};
    ICHECK(x->dtype == out->dtype && n == x->rank && out->rank == x->rank);
    strides(x, ist);
    for (uint32_t i = 0; i < n; i++) {
        ICHECK(perm[i] >= 0 && perm[i] < x->rank && out->dims[i] == x->dims[perm[i]]);
        st[i] = ist[perm[i]];
    }
    ICHECK(tensor_numel(out) == tensor_numel(x));
    gather_strided(x, out, st, 0);
    return true;
}

/* out[i...] = in[BEGIN + i*STEP ...] per axis. */
static bool interp_slice(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    const Tensor *x = in[0];
    uint32_t nb, ns;
    const int64_t *begin = ir_op_ints(ip->m, op, ATTR_BEGIN, &nb);
    const int64_t *step = ir_op_ints(ip->m, op, ATTR_STEP, &ns);
    int64_t ist[IR_MAX_RANK], st[IR_MAX_RANK] = {0}, base = 0;
    ICHECK(x->dtype == out->dtype && nb == x->rank && ns == x->rank && out->rank == x->rank);
    strides(x, ist);
    for (unsigned a = 0; a < x->rank; a++) {
        ICHECK(step[a] >= 1 && begin[a] >= 0 && begin[a] <= x->dims[a]);
        /* the last index taken, begin + (out-1)*step, must be inside the input */
        ICHECK(out->dims[a] == 0 || out->dims[a] - 1 <= (x->dims[a] - 1 - begin[a]) / step[a]);
        st[a] = ist[a] * step[a];
        base += begin[a] * ist[a];
    }
    if (tensor_numel(out) > 0) gather_strided(x, out, st, base);
    return true;
}

static bool interp_concat(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    int64_t dim = ir_op_int(ip->m, op, ATTR_DIM), total = 0;
    ICHECK(dim >= 0 && dim < out->rank);
    for (unsigned i = 0; i < op->nin; i++) {
        const Tensor *x = in[i];
        ICHECK(x && x->dtype == out->dtype && x->rank == out->rank);
        for (unsigned a = 0; a < x->rank; a++) ICHECK(a == dim || x->dims[a] == out->dims[a]);
        total += x->dims[dim];
    }
    ICHECK(total == out->dims[dim]);
    size_t es = dsize(out->dtype);
    int64_t outer = prod(out->dims, 0, (int)dim), inner = prod(out->dims, (int)dim + 1, out->rank);
    int64_t orow = out->dims[dim] * inner, at = 0;
    for (unsigned i = 0; i < op->nin; i++) {
        int64_t row = in[i]->dims[dim] * inner;
        for (int64_t p = 0; p < outer; p++)
            memcpy((char *)out->data + (size_t)(p * orow + at) * es,
                   (const char *)in[i]->data + (size_t)(p * row) * es, (size_t)row * es);
        at += row;
    }
    return true;
}

static bool interp_embedding(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    const Tensor *ids = in[0], *tab = in[1];
    ICHECK((ids->dtype == DT_I32 || ids->dtype == DT_I64) && tab->rank == 2);
    ICHECK(out->dtype == tab->dtype && out->rank == ids->rank + 1);
    for (unsigned i = 0; i < ids->rank; i++) ICHECK(out->dims[i] == ids->dims[i]);
    ICHECK(out->dims[ids->rank] == tab->dims[1]);
    int64_t rows = tab->dims[0], d = tab->dims[1];
    size_t rowbytes = (size_t)d * dsize(tab->dtype);
    for (int64_t i = 0, n = tensor_numel(ids); i < n; i++) {
        int64_t id = load_int(ids, i);
        if (id < 0 || id >= rows)
            return fail(ip, "embedding: index %lld is out of range for a table of %lld rows",
                        (long long)id, (long long)rows);
        memcpy((char *)out->data + (size_t)i * rowbytes,
               (const char *)tab->data + (size_t)id * rowbytes, rowbytes);
    }
    return true;
}

/* torch.take: flat gather; negative indices count from the end. */
static bool interp_take(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    const Tensor *x = in[0], *idx = in[1];
    ICHECK((idx->dtype == DT_I32 || idx->dtype == DT_I64) && out->dtype == x->dtype);
    ICHECK(same_dims(idx, out));
    int64_t n = tensor_numel(x);
    size_t es = dsize(x->dtype);
    for (int64_t i = 0, m = tensor_numel(idx); i < m; i++) {
        int64_t j = load_int(idx, i), at = j < 0 ? j + n : j;
        if (at < 0 || at >= n)
            return fail(ip, "take: index %lld is out of range for a tensor of %lld elements",
                        (long long)j, (long long)n);
        memcpy((char *)out->data + (size_t)i * es, (const char *)x->data + (size_t)at * es, es);
    }
    return true;
}

/* torch.kron: out[i] = a[i / db] * b[i % db] per axis (multi-indices). */
static bool interp_kron(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    const Tensor *a = in[0], *b = in[1];
    int r = out->rank;
    ICHECK(a->dtype == out->dtype && b->dtype == out->dtype && a->rank == r && b->rank == r);
    ICHECK(out->dtype == DT_F32 || out->dtype == DT_I32 || out->dtype == DT_I64);
    for (int i = 0; i < r; i++) ICHECK(out->dims[i] == a->dims[i] * b->dims[i]);
    int64_t sa[IR_MAX_RANK], sb[IR_MAX_RANK], idx[IR_MAX_RANK] = {0};
    strides(a, sa);
    strides(b, sb);
    for (int64_t i = 0, n = tensor_numel(out); i < n; i++) {
        int64_t oa = 0, ob = 0;
        for (int d = 0; d < r; d++) {
            oa += idx[d] / b->dims[d] * sa[d];
            ob += idx[d] % b->dims[d] * sb[d];
        }
        if (out->dtype == DT_F32)
            ((float *)out->data)[i] = ((const float *)a->data)[oa] * ((const float *)b->data)[ob];
        else if (out->dtype == DT_I32)
            ((int32_t *)out->data)[i] = (int32_t)(uint32_t)((uint64_t)load_int(a, oa) *
                                                             (uint64_t)load_int(b, ob));
        else
            ((int64_t *)out->data)[i] = (int64_t)((uint64_t)load_int(a, oa) *
                                                  (uint64_t)load_int(b, ob));
        for (int d = r - 1; d >= 0; d--) {
            if (++idx[d] < out->dims[d]) break;
            idx[d] = 0;
        }
    }
    return true;
}

/* MurmurHash3's 32-bit finalizer (spec 8.3). */
static uint32_t fmix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    x *= 0xc2b2ae35u;
    x ^= x >> 16;
    return x;
}

/* Spec 8.3: W[i] = s(i) * pool[h(i) mod n], h(i) = fmix32(u ^ seed),
 * s(i) = bit 0 of fmix32(u ^ seed ^ 0x9E3779B9) ? -1 : 1, u = low 32 bits of i. */
static bool interp_hashed(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    const Tensor *pool = in[0];
    ICHECK(pool->dtype == DT_F32 && out->dtype == DT_F32);
    uint32_t seed = (uint32_t)ir_op_int(ip->m, op, ATTR_SEED);
    uint64_t n = (uint64_t)tensor_numel(pool);
    if (n == 0) return fail(ip, "hashed: the pool is empty");
    const float *P = pool->data;
    float *W = out->data;
    for (int64_t i = 0, m = tensor_numel(out); i < m; i++) {
        uint32_t u = (uint32_t)(uint64_t)i;
        uint32_t h = fmix32(u ^ seed);
        float sign = (fmix32(u ^ seed ^ 0x9E3779B9u) & 1u) ? -1.0f : 1.0f;
        W[i] = sign * P[h % n];
    }
    return true;
}

/* Spec 8.4: fmix32(low32(id) ^ seed) mod NUM, as i64. */
static bool interp_hash_route(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    const Tensor *ids = in[0];
    ICHECK((ids->dtype == DT_I32 || ids->dtype == DT_I64) && out->dtype == DT_I64);
    ICHECK(same_dims(ids, out));
    uint32_t seed = (uint32_t)ir_op_int(ip->m, op, ATTR_SEED);
    int64_t e = ir_op_int(ip->m, op, ATTR_NUM);
    ICHECK(e >= 1);
    for (int64_t i = 0, n = tensor_numel(ids); i < n; i++) {
        uint32_t u = (uint32_t)(uint64_t)load_int(ids, i);
        ((int64_t *)out->data)[i] = (int64_t)((uint64_t)fmix32(u ^ seed) % (uint64_t)e);
    }
    return true;
}

/* Spec 8.3 recurse, one step: rows t of x with depth[t] > step are compacted (gather),
 * run through the body, and written back in the same order (scatter). */
static bool interp_recurse_gather(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    const Tensor *x = in[0], *depth = in[1];
    ICHECK(x->rank >= 1 && depth->rank == 1 && depth->dims[0] == x->dims[0] && in[2]->rank == 0);
    int64_t it = load_int(in[2], 0);
    ICHECK(out->rank == x->rank && out->dtype == x->dtype);
    size_t rowbytes = (size_t)prod(x->dims, 1, x->rank) * dsize(x->dtype);
    int64_t r = 0;
    for (int64_t t = 0; t < x->dims[0]; t++) {
        if (load_int(depth, t) <= it) continue;
        ICHECK(r < out->dims[0]);
        memcpy((char *)out->data + (size_t)r++ * rowbytes, (const char *)x->data + (size_t)t * rowbytes, rowbytes);
    }
    ICHECK(r == out->dims[0]);
    return true;
}

static bool interp_recurse_scatter(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    const Tensor *x = in[0], *y = in[1], *depth = in[2];
    ICHECK(same_dims(x, out) && x->rank >= 1 && depth->rank == 1 && depth->dims[0] == x->dims[0]);
    ICHECK(in[3]->rank == 0);
    int64_t it = load_int(in[3], 0);
    ICHECK(y->rank == x->rank && y->dtype == x->dtype);
    size_t rowbytes = (size_t)prod(x->dims, 1, x->rank) * dsize(x->dtype);
    memcpy(out->data, x->data, (size_t)x->dims[0] * rowbytes);
    int64_t r = 0;
    for (int64_t t = 0; t < x->dims[0]; t++) {
        if (load_int(depth, t) <= it) continue;
        ICHECK(r < y->dims[0]);
        memcpy((char *)out->data + (size_t)t * rowbytes, (const char *)y->data + (size_t)r++ * rowbytes, rowbytes);
    }
    ICHECK(r == y->dims[0]);
    return true;
}

static bool valid_sym_dim(const Module *m, Dim d);

/* Before a recurse_gather's result is allocated: checks every depth against 0..MAX (a
 * run-time error, spec 8.3) and binds the rows symbol to the rows still recursing. */
static bool bind_rows(Interp *ip, const Op *op, const Tensor *depth, const Tensor *step)
{
    const Module *m = ip->m;
    Dim d = ir_type(m, op->out)->dims[0];
    if (d >= 0 || !valid_sym_dim(m, d) || ir_dim_expr(m, d)->nsym != 1 ||
        !m->syms.v[ir_dim_expr(m, d)->sym[0]].dynamic || (depth->dtype != DT_I32 && depth->dtype != DT_I64) ||
        (step->dtype != DT_I32 && step->dtype != DT_I64) || step->rank != 0)
        return fail(ip, "internal error: recurse_gather without a rows symbol");
    int64_t it = load_int(step, 0), mx = ir_op_int(m, op, ATTR_MAX), r = 0;
    for (int64_t t = 0, n = tensor_numel(depth); t < n; t++) {
        int64_t k = load_int(depth, t);
        if (k < 0 || k > mx)
            return fail(ip, "recurse: depth %lld of row %lld is outside 0..%lld", (long long)k, (long long)t,
                        (long long)mx);
        r += k > it;
    }
    ip->symvals[ir_dim_expr(m, d)->sym[0]] = r;
    return true;
}

/* ---- mixture of experts (spec 8.4) --------------------------------------------------------- */

/* Routing of one token: the selected experts' combine weights into g[0..E-1] (0 elsewhere).
 * Experts are ranked by descending probability, the lower index first among equals. */
static void route_token(const float *score, int64_t E, int64_t policy, int64_t k, double p,
                        bool renorm, bool softmax, float *prob, bool *taken, float *g)
{
    if (softmax) {
        float mx = -INFINITY;
        for (int64_t e = 0; e < E; e++)
            if (score[e] > mx || isnan(score[e])) mx = score[e];
        double sum = 0;
        for (int64_t e = 0; e < E; e++) sum += expf(score[e] - mx);
        for (int64_t e = 0; e < E; e++) prob[e] = (float)(expf(score[e] - mx) / sum);
    } else {
        for (int64_t e = 0; e < E; e++) prob[e] = score[e];
    }
    for (int64_t e = 0; e < E; e++) taken[e] = false, g[e] = 0;
    double cum = 0, wsum = 0;
    for (int64_t n = 0; n < k; n++) {
        int64_t best = -1;
        for (int64_t e = 0; e < E; e++)
            if (!taken[e] && (best < 0 || prob[e] > prob[best])) best = e;
        taken[best] = true;
        wsum += prob[best];
        cum += prob[best];
        if (policy == 1 && cum >= p) break;
    }
    for (int64_t e = 0; e < E; e++)
        if (taken[e]) g[e] = renorm || policy == 1 ? (float)(prob[e] / wsum) : prob[e];
}

static bool interp_moe_route(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    const Tensor *sc = in[0];
    ICHECK(sc->dtype == DT_F32 && out->dtype == DT_F32 && same_dims(sc, out) && sc->rank == 2);
    int64_t T = sc->dims[0], E = sc->dims[1], k = ir_op_int(ip->m, op, ATTR_K);
    ICHECK(k >= 1 && k <= E);
    float *prob = xmalloc((size_t)E * sizeof *prob);
    bool *taken = xmalloc((size_t)E * sizeof *taken);
    for (int64_t t = 0; t < T; t++)
        route_token((const float *)sc->data + t * E, E, ir_op_int(ip->m, op, ATTR_POLICY), k,
                    ir_op_float(ip->m, op, ATTR_P), ir_op_int(ip->m, op, ATTR_RENORM) != 0,
                    ir_op_int(ip->m, op, ATTR_SOFTMAX) != 0, prob, taken, (float *)out->data + t * E);
    free(prob);
    free(taken);
    return true;
}

static bool interp_moe_assign(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    const Tensor *idx = in[0];
    int64_t E = ir_op_int(ip->m, op, ATTR_NUM);
    ICHECK((idx->dtype == DT_I32 || idx->dtype == DT_I64) && idx->rank == 1);
    ICHECK(out->rank == 2 && out->dims[0] == idx->dims[0] && out->dims[1] == E);
    for (int64_t t = 0; t < idx->dims[0]; t++) {
        int64_t e = load_int(idx, t);
        if (e < 0 || e >= E)
            return fail(ip, "moe: expert index %lld of token %lld is outside 0..%lld",
                        (long long)e, (long long)t, (long long)E - 1);
        ((float *)out->data)[t * E + e] = 1.0f;
    }
    return true;
}

/* The dynamic symbol a moe_gather sets, before its result is allocated. */
static bool set_gather_rows(Interp *ip, const Op *op, const Tensor *gates)
{
    const Module *m = ip->m;
    Dim rows = ir_op_int(m, op, ATTR_ROWS);
    int64_t e = ir_op_int(m, op, ATTR_EXPERT);
    ICHECK(valid_sym_dim(m, rows) && ir_dim_expr(m, rows)->nsym == 1);
    SymId sym = ir_dim_expr(m, rows)->sym[0];
    ICHECK(sym < m->syms.n && m->syms.v[sym].dynamic);
    ICHECK(gates->dtype == DT_F32 && gates->rank == 2 && e >= 0 && e < gates->dims[1]);
    int64_t n = 0;
    for (int64_t t = 0; t < gates->dims[0]; t++)
        n += ((const float *)gates->data)[t * gates->dims[1] + e] != 0;
    ip->symvals[sym] = n;
    return true;
}

static bool interp_moe_gather(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    const Tensor *x = in[0], *g = in[1];
    int64_t e = ir_op_int(ip->m, op, ATTR_EXPERT);
    ICHECK(x->dtype == DT_F32 && x->rank == 2 && g->rank == 2 && x->dims[0] == g->dims[0]);
    ICHECK(out->rank == 2 && out->dims[1] == x->dims[1] && e >= 0 && e < g->dims[1]);
    int64_t d = x->dims[1], r = 0;
    for (int64_t t = 0; t < x->dims[0]; t++) {
        if (((const float *)g->data)[t * g->dims[1] + e] == 0) continue;
        ICHECK(r < out->dims[0]);
        memcpy((float *)out->data + r * d, (const float *)x->data + t * d, (size_t)d * sizeof(float));
        r++;
    }
    ICHECK(r == out->dims[0]);
    return true;
}

static bool interp_moe_scatter(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    const Tensor *acc = in[0], *y = in[1], *g = in[2];
    int64_t e = ir_op_int(ip->m, op, ATTR_EXPERT);
    ICHECK(y->rank == 2 && g->rank == 2 && out->rank == 2 && out->dims[0] == g->dims[0]);
    ICHECK(out->dims[1] == y->dims[1] && e >= 0 && e < g->dims[1] && (!acc || same_dims(acc, out)));
    int64_t n = y->dims[1], r = 0;
    float *o = out->data;
    if (acc && tensor_numel(out) > 0) memcpy(o, acc->data, (size_t)tensor_numel(out) * sizeof(float));
    for (int64_t t = 0; t < g->dims[0]; t++) {
        float w = ((const float *)g->data)[t * g->dims[1] + e];
        if (w == 0) continue;
        ICHECK(r < y->dims[0]);
        for (int64_t j = 0; j < n; j++) o[t * n + j] += w * ((const float *)y->data)[r * n + j];
        r++;
    }
    ICHECK(r == y->dims[0]);
    return true;
}

static InterpFn *const kernels[] = {
#define A(k)
#define NOATTR
#define OP(E, name, nin, flags, ...) [OP_##E] = interp_##name,
#include "../ir/ops.def"
#undef OP
#undef NOATTR
#undef A
};
_Static_assert(sizeof kernels / sizeof kernels[0] == OP_COUNT,
               "every op in ops.def needs an interpreter kernel");

/* ---- the driver ---------------------------------------------------------------------------- */

static const char *format_dims(const int64_t *dims, unsigned rank, char *buf, size_t len)
{
    size_t at = 0;
    at += (size_t)snprintf(buf, len, "[");
    for (unsigned i = 0; i < rank && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%lld", i ? "," : "", (long long)dims[i]);
    if (at < len) snprintf(buf + at, len - at, "]");
    return buf;
}

/* Is d an interned symbolic dim (slot 0 of Module.dimexprs is reserved)? */
static bool valid_sym_dim(const Module *m, Dim d)
{
    return d < 0 && -(d + 1) >= 1 && (uint64_t)(-(d + 1)) < m->dimexprs.n;
}

/* Checks that every symbol of d is bound and evaluates it. */
static bool eval_dim(Interp *ip, Dim d, int64_t *val)
{
    const Module *m = ip->m;
    if (d >= 0) {
        *val = d;
        return true;
    }
    if (!valid_sym_dim(m, d))
        return fail(ip, "internal error: dimension %lld is not a valid symbolic size",
                    (long long)d);
    const DimExpr *e = ir_dim_expr(m, d);
    for (unsigned i = 0; i < e->nsym; i++) {
        if (e->sym[i] >= m->syms.n)
            return fail(ip, "internal error: symbolic size refers to unknown symbol %u",
                        (unsigned)e->sym[i]);
        if (ip->symvals[e->sym[i]] < 0)
            return fail(ip, "symbol '%s' is not bound by any input", m->syms.v[e->sym[i]].name);
    }
    *val = ir_dim_eval(m, d, ip->symvals);
    if (*val < 0) {
        char b[64];
        return fail(ip, "size %s overflows", ir_format_dim(m, d, b, sizeof b));
    }
    return true;
}

/* Fills t's dims and dtype from an IR type and allocates zeroed data. */
static bool make_tensor(Interp *ip, const TensorType *type, Tensor *t)
{
    memset(t, 0, sizeof *t);
    t->dtype = type->dtype;
    t->rank = type->rank;
    int64_t n = 1;
    for (unsigned i = 0; i < type->rank; i++) {
        if (!eval_dim(ip, type->dims[i], &t->dims[i])) return false;
        if (t->dims[i] && n > INT64_MAX / t->dims[i]) return fail(ip, "tensor size overflows");
        n *= t->dims[i];
    }
    size_t es = dsize(t->dtype);
    if ((uint64_t)n > SIZE_MAX / 2 / es) return fail(ip, "tensor size overflows");
    t->data = xcalloc(1, n ? (size_t)n * es : 1);
    return true;
}

/* Binds or checks one declared dim of input `port` against the given size. */
static bool bind_dim(Interp *ip, uint32_t input, const Tensor *given, unsigned axis)
{
    const IrPort *port = &ip->m->inputs.v[input];
    const Module *m = ip->m;
    const TensorType *decl = ir_type(m, port->value);
    Dim d = decl->dims[axis];
    int64_t have = given->dims[axis];
    char b1[256], b2[256], note[256] = "";
    bool ok;
    if (d >= 0) {
        ok = have == d;
    } else {
        if (!valid_sym_dim(m, d))
            return fail(ip, "internal error: input '%s' has an invalid symbolic size", port->name);
        const DimExpr *e = ir_dim_expr(m, d);
        int64_t known = e->coef;
        int unbound = -1, nunbound = 0;
        for (unsigned i = 0; i < e->nsym; i++) {
            SymId s = e->sym[i];
            if (s >= m->syms.n) return fail(ip, "internal error: unknown symbol %u", (unsigned)s);
            if (ip->symvals[s] < 0) {
                unbound = (int)s;
                nunbound++;
            } else {
                int64_t v = ip->symvals[s];
                known = v && known > INT64_MAX / v ? -1 : known * v;
                if (known < 0) break;
            }
        }
        if (nunbound > 1)
            return fail(ip, "input '%s' dimension %u is %s, whose symbols cannot all be bound "
                        "from it", port->name, axis, ir_format_dim(m, d, b1, sizeof b1));
        if (nunbound == 1 && known > 0 && have % known == 0) {
            const Symbol *sym = &m->syms.v[unbound];
            int64_t val = have / known;
            if (sym->bound > 0 && val > sym->bound)
                return fail(ip, "input '%s' has %s = %lld but the model declares %s <= %lld",
                            port->name, sym->name, (long long)val, sym->name,
                            (long long)sym->bound);
            ip->symvals[unbound] = val;
            ip->binder[unbound] = input + 1;
            return true;
        }
        ok = nunbound == 0 && known == have;
    }
    if (ok) return true;
    /* name the sizes that earlier inputs bound the declaration's symbols to */
    size_t at = 0;
    SymId seen[IR_MAX_RANK * IR_DIM_MAXSYMS];
    unsigned nseen = 0;
    for (unsigned a = 0; a < decl->rank; a++) {
        if (!valid_sym_dim(m, decl->dims[a])) continue;
        const DimExpr *e = ir_dim_expr(m, decl->dims[a]);
        for (unsigned i = 0; i < e->nsym; i++) {
            SymId s = e->sym[i];
            bool dup = false;
            for (unsigned j = 0; j < nseen; j++) dup = dup || seen[j] == s;
            if (dup || s >= m->syms.n || ip->binder[s] == 0 || ip->binder[s] > input ||
                at >= sizeof note)
                continue;
            seen[nseen++] = s;
            at += (size_t)snprintf(note + at, sizeof note - at, "%s %s = %lld", at ? "," : " with",
                                   m->syms.v[s].name, (long long)ip->symvals[s]);
        }
    }
    return fail(ip, "input '%s' has shape %s but the model declares %s%s", port->name,
                format_dims(given->dims, given->rank, b1, sizeof b1),
                ir_format_type(m, decl, b2, sizeof b2), note);
}

static bool bind_inputs(Interp *ip, const Tensor *inputs)
{
    const Module *m = ip->m;
    for (uint32_t i = 0; i < m->inputs.n; i++) {
        const IrPort *port = &m->inputs.v[i];
        const Tensor *given = &inputs[i];
        char b1[256];
        if (port->value == 0 || port->value >= m->values.n)
            return fail(ip, "internal error: input '%s' has no value", port->name);
        const TensorType *decl = ir_type(m, port->value);
        if (given->dtype != decl->dtype)
            return fail(ip, "input '%s' has dtype %s but the model declares %s", port->name,
                        (unsigned)given->dtype < DT_COUNT ? dtype_info[given->dtype].name : "?",
                        ir_format_type(m, decl, b1, sizeof b1));
        if (given->rank > IR_MAX_RANK)
            return fail(ip, "input '%s' has rank %u, more than %d", port->name, given->rank,
                        IR_MAX_RANK);
        for (unsigned a = 0; a < given->rank; a++)
            if (given->dims[a] < 0)
                return fail(ip, "input '%s' has a negative dimension", port->name);
        if (given->rank != decl->rank) {
            char b2[256];
            return fail(ip, "input '%s' has shape %s but the model declares %s", port->name,
                        format_dims(given->dims, given->rank, b2, sizeof b2),
                        ir_format_type(m, decl, b1, sizeof b1));
        }
        for (unsigned a = 0; a < given->rank; a++)
            if (!bind_dim(ip, i, given, a)) return false;
        if (!given->data && tensor_numel(given) > 0)
            return fail(ip, "input '%s' has no data", port->name);
        if (ip->state[port->value] != V_NONE)
            return fail(ip, "internal error: input '%s' is declared twice", port->name);
        ip->vals[port->value] = *given;
        ip->state[port->value] = V_BORROWED;
    }
    return true;
}

/* The tensor of value v, making parameters and constants available on first use. */
static const Tensor *get_value(Interp *ip, ValueId v, const Op *user)
{
    const Module *m = ip->m;
    if (ip->state[v] != V_NONE) return &ip->vals[v];
    const Value *val = ir_value(m, v);
    if (val->kind == VAL_PARAM || val->kind == VAL_CONST) {
        if (val->weight == 0 || val->weight >= m->weights.n) {
            fail(ip, "internal error: value %u has no weight", (unsigned)v);
            return NULL;
        }
        const Weight *w = &m->weights.v[val->weight];
        Tensor t;
        memset(&t, 0, sizeof t);
        t.dtype = val->type.dtype;
        t.rank = val->type.rank;
        for (unsigned i = 0; i < t.rank; i++)
            if (!eval_dim(ip, val->type.dims[i], &t.dims[i])) return NULL;
        if ((uint64_t)tensor_numel(&t) * dsize(t.dtype) != w->nbytes || (!w->data && w->nbytes)) {
            fail(ip, "internal error: parameter '%s' has %zu bytes of data for its type",
                 val->name ? val->name : "?", w->nbytes);
            return NULL;
        }
        t.data = w->data;
        ip->vals[v] = t;
        ip->state[v] = V_BORROWED;
        return &ip->vals[v];
    }
    fail(ip, "internal error: value %u is used by %s%s%s before it is computed", (unsigned)v,
         user ? "'" : "", user ? op_name(user->kind) : "an output", user ? "'" : "");
    return NULL;
}

static void release(Interp *ip, ValueId v)
{
    if (ip->uses[v] > 0) ip->uses[v]--;
    if (ip->uses[v] == 0 && ip->state[v] == V_OWNED) {
        tensor_free(&ip->vals[v]);
        ip->state[v] = V_NONE;
    }
}

static bool count_uses(Interp *ip)
{
    const Module *m = ip->m;
    for (OpId o = 1; o < m->ops.n; o++) {
        const Op *op = ir_op(m, o);
        if (op->flags & OPF_DEAD) continue;
        if ((unsigned)op->kind >= OP_COUNT || op->out == 0 || op->out >= m->values.n ||
            op->in > m->operands.n || op->nin > m->operands.n - op->in)
            return fail(ip, "internal error: op %u is malformed", (unsigned)o);
        for (unsigned i = 0; i < op->nin; i++) {
            ValueId v = ir_operand(m, op, i);
            if (v >= m->values.n)
                return fail(ip, "internal error: op %u is malformed", (unsigned)o);
            if (v) ip->uses[v]++;
        }
    }
    for (uint32_t i = 0; i < m->outputs.n; i++) {
        ValueId v = m->outputs.v[i].value;
        if (v == 0 || v >= m->values.n)
            return fail(ip, "internal error: output '%s' has no value", m->outputs.v[i].name);
        ip->uses[v]++;
    }
    return true;
}

/* Allocates op's result from its IR type and runs its kernel on in[] (operand tensors,
 * NULL for an absent optional operand). The one place kernels are called, shared by
 * interp_run and interp_eval_op; on failure nothing stays allocated. */
static bool exec_op(Interp *ip, const Op *op, const Tensor *const *in, Tensor *out)
{
    if ((unsigned)op->kind >= OP_COUNT) return fail(ip, "internal error: op of unknown kind");
    if (op->kind == OP_RECURSE_GATHER && (!in[1] || !in[2] || !bind_rows(ip, op, in[1], in[2]))) return false;
    if (op->kind == OP_MOE_GATHER && (!in[1] || !set_gather_rows(ip, op, in[1]))) return false;
    if (!make_tensor(ip, ir_type(ip->m, op->out), out)) return false;
    if (!kernels[op->kind](ip, op, in, out)) {
        tensor_free(out);
        return false;
    }
    return true;
}

static bool run_op(Interp *ip, const Op *op)
{
    const Module *m = ip->m;
    const Tensor *fixed[8], **in = op->nin <= 8 ? fixed : xmalloc(op->nin * sizeof *in);
    Tensor out;
    bool ok = true;
    for (unsigned i = 0; ok && i < op->nin; i++) {
        ValueId v = ir_operand(m, op, i);
        in[i] = v ? get_value(ip, v, op) : NULL;
        ok = !v || in[i];
    }
    if (ok && ip->state[op->out] != V_NONE)
        ok = fail(ip, "internal error: value %u is defined twice", (unsigned)op->out);
    if (ok) ok = exec_op(ip, op, in, &out);
    if (ok) {
        ip->vals[op->out] = out;
        ip->state[op->out] = V_OWNED;
        for (unsigned i = 0; i < op->nin; i++)
            if (ir_operand(m, op, i)) release(ip, ir_operand(m, op, i));
        if (ip->uses[op->out] == 0) release(ip, op->out); /* an unused result */
    }
    if (in != fixed) free(in);
    return ok;
}

/* Moves (or, for inputs, weights and repeated outputs, copies) each output out. */
static bool collect_outputs(Interp *ip, Tensor *outputs)
{
    const Module *m = ip->m;
    for (uint32_t i = 0; i < m->outputs.n; i++) {
        ValueId v = m->outputs.v[i].value;
        if (ip->state[v] == V_NONE && !get_value(ip, v, NULL)) return false;
    }
    for (uint32_t i = 0; i < m->outputs.n; i++) {
        ValueId v = m->outputs.v[i].value;
        Tensor t = ip->vals[v];
        if (ip->state[v] == V_OWNED) {
            ip->state[v] = V_BORROWED; /* now owned by outputs[i] */
        } else {
            size_t bytes = (size_t)tensor_numel(&t) * dsize(t.dtype);
            void *copy = xmalloc(bytes ? bytes : 1);
            if (bytes) memcpy(copy, t.data, bytes);
            t.data = copy;
        }
        outputs[i] = t;
    }
    return true;
}

bool interp_run(const Module *m, const Tensor *inputs, Tensor *outputs, char *err,
                size_t errlen)
{
    Interp ip = {.m = m, .err = err, .errlen = errlen};
    uint32_t nv = m->values.n ? m->values.n : 1;
    if (errlen) err[0] = '\0';
    for (uint32_t i = 0; i < m->outputs.n; i++) memset(&outputs[i], 0, sizeof outputs[i]);
    ip.symvals = xmalloc((m->syms.n ? m->syms.n : 1) * sizeof *ip.symvals);
    for (uint32_t i = 0; i < m->syms.n; i++) ip.symvals[i] = -1;
    ip.binder = xcalloc(m->syms.n ? m->syms.n : 1, sizeof *ip.binder);
    ip.vals = xcalloc(nv, sizeof *ip.vals);
    ip.state = xcalloc(nv, sizeof *ip.state);
    ip.uses = xcalloc(nv, sizeof *ip.uses);

    bool ok = count_uses(&ip) && bind_inputs(&ip, inputs);
    for (OpId o = 1; ok && o < m->ops.n; o++) {
        const Op *op = ir_op(m, o);
        if (!(op->flags & OPF_DEAD)) ok = run_op(&ip, op);
    }
    ok = ok && collect_outputs(&ip, outputs);

    for (uint32_t v = 0; v < m->values.n; v++)
        if (ip.state[v] == V_OWNED) tensor_free(&ip.vals[v]);
    free(ip.symvals);
    free(ip.binder);
    free(ip.vals);
    free(ip.state);
    free(ip.uses);
    return ok;
}

/* Does t have the dtype and (concrete) dims of IR type want? */
static bool tensor_has_type(const Tensor *t, const TensorType *want)
{
    if (t->dtype != want->dtype || t->rank != want->rank) return false;
    for (unsigned i = 0; i < t->rank; i++)
        if (want->dims[i] < 0 || t->dims[i] != want->dims[i]) return false;
    return true;
}

bool interp_eval_op(const Module *m, const Op *op, const Tensor *in, Tensor *out, char *err,
                    size_t errlen)
{
    Interp ip = {.m = m, .err = err, .errlen = errlen};
    const Tensor *fixed[8], **ins = op->nin <= 8 ? fixed : xmalloc(op->nin * sizeof *ins);
    bool ok = true;
    if (errlen) err[0] = '\0';
    memset(out, 0, sizeof *out);
    /* no input binds a symbol here: a symbolic result size is an error from eval_dim */
    ip.symvals = xmalloc((m->syms.n ? m->syms.n : 1) * sizeof *ip.symvals);
    for (uint32_t i = 0; i < m->syms.n; i++) ip.symvals[i] = -1;
    if (op->out == 0 || op->out >= m->values.n || op->in > m->operands.n ||
        op->nin > m->operands.n - op->in)
        ok = fail(&ip, "internal error: op is malformed");
    for (unsigned i = 0; ok && i < op->nin; i++) {
        ValueId v = ir_operand(m, op, i);
        ins[i] = v ? &in[i] : NULL;
        if (v >= m->values.n || (v && !tensor_has_type(&in[i], ir_type(m, v))))
            ok = fail(&ip, "internal error: operand %u of '%s' does not have its IR type", i,
                      op_name(op->kind));
        else if (v && !in[i].data && tensor_numel(&in[i]) > 0)
            ok = fail(&ip, "internal error: operand %u of '%s' has no data", i, op_name(op->kind));
    }
    if (ok) ok = exec_op(&ip, op, ins, out);
    if (ins != fixed) free(ins);
    free(ip.symvals);
    return ok;
}
