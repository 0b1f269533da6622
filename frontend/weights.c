/* SPDX-License-Identifier: MIT
 * weights.c - binding declared parameters to the tensors of the weight file.
 *
 * After elaboration every parameter has a key, a declared type and a span. Here each is
 * found in the (already validated) safetensors file, checked against its declaration
 * (dtype class, shape; a dimension that depends on an elastic variable may be stored
 * larger and is cut to its leading slice, spec 8.1), converted to the computation dtype
 * and copied into memory the Module owns. PyTorch's pruning convention (P_orig, P_mask)
 * gives P = P_orig * P_mask, keeping the mask; ties make two parameters one tensor.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lower_impl.h"
#include "../runtime/safetensors.h"

typedef struct Binder {
    Lower *L;
    NdlrtSt *st;
    const char *path;
    bool *used;              /* per tensor of the file */
    uint32_t *group;         /* per ParamDecl: tie group representative (union-find) */
} Binder;

static uint32_t find_root(uint32_t *g, uint32_t i)
{
    while (g[i] != i) i = g[i] = g[g[i]];
    return i;
}

static void format_st_shape(const NdlrtStTensor *t, char *buf, size_t len)
{
    size_t o = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < t->rank && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%" PRId64, i ? "," : "", t->shape[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
}

static const NdlrtStTensor *find(Binder *b, const char *key)
{
    const NdlrtStTensor *t = ndlrt_st_find(b->st, key);
    if (t) b->used[t - ndlrt_st_tensor(b->st, 0)] = true;
    return t;
}

/* Whether the stored dtype may hold a parameter of computation dtype dt (spec 4, 6): a
 * float from any dtype (integers and BOOL when every value is exact in f32, checked by
 * load), an integer from any integer dtype or BOOL (values must fit), a bool from BOOL/U8. */
static bool dtype_fits(NdlrtStDType st, DType dt)
{
    if (dt == DT_F32) return true;
    if (dt == DT_BOOL) return st == NDLRT_ST_BOOL || st == NDLRT_ST_U8;
    return !ndlrt_st_dtype_is_float(st);
}

/* Whether the integer v is exactly an f32: at most 24 significant bits. */
static bool exact_in_f32(int64_t v)
{
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    while (u && !(u & 1)) u >>= 1;
    return u < (1u << 24);
}

/* The first value of t (read into f32 as `got`) that the conversion did not keep: an
 * integer f32 cannot hold exactly, or a finite F64 beyond f32's range (made infinite);
 * -1 when every value converted as spec 6 allows (floats may round). */
static int64_t first_lossy(const NdlrtStTensor *t, const float *got, const int64_t *ints)
{
    for (uint64_t i = 0; i < t->nelem; i++) {
        if (ints && !exact_in_f32(ints[i])) return (int64_t)i;
        if (t->dtype == NDLRT_ST_F64 && isinf(got[i])) {
            double d;
            memcpy(&d, (const unsigned char *)t->data + 8 * i, 8);
            if (isfinite(d)) return (int64_t)i;
        }
    }
    return -1;
}

/* Checks t against the declared type (with allowed leading slices); reports at span. */
static bool check_tensor(Binder *b, const ParamDecl *p, const NdlrtStTensor *t, const TensorType *want,
                         bool *sliced)
{
    Lower *L = b->L;
    char got[160], decl[160];
    *sliced = false;
    if (!dtype_fits(t->dtype, want->dtype)) {
        diag_error(L->diag, p->span, "tensor '%s' in '%s' has dtype %s, which cannot hold a parameter "
                   "declared %s", t->name, b->path, ndlrt_st_dtype_name(t->dtype),
                   ir_format_type(L->m, want, decl, sizeof decl));
        return false;
    }
    bool ok = t->rank == want->rank;
    for (int i = 0; ok && i < t->rank; i++) {
        if (t->shape[i] == want->dims[i]) continue;
        if ((p->sliceable & (1u << i)) && t->shape[i] > want->dims[i]) *sliced = true;
        else ok = false;
    }
    if (!ok) {
        format_st_shape(t, got, sizeof got);
        diag_error(L->diag, p->span, "tensor '%s' in '%s' has shape %s but the parameter is declared %s",
                   t->name, b->path, got, ir_format_type(L->m, want, decl, sizeof decl));
    }
    return ok;
}

