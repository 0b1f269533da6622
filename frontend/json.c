/* SPDX-License-Identifier: MIT
 * json.c - every use of cJSON in the compiler: reading --subnet files and writing
 * reports. Weight files do not come here (runtime/safetensors.c reads them without
 * dependencies, because generated code needs that reader too).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <math.h>
#include <cjson/cJSON.h>
#include "json.h"
#include "../backends/backend.h"

static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open: %s", strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0, got;
    char *buf = xmalloc(cap);
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap) buf = xrealloc(buf, cap *= 2);
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        snprintf(err, errlen, "read error");
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static bool json_int(const cJSON *v, int64_t *out)
{
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (d != floor(d) || fabs(d) > 9007199254740992.0) return false;
    *out = (int64_t)d;
    return true;
}

bool json_read_subnet(const char *path, Arena *a, SubnetEntry **out, uint32_t *n, char *err,
                      size_t errlen)
{
    size_t len;
    char *text = read_file(path, &len, err, errlen);
    if (!text) return false;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (!root) {
        snprintf(err, errlen, "invalid JSON at byte %ld", end ? (long)(end - text) : 0L);
        free(text);
        return false;
    }
    free(text);
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "expected a JSON object of elastic variable values");
        cJSON_Delete(root);
        return false;
    }
    uint32_t count = (uint32_t)cJSON_GetArraySize(root), k = 0;
    SubnetEntry *e = arena_alloc(a, (count ? count : 1) * sizeof *e);
    for (const cJSON *it = root->child; it; it = it->next, k++) {
        SubnetEntry *s = &e[k];
        s->name = arena_strdup(a, it->string ? it->string : "");
        if (cJSON_IsNull(it)) { s->is_null = true; continue; }
        if (cJSON_IsArray(it)) {
            s->is_list = true;
            s->n = (uint32_t)cJSON_GetArraySize(it);
            s->v = arena_alloc(a, (s->n ? s->n : 1) * sizeof *s->v);
            uint32_t i = 0;
            for (const cJSON *x = it->child; x; x = x->next, i++)
                if (!json_int(x, &s->v[i])) s->not_int = true;
        } else {
            s->n = 1;
            s->v = arena_alloc(a, sizeof *s->v);
            if (!json_int(it, &s->v[0])) s->not_int = true;
        }
    }
    cJSON_Delete(root);
    *out = e;
    *n = count;
    return true;
}

static cJSON *dims_json(const Module *m, const TensorType *t)
{
    cJSON *a = cJSON_CreateArray();
    char d[64];
    for (unsigned i = 0; i < t->rank; i++) {
        if (t->dims[i] >= 0) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)t->dims[i]));
        else cJSON_AddItemToArray(a, cJSON_CreateString(ir_format_dim(m, t->dims[i], d, sizeof d)));
    }
    return a;
}

char *json_report(const Module *m)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", m->name);
    cJSON *syms = cJSON_AddArrayToObject(root, "symbols");
    for (SymId s = 1; s < m->syms.n; s++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", m->syms.v[s].name);
        if (m->syms.v[s].bound) cJSON_AddNumberToObject(o, "bound", (double)m->syms.v[s].bound);
        cJSON_AddItemToArray(syms, o);
    }
    /* parameters: every stored tensor once (tied parameters share one), including the
     * constants that passes made from parameters (folded BatchNorm, predicted weights) */
    cJSON *params = cJSON_AddArrayToObject(root, "parameters");
    double nparams = 0, nbytes = 0;
    for (WeightId w = 1; w < m->weights.n; w++) {
        const Weight *wt = &m->weights.v[w];
        bool used = false;
        for (ValueId v = 1; v < m->values.n && !used; v++)
            used = (m->values.v[v].kind == VAL_PARAM || m->values.v[v].kind == VAL_CONST) &&
                   m->values.v[v].weight == w;
        if (!used || wt->type.rank == 0) continue; /* scalars are code, not parameters */
        double numel = (double)(wt->nbytes / dtype_info[wt->type.dtype].size);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "key", wt->key ? wt->key : "(computed)");
        cJSON_AddStringToObject(o, "dtype", dtype_info[wt->type.dtype].name);
        cJSON_AddItemToObject(o, "shape", dims_json(m, &wt->type));
        cJSON_AddNumberToObject(o, "elements", numel);
        cJSON_AddNumberToObject(o, "bytes", (double)wt->nbytes);
        cJSON_AddItemToArray(params, o);
        nparams += numel;
        nbytes += (double)wt->nbytes;
    }
    cJSON *ops = cJSON_AddArrayToObject(root, "ops");
    double flops = 0;
    for (OpId o = 1; o < m->ops.n; o++) {
        const Op *op = &m->ops.v[o];
        if (op->flags & OPF_DEAD) continue;
        double f = (double)ir_op_flops(m, op);
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "id", op->out);
        cJSON_AddStringToObject(j, "op", op_info[op->kind].name);
        if (op->name) cJSON_AddStringToObject(j, "layer", op->name);
        cJSON_AddItemToObject(j, "shape", dims_json(m, ir_type(m, op->out)));
        cJSON_AddNumberToObject(j, "flops", f);
        cJSON_AddItemToArray(ops, j);
        flops += f;
    }
    /* the memory plan of the backends, at each symbol's bound (or 1 when unbounded) */
    Plan plan;
    plan_build(m, &plan);
    int64_t *sym = xcalloc(m->syms.n + 1, sizeof *sym);
    cJSON *mp = cJSON_AddObjectToObject(root, "memory_plan");
    cJSON *at = cJSON_AddObjectToObject(mp, "at_sizes");
    for (SymId k = 1; k < m->syms.n; k++) {
        sym[k] = m->syms.v[k].bound > 0 ? m->syms.v[k].bound : 1;
        cJSON_AddNumberToObject(at, m->syms.v[k].name, (double)sym[k]);
    }
    size_t arena, unplanned;
    plan_arena(m, &plan, sym, &arena, &unplanned);
    cJSON_AddNumberToObject(mp, "slots", plan.nslots);
    cJSON_AddNumberToObject(mp, "arena_bytes", (double)arena);
    cJSON_AddNumberToObject(mp, "without_reuse_bytes", (double)unplanned);
    cJSON_AddStringToObject(mp, "note", "intermediates only; kernel scratch is added by the "
                                        "generated <Model>_workspace_bytes()");
    free(sym);
    plan_free(&plan);

    cJSON *tot = cJSON_AddObjectToObject(root, "total");
    cJSON_AddNumberToObject(tot, "parameters", nparams);
    cJSON_AddNumberToObject(tot, "parameter_bytes", nbytes);
    cJSON_AddNumberToObject(tot, "flops", flops);
    cJSON_AddStringToObject(tot, "flops_note", "multiply-add = 2 FLOPs; symbolic sizes count as 1");
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    if (!s) NDLC_ICE("out of memory writing the report");
    char *copy = xstrdup(s);
    cJSON_free(s);
    return copy;
}
