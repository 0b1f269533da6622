/* SPDX-License-Identifier: MIT
 * sparse.c - sparse weights (spec 8.2): analysis, the cost model that picks a format per
 * layer, compile-time packing, and the linear / 1x1 conv kernels that read the packs.
 *
 * A weight W[n, k] (a linear's [out, in], a 1x1 conv's [o, c]) is packed into ONE f32
 * array whose integers (sizes, offsets, column indices, position codes) are stored as
 * exact f32 values, all below 2^24 (NDLRT_SPARSE_MAX_INT; larger weights stay dense).
 * One f32 array keeps the packed weight a plain tensor for the emitters, the embedded
 * arrays and the external weight file. Layouts (header first, NDLRT_SPARSE_HEADER floats):
 *   CSR    ptr[n + 1], col[nnz], val[nnz]
 *   BLOCK  W cut into 16-row panels (NDLRT_SPARSE_BLOCK_ROWS); a block is one column of a
 *          panel with any nonzero: ptr[panels + 1], col[blocks], val[blocks * 16]
 *          (rows past n are 0), so that one block is one AVX-512 FMA
 *   NM     N of every M consecutive elements of a row (M a power of two): per group a
 *          code sum_i pos_i << (log2(M) * i) (ascending positions), then N values per group
 *   ELL    for one column (a GEMV) without gathers: W cut into 16-row panels and 64-column
 *          chunks; a (panel, chunk) holds as many slices as its row with the most nonzeros
 *          in the chunk, slice s holding the s-th nonzero of each of the 16 rows (padding:
 *          value 0, column 0). The kernel keeps the chunk of x in four registers and picks
 *          each lane's x with two two-register permutes and a blend (AVX-512 vpermt2ps):
 *          one slice is 16 multiply-adds, no gather, no horizontal sum. cnt[panels *
 *          chunks] (slices per panel and chunk), then per slice 4 index floats (float j
 *          holds the 6-bit columns of lanes j, j+4, j+8, j+12, lane j + 4q at bit 6q) and
 *          16 values. 2.1 floats per nonzero at 90% sparsity (padding included).
 * Kernels compute Y[n, P] = W . X[k, P] row by row: P = 1 for one vector (a gather-dot
 * per row), otherwise for P columns held contiguously (a batch transposed into the
 * scratch, or a 1x1 conv's image plane). Never allocates or keeps state.
 */
#include "../ndlrt.h"

#include <stdlib.h>
#include <string.h>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

enum { H_FORMAT, H_N, H_K, H_NNZ, H_NM_N, H_NM_M, H_SLICES, H_COUNT };
_Static_assert((int)H_COUNT <= (int)NDLRT_SPARSE_HEADER, "sparse header");

/* ---- analysis and the cost model ---------------------------------------------------------- */

/* ELL's slices: per 16-row panel and 64-column chunk, the most nonzeros of a row in it. */
static int64_t ell_slices(int64_t n, int64_t k, const float *w)
{
    int64_t total = 0;
    for (int64_t r0 = 0; r0 < n; r0 += NDLRT_SPARSE_BLOCK_ROWS)
        for (int64_t c0 = 0; c0 < k; c0 += NDLRT_SPARSE_ELL_COLS) {
            int64_t most = 0;
            for (int64_t r = r0; r < n && r < r0 + NDLRT_SPARSE_BLOCK_ROWS; r++) {
                int64_t cnt = 0;
                for (int64_t c = c0; c < k && c < c0 + NDLRT_SPARSE_ELL_COLS; c++) cnt += w[r * k + c] != 0;
                if (cnt > most) most = cnt;
            }
            total += most;
        }
    return total;
}

NDLRT_API void ndlrt_sparse_analyze(int64_t n, int64_t k, const float *w, NdlrtSparseInfo *s)
{
    memset(s, 0, sizeof *s);
    s->n = n;
    s->k = k;
    for (int64_t i = 0; i < n * k; i++) s->nnz += w[i] != 0;
    for (int64_t r0 = 0; r0 < n; r0 += NDLRT_SPARSE_BLOCK_ROWS)
        for (int64_t c = 0; c < k; c++) {
            int any = 0;
            for (int64_t r = r0; r < n && r < r0 + NDLRT_SPARSE_BLOCK_ROWS && !any; r++) any = w[r * k + c] != 0;
            s->blocks += any;
        }
    /* the N:M pattern with the fewest kept per group, M in {4, 8} (the smaller M on ties) */
    for (int m = 4; m <= 8; m *= 2) {
        if (k % m) continue;
        int most = 0;
        for (int64_t g = 0; g < n * k; g += m) {
            int nz = 0;
            for (int j = 0; j < m; j++) nz += w[g + j] != 0;
            if (nz > most) most = nz;
        }
        if (2 * most <= m && (!s->nm_m || most * s->nm_m < s->nm_n * m)) {
            s->nm_n = most;
            s->nm_m = m;
        }
    }
    s->ell_slices = ell_slices(n, k, w);
}

