/* SPDX-License-Identifier: MIT
 * ndlcu_sparse.h - where the CUDA sparse kernel (ndlcu.cuh's ndlcu_sparse_k) finds the
 * entries of a weight packed by ndlrt_sparse_pack (runtime/kernels/sparse.c, whose header
 * gives the layouts): CSR, and N:M stored tile-major in NDLRT_SPARSE_NM_TILE_COLS-column
 * tiles (sparse.c's nm_record). Plain C, __host__ __device__ under nvcc, so that
 * tests/unit/test_cuda_sparse.c compiles this same index arithmetic with the host compiler
 * and decodes real packs against their dense weights, with no GPU and no nvcc.
 * Needs runtime/ndlrt.h first; generated .cu files carry a copy before ndlcu.cuh.
 */
#ifndef NDLCU_SPARSE_H
#define NDLCU_SPARSE_H

#include <stdint.h>

#ifdef __CUDACC__
#define NDLCU_HD static __host__ __device__ __forceinline__
#else
#define NDLCU_HD static inline
#endif

enum { NDLCU_SPARSE_H_NNZ = 3, NDLCU_SPARSE_H_NM_N = 4, NDLCU_SPARSE_H_NM_M = 5 }; /* kernels/sparse.c's H_* */

/* CSR of W[n, k]: row r's nonzeros are j in [ptr[r], ptr[r + 1]), val[j] at column col[j] */
typedef struct NdlcuCsr {
    const float *ptr, *col, *val;
} NdlcuCsr;

NDLCU_HD NdlcuCsr ndlcu_csr_arrays(const float *w, int64_t n)
{
    const float *ptr = w + NDLRT_SPARSE_HEADER;
    int64_t nnz = (int64_t)w[NDLCU_SPARSE_H_NNZ];
    NdlcuCsr c = {ptr, ptr + n + 1, ptr + n + 1 + nnz};
    return c;
}

/* N:M of W[n, k]: per group of M columns a position code sum_i pos_i << (sh * i) and N
 * values; groups of a row in tiles of `full` groups (the last tile what remains) */
typedef struct NdlcuNm {
    int nn, mm, sh;          /* N, M, log2(M) */
    int64_t groups, full;    /* groups per row (k / M), groups per full tile */
} NdlcuNm;

NDLCU_HD NdlcuNm ndlcu_nm_shape(const float *w, int64_t k)
{
    NdlcuNm s;
    s.nn = (int)w[NDLCU_SPARSE_H_NM_N];
    s.mm = (int)w[NDLCU_SPARSE_H_NM_M];
    s.sh = 0;
    while ((1 << s.sh) < s.mm) s.sh++;
    s.groups = k / s.mm;
    s.full = NDLRT_SPARSE_NM_TILE_COLS / s.mm;
    return s;
}

/* Group g of row r: returns where its position code is; *vals = its N values. Tile-major:
 * the tile of g starts at group g0 and holds tg groups per row; the record of (r, tile) is
 * its tg codes then its tg * N values, the records of the tile's n rows one after another. */
NDLCU_HD const float *ndlcu_nm_group(const float *w, NdlcuNm s, int64_t n, int64_t r, int64_t g, const float **vals)
{
    int64_t g0 = g / s.full * s.full, tg = s.groups - g0 < s.full ? s.groups - g0 : s.full, i = g - g0;
    const float *rec = w + NDLRT_SPARSE_HEADER + g0 * n * (1 + s.nn) + r * tg * (1 + s.nn);
    *vals = rec + tg + i * s.nn;
    return rec + i;
}

/* the column of the j-th value of group g with position code `code` (padding: position 0, value 0) */
NDLCU_HD int64_t ndlcu_nm_col(NdlcuNm s, int64_t g, int code, int j)
{
    return g * s.mm + ((code >> (s.sh * j)) & (s.mm - 1));
}

#endif /* NDLCU_SPARSE_H */
