/* SPDX-License-Identifier: MIT
 * lower.c - elaboration: AST of one model -> IR.
 *
 * Walks the tree like an interpreter of NDL: compile-time expressions are evaluated on
 * the spot (ints, reals, bools, lists, symbolic sizes), module instances are created
 * with their state_dict paths, loops unroll, `if` picks a branch, and calls to instances
 * inline their forward. Tensor expressions append IR ops, whose shape rules (ir/shape.c)
 * check every operation; their messages are reported here at the expression's span.
 * Must not: touch weight data (weights.c does, after elaboration) or print.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lower_impl.h"

/* ---- values ------------------------------------------------------------------------ */

Cv cv_error(void) { return (Cv){.kind = CV_ERROR}; }
Cv cv_none(void) { return (Cv){.kind = CV_NONE}; }
Cv cv_int(int64_t i) { return (Cv){.kind = CV_INT, .u.i = i}; }
Cv cv_real(double r) { return (Cv){.kind = CV_REAL, .u.r = r}; }
Cv cv_bool(bool b) { return (Cv){.kind = CV_BOOL, .u.b = b}; }
Cv cv_tensor(ValueId t) { return (Cv){.kind = CV_TENSOR, .u.t = t}; }

const AstNode *N(const Lower *L, AstId id) { return ast_node(L->ast, id); }

const char *cv_kind_name(const Lower *L, const Cv *v)
{
    static const char *const names[] = {
        [CV_ERROR] = "an erroneous value", [CV_NONE] = "None", [CV_BOOL] = "a bool",
        [CV_INT] = "an int", [CV_REAL] = "a real", [CV_STR] = "a string",
        [CV_DIM] = "a symbolic size", [CV_LIST] = "a list", [CV_TUPLE] = "a tuple",
        [CV_TENSOR] = "a tensor", [CV_INST] = "a module instance",
        [CV_MODSPEC] = "a module constructor", [CV_FUNC] = "a function",
        [CV_DTYPE] = "a dtype", [CV_POLICY] = "a routing policy",
    };
    (void)L;
    return names[v->kind];
}

const char *path_join(Lower *L, const char *a, const char *b)
{
    if (!a || !a[0]) return arena_strdup(L->arena, b);
    return arena_printf(L->arena, "%s.%s", a, b);
}

bool lower_budget(Lower *L, Span span)
{
    if (++L->work <= LOWER_MAX_WORK) return true;
    if (L->work == LOWER_MAX_WORK + 1)
        diag_error(L->diag, span, "model too large: elaboration exceeded %u steps (unbounded loop?)",
                   LOWER_MAX_WORK);
    return false;
}

static Cv *cv_array(Lower *L, uint32_t n) { return arena_alloc(L->arena, (n ? n : 1) * sizeof(Cv)); }

static Cv cv_list(Lower *L, CvKind kind, const Cv *v, uint32_t n)
{
    Cv r = {.kind = kind};
    r.u.list.v = cv_array(L, n);
    r.u.list.n = n;
    for (uint32_t i = 0; i < n; i++) {
        r.u.list.v[i] = v[i];
        r.elastic |= v[i].elastic;
    }
    return r;
}

/* ---- scopes ----------------------------------------------------------------------------- */

Scope *scope_new(Lower *L, Scope *parent)
{
    Scope *s = arena_alloc(L->arena, sizeof *s);
    s->parent = parent;
    vec_push(L->scopes, s);
    return s;
}

Binding *scope_find(Scope *s, const char *name, bool here_only)
{
    for (; s; s = here_only ? NULL : s->parent)
        for (uint32_t i = s->b.n; i-- > 0;)
            if (strcmp(s->b.v[i].name, name) == 0) return &s->b.v[i];
    return NULL;
}

void scope_bind(Lower *L, Scope *s, const char *name, Cv v, Span span, BindKind kind)
{
    Binding b = {.name = arena_strdup(L->arena, name), .v = v, .span = span, .kind = kind};
    vec_push(s->b, b);
}

/* Binds a new name in s, reporting a redefinition in the same scope. */
void define(Lower *L, Scope *s, const char *name, Cv v, Span span, BindKind kind)
{
    Binding *old = scope_find(s, name, true);
    if (old) {
        diag_error(L->diag, span, "redefinition of '%s'", name);
        diag_note(L->diag, old->span, "previous definition of '%s' is here", name);
        return;
    }
    scope_bind(L, s, name, v, span, kind);
}

/* ---- conversions --------------------------------------------------------------------- */

bool want_fail(Lower *L, const Cv *v, Span span, const char *what, const char *want)
{
    if (v->kind != CV_ERROR)
        diag_error(L->diag, span, "expected %s for %s, got %s", want, what, cv_kind_name(L, v));
    return false;
}

bool want_tensor(Lower *L, const Cv *v, Span span, const char *what, ValueId *out)
{
    if (v->kind == CV_TENSOR) { *out = v->u.t; return true; }
    return want_fail(L, v, span, what, "a tensor");
}

bool want_int(Lower *L, const Cv *v, Span span, const char *what, int64_t *out)
{
    if (v->kind == CV_INT) { *out = v->u.i; return true; }
    return want_fail(L, v, span, what, "an int");
}

bool want_real(Lower *L, const Cv *v, Span span, const char *what, double *out)
{
    if (v->kind == CV_REAL) { *out = v->u.r; return true; }
    if (v->kind == CV_INT) { *out = (double)v->u.i; return true; }
    return want_fail(L, v, span, what, "a number");
}

bool want_bool(Lower *L, const Cv *v, Span span, const char *what, bool *out)
{
    if (v->kind == CV_BOOL) { *out = v->u.b; return true; }
    return want_fail(L, v, span, what, "a bool");
}

bool want_ints(Lower *L, const Cv *v, Span span, const char *what, int64_t *out, uint32_t max,
               uint32_t *n, bool allow_scalar)
{
    if (allow_scalar && v->kind == CV_INT) {
        out[0] = v->u.i;
        *n = 1;
        return true;
    }
    if (v->kind != CV_LIST && v->kind != CV_TUPLE)
        return want_fail(L, v, span, what, allow_scalar ? "an int or a list of ints" : "a list of ints");
    if (v->u.list.n > max) {
        diag_error(L->diag, span, "too many entries in %s: %u, at most %u", what, v->u.list.n, max);
        return false;
    }
    for (uint32_t i = 0; i < v->u.list.n; i++) {
        if (v->u.list.v[i].kind != CV_INT)
            return want_fail(L, &v->u.list.v[i], span, what, "a list of ints");
        out[i] = v->u.list.v[i].u.i;
    }
    *n = v->u.list.n;
    return true;
}

bool want_pair(Lower *L, const Cv *v, Span span, const char *what, int64_t out[2])
{
    uint32_t n;
    if (!want_ints(L, v, span, what, out, 2, &n, true)) return false;
    if (n == 1) out[1] = out[0];
    else if (n != 2) {
        diag_error(L->diag, span, "expected an int or an [h, w] pair for %s", what);
        return false;
    }
    return true;
}

bool want_dim(Lower *L, const Cv *v, Span span, const char *what, Dim *out)
{
    if (v->kind == CV_INT) { *out = v->u.i; return true; }
    if (v->kind == CV_DIM) { *out = v->u.dim; return true; }
    return want_fail(L, v, span, what, "a size");
}

/* ---- emitting ops ------------------------------------------------------------------- */

Cv emit_op(Lower *L, OpKind kind, const ValueId *in, unsigned nin, const Attr *attrs,
           unsigned nattr, const char *name, Span span)
{
    char err[512] = "";
    if (!lower_budget(L, span)) return cv_error();
    ValueId v = ir_add_op(L->m, kind, in, nin, attrs, nattr, name, span, err, sizeof err);
    if (!v) {
        diag_error(L->diag, span, "%s", err);
        return cv_error();
    }
    return cv_tensor(v);
}

ValueId const_scalar(Lower *L, double x, DType dt, Span span)
{
    TensorType t = {.dtype = dt, .rank = 0};
    switch (dt) {
    case DT_I32: { int32_t v = (int32_t)x; return ir_add_const(L->m, &t, &v, span); }
    case DT_I64: { int64_t v = (int64_t)x; return ir_add_const(L->m, &t, &v, span); }
    case DT_BOOL: { uint8_t v = x != 0; return ir_add_const(L->m, &t, &v, span); }
    default: { float v = (float)x; t.dtype = DT_F32; return ir_add_const(L->m, &t, &v, span); }
    }
}

/* -x and neg(x): the neg op on floats; on i32/i64 (torch.neg accepts them) `0 - x` in x's
 * dtype, which every backend already computes (the neg kernels are float-only). */
