/* SPDX-License-Identifier: MIT
 * fold.c - constant folding: an op whose operands are all parameters or constants (so it
 * depends on no model input) is evaluated now, with the interpreter's own kernels
 * (interp_eval_op), and replaced by a VAL_CONST. Its uses (and model outputs) are
 * redirected to the constant and the op is marked OPF_DEAD; ir_compact at the end drops
 * it and the parameters nothing uses any more. Ops are visited in order, so a chain of
 * parameter expressions (slice -> reshape -> mul ...) folds in one sweep.
 *
 * Every parameter expression (spec 8.5) folds whatever its size, so the artefact stores
 * the predicted weights (--hyper fold, the default); under --hyper init its ops carry
 * OPF_INIT (passes/hyper.c) and are left for create. Size rule, for a `hashed` expansion
 * only (parameter sharing, spec 8.3): it folds when its result has at most
 *     max(total bytes of its operands, FOLD_FREE_BYTES = 1 MiB)
 * bytes, so a large one stays an op computed from its small pool.
 * A large rank-2 matmul (a low-rank product `lowrank(u, v)` of predicted factors) is
 * evaluated with the runtime's GEMM instead of the interpreter's plain loops, so folding
 * the weights of a GPT-2-sized model takes seconds (fast_matmul).
 * With --share (cx->keep_hashed) no `hashed` expansion folds: the artefact keeps the pool
 * and the backend expands it once when the model is created.
 * Not folded either: results with a symbolic dim, and ops whose evaluation fails (an
 * index out of range in a constant `take`), which then fail at run time as before.
 * Folded constants get readable names for generated code: "L.weight"/"L.bias" when read
 * as such by linear/conv2d layer L, else "<parameter or layer path>.<ops>", e.g.
 * "attn.in_proj_weight.slice" (see chain_name and name_constants).
 */
#include <stdlib.h>
#include <string.h>
#include "passes.h"
#include "../runtime/ndlrt.h"

#define FOLD_FREE_BYTES ((size_t)1 << 20)

static bool is_constant(const Module *m, ValueId v)
{
    ValueKind k = ir_value(m, v)->kind;
    return k == VAL_PARAM || k == VAL_CONST;
}

/* Bytes of a type with concrete dims, or SIZE_MAX when a dim is symbolic. */
static size_t type_bytes(const TensorType *t)
{
    size_t n = dtype_info[t->dtype].size;
    for (unsigned i = 0; i < t->rank; i++) {
        if (t->dims[i] < 0) return SIZE_MAX;
        if (t->dims[i] && n > SIZE_MAX / (size_t)t->dims[i]) return SIZE_MAX;
        n *= (size_t)t->dims[i];
    }
    return n;
}

/* Can op be evaluated now, and is its result small enough to store (the size rule, for
 * `hashed` only: any other op on constants is a parameter expression, which --hyper fold
 * evaluates whatever its size)? Init ops of --hyper init are left to create. */
static bool foldable(const Module *m, const Op *op)
{
    if (op->flags & OPF_INIT) return false;
    size_t in_bytes = 0;
    for (unsigned i = 0; i < op->nin; i++) {
        ValueId v = ir_operand(m, op, i);
        if (!v) continue;
        if (!is_constant(m, v)) return false;
        in_bytes += m->weights.v[ir_value(m, v)->weight].nbytes;
    }
    size_t out_bytes = type_bytes(ir_type(m, op->out));
    if (out_bytes == SIZE_MAX) return false;
    return op->kind != OP_HASHED || out_bytes <= (in_bytes > FOLD_FREE_BYTES ? in_bytes : FOLD_FREE_BYTES);
}

typedef struct Folded {     /* a constant made by this pass */
    const char *chain;      /* provisional name, "<base>.<op>" */
    bool of_param;          /* base is a parameter of the op's layer */
} Folded;

/* The provisional name "<base>.<op>": base is the first named operand when it lies in
 * op's layer ("attn.in_proj_weight" in layer "attn"), else the layer path, else the
 * first named operand (a folded operand's own name, so chains read "A.slice.kron"). */
static Folded chain_name(Module *m, const Op *op)
{
    const char *base;
    ValueId first = 0;
    for (unsigned i = 0; i < op->nin && !first; i++) {
        ValueId v = ir_operand(m, op, i);
        if (v && ir_value(m, v)->name) first = v;
    }
    const char *operand = first ? ir_value(m, first)->name : NULL;
    size_t n = op->name ? strlen(op->name) : 0;
    bool inside = operand && op->name && strncmp(operand, op->name, n) == 0 && operand[n] == '.';
    if (inside)
        base = operand;
    else if (op->name)
        base = op->name;
    else
        base = operand ? operand : "const";
    return (Folded){arena_printf(m->arena, "%s.%s", base, op_info[op->kind].name),
                    inside && ir_value(m, first)->kind == VAL_PARAM};
}

/* Final names of the constants this pass made that are still used (folded[i] describes
 * value first + i). A constant read as weight or bias by a linear or conv2d of layer L
 * is "L.weight" / "L.bias" (a `weight = expr` argument), unless it is one op applied to
 * a parameter of L, which reads better as such ("attn.in_proj_weight.slice"). Others
 * keep their chain name. Names are made unique with a "_2", "_3" suffix. */
