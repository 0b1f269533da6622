/* SPDX-License-Identifier: MIT
 * ops.c - one converter per ONNX operator (opsets 13 to 17), writing NDL built-ins.
 *
 * Shape arithmetic on constants (Shape, Gather, Concat, Unsqueeze, ... of known sizes) is
 * folded here, so Reshape and friends see constant shapes. Decomposed forms that
 * torch.onnx.export writes are recognized at their last node and mapped back to the
 * built-ins whose kernels are fast (the inner nodes' statements then go unused):
 *   MatMul(x, W) [+ b]                            -> linear(x, Wᵀ, b)
 *   (x - mean) / sqrt(var + eps) [* w] [+ b]      -> layer_norm(x, w, b, eps)
 *   x * 0.5 * (1 + erf(x / sqrt 2))               -> gelu(x)
 *   softmax(q kᵀ * s [+ mask]) v                  -> attention(q, k, v, causal, scale=s)
 *   Pad(x) before Conv / AveragePool              -> their pad
 * The matchers that look back over several nodes are in patterns.c; the values that
 * extend a pattern (a linear without bias, a layer_norm without w, a Pad) carry a tag.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "onnx_impl.h"

#define MAX_FOLD ((int64_t)1 << 20)   /* constants folded at import, in elements */

static bool is_const(Imp *I, uint32_t v) { return v && imp_val(I, v)->kind == VK_CONST; }

/* ---- shapes ---------------------------------------------------------------------------- */

static int norm_axis(Imp *I, int64_t axis, int rank, bool *ok)
{
    if (axis < -rank || axis >= rank) {
        if (*ok) imp_error(I, "axis %lld is out of range for rank %d", (long long)axis, rank);
        *ok = false;
        return 0;
    }
    return (int)(axis < 0 ? axis + rank : axis);
}

static bool broadcast(Imp *I, const ImpValue *a, const ImpValue *b, int *rank, int64_t *dims)
{
    int r = a->rank > b->rank ? a->rank : b->rank;
    for (int k = 0; k < r; k++) {
        int ia = k - (r - a->rank), ib = k - (r - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da == db || db == 1) dims[k] = da;
        else if (da == 1) dims[k] = db;
        else {
            imp_error(I, "cannot broadcast %s with %s", imp_dims_text(I, a->rank, a->dims), imp_dims_text(I, b->rank, b->dims));
            return false;
        }
    }
    *rank = r;
    return true;
}

static bool need(Imp *I, uint32_t v, const char *what, bool *ok)
{
    if (v || !*ok) return v != 0;
    imp_error(I, "input '%s' is required", what);
    *ok = false;
    return false;
}

static bool has_sym(const ImpValue *x)
{
    for (int64_t k = 0; x->sym && k < x->nelem; k++)
        if (x->sym[k]) return true;
    return false;
}

/* A constant's integer values (an error names `what` for a float or missing constant). */
static const int64_t *const_ints_sym(Imp *I, uint32_t v, const char *what, int64_t *n, bool *ok, bool symbolic_ok)
{
    if (!*ok) return NULL;
    if (!is_const(I, v) || !imp_val(I, v)->i) {
        imp_error(I, "input '%s' must be a constant integer tensor (computed shapes are not supported; "
                     "export with fixed input shapes)", what);
        *ok = false;
        return NULL;
    }
    if (has_sym(imp_val(I, v)) && !symbolic_ok) {
        imp_error(I, "input '%s' depends on a symbolic size, which is supported only in shapes", what);
        *ok = false;
        return NULL;
    }
    *n = imp_val(I, v)->nelem;
    return imp_val(I, v)->i;
}

static const char *index_text(Imp *I, int rank, const char *const *items)
{
    /* trailing ':' entries are implied */
    int n = rank;
    while (n > 0 && strcmp(items[n - 1], ":") == 0) n--;
    const char *s = "[";
    for (int k = 0; k < n; k++) s = arena_printf(I->a, "%s%s%s", s, k ? ", " : "", items[k]);
    return arena_printf(I->a, "%s]", s);
}

static const char **colons(Imp *I, int rank)
{
    const char **it = arena_alloc(I->a, (size_t)(rank + 1) * sizeof *it);
    for (int k = 0; k < rank; k++) it[k] = ":";
    return it;
}

static const int64_t *const_ints(Imp *I, uint32_t v, const char *what, int64_t *n, bool *ok)
{
    return const_ints_sym(I, v, what, n, ok, false);
}

/* ---- folding constants ------------------------------------------------------------------- */

static int64_t numel(int rank, const int64_t *dims)
{
    int64_t n = 1;
    for (int k = 0; k < rank; k++) n *= dims[k];
    return n;
}

/* Data of a folded constant: f (float) or i (integer), n elements from the arena. */
typedef struct Data {
    float *f;
    int64_t *i;
    bool *sym;                /* with i: the element is a symbolic dim */
} Data;

static Data new_data(Imp *I, bool is_float, int64_t n)
{
    Data d = {0};
    if (is_float) d.f = arena_alloc(I->a, (size_t)n * sizeof *d.f + 1);
    else {
        d.i = arena_alloc(I->a, (size_t)n * sizeof *d.i + 1);
        d.sym = arena_alloc(I->a, (size_t)n + 1);
    }
    return d;
}

static void copy_elem(Data d, int64_t to, const ImpValue *src, int64_t from)
{
    if (d.f) d.f[to] = src->f[from];
    else {
        d.i[to] = src->i[from];
        d.sym[to] = src->sym && src->sym[from];
    }
}

/* Output 0 as a folded constant of `out`'s data. */
static uint32_t def_data(Imp *I, int rank, const int64_t *dims, Data out)
{
    uint32_t y = imp_def_const(I, 0, out.f != NULL, rank, dims, out.f, out.i);
    ImpValue *Y = imp_val(I, y);
    Y->sym = out.sym;
    if (!has_sym(Y)) Y->sym = NULL;
    return y;
}

/* Output 0 as constant src's data under another shape. */
static uint32_t def_view(Imp *I, uint32_t src, int rank, const int64_t *dims)
{
    const ImpValue *S = imp_val(I, src);
    bool *sym = S->sym;
    const char *dt = S->ndl_dtype;
    uint32_t y = imp_def_const(I, 0, S->f != NULL, rank, dims, S->f, S->i);
    imp_val(I, y)->sym = sym;
    imp_val(I, y)->ndl_dtype = dt;
    return y;
}

/* Element index of `a` (rank ra) for output position `pos` of a broadcast to rank r. */
static int64_t bcast_index(const ImpValue *a, int r, const int64_t *out, int64_t pos)
{
    int64_t idx = 0, stride = 1;
    for (int k = r - 1; k >= 0; k--) {
        int64_t c = pos % out[k];
        pos /= out[k];
        int ia = k - (r - a->rank);
        if (ia < 0) continue;
        if (a->dims[ia] != 1) idx += c * stride;
        stride *= a->dims[ia];
    }
    return idx;
}

/* x op y where x or y is a symbolic size (sx, sy): what shape arithmetic needs, e.g.
 * N * heads, (N*4) / 4, N + 0. */
static bool fold_symbolic(Imp *I, char op, int64_t x, bool sx, int64_t y, bool sy, int64_t *r)
{
    int k;
    int64_t c;
    if (sy && !sx && (op == '*' || op == '+')) { /* commute */
        int64_t t = x;
        x = y;
        y = t;
        sx = true;
        sy = false;
    }
    if (sx && !sy) {
        dim_symbol(x, &k, &c);
        if (op == '*' && y >= 0) *r = dim_mul(x, y);
        else if (op == '/' && y > 0 && c % y == 0) *r = sym_dim(k, c / y);
        else if ((op == '+' || op == '-') && y == 0) *r = x;
        else *r = DIM_UNKNOWN;
    } else if (op == '=' && sx && sy) {
        *r = x == y;
        if (x == y) return true;
        *r = DIM_UNKNOWN;
    } else {
        *r = DIM_UNKNOWN;
    }
    if (*r != DIM_UNKNOWN) return true;
    imp_error(I, "arithmetic on the symbolic size %s is not supported", imp_dim_text(I, sx ? x : y));
    return false;
}

static bool fold_binary(Imp *I, char op, uint32_t va, uint32_t vb)
{
    const ImpValue *a = imp_val(I, va), *b = imp_val(I, vb);
    int r;
    int64_t dims[IMP_MAX_RANK];
    if (!broadcast(I, a, b, &r, dims)) return false;
    int64_t n = numel(r, dims);
    bool fl = a->f && b->f;
    if ((a->f != NULL) != (b->f != NULL)) {
        imp_error(I, "operands have different element types");
        return false;
    }
    bool cmp = op == '=';
    Data out = new_data(I, fl && !cmp, n);
    for (int64_t p = 0; p < n; p++) {
        int64_t ia = bcast_index(a, r, dims, p), ib = bcast_index(b, r, dims, p);
        bool sa = a->sym && a->sym[ia], sb = b->sym && b->sym[ib];
        if (sa || sb) {
            if (!fold_symbolic(I, op, a->i[ia], sa, b->i[ib], sb, &out.i[p])) return false;
            out.sym[p] = out.i[p] < 0;
        } else if (cmp) {
            out.i[p] = fl ? a->f[ia] == b->f[ib] : a->i[ia] == b->i[ib];
        } else if (fl) {
            float x = a->f[ia], y = b->f[ib];
            out.f[p] = op == '+' ? x + y : op == '-' ? x - y : op == '*' ? x * y : x / y;
        } else {
            int64_t x = a->i[ia], y = b->i[ib];
            if (op == '/' && (y == 0 || (x == INT64_MIN && y == -1))) {
                imp_error(I, "integer division by zero in a constant");
                return false;
            }
            /* wrap-around like ONNX Runtime, without undefined behaviour */
            out.i[p] = op == '+' ? (int64_t)((uint64_t)x + (uint64_t)y) : op == '-' ? (int64_t)((uint64_t)x - (uint64_t)y)
                  : op == '*' ? (int64_t)((uint64_t)x * (uint64_t)y) : x / y;
        }
    }
    uint32_t y = def_data(I, r, dims, out);
    if (cmp) imp_val(I, y)->ndl_dtype = "bool";
    return true;
}

