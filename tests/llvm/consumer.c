/* SPDX-License-Identifier: MIT
 * consumer.c - a user program of tests/models/mlp.ndl's generated API (model.h), built
 * once against the C backend's model.c and once against the LLVM backend's model.o
 * (tests/llvm/api_consumer.sh). It exercises every entry point and prints what it gets,
 * so that the two builds can be compared line by line.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "ndlrt.h"
#include "model.h"

int main(void)
{
    MLP *m = NULL, *bad = NULL;
    printf("create %d\n", MLP_create(&m, NULL));
    printf("create-with-path %d %d\n", MLP_create(&bad, "weights.safetensors"), bad == NULL);
    printf("create-null %d\n", MLP_create(NULL, NULL));
    const struct NdlrtModelInfo *info = MLP_info();
    printf("info %s syms=%d %s<=%lld in=%d out=%d ext=%d\n", info->name, info->nsyms, info->sym_names[0],
           (long long)info->sym_bounds[0], info->ninputs, info->noutputs, info->external_weights);
    for (int i = 0; i < info->noutputs; i++)
        printf("output %s %s rank=%d\n", info->outputs[i].name, info->outputs[i].dtype, info->outputs[i].rank);
    enum { N = 5 };
    int64_t dims[8];
    printf("y_dims %d", MLP_y_dims(N, dims));
    printf(" [%lld,%lld]\n", (long long)dims[0], (long long)dims[1]);
    printf("cls_dims %d %lld\n", MLP_cls_dims(N, dims), (long long)dims[0]);
    printf("dims-above-bound %d\n", MLP_y_dims(65, dims));
    printf("workspace %zu %zu %zu\n", MLP_workspace_bytes(N), MLP_workspace_bytes(64), MLP_workspace_bytes(65));
    printf("reserve %d %d\n", MLP_reserve(m, 7), MLP_reserve(m, -1));
    float x[N * 96], y[N * 10], p[N * 10];
    int64_t cls[N];
    for (int i = 0; i < N * 96; i++) x[i] = (float)sin(0.37 * i) * 2.0f;
    printf("run %d\n", MLP_run(m, N, x, y, p, cls));
    for (int i = 0; i < N * 10; i++) printf("y %d %.6e\np %d %.6e\n", i, y[i], i, p[i]);
    for (int i = 0; i < N; i++) printf("cls %d %lld\n", i, (long long)cls[i]);
    printf("run-above-bound %d\n", MLP_run(m, 65, x, y, p, cls));
    printf("run-null %d\n", MLP_run(m, N, NULL, y, p, cls));
    printf("strerror %s\n", MLP_strerror(3));
    /* the generic descriptor runs the model too */
    const int64_t s[1] = {N};
    const void *in[1] = {x};
    float y2[N * 10], p2[N * 10];
    int64_t cls2[N];
    void *out[3] = {y2, p2, cls2};
    printf("info-run %d same=%d\n", info->run(m, s, in, out),
           memcmp(y, y2, sizeof y) == 0 && memcmp(p, p2, sizeof p) == 0 && memcmp(cls, cls2, sizeof cls) == 0);
    MLP_destroy(m);
    MLP_destroy(NULL);
    return 0;
}
