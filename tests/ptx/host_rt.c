/* SPDX-License-Identifier: MIT
 * host_rt.c - a test stand-in for runtime/cuda/ptxrt.c (same API, ptxrt.h): it reads the
 * same launch plan from the PTX ndlc wrote ("// ndlc-plan" lines: kernels, their buffers,
 * their device function and constant parameters, the output copies) and runs each kernel
 * by calling that device function of backends/llvm/rt/ptx_kernels.c, compiled here for
 * the host, where the grid is one thread looping over all the work. So everything but
 * LLVM's NVPTX code generation (checked by ptxas) is checked against the goldens without
 * a GPU: the plan's offsets, buffer order, parameters, run order and the kernels' C.
 * Used through NDLC_PTXRT=this file (tests/ptx/host_check.sh).
 */
#include "../../runtime/cuda/ptxrt.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../../backends/llvm/rt/ptx_kernels.c"

enum { MAX_ARGS = 16, MAX_PARAMS = 64 };

typedef void DeviceFn(const int64_t *p, void *const *t);

typedef struct Arg {
    char at;
    unsigned index;
    uint64_t offset;
} Arg;

typedef struct Kernel {
    DeviceFn *fn;
    unsigned nargs, nparams;
    Arg args[MAX_ARGS];
    int64_t params[MAX_PARAMS];
} Kernel;

typedef struct Copy {
    unsigned output;
    Arg from;
    uint64_t bytes;
} Copy;

struct NdlptxModel {
    unsigned char *weights, *ws;
    int ninputs, noutputs;
    const size_t *in_bytes, *out_bytes;
    Kernel *k;
    unsigned nk;
    Copy *copies;
    unsigned ncopies;
    int has_error;
    uint64_t error_offset;
};

static DeviceFn *device_fn(const char *name)
{
    static const struct { const char *name; DeviceFn *fn; } table[] = {
        {"ndlptx_unary", ndlptx_unary}, {"ndlptx_binary", ndlptx_binary}, {"ndlptx_linear", ndlptx_linear},
        {"ndlptx_linear_tiled", ndlptx_linear_tiled},
        {"ndlptx_matmul_tiled", ndlptx_matmul_tiled},
        {"ndlptx_matmul", ndlptx_matmul}, {"ndlptx_conv2d", ndlptx_conv2d}, {"ndlptx_pool", ndlptx_pool},
        {"ndlptx_softmax", ndlptx_softmax}, {"ndlptx_reduce", ndlptx_reduce}, {"ndlptx_norm", ndlptx_norm},
        {"ndlptx_batch_norm", ndlptx_batch_norm}, {"ndlptx_copy", ndlptx_copy}, {"ndlptx_concat", ndlptx_concat},
        {"ndlptx_reduce_axes", ndlptx_reduce_axes}, {"ndlptx_argmax", ndlptx_argmax}, {"ndlptx_cast", ndlptx_cast},
        {"ndlptx_gather", ndlptx_gather}, {"ndlptx_hash", ndlptx_hash}, {"ndlptx_kron", ndlptx_kron},
        {"ndlptx_attention", ndlptx_attention},
    };
    for (size_t i = 0; i < sizeof table / sizeof *table; i++)
        if (strcmp(table[i].name, name) == 0) return table[i].fn;
    return NULL;
}

static int parse_arg(const char **s, Arg *a)
{
    int used = 0;
    while (**s == ' ') (*s)++;
    if (**s == '-') {
        a->at = '-';
        (*s)++;
        return 1;
    }
    if (sscanf(*s, "%c%u+%" SCNu64 "%n", &a->at, &a->index, &a->offset, &used) != 3) return 0;
    *s += used;
    return 1;
}

