/* SPDX-License-Identifier: MIT
 * ptxrt.c - runs the PTX of `ndlc --emit ptx` through the CUDA driver API.
 *
 * The driver library (libcuda.so.1) is opened with dlopen, as the CUDA runtime does: an
 * executable built where no driver is installed runs anywhere and, without a GPU, reports
 * NDLRT_EDEVICE instead of failing to load. The few driver types are declared here with
 * their ABI values, so building needs no CUDA header either.
 * create: cuInit, the first device (compute capability 8.0 or newer, else NDLRT_EDEVICE),
 * its primary context, cuModuleLoadData on the PTX, one CUfunction per plan kernel, the weight
 * block uploaded once, one device buffer per input and output and the workspace.
 * run: inputs to the device, every kernel in plan order (cuLaunchKernel with the grid and
 * block of the plan and each pointer parameter resolved from its buffer and offset), the
 * plan's output copies, outputs back to the host, one synchronization at the end.
 * The plan format is in docs/decisions.md ("PTX launch plan"). No globals.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* dlopen */
#endif
#include "ptxrt.h"

#include <dlfcn.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../ndlrt.h"

enum { NDLPTX_MAX_ARGS = 16 };

/* the CUDA driver API's types and the values used here (cuda.h, stable ABI) */
typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
enum { CUDA_SUCCESS = 0, CUDA_ERROR_OUT_OF_MEMORY = 2, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75 };

/* the driver's entry points, by their versioned symbol names */
typedef struct NdlptxDriver {
    void *lib;
    CUresult (*Init)(unsigned);
    CUresult (*DeviceGet)(CUdevice *, int);
    CUresult (*DeviceGetAttribute)(int *, int, CUdevice);
    CUresult (*PrimaryCtxRetain)(CUcontext *, CUdevice);
    CUresult (*PrimaryCtxRelease)(CUdevice);
    CUresult (*CtxSetCurrent)(CUcontext);
    CUresult (*CtxSynchronize)(void);
    CUresult (*ModuleLoadData)(CUmodule *, const void *);
    CUresult (*ModuleUnload)(CUmodule);
    CUresult (*ModuleGetFunction)(CUfunction *, CUmodule, const char *);
    CUresult (*MemAlloc)(CUdeviceptr *, size_t);
    CUresult (*MemFree)(CUdeviceptr);
    CUresult (*MemcpyHtoD)(CUdeviceptr, const void *, size_t);
    CUresult (*MemcpyDtoH)(void *, CUdeviceptr, size_t);
    CUresult (*MemcpyDtoD)(CUdeviceptr, CUdeviceptr, size_t);
    CUresult (*LaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream,
                             void **, void **);
} NdlptxDriver;

typedef struct NdlptxArg {
    char at;                 /* '-' none, 'i' input, 'o' output, 'w' weight block, 's' workspace */
    unsigned index;
    uint64_t offset;
} NdlptxArg;

typedef struct NdlptxKernel {
    CUfunction fn;
    unsigned grid, block, shared, nargs;
    NdlptxArg args[NDLPTX_MAX_ARGS];
} NdlptxKernel;

typedef struct NdlptxCopy {
    unsigned output;
    NdlptxArg from;
    uint64_t bytes;
} NdlptxCopy;

struct NdlptxModel {
    NdlptxDriver cu;
    CUdevice dev;
    CUcontext ctx;
    CUmodule mod;
    CUdeviceptr weights, ws;
    CUdeviceptr *in, *out;
    size_t *in_bytes, *out_bytes;
    int ninputs, noutputs;
    NdlptxKernel *k;
    unsigned nk;
    NdlptxCopy *copies;
    unsigned ncopies;
    uint64_t weight_bytes, ws_bytes;
    int has_error;           /* an int32 error word in the workspace (index out of range) */
    uint64_t error_offset;
};

static int status_of(CUresult r) { return r == CUDA_SUCCESS ? NDLRT_OK : r == CUDA_ERROR_OUT_OF_MEMORY ? NDLRT_ENOMEM : NDLRT_EDEVICE; }

static int parse_arg(const char **s, NdlptxArg *a)
{
    int used = 0;
    while (**s == ' ') (*s)++;
    if (**s == '-') {
        a->at = '-';
        (*s)++;
        return 1;
    }
    if (sscanf(*s, "%c%u+%" SCNu64 "%n", &a->at, &a->index, &a->offset, &used) != 3 || !strchr("iows", a->at)) return 0;
    *s += used;
    return 1;
}