/* ---- converters -------------------------------------------------------------------------- */

typedef bool ConvertFn(Imp *I, const char *arg);

static bool unary(Imp *I, const char *fn)
{
    bool ok = true;
    uint32_t x = imp_input(I, 0, &ok);
    if (!need(I, x, "X", &ok)) return false;
    ImpValue *X = imp_val(I, x);
    uint32_t y = imp_def_tensor(I, 0, X->is_float, X->ndl_dtype, X->rank, X->dims,
                            arena_printf(I->a, "%s(%s)", fn ? fn : "erf", imp_ref(I, x)));
    if (!fn)
        imp_defer_error(I, y, "Erf is supported as part of the exact GELU, x * 0.5 * (1 + erf(x / sqrt(2))), "
                          "which becomes gelu(x)");
    return true;
}

static bool cv_binary(Imp *I, const char *opname)
{
    bool ok = true;
    uint32_t a = imp_input(I, 0, &ok), b = imp_input(I, 1, &ok);
    if (!need(I, a, "A", &ok) || !need(I, b, "B", &ok)) return false;
    char op = opname[0];
    ImpValue *A = imp_val(I, a), *B = imp_val(I, b);
    if (is_const(I, a) && is_const(I, b) && A->nelem <= MAX_FOLD && B->nelem <= MAX_FOLD)
        return fold_binary(I, op, a, b);
    if (A->is_float != B->is_float) {
        imp_error(I, "operands have different element types");
        return false;
    }
    int r;
    int64_t dims[IMP_MAX_RANK];
    if (!broadcast(I, A, B, &r, dims)) return false;
    /* patterns that end here */
    if (op == '+') {
        for (int k = 0; k < 2; k++) {
            ImpValue *P = imp_val(I, k ? b : a), *C = imp_val(I, k ? a : b);
            uint32_t c = k ? a : b;
            int64_t last = P->rank ? P->dims[P->rank - 1] : -1;
            if (P->pat == PAT_NONE || P->pat_b || !is_const(I, c) || C->rank != 1 || C->dims[0] != last) continue;
            if (P->pat == PAT_LINEAR) {
                uint32_t px = P->pat_x, pw = P->pat_w;
                uint32_t y = imp_def_tensor(I, 0, true, "f32", r, dims,
                                        arena_printf(I->a, "linear(%s, %s, %s)", imp_ref(I, px), imp_ref(I, pw), imp_ref(I, c)));
                ImpValue *Y = imp_val(I, y);
                Y->pat = PAT_LINEAR;
                Y->pat_x = px;
                Y->pat_w = pw;
                Y->pat_b = c;
                return true;
            }
            if (P->pat == PAT_LAYER_NORM && P->pat_w) {
                imp_def_tensor(I, 0, true, "f32", r, dims,
                           arena_printf(I->a, "layer_norm(%s, %s, %s, eps=%s)", imp_ref(I, P->pat_x), imp_ref(I, P->pat_w),
                                        imp_ref(I, c), imp_real_text(I, P->pat_eps)));
                return true;
            }
        }
    }
    if (op == '*') {
        uint32_t x = match_gelu(I, I->node);
        if (x) {
            imp_def_tensor(I, 0, true, "f32", r, dims, arena_printf(I->a, "gelu(%s)", imp_ref(I, x)));
            return true;
        }
        for (int k = 0; k < 2; k++) {
            ImpValue *P = imp_val(I, k ? b : a), *C = imp_val(I, k ? a : b);
            uint32_t c = k ? a : b;
            int64_t last = P->rank ? P->dims[P->rank - 1] : -1;
            if (P->pat != PAT_LAYER_NORM || P->pat_w || !is_const(I, c) || C->rank != 1 || C->dims[0] != last) continue;
            uint32_t px = P->pat_x;
            double eps = P->pat_eps;
            uint32_t y = imp_def_tensor(I, 0, true, "f32", r, dims,
                                    arena_printf(I->a, "layer_norm(%s, %s, eps=%s)", imp_ref(I, px), imp_ref(I, c), imp_real_text(I, eps)));
            ImpValue *Y = imp_val(I, y);
            Y->pat = PAT_LAYER_NORM;
            Y->pat_x = px;
            Y->pat_w = c;
            Y->pat_eps = eps;
            return true;
        }
    }
    if (op == '/') {
        uint32_t x;
        double eps;
        if (match_layer_norm(I, a, b, &x, &eps)) {
            uint32_t y = imp_def_tensor(I, 0, true, "f32", r, dims,
                                    arena_printf(I->a, "layer_norm(%s, eps=%s)", imp_ref(I, x), imp_real_text(I, eps)));
            ImpValue *Y = imp_val(I, y);
            Y->pat = PAT_LAYER_NORM;
            Y->pat_x = x;
            Y->pat_eps = eps;
            return true;
        }
    }
    const char *ta = imp_ref_or_literal(I, a, B->rank), *tb = imp_ref_or_literal(I, b, A->rank);
    imp_def_tensor(I, 0, A->is_float, A->ndl_dtype, r, dims, arena_printf(I->a, "%s %c %s", ta, op, tb));
    return true;
}

/* A new parameter holding the transpose of a 2-D constant (PyTorch's Linear layout). */
static uint32_t transposed(Imp *I, uint32_t w)
{
    const ImpValue *W = imp_val(I, w);
    int64_t rows = W->dims[0], cols = W->dims[1];
    float *t = arena_alloc(I->a, (size_t)(rows * cols) * sizeof *t + 1);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) t[j * rows + i] = W->f[i * cols + j];
    int64_t dims[2] = {cols, rows};
    const char *name = W->onnx_name ? W->onnx_name : "w";
    /* the only reader keeps the ONNX name; otherwise the transpose gets its own key */
    const char *key = imp_consumers(I, name) == 1 ? name : arena_printf(I->a, "%s.T", name);
    return imp_new_param(I, key, 2, dims, t);
}

static bool cv_matmul(Imp *I, const char *arg)
{
    bool ok = true;
    uint32_t a = imp_input(I, 0, &ok), b = imp_input(I, 1, &ok);
    if (!need(I, a, "A", &ok) || !need(I, b, "B", &ok)) return false;
    const ImpValue *A = imp_val(I, a), *B = imp_val(I, b);
    if (!A->is_float || !B->is_float) {
        imp_error(I, "only float tensors are supported");
        return false;
    }
    if (match_attention(I, a, b)) return true;
    int64_t dims[IMP_MAX_RANK];
    int r;
    if (is_const(I, b) && B->rank == 2 && A->rank >= 1 && B->f) {
        /* x @ W with a constant W: linear(x, Wᵀ), and a following Add of a bias joins it */
        r = A->rank;
        for (int k = 0; k < r - 1; k++) dims[k] = A->dims[k];
        dims[r - 1] = B->dims[1];
        uint32_t w = transposed(I, b);
        uint32_t y = imp_def_tensor(I, 0, true, "f32", r, dims, arena_printf(I->a, "linear(%s, %s)", imp_ref(I, a), imp_ref(I, w)));
        ImpValue *Y = imp_val(I, y);
        Y->pat = PAT_LINEAR;
        Y->pat_x = a;
        Y->pat_w = w;
        return true;
    }
    if (A->rank >= 2 && B->rank >= 2) {
        ImpValue ba = *A, bb = *B;
        ba.rank -= 2;
        bb.rank -= 2;
        if (!broadcast(I, &ba, &bb, &r, dims)) return false;
        dims[r++] = A->dims[A->rank - 2];
        dims[r++] = B->dims[B->rank - 1];
    } else if (A->rank == 1 && B->rank == 1) {
        r = 0;
    } else if (A->rank == 1) {
        r = B->rank - 1;
        for (int k = 0; k < r - 1; k++) dims[k] = B->dims[k];
        dims[r - 1] = B->dims[B->rank - 1];
    } else {
        r = A->rank - 1;
        for (int k = 0; k < r; k++) dims[k] = A->dims[k];
    }
    imp_def_tensor(I, 0, true, "f32", r, dims, arena_printf(I->a, "matmul(%s, %s)", imp_ref(I, a), imp_ref(I, b)));
    return true;
}

