/* SPDX-License-Identifier: MIT
 * onnx_impl.h - the importer's private state, shared by import.c (reading the protobuf,
 * values, constants, writing NDL) and ops.c (one converter per ONNX op, and the patterns
 * that map decomposed LayerNorm, GELU, attention and MatMul+Add back to NDL built-ins).
 *
 * Every ONNX value becomes an ImpValue: a graph input, an import-time constant
 * (initializers, Constant nodes and shape arithmetic folded here), or a tensor computed
 * by an NDL statement. Converters append statements; only statements that the graph
 * outputs depend on are written, so a pattern matched at its last node leaves the
 * statements of its inner nodes unused and they disappear.
 */
#ifndef NDLC_ONNX_IMPL_H
#define NDLC_ONNX_IMPL_H

#include <stdint.h>
#include "onnx.h"
#include "onnx.pb-c.h"

#define IMP_MAX_RANK 8
#define DIM_UNKNOWN INT64_MIN       /* a dim that is a product of several symbols */
#define SYM_SLOTS 256               /* symbols at most; a symbolic dim is -(coef*SYM_SLOTS + k + 1) */
#define MAX_COEF ((int64_t)1 << 40)

/* ONNX element types the importer handles (TensorProto.DataType) */
enum { OT_FLOAT = 1, OT_UINT8 = 2, OT_INT8 = 3, OT_UINT16 = 4, OT_INT16 = 5, OT_INT32 = 6,
       OT_INT64 = 7, OT_BOOL = 9, OT_FLOAT16 = 10, OT_DOUBLE = 11, OT_UINT32 = 12,
       OT_BFLOAT16 = 16 };

typedef enum ValKind { VK_NONE, VK_INPUT, VK_CONST, VK_TENSOR } ValKind;

/* What a value is known to compute, for patterns that extend over several nodes. */
typedef enum Pattern { PAT_NONE, PAT_LINEAR, PAT_LAYER_NORM, PAT_PAD } Pattern;

typedef struct ImpValue {
    const char *onnx_name;
    const char *ident;        /* NDL name (inputs, tensors, parameters) */
    ValKind kind;
    bool is_float;            /* f32 in NDL; else integer (i64/i32) or bool */
    const char *ndl_dtype;    /* "f32", "i64", "i32", "bool" */
    int rank;
    int64_t dims[IMP_MAX_RANK];   /* >= 0, or sym_dim(k, coef) = coef * symbol k, or DIM_UNKNOWN */
    /* VK_CONST */
    int64_t nelem;
    float *f;                 /* float data, or */
    int64_t *i;               /* integer / bool data */
    bool *sym;                /* NULL, or per element: i[] holds a symbolic dim (Shape of N) */
    const char *key;          /* safetensors key when used as a parameter */
    bool param_used;
    /* VK_TENSOR */
    uint32_t stmt;            /* defining statement + 1 */
    uint32_t def_node;        /* producing node + 1 (also for folded constants) */
    /* patterns */
    Pattern pat;
    uint32_t pat_x, pat_w, pat_b;  /* operand values */
    double pat_eps;
    int64_t pat_pad[2];       /* PAT_PAD: zeros around H and W, for the next Conv/AveragePool */
} ImpValue;

typedef struct Stmt {
    const char *rhs;          /* the expression */
    uint32_t outs[8];         /* values defined (a tuple when nout > 1) */
    unsigned nout;
    uint32_t *uses;           /* values read */
    uint32_t nuses;
    uint32_t node;            /* ONNX node index */
    const char *error;        /* a deferred "not supported": reported only if needed */
    bool live;
} Stmt;

typedef struct StrSet {       /* open addressing: string -> uint32_t */
    const char **keys;
    uint32_t *vals;
    uint32_t cap, n;
} StrSet;

typedef struct Imp {
    const char *path;
    Diag *d;
    Arena *a;
    Onnx__GraphProto *g;
    int64_t opset;
    VEC(ImpValue) values;     /* [0] unused: value id 0 means "none" */
    StrSet by_name;           /* ONNX name -> value id */
    StrSet idents;            /* NDL identifiers in use */
    VEC(Stmt) stmts;
    VEC(uint32_t) uses;       /* of the statement being built */
    VEC(const char *) symbols;
    uint32_t node;            /* the node being converted */
} Imp;

