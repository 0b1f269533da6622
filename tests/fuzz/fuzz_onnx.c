/* SPDX-License-Identifier: MIT
 * fuzz_onnx.c - libFuzzer target for the ONNX importer (frontend/onnx/): any bytes must
 * import or be rejected with a diagnostic, without crashing, leaking or reading out of
 * bounds. An accepted model must give NDL text that parses without errors and parameters
 * whose data covers their shapes; a rejected one must have reported an error. Aborts on
 * any breach. (In a build without ONNX support every input is rejected with a message.)
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_target.h"
#include "frontend/ast.h"
#include "frontend/onnx/onnx.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    SourceMgr *sm = src_new();
    Diag *d = diag_new(sm, fuzz_discard_diag, NULL);
    OnnxResult r;
    bool ok = onnx_import_buffer(data, size, "fuzz.onnx", "fuzz", "fuzz.safetensors", d, &r);
    if (ok != (diag_errors(d) == 0)) abort();
    if (ok) {
        for (size_t i = 0; i < r.ntensors; i++) {
            const NdlrtStOut *t = &r.tensors[i];
            if (!t->name || t->rank < 0 || t->rank > NDLRT_ST_MAX_RANK || !t->data) abort();
            uint64_t n = 1;
            for (int k = 0; k < t->rank; k++) n *= (uint64_t)t->shape[k];
            /* touch the last byte so ASan checks the whole extent */
            volatile uint8_t last = n ? ((const uint8_t *)t->data)[n * ndlrt_st_dtype_size(t->dtype) - 1] : 0;
            (void)last;
        }
        uint32_t file = src_add(sm, "fuzz.ndl", r.ndl, r.ndl_len);
        Ast ast;
        ast_init(&ast);
        if (!file || !parse_file(&ast, sm, file, d) || diag_errors(d)) abort(); /* the importer wrote bad NDL */
        ast_free(&ast);
        onnx_result_free(&r);
    }
    diag_free(d);
    src_free(sm);
    return 0;
}