/* Reads the "// ndlc-plan" lines; kernel names are looked up in the loaded module. */
static int parse_plan(NdlptxModel *m, const char *ptx)
{
    unsigned nk = 0, ni = 0, no = 0, cap_copies = 0;
    const char *line = strstr(ptx, "// ndlc-plan 1 ");
    if (!line) return NDLRT_EARG;
    char name[256];
    if (sscanf(line, "// ndlc-plan 1 model %255s inputs %u outputs %u weights %" SCNu64 " workspace %" SCNu64
               " kernels %u", name, &ni, &no, &m->weight_bytes, &m->ws_bytes, &nk) != 6 ||
        (int)ni != m->ninputs || (int)no != m->noutputs)
        return NDLRT_EARG;
    m->k = calloc(nk + 1, sizeof *m->k);
    cap_copies = no + 1;
    m->copies = calloc(cap_copies, sizeof *m->copies);
    if (!m->k || !m->copies) return NDLRT_ENOMEM;
    for (line = strchr(line, '\n'); line && strncmp(line + 1, "// ndlc-plan ", 13) == 0; line = strchr(line + 1, '\n')) {
        const char *s = line + 14;
        int used = 0;
        if (strncmp(s, "kernel ", 7) == 0) {
            NdlptxKernel *k = &m->k[m->nk];
            if (m->nk >= nk || sscanf(s, "kernel %255s %u %u %u %u%n", name, &k->grid, &k->block, &k->shared,
                                      &k->nargs, &used) != 5 || k->nargs > NDLPTX_MAX_ARGS)
                return NDLRT_EARG;
            s += used;
            for (unsigned a = 0; a < k->nargs; a++)
                if (!parse_arg(&s, &k->args[a])) return NDLRT_EARG;
            CUresult r = m->cu.ModuleGetFunction(&k->fn, m->mod, name);
            if (r != CUDA_SUCCESS) return status_of(r);
            m->nk++;
        } else if (strncmp(s, "error ", 6) == 0) {
            if (sscanf(s, "error %" SCNu64, &m->error_offset) != 1 || m->error_offset + 4 > m->ws_bytes) return NDLRT_EARG;
            m->has_error = 1;
        } else if (strncmp(s, "copy ", 5) == 0) {
            NdlptxCopy *c = &m->copies[m->ncopies];
            if (m->ncopies >= cap_copies || sscanf(s, "copy %u%n", &c->output, &used) != 1) return NDLRT_EARG;
            s += used;
            if (!parse_arg(&s, &c->from) || sscanf(s, " %" SCNu64, &c->bytes) != 1) return NDLRT_EARG;
            m->ncopies++;
        }
    }
    return m->nk == nk ? NDLRT_OK : NDLRT_EARG;
}

void ndlptx_destroy(NdlptxModel *m)
{
    if (!m) return;
    if (m->ctx) {
        m->cu.CtxSetCurrent(m->ctx);
        for (int i = 0; m->in && i < m->ninputs; i++) if (m->in[i]) m->cu.MemFree(m->in[i]);
        for (int i = 0; m->out && i < m->noutputs; i++) if (m->out[i]) m->cu.MemFree(m->out[i]);
        if (m->weights) m->cu.MemFree(m->weights);
        if (m->ws) m->cu.MemFree(m->ws);
        if (m->mod) m->cu.ModuleUnload(m->mod);
        m->cu.PrimaryCtxRelease(m->dev);
    }
    if (m->cu.lib) dlclose(m->cu.lib);
    free(m->in);
    free(m->out);
    free(m->in_bytes);
    free(m->out_bytes);
    free(m->k);
    free(m->copies);
    free(m);
}

/* a device buffer of at least one byte (cuMemAlloc refuses 0) */
static int alloc(NdlptxModel *m, CUdeviceptr *p, size_t n) { return status_of(m->cu.MemAlloc(p, n ? n : 1)); }

/* Opens the driver and finds every entry point; false: no usable driver. */
static int open_driver(NdlptxDriver *d)
{
    d->lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!d->lib) return 0;
    struct { void *fn; const char *name; } sym[] = {
        {&d->Init, "cuInit"}, {&d->DeviceGet, "cuDeviceGet"}, {&d->DeviceGetAttribute, "cuDeviceGetAttribute"},
        {&d->PrimaryCtxRetain, "cuDevicePrimaryCtxRetain"}, {&d->PrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2"},
        {&d->CtxSetCurrent, "cuCtxSetCurrent"}, {&d->CtxSynchronize, "cuCtxSynchronize"},
        {&d->ModuleLoadData, "cuModuleLoadData"}, {&d->ModuleUnload, "cuModuleUnload"},
        {&d->ModuleGetFunction, "cuModuleGetFunction"}, {&d->MemAlloc, "cuMemAlloc_v2"}, {&d->MemFree, "cuMemFree_v2"},
        {&d->MemcpyHtoD, "cuMemcpyHtoD_v2"}, {&d->MemcpyDtoH, "cuMemcpyDtoH_v2"}, {&d->MemcpyDtoD, "cuMemcpyDtoD_v2"},
        {&d->LaunchKernel, "cuLaunchKernel"}};
    for (size_t i = 0; i < sizeof sym / sizeof *sym; i++) {
        void *f = dlsym(d->lib, sym[i].name);
        if (!f) return 0;
        memcpy(sym[i].fn, &f, sizeof f); /* object to function pointer, as POSIX allows */
    }
    return 1;
}

