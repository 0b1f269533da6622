/* SPDX-License-Identifier: MIT
 * test_cuda_sparse.c - the CUDA sparse kernel's index arithmetic (runtime/cuda/ndlcu_sparse.h,
 * the header ndlcu.cuh's ndlcu_sparse_k reads packs through) compiled by the host compiler:
 * real packs made by ndlrt_sparse_pack (runtime/kernels/sparse.c) are decoded exactly as the
 * kernel's 32 lanes walk them and must give back the dense weight, every stored float read
 * exactly once. N:M (2:4, 1:4, 2:8, groups with fewer kept than N, i.e. padding) over K
 * below one 128-column tile, exactly one, several, and not a multiple of the tile; CSR
 * with empty rows. No GPU and no nvcc needed.
 */
#include "check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ndlrt.h"
#include "runtime/cuda/ndlcu_sparse.h"

enum { LANES = 32 }; /* a warp: the kernel's lanes split a row's nonzeros (CSR) or groups (N:M) */

/* CHECK(cond), naming the case when it fails */
#define CHECK_CASE(cond, ...)                                                            \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, __VA_ARGS__);                                                \
            fputc('\n', stderr);                                                         \
        }                                                                                \
        CHECK(cond);                                                                     \
    } while (0)

static uint32_t rnd_u32(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (uint32_t)(*s >> 16);
}

/* a nonzero value in [-1, 1), never 0 */
static float rnd_nz(uint64_t *s)
{
    float v = (float)((double)rnd_u32(s) / 4294967296.0 * 2.0 - 1.0);
    return v == 0.0f ? 0.5f : v;
}

/* W[n, k] with at most nn nonzeros in every group of mm columns; one group in five keeps
 * fewer (padding in the pack), row 1 (when n > 1) is all zero */
static float *nm_weight(uint64_t *s, int64_t n, int64_t k, int nn, int mm)
{
    float *w = calloc((size_t)(n * k), sizeof *w);
    for (int64_t r = 0; r < n; r++) {
        if (n > 1 && r == 1) continue;
        for (int64_t g = 0; g < k / mm; g++) {
            int keep = rnd_u32(s) % 5 == 0 ? (int)(rnd_u32(s) % (uint32_t)nn) : nn;
            for (int kept = 0; kept < keep;) {
                int64_t c = g * mm + rnd_u32(s) % (uint32_t)mm;
                if (w[r * k + c] != 0) continue;
                w[r * k + c] = rnd_nz(s);
                kept++;
            }
        }
    }
    return w;
}

/* Decodes the pack as ndlcu_sparse_k does (lane l takes groups l, l + 32, ...) into a
 * dense matrix; counts the reads of each float of the pack (codes and values) in reads[]. */
static void nm_decode(const float *pack, int64_t n, int64_t k, float *dense, int *reads)
{
    NdlcuNm nm = ndlcu_nm_shape(pack, k);
    for (int64_t r = 0; r < n; r++)
        for (int lane = 0; lane < LANES; lane++)
            for (int64_t g = lane; g < nm.groups; g += LANES) {
                const float *val, *code_at = ndlcu_nm_group(pack, nm, n, r, g, &val);
                int code = (int)*code_at;
                reads[code_at - pack]++;
                for (int j = 0; j < nm.nn; j++) {
                    int64_t c = ndlcu_nm_col(nm, g, code, j);
                    CHECK(c >= g * nm.mm && c < (g + 1) * nm.mm);
                    dense[r * k + c] += val[j];
                    reads[val + j - pack]++;
                }
            }
}

