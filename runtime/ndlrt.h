/* SPDX-License-Identifier: MIT
 * ndlrt.h - the ndlc runtime: what compiled models need at run time.
 *
 * Three parts: (1) status codes; (2) the kernels that generated code calls, one per
 * heavy op, pure functions over a params struct, with their compile-time packing
 * helpers (the compiler links this same code to pack constant weights); (3) the model
 * descriptor through which the executable driver runs any generated model.
 * Generated C carries the runtime sources it uses (so it needs nothing but libc and
 * libm): every function here is declared NDLRT_API, which the generated file defines
 * as `static` so that two models can be linked into one program.
 * Builds as C99 and C++ too. No compiler headers, no globals, no I/O in kernels.
 */
#ifndef NDLRT_H
#define NDLRT_H

#include <stddef.h>
#include <stdint.h>

#ifndef NDLRT_API
#define NDLRT_API
#endif

/* Threads of the kernels' OpenMP paths (used only when built with -fopenmp): generated C
 * defines it from `ndlc --threads N` before this header. The scratch sizes below count
 * one share per thread. */
#ifndef NDLRT_THREADS
#define NDLRT_THREADS 1
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- (1) status -------------------------------------------------------------------- */

typedef enum NdlrtStatus {
    NDLRT_OK = 0,
    NDLRT_ENOMEM = 1,       /* out of memory */
    NDLRT_EARG = 2,         /* a NULL pointer or negative size */
    NDLRT_ESIZE = 3,        /* a size above its declared bound (N <= 64) or inconsistent */
    NDLRT_EWEIGHTS = 4,     /* the weight file is missing, malformed or does not match */
    NDLRT_EINDEX = 5,       /* an index input out of range (embedding ids, take, recurse depth) */
    NDLRT_ENOWEIGHTS = 6,   /* built with external weights but created without a path */
    NDLRT_EDEVICE = 7,      /* the GPU failed (no device, a launch or copy error; --target cuda) */
    NDLRT_STATUS_COUNT
} NdlrtStatus;

NDLRT_API const char *ndlrt_strerror(int code);

/* ---- (2) kernels ------------------------------------------------------------------------
 * Float tensors are f32, contiguous, row-major (NCHW for images) unless said otherwise.
 * Sizes are int64_t. `scratch` arguments point into the caller's workspace, sized by
 * the matching *_scratch_floats() function, so kernels never allocate. */

/* An epilogue applied to every output element as it is produced:
 *   y = act2(act(acc + bias[channel]) + residual[i])
 * Activations are NdlrtAct values (the order of ir/eltwise.def, 0 = none). */
typedef enum NdlrtAct {
    NDLRT_ACT_NONE = 0,
#define EW1(K, name, expr) NDLRT_ACT_##K,
#include "../ir/eltwise.def" /* installed beside this header as ir/eltwise.def */
#undef EW1
    NDLRT_ACT_COUNT
} NdlrtAct;

typedef struct NdlrtEpilogue {
    const float *bias;       /* per output channel, or NULL */
    int act;                 /* NdlrtAct after the bias */
    const float *residual;   /* same shape as the output, or NULL */
    int act2;                /* NdlrtAct after the residual */
} NdlrtEpilogue;

/* Applies ep to the rows x cols block y (row stride ldy); residual and bias point at this
 * block's own residual element and first channel (NULL: none), the residual with stride
 * ldy; bias advances with rows (bias_per_row, conv channels) or with columns. */
NDLRT_API int ndlrt_epilogue_empty(const NdlrtEpilogue *ep);
NDLRT_API void ndlrt_epilogue_f32(const NdlrtEpilogue *ep, int64_t rows, int64_t cols,
                                  float *y, int64_t ldy, const float *residual,
                                  const float *bias, int bias_per_row);