int ndlptx_create(NdlptxModel **out, const char *ptx, const void *weights, size_t weight_bytes, int ninputs,
                  const size_t *in_bytes, int noutputs, const size_t *out_bytes)
{
    if (!out || !ptx) return NDLRT_EARG;
    *out = NULL;
    NdlptxModel *m = calloc(1, sizeof *m);
    if (!m) return NDLRT_ENOMEM;
    int major = 0;
    if (!open_driver(&m->cu) || m->cu.Init(0) != CUDA_SUCCESS || m->cu.DeviceGet(&m->dev, 0) != CUDA_SUCCESS ||
        m->cu.DeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, m->dev) != CUDA_SUCCESS ||
        major < 8) {
        ndlptx_destroy(m);
        return NDLRT_EDEVICE;
    }
    m->ninputs = ninputs;
    m->noutputs = noutputs;
    m->in = calloc((size_t)ninputs + 1, sizeof *m->in);
    m->out = calloc((size_t)noutputs + 1, sizeof *m->out);
    m->in_bytes = calloc((size_t)ninputs + 1, sizeof *m->in_bytes);
    m->out_bytes = calloc((size_t)noutputs + 1, sizeof *m->out_bytes);
    int rc = m->in && m->out && m->in_bytes && m->out_bytes ? NDLRT_OK : NDLRT_ENOMEM;
    if (!rc) rc = status_of(m->cu.PrimaryCtxRetain(&m->ctx, m->dev));
    if (!rc) rc = status_of(m->cu.CtxSetCurrent(m->ctx));
    if (!rc) rc = status_of(m->cu.ModuleLoadData(&m->mod, ptx));
    if (!rc) rc = parse_plan(m, ptx);
    if (!rc && m->weight_bytes != weight_bytes) rc = NDLRT_EWEIGHTS;
    if (!rc) rc = alloc(m, &m->weights, weight_bytes);
    if (!rc && weight_bytes) rc = status_of(m->cu.MemcpyHtoD(m->weights, weights, weight_bytes));
    if (!rc) rc = alloc(m, &m->ws, m->ws_bytes);
    for (int i = 0; !rc && i < ninputs; i++) {
        m->in_bytes[i] = in_bytes[i];
        rc = alloc(m, &m->in[i], in_bytes[i]);
    }
    for (int i = 0; !rc && i < noutputs; i++) {
        m->out_bytes[i] = out_bytes[i];
        rc = alloc(m, &m->out[i], out_bytes[i]);
    }
    if (rc) {
        ndlptx_destroy(m);
        return rc;
    }
    *out = m;
    return NDLRT_OK;
}

static CUdeviceptr where(const NdlptxModel *m, NdlptxArg a)
{
    switch (a.at) {
    case 'i': return m->in[a.index] + a.offset;
    case 'o': return m->out[a.index] + a.offset;
    case 'w': return m->weights + a.offset;
    case 's': return m->ws + a.offset;
    default: return 0;
    }
}

int ndlptx_run(NdlptxModel *m, const void *const *inputs, void *const *outputs)
{
    if (!m || (m->ninputs && !inputs) || (m->noutputs && !outputs)) return NDLRT_EARG;
    int rc = status_of(m->cu.CtxSetCurrent(m->ctx));
    const int32_t zero = 0;
    int32_t bad = 0;
    if (!rc && m->has_error) rc = status_of(m->cu.MemcpyHtoD(m->ws + m->error_offset, &zero, sizeof zero));
    for (int i = 0; !rc && i < m->ninputs; i++)
        if (m->in_bytes[i]) rc = status_of(m->cu.MemcpyHtoD(m->in[i], inputs[i], m->in_bytes[i]));
    for (unsigned i = 0; !rc && i < m->nk; i++) {
        const NdlptxKernel *k = &m->k[i];
        CUdeviceptr p[NDLPTX_MAX_ARGS];
        void *params[NDLPTX_MAX_ARGS];
        for (unsigned a = 0; a < k->nargs; a++) {
            p[a] = where(m, k->args[a]);
            params[a] = &p[a];
        }
        rc = status_of(m->cu.LaunchKernel(k->fn, k->grid, 1, 1, k->block, 1, 1, k->shared, NULL, params, NULL));
    }
    for (unsigned i = 0; !rc && i < m->ncopies; i++)
        if (m->copies[i].bytes)
            rc = status_of(m->cu.MemcpyDtoD(m->out[m->copies[i].output], where(m, m->copies[i].from), m->copies[i].bytes));
    if (!rc) rc = status_of(m->cu.CtxSynchronize());
    if (!rc && m->has_error) rc = status_of(m->cu.MemcpyDtoH(&bad, m->ws + m->error_offset, sizeof bad));
    if (!rc && bad) rc = NDLRT_EINDEX;
    for (int i = 0; !rc && i < m->noutputs; i++)
        if (m->out_bytes[i]) rc = status_of(m->cu.MemcpyDtoH(outputs[i], m->out[i], m->out_bytes[i]));
    return rc;
}