/* Estimated time per format in units of one dense multiply-add of the packed GEMM/GEMV,
 * measured with the kernels here on a 1024 x 1024 weight (AMD EPYC, AVX-512, one thread;
 * bench/sparse.py and the sparse rows of docs/decisions.md):
 *   one column (GEMV, weights from cache): CSR 9 per nonzero (gather-bound), BLOCK 1.6 per
 *   block lane (one FMA per 16 lanes), NM 20 per kept value (scalar decode);
 *   a batch (transposed, L2-bound): CSR 5 per nonzero, BLOCK 5 per nonzero and 2 per lane
 *   (every row of a panel scans the panel's blocks), NM 6 per kept value.
 *   ELL: one column 1.3 per lane, padding included (permutes, no gathers: 4.4x dense at 90%
 *   and 1.3x at 50% on 1024 x 1024, timed on the kernels alone on a loaded
 *   machine, where the dense GEMV is memory-bound); with a batch each panel's rows are
 *   decoded and combined as CSR's, yet measured 3x slower: 15 per nonzero.
 * The cheapest wins; dense on ties. */
#define ELL_LANE 1.3 /* dense multiply-adds per ELL lane at one column (see above) */
NDLRT_API int ndlrt_sparse_choose(const NdlrtSparseInfo *s, int64_t cols, int force)
{
    const double max_int = NDLRT_SPARSE_MAX_INT;
    if (s->n <= 0 || s->k <= 0 || (double)s->n * (double)s->k >= max_int) return NDLRT_SPARSE_DENSE;
    if (force == NDLRT_SPARSE_NM && !s->nm_m) return NDLRT_SPARSE_DENSE;
    if (force != NDLRT_SPARSE_AUTO) return force;
    int one = cols <= 1;
    double dense = (double)s->n * (double)s->k, lanes = (double)s->blocks * NDLRT_SPARSE_BLOCK_ROWS;
    double csr = (double)s->nnz * (one ? 9.0 : 5.0);
    double block = one ? lanes * 1.6 : (double)s->nnz * 5.0 + lanes * 2.0;
    double nm = s->nm_m ? dense * s->nm_n / s->nm_m * (one ? 20.0 : 6.0) : 2 * dense;
    double ell_lanes = (double)s->ell_slices * NDLRT_SPARSE_BLOCK_ROWS;
    double ell = one ? ell_lanes * ELL_LANE : (double)s->nnz * 15.0;
    int best = NDLRT_SPARSE_DENSE;
    double cost = dense;
    if (csr < cost) best = NDLRT_SPARSE_CSR, cost = csr;
    if (block < cost) best = NDLRT_SPARSE_BLOCK, cost = block;
    if (nm < cost) best = NDLRT_SPARSE_NM, cost = nm;
    /* ELL's batch path is about 3x slower than CSR's (measured; the cause is not known
     * yet) and an unbounded batch counts as one column, so ELL must halve the dense time */
    if (ell < cost && (!one || ell < dense / 2)) best = NDLRT_SPARSE_ELL, cost = ell;
    return best;
}

static int64_t panels(int64_t n) { return (n + NDLRT_SPARSE_BLOCK_ROWS - 1) / NDLRT_SPARSE_BLOCK_ROWS; }
static int64_t ell_chunks(int64_t k) { return (k + NDLRT_SPARSE_ELL_COLS - 1) / NDLRT_SPARSE_ELL_COLS; }

NDLRT_API size_t ndlrt_sparse_packed_floats(const NdlrtSparseInfo *s, int format)
{
    size_t h = NDLRT_SPARSE_HEADER;
    switch (format) {
    case NDLRT_SPARSE_CSR: return h + (size_t)(s->n + 1) + 2 * (size_t)s->nnz;
    case NDLRT_SPARSE_BLOCK:
        return h + (size_t)(panels(s->n) + 1) + (size_t)s->blocks * (1 + NDLRT_SPARSE_BLOCK_ROWS);
    case NDLRT_SPARSE_NM: {
        size_t groups = (size_t)(s->n * (s->k / s->nm_m));
        return h + groups * (size_t)(1 + s->nm_n);
    }
    case NDLRT_SPARSE_ELL:
        return h + (size_t)(panels(s->n) * ell_chunks(s->k)) + (size_t)s->ell_slices * (4 + NDLRT_SPARSE_BLOCK_ROWS);
    default: return 0;
    }
}

