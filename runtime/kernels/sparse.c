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
 *          code sum_i pos_i << (log2(M) * i) (ascending positions) and N values; stored
 *          tile-major (128-column tiles of K; per tile, per row: its codes, then its values)
 *   ELL    for one column (a GEMV) without gathers: W cut into 16-row panels and 64-column
 *          chunks; a (panel, chunk) holds as many slices as its row with the most nonzeros
 *          in the chunk, slice s holding the s-th nonzero of each of the 16 rows (padding:
 *          value 0, column 0). The kernel keeps the chunk of x in four registers and picks
 *          each lane's x with two two-register permutes and a blend (AVX-512 vpermt2ps):
 *          one slice is 16 multiply-adds, no gather, no horizontal sum. A panel's 16 rows
 *          are chosen to peak in the same chunks (ell_group), not consecutive.
 *          cnt[panels * chunks] (slices per panel and chunk), rows[panels * 16] (the row
 *          of each panel lane), then per slice 4 index floats (float j
 *          holds the 6-bit columns of lanes j, j+4, j+8, j+12, lane j + 4q at bit 6q) and
 *          16 values. 1.9 floats per nonzero at 90% sparsity (padding included).
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

static int64_t panels(int64_t n) { return (n + NDLRT_SPARSE_BLOCK_ROWS - 1) / NDLRT_SPARSE_BLOCK_ROWS; }
static int64_t ell_chunks(int64_t k) { return (k + NDLRT_SPARSE_ELL_COLS - 1) / NDLRT_SPARSE_ELL_COLS; }

/* ELL's panels need not be runs of consecutive rows: a panel costs, per 64-column chunk,
 * as many slices as its row with the most nonzeros there, so rows whose counts peak in the
 * same chunks are grouped. Greedy, within windows of ELL_GROUP_WINDOW rows (bounded work
 * and stack): start a panel with the remaining row of most nonzeros, then add the row that
 * raises the panel's slice count least, until 16 (ties: the lower row). At 90% on
 * 1024 x 1024 this stores about 10% fewer slices than consecutive rows (padding is what
 * ELL pays for its permutes). Weights wider than ELL_GROUP_CHUNKS chunks keep the rows in
 * order. Returns the slices; writes each panel lane's row into rows (as floats) unless NULL. */