Cv emit_neg(Lower *L, ValueId x, const char *name, Span span)
{
    DType dt = ir_type(L->m, x)->dtype;
    if (dt != DT_I32 && dt != DT_I64) return emit_op(L, OP_NEG, &x, 1, NULL, 0, name, span);
    TensorType t = {.dtype = dt, .rank = 0};
    int64_t zero = 0; /* all-zero bytes read as 0 in both widths */
    return emit_binary(L, OP_SUB, ir_add_const(L->m, &t, &zero, span), x, name, span);
}

Cv emit_reshape(Lower *L, ValueId x, const Dim *dims, unsigned rank, const char *name, Span span)
{
    const TensorType *t = ir_type(L->m, x);
    if (t->rank == rank && memcmp(t->dims, dims, rank * sizeof *dims) == 0) return cv_tensor(x);
    Attr a = ir_attr_ints(L->m, ATTR_SHAPE, dims, rank);
    return emit_op(L, OP_RESHAPE, &x, 1, &a, 1, name, span);
}

Cv emit_permute(Lower *L, ValueId x, const int64_t *perm, unsigned rank, const char *name, Span span)
{
    Attr a = ir_attr_ints(L->m, ATTR_PERM, perm, rank);
    return emit_op(L, OP_PERMUTE, &x, 1, &a, 1, name, span);
}

Cv emit_binary(Lower *L, OpKind kind, ValueId a, ValueId b, const char *name, Span span)
{
    ValueId in[2] = {a, b};
    return emit_op(L, kind, in, 2, NULL, 0, name, span);
}

/* The one place that knows the slice op's attribute convention. */
static Cv emit_slice(Lower *L, ValueId x, const int64_t *begin, const int64_t *end,
                     const int64_t *step, const char *name, Span span)
{
    unsigned rank = ir_type(L->m, x)->rank;
    Attr a[3] = {ir_attr_ints(L->m, ATTR_BEGIN, begin, rank), ir_attr_ints(L->m, ATTR_END, end, rank),
                 ir_attr_ints(L->m, ATTR_STEP, step, rank)};
    return emit_op(L, OP_SLICE, &x, 1, a, 3, name, span);
}

Cv emit_slice_axis(Lower *L, ValueId x, unsigned axis, int64_t begin, int64_t end, int64_t step,
                   const char *name, Span span)
{
    const TensorType *t = ir_type(L->m, x);
    int64_t b[IR_MAX_RANK], e[IR_MAX_RANK], s[IR_MAX_RANK];
    for (unsigned i = 0; i < t->rank; i++) {
        b[i] = 0;
        e[i] = INT64_MAX;
        s[i] = 1;
    }
    b[axis] = begin;
    e[axis] = end;
    s[axis] = step;
    return emit_slice(L, x, b, e, s, name, span);
}

/* ---- compile-time arithmetic --------------------------------------------------------------- */

static const char *binop_text(int op)
{
    static const char *const t[] = {"+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=",
                                    "&&", "||"};
    return t[op];
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return q;
}

static int64_t floor_mod(int64_t a, int64_t b) { return a - floor_div(a, b) * b; }

static Cv ct_int_arith(Lower *L, int op, int64_t a, int64_t b, Span span)
{
    int64_t r = 0;
    bool ovf = false;
    switch (op) {
    case BIN_ADD: ovf = __builtin_add_overflow(a, b, &r); break;
    case BIN_SUB: ovf = __builtin_sub_overflow(a, b, &r); break;
    case BIN_MUL: ovf = __builtin_mul_overflow(a, b, &r); break;
    case BIN_DIV:
    case BIN_MOD:
        if (b == 0) {
            diag_error(L->diag, span, "division by zero in a compile-time expression");
            return cv_error();
        }
        if (a == INT64_MIN && b == -1) { ovf = true; break; }
        r = op == BIN_DIV ? floor_div(a, b) : floor_mod(a, b);
        break;
    case BIN_EQ: return cv_bool(a == b);
    case BIN_NE: return cv_bool(a != b);
    case BIN_LT: return cv_bool(a < b);
    case BIN_LE: return cv_bool(a <= b);
    case BIN_GT: return cv_bool(a > b);
    case BIN_GE: return cv_bool(a >= b);
    default: break;
    }
    if (ovf) {
        diag_error(L->diag, span, "integer overflow in a compile-time expression");
        return cv_error();
    }
    return cv_int(r);
}

static Cv ct_real_arith(Lower *L, int op, double a, double b, Span span)
{
    switch (op) {
    case BIN_ADD: return cv_real(a + b);
    case BIN_SUB: return cv_real(a - b);
    case BIN_MUL: return cv_real(a * b);
    case BIN_DIV:
        if (b == 0) {
            diag_error(L->diag, span, "division by zero in a compile-time expression");
            return cv_error();
        }
        return cv_real(a / b);
    case BIN_MOD:
        if (b == 0) {
            diag_error(L->diag, span, "division by zero in a compile-time expression");
            return cv_error();
        }
        return cv_real(a - floor(a / b) * b);
    case BIN_EQ: return cv_bool(a == b);
    case BIN_NE: return cv_bool(a != b);
    case BIN_LT: return cv_bool(a < b);
    case BIN_LE: return cv_bool(a <= b);
    case BIN_GT: return cv_bool(a > b);
    case BIN_GE: return cv_bool(a >= b);
    default: return cv_error();
    }
}

static Cv dim_arith(Lower *L, int op, const Cv *a, const Cv *b, Span span)
{
    Dim x, y, r;
    if (!want_dim(L, a, span, "size arithmetic", &x) || !want_dim(L, b, span, "size arithmetic", &y))
        return cv_error();
    bool ok = true;
    switch (op) {
    case BIN_MUL: ok = ir_dim_mul_checked(L->m, x, y, &r); break;
    case BIN_DIV: ok = ir_dim_div(L->m, x, y, &r); break;
    case BIN_ADD: ok = ir_dim_add(L->m, x, y, &r); break;
    case BIN_SUB: ok = y >= 0 && ir_dim_add(L->m, x, -y, &r); break;
    case BIN_EQ: return cv_bool(x == y);
    case BIN_NE: return cv_bool(x != y);
    default: ok = false; break;
    }
    char s1[64], s2[64];
    if (!ok) {
        diag_error(L->diag, span, "'%s %s %s' is not a size this compiler can represent "
                   "(sizes are products of symbols and an integer)",
                   ir_format_dim(L->m, x, s1, sizeof s1), binop_text(op),
                   ir_format_dim(L->m, y, s2, sizeof s2));
        return cv_error();
    }
    return r >= 0 ? cv_int(r) : (Cv){.kind = CV_DIM, .u.dim = r};
}

static OpKind binop_kind(int op)
{
    return op == BIN_ADD ? OP_ADD : op == BIN_SUB ? OP_SUB : op == BIN_MUL ? OP_MUL : OP_DIV;
}

/* A tensor operand of arithmetic: a tensor, or a compile-time scalar that takes the other
 * operand's dtype dt (spec 4). On an integer or bool tensor the scalar must be held exactly:
 * a real, or an int out of range, is an error, where PyTorch would promote the result. */
static bool tensor_operand(Lower *L, const Cv *v, DType dt, Span span, ValueId *out)
{
    if (v->kind == CV_TENSOR) { *out = v->u.t; return true; }
    if (v->kind != CV_INT && v->kind != CV_REAL && v->kind != CV_BOOL)
        return want_fail(L, v, span, "an arithmetic operand", "a tensor or a number");
    if (dt != DT_I32 && dt != DT_I64 && dt != DT_BOOL) {
        double x = v->kind == CV_INT ? (double)v->u.i : v->kind == CV_REAL ? v->u.r : v->u.b;
        *out = const_scalar(L, x, dt, span);
        return true;
    }
    if (v->kind == CV_REAL) {
        diag_error(L->diag, span, "real scalar %g with a tensor of dtype %s: arithmetic needs equal dtypes "
                   "(no implicit promotion); cast the tensor to f32 or write an int",
                   v->u.r, dtype_info[dt].name);
        return false;
    }
    int64_t x = v->kind == CV_INT ? v->u.i : v->u.b;
    int64_t lo = dt == DT_I32 ? INT32_MIN : dt == DT_I64 ? INT64_MIN : 0;
    int64_t hi = dt == DT_I32 ? INT32_MAX : dt == DT_I64 ? INT64_MAX : 1;
    if (x < lo || x > hi) {
        diag_error(L->diag, span, "value %" PRId64 " does not fit %s, the dtype of the tensor operand",
                   x, dtype_info[dt].name);
        return false;
    }
    TensorType t = {.dtype = dt, .rank = 0};
    int32_t i32 = (int32_t)x;
    uint8_t u8 = (uint8_t)x;
    const void *data = dt == DT_I32 ? (const void *)&i32 : dt == DT_I64 ? (const void *)&x : &u8;
    *out = ir_add_const(L->m, &t, data, span);
    return true;
}

