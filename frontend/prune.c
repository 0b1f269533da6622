/* SPDX-License-Identifier: MIT
 * prune.c - pruning masks (spec 8.2): `prune "PATTERN" SPEC;` statements and
 * `--prune 'PATTERN=SPEC'` options, with PyTorch's meaning (torch.nn.utils.prune).
 *
 * prune_collect reads and checks the rules; prune_apply runs after bind_weights, when
 * every parameter holds its weights as loaded (P_orig * P_mask applied, elastic slices
 * taken). Every rule's mask is computed on those weights, all masks of one parameter
 * multiply, and only then are they applied (weights.c), so the order of the rules does
 * not matter. A pruned weight is exactly zero; the mask is kept as Weight.mask for the
 * passes. Only f32 parameters are ever matched. Ties in a ranking go to the lower index
 * (documented in docs/decisions.md); the spec's tests avoid near-ties.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lower_impl.h"

static const char *const kind_name[] = {
    [PRUNE_MAGNITUDE] = "magnitude", [PRUNE_CHANNELS] = "channels", [PRUNE_NM] = "nm",
    [PRUNE_MASK] = "mask",
};
static const unsigned kind_nargs[] = {
    [PRUNE_MAGNITUDE] = 1, [PRUNE_CHANNELS] = 1, [PRUNE_NM] = 2, [PRUNE_MASK] = 1,
};
_Static_assert(sizeof kind_name / sizeof *kind_name == PRUNE_MASK + 1, "kind_name");
_Static_assert(sizeof kind_nargs / sizeof *kind_nargs == PRUNE_MASK + 1, "kind_nargs");

#define SPEC_FORMS "magnitude(p), channels(p), nm(n, m) or mask(\"key\")"

static bool lookup_kind(const char *name, PruneKind *k)
{
    for (unsigned i = 0; i <= PRUNE_MASK; i++)
        if (strcmp(name, kind_name[i]) == 0) {
            *k = (PruneKind)i;
            return true;
        }
    return false;
}

/* An error about rule r: at its statement, or "ndlc: error: --prune 'TEXT': ..." */
static void rule_error(Lower *L, const PruneRule *r, Span at, const char *msg)
{
    if (r->option) diag_error(L->diag, (Span){0}, "--prune '%s': %s", r->option, msg);
    else diag_error(L->diag, at.file ? at : r->span, "%s", msg);
}

/* Range checks shared by both sources; at is the offending argument (NDL). */
static bool check_amount(Lower *L, const PruneRule *r, Span at)
{
    char msg[256];
    if (r->amount >= 0 && r->amount <= 1) return true;
    snprintf(msg, sizeof msg, "the fraction pruned by '%s' must be in [0, 1], got %g", kind_name[r->kind],
             r->amount);
    rule_error(L, r, at, msg);
    return false;
}

static bool check_nm(Lower *L, const PruneRule *r, Span at)
{
    char msg[256];
    if (r->m <= 0) snprintf(msg, sizeof msg, "nm(n, m) needs m >= 1, got m = %lld", (long long)r->m);
    else if (r->n < 0 || r->n > r->m)
        snprintf(msg, sizeof msg, "nm(n, m) needs 0 <= n <= m, got nm(%lld, %lld)", (long long)r->n,
                 (long long)r->m);
    else return true;
    rule_error(L, r, at, msg);
    return false;
}

/* ---- prune statements ---------------------------------------------------------------------- */

