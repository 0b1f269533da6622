/* SPDX-License-Identifier: MIT
 * modules.c - the built-in modules of spec section 5. Each declares its parameters
 * with PyTorch's names and layouts (so state_dict keys match) and expands its call into
 * IR ops. A module is one table row: name, constructor signature, init, call.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "lower_impl.h"

ValueId declare_param(Lower *L, Scope *s, const char *keyprefix, const char *name,
                      const TensorType *t, uint32_t sliceable, Span span)
{
    const char *key = path_join(L, keyprefix, name);
    WeightId w = ir_add_weight(L->m, key, t, NULL, 0, span);
    ValueId v = ir_add_param(L->m, w, key, span);
    vec_push(L->params, ((ParamDecl){.value = v, .weight = w, .key = key, .sliceable = sliceable,
                                     .span = span}));
    define(L, s, name, cv_tensor(v), span, BIND_PARAM);
    return v;
}

static const char *layer(const Inst *inst) { return inst->path[0] ? inst->path : NULL; }

#define CARG(i) (&inst->args.v[i])
#define CSPAN(i) (inst->args.span[i])

static bool ctor_int(Lower *L, Inst *inst, int i, int64_t *out, bool positive)
{
    char what[96];
    snprintf(what, sizeof what, "argument '%s' of '%s'", inst->args.name[i], inst->builtin->name);
    if (!want_int(L, CARG(i), CSPAN(i), what, out)) return false;
    if (positive ? *out <= 0 : *out < 0) {
        diag_error(L->diag, CSPAN(i), "argument '%s' of '%s' must be %s, got %" PRId64, inst->args.name[i],
                   inst->builtin->name, positive ? "positive" : "non-negative", *out);
        return false;
    }
    return true;
}

static bool ctor_real(Lower *L, Inst *inst, int i, double *out)
{
    char what[96];
    snprintf(what, sizeof what, "argument '%s' of '%s'", inst->args.name[i], inst->builtin->name);
    return want_real(L, CARG(i), CSPAN(i), what, out);
}

static bool ctor_pair(Lower *L, Inst *inst, int i, int64_t out[2])
{
    char what[96];
    snprintf(what, sizeof what, "argument '%s' of '%s'", inst->args.name[i], inst->builtin->name);
    return want_pair(L, CARG(i), CSPAN(i), what, out);
}

static uint32_t elastic_bit(const Cv *v, unsigned dim) { return v->elastic ? 1u << dim : 0; }

/* A `weight = EXPR` / `bias = EXPR` argument, or a stored parameter of type t.
 * which: the argument index; for bias, a bool false means "no parameter" (returns 0). */
static bool param_or_expr(Lower *L, Inst *inst, int which, const char *name, const TensorType *t,
                          uint32_t sliceable, bool is_bias, ValueId *out)
{
    const Cv *v = CARG(which);
    char t1[128], t2[128];
    *out = 0;
    if (is_bias && v->kind == CV_BOOL) {
        if (v->u.b) *out = declare_param(L, inst->scope, inst->key, name, t, sliceable, inst->span);
        return true;
    }
    if (!is_bias && v->kind == CV_NONE) {
        *out = declare_param(L, inst->scope, inst->key, name, t, sliceable, inst->span);
        return true;
    }
    char what[96];
    snprintf(what, sizeof what, "argument '%s' of '%s'", name, inst->builtin->name);
    ValueId x;
    if (!want_tensor(L, v, CSPAN(which), what, &x) || !check_param_expr(L, x, CSPAN(which))) return false;
    if (!ir_type_equal(ir_type(L->m, x), t)) {
        diag_error(L->diag, CSPAN(which), "'%s' of '%s' must be %s, got %s", name, inst->builtin->name,
                   ir_format_type(L->m, t, t1, sizeof t1), ir_format_type(L->m, ir_type(L->m, x), t2, sizeof t2));
        return false;
    }
    scope_bind(L, inst->scope, name, cv_tensor(x), CSPAN(which), BIND_PARAM);
    *out = x;
    return true;
}

