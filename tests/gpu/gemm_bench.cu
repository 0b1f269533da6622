/* SPDX-License-Identifier: MIT
 * gemm_bench.cu - times ndlc's generated GEMM (an NDL `y = matmul(a, b)` of N x N
 * matrices, compiled with --target cuda --emit cuda) on device buffers with CUDA events,
 * checks 256 sampled entries against a double-precision reference on the host, and, when
 * built with -DNDLC_BENCH_CUBLAS (-lcublas), times cuBLAS's TF32 tensor-core SGEMM on
 * the same buffers as the peer in the same run. Built by tests/gpu/run.sh:
 *   nvcc -O3 -arch=native -DGEMM_CU='"gemm.cu"' [-DNDLCU_TF32_PASSES=1] gemm_bench.cu
 * Prints one line: `ndlc tf32_passes=P op=OP N=... best_ms=... tflops=... max_err_over_bound=...`
 * (and one for cuBLAS).
 * -DGEMM_LINEAR: GEMM_CU is instead the code of `y = linear(a, w)` (the same model name, w
 * [n, k]: B K-major, as the wgmma kernel needs); the reference and cuBLAS then use w
 * transposed. -DNDLCU_GEMM_WGMMA (sm_90a, with -DNDLCU_TF32_PASSES=1): the Hopper wgmma
 * kernel; on a device other than compute capability 9.0 it prints why it is skipped and
 * exits 0, since the library would run the mma.sync kernel instead.
 *
 * Accuracy: the spec's elementwise 1e-4 + 1e-4 |ref| cannot hold for K = 4096 dot products
 * of values in [-1, 1) near cancellation in any f32 GEMM (cuBLAS included), so each sampled
 * entry y_ij is checked against a double reference with the error bound of its arithmetic,
 * scaled by S_ij = sum_k |a_ik b_kj|:
 *   |y_ij - ref_ij| <= (2 u_in + sqrt(K) 2^-24) S_ij
 * 2 u_in S bounds the rounding of the operands before they are multiplied (u_in = 2^-11 for
 * plain TF32 rounded to nearest by cvt.rna, whose 10-bit mantissas dominate; 2^-10 for the
 * wgmma kernel, whose operands the tensor cores truncate; 2^-20 for 3xTF32, whose a_lo b_lo
 * term and split remainders are dropped); sqrt(K) 2^-24 S is the probabilistic bound (Higham & Mary)
 * of K f32 accumulations. A 3xTF32 kernel that lost its correction terms exceeds its bound,
 * and so does any wrong element (error ~ |ref|).
 * Exit status 0, or 1 when anything fails or a sampled entry exceeds its bound.
 */
#include GEMM_CU
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#ifdef NDLC_BENCH_CUBLAS
#include <cublas_v2.h>
#endif

enum { N = 4096, RUNS = 20 };

#ifdef GEMM_LINEAR
#define GEMM_OP "linear"
#define B_AT(b, k, j) (b)[(size_t)(j) * N + (k)] /* w[j, k] */
#else
#define GEMM_OP "matmul"
#define B_AT(b, k, j) (b)[(size_t)(k) * N + (j)]
#endif
#ifdef NDLCU_GEMM_WGMMA
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

/* the largest error / bound over 256 sampled entries (the bound above; u_in by mode) */
static double worst_error(const float *a, const float *b, const float *y, double u_in)
{
    double worst = 0;
    uint32_t s = 12345;
    for (int t = 0; t < 256; t++) {
        s = s * 1664525u + 1013904223u;
        int i = (int)(s % N), j = (int)((s >> 12) % N);
        double ref = 0, scale = 0;
        for (int k = 0; k < N; k++) {
            double prod = (double)a[(size_t)i * N + k] * B_AT(b, k, j);
            ref += prod;
            scale += fabs(prod);
        }
        double bound = (2 * u_in + sqrt((double)N) * ldexp(1.0, -24)) * scale;
        double err = fabs(y[(size_t)i * N + j] - ref);
        double r = err != err ? INFINITY : err == 0 ? 0 : err / bound; /* NaN, or err > 0 = bound: inf */
        if (r > worst) worst = r;
    }
    return worst;
}