static bool rule_from_ast(Lower *L, Scope *s, const AstNode *st, PruneRule *r)
{
    const AstNode *spec = N(L, st->b);
    *r = (PruneRule){.pattern = N(L, st->a)->str, .span = st->span};
    if (spec->kind != AST_CALL || N(L, spec->a)->kind != AST_NAME) {
        diag_error(L->diag, spec->span, "expected a prune spec: " SPEC_FORMS);
        return false;
    }
    const AstNode *callee = N(L, spec->a);
    if (!lookup_kind(callee->str, &r->kind)) {
        diag_error(L->diag, callee->span, "unknown prune spec '%s'; expected " SPEC_FORMS, callee->str);
        return false;
    }
    unsigned want = kind_nargs[r->kind];
    for (uint32_t i = 0; i < spec->list.n; i++)
        if (N(L, spec->list.v[i])->kind == AST_KWARG) {
            diag_error(L->diag, N(L, spec->list.v[i])->span, "'%s' takes no keyword arguments",
                       callee->str);
            return false;
        }
    if (spec->list.n != want) {
        diag_error(L->diag, spec->span, "'%s' takes %u argument%s, got %u", callee->str, want,
                   want == 1 ? "" : "s", spec->list.n);
        return false;
    }
    Cv v[2];
    Span at[2];
    for (unsigned i = 0; i < want; i++) {
        v[i] = eval(L, s, spec->list.v[i]);
        at[i] = N(L, spec->list.v[i])->span;
    }
    switch (r->kind) {
    case PRUNE_MAGNITUDE:
    case PRUNE_CHANNELS:
        return want_real(L, &v[0], at[0], "the fraction pruned", &r->amount) && check_amount(L, r, at[0]);
    case PRUNE_NM:
        return want_int(L, &v[0], at[0], "n of nm(n, m)", &r->n) &&
               want_int(L, &v[1], at[1], "m of nm(n, m)", &r->m) && check_nm(L, r, spec->span);
    case PRUNE_MASK:
        if (v[0].kind != CV_STR) return want_fail(L, &v[0], at[0], "the mask key", "a string");
        r->key = v[0].u.s;
        return true;
    }
    return false;
}

/* ---- --prune 'PATTERN=SPEC' ------------------------------------------------------------------ */

static const char *skip_blanks(const char *p)
{
    while (*p == ' ' || *p == '\t') p++;
    return p;
}

/* One argument: a number (int or real) or a "string" with \" \\ \n escapes. */
static bool cli_arg(Lower *L, const char **pp, bool *is_str, double *num, const char **str)
{
    const char *p = skip_blanks(*pp);
    if (*p == '"') {
        char *buf = arena_alloc(L->arena, strlen(p) + 1), *o = buf;
        for (p++; *p && *p != '"'; p++) {
            if (*p == '\\') {
                p++;
                if (*p == 'n') *o++ = '\n';
                else if (*p == '"' || *p == '\\') *o++ = *p;
                else return false;
            } else {
                *o++ = *p;
            }
        }
        if (*p != '"') return false;
        *o = 0;
        *is_str = true;
        *str = buf;
        *pp = p + 1;
        return true;
    }
    char *end;
    errno = 0;
    *num = strtod(p, &end);
    if (end == p || errno || !isfinite(*num)) return false;
    /* strtod also reads "inf", "nan" and hex floats; NDL numbers are decimal */
    for (const char *q = p; q < end; q++)
        if (!strchr("0123456789.eE+-", *q)) return false;
    *is_str = false;
    *pp = end;
    return true;
}

static bool rule_from_option(Lower *L, const char *text, PruneRule *r)
{
    char msg[512];
    *r = (PruneRule){.option = text};
    const char *eq = strchr(text, '=');
    if (!eq || eq == text) {
        rule_error(L, r, (Span){0}, "expected PATTERN=SPEC with a non-empty pattern");
        return false;
    }
    r->pattern = arena_strndup(L->arena, text, (size_t)(eq - text));
    const char *p = skip_blanks(eq + 1), *name = p;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_') p++;
    char *kname = arena_strndup(L->arena, name, (size_t)(p - name));
    p = skip_blanks(p);
    if (!*kname || *p != '(') {
        rule_error(L, r, (Span){0}, "expected a prune spec after '=': " SPEC_FORMS);
        return false;
    }
    if (!lookup_kind(kname, &r->kind)) {
        snprintf(msg, sizeof msg, "unknown prune spec '%s'; expected " SPEC_FORMS, kname);
        rule_error(L, r, (Span){0}, msg);
        return false;
    }
    p++;
    enum { MAX_ARGS = 8 };   /* more than any spec takes, so that arity errors say so */
    bool is_str[MAX_ARGS];
    double num[MAX_ARGS];
    const char *str[MAX_ARGS];
    unsigned nargs = 0;
    p = skip_blanks(p);
    if (*p != ')') {
        for (;;) {
            if (nargs == MAX_ARGS || !cli_arg(L, &p, &is_str[nargs], &num[nargs], &str[nargs])) {
                snprintf(msg, sizeof msg, "malformed arguments of '%s': expected numbers or a \"string\", "
                         "separated by ','", kname);
                rule_error(L, r, (Span){0}, msg);
                return false;
            }
            nargs++;
            p = skip_blanks(p);
            if (*p == ',') { p++; continue; }
            break;
        }
    }
    if (*p != ')' || *skip_blanks(p + 1)) {
        snprintf(msg, sizeof msg, "expected ')' to end '%s(...)'", kname);
        rule_error(L, r, (Span){0}, msg);
        return false;
    }
    unsigned want = kind_nargs[r->kind];
    if (nargs != want) {
        snprintf(msg, sizeof msg, "'%s' takes %u argument%s, got %u", kname, want, want == 1 ? "" : "s", nargs);
        rule_error(L, r, (Span){0}, msg);
        return false;
    }
    for (unsigned i = 0; i < nargs; i++) {
        bool want_str = r->kind == PRUNE_MASK, want_int = r->kind == PRUNE_NM;
        const char *bad = NULL;
        if (want_str && !is_str[i]) bad = "a string";
        else if (!want_str && is_str[i]) bad = "a number";
        else if (want_int && (num[i] != floor(num[i]) || fabs(num[i]) > 1e15)) bad = "an integer";
        if (bad) {
            snprintf(msg, sizeof msg, "argument %u of '%s' must be %s", i + 1, kname, bad);
            rule_error(L, r, (Span){0}, msg);
            return false;
        }
    }
    switch (r->kind) {
    case PRUNE_MAGNITUDE:
    case PRUNE_CHANNELS: r->amount = num[0]; return check_amount(L, r, (Span){0});
    case PRUNE_NM:
        r->n = (int64_t)num[0];
        r->m = (int64_t)num[1];
        return check_nm(L, r, (Span){0});
    case PRUNE_MASK: r->key = str[0]; return true;
    }
    return false;
}

