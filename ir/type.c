/* SPDX-License-Identifier: MIT
 * type.c - dimensions and tensor types.
 *
 * A symbolic dimension is a monomial coef * s1 * s2 * ... over the model's symbols
 * (spec section 4: "a product of symbols and an integer"). Monomials are interned in
 * Module.dimexprs with their symbols sorted, so two dims are equal exactly when their
 * encodings are equal; sums are representable only between monomials with the same
 * symbols (N + N = 2*N), which is all that concat along a batch axis needs.
 */
#include <stdio.h>
#include <string.h>
#include "ir.h"

static Dim intern_dimexpr(Module *m, const DimExpr *e)
{
    if (e->nsym == 0) return e->coef;
    for (uint32_t i = 1; i < m->dimexprs.n; i++) {
        const DimExpr *d = &m->dimexprs.v[i];
        if (d->coef == e->coef && d->nsym == e->nsym &&
            memcmp(d->sym, e->sym, e->nsym * sizeof e->sym[0]) == 0)
            return -(Dim)i - 1;
    }
    if (m->dimexprs.n == 0) vec_push(m->dimexprs, (DimExpr){0}); /* slot 0 unused */
    vec_push(m->dimexprs, *e);
    return -(Dim)(m->dimexprs.n - 1) - 1;
}

const DimExpr *ir_dim_expr(const Module *m, Dim d)
{
    uint32_t i = (uint32_t)(-(d + 1));
    if (d >= 0 || i == 0 || i >= m->dimexprs.n) NDLC_ICE("bad symbolic dim %lld", (long long)d);
    return &m->dimexprs.v[i];
}

/* Any dim as a monomial (a constant has no symbols). */
static DimExpr as_expr(const Module *m, Dim d)
{
    if (d >= 0) return (DimExpr){.coef = d};
    return *ir_dim_expr(m, d);
}

Dim ir_dim_symbol(Module *m, SymId s)
{
    DimExpr e = {.coef = 1, .nsym = 1, .sym = {s}};
    return intern_dimexpr(m, &e);
}

static bool mul_overflows(int64_t a, int64_t b, int64_t *r)
{
    return __builtin_mul_overflow(a, b, r);
}

bool ir_dim_mul_checked(Module *m, Dim a, Dim b, Dim *out)
{
    DimExpr x = as_expr(m, a), y = as_expr(m, b), r = {0};
    if (mul_overflows(x.coef, y.coef, &r.coef)) return false;
    if (r.coef == 0) {
        *out = 0;
        return true;
    }
    if (x.nsym + y.nsym > IR_DIM_MAXSYMS) return false;
    /* merge two sorted symbol lists */
    unsigned i = 0, j = 0;
    while (i < x.nsym || j < y.nsym) {
        if (j >= y.nsym || (i < x.nsym && x.sym[i] <= y.sym[j])) r.sym[r.nsym++] = x.sym[i++];
        else r.sym[r.nsym++] = y.sym[j++];
    }
    *out = intern_dimexpr(m, &r);
    return true;
}

Dim ir_dim_mul(Module *m, Dim a, Dim b)
{
    Dim r;
    if (!ir_dim_mul_checked(m, a, b, &r)) NDLC_ICE("dimension product overflows");
    return r;
}

bool ir_dim_div(Module *m, Dim a, Dim b, Dim *quot)
{
    DimExpr x = as_expr(m, a), y = as_expr(m, b), r = {0};
    if (y.coef == 0 || x.coef % y.coef != 0) return false;
    r.coef = x.coef / y.coef;
    /* remove y's symbols from x's (multiset difference) */
    bool used[IR_DIM_MAXSYMS] = {false};
    for (unsigned j = 0; j < y.nsym; j++) {
        unsigned i = 0;
        while (i < x.nsym && (used[i] || x.sym[i] != y.sym[j])) i++;
        if (i == x.nsym) return false;
        used[i] = true;
    }
    for (unsigned i = 0; i < x.nsym; i++)
        if (!used[i]) r.sym[r.nsym++] = x.sym[i];
    if (r.coef == 0) r.nsym = 0;
    *quot = intern_dimexpr(m, &r);
    return true;
}

