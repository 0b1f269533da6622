/* SPDX-License-Identifier: MIT
 * exe.c - `--emit exe --target cuda`: the model's .cu, the runtime's driver (driver.c,
 * safetensors.c: the same files as the CPU executable) and a two-line main, built by nvcc
 * in a private temporary directory beside the output and moved into place. The driver
 * calls the model through NET_info(), whose run copies the host tensors to the device
 * and back, so the executable reads and writes safetensors exactly as the CPU one.
 * The temporary directory is always removed; the output appears only on success.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, open_memstream */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../backend.h"
#include "../embedded.h"
#include "../../ir/base.h"

/* the files written into the temporary directory, removed in reverse order */
static const char *const tree[] = {"ir", "runtime", "model.cu", "model.h", "main.c", "driver.c", "safetensors.c",
                                   "runtime/safetensors.h", "runtime/ndlrt.h", "ir/eltwise.def", "a.out"};

static bool put(const char *dir, const char *name, const char *text, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = text ? fopen(path, "wb") : NULL;
    if (!text) {
        if (mkdir(path, 0700) == 0) return true;
    } else if (fputs(text, f) >= 0 && fclose(f) == 0) {
        return true;
    }
    snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
    return false;
}

static const char *nvcc_path(void)
{
    const char *env = getenv("NVCC");
    if (env && env[0]) return env;
    return access("/usr/local/cuda/bin/nvcc", X_OK) == 0 ? "/usr/local/cuda/bin/nvcc" : "nvcc";
}

/* NDLC_NVCC_FLAGS: more nvcc options for --emit exe (e.g. the opt-in kernels' -D options),
 * split on blanks (no quoting), appended to argv at *argc; copied into buf, which the words
 * point into. Too long or too many is an error, never a silently cut command line. */
enum { NVCC_MAX_FLAGS_LEN = 1024, NVCC_MAX_EXTRA_FLAGS = 32 };
static bool nvcc_extra_flags(char buf[NVCC_MAX_FLAGS_LEN], char **argv, int *argc, char *err, size_t errlen)
{
    const char *env = getenv("NDLC_NVCC_FLAGS");
    if (!env) return true;
    if (strlen(env) >= NVCC_MAX_FLAGS_LEN) {
        snprintf(err, errlen, "NDLC_NVCC_FLAGS is longer than %d characters", NVCC_MAX_FLAGS_LEN - 1);
        return false;
    }
    strcpy(buf, env);
    int words = 0;
    char *save = NULL;
    for (char *w = strtok_r(buf, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save)) {
        if (++words > NVCC_MAX_EXTRA_FLAGS) {
            snprintf(err, errlen, "NDLC_NVCC_FLAGS has more than %d options", NVCC_MAX_EXTRA_FLAGS);
            return false;
        }
        argv[(*argc)++] = w;
    }
    return true;
}

bool emitcu_build_exe(const Module *m, const EmitOptions *o, const char *out_path, char *err, size_t errlen)
{
    /* generate in memory first: nothing is left behind when the model cannot be emitted */
    char *cu = NULL, *h = NULL;
    size_t culen = 0, hlen = 0;
    FILE *fc = open_memstream(&cu, &culen), *fh = open_memstream(&h, &hlen);
    if (!fc || !fh) NDLC_ICE("out of memory (open_memstream)");
    EmitOptions eo = *o;
    eo.c_path = "model.cu";
    eo.h_name = "model.h";
    bool ok = emitcu_module(m, &eo, fc, fh, err, errlen);
    fclose(fc);
    fclose(fh);
    if (!ok) {
        free(cu);
        free(h);
        return false;
    }
    char tmpl[4096];
    char *dir = backend_build_dir(out_path, tmpl, sizeof tmpl, err, errlen);
    if (!dir) {
        free(cu);
        free(h);
        return false;
    }
    char *prefix = emitc_prefix(m), glue[1024];
    /* main needs no CUDA header: the model's info is plain C */
    snprintf(glue, sizeof glue,
             "/* the executable's entry point: the runtime driver over this model */\n"
             "#include \"ndlrt.h\"\n\nconst struct NdlrtModelInfo *%s_info(void);\n\n"
             "int main(int argc, char **argv) { return ndlrt_driver_main(%s_info(), argc, argv); }\n",
             prefix, prefix);
    free(prefix);
    ok = put(dir, "ir", NULL, err, errlen) && put(dir, "runtime", NULL, err, errlen) &&
         put(dir, "model.cu", cu, err, errlen) && put(dir, "model.h", h, err, errlen) &&
         put(dir, "main.c", glue, err, errlen) &&
         put(dir, "driver.c", embedded_lookup("runtime/driver.c"), err, errlen) &&
         put(dir, "safetensors.c", embedded_lookup("runtime/safetensors.c"), err, errlen) &&
         put(dir, "runtime/safetensors.h", embedded_lookup("runtime/safetensors.h"), err, errlen) &&
         put(dir, "runtime/ndlrt.h", embedded_lookup("runtime/ndlrt.h"), err, errlen) &&
         put(dir, "ir/eltwise.def", embedded_lookup("ir/eltwise.def"), err, errlen);
    free(cu);
    free(h);
    if (ok) {
        const char *arch = getenv("NDLC_CUDA_ARCH");
        char archf[256], exe[4096], s[4][4096], inc[4096];
        snprintf(archf, sizeof archf, "-arch=%s", arch && arch[0] ? arch : "native");
        snprintf(exe, sizeof exe, "%s/a.out", dir);
        snprintf(s[0], sizeof s[0], "%s/model.cu", dir);
        snprintf(s[1], sizeof s[1], "%s/main.c", dir);
        snprintf(s[2], sizeof s[2], "%s/driver.c", dir);
        snprintf(s[3], sizeof s[3], "%s/safetensors.c", dir);
        snprintf(inc, sizeof inc, "-I%s/runtime", dir);
        char *argv[16 + NVCC_MAX_EXTRA_FLAGS] = {(char *)nvcc_path(), (char *)backend_opt_flag(o->opt_level), archf, inc};
        int argc = 4;
        char extra[NVCC_MAX_FLAGS_LEN];
        ok = nvcc_extra_flags(extra, argv, &argc, err, errlen);
        char *tail[] = {"-o", exe, s[0], s[1], s[2], s[3], "-lm", NULL};
        for (size_t i = 0; ok && i < sizeof tail / sizeof *tail; i++) argv[argc++] = tail[i];
        ok = ok && backend_run(argv, "the CUDA compiler", "on the generated code", err, errlen);
        ok = ok && backend_install(exe, out_path, err, errlen); /* rename, or copy onto a device */
    }
    backend_remove_build_dir(dir, tree, sizeof tree / sizeof *tree);
    return ok;
}
