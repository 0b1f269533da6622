/* SPDX-License-Identifier: MIT
 * prune.c - structured pruning (spec 8.2): output channels of a conv2d / rows of a linear
 * whose weight is all zero are removed, with the matching input channels of every
 * consumer, so the graph becomes a smaller dense one.
 *
 * A "channel space" is a set of values that must be sliced alike: the output of a pruned
 * layer (a source) and every value connected to it through channel-wise ops (unary
 * elementwise, batch_norm, same-shape add/sub/mul, pooling, spatial reductions), forwards
 * and backwards, so both operands of a residual add are one space. Channel axis: 1. Its
 * readers are either sinks (a conv2d with groups 1 or a linear on [N,C], reading it as
 * input) or anything else, which pins the whole space.
 * A zero row's output is the constant b[c] everywhere, carried through the channel-wise
 * ops; channel c goes when it is constant in every value of the space, and then each
 * sink adds c's constant times its weights to its bias (exact for a linear and for an
 * unpadded conv; a zero-padded conv takes only a zero constant). Channels kept for a
 * reason are listed with it in Module.removals. The pass never changes the model's
 * meaning beyond float rounding of the folded bias (computed in double).
 * Attention heads go first, by their own rule (remove_heads, below).
 */
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "passes.h"

typedef struct Space {
    int64_t channels;
    const char *pinned;   /* why no channel of this space can go, or NULL */
    const char **why;     /* [channels]: why channel c must stay, or NULL */
    int64_t *keep;        /* kept channels, ascending, after decide() */
    int64_t nkeep;
} Space;

typedef struct Pruner {
    Module *m;
    uint32_t nv;
    uint32_t *uses;       /* per value: readers */
    bool *layer;          /* per op: is_layer(), fixed before any rewriting */
    uint32_t *space;      /* per value: its space + 1, 0 for none */
    VEC(Space) spaces;
    double **konst;       /* per member value: [channels] constant of channel c ... */
    bool **is_const;      /* ... when is_const[v][c] */
    ValueId *stack;
    uint32_t nstack;
} Pruner;

static bool is_constant_f32(const Module *m, ValueId v)
{
    const Value *val = ir_value(m, v);
    return (val->kind == VAL_PARAM || val->kind == VAL_CONST) && val->type.dtype == DT_F32;
}

static const float *data_of(const Module *m, ValueId v)
{
    return v ? m->weights.v[ir_value(m, v)->weight].data : NULL;
}

static const char *op_label(const Module *m, const Op *op)
{
    return op->name ? arena_printf(m->arena, "%s '%s'", op_info[op->kind].name, op->name)
                    : op_info[op->kind].name;
}

/* A constant parameter only `op` reads (so slicing it changes no other layer). */
static bool own_weight(const Pruner *p, ValueId v)
{
    return v && is_constant_f32(p->m, v) && p->uses[v] == 1;
}

/* conv2d (groups 1, batched) or linear on [N,C]: reads channel axis 1 of operand 0
 * against axis 1 of its weight, and writes its output channels along axis 1 from the
 * weight's rows. */
static bool classify_layer(const Pruner *p, const Op *op)
{
    const Module *m = p->m;
    if (op->flags & OPF_DEAD) return false;
    if (op->kind == OP_CONV2D) {
        if (ir_op_int(m, op, ATTR_GROUPS) != 1 || ir_type(m, op->out)->rank != 4) return false;
    } else if (op->kind == OP_LINEAR) {
        if (ir_type(m, op->out)->rank != 2) return false;
    } else {
        return false;
    }
    ValueId b = ir_operand(m, op, 2);
    return own_weight(p, ir_operand(m, op, 1)) && (!b || own_weight(p, b));
}

static bool is_layer(const Pruner *p, const Op *op)
{
    return p->layer[op - p->m->ops.v];
}

/* Ops whose output channel c depends only on channel c of the operands `channel_operand`
 * accepts. */
