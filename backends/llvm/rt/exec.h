/* SPDX-License-Identifier: MIT
 * exec.h - the generic executor of the LLVM backend (exec.c), as the functions that
 * emit.c's generated API entry points call. Every function takes the model's program
 * (program.h); none keeps state outside the NdlllModel it is given.
 */
#ifndef NDLC_LLVM_EXEC_H
#define NDLC_LLVM_EXEC_H

#include <stddef.h>
#include <stdint.h>

/* An instance: the workspace and, with external weights, the loaded weights. */
typedef struct NdlllModel {
    unsigned char *ws_block, *ws;   /* allocation and its 64-byte aligned start */
    size_t ws_bytes;
    unsigned char *weights;         /* external weights: one block, 64-byte aligned tensors */
    const void **wptr;              /* external weights: per weight table entry */
    int64_t *moe_load;              /* per moe_gather layer (program order): its rows in the
                                       last run; NULL without moe */
    int64_t *moe_tokens;            /* per moe layer (its expert 0's gather): its tokens */
    void **init;                    /* init buffers (program.h NDLLL_H_INIT), filled by create */
    int64_t ninit;
    /* The last run's workspace plan, reused while the symbols stay the same: planning walks
     * every storage row and layer, a fixed cost per call that a model of a few hundred
     * nanoseconds noticed (the C backend's plan is constant-folded instead). */
    size_t *plan_off;               /* nslots + 1 offsets, allocated by create */
    int64_t *plan_syms;             /* the symbols (nsyms + ndyn) it was made for */
    int planned;                    /* plan_off and plan_syms hold a plan */
} NdlllModel;

/* wtab: the embedded weights (unused with external weights); specs: the weight table's
 * tensors as the file must hold them (external weights only; ndlrt_st_check). Computes
 * the init buffers, once. */
struct NdlrtWeightSpec;
int ndlll_create(const int64_t *prog, const void *const *wtab, const struct NdlrtWeightSpec *specs, void **model,
                 const char *path);
int ndlll_reserve(const int64_t *prog, void *model, const int64_t *syms);
/* wtab: the embedded weights (unused with external weights) */
int ndlll_run(const int64_t *prog, const void *const *wtab, void *model, const int64_t *syms,
              const void *const *in, void *const *out);
int ndlll_dims(const int64_t *prog, int64_t output, const int64_t *syms, int64_t *dims);
size_t ndlll_workspace_bytes(const int64_t *prog, const int64_t *syms);
void ndlll_destroy(void *model);
/* <prefix>_moe_stats (ndlrt.h's NdlrtModelInfo.moe_stats): returns E of moe layer `layer` */
int64_t ndlll_moe_stats(const int64_t *prog, const void *model, int layer, int64_t *tokens, int64_t *counts);

/* One layer: `ndlll_layer` is emitted per model (emit.c) as a switch over the op kinds
 * the model has, calling the ndlll_op_* below, so that the kernels of the others are
 * dead code that never reaches the optimizer. */
typedef struct NdlllCx NdlllCx;        /* a run: symbols, pointers, workspace */
typedef struct NdlllLayer NdlllLayer;  /* a decoded layer record */
int ndlll_layer(int op, const NdlllCx *c, const NdlllLayer *l, float *scratch);
/* The run's layers: emitted per model as one ndlll_run_layer call per layer, in order, with
 * the layer indices and the program constant (emit.c), returning the first nonzero status.
 * moe_at: the next moe_gather's load entry and moe layer (ndlll_run_layer advances them).
 * ndlll_run_layer runs layer k_at as if it were layer k: the same record but for the rows'
 * places (input, output, weight, slot), which it takes from k_at's. */
int ndlll_layers(const NdlllCx *c, NdlllModel *m, float *scratch, int64_t *moe_at);
int ndlll_run_layer(const int64_t *prog, const NdlllCx *c, NdlllModel *m, int64_t k, int64_t k_at, float *scratch,
                    int64_t *moe_at);
#define NDLLL_OPS(X) X(unary) X(binary) X(cast) X(softmax) X(reduce) X(argmax) X(norm) X(matmul) \
    X(linear) X(conv) X(pool) X(attention) X(move) X(concat) X(gather) X(kron) X(hash) X(moe) X(recurse)
#define NDLLL_OP_DECL(name) int ndlll_op_##name(const NdlllCx *c, const NdlllLayer *l, float *scratch);
NDLLL_OPS(NDLLL_OP_DECL)
#undef NDLLL_OP_DECL

#endif
