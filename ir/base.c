/* SPDX-License-Identifier: MIT
 * base.c - checked allocation, the arena and internal-error reporting (base.h).
 *
 * Nothing here prints except ndlc_ice_at. Allocation failure is an internal error: the
 * compiler never limps on without memory. NDLC_FAIL_ALLOC=N makes the N-th call of
 * xmalloc/xcalloc/xrealloc/xstrdup (counted from 1, per process) fail, so that the
 * fault-injection CTest can check that an exhausted heap ends in a clean ICE (exit 3).
 */
#include "base.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- internal-error cleanup ------------------------------------------------------
 * Process-wide, like the allocation counter below, for the same reason: an ICE can come
 * from any depth (xmalloc has no context to carry a hook in) and ends the whole process
 * with exit(3), so the one command the process runs registers here what must not
 * survive it (its outputs and temporaries, frontend/driver.c). Set and cleared by that
 * command's thread only; the hook is taken before it runs, so an ICE inside it cannot
 * recurse. */
static NdlcIceCleanup *ice_cleanup;
static void *ice_cleanup_ud;

void ndlc_set_ice_cleanup(NdlcIceCleanup *fn, void *ud)
{
    ice_cleanup = fn;
    ice_cleanup_ud = ud;
}

void ndlc_ice_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "ndlc: internal error at %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    NdlcIceCleanup *fn = ice_cleanup;
    ice_cleanup = NULL;
    if (fn) fn(ice_cleanup_ud);
    exit(3);
}

/* ---- fault injection ------------------------------------------------------------
 * The allocation counter is, with the cleanup hook above, the process-wide mutable state of the
 * compiler. It cannot live in a context struct because xmalloc has none (VEC, flex and
 * every module call it directly), and "the N-th allocation of the process" is exactly
 * what a fault sweep wants. Both variables are atomic, so concurrent compilations on
 * several threads stay race-free; fail_at is read from the environment once.
 *   fail_at: -1 not read yet, 0 disabled, N > 0 fail the N-th allocation. */
static atomic_long fail_at = -1;
static atomic_long alloc_count = 0;

static bool should_fail(void)
{
    long at = atomic_load_explicit(&fail_at, memory_order_relaxed);
    if (at < 0) {
        const char *env = getenv("NDLC_FAIL_ALLOC");
        long v = 0;
        if (env && *env) {
            char *end;
            v = strtol(env, &end, 10);
            if (*end || v < 0) v = 0;
        }
        atomic_store_explicit(&fail_at, v, memory_order_relaxed);
        at = v;
    }
    if (at == 0) return false;
    return atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed) + 1 == at;
}

void *xmalloc(size_t n)
{
    void *p = should_fail() ? NULL : malloc(n ? n : 1);
    if (!p) NDLC_ICE("out of memory (allocating %zu bytes)", n);
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = should_fail() ? NULL : calloc(n && size ? n : 1, n && size ? size : 1);
    if (!p) NDLC_ICE("out of memory (allocating %zu x %zu bytes)", n, size);
    return p;
}

void *xrealloc(void *old, size_t n)
{
    void *p = should_fail() ? NULL : realloc(old, n ? n : 1);
    if (!p) NDLC_ICE("out of memory (reallocating to %zu bytes)", n);
    return p;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

/* ---- arena -------------------------------------------------------------------------
 * A list of chunks, newest first; allocation bumps `used` in the newest chunk. A request
 * larger than a quarter of the default chunk gets a chunk of its own, inserted behind
 * the current one so the current chunk's free tail is not wasted. Chunks come from
 * xcalloc, so every byte handed out is zero. */
#define ARENA_CHUNK (64 * 1024)
#define ARENA_ALIGN 16

typedef struct Chunk {
    struct Chunk *next;
    size_t size, used;      /* bytes of data[], bytes handed out (including padding) */
    unsigned char data[];   /* alignment is computed per allocation (aligned_used) */
} Chunk;

struct Arena {
    Chunk *head;
};

Arena *arena_new(void)
{
    return xcalloc(1, sizeof(Arena));
}

void arena_free(Arena *a)
{
    if (!a) return;
    for (Chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(a);
}

static Chunk *chunk_new(size_t size)
{
    if (size > SIZE_MAX - sizeof(Chunk)) NDLC_ICE("arena allocation of %zu bytes", size);
    Chunk *c = xcalloc(1, sizeof(Chunk) + size);
    c->size = size;
    return c;
}

/* Offset of the first 16-byte aligned address at or after c->data + c->used. */
static size_t aligned_used(const Chunk *c)
{
    uintptr_t p = (uintptr_t)(c->data + c->used);
    return c->used + (size_t)((ARENA_ALIGN - p % ARENA_ALIGN) % ARENA_ALIGN);
}

void *arena_alloc(Arena *a, size_t n)
{
    if (n == 0) n = 1;
    Chunk *c = a->head;
    if (c) {
        size_t at = aligned_used(c);
        if (at <= c->size && n <= c->size - at) {
            c->used = at + n;
            return c->data + at;
        }
    }
    if (n > ARENA_CHUNK / 4) {
        /* A big block: its own chunk, exactly sized. */
        if (n > SIZE_MAX - ARENA_ALIGN) NDLC_ICE("arena allocation of %zu bytes", n);
        Chunk *big = chunk_new(n + ARENA_ALIGN);
        size_t at = aligned_used(big);
        big->used = at + n;
        if (c) {
            big->next = c->next;
            c->next = big;
        } else {
            a->head = big;
        }
        return big->data + at;
    }
    c = chunk_new(ARENA_CHUNK);
    c->next = a->head;
    a->head = c;
    size_t at = aligned_used(c);
    c->used = at + n;
    return c->data + at;
}

char *arena_strndup(Arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (n) memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *arena_strdup(Arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

char *arena_printf(Arena *a, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) NDLC_ICE("arena_printf: bad format '%s'", fmt);
    char *p = arena_alloc(a, (size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}