static int log2i(int m)
{
    int b = 0;
    while ((1 << b) < m) b++;
    return b;
}

/* ELL (see the top of the file): cnt, then per slice 4 index floats and 16 values. */
static void ell_pack(const NdlrtSparseInfo *s, const float *w, float *h, float *d)
{
    enum { R = NDLRT_SPARSE_BLOCK_ROWS, C = NDLRT_SPARSE_ELL_COLS };
    int64_t n = s->n, k = s->k, np = panels(n), nc = ell_chunks(k);
    float *cnt = d, *at = d + np * nc;
    for (int64_t p = 0; p < np; p++)
        for (int64_t c = 0; c < nc; c++) {
            int64_t most = 0;
            for (int64_t l = 0; l < R && p * R + l < n; l++) {
                int64_t row = p * R + l, t = 0;
                for (int64_t j = c * C; j < k && j < (c + 1) * C; j++) t += w[row * k + j] != 0;
                if (t > most) most = t;
            }
            cnt[p * nc + c] = (float)most;
            memset(at, 0, (size_t)most * (4 + R) * sizeof *at);
            for (int64_t l = 0; l < R && p * R + l < n; l++) {
                int64_t row = p * R + l, t = 0;
                for (int64_t j = c * C; j < k && j < (c + 1) * C; j++) {
                    if (w[row * k + j] == 0) continue;
                    float *slice = at + t * (4 + R);
                    slice[l % 4] += (float)((j - c * C) << (6 * (l / 4)));
                    slice[4 + l] = w[row * k + j];
                    t++;
                }
            }
            at += most * (4 + R);
        }
    h[H_NNZ] = (float)s->nnz;
    h[H_SLICES] = (float)s->ell_slices;
}

NDLRT_API void ndlrt_sparse_pack(const NdlrtSparseInfo *s, int format, const float *w, float *packed)
{
    int64_t n = s->n, k = s->k;
    float *h = packed, *d = packed + NDLRT_SPARSE_HEADER;
    memset(h, 0, NDLRT_SPARSE_HEADER * sizeof *h);
    h[H_FORMAT] = (float)format;
    h[H_N] = (float)n;
    h[H_K] = (float)k;
    if (format == NDLRT_SPARSE_CSR) {
        float *col = d + n + 1, *val = col + s->nnz;
        int64_t at = 0;
        for (int64_t r = 0; r < n; r++) {
            d[r] = (float)at;
            for (int64_t c = 0; c < k; c++)
                if (w[r * k + c] != 0) {
                    col[at] = (float)c;
                    val[at++] = w[r * k + c];
                }
        }
        d[n] = (float)at;
        h[H_NNZ] = (float)at;
    } else if (format == NDLRT_SPARSE_BLOCK) {
        int64_t np = panels(n);
        float *col = d + np + 1, *val = col + s->blocks;
        int64_t at = 0;
        for (int64_t p = 0; p < np; p++) {
            d[p] = (float)at;
            int64_t r0 = p * NDLRT_SPARSE_BLOCK_ROWS;
            for (int64_t c = 0; c < k; c++) {
                int any = 0;
                for (int64_t r = r0; r < n && r < r0 + NDLRT_SPARSE_BLOCK_ROWS; r++) any |= w[r * k + c] != 0;
                if (!any) continue;
                col[at] = (float)c;
                for (int64_t i = 0; i < NDLRT_SPARSE_BLOCK_ROWS; i++)
                    val[at * NDLRT_SPARSE_BLOCK_ROWS + i] = r0 + i < n ? w[(r0 + i) * k + c] : 0.0f;
                at++;
            }
        }
        d[np] = (float)at;
        h[H_NNZ] = (float)at;
    } else if (format == NDLRT_SPARSE_NM) {
        int nn = s->nm_n, mm = s->nm_m, sh = log2i(mm);
        int64_t groups = n * (k / mm);
        float *val = d + groups;
        h[H_NM_N] = (float)nn;
        h[H_NM_M] = (float)mm;
        for (int64_t g = 0; g < groups; g++) {
            const float *src = w + g * mm;
            int32_t code = 0;
            int kept = 0;
            for (int j = 0; j < mm && kept < nn; j++)
                if (src[j] != 0) {
                    code |= j << (sh * kept);
                    val[g * nn + kept++] = src[j];
                }
            for (; kept < nn; kept++) val[g * nn + kept] = 0.0f; /* position 0, value 0 */
            d[g] = (float)code;
        }
        h[H_NNZ] = (float)(groups * nn);
    } else if (format == NDLRT_SPARSE_ELL) {
        ell_pack(s, w, h, d);
    }
}