/* The GEMM core under linear, conv2d, matmul and attention (kernels/gemm.c):
 *   c[i*c_rs + j] (+)= sum_p a(i, p) b(p, j), then the epilogue (residual with stride c_rs),
 * with a(i, p) = a[i*a_rs + p*a_cs] unless a_packed (ndlrt_gemm_pack_a output) and
 * b(p, j) = b[p*b_rs + j*b_cs] unless b_packed (ndlrt_gemm_pack_b output). Packed layouts
 * are the same for every instruction set, so the compiler may pack constants:
 *   A: MR-row panels   packed[(i / MR) * k * MR + p * MR + i % MR]  (rows past m are 0)
 *   B: NR-column panels packed[(j / NR) * k * NR + p * NR + j % NR]  (cols past n are 0)
 * Scratch sizes never decrease as m, n or k grow, so sizing at a bound is enough. */
#define NDLRT_GEMM_MR 14
#define NDLRT_GEMM_NR 32
typedef struct NdlrtGemm {
    int64_t m, n, k;
    const float *a, *a_packed;
    int64_t a_rs, a_cs;
    const float *b, *b_packed;
    int64_t b_rs, b_cs;
    int64_t a_packed_k, b_packed_k; /* k the packing was done with (0: k): a call may use a
                                       leading k-slice of packed panels */
    float *c;
    int64_t c_rs;
    int accumulate;          /* c += a.b (else c = a.b), before the epilogue */
    int bias_per_row;        /* ep.bias indexed by i (else by j) */
    NdlrtEpilogue ep;
} NdlrtGemm;
NDLRT_API size_t ndlrt_gemm_packed_a_floats(int64_t m, int64_t k);
NDLRT_API void ndlrt_gemm_pack_a(int64_t m, int64_t k, const float *a, int64_t rs, int64_t cs,
                                 float *packed);
NDLRT_API size_t ndlrt_gemm_packed_b_floats(int64_t k, int64_t n);
NDLRT_API void ndlrt_gemm_pack_b(int64_t k, int64_t n, const float *b, int64_t rs, int64_t cs,
                                 float *packed);
NDLRT_API size_t ndlrt_gemm_scratch_floats(int64_t m, int64_t n, int64_t k, int a_packed,
                                           int b_packed);
NDLRT_API void ndlrt_gemm_f32(const NdlrtGemm *g, float *scratch);

/* y[m, n] = x[m, k] . w[n, k]^T (+ epilogue, bias per n). w is packed at compile time. */
typedef struct NdlrtLinear {
    int64_t m, n, k;
    const float *w_packed;   /* ndlrt_linear_pack() output */
    NdlrtEpilogue ep;
} NdlrtLinear;
NDLRT_API size_t ndlrt_linear_packed_floats(int64_t n, int64_t k);
NDLRT_API void ndlrt_linear_pack(int64_t n, int64_t k, const float *w, float *packed);
NDLRT_API size_t ndlrt_linear_scratch_floats(int64_t m, int64_t n, int64_t k);
NDLRT_API void ndlrt_linear_f32(const NdlrtLinear *p, const float *x, float *y, float *scratch);

/* conv2d on NCHW, w [o, c/groups, kh, kw] packed at compile time (bias per o). */
typedef struct NdlrtConv2d {
    int64_t n, c, h, w;      /* input */
    int64_t o, kh, kw, oh, ow;
    int64_t sh, sw, ph, pw, dh, dw, groups;
    const float *w_packed;   /* ndlrt_conv2d_pack() output */
    NdlrtEpilogue ep;
} NdlrtConv2d;
NDLRT_API size_t ndlrt_conv2d_packed_floats(const NdlrtConv2d *p);
NDLRT_API void ndlrt_conv2d_pack(const NdlrtConv2d *p, const float *w, float *packed);
NDLRT_API size_t ndlrt_conv2d_scratch_floats(const NdlrtConv2d *p);
NDLRT_API void ndlrt_conv2d_f32(const NdlrtConv2d *p, const float *x, float *y, float *scratch);

/* Sparse weights (kernels/sparse.c, spec 8.2): W[n, k] of a linear ([out, in]) or of a 1x1
 * conv ([o, c]) packed at compile time into one f32 array of indices and values (integers
 * stored as exact floats, so every size must stay below NDLRT_SPARSE_MAX_INT). Formats:
 * CSR rows; BLOCK, 16-row panels whose nonempty columns are stored as 16-float blocks;
 * NM, N kept of every M consecutive elements (M = 4 or 8); ELL, 16-row x 64-column tiles
 * as sliced ELLPACK read by register permutes (one vector of x per GEMV; a panel's 16 rows
 * are grouped by where their nonzeros are, not consecutive). ndlrt_sparse_choose is the
 * cost model (cols: columns of the dense operand per weight row: a linear's batch, a
 * conv's h*w); it returns DENSE where a sparse kernel would not be faster, and where a
 * forced format cannot hold the weight (NM without an N:M pattern). */
