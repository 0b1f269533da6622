/* SPDX-License-Identifier: MIT
 * source.h - SourceMgr owns the text of every file read (NDL sources) and maps byte
 * offsets to 1-based line and column numbers (columns count bytes, as clang does).
 * File id 0 is "no file"; ids start at 1.
 */
#ifndef NDLC_SOURCE_H
#define NDLC_SOURCE_H

#include "../ir/base.h"

typedef struct SourceMgr SourceMgr;

SourceMgr *src_new(void);
void src_free(SourceMgr *sm);
/* Reads path; returns its file id, or 0 with a message (strerror) in err. */
uint32_t src_load(SourceMgr *sm, const char *path, char *err, size_t errlen);
/* Adds text under a display name (tests, fuzzing); the text is copied. */
uint32_t src_add(SourceMgr *sm, const char *name, const char *text, size_t len);
const char *src_path(const SourceMgr *sm, uint32_t file);
const char *src_text(const SourceMgr *sm, uint32_t file, size_t *len);
void src_line_col(const SourceMgr *sm, Span s, unsigned *line, unsigned *col);
/* The text of line (1-based), without its newline. */
const char *src_line_text(const SourceMgr *sm, uint32_t file, unsigned line, size_t *len);

#endif
