/* SPDX-License-Identifier: MIT
 * backend.h - code generators. A backend turns a lowered, fused, planned module into an
 * artefact; it never transforms the graph (that is passes/). Both emitters consume the
 * same Plan (plan.c), so the C and LLVM outputs agree by construction.
 */
#ifndef NDLC_BACKEND_H
#define NDLC_BACKEND_H

#include <stdio.h>
#include "../ir/ir.h"
#include "../runtime/ndlrt.h"

/* Where each value lives at run time. */
typedef enum StorageKind {
    ST_NONE,     /* never materialized (dead) */
    ST_INPUT,    /* the caller's input pointer `index` */
    ST_OUTPUT,   /* written straight into the caller's output pointer `index` */
    ST_WEIGHT,   /* a parameter or constant (Module.weights[index]) */
    ST_WS,       /* workspace slot `index` */
    ST_ALIAS,    /* the bytes of value `index` (a reshape view) */
    ST_FUSED,    /* computed inside its group head's kernel, never stored */
    ST_INIT,     /* computed once by create from weights alone (a `hashed` expansion,
                    spec 8.3), kept in the instance: init buffer `index` */
} StorageKind;

typedef struct ValuePlan {
    StorageKind kind;
    uint32_t index;
} ValuePlan;

typedef struct Plan {
    ValuePlan *v;            /* per ValueId */
    uint32_t nslots;         /* workspace slots; slot k holds the values with (ST_WS, k) */
    uint32_t ninit;          /* init buffers; buffer k holds the value with (ST_INIT, k) */
    /* outputs whose value could not be computed in place (an input, a weight, a view,
     * or a value that is also another output): copied at the end of run */
    bool *output_copy;       /* per output port */
} Plan;

/* Assigns storage: liveness-based reuse of workspace slots (values whose lifetimes do
 * not overlap share a slot; a slot's size is the largest of its values at run time). */
void plan_build(const Module *m, Plan *p);
/* The same, where the backend computes values that depend on weights alone once, when the
 * model is created (ST_INIT; the C backend). plan_build never makes ST_INIT values. */
void plan_build_with_init(const Module *m, Plan *p);
void plan_free(Plan *p);

/* Bytes of value v when symbol k has size symvals[k]. */
size_t plan_value_bytes(const Module *m, ValueId v, const int64_t *symvals);
/* The intermediates' arena at given sizes (slots, 64-byte aligned; the kernels' scratch
 * comes on top, see the generated NET_workspace_bytes), and what it would be without
 * reuse (every intermediate in its own buffer). */
void plan_arena(const Module *m, const Plan *p, const int64_t *symvals, size_t *arena, size_t *unplanned);

/* The value whose bytes v really uses (follows ST_ALIAS chains). */
ValueId plan_root(const Plan *p, ValueId v);

/* --share compressed (spec 8.3): the `hashed` op whose result op (a linear) reads as its
 * f32 weight from a stored f32 pool, so that the kernel computes it tile by tile; else 0. */
OpId plan_compressed_weight(const Module *m, const Plan *p, bool share_compressed, const Op *op);
/* Per OpId (malloc'd): a `hashed` read only as such weights, so never computed or stored. */
bool *plan_compressed_only(const Module *m, const Plan *p, bool share_compressed);

/* --sparse: how constant weights of linear / 1x1 conv layers may be stored (spec 8.2). */
typedef enum SparseMode {
    SPARSE_AUTO = 0,         /* the cost model decides per layer (the default) */
    SPARSE_OFF,              /* always dense */
    SPARSE_CSR, SPARSE_BLOCK, SPARSE_NM, SPARSE_ELL, /* this format wherever it can hold the weight */
} SparseMode;

/* A layer's sparse decision (backends/sparse.c): the weight's analysis, the columns of
 * the dense operand per weight row (batch at its bound, or h*w), the format picked and
 * the packed size in floats (0 for dense). */
typedef struct SparseLayer {
    NdlrtSparseInfo info;
    int64_t cols;
    int format;              /* NDLRT_SPARSE_* */
    size_t packed_floats;
} SparseLayer;
/* True when op is a layer that may run sparse (a linear, or a 1x1 conv with stride 1, no
 * padding, one group, over a stored f32 weight); out->format then says whether it does. */
bool sparse_layer(const Module *m, const Op *op, SparseMode mode, SparseLayer *out);
const char *sparse_format_name(int format);  /* "dense", "csr", "block16", "nm", "ell16x64" */
/* The format --target cuda stores a layer in where the CPU decision is format: CSR for any
 * unstructured format, N:M as N:M, else dense. */
int sparse_gpu_format(int format);

