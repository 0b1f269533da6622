/* SPDX-License-Identifier: MIT
 * elastic.c - binding elastic variables (spec section 7): each gets its value from -D
 * (wins), else --subnet, else its default, and must lie in its declared set. Errors are
 * located at the declaration (or at the model for a name that is not elastic) and say
 * which option gave the value.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lower_impl.h"
#include "json.h"
#include "subnets.h"

/* Parses a -D value: "160" or "[2, 3, 4]". */
static bool parse_define(Lower *L, const char *text, int64_t **v, uint32_t *n, bool *is_list)
{
    const char *p = text;
    while (*p == ' ') p++;
    *is_list = *p == '[';
    if (*is_list) p++;
    uint32_t cap = 8;
    *v = arena_alloc(L->arena, cap * sizeof **v);
    *n = 0;
    for (;;) {
        while (*p == ' ') p++;
        if (*is_list && *p == ']' && *n == 0) { p++; break; }
        char *end;
        errno = 0;
        long long x = strtoll(p, &end, 10);
        if (end == p || errno) return false;
        if (*n == cap) {
            int64_t *nv = arena_alloc(L->arena, 2 * cap * sizeof *nv);
            memcpy(nv, *v, cap * sizeof *nv);
            *v = nv;
            cap *= 2;
        }
        (*v)[(*n)++] = x;
        p = end;
        while (*p == ' ') p++;
        if (!*is_list) break;
        if (*p == ',') { p++; continue; }
        if (*p == ']') { p++; break; }
        return false;
    }
    while (*p == ' ') p++;
    return *p == 0;
}

