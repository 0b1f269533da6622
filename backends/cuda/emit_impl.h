/* SPDX-License-Identifier: MIT
 * emit_impl.h - private to the CUDA emitter (emit.c: the file's skeleton, weights and
 * API; emit_ops.c: one host function per layer that launches runtime/cuda/ndlcu.cuh).
 * The emitter reuses the C emitter's naming and pointer helpers through an EmitC that
 * holds the module, options, plan and the weights: as stored, except the sparse packs of
 * pruned layers (cw entries with pack 3, see EmitCu.sparse_cw).
 */
#ifndef NDLC_EMITCU_IMPL_H
#define NDLC_EMITCU_IMPL_H

#include "../c/emit_impl.h"

typedef struct EmitCu {
    EmitC c;                 /* m, o, plan, cw (raw and sparse weights), raw_weight, prefix, fn_name */
    FILE *f;
    uint32_t *sparse_cw;     /* per op: cw index + 1 of the weight packed sparse for it, or 0 */
} EmitCu;

/* Whether d involves a dynamic symbol (a run-time row count). */
bool emitcu_dim_dynamic(const Module *m, Dim d);

/* Why op o cannot be emitted for the GPU yet (false), or true. */
bool emitcu_op_supported(const Module *m, OpId o, char *why, size_t len);

/* Why op o (any live op, views and epilogue members too) cannot run on the reserved
 * maximum of a run-time row count (false), or true; where names the path that refuses
 * ("on --target cuda", "for --emit ptx", ptx_plan.c runs rows the same way) in the message. */
bool emitcu_rows_supported(const Module *m, OpId o, const char *where, char *why, size_t len);
/* emit_ops.c: the layer function of group head o:
 *   static int NAME(const int64_t *s, <operands>, <result>, float *scratch, int *bad, cudaStream_t st)
 * (device pointers; bad: the instance's error word for out-of-range indices). */
void emitcu_layer(EmitCu *e, OpId o);
/* Scratch floats op o needs, as a C expression over s[] ("0" if none). */
void emitcu_scratch_expr(EmitCu *e, OpId o, char *buf, size_t len);
/* Product of dims [from, to) of t as a C expression ("96", "s[0]", "16*s[0]"). */
const char *emitcu_prod(const EmitCu *e, const TensorType *t, unsigned from, unsigned to, char *buf, size_t len);

#endif