void prune_collect(Lower *L, const AstNode *model, Scope *s, PruneSet *ps, bool *usage_error)
{
    PruneRule r;
    for (uint32_t i = 0; i < model->list2.n && !diag_full(L->diag); i++) {
        const AstNode *n = N(L, model->list2.v[i]);
        if (n->kind == AST_PRUNE && rule_from_ast(L, s, n, &r)) vec_push(ps->rules, r);
    }
    for (uint32_t i = 0; i < L->opt->prunes.n; i++) {
        if (rule_from_option(L, L->opt->prunes.v[i], &r)) vec_push(ps->rules, r);
        else *usage_error = true;
    }
    for (uint32_t i = 0; i < ps->rules.n; i++)
        if (ps->rules.v[i].kind == PRUNE_MASK) vec_push(L->ignored_keys, ps->rules.v[i].key);
}

void prune_free(PruneSet *ps)
{
    vec_free(ps->rules);
}

/* ---- masks --------------------------------------------------------------------------------- */

/* '*' matches any run of characters (dots included); everything else is literal. */
static bool glob_match(const char *pat, const char *s)
{
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*pat == '*') {
            star = pat++;
            resume = s;
        } else if (*pat == *s) {
            pat++;
            s++;
        } else if (star) {
            pat = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*pat == '*') pat++;
    return *pat == 0;
}

/* round(x) half to even, as Python's round (PyTorch's _compute_nparams_toprune). */
static int64_t round_half_even(double x)
{
    double r = floor(x), f = x - r;
    if (f > 0.5 || (f == 0.5 && fmod(r, 2.0) != 0)) r += 1;
    return (int64_t)r;
}

typedef struct Ranked {
    double key;              /* |w| or a row's L1 norm */
    size_t pos;              /* position in the ranking's order (the tie-break) */
} Ranked;