enum {
    NDLRT_SPARSE_AUTO = -1,  /* ndlrt_sparse_choose: let the cost model pick */
    NDLRT_SPARSE_DENSE = 0,
    NDLRT_SPARSE_CSR = 1,
    NDLRT_SPARSE_BLOCK = 2,
    NDLRT_SPARSE_NM = 3,
    NDLRT_SPARSE_ELL = 4,
    NDLRT_SPARSE_HEADER = 8,            /* floats before the data of a pack */
    NDLRT_SPARSE_BLOCK_ROWS = 16,       /* rows of a BLOCK panel and of an ELL panel */
    NDLRT_SPARSE_ELL_COLS = 64,         /* columns of an ELL chunk (6-bit column indices) */
    NDLRT_SPARSE_NM_TILE_COLS = 128,    /* columns of K per tile of an N:M pack (tile-major) */
    NDLRT_SPARSE_MAX_INT = 1 << 24      /* f32 holds every integer below it exactly */
};
typedef struct NdlrtSparseInfo {
    int64_t n, k, nnz;       /* nonzeros */
    int64_t blocks;          /* nonempty 16 x 1 blocks */
    int nm_n, nm_m;          /* the sparsest N:M pattern the weight has (nm_m = 0: none) */
    int64_t ell_slices;      /* ELL: 16-lane slices (sum over 16 x 64 tiles of their fullest row) */
} NdlrtSparseInfo;
NDLRT_API void ndlrt_sparse_analyze(int64_t n, int64_t k, const float *w, NdlrtSparseInfo *s);
/* linear: 1 for a linear (its batch runs on the 64-column chunk kernels), 0 for a 1x1 conv */
NDLRT_API int ndlrt_sparse_choose(const NdlrtSparseInfo *s, int64_t cols, int linear, int force);
NDLRT_API size_t ndlrt_sparse_packed_floats(const NdlrtSparseInfo *s, int format);
NDLRT_API void ndlrt_sparse_pack(const NdlrtSparseInfo *s, int format, const float *w, float *packed);
/* y[m, n] = x[m, k] . W^T (+ epilogue, bias per n) */
typedef struct NdlrtSparseLinear {
    int64_t m, n, k;
    const float *w_packed;   /* ndlrt_sparse_pack() output */
    NdlrtEpilogue ep;
} NdlrtSparseLinear;
NDLRT_API size_t ndlrt_sparse_linear_scratch_floats(int64_t m, int64_t n, int64_t k);
NDLRT_API void ndlrt_sparse_linear_f32(const NdlrtSparseLinear *p, const float *x, float *y,
                                       float *scratch);
/* 1x1 conv, stride 1, no padding, one group, on NCHW: y[b, o, :] = W . x[b, :, :] (bias per o) */
typedef struct NdlrtSparseConv1x1 {
    int64_t n, c, hw, o;
    const float *w_packed;
    NdlrtEpilogue ep;
} NdlrtSparseConv1x1;
NDLRT_API void ndlrt_sparse_conv1x1_f32(const NdlrtSparseConv1x1 *p, const float *x, float *y);

/* Batched matmul with both operands at run time: for each of `batch` pairs,
 * c[m, n] = a[m, k] . b[k, n]; a/b/c advance by their batch strides (0 = broadcast). */
typedef struct NdlrtMatmul {
    int64_t batch, m, n, k;
    int64_t a_stride, b_stride, c_stride;
    int b_transposed;        /* b is stored [n, k] */
} NdlrtMatmul;
NDLRT_API size_t ndlrt_matmul_scratch_floats(const NdlrtMatmul *p);
NDLRT_API void ndlrt_matmul_f32(const NdlrtMatmul *p, const float *a, const float *b, float *c,
                                float *scratch);

