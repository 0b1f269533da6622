/* SPDX-License-Identifier: MIT
 * gpu_bench.cu - times one build of bench/moe/moe8.ndl on the GPU (issue 10): the generated
 * CUDA C of `ndlc moe8.ndl --target cuda --emit cuda --external-weights` (the sparse top-2
 * layer, or with -D k=8 the same layer computed densely: every expert on every token,
 * masked), included whole like tests/gpu/gemm_bench.cu. Built by bench/moe/gpu.sh:
 *   nvcc -O3 -arch=native -DMODEL_CU='"sparse.cu"' gpu_bench.cu runtime/safetensors.c
 *   gpu_bench VARIANT WEIGHTS X.safetensors [REF.safetensors]
 * Uploads x once, runs WARMUP runs, then times RUNS runs of Moe8_run_stream on device
 * buffers with CUDA events (no host copies in the timed region) and prints one line:
 *   moe variant=VARIANT tokens=T median_ms=... min_ms=...
 * With REF (PyTorch's output, bench/moe/make.py), the last run's y is compared with it at the
 * tolerance bench/moe/run.sh uses (stcmp's defaults, spec 1e-4 + 1e-4 |ref|: the GEMM is
 * 3xTF32 by default, f32-accurate). Exit status 0, or 1 when anything fails or y differs.
 */
#include MODEL_CU
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { WARMUP = 5, RUNS = 50 };
static const double ATOL = 1e-4, RTOL = 1e-4;

#define CHECK(x)                                                                          \
    do {                                                                                  \
        cudaError_t e_ = (x);                                                             \
        if (e_ != cudaSuccess) {                                                          \
            fprintf(stderr, "gpu_bench: %s: %s\n", #x, cudaGetErrorString(e_));          \
            return 1;                                                                     \
        }                                                                                 \
    } while (0)

/* the F32 tensor `name` of path into a fresh host array of *count floats, or NULL (why on stderr) */
static float *read_tensor(const char *path, const char *name, size_t *count)
{
    char why[256];
    NdlrtSt *file;
    if (ndlrt_st_open(path, &file, why, sizeof why) != 0) {
        fprintf(stderr, "gpu_bench: %s: %s\n", path, why);
        return NULL;
    }
    const NdlrtStTensor *t = ndlrt_st_find(file, name);
    float *host = NULL;
    if (!t || t->dtype != NDLRT_ST_F32)
        fprintf(stderr, "gpu_bench: %s: no F32 tensor '%s'\n", path, name);
    else if (!(host = (float *)malloc(t->nelem * sizeof *host)))
        fprintf(stderr, "gpu_bench: out of memory\n");
    else {
        ndlrt_st_read_f32(t, host);
        *count = (size_t)t->nelem;
    }
    ndlrt_st_close(file);
    return host;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* elements of y outside ATOL + RTOL |ref| (NaN counts), the first one reported */
static size_t count_mismatches(const float *y, const float *ref, size_t n)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)y[i] - ref[i]);
        if (!(d <= ATOL + RTOL * fabs((double)ref[i]))) {
            if (!bad) fprintf(stderr, "gpu_bench: y[%zu] = %.9g, PyTorch %.9g\n", i, y[i], ref[i]);
            bad++;
        }
    }
    return bad;
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: gpu_bench VARIANT WEIGHTS X.safetensors [REF.safetensors]\n");
        return 2;
    }
    const char *variant = argv[1];
    int64_t dims[8];
    int rank = Moe8_y_dims(dims);
    size_t ny = 1;
    for (int i = 0; i < rank; i++) ny *= (size_t)dims[i];
    size_t nx = 0;
    float *hx = read_tensor(argv[3], "x", &nx);
    float *hy = (float *)malloc(ny * sizeof *hy);
    if (!hx || !hy) return 1;
    if (nx != ny) { /* moe keeps x's shape */
        fprintf(stderr, "gpu_bench: x has %zu elements, y %zu: not this model's input\n", nx, ny);
        return 1;
    }
    Moe8 *m;
    int rc = Moe8_create(&m, argv[2]);
    if (rc) {
        fprintf(stderr, "gpu_bench: create: %s\n", Moe8_strerror(rc));
        return 1;
    }
    float *x, *y;
    CHECK(cudaMalloc(&x, nx * sizeof *x));
    CHECK(cudaMalloc(&y, ny * sizeof *y));
    CHECK(cudaMemcpy(x, hx, nx * sizeof *x, cudaMemcpyHostToDevice));
    cudaEvent_t t0, t1;
    CHECK(cudaEventCreate(&t0));
    CHECK(cudaEventCreate(&t1));
    for (int r = 0; r < WARMUP && !rc; r++) rc = Moe8_run_stream(m, 0, x, y);
    CHECK(cudaDeviceSynchronize());
    float ms[RUNS];
    for (int r = 0; r < RUNS && !rc; r++) {
        CHECK(cudaEventRecord(t0));
        rc = Moe8_run_stream(m, 0, x, y);
        CHECK(cudaEventRecord(t1));
        CHECK(cudaEventSynchronize(t1));
        CHECK(cudaEventElapsedTime(&ms[r], t0, t1));
    }
    CHECK(cudaGetLastError());
    if (rc) {
        fprintf(stderr, "gpu_bench: run_stream: %s\n", Moe8_strerror(rc));
        return 1;
    }
    int status = 0;
    if (argc == 5) {
        size_t nref = 0;
        float *ref = read_tensor(argv[4], "y", &nref);
        if (!ref) return 1;
        if (nref != ny) {
            fprintf(stderr, "gpu_bench: the reference has %zu elements, y %zu\n", nref, ny);
            return 1;
        }
        CHECK(cudaMemcpy(hy, y, ny * sizeof *y, cudaMemcpyDeviceToHost));
        size_t bad = count_mismatches(hy, ref, ny);
        if (bad) {
            fprintf(stderr, "gpu_bench: %s: %zu of %zu elements differ from PyTorch's (atol %g, rtol %g)\n",
                    variant, bad, ny, ATOL, RTOL);
            status = 1;
        }
        free(ref);
    }
    qsort(ms, RUNS, sizeof ms[0], cmp_float);
    printf("moe variant=%s tokens=%lld median_ms=%.4f min_ms=%.4f%s\n", variant, (long long)dims[0],
           (ms[RUNS / 2 - 1] + ms[RUNS / 2]) / 2, ms[0], argc == 5 ? (status ? " check=FAIL" : " check=ok") : "");
    Moe8_destroy(m);
    cudaFree(x);
    cudaFree(y);
    free(hx);
    free(hy);
    return status;
}
