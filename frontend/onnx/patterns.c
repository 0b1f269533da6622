/* SPDX-License-Identifier: MIT
 * patterns.c - the decomposed forms torch.onnx.export writes, recognized at their last node
 * so that ops.c writes the NDL built-in whose kernel is fast; the statements of the inner
 * nodes are then unused and not written (import.c). Each matcher only reads the graph;
 * a form that does not match exactly is left to the ops one by one.
 */
#include <math.h>
#include <string.h>
#include "onnx_impl.h"

static bool is_const(Imp *I, uint32_t v) { return v && imp_val(I, v)->kind == VK_CONST; }

bool imp_near(double x, double want) { return fabs(x - want) <= 1e-5 * fabs(want); }

/* The scalar constant operand of a binary node and the other operand, if one is. */
static bool scalar_operand(Imp *I, uint32_t node, double *c, uint32_t *other)
{
    uint32_t a = imp_node_input(I, node, 0), b = imp_node_input(I, node, 1);
    if (imp_const_scalar(I, b, c)) { *other = a; return a != 0; }
    if (imp_const_scalar(I, a, c) && strcmp(I->g->node[node]->op_type, "Div") != 0) { *other = b; return b != 0; }
    return false;
}

/* ReduceMean(x, axes = [last], keepdims = 1): returns x or 0. */
static uint32_t mean_last(Imp *I, uint32_t v)
{
    uint32_t node;
    const Onnx__NodeProto *n = imp_producer(I, v, "ReduceMean", &node);
    if (!n) return 0;
    uint32_t x = imp_node_input(I, node, 0);
    const Onnx__AttributeProto *axes = NULL, *keep = NULL;
    for (size_t k = 0; k < n->n_attribute; k++) {
        if (strcmp(n->attribute[k]->name, "axes") == 0) axes = n->attribute[k];
        if (strcmp(n->attribute[k]->name, "keepdims") == 0) keep = n->attribute[k];
    }
    int r = imp_val(I, x)->rank;
    if (!axes || axes->n_ints != 1 || (axes->ints[0] != -1 && axes->ints[0] != r - 1)) return 0;
    if (keep && keep->i != 1) return 0;
    return x;
}

/* (x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps) at a Div node: x and eps. */
bool match_layer_norm(Imp *I, uint32_t num, uint32_t den, uint32_t *x, double *eps)
{
    uint32_t sub, sq, add, pw;
    if (!imp_producer(I, num, "Sub", &sub) || !imp_producer(I, den, "Sqrt", &sq)) return false;
    uint32_t xs = imp_node_input(I, sub, 0);
    if (!xs || mean_last(I, imp_node_input(I, sub, 1)) != xs) return false;
    if (!imp_producer(I, imp_node_input(I, sq, 0), "Add", &add)) return false;
    uint32_t var;
    if (!scalar_operand(I, add, eps, &var)) return false;
    uint32_t sqd = mean_last(I, var);
    if (!imp_producer(I, sqd, "Pow", &pw)) return false;
    double two;
    uint32_t d = imp_node_input(I, pw, 0), sub2;
    if (!imp_const_scalar(I, imp_node_input(I, pw, 1), &two) || two != 2.0) return false;
    if (d != num) {
        if (!imp_producer(I, d, "Sub", &sub2) || imp_node_input(I, sub2, 0) != xs ||
            mean_last(I, imp_node_input(I, sub2, 1)) != xs)
            return false;
    }
    *x = xs;
    return true;
}

/* Factors of a product, one level of Mul below each operand of the root. */
static unsigned mul_factors(Imp *I, uint32_t node, uint32_t *f, unsigned max, bool expand)
{
    unsigned n = 0;
    for (unsigned k = 0; k < 2; k++) {
        uint32_t v = imp_node_input(I, node, k), inner;
        if (expand && imp_producer(I, v, "Mul", &inner)) n += mul_factors(I, inner, f + n, max - n, false);
        else if (n < max) f[n++] = v;
    }
    return n;
}

/* x * 0.5 * (1 + erf(x / sqrt 2)) at its last Mul: x, or 0. */
uint32_t match_gelu(Imp *I, uint32_t node)
{
    uint32_t f[4];
    unsigned n = mul_factors(I, node, f, 4, true);
    if (n != 3) return 0;
    int half = -1, one_plus = -1;
    uint32_t x = 0;
    for (unsigned k = 0; k < 3; k++) {
        double c;
        uint32_t add, erf, div, e, inner;
        if (imp_const_scalar(I, f[k], &c) && imp_near(c, 0.5)) { half = (int)k; continue; }
        if (!imp_producer(I, f[k], "Add", &add) || !scalar_operand(I, add, &c, &e) || !imp_near(c, 1.0)) continue;
        if (!imp_producer(I, e, "Erf", &erf)) continue;
        uint32_t arg = imp_node_input(I, erf, 0);
        if (imp_producer(I, arg, "Div", &div) && scalar_operand(I, div, &c, &inner) && imp_near(c, sqrt(2.0))) {
            one_plus = (int)k;
            x = inner;
        } else if (imp_producer(I, arg, "Mul", &div) && scalar_operand(I, div, &c, &inner) && imp_near(c, sqrt(0.5))) {
            one_plus = (int)k;
            x = inner;
        }
    }
    if (half < 0 || one_plus < 0) return 0;
    unsigned rest = 3u - (unsigned)half - (unsigned)one_plus;
    return f[rest] == x ? x : 0;
}

