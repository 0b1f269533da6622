/* SPDX-License-Identifier: MIT
 * ptx.c - --emit ptx: the launch plan (ptx_plan.c) lowered for NVPTX through the LLVM C API.
 *
 * The device functions (rt/ptx_kernels.c, one per op kind, libdevice linked in) come as
 * NVPTX bitcode compiled by CMake and embedded in ndlc. For each kernel of the plan this
 * file adds one `.entry` named after the layer, whose parameters are the plan's buffers
 * and its sizes that depend on symbols: it passes them, with the group's constant sizes and
 * attributes, to its device function, marked always-inline; default<O3> for the
 * sm_80/sm_90 target machine then folds the constant sizes into each kernel. The PTX is LLVM's assembly headed by the plan as
 * comment lines. LLVM types never leave this file; the plan is all the runtime needs.
 */
#define _POSIX_C_SOURCE 200809L /* mkstemp */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <llvm-c/Analysis.h>
#include <llvm-c/BitReader.h>
#include <llvm-c/Core.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include "../backend.h"
#include "ptx_impl.h"

/* the device functions as NVPTX bitcode (backends/llvm/bitcode.c, made by CMake) */
extern const unsigned char ndlc_bc_ptx[], ndlc_bc_ptx_end[];

static const char *const ptx_triple = "nvptx64-nvidia-cuda";

static LLVMTargetMachineRef nvptx_tm(const char *sm, char *err, size_t errlen)
{
    LLVMInitializeNVPTXTargetInfo();
    LLVMInitializeNVPTXTarget();
    LLVMInitializeNVPTXTargetMC();
    LLVMInitializeNVPTXAsmPrinter();
    LLVMTargetRef target;
    char *msg = NULL;
    if (LLVMGetTargetFromTriple(ptx_triple, &target, &msg)) {
        snprintf(err, errlen, "this LLVM has no NVPTX target: %s", msg ? msg : "");
        LLVMDisposeMessage(msg);
        return NULL;
    }
    /* PTX ISA 7.8 is the first with sm_90; ptxas of CUDA 11.8 and later reads it */
    LLVMTargetMachineRef tm = LLVMCreateTargetMachine(target, ptx_triple, sm, "+ptx78", LLVMCodeGenLevelAggressive,
                                                      LLVMRelocDefault, LLVMCodeModelDefault);
    if (!tm) snprintf(err, errlen, "LLVM cannot make an NVPTX target machine for '%s'", sm);
    return tm;
}

/* One .entry for k: `void name(ptr t0, ..., ptr tn, i64 s0, ..., i64 sm)` calling
 * device_fn(params, {t0..tn}). params is a constant array when every parameter is a
 * constant; else a local array of the constants and, in the places of the size expressions,
 * the i64 parameters s0..sm the runtime computed for this launch (SROA and O3 still fold
 * the constants). */
