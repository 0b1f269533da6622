/* SPDX-License-Identifier: MIT
 * disabled.c - the importer's entry points in a build without protobuf-c or onnx.proto
 * (cmake/onnx.cmake): each says which packages to install.
 */
#include "onnx.h"

#define MISSING "this ndlc was built without ONNX support: install libprotobuf-c-dev, " \
                "protobuf-c-compiler and python3-onnx (scripts/setup.sh), then reconfigure and rebuild"

bool onnx_import_buffer(const void *buf, size_t len, const char *path, const char *model_name,
                        const char *weights_ref, Diag *d, OnnxResult *out)
{
    (void)buf, (void)len, (void)model_name, (void)weights_ref;
    out->ndl = NULL;
    out->arena = NULL;
    diag_file_error(d, path, MISSING);
    return false;
}

void onnx_result_free(OnnxResult *r) { (void)r; }

int onnx_import_command(const Options *opt, Diag *d)
{
    diag_file_error(d, opt->input, MISSING);
    return 1;
}

bool onnx_prepare_compile(const Options *opt, SourceMgr *sm, Diag *d, uint32_t *file, char **weights_tmp)
{
    (void)sm, (void)file;
    *weights_tmp = NULL;
    diag_file_error(d, opt->input, MISSING);
    return false;
}

void onnx_remove_temp(char *weights_tmp) { (void)weights_tmp; }