/* ---- one row: y[0:P] (+)= sum_j val[j] * X[col[j], 0:P] ------------------------------------- */

/* A row's entries are decoded into int32 columns in chunks of this many. */
#define CHUNK 256

static void row_combine(int64_t P, int64_t cnt, const int32_t *col, const float *val, const float *X,
                        int64_t ldx, float *y, int accumulate)
{
    int64_t p0 = 0;
#if defined(__AVX512F__)
    for (; p0 + 64 <= P; p0 += 64) {
        __m512 a0, a1, a2, a3;
        if (accumulate) {
            a0 = _mm512_loadu_ps(y + p0), a1 = _mm512_loadu_ps(y + p0 + 16);
            a2 = _mm512_loadu_ps(y + p0 + 32), a3 = _mm512_loadu_ps(y + p0 + 48);
        } else {
            a0 = a1 = a2 = a3 = _mm512_setzero_ps();
        }
        /* two entries per step into two sets of accumulators: the FMA latency, not the
         * loads, would bound one chain per accumulator */
        __m512 b0 = _mm512_setzero_ps(), b1 = b0, b2 = b0, b3 = b0;
        int64_t j = 0;
        for (; j + 2 <= cnt; j += 2) {
            const float *xr = X + (int64_t)col[j] * ldx + p0, *xs = X + (int64_t)col[j + 1] * ldx + p0;
            __m512 v = _mm512_set1_ps(val[j]), u = _mm512_set1_ps(val[j + 1]);
            a0 = _mm512_fmadd_ps(v, _mm512_loadu_ps(xr), a0);
            a1 = _mm512_fmadd_ps(v, _mm512_loadu_ps(xr + 16), a1);
            a2 = _mm512_fmadd_ps(v, _mm512_loadu_ps(xr + 32), a2);
            a3 = _mm512_fmadd_ps(v, _mm512_loadu_ps(xr + 48), a3);
            b0 = _mm512_fmadd_ps(u, _mm512_loadu_ps(xs), b0);
            b1 = _mm512_fmadd_ps(u, _mm512_loadu_ps(xs + 16), b1);
            b2 = _mm512_fmadd_ps(u, _mm512_loadu_ps(xs + 32), b2);
            b3 = _mm512_fmadd_ps(u, _mm512_loadu_ps(xs + 48), b3);
        }
        if (j < cnt) {
            const float *xr = X + (int64_t)col[j] * ldx + p0;
            __m512 v = _mm512_set1_ps(val[j]);
            a0 = _mm512_fmadd_ps(v, _mm512_loadu_ps(xr), a0);
            a1 = _mm512_fmadd_ps(v, _mm512_loadu_ps(xr + 16), a1);
            a2 = _mm512_fmadd_ps(v, _mm512_loadu_ps(xr + 32), a2);
            a3 = _mm512_fmadd_ps(v, _mm512_loadu_ps(xr + 48), a3);
        }
        a0 = _mm512_add_ps(a0, b0), a1 = _mm512_add_ps(a1, b1);
        a2 = _mm512_add_ps(a2, b2), a3 = _mm512_add_ps(a3, b3);
        _mm512_storeu_ps(y + p0, a0);
        _mm512_storeu_ps(y + p0 + 16, a1);
        _mm512_storeu_ps(y + p0 + 32, a2);
        _mm512_storeu_ps(y + p0 + 48, a3);
    }
    for (; p0 < P; p0 += 16) {
        __mmask16 mk = P - p0 >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (P - p0)) - 1);
        __m512 a = accumulate ? _mm512_maskz_loadu_ps(mk, y + p0) : _mm512_setzero_ps();
        for (int64_t j = 0; j < cnt; j++)
            a = _mm512_fmadd_ps(_mm512_set1_ps(val[j]), _mm512_maskz_loadu_ps(mk, X + (int64_t)col[j] * ldx + p0), a);
        _mm512_mask_storeu_ps(y + p0, mk, a);
    }
#else
    enum { W = 16 };
    for (; p0 < P; p0 += W) {
        int64_t w = P - p0 < W ? P - p0 : W;
        float a[W];
        for (int64_t i = 0; i < w; i++) a[i] = accumulate ? y[p0 + i] : 0.0f;
        for (int64_t j = 0; j < cnt; j++) {
            const float *xr = X + (int64_t)col[j] * ldx + p0;
            float v = val[j];
            for (int64_t i = 0; i < w; i++) a[i] += v * xr[i];
        }
        for (int64_t i = 0; i < w; i++) y[p0 + i] = a[i];
    }
