/* SPDX-License-Identifier: MIT
 * driver.c - one command line, start to end: read and parse the source, elaborate the
 * model, verify, run the passes, then emit (compile) or execute (run).
 *
 * Outputs are written to a temporary file in the target directory and renamed into
 * place (backends/output.c; a device or FIFO is written in place); when a command fails,
 * every output it names is removed (regular files only), so no partial or stale
 * artefact survives (spec section 9), and an output that is one of the inputs is refused
 * before anything is read or written. Exit statuses: 0, 1 diagnostics, 2 usage, 3 ICE.
 */
#define _POSIX_C_SOURCE 200809L /* fdopen */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "frontend.h"
#include "json.h"
#include "subnets.h"
#include "onnx/onnx.h"
#include "../backends/backend.h"
#include "../passes/passes.h"
#include "../runtime/safetensors.h"

/* ---- atomic output files -------------------------------------------------------------- */

typedef struct OutFile {
    FILE *f;
    char *tmp;
    const char *path;
} OutFile;

static bool out_open(OutFile *o, const char *path, Diag *d)
{
    char err[512];
    int fd = -1;
    o->path = path;
    o->f = NULL;
    o->tmp = backend_temp_create(path, false, &fd, err, sizeof err);
    if (o->tmp && !(o->f = fdopen(fd, "wb"))) {
        snprintf(err, sizeof err, "cannot write: %s", strerror(errno));
        close(fd);
        if (strcmp(o->tmp, path) != 0) unlink(o->tmp);
        free(o->tmp);
        o->tmp = NULL;
    }
    if (!o->tmp) diag_file_error(d, path, "%s", err);
    return o->tmp != NULL;
}

/* Closes and removes the temporary of an output that will not be committed. */
static void out_abandon(OutFile *o)
{
    fclose(o->f);
    if (strcmp(o->tmp, o->path) != 0) unlink(o->tmp);
    free(o->tmp);
}

static bool out_commit(OutFile *o, Diag *d)
{
    char err[512];
    bool ok = fflush(o->f) == 0 && !ferror(o->f);
    ok = (fclose(o->f) == 0) && ok;
    if (!ok) snprintf(err, sizeof err, "cannot write: %s", strerror(errno));
    else ok = backend_install(o->tmp, o->path, err, sizeof err);
    if (!ok) {
        diag_file_error(d, o->path, "%s", err);
        if (strcmp(o->tmp, o->path) != 0) unlink(o->tmp);
    }
    free(o->tmp);
    return ok;
}

/* Writes text produced by fn to path (or stdout when path is NULL). */
static bool write_text(const char *path, Diag *d, void (*fn)(FILE *, void *), void *ud)
{
    if (!path) {
        fn(stdout, ud);
        return fflush(stdout) == 0;
    }
    OutFile o;
    if (!out_open(&o, path, d)) return false;
    fn(o.f, ud);
    return out_commit(&o, d);
}

/* ---- emitters of text ------------------------------------------------------------------------ */

typedef struct PrintCtx {
    const Module *m;
    const SourceMgr *sm;
    const Ast *ast;
    int sparse;              /* --sparse, for the report */
    const PtxPlan *ptx;      /* --emit ptx: its launch plan, for the report */
    PassRecord *passes;      /* the report's per-pass sizes: elaboration, then each pass */
    unsigned npasses;
} PrintCtx;

static const char *format_span(void *ud, Span s, char *buf, size_t len)
{
    const SourceMgr *sm = ud;
    unsigned line, col;
    src_line_col(sm, s, &line, &col);
    const char *p = src_path(sm, s.file), *slash = strrchr(p, '/');
    snprintf(buf, len, "%s:%u:%u", slash ? slash + 1 : p, line, col);
    return buf;
}

static void print_ir(FILE *f, void *ud)
{
    PrintCtx *c = ud;
    ir_print(c->m, f, format_span, (void *)c->sm);
}

static void print_dot(FILE *f, void *ud) { ir_print_dot(((PrintCtx *)ud)->m, f); }

static void print_json(FILE *f, void *ud)
{
    const PrintCtx *c = ud;
    char *s = json_report(c->m, c->sparse, c->ptx, c->passes, c->npasses);
    fputs(s, f);
    fputc('\n', f);
    free(s);
}

