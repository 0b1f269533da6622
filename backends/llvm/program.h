/* SPDX-License-Identifier: MIT
 * program.h - the model "program" the LLVM backend embeds as one constant int64 array,
 * read by the generic executor (rt/exec.c) that is compiled into the object with it.
 *
 * The emitter (emit.c) serializes the planned, fused IR: storage rows (where each tensor
 * lives and its dims), then one record per layer (the group head's op, its tensors as
 * rows, its epilogue and attributes). The executor reads the same record at run time and
 * calls the runtime kernels, so nothing here is a second lowering of the graph: the
 * passes and backends/plan.c decided everything, this is their result as data.
 * Dims use the IR's encoding (ir.h): >= 0 a size, < 0 the symbolic dim -(k+1), whose
 * expression is entry k of the dim table. Both sides number ops from the IR's
 * lists (op kinds, attribute keys, dtypes), so their numbering cannot drift.
 */
#ifndef NDLC_LLVM_PROGRAM_H
#define NDLC_LLVM_PROGRAM_H

/* The IR's op kinds, attribute keys and dtypes, numbered exactly as ir.h numbers them
 * (same lists, same expansion), for the executor, which cannot include ir.h beside the
 * runtime it is compiled with. emit.c checks that the counts agree. */
enum NdlllOp {
#define A(k)
#define NOATTR
#define OP(E, name, nin, flags, ...) NDLLL_OP_##E,
#include "../../ir/ops.def"
#undef OP
#undef NOATTR
#undef A
    NDLLL_OP_COUNT
};
enum NdlllAttr {
    NDLLL_ATTR_NONE,
#define ATTR(E, name, kind) NDLLL_ATTR_##E,
#include "../../ir/attrs.def"
#undef ATTR
    NDLLL_ATTR_COUNT
};
enum NdlllDType {
#define DT(E, name, size, ctype, stname) NDLLL_DT_##E,
#include "../../ir/dtypes.def"
#undef DT
    NDLLL_DT_COUNT
};

#define NDLLL_MAGIC 0x4e444c4c31LL   /* "NDLL1" */

/* header words: prog[NDLLL_H_*] */
enum {
    NDLLL_H_MAGIC,
    NDLLL_H_NSYMS,        /* run-time symbols (s[0..nsyms)) */
    NDLLL_H_NSLOTS,       /* workspace slots of plan.c; slot nslots is the kernels' scratch */
    NDLLL_H_NLAYERS,
    NDLLL_H_NINPUTS,
    NDLLL_H_NOUTPUTS,
    NDLLL_H_NWEIGHTS,
    NDLLL_H_EXTERNAL,     /* 1: weights are loaded by create from a safetensors file */
    NDLLL_H_DIMS,         /* offset of the dim table: NDLLL_DIM_WORDS words per entry */
    NDLLL_H_ROWS,         /* offset of the row table: NDLLL_ROW_WORDS words per row */
    NDLLL_H_NROWS,
    NDLLL_H_LAYERS,       /* offset of nlayers offsets, each to a layer record */
    NDLLL_H_OUTPUTS,      /* offset of noutputs pairs {row, copy}: copy = 1 when the output
                             is not computed in place and is copied at the end of run */
    NDLLL_H_BOUNDS,       /* offset of nsyms bounds (0: unbounded) */
    NDLLL_H_WEIGHTS,      /* offset of nweights triples {safetensors dtype, elements, bytes} */
    NDLLL_H_NDYN,         /* dynamic symbols (moe row counts), s[nsyms .. nsyms+ndyn): set by
                             the moe_gather layers while the model runs */
    NDLLL_H_DYNMAX,       /* offset of ndyn dims (IR encoding): each one's maximum, over the
                             run-time symbols, at which the workspace is planned */
    NDLLL_H_NINIT,        /* init buffers of an instance (NDLLL_AT_INIT): filled once by create */
    NDLLL_H_INIT,         /* offset of ninit rows: buffer k holds that row's bytes (concrete
                             dims); -1: a pack entry allocates it, or nothing reads it (a
                             hashed weight that its linears read from the pool) */
    NDLLL_H_NINIT_LAYERS,
    NDLLL_H_INIT_LAYERS,  /* offset of ninit_layers offsets, each to a layer record that create
                             runs, in order (--hyper init's init part, hashed expansions) */
    NDLLL_H_NPACKS,
    NDLLL_H_PACKS,        /* offset of npacks triples {source row, buffer, run layer}: create
                             packs an init value into the buffer, in the dense layout of the
                             run layer that reads it as operand 1 (a linear or conv2d) */
    NDLLL_H_WORDS
};

/* symbols of a run, run-time and dynamic ones together (the executor's stack arrays) */
#define NDLLL_MAX_SYMS 256

/* a dim table entry: coef, nsym, then up to 4 symbol indices (0-based into s[]) */
enum { NDLLL_DIM_COEF, NDLLL_DIM_NSYM, NDLLL_DIM_SYM0, NDLLL_DIM_WORDS = NDLLL_DIM_SYM0 + 4 };

/* where a tensor's bytes live */
enum { NDLLL_AT_INPUT, NDLLL_AT_OUTPUT, NDLLL_AT_WEIGHT, NDLLL_AT_WS, NDLLL_AT_INIT };

/* a row: one tensor as a layer sees it */
enum {
    NDLLL_ROW_AT,         /* NDLLL_AT_* */
    NDLLL_ROW_INDEX,      /* input, output, weight table entry or workspace slot */
    NDLLL_ROW_DTYPE,      /* DType (ir.h) */
    NDLLL_ROW_OWN,        /* 1: the row's bytes size its workspace slot (not a view) */
    NDLLL_ROW_RANK,
    NDLLL_ROW_DIMS,       /* rank dims follow, IR_MAX_RANK words reserved */
    NDLLL_ROW_WORDS = NDLLL_ROW_DIMS + 8
};

/* a layer record:
 *   op kind, nt, rows[nt] (operands in IR order, then the residual if fused, then the
 *   stored result; -1 for an absent optional operand), act, act2 (NdlrtAct), residual
 *   (index into rows or -1), packed (NDLLL_PACK_*: how operand 1 was packed at compile
 *   time, or by create for an init value), nattr, then per attribute: key, n, n words (AK_FLOAT: the double's bits). */
enum { NDLLL_L_OP, NDLLL_L_NT, NDLLL_L_ROWS };
enum {
    NDLLL_PACK_NONE,   /* operand 1 as stored: the layer packs it into scratch */
    NDLLL_PACK_DENSE,  /* the dense kernel's layout (ndlrt_linear_pack / ndlrt_conv2d_pack) */
    NDLLL_PACK_SPARSE, /* ndlrt_sparse_pack: the sparse linear / 1x1 conv kernels */
    NDLLL_PACK_HASHED  /* --share compressed: operand 1 is the pool of a `hashed` weight (its
                          row has the weight's dims over the pool's weight entry) and the
                          attributes end with the hash's SEED: ndlrt_linear_hashed_f32 */
};

#endif