static bool cv_gemm(Imp *I, const char *arg)
{
    bool ok = true;
    uint32_t a = imp_input(I, 0, &ok), b = imp_input(I, 1, &ok), c = imp_input(I, 2, &ok);
    float alpha = imp_attr_float(I, "alpha", 1.0f, &ok), beta = imp_attr_float(I, "beta", 1.0f, &ok);
    int64_t ta = imp_attr_int(I, "transA", 0, &ok), tb = imp_attr_int(I, "transB", 0, &ok);
    if (!need(I, a, "A", &ok) || !need(I, b, "B", &ok)) return false;
    const ImpValue *A = imp_val(I, a), *B = imp_val(I, b);
    if (A->rank != 2 || B->rank != 2 || !A->is_float || !B->is_float) {
        imp_error(I, "A and B must be 2-D float tensors, got %s and %s", imp_dims_text(I, A->rank, A->dims),
                  imp_dims_text(I, B->rank, B->dims));
        return false;
    }
    int64_t dims[2] = {A->dims[ta ? 1 : 0], B->dims[tb ? 0 : 1]};
    const ImpValue *C = c ? imp_val(I, c) : NULL;
    if (!ta && alpha == 1.0f && (!c || beta == 1.0f) && is_const(I, b) && B->f &&
        (!C || (is_const(I, c) && C->rank == 1 && C->dims[0] == dims[1]))) {
        uint32_t w = tb ? b : transposed(I, b);
        const char *rhs = c ? arena_printf(I->a, "linear(%s, %s, %s)", imp_ref(I, a), imp_ref(I, w), imp_ref(I, c))
                            : arena_printf(I->a, "linear(%s, %s)", imp_ref(I, a), imp_ref(I, w));
        imp_def_tensor(I, 0, true, "f32", 2, dims, rhs);
        return true;
    }
    const char *ea = ta ? arena_printf(I->a, "transpose(%s, 0, 1)", imp_ref(I, a)) : imp_ref(I, a);
    const char *eb = tb ? arena_printf(I->a, "transpose(%s, 0, 1)", imp_ref(I, b)) : imp_ref(I, b);
    const char *rhs = arena_printf(I->a, "matmul(%s, %s)", ea, eb);
    if (alpha != 1.0f) rhs = arena_printf(I->a, "%s * %s", rhs, imp_real_text(I, alpha));
    if (c) {
        const char *ec = imp_ref_or_literal(I, c, 2);
        rhs = beta == 1.0f ? arena_printf(I->a, "%s + %s", rhs, ec)
                           : arena_printf(I->a, "%s + %s * %s", rhs, ec, imp_real_text(I, beta));
    }
    imp_def_tensor(I, 0, true, "f32", 2, dims, rhs);
    return true;
}

static bool cv_softmax(Imp *I, const char *fn)
{
    bool ok = true;
    uint32_t x = imp_input(I, 0, &ok);
    if (!need(I, x, "input", &ok)) return false;
    const ImpValue *X = imp_val(I, x);
    int axis = norm_axis(I, imp_attr_int(I, "axis", -1, &ok), X->rank, &ok);
    if (!ok) return false;
    imp_def_tensor(I, 0, true, "f32", X->rank, X->dims, arena_printf(I->a, "%s(%s, %d)", fn, imp_ref(I, x), axis));
    return true;
}

static bool cv_identity(Imp *I, const char *arg)
{
    bool ok = true;
    uint32_t x = imp_input(I, 0, &ok);
    if (!need(I, x, "input", &ok)) return false;
    const Onnx__NodeProto *n = imp_node(I);
    if (n->n_output > 1 && n->output[1][0] && imp_consumers(I, n->output[1])) {
        imp_error(I, "the mask output is not supported (inference only)");
        return false;
    }
    imp_def_alias(I, 0, x);
    return true;
}

static bool cv_pow(Imp *I, const char *arg)
{
    bool ok = true;
    uint32_t x = imp_input(I, 0, &ok), e = imp_input(I, 1, &ok);
    if (!need(I, x, "X", &ok) || !need(I, e, "Y", &ok)) return false;
    const ImpValue *X = imp_val(I, x);
    double p;
    if (!imp_const_scalar(I, e, &p) || !X->is_float) {
        imp_error(I, "only a float tensor to a constant power is supported");
        return false;
    }
    if (p == 1.0) {
        imp_def_alias(I, 0, x);
        return true;
    }
    const char *t = imp_ref(I, x);
    const char *rhs = p == 2.0 ? arena_printf(I->a, "%s * %s", t, t) : p == 3.0 ? arena_printf(I->a, "%s * %s * %s", t, t, t)
                    : p == 0.5 ? arena_printf(I->a, "sqrt(%s)", t) : p == -0.5 ? arena_printf(I->a, "rsqrt(%s)", t)
                    : p == -1.0 ? arena_printf(I->a, "1.0 / %s", t) : NULL;
    uint32_t y = imp_def_tensor(I, 0, true, "f32", X->rank, X->dims, rhs ? rhs : arena_printf(I->a, "pow(%s)", t));
    if (!rhs) imp_defer_error(I, y, arena_printf(I->a, "exponent %g is not supported (only -1, -0.5, 0.5, 1, 2, 3)", p));
    return true;
}

static bool cv_reciprocal(Imp *I, const char *arg)
{
    bool ok = true;
    uint32_t x = imp_input(I, 0, &ok);
    if (!need(I, x, "X", &ok)) return false;
    const ImpValue *X = imp_val(I, x);
    imp_def_tensor(I, 0, true, "f32", X->rank, X->dims, arena_printf(I->a, "1.0 / %s", imp_ref(I, x)));
    return true;
}

static bool cv_clip(Imp *I, const char *arg)
{
    bool ok = true;
    uint32_t x = imp_input(I, 0, &ok), lo = imp_input(I, 1, &ok), hi = imp_input(I, 2, &ok);
    if (!need(I, x, "input", &ok)) return false;
    double l = -INFINITY, h = INFINITY;
    if ((lo && !imp_const_scalar(I, lo, &l)) || (hi && !imp_const_scalar(I, hi, &h))) {
        imp_error(I, "min and max must be constants");
        return false;
    }
    const char *fn = l == 0 && h == 6 ? "relu6" : l == 0 && isinf(h) ? "relu" : NULL;
    if (!fn) {
        imp_error(I, "only Clip(0, 6) (relu6) and Clip(0) (relu) are supported, got [%g, %g]", l, h);
        return false;
    }
    const ImpValue *X = imp_val(I, x);
    imp_def_tensor(I, 0, true, "f32", X->rank, X->dims, arena_printf(I->a, "%s(%s)", fn, imp_ref(I, x)));
    return true;
}

static bool cv_hardsigmoid(Imp *I, const char *arg)
{
    bool ok = true;
    uint32_t x = imp_input(I, 0, &ok);
    float alpha = imp_attr_float(I, "alpha", 0.2f, &ok), beta = imp_attr_float(I, "beta", 0.5f, &ok);
    if (!need(I, x, "X", &ok)) return false;
    if (!imp_near(alpha, 1.0 / 6) || !imp_near(beta, 0.5)) {
        imp_error(I, "only alpha = 1/6, beta = 0.5 (PyTorch's Hardsigmoid) is supported");
        return false;
    }
    return unary(I, "hardsigmoid");
}

/* 2-D window attributes shared by Conv and the pools. */
typedef struct Window {
    int64_t k[2], s[2], p[2], d[2];
} Window;

static bool window(Imp *I, const ImpValue *X, const int64_t *kernel, Window *w, bool *ok)
{
    size_t n;
    const Onnx__AttributeProto *ap = imp_attr_find(I, "auto_pad");
    if (ap && ap->has_s && !(ap->s.len == 6 && memcmp(ap->s.data, "NOTSET", 6) == 0) &&
        !(ap->s.len == 5 && memcmp(ap->s.data, "VALID", 5) == 0)) {
        imp_error(I, "auto_pad '%.*s' is not supported (only explicit pads)", (int)ap->s.len, (const char *)ap->s.data);
        return *ok = false;
    }
    for (int k = 0; k < 2; k++) w->k[k] = kernel[k], w->s[k] = 1, w->p[k] = 0, w->d[k] = 1;
    int64_t *s = imp_attr_ints(I, "strides", &n, ok);
    if (s && n == 2) w->s[0] = s[0], w->s[1] = s[1];
    else if (s) { imp_error(I, "strides must have 2 entries"); return *ok = false; }
    int64_t *d = imp_attr_ints(I, "dilations", &n, ok);
    if (d && n == 2) w->d[0] = d[0], w->d[1] = d[1];
    else if (d) { imp_error(I, "dilations must have 2 entries"); return *ok = false; }
    int64_t *p = imp_attr_ints(I, "pads", &n, ok);
    if (p && (n != 4 || p[0] != p[2] || p[1] != p[3])) {
        imp_error(I, "pads must be 4 entries, equal at the begin and the end of each axis");
        return *ok = false;
    }
    if (p) w->p[0] = p[0], w->p[1] = p[1];
    for (int k = 0; k < 2; k++) {
        if (w->k[k] < 1 || w->s[k] < 1 || w->d[k] < 1 || w->p[k] < 0 || w->k[k] > (1 << 20) || w->s[k] > (1 << 20) ||
            w->d[k] > (1 << 20) || w->p[k] > (1 << 20)) {
            imp_error(I, "kernel, strides, pads or dilations out of range");
            return *ok = false;
        }
    }
    if (*ok && (X->dims[2] < 0 || X->dims[3] < 0)) {
        imp_error(I, "the spatial size of %s must be known", imp_dims_text(I, X->rank, X->dims));
        *ok = false;
    }
    return *ok;
}

/* An input that is a zero Pad of H and W: read the unpadded tensor with a larger pad. */
static void absorb_pad(Imp *I, uint32_t *x, const ImpValue **X, Window *w)
{
    const ImpValue *P = *X;
    if (P->pat != PAT_PAD) return;
    for (int k = 0; k < 2; k++) w->p[k] += P->pat_pad[k];
    *x = P->pat_x;
    *X = imp_val(I, *x);
}

static int64_t window_out(const Window *w, int64_t size, int k)
{
    int64_t span = w->d[k] * (w->k[k] - 1) + 1;
    int64_t in = size + 2 * w->p[k];
    return in < span ? -1 : (in - span) / w->s[k] + 1;
}

