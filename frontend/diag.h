/* SPDX-License-Identifier: MIT
 * diag.h - the diagnostic sink. Library code reports errors here and returns false;
 * only frontend/main.c decides where the rendered text goes (stderr).
 *
 * Rendering (spec section 11, GCC/Clang style):
 *   net.ndl:14:12: error: cannot broadcast [8,64] with [8,32] in 'add'
 *      14 |     y = add(x, skip)
 *         |            ^~~~~~~~~
 * Errors in other files: "w.safetensors: error: message". Without a file: "ndlc: error: ...".
 */
#ifndef NDLC_DIAG_H
#define NDLC_DIAG_H

#include "source.h"

typedef enum DiagLevel { DIAG_ERROR, DIAG_WARNING, DIAG_NOTE } DiagLevel;

/* Receives each diagnostic fully rendered (one or more lines, ending in '\n'). */
typedef void DiagSinkFn(void *ud, DiagLevel level, const char *text);

typedef struct Diag Diag;

#define DIAG_MAX_ERRORS 20

Diag *diag_new(const SourceMgr *sm, DiagSinkFn *sink, void *ud);
void diag_free(Diag *d);
void diag_set_plain(Diag *d, bool plain);      /* --diag-plain: no source excerpt */
void diag_set_werror(Diag *d, bool werror);    /* -Werror: warnings count as errors */

void diag_error(Diag *d, Span s, const char *fmt, ...) NDLC_PRINTF(3, 4);
void diag_warn(Diag *d, Span s, const char *fmt, ...) NDLC_PRINTF(3, 4);
void diag_note(Diag *d, Span s, const char *fmt, ...) NDLC_PRINTF(3, 4);
/* "path: error: message" for errors in files other than NDL sources. */
void diag_file_error(Diag *d, const char *path, const char *fmt, ...) NDLC_PRINTF(3, 4);
void diag_file_warn(Diag *d, const char *path, const char *fmt, ...) NDLC_PRINTF(3, 4);

unsigned diag_errors(const Diag *d);
/* True once DIAG_MAX_ERRORS errors were reported ("too many errors, stopping" printed). */
bool diag_full(const Diag *d);

#endif