static ValueId param_of(Inst *inst, const char *name)
{
    Binding *b = scope_find(inst->scope, name, true);
    return b && b->v.kind == CV_TENSOR ? b->v.u.t : 0;
}

/* The single tensor argument of a call like relu_module(x). */
static bool one_input(Lower *L, Inst *inst, CallArgs *args, ValueId *x)
{
    if (args->npos != 1 || args->nkw) {
        diag_error(L->diag, args->span, "'%s' takes one tensor argument", inst->path);
        return false;
    }
    return want_tensor(L, &args->pos[0], args->pos_span[0], "the input", x);
}

/* ---- Linear ----------------------------------------------------------------------------- */

static bool linear_init(Lower *L, Inst *inst)
{
    int64_t in, out;
    if (!ctor_int(L, inst, 0, &in, false) || !ctor_int(L, inst, 1, &out, false)) return false;
    TensorType w = {.dtype = DT_F32, .rank = 2, .dims = {out, in}};
    TensorType b = {.dtype = DT_F32, .rank = 1, .dims = {out}};
    ValueId pw, pb;
    return param_or_expr(L, inst, 3, "weight", &w, elastic_bit(CARG(1), 0) | elastic_bit(CARG(0), 1), false, &pw) &&
           param_or_expr(L, inst, 2, "bias", &b, elastic_bit(CARG(1), 0), true, &pb);
}

static Cv linear_call(Lower *L, Inst *inst, CallArgs *args)
{
    ValueId in[3];
    if (!one_input(L, inst, args, &in[0])) return cv_error();
    in[1] = param_of(inst, "weight");
    in[2] = param_of(inst, "bias");
    return emit_op(L, OP_LINEAR, in, 3, NULL, 0, layer(inst), args->span);
}

/* ---- Conv2d ------------------------------------------------------------------------------ */

enum { CONV_IN, CONV_OUT, CONV_K, CONV_STRIDE, CONV_PAD, CONV_DIL, CONV_GROUPS, CONV_BIAS, CONV_W };

static bool conv_init(Lower *L, Inst *inst)
{
    int64_t in, out, k[2], s[2], p[2], d[2], g;
    if (!ctor_int(L, inst, CONV_IN, &in, false) || !ctor_int(L, inst, CONV_OUT, &out, false) ||
        !ctor_pair(L, inst, CONV_K, k) || !ctor_pair(L, inst, CONV_STRIDE, s) ||
        !ctor_pair(L, inst, CONV_PAD, p) || !ctor_pair(L, inst, CONV_DIL, d) ||
        !ctor_int(L, inst, CONV_GROUPS, &g, true))
        return false;
    if (in % g || out % g) {
        diag_error(L->diag, inst->span, "'Conv2d' channels in=%" PRId64 " and out=%" PRId64
                   " must be divisible by groups=%" PRId64, in, out, g);
        return false;
    }
    TensorType w = {.dtype = DT_F32, .rank = 4, .dims = {out, in / g, k[0], k[1]}};
    TensorType b = {.dtype = DT_F32, .rank = 1, .dims = {out}};
    uint32_t sl = elastic_bit(CARG(CONV_OUT), 0) | elastic_bit(CARG(CONV_IN), 1);
    ValueId pw, pb;
    return param_or_expr(L, inst, CONV_W, "weight", &w, sl, false, &pw) &&
           param_or_expr(L, inst, CONV_BIAS, "bias", &b, elastic_bit(CARG(CONV_OUT), 0), true, &pb);
}

static Cv conv_call(Lower *L, Inst *inst, CallArgs *args)
{
    ValueId in[3];
    int64_t s[2], p[2], d[2], g;
    if (!one_input(L, inst, args, &in[0])) return cv_error();
    ctor_pair(L, inst, CONV_STRIDE, s);
    ctor_pair(L, inst, CONV_PAD, p);
    ctor_pair(L, inst, CONV_DIL, d);
    ctor_int(L, inst, CONV_GROUPS, &g, true);
    in[1] = param_of(inst, "weight");
    in[2] = param_of(inst, "bias");
    return emit_conv2d(L, in, s, p, d, g, layer(inst), args->span);
}

