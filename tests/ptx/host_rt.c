/* SPDX-License-Identifier: MIT
 * host_rt.c - a test stand-in for runtime/cuda/ptxrt.c (same API, ptxrt.h): it reads the
 * same launch plan from the PTX ndlc wrote ("// ndlc-plan" lines: kernels, their buffers,
 * their device function and parameters, the size expressions of the symbols, the output
 * copies) and runs each kernel
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
#include "../../runtime/cuda/ptxsize.h"
#include "../../backends/llvm/rt/ptx_kernels.c"

enum { MAX_ARGS = 16, MAX_PARAMS = 64, MAX_PORTS = 64 };

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
    const char *param_expr[MAX_PARAMS]; /* into the plan's text; NULL: params[i] is constant */
} Kernel;

typedef struct Copy {
    unsigned output;
    Arg from;
    const char *bytes;
} Copy;

struct NdlptxModel {
    char *plan;              /* the plan's lines, which the size expressions point into */
    unsigned char *weights, *ws;
    size_t ws_cap;
    int ninputs, noutputs;
    NdlptxSyms syms;
    const char *out_bytes[MAX_PORTS];
    const char **slot_bytes;
    uint64_t *slot_off;
    unsigned nslots;
    Kernel *k;
    unsigned nk;
    Copy *copies;
    unsigned ncopies;
    int has_error;
    unsigned error_slot;
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
        {"ndlptx_attention", ndlptx_attention}, {"ndlptx_moe_route", ndlptx_moe_route},
        {"ndlptx_moe_assign", ndlptx_moe_assign}, {"ndlptx_moe_gather", ndlptx_moe_gather},
        {"ndlptx_moe_scatter", ndlptx_moe_scatter}, {"ndlptx_recurse", ndlptx_recurse},
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
                  int noutputs)
{
    NdlptxModel *m = calloc(1, sizeof *m);
    const char *head = strstr(ptx, "// ndlc-plan 2 "), *end = head ? strstr(head, "// ndlc-plan end") : NULL;
    char name[256];
    unsigned ni, no, nk, nslots, nsyms;
    uint64_t wb;
    if (!m || !end ||
        sscanf(head, "// ndlc-plan 2 model %255s inputs %u outputs %u weights %" SCNu64 " slots %u kernels %u symbols %u",
               name, &ni, &no, &wb, &nslots, &nk, &nsyms) != 7 ||
        (int)ni != ninputs || (int)no != noutputs || no > MAX_PORTS || wb != weight_bytes) {
        free(m);
        return NDLRT_EARG;
    }
    m->ninputs = ninputs;
    m->noutputs = noutputs;
    m->plan = malloc((size_t)(end - head) + 1);
    m->weights = malloc(wb + 1);
    m->k = calloc(nk + 1, sizeof *m->k);
    m->copies = calloc(no + 1, sizeof *m->copies);
    m->slot_bytes = calloc(nslots + 1, sizeof *m->slot_bytes);
    m->slot_off = calloc(nslots + 1, sizeof *m->slot_off);
    if (!m->plan || !m->weights || !m->k || !m->copies || !m->slot_bytes || !m->slot_off) {
        ndlptx_destroy(m);
        return NDLRT_ENOMEM;
    }
    memcpy(m->plan, head, (size_t)(end - head));
    m->plan[end - head] = 0;
    memcpy(m->weights, weights, wb);
    m->nslots = nslots;
    for (const char *line = strchr(m->plan, '\n'); line && strncmp(line + 1, "// ndlc-plan ", 13) == 0;
         line = strchr(line + 1, '\n')) {
        const char *s = line + 14;
        int used = 0, ok = 1;
        unsigned idx = 0;
        if (strncmp(s, "symbol ", 7) == 0) {
            ok = ndlptx_size_symbol(&m->syms, s + 7);
        } else if (strncmp(s, "output ", 7) == 0) {
            ok = sscanf(s, "output %u%n", &idx, &used) == 1 && idx < no;
            s += used;
            ok = ok && ndlptx_size_text(&s, &m->syms, &m->out_bytes[idx]);
        } else if (strncmp(s, "slot ", 5) == 0) {
            ok = sscanf(s, "slot %u%n", &idx, &used) == 1 && idx < nslots;
            s += used;
            ok = ok && ndlptx_size_text(&s, &m->syms, &m->slot_bytes[idx]);
        } else if (strncmp(s, "kernel ", 7) == 0) {
            Kernel *k = &m->k[m->nk];
            char grid[256];
            unsigned block, shared;
            ok = m->nk < nk && sscanf(s, "kernel %255s %255s %u %u %u%n", name, grid, &block, &shared, &k->nargs, &used) == 5 &&
                 k->nargs <= MAX_ARGS;
            s += used;
            for (unsigned a = 0; ok && a < k->nargs; a++) ok = parse_arg(&s, &k->args[a]);
        } else if (strncmp(s, "params ", 7) == 0) {
            Kernel *k = &m->k[m->nk];
            ok = m->nk < nk && sscanf(s, "params %255s %u%n", name, &k->nparams, &used) == 2 && k->nparams <= MAX_PARAMS &&
                 (k->fn = device_fn(name)) != NULL;
            s += used;
            for (unsigned a = 0; ok && a < k->nparams; a++)
                ok = ndlptx_size_token(&s, &m->syms, &k->params[a], &k->param_expr[a]);
            m->nk++;
        } else if (strncmp(s, "error ", 6) == 0) {
            ok = sscanf(s, "error %u", &m->error_slot) == 1 && m->error_slot < nslots;
            m->has_error = 1;
        } else if (strncmp(s, "copy ", 5) == 0) {
            Copy *c = &m->copies[m->ncopies++];
            ok = m->ncopies <= no && sscanf(s, "copy %u%n", &c->output, &used) == 1 && c->output < no;
            s += used;
            ok = ok && parse_arg(&s, &c->from) && ndlptx_size_text(&s, &m->syms, &c->bytes);
        }
        if (!ok) {
            fprintf(stderr, "host_rt: cannot read the plan line: %.80s\n", line + 1);
            ndlptx_destroy(m);
            return NDLRT_EARG;
        }
    }
    int complete = m->nk == nk && m->syms.n == nsyms;
    for (unsigned i = 0; i < nslots; i++) complete &= m->slot_bytes[i] != NULL;
    for (unsigned i = 0; i < no; i++) complete &= m->out_bytes[i] != NULL;
    if (!complete) {
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
    case 's': return m->ws + m->slot_off[a.index] + a.offset;
    default: return NULL;
    }
}