typedef struct EmitOptions {
    const char *c_path;          /* the .c being written (its header is beside it) */
    const char *h_name;          /* the header's file name, for #include */
    const char *source;          /* the .ndl path, for comments */
    const char *command;         /* the command line, for the frontmatter */
    bool external_weights;
    const char *weights_path;    /* --external-weights: the OUT.weights.safetensors */
    int threads;                 /* --threads: NDLRT_THREADS in the generated kernels */
    int opt_level;               /* -O0..-O3: how hard cc/nvcc/LLVM optimize an exe or object
                                    (backend_opt_flag); the IR passes are the same at every level */
    SparseMode sparse;           /* --sparse */
    bool share_compressed;       /* --share compressed: a linear reads its hashed weight
                                    through the pool (C backend) */
    IrSpanFormatter *span_fmt;   /* NDL locations for comments */
    void *span_ud;
} EmitOptions;

/* backends/c: writes the C source and header of spec section 10. False with a message
 * when the module holds something this backend cannot emit (an ICE for the caller). */
bool emitc_module(const Module *m, const EmitOptions *o, FILE *c, FILE *h, char *err,
                  size_t errlen);

/* The C identifier the generated API is named with (the model's name), malloc'd. */
char *emitc_prefix(const Module *m);

/* Output files (backends/output.c; spec section 9). backend_temp_create makes the
 * temporary that becomes path, `<path>.tmp<pid>.XXXXXX` beside it with mode 0666 & ~umask,
 * and returns its name (malloc'd; its descriptor in *fd_out, or closed when fd_out is
 * NULL). When path exists and is not a regular file it is written in place: the result is
 * path itself, opened and truncated, unless `real` asks for a regular temporary anyway
 * (one a linker writes), which then goes to backend_temp_dir(path). NULL with the
 * reason in err. backend_install moves a finished temporary (or a build directory's
 * file) to path: rename, or a copy of the bytes into a path written in place; tmp is
 * removed either way. */
char *backend_temp_create(const char *path, bool real, int *fd_out, char *err, size_t errlen);
bool backend_install(const char *tmp, const char *path, char *err, size_t errlen);
/* Where the temporaries and build directories of path go (in dir, len bytes; no
 * allocation, so an internal-error cleanup may call it): its directory, or $TMPDIR
 * (default /tmp) when path is written in place. */
void backend_temp_dir(const char *path, char *dir, size_t len);

/* --emit exe: generates the C in a temporary directory, compiles it with the runtime's
 * driver using $CC (default cc) -O3 -march=cpu, and renames the result to out_path. */
/* A temporary build directory next to out_path, in tmpl (backends/c/exe.c). */
char *backend_build_dir(const char *out_path, char *tmpl, size_t len, char *err, size_t errlen);
/* Removes dir and the n paths under it named by tree (files, or directories listed before
 * what they hold), in reverse order; paths that were never made are ignored. */
void backend_remove_build_dir(const char *dir, const char *const *tree, size_t n);
bool emitc_build_exe(const Module *m, const EmitOptions *o, const char *out_path, const char *cpu,
                     char *err, size_t errlen);

/* The optimization flag for the C compiler (and nvcc) at ndlc's level: -O0, -O1, and -O3
 * for -O2 (the default) and -O3, since the runtime's kernels are tuned at -O3. */
const char *backend_opt_flag(int opt_level);

/* Runs argv (a system tool) and waits; on failure err says "<who> 'argv[0]' failed <what>". */
bool backend_run(char *const *argv, const char *who, const char *what, char *err, size_t errlen);

/* The header of the generated API (spec section 10) alone, as emitc_module writes it:
 * the LLVM backend's object exports the same API, so it ships the same header. */
void emitc_write_header(const Module *m, const EmitOptions *o, FILE *h);

/* backends/llvm: the same planned module through the LLVM C API, optimized in-process
 * (default<O3> for --cpu, default the host) and written as textual IR, an object or an
 * executable (the object linked with the runtime's driver by $CC, default cc). False
 * with a message when it cannot (also when ndlc was built without LLVM). */
typedef enum EmitLlvmKind { EMITLL_IR, EMITLL_OBJ, EMITLL_EXE } EmitLlvmKind;
bool emitll_available(void);
bool emitll_module(const Module *m, const EmitOptions *o, EmitLlvmKind kind, const char *out_path,
                   const char *cpu, char *err, size_t errlen);

/* --emit ptx (backends/llvm/ptx_plan.c, no LLVM needed): one kernel per fused group, the
 * launch plan the host runtime (runtime/cuda/ptxrt.c) follows. A size that depends on the
 * model's symbols is a size expression (text over the symbols' names: integers, + * /
 * (floor), max(a,b), parentheses; docs/decisions.md "PTX launch plan"), which the runtime
 * evaluates once the inputs have bound the symbols; a constant size is a number. */
