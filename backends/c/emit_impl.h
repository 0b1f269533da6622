/* SPDX-License-Identifier: MIT
 * emit_impl.h - private to the C emitter (emit.c: the file's skeleton and API;
 * emit_ops.c: one function per op kind that writes that op's layer function).
 */
#ifndef NDLC_EMITC_IMPL_H
#define NDLC_EMITC_IMPL_H

#include "../backend.h"

/* A weight as the generated code sees it: the IR weight as is, or repacked at compile
 * time into the layout a kernel reads (linear / conv2d weights). */
typedef struct CWeight {
    WeightId src;            /* the IR weight */
    const char *name;        /* C identifier, also its key in an external weight file */
    int pack;                /* 0 raw, 1 linear, 2 conv2d, 3 sparse (linear or 1x1 conv) */
    OpId packer;             /* the op whose parameters define the packing */
    DType dtype;
    size_t count;            /* elements */
    void *data;              /* packed copy (malloc'd) or NULL for raw */
    uint32_t same_as;        /* index into cw + 1 of an earlier array with the same bytes,
                                which this one reuses (spec 8.3 deduplication), or 0 */
} CWeight;

typedef struct EmitC {
    const Module *m;
    const EmitOptions *o;
    Plan plan;
    FILE *c;
    const char *prefix;      /* the model's name: TinyNet_run, struct TinyNet */
    char **fn_name;          /* per op: its layer function (NULL if it has none) */
    OpId *same_fn;           /* per op: an earlier op whose layer function is the same text
                                (a shared layer applied again), which it calls; or 0 */
    VEC(CWeight) cw;
    uint32_t *raw_weight;    /* per IR weight: index into cw + 1 of its raw form, or 0 */
    uint32_t *init_pack;     /* per value: k + 1 when it is an init buffer (ST_INIT) that a
                                linear or conv2d reads as its weight, which create packs into
                                m->initpack<k> (so run never packs it); else 0 */
    bool uses_act[64];       /* activation helpers needed */
    char err[256];
} EmitC;

/* The index + 1 of the create-time pack a linear or conv2d op reads as its weight, or 0. */
static inline uint32_t emitc_init_pack_of(const EmitC *e, const Op *op)
{
    if (op->kind != OP_LINEAR && op->kind != OP_CONV2D) return 0;
    /* init_packs packs a root only when every run layer reads it as one same type (a
     * predicted weight or a reshaped view of it) */
    return e->init_pack[plan_root(&e->plan, ir_operand(e->m, op, 1))];
}

/* C spelling of a dimension: "16", "s[0]", "(3*s[0]*s[1])". */
const char *emitc_dim(const EmitC *e, Dim d, char *buf, size_t len);
enum { EMITC_FLOAT_LEN = 40 };
/* A product of up to IR_MAX_RANK dimension spellings (each under 64 characters): the
 * stride expressions of broadcasting and copying ops. A longer one is an error of the
 * backend (emitc_expr_too_long), never a truncated expression in the generated code. */
enum { EMITC_EXPR_LEN = 512 };
void emitc_expr_too_long(char *err, size_t errlen);
const char *emitc_float(float x, char buf[EMITC_FLOAT_LEN]);
/* Product of dims [from, to) of t as a C expression: "96", "s[0]", "16*s[0]*s[1]". */
const char *emitc_prod(const EmitC *e, const TensorType *t, unsigned from, unsigned to, char *buf, size_t len);
/* Number of elements of v's type as a C expression. */
const char *emitc_numel(const EmitC *e, ValueId v, char *buf, size_t len);
/* C element type of a dtype: float, int32_t, int64_t, uint8_t. */
const char *emitc_ctype(DType dt);
/* The C expression of the pointer holding v inside run() ("x", "t3", "W_fc_weight"). */
const char *emitc_ptr(const EmitC *e, ValueId v, char *buf, size_t len);
/* The index into cw of the weight (raw or packed) an op reads. */
uint32_t emitc_weight_for(const EmitC *e, ValueId v, int pack, OpId packer);
void emitc_location(const EmitC *e, Span span, char *buf, size_t len);

/* emit_ops.c: the layer function of op o (head of its group). It writes
 *   static int NAME(const int64_t *s, <operand pointers>, <result pointer>, float *scratch)
 * and returns its scratch size in floats as a C expression via scratch_expr ("0" if none).
 * Also decides which weights get packed (emitc_collect_packing, before weights). */
void emitc_collect_packing(EmitC *e);
void emitc_layer(EmitC *e, OpId o);
/* Scratch floats an op needs, as a C expression over s[] (for the workspace plan). */
void emitc_scratch_expr(EmitC *e, OpId o, char *buf, size_t len);
/* Operands of op o's group as the layer function takes them (in order), and the group's
 * stored result. Returns the count. */
/* --share compressed: the OP_HASHED whose result linear op reads as its weight, which
 * its layer reads through the pool instead of an expansion; 0 otherwise. */
OpId emitc_compressed_weight(const EmitC *e, const Op *op);
/* --external-weights: writes e->o->weights_path with each stored array of e->cw (1-D, by
 * its C name); the NdlrtStDType code of dt (runtime/safetensors.h), for the loaders. */
bool emitc_write_weight_file(const EmitC *e, char *err, size_t errlen);
int emitc_st_dtype(DType dt);
unsigned emitc_group_operands(const EmitC *e, OpId o, ValueId *vals, unsigned max, ValueId *result);
/* The epilogue of group head o (passes/fuse.c's pattern: act, residual add, act2): the
 * activations as NdlrtAct values (0: none), the residual operand (0: none). */
typedef struct EmitcEpilogue {
    int act, act2;
    ValueId residual;
} EmitcEpilogue;
EmitcEpilogue emitc_group_epilogue(const EmitC *e, OpId o);
/* The comment that heads the layer function of group head o, into f: its op, NDL name,
 * result type, what (if any) and source location (the C and the CUDA emitters). */
void emitc_layer_comment(const EmitC *e, FILE *f, OpId o, const char *what);

#endif