static void print_ast(FILE *f, void *ud)
{
    PrintCtx *c = ud;
    ast_dump(c->ast, c->sm, f);
}

static void pass_error(void *ud, Span span, const char *msg) { diag_error(ud, span, "%s", msg); }

/* ---- ndlc run --------------------------------------------------------------------------- */

static bool st_to_dtype(NdlrtStDType st, DType want)
{
    bool f = ndlrt_st_dtype_is_float(st);
    if (want == DT_F32) return f;
    if (want == DT_BOOL) return st == NDLRT_ST_BOOL || st == NDLRT_ST_U8;
    return !f && st != NDLRT_ST_BOOL;
}

static NdlrtStDType dtype_to_st(DType dt)
{
    switch (dt) {
    case DT_I32: return NDLRT_ST_I32;
    case DT_I64: return NDLRT_ST_I64;
    case DT_BOOL: return NDLRT_ST_BOOL;
    default: return NDLRT_ST_F32;
    }
}

/* Reads the model's inputs by name; names, dtypes and ranks are checked here, dims by
 * the interpreter (which binds the symbols). */
static bool read_inputs(const Module *m, const char *path, Tensor *in, Diag *d)
{
    NdlrtSt *st;
    char err[512], t[256];
    if (ndlrt_st_open(path, &st, err, sizeof err) != 0) {
        diag_file_error(d, path, "%s", err);
        return false;
    }
    bool ok = true;
    for (uint32_t i = 0; i < m->inputs.n; i++) {
        const IrPort *p = &m->inputs.v[i];
        const TensorType *want = ir_type(m, p->value);
        const NdlrtStTensor *x = ndlrt_st_find(st, p->name);
        if (!x) {
            diag_file_error(d, path, "missing input tensor '%s' (%s)", p->name,
                            ir_format_type(m, want, t, sizeof t));
            ok = false;
            continue;
        }
        if (!st_to_dtype(x->dtype, want->dtype) || x->rank != want->rank) {
            char shape[256];
            size_t o = 0;
            for (int k = 0; k < x->rank && o < sizeof shape; k++)
                o += (size_t)snprintf(shape + o, sizeof shape - o, "%s%lld", k ? "," : "", (long long)x->shape[k]);
            diag_file_error(d, path, "input '%s' is %s[%s] but the model declares %s", p->name,
                            ndlrt_st_dtype_name(x->dtype), x->rank ? shape : "",
                            ir_format_type(m, want, t, sizeof t));
            ok = false;
            continue;
        }
        Tensor *ti = &in[i];
        ti->dtype = want->dtype;
        ti->rank = want->rank;
        for (int k = 0; k < x->rank; k++) ti->dims[k] = x->shape[k];
        size_t n = (size_t)x->nelem;
        ti->data = xmalloc(n * dtype_info[want->dtype].size + 1);
        if (want->dtype == DT_F32) {
            ndlrt_st_read_f32(x, ti->data);
        } else {
            int64_t *tmp = xmalloc(n * sizeof *tmp + 1);
            ndlrt_st_read_i64(x, tmp);
            for (size_t k = 0; k < n; k++) {
                if (want->dtype == DT_I64) ((int64_t *)ti->data)[k] = tmp[k];
                else if (want->dtype == DT_BOOL) ((uint8_t *)ti->data)[k] = tmp[k] != 0;
                else if (tmp[k] < INT32_MIN || tmp[k] > INT32_MAX) {
                    diag_file_error(d, path, "input '%s' holds %lld, which does not fit in i32", p->name,
                                    (long long)tmp[k]);
                    ok = false;
                    break;
                } else ((int32_t *)ti->data)[k] = (int32_t)tmp[k];
            }
            free(tmp);
        }
    }
    ndlrt_st_close(st);
    return ok;
}