/* ---- normalization --------------------------------------------------------------------------- */

static bool vector_params(Lower *L, Inst *inst, const char *const *names, unsigned n)
{
    int64_t c;
    if (!ctor_int(L, inst, 0, &c, false)) return false;
    TensorType t = {.dtype = DT_F32, .rank = 1, .dims = {c}};
    for (unsigned i = 0; i < n; i++)
        declare_param(L, inst->scope, inst->key, names[i], &t, elastic_bit(CARG(0), 0), inst->span);
    return true;
}

static bool bn_init(Lower *L, Inst *inst)
{
    static const char *const names[] = {"weight", "bias", "running_mean", "running_var"};
    /* PyTorch saves num_batches_tracked; it has no meaning in eval mode */
    vec_push(L->ignored_keys, path_join(L, inst->key, "num_batches_tracked"));
    return vector_params(L, inst, names, 4);
}

static Cv bn_call(Lower *L, Inst *inst, CallArgs *args)
{
    ValueId in[5];
    double eps;
    if (!one_input(L, inst, args, &in[0]) || !ctor_real(L, inst, 1, &eps)) return cv_error();
    in[1] = param_of(inst, "running_mean");
    in[2] = param_of(inst, "running_var");
    in[3] = param_of(inst, "weight");
    in[4] = param_of(inst, "bias");
    Attr a = ir_attr_float(ATTR_EPS, eps);
    return emit_op(L, OP_BATCH_NORM, in, 5, &a, 1, layer(inst), args->span);
}

static bool ln_init(Lower *L, Inst *inst)
{
    static const char *const names[] = {"weight", "bias"};
    return vector_params(L, inst, names, 2);
}

static Cv ln_call(Lower *L, Inst *inst, CallArgs *args)
{
    ValueId in[3];
    double eps;
    if (!one_input(L, inst, args, &in[0]) || !ctor_real(L, inst, 1, &eps)) return cv_error();
    in[1] = param_of(inst, "weight");
    in[2] = param_of(inst, "bias");
    Attr a = ir_attr_float(ATTR_EPS, eps);
    return emit_op(L, OP_LAYER_NORM, in, 3, &a, 1, layer(inst), args->span);
}

static bool rms_init(Lower *L, Inst *inst)
{
    static const char *const names[] = {"weight"};
    return vector_params(L, inst, names, 1);
}

static Cv rms_call(Lower *L, Inst *inst, CallArgs *args)
{
    ValueId in[2];
    double eps;
    if (!one_input(L, inst, args, &in[0]) || !ctor_real(L, inst, 1, &eps)) return cv_error();
    in[1] = param_of(inst, "weight");
    Attr a = ir_attr_float(ATTR_EPS, eps);
    return emit_op(L, OP_RMS_NORM, in, 2, &a, 1, layer(inst), args->span);
}

/* ---- Embedding ------------------------------------------------------------------------------ */

static bool emb_init(Lower *L, Inst *inst)
{
    int64_t n, d;
    if (!ctor_int(L, inst, 0, &n, false) || !ctor_int(L, inst, 1, &d, false)) return false;
    TensorType t = {.dtype = DT_F32, .rank = 2, .dims = {n, d}};
    declare_param(L, inst->scope, inst->key, "weight", &t,
                  elastic_bit(CARG(0), 0) | elastic_bit(CARG(1), 1), inst->span);
    return true;
}

static Cv emb_call(Lower *L, Inst *inst, CallArgs *args)
{
    ValueId in[2];
    if (!one_input(L, inst, args, &in[0])) return cv_error();
    in[1] = param_of(inst, "weight");
    return emit_op(L, OP_EMBEDDING, in, 2, NULL, 0, layer(inst), args->span);
}

/* ---- MultiheadAttention ----------------------------------------------------------------------
 * torch.nn.MultiheadAttention(d, heads, bias, batch_first=True): packed in_proj_weight
 * [3d, d] (q, k, v rows in that order), in_proj_bias [3d], out_proj (a Linear). */

static const BuiltinMod *mod_linear(void);

