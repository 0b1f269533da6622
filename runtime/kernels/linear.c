/* SPDX-License-Identifier: MIT
 * linear.c - F.linear: y[m, n] = x[m, k] . w[n, k]^T with the fused epilogue.
 * w is packed once, at compile time, as the GEMM core's B operand (NR-column panels of
 * w^T), so run time packs only x; one row (batch 1) streams the panels as a GEMV.
 * Needs gemm.c.
 */
#include "../ndlrt.h"

NDLRT_API size_t ndlrt_linear_packed_floats(int64_t n, int64_t k)
{
    return ndlrt_gemm_packed_b_floats(k, n);
}

/* b(p, j) = w[j, p]: row stride 1, column stride k. */
NDLRT_API void ndlrt_linear_pack(int64_t n, int64_t k, const float *w, float *packed)
{
    ndlrt_gemm_pack_b(k, n, w, 1, k, packed);
}

/* One row needs none: it takes the GEMV path. */
NDLRT_API size_t ndlrt_linear_scratch_floats(int64_t m, int64_t n, int64_t k)
{
    return m <= 1 ? 0 : ndlrt_gemm_scratch_floats(m, n, k, 0, 1);
}

NDLRT_API void ndlrt_linear_f32(const NdlrtLinear *p, const float *x, float *y, float *scratch)
{
    NdlrtGemm g = {0};
    g.m = p->m;
    g.n = p->n;
    g.k = p->k;
    g.a = x;
    g.a_rs = p->k;
    g.a_cs = 1;
    g.b_packed = p->w_packed;
    g.c = y;
    g.c_rs = p->n;
    g.ep = p->ep;
    ndlrt_gemm_f32(&g, scratch);
}
