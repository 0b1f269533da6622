/* SPDX-License-Identifier: MIT
 * emit.c - the CUDA backend (--target cuda): writes NET.cu and NET.h for a planned module.
 *
 * The .cu is one translation unit for nvcc (sm_80 or newer), in this order: a
 * frontmatter; the runtime it needs (ndlrt.h, the status strings, runtime/cuda/ndlcu.cuh:
 * the kernels and their launchers); the weights as host arrays; the instance; the
 * workspace plan (backends/plan.c's slots, as the C backend); one host function per layer,
 * named after its NDL path, that launches its kernel; and the API of spec section 10 over
 * DEVICE pointers, plus NET_run_stream on a caller's stream. create uploads the weights
 * once (a pruned layer's packed sparse, see collect_weights), computes the values that
 * depend on weights alone once (hashed expansions: the plan's ST_INIT) and allocates the
 * workspace (at the symbols' bounds); run_stream never allocates and never synchronizes. The NdlrtModelInfo's run takes host pointers (copies to the
 * device and back) so that runtime/driver.c serves as the executable's main unchanged.
 * The same pass pipeline and plan as the C backend; nothing here transforms the graph.
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "emit_impl.h"
#include "../embedded.h"

#define P(...) fprintf(e->f, __VA_ARGS__)

/* ---- names and weights --------------------------------------------------------------------- */

/* A C identifier from an NDL path ("blocks.0.conv1" -> "blocks_0_conv1"). */
static char *ident(const char *s)
{
    size_t n = strlen(s);
    char *r = xmalloc(n + 3), *o = r;
    if (!isalpha((unsigned char)s[0])) *o++ = 'v';
    for (size_t i = 0; i < n; i++) *o++ = isalnum((unsigned char)s[i]) ? s[i] : '_';
    *o = 0;
    return r;
}

static void name_layers(EmitCu *e)
{
    const Module *m = e->c.m;
    e->c.fn_name = xcalloc(m->ops.n, sizeof *e->c.fn_name);
    for (OpId o = 1; o < m->ops.n; o++) {
        const Op *op = &m->ops.v[o];
        if ((op->flags & OPF_DEAD) || op->group || e->c.plan.v[op->out].kind == ST_ALIAS) continue;
        char *base = ident(op->name ? op->name : "op");
        size_t len = strlen(e->c.prefix) + strlen(base) + strlen(op_info[op->kind].name) + 32;
        char *name = xmalloc(len);
        snprintf(name, len, "%s_%s_%s", e->c.prefix, base, op_info[op->kind].name);
        for (OpId k = 1; k < o; k++)
            if (e->c.fn_name[k] && strcmp(e->c.fn_name[k], name) == 0) {
                snprintf(name, len, "%s_%s_%s_%u", e->c.prefix, base, op_info[op->kind].name, o);
                break;
            }
        free(base);
        e->c.fn_name[o] = name;
    }
}

/* The GPU format of op's weight (sparse_gpu_format of backends/sparse.c's decision), or
 * NDLRT_SPARSE_DENSE. The layers of a moe expert or recurse step stay dense: their GEMM
 * skips the rows past the run-time count (ndlcu_gemm_rows). */
static int layer_sparse_format(const EmitCu *e, OpId o, SparseLayer *sl)
{
    const Module *m = e->c.m;
    const Op *op = &m->ops.v[o];
    if (!e->c.fn_name[o] || (op->kind != OP_LINEAR && op->kind != OP_CONV2D)) return NDLRT_SPARSE_DENSE;
    if (e->c.plan.v[ir_operand(m, op, 1)].kind != ST_WEIGHT) return NDLRT_SPARSE_DENSE;
    const TensorType *x = ir_type(m, ir_operand(m, op, 0));
    for (unsigned i = 0; i < x->rank; i++)
        if (emitcu_dim_dynamic(m, x->dims[i])) return NDLRT_SPARSE_DENSE;
    if (!sparse_layer(m, op, e->c.o->sparse, sl)) return NDLRT_SPARSE_DENSE;
    return sparse_gpu_format(sl->format);
}

/* The packed sparse weight of op o in the GPU's format (one array per weight and format:
 * a shared layer applied twice reads one pack). */
static void add_sparse_weight(EmitCu *e, OpId o, int format, const SparseLayer *sl)
{
    const Module *m = e->c.m;
    WeightId w = m->values.v[ir_operand(m, &m->ops.v[o], 1)].weight;
    for (uint32_t k = 0; k < e->c.cw.n; k++)
        if (e->c.cw.v[k].pack == 3 && e->c.cw.v[k].src == w && ((const float *)e->c.cw.v[k].data)[0] == (float)format) {
            e->sparse_cw[o] = k + 1;
            return;
        }
    NdlrtSparseInfo info = sl->info;
    CWeight c = {.src = w, .pack = 3, .packer = o, .dtype = DT_F32, .count = ndlrt_sparse_packed_floats(&info, format)};
    c.data = xmalloc(c.count * sizeof(float) + 1);
    ndlrt_sparse_pack(&info, format, m->weights.v[w].data, c.data);
    const char *key = m->weights.v[w].key ? m->weights.v[w].key : "const";
    char *base = ident(key), *name = xmalloc(strlen(base) + 48);
    sprintf(name, "S_%s_%s", base, sparse_format_name(format));
    free(base);
    for (uint32_t k = 0; k < e->c.cw.n; k++) /* constants made by passes may share a key */
        if (strcmp(e->c.cw.v[k].name, name) == 0) sprintf(name + strlen(name), "_%u", w);
    c.name = name;
    vec_push(e->c.cw, c);
    e->sparse_cw[o] = e->c.cw.n;
}

/* Every weight a live op or an output reads: as stored (the GEMM reads a linear or conv
 * weight in its PyTorch layout), except the weight of a layer that runs sparse, which is
 * packed at compile time (ndlrt_sparse_pack, the CPU's layout) and stored only packed
 * unless another op reads it as stored. */