/* Prints a tensor as nested lists, like numpy, eliding the middle of long rows. */
static void print_tensor(FILE *f, const Tensor *t, unsigned axis, size_t off, size_t stride_elems)
{
    if (axis == t->rank) {
        switch (t->dtype) {
        case DT_F32: fprintf(f, "%.6g", (double)((const float *)t->data)[off]); break;
        case DT_I32: fprintf(f, "%d", (int)((const int32_t *)t->data)[off]); break;
        case DT_I64: fprintf(f, "%lld", (long long)((const int64_t *)t->data)[off]); break;
        default: fprintf(f, "%s", ((const uint8_t *)t->data)[off] ? "true" : "false"); break;
        }
        return;
    }
    int64_t n = t->dims[axis];
    size_t inner = stride_elems / (size_t)(n ? n : 1);
    fputc('[', f);
    for (int64_t i = 0; i < n; i++) {
        if (n > 8 && i == 3) {
            fputs(", ...", f);
            i = n - 3;
        }
        if (i) fputs(", ", f);
        print_tensor(f, t, axis + 1, off + (size_t)i * inner, inner);
    }
    fputc(']', f);
}

static void print_outputs(const Module *m, const Tensor *out)
{
    char buf[256];
    for (uint32_t i = 0; i < m->outputs.n; i++) {
        const Tensor *t = &out[i];
        TensorType ty = {.dtype = t->dtype, .rank = t->rank};
        for (unsigned k = 0; k < t->rank; k++) ty.dims[k] = t->dims[k];
        printf("%s: %s = ", m->outputs.v[i].name, ir_format_type(m, &ty, buf, sizeof buf));
        print_tensor(stdout, t, 0, 0, (size_t)tensor_numel(t));
        printf("\n");
    }
}

static bool run_model(const Module *m, const Options *opt, Diag *d)
{
    Tensor *in = xcalloc(m->inputs.n + 1, sizeof *in);
    Tensor *out = xcalloc(m->outputs.n + 1, sizeof *out);
    bool ok = read_inputs(m, opt->inputs, in, d);
    char err[512] = "";
    if (ok && !interp_run(m, in, out, err, sizeof err)) {
        diag_file_error(d, opt->inputs, "%s", err);
        ok = false;
    }
    if (ok && !opt->output) {
        print_outputs(m, out);
        for (uint32_t i = 0; i < m->outputs.n; i++) tensor_free(&out[i]);
    } else if (ok) {
        NdlrtStOut *w = xcalloc(m->outputs.n + 1, sizeof *w);
        for (uint32_t i = 0; i < m->outputs.n; i++)
            w[i] = (NdlrtStOut){m->outputs.v[i].name, dtype_to_st(out[i].dtype), out[i].rank, out[i].dims,
                                out[i].data};
        if (ndlrt_st_write(opt->output, w, m->outputs.n, err, sizeof err) != 0) {
            diag_file_error(d, opt->output, "%s", err);
            ok = false;
        }
        free(w);
        for (uint32_t i = 0; i < m->outputs.n; i++) tensor_free(&out[i]);
    }
    for (uint32_t i = 0; i < m->inputs.n; i++) tensor_free(&in[i]);
    free(in);
    free(out);
    return ok;
}

/* ---- native code ----------------------------------------------------------------------------- */

/* path with `from` replaced by `to` at its end (or `to` appended), malloc'd */
static char *with_suffix(const char *path, const char *from, const char *to)
{
    size_t n = strlen(path), f = strlen(from);
    if (n > f && strcmp(path + n - f, from) == 0) n -= f;
    char *r = xmalloc(n + strlen(to) + 1);
    memcpy(r, path, n);
    strcpy(r + n, to);
    return r;
}

/* ---- the command's outputs ------------------------------------------------------------ */

/* The suffix the main output's derived names replace (NET.c -> NET.h, NET.weights.safetensors). */
static const char *emit_suffix(EmitKind k)
{
    switch (k) {
    case EMIT_C: return ".c";
    case EMIT_CUDA: return ".cu";
    case EMIT_OBJ: return ".o";
    case EMIT_LLVM: return ".ll";
    case EMIT_PTX: return ".ptx";
    default: return "";
    }
}

/* The main output: -o, or the default name of what --emit makes (a.out, as cc); NULL for
 * text written to stdout (--emit ir|json|dot, `ndlc run` without -o). The one place that
 * chooses a default name. */
