/* SPDX-License-Identifier: MIT
 * safetensors.h - validating reader and writer for safetensors files.
 *
 * Weight and input files are untrusted: ndlrt_st_parse checks everything spec section 11
 * lists before any tensor data is touched, and returns a message naming the problem.
 * This module depends on libc only (no cJSON, no compiler headers) because generated
 * code and the executable driver load weights with it too (ndlrt.h, for the model's
 * weight table, is the one project header it uses); its JSON reader accepts
 * exactly the subset a safetensors header needs, strictly.
 */
#ifndef NDLRT_SAFETENSORS_H
#define NDLRT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "ndlrt.h"   /* NdlrtWeightSpec */

/* Generated code embeds this reader and defines NDLRT_API as `static`. */
#ifndef NDLRT_API
#define NDLRT_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define NDLRT_ST_MAX_RANK 8
#define NDLRT_ST_MAX_HEADER 100000000u   /* spec section 11 */

typedef enum NdlrtStDType {
    NDLRT_ST_F64, NDLRT_ST_F32, NDLRT_ST_F16, NDLRT_ST_BF16,
    NDLRT_ST_I64, NDLRT_ST_I32, NDLRT_ST_I16, NDLRT_ST_I8, NDLRT_ST_U8, NDLRT_ST_BOOL,
    NDLRT_ST_DTYPE_COUNT
} NdlrtStDType;

typedef struct NdlrtStTensor {
    const char *name;              /* NUL-terminated, unescaped */
    NdlrtStDType dtype;
    int rank;                      /* 0 .. NDLRT_ST_MAX_RANK */
    int64_t shape[NDLRT_ST_MAX_RANK];
    uint64_t nelem;                /* product of shape (1 for rank 0) */
    uint64_t begin, end;           /* offsets into the data section */
    const unsigned char *data;     /* begin .. end inside the file; NOT aligned */
} NdlrtStTensor;

typedef struct NdlrtSt NdlrtSt;    /* an open, validated file */

/* Opens and maps (or reads) path, then validates it like ndlrt_st_parse.
 * Returns 0, or -1 with a message ("header length 12345 is beyond the file size 100")
 * in err; the caller prefixes the file name. */
NDLRT_API int ndlrt_st_open(const char *path, NdlrtSt **out, char *err, size_t errlen);
/* Validates an in-memory file of len bytes; buf must outlive the result. */
NDLRT_API int ndlrt_st_parse(const void *buf, size_t len, NdlrtSt **out, char *err, size_t errlen);
NDLRT_API void ndlrt_st_close(NdlrtSt *st);
/* Advises huge pages for the 2 MiB-aligned middle of a fresh, not yet written block
 * (weights loaded by create); only a hint. */
NDLRT_API void ndlrt_advise_huge_pages(void *p, size_t len);

NDLRT_API size_t ndlrt_st_count(const NdlrtSt *st);               /* tensors, in header order */
NDLRT_API const NdlrtStTensor *ndlrt_st_tensor(const NdlrtSt *st, size_t i);
NDLRT_API const NdlrtStTensor *ndlrt_st_find(const NdlrtSt *st, const char *name);

/* Checks st against the n tensors a model reads (ndlrt.h's NdlrtWeightSpec: name, dtype
 * and full shape, not just the element count). Returns -1 when all match, else the index
 * of the first that does not, with a message naming it in err ("tensor 'fc.weight' has
 * shape [8,4] but the model needs [4,8]"); the caller prefixes the file name. */
NDLRT_API long ndlrt_st_check(const NdlrtSt *st, const NdlrtWeightSpec *want, size_t n,
                              char *err, size_t errlen);

NDLRT_API const char *ndlrt_st_dtype_name(NdlrtStDType dt);       /* "F32" */
NDLRT_API size_t ndlrt_st_dtype_size(NdlrtStDType dt);
NDLRT_API int ndlrt_st_dtype_is_float(NdlrtStDType dt);

/* Converts all elements to float (any dtype; BOOL gives 0/1). */
NDLRT_API void ndlrt_st_read_f32(const NdlrtStTensor *t, float *dst);
/* Converts all elements of an integer or BOOL tensor to int64; -1 for float dtypes. */
NDLRT_API int ndlrt_st_read_i64(const NdlrtStTensor *t, int64_t *dst);

/* Writing: tensors in any order; the header lists them sorted by name, data in the
 * same order, header padded with spaces to a multiple of 8 (as the reference writer).
 * The file is written to a temporary in the same directory and renamed into place
 * (or in place, see ndlrt_out_in_place); on failure nothing is left at path. */
/* Output paths (spec section 9): 1 when path exists and is not a regular file (a device,
 * FIFO or symlink), which writers then open and truncate in place instead of renaming a
 * temporary over it; ndlrt_out_remove unlinks path only when it is a regular file, so
 * that removing a failed output never deletes /dev/null. */
NDLRT_API int ndlrt_out_in_place(const char *path);
NDLRT_API void ndlrt_out_remove(const char *path);

typedef struct NdlrtStOut {
    const char *name;
    NdlrtStDType dtype;
    int rank;
    const int64_t *shape;
    const void *data;              /* nelem * dtype size bytes, little-endian */
} NdlrtStOut;
NDLRT_API int ndlrt_st_write(const char *path, const NdlrtStOut *tensors, size_t n, char *err,
                   size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
