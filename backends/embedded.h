/* SPDX-License-Identifier: MIT
 * embedded.h - runtime sources compiled into ndlc as text (cmake/embed_sources.cmake),
 * so that generated C can carry the kernels it calls and the executable driver can be
 * compiled beside it without an installed runtime.
 */
#ifndef NDLC_EMBEDDED_H
#define NDLC_EMBEDDED_H

typedef struct EmbeddedFile {
    const char *path;   /* relative to the source tree, e.g. "runtime/kernels/conv.c" */
    const char *text;
} EmbeddedFile;

extern const EmbeddedFile embedded_files[];   /* ends with {0, 0} */

/* The text of path, or NULL. */
const char *embedded_lookup(const char *path);

#endif