static Cv eval_binary(Lower *L, Scope *s, const AstNode *n)
{
    int op = n->op;
    if (op == BIN_AND || op == BIN_OR) {
        Cv a = eval(L, s, n->a);
        bool x, y;
        if (!want_bool(L, &a, N(L, n->a)->span, binop_text(op), &x)) return cv_error();
        Cv r = cv_bool(x);
        r.elastic = a.elastic;
        if (op == BIN_AND ? !x : x) return r; /* short-circuit */
        Cv b = eval(L, s, n->b);
        if (!want_bool(L, &b, N(L, n->b)->span, binop_text(op), &y)) return cv_error();
        r = cv_bool(y);
        r.elastic = a.elastic || b.elastic;
        return r;
    }
    Cv a = eval(L, s, n->a), b = eval(L, s, n->b);
    if (a.kind == CV_ERROR || b.kind == CV_ERROR) return cv_error();
    Cv r;
    if (a.kind == CV_TENSOR || b.kind == CV_TENSOR) {
        if (op > BIN_DIV) {
            diag_error(L->diag, n->span, "operator '%s' is not defined on tensors", binop_text(op));
            return cv_error();
        }
        DType dt = ir_type(L->m, a.kind == CV_TENSOR ? a.u.t : b.u.t)->dtype;
        ValueId x, y;
        if (!tensor_operand(L, &a, dt, N(L, n->a)->span, &x) ||
            !tensor_operand(L, &b, dt, N(L, n->b)->span, &y))
            return cv_error();
        /* PyTorch's `/` on integer tensors is true division */
        if (op == BIN_DIV && !ir_dtype_is_float(ir_type(L->m, x)->dtype) &&
            !ir_dtype_is_float(ir_type(L->m, y)->dtype)) {
            diag_error(L->diag, n->span, "'/' on integer tensors: cast them to f32 first");
            return cv_error();
        }
        return emit_binary(L, binop_kind(op), x, y, NULL, n->span);
    }
    if (a.kind == CV_DIM || b.kind == CV_DIM) r = dim_arith(L, op, &a, &b, n->span);
    else if (a.kind == CV_INT && b.kind == CV_INT) r = ct_int_arith(L, op, a.u.i, b.u.i, n->span);
    else if ((a.kind == CV_INT || a.kind == CV_REAL) && (b.kind == CV_INT || b.kind == CV_REAL))
        r = ct_real_arith(L, op, a.kind == CV_INT ? (double)a.u.i : a.u.r,
                          b.kind == CV_INT ? (double)b.u.i : b.u.r, n->span);
    else if (a.kind == CV_BOOL && b.kind == CV_BOOL && (op == BIN_EQ || op == BIN_NE))
        r = cv_bool(op == BIN_EQ ? a.u.b == b.u.b : a.u.b != b.u.b);
    else if (a.kind == CV_STR && b.kind == CV_STR && (op == BIN_EQ || op == BIN_NE))
        r = cv_bool((strcmp(a.u.s, b.u.s) == 0) == (op == BIN_EQ));
    else {
        diag_error(L->diag, n->span, "operator '%s' cannot combine %s and %s", binop_text(op),
                   cv_kind_name(L, &a), cv_kind_name(L, &b));
        return cv_error();
    }
    r.elastic = a.elastic || b.elastic;
    return r;
}

static Cv eval_unary(Lower *L, Scope *s, const AstNode *n)
{
    Cv a = eval(L, s, n->a);
    if (a.kind == CV_ERROR) return a;
    Cv r;
    if (n->op == '!') {
        bool b;
        if (!want_bool(L, &a, N(L, n->a)->span, "'!'", &b)) return cv_error();
        r = cv_bool(!b);
    } else if (a.kind == CV_INT) {
        if (a.u.i == INT64_MIN) {
            diag_error(L->diag, n->span, "integer overflow in a compile-time expression");
            return cv_error();
        }
        r = cv_int(-a.u.i);
    } else if (a.kind == CV_REAL) {
        r = cv_real(-a.u.r);
    } else if (a.kind == CV_TENSOR) {
        return emit_neg(L, a.u.t, NULL, n->span);
    } else {
        diag_error(L->diag, n->span, "unary '-' cannot apply to %s", cv_kind_name(L, &a));
        return cv_error();
    }
    r.elastic = a.elastic;
    return r;
}

/* ---- indexing ------------------------------------------------------------------------ */

static bool list_index(Lower *L, const Cv *idx, uint32_t len, Span span, uint32_t *out)
{
    int64_t i;
    if (!want_int(L, idx, span, "an index", &i)) return false;
    int64_t k = i < 0 ? i + (int64_t)len : i;
    if (k < 0 || k >= (int64_t)len) {
        diag_error(L->diag, span, "index %" PRId64 " is out of range for a list of %u elements", i, len);
        return false;
    }
    *out = (uint32_t)k;
    return true;
}

/* Optional int part of a slice (0 = omitted). */
static bool slice_part(Lower *L, Scope *s, AstId e, bool *given, int64_t *out)
{
    *given = false;
    if (!e) return true;
    Cv v = eval(L, s, e);
    if (v.kind == CV_NONE) return true;
    if (!want_int(L, &v, N(L, e)->span, "a slice bound", out)) return false;
    *given = true;
    return true;
}

/* x[i, a:b:c, None, ...] on a tensor: one slice op, then one reshape that drops integer-
 * indexed axes and inserts the None axes (PyTorch basic indexing). */
static Cv index_tensor(Lower *L, Scope *s, const AstNode *n, ValueId x)
{
    const TensorType *t = ir_type(L->m, x);
    unsigned rank = t->rank, axis = 0, orank = 0;
    int64_t b[IR_MAX_RANK], e[IR_MAX_RANK], st[IR_MAX_RANK];
    Dim odims[IR_MAX_RANK * 2];
    bool sliced = false;
    char d1[64];
    for (unsigned i = 0; i < rank; i++) { b[i] = 0; e[i] = INT64_MAX; st[i] = 1; }
    for (uint32_t k = 0; k < n->list.n; k++) {
        const AstNode *ix = N(L, n->list.v[k]);
        if (ix->kind == AST_NONE) {
            if (orank >= IR_MAX_RANK) goto too_many;
            odims[orank++] = 1;
            continue;
        }
        if (axis >= rank) {
            diag_error(L->diag, ix->span, "too many indices for a tensor of rank %u", rank);
            return cv_error();
        }
        Dim d = t->dims[axis];
        if (ix->kind == AST_SLICE) {
            bool g0, g1, g2;
            int64_t lo = 0, hi = 0, step = 1;
            if (!slice_part(L, s, ix->a, &g0, &lo) || !slice_part(L, s, ix->b, &g1, &hi) ||
                !slice_part(L, s, ix->c, &g2, &step))
                return cv_error();
            if (g2 && step <= 0) {
                diag_error(L->diag, ix->span, "slice step must be positive, got %" PRId64, step);
                return cv_error();
            }
            if (d < 0) {
                if ((g0 && lo != 0) || g1 || (g2 && step != 1)) {
                    diag_error(L->diag, ix->span, "cannot slice symbolic dimension '%s' (only ':' keeps it)",
                               ir_format_dim(L->m, d, d1, sizeof d1));
                    return cv_error();
                }
                if (orank >= IR_MAX_RANK) goto too_many;
                odims[orank++] = d;
                axis++;
                continue;
            }
            /* Python's slice.indices() for a positive step */
            if (!g0) lo = 0;
            else if (lo < 0) lo = lo + d < 0 ? 0 : lo + d;
            else if (lo > d) lo = d;
            if (!g1) hi = d;
            else if (hi < 0) hi = hi + d < 0 ? 0 : hi + d;
            else if (hi > d) hi = d;
            if (hi < lo) hi = lo;
            b[axis] = lo;
            e[axis] = hi;
            st[axis] = step;
            if (lo != 0 || hi != d || step != 1) sliced = true;
            if (orank >= IR_MAX_RANK) goto too_many;
            odims[orank++] = (hi - lo + step - 1) / step;
            axis++;
            continue;
        }
        Cv iv = eval(L, s, n->list.v[k]);
        int64_t i;
        if (!want_int(L, &iv, ix->span, "a tensor index", &i)) return cv_error();
        if (d < 0) {
            diag_error(L->diag, ix->span, "cannot index symbolic dimension '%s' with an integer",
                       ir_format_dim(L->m, d, d1, sizeof d1));
            return cv_error();
        }
        int64_t kk = i < 0 ? i + d : i;
        if (kk < 0 || kk >= d) {
            diag_error(L->diag, ix->span, "index %" PRId64 " is out of range for dimension %u of size %" PRId64,
                       i, axis, d);
            return cv_error();
        }
        b[axis] = kk;
        e[axis] = kk + 1;
        sliced = true;
        axis++;
    }
    for (; axis < rank; axis++) {
        if (orank >= IR_MAX_RANK) goto too_many;
        odims[orank++] = t->dims[axis];
    }
    Cv r = cv_tensor(x);
    if (sliced) r = emit_slice(L, x, b, e, st, NULL, n->span);
    if (r.kind != CV_TENSOR) return r;
    return emit_reshape(L, r.u.t, odims, orank, NULL, n->span);
too_many:
    diag_error(L->diag, n->span, "indexing gives a tensor of rank above %d", IR_MAX_RANK);
    return cv_error();
}