#endif
}

/* Sum of val[j] * x[col[j]] with the columns stored as f32. */
static float dot_fcol(int64_t cnt, const float *col, const float *val, const float *x)
{
    int64_t j = 0;
    float s = 0.0f;
#if defined(__AVX512F__)
    __m512 a = _mm512_setzero_ps();
    for (; j + 16 <= cnt; j += 16) {
        __m512i idx = _mm512_cvttps_epi32(_mm512_loadu_ps(col + j));
        a = _mm512_fmadd_ps(_mm512_loadu_ps(val + j), _mm512_i32gather_ps(idx, x, 4), a);
    }
    if (j < cnt) {
        __mmask16 mk = (__mmask16)((1u << (cnt - j)) - 1);
        __m512i idx = _mm512_cvttps_epi32(_mm512_maskz_loadu_ps(mk, col + j));
        __m512 g = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mk, idx, x, 4);
        a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, val + j), g, a);
        j = cnt;
    }
    s = _mm512_reduce_add_ps(a);
#elif defined(__AVX2__) && defined(__FMA__)
    __m256 a = _mm256_setzero_ps();
    for (; j + 8 <= cnt; j += 8) {
        __m256i idx = _mm256_cvttps_epi32(_mm256_loadu_ps(col + j));
        a = _mm256_fmadd_ps(_mm256_loadu_ps(val + j), _mm256_i32gather_ps(x, idx, 4), a);
    }
    float t[8];
    _mm256_storeu_ps(t, a);
    for (int i = 0; i < 8; i++) s += t[i];
#endif
    float s0 = 0, s1 = 0;
    for (; j + 2 <= cnt; j += 2) {
        s0 += val[j] * x[(int64_t)col[j]];
        s1 += val[j + 1] * x[(int64_t)col[j + 1]];
    }
    if (j < cnt) s0 += val[j] * x[(int64_t)col[j]];
    return s + s0 + s1;
}

/* ---- per format: Y[n, P] = W . X ------------------------------------------------------------ */

static void csr_rows(const float *pk, int64_t P, const float *X, int64_t ldx, float *Y, int64_t ldy)
{
    int64_t n = (int64_t)pk[H_N], nnz = (int64_t)pk[H_NNZ];
    const float *ptr = pk + NDLRT_SPARSE_HEADER, *col = ptr + n + 1, *val = col + nnz;
    int32_t ci[CHUNK];
    for (int64_t r = 0; r < n; r++) {
        int64_t b = (int64_t)ptr[r], e = (int64_t)ptr[r + 1];
        if (P == 1) {
            Y[r * ldy] = dot_fcol(e - b, col + b, val + b, X);
            continue;
        }
        if (b == e) memset(Y + r * ldy, 0, (size_t)P * sizeof *Y);
        for (int64_t j0 = b; j0 < e; j0 += CHUNK) {
            int64_t cnt = e - j0 < CHUNK ? e - j0 : CHUNK;
            for (int64_t j = 0; j < cnt; j++) ci[j] = (int32_t)col[j0 + j];
            row_combine(P, cnt, ci, val + j0, X, ldx, Y + r * ldy, j0 > b);
        }
    }
}

static void block_rows(const float *pk, int64_t P, const float *X, int64_t ldx, float *Y, int64_t ldy)
{
    enum { R = NDLRT_SPARSE_BLOCK_ROWS };
    int64_t n = (int64_t)pk[H_N], nb = (int64_t)pk[H_NNZ], np = panels(n);
    const float *ptr = pk + NDLRT_SPARSE_HEADER, *col = ptr + np + 1, *val = col + nb;
    int32_t ci[CHUNK];
    float cv[CHUNK];
    for (int64_t p = 0; p < np; p++) {
        int64_t b = (int64_t)ptr[p], e = (int64_t)ptr[p + 1], r0 = p * R, rows = n - r0 < R ? n - r0 : R;
        if (P == 1) {
            float acc[R];
#if defined(__AVX512F__)
            __m512 a = _mm512_setzero_ps();
            for (int64_t j = b; j < e; j++)
                a = _mm512_fmadd_ps(_mm512_loadu_ps(val + j * R), _mm512_set1_ps(X[(int64_t)col[j]]), a);
            _mm512_storeu_ps(acc, a);
#else
            for (int i = 0; i < R; i++) acc[i] = 0.0f;
            for (int64_t j = b; j < e; j++) {
                float xv = X[(int64_t)col[j]];
                for (int i = 0; i < R; i++) acc[i] += val[j * R + i] * xv;
            }
#endif
            for (int64_t i = 0; i < rows; i++) Y[(r0 + i) * ldy] = acc[i];
            continue;
        }
        /* P columns: each row of the panel takes the nonzeros of its lane */
        for (int64_t i = 0; i < rows; i++) {
            int64_t cnt = 0;
            int started = 0;
            for (int64_t j = b; j < e; j++) {
                float v = val[j * R + i];
                if (v == 0) continue;
                ci[cnt] = (int32_t)col[j];
                cv[cnt++] = v;
                if (cnt == CHUNK) {
                    row_combine(P, cnt, ci, cv, X, ldx, Y + (r0 + i) * ldy, started);
                    started = 1;
                    cnt = 0;
                }
            }
            if (cnt || !started) row_combine(P, cnt, ci, cv, X, ldx, Y + (r0 + i) * ldy, started);
        }
    }
}

