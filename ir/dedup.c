/* SPDX-License-Identifier: MIT
 * dedup.c - content deduplication of byte blobs (spec 8.3: "identical tensors are stored
 * once"), shared by the report (frontend/json.c) and the C backend's weight arrays.
 *
 * A blob equals another when their tags (a dtype, so that an f32 and an i32 array with the
 * same bits stay apart), lengths and bytes are equal. Blobs are sorted by (tag, length,
 * FNV-1a hash, index) and only neighbours with equal keys are compared byte by byte, so the
 * cost is O(n log n) plus one memcmp per candidate pair. The first blob (lowest index) of
 * each class is the one stored; the result does not depend on the sort's stability.
 */
#include "ir.h"

#include <stdlib.h>
#include <string.h>

typedef struct BlobKey {
    uint64_t hash;
    size_t len;
    uint32_t tag, index;
} BlobKey;

static uint64_t fnv1a(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3u;
    return h;
}

static int cmp_key(const void *a, const void *b)
{
    const BlobKey *x = a, *y = b;
    if (x->tag != y->tag) return x->tag < y->tag ? -1 : 1;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    if (x->hash != y->hash) return x->hash < y->hash ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

void ir_dedup_blobs(uint32_t n, const void *const *data, const size_t *len, const uint32_t *tag,
                    uint32_t *same_as)
{
    BlobKey *k = xcalloc(n + 1, sizeof *k);
    for (uint32_t i = 0; i < n; i++) {
        k[i] = (BlobKey){fnv1a(data[i], len[i]), len[i], tag[i], i};
        same_as[i] = 0;
    }
    qsort(k, n, sizeof *k, cmp_key);
    /* within a run of equal keys, each blob joins the first earlier one with equal bytes */
    for (uint32_t a = 0; a < n;) {
        uint32_t b = a + 1;
        while (b < n && k[b].tag == k[a].tag && k[b].len == k[a].len && k[b].hash == k[a].hash) b++;
        for (uint32_t i = a + 1; i < b; i++)
            for (uint32_t j = a; j < i; j++) {
                uint32_t x = k[j].index, y = k[i].index;
                if (same_as[x] == 0 && (len[x] == 0 || memcmp(data[x], data[y], len[x]) == 0)) {
                    same_as[y] = x + 1;
                    break;
                }
            }
        a = b;
    }
    free(k);
}
