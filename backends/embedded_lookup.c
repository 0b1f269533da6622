/* SPDX-License-Identifier: MIT
 * embedded_lookup.c - finds a runtime source embedded into ndlc (embedded.h).
 */
#include <string.h>
#include "embedded.h"

const char *embedded_lookup(const char *path)
{
    for (const EmbeddedFile *f = embedded_files; f->path; f++)
        if (strcmp(f->path, path) == 0) return f->text;
    return NULL;
}