static bool cv_conv(Imp *I, const char *arg)
{
    bool ok = true;
    uint32_t x = imp_input(I, 0, &ok), wv = imp_input(I, 1, &ok), b = imp_input(I, 2, &ok);
    if (!need(I, x, "X", &ok) || !need(I, wv, "W", &ok)) return false;
    const ImpValue *X = imp_val(I, x), *W = imp_val(I, wv);
    if (X->rank != 4 || W->rank != 4) {
        imp_error(I, "only 2-D convolutions (NCHW) are supported, got X %s and W %s", imp_dims_text(I, X->rank, X->dims),
                  imp_dims_text(I, W->rank, W->dims));
        return false;
    }
    int64_t group = imp_attr_int(I, "group", 1, &ok);
    Window w;
    if (!window(I, X, W->dims + 2, &w, &ok)) return false;
    absorb_pad(I, &x, &X, &w);
    if (group < 1 || W->dims[0] < 0) {
        imp_error(I, "group %lld is not positive", (long long)group);
        return false;
    }
    int64_t dims[4] = {X->dims[0], W->dims[0], window_out(&w, X->dims[2], 0), window_out(&w, X->dims[3], 1)};
    if (dims[2] < 1 || dims[3] < 1) {
        imp_error(I, "the kernel is larger than the padded input %s", imp_dims_text(I, 4, X->dims));
        return false;
    }
    const char *rhs = arena_printf(I->a, "conv2d(%s, %s", imp_ref(I, x), imp_ref(I, wv));
    if (b) rhs = arena_printf(I->a, "%s, %s", rhs, imp_ref(I, b));
    if (w.s[0] != 1 || w.s[1] != 1) rhs = arena_printf(I->a, "%s, stride=%s", rhs, imp_ints_text(I, 2, w.s));
    if (w.p[0] || w.p[1]) rhs = arena_printf(I->a, "%s, pad=%s", rhs, imp_ints_text(I, 2, w.p));
    if (w.d[0] != 1 || w.d[1] != 1) rhs = arena_printf(I->a, "%s, dilation=%s", rhs, imp_ints_text(I, 2, w.d));
    if (group != 1) rhs = arena_printf(I->a, "%s, groups=%lld", rhs, (long long)group);
    imp_def_tensor(I, 0, true, "f32", 4, dims, arena_printf(I->a, "%s)", rhs));
    return true;
}

static bool cv_pool(Imp *I, const char *fn)
{
    bool ok = true;
    uint32_t x = imp_input(I, 0, &ok);
    if (!need(I, x, "X", &ok)) return false;
    const ImpValue *X = imp_val(I, x);
    size_t nk;
    int64_t *kernel = imp_attr_ints(I, "kernel_shape", &nk, &ok);
    if (!ok) return false;
    if (X->rank != 4 || nk != 2) {
        imp_error(I, "only 2-D pooling (NCHW) is supported");
        return false;
    }
    const Onnx__NodeProto *n = imp_node(I);
    if (n->n_output > 1 && n->output[1][0] && imp_consumers(I, n->output[1])) {
        imp_error(I, "the Indices output is not supported");
        return false;
    }
    Window w;
    if (!window(I, X, kernel, &w, &ok)) return false;
    int64_t ceil_mode = imp_attr_int(I, "ceil_mode", 0, &ok);
    bool is_max = fn[1] == 'a';
    if (!is_max && (w.p[0] || w.p[1]) && !imp_attr_int(I, "count_include_pad", 0, &ok)) {
        imp_error(I, "count_include_pad = 0 with padding is not supported (NDL's avg_pool2d counts the padding, "
                     "as PyTorch's default)");
        return false;
    }
    if (!is_max) absorb_pad(I, &x, &X, &w); /* explicit zeros, counted like count_include_pad */
    if (w.d[0] != 1 || w.d[1] != 1 || imp_attr_int(I, "storage_order", 0, &ok)) {
        imp_error(I, "dilated or column-major pooling is not supported");
        return false;
    }
    int64_t dims[4] = {X->dims[0], X->dims[1], window_out(&w, X->dims[2], 0), window_out(&w, X->dims[3], 1)};
    for (int k = 0; ceil_mode && k < 2; k++) {
        int64_t in = X->dims[2 + k] + 2 * w.p[k] - w.k[k];
        if (in >= 0 && in % w.s[k]) {
            imp_error(I, "ceil_mode = 1 is not supported where it changes the output size");
            return false;
        }
    }
    if (dims[2] < 1 || dims[3] < 1) {
        imp_error(I, "the kernel is larger than the padded input");
        return false;
    }
    if (!ok) return false;
    const char *rhs = arena_printf(I->a, "%s(%s, %s, stride=%s", fn, imp_ref(I, x), imp_ints_text(I, 2, w.k), imp_ints_text(I, 2, w.s));
    if (w.p[0] || w.p[1]) rhs = arena_printf(I->a, "%s, pad=%s", rhs, imp_ints_text(I, 2, w.p));
    imp_def_tensor(I, 0, true, "f32", 4, dims, arena_printf(I->a, "%s)", rhs));
    return true;
}

static bool cv_global_pool(Imp *I, const char *fn)
{
    bool ok = true;
    uint32_t x = imp_input(I, 0, &ok);
    if (!need(I, x, "X", &ok)) return false;
    const ImpValue *X = imp_val(I, x);
    if (X->rank < 3) {
        imp_error(I, "the input must have spatial dimensions, got %s", imp_dims_text(I, X->rank, X->dims));
        return false;
    }
    int64_t dims[IMP_MAX_RANK], axes[IMP_MAX_RANK];
    for (int k = 0; k < X->rank; k++) dims[k] = k < 2 ? X->dims[k] : 1;
    for (int k = 2; k < X->rank; k++) axes[k - 2] = k;
    imp_def_tensor(I, 0, true, "f32", X->rank, dims,
               arena_printf(I->a, "%s(%s, dims=%s, keepdim=true)", fn, imp_ref(I, x), imp_ints_text(I, (size_t)X->rank - 2, axes)));
    return true;
}

static bool cv_batchnorm(Imp *I, const char *arg)
{
    bool ok = true;
    uint32_t x = imp_input(I, 0, &ok), s = imp_input(I, 1, &ok), b = imp_input(I, 2, &ok),
             m = imp_input(I, 3, &ok), v = imp_input(I, 4, &ok);
    float eps = imp_attr_float(I, "epsilon", 1e-5f, &ok);
    if (!need(I, x, "X", &ok) || !need(I, s, "scale", &ok) || !need(I, b, "B", &ok) || !need(I, m, "mean", &ok) ||
        !need(I, v, "var", &ok))
        return false;
    if (imp_attr_int(I, "training_mode", 0, &ok) || imp_node(I)->n_output > 1) {
        imp_error(I, "training mode is not supported (export the model in eval mode)");
        return false;
    }
    const ImpValue *X = imp_val(I, x);
    imp_def_tensor(I, 0, true, "f32", X->rank, X->dims,
               arena_printf(I->a, "batch_norm(%s, %s, %s, %s, %s, eps=%s)", imp_ref(I, x), imp_ref(I, m), imp_ref(I, v), imp_ref(I, s),
                            imp_ref(I, b), imp_real_text(I, eps)));
    return ok;
}

static bool cv_layernorm(Imp *I, const char *arg)
{
    bool ok = true;
    uint32_t x = imp_input(I, 0, &ok), s = imp_input(I, 1, &ok), b = imp_input(I, 2, &ok);
    float eps = imp_attr_float(I, "epsilon", 1e-5f, &ok);
    if (!need(I, x, "X", &ok) || !need(I, s, "Scale", &ok)) return false;
    const ImpValue *X = imp_val(I, x);
    int axis = norm_axis(I, imp_attr_int(I, "axis", -1, &ok), X->rank, &ok);
    if (!ok) return false;
    if (axis != X->rank - 1) {
        imp_error(I, "only normalization over the last axis is supported (axis %d of rank %d)", axis, X->rank);
        return false;
    }
    const Onnx__NodeProto *n = imp_node(I);
    for (size_t k = 1; k < n->n_output; k++) {
        if (n->output[k][0] && imp_consumers(I, n->output[k])) {
            imp_error(I, "the Mean and InvStdDev outputs are not supported");
            return false;
        }
    }
    const char *rhs = b ? arena_printf(I->a, "layer_norm(%s, %s, %s, eps=%s)", imp_ref(I, x), imp_ref(I, s), imp_ref(I, b), imp_real_text(I, eps))
                        : arena_printf(I->a, "layer_norm(%s, %s, eps=%s)", imp_ref(I, x), imp_ref(I, s), imp_real_text(I, eps));
    imp_def_tensor(I, 0, true, "f32", X->rank, X->dims, rhs);
    return true;
}

static bool cv_flatten(Imp *I, const char *arg)
{
    bool ok = true;
    uint32_t x = imp_input(I, 0, &ok);
    if (!need(I, x, "input", &ok)) return false;
    const ImpValue *X = imp_val(I, x);
    int64_t axis = imp_attr_int(I, "axis", 1, &ok);
    if (axis < -X->rank || axis > X->rank) {
        imp_error(I, "axis %lld is out of range for rank %d", (long long)axis, X->rank);
        return false;
    }
    if (axis < 0) axis += X->rank;
    int64_t dims[2] = {1, 1};
    for (int k = 0; k < X->rank; k++) {
        int64_t *d = &dims[k < axis ? 0 : 1];
        *d = dim_mul(*d, X->dims[k]);
    }
    const char *rhs;
    if (axis == 1) rhs = arena_printf(I->a, "flatten(%s, 1)", imp_ref(I, x));
    else if (axis == 0) rhs = arena_printf(I->a, "reshape(%s, [1, -1])", imp_ref(I, x));
    else if (axis == X->rank) rhs = arena_printf(I->a, "reshape(%s, [-1, 1])", imp_ref(I, x));
    else rhs = arena_printf(I->a, "flatten(flatten(%s, %lld), 0, %lld)", imp_ref(I, x), (long long)axis, (long long)axis - 1);
    if (is_const(I, x)) {
        def_view(I, x, 2, dims);
        return true;
    }
    imp_def_tensor(I, 0, X->is_float, X->ndl_dtype, 2, dims, rhs);
    return true;
}