static void collect_weights(EmitCu *e)
{
    const Module *m = e->c.m;
    bool *read = xcalloc(m->weights.n + 1, sizeof *read);
    int *sparse = xcalloc(m->ops.n, sizeof *sparse);
    SparseLayer *layer = xcalloc(m->ops.n, sizeof *layer);
    for (OpId o = 1; o < m->ops.n; o++) sparse[o] = layer_sparse_format(e, o, &layer[o]);
    for (OpId o = 1; o < m->ops.n; o++) {
        const Op *op = &m->ops.v[o];
        if (op->flags & OPF_DEAD) continue;
        for (unsigned i = 0; i < op->nin; i++) {
            ValueId a = ir_operand(m, op, i);
            if (i == 1 && sparse[o]) continue; /* read packed */
            if (a && e->c.plan.v[plan_root(&e->c.plan, a)].kind == ST_WEIGHT)
                read[m->values.v[plan_root(&e->c.plan, a)].weight] = true;
        }
    }
    for (uint32_t i = 0; i < m->outputs.n; i++) {
        ValueId r = plan_root(&e->c.plan, m->outputs.v[i].value);
        if (e->c.plan.v[r].kind == ST_WEIGHT) read[m->values.v[r].weight] = true;
    }
    e->c.raw_weight = xcalloc(m->weights.n + 1, sizeof *e->c.raw_weight);
    for (WeightId w = 1; w < m->weights.n; w++) {
        if (!read[w]) continue;
        const Weight *wt = &m->weights.v[w];
        char *base = ident(wt->key ? wt->key : "const");
        char *name = xmalloc(strlen(base) + 32);
        sprintf(name, "W_%s", base);
        free(base);
        for (uint32_t k = 0; k < e->c.cw.n; k++) /* constants made by passes may share a key */
            if (strcmp(e->c.cw.v[k].name, name) == 0) sprintf(name + strlen(name), "_%u", w);
        vec_push(e->c.cw, ((CWeight){.src = w, .name = name, .dtype = wt->type.dtype,
                                     .count = wt->nbytes / dtype_info[wt->type.dtype].size}));
        e->c.raw_weight[w] = e->c.cw.n;
    }
    e->sparse_cw = xcalloc(m->ops.n, sizeof *e->sparse_cw);
    for (OpId o = 1; o < m->ops.n; o++)
        if (sparse[o]) add_sparse_weight(e, o, sparse[o], &layer[o]);
    free(layer);
    free(sparse);
    free(read);
}

static void write_weight_array(EmitCu *e, const CWeight *c)
{
    const Weight *wt = &e->c.m->weights.v[c->src];
    const void *d = c->data ? c->data : wt->data;
    char t[128], num[EMITC_FLOAT_LEN];
    P("/* %s %s%s */\nstatic const %s %s[%zu] = {", wt->key ? wt->key : "constant", ir_format_type(e->c.m, &wt->type, t, sizeof t),
      c->pack == 3 ? ", packed sparse at compile time (runtime/kernels/sparse.c's layout)" : "", emitc_ctype(c->dtype),
      c->name, c->count ? c->count : 1);
    for (size_t i = 0; i < c->count; i++) {
        P(i % 8 ? " " : "\n    ");
        switch (c->dtype) {
        case DT_F32: P("%s", emitc_float(((const float *)d)[i], num)); break;
        case DT_I32: P("%" PRId32, ((const int32_t *)d)[i]); break;
        case DT_I64: {
            int64_t v = ((const int64_t *)d)[i];
            if (v == INT64_MIN) P("INT64_MIN");
            else P("%" PRId64 "LL", v);
            break;
        }
        default: P("%u", ((const uint8_t *)d)[i]); break;
        }
        P(",");
    }
    if (!c->count) P("0");
    P("\n};\n\n");
}

/* ---- symbols ----------------------------------------------------------------------------------
 * Symbols 1 .. ir_api_symbols()-1 are the API's sizes. The dynamic ones after them (the
 * row counts of moe experts and recurse steps) are never host values here: s[] holds their
 * maximum, at which the workspace is planned and their layers are launched, and the count
 * itself lives in the instance's device array rows[] (ndlcu.cuh, "run-time row counts"). */

static void sym_params(const EmitCu *e, char *buf, size_t len, bool leading_comma)
{
    size_t o = 0;
    buf[0] = 0;
    for (SymId k = 1; k < ir_api_symbols(e->c.m); k++)
        o += (size_t)snprintf(buf + o, len - o, "%sint64_t n_%s", (o || leading_comma) ? ", " : "", e->c.m->syms.v[k].name);
}

/* Checks the symbol parameters (negative, above a bound): return fail. */
static void sym_checks(EmitCu *e, const char *fail)
{
    const Module *m = e->c.m;
    for (SymId k = 1; k < ir_api_symbols(m); k++) {
        P("    if (n_%s < 0", m->syms.v[k].name);
        if (m->syms.v[k].bound) P(" || n_%s > %" PRId64, m->syms.v[k].name, m->syms.v[k].bound);
        P(") return %s;\n", fail);
    }
}

/* s[k] = the maximum of each dynamic symbol (over the API's sizes, already in s[]) */
static void sym_dynamic_max(EmitCu *e)
{
    const Module *m = e->c.m;
    for (SymId k = ir_api_symbols(m); k < m->syms.n; k++) {
        char d[64];
        P("    s[%u] = %s; /* %s: its maximum */\n", k - 1, emitc_dim(&e->c, m->syms.v[k].max, d, sizeof d),
          m->syms.v[k].name);
    }
}

/* Declares s[] from the symbol parameters (NULL without symbols) and checks them. */
static void sym_prologue(EmitCu *e, const char *fail)
{
    const Module *m = e->c.m;
    SymId napi = ir_api_symbols(m);
    if (m->syms.n <= 1) {
        P("    const int64_t *s = NULL;\n");
        return;
    }
    P("    %sint64_t s[%u] = {", napi == m->syms.n ? "const " : "", m->syms.n - 1);
    for (SymId k = 1; k < m->syms.n; k++) P("%s%s%s", k > 1 ? ", " : "", k < napi ? "n_" : "0", k < napi ? m->syms.v[k].name : "");
    P("};\n");
    sym_dynamic_max(e);
    sym_checks(e, fail);
}

/* "s[0], s[1]" (each symbol from an array s) */
static void sym_args(EmitCu *e)
{
    for (SymId k = 1; k < ir_api_symbols(e->c.m); k++) P(", s[%u]", k - 1);
}

/* ---- the header --------------------------------------------------------------------------------- */

