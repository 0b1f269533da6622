/* SPDX-License-Identifier: MIT
 * lower_impl.h - private to the elaborator (lower.c, builtins.c, modules.c, weights.c).
 *
 * Elaboration walks the AST of one model like an interpreter of the NDL language:
 * compile-time values (Cv) are computed on the spot, tensor expressions append IR ops,
 * module instances are created with their dotted paths, loops unroll and calls inline.
 * Every error is a diagnostic at the offending span; an erroneous value becomes CV_ERROR,
 * which silences every later use of it (one root cause, one error).
 */
#ifndef NDLC_LOWER_IMPL_H
#define NDLC_LOWER_IMPL_H

#include "ast.h"
#include "frontend.h"
#include "../ir/ir.h"

typedef enum CvKind {
    CV_ERROR,     /* an error was reported for this value already */
    CV_NONE,      /* None, and the value of a statement */
    CV_BOOL, CV_INT, CV_REAL, CV_STR,
    CV_DIM,       /* a symbolic size: N, B*T */
    CV_LIST,      /* [a, b]; module lists are lists of CV_INST */
    CV_TUPLE,     /* (a, b), split results, multiple returns */
    CV_TENSOR,    /* an IR value */
    CV_INST,      /* a module instance */
    CV_MODSPEC,   /* Module(args) not yet bound to a name (no path yet) */
    CV_FUNC,      /* a built-in function used as a callee */
    CV_DTYPE,     /* a dtype keyword used as a value: cast(x, i64) */
    CV_POLICY,    /* a routing policy of moe: topk(2), threshold(0.9, 4), assign(idx) */
} CvKind;

typedef struct Inst Inst;
typedef struct ModSpec ModSpec;
typedef struct BuiltinFn BuiltinFn;
typedef struct BuiltinMod BuiltinMod;
typedef struct MoePolicy MoePolicy;

typedef struct Cv {
    CvKind kind;
    bool elastic;            /* derived from an elastic variable (spec 8.1 slicing) */
    union {
        bool b;
        int64_t i;
        double r;
        const char *s;
        Dim dim;
        ValueId t;
        Inst *inst;
        ModSpec *spec;
        const BuiltinFn *fn;
        const MoePolicy *policy;
        struct { struct Cv *v; uint32_t n; } list;  /* CV_LIST, CV_TUPLE */
    } u;
} Cv;

/* Arguments of a call, after evaluation: positional, then keyword. */
typedef struct CallArgs {
    uint32_t npos, nkw;
    Cv *pos, *kw;
    Span *pos_span, *kw_span;
    const char **kw_name;
    Span span;               /* the whole call */
} CallArgs;

/* Arguments bound to a signature ("x w b=None stride=1"): one slot per parameter. */
#define SIG_MAX 12
typedef struct Bound {
    uint32_t n;
    const char *name[SIG_MAX];
    Cv v[SIG_MAX];
    Span span[SIG_MAX];      /* the argument's span, or the call's for defaults */
    bool given[SIG_MAX];
    Span call;
} Bound;

typedef enum BindKind {
    BIND_LET,      /* let, forward parameters: assignable */
    BIND_OUTPUT,   /* a model output: assignable */
    BIND_CONST,    /* loop variables, module arguments, elastic variables, symbols */
    BIND_PARAM,    /* a parameter of this module */
    BIND_CHILD,    /* a sub-module instance or module list */
    BIND_INPUT,    /* a model input */
} BindKind;

typedef struct Binding {
    const char *name;
    Cv v;
    Span span;
    BindKind kind;
    const TensorType *declared;  /* BIND_OUTPUT with a declared type */
} Binding;

typedef struct Scope Scope;
struct Scope {
    Scope *parent;
    VEC(Binding) b;
};

struct ModSpec {             /* an unbound constructor call */
    const BuiltinMod *builtin;   /* or NULL for a user module */
    AstId decl;                  /* AST_MODULE of a user module */
    CallArgs args;
    const char *from;            /* `from "prefix"` (set when the statement has one) */
    Span span;
};

