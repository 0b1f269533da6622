/* SPDX-License-Identifier: MIT
 * fuzz_target.h - what every fuzz target shares: libFuzzer's entry point, and a diagnostic
 * sink that drops the text (a target checks behaviour, not wording, and prints nothing).
 */
#ifndef NDLC_FUZZ_TARGET_H
#define NDLC_FUZZ_TARGET_H

#include <stddef.h>
#include <stdint.h>

#include "frontend/diag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline void fuzz_discard_diag(void *ud, DiagLevel level, const char *text)
{
    (void)ud;
    (void)level;
    (void)text;
}

#endif
