/* SPDX-License-Identifier: MIT
 * gather.c - embedding (F.embedding), take (torch.take: flat, negative indices count from
 * the end), hashed random parameter sharing (spec 8.3) and hash routing (spec 8.4).
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
 * s(i) = (fmix32(u ^ seed ^ 0x9E3779B9) & 1) ? -1 : 1, u the low 32 bits of i.
 * An empty pool gives zeros (the compiler rejects it before this runs). */
NDLRT_API void ndlrt_hashed_f32(int64_t n_out, const float *pool, int64_t n_pool, uint32_t seed,
                                float *y)
{
    for (int64_t i = 0; i < n_out; i++) {
        uint32_t u = (uint32_t)(uint64_t)i;
        if (n_pool <= 0) {
            y[i] = 0.0f;
            continue;
        }
        uint32_t h = gath_fmix32(u ^ seed);
        float sign = (gath_fmix32(u ^ seed ^ 0x9E3779B9u) & 1u) ? -1.0f : 1.0f;
        y[i] = sign * pool[(uint64_t)h % (uint64_t)n_pool];
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
