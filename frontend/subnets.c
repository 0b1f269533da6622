/* SPDX-License-Identifier: MIT
 * subnets.c - `ndlc subnets FILE.ndl --max-mmacs M [--max-params P] [--measure] [--json]`:
 * which configurations of a supernet's elastic variables (spec section 7) fit the limits,
 * and which of those form the Pareto front of MACs against stored parameters.
 *
 * Each configuration is compiled the way `--report` does it (elaboration with the weights,
 * then the default pass pipeline), so a point's MACs, parameters and arena are exactly
 * what `ndlc FILE.ndl -D ... --report` says. Variables fixed with -D or --subnet are not
 * searched. A space of at most --budget configurations is enumerated; a larger one is
 * searched by a seeded evolution (random samples, the smallest and largest configuration,
 * then mutation and uniform crossover of front members), so results are reproducible.
 * The front holds the feasible points that no other feasible point matches or beats in
 * both MACs and parameters: the largest subnets (capacity being the proxy for accuracy)
 * along the trade-off between compute and weight size. With --measure, each front point
 * is compiled with the C backend into a temporary directory and timed (--repeat runs of
 * batch 1, random inputs): its median latency is added. Output: a table, or --json.
 * Nothing here prints diagnostics of the configurations it tries other than the first.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, fork, execv */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "subnets.h"
#include "frontend.h"
#include "json.h"
#include "../backends/backend.h"
#include "../passes/passes.h"
#include "../runtime/safetensors.h"

typedef struct Gene {        /* one searched choice: entry `index` of variable `var` */
    uint32_t var, index;
    int64_t values[ELASTIC_MAX_CHOICES]; /* the variable's set, ascending, distinct */
    uint32_t nvalues;
} Gene;

typedef struct Point {       /* an evaluated configuration */
    uint8_t *g;              /* per gene: index into Gene.values */
    ModelStats st;
    bool ok;                 /* compiled (a configuration may fail, e.g. a shape error) */
    double latency_ms;       /* --measure; < 0 when not measured or failed */
} Point;

typedef struct Search {
    const Options *opt;
    const Ast *ast;
    const SourceMgr *sm;
    uint32_t file;
    ElasticSpace space;
    Gene *genes;
    uint32_t ngenes;
    VEC(Point) pts;
    uint32_t *hash;          /* open addressing: 1 + index into pts, 0 empty */
    uint32_t hcap;
    VEC(uint32_t) front;     /* indices into pts */
    uint32_t nfeasible, nfailed;
    uint64_t rng;
    double eval_seconds;
} Search;

/* ---- evaluation -------------------------------------------------------------------------- */

static void quiet_sink(void *ud, DiagLevel level, const char *text)
{
    (void)ud;
    (void)level;
    (void)text;
}

static void quiet_pass_error(void *ud, Span span, const char *msg) { diag_error(ud, span, "%s", msg); }

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* "-D" values of the searched variables for configuration g, appended after the user's
 * -D options (which name fixed variables only). Strings are malloc'd into *owned. */
static Define *config_defines(const Search *S, const uint8_t *g, uint32_t *n, char ***owned)
{
    const ElasticSpace *sp = &S->space;
    uint32_t nuser = S->opt->defines.n;
    Define *d = xcalloc(nuser + sp->vars.n + 1, sizeof *d);
    *owned = xcalloc(sp->vars.n + 1, sizeof **owned);
    if (nuser) memcpy(d, S->opt->defines.v, nuser * sizeof *d);
    *n = nuser;
    uint32_t k = 0;
    for (uint32_t v = 0; v < sp->vars.n; v++) {
        const ElasticVar *ev = &sp->vars.v[v];
        if (ev->fixed) continue;
        uint32_t cnt = ev->len ? ev->len : 1;
        char *s = xmalloc(24 * (size_t)cnt + 4), *o = s;
        if (ev->len) *o++ = '[';
        for (uint32_t i = 0; i < cnt; i++, k++)
            o += sprintf(o, "%s%" PRId64, i ? "," : "", S->genes[k].values[g[k]]);
        if (ev->len) *o++ = ']';
        *o = 0;
        (*owned)[v] = s;
        d[(*n)++] = (Define){ev->name, s};
    }
    return d;
}

static void free_defines(const Search *S, Define *d, char **owned)
{
    for (uint32_t v = 0; v < S->space.vars.n; v++) free(owned[v]);
    free(owned);
    free(d);
}