static bool mha_init(Lower *L, Inst *inst)
{
    int64_t d, h;
    bool bias;
    if (!ctor_int(L, inst, 0, &d, true) || !ctor_int(L, inst, 1, &h, true) ||
        !want_bool(L, CARG(2), CSPAN(2), "argument 'bias' of 'MultiheadAttention'", &bias))
        return false;
    if (d % h) {
        diag_error(L->diag, inst->span, "'MultiheadAttention' embedding size %" PRId64
                   " must be divisible by heads=%" PRId64, d, h);
        return false;
    }
    TensorType w = {.dtype = DT_F32, .rank = 2, .dims = {3 * d, d}};
    TensorType b = {.dtype = DT_F32, .rank = 1, .dims = {3 * d}};
    declare_param(L, inst->scope, inst->key, "in_proj_weight", &w, 0, inst->span);
    if (bias) declare_param(L, inst->scope, inst->key, "in_proj_bias", &b, 0, inst->span);
    /* out_proj is a child Linear(d, d, bias) */
    ModSpec *spec = arena_alloc(L->arena, sizeof *spec);
    spec->builtin = mod_linear();
    spec->span = inst->span;
    spec->args.npos = 3;
    spec->args.pos = arena_alloc(L->arena, 3 * sizeof(Cv));
    spec->args.pos_span = arena_alloc(L->arena, 3 * sizeof(Span));
    spec->args.pos[0] = cv_int(d);
    spec->args.pos[1] = cv_int(d);
    spec->args.pos[2] = cv_bool(bias);
    for (int i = 0; i < 3; i++) spec->args.pos_span[i] = inst->span;
    spec->args.span = inst->span;
    Inst *out = instantiate(L, spec, path_join(L, inst->path, "out_proj"),
                            path_join(L, inst->key, "out_proj"), inst->span);
    if (!out) return false;
    scope_bind(L, inst->scope, "out_proj", (Cv){.kind = CV_INST, .u.inst = out}, inst->span, BIND_CHILD);
    return true;
}

/* [.., T, d] -> [.., heads, T, d/heads] */
static Cv split_heads(Lower *L, ValueId x, int64_t h, const char *name, Span span)
{
    const TensorType *t = ir_type(L->m, x);
    unsigned r = t->rank;
    Dim dims[IR_MAX_RANK + 1];
    for (unsigned i = 0; i + 1 < r; i++) dims[i] = t->dims[i];
    dims[r - 1] = h;
    dims[r] = t->dims[r - 1] / h;
    Cv v = emit_reshape(L, x, dims, r + 1, name, span);
    if (v.kind != CV_TENSOR) return v;
    int64_t perm[IR_MAX_RANK + 1];
    for (unsigned i = 0; i <= r; i++) perm[i] = i;
    perm[r - 2] = r - 1; /* [.., T, h, dh] -> [.., h, T, dh] */
    perm[r - 1] = r - 2;
    return emit_permute(L, v.u.t, perm, r + 1, name, span);
}