static bool is_channelwise(const Module *m, const Op *op)
{
    if (op->flags & OPF_DEAD) return false;
    const TensorType *out = ir_type(m, op->out);
    if (out->rank < 2) return false;
    switch (op->kind) {
    case OP_ADD: case OP_SUB: case OP_MUL:
        return ir_type_equal(ir_type(m, ir_operand(m, op, 0)), out) &&
               ir_type_equal(ir_type(m, ir_operand(m, op, 1)), out);
    case OP_BATCH_NORM:
        for (unsigned i = 1; i < 5; i++) {
            ValueId v = ir_operand(m, op, i);
            if (i <= 2 && !v) return false;
            if (v && !(is_constant_f32(m, v) && ir_type(m, v)->rank == 1)) return false;
        }
        return true;
    case OP_MAX_POOL2D: case OP_AVG_POOL2D:
        return out->rank == 4;
    case OP_REDUCE_MEAN: case OP_REDUCE_MAX: case OP_REDUCE_MIN: {
        uint32_t n;
        const int64_t *dims = ir_op_ints(m, op, ATTR_DIMS, &n);
        if (ir_type(m, ir_operand(m, op, 0))->rank != 4 || n == 0) return false;
        for (uint32_t i = 0; i < n; i++)
            if (dims[i] < 2) return false; /* batch and channel axes stay */
        return true;
    }
    default:
        return (op_info[op->kind].flags & OPF_EW1) != 0;
    }
}

/* Operand i of a channel-wise op carries its channels (not a BatchNorm parameter). */
static bool channel_operand(const Op *op, unsigned i)
{
    return op->kind == OP_ADD || op->kind == OP_SUB || op->kind == OP_MUL ? i < 2 : i == 0;
}

static void pin(Space *s, const char *why)
{
    if (!s->pinned) s->pinned = why;
}

static void visit(Pruner *p, ValueId v, uint32_t sid)
{
    if (p->space[v]) return;
    p->space[v] = sid + 1;
    p->stack[p->nstack++] = v;
}

/* Collects the space of source value `root` (all values start unassigned). */
static void grow_space(Pruner *p, ValueId root)
{
    Module *m = p->m;
    uint32_t sid = p->spaces.n;
    vec_push(p->spaces, ((Space){.channels = ir_type(m, root)->dims[1]}));
    visit(p, root, sid);
    while (p->nstack) {
        ValueId v = p->stack[--p->nstack];
        Space *s = &p->spaces.v[sid];
        const Value *val = ir_value(m, v);
        if (val->type.rank < 2 || val->type.dims[1] != s->channels)
            pin(s, "its channels change layout on the way");
        for (uint32_t i = 0; i < m->outputs.n; i++)
            if (m->outputs.v[i].value == v)
                pin(s, arena_printf(m->arena, "model output '%s' carries it", m->outputs.v[i].name));
        if (val->kind != VAL_RESULT) {
            pin(s, val->kind == VAL_INPUT
                       ? arena_printf(m->arena, "it is added to model input '%s'", val->name)
                       : "it is combined with a constant tensor");
        } else {
            const Op *def = ir_op(m, val->def);
            if (is_channelwise(m, def)) {
                for (unsigned i = 0; i < def->nin; i++)
                    if (channel_operand(def, i)) visit(p, ir_operand(m, def, i), sid);
            } else if (!is_layer(p, def)) {
                pin(s, arena_printf(m->arena, "it comes from %s", op_label(m, def)));
            }
        }
        for (OpId o = 1; o < m->ops.n; o++) {
            const Op *op = ir_op(m, o);
            if (op->flags & OPF_DEAD) continue;
            for (unsigned i = 0; i < op->nin; i++) {
                if (ir_operand(m, op, i) != v) continue;
                if (is_channelwise(m, op) && channel_operand(op, i)) visit(p, op->out, sid);
                else if (!(i == 0 && is_layer(p, op)))
                    pin(&p->spaces.v[sid], arena_printf(m->arena, "%s reads it", op_label(m, op)));
            }
        }
    }
}

static float eval_unary(OpKind kind, float x)
{
    switch (kind) {
#define EW1(K, name, expr) case OP_##K: return expr;
#include "../ir/eltwise.def"
#undef EW1
    default: NDLC_ICE("eval_unary: %s is not unary elementwise", op_info[kind].name);
    }
}

/* Per output channel of a conv2d / linear: its weight row is all zero (malloc'd). */
static bool *zero_rows(const Module *m, const Op *op)
{
    const TensorType *wt = ir_type(m, ir_operand(m, op, 1));
    const float *W = data_of(m, ir_operand(m, op, 1));
    int64_t inner = 1;
    for (unsigned i = 1; i < wt->rank; i++) inner *= wt->dims[i];
    bool *zero = xmalloc((size_t)wt->dims[0] + 1);
    for (int64_t c = 0; c < wt->dims[0]; c++) {
        zero[c] = true;
        for (int64_t i = 0; i < inner && zero[c]; i++) zero[c] = W[c * inner + i] == 0.0f;
    }
    return zero;
}