static void check_nm(uint64_t *seed, int64_t n, int64_t k, int nn, int mm)
{
    float *w = nm_weight(seed, n, k, nn, mm);
    NdlrtSparseInfo info;
    ndlrt_sparse_analyze(n, k, w, &info);
    /* the analysis may find a sparser pattern (fewer kept everywhere); force this one */
    info.nm_n = nn;
    info.nm_m = mm;
    size_t floats = ndlrt_sparse_packed_floats(&info, NDLRT_SPARSE_NM);
    CHECK(floats == (size_t)(NDLRT_SPARSE_HEADER + n * (k / mm) * (1 + nn)));
    float *pack = malloc(floats * sizeof *pack);
    ndlrt_sparse_pack(&info, NDLRT_SPARSE_NM, w, pack);
    float *dense = calloc((size_t)(n * k), sizeof *dense);
    int *reads = calloc(floats, sizeof *reads);
    nm_decode(pack, n, k, dense, reads);
    int64_t wrong = 0, unread = 0;
    for (int64_t i = 0; i < n * k; i++) wrong += dense[i] != w[i];
    for (size_t i = NDLRT_SPARSE_HEADER; i < floats; i++) unread += reads[i] != 1;
    CHECK_CASE(wrong == 0, "N:M %d:%d n=%lld k=%lld: %lld entries decode wrong", nn, mm, (long long)n, (long long)k,
           (long long)wrong);
    CHECK_CASE(unread == 0, "N:M %d:%d n=%lld k=%lld: %lld floats not read exactly once", nn, mm, (long long)n,
           (long long)k, (long long)unread);
    free(w);
    free(pack);
    free(dense);
    free(reads);
}

static void check_csr(uint64_t *seed, int64_t n, int64_t k)
{
    float *w = calloc((size_t)(n * k), sizeof *w);
    for (int64_t r = 0; r < n; r++)
        for (int64_t c = 0; c < k; c++)
            if (r % 3 != 1 && rnd_u32(seed) % 4 == 0) w[r * k + c] = rnd_nz(seed);
    NdlrtSparseInfo info;
    ndlrt_sparse_analyze(n, k, w, &info);
    size_t floats = ndlrt_sparse_packed_floats(&info, NDLRT_SPARSE_CSR);
    float *pack = malloc(floats * sizeof *pack);
    ndlrt_sparse_pack(&info, NDLRT_SPARSE_CSR, w, pack);
    float *dense = calloc((size_t)(n * k), sizeof *dense);
    int *reads = calloc(floats, sizeof *reads);
    NdlcuCsr csr = ndlcu_csr_arrays(pack, n);
    CHECK(csr.ptr == pack + NDLRT_SPARSE_HEADER);
    for (int64_t r = 0; r < n; r++)
        for (int lane = 0; lane < LANES; lane++)
            for (int64_t j = (int64_t)csr.ptr[r] + lane; j < (int64_t)csr.ptr[r + 1]; j += LANES) {
                int64_t c = (int64_t)csr.col[j];
                CHECK(c >= 0 && c < k);
                dense[r * k + c] += csr.val[j];
                reads[csr.col + j - pack]++;
                reads[csr.val + j - pack]++;
            }
    int64_t wrong = 0, unread = 0;
    for (int64_t i = 0; i < n * k; i++) wrong += dense[i] != w[i];
    for (size_t i = NDLRT_SPARSE_HEADER + (size_t)n + 1; i < floats; i++) unread += reads[i] != 1;
    CHECK_CASE(wrong == 0, "CSR n=%lld k=%lld: %lld entries decode wrong", (long long)n, (long long)k, (long long)wrong);
    CHECK_CASE(unread == 0, "CSR n=%lld k=%lld: %lld floats not read exactly once", (long long)n, (long long)k,
           (long long)unread);
    free(w);
    free(pack);
    free(dense);
    free(reads);
}

int main(void)
{
    uint64_t seed = 0x9E3779B97F4A7C15u;
    /* K: below a tile, exactly one 128-column tile, several, a partial last tile */
    static const int64_t ks[] = {8, 64, 120, 128, 136, 256, 264, 392, 1000};
    static const int64_t ns[] = {1, 3, 17};
    static const int pat[][2] = {{2, 4}, {1, 4}, {2, 8}, {4, 8}, {1, 8}};
    for (unsigned p = 0; p < sizeof pat / sizeof *pat; p++)
        for (unsigned i = 0; i < sizeof ks / sizeof *ks; i++)
            for (unsigned j = 0; j < sizeof ns / sizeof *ns; j++)
                if (ks[i] % pat[p][1] == 0) check_nm(&seed, ns[j], ks[i], pat[p][0], pat[p][1]);
    static const int64_t csr_ks[] = {1, 5, 33, 130, 300};
    for (unsigned i = 0; i < sizeof csr_ks / sizeof *csr_ks; i++)
        for (unsigned j = 0; j < sizeof ns / sizeof *ns; j++) check_csr(&seed, ns[j], csr_ks[i]);
    return check_done();
}