static Cv eval_index(Lower *L, Scope *s, const AstNode *n)
{
    Cv base = eval(L, s, n->a);
    if (base.kind == CV_ERROR) return base;
    if (base.kind == CV_TENSOR) return index_tensor(L, s, n, base.u.t);
    if (base.kind == CV_LIST || base.kind == CV_TUPLE) {
        if (n->list.n != 1 || N(L, n->list.v[0])->kind == AST_SLICE ||
            N(L, n->list.v[0])->kind == AST_NONE) {
            diag_error(L->diag, n->span, "a list takes exactly one integer index");
            return cv_error();
        }
        Cv iv = eval(L, s, n->list.v[0]);
        uint32_t k;
        if (!list_index(L, &iv, base.u.list.n, N(L, n->list.v[0])->span, &k)) return cv_error();
        Cv r = base.u.list.v[k];
        r.elastic |= iv.elastic; /* W[e - 1] depends on e (spec 8.1) */
        return r;
    }
    diag_error(L->diag, N(L, n->a)->span, "%s cannot be indexed", cv_kind_name(L, &base));
    return cv_error();
}

static Cv eval_member(Lower *L, Scope *s, const AstNode *n)
{
    Cv base = eval(L, s, n->a);
    if (base.kind == CV_ERROR) return base;
    if (base.kind == CV_INST) {
        Binding *b = scope_find(base.u.inst->scope, n->str, true);
        if (b && (b->kind == BIND_PARAM || b->kind == BIND_CHILD)) return b->v;
        diag_error(L->diag, n->span, "'%s' has no parameter or submodule '%s'",
                   base.u.inst->path[0] ? base.u.inst->path : "the model", n->str);
        return cv_error();
    }
    if ((base.kind == CV_LIST || base.kind == CV_TUPLE) && n->str[0] >= '0' && n->str[0] <= '9') {
        Cv iv = cv_int(strtoll(n->str, NULL, 10));
        uint32_t k;
        if (!list_index(L, &iv, base.u.list.n, n->span, &k)) return cv_error();
        return base.u.list.v[k];
    }
    diag_error(L->diag, n->span, "%s has no member '%s'", cv_kind_name(L, &base), n->str);
    return cv_error();
}

/* ---- calls ---------------------------------------------------------------------------- */

static const AstNode *find_module_decl(Lower *L, const char *name, AstId *id)
{
    const AstNode *file = N(L, L->ast->root);
    for (uint32_t i = 0; i < file->list.n; i++) {
        const AstNode *d = N(L, file->list.v[i]);
        if (d->kind == AST_MODULE && strcmp(d->str, name) == 0) {
            *id = file->list.v[i];
            return d;
        }
    }
    return NULL;
}

static bool eval_args(Lower *L, Scope *s, const AstNode *call, CallArgs *a)
{
    uint32_t n = call->list.n;
    a->npos = a->nkw = 0;
    a->pos = cv_array(L, n);
    a->kw = cv_array(L, n);
    a->pos_span = arena_alloc(L->arena, (n + 1) * sizeof(Span));
    a->kw_span = arena_alloc(L->arena, (n + 1) * sizeof(Span));
    a->kw_name = arena_alloc(L->arena, (n + 1) * sizeof(char *));
    a->span = call->span;
    bool ok = true;
    for (uint32_t i = 0; i < n; i++) {
        const AstNode *arg = N(L, call->list.v[i]);
        if (arg->kind == AST_KWARG) {
            for (uint32_t j = 0; j < a->nkw; j++)
                if (strcmp(a->kw_name[j], arg->str) == 0) {
                    diag_error(L->diag, arg->span, "argument '%s' given twice", arg->str);
                    ok = false;
                }
            a->kw_name[a->nkw] = arg->str;
            a->kw_span[a->nkw] = arg->span;
            a->kw[a->nkw] = eval(L, s, arg->a);
            if (a->kw[a->nkw].kind == CV_ERROR) ok = false;
            a->nkw++;
        } else {
            if (a->nkw) {
                diag_error(L->diag, arg->span, "positional argument after keyword argument");
                ok = false;
            }
            a->pos_span[a->npos] = arg->span;
            a->pos[a->npos] = eval(L, s, call->list.v[i]);
            if (a->pos[a->npos].kind == CV_ERROR) ok = false;
            a->npos++;
        }
    }
    return ok;
}

static Cv call_instance(Lower *L, Inst *inst, CallArgs *args);

Cv call_value(Lower *L, Scope *s, Cv callee, CallArgs *args, Span callee_span)
{
    (void)s;
    switch (callee.kind) {
    case CV_ERROR: return callee;
    case CV_FUNC: return call_builtin_fn(L, callee.u.fn, args);
    case CV_INST: return call_instance(L, callee.u.inst, args);
    case CV_LIST:
        diag_error(L->diag, callee_span, "a module list cannot be called; index it or loop over it");
        return cv_error();
    default:
        diag_error(L->diag, callee_span, "%s cannot be called", cv_kind_name(L, &callee));
        return cv_error();
    }
}

static Cv eval_call(Lower *L, Scope *s, const AstNode *n)
{
    const AstNode *callee = N(L, n->a);
    Cv fn = cv_none();
    ModSpec *spec = NULL;
    if (callee->kind == AST_NAME && !scope_find(s, callee->str, false)) {
        AstId decl = 0;
        const BuiltinMod *bm = NULL;
        const BuiltinFn *bf = NULL;
        if (find_module_decl(L, callee->str, &decl) || (bm = builtin_mod_lookup(callee->str))) {
            spec = arena_alloc(L->arena, sizeof *spec);
            spec->builtin = bm;
            spec->decl = decl;
            spec->span = n->span;
        } else if ((bf = builtin_fn_lookup(callee->str))) {
            fn = (Cv){.kind = CV_FUNC, .u.fn = bf};
        } else {
            diag_error(L->diag, callee->span, "unknown function or module '%s'", callee->str);
            return cv_error();
        }
    } else {
        fn = eval(L, s, n->a);
        if (fn.kind == CV_ERROR) return fn;
    }
    CallArgs args;
    if (!eval_args(L, s, n, &args)) return cv_error();
    if (spec) {
        spec->args = args;
        return (Cv){.kind = CV_MODSPEC, .u.spec = spec};
    }
    return call_value(L, s, fn, &args, callee->span);
}

/* ---- expressions ----------------------------------------------------------------------- */

static Cv eval_name(Lower *L, Scope *s, const AstNode *n)
{
    Binding *b = scope_find(s, n->str, false);
    if (b) {
        if (b->kind == BIND_OUTPUT && b->v.kind == CV_NONE) {
            diag_error(L->diag, n->span, "output '%s' is read before it is assigned", n->str);
            return cv_error();
        }
        return b->v;
    }
    int dt = ir_dtype_lookup(n->str);
    if (dt >= 0) return (Cv){.kind = CV_DTYPE, .u.i = dt};
    const BuiltinFn *bf = builtin_fn_lookup(n->str);
    if (bf) return (Cv){.kind = CV_FUNC, .u.fn = bf};
    diag_error(L->diag, n->span, "unknown name '%s'", n->str);
    return cv_error();
}

/* Iterates a `for` / comprehension source: a range A..B or a list. */
typedef struct Iter {
    bool range;
    int64_t lo, hi;
    Cv list;
} Iter;

static bool iter_begin(Lower *L, Scope *s, AstId src, Iter *it)
{
    const AstNode *n = N(L, src);
    memset(it, 0, sizeof *it);
    if (n->kind == AST_RANGE) {
        Cv a = eval(L, s, n->a), b = eval(L, s, n->b);
        if (!want_int(L, &a, N(L, n->a)->span, "a range bound", &it->lo) ||
            !want_int(L, &b, N(L, n->b)->span, "a range bound", &it->hi))
            return false;
        it->range = true;
        return true;
    }
    it->list = eval(L, s, src);
    if (it->list.kind == CV_LIST || it->list.kind == CV_TUPLE) return true;
    if (it->list.kind != CV_ERROR)
        diag_error(L->diag, n->span, "cannot iterate over %s", cv_kind_name(L, &it->list));
    return false;
}

static uint64_t iter_count(const Iter *it)
{
    if (it->range) return it->hi > it->lo ? (uint64_t)(it->hi - it->lo) : 0;
    return it->list.u.list.n;
}

static Cv iter_item(const Iter *it, uint64_t k)
{
    return it->range ? cv_int(it->lo + (int64_t)k) : it->list.u.list.v[k];
}

