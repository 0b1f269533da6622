/* SPDX-License-Identifier: MIT
 * sparse.c - which layers run sparse (spec 8.2), decided once for every backend and for
 * the report: a linear, or a 1x1 conv with stride 1, no padding and one group, whose
 * weight is a stored f32 constant, is analysed on its values as they are (exact zeros
 * count whether or not a mask put them there) and runtime/kernels/sparse.c's cost model
 * picks the format. Pure: reads the module, changes nothing.
 */
#include "backend.h"

/* The size of d at its bound, or 1 when some symbol is unbounded (batch 1). */
static int64_t dim_typical(const Module *m, Dim d)
{
    if (d >= 0) return d;
    int64_t u = ir_dim_upper(m, d);
    return u > 0 ? u : 1;
}

static bool is_conv1x1(const Module *m, const Op *op)
{
    const TensorType *w = ir_type(m, ir_operand(m, op, 1));
    const int64_t *st = ir_op_ints(m, op, ATTR_STRIDE, NULL), *pd = ir_op_ints(m, op, ATTR_PAD, NULL);
    return w->rank == 4 && w->dims[2] == 1 && w->dims[3] == 1 && st[0] == 1 && st[1] == 1 && pd[0] == 0 &&
           pd[1] == 0 && ir_op_int(m, op, ATTR_GROUPS) == 1;
}

bool sparse_layer(const Module *m, const Op *op, SparseMode mode, SparseLayer *out)
{
    *out = (SparseLayer){.format = NDLRT_SPARSE_DENSE};
    if ((op->flags & OPF_DEAD) || (op->kind != OP_LINEAR && op->kind != OP_CONV2D)) return false;
    const Value *wv = &m->values.v[ir_operand(m, op, 1)];
    if ((wv->kind != VAL_PARAM && wv->kind != VAL_CONST) || !wv->weight) return false;
    const Weight *w = &m->weights.v[wv->weight];
    if (w->type.dtype != DT_F32 || !w->data) return false;
    const TensorType *x = ir_type(m, ir_operand(m, op, 0)), *y = ir_type(m, op->out);
    if (op->kind == OP_LINEAR) {
        if (w->type.rank != 2) return false;
        out->cols = 1;
        for (unsigned i = 0; i + 1 < x->rank; i++) out->cols *= dim_typical(m, x->dims[i]);
    } else {
        if (!is_conv1x1(m, op)) return false;
        unsigned b = x->rank == 4;
        out->cols = dim_typical(m, y->dims[b + 1]) * dim_typical(m, y->dims[b + 2]);
    }
    int64_t n = w->type.dims[0], k = w->type.dims[1];
    ndlrt_sparse_analyze(n, k, w->data, &out->info);
    static const int force[] = {[SPARSE_AUTO] = NDLRT_SPARSE_AUTO, [SPARSE_OFF] = NDLRT_SPARSE_DENSE,
                                [SPARSE_CSR] = NDLRT_SPARSE_CSR, [SPARSE_BLOCK] = NDLRT_SPARSE_BLOCK,
                                [SPARSE_NM] = NDLRT_SPARSE_NM, [SPARSE_ELL] = NDLRT_SPARSE_ELL};
    out->format = ndlrt_sparse_choose(&out->info, out->cols, op->kind == OP_LINEAR, force[mode]);
    out->packed_floats = ndlrt_sparse_packed_floats(&out->info, out->format);
    return true;
}

/* The GPU has kernels for two of the formats (runtime/cuda/ndlcu.cuh): CSR, a warp per output
 * over a row's nonzeros, and N:M. BLOCK and ELL are laid out for AVX-512 registers (16-row
 * panels, permute indices); where the CPU picks them the layer is just as sparse, so the GPU
 * reads it as CSR, which stores exactly its nonzeros. */
int sparse_gpu_format(int format)
{
    switch (format) {
    case NDLRT_SPARSE_CSR: case NDLRT_SPARSE_BLOCK: case NDLRT_SPARSE_ELL: return NDLRT_SPARSE_CSR;
    case NDLRT_SPARSE_NM: return NDLRT_SPARSE_NM;
    default: return NDLRT_SPARSE_DENSE;
    }
}

const char *sparse_format_name(int format)
{
    switch (format) {
    case NDLRT_SPARSE_CSR: return "csr";
    case NDLRT_SPARSE_BLOCK: return "block16";
    case NDLRT_SPARSE_NM: return "nm";
    case NDLRT_SPARSE_ELL: return "ell16x64";
    default: return "dense";
    }
}
