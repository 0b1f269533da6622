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

#endif