/* Converts t (possibly larger, leading slice) into a new buffer of type want. */
static void *load(Binder *b, const ParamDecl *p, const NdlrtStTensor *t, const TensorType *want,
                  bool sliced, size_t *nbytes)
{
    size_t n = 1;
    for (unsigned i = 0; i < want->rank; i++) n *= (size_t)want->dims[i];
    size_t esz = dtype_info[want->dtype].size;
    void *dst = xmalloc(n * esz + 1);
    *nbytes = n * esz;
    bool is_float = want->dtype == DT_F32;
    /* read the whole stored tensor, then gather the leading slice when needed */
    void *src = sliced ? xmalloc((size_t)t->nelem * 8 + 1) : NULL;
    void *full = sliced ? src : dst;
    int64_t *tmp = NULL;
    bool stored_float = ndlrt_st_dtype_is_float(t->dtype);
    if (!is_float || !stored_float) {
        tmp = xmalloc((size_t)t->nelem * sizeof *tmp + 1);
        ndlrt_st_read_i64(t, tmp);
    }
    if (is_float) {
        ndlrt_st_read_f32(t, full);
        int64_t bad = first_lossy(t, full, tmp);
        if (bad >= 0) {
            char v[64];
            if (tmp) snprintf(v, sizeof v, "%" PRId64, tmp[bad]);
            else {
                double d;
                memcpy(&d, (const unsigned char *)t->data + 8 * bad, 8);
                snprintf(v, sizeof v, "%g", d);
            }
            diag_error(b->L->diag, p->span, "tensor '%s' in '%s' holds %s at flat index %" PRId64 ", which "
                       "f32 cannot %s", t->name, b->path, v, bad, tmp ? "represent exactly" : "reach (beyond its range)");
            free(tmp);
            free(src);
            free(dst);
            return NULL;
        }
        free(tmp);
        tmp = NULL;
    }
    if (!is_float) {
        /* narrow int64 into the computation dtype, exactly (spec 6) */
        for (uint64_t i = 0; i < t->nelem; i++) {
            int64_t v = tmp[i];
            if (want->dtype == DT_I32 && (v < INT32_MIN || v > INT32_MAX)) {
                diag_error(b->L->diag, p->span, "tensor '%s' in '%s' holds %" PRId64 ", which does not fit "
                           "in i32", t->name, b->path, v);
                free(tmp);
                free(src);
                free(dst);
                return NULL;
            }
            if (want->dtype == DT_I32) ((int32_t *)full)[i] = (int32_t)v;
            else if (want->dtype == DT_I64) ((int64_t *)full)[i] = v;
            else ((uint8_t *)full)[i] = v != 0;
        }
        free(tmp);
    }
    if (sliced) {
        /* row-major walk over the declared index space */
        int64_t idx[IR_MAX_RANK] = {0};
        for (size_t k = 0; k < n; k++) {
            uint64_t off = 0;
            for (int i = 0; i < t->rank; i++) off = off * (uint64_t)t->shape[i] + (uint64_t)idx[i];
            memcpy((char *)dst + k * esz, (char *)src + off * esz, esz);
            for (int i = (int)want->rank - 1; i >= 0; i--) {
                if (++idx[i] < want->dims[i]) break;
                idx[i] = 0;
            }
        }
        free(src);
    }
    return dst;
}

static WeightId attach(Binder *b, const ParamDecl *p, const NdlrtStTensor *t, const TensorType *want)
{
    bool sliced;
    if (!check_tensor(b, p, t, want, &sliced)) return 0;
    size_t nbytes;
    void *data = load(b, p, t, want, sliced, &nbytes);
    if (!data) return 0;
    ir_module_on_free(b->L->m, free, data);
    Weight *w = &b->L->m->weights.v[p->weight];
    w->data = data;
    w->nbytes = nbytes;
    return p->weight;
}

/* P = P_orig * P_mask (PyTorch's torch.nn.utils.prune naming). */
static bool attach_pruned(Binder *b, const ParamDecl *p, const NdlrtStTensor *orig,
                          const NdlrtStTensor *mask)
{
    Lower *L = b->L;
    TensorType mt = L->m->weights.v[p->weight].type; /* a copy: ir_add_weight may move the table */
    const TensorType *want = &mt;
    if (!attach(b, p, orig, want)) return false;
    WeightId mw = ir_add_weight(L->m, mask->name, &mt, NULL, 0, p->span);
    ParamDecl mp = *p;
    mp.weight = mw;
    bool sliced;
    /* a mask may have any numeric or BOOL dtype: it is read as float, nonzero keeps */
    if (!(mask->rank == orig->rank && memcmp(mask->shape, orig->shape, (size_t)orig->rank * sizeof(int64_t)) == 0)) {
        char s1[128], s2[128];
        format_st_shape(mask, s1, sizeof s1);
        format_st_shape(orig, s2, sizeof s2);
        diag_error(L->diag, p->span, "mask '%s' in '%s' has shape %s but '%s' has shape %s", mask->name,
                   b->path, s1, orig->name, s2);
        return false;
    }
    sliced = false;
    for (int i = 0; i < orig->rank; i++) sliced |= orig->shape[i] != want->dims[i];
    size_t nbytes;
    float *m = load(b, &mp, mask, want, sliced, &nbytes);
    if (!m) return false;
    ir_module_on_free(L->m, free, m);
    Weight *mwt = &L->m->weights.v[mw];
    mwt->data = m;
    mwt->nbytes = nbytes;
    float *w = L->m->weights.v[p->weight].data;
    for (size_t i = 0; i < nbytes / sizeof(float); i++) {
        m[i] = m[i] != 0 ? 1.0f : 0.0f;
        w[i] *= m[i];
    }
    L->m->weights.v[p->weight].mask = mw;
    return true;
}