static bool cv_reshape(Imp *I, const char *arg)
{
    bool ok = true;
    uint32_t x = imp_input(I, 0, &ok), sv = imp_input(I, 1, &ok);
    if (!need(I, x, "data", &ok) || !need(I, sv, "shape", &ok)) return false;
    int64_t n;
    const int64_t *shape = const_ints_sym(I, sv, "shape", &n, &ok, true);
    if (!ok) return false;
    const ImpValue *X = imp_val(I, x);
    if (n > IMP_MAX_RANK || imp_val(I, sv)->rank != 1) {
        imp_error(I, "shape must be a 1-D constant of at most %d entries", IMP_MAX_RANK);
        return false;
    }
    if (imp_attr_int(I, "allowzero", 0, &ok)) {
        imp_error(I, "allowzero = 1 is not supported");
        return false;
    }
    /* sizes as (concrete factor) x (at most one symbol), on both sides */
    const bool *shape_sym = imp_val(I, sv)->sym;
    int64_t dims[IMP_MAX_RANK], cin = 1, cout = 1, c;
    int infer = -1, kin = -1, kout = -1, k;
    bool bad = false;
    for (int e = 0; e < X->rank && !bad; e++) {
        int64_t d = X->dims[e];
        if (dim_symbol(d, &k, &c)) {
            bad = kin >= 0;
            kin = k;
            d = c;
        }
        bad = bad || d < 0 || (d && cin > INT64_MAX / d);
        if (!bad) cin *= d;
    }
    const char *text = "[";
    for (int e = 0; e < (int)n && !bad; e++) {
        int64_t d = shape[e];
        bool symbolic = shape_sym && shape_sym[e];
        if (d == 0 && !symbolic) {
            if (e >= X->rank) bad = true;
            else d = X->dims[e], symbolic = d < 0;
        }
        if (bad) break;
        dims[e] = d;
        text = arena_printf(I->a, "%s%s%s", text, e ? ", " : "", d == -1 && !symbolic ? "-1" : imp_dim_text(I, d));
        if (d == -1 && !symbolic) {
            bad = infer >= 0;
            infer = e;
            continue;
        }
        if (symbolic) {
            bad = !dim_symbol(d, &k, &c) || kout >= 0;
            kout = k;
            d = c;
        }
        bad = bad || d < 0 || d > MAX_COEF || (d && cout > INT64_MAX / d);
        if (!bad) cout *= d;
    }
    text = arena_printf(I->a, "%s]", text);
    if (!bad && kout >= 0 && kout != kin) bad = true;
    if (!bad && infer < 0) bad = kin != kout || cin != cout;
    if (!bad && infer >= 0) {
        bad = cout == 0 || cin % cout != 0 || (kout < 0 && kin >= 0 && cin / cout > MAX_COEF);
        if (!bad) dims[infer] = kin >= 0 && kout < 0 ? sym_dim(kin, cin / cout) : cin / cout;
    }
    if (bad) {
        imp_error(I, "cannot reshape %s to %s", imp_dims_text(I, X->rank, X->dims), text);
        return false;
    }
    if (is_const(I, x)) {
        def_view(I, x, (int)n, dims);
        return true;
    }
    imp_def_tensor(I, 0, X->is_float, X->ndl_dtype, (int)n, dims, arena_printf(I->a, "reshape(%s, %s)", imp_ref(I, x), text));
    return true;
}

static bool cv_transpose(Imp *I, const char *arg)
{
    bool ok = true;
    uint32_t x = imp_input(I, 0, &ok);
    if (!need(I, x, "data", &ok)) return false;
    const ImpValue *X = imp_val(I, x);
    size_t n;
    int64_t *perm = imp_attr_ints(I, "perm", &n, &ok), def[IMP_MAX_RANK];
    if (!ok) return false;
    if (!perm) {
        for (int k = 0; k < X->rank; k++) def[k] = X->rank - 1 - k;
        perm = def;
        n = (size_t)X->rank;
    }
    unsigned seen = 0;
    bool bad = n != (size_t)X->rank;
    for (size_t k = 0; k < n && !bad; k++) {
        bad = perm[k] < 0 || perm[k] >= X->rank || (seen >> perm[k] & 1);
        if (!bad) seen |= 1u << perm[k];
    }
    if (bad) {
        imp_error(I, "perm %s is not a permutation of %d axes", imp_ints_text(I, n, perm), X->rank);
        return false;
    }
    int64_t dims[IMP_MAX_RANK];
    for (int k = 0; k < X->rank; k++) dims[k] = X->dims[perm[k]];
    if (is_const(I, x) && X->nelem <= MAX_FOLD) {
        /* constant weights in another layout: fold */
        Data out = new_data(I, X->f != NULL, X->nelem);
        int64_t in_stride[IMP_MAX_RANK], s = 1;
        for (int k = X->rank - 1; k >= 0; k--) in_stride[k] = s, s *= X->dims[k];
        for (int64_t p = 0; p < X->nelem; p++) {
            int64_t rem = p, src = 0;
            for (int k = X->rank - 1; k >= 0; k--) {
                src += (rem % dims[k]) * in_stride[perm[k]];
                rem /= dims[k];
            }
            copy_elem(out, p, X, src);
        }
        def_data(I, X->rank, dims, out);
        return true;
    }
    imp_def_tensor(I, 0, X->is_float, X->ndl_dtype, X->rank, dims,
               arena_printf(I->a, "permute(%s, %s)", imp_ref(I, x), imp_ints_text(I, n, perm)));
    return true;
}

static bool cv_concat(Imp *I, const char *arg)
{
    bool ok = true;
    const Onnx__NodeProto *n = imp_node(I);
    if (!n->n_input) {
        imp_error(I, "needs at least one input");
        return false;
    }
    uint32_t first = imp_input(I, 0, &ok);
    if (!need(I, first, "inputs", &ok)) return false;
    const ImpValue *F = imp_val(I, first);
    int axis = norm_axis(I, imp_attr_int(I, "axis", 0, &ok), F->rank, &ok);
    if (!ok) return false;
    int64_t dims[IMP_MAX_RANK];
    for (int k = 0; k < F->rank; k++) dims[k] = F->dims[k];
    dims[axis] = 0;
    bool all_const = true;
    for (size_t k = 0; k < n->n_input; k++) {
        uint32_t v = imp_input(I, (unsigned)k, &ok);
        if (!need(I, v, "inputs", &ok)) return false;
        const ImpValue *V = imp_val(I, v);
        if (V->rank != F->rank || V->is_float != F->is_float || V->dims[axis] < 0 || dims[axis] < 0) {
            if (V->rank != F->rank || V->is_float != F->is_float) {
                imp_error(I, "inputs differ in rank or element type");
                return false;
            }
            dims[axis] = DIM_UNKNOWN;
        } else dims[axis] += V->dims[axis];
        all_const = all_const && is_const(I, v);
    }
    if (all_const && F->rank == 1 && dims[0] <= MAX_FOLD) {
        Data out = new_data(I, F->f != NULL, dims[0]);
        int64_t o = 0;
        for (size_t k = 0; k < n->n_input; k++) {
            const ImpValue *V = imp_val(I, imp_input(I, (unsigned)k, &ok));
            for (int64_t e = 0; e < V->nelem; e++, o++) {
                copy_elem(out, o, V, e);
            }
        }
        def_data(I, 1, dims, out);
        return true;
    }
    const char *list = "[";
    for (size_t k = 0; k < n->n_input; k++)
        list = arena_printf(I->a, "%s%s%s", list, k ? ", " : "", imp_ref(I, imp_input(I, (unsigned)k, &ok)));
    imp_def_tensor(I, 0, F->is_float, F->ndl_dtype, F->rank, dims, arena_printf(I->a, "concat(%s], %d)", list, axis));
    return true;
}

static bool cv_split(Imp *I, const char *arg)
{
    bool ok = true;
    uint32_t x = imp_input(I, 0, &ok), sv = imp_input(I, 1, &ok);
    if (!need(I, x, "input", &ok)) return false;
    const ImpValue *X = imp_val(I, x);
    int axis = norm_axis(I, imp_attr_int(I, "axis", 0, &ok), X->rank, &ok);
    const Onnx__NodeProto *n = imp_node(I);
    if (!ok) return false;
    unsigned nout = (unsigned)n->n_output;
    if (nout < 1 || nout > 8) {
        imp_error(I, "%u outputs are not supported (1 to 8)", nout);
        return false;
    }
    int64_t sizes[8], count = nout;
    if (sv) {
        const int64_t *s = const_ints(I, sv, "split", &count, &ok);
        if (!ok) return false;
        if (count != nout) {
            imp_error(I, "split has %lld sizes for %u outputs", (long long)count, nout);
            return false;
        }
        memcpy(sizes, s, nout * sizeof *sizes);
    } else {
        if (X->dims[axis] < 0 || X->dims[axis] % nout) {
            imp_error(I, "cannot split dimension %s into %u equal parts", imp_dim_text(I, X->dims[axis]), nout);
            return false;
        }
        for (unsigned k = 0; k < nout; k++) sizes[k] = X->dims[axis] / nout;
    }
    /* each size within the dimension, so the sum of at most 8 cannot overflow */
    int64_t sum = 0;
    bool in_range = true;
    for (unsigned k = 0; k < nout; k++) {
        if (sizes[k] < 0 || sizes[k] > X->dims[axis]) in_range = false;
        else sum += sizes[k];
    }
    if (!in_range || sum != X->dims[axis]) {
        imp_error(I, "split sizes %s do not add up to dimension %s", imp_ints_text(I, nout, sizes), imp_dim_text(I, X->dims[axis]));
        return false;
    }
    int64_t dims[8][IMP_MAX_RANK];
    for (unsigned k = 0; k < nout; k++) {
        memcpy(dims[k], X->dims, sizeof X->dims);
        dims[k][axis] = sizes[k];
    }
    imp_def_tuple(I, nout, X->is_float, X->ndl_dtype, X->rank, dims,
              arena_printf(I->a, "split(%s, %s, %d)", imp_ref(I, x), imp_ints_text(I, nout, sizes), axis));
    return true;
}