/* The constant each channel of op's result holds, from its operands' constants. */
static void propagate(Pruner *p, const Op *op, Space *s)
{
    Module *m = p->m;
    int64_t C = s->channels;
    if (s->pinned) return; /* nothing goes; the channel counts may even differ */
    double *k = p->konst[op->out] = xcalloc((size_t)C, sizeof *k);
    bool *is = p->is_const[op->out] = xcalloc((size_t)C, sizeof *is);
    ValueId a = ir_operand(m, op, 0);
    if (op->kind == OP_CONV2D || op->kind == OP_LINEAR) {
        bool *zero = zero_rows(m, op);
        const float *B = data_of(m, ir_operand(m, op, 2));
        for (int64_t c = 0; c < C; c++) {
            is[c] = zero[c];
            k[c] = B ? B[c] : 0.0;
        }
        free(zero);
        return;
    }
    if (!p->is_const[a]) return; /* an operand outside the space: nothing is constant */
    for (int64_t c = 0; c < C; c++) {
        is[c] = p->is_const[a][c];
        double x = p->konst[a][c];
        if (op_info[op->kind].flags & OPF_EW1) {
            k[c] = eval_unary(op->kind, (float)x);
        } else if (op->kind == OP_BATCH_NORM) {
            const float *mean = data_of(m, ir_operand(m, op, 1)), *var = data_of(m, ir_operand(m, op, 2));
            const float *g = data_of(m, ir_operand(m, op, 3)), *beta = data_of(m, ir_operand(m, op, 4));
            double inv = 1.0 / sqrt((double)var[c] + ir_op_float(m, op, ATTR_EPS));
            k[c] = (x - mean[c]) * inv * (g ? g[c] : 1.0) + (beta ? beta[c] : 0.0);
        } else if (op->kind == OP_ADD || op->kind == OP_SUB || op->kind == OP_MUL) {
            ValueId b = ir_operand(m, op, 1);
            bool other = p->is_const[b] && p->is_const[b][c];
            double y = other ? p->konst[b][c] : 0.0;
            if (is[c] != other && !s->why[c])
                s->why[c] = op->name ? arena_printf(m->arena, "residual %s in '%s' adds a channel "
                                                    "that is not constant", op_info[op->kind].name, op->name)
                                     : "a residual add adds a channel that is not constant";
            is[c] = is[c] && other;
            k[c] = op->kind == OP_ADD ? x + y : op->kind == OP_SUB ? x - y : x * y;
        } else if (op->kind == OP_AVG_POOL2D) {
            const int64_t *pad = ir_op_ints(m, op, ATTR_PAD, &(uint32_t){0});
            if (x != 0 && (pad[0] || pad[1])) { /* the border averages in the zero padding */
                if (is[c] && !s->why[c]) s->why[c] = "a zero-padded avg_pool2d reads it";
                is[c] = false;
            }
            k[c] = x;
        } else {
            k[c] = x; /* max_pool2d, reduce_mean/max/min over space: a constant stays */
        }
    }
}

/* Which channels of space s go: constant in every value, foldable by every sink. */
static void decide(Pruner *p, uint32_t sid)
{
    Module *m = p->m;
    Space *s = &p->spaces.v[sid];
    int64_t C = s->channels;
    bool *go = xcalloc((size_t)C, sizeof *go);
    for (int64_t c = 0; c < C; c++) go[c] = !s->pinned;
    for (ValueId v = 1; v < p->nv; v++) {
        if (p->space[v] != sid + 1) continue;
        for (int64_t c = 0; c < C; c++)
            go[c] = go[c] && p->is_const[v] && p->is_const[v][c];
    }
    for (OpId o = 1; o < m->ops.n; o++) { /* sinks: a padded conv folds only zeros */
        const Op *op = ir_op(m, o);
        ValueId x = op->nin ? ir_operand(m, op, 0) : 0;
        if (!x || p->space[x] != sid + 1 || !is_layer(p, op) || op->kind != OP_CONV2D) continue;
        const int64_t *pad = ir_op_ints(m, op, ATTR_PAD, &(uint32_t){0});
        if (!pad[0] && !pad[1]) continue;
        for (int64_t c = 0; c < C; c++) {
            if (!go[c] || p->konst[x][c] == 0.0) continue;
            go[c] = false;
            s->why[c] = arena_printf(m->arena, "zero-padded %s reads it: a nonzero constant "
                                     "cannot fold into its bias exactly", op_label(m, op));
        }
    }
    int64_t n = 0;
    for (int64_t c = 0; c < C; c++) n += !go[c];
    if (n == 0) { /* keep one channel: no tensor becomes empty */
        go[C - 1] = false;
        s->why[C - 1] = "one channel stays so that no tensor is empty";
        n = 1;
    }
    s->keep = arena_alloc(m->arena, (size_t)n * sizeof *s->keep);
    s->nkeep = 0;
    for (int64_t c = 0; c < C; c++)
        if (!go[c]) s->keep[s->nkeep++] = c;
    free(go);
}

