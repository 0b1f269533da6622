/* SPDX-License-Identifier: MIT
 * none.c - the LLVM backend's entry points in an ndlc built without LLVM (CMake did not
 * find it): every request is refused with a message naming the cause.
 */
#include "../backend.h"

bool emitll_available(void) { return false; }

bool emitll_module(const Module *m, const EmitOptions *o, EmitLlvmKind kind, const char *out_path,
                   const char *cpu, char *err, size_t errlen)
{
    (void)m, (void)o, (void)kind, (void)out_path, (void)cpu;
    snprintf(err, errlen, "this ndlc was built without LLVM, so --backend llvm and --emit obj|llvm are "
             "not available (install llvm-dev and reconfigure)");
    return false;
}