static Cv mha_call(Lower *L, Inst *inst, CallArgs *args)
{
    Bound a;
    if (!bind_args(L, inst->path, "q k v causal=false", args, &a)) return cv_error();
    ValueId qkv[3];
    bool causal;
    for (int i = 0; i < 3; i++)
        if (!want_tensor(L, &a.v[i], a.span[i], "an attention input", &qkv[i])) return cv_error();
    if (!want_bool(L, &a.v[3], a.span[3], "argument 'causal'", &causal)) return cv_error();
    int64_t d = inst->args.v[0].u.i, h = inst->args.v[1].u.i;
    const char *nm = layer(inst);
    ValueId w = param_of(inst, "in_proj_weight"), b = param_of(inst, "in_proj_bias");
    const TensorType *tq = ir_type(L->m, qkv[0]);
    if (tq->rank < 2 || tq->rank > 3) {
        diag_error(L->diag, args->span, "'MultiheadAttention' takes [T, d] or [B, T, d] inputs");
        return cv_error();
    }
    ValueId heads[3];
    for (int i = 0; i < 3; i++) {
        Cv wi = emit_slice_axis(L, w, 0, i * d, (i + 1) * d, 1, nm, args->span);
        if (wi.kind != CV_TENSOR) return wi;
        ValueId in[3] = {qkv[i], wi.u.t, 0};
        if (b) {
            Cv bi = emit_slice_axis(L, b, 0, i * d, (i + 1) * d, 1, nm, args->span);
            if (bi.kind != CV_TENSOR) return bi;
            in[2] = bi.u.t;
        }
        Cv p = emit_op(L, OP_LINEAR, in, 3, NULL, 0, nm, args->span);
        if (p.kind != CV_TENSOR) return p;
        Cv s = split_heads(L, p.u.t, h, nm, args->span);
        if (s.kind != CV_TENSOR) return s;
        heads[i] = s.u.t;
    }
    Cv o = emit_attention(L, heads, causal, 0, false, nm, args->span);
    if (o.kind != CV_TENSOR) return o;
    /* [.., h, T, dh] -> [.., T, h, dh] -> [.., T, d] */
    const TensorType *to = ir_type(L->m, o.u.t);
    unsigned r = to->rank;
    int64_t perm[IR_MAX_RANK];
    for (unsigned i = 0; i < r; i++) perm[i] = i;
    perm[r - 3] = r - 2;
    perm[r - 2] = r - 3;
    Cv t = emit_permute(L, o.u.t, perm, r, nm, args->span);
    if (t.kind != CV_TENSOR) return t;
    Dim dims[IR_MAX_RANK];
    const TensorType *tt = ir_type(L->m, t.u.t);
    for (unsigned i = 0; i + 2 < r; i++) dims[i] = tt->dims[i];
    dims[r - 2] = d;
    Cv merged = emit_reshape(L, t.u.t, dims, r - 1, nm, args->span);
    if (merged.kind != CV_TENSOR) return merged;
    Binding *op = scope_find(inst->scope, "out_proj", true);
    CallArgs oa = {.npos = 1, .pos = &merged, .pos_span = &args->span, .span = args->span};
    return call_value(L, inst->scope, op->v, &oa, args->span);
}

/* ---- Sequential ------------------------------------------------------------------------------ */

static bool seq_init(Lower *L, Inst *inst)
{
    const CallArgs *a = inst->ctor;
    if (a->nkw) {
        diag_error(L->diag, a->kw_span[0], "'Sequential' takes modules as positional arguments");
        return false;
    }
    Cv *items = arena_alloc(L->arena, (a->npos ? a->npos : 1) * sizeof *items);
    bool ok = true;
    for (uint32_t i = 0; i < a->npos; i++) {
        char idx[24];
        snprintf(idx, sizeof idx, "%u", i);
        if (a->pos[i].kind != CV_MODSPEC) {
            ok = want_fail(L, &a->pos[i], a->pos_span[i], "an element of 'Sequential'", "a module");
            continue;
        }
        Inst *c = instantiate(L, a->pos[i].u.spec, path_join(L, inst->path, idx),
                              path_join(L, inst->key, idx), a->pos_span[i]);
        if (!c) { ok = false; continue; }
        items[i] = (Cv){.kind = CV_INST, .u.inst = c};
        scope_bind(L, inst->scope, idx, items[i], a->pos_span[i], BIND_CHILD);
    }
    return ok;
}

static Cv seq_call(Lower *L, Inst *inst, CallArgs *args)
{
    ValueId x;
    if (!one_input(L, inst, args, &x)) return cv_error();
    Cv v = cv_tensor(x);
    for (uint32_t i = 0; i < inst->scope->b.n; i++) {
        Binding *b = &inst->scope->b.v[i];
        if (b->kind != BIND_CHILD) continue;
        CallArgs a = {.npos = 1, .pos = &v, .pos_span = &args->span, .span = args->span};
        v = call_value(L, inst->scope, b->v, &a, args->span);
        if (v.kind == CV_ERROR) return v;
    }
    return v;
}

/* ---- parameter-free modules --------------------------------------------------------------- */

static bool no_params(Lower *L, Inst *inst) { (void)L; (void)inst; return true; }

