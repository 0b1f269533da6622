/* SPDX-License-Identifier: MIT
 * move.c - data movement of any element size: permute (rank <= 8) and strided slices.
 * Both walk the output in order with an odometer over the input strides, after dropping
 * size-1 axes and merging axes that stay adjacent; the innermost run is one memcpy when
 * contiguous in the input, else a strided copy specialized for 1, 2, 4 and 8 byte
 * elements. A permute whose last output axis is strided in the input (a transpose) goes
 * through MOVE_TILE x MOVE_TILE tiles so that both sides stay in cache.
 */
#include "../ndlrt.h"

#include <string.h>

#define MOVE_MAX_RANK 8
#define MOVE_TILE 16

/* dst[i] = src[i * stride] for i < n elements of elem bytes (stride in elements). */
static void move_run(char *dst, const char *src, int64_t n, int64_t stride, size_t elem)
{
    if (stride == 1) {
        memcpy(dst, src, (size_t)n * elem);
        return;
    }
    switch (elem) {
    case 4: {
        uint32_t v;
        for (int64_t i = 0; i < n; i++) {
            memcpy(&v, src + i * stride * 4, 4);
            memcpy(dst + i * 4, &v, 4);
        }
        break;
    }
    case 8: {
        uint64_t v;
        for (int64_t i = 0; i < n; i++) {
            memcpy(&v, src + i * stride * 8, 8);
            memcpy(dst + i * 8, &v, 8);
        }
        break;
    }
    case 2: {
        uint16_t v;
        for (int64_t i = 0; i < n; i++) {
            memcpy(&v, src + i * stride * 2, 2);
            memcpy(dst + i * 2, &v, 2);
        }
        break;
    }
    case 1:
        for (int64_t i = 0; i < n; i++) dst[i] = src[i * stride];
        break;
    default:
        for (int64_t i = 0; i < n; i++)
            memcpy(dst + (size_t)i * elem, src + (size_t)(i * stride) * elem, elem);
        break;
    }
}

/* Output-ordered axes: dims[i] with input stride st[i]. Drops size-1 axes and merges an
 * axis into the next when the pair is contiguous in the input; returns the new rank. */
static int move_simplify(int rank, int64_t *dims, int64_t *st)
{
    int r = 0;
    for (int i = 0; i < rank; i++) {
        if (dims[i] == 1) continue;
        if (r > 0 && st[r - 1] == st[i] * dims[i]) {
            dims[r - 1] *= dims[i];
            st[r - 1] = st[i];
            continue;
        }
        dims[r] = dims[i], st[r] = st[i], r++;
    }
    return r;
}

/* Copies the output (dims, input strides st, rank r >= 1) from x to y in output order. */
static void move_walk(int r, const int64_t *dims, const int64_t *st, size_t elem,
                      const char *x, char *y)
{
    int64_t idx[MOVE_MAX_RANK] = {0}, inner = dims[r - 1], outer = 1;
    for (int i = 0; i < r - 1; i++) outer *= dims[i];
    const char *src = x;
    for (int64_t o = 0; o < outer; o++) {
        move_run(y, src, inner, st[r - 1], elem);
        y += (size_t)inner * elem;
        for (int i = r - 2; i >= 0; i--) {
            src += (size_t)st[i] * elem;
            if (++idx[i] < dims[i]) break;
            src -= (size_t)(st[i] * dims[i]) * elem;
            idx[i] = 0;
        }
    }
}

/* A transpose: output axis a (< r - 1) has input stride 1, the last output axis does not.
 * Tiles over (a, last) so that reads and writes both touch few lines. */
static void move_tiled(int r, const int64_t *dims, const int64_t *st, size_t elem, int a,
                       const char *x, char *y)
{
    int64_t ostr[MOVE_MAX_RANK];
    ostr[r - 1] = 1;
    for (int i = r - 2; i >= 0; i--) ostr[i] = ostr[i + 1] * dims[i + 1];
    int64_t idx[MOVE_MAX_RANK] = {0}, outer = 1;
    for (int i = 0; i < r - 1; i++)
        if (i != a) outer *= dims[i];
    int64_t na = dims[a], nb = dims[r - 1], sb = st[r - 1], oa = ostr[a];
    for (int64_t o = 0; o < outer; o++) {
        int64_t xin = 0, yout = 0;
        for (int i = 0; i < r - 1; i++) xin += idx[i] * st[i], yout += idx[i] * ostr[i];
        for (int64_t a0 = 0; a0 < na; a0 += MOVE_TILE)
            for (int64_t b0 = 0; b0 < nb; b0 += MOVE_TILE) {
                int64_t ae = a0 + MOVE_TILE < na ? a0 + MOVE_TILE : na;
                int64_t be = b0 + MOVE_TILE < nb ? b0 + MOVE_TILE : nb;
                for (int64_t ia = a0; ia < ae; ia++)
                    move_run(y + (size_t)(yout + ia * oa + b0) * elem,
                             x + (size_t)(xin + ia + b0 * sb) * elem, be - b0, sb, elem);
            }
        for (int i = r - 2; i >= 0; i--) {
            if (i == a) continue;
            if (++idx[i] < dims[i]) break;
            idx[i] = 0;
        }
    }
}

NDLRT_API void ndlrt_permute(int rank, const int64_t *dims, const int64_t *perm, size_t elem,
                             const void *x, void *y)
{
    int64_t in_st[MOVE_MAX_RANK], od[MOVE_MAX_RANK], st[MOVE_MAX_RANK], total = 1;
    if (rank < 0 || rank > MOVE_MAX_RANK) return;
    for (int i = rank - 1; i >= 0; i--) {
        in_st[i] = total;
        total *= dims[i];
    }
    if (total == 0) return;
    for (int i = 0; i < rank; i++) od[i] = dims[perm[i]], st[i] = in_st[perm[i]];
    int r = move_simplify(rank, od, st);
    if (r == 0 || (r == 1 && st[0] == 1)) {
        memcpy(y, x, (size_t)total * elem);
        return;
    }
    if (st[r - 1] != 1)
        for (int a = 0; a < r - 1; a++)
            if (st[a] == 1 && od[r - 1] >= MOVE_TILE / 2) {
                move_tiled(r, od, st, elem, a, x, y);
                return;
            }
    move_walk(r, od, st, elem, x, y);
}

NDLRT_API void ndlrt_slice(int rank, const int64_t *in_dims, const int64_t *begin,
                           const int64_t *step, const int64_t *out_dims, size_t elem,
                           const void *x, void *y)
{
    int64_t in_st[MOVE_MAX_RANK], od[MOVE_MAX_RANK], st[MOVE_MAX_RANK], off = 0, total = 1;
    if (rank < 0 || rank > MOVE_MAX_RANK) return;
    int64_t s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        in_st[i] = s;
        s *= in_dims[i];
    }
    for (int i = 0; i < rank; i++) {
        off += begin[i] * in_st[i];
        od[i] = out_dims[i];
        st[i] = step[i] * in_st[i];
        total *= out_dims[i];
    }
    if (total == 0) return;
    const char *src = (const char *)x + (size_t)off * elem;
    int r = move_simplify(rank, od, st);
    if (r == 0) {
        memcpy(y, src, elem);
        return;
    }
    move_walk(r, od, st, elem, src, y);
}