static void port_params(EmitCu *e, FILE *h, bool header)
{
    const Module *m = e->c.m;
    for (int io = 0; io < 2; io++) {
        const IrPort *ports = io ? m->outputs.v : m->inputs.v;
        uint32_t n = io ? m->outputs.n : m->inputs.n;
        for (uint32_t i = 0; i < n; i++)
            fprintf(h, ", %s%s *%s%s", io ? "" : "const ", emitc_ctype(ir_type(m, ports[i].value)->dtype),
                    header ? "" : io ? "out_" : "in_", ports[i].name);
    }
}

static void write_header(EmitCu *e, FILE *h)
{
    const Module *m = e->c.m;
    const char *P_ = e->c.prefix;
    char syms[512] = "", t[256];
    size_t so = 0;
    for (SymId s = 1; s < ir_api_symbols(m); s++)
        so += (size_t)snprintf(syms + so, sizeof syms - so, "%sint64_t %s", so ? ", " : "", m->syms.v[s].name);
    fprintf(h, "/* %s - generated by ndlc %s from %s. Do not edit.\n", e->c.o->h_name, NDLC_VERSION, e->c.o->source);
    fprintf(h, " * The model's API for CUDA (ndlc spec section 10, --target cuda): inputs and outputs are\n"
               " * DEVICE pointers. Needs no CUDA header (a stream is a struct CUstream_st *, i.e. a\n"
               " * cudaStream_t).\n");
    for (uint32_t i = 0; i < m->inputs.n; i++)
        fprintf(h, " *   input  %s: %s\n", m->inputs.v[i].name, ir_format_type(m, ir_type(m, m->inputs.v[i].value), t, sizeof t));
    for (uint32_t i = 0; i < m->outputs.n; i++)
        fprintf(h, " *   output %s: %s\n", m->outputs.v[i].name, ir_format_type(m, ir_type(m, m->outputs.v[i].value), t, sizeof t));
    fprintf(h, " * Functions return 0 or a positive error code (%s_strerror). */\n", P_);
    fprintf(h, "#ifndef %s_CUDA_H\n#define %s_CUDA_H\n\n#include <stddef.h>\n#include <stdint.h>\n\n", P_, P_);
    fprintf(h, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\nstruct CUstream_st;\ntypedef struct %s %s;\n\n", P_, P_);
    if (e->c.o->external_weights)
        fprintf(h, "/* reads the weight file weights_path (compiled with --external-weights: the\n"
                   " * .weights.safetensors written beside the code) on the host, uploads it to the current\n"
                   " * device and, when every size has a bound, allocates the workspace for the bounds */\n");
    else
        fprintf(h, "/* uploads the embedded weights to the current device (weights_path must be NULL) and,\n"
                   " * when every size has a bound, allocates the workspace for the bounds */\n");
    fprintf(h, "int %s_create(%s **model, const char *weights_path);\n", P_, P_);
    fprintf(h, "/* allocates the workspace for these sizes (run_stream never allocates) */\n");
    fprintf(h, "int %s_reserve(%s *model%s%s);\n", P_, P_, so ? ", " : "", syms);
    fprintf(h, "/* runs on the default stream and waits; grows the workspace when needed */\n");
    fprintf(h, "int %s_run(%s *model%s%s", P_, P_, so ? ", " : "", syms);
    port_params(e, h, true);
    fprintf(h, ");\n/* queues the model on stream and returns: no allocation, no synchronization; sizes\n"
               " * beyond the reserved ones give NDLRT_ESIZE; an out-of-range index is reported by the\n"
               " * next %s_run (or writes zeros) */\n", P_);
    fprintf(h, "int %s_run_stream(%s *model, struct CUstream_st *stream%s%s", P_, P_, so ? ", " : "", syms);
    port_params(e, h, true);
    fprintf(h, ");\n");
    for (uint32_t i = 0; i < m->outputs.n; i++)
        fprintf(h, "int %s_%s_dims(%s%sint64_t *dims); /* fills dims, returns the rank */\n", P_, m->outputs.v[i].name,
                syms, so ? ", " : "");
    fprintf(h, "size_t %s_workspace_bytes(%s); /* device bytes */\n", P_, so ? syms : "void");
    fprintf(h, "void %s_destroy(%s *model);\nconst char *%s_strerror(int code);\n", P_, P_, P_);
    fprintf(h, "/* for generic drivers (struct NdlrtModelInfo of ndlc's ndlrt.h): its run takes HOST\n"
               " * pointers and copies through the device */\n");
    fprintf(h, "const struct NdlrtModelInfo *%s_info(void);\n", P_);
    fprintf(h, "\n#ifdef __cplusplus\n}\n#endif\n#endif\n");
}

/* ---- instance, plan ------------------------------------------------------------------------------ */

static void write_struct(EmitCu *e)
{
    const Module *m = e->c.m;
    P("/* ======== the instance ======== */\n\nstruct %s {\n", e->c.prefix);
    P("    unsigned char *ws;       /* device workspace */\n    size_t ws_bytes;\n");
    P("    unsigned char *weights;  /* device copy of all weights */\n");
    P("    int *bad;                /* device error word: an index was out of range */\n");
    P("    int64_t *rows;           /* device: each dynamic symbol's row count (NULL: none) */\n");
    P("    void *io[%u];             /* device buffers of the host-pointer run (info) */\n", m->inputs.n + m->outputs.n + 1);
    P("    size_t io_bytes[%u];\n", m->inputs.n + m->outputs.n + 1);
    for (uint32_t i = 0; i < e->c.cw.n; i++) P("    const %s *%s;\n", emitc_ctype(e->c.cw.v[i].dtype), e->c.cw.v[i].name);
    for (ValueId v = 1; v < m->values.n; v++)
        if (e->c.plan.v[v].kind == ST_INIT)
            P("    %s *init%u; /* device: t%u, computed once by create */\n", emitc_ctype(ir_type(m, v)->dtype),
              e->c.plan.v[v].index, v);
    P("};\n\n");
}

static void write_bytes_expr(EmitCu *e, ValueId v)
{
    const TensorType *t = ir_type(e->c.m, v);
    int64_t c = dtype_info[t->dtype].size;
    unsigned nsym = 0;
    for (unsigned i = 0; i < t->rank; i++) {
        if (t->dims[i] >= 0) c *= t->dims[i];
        else nsym++;
    }
    for (unsigned i = 0; i < nsym; i++) P("ndlc_mul(");
    P("(size_t)%" PRId64, c);
    for (unsigned i = 0; i < t->rank; i++) {
        char d[64];
        if (t->dims[i] < 0) P(", (size_t)%s)", emitc_dim(&e->c, t->dims[i], d, sizeof d));
    }
}

static void write_plan(EmitCu *e)
{
    const Module *m = e->c.m;
    uint32_t ns = e->c.plan.nslots;
    char t[256];
    P("static size_t ndlc_mul(size_t a, size_t b) { return b && a > SIZE_MAX / b ? SIZE_MAX : a * b; }\n");
    P("static size_t ndlc_add(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }\n");
    P("static size_t ndlc_max(size_t a, size_t b) { return a > b ? a : b; }\n\n");
    P("/* The device workspace: slot k holds values whose lifetimes do not overlap (backends/plan.c);\n"
      " * slot %u is the kernels' scratch. Fills off[0..%u] and returns the bytes needed. */\n", ns, ns);
    P("static size_t %s_plan(const int64_t *s, size_t *off)\n{\n", e->c.prefix);
    P("    size_t sz[%u] = {0}, total = 0;\n    (void)s;\n", ns + 1);
    for (ValueId v = 1; v < m->values.n; v++) {
        if (e->c.plan.v[v].kind != ST_WS) continue;
        P("    sz[%u] = ndlc_max(sz[%u], ", e->c.plan.v[v].index, e->c.plan.v[v].index);
        write_bytes_expr(e, v);
        P("); /* t%u %s */\n", v, ir_format_type(m, ir_type(m, v), t, sizeof t));
    }
    for (OpId o = 1; o < m->ops.n; o++) {
        char expr[1024];
        if (!e->c.fn_name[o]) continue;
        emitcu_scratch_expr(e, o, expr, sizeof expr);
        if (strcmp(expr, "0") != 0)
            P("    sz[%u] = ndlc_max(sz[%u], ndlc_mul(%s, sizeof(float))); /* %s */\n", ns, ns, expr, e->c.fn_name[o]);
    }
    P("    for (int k = 0; k <= %u; k++) {\n", ns);
    P("        off[k] = total;\n        total = ndlc_add(total, ndlc_add(sz[k], 255) & ~(size_t)255);\n    }\n");
    P("    return total;\n}\n\n");
    P("static int %s_grow(%s *m, size_t need)\n{\n    if (need <= m->ws_bytes) return NDLRT_OK;\n", e->c.prefix, e->c.prefix);
    P("    if (need == SIZE_MAX) return NDLRT_ENOMEM;\n    void *b = NULL;\n");
    P("    if (cudaMalloc(&b, need) != cudaSuccess) {\n        cudaGetLastError();\n        return NDLRT_ENOMEM;\n    }\n");
    P("    cudaFree(m->ws);\n    m->ws = (unsigned char *)b;\n    m->ws_bytes = need;\n    return NDLRT_OK;\n}\n\n");
}

/* ---- API ---------------------------------------------------------------------------------------- */

/* Operand a (value v) of the layer function of head h, as the caller passes it: the packed
 * array in place of the weight of a sparse layer. */
static const char *operand_ptr(const EmitCu *e, OpId h, unsigned a, ValueId v, char *buf, size_t len)
{
    if (a == 1 && e->sparse_cw[h]) {
        snprintf(buf, len, "m->%s", e->c.cw.v[e->sparse_cw[h] - 1].name);
        return buf;
    }
    return v ? emitc_ptr(&e->c, v, buf, len) : "NULL";
}

/* Whether op o runs once in create (its result depends on weights alone: a `hashed`
 * expansion of a stored pool, --hyper init's values; backends/plan.c ST_INIT). */
static bool runs_in_create(const EmitCu *e, OpId o)
{
    return e->c.fn_name[o] && e->c.plan.v[e->c.m->ops.v[o].out].kind == ST_INIT;
}

/* In create: each ST_INIT value into its own device buffer, by its layer function, in op
 * order on the default stream, with one device scratch block for the largest of them
 * (their sizes are concrete); then waits, so that create reports a failed launch. */
static void write_init_values(EmitCu *e)
{
    const Module *m = e->c.m;
    char n[256], expr[1024], ptr[128];
    bool any = false;
    for (OpId o = 1; o < m->ops.n; o++) {
        if (!runs_in_create(e, o)) continue;
        if (!any) P("    /* values that depend on weights alone, computed once */\n    size_t init_scratch = 0;\n");
        any = true;
        emitcu_scratch_expr(e, o, expr, sizeof expr);
        if (strstr(expr, "s[")) NDLC_ICE("the scratch of %s, computed by create, depends on a size", e->c.fn_name[o]);
        if (strcmp(expr, "0") != 0) P("    init_scratch = ndlc_max(init_scratch, %s);\n", expr);
    }
    if (!any) return;
    P("    float *scratch = NULL;\n");
    P("    if (!rc && init_scratch) rc = ndlcu_status(cudaMalloc((void **)&scratch, init_scratch * sizeof(float)));\n");
    for (OpId o = 1; o < m->ops.n; o++) {
        if (!runs_in_create(e, o)) continue;
        ValueId vals[16], res;
        unsigned nv = emitc_group_operands(&e->c, o, vals, 16, &res);
        unsigned k = e->c.plan.v[res].index;
        P("    if (!rc) rc = ndlcu_status(cudaMalloc((void **)&m->init%u, (size_t)(%s) * sizeof *m->init%u + 1));\n", k,
          emitc_numel(&e->c, res, n, sizeof n), k);
        P("    if (!rc) rc = %s(NULL", e->c.fn_name[o]);
        for (unsigned a = 0; a < nv; a++) P(", %s", operand_ptr(e, o, a, vals[a], ptr, sizeof ptr));
        P(", m->init%u, scratch, m->bad, m->rows, 0);\n", k);
    }
    P("    if (!rc) rc = ndlcu_status(cudaStreamSynchronize(0));\n    cudaFree(scratch);\n");
}

static void write_create(EmitCu *e)
{
    const Module *m = e->c.m;
    const char *Pf = e->c.prefix;
    uint32_t nw = e->c.cw.n;
    bool external = e->c.o->external_weights;
    /* --external-weights: the tensors create reads (name, dtype, shape [count], as the C
     * backend's file), checked whole by ndlrt_st_check; also the info's weight table */
    if (external && nw) {
        P("static const NdlrtWeightSpec %s_weight_specs[%u] = {\n", Pf, nw);
        for (uint32_t i = 0; i < nw; i++)
            P("    {\"%s\", %d, 1, {%zu}},\n", e->c.cw.v[i].name, emitc_st_dtype(e->c.cw.v[i].dtype), e->c.cw.v[i].count);
        P("};\n\n");
    }
    P("int %s_create(%s **out, const char *weights_path)\n{\n", Pf, Pf);
    P("    if (!out) return NDLRT_EARG;\n    *out = NULL;\n");
    if (external) P("    if (!weights_path) return NDLRT_ENOWEIGHTS; /* compiled with --external-weights */\n");
    else P("    if (weights_path) return NDLRT_EARG; /* the weights are embedded */\n");
    if (external && !nw) P("    (void)weights_path; /* this model reads no weight tensor */\n");
    P("    %s *m = (%s *)calloc(1, sizeof *m);\n    if (!m) return NDLRT_ENOMEM;\n", Pf, Pf);
    P("    int rc = ndlcu_device_ok();\n");
    P("    if (!rc) rc = ndlcu_status(cudaMalloc((void **)&m->bad, sizeof(int)));\n");
    P("    if (!rc) rc = ndlcu_status(cudaMemset(m->bad, 0, sizeof(int)));\n");
    if (nw) {
        /* one device block, each array 256-byte aligned, uploaded once: from the host arrays,
         * or from the weight file read and validated on the host (runtime/safetensors.c) */
        if (external) {
            P("    static const struct { size_t bytes; } w[%u] = {\n", nw);
            for (uint32_t i = 0; i < nw; i++)
                P("        {%zu},\n", e->c.cw.v[i].count * dtype_info[e->c.cw.v[i].dtype].size);
        } else {
            P("    static const struct { const void *host; size_t bytes; } w[%u] = {\n", nw);
            for (uint32_t i = 0; i < nw; i++)
                P("        {%s, sizeof %s},\n", e->c.cw.v[i].name, e->c.cw.v[i].name);
        }
        P("    };\n    size_t at[%u], total = 0;\n", nw);
        P("    for (unsigned i = 0; i < %uu; i++) {\n        at[i] = total;\n        total += (w[i].bytes + 255) & ~(size_t)255;\n    }\n", nw);
        P("    if (!rc) rc = ndlcu_status(cudaMalloc((void **)&m->weights, total));\n");
        if (external) {
            P("    NdlrtSt *file = NULL;\n    char why[256];\n");
            P("    if (!rc && ndlrt_st_open(weights_path, &file, why, sizeof why) != 0) rc = NDLRT_EWEIGHTS;\n");
            P("    if (!rc && ndlrt_st_check(file, %s_weight_specs, %uu, why, sizeof why) >= 0) rc = NDLRT_EWEIGHTS;\n", Pf, nw);
            P("    for (unsigned i = 0; !rc && i < %uu; i++) {\n", nw);
            P("        const NdlrtStTensor *t = ndlrt_st_find(file, %s_weight_specs[i].name); /* checked above */\n", Pf);
            P("        rc = ndlcu_status(cudaMemcpy(m->weights + at[i], t->data, w[i].bytes, cudaMemcpyHostToDevice));\n");
            P("    }\n    if (file) ndlrt_st_close(file);\n");
        } else {
            P("    for (unsigned i = 0; !rc && i < %uu; i++)\n", nw);
            P("        rc = ndlcu_status(cudaMemcpy(m->weights + at[i], w[i].host, w[i].bytes, cudaMemcpyHostToDevice));\n");
        }
        P("    if (!rc) {\n");
        for (uint32_t i = 0; i < nw; i++)
            P("        m->%s = (const %s *)(m->weights + at[%u]);\n", e->c.cw.v[i].name, emitc_ctype(e->c.cw.v[i].dtype), i);
        P("    }\n");
    }
    bool all_bounded = true;
    SymId napi = ir_api_symbols(m);
    for (SymId k = 1; k < napi; k++) all_bounded &= m->syms.v[k].bound > 0;
    if (napi < m->syms.n) /* the run-time row counts, on the device */
        P("    if (!rc) rc = ndlcu_status(cudaMalloc((void **)&m->rows, %uu * sizeof(int64_t)));\n", m->syms.n - 1);
    write_init_values(e);
    if (all_bounded) { /* bounded sizes: the workspace now, so that run never allocates */
        P("    int64_t s[%u] = {", m->syms.n > 1 ? m->syms.n - 1 : 1);
        for (SymId k = 1; k < m->syms.n; k++) P("%s%" PRId64, k > 1 ? ", " : "", k < napi ? m->syms.v[k].bound : 0);
        if (m->syms.n <= 1) P("0");
        P("};\n");
        sym_dynamic_max(e);
        P("    size_t off[%u];\n    if (!rc) rc = %s_grow(m, %s_plan(s, off));\n", e->c.plan.nslots + 1, Pf, Pf);
    }
    P("    if (rc) {\n        %s_destroy(m);\n        cudaGetLastError();\n        return rc;\n    }\n", Pf);
    P("    *out = m;\n    return NDLRT_OK;\n}\n\n");
}

static void write_run_stream(EmitCu *e)
{
    const Module *m = e->c.m;
    const char *Pf = e->c.prefix;
    char sp[512], ptr[128], n[256];
    sym_params(e, sp, sizeof sp, true);
    P("int %s_run_stream(%s *m, struct CUstream_st *stream%s", Pf, Pf, sp);
    port_params(e, e->f, false);
    P(")\n{\n    if (!m");
    for (uint32_t i = 0; i < m->inputs.n; i++) P(" || !in_%s", m->inputs.v[i].name);
    for (uint32_t i = 0; i < m->outputs.n; i++) P(" || !out_%s", m->outputs.v[i].name);
    P(") return NDLRT_EARG;\n");
    sym_prologue(e, "NDLRT_ESIZE");
    P("    size_t off[%u];\n    if (%s_plan(s, off) > m->ws_bytes) return NDLRT_ESIZE; /* not reserved */\n",
      e->c.plan.nslots + 1, Pf);
    P("    cudaStream_t st = (cudaStream_t)stream;\n");
    P("    int rc = ndlcu_status(cudaMemsetAsync(m->bad, 0, sizeof(int), st));\n    if (rc) return rc;\n");
    for (ValueId v = 1; v < m->values.n; v++)
        if (e->c.plan.v[v].kind == ST_WS && plan_root(&e->c.plan, v) == v)
            P("    %s *t%u = (%s *)(m->ws + off[%u]);\n", emitc_ctype(ir_type(m, v)->dtype), v,
              emitc_ctype(ir_type(m, v)->dtype), e->c.plan.v[v].index);
    /* layers in execution order: a group runs where its stored result is defined */
    OpId *head_at = xcalloc(m->ops.n, sizeof *head_at);
    bool any = false;
    for (OpId h = 1; h < m->ops.n; h++) {
        ValueId vals[16], res;
        if (!e->c.fn_name[h]) continue;
        emitc_group_operands(&e->c, h, vals, 16, &res);
        if (runs_in_create(e, h)) continue;
        head_at[m->values.v[res].def] = h;
        any = true;
    }
    if (any) P("    float *scratch = (float *)(m->ws + off[%u]);\n", e->c.plan.nslots);
    for (OpId o = 1; o < m->ops.n; o++) {
        OpId h = head_at[o];
        if (!h) continue;
        ValueId vals[16], res;
        unsigned nv = emitc_group_operands(&e->c, h, vals, 16, &res);
        P("    rc = %s(s", e->c.fn_name[h]);
        for (unsigned a = 0; a < nv; a++) P(", %s", operand_ptr(e, h, a, vals[a], ptr, sizeof ptr));
        P(", %s, scratch, m->bad, m->rows, st);\n    if (rc) return rc;\n", emitc_ptr(&e->c, res, ptr, sizeof ptr));
    }
    free(head_at);
    for (uint32_t i = 0; i < m->outputs.n; i++) {
        if (!e->c.plan.output_copy[i]) continue;
        ValueId v = m->outputs.v[i].value;
        P("    rc = ndlcu_status(cudaMemcpyAsync(out_%s, %s, (size_t)(%s) * sizeof(%s), cudaMemcpyDeviceToDevice, st));\n"
          "    if (rc) return rc;\n",
          m->outputs.v[i].name, emitc_ptr(&e->c, v, ptr, sizeof ptr), emitc_numel(&e->c, v, n, sizeof n),
          emitc_ctype(ir_type(m, v)->dtype));
    }
    P("    return NDLRT_OK;\n}\n\n");
}

static void write_run(EmitCu *e)
{
    const Module *m = e->c.m;
    const char *Pf = e->c.prefix;
    char sp[512];
    sym_params(e, sp, sizeof sp, true);
    P("int %s_run(%s *m%s", Pf, Pf, sp);
    port_params(e, e->f, false);
    P(")\n{\n    if (!m) return NDLRT_EARG;\n");
    sym_prologue(e, "NDLRT_ESIZE");
    P("    size_t off[%u];\n    int rc = %s_grow(m, %s_plan(s, off));\n    if (rc) return rc;\n", e->c.plan.nslots + 1, Pf, Pf);
    P("    rc = %s_run_stream(m, 0", Pf);
    for (SymId k = 1; k < ir_api_symbols(m); k++) P(", n_%s", m->syms.v[k].name);
    for (uint32_t i = 0; i < m->inputs.n; i++) P(", in_%s", m->inputs.v[i].name);
    for (uint32_t i = 0; i < m->outputs.n; i++) P(", out_%s", m->outputs.v[i].name);
    P(");\n    if (rc) return rc;\n    int bad = 0;\n");
    P("    rc = ndlcu_status(cudaMemcpy(&bad, m->bad, sizeof bad, cudaMemcpyDeviceToHost)); /* waits for the run */\n");
    P("    if (!rc) rc = ndlcu_launched();\n    return rc ? rc : bad ? NDLRT_EINDEX : NDLRT_OK;\n}\n\n");
}

/* The info's run over HOST pointers: each port through a device buffer of the instance. */
static void write_run_host(EmitCu *e)
{
    const Module *m = e->c.m;
    const char *Pf = e->c.prefix;
    uint32_t ni = m->inputs.n, no = m->outputs.n;
    P("static int %s_io(%s *m, unsigned k, size_t bytes)\n{\n", Pf, Pf);
    P("    if (bytes <= m->io_bytes[k]) return NDLRT_OK;\n    cudaFree(m->io[k]);\n    m->io[k] = NULL;\n    m->io_bytes[k] = 0;\n");
    P("    if (cudaMalloc(&m->io[k], bytes) != cudaSuccess) {\n        cudaGetLastError();\n        return NDLRT_ENOMEM;\n    }\n");
    P("    m->io_bytes[k] = bytes;\n    return NDLRT_OK;\n}\n\n");
    P("static int %s_run_host(void *model, const int64_t *s, const void *const *in, void *const *out)\n{\n", Pf);
    P("    %s *m = (%s *)model;\n    (void)s;\n    if (!m) return NDLRT_EARG;\n", Pf, Pf);
    P("    size_t bytes[%u];\n    int rc = NDLRT_OK;\n", ni + no + 1);
    for (uint32_t i = 0; i < ni + no; i++) {
        ValueId v = i < ni ? m->inputs.v[i].value : m->outputs.v[i - ni].value;
        P("    bytes[%u] = ", i);
        write_bytes_expr(e, v);
        P(";\n    if (!rc) rc = %s_io(m, %u, bytes[%u] + 1);\n", Pf, i, i);
    }
    for (uint32_t i = 0; i < ni; i++)
        P("    if (!rc) rc = ndlcu_status(cudaMemcpy(m->io[%u], in[%u], bytes[%u], cudaMemcpyHostToDevice));\n", i, i, i);
    P("    if (!rc) rc = %s_run(m", Pf);
    sym_args(e);
    for (uint32_t i = 0; i < ni + no; i++)
        P(", (%s%s *)m->io[%u]", i < ni ? "const " : "",
          emitc_ctype(ir_type(m, i < ni ? m->inputs.v[i].value : m->outputs.v[i - ni].value)->dtype), i);
    P(");\n");
    for (uint32_t i = 0; i < no; i++)
        P("    if (!rc) rc = ndlcu_status(cudaMemcpy(out[%u], m->io[%u], bytes[%u], cudaMemcpyDeviceToHost));\n", i, ni + i,
          ni + i);
    if (!ni) P("    (void)in;\n");
    if (!no) P("    (void)out;\n");
    P("    return rc;\n}\n\n");
}

static void write_api_rest(EmitCu *e)
{
    const Module *m = e->c.m;
    const char *Pf = e->c.prefix;
    char sp[512], d[64];
    sym_params(e, sp, sizeof sp, true);
    P("int %s_reserve(%s *m%s)\n{\n    if (!m) return NDLRT_EARG;\n", Pf, Pf, sp);
    sym_prologue(e, "NDLRT_ESIZE");
    P("    size_t off[%u];\n    return %s_grow(m, %s_plan(s, off));\n}\n\n", e->c.plan.nslots + 1, Pf, Pf);
    sym_params(e, sp, sizeof sp, false);
    for (uint32_t i = 0; i < m->outputs.n; i++) {
        const TensorType *t = ir_type(m, m->outputs.v[i].value);
        P("int %s_%s_dims(%s%sint64_t *dims)\n{\n", Pf, m->outputs.v[i].name, sp, sp[0] ? ", " : "");
        bool symbolic = false;
        for (unsigned k = 0; k < t->rank; k++) symbolic |= t->dims[k] < 0;
        if (symbolic) sym_prologue(e, "0");
        else sym_checks(e, "0");
        P("    if (dims) {\n");
        for (unsigned k = 0; k < t->rank; k++) P("        dims[%u] = %s;\n", k, emitc_dim(&e->c, t->dims[k], d, sizeof d));
        P("    }\n    return %u;\n}\n\n", t->rank);
    }
    P("size_t %s_workspace_bytes(%s)\n{\n", Pf, sp[0] ? sp : "void");
    sym_prologue(e, "0");
    P("    size_t off[%u];\n    return %s_plan(s, off);\n}\n\n", e->c.plan.nslots + 1, Pf);
    P("void %s_destroy(%s *m)\n{\n    if (!m) return;\n    cudaFree(m->ws);\n    cudaFree(m->weights);\n    cudaFree(m->bad);\n"
      "    cudaFree(m->rows);\n", Pf, Pf);
    for (uint32_t k = 0; k < e->c.plan.ninit; k++) P("    cudaFree(m->init%u);\n", k);
    P("    for (unsigned k = 0; k < %uu; k++) cudaFree(m->io[k]);\n    free(m);\n}\n\n", m->inputs.n + m->outputs.n);
    P("const char *%s_strerror(int code) { return ndlrt_strerror(code); }\n\n", Pf);
}

static void write_info(EmitCu *e)
{
    const Module *m = e->c.m;
    const char *Pf = e->c.prefix;
    P("/* ======== description for generic drivers (ndlrt_driver_main) ======== */\n\n");
    for (int io = 0; io < 2; io++) {
        const IrPort *ports = io ? m->outputs.v : m->inputs.v;
        uint32_t n = io ? m->outputs.n : m->inputs.n;
        for (uint32_t i = 0; i < n; i++) {
            const TensorType *t = ir_type(m, ports[i].value);
            P("static const NdlrtDim %s_%s_%s_dims[%u] = {", Pf, io ? "out" : "in", ports[i].name, t->rank ? t->rank : 1);
            for (unsigned k = 0; k < t->rank; k++) {
                if (t->dims[k] >= 0) {
                    P("%s{%" PRId64 ", 0, {0}}", k ? ", " : "", t->dims[k]);
                    continue;
                }
                const DimExpr *x = ir_dim_expr(m, t->dims[k]);
                P("%s{%" PRId64 ", %u, {", k ? ", " : "", x->coef, x->nsym);
                for (unsigned j = 0; j < x->nsym; j++) P("%s%u", j ? ", " : "", x->sym[j] - 1);
                P("}}");
            }
            if (!t->rank) P("{0, 0, {0}}");
            P("};\n");
        }
        P("static const NdlrtPort %s_%s[%u] = {\n", Pf, io ? "outputs" : "inputs", n ? n : 1);
        for (uint32_t i = 0; i < n; i++)
            P("    {\"%s\", \"%s\", %u, %s_%s_%s_dims},\n", ports[i].name, dtype_info[ir_type(m, ports[i].value)->dtype].name,
              ir_type(m, ports[i].value)->rank, Pf, io ? "out" : "in", ports[i].name);
        if (!n) P("    {0, 0, 0, 0},\n");
        P("};\n");
    }
    unsigned nsym = ir_api_symbols(m) - 1;
    P("static const char *const %s_sym_names[%u] = {", Pf, nsym ? nsym : 1);
    for (SymId k = 1; k <= nsym; k++) P("%s\"%s\"", k > 1 ? ", " : "", m->syms.v[k].name);
    P("%s};\nstatic const int64_t %s_sym_bounds[%u] = {", nsym ? "" : "0", Pf, nsym ? nsym : 1);
    for (SymId k = 1; k <= nsym; k++) P("%s%" PRId64, k > 1 ? ", " : "", m->syms.v[k].bound);
    P("%s};\n\n", nsym ? "" : "0");
    P("static int %s_create_v(void **m, const char *w) { return %s_create((%s **)m, w); }\n", Pf, Pf, Pf);
    P("static int %s_reserve_v(void *m, const int64_t *s)\n{\n    (void)s;\n    return %s_reserve((%s *)m", Pf, Pf, Pf);
    sym_args(e);
    P(");\n}\n");
    P("static void %s_destroy_v(void *m) { %s_destroy((%s *)m); }\n\n", Pf, Pf, Pf);
    P("static const NdlrtModelInfo %s_info_ = {\n    \"%s\", %u, %s_sym_names, %s_sym_bounds,\n", Pf, m->name, nsym, Pf, Pf);
    P("    %u, %u, %s_inputs, %s_outputs, %d,\n", m->inputs.n, m->outputs.n, Pf, Pf, e->c.o->external_weights ? 1 : 0);
    P("    %s_create_v, %s_reserve_v, %s_run_host, %s_destroy_v, %s_strerror,\n", Pf, Pf, Pf, Pf, Pf);
    P("    NULL, /* moe_stats: the CUDA backend does not record expert loads */\n");
    if (e->c.o->external_weights && e->c.cw.n) P("    %s_weight_specs, %u,\n};\n\n", Pf, e->c.cw.n);
    else P("    NULL, 0,\n};\n\n");
    P("const struct NdlrtModelInfo *%s_info(void) { return &%s_info_; }\n", Pf, Pf);
}

/* ---- the file ---------------------------------------------------------------------------------- */

/* The runtime is guarded so that several generated files can share one translation unit
 * (tests/gpu compiles all goldens at once, each model in a namespace after the first). */
static void write_runtime(EmitCu *e)
{
    P("/* ======== runtime: copied from ndlc's runtime/ ======== */\n");
    P("#ifndef NDLCU_RUNTIME_DEFINED\n#define NDLCU_RUNTIME_DEFINED\n");
    P("#if defined(__GNUC__)\n#define NDLRT_API static __attribute__((unused))\n"
      "/* ndlrt.h declares every CPU kernel; this file defines none of them */\n"
      "#pragma GCC diagnostic ignored \"-Wunused-function\"\n#else\n#define NDLRT_API static\n#endif\n"
      "#define _Static_assert static_assert /* the runtime's C11 spelling, in C++ */\n");
    if (!embedded_copy(e->f, "runtime/ndlrt.h") || !embedded_copy(e->f, "runtime/kernels/status.c") ||
        !embedded_copy(e->f, "runtime/cuda/ndlcu_sparse.h") || !embedded_copy(e->f, "runtime/cuda/ndlcu.cuh"))
        NDLC_ICE("the CUDA runtime is not embedded");
    P("#endif /* NDLCU_RUNTIME_DEFINED */\n\n");
    if (!e->c.o->external_weights) return;
    /* the reader is C (runtime/safetensors.c, as the executable's driver uses): declared
     * here with C linkage, compiled and linked beside this file */
    P("/* ======== the weight file reader: link runtime/safetensors.c (built as C) ======== */\n");
    P("#undef NDLRT_API\n#define NDLRT_API\n");
    if (!embedded_copy(e->f, "runtime/safetensors.h")) NDLC_ICE("runtime/safetensors.h is not embedded");
    P("#undef NDLRT_API\n#if defined(__GNUC__)\n#define NDLRT_API static __attribute__((unused))\n#else\n"
      "#define NDLRT_API static\n#endif\n\n");
}

bool emitcu_check(const Module *m, OpId *bad_op, char *why, size_t len)
{
    for (OpId o = 1; o < m->ops.n; o++) {
        const Op *op = &m->ops.v[o];
        if (op->flags & OPF_DEAD) continue;
        if (!emitcu_rows_supported(m, o, "on --target cuda", why, len)) {
            *bad_op = o;
            return false;
        }
        if (op_info[op->kind].flags & OPF_VIEW) continue;
        if (op->group) continue; /* an epilogue of its head's GEMM */
        if (!emitcu_op_supported(m, o, why, len)) {
            *bad_op = o;
            return false;
        }
    }
    return true;
}

bool emitcu_module(const Module *m, const EmitOptions *o, FILE *cu, FILE *h, char *err, size_t errlen)
{
    OpId bad;
    if (!emitcu_check(m, &bad, err, errlen)) return false;
    EmitCu em = {.c = {.m = m, .o = o}, .f = cu}, *e = &em;
    e->c.prefix = emitc_prefix(m);
    plan_build_with_init(m, &e->c.plan);
    name_layers(e);
    collect_weights(e);

    write_header(e, h);
    P("/* %s - generated by ndlc %s from %s. Do not edit.\n", o->c_path, NDLC_VERSION, o->source);
    P(" * command: %s\n * CUDA C for sm_80 or newer (nvcc -arch=sm_80 / sm_90); see %s for the API.%s */\n", o->command,
      o->h_name, o->external_weights ? "\n * --external-weights: link ndlc's runtime/safetensors.c (C), which create uses to read\n"
                                       " * the weight file" : "");
    P("#include \"%s\"\n\n#include <cuda_runtime.h>\n#include <math.h>\n#include <stdint.h>\n#include <stdlib.h>\n"
      "#include <string.h>\n#include <type_traits>\n\n", o->h_name);
    write_runtime(e);
    P("/* ======== weights (uploaded to the device by %s_create) ======== */\n\n", e->c.prefix);
    if (o->external_weights) P("/* read by %s_create from the weight file written beside this source */\n\n", e->c.prefix);
    else
        for (uint32_t i = 0; i < e->c.cw.n; i++) write_weight_array(e, &e->c.cw.v[i]);
    write_struct(e);
    write_plan(e);
    P("/* ======== layers: host functions that launch their kernel on st ======== */\n\n");
    for (OpId k = 1; k < m->ops.n; k++)
        if (e->c.fn_name[k]) emitcu_layer(e, k);
    P("/* ======== API ======== */\n\nvoid %s_destroy(%s *m);\n\n", e->c.prefix, e->c.prefix);
    write_create(e);
    write_run_stream(e);
    write_run(e);
    write_run_host(e);
    write_api_rest(e);
    write_info(e);
    /* the weight file last: nothing is written unless the code is complete */
    bool ok = true;
    if (e->c.err[0]) {
        snprintf(err, errlen, "%s", e->c.err);
        ok = false;
    }
    if (ok && o->external_weights) ok = emitc_write_weight_file(&e->c, err, errlen);

    for (OpId k = 1; k < m->ops.n; k++) free(e->c.fn_name[k]);
    free(e->c.fn_name);
    for (uint32_t i = 0; i < e->c.cw.n; i++) {
        free((char *)e->c.cw.v[i].name);
        free(e->c.cw.v[i].data);
    }
    free(e->sparse_cw);
    vec_free(e->c.cw);
    free(e->c.raw_weight);
    free((char *)e->c.prefix);
    plan_free(&e->c.plan);
    return ok;
}
