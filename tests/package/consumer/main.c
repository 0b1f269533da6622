/* SPDX-License-Identifier: MIT
 * main.c - a user program of the generated C API (spec section 10) for TinyNet.
 *
 *   consumer IN.safetensors OUT.safetensors
 *
 * Reads x: f32[N,3,32,32] from IN, runs TinyNet with embedded weights and writes y to
 * OUT (compared with the PyTorch golden by run.sh). Then runs a batch of 3 copies of the
 * first image on the same instance and checks that each row equals the single-image
 * result, and that y_dims/workspace_bytes/strerror answer. Exit 0, or 1 with a message.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"
#include "tinynet.h"

static int fail(const char *what)
{
    fprintf(stderr, "consumer: %s\n", what);
    return 1;
}

static int64_t numel(const int64_t *dims, int rank)
{
    int64_t n = 1;
    for (int k = 0; k < rank; k++) n *= dims[k];
    return n;
}

int main(int argc, char **argv)
{
    char err[512];
    NdlrtSt *st;
    if (argc != 3) return fail("usage: consumer IN.safetensors OUT.safetensors");
    if (ndlrt_st_open(argv[1], &st, err, sizeof err) != 0) return fail(err);
    const NdlrtStTensor *xt = ndlrt_st_find(st, "x");
    if (!xt || xt->rank != 4 || xt->shape[1] != 3 || xt->shape[2] != 32 || xt->shape[3] != 32)
        return fail("input 'x' [N,3,32,32] not found");
    int64_t n = xt->shape[0], image = 3 * 32 * 32;
    float *x = malloc((size_t)((n > 3 ? n : 3) * image) * sizeof *x);
    if (!x || n < 1) return fail("cannot allocate the input");
    ndlrt_st_read_f32(xt, x);
    ndlrt_st_close(st);

    TinyNet *m = NULL;
    int rc = TinyNet_create(&m, NULL);
    if (rc != 0) return fail(TinyNet_strerror(rc));
    if ((rc = TinyNet_reserve(m, n)) != 0) return fail(TinyNet_strerror(rc));
    int64_t dims[8];
    int rank = TinyNet_y_dims(n, dims);
    if (rank != 2 || dims[0] != n || dims[1] != 10) return fail("y_dims is not [N,10]");
    printf("workspace for N=%lld: %zu bytes\n", (long long)n, TinyNet_workspace_bytes(n));
    float *y = malloc((size_t)numel(dims, rank) * sizeof *y), y3[30];
    if (!y) return fail("cannot allocate the output");
    if ((rc = TinyNet_run(m, n, x, y)) != 0) return fail(TinyNet_strerror(rc));
    NdlrtStOut out = {"y", NDLRT_ST_F32, rank, dims, y};
    if (ndlrt_st_write(argv[2], &out, 1, err, sizeof err) != 0) return fail(err);

    /* a larger batch on the same instance: every row as the first image alone */
    for (int i = 1; i < 3; i++) memcpy(x + i * image, x, (size_t)image * sizeof *x);
    if ((rc = TinyNet_run(m, 3, x, y3)) != 0) return fail(TinyNet_strerror(rc));
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 10; j++)
            if (!(fabsf(y3[i * 10 + j] - y[j]) <= 1e-5f + 1e-5f * fabsf(y[j])))
                return fail("a batch of 3 copies does not give the single-image result");
    if (!TinyNet_strerror(1) || !*TinyNet_strerror(1)) return fail("strerror(1) is empty");
    TinyNet_destroy(m);
    free(x);
    free(y);
    printf("consumer: ok\n");
    return 0;
}