/* Elaborates configuration g quietly and runs the default pipeline; NULL when it fails. */
static Module *build(const Search *S, const uint8_t *g)
{
    Options o = *S->opt;
    char **owned;
    Define *defs = config_defines(S, g, &o.defines.n, &owned);
    o.defines.v = defs;
    o.elastic_space = NULL;
    Diag *q = diag_new(S->sm, quiet_sink, NULL);
    bool usage = false;
    Module *m = lower_model(S->ast, S->sm, S->file, &o, q, &usage);
    if (m) {
        PassContext cx = {.m = m, .error = quiet_pass_error, .ud = q};
        if (!pipeline_run(&cx, pipeline_default, pipeline_default_len, false, NULL, NULL, NULL, NULL, NULL, NULL)) {
            ir_module_free(m);
            m = NULL;
        }
    }
    diag_free(q);
    free_defines(S, defs, owned);
    return m;
}

static uint32_t hash_genes(const Search *S, const uint8_t *g)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (uint32_t i = 0; i < S->ngenes; i++) h = (h ^ g[i]) * 16777619u;
    return h;
}

static bool feasible(const Search *S, const Point *p)
{
    const SubnetsOptions *so = &S->opt->subnets;
    return p->ok && p->st.macs <= so->max_mmacs * 1e6 &&
           (so->max_params <= 0 || p->st.params <= so->max_params);
}

/* Whether a matches or beats b in both measures (and so b may leave the front). */
static bool covers(const Point *a, const Point *b)
{
    return a->st.macs >= b->st.macs && a->st.params >= b->st.params;
}

static void front_add(Search *S, uint32_t i)
{
    const Point *p = &S->pts.v[i];
    for (uint32_t k = 0; k < S->front.n; k++)
        if (covers(&S->pts.v[S->front.v[k]], p)) return; /* the earlier point stays */
    uint32_t n = 0;
    for (uint32_t k = 0; k < S->front.n; k++)
        if (!covers(p, &S->pts.v[S->front.v[k]])) S->front.v[n++] = S->front.v[k];
    S->front.n = n;
    vec_push(S->front, i);
}

static void rehash(Search *S)
{
    free(S->hash);
    S->hcap = S->hcap ? 2 * S->hcap : 1024;
    S->hash = xcalloc(S->hcap, sizeof *S->hash);
    for (uint32_t i = 0; i < S->pts.n; i++) {
        uint32_t h = hash_genes(S, S->pts.v[i].g) & (S->hcap - 1);
        while (S->hash[h]) h = (h + 1) & (S->hcap - 1);
        S->hash[h] = i + 1;
    }
}

/* Index of configuration g among the evaluated ones, evaluating it when new. *fresh
 * tells which. */
static uint32_t evaluate(Search *S, const uint8_t *g, bool *fresh)
{
    if (2 * (S->pts.n + 1) > S->hcap) rehash(S);
    uint32_t h = hash_genes(S, g) & (S->hcap - 1);
    for (; S->hash[h]; h = (h + 1) & (S->hcap - 1)) {
        uint32_t i = S->hash[h] - 1;
        if (memcmp(S->pts.v[i].g, g, S->ngenes) == 0) {
            if (fresh) *fresh = false;
            return i;
        }
    }
    Point p = {.g = xmalloc(S->ngenes + 1), .latency_ms = -1};
    memcpy(p.g, g, S->ngenes);
    double t0 = now_seconds();
    Module *m = build(S, g);
    S->eval_seconds += now_seconds() - t0;
    if (m) {
        json_model_stats(m, &p.st);
        p.ok = true;
        ir_module_free(m);
    } else {
        S->nfailed++;
    }
    vec_push(S->pts, p);
    uint32_t i = S->pts.n - 1;
    S->hash[h] = i + 1;
    if (feasible(S, &S->pts.v[i])) {
        S->nfeasible++;
        front_add(S, i);
    }
    if (fresh) *fresh = true;
    return i;
}

/* ---- the search -------------------------------------------------------------------------------- */