static int by_key_then_pos(const void *a, const void *b)
{
    const Ranked *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* One parameter matched by a rule, and the mask being built for it. */
typedef struct Target {
    uint32_t param;          /* index into L->params */
    WeightId w;
    size_t n;                /* elements */
} Target;

static float *wdata(const Lower *L, const Target *t)
{
    return L->m->weights.v[t->w].data;
}

/* The k-th smallest (0-based) of a[0..n), k < n, reordering a: quickselect with a
 * three-way partition, so that runs of equal values (zeros) stay linear. */
static float kth_smallest(float *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n; /* the answer is in a[lo..hi) */
    for (;;) {
        float x = a[lo], y = a[lo + (hi - lo) / 2], z = a[hi - 1];
        float piv = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        size_t lt = lo, i = lo, gt = hi;  /* [lo,lt) < piv, [lt,i) == piv, [gt,hi) > piv */
        while (i < gt) {
            float v = a[i];
            if (v < piv) { a[i++] = a[lt]; a[lt++] = v; }
            else if (v > piv) { a[i] = a[--gt]; a[gt] = v; }
            else i++;
        }
        if (k < lt) hi = lt;
        else if (k >= gt) lo = gt;
        else return piv;
    }
}

/* magnitude(p): the round(p * total) smallest |w| over all targets together are pruned
 * (global_unstructured with L1Unstructured), in linear time: find the threshold |w|,
 * prune everything below it and, of the values equal to it, the first ones in order. */
static void mask_magnitude(Lower *L, const PruneRule *r, const Target *tg, uint32_t nt, float **mask)
{
    size_t total = 0;
    for (uint32_t i = 0; i < nt; i++) total += tg[i].n;
    size_t k = (size_t)round_half_even(r->amount * (double)total);
    if (k == 0) return;
    float *a = xmalloc(total * sizeof *a), thr;
    size_t o = 0, below = 0;
    for (uint32_t i = 0; i < nt; i++) {
        const float *w = wdata(L, &tg[i]);
        for (size_t j = 0; j < tg[i].n; j++) a[o++] = fabsf(w[j]);
    }
    thr = kth_smallest(a, total, k - 1);
    free(a);
    for (uint32_t i = 0; i < nt; i++) {
        const float *w = wdata(L, &tg[i]);
        for (size_t j = 0; j < tg[i].n; j++) below += fabsf(w[j]) < thr;
    }
    size_t ties = k - below; /* how many of the values equal to thr go */
    for (uint32_t i = 0; i < nt; i++) {
        const float *w = wdata(L, &tg[i]);
        for (size_t j = 0; j < tg[i].n; j++) {
            float v = fabsf(w[j]);
            if (v < thr || (v == thr && ties && ties--)) mask[i][j] = 0;
        }
    }
}

/* Rows of a weight for channels and nm: dim 0 and the rest flattened (a scalar is one row). */
static size_t row_len(const Lower *L, const Target *t)
{
    const TensorType *ty = &L->m->weights.v[t->w].type;
    return ty->rank == 0 ? 1 : (ty->dims[0] ? t->n / (size_t)ty->dims[0] : 0);
}

/* channels(p): per tensor, the round(p * rows) rows of smallest L1 norm are pruned
 * (ln_structured with n = 1, dim = 0). */
static bool mask_channels(Lower *L, const PruneRule *r, const Target *t, float *mask)
{
    const TensorType *ty = &L->m->weights.v[t->w].type;
    if (ty->rank < 2) {
        char msg[512], dims[128];
        snprintf(msg, sizeof msg, "channels(p) prunes rows of tensors of 2 or more dimensions (as "
                 "ln_structured), but '%s' has shape %s", L->params.v[t->param].key,
                 ir_format_dims(L->m, ty, dims, sizeof dims));
        rule_error(L, r, (Span){0}, msg);
        return false;
    }
    size_t len = row_len(L, t), rows = len ? t->n / len : 0;
    int64_t k = round_half_even(r->amount * (double)rows);
    if (k <= 0) return true;
    const float *w = wdata(L, t);
    Ranked *rk = xmalloc(rows * sizeof *rk);
    for (size_t i = 0; i < rows; i++) {
        double norm = 0;
        for (size_t j = 0; j < len; j++) norm += fabsf(w[i * len + j]);
        rk[i] = (Ranked){norm, i};
    }
    qsort(rk, rows, sizeof *rk, by_key_then_pos);
    for (size_t q = 0; q < (size_t)k && q < rows; q++)
        for (size_t j = 0; j < len; j++) mask[rk[q].pos * len + j] = 0;
    free(rk);
    return true;
}

/* nm(n, m): in each group of m consecutive elements of a row (the last dimension; a conv
 * weight's flattened in/groups*kh*kw), all but the n largest |w| are pruned. */
static bool mask_nm(Lower *L, const PruneRule *r, const Target *t, float *mask)
{
    const TensorType *ty = &L->m->weights.v[t->w].type;
    size_t len = ty->rank == 4 ? row_len(L, t) : ty->rank ? (size_t)ty->dims[ty->rank - 1] : 1;
    size_t m = (size_t)r->m;
    if (len % m) {
        char msg[512];
        snprintf(msg, sizeof msg, "nm(%lld, %lld) needs the %s of '%s' (%zu) to be a multiple of %zu",
                 (long long)r->n, (long long)r->m, ty->rank == 4 ? "flattened in/groups*kh*kw" :
                 "last dimension", L->params.v[t->param].key, len, m);
        rule_error(L, r, (Span){0}, msg);
        return false;
    }
    const float *w = wdata(L, t);
    Ranked *rk = xmalloc(m * sizeof *rk);
    for (size_t g = 0; g < t->n; g += m) {
        /* ascending |w| with ties to the higher index first, so the kept tail holds the
         * largest and, among equals, the lower indices */
        for (size_t j = 0; j < m; j++) rk[j] = (Ranked){fabsf(w[g + j]), m - 1 - j};
        qsort(rk, m, sizeof *rk, by_key_then_pos);
        for (size_t q = 0; q < m - (size_t)r->n; q++) mask[g + (m - 1 - rk[q].pos)] = 0;
    }
    free(rk);
    return true;
}

/* The f32 parameters rule r matches, each weight once (tied parameters share one). */
static uint32_t match(Lower *L, const PruneRule *r, Target *out)
{
    uint32_t nt = 0;
    for (uint32_t i = 0; i < L->params.n; i++) {
        const ParamDecl *p = &L->params.v[i];
        WeightId w = L->m->values.v[p->value].weight; /* after ties */
        const Weight *wt = &L->m->weights.v[w];
        if (wt->type.dtype != DT_F32 || !wt->data || !glob_match(r->pattern, p->key)) continue;
        bool seen = false;
        for (uint32_t j = 0; j < nt && !seen; j++) seen = out[j].w == w;
        if (!seen) out[nt++] = (Target){i, w, wt->nbytes / sizeof(float)};
    }
    return nt;
}

bool prune_apply(Lower *L, const PruneSet *ps)
{
    if (!ps->rules.n) return true;
    uint32_t nw = L->m->weights.n; /* masks made below are not targets */
    float **acc = xcalloc(nw, sizeof *acc);  /* per weight: the product of its masks */
    Target *tg = xmalloc((L->params.n ? L->params.n : 1) * sizeof *tg);
    float **mask = xmalloc((L->params.n ? L->params.n : 1) * sizeof *mask);
    bool ok = true;
    for (uint32_t k = 0; k < ps->rules.n && !diag_full(L->diag); k++) {
        const PruneRule *r = &ps->rules.v[k];
        uint32_t nt = match(L, r, tg);
        if (!nt) {
            if (r->option)
                diag_warn(L->diag, (Span){0}, "--prune '%s': pattern '%s' matches no parameter", r->option,
                          r->pattern);
            else
                diag_warn(L->diag, r->span, "prune pattern '%s' matches no parameter", r->pattern);
            continue;
        }
        for (uint32_t i = 0; i < nt; i++) {
            mask[i] = xmalloc(tg[i].n * sizeof(float) + 1);
            for (size_t j = 0; j < tg[i].n; j++) mask[i][j] = 1.0f;
        }
        bool rok = true;
        switch (r->kind) {
        case PRUNE_MAGNITUDE: mask_magnitude(L, r, tg, nt, mask); break;
        case PRUNE_CHANNELS:
            for (uint32_t i = 0; i < nt; i++) rok &= mask_channels(L, r, &tg[i], mask[i]);
            break;
        case PRUNE_NM:
            for (uint32_t i = 0; i < nt; i++) rok &= mask_nm(L, r, &tg[i], mask[i]);
            break;
        case PRUNE_MASK:
            for (uint32_t i = 0; i < nt; i++) {
                float *m = weights_read_mask(L, &L->params.v[tg[i].param], r->key, r->span, r->option);
                if (m) memcpy(mask[i], m, tg[i].n * sizeof(float));
                else rok = false;
                free(m);
            }
            break;
        }
        for (uint32_t i = 0; i < nt; i++) {
            if (rok) {
                if (!acc[tg[i].w]) {
                    acc[tg[i].w] = mask[i];
                    continue;
                }
                for (size_t j = 0; j < tg[i].n; j++) acc[tg[i].w][j] *= mask[i][j];
            }
            free(mask[i]);
        }
        ok &= rok;
    }
    for (WeightId w = 1; w < nw; w++) {
        if (ok && acc[w]) weights_apply_mask(L, w, acc[w]);
        free(acc[w]);
    }
    free(acc);
    free(tg);
    free(mask);
    return ok;
}
