/* SPDX-License-Identifier: MIT
 * import.c - ONNX model -> NDL text + parameters (spec section 9).
 *
 * The protobuf is decoded by protobuf-c (the reader protoc-c generates from onnx.proto);
 * this file checks what the schema cannot (types of attributes, tensor data sizes, names
 * that no one defines, opsets), keeps one ImpValue per ONNX value and writes the NDL
 * model: inputs, outputs, one `param` per initializer that a computation reads (keyed by
 * its ONNX name), and `forward` with one statement per converted node that the outputs
 * need. Converters live in ops.c.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "onnx_impl.h"
#include "../../backends/backend.h"

/* ---- string sets ----------------------------------------------------------------------- */

static uint32_t str_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static void set_grow(StrSet *s);

static uint32_t *set_slot(StrSet *s, const char *key, bool insert)
{
    if (insert && (s->n + 1) * 2 > s->cap) set_grow(s);
    if (!s->cap) return NULL;
    for (uint32_t i = str_hash(key) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (!s->keys[i]) {
            if (!insert) return NULL;
            s->keys[i] = key;
            s->n++;
            return &s->vals[i];
        }
        if (strcmp(s->keys[i], key) == 0) return &s->vals[i];
    }
}

static void set_grow(StrSet *s)
{
    StrSet old = *s;
    s->cap = old.cap ? old.cap * 2 : 64;
    s->keys = xcalloc(s->cap, sizeof *s->keys);
    s->vals = xcalloc(s->cap, sizeof *s->vals);
    s->n = 0;
    for (uint32_t i = 0; i < old.cap; i++)
        if (old.keys[i]) *set_slot(s, old.keys[i], true) = old.vals[i];
    free(old.keys);
    free(old.vals);
}

static void set_free(StrSet *s)
{
    free(s->keys);
    free(s->vals);
}

/* ---- diagnostics ----------------------------------------------------------------------- */

const Onnx__NodeProto *imp_node(const Imp *I) { return I->g->node[I->node]; }

static const char *node_label(const Imp *I, uint32_t node)
{
    const Onnx__NodeProto *n = I->g->node[node];
    if (n->name && n->name[0]) return arena_printf(I->a, "'%s'", n->name);
    return arena_printf(I->a, "#%u", (unsigned)node);
}

void imp_error(Imp *I, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const Onnx__NodeProto *n = imp_node(I);
    diag_file_error(I->d, I->path, "node %s (%s): %s", node_label(I, I->node),
                    n->op_type ? n->op_type : "?", msg);
}

/* ---- identifiers -------------------------------------------------------------------------- */

/* NDL keywords and the built-in names the importer writes: never used for values. */
static const char *const reserved[] = {
    "module", "model", "forward", "return", "param", "elastic", "for", "in", "if", "else", "let",
    "tie", "prune", "weights", "input", "output", "from", "true", "false", "None", "int", "real",
    "bool", "f32", "f16", "bf16", "i32", "i64", "relu", "relu6", "gelu", "gelu_tanh", "silu",
    "sigmoid", "tanh", "hardswish", "hardsigmoid", "exp", "log", "sqrt", "rsqrt", "abs", "neg",
    "softmax", "log_softmax", "sum", "mean", "max", "min", "argmax", "matmul", "linear", "conv2d",
    "max_pool2d", "avg_pool2d", "batch_norm", "layer_norm", "rms_norm", "attention", "reshape",
    "flatten", "permute", "transpose", "concat", "split", "embedding", "take", "kron", "lowrank",
    "cast", "hashed", "hash_route", "recurse", "moe", "round", "floor", "ceil", "make_divisible",
    "add", "sub", "mul", "div",
};

/* A unique NDL identifier made from an ONNX name: other characters become '_', runs of
 * '_' and leading/trailing ones are dropped, a digit start gets 'v', clashes get _2, _3. */
static const char *make_ident(Imp *I, const char *name, const char *fallback)
{
    size_t n = strlen(name);
    char *buf = arena_alloc(I->a, n + 2), *o = buf;
    for (size_t k = 0; k < n; k++) {
        char c = name[k];
        bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!word) c = '_';
        if (c == '_' && (o == buf || o[-1] == '_')) continue;
        *o++ = c;
    }
    while (o > buf && o[-1] == '_') o--;
    *o = 0;
    /* torch.onnx names results "/fc1/Gemm_output_0": "fc1_Gemm" reads better */
    size_t len = (size_t)(o - buf);
    if (len > 9 && strcmp(buf + len - 9, "_output_0") == 0) buf[len - 9] = 0;
    const char *base = buf;
    if (!*buf) base = fallback;
    else if (*buf >= '0' && *buf <= '9') base = arena_printf(I->a, "v%s", buf);
    if (!I->idents.cap)
        for (size_t k = 0; k < sizeof reserved / sizeof *reserved; k++) *set_slot(&I->idents, reserved[k], true) = 1;
    const char *id = base;
    for (unsigned k = 2; set_slot(&I->idents, id, false); k++) id = arena_printf(I->a, "%s_%u", base, k);
    *set_slot(&I->idents, id, true) = 1;
    return id;
}

/* ---- values ------------------------------------------------------------------------------- */

ImpValue *imp_val(Imp *I, uint32_t id) { return &I->values.v[id]; }

static uint32_t new_value(Imp *I, const char *onnx_name)
{
    /* names outlive the protobuf (parameter keys) */
    vec_push(I->values, ((ImpValue){.onnx_name = onnx_name ? arena_strdup(I->a, onnx_name) : NULL}));
    uint32_t id = I->values.n - 1;
    if (onnx_name && onnx_name[0]) *set_slot(&I->by_name, I->values.v[id].onnx_name, true) = id;
    return id;
}

