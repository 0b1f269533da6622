/* SPDX-License-Identifier: MIT
 * ir.h - the public IR: a typed tensor graph with static shapes and symbolic dims.
 *
 * A Module holds one model: values (inputs, parameters, constants, op results), ops in
 * topological order (construction order is always a valid order), operand and attribute
 * pools, and the weight table. Ids are indices into the vectors; id 0 is reserved as
 * "none" in every table. Everything is freed by ir_module_free.
 * The IR never prints user diagnostics: builders that can fail (shape rules) return
 * false with a message in the caller's buffer, and the frontend locates it.
 */
#ifndef NDLC_IR_H
#define NDLC_IR_H

#include <stdio.h>
#include "base.h"

typedef uint32_t ValueId, OpId, WeightId, SymId;

typedef enum DType {
#define DT(E, name, size, ctype, stname) DT_##E,
#include "dtypes.def"
#undef DT
    DT_COUNT
} DType;

typedef enum OpKind {
#define A(k)
#define NOATTR
#define OP(E, name, nin, flags, ...) OP_##E,
#include "ops.def"
#undef OP
#undef NOATTR
#undef A
    OP_COUNT
} OpKind;

typedef enum AttrKey {
    ATTR_NONE,
#define ATTR(E, name, kind) ATTR_##E,
#include "attrs.def"
#undef ATTR
    ATTR_COUNT
} AttrKey;

typedef enum AttrKind { AK_INT, AK_FLOAT, AK_INTS } AttrKind;

enum {
    OPF_EW1 = 1u << 0,   /* unary elementwise (eltwise.def) */
    OPF_EW2 = 1u << 1,   /* binary elementwise with broadcasting */
    OPF_VIEW = 1u << 2,  /* output is the input's bytes reinterpreted (no data movement) */
    OPF_DEAD = 1u << 8,  /* removed by a pass; skipped by everyone, dropped by ir_compact */
    OPF_INIT = 1u << 9,  /* init part under --hyper init: depends on weights alone and is
                            computed once when the model is created (passes/hyper.c) */
};

#define IR_MAX_RANK 8    /* PyTorch allows more; no model in scope needs more than 6 */
#define IR_MAX_ATTRS 6   /* longest attribute schema in ops.def */
#define IR_DIM_MAXSYMS 4 /* symbols in one symbolic dimension, e.g. B*T*H */

/* A dimension: >= 0 is a compile-time size; < 0 encodes symbolic dimension k as -(k+1),
 * an index into Module.dimexprs. Symbolic dims are interned, so equal dims have equal
 * encodings. */
typedef int64_t Dim;

typedef struct DimExpr {     /* coef * sym[0] * sym[1] * ... (syms sorted ascending) */
    int64_t coef;
    uint8_t nsym;
    SymId sym[IR_DIM_MAXSYMS];
} DimExpr;

typedef struct Symbol {      /* a run-time size introduced by an input declaration */
    const char *name;
    int64_t bound;           /* upper bound from `N <= 64`, or 0 for none */
    Span span;
    /* A row count known only while the model runs (spec 8.4: the tokens routed to one
     * expert), set by each moe_gather whose ROWS it is, never by an input. It is at most
     * `max`, a dim over input symbols, at which workspaces are sized. Dynamic symbols
     * come after every input symbol and are not part of the generated API. */
    bool dynamic;
    Dim max;
} Symbol;

typedef struct TensorType {
    DType dtype;
    uint8_t rank;
    Dim dims[IR_MAX_RANK];
} TensorType;

typedef enum ValueKind {
    VAL_INPUT,   /* a model input */
    VAL_PARAM,   /* a parameter: data from the weight file (Module.weights) */
    VAL_CONST,   /* a constant made by the compiler (scalars, folded values) */
    VAL_RESULT,  /* the result of an op */
} ValueKind;

typedef struct Value {
    ValueKind kind;
    TensorType type;
    OpId def;          /* VAL_RESULT: the producing op */
    WeightId weight;   /* VAL_PARAM, VAL_CONST: its data */
    const char *name;  /* input name, parameter path or NULL */
    Span span;         /* where the value was written in NDL */
} Value;

typedef struct Attr {
    AttrKey key;
    uint32_t n;        /* AK_INTS: element count */
    union {
        int64_t i;     /* AK_INT */
        double f;      /* AK_FLOAT */
        uint32_t ints; /* AK_INTS: index of the first element in Module.ints */
    } u;
} Attr;

typedef struct Op {
    OpKind kind;
    uint32_t flags;
    uint16_t nin, nattr;
    uint32_t in;       /* first operand in Module.operands (ValueId; 0 = absent optional) */
    uint32_t attr;     /* first attribute in Module.attrs, in schema order */
    ValueId out;
    OpId group;        /* set by the fuse pass: this op is computed inside op `group`'s
                          kernel as its epilogue (0: standalone). The interpreter ignores
                          it; emitters generate a group as one kernel call. */
    const char *name;  /* NDL layer path ("blocks.0.conv1") or NULL */
    Span span;
} Op;

