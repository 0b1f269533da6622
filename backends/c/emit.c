/* SPDX-License-Identifier: MIT
 * emit.c - the C backend: writes NET.c and NET.h (spec section 10) for a planned module.
 *
 * The .c is one self-contained translation unit, in this order: a frontmatter naming
 * the source and command; the runtime code it calls (copied from ndlc's runtime/, every
 * function `static`); the weights (static const arrays, or nothing when they are loaded
 * from a file at create time); the instance struct; the workspace plan; one function
 * per layer, named after its NDL path and commented with its NDL line; and the API.
 * It depends on libc and libm only, allocates only in create/reserve (and in run when a
 * size grows beyond what was reserved), and performs no I/O in run.
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "emit_impl.h"
#include "../embedded.h"
#include "../../runtime/ndlrt.h"
#include "../../runtime/safetensors.h"

/* ---- names ---------------------------------------------------------------------------- */

static bool is_c_keyword(const char *s)
{
    static const char *const kw[] = {
        "auto", "break", "case", "char", "const", "continue", "default", "do", "double",
        "else", "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long",
        "register", "restrict", "return", "short", "signed", "sizeof", "static", "struct",
        "switch", "typedef", "union", "unsigned", "void", "volatile", "while", "m", "s",
        "ws", "rc", "off", "scratch", "need", "main", "errno", "NULL", "size_t", "int64_t"};
    for (size_t i = 0; i < sizeof kw / sizeof *kw; i++)
        if (strcmp(s, kw[i]) == 0) return true;
    return s[0] == '_';
}

/* A header parameter name: the NDL name, unless it is a C keyword ("float" -> "float_"). */
static char *c_param(const char *name)
{
    char *r = xmalloc(strlen(name) + 2);
    strcpy(r, name);
    if (is_c_keyword(name) && name[0] != '_') strcat(r, "_");
    return r;
}

/* A C identifier from an NDL path ("blocks.0.conv1" -> "blocks_0_conv1"). */
static char *c_ident(const char *s)
{
    size_t n = strlen(s);
    char *r = xmalloc(n + 3), *o = r;
    if (!isalpha((unsigned char)s[0])) *o++ = 'v';
    for (size_t i = 0; i < n; i++) *o++ = isalnum((unsigned char)s[i]) ? s[i] : '_';
    *o = 0;
    if (is_c_keyword(r)) strcat(r, "_");
    return r;
}

char *emitc_prefix(const Module *m) { return c_ident(m->name); }

const char *emitc_ctype(DType dt)
{
    switch (dt) {
    case DT_I32: return "int32_t";
    case DT_I64: return "int64_t";
    case DT_BOOL: return "uint8_t";
    default: return "float";
    }
}

const char *emitc_dim(const EmitC *e, Dim d, char *buf, size_t len)
{
    if (d >= 0) {
        snprintf(buf, len, "%" PRId64, d);
        return buf;
    }
    const DimExpr *x = ir_dim_expr(e->m, d);
    size_t o = 0;
    if (x->nsym > 1 || x->coef != 1) o += (size_t)snprintf(buf + o, len - o, "(");
    if (x->coef != 1) o += (size_t)snprintf(buf + o, len - o, "%" PRId64 "*", x->coef);
    for (unsigned i = 0; i < x->nsym && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%ss[%u]", i ? "*" : "", x->sym[i] - 1);
    if ((x->nsym > 1 || x->coef != 1) && o < len) snprintf(buf + o, len - o, ")");
    return buf;
}

void emitc_expr_too_long(char *err, size_t errlen)
{
    if (!err[0]) snprintf(err, errlen, "a tensor's stride expression is longer than %d characters", EMITC_EXPR_LEN - 1);
}

const char *emitc_numel(const EmitC *e, ValueId v, char *buf, size_t len)
{
    const TensorType *t = ir_type(e->m, v);
    int64_t c = 1;
    bool sym = false;
    for (unsigned i = 0; i < t->rank; i++) {
        if (t->dims[i] >= 0) c *= t->dims[i];
        else sym = true;
    }
    size_t o = 0;
    buf[0] = 0;
    if (!sym || c != 1) o = (size_t)snprintf(buf, len, "%" PRId64, c);
    char d[64];
    for (unsigned i = 0; i < t->rank && o < len; i++)
        if (t->dims[i] < 0) o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? "*" : "", emitc_dim(e, t->dims[i], d, sizeof d));
    return buf;
}

void emitc_location(const EmitC *e, Span span, char *buf, size_t len)
{
    buf[0] = 0;
    if (span.file && e->o->span_fmt) e->o->span_fmt(e->o->span_ud, span, buf, len);
}

/* ---- weights --------------------------------------------------------------------------- */

uint32_t emitc_weight_for(const EmitC *e, ValueId v, int pack, OpId packer)
{
    WeightId w = e->m->values.v[v].weight;
    for (uint32_t i = 0; i < e->cw.n; i++) {
        const CWeight *c = &e->cw.v[i];
        if (c->src == w && c->pack == pack && (pack == 0 || c->packer == packer)) return i;
    }
    NDLC_ICE("weight %u has no C form (pack %d)", w, pack);
}

static void add_raw_weights(EmitC *e)
{
    const Module *m = e->m;
    /* every weight some value refers to, unless only packed forms are read */
    bool *read_raw = xcalloc(m->weights.n, sizeof *read_raw);
    for (OpId o = 1; o < m->ops.n; o++) {
        const Op *op = &m->ops.v[o];
        if (op->flags & OPF_DEAD) continue;
        for (unsigned i = 0; i < op->nin; i++) {
            ValueId a = ir_operand(m, op, i);
            if (!a || e->plan.v[a].kind != ST_WEIGHT) continue;
            bool packed_operand = i == 1 && (op->kind == OP_LINEAR || op->kind == OP_CONV2D);
            if (!packed_operand) read_raw[m->values.v[a].weight] = true;
        }
    }
    for (uint32_t i = 0; i < m->outputs.n; i++) {
        ValueId r = plan_root(&e->plan, m->outputs.v[i].value);
        if (e->plan.v[r].kind == ST_WEIGHT) read_raw[m->values.v[r].weight] = true;
    }
    for (WeightId w = 1; w < m->weights.n; w++) {
        if (!read_raw[w]) continue;
        const Weight *wt = &m->weights.v[w];
        char *base = c_ident(wt->key ? wt->key : "const");
        char *name = xmalloc(strlen(base) + 32);
        sprintf(name, "W_%s", base);
        free(base);
        /* unique: constants made by passes may share a key */
        for (uint32_t k = 0; k < e->cw.n; k++)
            if (strcmp(e->cw.v[k].name, name) == 0) sprintf(name + strlen(name), "_%u", w);
        vec_push(e->cw, ((CWeight){.src = w, .name = name, .dtype = wt->type.dtype,
                                   .count = wt->nbytes / dtype_info[wt->type.dtype].size}));
    }
    free(read_raw);
}

/* x as a C float literal that reads back to the same value ("1.0f", not "1f"). */
const char *emitc_float(float x, char buf[EMITC_FLOAT_LEN])
{
    if (isnan(x)) return "NAN";
    if (isinf(x)) return x > 0 ? "INFINITY" : "-INFINITY";
    int n = snprintf(buf, EMITC_FLOAT_LEN - 3, "%.9g", (double)x);
    strcpy(buf + n, strpbrk(buf, ".e") ? "f" : ".0f");
    return buf;
}

static void write_float(FILE *f, float x)
{
    char buf[EMITC_FLOAT_LEN];
    fputs(emitc_float(x, buf), f);
}

static const void *weight_data(const EmitC *e, const CWeight *c)
{
    return c->data ? c->data : e->m->weights.v[c->src].data;
}

/* Identical arrays are stored once (spec 8.3): a shared layer's weight packed once per
 * call, tied tensors and tensors with equal bytes. Code refers to the stored array only
 * (stored_weight); the duplicates have no array, member or file entry. */
static void dedup_weights(EmitC *e)
{
    uint32_t n = e->cw.n;
    const void **data = xcalloc(n + 1, sizeof *data);
    size_t *len = xcalloc(n + 1, sizeof *len);
    uint32_t *tag = xcalloc(n + 1, sizeof *tag), *same = xcalloc(n + 1, sizeof *same);
    for (uint32_t i = 0; i < n; i++) {
        const CWeight *c = &e->cw.v[i];
        data[i] = weight_data(e, c);
        len[i] = c->count * dtype_info[c->dtype].size;
        tag[i] = (uint32_t)c->dtype;
    }
    ir_dedup_blobs(n, data, len, tag, same);
    for (uint32_t i = 0; i < n; i++) e->cw.v[i].same_as = same[i];
    free(data);
    free(len);
    free(tag);
    free(same);
}

/* The array that holds c's bytes: c itself, or the earlier one it reuses. */
static const CWeight *stored_weight(const EmitC *e, const CWeight *c)
{
    return c->same_as ? &e->cw.v[c->same_as - 1] : c;
}

static void write_weight_array(EmitC *e, const CWeight *c)
{
    FILE *f = e->c;
    if (c->same_as) return;
    const void *d = weight_data(e, c);
    const Weight *wt = &e->m->weights.v[c->src];
    char t[128];
    fprintf(f, "/* %s%s %s */\n", wt->key ? wt->key : "constant", c->pack ? " (packed)" : "",
            ir_format_type(e->m, &wt->type, t, sizeof t));
    fprintf(f, "static _Alignas(64) const %s %s[%zu] = {", emitc_ctype(c->dtype), c->name,
            c->count ? c->count : 1);
    for (size_t i = 0; i < c->count; i++) {
        fputs(i % 8 ? " " : "\n    ", f);
        switch (c->dtype) {
        case DT_F32: write_float(f, ((const float *)d)[i]); break;
        case DT_I32: fprintf(f, "%" PRId32, ((const int32_t *)d)[i]); break;
        case DT_I64: {
            int64_t v = ((const int64_t *)d)[i];
            if (v == INT64_MIN) fputs("INT64_MIN", f);
            else fprintf(f, "%" PRId64 "LL", v);
            break;
        }
        default: fprintf(f, "%u", ((const uint8_t *)d)[i]); break;
        }
        fputc(',', f);
    }
    if (!c->count) fputs("0", f);
    fputs("\n};\n\n", f);
}