static uint32_t find_value(Imp *I, const char *name)
{
    uint32_t *s = set_slot(&I->by_name, name, false);
    return s ? *s : 0;
}

uint32_t imp_input(Imp *I, unsigned k, bool *ok)
{
    const Onnx__NodeProto *n = imp_node(I);
    if (k >= n->n_input || !n->input[k] || !n->input[k][0]) return 0;
    uint32_t v = find_value(I, n->input[k]);
    if (!v && *ok) {
        imp_error(I, "input '%s' is not defined by a graph input, an initializer or an earlier node",
                  n->input[k]);
        *ok = false;
    }
    return v;
}

uint32_t imp_node_input(Imp *I, uint32_t node, unsigned k)
{
    const Onnx__NodeProto *n = I->g->node[node];
    if (k >= n->n_input || !n->input[k][0]) return 0;
    return find_value(I, n->input[k]);
}

const Onnx__NodeProto *imp_producer(Imp *I, uint32_t v, const char *op, uint32_t *node)
{
    if (!v || !imp_val(I, v)->def_node) return NULL;
    uint32_t k = imp_val(I, v)->def_node - 1;
    const Onnx__NodeProto *n = I->g->node[k];
    if (strcmp(n->op_type, op) != 0) return NULL;
    if (node) *node = k;
    return n;
}

unsigned imp_consumers(const Imp *I, const char *name)
{
    unsigned c = 0;
    for (size_t k = 0; k < I->g->n_node; k++)
        for (size_t i = 0; i < I->g->node[k]->n_input; i++) c += strcmp(I->g->node[k]->input[i], name) == 0;
    for (size_t k = 0; k < I->g->n_output; k++) c += I->g->output[k]->name && strcmp(I->g->output[k]->name, name) == 0;
    return c;
}

/* ONNX element type -> NDL dtype; NULL when NDL has none. */
static const char *ndl_dtype_of(int32_t et, bool *is_float)
{
    switch (et) {
    case OT_FLOAT: case OT_FLOAT16: case OT_DOUBLE: case OT_BFLOAT16: *is_float = true; return "f32";
    case OT_INT64: case OT_UINT32: *is_float = false; return "i64";
    case OT_INT32: case OT_INT16: case OT_INT8: case OT_UINT8: case OT_UINT16: *is_float = false; return "i32";
    case OT_BOOL: *is_float = false; return "bool";
    default: return NULL;
    }
}

static float half_to_float(uint16_t h, bool bf16)
{
    if (bf16) {
        uint32_t u = (uint32_t)h << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    int e = (h >> 10) & 31, m = h & 1023;
    float x = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(m | 1024), e - 25);
    return (h & 0x8000) ? -x : x;
}

/* Decodes a TensorProto into a constant value (dims, data). `what` names it in errors. */
bool imp_tensor_to_const(Imp *I, const Onnx__TensorProto *t, ImpValue *v, const char *what)
{
    char where[300];
    snprintf(where, sizeof where, "%s", what);
    if (t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL || t->n_external_data) {
        diag_file_error(I->d, I->path, "%s: external tensor data is not supported (save the model "
                        "with its weights inside the .onnx file)", where);
        return false;
    }
    const char *dt = ndl_dtype_of(t->data_type, &v->is_float);
    if (!dt) {
        diag_file_error(I->d, I->path, "%s: tensor element type %d is not supported", where, (int)t->data_type);
        return false;
    }
    v->ndl_dtype = dt;
    if (t->n_dims > IMP_MAX_RANK) {
        diag_file_error(I->d, I->path, "%s: rank %zu is above %d", where, t->n_dims, IMP_MAX_RANK);
        return false;
    }
    v->rank = (int)t->n_dims;
    int64_t n = 1;
    for (size_t k = 0; k < t->n_dims; k++) {
        if (t->dims[k] < 0 || t->dims[k] > ((int64_t)1 << 40) || (t->dims[k] && n > ((int64_t)1 << 31) / t->dims[k])) {
            diag_file_error(I->d, I->path, "%s: dimension %lld is negative or too large", where,
                            (long long)t->dims[k]);
            return false;
        }
        v->dims[k] = t->dims[k];
        n *= t->dims[k];
    }
    v->nelem = n;
    v->kind = VK_CONST;
    size_t width;
    switch (t->data_type) {
    case OT_DOUBLE: case OT_INT64: case OT_UINT32: width = t->data_type == OT_UINT32 ? 4 : 8; break;
    case OT_FLOAT: case OT_INT32: width = 4; break;
    case OT_FLOAT16: case OT_BFLOAT16: case OT_INT16: case OT_UINT16: width = 2; break;
    default: width = 1; break;
    }
    size_t have;
    const unsigned char *raw = NULL;
    if (t->has_raw_data) {
        raw = t->raw_data.data;
        have = t->raw_data.len / width;
        if (t->raw_data.len % width) have = (size_t)-1;
    } else {
        switch (t->data_type) {
        case OT_FLOAT: have = t->n_float_data; break;
        case OT_DOUBLE: have = t->n_double_data; break;
        case OT_INT64: have = t->n_int64_data; break;
        case OT_UINT32: have = t->n_uint64_data; break;
        default: have = t->n_int32_data; break;
        }
    }
    if (have != (size_t)n) {
        diag_file_error(I->d, I->path, "%s: holds %s%zu elements of data but its shape %s needs %lld", where,
                        raw ? "a byte count that is not " : "", raw && have == (size_t)-1 ? (size_t)0 : have,
                        imp_dims_text(I, v->rank, v->dims), (long long)n);
        return false;
    }
    if (v->is_float) v->f = arena_alloc(I->a, (size_t)n * sizeof(float) + 1);
    else v->i = arena_alloc(I->a, (size_t)n * sizeof(int64_t) + 1);
    for (int64_t k = 0; k < n; k++) {
        const unsigned char *p = raw ? raw + (size_t)k * width : NULL;
        switch (t->data_type) {
        case OT_FLOAT: if (p) memcpy(&v->f[k], p, 4); else v->f[k] = t->float_data[k]; break;
        case OT_DOUBLE: { double x; if (p) memcpy(&x, p, 8); else x = t->double_data[k]; v->f[k] = (float)x; break; }
        case OT_FLOAT16: case OT_BFLOAT16: {
            uint16_t h;
            if (p) memcpy(&h, p, 2); else h = (uint16_t)t->int32_data[k];
            v->f[k] = half_to_float(h, t->data_type == OT_BFLOAT16);
            break;
        }
        case OT_INT64: if (p) memcpy(&v->i[k], p, 8); else v->i[k] = t->int64_data[k]; break;
        case OT_UINT32: { uint32_t u; if (p) memcpy(&u, p, 4); else u = (uint32_t)t->uint64_data[k]; v->i[k] = u; break; }
        case OT_INT32: { int32_t x; if (p) memcpy(&x, p, 4); else x = t->int32_data[k]; v->i[k] = x; break; }
        case OT_INT16: { int16_t x; if (p) memcpy(&x, p, 2); else x = (int16_t)t->int32_data[k]; v->i[k] = x; break; }
        case OT_UINT16: { uint16_t x; if (p) memcpy(&x, p, 2); else x = (uint16_t)t->int32_data[k]; v->i[k] = x; break; }
        case OT_INT8: v->i[k] = p ? (int8_t)*p : (int8_t)t->int32_data[k]; break;
        case OT_UINT8: v->i[k] = p ? *p : (uint8_t)t->int32_data[k]; break;
        default: v->i[k] = (p ? *p : t->int32_data[k]) != 0; break; /* BOOL */
        }
    }
    return true;
}