static void name_constants(Module *m, ValueId first, const Folded *folded)
{
    uint32_t *uses = ir_count_uses(m);
    for (ValueId c = first; c < m->values.n; c++) m->values.v[c].name = NULL;
    for (ValueId c = first; c < m->values.n; c++) {
        if (!uses[c]) continue;
        const char *base = folded[c - first].chain;
        bool keep = folded[c - first].of_param;
        for (OpId o = 1; o < m->ops.n; o++) {
            const Op *op = ir_op(m, o);
            if (op->flags & OPF_DEAD) continue;
            unsigned i = 0;
            while (i < op->nin && ir_operand(m, op, i) != c) i++;
            if (i == op->nin) continue;
            size_t n = op->name ? strlen(op->name) : 0;
            if ((op->kind == OP_LINEAR || op->kind == OP_CONV2D) && (i == 1 || i == 2) &&
                op->name && !(keep && strncmp(base, op->name, n) == 0 && base[n] == '.'))
                base = arena_printf(m->arena, "%s.%s", op->name, i == 1 ? "weight" : "bias");
            break; /* the first reader decides */
        }
        m->values.v[c].name = ir_unique_name(m, base);
    }
    free(uses);
}

typedef VEC(Folded) FoldedVec;

/* Multiply-adds above which a rank-2 f32 matmul runs on the runtime's GEMM. */
#define FOLD_GEMM_MACS ((int64_t)1 << 20)

/* c = a . b for rank-2 operands with the optimized kernel; false when op is not such a
 * matmul or is too small to be worth it (the interpreter then evaluates it). */
static bool fast_matmul(const Module *m, const Op *op, const Tensor *in, Tensor *out)
{
    if (op->kind != OP_MATMUL || in[0].rank != 2 || in[1].rank != 2 || in[0].dtype != DT_F32) return false;
    int64_t rows = in[0].dims[0], inner = in[0].dims[1], cols = in[1].dims[1];
    if (rows * inner * cols < FOLD_GEMM_MACS) return false;
    NdlrtMatmul p = {.batch = 1, .m = rows, .n = cols, .k = inner};
    float *scratch = xmalloc((ndlrt_matmul_scratch_floats(&p) + 1) * sizeof *scratch);
    const TensorType *t = ir_type(m, op->out);
    *out = (Tensor){.dtype = DT_F32, .rank = 2, .dims = {t->dims[0], t->dims[1]}};
    out->data = xmalloc((size_t)(rows * cols) * sizeof(float) + 1);
    ndlrt_matmul_f32(&p, in[0].data, in[1].data, out->data, scratch);
    free(scratch);
    return true;
}

/* Evaluates op (foldable) and returns the constant holding its result (described in
 * *folded), or 0. */
static ValueId fold_op(Module *m, const Op *op, FoldedVec *folded)
{
    Tensor fixed[8] = {{0}}, *in = op->nin <= 8 ? fixed : xcalloc(op->nin, sizeof *in), out;
    for (unsigned i = 0; i < op->nin; i++) {
        ValueId v = ir_operand(m, op, i);
        memset(&in[i], 0, sizeof in[i]);
        if (!v) continue;
        const Value *val = ir_value(m, v);
        in[i].dtype = val->type.dtype;
        in[i].rank = val->type.rank;
        for (unsigned d = 0; d < val->type.rank; d++) in[i].dims[d] = val->type.dims[d];
        in[i].data = m->weights.v[val->weight].data;
    }
    char err[256];
    bool ok = fast_matmul(m, op, in, &out) || interp_eval_op(m, op, in, &out, err, sizeof err);
    if (in != fixed) free(in);
    if (!ok) return 0; /* left to fail (or not) at run time */
    TensorType t = *ir_type(m, op->out);
    Folded f = chain_name(m, op);
    Span span = op->span;
    ValueId c = ir_add_const(m, &t, out.data, span); /* copies the data */
    tensor_free(&out);
    m->values.v[c].name = f.chain;
    vec_push(*folded, f);
    return c;
}

bool pass_fold(PassContext *cx)
{
    Module *m = cx->m;
    uint32_t nv = m->values.n, no = m->ops.n;
    ValueId *repl = xcalloc(nv, sizeof *repl); /* result of a folded op -> its constant */
    FoldedVec folded = {0};                    /* what values nv, nv+1 ... are */
    bool changed = false;
    for (OpId o = 1; o < no; o++) {
        Op *op = ir_op(m, o);
        if (op->flags & OPF_DEAD) continue;
        for (unsigned i = 0; i < op->nin; i++) {
            ValueId *a = &m->operands.v[op->in + i];
            if (*a && *a < nv && repl[*a]) *a = repl[*a];
        }
        if (!foldable(m, op) || (op->kind == OP_HASHED && cx->keep_hashed)) continue;
        ValueId c = fold_op(m, op, &folded);
        if (!c) continue;
        op = ir_op(m, o);
        op->flags |= OPF_DEAD;
        repl[op->out] = c;
        changed = true;
    }
    for (uint32_t i = 0; i < m->outputs.n; i++) {
        ValueId v = m->outputs.v[i].value;
        if (v < nv && repl[v]) m->outputs.v[i].value = repl[v];
    }
    free(repl);
    if (changed) {
        name_constants(m, nv, folded.v);
        ir_compact(m);
    }
    vec_free(folded);
    return true;
}