enum { ELL_GROUP_WINDOW = 256, ELL_GROUP_CHUNKS = 64 };
static int64_t ell_group(int64_t n, int64_t k, const float *w, float *rows)
{
    enum { R = NDLRT_SPARSE_BLOCK_ROWS, C = NDLRT_SPARSE_ELL_COLS, WIN = ELL_GROUP_WINDOW };
    int64_t nc = ell_chunks(k), total = 0;
    int grouped = nc <= ELL_GROUP_CHUNKS;
    uint8_t cnt[WIN][ELL_GROUP_CHUNKS]; /* a row's nonzeros per chunk (at most 64) */
    int64_t most[ELL_GROUP_CHUNKS], sum[WIN];
    for (int64_t w0 = 0; w0 < n; w0 += WIN) {
        int64_t wn = n - w0 < WIN ? n - w0 : WIN, placed = 0;
        unsigned char left[WIN];
        for (int64_t i = 0; i < wn; i++) {
            left[i] = 1;
            sum[i] = 0;
            for (int64_t c = 0; c < nc && grouped; c++) {
                int t = 0;
                for (int64_t j = c * C; j < k && j < (c + 1) * C; j++) t += w[(w0 + i) * k + j] != 0;
                cnt[i][c] = (uint8_t)t;
                sum[i] += t;
            }
        }
        while (placed < wn) {
            int64_t pick = -1, lanes = wn - placed < R ? wn - placed : R;
            for (int64_t l = 0; l < lanes; l++) {
                if (!grouped) {
                    pick = placed; /* rows in order */
                } else if (l == 0) {
                    pick = -1;
                    for (int64_t i = 0; i < wn; i++)
                        if (left[i] && (pick < 0 || sum[i] > sum[pick])) pick = i;
                    for (int64_t c = 0; c < nc; c++) most[c] = 0;
                } else {
                    int64_t best = -1;
                    pick = -1;
                    for (int64_t i = 0; i < wn; i++) {
                        if (!left[i]) continue;
                        int64_t raise = 0;
                        for (int64_t c = 0; c < nc; c++) raise += cnt[i][c] > most[c] ? cnt[i][c] - most[c] : 0;
                        if (pick < 0 || raise < best) pick = i, best = raise;
                    }
                }
                if (grouped)
                    for (int64_t c = 0; c < nc; c++) most[c] = cnt[pick][c] > most[c] ? cnt[pick][c] : most[c];
                left[pick] = 0;
                if (rows) rows[w0 + placed] = (float)(w0 + pick);
                placed++;
            }
            if (grouped) {
                for (int64_t c = 0; c < nc; c++) total += most[c];
            } else { /* the panel of rows placed - lanes .. placed - 1 */
                for (int64_t c = 0; c < nc; c++) {
                    int64_t top = 0;
                    for (int64_t r = w0 + placed - lanes; r < w0 + placed; r++) {
                        int64_t t = 0;
                        for (int64_t j = c * C; j < k && j < (c + 1) * C; j++) t += w[r * k + j] != 0;
                        if (t > top) top = t;
                    }
                    total += top;
                }
            }
        }
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
    s->ell_slices = ell_group(n, k, w, NULL);
}

/* Estimated time per format in units of one dense multiply-add of the packed GEMM/GEMV,
 * measured with the kernels here on a 1024 x 1024 weight (AMD EPYC, AVX-512, one thread;
 * bench/sparse.py and the sparse rows of docs/decisions.md):
 *   one column (GEMV, weights from cache): CSR 9 per nonzero (gather-bound), BLOCK 1.6 per
 *   block lane (one FMA per 16 lanes), NM 20 per kept value (scalar decode);
 *   a linear's batch (64 columns, the chunk kernels): CSR 3.4 per nonzero (2.9x dense at
 *   90%), NM 1.7 per kept value (2:4: 1.15-1.2x dense on 1024 x 1024, 1.4-1.7x on 4096 x 4096),
 *   ELL see below; BLOCK 5 per nonzero and 2 per lane (every row of a panel scans the
 *   panel's blocks; no chunk kernel). A 1x1 conv's image plane (row_combine on the plane,
 *   L2-bound): CSR 5 per nonzero, NM 6 per kept value, ELL 15 per nonzero.
 *   ELL: one column 1.3 per lane, padding included (permutes, no gathers: 4.4x dense at 90%
 *   and 1.3x at 50% on 1024 x 1024, timed on the kernels alone on a loaded
 *   machine, where the dense GEMV is memory-bound); with a batch each panel's slices are
 *   decoded (vector transpose) into its rows' entries and combined as CSR's: 5 per nonzero
 *   (2.0x dense at 90%).
 * The cheapest wins; dense on ties. */
#define ELL_LANE 1.3 /* dense multiply-adds per ELL lane at one column (see above) */
NDLRT_API int ndlrt_sparse_choose(const NdlrtSparseInfo *s, int64_t cols, int linear, int force)
{
    const double max_int = NDLRT_SPARSE_MAX_INT;
    /* every integer a pack stores (sizes, offsets, counts) must be exact in f32 */
    if (s->n <= 0 || s->k <= 0 || s->n >= max_int || s->k >= max_int || s->nnz >= max_int ||
        s->blocks >= max_int || s->ell_slices >= max_int)
        return NDLRT_SPARSE_DENSE;
    if (force == NDLRT_SPARSE_NM && !s->nm_m) return NDLRT_SPARSE_DENSE;
    if (force != NDLRT_SPARSE_AUTO) return force;
    int one = cols <= 1;
    double dense = (double)s->n * (double)s->k, lanes = (double)s->blocks * NDLRT_SPARSE_BLOCK_ROWS;
    double csr = (double)s->nnz * (one ? 9.0 : linear ? 3.4 : 5.0);
    double block = one ? lanes * 1.6 : (double)s->nnz * 5.0 + lanes * 2.0;
    double nm = s->nm_m ? dense * s->nm_n / s->nm_m * (one ? 20.0 : linear ? 1.7 : 6.0) : 2 * dense;
    double ell_lanes = (double)s->ell_slices * NDLRT_SPARSE_BLOCK_ROWS;
    double ell = one ? ell_lanes * ELL_LANE : (double)s->nnz * (linear ? 5.0 : 15.0);
    int best = NDLRT_SPARSE_DENSE;
    double cost = dense;
    if (csr < cost) best = NDLRT_SPARSE_CSR, cost = csr;
    if (block < cost) best = NDLRT_SPARSE_BLOCK, cost = block;
    if (nm < cost) best = NDLRT_SPARSE_NM, cost = nm;
    /* an unbounded batch counts as one column, and with a batch ELL is about 1.5x slower
     * than CSR (its decode), so at one column ELL must halve the dense time: then the same
     * executable is still about 2x dense with a batch (90%), not slower (50%) */
    if (ell < cost && (!one || ell < dense / 2)) best = NDLRT_SPARSE_ELL, cost = ell;
    return best;
}

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
        return h + (size_t)(panels(s->n) * (ell_chunks(s->k) + NDLRT_SPARSE_BLOCK_ROWS)) +
               (size_t)s->ell_slices * (4 + NDLRT_SPARSE_BLOCK_ROWS);
    default: return 0;
    }
}