static Cv eval_comp(Lower *L, Scope *s, const AstNode *n)
{
    Iter it;
    if (!iter_begin(L, s, n->b, &it)) return cv_error();
    uint64_t cnt = iter_count(&it);
    if (cnt > LOWER_MAX_WORK) {
        diag_error(L->diag, n->span, "list comprehension of %" PRIu64 " elements is too large", cnt);
        return cv_error();
    }
    Cv *v = cv_array(L, (uint32_t)cnt);
    for (uint64_t k = 0; k < cnt; k++) {
        if (!lower_budget(L, n->span)) return cv_error();
        Scope *body = scope_new(L, s);
        scope_bind(L, body, n->str, iter_item(&it, k), n->span, BIND_CONST);
        v[k] = eval(L, body, n->a);
        if (v[k].kind == CV_ERROR) return cv_error();
    }
    return cv_list(L, CV_LIST, v, (uint32_t)cnt);
}

static Cv eval_list(Lower *L, Scope *s, const AstNode *n, CvKind kind)
{
    Cv *v = cv_array(L, n->list.n);
    for (uint32_t i = 0; i < n->list.n; i++) {
        v[i] = eval(L, s, n->list.v[i]);
        if (v[i].kind == CV_ERROR) return cv_error();
    }
    return cv_list(L, kind, v, n->list.n);
}

Cv eval(Lower *L, Scope *s, AstId e)
{
    const AstNode *n = N(L, e);
    if (L->depth > LOWER_MAX_DEPTH) {
        diag_error(L->diag, n->span, "expression nested too deeply");
        return cv_error();
    }
    L->depth++;
    Cv r;
    switch (n->kind) {
    case AST_INT: r = cv_int(n->ival); break;
    case AST_REAL: r = cv_real(n->rval); break;
    case AST_BOOL: r = cv_bool(n->ival != 0); break;
    case AST_NONE: r = cv_none(); break;
    case AST_STRING: r = (Cv){.kind = CV_STR, .u.s = n->str}; break;
    case AST_NAME: r = eval_name(L, s, n); break;
    case AST_UNARY: r = eval_unary(L, s, n); break;
    case AST_BINARY: r = eval_binary(L, s, n); break;
    case AST_TERNARY: {
        Cv c = eval(L, s, n->a);
        bool b;
        if (!want_bool(L, &c, N(L, n->a)->span, "a condition", &b)) {
            r = cv_error();
            break;
        }
        r = eval(L, s, b ? n->b : n->c);
        if (r.kind != CV_ERROR) r.elastic |= c.elastic; /* the choice depends on it (8.1) */
        break;
    }
    case AST_CALL: r = eval_call(L, s, n); break;
    case AST_INDEX: r = eval_index(L, s, n); break;
    case AST_MEMBER: r = eval_member(L, s, n); break;
    case AST_LIST: r = eval_list(L, s, n, CV_LIST); break;
    case AST_TUPLE: r = eval_list(L, s, n, CV_TUPLE); break;
    case AST_COMP: r = eval_comp(L, s, n); break;
    case AST_SLICE:
        diag_error(L->diag, n->span, "a slice is only allowed inside '[ ]' indexing");
        r = cv_error();
        break;
    case AST_RANGE:
        diag_error(L->diag, n->span, "a range 'A..B' is only allowed in 'for' and list comprehensions");
        r = cv_error();
        break;
    default:
        diag_error(L->diag, n->span, "%s is not an expression", ast_kind_name(n->kind));
        r = cv_error();
        break;
    }
    L->depth--;
    return r;
}

/* ---- statements ----------------------------------------------------------------------- */

typedef enum Exec { EX_OK, EX_RETURN, EX_ERROR } Exec;

static Exec exec_block(Lower *L, Scope *s, AstId block, Cv *ret, bool in_model);

static Exec exec_stmt(Lower *L, Scope *s, AstId id, Cv *ret, bool in_model)
{
    const AstNode *n = N(L, id);
    if (!lower_budget(L, n->span)) return EX_ERROR;
    switch (n->kind) {
    case AST_LET: {
        Cv v = eval(L, s, n->a);
        if (v.kind == CV_MODSPEC) {
            diag_error(L->diag, N(L, n->a)->span,
                       "modules are created in the module body, not in forward");
            v = cv_error();
        }
        define(L, s, n->str, v, n->span, BIND_LET);
        return v.kind == CV_ERROR ? EX_ERROR : EX_OK;
    }
    case AST_LET_TUPLE: {
        Cv v = eval(L, s, n->a);
        bool ok = v.kind != CV_ERROR;
        if (ok && v.kind != CV_TUPLE && v.kind != CV_LIST) {
            diag_error(L->diag, N(L, n->a)->span, "cannot unpack %s into %u names",
                       cv_kind_name(L, &v), n->list.n);
            ok = false;
        } else if (ok && v.u.list.n != n->list.n) {
            diag_error(L->diag, n->span, "cannot unpack %u values into %u names", v.u.list.n, n->list.n);
            ok = false;
        }
        for (uint32_t i = 0; i < n->list.n; i++) {
            const AstNode *t = N(L, n->list.v[i]);
            define(L, s, t->str, ok ? v.u.list.v[i] : cv_error(), t->span, BIND_LET);
        }
        return ok ? EX_OK : EX_ERROR;
    }
    case AST_ASSIGN: {
        Binding *b = scope_find(s, n->str, false);
        Cv v = eval(L, s, n->a);
        if (!b) {
            diag_error(L->diag, n->span, "assignment to '%s', which is neither a variable of an "
                       "enclosing block (declare it with 'let') nor a declared output", n->str);
            return EX_ERROR;
        }
        if (b->kind != BIND_LET && b->kind != BIND_OUTPUT) {
            diag_error(L->diag, n->span, "cannot assign to '%s': it is not a variable", n->str);
            diag_note(L->diag, b->span, "'%s' is declared here", n->str);
            return EX_ERROR;
        }
        if (b->kind == BIND_OUTPUT && v.kind != CV_TENSOR && v.kind != CV_ERROR) {
            diag_error(L->diag, N(L, n->a)->span, "output '%s' must be a tensor, got %s", n->str,
                       cv_kind_name(L, &v));
            return EX_ERROR;
        }
        if (b->kind == BIND_OUTPUT && b->declared && v.kind == CV_TENSOR &&
            !ir_type_equal(b->declared, ir_type(L->m, v.u.t))) {
            char t1[256], t2[256];
            diag_error(L->diag, n->span, "output '%s' is declared %s but is assigned %s", n->str,
                       ir_format_type(L->m, b->declared, t1, sizeof t1),
                       ir_format_type(L->m, ir_type(L->m, v.u.t), t2, sizeof t2));
            diag_note(L->diag, b->span, "'%s' is declared here", n->str);
            b->v = cv_error();
            return EX_ERROR;
        }
        b->v = v;
        return v.kind == CV_ERROR ? EX_ERROR : EX_OK;
    }
    case AST_RETURN:
        if (in_model) {
            diag_error(L->diag, n->span, "'return' in a model's forward; assign the outputs instead");
            return EX_ERROR;
        }
        *ret = eval(L, s, n->a);
        return ret->kind == CV_ERROR ? EX_ERROR : EX_RETURN;
    case AST_FOR: {
        Iter it;
        if (!iter_begin(L, s, n->a, &it)) return EX_ERROR;
        uint64_t cnt = iter_count(&it);
        if (N(L, n->b)->list.n == 0) {
            /* nothing to bind or run, but each iteration still counts against the budget,
             * so `for i in 0..huge { }` stops like any other unbounded unrolling */
            for (uint64_t k = 0; k < cnt; k++)
                if (!lower_budget(L, n->span)) return EX_ERROR;
            return EX_OK;
        }
        for (uint64_t k = 0; k < cnt; k++) {
            Scope *body = scope_new(L, s);
            scope_bind(L, body, n->str, iter_item(&it, k), n->span, BIND_CONST);
            Exec e = exec_block(L, body, n->b, ret, in_model);
            if (e != EX_OK) return e;
        }
        return EX_OK;
    }
    case AST_IF: {
        Cv c = eval(L, s, n->a);
        bool b;
        if (!want_bool(L, &c, N(L, n->a)->span, "an 'if' condition", &b)) return EX_ERROR;
        AstId branch = b ? n->b : n->c;
        if (!branch) return EX_OK;
        if (N(L, branch)->kind == AST_IF) return exec_stmt(L, s, branch, ret, in_model);
        return exec_block(L, scope_new(L, s), branch, ret, in_model);
    }
    case AST_BLOCK:
        return exec_block(L, scope_new(L, s), id, ret, in_model);
    default:
        diag_error(L->diag, n->span, "%s is not allowed in forward", ast_kind_name(n->kind));
        return EX_ERROR;
    }
}

/* Runs every statement; after an error it goes on with the next statement (the failed
 * binding is poisoned), so independent errors are all reported. */