/* ---- attributes --------------------------------------------------------------------------- */

const Onnx__AttributeProto *imp_attr_find(const Imp *I, const char *name)
{
    const Onnx__NodeProto *n = imp_node(I);
    for (size_t k = 0; k < n->n_attribute; k++)
        if (n->attribute[k]->name && strcmp(n->attribute[k]->name, name) == 0) return n->attribute[k];
    return NULL;
}

static bool attr_typed(Imp *I, const Onnx__AttributeProto *a, int type, const char *want, bool *ok)
{
    if ((int)a->type == type) return true;
    if (*ok) imp_error(I, "attribute '%s' must be %s", a->name, want);
    *ok = false;
    return false;
}

int64_t imp_attr_int(Imp *I, const char *name, int64_t def, bool *ok)
{
    const Onnx__AttributeProto *a = imp_attr_find(I, name);
    if (!a) return def;
    return attr_typed(I, a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT, "an int", ok) ? a->i : def;
}

float imp_attr_float(Imp *I, const char *name, float def, bool *ok)
{
    const Onnx__AttributeProto *a = imp_attr_find(I, name);
    if (!a) return def;
    return attr_typed(I, a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT, "a float", ok) ? a->f : def;
}

int64_t *imp_attr_ints(Imp *I, const char *name, size_t *n, bool *ok)
{
    const Onnx__AttributeProto *a = imp_attr_find(I, name);
    *n = 0;
    if (!a || !attr_typed(I, a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS, "a list of ints", ok)) return NULL;
    int64_t *r = arena_alloc(I->a, (a->n_ints + 1) * sizeof *r);
    if (a->n_ints) memcpy(r, a->ints, a->n_ints * sizeof *r);
    *n = a->n_ints;
    return r;
}

/* ---- text pieces ------------------------------------------------------------------------- */

int64_t sym_dim(int k, int64_t coef) { return -(coef * SYM_SLOTS + k + 1); }

bool dim_symbol(int64_t d, int *k, int64_t *coef)
{
    if (d >= 0 || d == DIM_UNKNOWN) return false;
    *k = (int)((-d - 1) % SYM_SLOTS);
    *coef = (-d - 1) / SYM_SLOTS;
    return true;
}

int64_t dim_mul(int64_t a, int64_t b)
{
    int k;
    int64_t c;
    if (a == DIM_UNKNOWN || b == DIM_UNKNOWN || (a < 0 && b < 0)) return DIM_UNKNOWN;
    if (a < 0) { int64_t t = a; a = b; b = t; }
    if (b >= 0) return a && b > INT64_MAX / a ? DIM_UNKNOWN : a * b;
    dim_symbol(b, &k, &c);
    return a == 0 ? 0 : c > MAX_COEF / a ? DIM_UNKNOWN : sym_dim(k, c * a);
}

const char *imp_dim_text(Imp *I, int64_t dim)
{
    int k;
    int64_t c;
    if (dim >= 0) return arena_printf(I->a, "%lld", (long long)dim);
    if (!dim_symbol(dim, &k, &c)) return "?";
    if ((uint32_t)k >= I->symbols.n) return arena_printf(I->a, "%lld", (long long)dim); /* not a size */
    return c == 1 ? I->symbols.v[k] : arena_printf(I->a, "%s*%lld", I->symbols.v[k], (long long)c);
}