/* Records, for the report, what happened to the zero rows of source layer op. */
static void record(Pruner *p, const Op *op)
{
    Module *m = p->m;
    const Space *s = &p->spaces.v[p->space[op->out] - 1];
    bool *zero = zero_rows(m, op);
    IrRemoval r = {.layer = op->name ? op->name : op_info[op->kind].name, .unit = "channel",
                   .channels = ir_type(m, ir_operand(m, op, 1))->dims[0]};
    int64_t *removed = arena_alloc(m->arena, (size_t)r.channels * sizeof *removed);
    int64_t *kept = arena_alloc(m->arena, (size_t)r.channels * sizeof *kept);
    const char **why = arena_alloc(m->arena, (size_t)r.channels * sizeof *why);
    for (int64_t c = 0, j = 0; c < r.channels; c++) {
        while (j < s->nkeep && s->keep[j] < c) j++;
        if (!zero[c]) continue;
        if (s->pinned || (j < s->nkeep && s->keep[j] == c)) {
            why[r.nkept] = s->pinned ? s->pinned : s->why[c] ? s->why[c] : "it is not constant";
            kept[r.nkept++] = c;
        } else {
            removed[r.nremoved++] = c;
        }
    }
    free(zero);
    r.removed = removed;
    r.kept = kept;
    r.why = why;
    if (r.nremoved || r.nkept) vec_push(m->removals, r);
}

/* A constant of type t with data, replacing operand i of op: "<old name>.pruned", or
 * "<base>.pruned" when the old one has none (or is absent). */
static void replace_operand(Module *m, Op *op, unsigned i, const TensorType *t, const float *data,
                            const char *base)
{
    ValueId old = ir_operand(m, op, i);
    ValueId v = ir_add_const(m, t, data, op->span);
    const char *key = old ? m->weights.v[ir_value(m, old)->weight].key : NULL;
    m->weights.v[ir_value(m, v)->weight].key = key; /* the same parameter, smaller */
    if (old && ir_value(m, old)->name) base = ir_value(m, old)->name;
    m->values.v[v].name = ir_unique_name(m, arena_printf(m->arena, "%s.pruned", base));
    m->operands.v[op->in + i] = v;
}

static const int64_t *keep_of(const Pruner *p, ValueId v, int64_t *n, const int64_t *all)
{
    uint32_t sid = p->space[v];
    if (sid && p->spaces.v[sid - 1].nkeep < p->spaces.v[sid - 1].channels) {
        *n = p->spaces.v[sid - 1].nkeep;
        return p->spaces.v[sid - 1].keep;
    }
    return all; /* identity: *n already holds the full count */
}

/* Slices a conv2d / linear's weight rows (its output space) and columns (its input
 * space), and folds the constants of removed input channels into its bias:
 *     b'[o] = b[o] + sum over removed c of k[c] * sum over taps W[o, c, taps]   (double) */
static void shrink_layer(Pruner *p, Op *op)
{
    Module *m = p->m;
    ValueId x = ir_operand(m, op, 0), w = ir_operand(m, op, 1), b = ir_operand(m, op, 2);
    TensorType wt = *ir_type(m, w);
    int64_t O = wt.dims[0], I = wt.dims[1], taps = 1;
    for (unsigned i = 2; i < wt.rank; i++) taps *= wt.dims[i];
    int64_t *all = xmalloc((size_t)(O > I ? O : I) * sizeof *all);
    for (int64_t i = 0; i < (O > I ? O : I); i++) all[i] = i;
    int64_t no = O, ni = I;
    const int64_t *ko = p->space[op->out] ? keep_of(p, op->out, &no, all) : all;
    const int64_t *ki = keep_of(p, x, &ni, all);
    if (no == O && ni == I) {
        free(all);
        return;
    }
    const float *W = data_of(m, w), *B = data_of(m, b);
    bool *kept_in = xcalloc((size_t)I, sizeof *kept_in);
    for (int64_t j = 0; j < ni; j++) kept_in[ki[j]] = true;
    float *nw = xmalloc((size_t)(no * ni * taps + 1) * sizeof *nw);
    float *nb = xmalloc((size_t)(no + 1) * sizeof *nb);
    bool any_bias = B != NULL;
    for (int64_t r = 0; r < no; r++) {
        const float *row = W + ko[r] * I * taps;
        for (int64_t j = 0; j < ni; j++)
            memcpy(nw + (r * ni + j) * taps, row + ki[j] * taps, (size_t)taps * sizeof *nw);
        double acc = B ? B[ko[r]] : 0.0;
        for (int64_t c = 0; c < I; c++) {
            if (kept_in[c] || p->konst[x][c] == 0.0) continue;
            for (int64_t t = 0; t < taps; t++) acc += p->konst[x][c] * row[c * taps + t];
            any_bias = true;
        }
        nb[r] = (float)acc;
    }
    const char *base = op->name ? op->name : op_info[op->kind].name;
    wt.dims[0] = no;
    wt.dims[1] = ni;
    replace_operand(m, op, 1, &wt, nw, arena_printf(m->arena, "%s.weight", base));
    if (any_bias) {
        TensorType bt = ir_type_make(DT_F32, 1, &no);
        replace_operand(m, op, 2, &bt, nb, arena_printf(m->arena, "%s.bias", base));
    }
    free(kept_in);
    free(nw);
    free(nb);
    free(all);
}