/* Floats of X that the batched N:M kernel keeps hot per tile (32 KiB, an L1 data cache) */
#define NM_TILE_FLOATS 8192

static void nm_rows(const float *pk, int64_t P, const float *X, int64_t ldx, float *Y, int64_t ldy)
{
    int64_t n = (int64_t)pk[H_N], k = (int64_t)pk[H_K];
    int nn = (int)pk[H_NM_N], mm = (int)pk[H_NM_M], sh = log2i(mm);
    int64_t gpr = k / mm; /* groups per row */
    const float *code = pk + NDLRT_SPARSE_HEADER, *val = code + n * gpr;
    int32_t ci[CHUNK];
    int64_t per_chunk = nn ? CHUNK / nn : 1;
    if (nn > 0 && P > 1 && P <= NM_TILE_FLOATS / mm) {
        /* a batch: tiles of `tile` groups (tile * M rows of X, at most NM_TILE_FLOATS
         * floats) stay in L1 while every row takes its kept values from them */
        int64_t tile = NM_TILE_FLOATS / (P * mm) < per_chunk ? NM_TILE_FLOATS / (P * mm) : per_chunk;
        for (int64_t g0 = 0; g0 < gpr; g0 += tile) {
            int64_t g1 = g0 + tile < gpr ? g0 + tile : gpr;
            for (int64_t r = 0; r < n; r++) {
                int64_t cnt = 0;
                for (int64_t g = g0; g < g1; g++) {
                    int32_t c = (int32_t)code[r * gpr + g];
                    for (int i = 0; i < nn; i++) ci[cnt++] = (int32_t)(g * mm) + ((c >> (sh * i)) & (mm - 1));
                }
                row_combine(P, cnt, ci, val + (r * gpr + g0) * nn, X, ldx, Y + r * ldy, g0 > 0);
            }
        }
        return;
    }
    for (int64_t r = 0; r < n; r++) {
        float *y = Y + r * ldy;
        if (nn == 0) {
            if (P == 1) y[0] = 0.0f;
            else memset(y, 0, (size_t)P * sizeof *y);
            continue;
        }
        float dot = 0.0f;
        for (int64_t g0 = 0; g0 < gpr; g0 += per_chunk) {
            int64_t ng = gpr - g0 < per_chunk ? gpr - g0 : per_chunk, cnt = 0;
            for (int64_t g = g0; g < g0 + ng; g++) {
                int32_t c = (int32_t)code[r * gpr + g];
                for (int i = 0; i < nn; i++) ci[cnt++] = (int32_t)(g * mm) + ((c >> (sh * i)) & (mm - 1));
            }
            const float *v = val + (r * gpr + g0) * nn;
            if (P == 1)
                for (int64_t j = 0; j < cnt; j++) dot += v[j] * X[ci[j]];
            else row_combine(P, cnt, ci, v, X, ldx, y, g0 > 0);
        }
        if (P == 1) y[0] = dot;
    }
}

/* Column of lane l of a slice (relative to its chunk), from its 4 index floats as integers. */
static int32_t ell_col(const int32_t *code, int64_t l)
{
    return (code[l % 4] >> (6 * (l / 4))) & (NDLRT_SPARSE_ELL_COLS - 1);
}

