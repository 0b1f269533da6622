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

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* cJSON is laxer than RFC 8259 where a --subnet file could be misread: it reads numbers
 * with strtod (`01`, `1.`, `-.5` pass) and decodes `\u0000` (or takes a raw NUL) into a NUL that
 * silently ends a key. Runs after cJSON accepted the text, so the structure is valid and only strings and
 * numbers need a look; reports the first offence with its byte offset. */
static bool strict_scan(const char *t, size_t len, char *err, size_t errlen)
{
    size_t i = 0;
    while (i < len) {
        if (t[i] == '"') {
            for (i++; i < len && t[i] != '"'; i++) {
                if ((unsigned char)t[i] < 0x20) {
                    snprintf(err, errlen, "invalid JSON at byte %zu: a control character in a "
                             "string", i);
                    return false;
                }
                if (t[i] != '\\') continue;
                i++;
                if (i + 4 < len && t[i] == 'u' && memcmp(t + i + 1, "0000", 4) == 0) {
                    snprintf(err, errlen, "invalid JSON at byte %zu: a NUL character (\\u0000) "
                             "in a string", i - 1);
                    return false;
                }
            }
            i++;
            continue;
        }
        if (t[i] != '-' && !is_digit(t[i])) { i++; continue; }
        /* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, and nothing number-like after */
        size_t j = i + (t[i] == '-');
        bool ok = j < len && is_digit(t[j]);
        if (ok && t[j] == '0') j++;
        else while (j < len && is_digit(t[j])) j++;
        if (ok && j < len && t[j] == '.') {
            ok = ++j < len && is_digit(t[j]);
            while (j < len && is_digit(t[j])) j++;
        }
        if (ok && j < len && (t[j] == 'e' || t[j] == 'E')) {
            j++;
            if (j < len && (t[j] == '+' || t[j] == '-')) j++;
            ok = j < len && is_digit(t[j]);
            while (j < len && is_digit(t[j])) j++;
        }
        if (ok && j < len && t[j] && strchr("0123456789+-.eE", t[j])) ok = false;
        if (!ok) {
            snprintf(err, errlen, "invalid JSON at byte %zu: malformed number (no leading zeros, "
                     "digits on both sides of '.')", i);
            return false;
        }
        i = j;
    }
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
    /* the value must be the whole file, as RFC 8259 says; trailing whitespace is allowed */
    size_t pos = (size_t)(end - text);
    while (pos < len && (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\n' ||
                         text[pos] == '\r'))
        pos++;
    bool strict = pos == len;
    if (!strict)
        snprintf(err, errlen, "invalid JSON at byte %zu: text after the top-level value", pos);
    else
        strict = strict_scan(text, len, err, errlen);
    free(text);
    if (!strict) {
        cJSON_Delete(root);
        return false;
    }
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "expected a JSON object of elastic variable values");
        cJSON_Delete(root);
        return false;
    }
    uint32_t count = (uint32_t)cJSON_GetArraySize(root), k = 0;
    SubnetEntry *e = arena_alloc(a, (count ? count : 1) * sizeof *e);
    for (const cJSON *it = root->child; it; it = it->next, k++) {
        for (const cJSON *p = root->child; p != it; p = p->next)
            if (it->string && p->string && strcmp(p->string, it->string) == 0) {
                snprintf(err, errlen, "duplicate key '%s'", it->string);
                cJSON_Delete(root);
                return false;
            }
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

/* The sparsity section: per stored parameter tensor (as in "parameters") and in total,
 * elements, nonzeros and density = nonzeros / elements (1 for an empty tensor). A weight
 * that is exactly zero counts as pruned whether or not a mask says so; "masked" tells
 * whether a pruning mask (P_mask, prune, --prune) is kept with the weight. */
static cJSON *sparsity_json(const Module *m)
{
    cJSON *sp = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(sp, "parameters");
    double total = 0, total_nz = 0;
    for (WeightId w = 1; w < m->weights.n; w++) {
        const Weight *wt = &m->weights.v[w];
        bool used = false;
        for (ValueId v = 1; v < m->values.n && !used; v++)
            used = (m->values.v[v].kind == VAL_PARAM || m->values.v[v].kind == VAL_CONST) &&
                   m->values.v[v].weight == w;
        if (!used || wt->type.rank == 0) continue;
        size_t esz = dtype_info[wt->type.dtype].size, n = wt->nbytes / esz, nz = 0;
        for (size_t i = 0; i < n; i++) {
            if (wt->type.dtype == DT_F32) {
                nz += ((const float *)wt->data)[i] != 0;
                continue;
            }
            const unsigned char *e = (const unsigned char *)wt->data + i * esz;
            bool zero = true;
            for (size_t b = 0; b < esz && zero; b++) zero = e[b] == 0;
            nz += !zero;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "key", wt->key ? wt->key : "(computed)");
        cJSON_AddNumberToObject(o, "elements", (double)n);
        cJSON_AddNumberToObject(o, "nonzeros", (double)nz);
        cJSON_AddNumberToObject(o, "density", n ? (double)nz / (double)n : 1.0);
        cJSON_AddBoolToObject(o, "masked", wt->mask != 0);
        cJSON_AddItemToArray(list, o);
        total += (double)n;
        total_nz += (double)nz;
    }
    cJSON *tot = cJSON_AddObjectToObject(sp, "total");
    cJSON_AddNumberToObject(tot, "elements", total);
    cJSON_AddNumberToObject(tot, "nonzeros", total_nz);
    cJSON_AddNumberToObject(tot, "density", total > 0 ? total_nz / total : 1.0);
    return sp;
}

/* Per weight: whether a value still refers to it, and it is a stored tensor (not a
 * scalar, which generated code writes as a literal). */
static bool *stored_weights(const Module *m)
{
    bool *used = xcalloc(m->weights.n + 1, sizeof *used);
    for (ValueId v = 1; v < m->values.n; v++) {
        const Value *val = &m->values.v[v];
        if ((val->kind == VAL_PARAM || val->kind == VAL_CONST) && val->weight < m->weights.n)
            used[val->weight] = m->weights.v[val->weight].type.rank > 0;
    }
    return used;
}

static int64_t dim1(const Module *m, Dim d)
{
    (void)m;
    return d >= 0 ? d : 1; /* a symbolic size counts as 1 (batch 1) */
}

static int64_t numel1(const Module *m, const TensorType *t)
{
    int64_t n = 1;
    for (unsigned i = 0; i < t->rank; i++) n *= dim1(m, t->dims[i]);
    return n;
}

int64_t json_op_macs(const Module *m, const Op *op)
{
    if (op->flags & OPF_DEAD) return 0;
    const TensorType *out = ir_type(m, op->out);
    switch (op->kind) {
    case OP_CONV2D: {
        const TensorType *w = ir_type(m, ir_operand(m, op, 1));
        return numel1(m, out) * dim1(m, w->dims[1]) * dim1(m, w->dims[2]) * dim1(m, w->dims[3]);
    }
    case OP_LINEAR: {
        const TensorType *w = ir_type(m, ir_operand(m, op, 1));
        return numel1(m, out) * dim1(m, w->dims[1]);
    }
    case OP_MATMUL: {
        const TensorType *a = ir_type(m, ir_operand(m, op, 0));
        return numel1(m, out) * dim1(m, a->dims[a->rank - 1]);
    }
    case OP_ATTENTION: {
        const TensorType *q = ir_type(m, ir_operand(m, op, 0)), *k = ir_type(m, ir_operand(m, op, 1));
        unsigned r = q->rank;
        int64_t scores = dim1(m, k->dims[r - 2]); /* batch * Tq * Tk */
        for (unsigned i = 0; i + 1 < r; i++) scores *= dim1(m, q->dims[i]);
        return scores * (dim1(m, q->dims[r - 1]) + dim1(m, out->dims[r - 1]));
    }
    default: return 0;
    }
}

/* The arena of the backends' memory plan at each symbol's bound (or 1 when unbounded). */
static size_t plan_arena_bytes(const Module *m, cJSON *mp)
{
    Plan plan;
    plan_build(m, &plan);
    int64_t *sym = xcalloc(m->syms.n + 1, sizeof *sym);
    cJSON *at = mp ? cJSON_AddObjectToObject(mp, "at_sizes") : NULL;
    for (SymId k = 1; k < m->syms.n; k++) {
        /* a moe row count at its maximum, which the backends plan for */
        sym[k] = m->syms.v[k].dynamic ? ir_dim_eval(m, m->syms.v[k].max, sym)
                 : m->syms.v[k].bound > 0 ? m->syms.v[k].bound : 1;
        if (at) cJSON_AddNumberToObject(at, m->syms.v[k].name, (double)sym[k]);
    }
    size_t arena, unplanned;
    plan_arena(m, &plan, sym, &arena, &unplanned);
    if (mp) {
        cJSON_AddNumberToObject(mp, "slots", plan.nslots);
        cJSON_AddNumberToObject(mp, "arena_bytes", (double)arena);
        cJSON_AddNumberToObject(mp, "without_reuse_bytes", (double)unplanned);
        cJSON_AddStringToObject(mp, "note", "intermediates only; kernel scratch is added by the "
                                            "generated <Model>_workspace_bytes()");
    }
    free(sym);
    plan_free(&plan);
    return arena;
}

void json_pass_record(const Module *m, const char *pass, PassRecord *r)
{
    *r = (PassRecord){.pass = pass};
    bool *used = stored_weights(m);
    for (WeightId w = 1; w < m->weights.n; w++) {
        if (!used[w]) continue;
        const Weight *wt = &m->weights.v[w];
        r->params += (double)(wt->nbytes / dtype_info[wt->type.dtype].size);
        r->param_bytes += (double)wt->nbytes;
    }
    free(used);
    for (OpId o = 1; o < m->ops.n; o++) {
        const Op *op = &m->ops.v[o];
        if (op->flags & OPF_DEAD) continue;
        r->ops += 1;
        r->flops += (double)ir_op_flops(m, op);
        r->macs += (double)json_op_macs(m, op);
    }
}

void json_model_stats(const Module *m, ModelStats *s)
{
    PassRecord r;
    json_pass_record(m, NULL, &r);
    *s = (ModelStats){.params = r.params, .param_bytes = r.param_bytes, .macs = r.macs, .flops = r.flops,
                      .arena_bytes = (double)plan_arena_bytes(m, NULL)};
}

/* Parameter sharing (spec 8.3): "logical" bytes count each stored tensor once per op that
 * reads it (a layer applied k times, a tied embedding read by the lookup and the head) and
 * once per content-identical copy; "stored" bytes count each distinct content once, as the
 * artefact stores it. A group is a stored tensor with every parameter sharing its bytes;
 * only groups whose logical bytes exceed their stored bytes are listed. */
static cJSON *sharing_json(const Module *m)
{
    uint32_t nw = m->weights.n;
    bool *used = stored_weights(m);
    uint32_t *uses = xcalloc(nw + 1, sizeof *uses);
    for (OpId o = 1; o < m->ops.n; o++) {
        const Op *op = &m->ops.v[o];
        if (op->flags & OPF_DEAD) continue;
        for (unsigned i = 0; i < op->nin; i++) {
            ValueId a = ir_operand(m, op, i);
            if (!a) continue;
            const Value *v = &m->values.v[a];
            if (v->kind != VAL_PARAM && v->kind != VAL_CONST) continue;
            bool again = false; /* one op reading a tensor twice reads one copy */
            for (unsigned j = 0; j < i; j++) {
                ValueId b = ir_operand(m, op, j);
                again |= b && m->values.v[b].weight == v->weight &&
                         (m->values.v[b].kind == VAL_PARAM || m->values.v[b].kind == VAL_CONST);
            }
            if (!again) uses[v->weight]++;
        }
    }
    for (uint32_t i = 0; i < m->outputs.n; i++) {
        const Value *v = &m->values.v[m->outputs.v[i].value];
        if (v->kind == VAL_PARAM || v->kind == VAL_CONST) uses[v->weight]++;
    }
    /* blob k is weight k + 1; unused weights are empty blobs of their own tag */
    const void **data = xcalloc(nw + 1, sizeof *data);
    size_t *len = xcalloc(nw + 1, sizeof *len);
    uint32_t *tag = xcalloc(nw + 1, sizeof *tag), *same = xcalloc(nw + 1, sizeof *same);
    for (WeightId w = 1; w < nw; w++) {
        const Weight *wt = &m->weights.v[w];
        data[w - 1] = wt->data;
        len[w - 1] = used[w] ? wt->nbytes : 0;
        tag[w - 1] = used[w] ? (uint32_t)wt->type.dtype : DT_COUNT + w;
    }
    ir_dedup_blobs(nw ? nw - 1 : 0, data, len, tag, same);
    cJSON *sh = cJSON_CreateObject();
    cJSON *groups = cJSON_CreateArray();
    double logical = 0, stored = 0;
    for (WeightId c = 1; c < nw; c++) {
        if (!used[c] || same[c - 1]) continue;
        const Weight *ct = &m->weights.v[c];
        double glog = 0, nuses = 0;
        cJSON *keys = cJSON_CreateArray();
        for (WeightId w = c; w < nw; w++) {
            if (w != c && (!used[w] || same[w - 1] != c)) continue;
            const Weight *wt = &m->weights.v[w];
            double k = uses[w] ? uses[w] : 1;
            glog += k * (double)wt->nbytes;
            nuses += k;
            cJSON_AddItemToArray(keys, cJSON_CreateString(wt->key ? wt->key : "(computed)"));
        }
        logical += glog;
        stored += (double)ct->nbytes;
        if (glog > (double)ct->nbytes) {
            cJSON *g = cJSON_CreateObject();
            cJSON_AddItemToObject(g, "keys", keys);
            cJSON_AddNumberToObject(g, "uses", nuses);
            cJSON_AddNumberToObject(g, "stored_bytes", (double)ct->nbytes);
            cJSON_AddNumberToObject(g, "logical_bytes", glog);
            cJSON_AddItemToArray(groups, g);
        } else {
            cJSON_Delete(keys);
        }
    }
    cJSON_AddNumberToObject(sh, "stored_bytes", stored);
    cJSON_AddNumberToObject(sh, "logical_bytes", logical);
    cJSON_AddItemToObject(sh, "groups", groups);
    /* `hashed` weights (ROAST), the memory each lowering needs on top of the pools:
     * materialize expands each once, in create; compressed (C backend) expands a tile of
     * NDLRT_HASHED_TILE = 64 weight rows at a time into the scratch of the linear reading
     * it (the largest tile counts: the scratch is shared), and only a hashed weight read
     * by something else than a linear is still expanded whole */
    double expanded = 0, compressed = 0, tile = 0;
    bool *by_linear = xcalloc(m->ops.n, sizeof *by_linear), *other = xcalloc(m->ops.n, sizeof *other);
    for (OpId o = 1; o < m->ops.n; o++) {
        const Op *op = &m->ops.v[o];
        if (op->flags & OPF_DEAD) continue;
        for (unsigned i = 0; i < op->nin; i++) {
            ValueId v = ir_operand(m, op, i);
            if (!v || m->values.v[v].kind != VAL_RESULT) continue;
            if (op->kind == OP_LINEAR && i == 1) by_linear[m->values.v[v].def] = true;
            else other[m->values.v[v].def] = true;
        }
    }
    for (uint32_t i = 0; i < m->outputs.n; i++)
        if (m->values.v[m->outputs.v[i].value].kind == VAL_RESULT) other[m->values.v[m->outputs.v[i].value].def] = true;
    for (OpId o = 1; o < m->ops.n; o++) {
        const Op *op = &m->ops.v[o];
        if ((op->flags & OPF_DEAD) || op->kind != OP_HASHED) continue;
        const TensorType *t = ir_type(m, op->out);
        double bytes = (double)numel1(m, t) * dtype_info[t->dtype].size;
        expanded += bytes;
        if (other[o] || !by_linear[o] || t->rank != 2) compressed += bytes;
        else if ((double)(t->dims[0] < 64 ? t->dims[0] : 64) * (double)t->dims[1] * 4 > tile)
            tile = (double)(t->dims[0] < 64 ? t->dims[0] : 64) * (double)t->dims[1] * 4;
    }
    free(by_linear);
    free(other);
    cJSON_AddNumberToObject(sh, "hashed_materialized_bytes", expanded);
    cJSON_AddNumberToObject(sh, "hashed_compressed_bytes", compressed + tile);
    free(used);
    free(uses);
    free(data);
    free(len);
    free(tag);
    free(same);
    return sh;
}

/* sparsity.layers: per linear / 1x1 conv over a stored weight, the format the backends
 * use (backends/sparse.c) with its stored bytes and the multiply-adds it executes, beside
 * the dense figures (symbolic sizes count as 1, as for "macs"); cuda_format is the format
 * --target cuda stores it in (sparse_gpu_format; bytes and macs are the CPU format's). */
static cJSON *sparse_layers_json(const Module *m, SparseMode mode)
{
    cJSON *list = cJSON_CreateArray();
    for (OpId o = 1; o < m->ops.n; o++) {
        const Op *op = &m->ops.v[o];
        SparseLayer sl;
        if (!sparse_layer(m, op, mode, &sl)) continue;
        const NdlrtSparseInfo *in = &sl.info;
        double entries = (double)in->n * (double)in->k, run = entries;
        if (sl.format == NDLRT_SPARSE_CSR || sl.format == NDLRT_SPARSE_ELL) run = (double)in->nnz;
        else if (sl.format == NDLRT_SPARSE_BLOCK) run = (double)in->blocks * NDLRT_SPARSE_BLOCK_ROWS;
        else if (sl.format == NDLRT_SPARSE_NM) run = (double)in->n * (double)(in->k / in->nm_m) * in->nm_n;
        double macs = (double)json_op_macs(m, op), dense_bytes = entries * sizeof(float);
        const Weight *w = &m->weights.v[m->values.v[ir_operand(m, op, 1)].weight];
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "id", op->out);
        cJSON_AddStringToObject(j, "op", op_info[op->kind].name);
        if (op->name) cJSON_AddStringToObject(j, "layer", op->name);
        cJSON_AddStringToObject(j, "weight", w->key ? w->key : "(computed)");
        cJSON_AddNumberToObject(j, "density", entries > 0 ? (double)in->nnz / entries : 1.0);
        cJSON_AddStringToObject(j, "format", sparse_format_name(sl.format));
        cJSON_AddStringToObject(j, "cuda_format", sparse_format_name(sparse_gpu_format(sl.format)));
        if (sl.format == NDLRT_SPARSE_NM) {
            char nm[32];
            snprintf(nm, sizeof nm, "%d:%d", in->nm_n, in->nm_m);
            cJSON_AddStringToObject(j, "pattern", nm);
        }
        cJSON_AddNumberToObject(j, "bytes", sl.format ? (double)sl.packed_floats * sizeof(float) : dense_bytes);
        cJSON_AddNumberToObject(j, "dense_bytes", dense_bytes);
        cJSON_AddNumberToObject(j, "macs", entries > 0 ? macs / entries * run : 0);
        cJSON_AddNumberToObject(j, "dense_macs", macs);
        cJSON_AddItemToArray(list, j);
    }
    return list;
}

