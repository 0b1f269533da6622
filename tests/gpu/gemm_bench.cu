/* SPDX-License-Identifier: MIT
 * gemm_bench.cu - times ndlc's generated GEMM (an NDL `y = matmul(a, b)` with a [M, K] and
 * b [K, N], compiled with --target cuda --emit cuda) on device buffers with CUDA events,
 * checks its output against a double-precision reference on the host (every entry when
 * M N <= 2^18, else 4096 sampled ones), checks that nothing was written past y, and, when
 * built with -DNDLC_BENCH_CUBLAS (-lcublas), times cuBLAS's TF32 tensor-core SGEMM on
 * the same buffers as the peer in the same run. Built by tests/gpu/run.sh:
 *   nvcc -O3 -arch=native -DGEMM_CU='"gemm.cu"' [-DNDLCU_TF32_PASSES=1] gemm_bench.cu
 * -DGEMM_M=.. -DGEMM_N=.. -DGEMM_K=..: the model's shape (default 4096 each).
 * Prints one line: `ndlc tf32_passes=P op=OP M=.. N=.. K=.. best_ms=... tflops=...
 * stream_ms=... stream_tflops=... host_us=... max_err_over_bound=...` (and one for cuBLAS):
 * best_ms the best of 20 single runs from an idle stream (the launch's host work included),
 * stream_ms the time per run of 20 queued back to back (the GPU's time), host_us the host
 * time of one run_stream call; a failed check also prints up to 8 wrong entries (row,
 * column, value, reference), which tell a layout error from a numeric one.
 * -DGEMM_LINEAR: GEMM_CU is instead the code of `y = linear(a, w)` (the same model name, w
 * [N, K]: B K-major, as the wgmma kernel needs); the reference and cuBLAS then use w
 * transposed. -DNDLCU_GEMM_WGMMA (sm_90a, with -DNDLCU_TF32_PASSES=1): the Hopper wgmma
 * kernels (a linear runs the TMA one; -DNDLCU_WG_NO_TMA forces the cp.async one, named
 * ndlc_wgmma_cpasync); on a device other than compute capability 9.0 it prints why it is
 * skipped and exits 0, since the library would run the mma.sync kernel instead.
 *
 * Accuracy: the spec's elementwise 1e-4 + 1e-4 |ref| cannot hold for K = 4096 dot products
 * of values in [-1, 1) near cancellation in any f32 GEMM (cuBLAS included), so each checked
 * entry y_ij is compared with a double reference with the error bound of its arithmetic,
 * scaled by S_ij = sum_k |a_ik b_kj|:
 *   |y_ij - ref_ij| <= (2 u_in + sqrt(K) 2^-24) S_ij
 * 2 u_in S bounds the rounding of the operands before they are multiplied (u_in = 2^-11 for
 * plain TF32 rounded to nearest by cvt.rna, whose 10-bit mantissas dominate; 2^-10 for the
 * wgmma kernel, whose operands the tensor cores truncate; 2^-20 for 3xTF32, whose a_lo b_lo
 * term and split remainders are dropped); sqrt(K) 2^-24 S is the probabilistic bound (Higham & Mary)
 * of K f32 accumulations. A 3xTF32 kernel that lost its correction terms exceeds its bound,
 * and so does any wrong element (error ~ |ref|).
 * Exit status 0, or 1 when anything fails or a checked entry exceeds its bound.
 */
#include GEMM_CU
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#ifdef NDLC_BENCH_CUBLAS
#include <cublas_v2.h>
#endif

#ifndef GEMM_M
#define GEMM_M 4096
#endif
#ifndef GEMM_N
#define GEMM_N 4096
#endif
#ifndef GEMM_K
#define GEMM_K 4096
#endif
enum { M = GEMM_M, N = GEMM_N, K = GEMM_K, RUNS = 20, GUARD = 1 << 16, MAX_REPORTED = 8 };

#ifdef GEMM_LINEAR
#define GEMM_OP "linear"
#define B_AT(b, k, j) (b)[(size_t)(j) * K + (k)] /* w[j, k] */
#else
#define GEMM_OP "matmul"
#define B_AT(b, k, j) (b)[(size_t)(k) * N + (j)]
#endif
#if defined(NDLCU_GEMM_WGMMA) && defined(NDLCU_WG_NO_TMA)
#define KERNEL_NAME "ndlc_wgmma_cpasync"
#elif defined(NDLCU_GEMM_WGMMA)
#define KERNEL_NAME "ndlc_wgmma"
#else
#define KERNEL_NAME "ndlc"
#endif