static uint64_t next_random(Search *S) /* splitmix64 */
{
    uint64_t z = (S->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint32_t below(Search *S, uint32_t n) { return (uint32_t)(next_random(S) % n); }

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* One gene per entry of every searched variable; returns the size of the space. */
static double make_genes(Search *S)
{
    const ElasticSpace *sp = &S->space;
    uint32_t n = 0;
    for (uint32_t v = 0; v < sp->vars.n; v++)
        if (!sp->vars.v[v].fixed) n += sp->vars.v[v].len ? sp->vars.v[v].len : 1;
    S->genes = xcalloc(n + 1, sizeof *S->genes);
    S->ngenes = n;
    double size = 1;
    uint32_t k = 0;
    for (uint32_t v = 0; v < sp->vars.n; v++) {
        const ElasticVar *ev = &sp->vars.v[v];
        if (ev->fixed) continue;
        int64_t vals[ELASTIC_MAX_CHOICES];
        memcpy(vals, ev->set, ev->nset * sizeof *vals);
        qsort(vals, ev->nset, sizeof *vals, cmp_i64);
        uint32_t nv = 0;
        for (uint32_t i = 0; i < ev->nset; i++)
            if (nv == 0 || vals[i] != vals[nv - 1]) vals[nv++] = vals[i];
        for (uint32_t i = 0; i < (ev->len ? ev->len : 1); i++, k++) {
            Gene *g = &S->genes[k];
            g->var = v;
            g->index = i;
            memcpy(g->values, vals, nv * sizeof *vals);
            g->nvalues = nv;
            size *= nv;
        }
    }
    return size;
}

static void enumerate(Search *S)
{
    uint8_t *g = xcalloc(S->ngenes + 1, 1);
    for (;;) {
        evaluate(S, g, NULL);
        uint32_t i = 0;
        for (; i < S->ngenes; i++) {
            if (++g[i] < S->genes[i].nvalues) break;
            g[i] = 0;
        }
        if (i == S->ngenes) break;
    }
    free(g);
}

/* Seeded evolution: the smallest and largest configurations and random samples, then
 * children of front members (or, while nothing fits, of the smallest points found) by
 * uniform crossover and mutation, until the budget is spent or no new child turns up. */
static void evolve(Search *S, long budget)
{
    uint32_t ng = S->ngenes;
    uint8_t *g = xcalloc(ng + 1, 1);
    evaluate(S, g, NULL);                              /* every entry smallest */
    for (uint32_t i = 0; i < ng; i++) g[i] = (uint8_t)(S->genes[i].nvalues - 1);
    evaluate(S, g, NULL);                              /* every entry largest */
    long initial = budget / 4 < 100 ? budget / 4 : 100;
    while ((long)S->pts.n < initial) {
        for (uint32_t i = 0; i < ng; i++) g[i] = (uint8_t)below(S, S->genes[i].nvalues);
        evaluate(S, g, NULL);
    }
    uint32_t *pool = xcalloc(S->pts.n + (size_t)budget + 1, sizeof *pool);
    unsigned stale = 0;
    while ((long)S->pts.n < budget && stale < 1000) {
        uint32_t np = 0;
        if (S->front.n) {
            memcpy(pool, S->front.v, S->front.n * sizeof *pool);
            np = S->front.n;
        } else { /* nothing fits yet: breed from the 8 smallest by MACs */
            for (uint32_t i = 0; i < S->pts.n; i++) {
                if (!S->pts.v[i].ok) continue;
                bool full = np == 8; /* insertion into the sorted pool */
                if (full && S->pts.v[i].st.macs >= S->pts.v[pool[7]].st.macs) continue;
                uint32_t j = full ? 7 : np++;
                for (; j > 0 && S->pts.v[pool[j - 1]].st.macs > S->pts.v[i].st.macs; j--) pool[j] = pool[j - 1];
                pool[j] = i;
            }
        }
        if (np == 0) break; /* nothing compiles */
        const uint8_t *a = S->pts.v[pool[below(S, np)]].g, *b = S->pts.v[pool[below(S, np)]].g;
        bool cross = np > 1 && below(S, 2) == 0;
        for (uint32_t i = 0; i < ng; i++) g[i] = cross && below(S, 2) ? b[i] : a[i];
        uint32_t rate = ng < 10 ? 1 : ng / 10 + 1; /* about one gene in ten, at least one */
        bool mutated = false;
        for (uint32_t i = 0; i < ng; i++) {
            if (S->genes[i].nvalues < 2 || below(S, ng) >= rate) continue;
            g[i] = (uint8_t)((g[i] + 1 + below(S, S->genes[i].nvalues - 1)) % S->genes[i].nvalues);
            mutated = true;
        }
        if (!mutated && ng) {
            uint32_t i = below(S, ng);
            if (S->genes[i].nvalues > 1)
                g[i] = (uint8_t)((g[i] + 1 + below(S, S->genes[i].nvalues - 1)) % S->genes[i].nvalues);
        }
        bool fresh;
        evaluate(S, g, &fresh);
        stale = fresh ? 0 : stale + 1;
    }
    free(pool);
    free(g);
}

/* ---- --measure ----------------------------------------------------------------------------- */

/* Runs argv[0] with stdout to out_path; its exit status, or -1. */
static int run_program(char *const *argv, const char *out_path)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        FILE *f = freopen(out_path, "w", stdout);
        if (!f) _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Random inputs for m at batch 1 (every symbol 1), written to path. */
static bool write_inputs(const Module *m, const char *path, char *err, size_t errlen)
{
    NdlrtStOut *t = xcalloc(m->inputs.n + 1, sizeof *t);
    int64_t (*shapes)[IR_MAX_RANK] = xcalloc(m->inputs.n + 1, sizeof *shapes);
    void **data = xcalloc(m->inputs.n + 1, sizeof *data);
    int64_t *ones = xcalloc(m->syms.n + 1, sizeof *ones);
    for (SymId k = 0; k <= m->syms.n; k++) ones[k] = 1;
    uint64_t x = 88172645463325252ull;
    for (uint32_t i = 0; i < m->inputs.n; i++) {
        const TensorType *ty = ir_type(m, m->inputs.v[i].value);
        size_t n = 1;
        for (unsigned k = 0; k < ty->rank; k++) {
            shapes[i][k] = ty->dims[k] >= 0 ? ty->dims[k] : ir_dim_eval(m, ty->dims[k], ones);
            n *= (size_t)shapes[i][k];
        }
        size_t esz = dtype_info[ty->dtype].size;
        data[i] = xcalloc(n * esz + 1, 1);
        if (ty->dtype == DT_F32) {
            for (size_t k = 0; k < n; k++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                ((float *)data[i])[k] = (float)((double)(x >> 11) / 9007199254740992.0 * 2 - 1);
            }
        }
        NdlrtStDType dt = ty->dtype == DT_I32 ? NDLRT_ST_I32 : ty->dtype == DT_I64 ? NDLRT_ST_I64
                        : ty->dtype == DT_BOOL ? NDLRT_ST_BOOL : NDLRT_ST_F32;
        t[i] = (NdlrtStOut){m->inputs.v[i].name, dt, ty->rank, shapes[i], data[i]};
    }
    bool ok = ndlrt_st_write(path, t, m->inputs.n, err, errlen) == 0;
    for (uint32_t i = 0; i < m->inputs.n; i++) free(data[i]);
    free(data);
    free(shapes);
    free(ones);
    free(t);
    return ok;
}

/* Compiles front point p into dir and times it; false with a message in err. */
static bool measure(Search *S, Point *p, const char *dir, uint32_t idx, char *err, size_t errlen)
{
    Module *m = build(S, p->g);
    if (!m) {
        snprintf(err, errlen, "the configuration no longer compiles");
        return false;
    }
    char exe[4096 + 64], in[4096 + 64], out[4096 + 64], log[4096 + 64], wpath[4096 + 64], rep[32];
    snprintf(exe, sizeof exe, "%s/p%u", dir, idx);
    snprintf(in, sizeof in, "%s/in.safetensors", dir);
    snprintf(out, sizeof out, "%s/out.safetensors", dir);
    snprintf(log, sizeof log, "%s/p%u.log", dir, idx);
    snprintf(wpath, sizeof wpath, "%s/p%u.weights.safetensors", dir, idx);
    snprintf(rep, sizeof rep, "%d", S->opt->subnets.repeat);
    EmitOptions eo = {.c_path = exe, .source = S->opt->input, .command = "ndlc subnets --measure",
                      .opt_level = S->opt->opt_level,
                      .weights_path = wpath, .threads = S->opt->threads};
    bool ok = emitc_build_exe(m, &eo, exe, S->opt->cpu, err, errlen) && write_inputs(m, in, err, errlen);
    ir_module_free(m);
    if (!ok) return false;
    char *argv[] = {exe, in, out, "--repeat", rep, NULL};
    int rc = run_program(argv, log);
    FILE *f = fopen(log, "r");
    char line[512] = "";
    bool got = false;
    while (f && fgets(line, sizeof line, f)) {
        const char *at = strstr(line, "median_ms=");
        if (at && sscanf(at + 10, "%lf", &p->latency_ms) == 1) got = true;
    }
    if (f) fclose(f);
    unlink(log);
    unlink(exe);
    unlink(out);
    if (rc != 0 || !got) {
        snprintf(err, errlen, "the compiled subnet failed to run (status %d)", rc);
        p->latency_ms = -1;
        return false;
    }
    return true;
}

/* ---- output ------------------------------------------------------------------------------------ */

/* Whether front point a comes before b: fewer MACs, then more parameters, then found first. */
static bool before(const Search *S, uint32_t a, uint32_t b)
{
    const Point *x = &S->pts.v[a], *y = &S->pts.v[b];
    if (x->st.macs != y->st.macs) return x->st.macs < y->st.macs;
    if (x->st.params != y->st.params) return x->st.params > y->st.params;
    return a < b;
}

/* The configuration as -D options (text) or as a JSON object. */
static void print_config(FILE *f, const Search *S, const Point *p, bool json)
{
    const ElasticSpace *sp = &S->space;
    uint32_t k = 0;
    bool first = true;
    if (json) fputc('{', f);
    for (uint32_t v = 0; v < sp->vars.n; v++) {
        const ElasticVar *ev = &sp->vars.v[v];
        if (ev->fixed) continue;
        if (json) fprintf(f, "%s\"%s\": %s", first ? "" : ", ", ev->name, ev->len ? "[" : "");
        else fprintf(f, "%s-D %s=%s", first ? "" : " ", ev->name, ev->len ? "[" : "");
        first = false;
        for (uint32_t i = 0; i < (ev->len ? ev->len : 1); i++, k++)
            fprintf(f, "%s%" PRId64, i ? (json ? ", " : ",") : "", S->genes[k].values[p->g[k]]);
        if (ev->len) fputc(']', f);
    }
    if (json) fputc('}', f);
}

static void print_json(const Search *S, const uint32_t *order, const char *model, double size,
                       const char *method, bool measured)
{
    const SubnetsOptions *so = &S->opt->subnets;
    printf("{\n  \"model\": \"%s\",\n", model); /* an identifier: nothing to escape */
    printf("  \"space\": %.17g,\n  \"method\": \"%s\",\n", size, method);
    if (strcmp(method, "evolution") == 0) printf("  \"seed\": %lu,\n", so->seed);
    printf("  \"evaluated\": %u,\n  \"failed\": %u,\n  \"feasible\": %u,\n", S->pts.n, S->nfailed, S->nfeasible);
    printf("  \"limits\": {\"max_mmacs\": %.17g", so->max_mmacs);
    if (so->max_params > 0) printf(", \"max_params\": %.17g", so->max_params);
    printf("},\n  \"fixed\": [");
    bool first = true;
    for (uint32_t v = 0; v < S->space.vars.n; v++)
        if (S->space.vars.v[v].fixed) {
            printf("%s\"%s\"", first ? "" : ", ", S->space.vars.v[v].name);
            first = false;
        }
    printf("],\n  \"front\": [");
    for (uint32_t i = 0; i < S->front.n; i++) {
        const Point *p = &S->pts.v[order[i]];
        printf("%s\n    {\"macs\": %.17g, \"parameters\": %.17g, \"parameter_bytes\": %.17g, "
               "\"arena_bytes\": %.17g", i ? "," : "", p->st.macs, p->st.params, p->st.param_bytes,
               p->st.arena_bytes);
        if (measured) {
            if (p->latency_ms >= 0) printf(", \"latency_ms\": %.6f", p->latency_ms);
            else printf(", \"latency_ms\": null");
        }
        printf(", \"config\": ");
        print_config(stdout, S, p, true);
        printf("}");
    }
    printf("%s]\n}\n", S->front.n ? "\n  " : "");
}

static void print_table(const Search *S, const uint32_t *order, const char *model, double size,
                        const char *method, bool measured)
{
    const SubnetsOptions *so = &S->opt->subnets;
    printf("%s: elastic", model);
    for (uint32_t v = 0; v < S->space.vars.n; v++) {
        const ElasticVar *ev = &S->space.vars.v[v];
        printf("%s %s", v ? "," : "", ev->name);
        if (ev->len) printf("[%u]", ev->len);
        if (ev->fixed) printf(" (fixed)");
    }
    if (!S->space.vars.n) printf(" (none)");
    printf("; %.4g configurations; %s", size, strcmp(method, "evolution") == 0 ? "evolutionary search" : method);
    if (strcmp(method, "evolution") == 0) printf(" (seed %lu)", so->seed);
    printf(": %u evaluated, %u within the limits", S->pts.n, S->nfeasible);
    if (S->nfailed) printf(", %u failed to compile", S->nfailed);
    printf("\nPareto front (most MACs and parameters within --max-mmacs %g", so->max_mmacs);
    if (so->max_params > 0) printf(" --max-params %.0f", so->max_params);
    printf("), by MACs:\n");
    if (!S->front.n) {
        printf("  (no configuration fits the limits)\n");
        return;
    }
    printf("  %9s %10s %10s %10s", "MMACs", "params", "KiB", "arena KiB");
    if (measured) printf(" %10s", "ms");
    printf("  configuration\n");
    for (uint32_t i = 0; i < S->front.n; i++) {
        const Point *p = &S->pts.v[order[i]];
        printf("  %9.3f %10.0f %10.1f %10.1f", p->st.macs / 1e6, p->st.params, p->st.param_bytes / 1024,
               p->st.arena_bytes / 1024);
        if (measured) {
            if (p->latency_ms >= 0) printf(" %10.4f", p->latency_ms);
            else printf(" %10s", "failed");
        }
        printf("  ");
        print_config(stdout, S, p, false);
        printf("\n");
    }
}

/* ---- the command ----------------------------------------------------------------------------- */

int subnets_run(const Options *opt, SourceMgr *sm, Diag *d)
{
    char err[512];
    uint32_t file = src_load(sm, opt->input, err, sizeof err);
    if (!file) {
        diag_file_error(d, opt->input, "%s", err);
        return 1;
    }
    Ast ast;
    ast_init(&ast);
    if (!parse_file(&ast, sm, file, d)) {
        ast_free(&ast);
        return 1;
    }
    Search S = {.opt = opt, .ast = &ast, .sm = sm, .file = file, .rng = opt->subnets.seed};
    /* the configuration as given (defaults, -D, --subnet): reports errors, records the space */
    Options o = *opt;
    o.elastic_space = &S.space;
    bool usage = false;
    Module *m = lower_model(&ast, sm, file, &o, d, &usage);
    int status = 0;
    if (m) {
        PassContext cx = {.m = m, .error = quiet_pass_error, .ud = d};
        if (!pipeline_run(&cx, pipeline_default, pipeline_default_len, opt->verify_each, NULL, NULL, NULL, NULL, NULL, NULL))
            status = 1;
    } else {
        status = usage ? 2 : 1;
    }
    char *model = m ? xstrdup(m->name) : NULL;
    ir_module_free(m);
    if (status) goto done;

    double size = make_genes(&S);
    long budget = opt->subnets.budget;
    const char *method = size <= (double)budget ? "exhaustive" : "evolution";
    if (size <= (double)budget) enumerate(&S);
    else evolve(&S, budget);

    uint32_t *order = xcalloc(S.front.n + 1, sizeof *order);
    if (S.front.n) memcpy(order, S.front.v, S.front.n * sizeof *order);
    for (uint32_t i = 1; i < S.front.n; i++) /* insertion sort: the front is short */
        for (uint32_t j = i; j > 0 && before(&S, order[j], order[j - 1]); j--) {
            uint32_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }

    bool measured = opt->subnets.measure && S.front.n;
    if (measured) {
        const char *tmp = getenv("TMPDIR");
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/ndlc-subnets.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) {
            diag_file_error(d, dir, "cannot create a temporary directory: %s", strerror(errno));
            status = 1;
        }
        for (uint32_t i = 0; status == 0 && i < S.front.n; i++) {
            if (!measure(&S, &S.pts.v[order[i]], dir, i, err, sizeof err)) {
                diag_file_warn(d, opt->input, "--measure: front point %u: %s", i + 1, err);
            }
        }
        if (status == 0) {
            char in[4096 + 32];
            snprintf(in, sizeof in, "%s/in.safetensors", dir);
            unlink(in);
            for (uint32_t i = 0; i < S.front.n; i++) {
                char w[4096 + 48];
                snprintf(w, sizeof w, "%s/p%u.weights.safetensors", dir, i);
                unlink(w);
            }
            rmdir(dir);
        }
    }
    if (status == 0) {
        if (opt->subnets.json) print_json(&S, order, model, size, method, measured);
        else print_table(&S, order, model, size, method, measured);
        if (fflush(stdout) != 0) status = 1;
    }
    free(order);
done:
    for (uint32_t i = 0; i < S.pts.n; i++) free(S.pts.v[i].g);
    vec_free(S.pts);
    vec_free(S.front);
    free(S.hash);
    free(S.genes);
    free(model);
    elastic_space_free(&S.space);
    ast_free(&ast);
    return status;
}
