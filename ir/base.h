/* SPDX-License-Identifier: MIT
 * base.h - the few things every compiler module needs: source spans, the arena,
 * growable vectors, checked allocation and internal-error reporting.
 * Nothing here prints except NDLC_ICE, which reports a compiler bug and aborts
 * with exit status 3 (spec section 9); user errors go through frontend/diag.h.
 */
#ifndef NDLC_BASE_H
#define NDLC_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* A byte range in a source file. file 0 means "no location". Line and column are
 * computed only when a diagnostic is rendered (frontend/source.c). */
typedef struct Span {
    uint32_t file, off, len;
} Span;

#if defined(__GNUC__) || defined(__clang__)
#define NDLC_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define NDLC_NORETURN __attribute__((noreturn))
#else
#define NDLC_PRINTF(f, a)
#define NDLC_NORETURN
#endif

/* Internal compiler error: prints "ndlc: internal error at FILE:LINE: ..." and exits 3. */
NDLC_NORETURN void ndlc_ice_at(const char *file, int line, const char *fmt, ...) NDLC_PRINTF(3, 4);
#define NDLC_ICE(...) ndlc_ice_at(__FILE__, __LINE__, __VA_ARGS__)
/* Called by ndlc_ice_at before exit(3), once (NULL: none): the driver removes the
 * command's outputs and temporaries there. Process-wide (base.c says why). */
typedef void NdlcIceCleanup(void *ud);
void ndlc_set_ice_cleanup(NdlcIceCleanup *fn, void *ud);

/* Checked allocation: never returns NULL (an exhausted heap is an internal error).
 * Under NDLC_FAIL_ALLOC=N (debug builds) the N-th allocation fails, to test that path. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* Bump allocator: every byte is freed at once by arena_free. Memory is zeroed and
 * aligned to 16 bytes. */
typedef struct Arena Arena;
Arena *arena_new(void);
void arena_free(Arena *a);
void *arena_alloc(Arena *a, size_t n);
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_strdup(Arena *a, const char *s);
char *arena_printf(Arena *a, const char *fmt, ...) NDLC_PRINTF(2, 3);

/* Growable array of T: VEC(T) v = {0}; vec_push(v, x); v.v[i]; vec_free(v). */
#define VEC(T) struct { T *v; uint32_t n, cap; }
#define vec_reserve(vec, want)                                                          \
    do {                                                                                \
        if ((want) > (vec).cap) {                                                       \
            uint32_t nc_ = (vec).cap ? (vec).cap : 8;                                   \
            while (nc_ < (want)) nc_ *= 2;                                              \
            (vec).v = xrealloc((vec).v, (size_t)nc_ * sizeof *(vec).v);                 \
            (vec).cap = nc_;                                                            \
        }                                                                               \
    } while (0)
#define vec_push(vec, x)                                                                \
    do {                                                                                \
        vec_reserve(vec, (vec).n + 1);                                                  \
        (vec).v[(vec).n++] = (x);                                                       \
    } while (0)
#define vec_free(vec) (free((vec).v), (vec).v = NULL, (vec).n = (vec).cap = 0)

#endif