struct Inst {
    const char *path;        /* layer path for names: "blocks.0.conv1" ("" = the model) */
    const char *key;         /* weight key prefix (differs from path after `from`) */
    const BuiltinMod *builtin;
    AstId decl;              /* user module */
    Scope *scope;            /* arguments, parameters and children */
    Bound args;              /* built-in: constructor arguments, bound to its signature */
    const CallArgs *ctor;    /* the constructor call's arguments as written */
    Span span;
    bool in_forward;         /* recursion guard */
};

typedef struct ParamDecl {   /* a parameter waiting for its weight (weights.c) */
    ValueId value;
    WeightId weight;
    const char *key;         /* full safetensors key */
    const char *alt_key;     /* read instead when key is absent (ElasticConv2d: OFA's layout) */
    uint32_t sliceable;      /* bit i: dim i depends on an elastic variable (leading slice) */
    bool optional;           /* may be absent from the file (e.g. OFA transform matrices) */
    Span span;
} ParamDecl;

typedef struct TieDecl {
    ValueId a, b;
    Span span;
} TieDecl;

typedef struct MoeRows {     /* the dynamic row-count symbol of one expert (moe.c) */
    const Inst *expert;
    Dim tokens;              /* T of the moe calls it serves */
    Dim rows;
} MoeRows;

typedef struct Lower {
    Module *m;
    Diag *diag;
    const SourceMgr *sm;
    const Ast *ast;
    const Options *opt;
    uint32_t file;
    Arena *arena;            /* Cv lists, names, scopes */
    VEC(Scope *) scopes;     /* every scope made, freed at the end */
    VEC(ParamDecl) params;
    VEC(TieDecl) ties;
    VEC(const char *) ignored_keys;  /* tensors accepted and ignored (num_batches_tracked) */
    const char *weights_path;
    Span weights_span;
    unsigned depth;          /* expression / call nesting */
    unsigned inst_depth;     /* module instantiation nesting */
    uint64_t work;           /* unrolled statements + ops: a bound against runaway input */
    Scope *model_scope;
    const char *cur_path;    /* path of the instance whose forward runs (op names) */
    VEC(MoeRows) moe_rows;   /* one symbol per expert and token count, shared by the moe
                                calls of a pool, so that their expert bodies are equal */
} Lower;

#define LOWER_MAX_DEPTH 100      /* expression nesting within one body or forward */
#define LOWER_MAX_INST_DEPTH 32  /* modules inside modules */
#define LOWER_MAX_WORK 2000000u
/* Elements of a declared tensor type, counting a symbolic size at its bound or, unbounded,
 * at its integer coefficient: the bound of a weight file's shape entries (spec 11), so the
 * byte sizes (below 2^51) and the sums of thousands of them stay far from int64 overflow. */
#define LOWER_MAX_NUMEL (INT64_C(1) << 48)

/* ---- lower.c ---------------------------------------------------------------------- */
Cv cv_error(void);
Cv cv_int(int64_t i);
Cv cv_real(double r);
Cv cv_bool(bool b);
Cv cv_none(void);
Cv cv_tensor(ValueId t);
const char *cv_kind_name(const Lower *L, const Cv *v);
Scope *scope_new(Lower *L, Scope *parent);
Binding *scope_find(Scope *s, const char *name, bool here_only);
void scope_bind(Lower *L, Scope *s, const char *name, Cv v, Span span, BindKind kind);
/* scope_bind, reporting a redefinition (with a note) when s already binds name. */
void define(Lower *L, Scope *s, const char *name, Cv v, Span span, BindKind kind);
Cv eval(Lower *L, Scope *s, AstId e);
Cv call_value(Lower *L, Scope *s, Cv callee, CallArgs *args, Span callee_span);
Inst *instantiate(Lower *L, ModSpec *spec, const char *path, const char *key, Span span);
const AstNode *N(const Lower *L, AstId id);
bool lower_budget(Lower *L, Span span);          /* false (with an error) when exhausted */
const char *path_join(Lower *L, const char *a, const char *b);

