/* SPDX-License-Identifier: MIT
 * moe.c - mixture-of-experts routing, gather and scatter (spec 8.4).
 *
 * The gate matrix gates[T,E] holds the combine weight of each selected (token, expert)
 * and 0 elsewhere. Expert e's rows are the tokens t with gates[t,e] != 0, in token order:
 * moe_gather copies them into a dense [R_e, d] block, the expert's layers run on R_e rows,
 * and moe_scatter adds gate * output back into row t. Ties in routing go to the lower
 * expert index. Nothing here allocates: routing uses 2*E floats of caller scratch.
 */
#include "../ndlrt.h"

#include <math.h>
#include <string.h>

NDLRT_API void ndlrt_moe_route_f32(int64_t T, int64_t E, const float *scores, int threshold,
                                   int64_t k, float p, int renorm, int softmax, float *gates,
                                   float *scratch)
{
    float *prob = scratch, *taken = scratch + E;
    for (int64_t t = 0; t < T; t++) {
        const float *sc = scores + t * E;
        float *g = gates + t * E;
        if (softmax) {
            float mx = -INFINITY;
            for (int64_t e = 0; e < E; e++)
                if (sc[e] > mx || isnan(sc[e])) mx = sc[e];
            double sum = 0;
            for (int64_t e = 0; e < E; e++) sum += expf(sc[e] - mx);
            for (int64_t e = 0; e < E; e++) prob[e] = (float)(expf(sc[e] - mx) / sum);
        } else {
            for (int64_t e = 0; e < E; e++) prob[e] = sc[e];
        }
        for (int64_t e = 0; e < E; e++) taken[e] = 0, g[e] = 0;
        double cum = 0;
        for (int64_t n = 0; n < k; n++) {
            int64_t best = -1;
            for (int64_t e = 0; e < E; e++)
                if (!taken[e] && (best < 0 || prob[e] > prob[best])) best = e;
            if (best < 0) break;
            taken[best] = 1;
            cum += prob[best];
            if (threshold && cum >= p) break;
        }
        for (int64_t e = 0; e < E; e++)
            if (taken[e] != 0) g[e] = renorm ? (float)(prob[e] / cum) : prob[e];
    }
}

NDLRT_API int ndlrt_moe_assign(int64_t T, int64_t E, const void *idx, int idx_i64, float *gates)
{
    memset(gates, 0, (size_t)(T * E) * sizeof *gates);
    for (int64_t t = 0; t < T; t++) {
        int64_t e = idx_i64 ? ((const int64_t *)idx)[t] : (int64_t)((const int32_t *)idx)[t];
        if (e < 0 || e >= E) return NDLRT_EINDEX;
        gates[t * E + e] = 1.0f;
    }
    return NDLRT_OK;
}

NDLRT_API int64_t ndlrt_moe_rows(int64_t T, int64_t E, int64_t e, const float *gates)
{
    int64_t n = 0;
    for (int64_t t = 0; t < T; t++) n += gates[t * E + e] != 0;
    return n;
}

NDLRT_API void ndlrt_moe_gather_f32(int64_t T, int64_t d, int64_t E, int64_t e, const float *x,
                                    const float *gates, float *y)
{
    for (int64_t t = 0, r = 0; t < T; t++)
        if (gates[t * E + e] != 0) memcpy(y + (r++) * d, x + t * d, (size_t)d * sizeof *y);
}

NDLRT_API void ndlrt_moe_scatter_f32(int64_t T, int64_t n, int64_t E, int64_t e, const float *acc,
                                     const float *ye, const float *gates, float *y)
{
    if (acc) {
        if (acc != y) memcpy(y, acc, (size_t)(T * n) * sizeof *y);
    } else {
        memset(y, 0, (size_t)(T * n) * sizeof *y);
    }
    for (int64_t t = 0, r = 0; t < T; t++) {
        float w = gates[t * E + e];
        if (w == 0) continue;
        const float *src = ye + (r++) * n;
        float *dst = y + t * n;
        for (int64_t j = 0; j < n; j++) dst[j] += w * src[j];
    }
}
