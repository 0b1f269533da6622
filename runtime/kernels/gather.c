/* SPDX-License-Identifier: MIT
 * gather.c - embedding (F.embedding), take (torch.take: flat, negative indices count from
 * the end), hashed random parameter sharing (spec 8.3: expanded, or read by a linear
 * without expanding it, on the GEMM core of gemm.c) and hash routing (spec 8.4).
 * An index out of range returns NDLRT_EINDEX (the output may then be partly written).
 */
#include "../ndlrt.h"

#include <string.h>

static int64_t gath_index(const void *ids, int i64, int64_t i)
{
    return i64 ? ((const int64_t *)ids)[i] : (int64_t)((const int32_t *)ids)[i];
}

/* MurmurHash3's 32-bit finalizer. */
static uint32_t gath_fmix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    x *= 0xc2b2ae35u;
    x ^= x >> 16;
    return x;
}

NDLRT_API int ndlrt_embedding_f32(int64_t nids, const void *ids, int ids_i64, int64_t rows,
                                  int64_t d, const float *table, float *y)
{
    if (nids < 0 || rows < 0 || d < 0 || (nids > 0 && (!ids || !y))) return NDLRT_EARG;
    for (int64_t i = 0; i < nids; i++) {
        int64_t id = gath_index(ids, ids_i64, i);
        if (id < 0 || id >= rows) return NDLRT_EINDEX;
        memcpy(y + i * d, table + id * d, (size_t)d * sizeof(float));
    }
    return NDLRT_OK;
}

NDLRT_API int ndlrt_take_f32(int64_t nidx, const void *idx, int idx_i64, int64_t n,
                             const float *x, float *y)
{
    if (nidx < 0 || n < 0 || (nidx > 0 && (!idx || !y))) return NDLRT_EARG;
    for (int64_t i = 0; i < nidx; i++) {
        int64_t j = gath_index(idx, idx_i64, i);
        if (j < 0) j += n;
        if (j < 0 || j >= n) return NDLRT_EINDEX;
        y[i] = x[j];
    }
    return NDLRT_OK;
}

/* W[i] = s(i) * pool[h(i) mod n_pool], h(i) = fmix32(u ^ seed),
 * s(i) = (fmix32(u ^ seed ^ 0x9E3779B9) & 1) ? -1 : 1, u the low 32 bits of i, for the n
 * flat indices first .. first+n-1 of W, into y[0..n-1]. An empty pool gives zeros (the
 * compiler rejects it before this runs). */
static void gath_hashed_range(int64_t first, int64_t n, const float *pool, int64_t n_pool, uint32_t seed,
                              float *y)
{
    if (n_pool <= 0) {
        memset(y, 0, (size_t)n * sizeof *y);
        return;
    }
    if (n_pool > (int64_t)UINT32_MAX) { /* every h is below n_pool: no reduction */
        for (int64_t i = 0; i < n; i++) {
            uint32_t u = (uint32_t)(uint64_t)(first + i);
            float sign = (gath_fmix32(u ^ seed ^ 0x9E3779B9u) & 1u) ? -1.0f : 1.0f;
            y[i] = sign * pool[gath_fmix32(u ^ seed)];
        }
        return;
    }
    /* In chunks, as three loops a compiler vectorizes: the two hashes, then h mod n
     * without a division (the quotient from a double reciprocal is exact or one off, as
     * h < 2^32 needs 32 of double's 53 bits; one correction each way makes the remainder
     * exact), then the gather with the sign flipped in the float's bits. */
    uint32_t np = (uint32_t)n_pool;
    double inv = 1.0 / (double)np;
    enum { CHUNK = 256 };
    uint32_t hb[CHUNK], sb[CHUNK];
    for (int64_t i0 = 0; i0 < n; i0 += CHUNK) {
        int c = n - i0 < CHUNK ? (int)(n - i0) : CHUNK;
        uint32_t u0 = (uint32_t)(uint64_t)(first + i0);
        for (int i = 0; i < c; i++) {
            uint32_t u = u0 + (uint32_t)i;
            hb[i] = gath_fmix32(u ^ seed);
            sb[i] = gath_fmix32(u ^ seed ^ 0x9E3779B9u) << 31;
        }
        for (int i = 0; i < c; i++) {
            int64_t h = hb[i];
            int64_t r = h - (int64_t)((double)h * inv) * (int64_t)np;
            r += r < 0 ? (int64_t)np : 0;
            r -= r >= (int64_t)np ? (int64_t)np : 0;
            hb[i] = (uint32_t)r;
        }
        for (int i = 0; i < c; i++) {
            uint32_t bits;
            memcpy(&bits, &pool[hb[i]], sizeof bits);
            bits ^= sb[i];
            memcpy(&y[i0 + i], &bits, sizeof bits);
        }
    }
}

NDLRT_API void ndlrt_hashed_f32(int64_t n_out, const float *pool, int64_t n_pool, uint32_t seed,
                                float *y)
{
    gath_hashed_range(0, n_out, pool, n_pool, seed, y);
}

NDLRT_API size_t ndlrt_linear_hashed_scratch_floats(int64_t m, int64_t n, int64_t k)
{
    int64_t tile = n < NDLRT_HASHED_TILE ? n : NDLRT_HASHED_TILE;
    return (size_t)(tile * k) + ndlrt_gemm_packed_a_floats(m, k) + ndlrt_gemm_scratch_floats(m, tile, k, 1, 0);
}

/* --share compressed: x is packed once; NDLRT_HASHED_TILE rows of W at a time are
 * expanded into scratch (cache-resident) and multiplied by the GEMM core; W itself never
 * exists. */
NDLRT_API void ndlrt_linear_hashed_f32(const NdlrtLinearHashed *p, const float *x, float *y, float *scratch)
{
    int64_t tile = p->n < NDLRT_HASHED_TILE ? p->n : NDLRT_HASHED_TILE;
    float *w = scratch, *xp = scratch + tile * p->k;
    float *gemm_scratch = xp + ndlrt_gemm_packed_a_floats(p->m, p->k);
    ndlrt_gemm_pack_a(p->m, p->k, x, p->k, 1, xp);
    for (int64_t j0 = 0; j0 < p->n; j0 += tile) {
        int64_t nb = p->n - j0 < tile ? p->n - j0 : tile;
        gath_hashed_range(j0 * p->k, nb * p->k, p->pool, p->n_pool, p->seed, w);
        NdlrtEpilogue ep = p->ep;
        if (ep.bias) ep.bias += j0;
        if (ep.residual) ep.residual += j0;
        NdlrtGemm g = {.m = p->m, .n = nb, .k = p->k, .a_packed = xp, .b = w, .b_rs = 1, .b_cs = p->k,
                       .c = y + j0, .c_rs = p->n, .ep = ep};
        ndlrt_gemm_f32(&g, gemm_scratch);
    }
}

/* y[i] = fmix32(low32(ids[i]) ^ seed) mod experts. */
NDLRT_API void ndlrt_hash_route(int64_t n, const void *ids, int ids_i64, int64_t experts,
                                uint32_t seed, int64_t *y)
{
    for (int64_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)(uint64_t)gath_index(ids, ids_i64, i);
        y[i] = experts > 0 ? (int64_t)((uint64_t)gath_fmix32(u ^ seed) % (uint64_t)experts) : 0;
    }
}
