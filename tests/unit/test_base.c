/* SPDX-License-Identifier: MIT
 * test_base.c - ir/base.c: the arena (alignment, zeroing, big blocks, strings), VEC,
 * checked allocation, and the two ways the compiler dies: NDLC_ICE and an allocation
 * failing under NDLC_FAIL_ALLOC (both in a child process, exit status 3).
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ir/base.h"

/* ---- dying ------------------------------------------------------------------------ */
typedef void ChildFn(void);

/* Runs fn in a child with NDLC_FAIL_ALLOC=fail_env (NULL: unset); returns its exit
 * status and what it wrote to stderr. */
static int in_child(ChildFn *fn, const char *fail_env, char *err, size_t errlen)
{
    int fds[2];
    if (pipe(fds) != 0) return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        if (fail_env) setenv("NDLC_FAIL_ALLOC", fail_env, 1);
        else unsetenv("NDLC_FAIL_ALLOC");
        fn();
        _exit(0);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t got;
    while (n + 1 < errlen && (got = read(fds[0], err + n, errlen - 1 - n)) > 0) n += (size_t)got;
    err[n] = '\0';
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void ice_child(void)
{
    NDLC_ICE("broken invariant %d in '%s'", 42, "shape");
}

static void three_allocs(void)
{
    void *a = xmalloc(10);
    void *b = xcalloc(2, 8);
    char *c = xstrdup("third");     /* the 3rd allocation */
    free(a);
    free(b);
    free(c);
}

static void arena_allocs(void)
{
    Arena *a = arena_new();                       /* 1 */
    for (int i = 0; i < 100000; i++) arena_alloc(a, 64);
    arena_free(a);
}

static void test_dying(void)
{
    char err[1024];
    CHECK_EQ_INT(in_child(ice_child, NULL, err, sizeof err), 3);
    CHECK_CONTAINS(err, "ndlc: internal error at ");
    CHECK_CONTAINS(err, "test_base.c:");
    CHECK_CONTAINS(err, ": broken invariant 42 in 'shape'\n");
    CHECK(strncmp(err, "ndlc: internal error at ", 24) == 0);

    CHECK_EQ_INT(in_child(three_allocs, NULL, err, sizeof err), 0);
    CHECK_STR(err, "");
    CHECK_EQ_INT(in_child(three_allocs, "4", err, sizeof err), 0);
    CHECK_EQ_INT(in_child(three_allocs, "0", err, sizeof err), 0);
    CHECK_EQ_INT(in_child(three_allocs, "junk", err, sizeof err), 0);
    CHECK_EQ_INT(in_child(three_allocs, "3", err, sizeof err), 3);
    CHECK_CONTAINS(err, "ndlc: internal error at ");
    CHECK_CONTAINS(err, "out of memory (allocating 6 bytes)\n");
    CHECK_EQ_INT(in_child(three_allocs, "2", err, sizeof err), 3);
    CHECK_CONTAINS(err, "out of memory (allocating 2 x 8 bytes)\n");
    /* The arena's chunks come from the same allocator. */
    CHECK_EQ_INT(in_child(arena_allocs, "5", err, sizeof err), 3);
    CHECK_CONTAINS(err, "out of memory");
}

/* ---- arena ------------------------------------------------------------------------ */
static bool all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return false;
    return true;
}