/* Structured pruning (passes/prune.c): per layer with all-zero weight rows (or attention
 * with all-zero head slices), the units ("unit": channel or head) removed and those kept,
 * each with the reason; the unit count is "channels" or "heads". */
static cJSON *removals_json(const Module *m)
{
    cJSON *list = cJSON_CreateArray();
    for (uint32_t i = 0; i < m->removals.n; i++) {
        const IrRemoval *r = &m->removals.v[i];
        cJSON *j = cJSON_CreateObject();
        char units[32];
        snprintf(units, sizeof units, "%ss", r->unit); /* "channels", "heads" */
        cJSON_AddStringToObject(j, "layer", r->layer);
        cJSON_AddStringToObject(j, "unit", r->unit);
        cJSON_AddNumberToObject(j, units, (double)r->channels);
        cJSON *removed = cJSON_AddArrayToObject(j, "removed");
        for (uint32_t k = 0; k < r->nremoved; k++)
            cJSON_AddItemToArray(removed, cJSON_CreateNumber((double)r->removed[k]));
        cJSON *kept = cJSON_AddArrayToObject(j, "kept");
        for (uint32_t k = 0; k < r->nkept; k++) {
            cJSON *c = cJSON_CreateObject();
            cJSON_AddNumberToObject(c, r->unit, (double)r->kept[k]);
            cJSON_AddStringToObject(c, "reason", r->why[k]);
            cJSON_AddItemToArray(kept, c);
        }
        cJSON_AddItemToArray(list, j);
    }
    return list;
}