static Exec exec_block(Lower *L, Scope *s, AstId block, Cv *ret, bool in_model)
{
    const AstNode *b = N(L, block);
    Exec result = EX_OK;
    for (uint32_t i = 0; i < b->list.n; i++) {
        Exec e = exec_stmt(L, s, b->list.v[i], ret, in_model);
        if (e == EX_RETURN) return result == EX_ERROR ? EX_ERROR : EX_RETURN;
        if (e == EX_ERROR) {
            result = EX_ERROR;
            if (diag_full(L->diag) || L->work > LOWER_MAX_WORK) return EX_ERROR;
        }
    }
    return result;
}

/* ---- instances --------------------------------------------------------------------------- */

static bool bind_module_args(Lower *L, Inst *inst, const AstNode *decl, const CallArgs *args,
                             Span span)
{
    Scope *s = inst->scope;
    bool ok = true;
    uint32_t nparams = decl->list.n;
    if (args->npos > nparams) {
        diag_error(L->diag, args->pos_span[nparams], "module '%s' takes %u argument%s, got %u",
                   decl->str, nparams, nparams == 1 ? "" : "s", args->npos);
        return false;
    }
    for (uint32_t j = 0; j < args->nkw; j++) {
        uint32_t i = 0;
        while (i < nparams && strcmp(N(L, decl->list.v[i])->str, args->kw_name[j]) != 0) i++;
        if (i == nparams) {
            diag_error(L->diag, args->kw_span[j], "module '%s' has no argument '%s'", decl->str,
                       args->kw_name[j]);
            ok = false;
        } else if (i < args->npos) {
            diag_error(L->diag, args->kw_span[j], "argument '%s' given twice", args->kw_name[j]);
            ok = false;
        }
    }
    if (!ok) return false;
    for (uint32_t i = 0; i < nparams; i++) {
        const AstNode *p = N(L, decl->list.v[i]);
        const AstNode *ty = N(L, p->a);
        Cv v = cv_none();
        Span vs = span;
        bool given = false;
        if (i < args->npos) { v = args->pos[i]; vs = args->pos_span[i]; given = true; }
        for (uint32_t j = 0; j < args->nkw; j++)
            if (strcmp(args->kw_name[j], p->str) == 0) { v = args->kw[j]; vs = args->kw_span[j]; given = true; }
        if (!given) {
            if (!p->b) {
                diag_error(L->diag, span, "module '%s' is missing argument '%s'", decl->str, p->str);
                ok = false;
                continue;
            }
            v = eval(L, s, p->b); /* defaults may use earlier arguments */
            vs = N(L, p->b)->span;
        }
        char what[128];
        snprintf(what, sizeof what, "argument '%s' of '%s'", p->str, decl->str);
        switch (ty->op) {
        case CT_INT: if (v.kind != CV_INT) ok = want_fail(L, &v, vs, what, "an int"); break;
        case CT_REAL:
            if (v.kind == CV_INT) v = (Cv){.kind = CV_REAL, .elastic = v.elastic, .u.r = (double)v.u.i};
            if (v.kind != CV_REAL) ok = want_fail(L, &v, vs, what, "a real");
            break;
        case CT_BOOL: if (v.kind != CV_BOOL) ok = want_fail(L, &v, vs, what, "a bool"); break;
        case CT_INT_LIST: {
            bool good = v.kind == CV_LIST || v.kind == CV_TUPLE;
            for (uint32_t k = 0; good && k < v.u.list.n; k++) good = v.u.list.v[k].kind == CV_INT;
            if (!good) ok = want_fail(L, &v, vs, what, "a list of ints");
            else v.kind = CV_LIST;
            break;
        }
        }
        scope_bind(L, s, p->str, v, p->span, BIND_CONST);
    }
    return ok;
}

static void elaborate_body(Lower *L, Inst *inst, const AstNode *decl, bool is_model);

Inst *instantiate(Lower *L, ModSpec *spec, const char *path, const char *key, Span span)
{
    if (L->inst_depth >= LOWER_MAX_INST_DEPTH) {
        if (L->inst_depth == LOWER_MAX_INST_DEPTH) /* once, at the innermost level */
            diag_error(L->diag, span, "modules nested too deeply (recursive module?)");
        L->inst_depth++;
        return NULL;
    }
    if (!lower_budget(L, span)) return NULL;
    Inst *inst = arena_alloc(L->arena, sizeof *inst);
    inst->path = path;
    inst->key = key;
    inst->span = span;
    inst->scope = scope_new(L, NULL);
    inst->builtin = spec->builtin;
    inst->decl = spec->decl;
    inst->ctor = &spec->args;
    /* a module body is a fresh expression context: its own nesting budget */
    unsigned saved_depth = L->depth;
    L->depth = 0;
    L->inst_depth++;
    bool ok;
    if (spec->builtin) {
        ok = (!spec->builtin->sig ||
              bind_args(L, spec->builtin->name, spec->builtin->sig, &spec->args, &inst->args)) &&
             spec->builtin->init(L, inst);
    } else {
        const AstNode *decl = N(L, spec->decl);
        unsigned before = diag_errors(L->diag);
        ok = bind_module_args(L, inst, decl, &spec->args, spec->span);
        if (ok) elaborate_body(L, inst, decl, false);
        ok = ok && diag_errors(L->diag) == before;
    }
    L->inst_depth--;
    L->depth = saved_depth;
    return ok ? inst : NULL;
}

static Cv call_instance(Lower *L, Inst *inst, CallArgs *args)
{
    if (inst->builtin) {
        const char *saved = L->cur_path;
        L->cur_path = inst->path;
        Cv r = inst->builtin->call(L, inst, args);
        L->cur_path = saved;
        return r;
    }
    const AstNode *decl = N(L, inst->decl);
    const AstNode *fwd = NULL;
    for (uint32_t i = 0; i < decl->list2.n; i++)
        if (N(L, decl->list2.v[i])->kind == AST_FORWARD) fwd = N(L, decl->list2.v[i]);
    if (!fwd) {
        diag_error(L->diag, args->span, "module '%s' has no forward", decl->str);
        diag_note(L->diag, decl->span, "'%s' is defined here", decl->str);
        return cv_error();
    }
    if (inst->in_forward || L->depth > LOWER_MAX_DEPTH) {
        diag_error(L->diag, args->span, "forward of '%s' calls itself", inst->path);
        return cv_error();
    }
    uint32_t np = fwd->list.n;
    if (args->nkw || args->npos != np) {
        if (args->nkw)
            diag_error(L->diag, args->kw_span[0], "forward takes positional arguments only");
        else
            diag_error(L->diag, args->span, "forward of module '%s' takes %u argument%s, got %u",
                       decl->str, np, np == 1 ? "" : "s", args->npos);
        return cv_error();
    }
    Scope *s = scope_new(L, inst->scope);
    for (uint32_t i = 0; i < np; i++) {
        const AstNode *p = N(L, fwd->list.v[i]);
        define(L, s, p->str, args->pos[i], p->span, BIND_LET);
    }
    const char *saved = L->cur_path;
    L->cur_path = inst->path;
    inst->in_forward = true;
    L->depth++;
    Cv ret = cv_none();
    Exec e = exec_block(L, s, fwd->a, &ret, false);
    L->depth--;
    inst->in_forward = false;
    L->cur_path = saved;
    if (e == EX_ERROR) return cv_error();
    if (e != EX_RETURN) {
        diag_error(L->diag, fwd->span, "forward of module '%s' ends without 'return'", decl->str);
        diag_note(L->diag, args->span, "called here");
        return cv_error();
    }
    return ret;
}

/* `name = expr [from "p"];` in a body: module constructors become instances at
 * path.name (lists at path.name.i); any other value is a named constant. */
static void elaborate_instance(Lower *L, Inst *parent, const AstNode *n)
{
    Scope *s = parent->scope;
    Cv v = eval(L, s, n->a);
    const char *path = path_join(L, parent->path, n->str);
    const char *key = path_join(L, parent->key, n->b ? N(L, n->b)->str : n->str);
    if (v.kind == CV_MODSPEC) {
        Inst *inst = instantiate(L, v.u.spec, path, key, v.u.spec->span);
        define(L, s, n->str, inst ? (Cv){.kind = CV_INST, .u.inst = inst} : cv_error(), n->span,
               BIND_CHILD);
        return;
    }
    if (v.kind == CV_LIST) {
        bool any_spec = false;
        for (uint32_t i = 0; i < v.u.list.n; i++) any_spec |= v.u.list.v[i].kind == CV_MODSPEC;
        if (any_spec) {
            Cv *items = cv_array(L, v.u.list.n);
            bool ok = true;
            for (uint32_t i = 0; i < v.u.list.n; i++) {
                Cv *it = &v.u.list.v[i];
                char idx[24];
                snprintf(idx, sizeof idx, "%u", i);
                if (it->kind != CV_MODSPEC) {
                    ok = want_fail(L, it, n->span, "an element of a module list", "a module");
                    continue;
                }
                Inst *inst = instantiate(L, it->u.spec, path_join(L, path, idx),
                                         path_join(L, key, idx), it->u.spec->span);
                if (!inst) ok = false;
                items[i] = inst ? (Cv){.kind = CV_INST, .u.inst = inst} : cv_error();
            }
            define(L, s, n->str, ok ? cv_list(L, CV_LIST, items, v.u.list.n) : cv_error(), n->span,
                   BIND_CHILD);
            return;
        }
    }
    if (n->b) diag_error(L->diag, N(L, n->b)->span, "'from' applies only to module instances");
    define(L, s, n->str, v, n->span, v.kind == CV_INST ? BIND_CHILD : BIND_CONST);
}