static const char *main_output(const Options *opt)
{
    if (opt->output || opt->cmd != CMD_COMPILE) return opt->output;
    switch (opt->emit) {
    case EMIT_EXE: return "a.out";
    case EMIT_C: return "a.c";
    case EMIT_OBJ: return "a.o";
    case EMIT_LLVM: return "a.ll";
    case EMIT_CUDA: return "a.cu";
    case EMIT_PTX: return "a.ptx";
    default: return NULL;
    }
}

/* Every file a command writes, so that all are checked against the inputs before
 * anything happens and all are removed after a failure (or an internal error). */
typedef struct Outputs {
    const char *main;    /* main_output() */
    char *header;        /* NET.h beside --emit c|cuda|obj */
    char *weights;       /* --external-weights: NET.weights.safetensors */
    const char *report;  /* --report */
    const char *target;  /* the depfile's target: the main output, or a.out for stdout */
    char *depfile;       /* -MD: -MF, or the target with its suffix replaced by .d (as GCC) */
    const char *inputs[4]; /* the inputs named on the command line */
    bool keep;           /* refused (an output is an input): remove nothing */
} Outputs;

static void outputs_init(Outputs *o, const Options *opt)
{
    *o = (Outputs){.main = main_output(opt)};
    const char *in[] = {opt->input, opt->weights, opt->subnet, opt->inputs};
    unsigned n = 0;
    for (unsigned i = 0; i < 4; i++)
        if (in[i]) o->inputs[n++] = in[i];
    if (opt->cmd == CMD_IMPORT) { /* OUT.ndl and OUT.safetensors (onnx/import.c) */
        o->weights = with_suffix(o->main, ".ndl", ".safetensors");
        return;
    }
    if (opt->cmd != CMD_COMPILE && opt->cmd != CMD_RUN) return;
    const char *sfx = emit_suffix(opt->emit);
    bool native = opt->cmd == CMD_COMPILE && (opt->emit == EMIT_EXE || opt->emit == EMIT_C || opt->emit == EMIT_OBJ ||
                                               opt->emit == EMIT_LLVM || opt->emit == EMIT_CUDA);
    if (native && (opt->emit == EMIT_C || opt->emit == EMIT_CUDA || opt->emit == EMIT_OBJ))
        o->header = with_suffix(o->main, sfx, ".h");
    if (native && opt->external_weights) o->weights = with_suffix(o->main, sfx, ".weights.safetensors");
    o->report = opt->report;
    o->target = o->main ? o->main : "a.out";
    if (opt->depfile && opt->depfile_path) {
        o->depfile = xstrdup(opt->depfile_path);
    } else if (opt->depfile) {
        o->depfile = xmalloc(strlen(o->target) + 3);
        strcpy(o->depfile, o->target);
        char *dot = strrchr(o->depfile, '.'), *slash = strrchr(o->depfile, '/');
        if (dot && (!slash || dot > slash)) *dot = 0;
        strcat(o->depfile, ".d");
    }
}

static void outputs_free(Outputs *o)
{
    free(o->header);
    free(o->weights);
    free(o->depfile);
}

/* The output paths in v (NULLs skipped), their count returned. */
static unsigned outputs_list(const Outputs *o, const char *v[5])
{
    const char *all[] = {o->main, o->header, o->weights, o->report, o->depfile};
    unsigned n = 0;
    for (unsigned i = 0; i < 5; i++)
        if (all[i]) v[n++] = all[i];
    return n;
}

/* Whether writing out would destroy in: the same file (device and inode), or the same
 * path while out does not exist yet. A device or FIFO is written in place and never
 * removed, so it may be both (`--inputs /dev/stdin -o /dev/stdout`), as GCC's /dev/null. */
static bool same_file(const char *out, const char *in)
{
    struct stat so, si;
    if (stat(out, &so) != 0) return strcmp(out, in) == 0;
    return S_ISREG(so.st_mode) && stat(in, &si) == 0 && so.st_dev == si.st_dev && so.st_ino == si.st_ino;
}

/* True, after an error, when an output is one of the n inputs in[]; the outputs are
 * then kept, since one of them is an input (GCC: "input file is the same as output"). */
static bool outputs_clash(Outputs *o, const char *const *in, size_t n, Diag *d)
{
    const char *v[5];
    unsigned nv = outputs_list(o, v);
    for (unsigned i = 0; i < nv; i++)
        for (size_t k = 0; k < n; k++)
            if (in[k] && same_file(v[i], in[k])) {
                diag_error(d, (Span){0}, "output file '%s' is the input file '%s'", v[i], in[k]);
                o->keep = true;
                return true;
            }
    return false;
}