static int64_t clamp(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

static bool cv_slice(Imp *I, const char *arg)
{
    bool ok = true;
    uint32_t x = imp_input(I, 0, &ok), sv = imp_input(I, 1, &ok), ev = imp_input(I, 2, &ok),
             av = imp_input(I, 3, &ok), stv = imp_input(I, 4, &ok);
    if (!need(I, x, "data", &ok) || !need(I, sv, "starts", &ok) || !need(I, ev, "ends", &ok)) return false;
    int64_t ns, ne, na = 0, nst = 0;
    const int64_t *starts = const_ints(I, sv, "starts", &ns, &ok), *ends = const_ints(I, ev, "ends", &ne, &ok);
    const int64_t *axes = av ? const_ints(I, av, "axes", &na, &ok) : NULL;
    const int64_t *steps = stv ? const_ints(I, stv, "steps", &nst, &ok) : NULL;
    if (!ok) return false;
    const ImpValue *X = imp_val(I, x);
    if (ns != ne || (axes && na != ns) || (steps && nst != ns) || ns > X->rank) {
        imp_error(I, "starts, ends, axes and steps must have equal lengths");
        return false;
    }
    const char **items = colons(I, X->rank);
    int64_t dims[IMP_MAX_RANK], begin[IMP_MAX_RANK] = {0}, step[IMP_MAX_RANK];
    unsigned seen = 0;
    for (int k = 0; k < X->rank; k++) dims[k] = X->dims[k], step[k] = 1;
    for (int64_t k = 0; k < ns; k++) {
        int a = norm_axis(I, axes ? axes[k] : k, X->rank, &ok);
        if (!ok) return false;
        if (seen >> a & 1) {
            imp_error(I, "axis %d is sliced twice", a);
            return false;
        }
        seen |= 1u << a;
        int64_t st = steps ? steps[k] : 1, d = X->dims[a];
        if (st < 1) {
            imp_error(I, "step %lld is not supported (only positive steps)", (long long)st);
            return false;
        }
        if (d < 0) {
            if (starts[k] == 0 && ends[k] >= INT32_MAX && st == 1) continue; /* the whole symbolic axis */
            imp_error(I, "slicing the symbolic dimension %s is not supported", imp_dim_text(I, d));
            return false;
        }
        int64_t b = starts[k] < 0 ? clamp(starts[k], -d, 0) + d : clamp(starts[k], 0, d);
        int64_t e = ends[k] < 0 ? clamp(ends[k], -d, 0) + d : clamp(ends[k], 0, d);
        dims[a] = e > b ? (e - b + st - 1) / st : 0;
        begin[a] = b;
        step[a] = st;
        if (b == 0 && e == d && st == 1) continue;
        items[a] = st == 1 ? arena_printf(I->a, "%lld:%lld", (long long)b, (long long)e)
                           : arena_printf(I->a, "%lld:%lld:%lld", (long long)b, (long long)e, (long long)st);
    }
    if (is_const(I, x) && X->rank == 1) {
        Data out = new_data(I, X->f != NULL, dims[0]);
        for (int64_t k = 0; k < dims[0]; k++) {
            copy_elem(out, k, X, begin[0] + k * step[0]);
        }
        def_data(I, 1, dims, out);
        return true;
    }
    imp_def_tensor(I, 0, X->is_float, X->ndl_dtype, X->rank, dims,
               arena_printf(I->a, "%s%s", imp_ref(I, x), index_text(I, X->rank, items)));
    return true;
}

static bool cv_gather(Imp *I, const char *arg)
{
    bool ok = true;
    uint32_t x = imp_input(I, 0, &ok), iv = imp_input(I, 1, &ok);
    if (!need(I, x, "data", &ok) || !need(I, iv, "indices", &ok)) return false;
    const ImpValue *X = imp_val(I, x), *IDX = imp_val(I, iv);
    int axis = norm_axis(I, imp_attr_int(I, "axis", 0, &ok), X->rank, &ok);
    if (!ok) return false;
    if (IDX->is_float) {
        imp_error(I, "indices must be integers");
        return false;
    }
    int64_t d = X->dims[axis];
    if (is_const(I, iv) && IDX->rank <= 1) {
        /* constant indices: checked here */
        for (int64_t k = 0; k < IDX->nelem; k++) {
            if (d < 0 || IDX->i[k] < -d || IDX->i[k] >= d) {
                imp_error(I, "index %lld is out of range for dimension %s", (long long)IDX->i[k], imp_dim_text(I, d));
                return false;
            }
        }
        int64_t dims[IMP_MAX_RANK];
        int r = 0;
        for (int k = 0; k < X->rank; k++) {
            if (k != axis) dims[r++] = X->dims[k];
            else if (IDX->rank == 1) dims[r++] = IDX->nelem;
        }
        if (is_const(I, x) && X->rank == 1) {
            Data out = new_data(I, X->f != NULL, IDX->nelem);
            for (int64_t k = 0; k < IDX->nelem; k++) {
                int64_t i = IDX->i[k] < 0 ? IDX->i[k] + d : IDX->i[k];
                copy_elem(out, k, X, i);
            }
            def_data(I, r, dims, out);
            return true;
        }
        const char **items = colons(I, X->rank);
        if (IDX->rank == 0) {
            items[axis] = arena_printf(I->a, "%lld", (long long)(IDX->i[0] < 0 ? IDX->i[0] + d : IDX->i[0]));
        } else {
            int64_t b = IDX->nelem ? (IDX->i[0] < 0 ? IDX->i[0] + d : IDX->i[0]) : 0;
            for (int64_t k = 1; k < IDX->nelem; k++) {
                if ((IDX->i[k] < 0 ? IDX->i[k] + d : IDX->i[k]) != b + k) {
                    imp_error(I, "only a contiguous ascending range of constant indices is supported");
                    return false;
                }
            }
            items[axis] = arena_printf(I->a, "%lld:%lld", (long long)b, (long long)(b + IDX->nelem));
        }
        imp_def_tensor(I, 0, X->is_float, X->ndl_dtype, r, dims, arena_printf(I->a, "%s%s", imp_ref(I, x), index_text(I, X->rank, items)));
        return true;
    }
    if (is_const(I, x) && X->rank == 2 && axis == 0 && X->is_float) {
        int64_t dims[IMP_MAX_RANK];
        if (IDX->rank + 1 > IMP_MAX_RANK) {
            imp_error(I, "indices of rank %d are not supported", IDX->rank);
            return false;
        }
        for (int k = 0; k < IDX->rank; k++) dims[k] = IDX->dims[k];
        dims[IDX->rank] = X->dims[1];
        imp_def_tensor(I, 0, true, "f32", IDX->rank + 1, dims, arena_printf(I->a, "embedding(%s, %s)", imp_ref(I, iv), imp_ref(I, x)));
        return true;
    }
    imp_error(I, "only constant indices, or rows of a constant 2-D table (an embedding), are supported");
    return false;
}

static bool cv_unsqueeze(Imp *I, const char *arg)
{
    bool ok = true;
    uint32_t x = imp_input(I, 0, &ok), av = imp_input(I, 1, &ok);
    if (!need(I, x, "data", &ok) || !need(I, av, "axes", &ok)) return false;
    int64_t na;
    const int64_t *axes = const_ints(I, av, "axes", &na, &ok);
    if (!ok) return false;
    const ImpValue *X = imp_val(I, x);
    int r = X->rank + (int)na;
    if (na < 0 || r > IMP_MAX_RANK) {
        imp_error(I, "the result would have rank above %d", IMP_MAX_RANK);
        return false;
    }
    unsigned mask = 0;
    for (int64_t k = 0; k < na; k++) {
        int a = norm_axis(I, axes[k], r, &ok);
        if (!ok) return false;
        if (mask >> a & 1) {
            imp_error(I, "axis %d is repeated", a);
            return false;
        }
        mask |= 1u << a;
    }
    int64_t dims[IMP_MAX_RANK];
    const char **items = colons(I, r);
    for (int k = 0, i = 0; k < r; k++) {
        if (mask >> k & 1) {
            dims[k] = 1;
            items[k] = "None";
        } else dims[k] = X->dims[i++];
    }
    if (is_const(I, x)) {
        def_view(I, x, r, dims);
        return true;
    }
    imp_def_tensor(I, 0, X->is_float, X->ndl_dtype, r, dims, arena_printf(I->a, "%s%s", imp_ref(I, x), index_text(I, r, items)));
    return true;
}

static bool cv_squeeze(Imp *I, const char *arg)
{
    bool ok = true;
    uint32_t x = imp_input(I, 0, &ok), av = imp_input(I, 1, &ok);
    if (!need(I, x, "data", &ok)) return false;
    const ImpValue *X = imp_val(I, x);
    unsigned mask = 0;
    if (av) {
        int64_t na;
        const int64_t *axes = const_ints(I, av, "axes", &na, &ok);
        for (int64_t k = 0; ok && k < na; k++) {
            int a = norm_axis(I, axes[k], X->rank, &ok);
            if (ok && X->dims[a] != 1) {
                imp_error(I, "axis %d has size %s, not 1", a, imp_dim_text(I, X->dims[a]));
                return false;
            }
            mask |= ok ? 1u << a : 0;
        }
        if (!ok) return false;
    } else {
        for (int k = 0; k < X->rank; k++) mask |= X->dims[k] == 1 ? 1u << k : 0;
    }
    int64_t dims[IMP_MAX_RANK];
    int r = 0;
    const char **items = colons(I, X->rank);
    for (int k = 0; k < X->rank; k++) {
        if (mask >> k & 1) items[k] = "0";
        else dims[r++] = X->dims[k];
    }
    if (is_const(I, x)) {
        def_view(I, x, r, dims);
        return true;
    }
    imp_def_tensor(I, 0, X->is_float, X->ndl_dtype, r, dims, arena_printf(I->a, "%s%s", imp_ref(I, x), index_text(I, X->rank, items)));
    return true;
}

static bool cv_shape(Imp *I, const char *arg)
{
    bool ok = true;
    uint32_t x = imp_input(I, 0, &ok);
    if (!need(I, x, "data", &ok)) return false;
    const ImpValue *X = imp_val(I, x);
    int64_t start = imp_attr_int(I, "start", 0, &ok), end = imp_attr_int(I, "end", X->rank, &ok);
    if (!ok) return false;
    start = start < 0 ? clamp(start + X->rank, 0, X->rank) : clamp(start, 0, X->rank);
    end = end < 0 ? clamp(end + X->rank, 0, X->rank) : clamp(end, 0, X->rank);
    int64_t n = end > start ? end - start : 0;
    Data out = new_data(I, false, n);
    for (int64_t k = 0; k < n; k++) {
        out.i[k] = X->dims[start + k];
        out.sym[k] = out.i[k] < 0; /* a symbolic size, usable in Reshape shapes */
        if (out.i[k] == DIM_UNKNOWN) {
            imp_error(I, "dimension %lld of the shape is a product of symbolic sizes, which is not supported",
                      (long long)(start + k));
            return false;
        }
    }
    def_data(I, 1, &n, out);
    return true;
}

static bool cv_cast(Imp *I, const char *arg)
{
    bool ok = true;
    uint32_t x = imp_input(I, 0, &ok);
    int64_t to = imp_attr_int(I, "to", 0, &ok);
    if (!need(I, x, "input", &ok)) return false;
    bool is_float;
    const char *dt = NULL;
    switch (to) {
    case OT_FLOAT: case OT_DOUBLE: case OT_FLOAT16: dt = "f32"; is_float = true; break;
    case OT_INT64: dt = "i64"; is_float = false; break;
    case OT_INT32: dt = "i32"; is_float = false; break;
    case OT_BOOL: dt = "bool"; is_float = false; break;
    default: break;
    }
    if (!dt) {
        imp_error(I, "cast to element type %lld is not supported", (long long)to);
        return false;
    }
    const ImpValue *X = imp_val(I, x);
    if (is_const(I, x) && has_sym(X) && (is_float || to == OT_BOOL)) {
        imp_error(I, "a symbolic size cannot be cast to a float or bool");
        return false;
    }
    if (is_const(I, x) && has_sym(X)) { /* integer to integer: the sizes stay */
        imp_val(I, def_view(I, x, X->rank, X->dims))->ndl_dtype = dt;
        return true;
    }
    if (is_const(I, x)) {
        float *f = is_float ? arena_alloc(I->a, (size_t)X->nelem * sizeof *f + 1) : NULL;
        int64_t *iv = is_float ? NULL : arena_alloc(I->a, (size_t)X->nelem * sizeof *iv + 1);
        for (int64_t k = 0; k < X->nelem; k++) {
            double v = X->f ? (double)X->f[k] : (double)X->i[k];
            if (f) f[k] = (float)v;
            else if (to == OT_BOOL) iv[k] = v != 0;
            else iv[k] = X->f ? (isfinite(v) && fabs(v) < 9e18 ? (int64_t)v : 0) : X->i[k];
        }
        uint32_t y = imp_def_const(I, 0, is_float, X->rank, X->dims, f, iv);
        imp_val(I, y)->ndl_dtype = dt;
        return true;
    }
    if (strcmp(dt, X->ndl_dtype) == 0) {
        imp_def_alias(I, 0, x);
        return true;
    }
    imp_def_tensor(I, 0, is_float, dt, X->rank, X->dims, arena_printf(I->a, "cast(%s, %s)", imp_ref(I, x), dt));
    return true;
}

static bool cv_constant(Imp *I, const char *arg)
{
    const Onnx__NodeProto *n = imp_node(I);
    if (n->n_attribute != 1) {
        imp_error(I, "needs exactly one value attribute");
        return false;
    }
    const Onnx__AttributeProto *a = n->attribute[0];
    const char *name = a->name ? a->name : "";
    ImpValue c = {0};
    int64_t one = 1;
    if (strcmp(name, "value") == 0 && a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR && a->t) {
        char what[300];
        snprintf(what, sizeof what, "node %s (Constant)", n->name && n->name[0] ? n->name : "?");
        if (!imp_tensor_to_const(I, a->t, &c, what)) return false;
        uint32_t y = imp_def_const(I, 0, c.is_float, c.rank, c.dims, c.f, c.i);
        imp_val(I, y)->ndl_dtype = c.ndl_dtype;
        return true;
    }
    if (strcmp(name, "value_float") == 0 && a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT) {
        float *f = arena_alloc(I->a, sizeof *f);
        *f = a->f;
        imp_def_const(I, 0, true, 0, &one, f, NULL);
        return true;
    }
    if (strcmp(name, "value_int") == 0 && a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT) {
        int64_t *v = arena_alloc(I->a, sizeof *v);
        *v = a->i;
        imp_def_const(I, 0, false, 0, &one, NULL, v);
        return true;
    }
    if (strcmp(name, "value_floats") == 0 && a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS) {
        int64_t n1 = (int64_t)a->n_floats;
        float *f = arena_alloc(I->a, a->n_floats * sizeof *f + 1);
        if (a->n_floats) memcpy(f, a->floats, a->n_floats * sizeof *f);
        imp_def_const(I, 0, true, 1, &n1, f, NULL);
        return true;
    }
    if (strcmp(name, "value_ints") == 0 && a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS) {
        int64_t n1 = (int64_t)a->n_ints;
        int64_t *v = arena_alloc(I->a, a->n_ints * sizeof *v + 1);
        if (a->n_ints) memcpy(v, a->ints, a->n_ints * sizeof *v);
        imp_def_const(I, 0, false, 1, &n1, NULL, v);
        return true;
    }
    imp_error(I, "attribute '%s' of this type is not supported", name);
    return false;
}

static bool cv_constant_of_shape(Imp *I, const char *arg)
{
    bool ok = true;
    uint32_t sv = imp_input(I, 0, &ok);
    if (!need(I, sv, "input", &ok)) return false;
    int64_t n;
    const int64_t *shape = const_ints(I, sv, "input", &n, &ok);
    if (!ok) return false;
    if (n > IMP_MAX_RANK) {
        imp_error(I, "rank %lld is above %d", (long long)n, IMP_MAX_RANK);
        return false;
    }
    int64_t total = 1;
    for (int64_t k = 0; k < n; k++) {
        if (shape[k] < 0 || shape[k] > MAX_FOLD || (total *= shape[k]) > MAX_FOLD) {
            imp_error(I, "shape %s is negative or too large to fold", imp_ints_text(I, (size_t)n, shape));
            return false;
        }
    }
    ImpValue c = {.is_float = true, .nelem = 1};
    float zero = 0;
    c.f = &zero;
    const Onnx__AttributeProto *a = imp_attr_find(I, "value");
    if (a) c.f = NULL;
    if (a && (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR || !a->t ||
              !imp_tensor_to_const(I, a->t, &c, "ConstantOfShape value") || c.nelem != 1)) {
        if (ok) imp_error(I, "value must be a one-element tensor");
        return false;
    }
    Data out = new_data(I, c.f != NULL, total);
    for (int64_t k = 0; k < total; k++) copy_elem(out, k, &c, 0);
    def_data(I, (int)n, shape, out);
    return true;
}

static bool cv_reduce(Imp *I, const char *fn)
{
    bool ok = true;
    uint32_t x = imp_input(I, 0, &ok), av = imp_input(I, 1, &ok);
    if (!need(I, x, "data", &ok)) return false;
    const ImpValue *X = imp_val(I, x);
    int64_t keep = imp_attr_int(I, "keepdims", 1, &ok);
    size_t n = 0;
    const int64_t *axes;
    if (strcmp(fn, "sum") == 0) { /* ReduceSum takes axes as an input since opset 13 */
        int64_t na = 0;
        axes = av ? const_ints(I, av, "axes", &na, &ok) : NULL;
        n = (size_t)na;
    } else {
        axes = imp_attr_ints(I, "axes", &n, &ok);
    }
    if (!ok) return false;
    if (imp_attr_int(I, "noop_with_empty_axes", 0, &ok) && !n) {
        imp_def_alias(I, 0, x);
        return true;
    }
    unsigned mask = 0;
    int64_t list[IMP_MAX_RANK];
    if (!axes) {
        for (int k = 0; k < X->rank; k++) mask |= 1u << k;
    }
    for (size_t k = 0; axes && k < n; k++) {
        int a = norm_axis(I, axes[k], X->rank, &ok);
        if (!ok) return false;
        mask |= 1u << a;
    }
    int64_t dims[IMP_MAX_RANK];
    int r = 0, nl = 0;
    for (int k = 0; k < X->rank; k++) {
        if (mask >> k & 1) {
            list[nl++] = k;
            if (keep) dims[r++] = 1;
        } else dims[r++] = X->dims[k];
    }
    imp_def_tensor(I, 0, X->is_float, X->ndl_dtype, r, dims,
               arena_printf(I->a, "%s(%s, dims=%s%s)", fn, imp_ref(I, x), imp_ints_text(I, (size_t)nl, list),
                            keep ? ", keepdim=true" : ""));
    return true;
}

/* Zero padding of H and W (what torch.onnx writes before an AvgPool2d with padding): a
 * following Conv or AveragePool takes it as its own pad. */
static bool cv_pad(Imp *I, const char *arg)
{
    bool ok = true;
    uint32_t x = imp_input(I, 0, &ok), pv = imp_input(I, 1, &ok), cv = imp_input(I, 2, &ok);
    if (!need(I, x, "data", &ok) || !need(I, pv, "pads", &ok)) return false;
    const Onnx__AttributeProto *mode = imp_attr_find(I, "mode");
    int64_t n;
    const int64_t *pads = const_ints(I, pv, "pads", &n, &ok);
    if (!ok) return false;
    double c = 0;
    const ImpValue *X = imp_val(I, x);
    bool zero = !cv || (imp_const_scalar(I, cv, &c) && c == 0);
    bool constant = !mode || (mode->has_s && mode->s.len == 8 && memcmp(mode->s.data, "constant", 8) == 0);
    if (X->rank != 4 || n != 8 || !zero || !constant || pads[0] || pads[1] || pads[4] || pads[5] ||
        pads[2] != pads[6] || pads[3] != pads[7] || pads[2] < 0 || pads[3] < 0 || pads[2] > (1 << 20) ||
        pads[3] > (1 << 20) || X->dims[2] < 0 || X->dims[3] < 0) {
        imp_error(I, "only equal zero padding of H and W of an NCHW tensor is supported");
        return false;
    }
    int64_t dims[4] = {X->dims[0], X->dims[1], X->dims[2] + 2 * pads[2], X->dims[3] + 2 * pads[3]};
    uint32_t y = imp_def_tensor(I, 0, true, "f32", 4, dims, arena_printf(I->a, "pad(%s)", imp_ref(I, x)));
    imp_defer_error(I, y, "Pad is supported before a Conv or an AveragePool, which take it as their pad");
    ImpValue *Y = imp_val(I, y);
    Y->pat = PAT_PAD;
    Y->pat_x = x;
    Y->pat_pad[0] = pads[2];
    Y->pat_pad[1] = pads[3];
    return true;
}

/* Equal, Where and Expand appear in torch.onnx's shape arithmetic (expand(B, -1, -1)):
 * folded when their inputs are constants. */
static bool cv_equal(Imp *I, const char *arg)
{
    bool ok = true;
    uint32_t a = imp_input(I, 0, &ok), b = imp_input(I, 1, &ok);
    if (!need(I, a, "A", &ok) || !need(I, b, "B", &ok)) return false;
    if (!is_const(I, a) || !is_const(I, b) || imp_val(I, a)->nelem > MAX_FOLD || imp_val(I, b)->nelem > MAX_FOLD) {
        imp_error(I, "only constant operands are supported (shape arithmetic)");
        return false;
    }
    return fold_binary(I, '=', a, b);
}

static bool cv_where(Imp *I, const char *arg)
{
    bool ok = true;
    uint32_t c = imp_input(I, 0, &ok), a = imp_input(I, 1, &ok), b = imp_input(I, 2, &ok);
    if (!need(I, c, "condition", &ok) || !need(I, a, "X", &ok) || !need(I, b, "Y", &ok)) return false;
    if (!is_const(I, c) || !is_const(I, a) || !is_const(I, b) || imp_val(I, c)->nelem > MAX_FOLD ||
        imp_val(I, a)->nelem > MAX_FOLD || imp_val(I, b)->nelem > MAX_FOLD) {
        imp_error(I, "only constant operands are supported (shape arithmetic)");
        return false;
    }
    const ImpValue *C = imp_val(I, c), *A = imp_val(I, a), *B = imp_val(I, b);
    if ((A->f != NULL) != (B->f != NULL) || C->f) {
        imp_error(I, "operands have different element types");
        return false;
    }
    ImpValue t = {0};
    int64_t dims[IMP_MAX_RANK];
    int r;
    if (!broadcast(I, C, A, &t.rank, t.dims) || !broadcast(I, &t, B, &r, dims)) return false;
    int64_t n = numel(r, dims);
    Data out = new_data(I, A->f != NULL, n);
    for (int64_t p = 0; p < n; p++) {
        bool pick = C->i[bcast_index(C, r, dims, p)] != 0;
        const ImpValue *S = pick ? A : B;
        int64_t k = bcast_index(S, r, dims, p);
        copy_elem(out, p, S, k);
    }
    uint32_t y = def_data(I, r, dims, out);
    imp_val(I, y)->ndl_dtype = A->ndl_dtype;
    return true;
}

static bool cv_expand(Imp *I, const char *arg)
{
    bool ok = true;
    uint32_t x = imp_input(I, 0, &ok), sv = imp_input(I, 1, &ok);
    if (!need(I, x, "input", &ok) || !need(I, sv, "shape", &ok)) return false;
    int64_t n;
    const int64_t *shape = const_ints(I, sv, "shape", &n, &ok);
    if (!ok) return false;
    if (n > IMP_MAX_RANK) {
        imp_error(I, "rank %lld is above %d", (long long)n, IMP_MAX_RANK);
        return false;
    }
    ImpValue t = {.rank = (int)n};
    for (int64_t k = 0; k < n; k++) {
        if (shape[k] < 0 || shape[k] > MAX_FOLD) {
            imp_error(I, "shape entry %lld is not valid", (long long)shape[k]);
            return false;
        }
        t.dims[k] = shape[k];
    }
    const ImpValue *X = imp_val(I, x);
    int64_t dims[IMP_MAX_RANK];
    int r;
    if (!broadcast(I, X, &t, &r, dims)) return false;
    bool same = r == X->rank;
    for (int k = 0; same && k < r; k++) same = dims[k] == X->dims[k];
    if (same) {
        imp_def_alias(I, 0, x);
        return true;
    }
    int64_t total = numel(r, dims);
    if (!is_const(I, x) || total > MAX_FOLD) {
        imp_error(I, "only constants, or shapes that change nothing, are supported");
        return false;
    }
    Data out = new_data(I, X->f != NULL, total);
    for (int64_t p = 0; p < total; p++) {
        int64_t k = bcast_index(X, r, dims, p);
        copy_elem(out, p, X, k);
    }
    uint32_t y = def_data(I, r, dims, out);
    imp_val(I, y)->ndl_dtype = X->ndl_dtype;
    return true;
}

/* ---- the table -------------------------------------------------------------------------------- */

static const struct {
    const char *op;
    ConvertFn *fn;
    const char *arg;
} converters[] = {
    {"Add", cv_binary, "+"}, {"Sub", cv_binary, "-"}, {"Mul", cv_binary, "*"}, {"Div", cv_binary, "/"},
    {"MatMul", cv_matmul, NULL}, {"Gemm", cv_gemm, NULL},
    {"Relu", unary, "relu"}, {"Sigmoid", unary, "sigmoid"}, {"Tanh", unary, "tanh"}, {"Exp", unary, "exp"},
    {"Log", unary, "log"}, {"Sqrt", unary, "sqrt"}, {"Abs", unary, "abs"}, {"Neg", unary, "neg"},
    {"HardSwish", unary, "hardswish"}, {"Erf", unary, NULL}, {"HardSigmoid", cv_hardsigmoid, NULL},
    {"Pow", cv_pow, NULL}, {"Reciprocal", cv_reciprocal, NULL}, {"Clip", cv_clip, NULL},
    {"Softmax", cv_softmax, "softmax"}, {"LogSoftmax", cv_softmax, "log_softmax"},
    {"Identity", cv_identity, NULL}, {"Dropout", cv_identity, NULL},
    {"Conv", cv_conv, NULL}, {"BatchNormalization", cv_batchnorm, NULL},
    {"MaxPool", cv_pool, "max_pool2d"}, {"AveragePool", cv_pool, "avg_pool2d"},
    {"GlobalAveragePool", cv_global_pool, "mean"}, {"GlobalMaxPool", cv_global_pool, "max"},
    {"LayerNormalization", cv_layernorm, NULL}, {"Flatten", cv_flatten, NULL}, {"Reshape", cv_reshape, NULL},
    {"Transpose", cv_transpose, NULL}, {"Concat", cv_concat, NULL}, {"Split", cv_split, NULL},
    {"Slice", cv_slice, NULL}, {"Gather", cv_gather, NULL}, {"Unsqueeze", cv_unsqueeze, NULL},
    {"Squeeze", cv_squeeze, NULL}, {"Shape", cv_shape, NULL}, {"Cast", cv_cast, NULL},
    {"Constant", cv_constant, NULL}, {"ConstantOfShape", cv_constant_of_shape, NULL},
    {"ReduceMean", cv_reduce, "mean"}, {"ReduceSum", cv_reduce, "sum"}, {"ReduceMax", cv_reduce, "max"},
    {"ReduceMin", cv_reduce, "min"}, {"Pad", cv_pad, NULL},
    {"Equal", cv_equal, NULL}, {"Where", cv_where, NULL}, {"Expand", cv_expand, NULL},
};

bool imp_convert_node(Imp *I)
{
    const Onnx__NodeProto *n = imp_node(I);
    for (size_t k = 0; k < sizeof converters / sizeof *converters; k++) {
        if (strcmp(converters[k].op, n->op_type) != 0) continue;
        if (n->n_output < 1 || !n->output[0][0]) {
            imp_error(I, "the node has no output");
            return false;
        }
        /* a converter may go on after an input or attribute error: the count decides */
        unsigned errors = diag_errors(I->d);
        return converters[k].fn(I, converters[k].arg) && diag_errors(I->d) == errors;
    }
    imp_error(I, "operator '%s' is not supported", n->op_type);
    return false;
}