static void format_set(const int64_t *set, uint32_t n, char *buf, size_t len)
{
    size_t o = (size_t)snprintf(buf, len, "{");
    for (uint32_t i = 0; i < n && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%" PRId64, i ? ", " : "", set[i]);
    if (o < len) snprintf(buf + o, len - o, "}");
}

typedef struct ElasticValue {
    const int64_t *v;
    uint32_t n;
    bool is_list;
    const char *source;   /* "-D", "--subnet" or "the default" */
} ElasticValue;

/* For `ndlc subnets`: records a variable whose declaration is valid (Options.elastic_space). */
static void record_var(Lower *L, const AstNode *n, const int64_t *set, uint32_t nset, int64_t len,
                       const ElasticValue *val)
{
    ElasticSpace *sp = L->opt->elastic_space;
    if (!sp) return;
    ElasticVar v = {.name = xstrdup(n->str), .nset = nset, .len = (uint32_t)len,
                    .fixed = strcmp(val->source, "the default") != 0};
    memcpy(v.set, set, nset * sizeof *set);
    vec_push(sp->vars, v);
}

void elastic_space_free(ElasticSpace *s)
{
    for (uint32_t i = 0; i < s->vars.n; i++) free(s->vars.v[i].name);
    vec_free(s->vars);
}

static void bind_one(Lower *L, const AstNode *n, Scope *s, const ElasticValue *val)
{
    const AstNode *ty = N(L, n->a);
    int64_t set[ELASTIC_MAX_CHOICES];
    uint32_t nset = 0;
    bool ok = true;
    for (uint32_t i = 0; i < n->list.n; i++) {
        Cv c = eval(L, s, n->list.v[i]);
        if (nset == ELASTIC_MAX_CHOICES) {
            diag_error(L->diag, N(L, n->list.v[i])->span, "an elastic set holds at most %d values",
                       ELASTIC_MAX_CHOICES);
            ok = false;
            break;
        }
        if (!want_int(L, &c, N(L, n->list.v[i])->span, "an elastic choice", &set[nset])) ok = false;
        nset++;
    }
    int64_t len = 0;
    bool is_array = ty->op == CT_INT_LIST;
    if (ty->op != CT_INT && !is_array) {
        diag_error(L->diag, ty->span, "elastic variables are 'int' or 'int[n]'");
        ok = false;
    }
    if (is_array) {
        Cv c = ty->a ? eval(L, s, ty->a) : cv_none();
        if (!ty->a) {
            diag_error(L->diag, ty->span, "an elastic list needs its length, e.g. 'int[4]'");
            ok = false;
        } else if (!want_int(L, &c, N(L, ty->a)->span, "an elastic list length", &len)) {
            ok = false;
        } else if (len <= 0 || len > 4096) {
            diag_error(L->diag, N(L, ty->a)->span, "elastic list length must be in 1..4096, got %" PRId64, len);
            ok = false;
        }
    }
    if (!ok) {
        scope_bind(L, s, n->str, cv_error(), n->span, BIND_CONST);
        return;
    }
    record_var(L, n, set, nset, is_array ? len : 0, val);
    char setbuf[512];
    format_set(set, nset, setbuf, sizeof setbuf);
    /* shape the value: a one-element list binds a scalar (OFA writes "r": [176]); a
     * scalar fills every entry of a list variable */
    uint32_t want = is_array ? (uint32_t)len : 1;
    if (is_array && val->n != want && !(val->n == 1 && !val->is_list)) {
        diag_error(L->diag, n->span, "elastic variable '%s' takes %u values, got %u (from %s)", n->str,
                   want, val->n, val->source);
        ok = false;
    } else if (!is_array && val->n != 1) {
        diag_error(L->diag, n->span, "elastic variable '%s' takes one value, got %u (from %s)", n->str,
                   val->n, val->source);
        ok = false;
    }
    Cv *items = arena_alloc(L->arena, want * sizeof *items);
    for (uint32_t i = 0; ok && i < want; i++) {
        int64_t x = val->v[val->n == 1 ? 0 : i];
        bool member = false;
        for (uint32_t k = 0; k < nset; k++) member |= set[k] == x;
        if (!member) {
            if (is_array)
                diag_error(L->diag, n->span, "value %" PRId64 " at index %u of elastic variable '%s' "
                           "(from %s) is not in its set %s", x, i, n->str, val->source, setbuf);
            else
                diag_error(L->diag, n->span, "value %" PRId64 " of elastic variable '%s' (from %s) is "
                           "not in its set %s", x, n->str, val->source, setbuf);
            ok = false;
            break;
        }
        items[i] = (Cv){.kind = CV_INT, .elastic = true, .u.i = x};
    }
    Cv v = cv_error();
    if (ok && is_array) {
        v = (Cv){.kind = CV_LIST, .elastic = true};
        v.u.list.v = items;
        v.u.list.n = want;
    } else if (ok) {
        v = items[0];
    }
    if (scope_find(s, n->str, true)) {
        diag_error(L->diag, n->span, "redefinition of '%s'", n->str);
        return;
    }
    scope_bind(L, s, n->str, v, n->span, BIND_CONST);
}

void elaborate_elastic(Lower *L, const AstNode *model, Scope *s)
{
    SubnetEntry *sub = NULL;
    uint32_t nsub = 0;
    char err[256];
    if (L->opt->subnet) vec_push(L->m->deps, arena_strdup(L->m->arena, L->opt->subnet));
    if (L->opt->subnet &&
        !json_read_subnet(L->opt->subnet, L->arena, &sub, &nsub, err, sizeof err)) {
        diag_file_error(L->diag, L->opt->subnet, "%s", err);
        return;
    }
    /* names given by -D or --subnet must be elastic variables of this model */
    for (uint32_t i = 0; i < L->opt->defines.n + nsub; i++) {
        bool from_d = i < L->opt->defines.n;
        const char *name = from_d ? L->opt->defines.v[i].name : sub[i - L->opt->defines.n].name;
        if (!from_d && sub[i - L->opt->defines.n].is_null) continue;
        bool found = false;
        for (uint32_t k = 0; k < model->list2.n && !found; k++) {
            const AstNode *n = N(L, model->list2.v[k]);
            found = n->kind == AST_ELASTIC && strcmp(n->str, name) == 0;
        }
        if (!found)
            diag_error(L->diag, model->span, "model '%s' has no elastic variable '%s' (from %s)",
                       model->str, name, from_d ? "-D" : "--subnet");
    }
    for (uint32_t k = 0; k < model->list2.n; k++) {
        const AstNode *n = N(L, model->list2.v[k]);
        if (n->kind != AST_ELASTIC) continue;
        ElasticValue val = {0};
        bool defined = false; /* -D wins: then the --subnet value is not even checked */
        for (uint32_t i = 0; i < L->opt->defines.n; i++) defined |= strcmp(L->opt->defines.v[i].name, n->str) == 0;
        for (uint32_t i = 0; i < nsub && !defined; i++) {
            if (sub[i].is_null || strcmp(sub[i].name, n->str) != 0) continue;
            if (sub[i].not_int) {
                diag_error(L->diag, n->span, "value of elastic variable '%s' (from --subnet) is not an integer",
                           n->str);
                val.source = "error";
                break;
            }
            val = (ElasticValue){sub[i].v, sub[i].n, sub[i].is_list, "--subnet"};
        }
        for (uint32_t i = 0; i < L->opt->defines.n; i++) {
            const Define *d = &L->opt->defines.v[i];
            if (strcmp(d->name, n->str) != 0) continue;
            int64_t *v;
            uint32_t nv;
            bool is_list;
            if (!parse_define(L, d->value, &v, &nv, &is_list)) {
                diag_error(L->diag, n->span, "cannot read value '%s' of elastic variable '%s' (from -D): "
                           "expected an int or a list like [2,3,4]", d->value, n->str);
                val.source = "error";
                continue;
            }
            val = (ElasticValue){v, nv, is_list, "-D"};
        }
        if (val.source && strcmp(val.source, "error") == 0) {
            scope_bind(L, s, n->str, cv_error(), n->span, BIND_CONST);
            continue;
        }
        if (!val.source) {
            if (!n->b) {
                diag_error(L->diag, n->span, "elastic variable '%s' has no default and no value "
                           "(give one with -D %s=... or --subnet)", n->str, n->str);
                scope_bind(L, s, n->str, cv_error(), n->span, BIND_CONST);
                continue;
            }
            Cv d = eval(L, s, n->b);
            int64_t *v = arena_alloc(L->arena, 4096 * sizeof *v);
            uint32_t nv;
            if (!want_ints(L, &d, N(L, n->b)->span, "an elastic default", v, 4096, &nv, true)) {
                scope_bind(L, s, n->str, cv_error(), n->span, BIND_CONST);
                continue;
            }
            val = (ElasticValue){v, nv, d.kind != CV_INT, "the default"};
        }
        bind_one(L, n, s, &val);
    }
}