/* Per moe layer (spec 8.4): its routing op, experts and policy, and how many experts a
 * token activates (top-k: k; threshold: 1 to max_k, data-dependent; assign: 1), plus the
 * shared experts, which every token runs. Experts are the moe_gather ops of its gates. */
static cJSON *moe_json(const Module *m)
{
    cJSON *list = cJSON_CreateArray();
    for (OpId o = 1; o < m->ops.n; o++) {
        const Op *op = &m->ops.v[o];
        if ((op->flags & OPF_DEAD) || (op->kind != OP_MOE_ROUTE && op->kind != OP_MOE_ASSIGN)) continue;
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "index", cJSON_GetArraySize(list));
        cJSON_AddStringToObject(j, "layer", op->name ? op->name : "");
        cJSON *experts = cJSON_AddArrayToObject(j, "experts");
        for (OpId g = o + 1; g < m->ops.n; g++) {
            const Op *go = &m->ops.v[g];
            if (go->flags & OPF_DEAD) continue;
            if (go->kind == OP_MOE_GATHER && ir_operand(m, go, 1) == op->out)
                cJSON_AddItemToArray(experts, cJSON_CreateString(go->name ? go->name : ""));
        }
        int64_t e = ir_type(m, op->out)->dims[1], lo = 1, hi = 1;
        cJSON_AddNumberToObject(j, "num_experts", (double)e);
        cJSON *pol = cJSON_AddObjectToObject(j, "policy");
        if (op->kind == OP_MOE_ASSIGN) {
            cJSON_AddStringToObject(pol, "kind", "assign");
        } else if (ir_op_int(m, op, ATTR_POLICY) == 0) {
            lo = hi = ir_op_int(m, op, ATTR_K);
            cJSON_AddStringToObject(pol, "kind", "topk");
            cJSON_AddNumberToObject(pol, "k", (double)hi);
            cJSON_AddBoolToObject(pol, "renorm", ir_op_int(m, op, ATTR_RENORM) != 0);
            cJSON_AddBoolToObject(pol, "softmax", ir_op_int(m, op, ATTR_SOFTMAX) != 0);
        } else {
            hi = ir_op_int(m, op, ATTR_K);
            cJSON_AddStringToObject(pol, "kind", "threshold");
            cJSON_AddNumberToObject(pol, "p", ir_op_float(m, op, ATTR_P));
            cJSON_AddNumberToObject(pol, "max_k", (double)hi);
        }
        cJSON *act = cJSON_AddObjectToObject(j, "active_experts_per_token");
        cJSON_AddNumberToObject(act, "min", (double)lo);
        cJSON_AddNumberToObject(act, "max", (double)hi);
        if (lo == hi) cJSON_AddNumberToObject(act, "expected", (double)lo);
        else cJSON_AddNullToObject(act, "expected"); /* depends on the scores */
        cJSON_AddItemToArray(list, j);
    }
    return list;
}

