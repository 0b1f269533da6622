/* SPDX-License-Identifier: MIT
 * embedded.h - runtime sources compiled into ndlc as text (cmake/embed_sources.cmake),
 * so that generated C can carry the kernels it calls and the executable driver can be
 * compiled beside it without an installed runtime.
 */
#ifndef NDLC_EMBEDDED_H
#define NDLC_EMBEDDED_H

#include <stdbool.h>
#include <stdio.h>

typedef struct EmbeddedFile {
    const char *path;   /* relative to the source tree, e.g. "runtime/kernels/conv.c" */
    const char *text;
} EmbeddedFile;

extern const EmbeddedFile embedded_files[];   /* ends with {0, 0} */

/* The text of path, or NULL. */
const char *embedded_lookup(const char *path);

/* Copies the embedded file path to out for a generated single-file artefact: project
 * #includes are dropped (everything is in the one file), except that an include of
 * ir/eltwise.def is replaced by its text. False when path is not embedded. */
bool embedded_copy(FILE *out, const char *path);

#endif
