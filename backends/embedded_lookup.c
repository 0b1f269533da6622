/* SPDX-License-Identifier: MIT
 * embedded_lookup.c - finds a runtime source embedded into ndlc (embedded.h) and copies
 * one into generated code.
 */
#include <stdio.h>
#include <string.h>
#include "embedded.h"

const char *embedded_lookup(const char *path)
{
    for (const EmbeddedFile *f = embedded_files; f->path; f++)
        if (strcmp(f->path, path) == 0) return f->text;
    return NULL;
}

bool embedded_copy(FILE *out, const char *path)
{
    const char *text = embedded_lookup(path);
    if (!text) return false;
    fprintf(out, "/* ---- from ndlc's %s ---- */\n", path);
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (strncmp(p, "#include \"", 10) == 0) {
            const char *q = strstr(p, "eltwise.def");
            if (q && q < p + n) fputs(embedded_lookup("ir/eltwise.def"), out);
        } else if (strncmp(p, "#define _POSIX_C_SOURCE", 23) != 0) {
            fwrite(p, 1, n, out);
            fputc('\n', out);
        }
        p += n + (nl ? 1 : 0);
    }
    fputc('\n', out);
    return true;
}