/* Predicted weights (spec 8.5): per weight, its expression's size and what each --hyper
 * mode stores for it (init: its share of the parameters it is computed from, a parameter
 * read by k weights counting 1/k in each); init_minus_fold_bytes < 0: init saves bytes. */
static cJSON *hyper_json(const Module *m)
{
    cJSON *h = cJSON_CreateObject();
    cJSON_AddStringToObject(h, "mode", m->hyper_init ? "init" : "fold");
    cJSON *list = cJSON_AddArrayToObject(h, "weights");
    double fold = 0, init = 0;
    for (uint32_t i = 0; i < m->predicted.n; i++) {
        const PredictedWeight *p = &m->predicted.v[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", p->name);
        cJSON_AddNumberToObject(o, "expression_ops", p->ops);
        cJSON_AddNumberToObject(o, "expression_flops", (double)p->flops);
        cJSON_AddNumberToObject(o, "fold_bytes", (double)p->bytes);
        cJSON_AddNumberToObject(o, "init_bytes", p->init_bytes);
        cJSON_AddNumberToObject(o, "init_minus_fold_bytes", p->init_bytes - (double)p->bytes);
        cJSON_AddItemToArray(list, o);
        fold += (double)p->bytes;
        init += p->init_bytes;
    }
    cJSON_AddNumberToObject(h, "fold_bytes", fold);
    init = round(init); /* the shares add up to whole parameters */
    cJSON_AddNumberToObject(h, "init_bytes", init);
    cJSON_AddNumberToObject(h, "init_minus_fold_bytes", init - fold);
    return h;
}

/* a size of the launch plan: a number, or (when it depends on symbols) its expression */
static cJSON *size_json(const char *size)
{
    char *end;
    long long n = strtoll(size, &end, 10);
    return *end ? cJSON_CreateString(size) : cJSON_CreateNumber((double)n);
}

/* "ptx_launch_plan": the kernels of --emit ptx in run order, with their buffers */
static cJSON *ptx_json(const Module *m, const PtxPlan *p)
{
    static const char *const where[] = {[PTX_NULL] = "none", [PTX_INPUT] = "input", [PTX_OUTPUT] = "output",
                                        [PTX_WEIGHT] = "weights", [PTX_WS] = "workspace"};
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "weight_bytes", (double)p->weight_bytes);
    /* sizes that depend on symbols are strings: expressions over the symbols' names */
    cJSON *slots = cJSON_AddArrayToObject(o, "workspace_slot_bytes");
    for (uint32_t i = 0; i < p->slot_bytes.n; i++) cJSON_AddItemToArray(slots, size_json(p->slot_bytes.v[i]));
    cJSON *ws = cJSON_AddArrayToObject(o, "weights");
    for (uint32_t i = 0; i < p->weights.n; i++) {
        const Weight *w = &m->weights.v[p->weights.v[i].weight];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "key", w->key ? w->key : "(computed)");
        cJSON_AddNumberToObject(e, "offset", (double)p->weights.v[i].offset);
        cJSON_AddNumberToObject(e, "bytes", (double)p->weights.v[i].bytes);
        cJSON_AddItemToArray(ws, e);
    }
    cJSON *ks = cJSON_AddArrayToObject(o, "kernels");
    for (uint32_t i = 0; i < p->kernels.n; i++) {
        const PtxKernel *k = &p->kernels.v[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", k->name);
        cJSON_AddStringToObject(e, "op", op_info[m->ops.v[k->op].kind].name);
        cJSON_AddItemToObject(e, "grid", k->grid_expr ? cJSON_CreateString(k->grid_expr) : cJSON_CreateNumber(k->grid));
        cJSON_AddNumberToObject(e, "block", k->block);
        cJSON_AddNumberToObject(e, "shared_bytes", k->shared);
        cJSON *args = cJSON_AddArrayToObject(e, "buffers");
        for (uint32_t a = 0; a < k->nargs; a++) {
            cJSON *b = cJSON_CreateObject();
            cJSON_AddStringToObject(b, "in", where[k->args[a].at]);
            if (k->args[a].at == PTX_INPUT || k->args[a].at == PTX_OUTPUT || k->args[a].at == PTX_WS)
                cJSON_AddNumberToObject(b, "index", k->args[a].index);
            if (k->args[a].at != PTX_NULL) cJSON_AddNumberToObject(b, "offset", (double)k->args[a].offset);
            cJSON_AddItemToArray(args, b);
        }
        cJSON_AddItemToArray(ks, e);
    }
    return o;
}