/* Removes the outputs of a failed command: regular files only (never /dev/null), never an
 * input. Calls nothing that allocates through xmalloc, so an internal error may run it. */
static void outputs_remove(const Outputs *o)
{
    const char *v[5];
    unsigned nv = outputs_list(o, v);
    for (unsigned i = 0; i < nv && !o->keep; i++) {
        bool input = false;
        for (unsigned k = 0; k < 4 && o->inputs[k]; k++) input = input || same_file(v[i], o->inputs[k]);
        if (!input) ndlrt_out_remove(v[i]);
    }
}

/* Removes this process's temporaries of path (`<name>.tmp<pid>.*`, backends/output.c). */
static void remove_temps(const char *path)
{
    char dir[4096], prefix[512], full[4096 + 512];
    backend_temp_dir(path, dir, sizeof dir);
    const char *slash = strrchr(path, '/');
    snprintf(prefix, sizeof prefix, "%s.tmp%ld.", slash ? slash + 1 : path, (long)getpid());
    DIR *dp = opendir(dir);
    if (!dp) return;
    for (struct dirent *e; (e = readdir(dp)) != NULL;) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0) continue;
        snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
        ndlrt_out_remove(full);
    }
    closedir(dp);
}

/* ndlc_ice_at's cleanup (ir/base.c): an internal error leaves no output or temporary. */
static void outputs_ice_cleanup(void *ud)
{
    const Outputs *o = ud;
    const char *v[5];
    unsigned nv = outputs_list(o, v);
    outputs_remove(o);
    for (unsigned i = 0; i < nv; i++) remove_temps(v[i]);
}

void ndlc_remove_outputs(const Options *opt)
{
    Outputs o;
    outputs_init(&o, opt);
    outputs_remove(&o);
    outputs_free(&o);
}

/* --backend llvm (exe, obj, llvm) and --emit obj|llvm: the object ships the C backend's
 * header beside it (NET.o -> NET.h), since it exports the same API. */
static bool emit_llvm(const Module *m, const Options *opt, const Outputs *outs, Diag *d)
{
    const char *out = outs->main;
    EmitOptions eo = {.c_path = out, .source = opt->input, .command = opt->command ? opt->command : "ndlc",
                      .opt_level = opt->opt_level,
                      .external_weights = opt->external_weights, .weights_path = outs->weights, .threads = 1,
                      .sparse = (SparseMode)opt->sparse,
                      .share_compressed = opt->share && strcmp(opt->share, "compressed") == 0};
    char err[512] = "";
    EmitLlvmKind kind = opt->emit == EMIT_OBJ ? EMITLL_OBJ : opt->emit == EMIT_LLVM ? EMITLL_IR : EMITLL_EXE;
    bool ok = emitll_module(m, &eo, kind, out, opt->cpu, err, sizeof err);
    if (!ok) diag_file_error(d, out, "%s", err);
    if (ok && kind == EMITLL_OBJ) {
        const char *slash = strrchr(outs->header, '/');
        eo.h_name = slash ? slash + 1 : outs->header;
        OutFile h;
        ok = out_open(&h, outs->header, d);
        if (ok) {
            emitc_write_header(m, &eo, h.f);
            ok = out_commit(&h, d);
        }
    }
    return ok; /* after a failure the driver removes every output (outputs_remove) */
}

/* Writes the source and header pair an emitter produces (NET.c/.h, NET.cu/.h) atomically:
 * both appear, or neither. */
typedef bool EmitPairFn(const Module *m, const EmitOptions *o, FILE *src, FILE *h, char *err, size_t errlen);
static bool write_pair(const Module *m, EmitOptions *eo, EmitPairFn *emit, const Outputs *outs, Diag *d)
{
    char err[512] = "";
    const char *slash = strrchr(outs->header, '/');
    eo->h_name = slash ? slash + 1 : outs->header;
    OutFile c, h;
    bool ok = out_open(&c, outs->main, d);
    if (ok && !out_open(&h, outs->header, d)) {
        out_abandon(&c);
        ok = false;
    } else if (ok) {
        ok = emit(m, eo, c.f, h.f, err, sizeof err);
        if (!ok) {
            diag_file_error(d, outs->main, "%s", err);
            out_abandon(&c);
            out_abandon(&h);
        } else {
            ok = out_commit(&c, d);
            ok = out_commit(&h, d) && ok;
        }
    }
    return ok;
}