static Cv act_call(Lower *L, Inst *inst, CallArgs *args, OpKind op)
{
    ValueId x;
    if (!one_input(L, inst, args, &x)) return cv_error();
    return emit_op(L, op, &x, 1, NULL, 0, layer(inst), args->span);
}

#define ACTIVATION(fn, OPK) \
    static Cv fn(Lower *L, Inst *inst, CallArgs *args) { return act_call(L, inst, args, OPK); }
ACTIVATION(relu_call, OP_RELU)
ACTIVATION(relu6_call, OP_RELU6)
ACTIVATION(silu_call, OP_SILU)
ACTIVATION(sigmoid_call, OP_SIGMOID)
ACTIVATION(tanh_call, OP_TANH)
ACTIVATION(hardswish_call, OP_HARDSWISH)
ACTIVATION(hardsigmoid_call, OP_HARDSIGMOID)
#undef ACTIVATION

static bool gelu_init(Lower *L, Inst *inst)
{
    const Cv *a = CARG(0);
    if (a->kind == CV_STR && (strcmp(a->u.s, "none") == 0 || strcmp(a->u.s, "tanh") == 0)) return true;
    diag_error(L->diag, CSPAN(0), "'GELU' approximate must be \"none\" or \"tanh\"");
    return false;
}

static Cv gelu_call(Lower *L, Inst *inst, CallArgs *args)
{
    return act_call(L, inst, args, strcmp(CARG(0)->u.s, "tanh") == 0 ? OP_GELU_TANH : OP_GELU);
}

static Cv identity_call(Lower *L, Inst *inst, CallArgs *args)
{
    ValueId x;
    if (!one_input(L, inst, args, &x)) return cv_error();
    return cv_tensor(x);
}

static Cv flatten_call(Lower *L, Inst *inst, CallArgs *args)
{
    ValueId x;
    int64_t s, e;
    if (!one_input(L, inst, args, &x) || !want_int(L, CARG(0), CSPAN(0), "argument 'start'", &s) ||
        !want_int(L, CARG(1), CSPAN(1), "argument 'end'", &e))
        return cv_error();
    return emit_flatten(L, x, s, e, args->span);
}

static bool pool_init(Lower *L, Inst *inst)
{
    int64_t k[2], s[2], p[2];
    return ctor_pair(L, inst, 0, k) && (CARG(1)->kind == CV_NONE || ctor_pair(L, inst, 1, s)) &&
           ctor_pair(L, inst, 2, p);
}

static Cv pool_call(Lower *L, Inst *inst, CallArgs *args, OpKind kind)
{
    ValueId x;
    int64_t k[2], s[2], p[2];
    if (!one_input(L, inst, args, &x)) return cv_error();
    ctor_pair(L, inst, 0, k);
    if (CARG(1)->kind == CV_NONE) { s[0] = k[0]; s[1] = k[1]; }
    else ctor_pair(L, inst, 1, s);
    ctor_pair(L, inst, 2, p);
    return emit_pool(L, kind, x, k, s, p, layer(inst), args->span);
}

static Cv maxpool_call(Lower *L, Inst *inst, CallArgs *args) { return pool_call(L, inst, args, OP_MAX_POOL2D); }
static Cv avgpool_call(Lower *L, Inst *inst, CallArgs *args) { return pool_call(L, inst, args, OP_AVG_POOL2D); }

/* ---- ElasticConv2d (spec 8.1) --------------------------------------------------------------
 * Once-for-All's elastic kernel (OFA's DynamicSeparableConv2d.get_active_filter): the stored
 * `weight` [out, in/groups, kmax, kmax] is cut to the active kernel size k by centred crops.
 * With `transform`, each crop by 2 (7->5, 5->3, ...) is followed by OFA's linear transform of
 * every flattened kernel, `flat @ M^T` with M = `<s>to<s-2>_matrix` [(s-2)^2, (s-2)^2]
 * (F.linear); the next crop is taken from the transformed kernel. The kernel is built here
 * as a parameter expression (slice, reshape, permute, matmul), which the fold pass turns
 * into one constant, so the artefact holds the subnet's k x k kernel only. The built kernel
 * replaces the instance's `weight` binding (it is what OFA's extracted subnet stores as
 * its conv weight). The weight is read from `<instance>.weight`, or, when the file has no
 * such key, from `<instance>.conv.weight`, OFA's own layout (its module nests a Conv2d). */

