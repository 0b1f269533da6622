/* SPDX-License-Identifier: MIT
 * ptxrt.h - the host runtime of `--emit ptx` (runtime/cuda/ptxrt.c): loads the PTX ndlc
 * wrote with the CUDA driver API, uploads the weight block once, and runs the kernels in
 * the order of the launch plan that heads the PTX ("// ndlc-plan ..." lines). Needs only
 * the driver's libcuda.so.1 at run time (opened by create); no CUDA header, runtime or nvcc.
 */
#ifndef NDLC_PTXRT_H
#define NDLC_PTXRT_H

#include <stddef.h>
#include <stdint.h>

typedef struct NdlptxModel NdlptxModel;

/* ptx: the NUL-terminated PTX text with its plan; weights: the weight block the plan's
 * offsets point into (weight_bytes as the plan says). in_bytes/out_bytes: each port's
 * size. Returns an ndlrt_status (NDLRT_EDEVICE without a usable GPU of sm_80 or newer). */
int ndlptx_create(NdlptxModel **out, const char *ptx, const void *weights, size_t weight_bytes, int ninputs,
                  const size_t *in_bytes, int noutputs, const size_t *out_bytes);
/* Copies the inputs (host memory) to the device, runs every kernel, copies the outputs back. */
int ndlptx_run(NdlptxModel *m, const void *const *inputs, void *const *outputs);
void ndlptx_destroy(NdlptxModel *m);

#endif
