/* SPDX-License-Identifier: MIT
 * options.c - the command line of spec section 9, parsed into Options. Pure: no I/O,
 * no exit; a usage error is a message for exit status 2.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "options.h"
#include "../backends/backend.h"
#include "../passes/passes.h"

static const char *const emit_names[] = {
    [EMIT_EXE] = "exe", [EMIT_C] = "c", [EMIT_OBJ] = "obj", [EMIT_LLVM] = "llvm",
    [EMIT_PTX] = "ptx", [EMIT_CUDA] = "cuda", [EMIT_IR] = "ir", [EMIT_JSON] = "json",
    [EMIT_DOT] = "dot", [EMIT_AST] = "ast",
};

const char *options_usage(void)
{
    return "usage: ndlc FILE.ndl [options]                compile a model\n"
           "       ndlc run FILE.ndl --inputs IN.safetensors [-o OUT.safetensors] [options]\n"
           "                                               run it with the reference interpreter\n"
           "                                               (without -o, print the outputs)\n"
           "       ndlc import MODEL.onnx -o OUT.ndl        convert an ONNX model\n"
           "       ndlc subnets FILE.ndl --max-mmacs M [--max-params P] [--measure [--repeat N]]\n"
           "                    [--json] [--budget N] [--seed S] [-D ...] [--subnet F] [--weights F]\n"
           "                                               Pareto front (MACs vs parameters) of the\n"
           "                                               elastic configurations within the limits\n"
           "       ndlc --version | --help | --list-ops\n"
           "\n"
           "options:\n"
           "  -o PATH                 output path\n"
           "  --emit KIND             exe|c|obj|llvm|ptx|cuda|ir|json|dot (default exe)\n"
           "  --backend c|llvm        native code path for exe/obj (default c)\n"
           "  --target cpu|cuda       device (default cpu); --cpu NAME: CPU model (default native),\n"
           "                          or sm_80|sm_90 for --emit ptx (default sm_80; ptx implies llvm, cuda)\n"
           "  -O0 -O1 -O2 -O3         optimization level (default -O2)\n"
           "  --threads N             OpenMP threads in the generated kernels (default 1; the\n"
           "                          C must then be built with -fopenmp, as --emit exe does)\n"
           "  --weights FILE          weight file (overrides the model's 'weights' statement)\n"
           "  -D NAME=VALUE           bind an elastic variable (-D r=160, -D d=[2,3,4,4])\n"
           "  --subnet FILE.json      bind elastic variables from a Once-for-All config\n"
           "  --prune PATTERN=SPEC    add a prune statement\n"
           "  --sparse auto|off|csr|block|nm|ell  sparse weights of linear / 1x1 conv layers (default\n"
           "                          auto: a cost model picks per layer; off: always dense)\n"
           "  --share materialize|compressed    hashed-weight lowering\n"
           "  --hyper fold|init       where parameter expressions are evaluated\n"
           "  --embed-weights | --external-weights\n"
           "  --model NAME            which model of the file\n"
           "  --inputs FILE           run: the input tensors\n"
           "  --report FILE.json      write a report (parameters, FLOPs, bytes)\n"
           "  -MD -MF FILE            write a Make-style depfile\n"
           "  --dump-after PASS       print the IR to stderr after a pass (the passes are listed below)\n"
           "  -Wunused-weights        warn about weight tensors the model does not use\n"
           "  -Werror                 treat warnings as errors\n"
           "  --diag-plain            diagnostics without source excerpts\n";
}

static bool fail(char *err, size_t errlen, const char *fmt, ...) NDLC_PRINTF(3, 4);
static bool fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return false;
}

/* ---- `ndlc subnets` options (subnets.c) ------------------------------------------------ */

static const char *const subnets_valued[] = {"--max-mmacs", "--max-params", "--repeat", "--budget",
                                             "--seed"};