/* ELL, one column: y[r * ldy] = W[r, :] . x */
static void ell_vector(const float *pk, const float *x, float *y, int64_t ldy)
{
    enum { R = NDLRT_SPARSE_BLOCK_ROWS, C = NDLRT_SPARSE_ELL_COLS, S = 4 + R };
    int64_t n = (int64_t)pk[H_N], k = (int64_t)pk[H_K], np = panels(n), nc = ell_chunks(k);
    const float *cnt = pk + NDLRT_SPARSE_HEADER, *at = cnt + np * nc;
#if defined(__AVX512F__)
    const __m512i shift = _mm512_set_epi32(18, 18, 18, 18, 12, 12, 12, 12, 6, 6, 6, 6, 0, 0, 0, 0);
    const __m512i bit5 = _mm512_set1_epi32(32);
#endif
    for (int64_t p = 0; p < np; p++) {
        int64_t rows = n - p * R < R ? n - p * R : R;
#if defined(__AVX512F__)
        __m512 a = _mm512_setzero_ps(), b = _mm512_setzero_ps();
        for (int64_t c = 0; c < nc; c++) {
            int64_t ns = (int64_t)cnt[p * nc + c], left = k - c * C;
            if (!ns) continue;
            const float *xc = x + c * C;
            __m512 x0, x1, x2, x3;
            if (left >= C) {
                x0 = _mm512_loadu_ps(xc), x1 = _mm512_loadu_ps(xc + 16);
                x2 = _mm512_loadu_ps(xc + 32), x3 = _mm512_loadu_ps(xc + 48);
            } else { /* the last chunk: no read past x */
                __mmask64 m = ((__mmask64)1 << left) - 1;
                x0 = _mm512_maskz_loadu_ps((__mmask16)m, xc), x1 = _mm512_maskz_loadu_ps((__mmask16)(m >> 16), xc + 16);
                x2 = _mm512_maskz_loadu_ps((__mmask16)(m >> 32), xc + 32);
                x3 = _mm512_maskz_loadu_ps((__mmask16)(m >> 48), xc + 48);
            }
            for (int64_t t = 0; t < ns; t++, at += S) {
                __m512i packed = _mm512_broadcast_i32x4(_mm_cvttps_epi32(_mm_loadu_ps(at)));
                __m512i col = _mm512_srlv_epi32(packed, shift);
                __m512 lo = _mm512_permutex2var_ps(x0, col, x1), hi = _mm512_permutex2var_ps(x2, col, x3);
                __m512 xv = _mm512_mask_blend_ps(_mm512_test_epi32_mask(col, bit5), lo, hi);
                if (t & 1) b = _mm512_fmadd_ps(_mm512_loadu_ps(at + 4), xv, b);
                else a = _mm512_fmadd_ps(_mm512_loadu_ps(at + 4), xv, a);
            }
        }
        a = _mm512_add_ps(a, b);
        __mmask16 live = (__mmask16)(rows == R ? 0xFFFF : (1u << rows) - 1);
        if (ldy == 1) _mm512_mask_storeu_ps(y + p * R, live, a);
        else {
            float acc[R];
            _mm512_storeu_ps(acc, a);
            for (int64_t l = 0; l < rows; l++) y[(p * R + l) * ldy] = acc[l];
        }
#else
        float acc[R] = {0};
        for (int64_t c = 0; c < nc; c++)
            for (int64_t t = 0, ns = (int64_t)cnt[p * nc + c]; t < ns; t++, at += S) {
                int32_t code[4] = {(int32_t)at[0], (int32_t)at[1], (int32_t)at[2], (int32_t)at[3]};
                for (int64_t l = 0; l < rows; l++) acc[l] += at[4 + l] * x[c * C + ell_col(code, l)];
            }
        for (int64_t l = 0; l < rows; l++) y[(p * R + l) * ldy] = acc[l];
#endif
    }
}

/* Entries per row that ell_columns decodes before a row_combine (16 rows of them on the
 * stack: 16 KiB). */
#define ELL_ROW_CHUNK 128

/* ELL, P columns: a panel's slices are read once, in order, and split into its 16 rows'
 * entries (a row reading its own lane across the panel would pass over the whole panel
 * 16 times), which go through row_combine as CSR's rows do. */