bool ir_dim_add(Module *m, Dim a, Dim b, Dim *sum)
{
    DimExpr x = as_expr(m, a), y = as_expr(m, b);
    if (x.coef == 0) { *sum = b; return true; }
    if (y.coef == 0) { *sum = a; return true; }
    if (x.nsym != y.nsym || memcmp(x.sym, y.sym, x.nsym * sizeof x.sym[0]) != 0) return false;
    if (__builtin_add_overflow(x.coef, y.coef, &x.coef)) return false;
    *sum = intern_dimexpr(m, &x);
    return true;
}

int64_t ir_dim_eval(const Module *m, Dim d, const int64_t *symvals)
{
    if (d >= 0) return d;
    const DimExpr *e = ir_dim_expr(m, d);
    int64_t v = e->coef;
    for (unsigned i = 0; i < e->nsym; i++)
        if (mul_overflows(v, symvals[e->sym[i]], &v)) return -1;
    return v;
}

int64_t ir_dim_upper(const Module *m, Dim d)
{
    if (d >= 0) return d;
    const DimExpr *e = ir_dim_expr(m, d);
    int64_t v = e->coef;
    for (unsigned i = 0; i < e->nsym; i++) {
        const Symbol *sy = &m->syms.v[e->sym[i]];
        int64_t b = sy->dynamic ? ir_dim_upper(m, sy->max) : sy->bound; /* a row count: at most max */
        if (b <= 0 || mul_overflows(v, b, &v)) return -1;
    }
    return v;
}

bool ir_type_numel(Module *m, const TensorType *t, Dim *n)
{
    *n = 1;
    for (unsigned i = 0; i < t->rank; i++)
        if (!ir_dim_mul_checked(m, *n, t->dims[i], n)) return false;
    return true;
}

bool ir_type_equal(const TensorType *a, const TensorType *b)
{
    if (a->dtype != b->dtype || a->rank != b->rank) return false;
    for (unsigned i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i]) return false;
    return true;
}

TensorType ir_type_make(DType dt, unsigned rank, const Dim *dims)
{
    TensorType t = {.dtype = dt, .rank = (uint8_t)rank};
    if (rank > IR_MAX_RANK) NDLC_ICE("rank %u above IR_MAX_RANK", rank);
    for (unsigned i = 0; i < rank; i++) t.dims[i] = dims[i];
    return t;
}

const char *ir_format_dim(const Module *m, Dim d, char *buf, size_t len)
{
    if (d >= 0) {
        snprintf(buf, len, "%lld", (long long)d);
        return buf;
    }
    const DimExpr *e = ir_dim_expr(m, d);
    size_t o = 0;
    buf[0] = 0;
    if (e->coef != 1) o += snprintf(buf + o, o < len ? len - o : 0, "%lld*", (long long)e->coef);
    for (unsigned i = 0; i < e->nsym; i++)
        o += snprintf(buf + o, o < len ? len - o : 0, "%s%s", i ? "*" : "",
                      m->syms.v[e->sym[i]].name);
    return buf;
}

const char *ir_format_dims(const Module *m, const TensorType *t, char *buf, size_t len)
{
    size_t o = 0;
    char d[64];
    o += snprintf(buf, len, "[");
    for (unsigned i = 0; i < t->rank; i++)
        o += snprintf(buf + o, o < len ? len - o : 0, "%s%s", i ? "," : "",
                      ir_format_dim(m, t->dims[i], d, sizeof d));
    snprintf(buf + o, o < len ? len - o : 0, "]");
    return buf;
}

const char *ir_format_type(const Module *m, const TensorType *t, char *buf, size_t len)
{
    int o = snprintf(buf, len, "%s", dtype_info[t->dtype].name);
    if (o >= 0 && (size_t)o < len) ir_format_dims(m, t, buf + o, len - (size_t)o);
    return buf;
}

bool ir_dtype_is_float(DType dt)
{
    return dt == DT_F32 || dt == DT_F16 || dt == DT_BF16 || dt == DT_F64;
}

bool ir_dtype_is_int(DType dt) { return dt == DT_I32 || dt == DT_I64; }

DType ir_dtype_compute(DType stored)
{
    switch (stored) {
    case DT_F16: case DT_BF16: case DT_F64: return DT_F32;
    case DT_I8: case DT_U8: case DT_I16: return DT_I32;
    default: return stored;
    }
}
