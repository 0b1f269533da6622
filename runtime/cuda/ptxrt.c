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
 * run: the symbols bound to the run's sizes (buffers that are too small grow: the
 * workspace's slots are laid out at the run's sizes), inputs to the device, every kernel in
 * plan order (cuLaunchKernel with the plan's grid and block, each pointer parameter
 * resolved from its buffer and offset, then the kernel's size parameters evaluated), the
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
#include "ptxsize.h"

enum { NDLPTX_MAX_ARGS = 16, NDLPTX_MAX_PARAMS = 64 };

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

/* sizes point into the model's copy of the plan: a size expression (ptxsize.h) */
typedef struct NdlptxKernel {
    CUfunction fn;
    const char *grid;
    unsigned block, shared, nargs, nsized;
    NdlptxArg args[NDLPTX_MAX_ARGS];
    const char *sized[NDLPTX_MAX_PARAMS]; /* the parameters passed after the pointers */
} NdlptxKernel;

typedef struct NdlptxCopy {
    unsigned output;
    NdlptxArg from;
    const char *bytes;
} NdlptxCopy;

/* a device buffer that grows to the largest run */
typedef struct NdlptxBuf {
    CUdeviceptr p;
    size_t cap, used;
} NdlptxBuf;

struct NdlptxModel {
    NdlptxDriver cu;
    CUdevice dev;
    CUcontext ctx;
    CUmodule mod;
    char *plan;              /* the plan's lines */
    NdlptxSyms syms;
    CUdeviceptr weights;
    NdlptxBuf ws;
    NdlptxBuf *in, *out;
    const char **in_bytes, **out_bytes, **slot_bytes;
    uint64_t *slot_off;
    unsigned nslots;
    int ninputs, noutputs;
    NdlptxKernel *k;
    unsigned nk;
    NdlptxCopy *copies;
    unsigned ncopies;
    uint64_t weight_bytes;
    int has_error;           /* an int32 error word in the workspace (index out of range) */
    unsigned error_slot;
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

/* Reads the "// ndlc-plan" lines (copied into m->plan); kernel names are looked up in the
 * loaded module. */
static int parse_plan(NdlptxModel *m, const char *ptx)
{
    unsigned nk = 0, ni = 0, no = 0, nsyms = 0;
    const char *head = strstr(ptx, "// ndlc-plan 2 "), *end = head ? strstr(head, "// ndlc-plan end") : NULL;
    if (!end) return NDLRT_EARG;
    char name[256];
    if (sscanf(head, "// ndlc-plan 2 model %255s inputs %u outputs %u weights %" SCNu64 " slots %u kernels %u symbols %u",
               name, &ni, &no, &m->weight_bytes, &m->nslots, &nk, &nsyms) != 7 ||
        (int)ni != m->ninputs || (int)no != m->noutputs)
        return NDLRT_EARG;
    m->plan = malloc((size_t)(end - head) + 1);
    m->k = calloc(nk + 1, sizeof *m->k);
    m->copies = calloc(no + 1, sizeof *m->copies);
    m->in_bytes = calloc(ni + 1, sizeof *m->in_bytes);
    m->out_bytes = calloc(no + 1, sizeof *m->out_bytes);
    m->slot_bytes = calloc(m->nslots + 1, sizeof *m->slot_bytes);
    m->slot_off = calloc(m->nslots + 1, sizeof *m->slot_off);
    if (!m->plan || !m->k || !m->copies || !m->in_bytes || !m->out_bytes || !m->slot_bytes || !m->slot_off)
        return NDLRT_ENOMEM;
    memcpy(m->plan, head, (size_t)(end - head));
    m->plan[end - head] = 0;
    for (const char *line = strchr(m->plan, '\n'); line && strncmp(line + 1, "// ndlc-plan ", 13) == 0;
         line = strchr(line + 1, '\n')) {
        const char *s = line + 14;
        int used = 0;
        unsigned idx = 0;
        if (strncmp(s, "symbol ", 7) == 0) {
            if (!ndlptx_size_symbol(&m->syms, s + 7)) return NDLRT_EARG;
        } else if (strncmp(s, "input ", 6) == 0 || strncmp(s, "output ", 7) == 0 || strncmp(s, "slot ", 5) == 0) {
            int in = s[0] == 'i', slot = s[0] == 's';
            unsigned n = in ? ni : slot ? m->nslots : no;
            const char **to = in ? m->in_bytes : slot ? m->slot_bytes : m->out_bytes;
            if (sscanf(s, "%*s %u%n", &idx, &used) != 1 || idx >= n) return NDLRT_EARG;
            s += used;
            if (!ndlptx_size_text(&s, &m->syms, &to[idx])) return NDLRT_EARG;
        } else if (strncmp(s, "kernel ", 7) == 0) {
            NdlptxKernel *k = &m->k[m->nk];
            if (m->nk >= nk || sscanf(s, "kernel %255s%n", name, &used) != 1) return NDLRT_EARG;
            s += used;
            if (!ndlptx_size_text(&s, &m->syms, &k->grid) || sscanf(s, " %u %u %u%n", &k->block, &k->shared, &k->nargs, &used) != 3 ||
                k->nargs > NDLPTX_MAX_ARGS)
                return NDLRT_EARG;
            s += used;
            for (unsigned a = 0; a < k->nargs; a++)
                if (!parse_arg(&s, &k->args[a])) return NDLRT_EARG;
            CUresult r = m->cu.ModuleGetFunction(&k->fn, m->mod, name);
            if (r != CUDA_SUCCESS) return status_of(r);
        } else if (strncmp(s, "params ", 7) == 0) {
            NdlptxKernel *k = &m->k[m->nk];
            unsigned np = 0;
            if (m->nk >= nk || sscanf(s, "params %*s %u%n", &np, &used) != 1 || np > NDLPTX_MAX_PARAMS) return NDLRT_EARG;
            s += used;
            for (unsigned a = 0; a < np; a++) {
                int64_t c;
                const char *expr;
                if (!ndlptx_size_token(&s, &m->syms, &c, &expr)) return NDLRT_EARG;
                if (expr) k->sized[k->nsized++] = expr;
            }
            m->nk++;
        } else if (strncmp(s, "error ", 6) == 0) {
            if (sscanf(s, "error %u", &m->error_slot) != 1 || m->error_slot >= m->nslots) return NDLRT_EARG;
            m->has_error = 1;
        } else if (strncmp(s, "copy ", 5) == 0) {
            NdlptxCopy *c = &m->copies[m->ncopies];
            if (m->ncopies >= no || sscanf(s, "copy %u%n", &c->output, &used) != 1 || c->output >= no) return NDLRT_EARG;
            s += used;
            if (!parse_arg(&s, &c->from) || !ndlptx_size_text(&s, &m->syms, &c->bytes)) return NDLRT_EARG;
            m->ncopies++;
        }
    }
    int complete = m->nk == nk && m->syms.n == nsyms;
    for (unsigned i = 0; i < m->nslots; i++) complete &= m->slot_bytes[i] != NULL;
    for (unsigned i = 0; i < ni; i++) complete &= m->in_bytes[i] != NULL;
    for (unsigned i = 0; i < no; i++) complete &= m->out_bytes[i] != NULL;
    return complete ? NDLRT_OK : NDLRT_EARG;
}

void ndlptx_destroy(NdlptxModel *m)
{
    if (!m) return;
    if (m->ctx) {
        m->cu.CtxSetCurrent(m->ctx);
        for (int i = 0; m->in && i < m->ninputs; i++) if (m->in[i].p) m->cu.MemFree(m->in[i].p);
        for (int i = 0; m->out && i < m->noutputs; i++) if (m->out[i].p) m->cu.MemFree(m->out[i].p);
        if (m->weights) m->cu.MemFree(m->weights);
        if (m->ws.p) m->cu.MemFree(m->ws.p);
        if (m->mod) m->cu.ModuleUnload(m->mod);
        m->cu.PrimaryCtxRelease(m->dev);
    }
    if (m->cu.lib) dlclose(m->cu.lib);
    free(m->plan);
    free(m->in);
    free(m->out);
    free(m->in_bytes);
    free(m->out_bytes);
    free(m->slot_bytes);
    free(m->slot_off);
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

/* b holds at least n bytes (its contents are not kept) */
static int reserve(NdlptxModel *m, NdlptxBuf *b, size_t n)
{
    b->used = n;
    if (b->p && n <= b->cap) return NDLRT_OK;
    if (b->p) m->cu.MemFree(b->p);
    b->p = 0;
    b->cap = 0;
    int rc = alloc(m, &b->p, n);
    if (!rc) b->cap = n;
    return rc;
}

/* Binds the symbols and sizes every buffer for them: the inputs, outputs and the
 * workspace, its slots laid out one after the other, each 256-byte aligned. */
static int size_buffers(NdlptxModel *m, const int64_t *syms)
{
    int rc = ndlptx_size_bind(&m->syms, syms);
    int64_t n = 0;
    for (int i = 0; !rc && i < m->ninputs + m->noutputs; i++) {
        int in = i < m->ninputs;
        if (!ndlptx_size_eval(in ? m->in_bytes[i] : m->out_bytes[i - m->ninputs], &m->syms, &n)) return NDLRT_ESIZE;
        rc = reserve(m, in ? &m->in[i] : &m->out[i - m->ninputs], (size_t)n);
    }
    uint64_t total = 0;
    for (unsigned i = 0; !rc && i < m->nslots; i++) {
        if (!ndlptx_size_eval(m->slot_bytes[i], &m->syms, &n) || (uint64_t)n > UINT64_MAX / 2 - total) return NDLRT_ESIZE;
        m->slot_off[i] = total;
        total += ((uint64_t)n + 255) / 256 * 256;
    }
    return rc ? rc : reserve(m, &m->ws, total);
}

int ndlptx_create(NdlptxModel **out, const char *ptx, const void *weights, size_t weight_bytes, int ninputs,
                  int noutputs)
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
    int rc = m->in && m->out ? NDLRT_OK : NDLRT_ENOMEM;
    if (!rc) rc = status_of(m->cu.PrimaryCtxRetain(&m->ctx, m->dev));
    if (!rc) rc = status_of(m->cu.CtxSetCurrent(m->ctx));
    if (!rc) rc = status_of(m->cu.ModuleLoadData(&m->mod, ptx));
    if (!rc) rc = parse_plan(m, ptx);
    if (!rc && m->weight_bytes != weight_bytes) rc = NDLRT_EWEIGHTS;
    if (!rc) rc = alloc(m, &m->weights, weight_bytes);
    if (!rc && weight_bytes) rc = status_of(m->cu.MemcpyHtoD(m->weights, weights, weight_bytes));
    /* every symbol bounded (or none): reserve for the largest run now, as the C API's create does */
    int bounded = 1;
    int64_t at[NDLPTX_MAX_SYMS];
    for (unsigned i = 0; i < m->syms.n; i++) {
        bounded &= m->syms.bound[i] > 0;
        at[i] = m->syms.bound[i];
    }
    if (!rc && bounded) rc = size_buffers(m, at);
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
    case 'i': return m->in[a.index].p + a.offset;
    case 'o': return m->out[a.index].p + a.offset;
    case 'w': return m->weights + a.offset;
    case 's': return m->ws.p + m->slot_off[a.index] + a.offset;
    default: return 0;
    }
}

int ndlptx_run(NdlptxModel *m, const int64_t *syms, const void *const *inputs, void *const *outputs)
{
    if (!m || (m->syms.n && !syms) || (m->ninputs && !inputs) || (m->noutputs && !outputs)) return NDLRT_EARG;
    int rc = status_of(m->cu.CtxSetCurrent(m->ctx));
    if (!rc) rc = size_buffers(m, syms);
    const int32_t zero = 0;
    int32_t bad = 0;
    CUdeviceptr error_word = m->ws.p + (m->has_error ? m->slot_off[m->error_slot] : 0);
    if (!rc && m->has_error) rc = status_of(m->cu.MemcpyHtoD(error_word, &zero, sizeof zero));
    for (int i = 0; !rc && i < m->ninputs; i++)
        if (m->in[i].used) rc = status_of(m->cu.MemcpyHtoD(m->in[i].p, inputs[i], m->in[i].used));
    for (unsigned i = 0; !rc && i < m->nk; i++) {
        const NdlptxKernel *k = &m->k[i];
        CUdeviceptr p[NDLPTX_MAX_ARGS];
        int64_t sized[NDLPTX_MAX_PARAMS], grid = 0;
        void *params[NDLPTX_MAX_ARGS + NDLPTX_MAX_PARAMS];
        for (unsigned a = 0; a < k->nargs; a++) {
            p[a] = where(m, k->args[a]);
            params[a] = &p[a];
        }
        for (unsigned a = 0; a < k->nsized; a++) {
            if (!ndlptx_size_eval(k->sized[a], &m->syms, &sized[a])) return NDLRT_ESIZE;
            params[k->nargs + a] = &sized[a];
        }
        if (!ndlptx_size_eval(k->grid, &m->syms, &grid)) return NDLRT_ESIZE;
        if (grid == 0) continue; /* no work at these sizes (a symbol is 0) */
        /* the kernels are grid-stride loops: a grid above the x limit only loops more */
        unsigned g = grid > 65535 ? 65535u : (unsigned)grid;
        rc = status_of(m->cu.LaunchKernel(k->fn, g, 1, 1, k->block, 1, 1, k->shared, NULL, params, NULL));
    }
    for (unsigned i = 0; !rc && i < m->ncopies; i++) {
        int64_t n = 0;
        if (!ndlptx_size_eval(m->copies[i].bytes, &m->syms, &n)) return NDLRT_ESIZE;
        if (n) rc = status_of(m->cu.MemcpyDtoD(m->out[m->copies[i].output].p, where(m, m->copies[i].from), (size_t)n));
    }
    if (!rc) rc = status_of(m->cu.CtxSynchronize());
    if (!rc && m->has_error) rc = status_of(m->cu.MemcpyDtoH(&bad, error_word, sizeof bad));
    if (!rc && bad) rc = NDLRT_EINDEX;
    for (int i = 0; !rc && i < m->noutputs; i++)
        if (m->out[i].used) rc = status_of(m->cu.MemcpyDtoH(outputs[i], m->out[i].p, m->out[i].used));
    return rc;
}