const char *imp_dims_text(Imp *I, int rank, const int64_t *dims)
{
    const char *s = "[";
    for (int k = 0; k < rank; k++) s = arena_printf(I->a, "%s%s%s", s, k ? ", " : "", imp_dim_text(I, dims[k]));
    return arena_printf(I->a, "%s]", s);
}

const char *imp_ints_text(Imp *I, size_t n, const int64_t *v)
{
    const char *s = "[";
    for (size_t k = 0; k < n; k++) s = arena_printf(I->a, "%s%s%lld", s, k ? ", " : "", (long long)v[k]);
    return arena_printf(I->a, "%s]", s);
}

/* A real literal that reads back as the same float. */
const char *imp_real_text(Imp *I, double x)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.9g", x);
    if (!strpbrk(buf, ".en")) strcat(buf, ".0");
    return x < 0 ? arena_printf(I->a, "(%s)", buf) : arena_strdup(I->a, buf);
}

/* Printable ASCII without quotes or backslashes: safe in an NDL string or comment. */
static bool plain_text(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f || *s == '"' || *s == '\\') return false;
    return true;
}

/* Text from the file for a comment: other bytes become '?'. */
static const char *comment_text(Imp *I, const char *s)
{
    char *r = arena_strdup(I->a, s ? s : "");
    for (char *c = r; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f) *c = '?';
    return r;
}

/* ---- operands ------------------------------------------------------------------------------ */

const char *imp_ref(Imp *I, uint32_t v)
{
    ImpValue *x = imp_val(I, v);
    if (x->kind == VK_CONST && !x->ident) {
        x->ident = make_ident(I, x->key ? x->key : x->onnx_name ? x->onnx_name : "c", "c");
        if (!x->key) x->key = x->onnx_name && x->onnx_name[0] ? x->onnx_name : x->ident;
        if (!plain_text(x->key)) x->key = x->ident; /* keys are written as NDL strings */
    }
    vec_push(I->uses, v);
    return x->ident;
}

bool imp_const_scalar(const Imp *I, uint32_t v, double *x)
{
    const ImpValue *c = &I->values.v[v];
    if (!v || c->kind != VK_CONST || c->nelem != 1) return false;
    *x = c->f ? (double)c->f[0] : (double)c->i[0];
    return true;
}

const char *imp_ref_or_literal(Imp *I, uint32_t v, int other_rank)
{
    double x;
    if (imp_const_scalar(I, v, &x) && imp_val(I, v)->rank <= other_rank && isfinite(x)) {
        if (imp_val(I, v)->is_float) return imp_real_text(I, x);
        return x < 0 ? arena_printf(I->a, "(%lld)", (long long)x) : arena_printf(I->a, "%lld", (long long)x);
    }
    return imp_ref(I, v);
}

/* ---- definitions --------------------------------------------------------------------------- */

static uint32_t output_value(Imp *I, unsigned k)
{
    const Onnx__NodeProto *n = imp_node(I);
    const char *name = k < n->n_output ? n->output[k] : "";
    uint32_t v = new_value(I, name && name[0] ? name : NULL);
    imp_val(I, v)->def_node = I->node + 1;
    return v;
}

static uint32_t push_stmt(Imp *I, const char *rhs)
{
    Stmt s = {.rhs = rhs, .node = I->node, .nuses = I->uses.n};
    s.uses = arena_alloc(I->a, (I->uses.n + 1) * sizeof *s.uses);
    if (I->uses.n) memcpy(s.uses, I->uses.v, I->uses.n * sizeof *s.uses);
    I->uses.n = 0;
    vec_push(I->stmts, s);
    return I->stmts.n;
}

static void set_type(ImpValue *x, bool is_float, const char *dt, int rank, const int64_t *dims)
{
    x->is_float = is_float;
    x->ndl_dtype = dt;
    x->rank = rank;
    for (int k = 0; k < rank; k++) x->dims[k] = dims[k];
}

uint32_t imp_def_tensor(Imp *I, unsigned k, bool is_float, const char *ndl_dtype, int rank,
                    const int64_t *dims_in, const char *rhs)
{
    int64_t dims[IMP_MAX_RANK]; /* dims_in may point into the values, which output_value moves */
    memcpy(dims, dims_in, (size_t)rank * sizeof *dims);
    uint32_t v = output_value(I, k);
    ImpValue *x = imp_val(I, v);
    x->kind = VK_TENSOR;
    set_type(x, is_float, ndl_dtype, rank, dims);
    x->ident = make_ident(I, x->onnx_name ? x->onnx_name : "t", "t");
    uint32_t s = push_stmt(I, rhs);
    x->stmt = s;
    I->stmts.v[s - 1].outs[0] = v;
    I->stmts.v[s - 1].nout = 1;
    return v;
}

void imp_def_tuple(Imp *I, unsigned n, bool is_float, const char *ndl_dtype, int rank,
               const int64_t dims[][IMP_MAX_RANK], const char *rhs)
{
    uint32_t s = push_stmt(I, rhs);
    for (unsigned k = 0; k < n; k++) {
        uint32_t v = output_value(I, k);
        ImpValue *x = imp_val(I, v);
        x->kind = VK_TENSOR;
        set_type(x, is_float, ndl_dtype, rank, dims[k]);
        x->ident = make_ident(I, x->onnx_name ? x->onnx_name : "t", "t");
        x->stmt = s;
        I->stmts.v[s - 1].outs[k] = v;
    }
    I->stmts.v[s - 1].nout = n;
}