/* Reports "expected WANT for WHAT, got <kind of v>" (unless v is CV_ERROR); false. */
bool want_fail(Lower *L, const Cv *v, Span span, const char *what, const char *want);
/* Conversions that report "expected ..." errors at span; false on error. */
bool want_tensor(Lower *L, const Cv *v, Span span, const char *what, ValueId *out);
bool want_int(Lower *L, const Cv *v, Span span, const char *what, int64_t *out);
bool want_real(Lower *L, const Cv *v, Span span, const char *what, double *out);
bool want_bool(Lower *L, const Cv *v, Span span, const char *what, bool *out);
/* An int or an [a, b] pair, as conv and pooling arguments. */
bool want_pair(Lower *L, const Cv *v, Span span, const char *what, int64_t out[2]);
/* A list of ints (or a single int when allow_scalar). */
bool want_ints(Lower *L, const Cv *v, Span span, const char *what, int64_t *out,
               uint32_t max, uint32_t *n, bool allow_scalar);
/* A dimension: int or symbolic. */
bool want_dim(Lower *L, const Cv *v, Span span, const char *what, Dim *out);

/* Appends an op; on a shape error reports it at span and returns CV_ERROR. */
Cv emit_op(Lower *L, OpKind kind, const ValueId *in, unsigned nin, const Attr *attrs,
           unsigned nattr, const char *name, Span span);
/* A compile-time scalar as a rank-0 constant of dtype dt. */
ValueId const_scalar(Lower *L, double x, DType dt, Span span);
/* -x: the neg op on floats, `0 - x` on i32/i64 tensors (the neg kernels are float-only). */
Cv emit_neg(Lower *L, ValueId x, const char *name, Span span);
/* Tensor helpers shared by builtins and modules. */
Cv emit_reshape(Lower *L, ValueId x, const Dim *dims, unsigned rank, const char *name, Span span);
Cv emit_permute(Lower *L, ValueId x, const int64_t *perm, unsigned rank, const char *name, Span span);
Cv emit_binary(Lower *L, OpKind kind, ValueId a, ValueId b, const char *name, Span span);
/* Full slice [begin:end:step] on one axis, every other axis untouched. */
Cv emit_slice_axis(Lower *L, ValueId x, unsigned axis, int64_t begin, int64_t end, int64_t step,
                   const char *name, Span span);

/* Evaluates a tensor type; see lower.c. elastic_dims gets bit i for dims that depend
 * on an elastic variable. */
bool eval_tensor_type(Lower *L, Scope *s, AstId id, bool introduce_symbols, TensorType *t,
                      uint32_t *elastic_dims);
/* False (with an error at span) when tensor v depends on a model input. */
bool check_param_expr(Lower *L, ValueId v, Span span);

/* ---- elastic.c: elastic variables from defaults, -D and --subnet ----------------------- */
void elaborate_elastic(Lower *L, const AstNode *model, Scope *s);

/* ---- builtins.c: built-in functions (spec section 5) --------------------------------- */
struct BuiltinFn {
    const char *name;
    const char *sig;         /* "x dim keepdim=false" */
    Cv (*impl)(Lower *L, const BuiltinFn *fn, Bound *a);
    int op;                  /* OpKind where one op implements it, else -1 */
};
const BuiltinFn *builtin_fn_lookup(const char *name);
/* Op emitters shared with the built-in modules. */
Cv emit_conv2d(Lower *L, const ValueId in[3], const int64_t stride[2], const int64_t pad[2],
               const int64_t dil[2], int64_t groups, const char *name, Span span);
Cv emit_pool(Lower *L, OpKind kind, ValueId x, const int64_t k[2], const int64_t s[2],
             const int64_t p[2], const char *name, Span span);
Cv emit_attention(Lower *L, const ValueId in[3], bool causal, double scale, bool has_scale,
                  const char *name, Span span);
Cv emit_flatten(Lower *L, ValueId x, int64_t start, int64_t end, Span span);
/* Binds args to a signature; reports unknown/missing/duplicate arguments. */
bool bind_args(Lower *L, const char *callee, const char *sig, const CallArgs *args, Bound *out);
int bound_index(const Bound *b, const char *name);
Cv call_builtin_fn(Lower *L, const BuiltinFn *fn, CallArgs *args);

