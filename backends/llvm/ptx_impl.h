/* SPDX-License-Identifier: MIT
 * ptx_impl.h - what ptx.c (LLVM) gives ptx_exe.c: the PTX text with its plan, to a stream.
 */
#ifndef NDLC_PTX_IMPL_H
#define NDLC_PTX_IMPL_H

#include <stdio.h>
#include "../backend.h"

bool emitll_ptx_text(const Module *m, const PtxPlan *p, const char *sm, FILE *f, char *err, size_t errlen);

#endif