typedef enum PtxWhere { PTX_NULL, PTX_INPUT, PTX_OUTPUT, PTX_WEIGHT, PTX_WS } PtxWhere;
typedef struct PtxArg {
    PtxWhere at;
    uint32_t index;            /* the input or output port, or the workspace slot (PTX_WS) */
    uint64_t offset;           /* bytes from the start of that buffer, the weight block or the slot */
} PtxArg;
enum { PTX_MAX_ARGS = 16, PTX_MAX_PARAMS = 64 };
typedef struct PtxKernel {
    char *name;                /* the .entry: the layer's NDL path and op, sanitized, unique */
    const char *device_fn;     /* the function of ptx_kernels.c it calls (ndlptx_<kind>) */
    OpId op;                   /* the group head */
    uint32_t grid, block, shared;
    char *grid_expr;           /* NULL, or the grid as a size expression (grid is then 0) */
    uint32_t nargs, nparams;
    PtxArg args[PTX_MAX_ARGS]; /* the kernel's pointer parameters, in order */
    int64_t params[PTX_MAX_PARAMS]; /* sizes and attributes (the kernel's p[]) */
    /* per parameter: NULL (params[i] is a constant folded into the kernel), or its size
     * expression, passed to the kernel as an i64 after the pointers (nsized of them) */
    char *param_expr[PTX_MAX_PARAMS];
    uint32_t nsized;
} PtxKernel;
typedef struct PtxWeightAt {
    WeightId weight;
    uint64_t offset, bytes;    /* in the weight block, which create uploads once */
} PtxWeightAt;
typedef struct PtxCopy {
    uint32_t output;           /* an output not computed in place: copied at the end of run */
    PtxArg from;
    char *bytes;               /* size expression */
} PtxCopy;
typedef struct PtxPlan {
    VEC(PtxKernel) kernels;    /* in run order */
    VEC(PtxWeightAt) weights;
    VEC(PtxCopy) copies;
    uint64_t weight_bytes;
    /* the workspace: slot k's bytes (a size expression), the runtime lays the slots out
     * one after the other, each 256-byte aligned, at the sizes of the run */
    VEC(char *) slot_bytes;
    VEC(char *) input_bytes, output_bytes; /* per port, size expressions */
    bool has_error;            /* an int32 error word (index out of range) in workspace */
    uint32_t error_slot;       /* slot error_slot: run zeroes it first and reports NDLRT_EINDEX */
} PtxPlan;
/* Builds the plan; false with *bad (the op, or 0 for the model) and why when the module
 * holds something --emit ptx cannot run yet. */
bool ptx_plan_build(const Module *m, PtxPlan *p, OpId *bad, char *why, size_t len);
void ptx_plan_free(PtxPlan *p);
bool ptx_sm_valid(const char *sm);         /* the --cpu values of --emit ptx: sm_80, sm_90 */
/* The plan as the comment lines that head the PTX ("// ndlc-plan ..."), which the runtime
 * reads (format in docs/decisions.md). */
void ptx_plan_write(const PtxPlan *p, const Module *m, FILE *f);
/* The PTX for sm (sm_80 or sm_90): the plan's comment lines, then LLVM's NVPTX assembly. */
bool emitll_ptx(const Module *m, const PtxPlan *p, const char *sm, const char *out_path, char *err, size_t errlen);
/* --emit exe --backend llvm --target cuda: the PTX, weights and the model's descriptor in a
 * C file compiled by $CC with runtime/cuda/ptxrt.c and the driver, linked with -lcuda. */
bool emitll_ptx_exe(const Module *m, const PtxPlan *p, const char *sm, const char *out_path, char *err,
                    size_t errlen);

/* backends/cuda (--target cuda): writes NET.cu (CUDA C: kernels and host code, sm_80+)
 * and NET.h (the section-10 API over device pointers, plus NET_run_stream). emitcu_check
 * finds the first op without a CUDA kernel yet (*op, with the reason in why): the driver
 * reports it at the op's NDL location before anything is written. */
bool emitcu_check(const Module *m, OpId *op, char *why, size_t len);
bool emitcu_module(const Module *m, const EmitOptions *o, FILE *cu, FILE *h, char *err, size_t errlen);
/* --emit exe --target cuda: the .cu with the runtime's driver, built by nvcc ($NVCC, else
 * /usr/local/cuda/bin/nvcc or nvcc on PATH) for -arch=$NDLC_CUDA_ARCH (default native). */
bool emitcu_build_exe(const Module *m, const EmitOptions *o, const char *out_path, char *err, size_t errlen);

#endif