static NdlrtStDType st_dtype(DType dt)
{
    return dt == DT_I32 ? NDLRT_ST_I32 : dt == DT_I64 ? NDLRT_ST_I64 : dt == DT_BOOL ? NDLRT_ST_BOOL
                                                                                    : NDLRT_ST_F32;
}

int emitc_st_dtype(DType dt) { return (int)st_dtype(dt); }

/* --external-weights: exactly the tensors the artefact reads, by C name (the C and the
 * CUDA backend: e->cw with its duplicates left out). */
bool emitc_write_weight_file(const EmitC *e, char *err, size_t errlen)
{
    NdlrtStOut *t = xcalloc(e->cw.n + 1, sizeof *t);
    int64_t *shapes = xcalloc(e->cw.n + 1, sizeof *shapes);
    size_t nt = 0;
    for (uint32_t i = 0; i < e->cw.n; i++) {
        if (e->cw.v[i].same_as) continue;
        shapes[nt] = (int64_t)e->cw.v[i].count;
        t[nt] = (NdlrtStOut){e->cw.v[i].name, st_dtype(e->cw.v[i].dtype), 1, &shapes[nt],
                             weight_data(e, &e->cw.v[i])};
        nt++;
    }
    bool ok = ndlrt_st_write(e->o->weights_path, t, nt, err, errlen) == 0;
    free(t);
    free(shapes);
    return ok;
}

/* ---- runtime ------------------------------------------------------------------------------- */

/* Copies an embedded runtime file, dropping project #includes (everything is in this one
 * file already) and inlining eltwise.def where ndlrt.h includes it. */
static void write_runtime_file(EmitC *e, const char *path)
{
    if (!embedded_copy(e->c, path)) NDLC_ICE("runtime file '%s' is not embedded", path);
}

/* The runtime kernel file an op's layer function calls (NULL: emitted inline). */
static const char *kernel_file(OpKind k)
{
    switch (k) {
    case OP_LINEAR: return "runtime/kernels/linear.c";
    case OP_CONV2D: return "runtime/kernels/conv.c";
    case OP_MATMUL: return "runtime/kernels/matmul.c";
    case OP_ATTENTION: return "runtime/kernels/attention.c";
    case OP_MAX_POOL2D: case OP_AVG_POOL2D: return "runtime/kernels/pool.c";
    case OP_SOFTMAX: case OP_LOG_SOFTMAX: case OP_ARGMAX:
    case OP_REDUCE_SUM: case OP_REDUCE_MEAN: case OP_REDUCE_MAX: case OP_REDUCE_MIN:
        return "runtime/kernels/softmax.c";
    case OP_BATCH_NORM: case OP_LAYER_NORM: case OP_RMS_NORM: return "runtime/kernels/norm.c";
    case OP_PERMUTE: case OP_SLICE: return "runtime/kernels/move.c";
    case OP_EMBEDDING: case OP_TAKE: case OP_HASHED: case OP_HASH_ROUTE: return "runtime/kernels/gather.c";
    case OP_MOE_ROUTE: case OP_MOE_ASSIGN: case OP_MOE_GATHER: case OP_MOE_SCATTER:
        return "runtime/kernels/moe.c";
    default: return NULL;
    }
}

static void write_runtime(EmitC *e)
{
    FILE *f = e->c;
    const Module *m = e->m;
    /* which kernel files: those of the ops present; the GEMM core under linear, conv,
     * matmul and attention; a non-contiguous reduction permutes first */
    const char *need[16];
    unsigned n = 0;
    need[n++] = "runtime/kernels/status.c";
    for (OpId o = 1; o < m->ops.n; o++) {
        const Op *op = &m->ops.v[o];
        if ((op->flags & OPF_DEAD) || !e->fn_name[o]) continue;
        const char *files[3] = {kernel_file(op->kind), NULL, NULL};
        if (op->kind == OP_LINEAR || op->kind == OP_CONV2D || op->kind == OP_MATMUL || op->kind == OP_ATTENTION)
            files[1] = "runtime/kernels/gemm.c";
        if (op->kind >= OP_REDUCE_SUM && op->kind <= OP_REDUCE_MIN) files[1] = "runtime/kernels/move.c";
        if (emitc_compressed_weight(e, op)) files[2] = "runtime/kernels/gather.c"; /* the hashed linear */
        for (int i = 0; i < 3; i++) {
            if (!files[i]) continue;
            bool have = false;
            for (unsigned k = 0; k < n && !have; k++) have = strcmp(need[k], files[i]) == 0;
            if (!have && n < 16) need[n++] = files[i];
        }
    }
    /* gather.c holds the hashed linear (--share compressed), which calls the GEMM core: its
     * declarations need gemm.c's definitions whenever gather.c is copied */
    bool gather = false, gemm = false;
    for (unsigned k = 0; k < n; k++) {
        gather |= strcmp(need[k], "runtime/kernels/gather.c") == 0;
        gemm |= strcmp(need[k], "runtime/kernels/gemm.c") == 0;
    }
    if (gather && !gemm && n < 16) need[n++] = "runtime/kernels/gemm.c";
    for (uint32_t i = 0; i < e->cw.n && n < 16; i++)
        if (e->cw.v[i].pack == 3) { /* sparse weights (backends/sparse.c) */
            need[n++] = "runtime/kernels/sparse.c";
            break;
        }
    fputs("/* ======== runtime: the kernels this model calls, copied from ndlc's runtime/ ======== */\n"
          "#if defined(__GNUC__)\n#define NDLRT_API static __attribute__((unused))\n"
          "/* ndlrt.h declares every kernel; this file defines only those the model calls (GCC\n"
          " * reports unused declarations at the end of the file, so this stays in effect).\n"
          " * GCC also misreads some kernel tail loops once sizes are propagated into them\n"
          " * (\"iteration N invokes undefined behavior\" for N near 2^62, a bound no size here\n"
          " * reaches), so that warning is off for this file too. */\n"
          "#pragma GCC diagnostic ignored \"-Wunused-function\"\n"
          "#if !defined(__clang__)\n#pragma GCC diagnostic ignored \"-Waggressive-loop-optimizations\"\n#endif\n"
          "#else\n#define NDLRT_API static\n#endif\n", f);
    /* --threads: the kernels' OpenMP paths (used when this file is built with -fopenmp) */
    fprintf(f, "#define NDLRT_THREADS %d\n\n", e->o->threads > 1 ? e->o->threads : 1);
    write_runtime_file(e, "runtime/ndlrt.h");
    /* in a fixed order (the embedded order), GEMM first as others call it */
    for (const EmbeddedFile *ef = embedded_files; ef->path; ef++)
        if (strncmp(ef->path, "runtime/kernels/", 16) == 0 && strstr(ef->path, ".h")) write_runtime_file(e, ef->path);
    for (int pass = 0; pass < 2; pass++)
        for (unsigned k = 0; k < n; k++)
            if ((strcmp(need[k], "runtime/kernels/gemm.c") == 0) == (pass == 0)) write_runtime_file(e, need[k]);
    if (e->o->external_weights) {
        write_runtime_file(e, "runtime/safetensors.h");
        write_runtime_file(e, "runtime/safetensors.c");
    }
}

/* ---- pointers inside run() ------------------------------------------------------------------- */

const char *emitc_ptr(const EmitC *e, ValueId v, char *buf, size_t len)
{
    ValueId r = plan_root(&e->plan, v);
    const ValuePlan *p = &e->plan.v[r];
    switch (p->kind) {
    case ST_INPUT: snprintf(buf, len, "in_%s", e->m->inputs.v[p->index].name); break;
    case ST_OUTPUT: snprintf(buf, len, "out_%s", e->m->outputs.v[p->index].name); break;
    case ST_WEIGHT: snprintf(buf, len, "m->%s", stored_weight(e, &e->cw.v[e->raw_weight[p->index] - 1])->name); break;
    case ST_WS: snprintf(buf, len, "t%u", r); break;
    case ST_INIT: snprintf(buf, len, "m->init%u", p->index); break;
    default: NDLC_ICE("value %%%u has no storage", v);
    }
    return buf;
}

/* ---- the file ---------------------------------------------------------------------------------- */

/* The moe layers' load statistics (<prefix>_moe_stats, an addition to spec section 10):
 * the live moe_gather ops in program order, one per (layer, expert); a layer starts at
 * its expert 0. Returns the number of gathers, *nlayers the number of layers. */
static uint32_t moe_gathers(const Module *m, uint32_t *nlayers)
{
    uint32_t n = 0;
    *nlayers = 0;
    for (OpId o = 1; o < m->ops.n; o++) {
        const Op *op = &m->ops.v[o];
        if ((op->flags & OPF_DEAD) || op->kind != OP_MOE_GATHER) continue;
        *nlayers += ir_op_int(m, op, ATTR_EXPERT) == 0;
        n++;
    }
    return n;
}