/* ---- recurse.c: recurse(x, body, depth, max), spec 8.3 ------------------------------- */
Cv builtin_recurse(Lower *L, Bound *a);
/* ---- moe.c: mixture of experts (spec 8.4) -------------------------------------------- */
Cv builtin_moe(Lower *L, const BuiltinFn *fn, Bound *a);
Cv builtin_topk(Lower *L, const BuiltinFn *fn, Bound *a);
Cv builtin_threshold(Lower *L, const BuiltinFn *fn, Bound *a);
Cv builtin_assign(Lower *L, const BuiltinFn *fn, Bound *a);

/* ---- modules.c: built-in modules --------------------------------------------------- */
struct BuiltinMod {
    const char *name;
    const char *sig;         /* NULL: takes any positional arguments (Sequential) */
    /* declares parameters (and children) of a new instance; false on error */
    bool (*init)(Lower *L, Inst *inst);
    Cv (*call)(Lower *L, Inst *inst, CallArgs *args);
};
const BuiltinMod *builtin_mod_lookup(const char *name);
/* Declares parameter `name` of inst with type t (key = inst->key + "." + name). */
ValueId declare_param(Lower *L, Scope *s, const char *keyprefix, const char *name,
                      const TensorType *t, uint32_t sliceable, Span span);

/* ---- weights.c ------------------------------------------------------------------------ */
/* Loads every declared parameter from the weight file, applies ties, P_orig/P_mask,
 * leading slices and dtype widening; reports missing/mis-shaped/unused tensors. */
bool bind_weights(Lower *L);

/* ---- prune.c: prune statements and --prune options (spec 8.2) ------------------------- */
typedef enum PruneKind {
    PRUNE_MAGNITUDE,  /* magnitude(p): global L1 over every match, fraction p pruned */
    PRUNE_CHANNELS,   /* channels(p): per tensor, rows (dim 0) by L1 norm, fraction p pruned */
    PRUNE_NM,         /* nm(n, m): keep the n largest |w| of each m consecutive (rows) */
    PRUNE_MASK,       /* mask("key"): a tensor of the weight file, nonzero keeps */
} PruneKind;

typedef struct PruneRule {
    const char *pattern;     /* '*' matches any characters, dots included */
    PruneKind kind;
    double amount;           /* magnitude, channels: the fraction pruned, in [0, 1] */
    int64_t n, m;            /* nm */
    const char *key;         /* mask */
    Span span;               /* the prune statement; file 0 for --prune */
    const char *option;      /* the --prune text, or NULL */
} PruneRule;

typedef struct PruneSet {
    VEC(PruneRule) rules;
} PruneSet;

/* Reads the model's prune statements (arguments evaluated in scope s) and opt->prunes
 * into ps, reporting bad specs at the statement; a malformed --prune is an "ndlc: error"
 * that sets *usage_error. Mask keys are added to L->ignored_keys. */
void prune_collect(Lower *L, const AstNode *model, Scope *s, PruneSet *ps, bool *usage_error);
/* After bind_weights: computes every rule's mask on the weights as bound, multiplies the
 * masks of each parameter and applies them (weights_apply_mask). False on errors. */
bool prune_apply(Lower *L, const PruneSet *ps);
void prune_free(PruneSet *ps);

/* ---- weights.c: masks for prune.c ------------------------------------------------------- */
/* Reads tensor `key` of the weight file as a 0/1 mask for parameter p: any numeric or BOOL
 * dtype, nonzero keeps, the parameter's shape (or larger where p may be leading-sliced).
 * Errors name the key and both shapes, at span (prefixed by `option` when span has no
 * file). Returns a malloc'd array of the parameter's element count, or NULL. */
float *weights_read_mask(Lower *L, const ParamDecl *p, const char *key, Span span,
                         const char *option);
/* Multiplies a 0/1 mask into weight w and into its Weight.mask (made when absent). */
void weights_apply_mask(Lower *L, WeightId w, const float *mask);

#endif