/* Slices a batch_norm's parameter vectors to its space's kept channels. */
static void shrink_batch_norm(Pruner *p, Op *op)
{
    Module *m = p->m;
    const Space *s = &p->spaces.v[p->space[op->out] - 1];
    if (s->nkeep == s->channels) return;
    float *buf = xmalloc((size_t)s->nkeep * sizeof *buf);
    TensorType t = ir_type_make(DT_F32, 1, &s->nkeep);
    for (unsigned i = 1; i < 5; i++) {
        ValueId v = ir_operand(m, op, i);
        if (!v) continue;
        const float *d = data_of(m, v);
        for (int64_t j = 0; j < s->nkeep; j++) buf[j] = d[s->keep[j]];
        replace_operand(m, op, i, &t, buf, "batch_norm");
    }
    free(buf);
}

/* ---- attention heads (spec 8.2: "a channel, neuron or head") --------------------------------
 * MultiheadAttention lowers (frontend/modules.c: mha_call) to, per q/k/v,
 *     linear [.., T, d] -> reshape [.., T, h, dh] -> permute [.., h, T, dh]
 * then attention [.., h, T, dv] -> permute [.., T, h, dv] -> reshape [.., T, h*dv] ->
 * linear (out_proj). Head j contributes out_proj's columns j*dv.. times its output, a
 * softmax-weighted average of its value rows. So head j goes when
 *   - its out_proj columns are all zero (it contributes nothing), or
 *   - its value projection rows are all zero: every value row is the bias bv_j, the
 *     average is bv_j (softmax rows sum to 1), and Wo[:, j] . bv_j folds into out_proj's
 *     bias (in double).
 * A head whose query or key rows alone are zero stays: it attends uniformly, which is not
 * a constant. The q/k/v linears lose the head's rows, out_proj its columns, and every
 * shape on the way shrinks from h to the kept heads. Only this exact chain, with weights
 * no other op reads, is rewritten; anything else keeps its heads. */

typedef struct HeadChain {
    Op *proj[3];          /* q, k, v linears */
    Op *split[3][2];      /* their reshape and permute */
    Op *attn, *merge[2];  /* attention, then its permute and reshape */
    Op *out;              /* out_proj linear */
    int64_t heads, dqk, dv;
} HeadChain;

/* The op reading v, when v has exactly one reader and is no model output; else NULL. */
static Op *only_reader(Module *m, const uint32_t *uses, ValueId v)
{
    if (uses[v] != 1) return NULL;
    for (OpId o = 1; o < m->ops.n; o++) {
        Op *op = ir_op(m, o);
        if (op->flags & OPF_DEAD) continue;
        for (unsigned i = 0; i < op->nin; i++)
            if (ir_operand(m, op, i) == v) return op;
    }
    return NULL; /* a model output */
}

/* The op defining v when it is of `kind` and v has no other reader. */
static Op *only_def(Module *m, const uint32_t *uses, ValueId v, OpKind kind)
{
    const Value *val = ir_value(m, v);
    if (val->kind != VAL_RESULT || uses[v] != 1) return NULL;
    Op *op = ir_op(m, val->def);
    return op->kind == kind && !(op->flags & OPF_DEAD) ? op : NULL;
}