void imp_def_alias(Imp *I, unsigned k, uint32_t src)
{
    const Onnx__NodeProto *n = imp_node(I);
    if (k >= n->n_output || !n->output[k][0]) return;
    ImpValue copy = *imp_val(I, src);
    uint32_t v = new_value(I, n->output[k]);
    const char *name = imp_val(I, v)->onnx_name;
    *imp_val(I, v) = copy;
    imp_val(I, v)->onnx_name = name;
    I->uses.n = 0;
}

uint32_t imp_def_const(Imp *I, unsigned k, bool is_float, int rank, const int64_t *dims_in, float *f, int64_t *i)
{
    int64_t dims[IMP_MAX_RANK];
    memcpy(dims, dims_in, (size_t)rank * sizeof *dims);
    uint32_t v = output_value(I, k);
    ImpValue *x = imp_val(I, v);
    x->kind = VK_CONST;
    set_type(x, is_float, is_float ? "f32" : "i64", rank, dims);
    x->nelem = 1;
    for (int d = 0; d < rank; d++) x->nelem *= dims[d];
    x->f = f;
    x->i = i;
    I->uses.n = 0;
    return v;
}

uint32_t imp_new_param(Imp *I, const char *key, int rank, const int64_t *dims, float *f)
{
    uint32_t v = new_value(I, NULL);
    ImpValue *x = imp_val(I, v);
    x->kind = VK_CONST;
    set_type(x, true, "f32", rank, dims);
    x->nelem = 1;
    for (int d = 0; d < rank; d++) x->nelem *= dims[d];
    x->f = f;
    x->key = key;
    return v;
}

void imp_defer_error(Imp *I, uint32_t v, const char *msg)
{
    I->stmts.v[imp_val(I, v)->stmt - 1].error = msg;
}

/* ---- the graph ------------------------------------------------------------------------------- */

/* Declares a graph input: its type must be a tensor of an NDL dtype with a known rank;
 * dims named by dim_param become NDL symbols. */
static bool add_input(Imp *I, const Onnx__ValueInfoProto *vi)
{
    const char *name = vi->name ? vi->name : "";
    const Onnx__TypeProto *tp = vi->type;
    const Onnx__TypeProto__Tensor *tt = tp && tp->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ? tp->tensor_type : NULL;
    bool is_float = false;
    const char *dt = tt ? ndl_dtype_of(tt->elem_type, &is_float) : NULL;
    if (!tt || !dt || !tt->shape) {
        diag_file_error(I->d, I->path, "graph input '%s': %s", name,
                        !tt ? "is not a tensor" : !dt ? "element type is not supported" : "has no shape");
        return false;
    }
    if (tt->shape->n_dim > IMP_MAX_RANK) {
        diag_file_error(I->d, I->path, "graph input '%s': rank %zu is above %d", name, tt->shape->n_dim, IMP_MAX_RANK);
        return false;
    }
    uint32_t v = new_value(I, name);
    ImpValue *x = imp_val(I, v);
    x->kind = VK_INPUT;
    x->is_float = is_float;
    x->ndl_dtype = dt;
    x->rank = (int)tt->shape->n_dim;
    x->ident = make_ident(I, name, "x");
    for (int k = 0; k < x->rank; k++) {
        const Onnx__TensorShapeProto__Dimension *dim = tt->shape->dim[k];
        if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && dim->dim_value >= 0 &&
            dim->dim_value < ((int64_t)1 << 40)) {
            x->dims[k] = dim->dim_value;
            continue;
        }
        const char *sym = dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM && dim->dim_param
                              ? dim->dim_param : NULL;
        if (!sym && dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
            diag_file_error(I->d, I->path, "graph input '%s': dimension %lld is negative or too large", name,
                            (long long)dim->dim_value);
            return false;
        }
        /* a named dim is a symbol shared by every input that names it */
        const char *key = sym ? arena_printf(I->a, "sym:%s", sym) : arena_printf(I->a, "sym#%s#%d", name, k);
        uint32_t *slot = set_slot(&I->by_name, key, false);
        if (!slot && I->symbols.n >= SYM_SLOTS) {
            diag_file_error(I->d, I->path, "graph input '%s': more than %d symbolic dimensions", name, SYM_SLOTS);
            return false;
        }
        if (!slot) {
            const char *ident = make_ident(I, sym ? sym : "S", "S");
            vec_push(I->symbols, ident);
            *set_slot(&I->by_name, key, true) = I->symbols.n; /* symbol index + 1 */
            slot = set_slot(&I->by_name, key, false);
        }
        x->dims[k] = sym_dim((int)*slot - 1, 1);
    }
    return true;
}

/* Marks what the graph outputs need; reports the first deferred error among it. */
static bool mark_live(Imp *I, uint32_t v)
{
    VEC(uint32_t) work = {0};
    vec_push(work, v);
    bool ok = true;
    while (work.n) {
        ImpValue *x = imp_val(I, work.v[--work.n]);
        if (x->kind == VK_CONST) {
            x->param_used = true;
            bool symbolic = false;
            for (int64_t k = 0; x->sym && k < x->nelem; k++) symbolic = symbolic || x->sym[k];
            if (symbolic && ok) {
                I->node = x->def_node ? x->def_node - 1 : 0;
                imp_error(I, "a tensor computed from a symbolic size is not supported (only shapes may use it)");
                ok = false;
            }
            continue;
        }
        if (x->kind != VK_TENSOR) continue;
        Stmt *s = &I->stmts.v[x->stmt - 1];
        if (s->live) continue;
        s->live = true;
        if (s->error && ok) {
            I->node = s->node;
            imp_error(I, "%s", s->error);
            ok = false;
        }
        for (uint32_t k = 0; k < s->nuses; k++) vec_push(work, s->uses[k]);
    }
    vec_free(work);
    return ok;
}