/* --target cuda (--emit cuda|exe): NET.cu + NET.h, or an executable built by nvcc. An op
 * without a CUDA kernel yet is an error at its NDL location, before anything is written. */
static bool emit_cuda(const Module *m, const Options *opt, const Outputs *outs, const SourceMgr *sm, Diag *d)
{
    /* --emit c|obj|llvm and --backend llvm with --target cuda are usage errors (options.c) */
    const char *out = outs->main;
    EmitOptions eo = {.c_path = out, .source = opt->input, .command = opt->command ? opt->command : "ndlc",
                      .opt_level = opt->opt_level,
                      .external_weights = opt->external_weights, .weights_path = outs->weights,
                      .sparse = (SparseMode)opt->sparse, .span_fmt = format_span, .span_ud = (void *)sm};
    char err[512] = "";
    OpId bad;
    bool ok = emitcu_check(m, &bad, err, sizeof err);
    if (!ok) {
        diag_error(d, m->ops.v[bad].span, "%s", err);
    } else if (opt->emit == EMIT_EXE) {
        ok = emitcu_build_exe(m, &eo, out, err, sizeof err);
        if (!ok) diag_file_error(d, out, "%s", err);
    } else {
        ok = write_pair(m, &eo, emitcu_module, outs, d);
    }
    return ok;
}

/* --emit ptx, and --emit exe --backend llvm --target cuda: the launch plan, then the PTX
 * (or an executable around it). --emit ptx implies the LLVM backend and --target cuda. */
static bool wants_ptx(const Options *opt)
{
    return opt->emit == EMIT_PTX ||
           (opt->emit == EMIT_EXE && strcmp(opt->target, "cuda") == 0 && strcmp(opt->backend, "llvm") == 0);
}

/* The plan, or false after a located error; *sm is the --cpu architecture. */
static bool ptx_prepare(const Module *m, const Options *opt, Diag *d, PtxPlan *plan, const char **sm)
{
    /* options.c checked --cpu and refused --external-weights */
    *sm = strcmp(opt->cpu, "native") == 0 ? "sm_80" : opt->cpu;
    OpId bad;
    char why[256];
    if (!ptx_plan_build(m, plan, &bad, why, sizeof why)) {
        diag_error(d, bad ? m->ops.v[bad].span : (Span){0}, "%s", why);
        return false;
    }
    return true;
}

static bool emit_ptx(const Module *m, const Options *opt, const Outputs *outs, const PtxPlan *plan, const char *sm,
                     Diag *d)
{
    char err[512] = "";
    const char *out = outs->main;
    bool ok = opt->emit == EMIT_PTX ? emitll_ptx(m, plan, sm, out, err, sizeof err)
                                    : emitll_ptx_exe(m, plan, sm, out, err, sizeof err);
    if (!ok) diag_file_error(d, out, "%s", err);
    return ok;
}

static bool emit_native(const Module *m, const Options *opt, const Outputs *outs, const SourceMgr *sm, Diag *d)
{
    if (strcmp(opt->target, "cuda") == 0 || opt->emit == EMIT_CUDA) return emit_cuda(m, opt, outs, sm, d);
    if (strcmp(opt->target, "cpu") == 0 &&
        (opt->emit == EMIT_OBJ || opt->emit == EMIT_LLVM || (opt->emit == EMIT_EXE && strcmp(opt->backend, "llvm") == 0)))
        return emit_llvm(m, opt, outs, d);
    if (strcmp(opt->backend, "c") != 0 || strcmp(opt->target, "cpu") != 0) /* options.c refused the rest */
        NDLC_ICE("--backend %s --target %s --emit %d reached the C backend", opt->backend, opt->target, (int)opt->emit);
    const char *out = outs->main;
    EmitOptions eo = {.c_path = out, .source = opt->input, .command = opt->command ? opt->command : "ndlc",
                      .opt_level = opt->opt_level,
                      .external_weights = opt->external_weights, .weights_path = outs->weights,
                      .threads = opt->threads, .sparse = (SparseMode)opt->sparse,
                      .share_compressed = opt->share && strcmp(opt->share, "compressed") == 0,
                      .span_fmt = format_span, .span_ud = (void *)sm};
    char err[512] = "";
    bool ok;
    if (opt->emit == EMIT_EXE) {
        ok = emitc_build_exe(m, &eo, out, opt->cpu, err, sizeof err);
        if (!ok) diag_file_error(d, out, "%s", err);
    } else {
        ok = write_pair(m, &eo, emitc_module, outs, d);
    }
    return ok;
}