int main(void)
{
#ifdef NDLCU_GEMM_WGMMA
    if (!ndlcu_wgmma_device()) {
        printf("%s: skipped: the device is not compute capability 9.0\n", KERNEL_NAME);
        return 0;
    }
#endif
    size_t bytes = (size_t)N * N * sizeof(float);
    float *ha = (float *)malloc(bytes), *hb = (float *)malloc(bytes), *hy = (float *)malloc(bytes);
    if (!ha || !hb || !hy) return 1;
    uint32_t s = 1;
    for (size_t i = 0; i < (size_t)N * N; i++) ha[i] = next_value(&s);
    for (size_t i = 0; i < (size_t)N * N; i++) hb[i] = next_value(&s);
    float *a, *b, *y;
    CHECK(cudaMalloc(&a, bytes));
    CHECK(cudaMalloc(&b, bytes));
    CHECK(cudaMalloc(&y, bytes));
    CHECK(cudaMemcpy(a, ha, bytes, cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(b, hb, bytes, cudaMemcpyHostToDevice));
    Gemm_bench *m;
    int rc = Gemm_bench_create(&m, NULL);
    if (rc) {
        fprintf(stderr, "gemm_bench: create: %s\n", Gemm_bench_strerror(rc));
        return 1;
    }
    cudaEvent_t t0, t1;
    CHECK(cudaEventCreate(&t0));
    CHECK(cudaEventCreate(&t1));
    float ms = 0, best = 1e30f;
    rc = Gemm_bench_run_stream(m, 0, a, b, y); /* warm-up */
    for (int r = 0; r < RUNS && !rc; r++) {
        CHECK(cudaEventRecord(t0));
        rc = Gemm_bench_run_stream(m, 0, a, b, y);
        CHECK(cudaEventRecord(t1));
        CHECK(cudaEventSynchronize(t1));
        CHECK(cudaEventElapsedTime(&ms, t0, t1));
        if (ms < best) best = ms;
    }
    CHECK(cudaDeviceSynchronize());
    if (rc) {
        fprintf(stderr, "gemm_bench: run: %s\n", Gemm_bench_strerror(rc));
        return 1;
    }
    CHECK(cudaMemcpy(hy, y, bytes, cudaMemcpyDeviceToHost));
    const double u_tf32 = ldexp(1.0, -11), u_3xtf32 = ldexp(1.0, -20);
#ifdef NDLCU_GEMM_WGMMA
    const double u_ndlc = ldexp(1.0, -10); /* truncated operands */
#else
    const double u_ndlc = NDLCU_TF32_PASSES == 3 ? u_3xtf32 : u_tf32;
#endif
    double worst = worst_error(ha, hb, hy, u_ndlc);
    double tflops = 2.0 * N * N * (double)N / (best * 1e-3) / 1e12;
    printf("%s tf32_passes=%d op=%s N=%d best_ms=%.3f tflops=%.1f max_err_over_bound=%.3g\n", KERNEL_NAME,
           NDLCU_TF32_PASSES, GEMM_OP, N, best, tflops, worst);
    int status = worst > 1.0 ? 1 : 0;
    if (status) fprintf(stderr, "gemm_bench: %s: a sampled entry exceeds its error bound\n", KERNEL_NAME);
#ifdef NDLC_BENCH_CUBLAS
    /* row-major y = a b is column-major y^T = b^T a^T: cuBLAS with the operands swapped;
     * y = a w^T is y^T = w a^T, w's buffer being w^T column-major (hence OP_T) */
    cublasHandle_t h;
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) return 1;
    cublasSetMathMode(h, CUBLAS_TF32_TENSOR_OP_MATH);
    const float one = 1.0f, zero = 0.0f;
    float cbest = 1e30f;
    for (int r = 0; r <= RUNS; r++) {
        CHECK(cudaEventRecord(t0));
#ifdef GEMM_LINEAR
        cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, N, N, N, &one, b, N, a, N, &zero, y, N);
#else
        cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, N, N, N, &one, b, N, a, N, &zero, y, N);
#endif
        CHECK(cudaEventRecord(t1));
        CHECK(cudaEventSynchronize(t1));
        CHECK(cudaEventElapsedTime(&ms, t0, t1));
        if (r && ms < cbest) cbest = ms;
    }
    CHECK(cudaMemcpy(hy, y, bytes, cudaMemcpyDeviceToHost));
    worst = worst_error(ha, hb, hy, u_tf32);
    printf("cublas_tf32 op=%s N=%d best_ms=%.3f tflops=%.1f max_err_over_bound=%.3g\n", GEMM_OP, N, cbest,
           2.0 * N * N * (double)N / (cbest * 1e-3) / 1e12, worst);
    if (worst > 1.0) {
        fprintf(stderr, "gemm_bench: cuBLAS: a sampled entry exceeds its error bound\n");
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
