/* SPDX-License-Identifier: MIT
 * conv_layers.c - single-thread throughput of ndlrt_conv2d_f32 on the convolutions of
 * bench/models/cnn.ndl (CIFAR ResNet-14, 3x32x32), each shape at a batch of N images with
 * the epilogue the model fuses (bias + relu; + residual + relu in the blocks' 3x3 convs).
 * Each shape is timed per call after warm-up (thread CPU time, so that time descheduled on
 * a shared machine is left out) and prints its best ms and GFLOP/s; the last line weighs
 * each shape by how often the model runs it. For comparing kernel variants: build both,
 * run them alternately, compare the best times. See README.md.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "runtime/ndlrt.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* 64-byte aligned, filled with a fixed pattern in [lo, lo + 1) */
static float *filled(size_t n, unsigned mul, float lo)
{
    float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "conv_layers: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * mul) % 101) / 101.0f + lo;
    return p;
}

typedef struct Shape {
    int c, o, hw, k, stride, count; /* input channels, output channels, input size, ... */
} Shape;

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 16, reps = argc > 2 ? atoi(argv[2]) : 30;
    static const Shape shapes[] = {
        {3, 16, 32, 3, 1, 1},  /* stem */
        {16, 16, 32, 3, 1, 4}, /* layer1: 16 = 14 + 2 channels */
        {16, 32, 32, 3, 2, 1}, /* layer2_down.conv1 */
        {16, 32, 32, 1, 2, 1}, /* layer2_down.sc_conv */
        {32, 32, 16, 3, 1, 3}, /* layer2_down.conv2, layer2: 32 = 2 x 14 + 4 */
        {32, 64, 16, 3, 2, 1}, /* layer3_down.conv1 */
        {32, 64, 16, 1, 2, 1}, /* layer3_down.sc_conv */
        {64, 64, 8, 3, 1, 3},  /* layer3_down.conv2, layer3: 64 = 4 x 14 + 8 */
    };
    double total_s = 0, total_flop = 0;
    for (size_t l = 0; l < sizeof shapes / sizeof shapes[0]; l++) {
        const Shape *q = &shapes[l];
        int pad = q->k / 2, ohw = (q->hw + 2 * pad - q->k) / q->stride + 1;
        NdlrtConv2d p = {n, q->c, q->hw, q->hw, q->o, q->k, q->k, ohw, ohw, q->stride,
                         q->stride, pad, pad, 1, 1, 1, NULL, {NULL, NDLRT_ACT_RELU, NULL, 0}};
        size_t nw = (size_t)q->o * q->c * q->k * q->k, nx = (size_t)n * q->c * q->hw * q->hw;
        size_t ny = (size_t)n * q->o * ohw * ohw;
        float *w = filled(nw, 37, -0.5f), *x = filled(nx, 13, 0.0f), *y = filled(ny, 1, 0.0f);
        float *res = filled(ny, 7, -0.5f), *bias = filled((size_t)q->o, 3, -0.5f);
        float *wp = filled(ndlrt_conv2d_packed_floats(&p), 1, 0.0f);
        float *scratch = filled(ndlrt_conv2d_scratch_floats(&p) + 16, 1, 0.0f);
        ndlrt_conv2d_pack(&p, w, wp);
        p.w_packed = wp;
        p.ep.bias = bias;
        if (q->k == 3 && q->stride == 1 && q->c == q->o) p.ep.residual = res, p.ep.act2 = NDLRT_ACT_RELU;
        double best = 1e30;
        for (int r = -3; r < reps; r++) {
            double t0 = now();
            ndlrt_conv2d_f32(&p, x, y, scratch);
            double t = now() - t0;
            if (r >= 0 && t < best) best = t;
        }
        double flop = 2.0 * n * q->o * ohw * ohw * q->c * q->k * q->k, sum = 0;
        for (size_t i = 0; i < ny; i += 7) sum += y[i];
        printf("c%-3d o%-3d %2dx%-2d k%d s%d (x%d): %8.4f ms %7.1f GFLOP/s   checksum %.6g\n",
               q->c, q->o, q->hw, q->hw, q->k, q->stride, q->count, best * 1e3,
               flop / best * 1e-9, sum);
        total_s += best * q->count;
        total_flop += flop * q->count;
        free(w), free(x), free(y), free(res), free(bias), free(wp), free(scratch);
    }
    printf("all convolutions of one run at batch %d: %.3f ms, %.1f GFLOP/s\n", n, total_s * 1e3,
           total_flop / total_s * 1e-9);
    return 0;
}