/* permute swapping axes a and a + 1 of a rank-r tensor, all others in place */
static bool swaps(const Module *m, const Op *op, unsigned r, unsigned a)
{
    uint32_t n;
    const int64_t *perm = ir_op_ints(m, op, ATTR_PERM, &n);
    if (n != r) return false;
    for (unsigned i = 0; i < r; i++)
        if (perm[i] != (i == a ? a + 1 : i == a + 1 ? a : i)) return false;
    return true;
}

static bool own_linear(const Module *m, const uint32_t *uses, const Op *op)
{
    if (op->kind != OP_LINEAR || (op->flags & OPF_DEAD)) return false;
    ValueId w = ir_operand(m, op, 1), b = ir_operand(m, op, 2);
    return is_constant_f32(m, w) && uses[w] == 1 && ir_type(m, w)->rank == 2 &&
           (!b || (is_constant_f32(m, b) && uses[b] == 1));
}

/* Matches the chain around attention op `a` (see above). */
static bool match_heads(Module *m, const uint32_t *uses, Op *a, HeadChain *c)
{
    *c = (HeadChain){.attn = a};
    unsigned r = ir_type(m, a->out)->rank; /* [.., h, T, dh] */
    if (r < 3) return false;
    c->heads = ir_type(m, a->out)->dims[r - 3];
    for (unsigned i = 0; i < 3; i++) {
        ValueId in = ir_operand(m, a, i);
        if (ir_type(m, in)->rank != r) return false;
        Op *perm = only_def(m, uses, in, OP_PERMUTE);
        Op *shape = perm ? only_def(m, uses, ir_operand(m, perm, 0), OP_RESHAPE) : NULL;
        Op *lin = shape ? only_def(m, uses, ir_operand(m, shape, 0), OP_LINEAR) : NULL;
        if (!lin || !own_linear(m, uses, lin) || !swaps(m, perm, r, r - 3)) return false;
        const TensorType *st = ir_type(m, shape->out), *lt = ir_type(m, lin->out);
        int64_t dh = st->dims[r - 1];
        if (st->rank != r || lt->rank != r - 1 || st->dims[r - 2] != c->heads || dh <= 0 ||
            lt->dims[r - 2] != c->heads * dh)
            return false;
        uint32_t n;
        ir_op_ints(m, shape, ATTR_SHAPE, &n);
        if (n != r) return false;
        c->proj[i] = lin;
        c->split[i][0] = shape;
        c->split[i][1] = perm;
        if (i == 2) c->dv = dh;
        else if (i == 1 && dh != c->dqk) return false;
        else c->dqk = dh;
    }
    Op *perm = only_reader(m, uses, a->out);
    Op *shape = perm && perm->kind == OP_PERMUTE && swaps(m, perm, r, r - 3) ? only_reader(m, uses, perm->out) : NULL;
    Op *out = shape && shape->kind == OP_RESHAPE ? only_reader(m, uses, shape->out) : NULL;
    if (!out || !own_linear(m, uses, out) || ir_operand(m, out, 0) != shape->out) return false;
    const TensorType *st = ir_type(m, shape->out);
    uint32_t n;
    ir_op_ints(m, shape, ATTR_SHAPE, &n);
    if (st->rank != r - 1 || n != r - 1 || st->dims[r - 2] != c->heads * c->dv ||
        ir_type(m, ir_operand(m, out, 1))->dims[1] != c->heads * c->dv)
        return false;
    c->merge[0] = perm;
    c->merge[1] = shape;
    c->out = out;
    return true;
}

/* Rows [j*dh, (j+1)*dh) of a linear's weight are all zero (cols: columns instead). */
static bool zero_slice(const Module *m, const Op *lin, int64_t j, int64_t dh, bool cols)
{
    const TensorType *t = ir_type(m, ir_operand(m, lin, 1));
    const float *W = data_of(m, ir_operand(m, lin, 1));
    int64_t rows = t->dims[0], k = t->dims[1];
    for (int64_t r = cols ? 0 : j * dh; r < (cols ? rows : (j + 1) * dh); r++)
        for (int64_t c = cols ? j * dh : 0; c < (cols ? (j + 1) * dh : k); c++)
            if (W[r * k + c] != 0.0f) return false;
    return true;
}

/* Keeps rows (or, for cols, columns) of the kept heads' slices of a linear's weight, and
 * with them its bias entries (rows only). */