static void test_arena(void)
{
    Arena *a = arena_new();
    /* Odd sizes: every block is 16-byte aligned, zeroed and disjoint from the others. */
    enum { COUNT = 5000 };
    unsigned char **blocks = xcalloc(COUNT, sizeof *blocks);
    size_t *sizes = xcalloc(COUNT, sizeof *sizes);
    int misaligned = 0, dirty = 0;
    for (int i = 0; i < COUNT; i++) {
        sizes[i] = (size_t)(i * 7919 % 97) + (i % 500 == 0 ? 40000 : 0);
        blocks[i] = arena_alloc(a, sizes[i]);
        misaligned += (uintptr_t)blocks[i] % 16 != 0;
        dirty += !all_zero(blocks[i], sizes[i]);
        memset(blocks[i], i & 0xFF, sizes[i]);
    }
    CHECK_EQ_INT(misaligned, 0);
    CHECK_EQ_INT(dirty, 0);
    int clobbered = 0;
    for (int i = 0; i < COUNT; i++)
        for (size_t k = 0; k < sizes[i]; k++) clobbered += blocks[i][k] != (unsigned char)(i & 0xFF);
    CHECK_EQ_INT(clobbered, 0);
    /* Zero-size requests give distinct, valid pointers. */
    void *z1 = arena_alloc(a, 0), *z2 = arena_alloc(a, 0);
    CHECK(z1 && z2 && z1 != z2);
    /* One block much larger than a chunk. */
    unsigned char *big = arena_alloc(a, 5u << 20);
    CHECK((uintptr_t)big % 16 == 0);
    CHECK(all_zero(big, 5u << 20));
    memset(big, 0xAB, 5u << 20);
    /* Small blocks after the big one still come from the partly used chunk. */
    unsigned char *after = arena_alloc(a, 32);
    CHECK(after && all_zero(after, 32));
    free(blocks);
    free(sizes);

    /* Strings. */
    const char *s = arena_strdup(a, "conv1.weight");
    CHECK_STR(s, "conv1.weight");
    CHECK_STR(arena_strndup(a, "blocks.0.conv", 8), "blocks.0");
    CHECK_STR(arena_strndup(a, "", 0), "");
    CHECK_STR(arena_printf(a, "%s.%d.%s", "blocks", 3, "fc"), "blocks.3.fc");
    char longfmt[100001];
    memset(longfmt, 'x', sizeof longfmt - 1);
    longfmt[sizeof longfmt - 1] = '\0';
    const char *longs = arena_printf(a, "<%s>", longfmt);
    CHECK_EQ_INT(strlen(longs), 100002);
    CHECK(longs[0] == '<' && longs[100001] == '>');
    arena_free(a);
    arena_free(NULL);
}

/* ---- VEC and checked allocation ------------------------------------------------------ */
static void test_vec(void)
{
    VEC(int) v = {0};
    CHECK_EQ_INT(v.n, 0);
    for (int i = 0; i < 1000; i++) vec_push(v, i * i);
    CHECK_EQ_INT(v.n, 1000);
    CHECK_EQ_INT(v.cap, 1024);
    int bad = 0;
    for (int i = 0; i < 1000; i++) bad += v.v[i] != i * i;
    CHECK_EQ_INT(bad, 0);
    vec_reserve(v, 5000);
    CHECK_EQ_INT(v.cap, 8192);
    CHECK_EQ_INT(v.n, 1000);
    CHECK_EQ_INT(v.v[999], 999 * 999);
    vec_reserve(v, 10);                  /* never shrinks */
    CHECK_EQ_INT(v.cap, 8192);
    vec_free(v);
    CHECK(v.v == NULL);
    CHECK_EQ_INT(v.n + v.cap, 0);

    typedef struct Pair { const char *k; double x; } Pair;
    VEC(Pair) ps = {0};
    vec_push(ps, ((Pair){"a", 1.5}));
    vec_push(ps, ((Pair){"b", 2.5}));
    CHECK_EQ_INT(ps.cap, 8);
    CHECK_STR(ps.v[1].k, "b");
    CHECK(ps.v[0].x == 1.5);
    vec_free(ps);

    char *d = xstrdup("hello");
    CHECK_STR(d, "hello");
    d = xrealloc(d, 1000);
    CHECK_STR(d, "hello");
    free(d);
    unsigned char *z = xcalloc(100, 3);
    CHECK(all_zero(z, 300));
    free(z);
    free(xmalloc(0));
    free(xcalloc(0, 10));
}

int main(void)
{
    test_dying();        /* first: the children must start with an unused allocation counter */
    test_arena();
    test_vec();
    return check_done();
}