/* Weight data always has the value's computation dtype (f32, i32, i64 or bool as
 * uint8), contiguous, row-major. The Module owns it or borrows it (ir_module_on_free). */
typedef struct Weight {
    const char *key;   /* safetensors key it was read from (NULL for compiler constants) */
    TensorType type;   /* concrete dims */
    void *data;
    size_t nbytes;
    WeightId mask;     /* PyTorch pruning mask ("P_mask") already multiplied in, or 0 */
    Span span;
} Weight;

typedef struct IrPort {  /* a model input or output */
    const char *name;
    ValueId value;
    Span span;
} IrPort;

/* Structured pruning (passes/prune.c, spec 8.2): what happened to the output channels
 * of one layer whose weight has all-zero rows. For the --report; names only, no ids. */
typedef struct IrRemoval {
    const char *layer;          /* NDL path of the conv2d / linear / attention, or its op name */
    const char *unit;           /* "channel" (conv2d / linear rows) or "head" (attention) */
    int64_t channels;           /* units (output channels, heads) before removal */
    uint32_t nremoved, nkept;
    const int64_t *removed;     /* removed units, ascending (arena) */
    const int64_t *kept;        /* all-zero-weight units kept, ascending (arena) */
    const char *const *why;     /* why kept[i] stays (arena) */
} IrRemoval;

typedef struct OpInfo {
    const char *name;
    int nin;                        /* -1: variadic */
    uint32_t flags;
    uint8_t nattr;
    AttrKey attrs[IR_MAX_ATTRS];
} OpInfo;

typedef struct AttrInfo {
    const char *name;
    AttrKind kind;
} AttrInfo;

typedef struct DTypeInfo {
    const char *name;       /* as spelled in NDL */
    const char *stname;     /* safetensors spelling */
    unsigned size;
} DTypeInfo;

extern const OpInfo op_info[OP_COUNT];
extern const AttrInfo attr_info[ATTR_COUNT];
extern const DTypeInfo dtype_info[DT_COUNT];

typedef struct IrCleanup { void (*fn)(void *); void *arg; } IrCleanup;

typedef struct PredictedWeight { /* a linear/conv2d weight or bias given by a parameter
                                    expression (spec 8.5), recorded by passes/hyper.c */
    const char *name;          /* "layers.0.weight" */
    uint32_t ops;              /* ops of its expression */
    int64_t flops;             /* to evaluate it */
    uint64_t bytes;            /* of the predicted tensor: what --hyper fold stores */
    double init_bytes;         /* its share of the parameters its expression reads: what
                                  --hyper init stores for it (a parameter read by k predicted
                                  weights counts 1/k in each, so the shares add up) */
} PredictedWeight;

typedef struct Module {
    Arena *arena;                   /* names and constant data */
    const char *name;               /* the model's name */
    VEC(Value) values;
    VEC(Op) ops;
    VEC(ValueId) operands;
    VEC(Attr) attrs;
    VEC(int64_t) ints;
    VEC(Weight) weights;
    VEC(Symbol) syms;
    VEC(DimExpr) dimexprs;
    VEC(IrPort) inputs;
    VEC(IrPort) outputs;
    VEC(IrCleanup) cleanups;        /* run by ir_module_free (weight buffers, mappings) */
    VEC(const char *) deps;         /* files besides the .ndl read to build it (-MD) */
    VEC(IrRemoval) removals;        /* structured pruning, in layer order (report only) */
    VEC(PredictedWeight) predicted; /* for --report (passes/hyper.c) */
    bool hyper_init;                /* the predicted weights are computed by create */
} Module;

/* ---- module.c: building ------------------------------------------------------- */
Module *ir_module_new(const char *name);
void ir_module_free(Module *m);
void ir_module_on_free(Module *m, void (*fn)(void *), void *arg);

SymId ir_add_symbol(Module *m, const char *name, int64_t bound, Span span);
/* A dynamic symbol (see Symbol): a run-time row count of at most max. */
SymId ir_add_dynamic_symbol(Module *m, const char *name, Dim max, Span span);
/* Symbols 1 .. n-1 that inputs bind (the generated API's sizes): dynamic ones follow. */
SymId ir_api_symbols(const Module *m);
ValueId ir_add_input(Module *m, const char *name, const TensorType *t, Span span);
void ir_add_output(Module *m, const char *name, ValueId v, Span span);
WeightId ir_add_weight(Module *m, const char *key, const TensorType *t, void *data,
                       size_t nbytes, Span span);
ValueId ir_add_param(Module *m, WeightId w, const char *name, Span span);
/* A constant; data (nbytes of the computation dtype) is copied into the arena. */
ValueId ir_add_const(Module *m, const TensorType *t, const void *data, Span span);
ValueId ir_add_scalar_f32(Module *m, float x, Span span);

/* name, or name_2, name_3 ... : the first that no value of m has yet */
const char *ir_unique_name(Module *m, const char *name);

Attr ir_attr_int(AttrKey key, int64_t v);
Attr ir_attr_float(AttrKey key, double v);
Attr ir_attr_ints(Module *m, AttrKey key, const int64_t *v, uint32_t n);

