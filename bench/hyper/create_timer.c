/* SPDX-License-Identifier: MIT
 * create_timer.c - times the generated Gpt2Hyper_create of a `--hyper init` build: the
 * weight file load plus the prediction of every weight by the hypernetwork (issue 9:
 * < 5 s). Built by bench/hyper/run.sh with the generated model.c.
 *     create_timer WEIGHTS.safetensors ROUNDS   prints the best create time in seconds,
 *                                               wall and CPU (on a loaded machine they differ)
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "model.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: create_timer WEIGHTS.safetensors ROUNDS\n");
        return 2;
    }
    int rounds = atoi(argv[2]);
    double best = 1e30, best_cpu = 1e30;
    for (int r = 0; r < rounds; r++) {
        Gpt2Hyper *m;
        double t0 = now();
        clock_t c0 = clock();
        int rc = Gpt2Hyper_create(&m, argv[1]);
        double t = now() - t0, cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
        if (rc) {
            fprintf(stderr, "create_timer: create failed: %s\n", Gpt2Hyper_strerror(rc));
            return 1;
        }
        Gpt2Hyper_destroy(m);
        if (t < best) best = t;
        if (cpu < best_cpu) best_cpu = cpu;
    }
    printf("%.3f %.3f\n", best, best_cpu);
    return 0;
}
