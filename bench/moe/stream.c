/* SPDX-License-Identifier: MIT */
/* bench/moe/stream.c - how fast one core reads memory: the floor under a MoE layer whose
 * active experts' weights do not fit in the caches (bench/moe/README.md).
 *
 *   stream MIB [PASSES]   prints "read_gbps=BEST" over PASSES reads of a MIB MiB block
 *
 * The block is written once first, so its pages are resident before any pass is timed; each
 * pass sums the block into 64 independent accumulators (eight 64-byte vectors with AVX-512),
 * so the adds never wait on each other and the loads are the only limit. The sum is printed so that the compiler keeps it. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    long mib = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
    long passes = argc > 2 ? strtol(argv[2], NULL, 10) : 5;
    if (argc < 2 || argc > 3 || mib <= 0 || mib > 65536 || passes <= 0 || passes > 1000) {
        fprintf(stderr, "usage: stream MIB [PASSES]  (1 <= MIB <= 65536, 1 <= PASSES <= 1000)\n");
        return 2;
    }
    size_t n = (size_t)mib << 18; /* floats: MIB MiB / 4 bytes */
    float *block = malloc(n * sizeof *block);
    if (!block) {
        fprintf(stderr, "stream: cannot allocate %ld MiB\n", mib);
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        block[i] = (float)(i & 1023) * 0x1p-10f;
    double best = 1e30, total = 0;
    for (long p = 0; p < passes; p++) {
        float acc[64] = {0};
        double t0 = now_s();
        for (size_t i = 0; i + 64 <= n; i += 64)
            for (int j = 0; j < 64; j++)
                acc[j] += block[i + j];
        double t = now_s() - t0;
        if (t < best)
            best = t;
        for (int j = 0; j < 64; j++)
            total += acc[j];
    }
    printf("read_gbps=%.2f mib=%ld passes=%ld sum=%g\n", (double)n * sizeof *block / best * 1e-9,
           mib, passes, total);
    free(block);
    return 0;
}
