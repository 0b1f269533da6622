/* SPDX-License-Identifier: MIT
 * diag.c - the diagnostic sink: formats errors, warnings and notes GCC/Clang style and
 * hands each one, fully rendered, to the DiagSinkFn the caller installed.
 *
 *   net.ndl:14:12: error: cannot broadcast [8,64] with [8,32] in 'add'
 *      14 |     y = add(x, skip)
 *         |            ^~~~~~~~~
 *
 * It never writes to a stream itself. Tabs in the quoted line are expanded to 8-column
 * stops and UTF-8 sequences count as one column, so the underline stays aligned; control
 * bytes are shown as '?'. After DIAG_MAX_ERRORS errors it reports "too many errors,
 * stopping" once and drops everything that follows (diag_full).
 */
#include "diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct Diag {
    const SourceMgr *sm;
    DiagSinkFn *sink;
    void *ud;
    bool plain, werror;
    bool full;              /* the error cap was reached: drop everything */
    bool drop_notes;        /* the last error/warning was dropped: drop its notes too */
    unsigned nerrors;
};

Diag *diag_new(const SourceMgr *sm, DiagSinkFn *sink, void *ud)
{
    Diag *d = xcalloc(1, sizeof *d);
    d->sm = sm;
    d->sink = sink;
    d->ud = ud;
    return d;
}

void diag_free(Diag *d)
{
    free(d);
}

void diag_set_plain(Diag *d, bool plain) { d->plain = plain; }
void diag_set_werror(Diag *d, bool werror) { d->werror = werror; }
unsigned diag_errors(const Diag *d) { return d->nerrors; }
bool diag_full(const Diag *d) { return d->full; }

/* ---- a growable string ------------------------------------------------------------- */
typedef struct Buf {
    char *p;
    size_t n, cap;
} Buf;

static void buf_grow(Buf *b, size_t more)
{
    if (b->n + more + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + more + 1) cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

static void buf_putc(Buf *b, char c)
{
    buf_grow(b, 1);
    b->p[b->n++] = c;
    b->p[b->n] = '\0';
}

static void buf_vprintf(Buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) NDLC_ICE("bad diagnostic format '%s'", fmt);
    buf_grow(b, (size_t)n);
    vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
    b->n += (size_t)n;
}

static void buf_printf(Buf *b, const char *fmt, ...) NDLC_PRINTF(2, 3);
static void buf_printf(Buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}

/* ---- the source excerpt ------------------------------------------------------------ */
/* Display width of byte c at display column col (0-based), for the quoted line. */
static unsigned byte_width(unsigned char c, unsigned col)
{
    if (c == '\t') return 8 - col % 8;
    if (c >= 0x80 && c < 0xC0) return 0;        /* UTF-8 continuation byte */
    return 1;
}

/* Appends the quoted line and its underline for span s (s.file is a known file). */
static void render_excerpt(const Diag *d, Buf *b, Span s, unsigned line)
{
    size_t len, text_len;
    const char *text = src_line_text(d->sm, s.file, line, &len);
    const char *file_text = src_text(d->sm, s.file, &text_len);
    if (!text) return;
    size_t line_off = (size_t)(text - file_text);
    /* Underlined byte range [from, to) within the line, clamped to it. */
    size_t from = s.off < line_off ? 0 : s.off - line_off;
    if (from > len) from = len;
    size_t end = (size_t)s.off + s.len;
    size_t to = end < line_off ? 0 : end - line_off;
    if (to > len) to = len;
    if (to < from) to = from;

    buf_printf(b, "%5u | ", line);
    unsigned col = 0, caret_col = 0, end_col = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == from) caret_col = col;
        if (i == to) end_col = col;
        if (i == len) break;
        unsigned char c = (unsigned char)text[i];
        unsigned w = byte_width(c, col);
        if (c == '\t') {
            for (unsigned k = 0; k < w; k++) buf_putc(b, ' ');
        } else if (c < 0x20 || c == 0x7F) {
            buf_putc(b, '?');
        } else {
            buf_putc(b, (char)c);
        }
        col += w;
    }
    buf_putc(b, '\n');
    buf_printf(b, "%5s | ", "");
    for (unsigned k = 0; k < caret_col; k++) buf_putc(b, ' ');
    buf_putc(b, '^');
    for (unsigned k = caret_col + 1; k < end_col; k++) buf_putc(b, '~');
    buf_putc(b, '\n');
}

/* ---- emitting ---------------------------------------------------------------------- */
static const char *level_name(DiagLevel level)
{
    switch (level) {
    case DIAG_ERROR: return "error";
    case DIAG_WARNING: return "warning";
    case DIAG_NOTE: return "note";
    }
    return "error";
}

static void emit(Diag *d, DiagLevel level, Buf *b)
{
    if (d->sink) d->sink(d->ud, level, b->p);
    free(b->p);
}

/* Decides whether a diagnostic of this level is shown, promotes warnings under -Werror
 * and counts errors. Returns false to drop it. */
static bool admit(Diag *d, DiagLevel *level)
{
    if (*level == DIAG_NOTE) return !d->full && !d->drop_notes;
    if (d->full) {
        d->drop_notes = true;
        return false;
    }
    d->drop_notes = false;
    if (*level == DIAG_WARNING && d->werror) *level = DIAG_ERROR;
    if (*level == DIAG_ERROR) d->nerrors++;
    return true;
}

/* After an error is emitted: the cap message, once. */
static void check_cap(Diag *d, DiagLevel level)
{
    if (level != DIAG_ERROR || d->nerrors < DIAG_MAX_ERRORS) return;
    d->full = true;
    Buf b = {0};
    buf_printf(&b, "ndlc: error: too many errors, stopping\n");
    emit(d, DIAG_ERROR, &b);
}

static void report(Diag *d, DiagLevel level, Span s, const char *fmt, va_list ap)
{
    if (!admit(d, &level)) return;
    Buf b = {0};
    const char *path = src_path(d->sm, s.file);
    unsigned line = 0, col = 0;
    if (path) {
        src_line_col(d->sm, s, &line, &col);
        buf_printf(&b, "%s:%u:%u: %s: ", path, line, col, level_name(level));
    } else {
        buf_printf(&b, "ndlc: %s: ", level_name(level));
    }
    buf_vprintf(&b, fmt, ap);
    buf_putc(&b, '\n');
    if (path && !d->plain) render_excerpt(d, &b, s, line);
    emit(d, level, &b);
    check_cap(d, level);
}

static void report_file(Diag *d, DiagLevel level, const char *path, const char *fmt,
                        va_list ap)
{
    if (!admit(d, &level)) return;
    Buf b = {0};
    buf_printf(&b, "%s: %s: ", path ? path : "ndlc", level_name(level));
    buf_vprintf(&b, fmt, ap);
    buf_putc(&b, '\n');
    emit(d, level, &b);
    check_cap(d, level);
}

void diag_error(Diag *d, Span s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(d, DIAG_ERROR, s, fmt, ap);
    va_end(ap);
}

void diag_warn(Diag *d, Span s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(d, DIAG_WARNING, s, fmt, ap);
    va_end(ap);
}

void diag_note(Diag *d, Span s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(d, DIAG_NOTE, s, fmt, ap);
    va_end(ap);
}

void diag_file_error(Diag *d, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report_file(d, DIAG_ERROR, path, fmt, ap);
    va_end(ap);
}

void diag_file_warn(Diag *d, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report_file(d, DIAG_WARNING, path, fmt, ap);
    va_end(ap);
}