static bool same_bytes(const NdlrtStTensor *a, const NdlrtStTensor *b)
{
    return a->dtype == b->dtype && a->rank == b->rank &&
           memcmp(a->shape, b->shape, (size_t)a->rank * sizeof(int64_t)) == 0 &&
           a->end - a->begin == b->end - b->begin && memcmp(a->data, b->data, a->end - a->begin) == 0;
}

static bool bind_all(Binder *b)
{
    Lower *L = b->L;
    uint32_t np = L->params.n;
    bool ok = true;
    /* tie groups */
    for (uint32_t i = 0; i < np; i++) b->group[i] = i;
    for (uint32_t k = 0; k < L->ties.n; k++) {
        int ia = -1, ib = -1;
        for (uint32_t i = 0; i < np; i++) {
            if (L->params.v[i].value == L->ties.v[k].a) ia = (int)i;
            if (L->params.v[i].value == L->ties.v[k].b) ib = (int)i;
        }
        if (ia < 0 || ib < 0) NDLC_ICE("tie of an undeclared parameter");
        b->group[find_root(b->group, (uint32_t)ia)] = find_root(b->group, (uint32_t)ib);
    }
    WeightId *bound = xcalloc(np ? np : 1, sizeof *bound);  /* per group root */
    const NdlrtStTensor **src = xcalloc(np ? np : 1, sizeof *src);
    for (uint32_t i = 0; i < np && !diag_full(L->diag); i++) {
        const ParamDecl *p = &L->params.v[i];
        uint32_t r = find_root(b->group, i);
        const NdlrtStTensor *t = find(b, p->key);
        if (!t && p->alt_key) t = find(b, p->alt_key);
        if (bound[r]) {
            /* a tied parameter: one tensor; if the file has this key too, it must agree */
            if (t && src[r] && !same_bytes(t, src[r])) {
                char sa[160], sb[160];
                format_st_shape(t, sa, sizeof sa);
                format_st_shape(src[r], sb, sizeof sb);
                diag_error(L->diag, p->span, "tied tensors '%s' (%s %s) and '%s' (%s %s) differ in '%s'", t->name,
                           ndlrt_st_dtype_name(t->dtype), sa, src[r]->name, ndlrt_st_dtype_name(src[r]->dtype), sb,
                           b->path);
                ok = false;
            }
            L->m->values.v[p->value].weight = bound[r];
            continue;
        }
        if (!t) {
            char korig[1024], kmask[1024];
            snprintf(korig, sizeof korig, "%s_orig", p->key);
            snprintf(kmask, sizeof kmask, "%s_mask", p->key);
            const NdlrtStTensor *o = ndlrt_st_find(b->st, korig), *m = ndlrt_st_find(b->st, kmask);
            if (o && m) {
                find(b, korig);
                find(b, kmask);
                if (!attach_pruned(b, p, o, m)) ok = false;
                bound[r] = p->weight;
                src[r] = o;
                continue;
            }
            /* another member of the tie group may be stored under its own key */
            for (uint32_t j = i + 1; j < np && !t; j++)
                if (find_root(b->group, j) == r) t = find(b, L->params.v[j].key);
        }
        if (!t) {
            char decl[160];
            diag_error(L->diag, p->span, "weight '%s' (%s) is not in '%s'", p->key,
                       ir_format_type(L->m, &L->m->weights.v[p->weight].type, decl, sizeof decl), b->path);
            ok = false;
            continue;
        }
        TensorType want = L->m->weights.v[p->weight].type;
        if (!attach(b, p, t, &want)) {
            ok = false;
            continue;
        }
        bound[r] = p->weight;
        src[r] = t;
    }
    free(bound);
    free(src);
    return ok;
}

