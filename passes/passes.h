/* SPDX-License-Identifier: MIT
 * passes.h - IR passes, the pass pipeline, and the reference interpreter.
 *
 * The interpreter runs any IR with plain, obviously-correct loops. It is the oracle
 * that every pass and backend is tested against, so clarity beats speed; it never calls
 * the optimized runtime kernels.
 */
#ifndef NDLC_PASSES_H
#define NDLC_PASSES_H

#include "../ir/ir.h"

/* A concrete tensor: computation dtype (f32, i32, i64, bool as uint8), row-major,
 * contiguous, data owned by whoever made it (free with tensor_free when malloc'd). */
typedef struct Tensor {
    DType dtype;
    uint8_t rank;
    int64_t dims[IR_MAX_RANK];
    void *data;
} Tensor;

int64_t tensor_numel(const Tensor *t);
void tensor_free(Tensor *t);      /* frees data, sets it NULL */

/* Runs m. inputs[i] is the tensor for m->inputs.v[i]; it must have the input's dtype
 * and rank, and its dims must match the declared dims, binding each symbol at its first
 * appearance (in input order) and checking later uses and declared bounds. On success,
 * outputs[i] (for m->outputs.v[i]) holds a malloc'd tensor. On failure returns false
 * with a message in err, e.g. "input 'x' has shape [2,5] but the model declares
 * f32[N,4]" or "embedding: index 12 is out of range for a table of 10 rows", and no
 * output is left allocated. */
bool interp_run(const Module *m, const Tensor *inputs, Tensor *outputs, char *err,
                size_t errlen);

/* Evaluates the single op `op` of m on concrete operand tensors: in[i] for operand i
 * (ignored where the operand is absent, ValueId 0), each with its operand's dtype and
 * concrete dims. On success *out holds a malloc'd tensor of the op's result type (which
 * must have concrete dims). On failure (a symbolic result size, a run-time error such as
 * an index out of range) returns false with a message in err and leaves *out empty.
 * Runs the same kernels as interp_run; the constant folder uses it. */
bool interp_eval_op(const Module *m, const Op *op, const Tensor *in, Tensor *out, char *err,
                    size_t errlen);

/* ---- passes --------------------------------------------------------------------------- */

/* What a pass gets. A pass reports user-facing problems through error() (located at an
 * NDL span) and returns false; a broken invariant is an NDLC_ICE. */
typedef struct PassContext {
    Module *m;
    void (*error)(void *ud, Span span, const char *msg);
    void *ud;
    bool keep_hashed;   /* --share given: `hashed` expansions stay ops (never folded), so
                           the artefact stores the pool (spec 8.3) */
    bool hyper_init;    /* --hyper init: parameter expressions stay ops, computed once by
                           create (OPF_INIT), instead of being folded (spec 8.5) */
} PassContext;

typedef bool PassFn(PassContext *cx);

typedef struct Pass {
    const char *name;
    const char *summary;
    PassFn *run;
} Pass;

#define PASS(name, summary) bool pass_##name(PassContext *cx);
#include "passes.def"
#undef PASS

extern const Pass pass_table[];
extern const unsigned pass_count;
const Pass *pass_lookup(const char *name);

/* hyper.c: in_init[v] (an array of m->values.n, freed by the caller) says whether value v
 * depends on parameters and constants alone (not through a `hashed` expansion) and has
 * a concrete shape: the init part of spec 8.5. */
bool *hyper_init_part(const Module *m);

/* The default pipeline, in order. */
extern const char *const pipeline_default[];
extern const unsigned pipeline_default_len;

/* Called after each pass with the pass's name (the report's per-pass sizes). */
typedef void PassObserver(const Module *m, const char *pass, void *ud);

/* Runs passes names[0..n) on cx->m. After each: ir_verify when verify is set (a failure
 * is an ICE: "IR invalid after pass 'x'"), the IR printed to dump_out when the pass
 * is named dump_after, and observe (when not NULL). False when a pass reported errors. */
bool pipeline_run(PassContext *cx, const char *const *names, unsigned n, bool verify,
                  const char *dump_after, FILE *dump_out, IrSpanFormatter *fmt, void *fmt_ud,
                  PassObserver *observe, void *observe_ud);

#endif
