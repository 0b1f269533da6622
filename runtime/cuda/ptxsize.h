/* SPDX-License-Identifier: MIT
 * ptxsize.h - the size expressions of the --emit ptx launch plan, evaluated at run time:
 * shared by the host runtime (ptxrt.c) and its test stand-in (tests/ptx/host_rt.c), which
 * include it. A size in the plan is a number, or an expression over the model's symbols
 * (docs/decisions.md, "PTX launch plan"):
 *   expr := term {'+' term};  term := atom {('*' | '/') atom};
 *   atom := digits | symbol name | 'max(' expr ',' expr ')' | '(' expr ')'
 * with '/' the floor division of non-negative integers. Evaluation checks every step for
 * int64 overflow and division by zero, so a malformed plan or a huge size is an error, never
 * undefined behaviour. Static functions only: no globals, no allocation.
 */
#ifndef NDLC_PTXSIZE_H
#define NDLC_PTXSIZE_H

#include <stdint.h>
#include <string.h>
#include "../ndlrt.h"

enum { NDLPTX_MAX_SYMS = 16, NDLPTX_MAX_SYMNAME = 64 };

/* The model's symbols (the plan's "symbol" lines, in the API's order) and, while a run
 * evaluates, their values. */
typedef struct NdlptxSyms {
    unsigned n;
    char name[NDLPTX_MAX_SYMS][NDLPTX_MAX_SYMNAME];
    int64_t bound[NDLPTX_MAX_SYMS]; /* 0: unbounded */
    int64_t value[NDLPTX_MAX_SYMS];
} NdlptxSyms;

static int ndlptx_size_sum(const char **s, const NdlptxSyms *sy, int64_t *out);

static int ndlptx_size_atom(const char **s, const NdlptxSyms *sy, int64_t *out)
{
    const char *p = *s;
    if (*p >= '0' && *p <= '9') {
        int64_t v = 0;
        for (; *p >= '0' && *p <= '9'; p++)
            if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *p - '0', &v)) return 0;
        *s = p;
        *out = v;
        return 1;
    }
    if (*p == '(') {
        *s = p + 1;
        if (!ndlptx_size_sum(s, sy, out) || **s != ')') return 0;
        (*s)++;
        return 1;
    }
    if (strncmp(p, "max(", 4) == 0) {
        int64_t a, b;
        *s = p + 4;
        if (!ndlptx_size_sum(s, sy, &a) || **s != ',') return 0;
        (*s)++;
        if (!ndlptx_size_sum(s, sy, &b) || **s != ')') return 0;
        (*s)++;
        *out = a > b ? a : b;
        return 1;
    }
    size_t len = 0;
    while ((p[len] >= 'a' && p[len] <= 'z') || (p[len] >= 'A' && p[len] <= 'Z') || p[len] == '_' ||
           (len && p[len] >= '0' && p[len] <= '9'))
        len++;
    for (unsigned i = 0; len && i < sy->n; i++)
        if (strlen(sy->name[i]) == len && strncmp(sy->name[i], p, len) == 0) {
            *s = p + len;
            *out = sy->value[i];
            return 1;
        }
    return 0;
}

static int ndlptx_size_term(const char **s, const NdlptxSyms *sy, int64_t *out)
{
    if (!ndlptx_size_atom(s, sy, out)) return 0;
    while (**s == '*' || **s == '/') {
        char op = *(*s)++;
        int64_t b;
        if (!ndlptx_size_atom(s, sy, &b)) return 0;
        if (op == '*' && __builtin_mul_overflow(*out, b, out)) return 0;
        if (op == '/') {
            if (b <= 0) return 0;
            *out /= b;
        }
    }
    return 1;
}

static int ndlptx_size_sum(const char **s, const NdlptxSyms *sy, int64_t *out)
{
    if (!ndlptx_size_term(s, sy, out)) return 0;
    while (**s == '+') {
        int64_t b;
        (*s)++;
        if (!ndlptx_size_term(s, sy, &b) || __builtin_add_overflow(*out, b, out)) return 0;
    }
    return 1;
}

/* The value of the expression that starts at text and ends at end (a space, newline or NUL);
 * 0 when it is malformed, names an unknown symbol or overflows. */
static int ndlptx_size_eval(const char *text, const NdlptxSyms *sy, int64_t *out)
{
    const char *s = text;
    if (!ndlptx_size_sum(&s, sy, out)) return 0;
    return (*s == 0 || *s == ' ' || *s == '\n') && *out >= 0;
}

/* Binds the symbols to a run's sizes: 0 (NDLRT_OK), or NDLRT_EARG for a negative size,
 * NDLRT_ESIZE for one above its declared bound. */
static int ndlptx_size_bind(NdlptxSyms *sy, const int64_t *syms)
{
    for (unsigned i = 0; i < sy->n; i++) {
        if (syms[i] < 0) return NDLRT_EARG;
        if (sy->bound[i] && syms[i] > sy->bound[i]) return NDLRT_ESIZE;
        sy->value[i] = syms[i];
    }
    return NDLRT_OK;
}

/* Reads a "symbol NAME BOUND" plan line (after "symbol "); 0 when malformed or too many. */
static int ndlptx_size_symbol(NdlptxSyms *sy, const char *s)
{
    size_t len = strcspn(s, " \n");
    if (sy->n >= NDLPTX_MAX_SYMS || !len || len >= NDLPTX_MAX_SYMNAME || s[len] != ' ') return 0;
    memcpy(sy->name[sy->n], s, len);
    sy->name[sy->n][len] = 0;
    const char *b = s + len + 1;
    int64_t bound;
    NdlptxSyms none = {0};
    if (!ndlptx_size_eval(b, &none, &bound)) return 0;
    sy->bound[sy->n++] = bound;
    return 1;
}

/* Reads the next space-separated size of a plan line at *s: a (possibly negative) integer
 * into *constant with *expr = NULL, or an expression, *expr pointing at its text (checked
 * by evaluating it with every symbol 1). 0 when malformed. */
static int ndlptx_size_token(const char **s, const NdlptxSyms *sy, int64_t *constant, const char **expr)
{
    while (**s == ' ') (*s)++;
    const char *p = *s;
    size_t len = strcspn(p, " \n");
    if (!len) return 0;
    *s = p + len;
    *expr = NULL;
    const char *d = p + (*p == '-');
    if (d < p + len && strspn(d, "0123456789") == (size_t)(p + len - d)) {
        int64_t v = 0;
        for (; d < p + len; d++)
            if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *d - '0', &v)) return 0;
        *constant = *p == '-' ? -v : v;
        return 1;
    }
    NdlptxSyms ones = *sy;
    for (unsigned i = 0; i < ones.n; i++) ones.value[i] = 1;
    *expr = p;
    *constant = 0;
    return ndlptx_size_eval(p, &ones, constant);
}

/* The same, for a size kept as text (a port's, a slot's, a copy's, a grid): *text points
 * at it, a number or an expression alike. */
static int ndlptx_size_text(const char **s, const NdlptxSyms *sy, const char **text)
{
    int64_t constant;
    while (**s == ' ') (*s)++;
    const char *start = *s;
    if (!ndlptx_size_token(s, sy, &constant, text)) return 0;
    *text = start;
    return 1;
}

#endif