enum { EC_IN, EC_OUT, EC_KMAX, EC_K, EC_STRIDE, EC_GROUPS, EC_TRANSFORM };

static bool econv_args(Lower *L, Inst *inst, int64_t *in, int64_t *out, int64_t *kmax, int64_t *k,
                       int64_t s[2], int64_t *g, bool *transform)
{
    if (!ctor_int(L, inst, EC_IN, in, true) || !ctor_int(L, inst, EC_OUT, out, true) ||
        !ctor_int(L, inst, EC_KMAX, kmax, true) || !ctor_int(L, inst, EC_K, k, true) ||
        !ctor_pair(L, inst, EC_STRIDE, s) || !ctor_int(L, inst, EC_GROUPS, g, true) ||
        !want_bool(L, CARG(EC_TRANSFORM), CSPAN(EC_TRANSFORM), "argument 'transform' of 'ElasticConv2d'",
                   transform))
        return false;
    return true;
}

/* "7to5_matrix" for the crop step from size s */
static const char *econv_matrix_name(Lower *L, int64_t s)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%" PRId64 "to%" PRId64 "_matrix", s, s - 2);
    return arena_strdup(L->arena, buf);
}

/* Centred crop of the last two axes of w [o, i, s, s] to t x t. */
static Cv econv_crop(Lower *L, ValueId w, int64_t s, int64_t t, const char *nm, Span span)
{
    int64_t b = (s - t) / 2; /* OFA's sub_filter_start_end: centre - t/2 */
    Cv c = emit_slice_axis(L, w, 2, b, b + t, 1, nm, span);
    if (c.kind != CV_TENSOR) return c;
    return emit_slice_axis(L, c.u.t, 3, b, b + t, 1, nm, span);
}

static bool econv_init(Lower *L, Inst *inst)
{
    int64_t in, out, kmax, k, s[2], g;
    bool transform;
    if (!econv_args(L, inst, &in, &out, &kmax, &k, s, &g, &transform)) return false;
    if (kmax % 2 == 0 || k % 2 == 0) {
        diag_error(L->diag, inst->span, "'ElasticConv2d' kernel sizes must be odd (centred crops), got "
                   "kmax=%" PRId64 " and k=%" PRId64, kmax, k);
        return false;
    }
    if (k > kmax) {
        diag_error(L->diag, CSPAN(EC_K), "'ElasticConv2d' kernel size k=%" PRId64 " exceeds kmax=%" PRId64,
                   k, kmax);
        return false;
    }
    if (in % g || out % g) {
        diag_error(L->diag, inst->span, "'ElasticConv2d' channels in=%" PRId64 " and out=%" PRId64
                   " must be divisible by groups=%" PRId64, in, out, g);
        return false;
    }
    TensorType wt = {.dtype = DT_F32, .rank = 4, .dims = {out, in / g, kmax, kmax}};
    uint32_t sl = elastic_bit(CARG(EC_OUT), 0) | elastic_bit(CARG(EC_IN), 1) | elastic_bit(CARG(EC_GROUPS), 1);
    ValueId w = declare_param(L, inst->scope, inst->key, "weight", &wt, sl, inst->span);
    L->params.v[L->params.n - 1].alt_key = path_join(L, path_join(L, inst->key, "conv"), "weight");
    /* matrices of the steps taken are parameters; the others may sit in the file unused */
    for (int64_t st = kmax; st > 1; st -= 2) {
        const char *name = econv_matrix_name(L, st);
        if (!(transform && st > k)) {
            vec_push(L->ignored_keys, path_join(L, inst->key, name));
            continue;
        }
        TensorType mt = {.dtype = DT_F32, .rank = 2, .dims = {(st - 2) * (st - 2), (st - 2) * (st - 2)}};
        declare_param(L, inst->scope, inst->key, name, &mt, 0, inst->span);
    }
    /* the active kernel, as a parameter expression */
    const char *nm = layer(inst);
    ValueId cur = w;
    Span sp = inst->span;
    if (!transform && k < kmax) {
        Cv c = econv_crop(L, cur, kmax, k, nm, sp);
        if (c.kind != CV_TENSOR) return false;
        cur = c.u.t;
    }
    for (int64_t st = kmax; transform && st > k; st -= 2) {
        int64_t t = st - 2;
        Cv c = econv_crop(L, cur, st, t, nm, sp);
        if (c.kind != CV_TENSOR) return false;
        Dim flat[2] = {out * (in / g), t * t}, back[4] = {out, in / g, t, t};
        Cv f = emit_reshape(L, c.u.t, flat, 2, nm, sp);
        if (f.kind != CV_TENSOR) return false;
        Binding *mb = scope_find(inst->scope, econv_matrix_name(L, st), true);
        static const int64_t perm[2] = {1, 0};
        Cv mt = emit_permute(L, mb->v.u.t, perm, 2, nm, sp);
        if (mt.kind != CV_TENSOR) return false;
        Cv p = emit_binary(L, OP_MATMUL, f.u.t, mt.u.t, nm, sp);
        if (p.kind != CV_TENSOR) return false;
        Cv r = emit_reshape(L, p.u.t, back, 4, nm, sp);
        if (r.kind != CV_TENSOR) return false;
        cur = r.u.t;
    }
    Binding *wb = scope_find(inst->scope, "weight", true);
    wb->v = cv_tensor(cur);
    return true;
}

