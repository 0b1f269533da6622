/* SPDX-License-Identifier: MIT
 * unity.c - everything an LLVM-backend artefact links, as one translation unit: the
 * runtime kernels, the safetensors reader, the executable's driver and the executor.
 * CMake compiles it with clang into one bitcode file per instruction-set level (the
 * kernels choose their intrinsics by the preprocessor); ndlc embeds the three and links
 * the one for --cpu into each model, then internalizes all but the model's API.
 */
#define _POSIX_C_SOURCE 200809L /* the driver's clock_gettime, the reader's mmap */
#include "../../../runtime/kernels/status.c"
#include "../../../runtime/kernels/gemm.c"
#include "../../../runtime/kernels/linear.c"
#include "../../../runtime/kernels/conv.c"
#include "../../../runtime/kernels/matmul.c"
#include "../../../runtime/kernels/attention.c"
#include "../../../runtime/kernels/pool.c"
#include "../../../runtime/kernels/softmax.c"
#include "../../../runtime/kernels/norm.c"
#include "../../../runtime/kernels/move.c"
#include "../../../runtime/kernels/gather.c"
#include "../../../runtime/kernels/sparse.c"
#include "../../../runtime/kernels/moe.c"
#include "../../../runtime/safetensors.c"
#include "../../../runtime/driver.c"
#include "exec.c"