char *json_report(const Module *m, int sparse, const PtxPlan *ptx, const PassRecord *passes, unsigned npasses)
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
    bool *used = stored_weights(m);
    for (WeightId w = 1; w < m->weights.n; w++) {
        const Weight *wt = &m->weights.v[w];
        if (!used[w]) continue; /* scalars are code, not parameters */
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
    free(used);
    cJSON *ops = cJSON_AddArrayToObject(root, "ops");
    double flops = 0, macs = 0;
    for (OpId o = 1; o < m->ops.n; o++) {
        const Op *op = &m->ops.v[o];
        if (op->flags & OPF_DEAD) continue;
        double f = (double)ir_op_flops(m, op), mac = (double)json_op_macs(m, op);
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "id", op->out);
        cJSON_AddStringToObject(j, "op", op_info[op->kind].name);
        if (op->name) cJSON_AddStringToObject(j, "layer", op->name);
        cJSON_AddItemToObject(j, "shape", dims_json(m, ir_type(m, op->out)));
        cJSON_AddNumberToObject(j, "flops", f);
        cJSON_AddNumberToObject(j, "macs", mac);
        cJSON_AddItemToArray(ops, j);
        flops += f;
        macs += mac;
    }
    cJSON *sp = sparsity_json(m);
    cJSON_AddItemToObject(sp, "layers", sparse_layers_json(m, (SparseMode)sparse));
    cJSON_AddItemToObject(root, "sparsity", sp);
    cJSON *pruning = cJSON_AddObjectToObject(root, "pruning");
    cJSON_AddItemToObject(pruning, "layers", removals_json(m));
    cJSON_AddItemToObject(root, "sharing", sharing_json(m));
    cJSON_AddItemToObject(root, "moe", moe_json(m));
    cJSON_AddItemToObject(root, "hyper", hyper_json(m));
    /* the memory plan of the backends, at each symbol's bound (or 1 when unbounded) */
    cJSON *mp = cJSON_AddObjectToObject(root, "memory_plan");
    size_t arena = plan_arena_bytes(m, mp);
    /* what each pass changed: the model's size after elaboration and after every pass */
    if (npasses) {
        cJSON *pl = cJSON_AddArrayToObject(root, "passes");
        for (unsigned i = 0; i < npasses; i++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "pass", passes[i].pass);
            cJSON_AddNumberToObject(o, "ops", passes[i].ops);
            cJSON_AddNumberToObject(o, "parameters", passes[i].params);
            cJSON_AddNumberToObject(o, "parameter_bytes", passes[i].param_bytes);
            cJSON_AddNumberToObject(o, "flops", passes[i].flops);
            cJSON_AddNumberToObject(o, "macs", passes[i].macs);
            cJSON_AddItemToArray(pl, o);
        }
    }

    cJSON *tot = cJSON_AddObjectToObject(root, "total");
    cJSON_AddNumberToObject(tot, "parameters", nparams);
    cJSON_AddNumberToObject(tot, "parameter_bytes", nbytes);
    cJSON_AddNumberToObject(tot, "flops", flops);
    cJSON_AddStringToObject(tot, "flops_note", "multiply-add = 2 FLOPs; symbolic sizes count as 1");
    cJSON_AddNumberToObject(tot, "macs", macs);
    cJSON_AddStringToObject(tot, "macs_note", "multiply-adds of conv2d, linear, matmul and attention "
                                              "(OFA's rule: no bias, norm or elementwise terms)");
    cJSON_AddNumberToObject(tot, "arena_bytes", (double)arena);
    if (ptx) cJSON_AddItemToObject(root, "ptx_launch_plan", ptx_json(m, ptx));
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    if (!s) NDLC_ICE("out of memory writing the report");
    char *copy = xstrdup(s);
    cJSON_free(s);
    return copy;
}
