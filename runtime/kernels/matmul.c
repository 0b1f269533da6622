/* SPDX-License-Identifier: MIT
 * matmul.c - batched torch.matmul with both operands known only at run time:
 * c[m, n] = a[m, k] . b[k, n] (b stored [n, k] when b_transposed) for each batch, through
 * the GEMM core, which packs both operands block by block into the scratch. A batch that
 * broadcasts b over contiguous a and c runs as one GEMM of batch*m rows. Needs gemm.c.
 */
#include "../ndlrt.h"

/* One GEMM of batch*m rows serves every batch. */
static int mm_merged(const NdlrtMatmul *p)
{
    return p->batch > 1 && p->b_stride == 0 && p->a_stride == p->m * p->k &&
           p->c_stride == p->m * p->n;
}

NDLRT_API size_t ndlrt_matmul_scratch_floats(const NdlrtMatmul *p)
{
    int64_t m = mm_merged(p) ? p->batch * p->m : p->m;
    return ndlrt_gemm_scratch_floats(m, p->n, p->k, 0, 0);
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
    int64_t batch = p->batch;
    if (mm_merged(p)) {
        g.m = p->batch * p->m;
        batch = 1;
    }
    for (int64_t i = 0; i < batch; i++) {
        g.a = a + i * p->a_stride;
        g.b = b + i * p->b_stride;
        g.c = c + i * p->c_stride;
        ndlrt_gemm_f32(&g, scratch);
    }
}
