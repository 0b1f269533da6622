/* SPDX-License-Identifier: MIT
 * matmul.c - batched torch.matmul with both operands known only at run time:
 * c[m, n] = a[m, k] . b[k, n] (b stored [n, k] when b_transposed) for each batch, through
 * the GEMM core, which packs both operands block by block into the scratch. A b shared by
 * every batch (b_stride 0) that fits one packed block is packed once, in the space the core
 * would use for its B blocks. The scratch depends on m, n and k only (not on the batch or
 * the strides). Needs gemm.c.
 */
#include "../ndlrt.h"

NDLRT_API size_t ndlrt_matmul_scratch_floats(const NdlrtMatmul *p)
{
    return ndlrt_gemm_scratch_floats(p->m, p->n, p->k, 0, 0);
}

NDLRT_API void ndlrt_matmul_f32(const NdlrtMatmul *p, const float *a, const float *b, float *c,
                                float *scratch)
{
    NdlrtGemm g = {0};
    g.m = p->m;
    g.n = p->n;
    g.k = p->k;
    g.a_rs = p->k;
    g.a_cs = 1;
    g.b_rs = p->b_transposed ? 1 : p->n;
    g.b_cs = p->b_transposed ? p->k : 1;
    g.c_rs = p->n;
    float *gs = scratch;
    if (p->batch > 1 && p->b_stride == 0 && p->m > 0) {
        /* The core's scratch is its A block then its B block: the packed b goes where
         * the B block would, leaving the A block's share for the core. */
        size_t whole = ndlrt_gemm_scratch_floats(p->m, p->n, p->k, 0, 0);
        size_t a_part = ndlrt_gemm_scratch_floats(p->m, p->n, p->k, 0, 1);
        size_t packed = ndlrt_gemm_packed_b_floats(p->k, p->n);
        if (packed > 0 && packed <= whole - a_part) {
            ndlrt_gemm_pack_b(p->k, p->n, b, g.b_rs, g.b_cs, scratch + a_part);
            g.b_packed = scratch + a_part;
        }
    }
    for (int64_t i = 0; i < p->batch; i++) {
        g.a = a + i * p->a_stride;
        if (!g.b_packed) g.b = b + i * p->b_stride;
        g.c = c + i * p->c_stride;
        ndlrt_gemm_f32(&g, gs);
    }
}
