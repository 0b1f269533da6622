/* SPDX-License-Identifier: MIT
 * fuzz_safetensors.c - libFuzzer target for the safetensors reader (runtime/safetensors.c).
 *
 * Runs ndlrt_st_parse on the input. A rejected input must come with a message and no
 * result; an accepted one must be self-consistent (every tensor inside the input, found
 * by its name, byte size = nelem x dtype size), and every tensor is converted with both
 * readers so that ASan sees each byte the validator let through. Aborts on any breach.
 */
#include "runtime/safetensors.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Converted output allocated per input, at most; larger tensors are only checked. */
#define FUZZ_MAX_BYTES ((uint64_t)64 << 20)

static void check_tensor(const NdlrtSt *st, const NdlrtStTensor *t, const uint8_t *data,
                         size_t size, uint64_t *total)
{
    uint64_t bytes = t->end - t->begin;
    if (ndlrt_st_find(st, t->name) != t) abort();
    if (t->end < t->begin || t->rank < 0 || t->rank > NDLRT_ST_MAX_RANK) abort();
    if (t->data < data + 8 || (uint64_t)(data + size - t->data) < bytes) abort();
    if (bytes != t->nelem * ndlrt_st_dtype_size(t->dtype)) abort();
    if (t->nelem > FUZZ_MAX_BYTES / 8 || *total + t->nelem * 8 > FUZZ_MAX_BYTES) return;
    *total += t->nelem * 8;
    float *f = malloc((size_t)t->nelem * sizeof *f + 1);
    int64_t *v = malloc((size_t)t->nelem * sizeof *v + 1);
    if (f && v) {
        ndlrt_st_read_f32(t, f);
        int rc = ndlrt_st_read_i64(t, v);
        if ((rc == 0) == (ndlrt_st_dtype_is_float(t->dtype) != 0)) abort();
    }
    free(f);
    free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    NdlrtSt *st = NULL;
    char err[512];
    err[0] = '\0';
    if (ndlrt_st_parse(data, size, &st, err, sizeof err) != 0) {
        if (st || !err[0]) abort();
        return 0;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < ndlrt_st_count(st); i++)
        check_tensor(st, ndlrt_st_tensor(st, i), data, size, &total);
    if (ndlrt_st_tensor(st, ndlrt_st_count(st)) != NULL) abort();
    ndlrt_st_close(st);
    return 0;
}