typedef struct Text {
    char *s;
    size_t n, cap;
} Text;

static void put(Text *t, const char *fmt, ...) NDLC_PRINTF(2, 3);
static void put(Text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (t->n + (size_t)need + 1 > t->cap) {
        t->cap = (t->n + (size_t)need + 1) * 2;
        t->s = xrealloc(t->s, t->cap);
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->n, (size_t)need + 1, fmt, ap);
    va_end(ap);
    t->n += (size_t)need;
}

/* Writes the NDL text and collects the parameters. */
static void write_ndl(Imp *I, Onnx__ModelProto *mp, const char *model_ident, const char *weights_ref,
                      const char *const *out_names, OnnxResult *out)
{
    Text t = {0};
    const char *slash = strrchr(I->path, '/');
    put(&t, "# Imported by 'ndlc import' from %s", comment_text(I, slash ? slash + 1 : I->path));
    if (mp->producer_name && mp->producer_name[0])
        put(&t, " (%s %s, opset %lld)", comment_text(I, mp->producer_name), comment_text(I, mp->producer_version),
            (long long)I->opset);
    put(&t, ".\n# Values are named after the ONNX values; parameters are read from the ONNX initializers' names.\n");
    put(&t, "model %s {\n", model_ident);
    Onnx__GraphProto *g = I->g;
    for (size_t k = 0; k < g->n_input; k++) {
        uint32_t v = find_value(I, g->input[k]->name ? g->input[k]->name : "");
        const ImpValue *x = imp_val(I, v);
        if (x->kind != VK_INPUT) continue; /* an initializer listed as input (IR < 4) */
        put(&t, "  input %s: %s%s;\n", x->ident, x->ndl_dtype, imp_dims_text(I, x->rank, x->dims));
    }
    for (size_t k = 0; k < g->n_output; k++) put(&t, "  output %s;\n", out_names[k]);
    if (weights_ref) {
        put(&t, "  weights \"");
        for (const char *c = weights_ref; *c; c++) put(&t, *c == '"' || *c == '\\' ? "\\%c" : "%c", *c);
        put(&t, "\";\n");
    }
    /* parameters, in the order of their first use */
    VEC(NdlrtStOut) tensors = {0};
    bool any = false;
    for (uint32_t v = 1; v < I->values.n; v++) {
        ImpValue *x = imp_val(I, v);
        if (x->kind != VK_CONST || !x->param_used) continue;
        if (!any) put(&t, "\n");
        any = true;
        const char *dt = x->is_float ? "f32" : x->ndl_dtype;
        put(&t, "  param %s: %s%s", x->ident, dt, imp_dims_text(I, x->rank, x->dims));
        if (strcmp(x->key, x->ident) != 0) put(&t, " from \"%s\"", x->key);
        put(&t, ";\n");
        /* the values are freed after the import; the result keeps its own shapes */
        int64_t *shape = arena_alloc(I->a, (size_t)(x->rank + 1) * sizeof *shape);
        memcpy(shape, x->dims, (size_t)x->rank * sizeof *shape);
        NdlrtStOut o = {.name = x->key, .rank = x->rank, .shape = shape};
        if (x->is_float) {
            o.dtype = NDLRT_ST_F32;
            o.data = x->f;
        } else if (strcmp(x->ndl_dtype, "bool") == 0) {
            uint8_t *b = arena_alloc(I->a, (size_t)x->nelem + 1);
            for (int64_t k = 0; k < x->nelem; k++) b[k] = x->i[k] != 0;
            o.dtype = NDLRT_ST_BOOL;
            o.data = b;
        } else if (strcmp(x->ndl_dtype, "i32") == 0) {
            int32_t *b = arena_alloc(I->a, (size_t)x->nelem * 4 + 1);
            for (int64_t k = 0; k < x->nelem; k++) b[k] = (int32_t)x->i[k];
            o.dtype = NDLRT_ST_I32;
            o.data = b;
        } else {
            o.dtype = NDLRT_ST_I64;
            o.data = x->i;
        }
        vec_push(tensors, o);
    }
    /* A statement that computes an output nothing else reads assigns the output directly;
     * other outputs are assigned at the end. */
    uint32_t *readers = arena_alloc(I->a, (I->values.n + 1) * sizeof *readers);
    for (uint32_t s = 0; s < I->stmts.n; s++)
        for (uint32_t k = 0; I->stmts.v[s].live && k < I->stmts.v[s].nuses; k++) readers[I->stmts.v[s].uses[k]]++;
    const char **assigned = arena_alloc(I->a, (I->values.n + 1) * sizeof *assigned);
    bool *direct = arena_alloc(I->a, g->n_output + 1);
    for (size_t k = 0; k < g->n_output; k++) {
        uint32_t v = find_value(I, g->output[k]->name);
        const ImpValue *x = imp_val(I, v);
        if (x->kind == VK_TENSOR && !assigned[v] && readers[v] == 0 && I->stmts.v[x->stmt - 1].nout == 1) {
            assigned[v] = out_names[k];
            direct[k] = true;
        }
    }
    put(&t, "\n  forward {\n");
    for (uint32_t s = 0; s < I->stmts.n; s++) {
        const Stmt *st = &I->stmts.v[s];
        if (!st->live) continue;
        const Onnx__NodeProto *n = g->node[st->node];
        if (st->nout == 1 && assigned[st->outs[0]]) {
            put(&t, "    %s = %s;", assigned[st->outs[0]], st->rhs);
        } else if (st->nout == 1) {
            put(&t, "    let %s = %s;", imp_val(I, st->outs[0])->ident, st->rhs);
        } else {
            put(&t, "    let (");
            for (unsigned k = 0; k < st->nout; k++) put(&t, "%s%s", k ? ", " : "", imp_val(I, st->outs[k])->ident);
            put(&t, ") = %s;", st->rhs);
        }
        put(&t, "  # %s%s%s\n", comment_text(I, n->op_type), n->name && n->name[0] ? " " : "", comment_text(I, n->name));
    }
    for (size_t k = 0; k < g->n_output; k++)
        if (!direct[k]) put(&t, "    %s = %s;\n", out_names[k], imp_val(I, find_value(I, g->output[k]->name))->ident);
    put(&t, "  }\n}\n");
    out->ndl = arena_strndup(I->a, t.s, t.n);
    out->ndl_len = t.n;
    free(t.s);
    out->tensors = arena_alloc(I->a, (tensors.n + 1) * sizeof *out->tensors);
    if (tensors.n) memcpy(out->tensors, tensors.v, tensors.n * sizeof *tensors.v);
    out->ntensors = tensors.n;
    vec_free(tensors);
}

