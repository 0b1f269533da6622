/* SPDX-License-Identifier: MIT
 * onnx.h - the ONNX importer (spec section 9): an ONNX model becomes NDL text plus the
 * tensors of a safetensors file, and then goes through the normal pipeline.
 *
 *   ndlc import MODEL.onnx -o OUT.ndl   writes OUT.ndl and OUT.safetensors beside it
 *   ndlc MODEL.onnx [options]           imports in memory and compiles the result
 *
 * Malformed or unsupported files are reported as "MODEL.onnx: error: ..." naming the node
 * and its op; nothing is written then. Built only with protobuf-c and onnx.proto
 * (cmake/onnx.cmake); otherwise disabled.c reports which packages are missing.
 */
#ifndef NDLC_ONNX_H
#define NDLC_ONNX_H

#include "../diag.h"
#include "../options.h"
#include "../../runtime/safetensors.h"

/* What an import produces. Everything is owned by `arena` (onnx_result_free). */
typedef struct OnnxResult {
    char *ndl;                /* NUL-terminated NDL source */
    size_t ndl_len;
    NdlrtStOut *tensors;      /* the parameters, keyed as in the `from "..."` clauses */
    size_t ntensors;
    Arena *arena;
} OnnxResult;

/* Imports an ONNX model held in memory. `path` names it in diagnostics, `model_name` is
 * the NDL model's name (made an identifier), `weights_ref` the text of the `weights`
 * statement (NULL: none). False after reporting errors through d (out is then empty). */
bool onnx_import_buffer(const void *buf, size_t len, const char *path, const char *model_name,
                        const char *weights_ref, Diag *d, OnnxResult *out);
void onnx_result_free(OnnxResult *r);

/* `ndlc import`: writes opt->output and its weight file `weights` (the driver named both,
 * checked them against the input and removes them after a failure); returns the exit
 * status. */
int onnx_import_command(const Options *opt, const char *weights, Diag *d);

/* `ndlc MODEL.onnx`: imports opt->input, adds the NDL text to sm (*file) and writes the
 * parameters to a temporary safetensors file (*weights_tmp, malloc'd) for the caller to
 * pass as --weights and then remove with onnx_remove_temp. False after errors. */
bool onnx_prepare_compile(const Options *opt, SourceMgr *sm, Diag *d, uint32_t *file, char **weights_tmp);
void onnx_remove_temp(char *weights_tmp);

#endif
