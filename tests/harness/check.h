/* SPDX-License-Identifier: MIT
 * check.h - the unit-test harness: CHECK macros that record failures and keep going,
 * and check_done() as main's return value. One executable per tests/unit/test_*.c.
 */
#ifndef NDLC_CHECK_H
#define NDLC_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures, check_count;

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        check_count++;                                                                   \
        if (!(cond)) {                                                                   \
            check_failures++;                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);     \
        }                                                                                \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                               \
    do {                                                                                 \
        long long a_ = (long long)(a), b_ = (long long)(b);                              \
        check_count++;                                                                   \
        if (a_ != b_) {                                                                  \
            check_failures++;                                                            \
            fprintf(stderr, "%s:%d: CHECK_EQ_INT failed: %s == %lld, expected %s == %lld\n", \
                    __FILE__, __LINE__, #a, a_, #b, b_);                                 \
        }                                                                                \
    } while (0)

#define CHECK_STR(a, b)                                                                  \
    do {                                                                                 \
        const char *a_ = (a), *b_ = (b);                                                 \
        check_count++;                                                                   \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                         \
            check_failures++;                                                            \
            fprintf(stderr, "%s:%d: CHECK_STR failed:\n  got:      \"%s\"\n  expected: \"%s\"\n", \
                    __FILE__, __LINE__, a_ ? a_ : "(null)", b_ ? b_ : "(null)");         \
        }                                                                                \
    } while (0)

/* Substring match, for messages whose tail carries detail the test does not pin. */
#define CHECK_CONTAINS(hay, needle)                                                      \
    do {                                                                                 \
        const char *h_ = (hay), *n_ = (needle);                                          \
        check_count++;                                                                   \
        if (!h_ || !strstr(h_, n_)) {                                                    \
            check_failures++;                                                            \
            fprintf(stderr, "%s:%d: CHECK_CONTAINS failed:\n  got:      \"%s\"\n  wanted:   \"%s\"\n", \
                    __FILE__, __LINE__, h_ ? h_ : "(null)", n_);                         \
        }                                                                                \
    } while (0)

static inline int check_done(void)
{
    fprintf(stderr, "%d checks, %d failed\n", check_count, check_failures);
    return check_failures ? 1 : 0;
}

#endif