/* ---- the command -------------------------------------------------------------------------- */

static bool is_onnx(const char *path)
{
    size_t n = strlen(path);
    return n >= 5 && strcmp(path + n - 5, ".onnx") == 0;
}

/* A path as Make reads it in a rule: spaces as `\ `, `#` as `\#`, `$` as `$$` (as GCC). */
static void put_make_path(FILE *f, const char *p)
{
    for (; *p; p++) {
        if (*p == ' ' || *p == '#') fputc('\\', f);
        else if (*p == '$') fputc('$', f);
        fputc(*p, f);
    }
}

static bool write_depfile(const Options *opt, const Outputs *outs, const Module *m, Diag *d)
{
    OutFile o;
    if (!out_open(&o, outs->depfile, d)) return false;
    put_make_path(o.f, outs->target);
    fputs(": ", o.f);
    put_make_path(o.f, opt->input);
    /* an imported ONNX model reads only itself (its weights are a temporary) */
    for (uint32_t i = 0; i < m->deps.n && !is_onnx(opt->input); i++) {
        fputs(" \\\n  ", o.f);
        put_make_path(o.f, m->deps.v[i]);
    }
    fputc('\n', o.f);
    return out_commit(&o, d);
}

/* PassObserver: the report's record of the pass that just ran */
static void record_pass(const Module *m, const char *pass, void *ud)
{
    PrintCtx *pc = ud;
    json_pass_record(m, pass, &pc->passes[pc->npasses++]);
}

static int compile(const Options *opt, Outputs *outs, SourceMgr *sm, uint32_t file, Diag *d)
{
    char err[512];
    Ast ast;
    ast_init(&ast);
    bool parsed = parse_file(&ast, sm, file, d);
    PrintCtx pc = {.sm = sm, .ast = &ast, .sparse = opt->sparse};
    PtxPlan ptx_plan = {0};
    const char *ptx_sm = NULL;
    if (parsed && opt->emit == EMIT_AST) {
        bool ok = write_text(opt->output, d, print_ast, &pc);
        ast_free(&ast);
        return ok ? 0 : 1;
    }
    if (!parsed) {
        ast_free(&ast);
        return 1;
    }
    bool usage = false;
    Module *m = lower_model(&ast, sm, file, opt, d, &usage);
    int status = 0;
    if (!m) {
        status = usage ? 2 : 1;
        goto done;
    }
    /* the weight files the .ndl names are inputs too */
    if (outputs_clash(outs, m->deps.v, m->deps.n, d)) {
        status = 2;
        goto done;
    }
    if (opt->verify_each && !ir_verify(m, err, sizeof err)) NDLC_ICE("IR invalid after elaboration: %s", err);
    pc.m = m;
    if (opt->dump_after && strcmp(opt->dump_after, "elaborate") == 0) print_ir(stderr, &pc);
    bool reported = opt->report || (opt->cmd == CMD_COMPILE && opt->emit == EMIT_JSON);
    if (reported) {
        pc.passes = xcalloc(pipeline_default_len + 1, sizeof *pc.passes);
        record_pass(m, "elaborate", &pc);
    }
    PassContext cx = {.m = m, .error = pass_error, .ud = d, .keep_hashed = opt->share != NULL,
                      .hyper_init = opt->hyper && strcmp(opt->hyper, "init") == 0};
    if (!pipeline_run(&cx, pipeline_default, pipeline_default_len, opt->verify_each, opt->dump_after,
                      stderr, format_span, (void *)sm, reported ? record_pass : NULL, &pc)) {
        status = 1;
        goto done;
    }
    if (opt->cmd == CMD_RUN) {
        status = run_model(m, opt, d) ? 0 : 1;
        goto described;
    }
    if (wants_ptx(opt)) {
        if (!ptx_prepare(m, opt, d, &ptx_plan, &ptx_sm)) {
            status = 1;
            goto done;
        }
        pc.ptx = &ptx_plan;
    }
    switch (wants_ptx(opt) ? EMIT_PTX : opt->emit) {
    case EMIT_PTX: status = emit_ptx(m, opt, outs, &ptx_plan, ptx_sm, d) ? 0 : 1; break;
    case EMIT_IR: status = write_text(opt->output, d, print_ir, &pc) ? 0 : 1; break;
    case EMIT_DOT: status = write_text(opt->output, d, print_dot, &pc) ? 0 : 1; break;
    case EMIT_JSON: status = write_text(opt->output, d, print_json, &pc) ? 0 : 1; break;
    case EMIT_C:
    case EMIT_OBJ:
    case EMIT_LLVM:
    case EMIT_CUDA:
    case EMIT_EXE: status = emit_native(m, opt, outs, sm, d) ? 0 : 1; break;
    default: NDLC_ICE("--emit kind %d has no backend", (int)opt->emit); /* EMIT_AST returned above */
    }
described:
    /* the report and depfile only describe an output that exists */
    if (status == 0 && opt->report) {
        OutFile o;
        if (out_open(&o, opt->report, d)) {
            print_json(o.f, &pc);
            if (!out_commit(&o, d)) status = 1;
        } else {
            status = 1;
        }
    }
    if (status == 0 && opt->depfile && !write_depfile(opt, outs, m, d)) status = 1;
done:
    if (pc.ptx) ptx_plan_free(&ptx_plan);
    free(pc.passes);
    ir_module_free(m);
    ast_free(&ast);
    return status;
}

