/* SPDX-License-Identifier: MIT
 * pool.c - max_pool2d and avg_pool2d on NCHW, PyTorch's meaning with ceil_mode=False:
 * max pads with -inf and propagates NaN; avg counts the padding (count_include_pad=True),
 * dividing by the window clipped to the padded input, as ATen's AvgPool2d does.
 * Each output row is built tap row by tap row across the row, so the inner loops run
 * along contiguous output columns.
 */
#include "../ndlrt.h"

#include <math.h>

/* Output columns ox whose input column ox*s + off lies in [0, w): [*lo, *hi). */
static void pool_range(int64_t n, int64_t s, int64_t off, int64_t w, int64_t *lo, int64_t *hi)
{
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t b = off > w - 1 ? 0 : (w - 1 - off) / s + 1;
    *lo = a < n ? a : n;
    *hi = b < n ? b : n;
    if (*hi < *lo) *hi = *lo;
}

NDLRT_API void ndlrt_max_pool2d_f32(const NdlrtPool2d *p, const float *x, float *y)
{
    int64_t planes = p->n * p->c;
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xc = x + pl * p->h * p->w;
        float *yc = y + pl * p->oh * p->ow;
        for (int64_t oy = 0; oy < p->oh; oy++) {
            float *yr = yc + oy * p->ow;
            for (int64_t ox = 0; ox < p->ow; ox++) yr[ox] = -INFINITY;
            for (int64_t ki = 0; ki < p->kh; ki++) {
                int64_t iy = oy * p->sh - p->ph + ki;
                if (iy < 0 || iy >= p->h) continue;
                const float *xr = xc + iy * p->w;
                for (int64_t kj = 0; kj < p->kw; kj++) {
                    int64_t off = kj - p->pw, lo, hi;
                    pool_range(p->ow, p->sw, off, p->w, &lo, &hi);
                    for (int64_t ox = lo; ox < hi; ox++) {
                        float v = xr[ox * p->sw + off], a = yr[ox];
                        yr[ox] = (v > a || v != v) ? v : a;
                    }
                }
            }
        }
    }
}

NDLRT_API void ndlrt_avg_pool2d_f32(const NdlrtPool2d *p, const float *x, float *y)
{
    int64_t planes = p->n * p->c;
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xc = x + pl * p->h * p->w;
        float *yc = y + pl * p->oh * p->ow;
        for (int64_t oy = 0; oy < p->oh; oy++) {
            float *yr = yc + oy * p->ow;
            for (int64_t ox = 0; ox < p->ow; ox++) yr[ox] = 0.0f;
            for (int64_t ki = 0; ki < p->kh; ki++) {
                int64_t iy = oy * p->sh - p->ph + ki;
                if (iy < 0 || iy >= p->h) continue;
                const float *xr = xc + iy * p->w;
                for (int64_t kj = 0; kj < p->kw; kj++) {
                    int64_t off = kj - p->pw, lo, hi;
                    pool_range(p->ow, p->sw, off, p->w, &lo, &hi);
                    for (int64_t ox = lo; ox < hi; ox++) yr[ox] += xr[ox * p->sw + off];
                }
            }
            int64_t y0 = oy * p->sh - p->ph, y1 = y0 + p->kh;
            if (y1 > p->h + p->ph) y1 = p->h + p->ph;
            for (int64_t ox = 0; ox < p->ow; ox++) {
                int64_t x0 = ox * p->sw - p->pw, x1 = x0 + p->kw;
                if (x1 > p->w + p->pw) x1 = p->w + p->pw;
                yr[ox] /= (float)((y1 - y0) * (x1 - x0));
            }
        }
    }
}