/* ---- import.c: services for the converters ---- */
void imp_error(Imp *I, const char *fmt, ...) NDLC_PRINTF(2, 3);   /* names the current node */
const Onnx__NodeProto *imp_node(const Imp *I);
/* Input k of the current node (0: absent or empty name). Reports dangling names. */
uint32_t imp_input(Imp *I, unsigned k, bool *ok);
/* Attributes, with their types checked; `ok` is cleared (after an error) on a wrong type. */
int64_t imp_attr_int(Imp *I, const char *name, int64_t def, bool *ok);
float imp_attr_float(Imp *I, const char *name, float def, bool *ok);
/* ints list: count in *n (0 when absent); arena copy */
int64_t *imp_attr_ints(Imp *I, const char *name, size_t *n, bool *ok);
const Onnx__AttributeProto *imp_attr_find(const Imp *I, const char *name);
bool imp_tensor_to_const(Imp *I, const Onnx__TensorProto *t, ImpValue *v, const char *what);

ImpValue *imp_val(Imp *I, uint32_t id);
/* The value an earlier node read as input k (0: none), and the node that produced v
 * when its op is `op` (NULL otherwise); for patterns. */
uint32_t imp_node_input(Imp *I, uint32_t node, unsigned k);
const Onnx__NodeProto *imp_producer(Imp *I, uint32_t v, const char *op, uint32_t *node);
/* How many node inputs and graph outputs read the ONNX value named `name`. */
unsigned imp_consumers(const Imp *I, const char *name);
/* The NDL text that reads value v as a tensor operand (records the use). */
const char *imp_ref(Imp *I, uint32_t v);
/* A scalar constant as an NDL literal when v is one and broadcasting with a tensor of
 * rank `other_rank` would not change the shape; else imp_ref(). */
const char *imp_ref_or_literal(Imp *I, uint32_t v, int other_rank);
bool imp_const_scalar(const Imp *I, uint32_t v, double *x);
/* Defines output k of the current node as a tensor computed by rhs. */
uint32_t imp_def_tensor(Imp *I, unsigned k, bool is_float, const char *ndl_dtype, int rank,
                    const int64_t *dims, const char *rhs);
/* Defines outputs 0..n-1 as one tuple statement. */
void imp_def_tuple(Imp *I, unsigned n, bool is_float, const char *ndl_dtype, int rank,
               const int64_t dims[][IMP_MAX_RANK], const char *rhs);
/* Output k as the same tensor as value src (Identity, Dropout). */
void imp_def_alias(Imp *I, unsigned k, uint32_t src);
/* Output k as an import-time constant (data owned by the arena). */
uint32_t imp_def_const(Imp *I, unsigned k, bool is_float, int rank, const int64_t *dims, float *f, int64_t *i);
/* A new constant value that is not an ONNX value (a transposed weight). */
uint32_t imp_new_param(Imp *I, const char *key, int rank, const int64_t *dims, float *f);
/* Marks the statement just defined as "not supported": an error only if it is needed. */
void imp_defer_error(Imp *I, uint32_t v, const char *msg);
int64_t sym_dim(int k, int64_t coef);
/* Symbol and coefficient of a symbolic dim; false for concrete and unknown dims. */
bool dim_symbol(int64_t d, int *k, int64_t *coef);
/* a * b for dims (DIM_UNKNOWN when both are symbolic or it would overflow) */
int64_t dim_mul(int64_t a, int64_t b);
const char *imp_dim_text(Imp *I, int64_t dim);
const char *imp_dims_text(Imp *I, int rank, const int64_t *dims);
const char *imp_ints_text(Imp *I, size_t n, const int64_t *v);
const char *imp_real_text(Imp *I, double x);

/* ---- patterns.c ---- */
bool imp_near(double x, double want);   /* within 1e-5 relative */
/* (x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps) at its Div(num, den): x and eps. */
bool match_layer_norm(Imp *I, uint32_t num, uint32_t den, uint32_t *x, double *eps);
/* x * 0.5 * (1 + erf(x / sqrt 2)) at its last Mul (the current node): x, or 0. */
uint32_t match_gelu(Imp *I, uint32_t node);
/* softmax(q kᵀ · s [+ causal mask]) v at MatMul(p, v): writes output 0 as attention(...). */
bool match_attention(Imp *I, uint32_t p, uint32_t v);

/* ---- ops.c ---- */
/* Converts the current node; false after an error. */
bool imp_convert_node(Imp *I);

#endif
