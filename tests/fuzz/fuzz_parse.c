/* SPDX-License-Identifier: MIT
 * fuzz_parse.c - libFuzzer target for the scanner, the parser and diagnostics
 * rendering: any bytes must parse (or fail) without crashing, leaking or reading out of
 * bounds. Diagnostics are rendered in full (excerpt and underline) and discarded; the
 * tree is dumped to /dev/null to walk every node once (the stream is opened once per
 * process: a fresh file per input would halve the fuzzing speed).
 */
#include <stdint.h>
#include <stdio.h>

#include "fuzz_target.h"
#include "frontend/ast.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    SourceMgr *sm = src_new();
    uint32_t file = src_add(sm, "fuzz.ndl", (const char *)data, size);
    if (!file) {
        src_free(sm);
        return 0;
    }
    Diag *d = diag_new(sm, fuzz_discard_diag, NULL);
    Ast ast;
    ast_init(&ast);
    parse_file(&ast, sm, file, d);
    static FILE *null_out;
    if (!null_out) null_out = fopen("/dev/null", "w");
    if (null_out) ast_dump(&ast, sm, null_out);
    ast_free(&ast);
    diag_free(d);
    src_free(sm);
    return 0;
}
