/* SPDX-License-Identifier: MIT
 * source.c - SourceMgr: owns the text of every source file and its line table, and
 * turns byte offsets into 1-based line and column numbers (columns count bytes).
 *
 * Texts are stored NUL-terminated (they may also contain NUL bytes; len is the truth).
 * Spans are 32-bit, so a file must be shorter than 2 GiB (flex also takes an int
 * length); longer files are refused with a message.
 */
#include "source.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SRC_MAX_BYTES ((size_t)INT_MAX - 2)

typedef struct SrcFile {
    char *path;
    char *text;             /* len bytes plus a NUL */
    size_t len;
    uint32_t *lines;        /* byte offset where each line starts; lines[0] = 0 */
    uint32_t nlines;
} SrcFile;

struct SourceMgr {
    VEC(SrcFile) files;     /* files.v[0] unused: file id 0 means "no file" */
};

SourceMgr *src_new(void)
{
    SourceMgr *sm = xcalloc(1, sizeof *sm);
    SrcFile none = {0};
    vec_push(sm->files, none);
    return sm;
}

void src_free(SourceMgr *sm)
{
    if (!sm) return;
    for (uint32_t i = 1; i < sm->files.n; i++) {
        free(sm->files.v[i].path);
        free(sm->files.v[i].text);
        free(sm->files.v[i].lines);
    }
    vec_free(sm->files);
    free(sm);
}

/* Takes ownership of text (len bytes + NUL). */
static uint32_t add_file(SourceMgr *sm, const char *name, char *text, size_t len)
{
    SrcFile f = {.path = xstrdup(name), .text = text, .len = len};
    uint32_t n = 1;
    for (size_t i = 0; i < len; i++) n += text[i] == '\n';
    f.lines = xmalloc((size_t)n * sizeof *f.lines);
    f.lines[0] = 0;
    f.nlines = 1;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\n') f.lines[f.nlines++] = (uint32_t)(i + 1);
    vec_push(sm->files, f);
    return sm->files.n - 1;
}

uint32_t src_add(SourceMgr *sm, const char *name, const char *text, size_t len)
{
    if (len > SRC_MAX_BYTES) return 0;
    char *copy = xmalloc(len + 1);
    if (len) memcpy(copy, text, len);
    copy[len] = '\0';
    return add_file(sm, name, copy, len);
}

uint32_t src_load(SourceMgr *sm, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s", strerror(errno));
        return 0;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = xmalloc(cap + 1);
    for (;;) {
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (len > SRC_MAX_BYTES) {
            snprintf(err, errlen, "file too large (the limit is %zu bytes)", SRC_MAX_BYTES);
            goto fail;
        }
        if (got == 0) break;
        if (len == cap) {
            cap *= 2;
            buf = xrealloc(buf, cap + 1);
        }
    }
    if (ferror(f)) {
        snprintf(err, errlen, "%s", strerror(errno ? errno : EIO));
        goto fail;
    }
    fclose(f);
    buf[len] = '\0';
    return add_file(sm, path, buf, len);
fail:
    fclose(f);
    free(buf);
    return 0;
}

static const SrcFile *get(const SourceMgr *sm, uint32_t file)
{
    return sm && file > 0 && file < sm->files.n ? &sm->files.v[file] : NULL;
}

const char *src_path(const SourceMgr *sm, uint32_t file)
{
    const SrcFile *f = get(sm, file);
    return f ? f->path : NULL;
}

const char *src_text(const SourceMgr *sm, uint32_t file, size_t *len)
{
    const SrcFile *f = get(sm, file);
    if (len) *len = f ? f->len : 0;
    return f ? f->text : NULL;
}

void src_line_col(const SourceMgr *sm, Span s, unsigned *line, unsigned *col)
{
    const SrcFile *f = get(sm, s.file);
    if (!f) {
        *line = *col = 0;
        return;
    }
    uint32_t off = s.off > f->len ? (uint32_t)f->len : s.off;
    /* The last line start <= off (binary search; lines[0] = 0 <= off always). */
    uint32_t lo = 0, hi = f->nlines;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (f->lines[mid] <= off) lo = mid;
        else hi = mid;
    }
    *line = lo + 1;
    *col = off - f->lines[lo] + 1;
}

const char *src_line_text(const SourceMgr *sm, uint32_t file, unsigned line, size_t *len)
{
    const SrcFile *f = get(sm, file);
    if (!f || line == 0 || line > f->nlines) {
        if (len) *len = 0;
        return NULL;
    }
    size_t start = f->lines[line - 1];
    size_t end = line < f->nlines ? f->lines[line] - 1 : f->len;   /* at the '\n' */
    if (end > start && f->text[end - 1] == '\r') end--;            /* CRLF files */
    if (len) *len = end - start;
    return f->text + start;
}