/* Multiplications and divisions by scalars on the way to v: folded into *scale. */
static uint32_t strip_scale(Imp *I, uint32_t v, double *scale)
{
    uint32_t node, inner;
    double c;
    for (int k = 0; k < 4; k++) {
        if (imp_producer(I, v, "Div", &node) && scalar_operand(I, node, &c, &inner) && c != 0) *scale /= c;
        else if (imp_producer(I, v, "Mul", &node) && scalar_operand(I, node, &c, &inner)) *scale *= c;
        else break;
        v = inner;
    }
    return v;
}

/* A constant [T, T] (leading 1s allowed) with 0 where key <= query and -inf (or below
 * -1e9) above: the causal mask, top-left aligned. */
static bool causal_mask(Imp *I, uint32_t v)
{
    const ImpValue *M = imp_val(I, v);
    if (!is_const(I, v) || !M->f || M->rank < 2) return false;
    for (int k = 0; k < M->rank - 2; k++)
        if (M->dims[k] != 1) return false;
    int64_t t = M->dims[M->rank - 1];
    if (M->dims[M->rank - 2] != t || t < 2) return false;
    for (int64_t i = 0; i < t; i++)
        for (int64_t j = 0; j < t; j++) {
            float x = M->f[i * t + j];
            if (j <= i ? x != 0 : !(x <= -1e9f)) return false;
        }
    return true;
}

/* softmax(q kᵀ · s) v at the MatMul(P, v). Writes the attention call or returns false. */
bool match_attention(Imp *I, uint32_t p, uint32_t v)
{
    uint32_t sm, mm;
    if (!imp_producer(I, p, "Softmax", &sm)) return false;
    bool ok = true;
    uint32_t saved = I->node;
    I->node = sm;
    int64_t axis = imp_attr_int(I, "axis", -1, &ok);
    I->node = saved;
    uint32_t s = imp_node_input(I, sm, 0);
    if (!ok || !s || (axis != -1 && axis != imp_val(I, s)->rank - 1)) return false;
    double scale = 1;
    uint32_t add;
    bool causal = false;
    if (imp_producer(I, s, "Add", &add)) { /* + a constant causal mask (torch's MultiheadAttention) */
        for (unsigned k = 0; k < 2 && !causal; k++) {
            if (causal_mask(I, imp_node_input(I, add, k))) {
                causal = true;
                s = imp_node_input(I, add, 1 - k);
            }
        }
        if (!causal) return false;
    }
    s = strip_scale(I, s, &scale);
    if (!imp_producer(I, s, "MatMul", &mm)) return false;
    uint32_t q = strip_scale(I, imp_node_input(I, mm, 0), &scale), kt = imp_node_input(I, mm, 1);
    const ImpValue *Q = imp_val(I, q), *KT = imp_val(I, kt), *V = imp_val(I, v);
    int r = Q->rank;
    if (r < 2 || KT->rank != r || V->rank != r || !Q->is_float) return false;
    for (int k = 0; k < r - 2; k++)
        if (Q->dims[k] != KT->dims[k] || Q->dims[k] != V->dims[k]) return false;
    if (KT->dims[r - 1] != V->dims[r - 2] || Q->dims[r - 1] != KT->dims[r - 2]) return false;
    if (causal && Q->dims[r - 2] != KT->dims[r - 1]) return false; /* a square mask */
    int64_t dims[IMP_MAX_RANK];
    for (int k = 0; k < r - 1; k++) dims[k] = Q->dims[k];
    dims[r - 1] = V->dims[r - 1];
    /* k itself: undo the transpose that made kᵀ */
    const char *ktext;
    uint32_t tr;
    const Onnx__NodeProto *tn = imp_producer(I, kt, "Transpose", &tr);
    const Onnx__AttributeProto *perm = NULL;
    for (size_t k = 0; tn && k < tn->n_attribute; k++)
        if (strcmp(tn->attribute[k]->name, "perm") == 0) perm = tn->attribute[k];
    const char *qtext = imp_ref(I, q);
    if (perm && perm->n_ints == (size_t)r) {
        int64_t pk[IMP_MAX_RANK];
        bool identity = true;
        for (int k = 0; k < r; k++) pk[k] = perm->ints[k];
        int64_t t = pk[r - 1];
        pk[r - 1] = pk[r - 2];
        pk[r - 2] = t;
        for (int k = 0; k < r; k++) identity = identity && pk[k] == k;
        uint32_t k0 = imp_node_input(I, tr, 0);
        ktext = identity ? imp_ref(I, k0) : arena_printf(I->a, "permute(%s, %s)", imp_ref(I, k0), imp_ints_text(I, (size_t)r, pk));
    } else {
        ktext = arena_printf(I->a, "transpose(%s, %d, %d)", imp_ref(I, kt), r - 2, r - 1);
    }
    imp_def_tensor(I, 0, true, "f32", r, dims,
               arena_printf(I->a, "attention(%s, %s, %s, %sscale=%s)", qtext, ktext, imp_ref(I, v),
                            causal ? "causal=true, " : "", imp_real_text(I, scale)));
    return true;
}