static Cv econv_call(Lower *L, Inst *inst, CallArgs *args)
{
    ValueId in[3] = {0, param_of(inst, "weight"), 0};
    int64_t cin, cout, kmax, k, s[2], g;
    bool transform;
    if (!one_input(L, inst, args, &in[0]) ||
        !econv_args(L, inst, &cin, &cout, &kmax, &k, s, &g, &transform))
        return cv_error();
    int64_t pad[2] = {k / 2, k / 2}, dil[2] = {1, 1};
    return emit_conv2d(L, in, s, pad, dil, g, layer(inst), args->span);
}

/* ---- the table ------------------------------------------------------------------------------ */

static const BuiltinMod builtin_mods[] = {
    {"Linear", "in out bias=true weight=None", linear_init, linear_call},
    {"Conv2d", "in out kernel stride=1 pad=0 dilation=1 groups=1 bias=true weight=None", conv_init, conv_call},
    {"BatchNorm2d", "c eps=1e-5", bn_init, bn_call},
    {"LayerNorm", "d eps=1e-5", ln_init, ln_call},
    {"RMSNorm", "d eps=1.1920929e-7", rms_init, rms_call},
    {"Embedding", "n d", emb_init, emb_call},
    {"MultiheadAttention", "d heads bias=true", mha_init, mha_call},
    {"Sequential", NULL, seq_init, seq_call},
    {"ReLU", "", no_params, relu_call},
    {"ReLU6", "", no_params, relu6_call},
    {"GELU", "approximate=\"none\"", gelu_init, gelu_call},
    {"SiLU", "", no_params, silu_call},
    {"Sigmoid", "", no_params, sigmoid_call},
    {"Tanh", "", no_params, tanh_call},
    {"Hardswish", "", no_params, hardswish_call},
    {"Hardsigmoid", "", no_params, hardsigmoid_call},
    {"Identity", "", no_params, identity_call},
    {"Dropout", "p=0.5", no_params, identity_call},
    {"Flatten", "start=1 end=-1", no_params, flatten_call},
    {"MaxPool2d", "kernel stride=None pad=0", pool_init, maxpool_call},
    {"AvgPool2d", "kernel stride=None pad=0", pool_init, avgpool_call},
    {"ElasticConv2d", "in out kmax k stride=1 groups=1 transform=true", econv_init, econv_call},
};

static const BuiltinMod *mod_linear(void) { return &builtin_mods[0]; }

const BuiltinMod *builtin_mod_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof builtin_mods / sizeof *builtin_mods; i++)
        if (strcmp(builtin_mods[i].name, name) == 0) return &builtin_mods[i];
    return NULL;
}
