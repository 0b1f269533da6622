/* SPDX-License-Identifier: MIT
 * pending_kernels.c - TEMPORARY, deleted when runtime/kernels/ provides these: weak
 * definitions so that ndlc links while the kernels are being written. Calling one is an
 * internal error; nothing is packed with them.
 */
#include "../../ir/base.h"
#include "../../runtime/ndlrt.h"

__attribute__((weak)) size_t ndlrt_linear_packed_floats(int64_t n, int64_t k)
{
    (void)n; (void)k;
    NDLC_ICE("the linear kernels are not built yet");
}
__attribute__((weak)) void ndlrt_linear_pack(int64_t n, int64_t k, const float *w, float *packed)
{
    (void)n; (void)k; (void)w; (void)packed;
    NDLC_ICE("the linear kernels are not built yet");
}
__attribute__((weak)) size_t ndlrt_conv2d_packed_floats(const NdlrtConv2d *p)
{
    (void)p;
    NDLC_ICE("the conv2d kernels are not built yet");
}
__attribute__((weak)) void ndlrt_conv2d_pack(const NdlrtConv2d *p, const float *w, float *packed)
{
    (void)p; (void)w; (void)packed;
    NDLC_ICE("the conv2d kernels are not built yet");
}