/* Stores one valued subnets option; false with a usage message for a bad value. */
static bool subnets_value(SubnetsOptions *so, const char *name, const char *val, char *err, size_t errlen)
{
    char *end;
    double x = strtod(val, &end);
    bool bad = end == val || *end || !(x >= 0) || x > 1e15;
    if (strcmp(name, "--max-mmacs") == 0) so->max_mmacs = x;
    else if (strcmp(name, "--max-params") == 0) so->max_params = x;
    else {
        bad = bad || x != (double)(long)x || x < (strcmp(name, "--seed") == 0 ? 0 : 1) || x > 1e9;
        if (strcmp(name, "--repeat") == 0) so->repeat = (int)x;
        else if (strcmp(name, "--budget") == 0) so->budget = (long)x;
        else so->seed = (unsigned long)x;
    }
    if (bad) return fail(err, errlen, "invalid value '%s' for %s", val, name);
    return true;
}

static bool subnets_check(const Options *o, bool given, char *err, size_t errlen)
{
    if (o->cmd != CMD_SUBNETS) {
        if (given) return fail(err, errlen, "--max-mmacs, --max-params, --measure, --repeat, --json, "
                               "--budget and --seed belong to 'ndlc subnets'");
        return true;
    }
    if (!(o->subnets.max_mmacs > 0)) return fail(err, errlen, "'ndlc subnets' needs --max-mmacs M (M > 0)");
    return true;
}

static bool one_of(const char *v, const char *const *names, size_t n, int *out)
{
    for (size_t i = 0; i < n; i++)
        if (names[i] && strcmp(v, names[i]) == 0) { *out = (int)i; return true; }
    return false;
}

/* Option combinations that cannot produce anything are usage errors (exit 2), found
 * before any file is read: --emit picks the artefact, --backend and --target the way to it. */
static bool check_combination(const Options *o, bool emit_given, char *err, size_t errlen)
{
    if (o->cmd == CMD_RUN && emit_given)
        return fail(err, errlen, "'ndlc run' executes the model with the interpreter; --emit is for compiling");
    if (o->cmd != CMD_COMPILE) return true;
    bool cuda = strcmp(o->target, "cuda") == 0, llvm = strcmp(o->backend, "llvm") == 0;
    const char *emit = emit_names[o->emit];
    if (o->emit == EMIT_C && llvm)
        return fail(err, errlen, "--emit c is the C backend's output (--backend llvm writes exe, obj or llvm)");
    if ((o->emit == EMIT_C || o->emit == EMIT_OBJ || o->emit == EMIT_LLVM) && cuda)
        return fail(err, errlen, "--emit %s is for --target cpu (--target cuda writes cuda, ptx or exe)", emit);
    if (o->emit == EMIT_CUDA && llvm)
        return fail(err, errlen, "--emit cuda is CUDA C from --backend c (--backend llvm writes PTX: --emit ptx)");
    bool ptx = o->emit == EMIT_PTX || (o->emit == EMIT_EXE && cuda && llvm);
    if (ptx && strcmp(o->cpu, "native") != 0 && !ptx_sm_valid(o->cpu))
        return fail(err, errlen, "invalid --cpu '%s' for PTX (expected sm_80 or sm_90)", o->cpu);
    if (ptx && o->external_weights)
        return fail(err, errlen, "--external-weights is not supported for PTX (--emit ptx, or exe with "
                    "--backend llvm --target cuda) yet");
    return true;
}