/* NM: K in tiles of NM_TILE_COLS columns (NM_TILE_COLS / M groups, the last tile what
 * remains), tile after tile, and within a tile row after row, so that a batch kernel that
 * runs every row over one tile of X reads the weights as one sequential stream. The record
 * of (row r, tile t) is its tg codes then its tg * N values; returns its offset in the data
 * and sets *tg. */
#define NM_TILE_COLS ((int64_t)NDLRT_SPARSE_NM_TILE_COLS)
static int64_t nm_record(int64_t n, int64_t gpr, int nn, int mm, int64_t r, int64_t t, int64_t *tg)
{
    int64_t full = NM_TILE_COLS / mm, g0 = t * full;
    *tg = gpr - g0 < full ? gpr - g0 : full;
    return g0 * n * (1 + nn) + r * *tg * (1 + nn);
}

static int log2i(int m)
{
    int b = 0;
    while ((1 << b) < m) b++;
    return b;
}

/* ELL (see the top of the file): cnt, the panels' rows, then per slice 4 index floats and
 * 16 values. Lanes past n (a last partial panel) name row 0 and hold only padding. */
static void ell_pack(const NdlrtSparseInfo *s, const float *w, float *h, float *d)
{
    enum { R = NDLRT_SPARSE_BLOCK_ROWS, C = NDLRT_SPARSE_ELL_COLS };
    int64_t n = s->n, k = s->k, np = panels(n), nc = ell_chunks(k);
    float *cnt = d, *lane_row = d + np * nc, *at = lane_row + np * R;
    for (int64_t i = n; i < np * R; i++) lane_row[i] = 0.0f;
    ell_group(n, k, w, lane_row);
    for (int64_t p = 0; p < np; p++)
        for (int64_t c = 0; c < nc; c++) {
            int64_t most = 0;
            for (int64_t l = 0; l < R && p * R + l < n; l++) {
                int64_t row = (int64_t)lane_row[p * R + l], t = 0;
                for (int64_t j = c * C; j < k && j < (c + 1) * C; j++) t += w[row * k + j] != 0;
                if (t > most) most = t;
            }
            cnt[p * nc + c] = (float)most;
            memset(at, 0, (size_t)most * (4 + R) * sizeof *at);
            for (int64_t l = 0; l < R && p * R + l < n; l++) {
                int64_t row = (int64_t)lane_row[p * R + l], t = 0;
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
        int64_t gpr = k / mm;
        h[H_NM_N] = (float)nn;
        h[H_NM_M] = (float)mm;
        for (int64_t r = 0; r < n; r++)
            for (int64_t g = 0; g < gpr; g++) {
                int64_t tg, at = nm_record(n, gpr, nn, mm, r, g / (NM_TILE_COLS / mm), &tg);
                int64_t i = g % (NM_TILE_COLS / mm);
                const float *src = w + r * k + g * mm;
                float *val = d + at + tg + i * nn;
                int32_t code = 0;
                int kept = 0;
                for (int j = 0; j < mm && kept < nn; j++)
                    if (src[j] != 0) {
                        code |= j << (sh * kept);
                        val[kept++] = src[j];
                    }
                for (; kept < nn; kept++) val[kept] = 0.0f; /* position 0, value 0 */
                d[at + i] = (float)code;
            }
        h[H_NNZ] = (float)(n * gpr * nn);
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

/* N:M, P columns: tile by tile (NM_TILE_COLS columns of X), every row takes its kept
 * values of the tile's groups, so that with a batch the tile's rows of X stay in cache. */
static void nm_rows(const float *pk, int64_t P, const float *X, int64_t ldx, float *Y, int64_t ldy)
{
    int64_t n = (int64_t)pk[H_N], k = (int64_t)pk[H_K];
    int nn = (int)pk[H_NM_N], mm = (int)pk[H_NM_M], sh = log2i(mm);
    int64_t gpr = k / mm, full = NM_TILE_COLS / mm; /* groups per row and per tile */
    const float *d = pk + NDLRT_SPARSE_HEADER;
    int32_t ci[NM_TILE_COLS];
    for (int64_t r = 0; r < n && (nn == 0 || gpr == 0); r++) {
        if (P == 1) Y[r * ldy] = 0.0f;
        else memset(Y + r * ldy, 0, (size_t)P * sizeof *Y);
    }
    if (nn == 0) return;
    for (int64_t t = 0; t * full < gpr; t++)
        for (int64_t r = 0; r < n; r++) {
            int64_t tg, at = nm_record(n, gpr, nn, mm, r, t, &tg), cnt = 0;
            const float *code = d + at, *v = code + tg;
            for (int64_t g = 0; g < tg; g++) {
                int32_t c = (int32_t)code[g];
                for (int i = 0; i < nn; i++) ci[cnt++] = (int32_t)((t * full + g) * mm) + ((c >> (sh * i)) & (mm - 1));
            }
            if (P == 1) {
                float dot = t > 0 ? Y[r * ldy] : 0.0f;
                for (int64_t j = 0; j < cnt; j++) dot += v[j] * X[ci[j]];
                Y[r * ldy] = dot;
            } else {
                row_combine(P, cnt, ci, v, X, ldx, Y + r * ldy, t > 0);
            }
        }
}

/* Column of lane l of a slice (relative to its chunk), from its 4 index floats as integers. */
static int32_t ell_col(const int32_t *code, int64_t l)
{
    return (code[l % 4] >> (6 * (l / 4))) & (NDLRT_SPARSE_ELL_COLS - 1);
}

/* ELL, one column: y[r * ldy] = W[r, :] . x. Four slices per step into four accumulators:
 * with fewer, the multiply-add latency bounds the loop (a slice is only a few operations). */
static void ell_vector(const float *pk, const float *x, float *y, int64_t ldy)
{
    enum { R = NDLRT_SPARSE_BLOCK_ROWS, C = NDLRT_SPARSE_ELL_COLS, S = 4 + R };
    int64_t n = (int64_t)pk[H_N], k = (int64_t)pk[H_K], np = panels(n), nc = ell_chunks(k);
    const float *cnt = pk + NDLRT_SPARSE_HEADER, *lane_row = cnt + np * nc, *at = lane_row + np * R;
#if defined(__AVX512F__)
    const __m512i shift = _mm512_set_epi32(18, 18, 18, 18, 12, 12, 12, 12, 6, 6, 6, 6, 0, 0, 0, 0);
    const __m512i bit5 = _mm512_set1_epi32(32);
/* lane l's column of the slice at sl, and x at it (x0..x3: the chunk of x) */
#define ELL_COLS_OF(sl) _mm512_srlv_epi32(_mm512_cvttps_epi32(_mm512_broadcast_f32x4(_mm_loadu_ps(sl))), shift)
#define ELL_X_AT(col)                                                                                      \
    _mm512_mask_blend_ps(_mm512_test_epi32_mask(col, bit5), _mm512_permutex2var_ps(x0, col, x1),           \
                         _mm512_permutex2var_ps(x2, col, x3))
#endif
    for (int64_t p = 0; p < np; p++) {
        int64_t live = n - p * R < R ? n - p * R : R;
        float acc[R];
#if defined(__AVX512F__)
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
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
            int64_t t = 0;
            for (; t + 4 <= ns; t += 4, at += 4 * S) {
                __m512i c0 = ELL_COLS_OF(at), c1 = ELL_COLS_OF(at + S);
                __m512i c2 = ELL_COLS_OF(at + 2 * S), c3 = ELL_COLS_OF(at + 3 * S);
                a0 = _mm512_fmadd_ps(_mm512_loadu_ps(at + 4), ELL_X_AT(c0), a0);
                a1 = _mm512_fmadd_ps(_mm512_loadu_ps(at + S + 4), ELL_X_AT(c1), a1);
                a2 = _mm512_fmadd_ps(_mm512_loadu_ps(at + 2 * S + 4), ELL_X_AT(c2), a2);
                a3 = _mm512_fmadd_ps(_mm512_loadu_ps(at + 3 * S + 4), ELL_X_AT(c3), a3);
            }
            for (; t < ns; t++, at += S) { /* rotating, so that the next chunk's four start evenly */
                __m512i c0 = ELL_COLS_OF(at);
                __m512 sum = _mm512_fmadd_ps(_mm512_loadu_ps(at + 4), ELL_X_AT(c0), a0);
                a0 = a1, a1 = a2, a2 = a3, a3 = sum;
            }
        }
        _mm512_storeu_ps(acc, _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
#else
        for (int l = 0; l < R; l++) acc[l] = 0.0f;
        for (int64_t c = 0; c < nc; c++)
            for (int64_t t = 0, ns = (int64_t)cnt[p * nc + c]; t < ns; t++, at += S) {
                int32_t code[4] = {(int32_t)at[0], (int32_t)at[1], (int32_t)at[2], (int32_t)at[3]};
                for (int64_t l = 0; l < live; l++) acc[l] += at[4 + l] * x[c * C + ell_col(code, l)];
            }
#endif
        for (int64_t l = 0; l < live; l++) y[(int64_t)lane_row[p * R + l] * ldy] = acc[l];
    }
#undef ELL_COLS_OF
#undef ELL_X_AT
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
    const float *cnt = pk + NDLRT_SPARSE_HEADER, *lane_row = cnt + np * nc, *at = lane_row + np * R;
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
                        row_combine(P, m[l], ci[l], cv[l], X, ldx, Y + (int64_t)lane_row[p * R + l] * ldy, started[l]);
                        started[l] = 1;
                        m[l] = 0;
                    }
                }
            }
        for (int64_t l = 0; l < rows; l++)
            if (m[l] || !started[l]) row_combine(P, m[l], ci[l], cv[l], X, ldx, Y + (int64_t)lane_row[p * R + l] * ldy, started[l]);
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

/* ---- a linear's batch in 64-column chunks (AVX-512) ----------------------------------------- */

#if defined(__AVX512F__)
/* With a batch, x[m, k] is transposed into chunks of BATCH_COLS rows of x: chunk q, at
 * xb + q * BATCH_COLS * k, is Xt[k, w] for x's rows q * BATCH_COLS.. with w their count
 * rounded up to 16 (padding lanes 0). A column of W then meets w / 16 whole vectors at a
 * stride known to the kernel (so no masks, and addresses are shifts, not multiplies by a
 * run-time stride), and a row of Y fits in four accumulators. Y comes out in the same
 * chunks (row r of chunk q at yb + q * BATCH_COLS * n + r * w). */
#define SPARSE_INLINE static inline __attribute__((always_inline))
enum { BATCH_COLS = 64 };

static float *align64(float *p) { return p + ((64 - (uintptr_t)p % 64) % 64) / sizeof *p; }

static int64_t chunk_width(int64_t P, int64_t q)
{
    int64_t c = P - q * BATCH_COLS < BATCH_COLS ? P - q * BATCH_COLS : BATCH_COLS;
    return (c + 15) & ~(int64_t)15;
}

static void chunks_in(int64_t m, int64_t k, const float *x, float *xb)
{
    for (int64_t p0 = 0; p0 < m; p0 += BATCH_COLS) {
        int64_t w = chunk_width(m, p0 / BATCH_COLS), rows = m - p0 < BATCH_COLS ? m - p0 : BATCH_COLS;
        float *dst = xb + p0 * k;
        for (int64_t t0 = 0; t0 < k; t0 += 16) {
            int64_t te = t0 + 16 < k ? t0 + 16 : k;
            for (int64_t i = 0; i < w; i++)
                for (int64_t t = t0; t < te; t++) dst[t * w + i] = i < rows ? x[(p0 + i) * k + t] : 0.0f;
        }
    }
}

static void chunks_out(int64_t m, int64_t n, const float *yb, float *y)
{
    for (int64_t p0 = 0; p0 < m; p0 += BATCH_COLS) {
        int64_t w = chunk_width(m, p0 / BATCH_COLS), rows = m - p0 < BATCH_COLS ? m - p0 : BATCH_COLS;
        const float *src = yb + p0 * n;
        for (int64_t r0 = 0; r0 < n; r0 += 16) {
            int64_t re = r0 + 16 < n ? r0 + 16 : n;
            for (int64_t i = 0; i < rows; i++)
                for (int64_t r = r0; r < re; r++) y[(p0 + i) * n + r] = src[r * w + i];
        }
    }
}

/* y[0:16V] (+)= sum_j val[j] * xc[col[j], 0:16V] on a chunk of V vectors per row; two
 * entries per step into two sets of accumulators (one chain per accumulator would wait on
 * the multiply-add latency). */
SPARSE_INLINE void list_combine(int V, int64_t cnt, const int32_t *col, const float *val, const float *xc,
                                float *y, int accumulate)
{
    const int64_t w = 16 * V;
    __m512 a[4], b[4];
    for (int u = 0; u < V; u++) {
        a[u] = accumulate ? _mm512_loadu_ps(y + 16 * u) : _mm512_setzero_ps();
        b[u] = _mm512_setzero_ps();
    }
    int64_t j = 0;
    for (; j + 2 <= cnt; j += 2) {
        const float *xr = xc + col[j] * w, *xs = xc + col[j + 1] * w;
        __m512 v = _mm512_set1_ps(val[j]), s = _mm512_set1_ps(val[j + 1]);
        for (int u = 0; u < V; u++) {
            a[u] = _mm512_fmadd_ps(v, _mm512_loadu_ps(xr + 16 * u), a[u]);
            b[u] = _mm512_fmadd_ps(s, _mm512_loadu_ps(xs + 16 * u), b[u]);
        }
    }
    if (j < cnt) {
        const float *xr = xc + col[j] * w;
        __m512 v = _mm512_set1_ps(val[j]);
        for (int u = 0; u < V; u++) a[u] = _mm512_fmadd_ps(v, _mm512_loadu_ps(xr + 16 * u), a[u]);
    }
    for (int u = 0; u < V; u++) _mm512_storeu_ps(y + 16 * u, _mm512_add_ps(a[u], b[u]));
}

/* Row r of Y (+)= its entries (col, val) against every chunk of X. */
static void row_chunks(int64_t P, int64_t k, int64_t n, int64_t r, int64_t cnt, const int32_t *col,
                       const float *val, const float *xb, float *yb, int accumulate)
{
    for (int64_t p0 = 0; p0 < P; p0 += BATCH_COLS) {
        int64_t w = chunk_width(P, p0 / BATCH_COLS);
        const float *xc = xb + p0 * k;
        float *y = yb + p0 * n + r * w;
        switch (w / 16) {
        case 1: list_combine(1, cnt, col, val, xc, y, accumulate); break;
        case 2: list_combine(2, cnt, col, val, xc, y, accumulate); break;
        case 3: list_combine(3, cnt, col, val, xc, y, accumulate); break;
        default: list_combine(4, cnt, col, val, xc, y, accumulate); break;
        }
    }
}

static void csr_batch(const float *pk, int64_t P, const float *xb, float *yb)
{
    int64_t n = (int64_t)pk[H_N], k = (int64_t)pk[H_K], nnz = (int64_t)pk[H_NNZ];
    const float *ptr = pk + NDLRT_SPARSE_HEADER, *col = ptr + n + 1, *val = col + nnz;
    int32_t ci[CHUNK];
    for (int64_t r = 0; r < n; r++) {
        int64_t b = (int64_t)ptr[r], e = (int64_t)ptr[r + 1];
        if (b == e) row_chunks(P, k, n, r, 0, ci, val, xb, yb, 0);
        for (int64_t j0 = b; j0 < e; j0 += CHUNK) {
            int64_t cnt = e - j0 < CHUNK ? e - j0 : CHUNK;
            for (int64_t j = 0; j < cnt; j++) ci[j] = (int32_t)col[j0 + j];
            row_chunks(P, k, n, r, cnt, ci, val + j0, xb, yb, j0 > b);
        }
    }
}

/* One row of W on one tile: its record holds tg codes then tg * N values; xt is the tile of
 * a chunk of V vectors per row (row g * M + pos of xt is the column that the code picks). */
SPARSE_INLINE void nm_tile_row(int V, int nn, int mm, int64_t tg, const float *rec, const float *xt, float *y,
                               int accumulate)
{
    const int64_t w = 16 * V;
    const int sh = mm == 8 ? 3 : 2;
    const float *v = rec + tg;
    __m512 a[2][4];
    for (int u = 0; u < V; u++) {
        a[0][u] = accumulate ? _mm512_loadu_ps(y + 16 * u) : _mm512_setzero_ps();
        a[1][u] = _mm512_setzero_ps();
    }
    for (int64_t g = 0; g < tg; g++, xt += mm * w, v += nn) {
        int32_t c = (int32_t)rec[g];
        for (int i = 0; i < nn; i++) {
            const float *xr = xt + ((c >> (sh * i)) & (mm - 1)) * w;
            __m512 s = _mm512_set1_ps(v[i]);
            for (int u = 0; u < V; u++) a[i & 1][u] = _mm512_fmadd_ps(s, _mm512_loadu_ps(xr + 16 * u), a[i & 1][u]);
        }
    }
    for (int u = 0; u < V; u++) _mm512_storeu_ps(y + 16 * u, _mm512_add_ps(a[0][u], a[1][u]));
}

/* Every row of W on one tile (records one after the other: one sequential stream). */
SPARSE_INLINE void nm_tile(int V, int nn, int mm, int64_t n, int64_t tg, const float *rec, const float *xt,
                           float *yc, int accumulate)
{
    for (int64_t r = 0; r < n; r++, rec += tg * (1 + nn), yc += 16 * V)
        nm_tile_row(V, nn, mm, tg, rec, xt, yc, accumulate);
}

/* nm_tile with V and the common 2:4 as constants (the compiler unrolls them). */
static void nm_tile_any(int V, int nn, int mm, int64_t n, int64_t tg, const float *rec, const float *xt,
                        float *yc, int accumulate)
{
    int two_four = nn == 2 && mm == 4;
    switch (V) {
    case 1:
        if (two_four) nm_tile(1, 2, 4, n, tg, rec, xt, yc, accumulate);
        else nm_tile(1, nn, mm, n, tg, rec, xt, yc, accumulate);
        break;
    case 2:
        if (two_four) nm_tile(2, 2, 4, n, tg, rec, xt, yc, accumulate);
        else nm_tile(2, nn, mm, n, tg, rec, xt, yc, accumulate);
        break;
    case 3:
        if (two_four) nm_tile(3, 2, 4, n, tg, rec, xt, yc, accumulate);
        else nm_tile(3, nn, mm, n, tg, rec, xt, yc, accumulate);
        break;
    default:
        if (two_four) nm_tile(4, 2, 4, n, tg, rec, xt, yc, accumulate);
        else nm_tile(4, nn, mm, n, tg, rec, xt, yc, accumulate);
        break;
    }
}

/* N:M on chunks, tile by tile: a tile of X's chunk (NM_TILE_COLS rows of at most 64 floats,
 * 32 KiB) stays in L1 while every row of W takes its kept values from it. */
static void nm_batch(const float *pk, int64_t P, const float *xb, float *yb)
{
    int64_t n = (int64_t)pk[H_N], k = (int64_t)pk[H_K];
    int nn = (int)pk[H_NM_N], mm = (int)pk[H_NM_M];
    int64_t gpr = k / mm, full = NM_TILE_COLS / mm;
    const float *d = pk + NDLRT_SPARSE_HEADER;
    for (int64_t p0 = 0; p0 < P; p0 += BATCH_COLS) {
        int64_t w = chunk_width(P, p0 / BATCH_COLS);
        float *yc = yb + p0 * n;
        if (nn == 0 || gpr == 0) {
            memset(yc, 0, (size_t)(n * w) * sizeof *yc);
            continue;
        }
        for (int64_t t = 0; t * full < gpr; t++) {
            int64_t tg, at = nm_record(n, gpr, nn, mm, 0, t, &tg);
            nm_tile_any((int)(w / 16), nn, mm, n, tg, d + at, xb + p0 * k + t * NM_TILE_COLS * w, yc, t > 0);
        }
    }
}

/* r[l] = lane l of r[0..15] (a 16 x 16 transpose in four rounds of shuffles). */
static void transpose16(__m512 r[16])
{
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
        __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
        r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++) {
            t[8 * i + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + 4 + j], 0x88);
            t[8 * i + 4 + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + 4 + j], 0xdd);
        }
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
        r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xdd);
    }
}
/* ELL: a panel's slices are read once, in order, and split into its 16 rows' entries (a row
 * reading its own lane across the panel would pass over the whole panel 16 times). Vector
 * decode: 16 slices at a time, the columns of each slice from its 4 index floats (as in
 * ell_vector), then a transpose makes row l's 16 entries one vector, whose nonzero values
 * (a row's entries are a prefix of the slices: padding only at the end) are compressed onto
 * its list. A scalar decode of one lane at a time took as long as the multiply-adds. */