static void add_kernel(LLVMContextRef ctx, LLVMModuleRef mod, LLVMBuilderRef b, const PtxKernel *k)
{
    LLVMTypeRef ptr = LLVMPointerTypeInContext(ctx, 0), i64 = LLVMInt64TypeInContext(ctx);
    LLVMTypeRef i32 = LLVMInt32TypeInContext(ctx), vd = LLVMVoidTypeInContext(ctx);
    LLVMValueRef dev = LLVMGetNamedFunction(mod, k->device_fn);
    if (!dev) NDLC_ICE("the device bitcode lacks '%s'", k->device_fn);
    LLVMValueRef pv[PTX_MAX_PARAMS];
    for (uint32_t i = 0; i < k->nparams; i++) pv[i] = LLVMConstInt(i64, (unsigned long long)k->params[i], 1);
    LLVMTypeRef pt[PTX_MAX_ARGS + PTX_MAX_PARAMS];
    for (uint32_t i = 0; i < k->nargs; i++) pt[i] = ptr;
    for (uint32_t i = 0; i < k->nsized; i++) pt[k->nargs + i] = i64;
    LLVMValueRef f = LLVMAddFunction(mod, k->name, LLVMFunctionType(vd, pt, k->nargs + k->nsized, 0));
    LLVMSetFunctionCallConv(f, LLVMPTXKernelCallConv);
    LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(ctx, f, "entry"));
    LLVMValueRef params;
    if (!k->nsized) {
        LLVMValueRef init = LLVMConstArray(i64, pv, k->nparams);
        params = LLVMAddGlobal(mod, LLVMTypeOf(init), "params");
        LLVMSetInitializer(params, init);
        LLVMSetGlobalConstant(params, 1);
        LLVMSetLinkage(params, LLVMPrivateLinkage);
        LLVMSetAlignment(params, 8);
    } else {
        LLVMTypeRef pat = LLVMArrayType(i64, k->nparams);
        params = LLVMBuildAlloca(b, pat, "p");
        for (uint32_t i = 0, sized = 0; i < k->nparams; i++) {
            LLVMValueRef idx[2] = {LLVMConstInt(i32, 0, 0), LLVMConstInt(i32, i, 0)};
            LLVMValueRef v = k->param_expr[i] ? LLVMGetParam(f, k->nargs + sized++) : pv[i];
            LLVMBuildStore(b, v, LLVMBuildInBoundsGEP2(b, pat, params, idx, 2, ""));
        }
    }
    LLVMTypeRef at = LLVMArrayType(ptr, k->nargs);
    LLVMValueRef arr = LLVMBuildAlloca(b, at, "t");
    for (uint32_t i = 0; i < k->nargs; i++) {
        LLVMValueRef idx[2] = {LLVMConstInt(i32, 0, 0), LLVMConstInt(i32, i, 0)};
        LLVMBuildStore(b, LLVMGetParam(f, i), LLVMBuildInBoundsGEP2(b, at, arr, idx, 2, ""));
    }
    LLVMValueRef args[2] = {params, arr};
    LLVMBuildCall2(b, LLVMGlobalGetValueType(dev), dev, args, 2, "");
    LLVMBuildRetVoid(b);
    /* the kernel marker LLVM 19's NVPTX reads besides the calling convention */
    LLVMMetadataRef md[3] = {LLVMValueAsMetadata(f), LLVMMDStringInContext2(ctx, "kernel", 6),
                             LLVMValueAsMetadata(LLVMConstInt(i32, 1, 0))};
    LLVMAddNamedMetadataOperand(mod, "nvvm.annotations", LLVMMetadataAsValue(ctx, LLVMMDNodeInContext2(ctx, md, 3)));
}