/* Pooling on NCHW; max pads with -inf, avg counts padding (count_include_pad). */
typedef struct NdlrtPool2d {
    int64_t n, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw;
} NdlrtPool2d;
NDLRT_API void ndlrt_max_pool2d_f32(const NdlrtPool2d *p, const float *x, float *y);
NDLRT_API void ndlrt_avg_pool2d_f32(const NdlrtPool2d *p, const float *x, float *y);

/* A tensor seen as [outer, len, inner]: the op runs along the middle axis. */
typedef struct NdlrtAxis {
    int64_t outer, len, inner;
} NdlrtAxis;
NDLRT_API void ndlrt_softmax_f32(const NdlrtAxis *p, const float *x, float *y);
NDLRT_API void ndlrt_log_softmax_f32(const NdlrtAxis *p, const float *x, float *y);
/* Reductions over the middle axis; y is [outer, inner]. kind: 0 sum, 1 mean, 2 max, 3 min. */
NDLRT_API void ndlrt_reduce_f32(const NdlrtAxis *p, int kind, const float *x, float *y);
NDLRT_API void ndlrt_argmax_f32(const NdlrtAxis *p, const float *x, int64_t *y);

/* Normalizations over the last axis of [rows, d]; w/b may be NULL. */
NDLRT_API void ndlrt_layer_norm_f32(int64_t rows, int64_t d, const float *x, const float *w,
                                    const float *b, float eps, float *y);
NDLRT_API void ndlrt_rms_norm_f32(int64_t rows, int64_t d, const float *x, const float *w,
                                  float eps, float *y);
/* batch_norm in eval mode on [n, c, inner]; w/b may be NULL. */
NDLRT_API void ndlrt_batch_norm_f32(int64_t n, int64_t c, int64_t inner, const float *x,
                                    const float *mean, const float *var, const float *w,
                                    const float *b, float eps, float *y);

/* softmax(q k^T * scale (+ causal mask)) v over `batch` heads: q [tq, d], k [tk, d],
 * v [tk, dv], y [tq, dv] per head (fused, online softmax). */
typedef struct NdlrtAttention {
    int64_t batch, tq, tk, d, dv;
    int64_t q_stride, k_stride, v_stride, y_stride;  /* per head; 0 = broadcast */
    float scale;
    int causal;
} NdlrtAttention;
NDLRT_API size_t ndlrt_attention_scratch_floats(const NdlrtAttention *p);
NDLRT_API void ndlrt_attention_f32(const NdlrtAttention *p, const float *q, const float *k,
                                   const float *v, float *y, float *scratch);

/* Data movement, any element size (bytes): y = x permuted (rank <= 8). */
NDLRT_API void ndlrt_permute(int rank, const int64_t *dims, const int64_t *perm, size_t elem,
                             const void *x, void *y);
/* y = x[begin : end : step] per axis (out dims given). */
NDLRT_API void ndlrt_slice(int rank, const int64_t *in_dims, const int64_t *begin,
                           const int64_t *step, const int64_t *out_dims, size_t elem,
                           const void *x, void *y);

/* Gathers; a bad index returns NDLRT_EINDEX. ids are int32 (ids_i64 = 0) or int64. */
NDLRT_API int ndlrt_embedding_f32(int64_t nids, const void *ids, int ids_i64, int64_t rows,
                                  int64_t d, const float *table, float *y);
NDLRT_API int ndlrt_take_f32(int64_t nidx, const void *idx, int idx_i64, int64_t n,
                             const float *x, float *y);
/* spec 8.3 / 8.4 */
NDLRT_API void ndlrt_hashed_f32(int64_t n_out, const float *pool, int64_t n_pool, uint32_t seed,
                                float *y);
/* --share compressed: y[m, n] = x[m, k] . W[n, k]^T (+ epilogue, bias per n) where W is
 * hashed(pool, [n, k], seed), computed NDLRT_HASHED_TILE rows at a time in scratch. */