static bool import_graph(Imp *I, Onnx__ModelProto *mp, const char *model_name, const char *weights_ref,
                         OnnxResult *out)
{
    Onnx__GraphProto *g = I->g;
    vec_push(I->values, ((ImpValue){0}));
    for (size_t k = 0; k < g->n_initializer; k++) {
        const Onnx__TensorProto *t = g->initializer[k];
        const char *name = t->name ? t->name : "";
        if (!name[0] || find_value(I, name)) {
            diag_file_error(I->d, I->path, "initializer #%zu: %s", k, name[0] ? "its name is used twice" : "has no name");
            return false;
        }
        uint32_t v = new_value(I, name);
        char what[300];
        snprintf(what, sizeof what, "initializer '%s'", name);
        if (!imp_tensor_to_const(I, t, imp_val(I, v), what)) return false;
    }
    if (g->n_sparse_initializer) {
        diag_file_error(I->d, I->path, "sparse initializers are not supported");
        return false;
    }
    /* output names are reserved first so that they keep their spelling */
    const char **out_names = arena_alloc(I->a, (g->n_output + 1) * sizeof *out_names);
    for (size_t k = 0; k < g->n_input; k++) {
        const char *name = g->input[k]->name ? g->input[k]->name : "";
        if (find_value(I, name) && imp_val(I, find_value(I, name))->kind == VK_CONST) continue;
        if (!name[0] || find_value(I, name)) {
            diag_file_error(I->d, I->path, "graph input #%zu: %s", k, name[0] ? "its name is used twice" : "has no name");
            return false;
        }
        if (!add_input(I, g->input[k])) return false;
    }
    if (!g->n_output) {
        diag_file_error(I->d, I->path, "the graph has no outputs");
        return false;
    }
    for (size_t k = 0; k < g->n_output; k++) out_names[k] = make_ident(I, g->output[k]->name ? g->output[k]->name : "y", "y");
    for (I->node = 0; I->node < g->n_node; I->node++) {
        const Onnx__NodeProto *n = g->node[I->node];
        if (!n->op_type) {
            diag_file_error(I->d, I->path, "node %s has no op_type", node_label(I, I->node));
            return false;
        }
        if (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx") != 0) {
            imp_error(I, "operator domain '%s' is not supported", n->domain);
            return false;
        }
        for (size_t k = 0; k < n->n_output; k++) {
            if (n->output[k][0] && find_value(I, n->output[k])) {
                imp_error(I, "output '%s' is already defined", n->output[k]);
                return false;
            }
        }
        I->uses.n = 0;
        if (!imp_convert_node(I)) return false;
    }
    bool ok = true;
    for (size_t k = 0; k < g->n_output && ok; k++) {
        const char *name = g->output[k]->name ? g->output[k]->name : "";
        uint32_t v = find_value(I, name);
        if (!v) {
            diag_file_error(I->d, I->path, "graph output '%s' is not computed by any node", name);
            return false;
        }
        ok = mark_live(I, v);
        if (ok && imp_val(I, v)->kind == VK_CONST) imp_ref(I, v); /* a constant output reads its parameter */
        I->uses.n = 0;
    }
    if (!ok) return false;
    const char *model_ident = make_ident(I, model_name, "model");
    write_ndl(I, mp, model_ident, weights_ref, out_names, out);
    return true;
}

bool onnx_import_buffer(const void *buf, size_t len, const char *path, const char *model_name,
                        const char *weights_ref, Diag *d, OnnxResult *out)
{
    memset(out, 0, sizeof *out);
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
    if (!mp) {
        diag_file_error(d, path, "not a valid ONNX model (the protobuf is truncated or malformed)");
        return false;
    }
    Imp I = {.path = path, .d = d, .a = arena_new(), .g = mp->graph};
    bool ok = true;
    if (!mp->graph) {
        diag_file_error(d, path, "the model has no graph");
        ok = false;
    }
    bool have_opset = false;
    for (size_t k = 0; ok && k < mp->n_opset_import; k++) {
        const Onnx__OperatorSetIdProto *o = mp->opset_import[k];
        if (o->domain && o->domain[0] && strcmp(o->domain, "ai.onnx") != 0) continue;
        have_opset = true;
        I.opset = o->version;
    }
    if (ok && (!have_opset || I.opset < 13 || I.opset > 17)) {
        if (have_opset)
            diag_file_error(d, path, "opset %lld is not supported (ndlc imports opsets 13 to 17; re-export with "
                            "torch.onnx.export(..., opset_version=17))", (long long)I.opset);
        else
            diag_file_error(d, path, "the model imports no ai.onnx opset");
        ok = false;
    }
    if (ok) ok = import_graph(&I, mp, model_name, weights_ref, out);
    vec_free(I.values);
    vec_free(I.stmts);
    vec_free(I.uses);
    vec_free(I.symbols);
    set_free(&I.by_name);
    set_free(&I.idents);
    onnx__model_proto__free_unpacked(mp, NULL);
    if (!ok) {
        arena_free(I.a);
        memset(out, 0, sizeof *out);
        return false;
    }
    out->arena = I.a;
    return true;
}

