/* SPDX-License-Identifier: MIT
 * ptxrt.h - the host runtime of `--emit ptx` (runtime/cuda/ptxrt.c): loads the PTX ndlc
 * wrote with the CUDA driver API, uploads the weight block once, and runs the kernels in
 * the order of the launch plan that heads the PTX ("// ndlc-plan ..." lines), its
 * sizes evaluated for each run's symbols (ptxsize.h). Needs only
 * the driver's libcuda.so.1 at run time (opened by create); no CUDA header, runtime or nvcc.
 */
#ifndef NDLC_PTXRT_H
#define NDLC_PTXRT_H

#include <stddef.h>
#include <stdint.h>

typedef struct NdlptxModel NdlptxModel;

/* ptx: the NUL-terminated PTX text with its plan; weights: the weight block the plan's
 * offsets point into (weight_bytes as the plan says). Returns an ndlrt_status
 * (NDLRT_EDEVICE without a usable GPU of sm_80 or newer). When every symbol is bounded,
 * the device buffers are reserved at the bounds; else they grow on the first larger run. */
int ndlptx_create(NdlptxModel **out, const char *ptx, const void *weights, size_t weight_bytes, int ninputs,
                  int noutputs);
/* syms: the model's symbols as the inputs bind them (in the plan's "symbol" order, the
 * driver's); copies the inputs (host memory) to the device, runs every kernel with the
 * sizes evaluated for syms, copies the outputs back. NDLRT_ESIZE for a size above its bound. */
int ndlptx_run(NdlptxModel *m, const int64_t *syms, const void *const *inputs, void *const *outputs);
void ndlptx_destroy(NdlptxModel *m);

#endif
