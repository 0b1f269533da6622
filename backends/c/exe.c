/* SPDX-License-Identifier: MIT
 * exe.c - `--emit exe` with the C backend: generate the model's C into a private
 * temporary directory beside the runtime's driver, compile everything with the system C
 * compiler ($CC, default cc) at backend_opt_flag(-O) -march=<--cpu>, and move the executable into place.
 * The temporary directory is always removed; the output appears only on success.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, fork */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../backend.h"
#include "../embedded.h"
#include "../../ir/base.h"

static bool write_file(const char *dir, const char *name, const char *text, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
        return false;
    }
    return true;
}

static void remove_tree(const char *dir, const char *const *names, size_t n)
{
    char path[4096];
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/ir", dir);
    rmdir(path);
    snprintf(path, sizeof path, "%s/runtime", dir);
    rmdir(path);
    rmdir(dir);
}

const char *backend_opt_flag(int opt_level)
{
    return opt_level <= 0 ? "-O0" : opt_level == 1 ? "-O1" : "-O3";
}

/* A temporary build directory next to out_path (in tmpl, len bytes), so that rename()
 * into place cannot cross devices (in $TMPDIR when out_path is written in place: the
 * executable is then copied); NULL with the reason in err. */
char *backend_build_dir(const char *out_path, char *tmpl, size_t len, char *err, size_t errlen)
{
    char where[4096];
    backend_temp_dir(out_path, where, sizeof where);
    snprintf(tmpl, len, "%s/ndlc-build-XXXXXX", where);
    char *dir = mkdtemp(tmpl);
    if (!dir) snprintf(err, errlen, "cannot create a temporary directory next to '%s': %s", out_path, strerror(errno));
    return dir;
}

void backend_remove_build_dir(const char *dir, const char *const *tree, size_t n)
{
    char path[4096];
    for (size_t i = n; i-- > 0;) {
        snprintf(path, sizeof path, "%s/%s", dir, tree[i]);
        if (unlink(path) != 0) rmdir(path);
    }
    rmdir(dir);
}

bool emitc_build_exe(const Module *m, const EmitOptions *o, const char *out_path, const char *cpu,
                     char *err, size_t errlen)
{
    /* Generate in memory first: an internal error while emitting then leaves no
     * temporary directory behind. */
    char *cbuf = NULL, *hbuf = NULL;
    size_t clen = 0, hlen = 0;
    FILE *c = open_memstream(&cbuf, &clen), *h = open_memstream(&hbuf, &hlen);
    if (!c || !h) NDLC_ICE("out of memory (open_memstream)");
    EmitOptions eo = *o;
    eo.c_path = "model.c";
    eo.h_name = "model.h";
    bool ok = emitc_module(m, &eo, c, h, err, errlen);
    fclose(c);
    fclose(h);
    if (!ok) {
        free(cbuf);
        free(hbuf);
        return false;
    }

    char tmpl[4096];
    char *dir = backend_build_dir(out_path, tmpl, sizeof tmpl, err, errlen);
    if (!dir) {
        free(cbuf);
        free(hbuf);
        return false;
    }
    static const char *const files[] = {"model.c", "model.h", "main.c", "driver.c", "safetensors.c",
                                        "runtime/safetensors.h", "runtime/ndlrt.h", "ir/eltwise.def", "a.out"};
    const size_t nfiles = sizeof files / sizeof *files;
    char path[4096];
    ok = write_file(dir, "model.c", cbuf, err, errlen) && write_file(dir, "model.h", hbuf, err, errlen);
    free(cbuf);
    free(hbuf);
    char glue[1024];
    /* the runtime's headers keep their relative layout: ndlrt.h includes ../ir/eltwise.def */
    for (int i = 0; i < 2 && ok; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, i ? "runtime" : "ir");
        if (mkdir(path, 0700) != 0) {
            snprintf(err, errlen, "cannot create '%s': %s", path, strerror(errno));
            ok = false;
        }
    }
    char *prefix = emitc_prefix(m);
    snprintf(glue, sizeof glue,
             "/* the executable's entry point: the runtime driver over this model */\n"
             "#include \"ndlrt.h\"\n#include \"model.h\"\n\n"
             "int main(int argc, char **argv) { return ndlrt_driver_main(%s_info(), argc, argv); }\n",
             prefix);
    free(prefix);
    ok = ok && write_file(dir, "main.c", glue, err, errlen) &&
         write_file(dir, "driver.c", embedded_lookup("runtime/driver.c"), err, errlen) &&
         write_file(dir, "safetensors.c", embedded_lookup("runtime/safetensors.c"), err, errlen) &&
         write_file(dir, "runtime/safetensors.h", embedded_lookup("runtime/safetensors.h"), err, errlen) &&
         write_file(dir, "runtime/ndlrt.h", embedded_lookup("runtime/ndlrt.h"), err, errlen) &&
         write_file(dir, "ir/eltwise.def", embedded_lookup("ir/eltwise.def"), err, errlen);
    if (ok) {
        const char *cc = getenv("CC");
        char march[256], exe[4096], s1[4096], s2[4096], s3[4096], s4[4096], inc[4096];
        snprintf(march, sizeof march, "-march=%s", cpu && cpu[0] ? cpu : "native");
        snprintf(exe, sizeof exe, "%s/a.out", dir);
        snprintf(s1, sizeof s1, "%s/model.c", dir);
        snprintf(s2, sizeof s2, "%s/main.c", dir);
        snprintf(s3, sizeof s3, "%s/driver.c", dir);
        snprintf(s4, sizeof s4, "%s/safetensors.c", dir);
        snprintf(inc, sizeof inc, "-I%s/runtime", dir);
        /* --threads: the kernels' OpenMP paths need -fopenmp; otherwise the -O flag again */
        const char *ol = backend_opt_flag(o->opt_level);
        char *argv[] = {(char *)(cc && cc[0] ? cc : "cc"), "-std=c11", (char *)ol, march, inc,
                        (char *)(o->threads > 1 ? "-fopenmp" : ol), "-o", exe, s1, s2, s3, s4, "-lm", NULL};
        ok = backend_run(argv, "the C compiler", "on the generated code", err, errlen);
        ok = ok && backend_install(exe, out_path, err, errlen); /* rename, or copy onto a device */
    }
    remove_tree(dir, files, nfiles);
    return ok;
}