static void ell_batch(const float *pk, int64_t P, const float *xb, float *yb)
{
    enum { R = NDLRT_SPARSE_BLOCK_ROWS, C = NDLRT_SPARSE_ELL_COLS, S = 4 + R };
    int64_t n = (int64_t)pk[H_N], k = (int64_t)pk[H_K], np = panels(n), nc = ell_chunks(k);
    const float *cnt = pk + NDLRT_SPARSE_HEADER, *lane_row = cnt + np * nc, *at = lane_row + np * R;
    const __m512i shift = _mm512_set_epi32(18, 18, 18, 18, 12, 12, 12, 12, 6, 6, 6, 6, 0, 0, 0, 0);
    const __m512i low6 = _mm512_set1_epi32(C - 1);
    int32_t ci[R][ELL_ROW_CHUNK];
    float cv[R][ELL_ROW_CHUNK];
    for (int64_t p = 0; p < np; p++) {
        int64_t rows = n - p * R < R ? n - p * R : R, m[R] = {0};
        int started[R] = {0};
        for (int64_t c = 0; c < nc; c++) {
            int64_t ns = (int64_t)cnt[p * nc + c];
            const __m512i base = _mm512_set1_epi32((int32_t)(c * C));
            for (int64_t t0 = 0; t0 < ns; at += (ns - t0 < 16 ? ns - t0 : 16) * S, t0 += 16) {
                __m512 col[16], val[16];
                for (int t = 0; t < 16; t++) {
                    if (t0 + t < ns) {
                        const float *sl = at + t * S;
                        __m512i packed = _mm512_broadcast_i32x4(_mm_cvttps_epi32(_mm_loadu_ps(sl)));
                        __m512i cc = _mm512_and_si512(_mm512_srlv_epi32(packed, shift), low6);
                        col[t] = _mm512_castsi512_ps(_mm512_add_epi32(cc, base));
                        val[t] = _mm512_loadu_ps(sl + 4);
                    } else {
                        col[t] = val[t] = _mm512_setzero_ps();
                    }
                }
                transpose16(col);
                transpose16(val);
                for (int64_t l = 0; l < rows; l++) {
                    __mmask16 keep = _mm512_cmp_ps_mask(val[l], _mm512_setzero_ps(), _CMP_NEQ_UQ);
                    _mm512_storeu_ps(cv[l] + m[l], _mm512_maskz_compress_ps(keep, val[l]));
                    _mm512_storeu_si512(ci[l] + m[l], _mm512_maskz_compress_epi32(keep, _mm512_castps_si512(col[l])));
                    m[l] += __builtin_popcount(keep);
                    if (m[l] > ELL_ROW_CHUNK - 16) { /* the next 16 might not fit */
                        row_chunks(P, k, n, (int64_t)lane_row[p * R + l], m[l], ci[l], cv[l], xb, yb, started[l]);
                        started[l] = 1;
                        m[l] = 0;
                    }
                }
            }
        }
        for (int64_t l = 0; l < rows; l++)
            if (m[l] || !started[l]) row_chunks(P, k, n, (int64_t)lane_row[p * R + l], m[l], ci[l], cv[l], xb, yb, started[l]);
    }
}

