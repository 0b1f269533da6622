/* SPDX-License-Identifier: MIT
 * fuzz_elaborate.c - libFuzzer target for elaboration: bytes that parse are lowered to IR
 * (module instances, compile-time expressions and loops, shape inference, elastic
 * variables, prune/tie/moe/recurse/hashed constructs), which must end in IR or in
 * diagnostics without crashing, leaking or reading out of bounds. Weights are bound
 * after elaboration, so the weight file is /dev/null: every input that elaborates stops
 * there with "file shorter than 8 bytes" (fuzz_safetensors covers the loader).
 */
#include <stdint.h>
#include <stdio.h>

#include "fuzz_target.h"
#include "frontend/frontend.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *argv[] = {"ndlc", "fuzz.ndl", "--weights", "/dev/null", NULL};
    char err[256];
    Options opt;
    if (!options_parse(&opt, 4, argv, err, sizeof err)) return 0;
    SourceMgr *sm = src_new();
    uint32_t file = src_add(sm, "fuzz.ndl", (const char *)data, size);
    Diag *d = file ? diag_new(sm, fuzz_discard_diag, NULL) : NULL;
    if (d) {
        Ast ast;
        ast_init(&ast);
        if (parse_file(&ast, sm, file, d) && diag_errors(d) == 0) {
            bool usage_error = false;
            Module *m = lower_model(&ast, sm, file, &opt, d, &usage_error);
            if (m) ir_module_free(m);
        }
        ast_free(&ast);
        diag_free(d);
    }
    src_free(sm);
    options_free(&opt);
    return 0;
}