static void slice_heads(Module *m, Op *lin, const int64_t *keep, int64_t nkeep, int64_t dh, bool cols,
                        const double *bias_add)
{
    ValueId w = ir_operand(m, lin, 1), b = ir_operand(m, lin, 2);
    TensorType wt = *ir_type(m, w);
    int64_t rows = wt.dims[0], k = wt.dims[1];
    int64_t nr = cols ? rows : nkeep * dh, nc = cols ? nkeep * dh : k;
    const float *W = data_of(m, w), *B = data_of(m, b);
    float *nw = xmalloc((size_t)(nr * nc + 1) * sizeof *nw);
    for (int64_t r = 0; r < nr; r++)
        for (int64_t c = 0; c < nc; c++) {
            int64_t sr = cols ? r : keep[r / dh] * dh + r % dh, sc = cols ? keep[c / dh] * dh + c % dh : c;
            nw[r * nc + c] = W[sr * k + sc];
        }
    const char *base = lin->name ? lin->name : "linear";
    wt.dims[0] = nr;
    wt.dims[1] = nc;
    replace_operand(m, lin, 1, &wt, nw, arena_printf(m->arena, "%s.weight", base));
    free(nw);
    if (!B && !bias_add) return;
    float *nb = xmalloc((size_t)(nr + 1) * sizeof *nb);
    for (int64_t r = 0; r < nr; r++) {
        int64_t sr = cols ? r : keep[r / dh] * dh + r % dh;
        nb[r] = (float)((B ? (double)B[sr] : 0.0) + (bias_add ? bias_add[r] : 0.0));
    }
    TensorType bt = ir_type_make(DT_F32, 1, &nr);
    replace_operand(m, lin, 2, &bt, nb, arena_printf(m->arena, "%s.bias", base));
    free(nb);
}

static void set_dim(Module *m, Op *op, unsigned axis, int64_t d)
{
    m->values.v[op->out].type.dims[axis] = d;
    if (op->kind == OP_RESHAPE) m->ints.v[ir_op_attr(m, op, ATTR_SHAPE)->u.ints + axis] = d;
}

/* Removes the heads of one matched chain that are constant; records them for the report.
 * Returns whether anything changed. */
static bool prune_heads(Module *m, HeadChain *c)
{
    int64_t H = c->heads, dv = c->dv, dqk = c->dqk;
    int64_t *keep = arena_alloc(m->arena, (size_t)H * sizeof *keep);
    int64_t *removed = arena_alloc(m->arena, (size_t)H * sizeof *removed);
    int64_t *kept = arena_alloc(m->arena, (size_t)H * sizeof *kept);
    const char **why = arena_alloc(m->arena, (size_t)H * sizeof *why);
    int64_t nkeep = 0, nremoved = 0, nkept = 0;
    bool *go = xcalloc((size_t)H, sizeof *go), *zero_v = xcalloc((size_t)H, sizeof *zero_v);
    for (int64_t j = 0; j < H; j++) {
        bool zq = zero_slice(m, c->proj[0], j, dqk, false), zk = zero_slice(m, c->proj[1], j, dqk, false);
        zero_v[j] = zero_slice(m, c->proj[2], j, dv, false);
        go[j] = zero_v[j] || zero_slice(m, c->out, j, dv, true);
        if (!go[j] && (zq || zk)) {
            kept[nkept] = j;
            why[nkept++] = "only its query or key projection is zero: it attends uniformly, "
                           "which is not a constant";
        }
    }
    for (int64_t j = 0; j < H; j++)
        if (!go[j]) keep[nkeep++] = j;
    if (nkeep == 0) { /* keep one head: no tensor becomes empty */
        go[H - 1] = false;
        keep[nkeep++] = H - 1;
        kept[nkept] = H - 1;
        why[nkept++] = "one head stays so that no tensor is empty";
    }
    for (int64_t j = 0; j < H; j++)
        if (go[j]) removed[nremoved++] = j;
    if (nremoved || nkept)
        vec_push(m->removals, ((IrRemoval){.layer = c->attn->name ? c->attn->name : "attention",
                                           .unit = "head", .channels = H, .nremoved = (uint32_t)nremoved,
                                           .nkept = (uint32_t)nkept, .removed = removed, .kept = kept,
                                           .why = why}));
    if (!nremoved) {
        free(go);
        free(zero_v);
        return false;
    }
    /* out_proj's bias takes Wo[:, head j] . bv_j of each removed head whose values are its bias */
    ValueId wo = ir_operand(m, c->out, 1), bv = ir_operand(m, c->proj[2], 2);
    const float *Wo = data_of(m, wo), *Bv = data_of(m, bv);
    int64_t rows = ir_type(m, wo)->dims[0], k = ir_type(m, wo)->dims[1];
    double *fold = NULL;
    if (Bv) {
        fold = xcalloc((size_t)rows, sizeof *fold);
        for (int64_t j = 0; j < H; j++) {
            if (!go[j] || !zero_v[j] || zero_slice(m, c->out, j, dv, true)) continue;
            for (int64_t o = 0; o < rows; o++)
                for (int64_t i = j * dv; i < (j + 1) * dv; i++) fold[o] += (double)Wo[o * k + i] * Bv[i];
        }
    }
    for (unsigned i = 0; i < 3; i++) {
        Op *lin = c->proj[i];
        int64_t dh = i == 2 ? dv : dqk;
        unsigned r = ir_type(m, c->split[i][0]->out)->rank;
        slice_heads(m, lin, keep, nkeep, dh, false, NULL);
        set_dim(m, lin, r - 2, nkeep * dh);
        set_dim(m, c->split[i][0], r - 2, nkeep);
        set_dim(m, c->split[i][1], r - 3, nkeep);
    }
    unsigned r = ir_type(m, c->attn->out)->rank;
    set_dim(m, c->attn, r - 3, nkeep);
    set_dim(m, c->merge[0], r - 2, nkeep);
    set_dim(m, c->merge[1], r - 2, nkeep * dv);
    slice_heads(m, c->out, keep, nkeep, dv, true, fold);
    free(fold);
    free(go);
    free(zero_v);
    return true;
}