/* Appends an op after checking arity, attribute schema and the op's shape rule.
 * attrs may be given in any order and must cover the schema exactly.
 * Returns the result value, or 0 with a message in err (the caller locates it). */
ValueId ir_add_op(Module *m, OpKind kind, const ValueId *in, unsigned nin, const Attr *attrs,
                  unsigned nattr, const char *name, Span span, char *err, size_t errlen);

/* ---- accessors ------------------------------------------------------------------ */
static inline Value *ir_value(const Module *m, ValueId v) { return &m->values.v[v]; }
static inline Op *ir_op(const Module *m, OpId o) { return &m->ops.v[o]; }
static inline const TensorType *ir_type(const Module *m, ValueId v) { return &m->values.v[v].type; }
static inline ValueId ir_operand(const Module *m, const Op *op, unsigned i) {
    return m->operands.v[op->in + i];
}
const Attr *ir_op_attr(const Module *m, const Op *op, AttrKey key); /* NULL if absent */
int64_t ir_op_int(const Module *m, const Op *op, AttrKey key);
double ir_op_float(const Module *m, const Op *op, AttrKey key);
const int64_t *ir_op_ints(const Module *m, const Op *op, AttrKey key, uint32_t *n);

/* ---- type.c: dims and types ------------------------------------------------------ */
Dim ir_dim_symbol(Module *m, SymId s);
Dim ir_dim_mul(Module *m, Dim a, Dim b);                   /* ICE on overflow */
/* a * b; false when the coefficient overflows or the product has too many symbols
 * (user-controlled sizes must use this one). */
bool ir_dim_mul_checked(Module *m, Dim a, Dim b, Dim *out);
bool ir_dim_div(Module *m, Dim a, Dim b, Dim *quot);       /* exact division only */
bool ir_dim_add(Module *m, Dim a, Dim b, Dim *sum);        /* same symbols only */
static inline bool ir_dim_is_const(Dim d) { return d >= 0; }
const DimExpr *ir_dim_expr(const Module *m, Dim d);        /* d must be symbolic */
/* Value of d when symbol k has size symvals[k]; -1 on overflow. */
int64_t ir_dim_eval(const Module *m, Dim d, const int64_t *symvals);
/* Upper bound of d from the symbols' declared bounds; -1 when some symbol is unbounded. */
int64_t ir_dim_upper(const Module *m, Dim d);
bool ir_type_numel(Module *m, const TensorType *t, Dim *n); /* product of dims; false on overflow */
bool ir_type_equal(const TensorType *a, const TensorType *b);
TensorType ir_type_make(DType dt, unsigned rank, const Dim *dims);
/* Writes "f32[N,3,32,32]" (or just the dims "[N,3]" when with_dtype is false). */
const char *ir_format_type(const Module *m, const TensorType *t, char *buf, size_t len);
const char *ir_format_dims(const Module *m, const TensorType *t, char *buf, size_t len);
const char *ir_format_dim(const Module *m, Dim d, char *buf, size_t len);
bool ir_dtype_is_float(DType dt);
bool ir_dtype_is_int(DType dt);      /* i32 or i64 (index types) */
DType ir_dtype_compute(DType stored); /* f16/bf16/f64 -> f32; i8/u8/i16 -> i32 ... */
int ir_dtype_lookup(const char *name); /* NDL spelling -> DType, or -1 */

/* ---- shape.c: shape rules and FLOP counts ------------------------------------------ */
/* Computes op's output type from its operands and attributes. */
bool ir_infer_shape(Module *m, const Op *op, TensorType *out, char *err, size_t errlen);
/* Multiply-add counted as 2 FLOPs; symbols count as 1. */
int64_t ir_op_flops(const Module *m, const Op *op);
/* Broadcasts a and b (NumPy rules). */
bool ir_broadcast(Module *m, const TensorType *a, const TensorType *b, TensorType *out,
                  char *err, size_t errlen);

/* ---- op.c ------------------------------------------------------------------------ */
int ir_op_lookup(const char *name); /* op name -> OpKind, or -1 */

/* ---- verify.c, print.c, module.c ------------------------------------------------------- */
bool ir_verify(const Module *m, char *err, size_t errlen);
/* Formats a span as "file:line:col" for comments in printed IR (the IR knows no files). */
typedef const char *IrSpanFormatter(void *ud, Span s, char *buf, size_t len);
void ir_print(const Module *m, FILE *out, IrSpanFormatter *fmt, void *ud); /* --emit ir */
void ir_print_dot(const Module *m, FILE *out);             /* --emit dot */
/* Number of uses of every value (array of m->values.n), freed by the caller. */
uint32_t *ir_count_uses(const Module *m);
/* compact.c: removes OPF_DEAD ops, unused values and unreferenced weights (model
 * inputs always stay); renumbers all ids densely, keeping their order. */
void ir_compact(Module *m);
/* dedup.c: content deduplication. same_as[i] = j + 1 when blob i has the tag, length and
 * bytes of an earlier blob j that is itself first of its kind (j < i), else 0. */
void ir_dedup_blobs(uint32_t n, const void *const *data, const size_t *len, const uint32_t *tag,
                    uint32_t *same_as);

#endif
