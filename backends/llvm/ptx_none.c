/* SPDX-License-Identifier: MIT
 * ptx_none.c - --emit ptx in an ndlc built without LLVM's NVPTX target or without the
 * CUDA toolkit's libdevice (cmake/llvm_backend.cmake): refused with the cause.
 */
#include "../backend.h"

static bool no_ptx(char *err, size_t errlen)
{
    snprintf(err, errlen, "this ndlc was built without LLVM's NVPTX target (or without the CUDA toolkit's "
             "libdevice), so --emit ptx and --backend llvm --target cuda are not available");
    return false;
}

bool emitll_ptx(const Module *m, const PtxPlan *p, const char *sm, const char *out_path, char *err, size_t errlen)
{
    (void)m, (void)p, (void)sm, (void)out_path;
    return no_ptx(err, errlen);
}

bool emitll_ptx_exe(const Module *m, const PtxPlan *p, const char *sm, const char *out_path, char *err,
                    size_t errlen)
{
    (void)m, (void)p, (void)sm, (void)out_path;
    return no_ptx(err, errlen);
}