/* Y = W . X on chunks; NULL-free: false for formats without a chunk kernel (BLOCK). */
static int sparse_batch(const float *pk, int64_t P, const float *xb, float *yb)
{
    switch ((int)pk[H_FORMAT]) {
    case NDLRT_SPARSE_CSR: csr_batch(pk, P, xb, yb); return 1;
    case NDLRT_SPARSE_NM: nm_batch(pk, P, xb, yb); return 1;
    case NDLRT_SPARSE_ELL: ell_batch(pk, P, xb, yb); return 1;
    default: return 0;
    }
}
#endif

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
    /* x and y transposed; with AVX-512 in chunks whose last one is padded to 16 columns,
     * each aligned to 64 bytes (a vector load across two cache lines costs two) */
    int64_t cols = (m + 15) & ~(int64_t)15;
    return m < BATCH_TRANSPOSE ? 0 : (size_t)(cols * k + cols * n + 32);
}

NDLRT_API void ndlrt_sparse_linear_f32(const NdlrtSparseLinear *p, const float *x, float *y, float *scratch)
{
    int64_t m = p->m, n = p->n, k = p->k;
    int done = 0;
    if (m < BATCH_TRANSPOSE) {
        for (int64_t i = 0; i < m; i++) sparse_rows(p->w_packed, 1, x + i * k, 1, y + i * n, 1);
        done = 1;
    }
#if defined(__AVX512F__)
    if (!done) {
        float *xb = align64(scratch), *yb = align64(xb + ((m + 15) & ~(int64_t)15) * k);
        chunks_in(m, k, x, xb);
        done = sparse_batch(p->w_packed, m, xb, yb);
        if (done) chunks_out(m, n, yb, y);
    }
#endif
    if (!done) {
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