bool bind_weights(Lower *L)
{
    const char *path = L->opt->weights ? L->opt->weights : L->weights_path;
    if (!path) {
        if (L->params.n == 0) return true;
        diag_error(L->diag, L->params.v[0].span, "the model has parameters but no weight file: add "
                   "'weights \"file.safetensors\";' to the model or pass --weights");
        return false;
    }
    char err[512];
    Binder b = {.L = L, .path = path};
    vec_push(L->m->deps, arena_strdup(L->m->arena, path));
    if (ndlrt_st_open(path, &b.st, err, sizeof err) != 0) {
        /* a file named by the model's `weights` statement that cannot be opened is an
         * error of the statement; a malformed file is an error of the file */
        if (!L->opt->weights && strncmp(err, "cannot open", 11) == 0)
            diag_error(L->diag, L->weights_span, "weight file '%s': %s", path, err);
        else
            diag_file_error(L->diag, path, "%s", err);
        return false;
    }
    size_t nt = ndlrt_st_count(b.st);
    b.used = xcalloc(nt ? nt : 1, sizeof *b.used);
    b.group = xcalloc(L->params.n ? L->params.n : 1, sizeof *b.group);
    bool ok = bind_all(&b);
    if (ok && L->opt->warn_unused_weights) {
        for (size_t i = 0; i < nt; i++) {
            const char *name = ndlrt_st_tensor(b.st, i)->name;
            bool ignored = false;
            for (uint32_t k = 0; k < L->ignored_keys.n && !ignored; k++)
                ignored = strcmp(L->ignored_keys.v[k], name) == 0;
            if (!b.used[i] && !ignored) diag_file_warn(L->diag, path, "tensor '%s' is not used by the model", name);
        }
    }
    free(b.used);
    free(b.group);
    ndlrt_st_close(b.st);
    return ok && diag_errors(L->diag) == 0;
}

/* ---- masks of prune statements (prune.c) ------------------------------------------------ */

/* An error about a prune rule: at its statement, or "ndlc: error: --prune 'TEXT': ...". */
static void mask_error(Lower *L, Span span, const char *option, const char *msg)
{
    if (option && !span.file) diag_error(L->diag, span, "--prune '%s': %s", option, msg);
    else diag_error(L->diag, span, "%s", msg);
}

float *weights_read_mask(Lower *L, const ParamDecl *p, const char *key, Span span, const char *option)
{
    const char *path = L->opt->weights ? L->opt->weights : L->weights_path;
    char err[512], msg[1024];
    Binder b = {.L = L, .path = path};
    if (!path) {
        mask_error(L, span, option, "a mask needs a weight file");
        return NULL;
    }
    if (ndlrt_st_open(path, &b.st, err, sizeof err) != 0) {
        diag_file_error(L->diag, path, "%s", err);
        return NULL;
    }
    const NdlrtStTensor *t = ndlrt_st_find(b.st, key);
    const TensorType want = L->m->weights.v[p->weight].type;
    float *mask = NULL;
    bool ok = t != NULL;
    if (!t) {
        snprintf(msg, sizeof msg, "mask '%s' is not in '%s'", key, path);
        mask_error(L, span, option, msg);
    }
    /* the parameter's shape, or larger where the parameter itself is a leading slice */
    bool sliced = false;
    if (ok) ok = t->rank == want.rank;
    for (int i = 0; ok && i < t->rank; i++) {
        if (t->shape[i] == want.dims[i]) continue;
        if ((p->sliceable & (1u << i)) && t->shape[i] > want.dims[i]) sliced = true;
        else ok = false;
    }
    if (t && !ok) {
        char got[160], decl[160];
        format_st_shape(t, got, sizeof got);
        snprintf(msg, sizeof msg, "mask '%s' in '%s' has shape %s but parameter '%s' has shape %s", key,
                 path, got, p->key, ir_format_dims(L->m, &want, decl, sizeof decl));
        mask_error(L, span, option, msg);
    }
    if (ok) {
        /* any numeric or BOOL dtype is read as f32; nonzero keeps */
        size_t nbytes;
        TensorType ft = want;
        ft.dtype = DT_F32;
        mask = load(&b, p, t, &ft, sliced, &nbytes);
        for (size_t i = 0; mask && i < nbytes / sizeof(float); i++) mask[i] = mask[i] != 0 ? 1.0f : 0.0f;
    }
    ndlrt_st_close(b.st);
    return mask;
}

void weights_apply_mask(Lower *L, WeightId w, const float *mask)
{
    Module *m = L->m;
    if (!m->weights.v[w].mask) {
        TensorType t = m->weights.v[w].type; /* a copy: ir_add_weight may move the table */
        size_t nbytes = m->weights.v[w].nbytes;
        float *ones = xmalloc(nbytes + 1);
        for (size_t i = 0; i < nbytes / sizeof(float); i++) ones[i] = 1.0f;
        ir_module_on_free(m, free, ones);
        WeightId mw = ir_add_weight(m, NULL, &t, ones, nbytes, m->weights.v[w].span);
        m->weights.v[w].mask = mw;
    }
    Weight *wt = &m->weights.v[w];
    float *data = wt->data, *keep = m->weights.v[wt->mask].data;
    for (size_t i = 0; i < wt->nbytes / sizeof(float); i++) {
        keep[i] *= mask[i];
        data[i] *= mask[i];
    }
}