static void ell_columns(const float *pk, int64_t P, const float *X, int64_t ldx, float *Y, int64_t ldy)
{
    enum { R = NDLRT_SPARSE_BLOCK_ROWS, C = NDLRT_SPARSE_ELL_COLS, S = 4 + R };
    int64_t n = (int64_t)pk[H_N], k = (int64_t)pk[H_K], np = panels(n), nc = ell_chunks(k);
    const float *cnt = pk + NDLRT_SPARSE_HEADER, *at = cnt + np * nc;
    int32_t ci[R][ELL_ROW_CHUNK];
    float cv[R][ELL_ROW_CHUNK];
    for (int64_t p = 0; p < np; p++) {
        int64_t rows = n - p * R < R ? n - p * R : R, m[R] = {0};
        int started[R] = {0};
        for (int64_t c = 0; c < nc; c++)
            for (int64_t t = 0, ns = (int64_t)cnt[p * nc + c]; t < ns; t++, at += S) {
                int32_t code[4] = {(int32_t)at[0], (int32_t)at[1], (int32_t)at[2], (int32_t)at[3]};
                for (int64_t l = 0; l < rows; l++) {
                    /* branch-free: a padding lane (value 0) is written and not counted */
                    ci[l][m[l]] = (int32_t)(c * C) + ell_col(code, l);
                    cv[l][m[l]] = at[4 + l];
                    m[l] += at[4 + l] != 0;
                    if (m[l] == ELL_ROW_CHUNK) {
                        row_combine(P, m[l], ci[l], cv[l], X, ldx, Y + (p * R + l) * ldy, started[l]);
                        started[l] = 1;
                        m[l] = 0;
                    }
                }
            }
        for (int64_t l = 0; l < rows; l++)
            if (m[l] || !started[l]) row_combine(P, m[l], ci[l], cv[l], X, ldx, Y + (p * R + l) * ldy, started[l]);
    }
}

/* Y[n, P] = W . X[k, P] (row strides ldx, ldy; P = 1: X and Y are vectors with stride 1
 * for X and ldy for Y). */
static void sparse_rows(const float *pk, int64_t P, const float *X, int64_t ldx, float *Y, int64_t ldy)
{
    switch ((int)pk[H_FORMAT]) {
    case NDLRT_SPARSE_CSR: csr_rows(pk, P, X, ldx, Y, ldy); break;
    case NDLRT_SPARSE_BLOCK: block_rows(pk, P, X, ldx, Y, ldy); break;
    case NDLRT_SPARSE_NM: nm_rows(pk, P, X, ldx, Y, ldy); break;
    case NDLRT_SPARSE_ELL:
        if (P == 1) ell_vector(pk, X, Y, ldy);
        else ell_columns(pk, P, X, ldx, Y, ldy);
        break;
    default: break;
    }
}

/* ---- the layers ---------------------------------------------------------------------------- */

/* Below this many rows a linear runs one gather-dot per row and output; from it on, the
 * batch is transposed so that each nonzero is a vector multiply-add over the rows. */
#define BATCH_TRANSPOSE 8

/* dst[cols, rows] = src[rows, cols]^T in 16 x 16 tiles (a row-at-a-time loop writes
 * with a large power-of-two stride, which the caches punish). */
static void transpose(int64_t rows, int64_t cols, const float *src, float *dst)
{
    enum { TILE = 16 };
    for (int64_t i0 = 0; i0 < rows; i0 += TILE)
        for (int64_t j0 = 0; j0 < cols; j0 += TILE) {
            int64_t ie = i0 + TILE < rows ? i0 + TILE : rows, je = j0 + TILE < cols ? j0 + TILE : cols;
            for (int64_t j = j0; j < je; j++)
                for (int64_t i = i0; i < ie; i++) dst[j * rows + i] = src[i * cols + j];
        }
}

NDLRT_API size_t ndlrt_sparse_linear_scratch_floats(int64_t m, int64_t n, int64_t k)
{
    return m < BATCH_TRANSPOSE ? 0 : (size_t)(m * k + m * n);
}

NDLRT_API void ndlrt_sparse_linear_f32(const NdlrtSparseLinear *p, const float *x, float *y, float *scratch)
{
    int64_t m = p->m, n = p->n, k = p->k;
    if (m < BATCH_TRANSPOSE) {
        for (int64_t i = 0; i < m; i++) sparse_rows(p->w_packed, 1, x + i * k, 1, y + i * n, 1);
    } else {
        float *xt = scratch, *yt = scratch + m * k;
        transpose(m, k, x, xt);
        sparse_rows(p->w_packed, m, xt, m, yt, m);
        transpose(n, m, yt, y);
    }
    if (!ndlrt_epilogue_empty(&p->ep)) ndlrt_epilogue_f32(&p->ep, m, n, y, n, p->ep.residual, p->ep.bias, 0);
}

NDLRT_API void ndlrt_sparse_conv1x1_f32(const NdlrtSparseConv1x1 *p, const float *x, float *y)
{
    for (int64_t b = 0; b < p->n; b++) {
        const float *xb = x + b * p->c * p->hw;
        float *yb = y + b * p->o * p->hw;
        sparse_rows(p->w_packed, p->hw, xb, p->hw, yb, p->hw);
        if (!ndlrt_epilogue_empty(&p->ep))
            ndlrt_epilogue_f32(&p->ep, p->o, p->hw, yb, p->hw,
                               p->ep.residual ? p->ep.residual + b * p->o * p->hw : NULL, p->ep.bias, 1);
    }
}