int ndlc_drive(const Options *opt, SourceMgr *sm, Diag *d)
{
    switch (opt->cmd) {
    case CMD_VERSION: printf("ndlc %s\n", NDLC_VERSION); return 0;
    case CMD_HELP:
        fputs(options_usage(), stdout);
        printf("\npasses, in pipeline order (for --dump-after):\n  %-10s  %s\n", "elaborate",
               "the IR as elaboration made it, before any pass");
        for (unsigned i = 0; i < pipeline_default_len; i++)
            printf("  %-10s  %s\n", pipeline_default[i], pass_lookup(pipeline_default[i])->summary);
        return 0;
    case CMD_LIST_OPS:
        for (int k = 0; k < OP_COUNT; k++) printf("%s\n", op_info[k].name);
        return 0;
    case CMD_SUBNETS: return subnets_run(opt, sm, d); /* subnets.c */
    default: break;
    }
    Outputs outs;
    outputs_init(&outs, opt);
    if (outputs_clash(&outs, outs.inputs, 4, d)) { /* before reading or writing anything */
        outputs_free(&outs);
        return 2;
    }
    ndlc_set_ice_cleanup(outputs_ice_cleanup, &outs);
    int status = 1;
    char err[512];
    if (opt->cmd == CMD_IMPORT) {
        status = onnx_import_command(opt, outs.weights, d); /* onnx/import.c */
    } else if (is_onnx(opt->input)) {
        /* imported in memory, then the normal pipeline; its weights are a temporary file */
        uint32_t file;
        char *weights;
        if (onnx_prepare_compile(opt, sm, d, &file, &weights)) {
            Options imported = *opt;
            imported.weights = weights;
            status = compile(&imported, &outs, sm, file, d);
        }
        onnx_remove_temp(weights);
    } else {
        uint32_t file = src_load(sm, opt->input, err, sizeof err);
        if (file) status = compile(opt, &outs, sm, file, d);
        else diag_file_error(d, opt->input, "%s", err);
    }
    /* no stale or partial artefact survives a failure (as GCC), but only a regular file is
     * removed: `-o /dev/null` (as root) must not delete the device */
    if (status != 0) outputs_remove(&outs);
    ndlc_set_ice_cleanup(NULL, NULL);
    outputs_free(&outs);
    return status;
}