/* The plan's kernels as NVPTX assembly, optimized for sm; *asm_out is LLVM's buffer. */
static bool build_ptx(const PtxPlan *p, const char *sm, LLVMMemoryBufferRef *asm_out, char *err, size_t errlen)
{
    LLVMTargetMachineRef tm = nvptx_tm(sm, err, errlen);
    if (!tm) return false;
    LLVMContextRef ctx = LLVMContextCreate();
    LLVMMemoryBufferRef buf = LLVMCreateMemoryBufferWithMemoryRange(
        (const char *)ndlc_bc_ptx, (size_t)(ndlc_bc_ptx_end - ndlc_bc_ptx), "ptx_kernels.bc", 0);
    LLVMModuleRef mod;
    if (LLVMParseBitcodeInContext2(ctx, buf, &mod)) NDLC_ICE("the embedded NVPTX bitcode does not parse");
    LLVMDisposeMemoryBuffer(buf);
    LLVMSetTarget(mod, ptx_triple);
    LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
    LLVMSetModuleDataLayout(mod, td);
    LLVMDisposeTargetData(td);
    /* the device functions: internal, inlined into each kernel, built for this sm */
    unsigned inl = LLVMGetEnumAttributeKindForName("alwaysinline", 12);
    unsigned noinl = LLVMGetEnumAttributeKindForName("noinline", 8);
    for (LLVMValueRef f = LLVMGetFirstFunction(mod); f; f = LLVMGetNextFunction(f)) {
        if (LLVMIsDeclaration(f)) continue;
        LLVMSetLinkage(f, LLVMInternalLinkage);
        LLVMRemoveEnumAttributeAtIndex(f, LLVMAttributeFunctionIndex, noinl);
        LLVMRemoveStringAttributeAtIndex(f, LLVMAttributeFunctionIndex, "target-cpu", 10);
        LLVMRemoveStringAttributeAtIndex(f, LLVMAttributeFunctionIndex, "target-features", 15);
        LLVMAddTargetDependentFunctionAttr(f, "target-cpu", sm);
        LLVMAddTargetDependentFunctionAttr(f, "target-features", "+ptx78");
        size_t len; /* ours, not libdevice's: inlined, so that the sizes fold */
        if (strncmp(LLVMGetValueName2(f, &len), "__nv_", 5) != 0)
            LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(ctx, inl, 0));
    }
    LLVMBuilderRef b = LLVMCreateBuilderInContext(ctx);
    for (uint32_t i = 0; i < p->kernels.n; i++) add_kernel(ctx, mod, b, &p->kernels.v[i]);
    LLVMDisposeBuilder(b);
    char *msg = NULL;
    if (LLVMVerifyModule(mod, LLVMReturnStatusAction, &msg)) NDLC_ICE("invalid NVPTX module: %s", msg);
    LLVMDisposeMessage(msg);
    msg = NULL;
    LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
    LLVMErrorRef perr = LLVMRunPasses(mod, "default<O3>,globaldce", tm, po);
    if (perr) NDLC_ICE("LLVM passes failed: %s", LLVMGetErrorMessage(perr));
    LLVMDisposePassBuilderOptions(po);
    bool ok = !LLVMTargetMachineEmitToMemoryBuffer(tm, mod, LLVMAssemblyFile, &msg, asm_out);
    if (!ok) snprintf(err, errlen, "LLVM cannot emit PTX: %s", msg ? msg : "");
    LLVMDisposeMessage(msg);
    LLVMDisposeModule(mod);
    LLVMContextDispose(ctx);
    LLVMDisposeTargetMachine(tm);
    return ok;
}

bool emitll_ptx_text(const Module *m, const PtxPlan *p, const char *sm, FILE *f, char *err, size_t errlen)
{
    LLVMMemoryBufferRef asm_buf;
    if (!build_ptx(p, sm, &asm_buf, err, errlen)) return false;
    ptx_plan_write(p, m, f);
    size_t n = LLVMGetBufferSize(asm_buf);
    const char *s = LLVMGetBufferStart(asm_buf);
    while (n && s[n - 1] == 0) n--; /* the buffer may carry a terminating NUL */
    bool ok = fwrite(s, 1, n, f) == n;
    if (!ok) snprintf(err, errlen, "cannot write the PTX: %s", strerror(errno));
    LLVMDisposeMemoryBuffer(asm_buf);
    return ok;
}

bool emitll_ptx(const Module *m, const PtxPlan *p, const char *sm, const char *out_path, char *err, size_t errlen)
{
    int fd;
    char *tmp = backend_temp_create(out_path, false, &fd, err, errlen);
    FILE *f = tmp ? fdopen(fd, "wb") : NULL;
    if (!f) {
        if (tmp) {
            snprintf(err, errlen, "cannot write '%s': %s", out_path, strerror(errno));
            close(fd);
            if (strcmp(tmp, out_path) != 0) unlink(tmp);
        }
        free(tmp);
        return false;
    }
    bool ok = emitll_ptx_text(m, p, sm, f, err, errlen);
    if (fclose(f) != 0 && ok) {
        snprintf(err, errlen, "cannot write '%s': %s", out_path, strerror(errno));
        ok = false;
    }
    ok = ok && backend_install(tmp, out_path, err, errlen);
    if (!ok && strcmp(tmp, out_path) != 0) unlink(tmp);
    free(tmp);
    return ok;
}