#define CHECK(x)                                                                          \
    do {                                                                                  \
        cudaError_t e_ = (x);                                                             \
        if (e_ != cudaSuccess) {                                                          \
            fprintf(stderr, "gemm_bench: %s: %s\n", #x, cudaGetErrorString(e_));         \
            return 1;                                                                     \
        }                                                                                 \
    } while (0)

/* xorshift, values in [-1, 1) */
static float next_value(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return (float)(*s >> 8) / 8388608.0f - 1.0f;
}

/* error / bound of entry (i, j) (the bound above; u_in by mode); *ref: the reference */
static double entry_error(const float *a, const float *b, const float *y, int i, int j, double u_in, double *ref)
{
    double sum = 0, scale = 0;
    for (int k = 0; k < K; k++) {
        double prod = (double)a[(size_t)i * K + k] * B_AT(b, k, j);
        sum += prod;
        scale += fabs(prod);
    }
    *ref = sum;
    double bound = (2 * u_in + sqrt((double)K) * ldexp(1.0, -24)) * scale;
    double err = fabs(y[(size_t)i * N + j] - sum);
    return err != err ? INFINITY : err == 0 ? 0 : err / bound; /* NaN, or err > 0 = bound: inf */
}

/* the largest error / bound over every entry (small outputs) or 4096 sampled ones; prints
 * the first wrong entries and how many of the checked ones are wrong */
static double worst_error(const char *who, const float *a, const float *b, const float *y, double u_in)
{
    bool all = (double)M * N <= (1 << 18);
    long checked = all ? (long)M * N : 4096, bad = 0;
    double worst = 0, ref;
    uint32_t s = 12345;
    for (long t = 0; t < checked; t++) {
        int i, j;
        if (all) {
            i = (int)(t / N), j = (int)(t % N);
        } else {
            s = s * 1664525u + 1013904223u;
            i = (int)(s % M), j = (int)((s >> 12) % N);
        }
        double r = entry_error(a, b, y, i, j, u_in, &ref);
        if (r > 1.0 && bad++ < MAX_REPORTED)
            fprintf(stderr, "gemm_bench: %s: y[%d, %d] = %.6g, reference %.6g (error / bound %.3g)\n", who, i, j,
                    y[(size_t)i * N + j], ref, r);
        if (r > worst) worst = r;
    }
    if (bad) fprintf(stderr, "gemm_bench: %s: %ld of %ld checked entries exceed their bound\n", who, bad, checked);
    return worst;
}

/* cudaMemset's 0xFF bytes are a NaN pattern no GEMM writes */
static bool guard_intact(const float *y_guard)
{
    unsigned *g = (unsigned *)malloc(GUARD * sizeof(float));
    bool ok = g && cudaMemcpy(g, y_guard, GUARD * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess;
    for (int e = 0; ok && e < GUARD; e++) ok = g[e] == 0xFFFFFFFFu;
    free(g);
    return ok;
}

int main(void)
{
#ifdef NDLCU_GEMM_WGMMA
    if (!ndlcu_wgmma_device()) {
        printf("%s: skipped: the device is not compute capability 9.0\n", KERNEL_NAME);
        return 0;
    }
#endif
    size_t abytes = (size_t)M * K * sizeof(float), bbytes = (size_t)K * N * sizeof(float);
    size_t ybytes = (size_t)M * N * sizeof(float);
    float *ha = (float *)malloc(abytes), *hb = (float *)malloc(bbytes), *hy = (float *)malloc(ybytes);
    if (!ha || !hb || !hy) return 1;
    uint32_t s = 1;
    for (size_t i = 0; i < (size_t)M * K; i++) ha[i] = next_value(&s);
    for (size_t i = 0; i < (size_t)K * N; i++) hb[i] = next_value(&s);
    float *a, *b, *y;
    CHECK(cudaMalloc(&a, abytes));
    CHECK(cudaMalloc(&b, bbytes));
    CHECK(cudaMalloc(&y, ybytes + GUARD * sizeof(float)));
    CHECK(cudaMemcpy(a, ha, abytes, cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(b, hb, bbytes, cudaMemcpyHostToDevice));
    CHECK(cudaMemset(y, 0xFF, ybytes + GUARD * sizeof(float)));
    Gemm_bench *m;
    int rc = Gemm_bench_create(&m, NULL);
    if (rc) {
        fprintf(stderr, "gemm_bench: create: %s\n", Gemm_bench_strerror(rc));
        return 1;
    }
    cudaEvent_t t0, t1;
    CHECK(cudaEventCreate(&t0));
    CHECK(cudaEventCreate(&t1));
    /* best_ms: the best of RUNS single runs, each from an idle stream (the launch's host
     * work included); stream_ms: RUNS runs queued back to back, per run (the GPU's time);
     * host_us: the best host time of one run_stream call (it returns before the GPU ends) */
    float ms = 0, best = 1e30f, stream_ms = 0;
    double host_us = 1e30;
    rc = Gemm_bench_run_stream(m, 0, a, b, y); /* warm-up */
    for (int r = 0; r < RUNS && !rc; r++) {
        CHECK(cudaEventRecord(t0));
        struct timespec h0, h1;
        clock_gettime(CLOCK_MONOTONIC, &h0);
        rc = Gemm_bench_run_stream(m, 0, a, b, y);
        clock_gettime(CLOCK_MONOTONIC, &h1);
        CHECK(cudaEventRecord(t1));
        CHECK(cudaEventSynchronize(t1));
        CHECK(cudaEventElapsedTime(&ms, t0, t1));
        if (ms < best) best = ms;
        double us = (h1.tv_sec - h0.tv_sec) * 1e6 + (h1.tv_nsec - h0.tv_nsec) / 1e3;
        if (us < host_us) host_us = us;
    }
    CHECK(cudaEventRecord(t0));
    for (int r = 0; r < RUNS && !rc; r++) rc = Gemm_bench_run_stream(m, 0, a, b, y);
    CHECK(cudaEventRecord(t1));
    CHECK(cudaEventSynchronize(t1));
    CHECK(cudaEventElapsedTime(&stream_ms, t0, t1));
    stream_ms /= RUNS;
    CHECK(cudaDeviceSynchronize());
    if (rc) {
        fprintf(stderr, "gemm_bench: run: %s\n", Gemm_bench_strerror(rc));
        return 1;
    }
    CHECK(cudaMemcpy(hy, y, ybytes, cudaMemcpyDeviceToHost));
    const double u_tf32 = ldexp(1.0, -11), u_3xtf32 = ldexp(1.0, -20);
#ifdef NDLCU_GEMM_WGMMA
    const double u_ndlc = ldexp(1.0, -10); /* truncated operands */
#else
    const double u_ndlc = NDLCU_TF32_PASSES == 3 ? u_3xtf32 : u_tf32;
#endif
    double worst = worst_error(KERNEL_NAME, ha, hb, hy, u_ndlc);
    bool guard = guard_intact(y + (size_t)M * N);
    double flop = 2.0 * M * N * (double)K;
    printf("%s tf32_passes=%d op=%s M=%d N=%d K=%d best_ms=%.3f tflops=%.1f stream_ms=%.3f stream_tflops=%.1f "
           "host_us=%.1f max_err_over_bound=%.3g%s\n",
           KERNEL_NAME, NDLCU_TF32_PASSES, GEMM_OP, M, N, K, best, flop / (best * 1e-3) / 1e12, stream_ms,
           flop / (stream_ms * 1e-3) / 1e12, host_us, worst, guard ? "" : " WROTE-PAST-Y");
    int status = worst > 1.0 || !guard ? 1 : 0;
    if (worst > 1.0) fprintf(stderr, "gemm_bench: %s: a checked entry exceeds its error bound\n", KERNEL_NAME);
    if (!guard) fprintf(stderr, "gemm_bench: %s: wrote past the end of y\n", KERNEL_NAME);
#ifdef NDLC_BENCH_CUBLAS
    /* column-major cuBLAS computes y^T (N x M) = op(B') op(A'): for matmul b^T a^T (b's
     * buffer is b^T column-major); for linear w a^T (w's buffer is w^T column-major, hence OP_T) */
    cublasHandle_t h;
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) return 1;
    cublasSetMathMode(h, CUBLAS_TF32_TENSOR_OP_MATH);
    const float one = 1.0f, zero = 0.0f;
#ifdef GEMM_LINEAR
#define CUBLAS_GEMM() cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &one, b, K, a, K, &zero, y, N)
#else
#define CUBLAS_GEMM() cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, N, M, K, &one, b, N, a, K, &zero, y, N)
#endif
    float cbest = 1e30f, cstream = 0;
    for (int r = 0; r <= RUNS; r++) {
        CHECK(cudaEventRecord(t0));
        CUBLAS_GEMM();
        CHECK(cudaEventRecord(t1));
        CHECK(cudaEventSynchronize(t1));
        CHECK(cudaEventElapsedTime(&ms, t0, t1));
        if (r && ms < cbest) cbest = ms;
    }
    CHECK(cudaEventRecord(t0));
    for (int r = 0; r < RUNS; r++) CUBLAS_GEMM();
    CHECK(cudaEventRecord(t1));
    CHECK(cudaEventSynchronize(t1));
    CHECK(cudaEventElapsedTime(&cstream, t0, t1));
    cstream /= RUNS;
    CHECK(cudaMemcpy(hy, y, ybytes, cudaMemcpyDeviceToHost));
    worst = worst_error("cublas_tf32", ha, hb, hy, u_tf32);
    printf("cublas_tf32 op=%s M=%d N=%d K=%d best_ms=%.3f tflops=%.1f stream_ms=%.3f stream_tflops=%.1f "
           "max_err_over_bound=%.3g\n",
           GEMM_OP, M, N, K, cbest, flop / (cbest * 1e-3) / 1e12, cstream, flop / (cstream * 1e-3) / 1e12, worst);
    if (worst > 1.0) {
        fprintf(stderr, "gemm_bench: cuBLAS: a checked entry exceeds its error bound\n");
        status = 1;
    }
    cublasDestroy(h);
#endif
    Gemm_bench_destroy(m);
    cudaFree(a);
    cudaFree(b);
    cudaFree(y);
    free(ha);
    free(hb);
    free(hy);
    return status;
}