/* Whether v (a tensor) depends on a model input: parameter expressions must not. */
static ValueId input_dependency(const Module *m, ValueId v)
{
    const Value *val = &m->values.v[v];
    if (val->kind == VAL_INPUT) return v;
    if (val->kind != VAL_RESULT) return 0;
    const Op *op = &m->ops.v[val->def];
    for (unsigned i = 0; i < op->nin; i++) {
        ValueId a = ir_operand(m, op, i);
        ValueId d = a ? input_dependency(m, a) : 0;
        if (d) return d;
    }
    return 0;
}

bool check_param_expr(Lower *L, ValueId v, Span span)
{
    ValueId d = input_dependency(L->m, v);
    if (!d) return true;
    diag_error(L->diag, span, "a parameter expression cannot depend on model input '%s'",
               ir_value(L->m, d)->name);
    return false;
}

/* Whether the compile-time part of t's element count is within LOWER_MAX_NUMEL; an error
 * at span if not (3000000000^3 elements would wrap the generated code's loop bounds). */
static bool numel_fits(Lower *L, const TensorType *t, Span span)
{
    int64_t n = 1;
    bool over = false;
    for (unsigned i = 0; i < t->rank; i++) {
        Dim d = t->dims[i];
        int64_t c = d >= 0 ? d : ir_dim_upper(L->m, d);
        if (c < 0) c = ir_dim_expr(L->m, d)->coef;
        if (c == 0) return true;
        over = over || __builtin_mul_overflow(n, c, &n) || n > LOWER_MAX_NUMEL;
    }
    if (!over) return true;
    char buf[256];
    diag_error(L->diag, span, "type %s has more than 2^48 elements (the compiler's limit)",
               ir_format_type(L->m, t, buf, sizeof buf));
    return false;
}

/* Evaluates a tensor type; dims may be symbolic. In a model's input declarations, a
 * bare unknown name (or `N <= 64`) introduces a symbol. */
bool eval_tensor_type(Lower *L, Scope *s, AstId id, bool introduce_symbols, TensorType *t,
                      uint32_t *elastic_dims)
{
    const AstNode *n = N(L, id);
    bool ok = true;
    if (n->list.n > IR_MAX_RANK) {
        diag_error(L->diag, n->span, "rank %u is above the maximum %d", n->list.n, IR_MAX_RANK);
        return false;
    }
    t->dtype = ir_dtype_compute((DType)n->op);
    t->rank = (uint8_t)n->list.n;
    if (elastic_dims) *elastic_dims = 0;
    for (uint32_t i = 0; i < n->list.n; i++) {
        const AstNode *d = N(L, n->list.v[i]);
        const char *sym = NULL;
        int64_t bound = 0;
        if (d->kind == AST_DIM_BOUND) {
            Cv b = eval(L, s, d->a);
            if (!want_int(L, &b, N(L, d->a)->span, "a dimension bound", &bound)) { ok = false; continue; }
            if (bound <= 0) {
                diag_error(L->diag, N(L, d->a)->span, "dimension bound must be positive, got %" PRId64, bound);
                ok = false;
                continue;
            }
            sym = d->str;
        } else if (d->kind == AST_NAME && introduce_symbols && !scope_find(s, d->str, false)) {
            sym = d->str;
        }
        if (sym) {
            if (!introduce_symbols) {
                diag_error(L->diag, d->span, "a bound on a symbol is only allowed in an input declaration");
                ok = false;
                continue;
            }
            Binding *b = scope_find(s, sym, false);
            if (b && b->v.kind != CV_DIM) {
                diag_error(L->diag, d->span, "'%s' is not a symbolic size", sym);
                ok = false;
                continue;
            }
            if (!b) {
                SymId k = ir_add_symbol(L->m, sym, bound, d->span);
                Cv dv = {.kind = CV_DIM, .u.dim = ir_dim_symbol(L->m, k)};
                scope_bind(L, L->model_scope, sym, dv, d->span, BIND_CONST);
                b = scope_find(s, sym, false);
            } else if (bound) {
                const DimExpr *e = ir_dim_expr(L->m, b->v.u.dim);
                Symbol *sy = &L->m->syms.v[e->sym[0]];
                if (sy->bound && sy->bound != bound) {
                    diag_error(L->diag, d->span, "symbol '%s' has conflicting bounds %" PRId64 " and %" PRId64,
                               sym, sy->bound, bound);
                    ok = false;
                }
                sy->bound = bound;
            }
            t->dims[i] = b->v.u.dim;
            continue;
        }
        Cv v = eval(L, s, n->list.v[i]);
        Dim dim;
        if (!want_dim(L, &v, d->span, "a dimension", &dim)) { ok = false; continue; }
        if (v.kind == CV_INT && v.u.i < 0) {
            diag_error(L->diag, d->span, "dimension must not be negative, got %" PRId64, v.u.i);
            ok = false;
            continue;
        }
        if (v.elastic && elastic_dims) *elastic_dims |= 1u << i;
        t->dims[i] = dim;
    }
    return ok && numel_fits(L, t, n->span);
}

static void elaborate_param(Lower *L, Inst *inst, const AstNode *n)
{
    Scope *s = inst->scope;
    TensorType t;
    uint32_t elastic_dims = 0;
    if (n->a && !eval_tensor_type(L, s, n->a, false, &t, &elastic_dims)) {
        define(L, s, n->str, cv_error(), n->span, BIND_PARAM);
        return;
    }
    if (n->a) {
        for (unsigned i = 0; i < t.rank; i++)
            if (t.dims[i] < 0) {
                diag_error(L->diag, N(L, n->a)->span, "parameter '%s' cannot have a symbolic dimension", n->str);
                define(L, s, n->str, cv_error(), n->span, BIND_PARAM);
                return;
            }
    }
    if (n->b) { /* a parameter expression */
        Cv v = eval(L, s, n->b);
        ValueId x = 0;
        char tb[128], tw[128];
        if (v.kind != CV_ERROR && want_tensor(L, &v, N(L, n->b)->span, "a parameter expression", &x) &&
            check_param_expr(L, x, N(L, n->b)->span)) {
            if (n->a && !ir_type_equal(&t, ir_type(L->m, x))) {
                diag_error(L->diag, N(L, n->b)->span, "parameter '%s' is declared %s but its expression is %s",
                           n->str, ir_format_type(L->m, &t, tb, sizeof tb),
                           ir_format_type(L->m, ir_type(L->m, x), tw, sizeof tw));
                v = cv_error();
            }
        } else {
            v = cv_error();
        }
        if (n->c) diag_error(L->diag, N(L, n->c)->span, "a parameter with an expression is not loaded 'from' a key");
        define(L, s, n->str, v, n->span, BIND_PARAM);
        return;
    }
    if (!n->a) {
        diag_error(L->diag, n->span, "parameter '%s' needs a type or an expression", n->str);
        return;
    }
    const char *key = n->c ? path_join(L, inst->key, N(L, n->c)->str) : NULL;
    ValueId v = declare_param(L, s, inst->key, n->str, &t, elastic_dims, n->span);
    if (key) { /* `from "key"`: the same parameter, another key */
        ParamDecl *p = &L->params.v[L->params.n - 1];
        p->key = key;
        L->m->weights.v[p->weight].key = arena_strdup(L->m->arena, key);
    }
    (void)v;
}

static void elaborate_tie(Lower *L, Inst *inst, const AstNode *n)
{
    Cv a = eval(L, inst->scope, n->a), b = eval(L, inst->scope, n->b);
    if (a.kind == CV_ERROR || b.kind == CV_ERROR) return;
    ValueId x, y;
    if (!want_tensor(L, &a, N(L, n->a)->span, "'tie'", &x) ||
        !want_tensor(L, &b, N(L, n->b)->span, "'tie'", &y))
        return;
    if (ir_value(L->m, x)->kind != VAL_PARAM || ir_value(L->m, y)->kind != VAL_PARAM) {
        diag_error(L->diag, n->span, "'tie' needs two stored parameters");
        return;
    }
    char t1[128], t2[128];
    if (!ir_type_equal(ir_type(L->m, x), ir_type(L->m, y))) {
        diag_error(L->diag, n->span, "cannot tie '%s' of type %s to '%s' of type %s",
                   ir_value(L->m, x)->name, ir_format_type(L->m, ir_type(L->m, x), t1, sizeof t1),
                   ir_value(L->m, y)->name, ir_format_type(L->m, ir_type(L->m, y), t2, sizeof t2));
        return;
    }
    vec_push(L->ties, ((TieDecl){x, y, n->span}));
}