int ndlptx_create(NdlptxModel **out, const char *ptx, const void *weights, size_t weight_bytes, int ninputs,
                  const size_t *in_bytes, int noutputs, const size_t *out_bytes)
{
    NdlptxModel *m = calloc(1, sizeof *m);
    const char *line = strstr(ptx, "// ndlc-plan 1 ");
    char name[256];
    unsigned ni, no, nk;
    uint64_t wb, wsb;
    if (!m || !line ||
        sscanf(line, "// ndlc-plan 1 model %255s inputs %u outputs %u weights %" SCNu64 " workspace %" SCNu64
               " kernels %u", name, &ni, &no, &wb, &wsb, &nk) != 6 ||
        (int)ni != ninputs || (int)no != noutputs || wb != weight_bytes) {
        free(m);
        return NDLRT_EARG;
    }
    m->ninputs = ninputs;
    m->noutputs = noutputs;
    m->in_bytes = in_bytes;
    m->out_bytes = out_bytes;
    m->weights = malloc(wb + 1);
    m->ws = calloc(wsb + 1, 1);
    m->k = calloc(nk + 1, sizeof *m->k);
    m->copies = calloc(no + 1, sizeof *m->copies);
    if (!m->weights || !m->ws || !m->k || !m->copies) {
        ndlptx_destroy(m);
        return NDLRT_ENOMEM;
    }
    memcpy(m->weights, weights, wb);
    for (line = strchr(line, '\n'); line && strncmp(line + 1, "// ndlc-plan ", 13) == 0; line = strchr(line + 1, '\n')) {
        const char *s = line + 14;
        int used = 0, ok = 1;
        if (strncmp(s, "kernel ", 7) == 0) {
            Kernel *k = &m->k[m->nk];
            unsigned grid, block, shared;
            ok = m->nk < nk && sscanf(s, "kernel %255s %u %u %u %u%n", name, &grid, &block, &shared, &k->nargs, &used) == 5 &&
                 k->nargs <= MAX_ARGS;
            s += used;
            for (unsigned a = 0; ok && a < k->nargs; a++) ok = parse_arg(&s, &k->args[a]);
        } else if (strncmp(s, "params ", 7) == 0) {
            Kernel *k = &m->k[m->nk];
            ok = m->nk < nk && sscanf(s, "params %255s %u%n", name, &k->nparams, &used) == 2 && k->nparams <= MAX_PARAMS &&
                 (k->fn = device_fn(name)) != NULL;
            s += used;
            for (unsigned a = 0; ok && a < k->nparams; a++) {
                ok = sscanf(s, " %" SCNd64 "%n", &k->params[a], &used) == 1;
                s += used;
            }
            m->nk++;
        } else if (strncmp(s, "error ", 6) == 0) {
            ok = sscanf(s, "error %" SCNu64, &m->error_offset) == 1 && m->error_offset + 4 <= wsb;
            m->has_error = 1;
        } else if (strncmp(s, "copy ", 5) == 0) {
            Copy *c = &m->copies[m->ncopies++];
            ok = m->ncopies <= no && sscanf(s, "copy %u%n", &c->output, &used) == 1;
            s += used;
            ok = ok && parse_arg(&s, &c->from) && sscanf(s, " %" SCNu64, &c->bytes) == 1;
        }
        if (!ok) {
            fprintf(stderr, "host_rt: cannot read the plan line: %.80s\n", line + 1);
            ndlptx_destroy(m);
            return NDLRT_EARG;
        }
    }
    if (m->nk != nk) {
        ndlptx_destroy(m);
        return NDLRT_EARG;
    }
    *out = m;
    return NDLRT_OK;
}

static void *where(const NdlptxModel *m, const void *const *in, void *const *out, Arg a)
{
    switch (a.at) {
    case 'i': return (unsigned char *)(uintptr_t)in[a.index] + a.offset;
    case 'o': return (unsigned char *)out[a.index] + a.offset;
    case 'w': return m->weights + a.offset;
    case 's': return m->ws + a.offset;
    default: return NULL;
    }
}

int ndlptx_run(NdlptxModel *m, const void *const *inputs, void *const *outputs)
{
    if (m->has_error) memset(m->ws + m->error_offset, 0, 4);
    for (unsigned i = 0; i < m->nk; i++) {
        void *t[MAX_ARGS];
        for (unsigned a = 0; a < m->k[i].nargs; a++) t[a] = where(m, inputs, outputs, m->k[i].args[a]);
        m->k[i].fn(m->k[i].params, t);
    }
    for (unsigned i = 0; i < m->ncopies; i++)
        memmove(outputs[m->copies[i].output], where(m, inputs, outputs, m->copies[i].from), m->copies[i].bytes);
    int32_t bad = 0;
    if (m->has_error) memcpy(&bad, m->ws + m->error_offset, sizeof bad);
    return bad ? NDLRT_EINDEX : NDLRT_OK;
}

void ndlptx_destroy(NdlptxModel *m)
{
    if (!m) return;
    free(m->weights);
    free(m->ws);
    free(m->k);
    free(m->copies);
    free(m);
}