void onnx_result_free(OnnxResult *r)
{
    if (r->arena) arena_free(r->arena);
    memset(r, 0, sizeof *r);
}

/* ---- commands ----------------------------------------------------------------------------- */

/* Reads a whole file (malloc'd); NULL with a message on failure. */
static unsigned char *read_file(const char *path, size_t *len, Diag *d)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag_file_error(d, path, "cannot open: %s", strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = xmalloc(cap);
    for (;;) {
        if (n == cap) {
            if (cap >= ((size_t)1 << 31)) {
                diag_file_error(d, path, "the file is larger than 2 GiB, the limit of protobuf");
                free(buf);
                fclose(f);
                return NULL;
            }
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    bool err = ferror(f);
    fclose(f);
    if (err) {
        diag_file_error(d, path, "cannot read: %s", strerror(errno));
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* The file name without directory and extension. */
static char *stem_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *b = slash ? slash + 1 : path;
    const char *dot = strrchr(b, '.');
    size_t n = dot && dot != b ? (size_t)(dot - b) : strlen(b);
    char *s = xmalloc(n + 1);
    memcpy(s, b, n);
    s[n] = 0;
    return s;
}

static bool import_file(const char *path, const char *model_name, const char *weights_ref, Diag *d,
                        OnnxResult *r)
{
    size_t len = 0;
    unsigned char *buf = read_file(path, &len, d);
    if (!buf) return false;
    bool ok = onnx_import_buffer(buf, len, path, model_name, weights_ref, d, r);
    free(buf);
    return ok;
}

int onnx_import_command(const Options *opt, const char *weights, Diag *d)
{
    const char *out = opt->output; /* options_parse requires -o */
    const char *wslash = strrchr(weights, '/');
    char *model = stem_of(opt->input);
    OnnxResult r;
    int status = 1;
    if (import_file(opt->input, model, wslash ? wslash + 1 : weights, d, &r)) {
        char err[512];
        if (ndlrt_st_write(weights, r.tensors, r.ntensors, err, sizeof err) != 0) {
            diag_file_error(d, weights, "%s", err);
        } else {
            /* the NDL text: a temporary beside it, installed in place (backends/output.c) */
            int fd = -1;
            char *tmp = backend_temp_create(out, false, &fd, err, sizeof err);
            FILE *f = tmp ? fdopen(fd, "wb") : NULL;
            if (tmp && !f) close(fd);
            bool ok = f && fwrite(r.ndl, 1, r.ndl_len, f) == r.ndl_len;
            if (f) ok = fclose(f) == 0 && ok;
            if (!tmp) diag_file_error(d, out, "%s", err);
            else if (!ok) diag_file_error(d, out, "cannot write: %s", strerror(errno));
            else if (!backend_install(tmp, out, err, sizeof err)) diag_file_error(d, out, "%s", err);
            else status = 0;
            if (tmp && status != 0 && strcmp(tmp, out) != 0) unlink(tmp);
            free(tmp);
        }
        onnx_result_free(&r);
    }
    free(model); /* after a failure the driver removes both outputs (regular files only) */
    return status;
}

bool onnx_prepare_compile(const Options *opt, SourceMgr *sm, Diag *d, uint32_t *file, char **weights_tmp)
{
    *weights_tmp = NULL;
    char *model = stem_of(opt->input);
    OnnxResult r;
    bool ok = import_file(opt->input, model, NULL, d, &r);
    free(model);
    if (!ok) return false;
    const char *tmpdir = getenv("TMPDIR");
    char *dir = xmalloc(strlen(tmpdir && tmpdir[0] ? tmpdir : "/tmp") + 32);
    sprintf(dir, "%s/ndlc-onnx-XXXXXX", tmpdir && tmpdir[0] ? tmpdir : "/tmp");
    if (!mkdtemp(dir)) {
        diag_file_error(d, dir, "cannot create a temporary directory: %s", strerror(errno));
        free(dir);
        onnx_result_free(&r);
        return false;
    }
    char *w = xmalloc(strlen(dir) + 32);
    sprintf(w, "%s/weights.safetensors", dir);
    free(dir);
    char err[512];
    if (ndlrt_st_write(w, r.tensors, r.ntensors, err, sizeof err) != 0) {
        diag_file_error(d, w, "%s", err);
        onnx_remove_temp(w);
        onnx_result_free(&r);
        return false;
    }
    /* diagnostics in the imported text name it as the ONNX file's NDL form */
    char *name = xmalloc(strlen(opt->input) + 8);
    sprintf(name, "%s.ndl", opt->input);
    *file = src_add(sm, name, r.ndl, r.ndl_len);
    free(name);
    onnx_result_free(&r);
    *weights_tmp = w;
    return true;
}

void onnx_remove_temp(char *weights_tmp)
{
    if (!weights_tmp) return;
    unlink(weights_tmp);
    char *slash = strrchr(weights_tmp, '/');
    if (slash) {
        *slash = 0;
        rmdir(weights_tmp);
    }
    free(weights_tmp);
}