static void not_in_module(Lower *L, const AstNode *n, const char *what)
{
    diag_error(L->diag, n->span, "'%s' is only allowed in a model, not in a module", what);
}

/* The body of a module instance (or of the model, whose model-only items were handled
 * by the caller): parameters and instances in source order, then ties. */
static void elaborate_body(Lower *L, Inst *inst, const AstNode *decl, bool is_model)
{
    const AstNode *fwd = NULL;
    for (uint32_t i = 0; i < decl->list2.n && !diag_full(L->diag); i++) {
        const AstNode *n = N(L, decl->list2.v[i]);
        switch (n->kind) {
        case AST_INSTANCE: elaborate_instance(L, inst, n); break;
        case AST_PARAM: elaborate_param(L, inst, n); break;
        case AST_FORWARD:
            if (fwd) {
                diag_error(L->diag, n->span, "second forward in '%s'", decl->str);
                diag_note(L->diag, fwd->span, "the first forward is here");
            }
            fwd = n;
            if (is_model && !n->ival && n->list.n)
                diag_error(L->diag, n->span, "a model's forward takes no parameters; use 'input' declarations");
            if (!is_model && n->ival)
                diag_error(L->diag, n->span, "a module's forward needs its parameter list, e.g. 'forward(x)'");
            break;
        case AST_TIE: break;
        case AST_INPUT: if (!is_model) not_in_module(L, n, "input"); break;
        case AST_OUTPUT: if (!is_model) not_in_module(L, n, "output"); break;
        case AST_WEIGHTS: if (!is_model) not_in_module(L, n, "weights"); break;
        case AST_ELASTIC: if (!is_model) not_in_module(L, n, "elastic"); break;
        case AST_PRUNE: if (!is_model) not_in_module(L, n, "prune"); break;
        default: diag_error(L->diag, n->span, "%s is not allowed here", ast_kind_name(n->kind)); break;
        }
    }
    for (uint32_t i = 0; i < decl->list2.n; i++) {
        const AstNode *n = N(L, decl->list2.v[i]);
        if (n->kind == AST_TIE) elaborate_tie(L, inst, n);
    }
}

/* ---- the model ---------------------------------------------------------------------------- */

static const char *dirname_of(Lower *L, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return "";
    return arena_strndup(L->arena, path, (size_t)(slash - path + 1));
}

static void elaborate_inputs_outputs(Lower *L, const AstNode *model, Scope *s)
{
    for (uint32_t i = 0; i < model->list2.n; i++) {
        const AstNode *n = N(L, model->list2.v[i]);
        if (n->kind == AST_WEIGHTS) {
            if (L->weights_span.file) {
                diag_error(L->diag, n->span, "second 'weights' statement");
                continue;
            }
            L->weights_span = n->span;
            const char *f = N(L, n->a)->str;
            L->weights_path = f[0] == '/' ? f : arena_printf(L->arena, "%s%s",
                                                             dirname_of(L, src_path(L->sm, L->file)), f);
        } else if (n->kind == AST_INPUT) {
            TensorType t;
            if (!eval_tensor_type(L, s, n->a, true, &t, NULL)) {
                define(L, s, n->str, cv_error(), n->span, BIND_INPUT);
                continue;
            }
            if (scope_find(s, n->str, true)) {
                define(L, s, n->str, cv_error(), n->span, BIND_INPUT);
                continue;
            }
            define(L, s, n->str, cv_tensor(ir_add_input(L->m, n->str, &t, n->span)), n->span, BIND_INPUT);
        }
    }
    for (uint32_t i = 0; i < model->list2.n; i++) {
        const AstNode *n = N(L, model->list2.v[i]);
        if (n->kind != AST_OUTPUT) continue;
        TensorType *declared = NULL;
        if (n->a) {
            declared = arena_alloc(L->arena, sizeof *declared);
            if (!eval_tensor_type(L, s, n->a, false, declared, NULL)) declared = NULL;
        }
        define(L, s, n->str, cv_none(), n->span, BIND_OUTPUT);
        Binding *b = scope_find(s, n->str, true);
        if (b && b->kind == BIND_OUTPUT) b->declared = declared;
    }
}

static void finish_outputs(Lower *L, const AstNode *model, Scope *s)
{
    for (uint32_t i = 0; i < model->list2.n; i++) {
        const AstNode *n = N(L, model->list2.v[i]);
        if (n->kind != AST_OUTPUT) continue;
        Binding *b = scope_find(s, n->str, true);
        if (!b || b->kind != BIND_OUTPUT) continue; /* redefinition, reported */
        if (b->v.kind == CV_NONE) {
            diag_error(L->diag, n->span, "output '%s' is never assigned", n->str);
            continue;
        }
        if (b->v.kind != CV_TENSOR) continue;
        ir_add_output(L->m, n->str, b->v.u.t, n->span);
    }
}

static const AstNode *choose_model(Lower *L, const Options *opt, bool *usage_error)
{
    const AstNode *file = N(L, L->ast->root);
    const AstNode *found = NULL;
    unsigned count = 0;
    for (uint32_t i = 0; i < file->list.n; i++) {
        const AstNode *d = N(L, file->list.v[i]);
        if (d->kind != AST_MODEL) continue;
        count++;
        if (opt->model ? strcmp(d->str, opt->model) == 0 : count == 1) found = d;
    }
    if (opt->model && !found) {
        diag_error(L->diag, (Span){0}, "no model named '%s' in '%s'", opt->model, src_path(L->sm, L->file));
        *usage_error = true;
        return NULL;
    }
    if (count == 0) {
        diag_error(L->diag, (Span){0}, "'%s' defines no model", src_path(L->sm, L->file));
        return NULL;
    }
    if (count > 1 && !opt->model) {
        char list[1024] = "";
        size_t o = 0;
        for (uint32_t i = 0; i < file->list.n; i++) {
            const AstNode *d = N(L, file->list.v[i]);
            if (d->kind == AST_MODEL)
                o += (size_t)snprintf(list + o, o < sizeof list ? sizeof list - o : 0, "%s'%s'",
                                      o ? ", " : "", d->str);
        }
        diag_error(L->diag, (Span){0}, "'%s' defines %u models (%s); choose one with --model",
                   src_path(L->sm, L->file), count, list);
        *usage_error = true;
        return NULL;
    }
    return found;
}

Module *lower_model(const Ast *ast, const SourceMgr *sm, uint32_t file, const Options *opt, Diag *d,
                    bool *usage_error)
{
    Lower L = {.diag = d, .sm = sm, .ast = ast, .opt = opt, .file = file, .arena = arena_new()};
    *usage_error = false;
    const AstNode *model = choose_model(&L, opt, usage_error);
    if (!model) {
        arena_free(L.arena);
        return NULL;
    }
    L.m = ir_module_new(model->str);
    unsigned before = diag_errors(d);
    Inst *root = arena_alloc(L.arena, sizeof *root);
    root->path = root->key = "";
    root->scope = L.model_scope = scope_new(&L, NULL);
    root->span = model->span;

    elaborate_elastic(&L, model, root->scope);
    elaborate_inputs_outputs(&L, model, root->scope);
    /* a body skipped for errors in the elastic or input declarations leaves forward's
     * names unbound: forward is then skipped too (one root cause, one error) */
    bool body = diag_errors(d) == before;
    if (body) elaborate_body(&L, root, model, true);
    PruneSet prunes = {0};  /* prune statements and --prune (prune.c), applied after binding */
    prune_collect(&L, model, root->scope, &prunes, usage_error);

    const AstNode *fwd = NULL;
    for (uint32_t i = 0; i < model->list2.n; i++)
        if (N(&L, model->list2.v[i])->kind == AST_FORWARD) fwd = N(&L, model->list2.v[i]);
    if (!fwd) diag_error(d, model->span, "model '%s' has no forward", model->str);
    if (fwd && body && !diag_full(d)) {
        Cv ret;
        L.cur_path = "";
        exec_block(&L, scope_new(&L, root->scope), fwd->a, &ret, true);
    }
    if (diag_errors(d) == before) finish_outputs(&L, model, root->scope);
    if (diag_errors(d) == before && L.m->outputs.n == 0)
        diag_error(d, model->span, "model '%s' declares no output", model->str);
    if (diag_errors(d) == before) bind_weights(&L);
    if (diag_errors(d) == before) prune_apply(&L, &prunes);
    prune_free(&prunes);

    bool ok = diag_errors(d) == before;
    for (uint32_t i = 0; i < L.scopes.n; i++) vec_free(L.scopes.v[i]->b);
    vec_free(L.scopes);
    vec_free(L.params);
    vec_free(L.ties);
    vec_free(L.ignored_keys);
    vec_free(L.moe_rows);
    arena_free(L.arena);
    if (!ok) {
        ir_module_free(L.m);
        return NULL;
    }
    return L.m;
}