static void write_header(EmitC *e, FILE *h)
{
    const Module *m = e->m;
    const char *P = e->prefix;
    char guard[256], t[256];
    size_t k = 0;
    for (const char *p = P; *p && k + 4 < sizeof guard; p++) guard[k++] = (char)toupper((unsigned char)*p);
    guard[k] = 0;
    fprintf(h, "/* %s - generated by ndlc %s from %s. Do not edit.\n", e->o->h_name, NDLC_VERSION, e->o->source);
    fprintf(h, " * The model's C API (ndlc spec section 10). Sizes: ");
    SymId nsyms = ir_api_symbols(m);
    for (SymId s = 1; s < nsyms; s++)
        fprintf(h, "%s%s%s", s > 1 ? ", " : "", m->syms.v[s].name,
                m->syms.v[s].bound ? arena_printf(m->arena, " <= %" PRId64, m->syms.v[s].bound) : "");
    fprintf(h, "%s.\n", nsyms > 1 ? "" : "none (all static)");
    for (uint32_t i = 0; i < m->inputs.n; i++)
        fprintf(h, " *   input  %s: %s\n", m->inputs.v[i].name, ir_format_type(m, ir_type(m, m->inputs.v[i].value), t, sizeof t));
    for (uint32_t i = 0; i < m->outputs.n; i++)
        fprintf(h, " *   output %s: %s\n", m->outputs.v[i].name, ir_format_type(m, ir_type(m, m->outputs.v[i].value), t, sizeof t));
    fprintf(h, " * Functions return 0 or a positive error code (%s_strerror). */\n", P);
    fprintf(h, "#ifndef %s_H\n#define %s_H\n\n#include <stddef.h>\n#include <stdint.h>\n\n", guard, guard);
    fprintf(h, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
    fprintf(h, "typedef struct %s %s;\n\n", P, P);
    fprintf(h, "/* weights_path: NULL for the weights embedded in the code%s */\n",
            e->o->external_weights ? "; this build needs a path (it was compiled with --external-weights)" : "");
    fprintf(h, "int %s_create(%s **model, const char *weights_path);\n", P, P);
    /* symbol parameter list */
    char syms[512] = "";
    size_t so = 0;
    for (SymId s = 1; s < nsyms; s++) {
        char *nm = c_param(m->syms.v[s].name);
        so += (size_t)snprintf(syms + so, sizeof syms - so, "%sint64_t %s", so ? ", " : "", nm);
        free(nm);
    }
    fprintf(h, "/* optional: pre-sizes the workspace so that run does not allocate */\n");
    fprintf(h, "int %s_reserve(%s *model%s%s);\n", P, P, so ? ", " : "", syms);
    fprintf(h, "int %s_run(%s *model%s%s", P, P, so ? ", " : "", syms);
    for (uint32_t i = 0; i < m->inputs.n; i++) {
        char *nm = c_param(m->inputs.v[i].name);
        fprintf(h, ", const %s *%s", emitc_ctype(ir_type(m, m->inputs.v[i].value)->dtype), nm);
        free(nm);
    }
    for (uint32_t i = 0; i < m->outputs.n; i++) {
        char *nm = c_param(m->outputs.v[i].name);
        fprintf(h, ", %s *%s", emitc_ctype(ir_type(m, m->outputs.v[i].value)->dtype), nm);
        free(nm);
    }
    fprintf(h, ");\n");
    for (uint32_t i = 0; i < m->outputs.n; i++)
        fprintf(h, "int %s_%s_dims(%s%sint64_t *dims); /* fills dims, returns the rank */\n", P,
                m->outputs.v[i].name, syms, so ? ", " : "");
    fprintf(h, "size_t %s_workspace_bytes(%s);\n", P, so ? syms : "void");
    fprintf(h, "void %s_destroy(%s *model);\n", P, P);
    fprintf(h, "const char *%s_strerror(int code);\n", P);
    uint32_t nlayers;
    if (moe_gathers(m, &nlayers)) {
        fprintf(h, "/* moe layer `layer` (0 .. %u, program order) in the last run: the tokens each expert\n", nlayers - 1);
        fprintf(h, " * received into counts[0..E), the layer's tokens into *tokens (either may be NULL);\n");
        fprintf(h, " * returns E, or 0 for no such layer (an ndlc addition to the spec's API) */\n");
        fprintf(h, "int64_t %s_moe_stats(const %s *model, int layer, int64_t *tokens, int64_t *counts);\n", P, P);
    }
    fprintf(h, "/* a description for generic drivers (struct NdlrtModelInfo of ndlc's ndlrt.h) */\n");
    fprintf(h, "const struct NdlrtModelInfo *%s_info(void);\n", P);
    fprintf(h, "\n#ifdef __cplusplus\n}\n#endif\n#endif\n");
}

void emitc_write_header(const Module *m, const EmitOptions *o, FILE *h)
{
    EmitC e = {.m = m, .o = o, .prefix = c_ident(m->name)};
    write_header(&e, h);
    free((char *)e.prefix);
}

static void write_struct(EmitC *e)
{
    FILE *f = e->c;
    fprintf(f, "/* ======== the instance ======== */\n\nstruct %s {\n", e->prefix);
    fprintf(f, "    unsigned char *ws_block; /* workspace allocation */\n");
    fprintf(f, "    unsigned char *ws;       /* ws_block aligned to 64 bytes */\n");
    fprintf(f, "    size_t ws_bytes;\n");
    if (e->o->external_weights) fprintf(f, "    unsigned char *weights;  /* all weights, loaded by create */\n");
    for (uint32_t i = 0; i < e->cw.n; i++)
        if (!e->cw.v[i].same_as) fprintf(f, "    const %s *%s;\n", emitc_ctype(e->cw.v[i].dtype), e->cw.v[i].name);
    for (ValueId v = 1; v < e->m->values.n; v++)
        if (e->plan.v[v].kind == ST_INIT)
            fprintf(f, "    %s *init%u; /* %s */\n", emitc_ctype(ir_type(e->m, v)->dtype), e->plan.v[v].index,
                    e->fn_name[e->m->values.v[v].def] ? "computed by create (a predicted or hashed weight)"
                                                      : "unused: its linears read the pool (--share compressed)");
    for (ValueId v = 1; v < e->m->values.n; v++)
        if (e->init_pack[v]) fprintf(f, "    float *initpack%u; /* init%u packed for its linear or conv */\n", e->init_pack[v] - 1,
                                     e->plan.v[v].index);
    uint32_t nlayers, ngathers = moe_gathers(e->m, &nlayers);
    if (ngathers) {
        fprintf(f, "    int64_t moe_load[%u];   /* per moe layer and expert: its rows in the last run */\n", ngathers);
        fprintf(f, "    int64_t moe_tokens[%u]; /* per moe layer: its tokens in the last run */\n", nlayers);
    }
    fprintf(f, "};\n\n");
}

/* size_t arithmetic that saturates, so that absurd sizes fail allocation cleanly */
static const char *const sat_helpers =
    "NDLRT_API size_t ndlc_mul(size_t a, size_t b) { return b && a > SIZE_MAX / b ? SIZE_MAX : a * b; }\n"
    "NDLRT_API size_t ndlc_add(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }\n"
    "NDLRT_API size_t ndlc_max(size_t a, size_t b) { return a > b ? a : b; }\n\n";

static void write_bytes_expr(EmitC *e, ValueId v)
{
    const TensorType *t = ir_type(e->m, v);
    int64_t c = dtype_info[t->dtype].size;
    unsigned nsym = 0;
    for (unsigned i = 0; i < t->rank; i++) {
        if (t->dims[i] >= 0) c *= t->dims[i];
        else nsym++;
    }
    for (unsigned i = 0; i < nsym; i++) fputs("ndlc_mul(", e->c);
    fprintf(e->c, "(size_t)%" PRId64, c);
    for (unsigned i = 0; i < t->rank; i++) {
        if (t->dims[i] >= 0) continue;
        char d[64];
        fprintf(e->c, ", (size_t)%s)", emitc_dim(e, t->dims[i], d, sizeof d));
    }
}

/* The packed form of head's weight, or -1. */
static int packed_weight_of(const EmitC *e, OpId head)
{
    for (uint32_t i = 0; i < e->cw.n; i++)
        if (e->cw.v[i].pack && e->cw.v[i].packer == head) return (int)i;
    return -1;
}

/* The operand arguments of a call of group head's layer function: a linear or conv2d
 * weight stored packed is passed in that form. */
static void write_operands(EmitC *e, OpId head, const ValueId *vals, unsigned nv)
{
    const Module *m = e->m;
    char ptr[128];
    for (unsigned a = 0; a < nv; a++) {
        bool packed = a == 1 && vals[a] && e->plan.v[vals[a]].kind == ST_WEIGHT &&
                      (m->ops.v[head].kind == OP_LINEAR || m->ops.v[head].kind == OP_CONV2D) &&
                      packed_weight_of(e, head) >= 0;
        if (packed) fprintf(e->c, ", m->%s", stored_weight(e, &e->cw.v[packed_weight_of(e, head)])->name);
        else if (a == 1 && emitc_init_pack_of(e, &m->ops.v[head]))
            fprintf(e->c, ", m->initpack%u", emitc_init_pack_of(e, &m->ops.v[head]) - 1);
        else fprintf(e->c, ", %s", vals[a] ? emitc_ptr(e, vals[a], ptr, sizeof ptr) : "NULL");
    }
}

/* Does op o run once, in create (its result is an init buffer)? */
static bool runs_in_create(const EmitC *e, OpId o)
{
    const Op *op = &e->m->ops.v[o];
    return !(op->flags & OPF_DEAD) && e->fn_name[o] && e->plan.v[op->out].kind == ST_INIT;
}

static void write_plan(EmitC *e)
{
    FILE *f = e->c;
    const Module *m = e->m;
    uint32_t ns = e->plan.nslots;
    char t[256];
    fputs(sat_helpers, f);
    fprintf(f, "/* The workspace: slot k holds values whose lifetimes do not overlap; slot %u is\n"
               " * the kernels' scratch. Fills off[0..%u] and returns the bytes needed. */\n", ns, ns);
    fprintf(f, "static size_t %s_plan(const int64_t *s, size_t *off)\n{\n", e->prefix);
    fprintf(f, "    size_t sz[%u] = {0}, total = 0;\n    (void)s;\n", ns + 1);
    /* one line per slot and size (a layer applied k times needs its sizes once) */
    char **line = xcalloc(m->values.n, sizeof *line);
    for (ValueId v = 1; v < m->values.n; v++) {
        if (e->plan.v[v].kind != ST_WS) continue;
        size_t len;
        e->c = open_memstream(&line[v], &len);
        if (!e->c) NDLC_ICE("out of memory (open_memstream)");
        fprintf(e->c, "    sz[%u] = ndlc_max(sz[%u], ", e->plan.v[v].index, e->plan.v[v].index);
        write_bytes_expr(e, v);
        fclose(e->c);
        e->c = f;
        bool seen = false;
        for (ValueId u = 1; u < v && !seen; u++) seen = line[u] && strcmp(line[u], line[v]) == 0;
        if (!seen) fprintf(f, "%s); /* t%u %s */\n", line[v], v, ir_format_type(m, ir_type(m, v), t, sizeof t));
    }
    for (ValueId v = 1; v < m->values.n; v++) free(line[v]);
    free(line);
    for (OpId o = 1; o < m->ops.n; o++) {
        if (!e->fn_name[o] || runs_in_create(e, o)) continue;
        if (e->same_fn[o] && !runs_in_create(e, e->same_fn[o])) continue; /* the same scratch as the op it shares with */
        char expr[1024];
        emitc_scratch_expr(e, o, expr, sizeof expr);
        if (strcmp(expr, "0") != 0)
            fprintf(f, "    sz[%u] = ndlc_max(sz[%u], ndlc_mul(%s, sizeof(float))); /* %s */\n", ns, ns, expr,
                    e->fn_name[o]);
    }
    fprintf(f, "    for (int k = 0; k <= %u; k++) {\n", ns);
    fprintf(f, "        off[k] = total;\n        total = ndlc_add(total, ndlc_add(sz[k], 63) & ~(size_t)63);\n    }\n");
    fprintf(f, "    return total;\n}\n\n");
}

/* Declares s[] from the symbol parameters and checks them (negative, above a bound).
 * The rows symbols of recurse follow, at their bounds (what the workspace plan needs);
 * each recurse_gather sets its own, so s[] is then writable. */
static void write_sym_prologue(EmitC *e, bool returns_int)
{
    const Module *m = e->m;
    FILE *f = e->c;
    SymId napi = ir_api_symbols(m);
    if (m->syms.n <= 1) {
        fprintf(f, "    const int64_t *s = NULL;\n");
        return;
    }
    /* dynamic symbols (moe row counts) start at their maximum, at which the workspace is
     * planned; each moe_gather layer then stores its count (so s is not const) */
    fprintf(f, "    %sint64_t s[%u] = {", napi == m->syms.n ? "const " : "", m->syms.n - 1);
    for (SymId k = 1; k < m->syms.n; k++)
        fprintf(f, "%s%s%s", k > 1 ? ", " : "", k < napi ? "n_" : "0", k < napi ? m->syms.v[k].name : "");
    fprintf(f, "};\n");
    for (SymId k = napi; k < m->syms.n; k++) {
        char d[64];
        fprintf(f, "    s[%u] = %s; /* %s */\n", k - 1, emitc_dim(e, m->syms.v[k].max, d, sizeof d), m->syms.v[k].name);
    }
    for (SymId k = 1; k < napi; k++) {
        fprintf(f, "    if (n_%s < 0", m->syms.v[k].name);
        if (m->syms.v[k].bound) fprintf(f, " || n_%s > %" PRId64, m->syms.v[k].name, m->syms.v[k].bound);
        fprintf(f, ") return %s;\n", returns_int ? "NDLRT_ESIZE" : "0");
    }
}

static void sym_params(const EmitC *e, char *buf, size_t len, bool leading_comma)
{
    size_t o = 0;
    buf[0] = 0;
    for (SymId k = 1; k < ir_api_symbols(e->m); k++)
        o += (size_t)snprintf(buf + o, len - o, "%sint64_t n_%s", (o || leading_comma) ? ", " : "", e->m->syms.v[k].name);
}

static void write_grow(EmitC *e)
{
    FILE *f = e->c;
    fprintf(f, "static int %s_grow(%s *m, size_t need)\n{\n", e->prefix, e->prefix);
    fprintf(f, "    if (need <= m->ws_bytes) return 0;\n");
    fprintf(f, "    if (need > SIZE_MAX - 64) return NDLRT_ENOMEM;\n");
    fprintf(f, "    unsigned char *b = (unsigned char *)malloc(need + 64);\n");
    fprintf(f, "    if (!b) return NDLRT_ENOMEM;\n");
    fprintf(f, "    free(m->ws_block);\n    m->ws_block = b;\n");
    fprintf(f, "    m->ws = b + (64 - (uintptr_t)b %% 64) %% 64;\n    m->ws_bytes = need;\n    return 0;\n}\n\n");
}

/* The layer function op o calls: its own, or the earlier identical one. */
static const char *layer_fn(const EmitC *e, OpId o)
{
    return e->fn_name[e->same_fn[o] ? e->same_fn[o] : o];
}

/* In create: the values that depend on weights alone (ST_INIT: predicted weights and
 * their intermediates under --hyper init, hashed expansions), each computed once into its
 * own buffer by its layer function, in op order, with one scratch block sized for the
 * largest of them (their sizes are concrete) and freed at the end. */
static void write_init_pack(EmitC *e, ValueId res);

static void write_init_values(EmitC *e)
{
    FILE *f = e->c;
    const Module *m = e->m;
    char n[256], expr[1024];
    bool any = false;
    for (OpId o = 1; o < m->ops.n; o++) {
        if (!runs_in_create(e, o)) continue;
        if (!any) fprintf(f, "    size_t init_scratch = 0;\n");
        any = true;
        emitc_scratch_expr(e, o, expr, sizeof expr);
        if (strcmp(expr, "0") != 0) fprintf(f, "    init_scratch = ndlc_max(init_scratch, %s);\n", expr);
    }
    if (!any) return;
    fprintf(f, "    float *scratch = (float *)malloc(ndlc_add(ndlc_mul(init_scratch, sizeof(float)), 64));\n");
    fprintf(f, "    if (!scratch) {\n        %s_destroy(m);\n        return NDLRT_ENOMEM;\n    }\n", e->prefix);
    for (OpId o = 1; o < m->ops.n; o++) {
        if (!runs_in_create(e, o)) continue;
        ValueId vals[16], res;
        unsigned nv = emitc_group_operands(e, o, vals, 16, &res);
        const char *ct = emitc_ctype(ir_type(m, res)->dtype);
        fprintf(f, "    m->init%u = (%s *)malloc((size_t)(%s) * sizeof(%s) + 1);\n", e->plan.v[res].index, ct,
                emitc_numel(e, res, n, sizeof n), ct);
        fprintf(f, "    if (!m->init%u || %s(NULL", e->plan.v[res].index, layer_fn(e, o));
        write_operands(e, o, vals, nv);
        fprintf(f, ", m->init%u, scratch)) {\n        free(scratch);\n        %s_destroy(m);\n        return NDLRT_ENOMEM;\n    }\n",
                e->plan.v[res].index, e->prefix);
        if (e->init_pack[res]) write_init_pack(e, res); /* a linear's or conv's weight: packed once, here */
    }
    fprintf(f, "    free(scratch);\n");
}

static void write_create(EmitC *e)
{
    FILE *f = e->c;
    const Module *m = e->m;
    const char *P = e->prefix;
    /* the file holds the stored arrays only, each 1-D in the kernel's layout: name, dtype and
     * shape [count], checked whole by ndlrt_st_check; also the info's weight table */
    uint32_t nstored = 0;
    for (uint32_t i = 0; i < e->cw.n; i++) nstored += !e->cw.v[i].same_as;
    if (e->o->external_weights && nstored) {
        fprintf(f, "static const NdlrtWeightSpec %s_weight_specs[%u] = {\n", P, nstored);
        for (uint32_t i = 0; i < e->cw.n; i++)
            if (!e->cw.v[i].same_as)
                fprintf(f, "    {\"%s\", %d, 1, {%zu}},\n", e->cw.v[i].name, (int)st_dtype(e->cw.v[i].dtype),
                        e->cw.v[i].count);
        fprintf(f, "};\n\n");
    }
    fprintf(f, "int %s_create(%s **out, const char *weights_path)\n{\n", P, P);
    fprintf(f, "    if (!out) return NDLRT_EARG;\n    *out = NULL;\n");
    if (!e->o->external_weights) fprintf(f, "    if (weights_path) return NDLRT_EARG; /* the weights are embedded */\n");
    else fprintf(f, "    if (!weights_path) return NDLRT_ENOWEIGHTS;\n");
    fprintf(f, "    %s *m = (%s *)calloc(1, sizeof *m);\n    if (!m) return NDLRT_ENOMEM;\n", P, P);
    if (!e->o->external_weights) {
        for (uint32_t i = 0; i < e->cw.n; i++)
            if (!e->cw.v[i].same_as) fprintf(f, "    m->%s = %s;\n", e->cw.v[i].name, e->cw.v[i].name);
    } else if (e->cw.n == 0) {
        fprintf(f, "    (void)weights_path; /* this model reads no weight tensor */\n");
    } else {
        /* one block for all weights, 64-byte aligned each, from the validated file */
        fprintf(f, "    NdlrtSt *st;\n    char err[256];\n");
        fprintf(f, "    if (ndlrt_st_open(weights_path, &st, err, sizeof err) != 0) {\n        free(m);\n        return NDLRT_EWEIGHTS;\n    }\n");
        fprintf(f, "    if (ndlrt_st_check(st, %s_weight_specs, %uu, err, sizeof err) >= 0) {\n", P, nstored);
        fprintf(f, "        ndlrt_st_close(st);\n        free(m);\n        return NDLRT_EWEIGHTS;\n    }\n");
        /* slot[i] is cw[i]'s entry in the table; bytes[] its size */
        uint32_t *slot = xcalloc(e->cw.n + 1, sizeof *slot), k = 0;
        for (uint32_t i = 0; i < e->cw.n; i++)
            if (!e->cw.v[i].same_as) slot[i] = k++;
        for (uint32_t i = 0; i < e->cw.n; i++)
            if (e->cw.v[i].same_as) slot[i] = slot[e->cw.v[i].same_as - 1];
        fprintf(f, "    static const size_t bytes[%u] = {", nstored);
        k = 0;
        for (uint32_t i = 0; i < e->cw.n; i++)
            if (!e->cw.v[i].same_as)
                fprintf(f, "%s%zu", k++ ? ", " : "", e->cw.v[i].count * ndlrt_st_dtype_size(st_dtype(e->cw.v[i].dtype)));
        fprintf(f, "};\n    size_t total = 0, at[%u];\n", nstored);
        fprintf(f, "    for (unsigned i = 0; i < %uu; i++) {\n", nstored);
        fprintf(f, "        at[i] = total;\n        total += (bytes[i] + 63) & ~(size_t)63;\n    }\n");
        fprintf(f, "    m->weights = (unsigned char *)malloc(total + 64);\n");
        fprintf(f, "    if (m->weights) ndlrt_advise_huge_pages(m->weights, total + 64); /* streamed every run */\n");
        fprintf(f, "    int rc = m->weights ? NDLRT_OK : NDLRT_ENOMEM;\n");
        fprintf(f, "    unsigned char *base = m->weights ? m->weights + (64 - (uintptr_t)m->weights %% 64) %% 64 : NULL;\n");
        fprintf(f, "    for (unsigned i = 0; rc == NDLRT_OK && i < %uu; i++) {\n", nstored);
        fprintf(f, "        const NdlrtStTensor *t = ndlrt_st_find(st, %s_weight_specs[i].name); /* checked above */\n", P);
        fprintf(f, "        memcpy(base + at[i], t->data, bytes[i]);\n    }\n");
        fprintf(f, "    ndlrt_st_close(st);\n    if (rc) {\n        free(m->weights);\n        free(m);\n        return rc;\n    }\n");
        for (uint32_t i = 0; i < e->cw.n; i++)
            if (!e->cw.v[i].same_as)
                fprintf(f, "    m->%s = (const %s *)(base + at[%u]);\n", e->cw.v[i].name, emitc_ctype(e->cw.v[i].dtype), slot[i]);
        free(slot);
    }
    write_init_values(e);
    /* bounded symbols: reserve at the bounds, so run never allocates */
    bool all_bounded = true;
    SymId napi = ir_api_symbols(m);
    for (SymId k = 1; k < napi; k++) all_bounded &= m->syms.v[k].bound > 0;
    if (all_bounded) {
        fprintf(f, "    int64_t s[%u] = {", m->syms.n > 1 ? m->syms.n - 1 : 1);
        for (SymId k = 1; k < m->syms.n; k++) fprintf(f, "%s%" PRId64, k > 1 ? ", " : "", k < napi ? m->syms.v[k].bound : 0);
        if (m->syms.n <= 1) fprintf(f, "0");
        fprintf(f, "};\n");
        for (SymId k = napi; k < m->syms.n; k++) {
            char d[64];
            fprintf(f, "    s[%u] = %s;\n", k - 1, emitc_dim(e, m->syms.v[k].max, d, sizeof d));
        }
        fprintf(f, "    size_t off[%u];\n", e->plan.nslots + 1);
        fprintf(f, "    int rc2 = %s_grow(m, %s_plan(s, off));\n", P, P);
        fprintf(f, "    if (rc2) {\n        %s_destroy(m);\n        return rc2;\n    }\n", P);
    }
    fprintf(f, "    *out = m;\n    return NDLRT_OK;\n}\n\n");
}

/* ---- shared layers: one function, called in a loop (spec 8.3) ------------------------- */

/* path with every all-digit component (a module-list index) made '#': "norms.3" ->
 * "norms.#", in a malloc'd string. */
static char *list_generic(const char *path)
{
    char *g = xmalloc(strlen(path) + 1), *o = g;
    for (const char *p = path; *p;) {
        const char *e = p;
        while (*e && *e != '.') e++;
        bool digits = e > p;
        for (const char *q = p; q < e; q++) digits &= *q >= '0' && *q <= '9';
        if (digits) *o++ = '#';
        else {
            memcpy(o, p, (size_t)(e - p));
            o += e - p;
        }
        if (*e) *o++ = *e++;
        p = e;
    }
    *o = 0;
    return g;
}

/* text with the first occurrence of name replaced by its list_generic form (in place:
 * never longer). */
static void generic_name_in(char *text, size_t *len, const char *name)
{
    char *at = strstr(text, name), *g = list_generic(name);
    if (at) {
        size_t n = strlen(name), gn = strlen(g);
        memcpy(at, g, gn);
        memmove(at + gn, at + n, strlen(at + n) + 1);
        *len -= n - gn;
    }
    free(g);
}

/* An op whose layer function would be the same text as an earlier op's (a shared layer
 * applied again: same op, shapes, attributes and packing) calls that one instead, so
 * code does not grow with the number of applications. Compared as emitted, with the
 * function's name blanked (ir_dedup_blobs) and module-list indices in its NDL path
 * ignored: WideNet's per-application LayerNorms norms.0 .. norms.k-1 run one function,
 * named after the first, so that the layer stays a loop with their weights selected by
 * the repetition (write_loop). */
static void share_layer_fns(EmitC *e)
{
    const Module *m = e->m;
    uint32_t n = m->ops.n;
    e->same_fn = xcalloc(n + 1, sizeof *e->same_fn);
    char **text = xcalloc(n + 1, sizeof *text);
    size_t *len = xcalloc(n + 1, sizeof *len);
    uint32_t *tag = xcalloc(n + 1, sizeof *tag), *same = xcalloc(n + 1, sizeof *same);
    FILE *out = e->c;
    char blank[] = "F";
    for (OpId o = 1; o < n; o++) {
        tag[o] = o; /* ops without a function stay apart */
        if (!e->fn_name[o]) continue;
        char *name = e->fn_name[o];
        e->fn_name[o] = blank;
        e->c = open_memstream(&text[o], &len[o]);
        if (!e->c) NDLC_ICE("out of memory (open_memstream)");
        emitc_layer(e, o);
        fclose(e->c);
        if (m->ops.v[o].name) generic_name_in(text[o], &len[o], m->ops.v[o].name);
        e->fn_name[o] = name;
        tag[o] = 0;
    }
    e->c = out;
    ir_dedup_blobs(n, (const void *const *)text, len, tag, same);
    for (OpId o = 1; o < n; o++) {
        if (same[o]) e->same_fn[o] = same[o] - 1;
        free(text[o]);
    }
    free(text);
    free(len);
    free(tag);
    free(same);
}

/* A call of run(): its layer function and where each pointer it passes lives. */
typedef struct CallArg {
    int kind;                /* a StorageKind, CALL_NULL, or CALL_CW (an array of cw) */
    uint32_t index;          /* plan index; for CALL_CW the stored array's index in cw */
    ValueId value;           /* the root value (ST_WS: for its t<value> pointer) */
} CallArg;
enum { CALL_NULL = -1, CALL_CW = -2, CALL_MAX_ARGS = 17 };
typedef struct Call {
    OpId head;
    uint32_t nargs;          /* operands, then the result */
    CallArg arg[CALL_MAX_ARGS];
} Call;
typedef VEC(Call) CallVec;

static Call describe_call(const EmitC *e, OpId head)
{
    const Module *m = e->m;
    ValueId vals[16], res;
    unsigned nv = emitc_group_operands(e, head, vals, 16, &res);
    Call c = {.head = head, .nargs = nv + 1};
    for (unsigned a = 0; a <= nv; a++) {
        ValueId v = a < nv ? vals[a] : res;
        bool packed = a == 1 && a < nv && v && e->plan.v[v].kind == ST_WEIGHT &&
                      (m->ops.v[head].kind == OP_LINEAR || m->ops.v[head].kind == OP_CONV2D) &&
                      packed_weight_of(e, head) >= 0;
        if (!v) {
            c.arg[a] = (CallArg){CALL_NULL, 0, 0};
        } else if (packed) {
            const CWeight *w = stored_weight(e, &e->cw.v[packed_weight_of(e, head)]);
            c.arg[a] = (CallArg){CALL_CW, (uint32_t)(w - e->cw.v), 0};
        } else {
            ValueId r = plan_root(&e->plan, v);
            const ValuePlan *p = &e->plan.v[r];
            if (p->kind == ST_WEIGHT) {
                const CWeight *w = stored_weight(e, &e->cw.v[e->raw_weight[p->index] - 1]);
                c.arg[a] = (CallArg){CALL_CW, (uint32_t)(w - e->cw.v), r};
            } else {
                c.arg[a] = (CallArg){(int)p->kind, p->index, r};
            }
        }
    }
    return c;
}

/* Calls a and b do the same work on pointers that differ at most in workspace slots and
 * in stored arrays of the same element type (per-application weights, recurse's step). */
static bool same_call(const EmitC *e, const Call *a, const Call *b)
{
    /* each moe_gather call is followed by its own store of the load statistics */
    if (e->m->ops.v[a->head].kind == OP_MOE_GATHER) return false;
    if (strcmp(layer_fn(e, a->head), layer_fn(e, b->head)) != 0 || a->nargs != b->nargs) return false;
    for (uint32_t i = 0; i < a->nargs; i++) {
        if (a->arg[i].kind != b->arg[i].kind) return false;
        if (a->arg[i].kind == CALL_CW)
            if (e->cw.v[a->arg[i].index].dtype != e->cw.v[b->arg[i].index].dtype) return false;
        if (a->arg[i].kind != ST_WS && a->arg[i].kind != CALL_CW && a->arg[i].index != b->arg[i].index) return false;
    }
    return true;
}

/* Does argument a of call t differ between the repetitions of a loop? */
static bool varies(const Call *c, uint32_t len, uint32_t count, uint32_t t, uint32_t a)
{
    for (uint32_t k = 1; k < count; k++)
        if (c[k * len + t].arg[a].index != c[t].arg[a].index) return true;
    return false;
}

/* The longest-saving repetition starting at call i: *len calls repeated *count times
 * (count 1: none). Periods up to 512 calls are tried. */
static void find_repeat(const EmitC *e, const CallVec *calls, uint32_t i, uint32_t *len, uint32_t *count)
{
    *len = 1;
    *count = 1;
    uint32_t left = calls->n - i;
    for (uint32_t p = 1; p <= left / 2 && p <= 512; p++) {
        uint32_t k = 1;
        while (i + (k + 1) * p <= calls->n) {
            bool eq = true;
            for (uint32_t t = 0; t < p && eq; t++) eq = same_call(e, &calls->v[i + t], &calls->v[i + k * p + t]);
            if (!eq) break;
            k++;
        }
        if (k > 1 && (k - 1) * p > (*count - 1) * *len) {
            *len = p;
            *count = k;
        }
    }
}

/* count repetitions of the len calls at c as one loop; the workspace slots that differ
 * between repetitions come from a table indexed by the repetition. */
static void write_loop(EmitC *e, const Call *c, uint32_t len, uint32_t count)
{
    FILE *f = e->c;
    const Module *m = e->m;
    char ptr[128];
    uint32_t nws = 0;
    for (uint32_t t = 0; t < len; t++)
        for (uint32_t a = 0; a < c[t].nargs; a++) nws += c[t].arg[a].kind == ST_WS;
    fprintf(f, "    /* %u calls repeated %u times (a shared layer applied again) */\n    {\n", len, count);
    if (nws) {
        const char *type = e->plan.nslots <= 256 ? "unsigned char" : e->plan.nslots <= 65536 ? "unsigned short" : "unsigned";
        fprintf(f, "        static const %s slot[%u][%u] = {\n", type, count, nws);
        for (uint32_t k = 0; k < count; k++) {
            fprintf(f, "            {");
            const char *sep = "";
            for (uint32_t t = 0; t < len; t++)
                for (uint32_t a = 0; a < c[t].nargs; a++)
                    if (c[k * len + t].arg[a].kind == ST_WS) {
                        fprintf(f, "%s%u", sep, c[k * len + t].arg[a].index);
                        sep = ", ";
                    }
            fprintf(f, "},\n");
        }
        fprintf(f, "        };\n");
    }
    /* stored arrays that differ between repetitions: one table each, indexed by it */
    for (uint32_t t = 0; t < len; t++)
        for (uint32_t a = 0; a < c[t].nargs; a++) {
            if (c[t].arg[a].kind != CALL_CW || !varies(c, len, count, t, a)) continue;
            fprintf(f, "        const %s *const w%u_%u[%u] = {", emitc_ctype(e->cw.v[c[t].arg[a].index].dtype), t, a, count);
            for (uint32_t k = 0; k < count; k++)
                fprintf(f, "%sm->%s", k ? ", " : "", e->cw.v[c[k * len + t].arg[a].index].name);
            fprintf(f, "};\n");
        }
    fprintf(f, "        for (unsigned it = 0; it < %uu; it++) {\n", count);
    uint32_t col = 0;
    for (uint32_t t = 0; t < len; t++) {
        fprintf(f, "            rc = %s(s", layer_fn(e, c[t].head));
        for (uint32_t a = 0; a < c[t].nargs; a++) {
            const CallArg *x = &c[t].arg[a];
            fputs(", ", f);
            switch (x->kind) {
            case CALL_NULL: fputs("NULL", f); break;
            case CALL_CW:
                if (varies(c, len, count, t, a)) fprintf(f, "w%u_%u[it]", t, a);
                else fprintf(f, "m->%s", e->cw.v[x->index].name);
                break;
            case ST_WS: {
                const char *ct = emitc_ctype(ir_type(m, x->value)->dtype);
                fprintf(f, "(%s *)(m->ws + off[slot[it][%u]])", ct, col++);
                break;
            }
            default: fputs(emitc_ptr(e, x->value, ptr, sizeof ptr), f); break;
            }
        }
        fprintf(f, ", scratch);\n            if (rc) return rc;\n");
    }
    fprintf(f, "        }\n    }\n");
}

/* After a moe_gather's call in run: the row count it stored in its dynamic symbol, and
 * at a layer's expert 0 the layer's token count, into the instance (moe_gathers' order). */
static void record_load(EmitC *e, OpId o, uint32_t *gather, uint32_t *layer)
{
    const Module *m = e->m;
    const Op *op = &m->ops.v[o];
    char d[64];
    if (ir_op_int(m, op, ATTR_EXPERT) == 0)
        fprintf(e->c, "    m->moe_tokens[%u] = %s;\n", (*layer)++,
                emitc_dim(e, ir_type(m, ir_operand(m, op, 0))->dims[0], d, sizeof d));
    SymId rows = ir_dim_expr(m, ir_op_int(m, op, ATTR_ROWS))->sym[0];
    fprintf(e->c, "    m->moe_load[%u] = s[%u];\n", (*gather)++, rows - 1);
}

static void write_run(EmitC *e)
{
    FILE *f = e->c;
    const Module *m = e->m;
    const char *P = e->prefix;
    char sp[512], ptr[128], ptr2[128], n[256];
    sym_params(e, sp, sizeof sp, true);
    fprintf(f, "int %s_run(%s *m%s", P, P, sp);
    for (uint32_t i = 0; i < m->inputs.n; i++)
        fprintf(f, ", const %s *in_%s", emitc_ctype(ir_type(m, m->inputs.v[i].value)->dtype), m->inputs.v[i].name);
    for (uint32_t i = 0; i < m->outputs.n; i++)
        fprintf(f, ", %s *out_%s", emitc_ctype(ir_type(m, m->outputs.v[i].value)->dtype), m->outputs.v[i].name);
    fprintf(f, ")\n{\n");
    fprintf(f, "    if (!m");
    for (uint32_t i = 0; i < m->inputs.n; i++) fprintf(f, " || !in_%s", m->inputs.v[i].name);
    for (uint32_t i = 0; i < m->outputs.n; i++) fprintf(f, " || !out_%s", m->outputs.v[i].name);
    fprintf(f, ") return NDLRT_EARG;\n");
    write_sym_prologue(e, true);
    fprintf(f, "    size_t off[%u];\n    int rc = %s_grow(m, %s_plan(s, off));\n    if (rc) return rc;\n", e->plan.nslots + 1, P, P);
    /* layers in execution order: a group runs where its stored result is defined */
    OpId *head_at = xcalloc(m->ops.n, sizeof *head_at);
    for (OpId h = 1; h < m->ops.n; h++) {
        ValueId vals[16], res;
        if (!e->fn_name[h]) continue;
        emitc_group_operands(e, h, vals, 16, &res);
        if (e->plan.v[res].kind == ST_INIT) continue; /* computed by create */
        head_at[m->values.v[res].def] = h;
    }
    CallVec calls = {0};
    for (OpId o = 1; o < m->ops.n; o++)
        if (head_at[o]) vec_push(calls, describe_call(e, head_at[o]));
    free(head_at);
    /* repeated runs of calls become loops; the workspace pointers the other calls and the
     * output copies use are declared */
    uint32_t *loop_len = xcalloc(calls.n + 1, sizeof *loop_len), *loop_count = xcalloc(calls.n + 1, sizeof *loop_count);
    bool *declare = xcalloc(m->values.n, sizeof *declare);
    for (uint32_t i = 0; i < calls.n;) {
        find_repeat(e, &calls, i, &loop_len[i], &loop_count[i]);
        uint32_t span = loop_count[i] > 1 ? loop_len[i] * loop_count[i] : 1;
        if (loop_count[i] <= 1)
            for (uint32_t a = 0; a < calls.v[i].nargs; a++)
                if (calls.v[i].arg[a].kind == ST_WS) declare[calls.v[i].arg[a].value] = true;
        i += span;
    }
    for (uint32_t i = 0; i < m->outputs.n; i++)
        if (e->plan.output_copy[i]) declare[plan_root(&e->plan, m->outputs.v[i].value)] = true;
    for (ValueId v = 1; v < m->values.n; v++)
        if (declare[v] && e->plan.v[v].kind == ST_WS)
            fprintf(f, "    %s *t%u = (%s *)(m->ws + off[%u]);\n", emitc_ctype(ir_type(m, v)->dtype), v,
                    emitc_ctype(ir_type(m, v)->dtype), e->plan.v[v].index);
    fprintf(f, "    float *scratch = (float *)(m->ws + off[%u]);\n", e->plan.nslots);
    fprintf(f, "    (void)scratch;\n");
    uint32_t ngathers = 0, nlayers = 0;
    for (uint32_t i = 0; i < calls.n;) {
        if (loop_count[i] > 1) {
            write_loop(e, &calls.v[i], loop_len[i], loop_count[i]);
            i += loop_len[i] * loop_count[i];
            continue;
        }
        OpId head = calls.v[i].head;
        ValueId vals[16], res;
        unsigned nv = emitc_group_operands(e, head, vals, 16, &res);
        fprintf(f, "    rc = %s(s", layer_fn(e, head));
        write_operands(e, head, vals, nv);
        fprintf(f, ", %s, scratch);\n    if (rc) return rc;\n", emitc_ptr(e, res, ptr, sizeof ptr));
        if (m->ops.v[head].kind == OP_MOE_GATHER) record_load(e, head, &ngathers, &nlayers);
        i++;
    }
    uint32_t nl;
    if (ngathers != moe_gathers(m, &nl) || nlayers != nl) NDLC_ICE("a moe_gather runs outside run's calls");
    vec_free(calls);
    free(loop_len);
    free(loop_count);
    free(declare);
    for (uint32_t i = 0; i < m->outputs.n; i++) {
        if (!e->plan.output_copy[i]) continue;
        ValueId v = m->outputs.v[i].value;
        fprintf(f, "    memcpy(out_%s, %s, (size_t)(%s) * sizeof(%s));\n", m->outputs.v[i].name,
                emitc_ptr(e, v, ptr2, sizeof ptr2), emitc_numel(e, v, n, sizeof n), emitc_ctype(ir_type(m, v)->dtype));
    }
    fprintf(f, "    return NDLRT_OK;\n}\n\n");
}

/* <prefix>_moe_stats: each layer's slice of moe_load, from tables of its first gather
 * and its experts (moe_gathers' order). */
static void write_moe_stats(EmitC *e)
{
    FILE *f = e->c;
    const Module *m = e->m;
    const char *P = e->prefix;
    uint32_t nlayers, ngathers = moe_gathers(m, &nlayers), layer = 0, g = 0;
    if (!ngathers) return;
    uint32_t *first = xcalloc(nlayers, sizeof *first), *experts = xcalloc(nlayers, sizeof *experts);
    for (OpId o = 1; o < m->ops.n; o++) {
        const Op *op = &m->ops.v[o];
        if ((op->flags & OPF_DEAD) || op->kind != OP_MOE_GATHER) continue;
        if (ir_op_int(m, op, ATTR_EXPERT) == 0) first[layer++] = g;
        experts[layer - 1]++;
        g++;
    }
    fprintf(f, "int64_t %s_moe_stats(const %s *m, int layer, int64_t *tokens, int64_t *counts)\n{\n", P, P);
    fprintf(f, "    static const unsigned first[%u] = {", nlayers);
    for (uint32_t l = 0; l < nlayers; l++) fprintf(f, "%s%u", l ? ", " : "", first[l]);
    fprintf(f, "}, experts[%u] = {", nlayers);
    for (uint32_t l = 0; l < nlayers; l++) fprintf(f, "%s%u", l ? ", " : "", experts[l]);
    fprintf(f, "};\n    if (!m || layer < 0 || layer >= %u) return 0;\n", nlayers);
    fprintf(f, "    if (tokens) *tokens = m->moe_tokens[layer];\n");
    fprintf(f, "    if (counts) memcpy(counts, m->moe_load + first[layer], experts[layer] * sizeof *counts);\n");
    fprintf(f, "    return experts[layer];\n}\n\n");
    free(first);
    free(experts);
}

static void write_api_rest(EmitC *e)
{
    FILE *f = e->c;
    const Module *m = e->m;
    const char *P = e->prefix;
    char sp[512], d[64];
    sym_params(e, sp, sizeof sp, true);
    fprintf(f, "int %s_reserve(%s *m%s)\n{\n    if (!m) return NDLRT_EARG;\n", P, P, sp);
    write_sym_prologue(e, true);
    fprintf(f, "    size_t off[%u];\n    return %s_grow(m, %s_plan(s, off));\n}\n\n", e->plan.nslots + 1, P, P);
    for (uint32_t i = 0; i < m->outputs.n; i++) {
        const TensorType *t = ir_type(m, m->outputs.v[i].value);
        sym_params(e, sp, sizeof sp, false);
        fprintf(f, "int %s_%s_dims(%s%sint64_t *dims)\n{\n", P, m->outputs.v[i].name, sp, sp[0] ? ", " : "");
        write_sym_prologue(e, false);
        fprintf(f, "    (void)s;\n    if (dims) {\n");
        for (unsigned k = 0; k < t->rank; k++) fprintf(f, "        dims[%u] = %s;\n", k, emitc_dim(e, t->dims[k], d, sizeof d));
        fprintf(f, "    }\n    return %u;\n}\n\n", t->rank);
    }
    sym_params(e, sp, sizeof sp, false);
    fprintf(f, "size_t %s_workspace_bytes(%s)\n{\n", P, sp[0] ? sp : "void");
    write_sym_prologue(e, false);
    fprintf(f, "    size_t off[%u];\n    return %s_plan(s, off);\n}\n\n", e->plan.nslots + 1, P);
    fprintf(f, "void %s_destroy(%s *m)\n{\n    if (!m) return;\n    free(m->ws_block);\n", P, P);
    if (e->o->external_weights) fprintf(f, "    free(m->weights);\n");
    for (uint32_t k = 0; k < e->plan.ninit; k++) fprintf(f, "    free(m->init%u);\n", k);
    for (ValueId v = 1; v < e->m->values.n; v++)
        if (e->init_pack[v]) fprintf(f, "    free(m->initpack%u);\n", e->init_pack[v] - 1);
    fprintf(f, "    free(m);\n}\n\n");
    fprintf(f, "const char *%s_strerror(int code) { return ndlrt_strerror(code); }\n\n", P);
    write_moe_stats(e);
}

static void write_info(EmitC *e)
{
    FILE *f = e->c;
    const Module *m = e->m;
    const char *P = e->prefix;
    fprintf(f, "/* ======== description for generic drivers (ndlrt_driver_main) ======== */\n\n");
    for (int io = 0; io < 2; io++) {
        const IrPort *ports = io ? m->outputs.v : m->inputs.v;
        uint32_t n = io ? m->outputs.n : m->inputs.n;
        for (uint32_t i = 0; i < n; i++) {
            const TensorType *t = ir_type(m, ports[i].value);
            fprintf(f, "static const NdlrtDim %s_%s_%s_dims[%u] = {", P, io ? "out" : "in", ports[i].name, t->rank ? t->rank : 1);
            for (unsigned k = 0; k < t->rank; k++) {
                if (t->dims[k] >= 0) { fprintf(f, "%s{%" PRId64 ", 0, {0}}", k ? ", " : "", t->dims[k]); continue; }
                const DimExpr *x = ir_dim_expr(m, t->dims[k]);
                fprintf(f, "%s{%" PRId64 ", %u, {", k ? ", " : "", x->coef, x->nsym);
                for (unsigned j = 0; j < x->nsym; j++) fprintf(f, "%s%u", j ? ", " : "", x->sym[j] - 1);
                fprintf(f, "}}");
            }
            if (!t->rank) fprintf(f, "{0, 0, {0}}");
            fprintf(f, "};\n");
        }
        fprintf(f, "static const NdlrtPort %s_%s[%u] = {\n", P, io ? "outputs" : "inputs", n ? n : 1);
        for (uint32_t i = 0; i < n; i++) {
            const TensorType *t = ir_type(m, ports[i].value);
            fprintf(f, "    {\"%s\", \"%s\", %u, %s_%s_%s_dims},\n", ports[i].name, dtype_info[t->dtype].name, t->rank, P,
                    io ? "out" : "in", ports[i].name);
        }
        if (!n) fprintf(f, "    {0, 0, 0, 0},\n");
        fprintf(f, "};\n");
    }
    unsigned nsym = ir_api_symbols(m) - 1;
    fprintf(f, "static const char *const %s_sym_names[%u] = {", P, nsym ? nsym : 1);
    for (SymId k = 1; k <= nsym; k++) fprintf(f, "%s\"%s\"", k > 1 ? ", " : "", m->syms.v[k].name);
    fprintf(f, "%s};\n", nsym ? "" : "0");
    fprintf(f, "static const int64_t %s_sym_bounds[%u] = {", P, nsym ? nsym : 1);
    for (SymId k = 1; k <= nsym; k++) fprintf(f, "%s%" PRId64, k > 1 ? ", " : "", m->syms.v[k].bound);
    fprintf(f, "%s};\n\n", nsym ? "" : "0");
    fprintf(f, "static int %s_create_v(void **m, const char *w) { return %s_create((%s **)m, w); }\n", P, P, P);
    fprintf(f, "static int %s_reserve_v(void *m, const int64_t *s)\n{\n    (void)s;\n    return %s_reserve((%s *)m", P, P, P);
    for (unsigned k = 0; k < nsym; k++) fprintf(f, ", s[%u]", k);
    fprintf(f, ");\n}\n");
    fprintf(f, "static int %s_run_v(void *m, const int64_t *s, const void *const *in, void *const *out)\n{\n", P);
    fprintf(f, "    (void)s;\n    return %s_run((%s *)m", P, P);
    for (unsigned k = 0; k < nsym; k++) fprintf(f, ", s[%u]", k);
    for (uint32_t i = 0; i < m->inputs.n; i++)
        fprintf(f, ", (const %s *)in[%u]", emitc_ctype(ir_type(m, m->inputs.v[i].value)->dtype), i);
    for (uint32_t i = 0; i < m->outputs.n; i++)
        fprintf(f, ", (%s *)out[%u]", emitc_ctype(ir_type(m, m->outputs.v[i].value)->dtype), i);
    fprintf(f, ");\n}\n");
    fprintf(f, "static void %s_destroy_v(void *m) { %s_destroy((%s *)m); }\n", P, P, P);
    uint32_t nlayers;
    bool moe = moe_gathers(m, &nlayers) > 0;
    if (moe)
        fprintf(f, "static int64_t %s_moe_stats_v(const void *m, int layer, int64_t *tokens, int64_t *counts)\n{\n"
                   "    return %s_moe_stats((const %s *)m, layer, tokens, counts);\n}\n", P, P, P);
    fputs("\n", f);
    fprintf(f, "static const NdlrtModelInfo %s_info_ = {\n    \"%s\", %u, %s_sym_names, %s_sym_bounds,\n", P, m->name, nsym, P, P);
    fprintf(f, "    %u, %u, %s_inputs, %s_outputs, %d,\n", m->inputs.n, m->outputs.n, P, P, e->o->external_weights ? 1 : 0);
    fprintf(f, "    %s_create_v, %s_reserve_v, %s_run_v, %s_destroy_v, %s_strerror,\n", P, P, P, P, P);
    if (moe) fprintf(f, "    %s_moe_stats_v,\n", P);
    else fprintf(f, "    NULL,\n");
    uint32_t nstored = 0;
    for (uint32_t i = 0; i < e->cw.n; i++) nstored += !e->cw.v[i].same_as;
    if (e->o->external_weights && nstored) fprintf(f, "    %s_weight_specs, %u,\n};\n\n", P, nstored);
    else fprintf(f, "    NULL, 0,\n};\n\n");
    fprintf(f, "const struct NdlrtModelInfo *%s_info(void) { return &%s_info_; }\n", P, P);
}

static void name_layers(EmitC *e)
{
    const Module *m = e->m;
    /* a `hashed` read only by linears that compute it in the kernel (--share compressed)
     * has no code of its own and is never expanded */
    bool *only_compressed = plan_compressed_only(e->m, &e->plan, e->o->share_compressed);
    e->fn_name = xcalloc(m->ops.n, sizeof *e->fn_name);
    for (OpId o = 1; o < m->ops.n; o++) {
        const Op *op = &m->ops.v[o];
        if ((op->flags & OPF_DEAD) || op->group || only_compressed[o]) continue;
        ValueId r = op->out;
        if (e->plan.v[r].kind == ST_ALIAS) continue; /* views have no code */
        char *base = c_ident(op->name ? op->name : "op");
        size_t len = strlen(e->prefix) + strlen(base) + strlen(op_info[op->kind].name) + 32;
        char *name = xmalloc(len);
        snprintf(name, len, "%s_%s_%s", e->prefix, base, op_info[op->kind].name);
        for (OpId k = 1; k < o; k++)
            if (e->fn_name[k] && strcmp(e->fn_name[k], name) == 0) {
                snprintf(name, len, "%s_%s_%s_%u", e->prefix, base, op_info[op->kind].name, o);
                break;
            }
        free(base);
        e->fn_name[o] = name;
    }
    free(only_compressed);
}

/* Init buffers read as a linear's or conv2d's weight (predicted weights under --hyper
 * init, hashed weights under --share materialize): create packs each once, as the
 * compiler packs a constant weight (see EmitC.init_pack). A linear that reads its hashed
 * weight from the pool (--share compressed) has no init buffer to pack. The packed layout
 * depends on the weight's type as the layer reads it (a reshaped view of the buffer) and
 * a conv's groups: a buffer read in two different ways is packed by each run, as before. */
static uint32_t *init_packs(const EmitC *e)
{
    const Module *m = e->m;
    const Plan *p = &e->plan;
    uint32_t *pack = xcalloc(m->values.n, sizeof *pack), n = 0;
    int64_t *groups = xcalloc(m->values.n, sizeof *groups); /* the first reader's; -1: mixed */
    ValueId *as = xcalloc(m->values.n, sizeof *as);           /* the first reader's weight operand */
    for (OpId o = 1; o < m->ops.n; o++) {
        const Op *op = &m->ops.v[o];
        if ((op->flags & OPF_DEAD) || (op->kind != OP_LINEAR && op->kind != OP_CONV2D) ||
            p->v[op->out].kind == ST_INIT || emitc_compressed_weight(e, op))
            continue;
        ValueId w = ir_operand(m, op, 1), root = plan_root(p, w);
        if (p->v[root].kind != ST_INIT) continue;
        int64_t g = op->kind == OP_CONV2D ? ir_op_int(m, op, ATTR_GROUPS) : 0;
        if (!pack[root]) {
            groups[root] = g;
            as[root] = w;
            pack[root] = ++n;
        } else if (groups[root] != g || !ir_type_equal(ir_type(m, as[root]), ir_type(m, w))) {
            groups[root] = -1;
        }
    }
    for (ValueId v = 1; v < m->values.n; v++)
        if (groups[v] < 0) pack[v] = 0; /* its numbers stay unique: a gap is harmless */
    free(groups);
    free(as);
    return pack;
}

/* create: packs init buffer res into m->initpack<k>, in the layout of the first run layer
 * that reads it as its weight (a linear, or a conv2d: channels, kernel and groups). */
static void write_init_pack(EmitC *e, ValueId res)
{
    FILE *f = e->c;
    const Module *m = e->m;
    unsigned k = e->init_pack[res] - 1;
    const Op *reader = NULL;
    for (OpId o = 1; o < m->ops.n && !reader; o++)
        if (!(m->ops.v[o].flags & OPF_DEAD) && emitc_init_pack_of(e, &m->ops.v[o]) == k + 1 &&
            e->plan.v[m->ops.v[o].out].kind != ST_INIT)
            reader = &m->ops.v[o];
    if (!reader) NDLC_ICE("init%u is packed for no layer", e->plan.v[res].index);
    const TensorType *t = ir_type(m, ir_operand(m, reader, 1)); /* as the layer reads it */
    char size[512];
    if (reader->kind == OP_LINEAR) {
        snprintf(size, sizeof size, "ndlrt_linear_packed_floats(%" PRId64 ", %" PRId64 ")", t->dims[0], t->dims[1]);
    } else {
        int64_t g = ir_op_int(m, reader, ATTR_GROUPS);
        fprintf(f, "    const NdlrtConv2d pack%u = {.c = %" PRId64 ", .o = %" PRId64 ", .kh = %" PRId64
                   ", .kw = %" PRId64 ", .groups = %" PRId64 "};\n",
                k, t->dims[1] * g, t->dims[0], t->dims[2], t->dims[3], g);
        snprintf(size, sizeof size, "ndlrt_conv2d_packed_floats(&pack%u)", k);
    }
    fprintf(f, "    m->initpack%u = (float *)malloc(%s * sizeof(float) + 1);\n", k, size);
    fprintf(f, "    if (!m->initpack%u) {\n        free(scratch);\n        %s_destroy(m);\n        return NDLRT_ENOMEM;\n    }\n",
            k, e->prefix);
    if (reader->kind == OP_LINEAR)
        fprintf(f, "    ndlrt_linear_pack(%" PRId64 ", %" PRId64 ", m->init%u, m->initpack%u);\n", t->dims[0], t->dims[1],
                e->plan.v[res].index, k);
    else
        fprintf(f, "    ndlrt_conv2d_pack(&pack%u, m->init%u, m->initpack%u);\n", k, e->plan.v[res].index, k);
}

bool emitc_module(const Module *m, const EmitOptions *o, FILE *c, FILE *h, char *err, size_t errlen)
{
    EmitC e = {.m = m, .o = o, .c = c};
    e.prefix = c_ident(m->name);
    plan_build_with_init(m, &e.plan);
    e.init_pack = init_packs(&e);
    name_layers(&e);
    add_raw_weights(&e);
    e.raw_weight = xcalloc(m->weights.n, sizeof *e.raw_weight);
    for (uint32_t i = 0; i < e.cw.n; i++) e.raw_weight[e.cw.v[i].src] = i + 1;
    emitc_collect_packing(&e);
    dedup_weights(&e);
    share_layer_fns(&e);
    bool ok = true;

    write_header(&e, h);
    fprintf(c, "/* %s - generated by ndlc %s from %s. Do not edit.\n", o->c_path, NDLC_VERSION, o->source);
    fprintf(c, " * command: %s\n * Needs only libc and libm. See %s for the API. */\n", o->command, o->h_name);
    if (o->external_weights)
        fprintf(c, "#define _DEFAULT_SOURCE /* madvise */\n#define _POSIX_C_SOURCE 200809L /* the weight loader maps files */\n");
    fprintf(c, "#include \"%s\"\n\n#include <math.h>\n#include <stdint.h>\n#include <stdlib.h>\n#include <string.h>\n\n", o->h_name);
    write_runtime(&e);
    fprintf(c, "/* ======== weights ======== */\n\n");
    if (!o->external_weights) {
        for (uint32_t i = 0; i < e.cw.n; i++) write_weight_array(&e, &e.cw.v[i]);
    } else {
        fprintf(c, "/* loaded by %s_create from the weight file written beside this source */\n\n", e.prefix);
    }
    write_struct(&e);
    write_plan(&e);
    write_grow(&e);
    fprintf(c, "/* ======== layers ======== */\n\n");
    for (OpId k = 1; k < m->ops.n; k++)
        if (e.fn_name[k] && !e.same_fn[k]) emitc_layer(&e, k);
    fprintf(c, "/* ======== API ======== */\n\n");
    fprintf(c, "void %s_destroy(%s *m);\n\n", e.prefix, e.prefix);
    write_create(&e);
    write_run(&e);
    write_api_rest(&e);
    write_info(&e);
    if (e.err[0] && ok) {
        snprintf(err, errlen, "%s", e.err);
        ok = false;
    }
    /* the weight file last: nothing is written unless the code is complete */
    if (ok && o->external_weights) ok = emitc_write_weight_file(&e, err, errlen);

    for (OpId k = 1; k < m->ops.n; k++) free(e.fn_name[k]);
    free(e.fn_name);
    free(e.same_fn);
    free(e.init_pack);
    for (uint32_t i = 0; i < e.cw.n; i++) {
        free((char *)e.cw.v[i].name);
        free(e.cw.v[i].data);
    }
    vec_free(e.cw);
    free(e.raw_weight);
    free((char *)e.prefix);
    plan_free(&e.plan);
    return ok;
}