#define NDLRT_HASHED_TILE 64
typedef struct NdlrtLinearHashed {
    int64_t m, n, k;
    const float *pool;
    int64_t n_pool;
    uint32_t seed;
    NdlrtEpilogue ep;
} NdlrtLinearHashed;
NDLRT_API size_t ndlrt_linear_hashed_scratch_floats(int64_t m, int64_t n, int64_t k);
NDLRT_API void ndlrt_linear_hashed_f32(const NdlrtLinearHashed *p, const float *x, float *y, float *scratch);
NDLRT_API void ndlrt_hash_route(int64_t n, const void *ids, int ids_i64, int64_t experts,
                                uint32_t seed, int64_t *y);
/* spec 8.4 mixture of experts (kernels/moe.c): gates[T,E] is the combine weight of each
 * selected (token, expert), 0 elsewhere; expert e's rows are the tokens with a nonzero gate.
 * route needs 2*E floats of scratch; assign returns NDLRT_EINDEX for an index outside 0..E-1. */
NDLRT_API void ndlrt_moe_route_f32(int64_t T, int64_t E, const float *scores, int threshold,
                                   int64_t k, float p, int renorm, int softmax, float *gates,
                                   float *scratch);
NDLRT_API int ndlrt_moe_assign(int64_t T, int64_t E, const void *idx, int idx_i64, float *gates);
NDLRT_API int64_t ndlrt_moe_rows(int64_t T, int64_t E, int64_t e, const float *gates);
NDLRT_API void ndlrt_moe_gather_f32(int64_t T, int64_t d, int64_t E, int64_t e, const float *x,
                                    const float *gates, float *y);
NDLRT_API void ndlrt_moe_scatter_f32(int64_t T, int64_t n, int64_t E, int64_t e, const float *acc,
                                     const float *ye, const float *gates, float *y);

/* ---- (3) the model descriptor (exe driver, bindings) --------------------------------------- */

/* A dimension as compiled: coef * syms[0] * ... (nsym = 0: a constant). */
typedef struct NdlrtDim {
    int64_t coef;
    int nsym;
    int sym[4];              /* indices into NdlrtModelInfo.sym_names */
} NdlrtDim;

typedef struct NdlrtPort {
    const char *name;
    const char *dtype;       /* "f32", "i32", "i64", "bool" */
    int rank;
    const NdlrtDim *dims;
} NdlrtPort;

/* A tensor that create reads from the --external-weights file: its key, its dtype (an
 * NdlrtStDType of safetensors.h, as a number: this header does not include that one) and
 * the shape it must have (ndlrt_st_check compares all three). */
#define NDLRT_MAX_WEIGHT_RANK 8  /* = NDLRT_ST_MAX_RANK: a file holds no higher rank */
typedef struct NdlrtWeightSpec {
    const char *name;
    int dtype;
    int rank;
    int64_t dims[NDLRT_MAX_WEIGHT_RANK];
} NdlrtWeightSpec;

typedef struct NdlrtModelInfo {
    const char *name;
    int nsyms;
    const char *const *sym_names;
    const int64_t *sym_bounds;   /* 0: unbounded */
    int ninputs, noutputs;
    const NdlrtPort *inputs, *outputs;
    int external_weights;        /* created from a weight file beside the artefact */
    int (*create)(void **model, const char *weights_path);
    int (*reserve)(void *model, const int64_t *syms);
    /* syms in order of first appearance; inputs/outputs in declaration order */
    int (*run)(void *model, const int64_t *syms, const void *const *inputs, void *const *outputs);
    void (*destroy)(void *model);
    const char *(*strerror)(int code);
    /* NULL, or for a model with moe layers (spec 8.4) its <prefix>_moe_stats: the tokens
     * each expert of moe layer `layer` (0, 1, ... in program order) received in the last
     * run, into counts[0..E) and the layer's token count into *tokens (either may be NULL);
     * returns E, 0 past the last layer. The driver prints them after --repeat's timing. */
    int64_t (*moe_stats)(const void *model, int layer, int64_t *tokens, int64_t *counts);
    /* external_weights: the tensors create reads, in its order (the driver names the one
     * that does not match when create fails with NDLRT_EWEIGHTS); otherwise NULL, 0 */
    const NdlrtWeightSpec *weights;
    int nweights;
} NdlrtModelInfo;

/* The executable's main: `PROG IN.safetensors OUT.safetensors [--repeat N]`. */
int ndlrt_driver_main(const NdlrtModelInfo *info, int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