/* binds the symbols, lays the workspace slots out at this run's sizes and grows it */
static int prepare(NdlptxModel *m, const int64_t *syms)
{
    int rc = ndlptx_size_bind(&m->syms, syms);
    if (rc) return rc;
    uint64_t total = 0;
    for (unsigned i = 0; i < m->nslots; i++) {
        int64_t n;
        if (!ndlptx_size_eval(m->slot_bytes[i], &m->syms, &n) || (uint64_t)n > UINT64_MAX / 2 - total) return NDLRT_ESIZE;
        m->slot_off[i] = total;
        total += ((uint64_t)n + 255) / 256 * 256;
    }
    if (total > m->ws_cap) {
        unsigned char *ws = realloc(m->ws, total);
        if (!ws) return NDLRT_ENOMEM;
        m->ws = ws;
        m->ws_cap = total;
    }
    return NDLRT_OK;
}

int ndlptx_run(NdlptxModel *m, const int64_t *syms, const void *const *inputs, void *const *outputs)
{
    int rc = prepare(m, syms);
    if (rc) return rc;
    if (m->has_error) memset(m->ws + m->slot_off[m->error_slot], 0, 4);
    for (unsigned i = 0; i < m->nk; i++) {
        const Kernel *k = &m->k[i];
        void *t[MAX_ARGS];
        int64_t p[MAX_PARAMS];
        for (unsigned a = 0; a < k->nargs; a++) t[a] = where(m, inputs, outputs, k->args[a]);
        for (unsigned a = 0; a < k->nparams; a++) {
            p[a] = k->params[a];
            if (k->param_expr[a] && !ndlptx_size_eval(k->param_expr[a], &m->syms, &p[a])) return NDLRT_ESIZE;
        }
        k->fn(p, t);
    }
    for (unsigned i = 0; i < m->ncopies; i++) {
        int64_t n;
        if (!ndlptx_size_eval(m->copies[i].bytes, &m->syms, &n)) return NDLRT_ESIZE;
        memmove(outputs[m->copies[i].output], where(m, inputs, outputs, m->copies[i].from), (size_t)n);
    }
    int32_t bad = 0;
    if (m->has_error) memcpy(&bad, m->ws + m->slot_off[m->error_slot], sizeof bad);
    return bad ? NDLRT_EINDEX : NDLRT_OK;
}

void ndlptx_destroy(NdlptxModel *m)
{
    if (!m) return;
    free(m->plan);
    free(m->weights);
    free(m->ws);
    free(m->k);
    free(m->copies);
    free(m->slot_bytes);
    free(m->slot_off);
    free(m);
}