bool options_parse(Options *o, int argc, char **argv, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    o->cmd = CMD_COMPILE;
    o->emit = EMIT_EXE;
    o->backend = "c";
    o->target = "cpu";
    o->cpu = "native";
    o->opt_level = 2;
    o->threads = 1;
    o->verify_each = true;
    o->subnets = (SubnetsOptions){.repeat = 20, .budget = 2000, .seed = 1};
    bool have_cmd = false, subnets_given = false, emit_given = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        /* options taking a value: "--opt VALUE" or "--opt=VALUE" */
        static const char *const valued[] = {"-o", "--emit", "--backend", "--target", "--cpu",
                                             "--weights", "-D", "--subnet", "--prune", "--share",
                                             "--hyper", "--model", "--report", "-MF",
                                             "--dump-after", "--inputs", "--threads", "--sparse"};
        const char *val = NULL, *name = a;
        char namebuf[64];
        int which = -1;
        for (size_t k = 0; k < sizeof valued / sizeof *valued; k++) {
            size_t len = strlen(valued[k]);
            if (strcmp(a, valued[k]) == 0) {
                if (i + 1 >= argc) return fail(err, errlen, "missing value after '%s'", a);
                val = argv[++i];
                which = (int)k;
                break;
            }
            if (strncmp(a, valued[k], len) == 0 && a[len] == '=' && a[1] == '-') {
                val = a + len + 1;
                which = (int)k;
                snprintf(namebuf, sizeof namebuf, "%s", valued[k]);
                name = namebuf;
                break;
            }
            if (strcmp(valued[k], "-D") == 0 && strncmp(a, "-D", 2) == 0 && a[2]) {
                val = a + 2;
                which = (int)k;
                name = "-D";
                break;
            }
        }
        for (size_t k = 0; which < 0 && k < sizeof subnets_valued / sizeof *subnets_valued; k++) {
            size_t len = strlen(subnets_valued[k]);
            if (strcmp(a, subnets_valued[k]) == 0) {
                if (i + 1 >= argc) return fail(err, errlen, "missing value after '%s'", a);
                val = argv[++i];
            } else if (strncmp(a, subnets_valued[k], len) == 0 && a[len] == '=') {
                val = a + len + 1;
            } else {
                continue;
            }
            if (!subnets_value(&o->subnets, subnets_valued[k], val, err, errlen)) return false;
            subnets_given = true;
            which = -2;
        }
        if (which == -2) continue;
        if (which >= 0) {
            int e;
            if (strcmp(name, "-o") == 0) o->output = val;
            else if (strcmp(name, "--emit") == 0) {
                if (!one_of(val, emit_names, sizeof emit_names / sizeof *emit_names, &e) || e == EMIT_AST)
                    return fail(err, errlen, "invalid value '%s' for --emit (expected exe, c, obj, llvm, ptx, "
                                "cuda, ir, json or dot)", val);
                o->emit = (EmitKind)e;
                emit_given = true;
            } else if (strcmp(name, "--backend") == 0) {
                static const char *const b[] = {"c", "llvm"};
                if (!one_of(val, b, 2, &e)) return fail(err, errlen, "invalid value '%s' for --backend (expected c or llvm)", val);
                o->backend = b[e];
            } else if (strcmp(name, "--target") == 0) {
                static const char *const t[] = {"cpu", "cuda"};
                if (!one_of(val, t, 2, &e)) return fail(err, errlen, "invalid value '%s' for --target (expected cpu or cuda)", val);
                o->target = t[e];
            } else if (strcmp(name, "--cpu") == 0) o->cpu = val;
            else if (strcmp(name, "--weights") == 0) o->weights = val;
            else if (strcmp(name, "-D") == 0) {
                const char *eq = strchr(val, '=');
                if (!eq || eq == val) return fail(err, errlen, "expected NAME=VALUE after -D, got '%s'", val);
                char *nm = xmalloc((size_t)(eq - val) + 1);
                memcpy(nm, val, (size_t)(eq - val));
                nm[eq - val] = 0;
                vec_push(o->defines, ((Define){nm, eq + 1}));
            } else if (strcmp(name, "--subnet") == 0) o->subnet = val;
            else if (strcmp(name, "--prune") == 0) {
                if (!strchr(val, '=')) return fail(err, errlen, "expected PATTERN=SPEC after --prune, got '%s'", val);
                vec_push(o->prunes, val);
            } else if (strcmp(name, "--share") == 0) {
                static const char *const s[] = {"materialize", "compressed"};
                if (!one_of(val, s, 2, &e)) return fail(err, errlen, "invalid value '%s' for --share (expected materialize or compressed)", val);
                o->share = s[e];
            } else if (strcmp(name, "--hyper") == 0) {
                static const char *const h[] = {"fold", "init"};
                if (!one_of(val, h, 2, &e)) return fail(err, errlen, "invalid value '%s' for --hyper (expected fold or init)", val);
                o->hyper = h[e];
            } else if (strcmp(name, "--model") == 0) o->model = val;
            else if (strcmp(name, "--report") == 0) o->report = val;
            else if (strcmp(name, "-MF") == 0) o->depfile_path = val;
            else if (strcmp(name, "--dump-after") == 0) o->dump_after = val;
            else if (strcmp(name, "--inputs") == 0) o->inputs = val;
            else if (strcmp(name, "--sparse") == 0) {
                /* the order of SparseMode */
                static const char *const sm[] = {"auto", "off", "csr", "block", "nm", "ell"};
                if (!one_of(val, sm, 6, &e))
                    return fail(err, errlen, "invalid value '%s' for --sparse (expected auto, off, csr, block, nm or ell)", val);
                o->sparse = e;
            } else if (strcmp(name, "--threads") == 0) {
                char *end;
                long t = strtol(val, &end, 10);
                if (*end || t < 1 || t > 256)
                    return fail(err, errlen, "invalid value '%s' for --threads (expected 1 to 256)", val);
                o->threads = (int)t;
            }
            continue;
        }
        if (strcmp(a, "--version") == 0) { o->cmd = CMD_VERSION; have_cmd = true; }
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { o->cmd = CMD_HELP; have_cmd = true; }
        else if (strcmp(a, "--list-ops") == 0) { o->cmd = CMD_LIST_OPS; have_cmd = true; }
        else if (strcmp(a, "--dump-ast") == 0) o->emit = EMIT_AST;
        else if (a[0] == '-' && a[1] == 'O' && a[2] >= '0' && a[2] <= '3' && !a[3]) o->opt_level = a[2] - '0';
        else if (strcmp(a, "--embed-weights") == 0) o->external_weights = false;
        else if (strcmp(a, "--external-weights") == 0) o->external_weights = true;
        else if (strcmp(a, "-MD") == 0) o->depfile = true;
        else if (strcmp(a, "-Wunused-weights") == 0) o->warn_unused_weights = true;
        else if (strcmp(a, "-Wno-unused-weights") == 0) o->warn_unused_weights = false;
        else if (strcmp(a, "-Werror") == 0) o->werror = true;
        else if (strcmp(a, "--diag-plain") == 0) o->diag_plain = true;
        else if (strcmp(a, "--measure") == 0) o->subnets.measure = subnets_given = true;
        else if (strcmp(a, "--json") == 0) o->subnets.json = subnets_given = true;
        else if (strcmp(a, "--verify-each") == 0) o->verify_each = true;
        else if (strcmp(a, "--no-verify-each") == 0) o->verify_each = false;
        else if (a[0] == '-' && a[1]) return fail(err, errlen, "unknown option '%s'", a);
        else if (!o->input && !have_cmd && o->cmd == CMD_COMPILE && (strcmp(a, "run") == 0 || strcmp(a, "import") == 0)) {
            o->cmd = a[0] == 'r' ? CMD_RUN : CMD_IMPORT;
            have_cmd = true;
        } else if (!o->input && !have_cmd && o->cmd == CMD_COMPILE && strcmp(a, "subnets") == 0) {
            o->cmd = CMD_SUBNETS;
            have_cmd = true;
        } else if (!o->input) o->input = a;
        else return fail(err, errlen, "more than one input file: '%s' and '%s'", o->input, a);
    }
    if (o->cmd == CMD_VERSION || o->cmd == CMD_HELP || o->cmd == CMD_LIST_OPS) return true;
    if (!o->input) return fail(err, errlen, "no input file");
    if (!subnets_check(o, subnets_given, err, errlen)) return false;
    if (o->cmd == CMD_RUN) {
        if (!o->inputs) return fail(err, errlen, "'ndlc run' needs --inputs IN.safetensors");
    }
    if (o->cmd == CMD_IMPORT && !o->output) return fail(err, errlen, "'ndlc import' needs -o OUT.ndl");
    if (o->depfile_path && !o->depfile) o->depfile = true;
    if (o->dump_after && strcmp(o->dump_after, "elaborate") != 0 && !pass_lookup(o->dump_after)) {
        return fail(err, errlen, "unknown pass '%s' for --dump-after (see 'ndlc --help')", o->dump_after);
    }
    return check_combination(o, emit_given, err, errlen);
}

void options_free(Options *o)
{
    for (uint32_t i = 0; i < o->defines.n; i++) free((char *)o->defines.v[i].name);
    vec_free(o->defines);
    vec_free(o->prunes);
}