/* Every matched attention chain loses its constant heads. */
static bool remove_heads(Module *m)
{
    bool changed = false;
    uint32_t no = m->ops.n;
    for (OpId o = 1; o < no; o++) {
        Op *a = ir_op(m, o);
        if (a->kind != OP_ATTENTION || (a->flags & OPF_DEAD)) continue;
        uint32_t *uses = ir_count_uses(m);
        HeadChain c;
        if (match_heads(m, uses, a, &c)) changed |= prune_heads(m, &c);
        free(uses);
    }
    return changed;
}

bool pass_prune(PassContext *cx)
{
    Module *m = cx->m;
    bool heads_changed = remove_heads(m);
    Pruner p = {.m = m, .nv = m->values.n};
    p.uses = ir_count_uses(m);
    p.space = xcalloc(p.nv, sizeof *p.space);
    p.konst = xcalloc(p.nv, sizeof *p.konst);
    p.is_const = xcalloc(p.nv, sizeof *p.is_const);
    p.stack = xmalloc(p.nv * sizeof *p.stack);
    uint32_t no = m->ops.n;
    p.layer = xcalloc(no, sizeof *p.layer);
    for (OpId o = 1; o < no; o++) p.layer[o] = classify_layer(&p, ir_op(m, o));
    for (OpId o = 1; o < no; o++) {
        const Op *op = ir_op(m, o);
        if (is_layer(&p, op) && !p.space[op->out]) grow_space(&p, op->out);
    }
    for (uint32_t i = 0; i < p.spaces.n; i++)
        p.spaces.v[i].why = arena_alloc(m->arena, (size_t)p.spaces.v[i].channels * sizeof(char *));
    for (uint32_t i = 0; i < p.spaces.n; i++)
        memset(p.spaces.v[i].why, 0, (size_t)p.spaces.v[i].channels * sizeof(char *));
    for (OpId o = 1; o < no; o++) {
        const Op *op = ir_op(m, o);
        if (!(op->flags & OPF_DEAD) && p.space[op->out])
            propagate(&p, op, &p.spaces.v[p.space[op->out] - 1]);
    }
    for (uint32_t i = 0; i < p.spaces.n; i++) decide(&p, i);
    for (OpId o = 1; o < no; o++) {
        const Op *op = ir_op(m, o);
        if (is_layer(&p, op) && p.space[op->out]) record(&p, op);
    }
    bool changed = false;
    for (OpId o = 1; o < no; o++) {
        Op *op = ir_op(m, o);
        if (op->flags & OPF_DEAD) continue;
        if (is_layer(&p, op)) shrink_layer(&p, op);
        else if (op->kind == OP_BATCH_NORM && p.space[op->out]) shrink_batch_norm(&p, op);
    }
    for (ValueId v = 1; v < p.nv; v++) {
        const Space *s = p.space[v] ? &p.spaces.v[p.space[v] - 1] : NULL;
        if (s && s->nkeep < s->channels) {
            m->values.v[v].type.dims[1] = s->nkeep;
            changed = true;
        }
        free(p.konst[v]);
        free(p.is_const[v]);
    }
    free(p.uses);
    free(p.layer);
    free(p.space);
    free(p.konst);
    free(p.is_const);
    free(p.stack);
    vec_free(p.spaces);
    if (changed || heads_changed) ir_compact(m);
    return true;
}
