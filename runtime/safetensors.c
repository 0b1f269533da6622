/* SPDX-License-Identifier: MIT
 * safetensors.c - the validating safetensors reader and writer (see safetensors.h).
 *
 * Weight files are untrusted. ndlrt_st_parse checks the whole file (spec section 11)
 * before it hands out a single tensor pointer, and each check fails with its own message.
 * It must not depend on anything but libc and POSIX (mmap, open, rename): generated code
 * and the executable driver carry this file. No globals; an NdlrtSt owns all it allocates.
 * The host is assumed little-endian, like the file format (checked at compile time where
 * the compiler says), and tensor data is read with memcpy because it is not aligned.
 *
 * Every message this file emits (the caller prefixes "path: error: "). NAME is a tensor
 * name or key as unescaped, shown with control bytes (and any bytes that are not UTF-8)
 * as \xNN and cut to 64 bytes plus "..."; K counts bytes from the start of the header
 * (its '{'), not of the file.
 *
 *   reading a file (ndlrt_st_open)
 *     cannot open: <strerror>
 *     cannot stat: <strerror>
 *     cannot read: <strerror>
 *     is a directory
 *     file is too large to load
 *     out of memory
 *   file layout (ndlrt_st_parse)
 *     file is N bytes long, too short for the 8-byte header length
 *     header length N is above the limit of 100000000 bytes
 *     header length N is beyond the file size M
 *     header is empty
 *     header does not start with '{'
 *     header is not valid UTF-8 at byte K
 *     invalid JSON in header at byte K: unexpected end of header
 *     invalid JSON in header at byte K: expected X, found 'c'      (or: found byte 0xNN)
 *         X is one of: a string key | ':' after a key | ',' or '}' | ',' or ']' | a value
 *     invalid JSON in header at byte K: unterminated string
 *     invalid JSON in header at byte K: control character 0xNN in a string
 *     invalid JSON in header at byte K: invalid escape '\c'        (or: '\' followed by byte 0xNN)
 *     invalid JSON in header at byte K: invalid \u escape
 *     invalid JSON in header at byte K: unpaired surrogate \uXXXX
 *     invalid JSON in header at byte K: invalid number
 *     invalid JSON in header at byte K: invalid literal
 *     header padding at byte K is 0xNN, not a space
 *     duplicate key '__metadata__'
 *     __metadata__ must be an object, not T              T: a string | a number | an array |
 *     __metadata__ value for key 'NAME' must be a string, not T         a boolean | null | ...
 *     duplicate key 'NAME' in __metadata__
 *     tensor name 'NAME' contains a NUL character
 *     duplicate tensor name 'NAME'
 *     out of memory
 *   one tensor entry, each prefixed "tensor 'NAME': "
 *     entry must be an object, not T
 *     unknown field 'NAME'
 *     duplicate field 'dtype'                             (or 'shape', 'data_offsets')
 *     missing field 'dtype'                               (or 'shape', 'data_offsets')
 *     dtype must be a string, not T
 *     unknown dtype 'NAME'
 *     shape must be an array, not T                       (also data_offsets)
 *     shape entry must be an integer, not T               (also data_offsets)
 *     shape entry -1 is negative                          (also data_offsets; the token as written)
 *     shape entry 2.0 is not written as a plain integer   (also data_offsets; fraction/exponent)
 *     shape entry 281474976710657 is above 2^48           (also data_offsets)
 *     shape has 9 dimensions, more than the supported 8
 *     data_offsets has 3 entries, expected 2
 *     data_offsets [20, 10] end before they begin
 *     data_offsets [0, 20] hold 20 bytes but shape [2,3] of F32 needs 24
 *     data_offsets [0, 20] hold 20 bytes but shape [...] of F32 needs more than 2^64
 *     data_offsets [8, 32] leave a gap of 8 bytes at the start of the data section
 *     data_offsets [30, 40] leave a gap of 6 bytes after tensor 'NAME' [0, 24]
 *     data_offsets [16, 40] overlap tensor 'NAME' [0, 24]
 *     data_offsets [0, 4096] end beyond the file: the data section has 100 bytes
 *   after the last tensor
 *     N bytes after the last tensor                      ("1 byte after ...")
 *   a model's weight table against the file (ndlrt_st_check; NAME is the model's key)
 *     tensor 'NAME' is missing
 *     tensor 'NAME' has dtype F16 but the model needs F32
 *     tensor 'NAME' has shape [8,4] but the model needs [4,8]
 *   writing (ndlrt_st_write; failure leaves nothing at path)
 *     tensor #I has no name
 *     tensor 'NAME': name is not valid UTF-8
 *     tensor 'NAME': the name is reserved
 *     tensor 'NAME': invalid dtype N
 *     tensor 'NAME': rank N is outside 0..8
 *     tensor 'NAME': shape entry N is negative
 *     tensor 'NAME': shape entry N is above 2^48
 *     tensor 'NAME': byte size overflows 64 bits
 *     tensor 'NAME': no data for N bytes
 *     duplicate tensor name 'NAME'
 *     data section is larger than 2^48 bytes
 *     header of N bytes is above the limit of 100000000 bytes
 *     cannot create a temporary file next to it: <strerror>
 *     cannot write: <strerror>
 *     cannot rename the temporary file into place: <strerror>
 *   (an existing path that is not a regular file is written in place, no temporary)
 *     out of memory
 */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* madvise, MADV_HUGEPAGE (glibc, musl) */
#endif
#define _POSIX_C_SOURCE 200809L
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && \
    __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

#if defined(__GNUC__)
#define ST_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define ST_PRINTF(f, a)
#endif

/* Shape entries and offsets above 2^48 are rejected (spec section 11): no real file
 * needs more, and it keeps every sum and difference of offsets far from overflow. */
#define ST_LIMIT ((uint64_t)1 << 48)

/* ---- dtypes -------------------------------------------------------------------------- */

static const struct {
    const char *name;     /* as spelled in the header */
    unsigned char size;   /* bytes per element */
    unsigned char fp;     /* floating point */
} dtype_info[] = {
    [NDLRT_ST_F64] = {"F64", 8, 1},  [NDLRT_ST_F32] = {"F32", 4, 1},
    [NDLRT_ST_F16] = {"F16", 2, 1},  [NDLRT_ST_BF16] = {"BF16", 2, 1},
    [NDLRT_ST_I64] = {"I64", 8, 0},  [NDLRT_ST_I32] = {"I32", 4, 0},
    [NDLRT_ST_I16] = {"I16", 2, 0},  [NDLRT_ST_I8] = {"I8", 1, 0},
    [NDLRT_ST_U8] = {"U8", 1, 0},    [NDLRT_ST_BOOL] = {"BOOL", 1, 0},
};
_Static_assert(sizeof dtype_info / sizeof dtype_info[0] == NDLRT_ST_DTYPE_COUNT,
               "dtype_info must list every NdlrtStDType");

NDLRT_API const char *ndlrt_st_dtype_name(NdlrtStDType dt)
{
    return (unsigned)dt < NDLRT_ST_DTYPE_COUNT ? dtype_info[dt].name : "?";
}

NDLRT_API size_t ndlrt_st_dtype_size(NdlrtStDType dt)
{
    return (unsigned)dt < NDLRT_ST_DTYPE_COUNT ? dtype_info[dt].size : 0;
}

NDLRT_API int ndlrt_st_dtype_is_float(NdlrtStDType dt)
{
    return (unsigned)dt < NDLRT_ST_DTYPE_COUNT && dtype_info[dt].fp;
}

/* ---- UTF-8 and messages -------------------------------------------------------------- */

/* Returns the length of the well-formed UTF-8 sequence at s (n > 0 bytes available), or
 * 0 if there is none: no overlongs, no surrogates, nothing above U+10FFFF. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0], lo = 0x80, hi = 0xBF;
    size_t more;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) more = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
        more = 2;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        more = 3;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 0;
    if (n <= more || s[1] < lo || s[1] > hi) return 0;
    for (size_t k = 2; k <= more; k++)
        if ((s[k] & 0xC0) != 0x80) return 0;
    return more + 1;
}

/* Returns the offset of the first byte of s that is not valid UTF-8, or n. */
static size_t utf8_check(const unsigned char *s, size_t n)
{
    size_t i = 0, k;
    while (i < n && (k = utf8_len(s + i, n - i)) != 0) i += k;
    return i;
}

enum { SHOW_MAX = 64, SHOW_BUF = SHOW_MAX * 4 + 8 };

/* Renders a name for a message: control bytes and bytes that are not UTF-8 as \xNN, cut
 * after SHOW_MAX bytes (never inside a character) with "..." appended. buf has SHOW_BUF
 * bytes. */
static const char *show(char *buf, const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, o = 0;
    while (i < len) {
        size_t k = utf8_len(s + i, len - i);
        if (i + (k ? k : 1) > SHOW_MAX) break;
        if (k == 0 || s[i] < 0x20 || s[i] == 0x7f) {
            o += (size_t)snprintf(buf + o, SHOW_BUF - o, "\\x%02x", s[i]);
            i++;
        } else {
            memcpy(buf + o, s + i, k);
            o += k;
            i += k;
        }
    }
    if (i < len) memcpy(buf + o, "...", 3), o += 3;
    buf[o] = '\0';
    return buf;
}

static int verrf(char *err, size_t errlen, const char *prefix, const char *fmt, va_list ap)
{
    if (!err || errlen == 0) return -1;
    size_t k = 0;
    if (prefix) {
        int r = snprintf(err, errlen, "%s", prefix);
        k = r < 0 ? 0 : (size_t)r;
        if (k >= errlen) return -1;
    }
    vsnprintf(err + k, errlen - k, fmt, ap);
    return -1;
}

/* Writes a message and returns -1. */
ST_PRINTF(3, 4) static int errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verrf(err, errlen, NULL, fmt, ap);
    va_end(ap);
    return -1;
}

static size_t utf8_put(char *o, uint32_t cp)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- the header parser --------------------------------------------------------------- */

struct NdlrtSt {
    NdlrtStTensor *t;                /* header order */
    size_t n;
    const NdlrtStTensor **by_name;   /* sorted by name, for ndlrt_st_find */
    char *strings;                   /* the unescaped tensor names */
    void *owned;                     /* the file, when ndlrt_st_open loaded it */
    size_t owned_len;
    int owned_mapped;                /* 1: munmap it, 0: free it */
};

typedef struct MetaKey { const char *s; size_t len; } MetaKey;

/* A strict reader for exactly the JSON a safetensors header holds. It stops at the first
 * problem. Strings are unescaped into str, which has n + 1 bytes: an unescaped string
 * plus its NUL is never longer than its quoted form, and kept strings never overlap. */
typedef struct Parser {
    const unsigned char *s;          /* the header; s[0] == '{' */
    size_t n, pos;
    char *str;
    size_t nstr;                     /* bytes of str holding kept strings */
    NdlrtStTensor *t;
    size_t nt, capt;
    MetaKey *meta;
    size_t nmeta, capmeta;
    char *err;
    size_t errlen;
} Parser;

ST_PRINTF(3, 4) static int json_fail(Parser *p, size_t at, const char *fmt, ...)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "invalid JSON in header at byte %zu: ", at);
    va_list ap;
    va_start(ap, fmt);
    verrf(p->err, p->errlen, prefix, fmt, ap);
    va_end(ap);
    return -1;
}

ST_PRINTF(3, 4) static int tensor_fail(Parser *p, const char *name, const char *fmt, ...)
{
    char buf[SHOW_BUF], prefix[SHOW_BUF + 16];
    snprintf(prefix, sizeof prefix, "tensor '%s': ", show(buf, name, strlen(name)));
    va_list ap;
    va_start(ap, fmt);
    verrf(p->err, p->errlen, prefix, fmt, ap);
    va_end(ap);
    return -1;
}

static void skip_ws(Parser *p)
{
    while (p->pos < p->n && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                             p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

/* Reports that `what` was expected at the current position. */
static int expected(Parser *p, const char *what)
{
    if (p->pos >= p->n) return json_fail(p, p->pos, "unexpected end of header");
    unsigned char c = p->s[p->pos];
    if (c > 0x20 && c < 0x7f) return json_fail(p, p->pos, "expected %s, found '%c'", what, c);
    return json_fail(p, p->pos, "expected %s, found byte 0x%02x", what, c);
}

/* Skips whitespace and the character c. */
static int expect(Parser *p, char c, const char *what)
{
    skip_ws(p);
    if (p->pos < p->n && p->s[p->pos] == (unsigned char)c) {
        p->pos++;
        return 0;
    }
    return expected(p, what);
}

static int hex4(Parser *p, uint32_t *out)
{
    if (p->n - p->pos < 4) return -1;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p->s[p->pos + (size_t)i], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return -1;
        v = v << 4 | d;
    }
    p->pos += 4;
    *out = v;
    return 0;
}

/* Parses the string at pos (which is '"') into str + nstr, NUL-terminated. The caller
 * keeps it by adding *len + 1 to nstr. */
static int parse_string(Parser *p, const char **out, size_t *len)
{
    size_t start = p->pos, k = 0;
    char *o = p->str + p->nstr;
    p->pos++;
    for (;;) {
        if (p->pos >= p->n) return json_fail(p, start, "unterminated string");
        unsigned char c = p->s[p->pos];
        if (c == '"') break;
        if (c < 0x20) return json_fail(p, p->pos, "control character 0x%02x in a string", c);
        if (c != '\\') {
            o[k++] = (char)c;
            p->pos++;
            continue;
        }
        size_t esc = p->pos;
        if (p->n - p->pos < 2) return json_fail(p, start, "unterminated string");
        c = p->s[p->pos + 1];
        p->pos += 2;
        switch (c) {
        case '"': case '\\': case '/': o[k++] = (char)c; break;
        case 'b': o[k++] = '\b'; break;
        case 'f': o[k++] = '\f'; break;
        case 'n': o[k++] = '\n'; break;
        case 'r': o[k++] = '\r'; break;
        case 't': o[k++] = '\t'; break;
        case 'u': {
            uint32_t cp, lo;
            if (hex4(p, &cp) < 0) return json_fail(p, esc, "invalid \\u escape");
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return json_fail(p, esc, "unpaired surrogate \\u%04X", (unsigned)cp);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                size_t esc2 = p->pos;
                if (p->n - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
                    return json_fail(p, esc, "unpaired surrogate \\u%04X", (unsigned)cp);
                p->pos += 2;
                if (hex4(p, &lo) < 0) return json_fail(p, esc2, "invalid \\u escape");
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return json_fail(p, esc, "unpaired surrogate \\u%04X", (unsigned)cp);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            k += utf8_put(o + k, cp);
            break;
        }
        default:
            if (c > 0x20 && c < 0x7f) return json_fail(p, esc, "invalid escape '\\%c'", c);
            return json_fail(p, esc, "invalid escape '\\' followed by byte 0x%02x", c);
        }
    }
    p->pos++;
    o[k] = '\0';
    *out = o;
    *len = k;
    return 0;
}

static int is_digit(Parser *p, size_t i) { return i < p->n && p->s[i] >= '0' && p->s[i] <= '9'; }

/* A scanned JSON number: where it is, its sign, whether it has a fraction or exponent,
 * and its value if it is a plain integer (saturated just above ST_LIMIT). */
typedef struct Num {
    size_t at, len;
    int neg, frac;
    uint64_t v;
} Num;

static int scan_number(Parser *p, Num *num)
{
    size_t i = p->pos;
    memset(num, 0, sizeof *num);
    num->at = i;
    if (i < p->n && p->s[i] == '-') num->neg = 1, i++;
    if (!is_digit(p, i)) return json_fail(p, num->at, "invalid number");
    if (p->s[i] == '0') {
        i++;
        if (is_digit(p, i)) return json_fail(p, num->at, "invalid number");
    } else {
        for (; is_digit(p, i); i++) {
            num->v = num->v * 10 + (uint64_t)(p->s[i] - '0');
            if (num->v > ST_LIMIT) num->v = ST_LIMIT + 1;
        }
    }
    if (i < p->n && p->s[i] == '.') {
        num->frac = 1;
        if (!is_digit(p, ++i)) return json_fail(p, num->at, "invalid number");
        while (is_digit(p, i)) i++;
    }
    if (i < p->n && (p->s[i] == 'e' || p->s[i] == 'E')) {
        num->frac = 1;
        i++;
        if (i < p->n && (p->s[i] == '+' || p->s[i] == '-')) i++;
        if (!is_digit(p, i)) return json_fail(p, num->at, "invalid number");
        while (is_digit(p, i)) i++;
    }
    num->len = i - num->at;
    p->pos = i;
    return 0;
}

/* Checks that the JSON value at pos is well-formed as far as needed to name its type
 * ("a string", "a number", ...), for a message saying it has the wrong type. Returns
 * NULL after reporting invalid JSON. Does not move pos. */
static const char *value_type(Parser *p)
{
    size_t save = p->pos;
    const char *type = NULL, *lit = NULL;
    if (p->pos >= p->n) {
        expected(p, "a value");
        return NULL;
    }
    switch (p->s[p->pos]) {
    case '{': type = "an object"; break;
    case '[': type = "an array"; break;
    case '"': {
        const char *s;
        size_t len;
        if (parse_string(p, &s, &len) == 0) type = "a string";
        break;
    }
    case 't': lit = "true", type = "a boolean"; break;
    case 'f': lit = "false", type = "a boolean"; break;
    case 'n': lit = "null", type = "null"; break;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9': {
        Num num;
        if (scan_number(p, &num) == 0) type = "a number";
        break;
    }
    default: expected(p, "a value"); break;
    }
    if (lit) {
        size_t len = strlen(lit);
        if (p->n - p->pos < len || memcmp(p->s + p->pos, lit, len) != 0) {
            json_fail(p, p->pos, "invalid literal");
            type = NULL;
        }
    }
    p->pos = save;
    return type;
}

/* Formats a number token for a message, cut to 40 characters. */
static const char *show_num(char *buf, size_t cap, Parser *p, const Num *num)
{
    size_t len = num->len < 40 ? num->len : 40;
    snprintf(buf, cap, "%.*s%s", (int)len, (const char *)p->s + num->at,
             num->len > len ? "..." : "");
    return buf;
}

/* Parses an array of non-negative plain integers <= 2^48 into out[0..max); *count gets
 * the number of entries, which may exceed max. */
static int parse_uints(Parser *p, const char *name, const char *field, uint64_t *out,
                       int max, int *count)
{
    const char *type;
    *count = 0;
    skip_ws(p);
    if (p->pos >= p->n || p->s[p->pos] != '[') {
        if (!(type = value_type(p))) return -1;
        return tensor_fail(p, name, "%s must be an array, not %s", field, type);
    }
    p->pos++;
    skip_ws(p);
    if (p->pos < p->n && p->s[p->pos] == ']') {
        p->pos++;
        return 0;
    }
    for (;;) {
        Num num;
        char buf[48];
        skip_ws(p);
        if (p->pos < p->n && p->s[p->pos] != '-' && !is_digit(p, p->pos)) {
            if (!(type = value_type(p))) return -1;
            return tensor_fail(p, name, "%s entry must be an integer, not %s", field, type);
        }
        if (p->pos >= p->n) return expected(p, "a value");
        if (scan_number(p, &num) < 0) return -1;
        if (num.neg)
            return tensor_fail(p, name, "%s entry %s is negative", field,
                               show_num(buf, sizeof buf, p, &num));
        if (num.frac)
            return tensor_fail(p, name, "%s entry %s is not written as a plain integer", field,
                               show_num(buf, sizeof buf, p, &num));
        if (num.v > ST_LIMIT)
            return tensor_fail(p, name, "%s entry %s is above 2^48", field,
                               show_num(buf, sizeof buf, p, &num));
        if (*count < max) out[*count] = num.v;
        ++*count;   /* at most n / 2 < INT_MAX */
        skip_ws(p);
        if (p->pos < p->n && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->n && p->s[p->pos] == ']') {
            p->pos++;
            return 0;
        }
        return expected(p, "',' or ']'");
    }
}

static int parse_dtype(Parser *p, const char *name, NdlrtStDType *dt)
{
    const char *type, *s;
    size_t len;
    skip_ws(p);
    if (p->pos >= p->n || p->s[p->pos] != '"') {
        if (!(type = value_type(p))) return -1;
        return tensor_fail(p, name, "dtype must be a string, not %s", type);
    }
    if (parse_string(p, &s, &len) < 0) return -1;
    for (int i = 0; i < NDLRT_ST_DTYPE_COUNT; i++) {
        if (strlen(dtype_info[i].name) == len && memcmp(dtype_info[i].name, s, len) == 0) {
            *dt = (NdlrtStDType)i;
            return 0;
        }
    }
    char buf[SHOW_BUF];
    return tensor_fail(p, name, "unknown dtype '%s'", show(buf, s, len));
}

static void format_dims(char *buf, size_t cap, int rank, const int64_t *dims)
{
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < rank && o < cap; d++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", d ? "," : "", (long long)dims[d]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

static void format_shape(char *buf, size_t cap, const NdlrtStTensor *t)
{
    format_dims(buf, cap, t->rank, t->shape);
}

/* The fields of a tensor entry; bit f of a `seen` mask stands for fields[f]. */
static const char *const fields[] = {"dtype", "shape", "data_offsets"};

/* Checks a complete entry: required fields, offsets in order, and byte size against
 * dtype x shape, with overflow-checked products (a 0 in the shape makes 0 elements). */
static int check_entry(Parser *p, NdlrtStTensor *t, unsigned seen)
{
    for (unsigned f = 0; f < 3; f++)
        if (!(seen & 1u << f)) return tensor_fail(p, t->name, "missing field '%s'", fields[f]);
    unsigned long long b = t->begin, e = t->end;
    if (e < b)
        return tensor_fail(p, t->name, "data_offsets [%llu, %llu] end before they begin", b, e);
    uint64_t nelem = 1, size = dtype_info[t->dtype].size;
    int zero = 0, overflow = 0;
    for (int d = 0; d < t->rank; d++) zero |= t->shape[d] == 0;
    for (int d = 0; d < t->rank && !zero; d++) {
        uint64_t dim = (uint64_t)t->shape[d];
        if (nelem > UINT64_MAX / dim) overflow = 1;
        else nelem *= dim;
    }
    if (zero) nelem = 0;
    if (!overflow && nelem > UINT64_MAX / size) overflow = 1;
    if (overflow || nelem * size != e - b) {
        char shape[NDLRT_ST_MAX_RANK * 24 + 4], need[32];
        format_shape(shape, sizeof shape, t);
        if (overflow) snprintf(need, sizeof need, "more than 2^64");
        else snprintf(need, sizeof need, "%llu", (unsigned long long)(nelem * size));
        return tensor_fail(p, t->name,
                           "data_offsets [%llu, %llu] hold %llu bytes but shape %s of %s needs %s",
                           b, e, e - b, shape, dtype_info[t->dtype].name, need);
    }
    t->nelem = nelem;
    return 0;
}

/* Parses the value of tensor entry t (whose name is set) at pos. */
static int parse_entry(Parser *p, NdlrtStTensor *t)
{
    const char *type;
    unsigned seen = 0;
    skip_ws(p);
    if (p->pos >= p->n || p->s[p->pos] != '{') {
        if (!(type = value_type(p))) return -1;
        return tensor_fail(p, t->name, "entry must be an object, not %s", type);
    }
    p->pos++;
    skip_ws(p);
    if (p->pos < p->n && p->s[p->pos] == '}') {
        p->pos++;
        return check_entry(p, t, seen);
    }
    for (;;) {
        const char *key;
        size_t len;
        unsigned f;
        skip_ws(p);
        if (p->pos >= p->n || p->s[p->pos] != '"') return expected(p, "a string key");
        if (parse_string(p, &key, &len) < 0) return -1;
        for (f = 0; f < 3; f++)
            if (strlen(fields[f]) == len && memcmp(fields[f], key, len) == 0) break;
        if (f == 3) {
            char buf[SHOW_BUF];
            return tensor_fail(p, t->name, "unknown field '%s'", show(buf, key, len));
        }
        if (seen & 1u << f) return tensor_fail(p, t->name, "duplicate field '%s'", fields[f]);
        seen |= 1u << f;
        if (expect(p, ':', "':' after a key") < 0) return -1;
        if (f == 0) {
            if (parse_dtype(p, t->name, &t->dtype) < 0) return -1;
        } else if (f == 1) {
            uint64_t dims[NDLRT_ST_MAX_RANK];
            int count;
            if (parse_uints(p, t->name, "shape", dims, NDLRT_ST_MAX_RANK, &count) < 0) return -1;
            if (count > NDLRT_ST_MAX_RANK)
                return tensor_fail(p, t->name,
                                   "shape has %d dimensions, more than the supported %d",
                                   count, NDLRT_ST_MAX_RANK);
            t->rank = count;
            for (int d = 0; d < count; d++) t->shape[d] = (int64_t)dims[d];
        } else {
            uint64_t off[2];
            int count;
            if (parse_uints(p, t->name, "data_offsets", off, 2, &count) < 0) return -1;
            if (count != 2)
                return tensor_fail(p, t->name, "data_offsets has %d entr%s, expected 2", count,
                                   count == 1 ? "y" : "ies");
            t->begin = off[0];
            t->end = off[1];
        }
        skip_ws(p);
        if (p->pos < p->n && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->n && p->s[p->pos] == '}') {
            p->pos++;
            return check_entry(p, t, seen);
        }
        return expected(p, "',' or '}'");
    }
}

static int oom(Parser *p) { return errf(p->err, p->errlen, "out of memory"); }

/* Parses the __metadata__ object: string keys (kept, for the duplicate check) to string
 * values (checked and dropped). */
static int parse_metadata(Parser *p)
{
    const char *type, *key, *val;
    size_t klen, vlen;
    char buf[SHOW_BUF];
    skip_ws(p);
    if (p->pos >= p->n || p->s[p->pos] != '{') {
        if (!(type = value_type(p))) return -1;
        return errf(p->err, p->errlen, "__metadata__ must be an object, not %s", type);
    }
    p->pos++;
    skip_ws(p);
    if (p->pos < p->n && p->s[p->pos] == '}') {
        p->pos++;
        return 0;
    }
    for (;;) {
        skip_ws(p);
        if (p->pos >= p->n || p->s[p->pos] != '"') return expected(p, "a string key");
        if (parse_string(p, &key, &klen) < 0) return -1;
        p->nstr += klen + 1;
        if (p->nmeta == p->capmeta) {
            size_t cap = p->capmeta ? 2 * p->capmeta : 16;
            MetaKey *m = realloc(p->meta, cap * sizeof *m);
            if (!m) return oom(p);
            p->meta = m;
            p->capmeta = cap;
        }
        p->meta[p->nmeta].s = key;
        p->meta[p->nmeta++].len = klen;
        if (expect(p, ':', "':' after a key") < 0) return -1;
        skip_ws(p);
        if (p->pos >= p->n || p->s[p->pos] != '"') {
            if (!(type = value_type(p))) return -1;
            return errf(p->err, p->errlen,
                        "__metadata__ value for key '%s' must be a string, not %s",
                        show(buf, key, klen), type);
        }
        if (parse_string(p, &val, &vlen) < 0) return -1;
        skip_ws(p);
        if (p->pos < p->n && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->n && p->s[p->pos] == '}') {
            p->pos++;
            return 0;
        }
        return expected(p, "',' or '}'");
    }
}

/* Parses the whole header into p->t. */
static int parse_header(Parser *p)
{
    int seen_meta = 0;
    char buf[SHOW_BUF];
    p->pos = 1;   /* s[0] is '{' */
    skip_ws(p);
    if (p->pos < p->n && p->s[p->pos] == '}') {
        p->pos++;
    } else {
        for (;;) {
            const char *key;
            size_t len;
            skip_ws(p);
            if (p->pos >= p->n || p->s[p->pos] != '"') return expected(p, "a string key");
            if (parse_string(p, &key, &len) < 0) return -1;
            p->nstr += len + 1;
            if (expect(p, ':', "':' after a key") < 0) return -1;
            if (len == 12 && memcmp(key, "__metadata__", 12) == 0) {
                if (seen_meta) return errf(p->err, p->errlen, "duplicate key '__metadata__'");
                seen_meta = 1;
                if (parse_metadata(p) < 0) return -1;
            } else {
                if (memchr(key, '\0', len))
                    return errf(p->err, p->errlen, "tensor name '%s' contains a NUL character",
                                show(buf, key, len));
                if (p->nt == p->capt) {
                    size_t cap = p->capt ? 2 * p->capt : 16;
                    NdlrtStTensor *t = realloc(p->t, cap * sizeof *t);
                    if (!t) return oom(p);
                    p->t = t;
                    p->capt = cap;
                }
                NdlrtStTensor *t = &p->t[p->nt++];
                memset(t, 0, sizeof *t);
                t->name = key;
                if (parse_entry(p, t) < 0) return -1;
            }
            skip_ws(p);
            if (p->pos < p->n && p->s[p->pos] == ',') {
                p->pos++;
                continue;
            }
            if (p->pos < p->n && p->s[p->pos] == '}') {
                p->pos++;
                break;
            }
            return expected(p, "',' or '}'");
        }
    }
    for (size_t i = p->pos; i < p->n; i++)
        if (p->s[i] != ' ')
            return errf(p->err, p->errlen, "header padding at byte %zu is 0x%02x, not a space", i,
                        p->s[i]);
    return 0;
}

/* ---- whole-file checks --------------------------------------------------------------- */

static int cmp_name(const void *a, const void *b)
{
    const NdlrtStTensor *x = *(const NdlrtStTensor *const *)a;
    const NdlrtStTensor *y = *(const NdlrtStTensor *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x > y) - (x < y);
}

static int cmp_offsets(const void *a, const void *b)
{
    const NdlrtStTensor *x = *(const NdlrtStTensor *const *)a;
    const NdlrtStTensor *y = *(const NdlrtStTensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return (x > y) - (x < y);
}

static int cmp_meta(const void *a, const void *b)
{
    const MetaKey *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return (x->s > y->s) - (x->s < y->s);   /* strings are laid out in header order */
}

/* Reports the duplicate whose second occurrence comes first in the header. */
static int check_duplicates(Parser *p, const NdlrtStTensor **by_name)
{
    char buf[SHOW_BUF];
    const NdlrtStTensor *dup = NULL;
    const MetaKey *mdup = NULL;
    qsort(by_name, p->nt, sizeof *by_name, cmp_name);
    for (size_t i = 1; i < p->nt; i++)
        if (strcmp(by_name[i - 1]->name, by_name[i]->name) == 0 && (!dup || by_name[i] < dup))
            dup = by_name[i];
    if (dup)
        return errf(p->err, p->errlen, "duplicate tensor name '%s'",
                    show(buf, dup->name, strlen(dup->name)));
    if (p->nmeta > 1) qsort(p->meta, p->nmeta, sizeof *p->meta, cmp_meta);
    for (size_t i = 1; i < p->nmeta; i++) {
        const MetaKey *x = &p->meta[i - 1], *y = &p->meta[i];
        if (x->len == y->len && memcmp(x->s, y->s, x->len) == 0 && (!mdup || y->s < mdup->s))
            mdup = y;
    }
    if (mdup)
        return errf(p->err, p->errlen, "duplicate key '%s' in __metadata__",
                    show(buf, mdup->s, mdup->len));
    return 0;
}

/* Tensors sorted by (begin, end) must tile the data section exactly from 0 to its end. */
static int check_layout(Parser *p, const NdlrtStTensor **sorted, size_t datalen)
{
    char buf[SHOW_BUF];
    uint64_t at = 0;
    const NdlrtStTensor *prev = NULL;
    qsort(sorted, p->nt, sizeof *sorted, cmp_offsets);
    for (size_t i = 0; i < p->nt; i++) {
        const NdlrtStTensor *t = sorted[i];
        unsigned long long b = t->begin, e = t->end;
        if (b > at && !prev)
            return tensor_fail(p, t->name,
                               "data_offsets [%llu, %llu] leave a gap of %llu bytes "
                               "at the start of the data section",
                               b, e, b - at);
        if (b > at)
            return tensor_fail(p, t->name,
                               "data_offsets [%llu, %llu] leave a gap of %llu bytes "
                               "after tensor '%s' [%llu, %llu]",
                               b, e, b - at, show(buf, prev->name, strlen(prev->name)),
                               (unsigned long long)prev->begin, (unsigned long long)prev->end);
        if (b < at)
            return tensor_fail(p, t->name,
                               "data_offsets [%llu, %llu] overlap tensor '%s' [%llu, %llu]",
                               b, e, show(buf, prev->name, strlen(prev->name)),
                               (unsigned long long)prev->begin, (unsigned long long)prev->end);
        if (e > datalen)
            return tensor_fail(p, t->name,
                               "data_offsets [%llu, %llu] end beyond the file: "
                               "the data section has %zu bytes",
                               b, e, datalen);
        at = e;
        prev = t;
    }
    if (at < datalen) {
        unsigned long long extra = datalen - at;
        return errf(p->err, p->errlen, "%llu byte%s after the last tensor", extra,
                    extra == 1 ? "" : "s");
    }
    return 0;
}

static int parse_file(const unsigned char *buf, size_t len, NdlrtSt *st, char *err, size_t errlen)
{
    if (len < 8)
        return errf(err, errlen,
                    "file is %zu bytes long, too short for the 8-byte header length", len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | buf[i];
    if (hlen > NDLRT_ST_MAX_HEADER)
        return errf(err, errlen, "header length %llu is above the limit of %u bytes",
                    (unsigned long long)hlen, NDLRT_ST_MAX_HEADER);
    if (hlen > len - 8)
        return errf(err, errlen, "header length %llu is beyond the file size %zu",
                    (unsigned long long)hlen, len);
    const unsigned char *h = buf + 8;
    size_t n = (size_t)hlen, bad;
    if (n == 0) return errf(err, errlen, "header is empty");
    if (h[0] != '{') return errf(err, errlen, "header does not start with '{'");
    if ((bad = utf8_check(h, n)) != n)
        return errf(err, errlen, "header is not valid UTF-8 at byte %zu", bad);

    Parser p = {.s = h, .n = n, .err = err, .errlen = errlen};
    const NdlrtStTensor **sorted = NULL;
    int rc = -1;
    if (!(p.str = malloc(n + 1))) return errf(err, errlen, "out of memory");
    if (parse_header(&p) < 0) goto done;
    st->by_name = malloc((p.nt ? p.nt : 1) * sizeof *st->by_name);
    sorted = malloc((p.nt ? p.nt : 1) * sizeof *sorted);
    if (!st->by_name || !sorted) {
        oom(&p);
        goto done;
    }
    for (size_t i = 0; i < p.nt; i++) st->by_name[i] = sorted[i] = &p.t[i];
    if (check_duplicates(&p, st->by_name) < 0) goto done;
    if (check_layout(&p, sorted, len - 8 - n) < 0) goto done;
    for (size_t i = 0; i < p.nt; i++) p.t[i].data = h + n + p.t[i].begin;
    rc = 0;
done:
    free(sorted);
    free(p.meta);
    st->t = p.t;
    st->n = p.nt;
    st->strings = p.str;
    return rc;
}

/* ---- public reader API --------------------------------------------------------------- */

NDLRT_API void ndlrt_st_close(NdlrtSt *st)
{
    if (!st) return;
    free(st->t);
    free(st->by_name);
    free(st->strings);
    if (st->owned && st->owned_mapped) munmap(st->owned, st->owned_len);
    else free(st->owned);
    free(st);
}

NDLRT_API int ndlrt_st_parse(const void *buf, size_t len, NdlrtSt **out, char *err, size_t errlen)
{
    *out = NULL;
    NdlrtSt *st = calloc(1, sizeof *st);
    if (!st) return errf(err, errlen, "out of memory");
    if (parse_file(buf, len, st, err, errlen) < 0) {
        ndlrt_st_close(st);
        return -1;
    }
    *out = st;
    return 0;
}

/* Reads all of fd into a malloc'd buffer (for files that cannot be mapped). */
static int read_all(int fd, unsigned char **out, size_t *outlen)
{
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    if (!buf) return ENOMEM;
    for (;;) {
        if (n == cap) {
            unsigned char *b = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
            if (!b) {
                free(buf);
                return ENOMEM;
            }
            buf = b;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            return e;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    *out = buf;
    *outlen = n;
    return 0;
}

/* Maps a regular file read-only (reads anything else, such as a pipe, into memory). A
 * mapped file that another process truncates while it is open can still raise SIGBUS;
 * weight files are not expected to change under the compiler. */
NDLRT_API int ndlrt_st_open(const char *path, NdlrtSt **out, char *err, size_t errlen)
{
    struct stat sb;
    unsigned char *buf = NULL;
    size_t len = 0;
    int mapped = 0, e;
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errf(err, errlen, "cannot open: %s", strerror(errno));
    if (fstat(fd, &sb) != 0) {
        e = errno;
        close(fd);
        return errf(err, errlen, "cannot stat: %s", strerror(e));
    }
    if (S_ISDIR(sb.st_mode)) {
        close(fd);
        return errf(err, errlen, "is a directory");
    }
    if (S_ISREG(sb.st_mode) && sb.st_size > 0) {
        if ((uintmax_t)sb.st_size > SIZE_MAX) {
            close(fd);
            return errf(err, errlen, "file is too large to load");
        }
        len = (size_t)sb.st_size;
        void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m != MAP_FAILED) buf = m, mapped = 1;
    }
    if (!buf && (e = read_all(fd, &buf, &len)) != 0) {
        close(fd);
        if (e == ENOMEM) return errf(err, errlen, "out of memory");
        return errf(err, errlen, "cannot read: %s", strerror(e));
    }
    close(fd);
    if (ndlrt_st_parse(buf, len, out, err, errlen) < 0) {
        if (mapped) munmap(buf, len);
        else free(buf);
        return -1;
    }
    (*out)->owned = buf;
    (*out)->owned_len = len;
    (*out)->owned_mapped = mapped;
    return 0;
}

/* Weights are streamed from memory once per run when they exceed the caches (a MoE layer
 * at few tokens reads 67 MB per run): with 4 KiB pages every 4 KiB of the stream costs a
 * TLB miss and ends the hardware prefetcher's run. With Linux transparent huge pages in
 * "madvise" mode (the common default) memory gets 2 MiB pages only when advised, so the
 * 2 MiB-aligned middle of [p, p + len) is advised here, before it is first written. A hint:
 * where it is unknown or refused, nothing changes. */
NDLRT_API void ndlrt_advise_huge_pages(void *p, size_t len)
{
#if defined(MADV_HUGEPAGE)
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t lo = ((uintptr_t)p + huge - 1) / huge * huge, hi = ((uintptr_t)p + len) / huge * huge;
    if (hi > lo) (void)madvise((void *)lo, (size_t)(hi - lo), MADV_HUGEPAGE);
#else
    (void)p, (void)len;
#endif
}

NDLRT_API size_t ndlrt_st_count(const NdlrtSt *st) { return st ? st->n : 0; }

NDLRT_API const NdlrtStTensor *ndlrt_st_tensor(const NdlrtSt *st, size_t i)
{
    return st && i < st->n ? &st->t[i] : NULL;
}

NDLRT_API const NdlrtStTensor *ndlrt_st_find(const NdlrtSt *st, const char *name)
{
    if (!st || !name) return NULL;
    size_t lo = 0, hi = st->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(st->by_name[mid]->name, name);
        if (c == 0) return st->by_name[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* A model's weight table against the file (spec 6: every parameter found with an equal
 * shape). The name shown is the model's, which the file's matches byte for byte. */
NDLRT_API long ndlrt_st_check(const NdlrtSt *st, const NdlrtWeightSpec *want, size_t n,
                              char *err, size_t errlen)
{
    char name[SHOW_BUF], have[NDLRT_ST_MAX_RANK * 24 + 4], need[NDLRT_ST_MAX_RANK * 24 + 4];
    for (size_t i = 0; i < n; i++) {
        const NdlrtWeightSpec *w = &want[i];
        const NdlrtStTensor *t = ndlrt_st_find(st, w->name);
        const char *shown = show(name, w->name ? w->name : "", w->name ? strlen(w->name) : 0);
        int rank = w->rank < 0 ? 0 : w->rank > NDLRT_ST_MAX_RANK ? NDLRT_ST_MAX_RANK : w->rank;
        int same = t && t->rank == w->rank;
        for (int d = 0; same && d < rank; d++) same = t->shape[d] == w->dims[d];
        if (!t) errf(err, errlen, "tensor '%s' is missing", shown);
        else if ((int)t->dtype != w->dtype)
            errf(err, errlen, "tensor '%s' has dtype %s but the model needs %s", shown,
                 ndlrt_st_dtype_name(t->dtype), ndlrt_st_dtype_name((NdlrtStDType)w->dtype));
        else if (!same) {
            format_shape(have, sizeof have, t);
            format_dims(need, sizeof need, rank, w->dims);
            errf(err, errlen, "tensor '%s' has shape %s but the model needs %s", shown, have, need);
        } else
            continue;
        return (long)i;
    }
    return -1;
}

/* ---- conversions --------------------------------------------------------------------- */

static float bits_to_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* IEEE binary16 to float, exactly (every half is a float). */
static float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = h >> 10 & 0x1F, man = h & 0x3FF;
    if (exp == 0x1F) return bits_to_float(sign | 0x7F800000u | man << 13);   /* inf, NaN */
    if (exp != 0) return bits_to_float(sign | (exp + 112) << 23 | man << 13);
    float f = (float)man * 0x1p-24f;   /* zero or subnormal: man * 2^-24, exact */
    return sign ? -f : f;
}

/* double to float, rounding to nearest even; out-of-range values become +-inf as IEEE
 * says (the C cast would be undefined there). */
static float f64_to_f32(double d)
{
    if (d >= 0x1.ffffffp+127) return bits_to_float(0x7F800000u);
    if (d <= -0x1.ffffffp+127) return bits_to_float(0xFF800000u);
    if (d > FLT_MAX) return FLT_MAX;
    if (d < -FLT_MAX) return -FLT_MAX;
    return (float)d;
}

NDLRT_API void ndlrt_st_read_f32(const NdlrtStTensor *t, float *dst)
{
    const unsigned char *p = t->data;
    size_t n = (size_t)t->nelem;
    if (n == 0) return;
    switch (t->dtype) {
    case NDLRT_ST_F32: memcpy(dst, p, n * sizeof *dst); break;
    case NDLRT_ST_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            dst[i] = f64_to_f32(d);
        }
        break;
    case NDLRT_ST_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = f16_to_f32(h);
        }
        break;
    case NDLRT_ST_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = bits_to_float((uint32_t)h << 16);
        }
        break;
    case NDLRT_ST_I64:
        for (size_t i = 0; i < n; i++) {
            int64_t v;
            memcpy(&v, p + 8 * i, 8);
            dst[i] = (float)v;
        }
        break;
    case NDLRT_ST_I32:
        for (size_t i = 0; i < n; i++) {
            int32_t v;
            memcpy(&v, p + 4 * i, 4);
            dst[i] = (float)v;
        }
        break;
    case NDLRT_ST_I16:
        for (size_t i = 0; i < n; i++) {
            int16_t v;
            memcpy(&v, p + 2 * i, 2);
            dst[i] = (float)v;
        }
        break;
    case NDLRT_ST_I8:
        for (size_t i = 0; i < n; i++) dst[i] = (float)(int8_t)p[i];
        break;
    case NDLRT_ST_U8:
        for (size_t i = 0; i < n; i++) dst[i] = (float)p[i];
        break;
    case NDLRT_ST_BOOL:
        for (size_t i = 0; i < n; i++) dst[i] = p[i] != 0;
        break;
    case NDLRT_ST_DTYPE_COUNT: break;
    }
}

NDLRT_API int ndlrt_st_read_i64(const NdlrtStTensor *t, int64_t *dst)
{
    const unsigned char *p = t->data;
    size_t n = (size_t)t->nelem;
    if (ndlrt_st_dtype_is_float(t->dtype) || (unsigned)t->dtype >= NDLRT_ST_DTYPE_COUNT) return -1;
    if (n == 0) return 0;
    switch (t->dtype) {
    case NDLRT_ST_I64: memcpy(dst, p, n * sizeof *dst); break;
    case NDLRT_ST_I32:
        for (size_t i = 0; i < n; i++) {
            int32_t v;
            memcpy(&v, p + 4 * i, 4);
            dst[i] = v;
        }
        break;
    case NDLRT_ST_I16:
        for (size_t i = 0; i < n; i++) {
            int16_t v;
            memcpy(&v, p + 2 * i, 2);
            dst[i] = v;
        }
        break;
    case NDLRT_ST_I8:
        for (size_t i = 0; i < n; i++) dst[i] = (int8_t)p[i];
        break;
    case NDLRT_ST_U8:
        for (size_t i = 0; i < n; i++) dst[i] = p[i];
        break;
    case NDLRT_ST_BOOL:
        for (size_t i = 0; i < n; i++) dst[i] = p[i] != 0;
        break;
    default: return -1;
    }
    return 0;
}

/* ---- writer -------------------------------------------------------------------------- */

typedef struct Buf {
    char *p;
    size_t n, cap;
    int oom;
} Buf;

static void buf_put(Buf *b, const char *s, size_t len)
{
    if (b->oom) return;
    if (b->cap - b->n < len) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->n < len) {
            if (cap > SIZE_MAX / 2) {
                b->oom = 1;
                return;
            }
            cap *= 2;
        }
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
}

static void buf_str(Buf *b, const char *s) { buf_put(b, s, strlen(s)); }

/* Appends s as a JSON string. */
static void buf_json_string(Buf *b, const char *s)
{
    buf_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            buf_put(b, esc, 2);
        } else if (c < 0x20) {
            const char *named = c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r" :
                                c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
            if (named) buf_str(b, named);
            else snprintf(esc, sizeof esc, "\\u%04x", c), buf_put(b, esc, 6);
        } else {
            buf_put(b, (const char *)s, 1);
        }
    }
    buf_put(b, "\"", 1);
}

static int cmp_out(const void *a, const void *b)
{
    const NdlrtStOut *x = *(const NdlrtStOut *const *)a, *y = *(const NdlrtStOut *const *)b;
    return strcmp(x->name, y->name);
}

static int write_all(int fd, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len > 0) {
        size_t chunk = len < ((size_t)1 << 30) ? len : (size_t)1 << 30;
        ssize_t w = write(fd, p, chunk);
        if (w < 0 && errno == EINTR) continue;
        if (w == 0) errno = EIO;
        if (w <= 0) return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Checks one tensor to be written and returns its byte size in *bytes. */
static int check_out(const NdlrtStOut *t, size_t i, uint64_t *bytes, char *err, size_t errlen)
{
    char buf[SHOW_BUF];
    if (!t->name) return errf(err, errlen, "tensor #%zu has no name", i);
    size_t len = strlen(t->name);
    const char *name = show(buf, t->name, len);
    if (utf8_check((const unsigned char *)t->name, len) != len)
        return errf(err, errlen, "tensor '%s': name is not valid UTF-8", name);
    if (strcmp(t->name, "__metadata__") == 0)
        return errf(err, errlen, "tensor '%s': the name is reserved", name);
    if ((unsigned)t->dtype >= NDLRT_ST_DTYPE_COUNT)
        return errf(err, errlen, "tensor '%s': invalid dtype %d", name, (int)t->dtype);
    if (t->rank < 0 || t->rank > NDLRT_ST_MAX_RANK)
        return errf(err, errlen, "tensor '%s': rank %d is outside 0..%d", name, t->rank,
                    NDLRT_ST_MAX_RANK);
    uint64_t nelem = 1;
    int zero = 0, overflow = 0;
    for (int d = 0; d < t->rank; d++) {
        if (t->shape[d] < 0)
            return errf(err, errlen, "tensor '%s': shape entry %lld is negative", name,
                        (long long)t->shape[d]);
        if ((uint64_t)t->shape[d] > ST_LIMIT)
            return errf(err, errlen, "tensor '%s': shape entry %lld is above 2^48", name,
                        (long long)t->shape[d]);
        zero |= t->shape[d] == 0;
    }
    for (int d = 0; d < t->rank && !zero; d++) {
        uint64_t dim = (uint64_t)t->shape[d];
        if (nelem > UINT64_MAX / dim) overflow = 1;
        else nelem *= dim;
    }
    if (zero) nelem = 0;
    if (overflow || nelem > UINT64_MAX / dtype_info[t->dtype].size)
        return errf(err, errlen, "tensor '%s': byte size overflows 64 bits", name);
    *bytes = nelem * dtype_info[t->dtype].size;
    if (*bytes > 0 && !t->data)
        return errf(err, errlen, "tensor '%s': no data for %llu bytes", name,
                    (unsigned long long)*bytes);
    return 0;
}

/* Builds the padded header for tensors sorted by name. */
static int build_header(Buf *h, const NdlrtStOut **order, size_t n, char *err, size_t errlen)
{
    uint64_t off = 0;
    char num[64];
    buf_str(h, "{");
    for (size_t i = 0; i < n; i++) {
        const NdlrtStOut *t = order[i];
        uint64_t bytes = 0;
        if (check_out(t, i, &bytes, err, errlen) < 0) return -1;
        if (i) buf_str(h, ",");
        buf_json_string(h, t->name);
        buf_str(h, ":{\"dtype\":\"");
        buf_str(h, dtype_info[t->dtype].name);
        buf_str(h, "\",\"shape\":[");
        for (int d = 0; d < t->rank; d++) {
            snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)t->shape[d]);
            buf_str(h, num);
        }
        if (bytes > ST_LIMIT || off > ST_LIMIT - bytes)
            return errf(err, errlen, "data section is larger than 2^48 bytes");
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                 (unsigned long long)(off + bytes));
        buf_str(h, num);
        off += bytes;
    }
    buf_str(h, "}");
    while (!h->oom && h->n % 8 != 0) buf_str(h, " ");
    if (h->oom) return errf(err, errlen, "out of memory");
    if (h->n > NDLRT_ST_MAX_HEADER)
        return errf(err, errlen, "header of %zu bytes is above the limit of %u bytes", h->n,
                    NDLRT_ST_MAX_HEADER);
    return 0;
}

/* ---- outputs ----------------------------------------------------------------------
 * A path that exists and is not a regular file (a device, a FIFO, a symlink) is written
 * in place, as cc does: renaming a temporary over it would replace /dev/null with a
 * regular file. Only a regular file is ever removed after a failure. */
NDLRT_API int ndlrt_out_in_place(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && !S_ISREG(st.st_mode);
}

NDLRT_API void ndlrt_out_remove(const char *path)
{
    struct stat st;
    if (path && lstat(path, &st) == 0 && S_ISREG(st.st_mode)) unlink(path);
}

NDLRT_API int ndlrt_st_write(const char *path, const NdlrtStOut *tensors, size_t n, char *err,
                   size_t errlen)
{
    const NdlrtStOut **order = malloc((n ? n : 1) * sizeof *order);
    Buf h = {0};
    char *tmp = NULL, buf[SHOW_BUF];
    int fd = -1, rc = -1, created = 0, e;
    if (!order) return errf(err, errlen, "out of memory");
    for (size_t i = 0; i < n; i++) {
        order[i] = &tensors[i];
        if (!tensors[i].name) {
            errf(err, errlen, "tensor #%zu has no name", i);
            goto done;
        }
    }
    qsort(order, n, sizeof *order, cmp_out);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(order[i - 1]->name, order[i]->name) == 0) {
            errf(err, errlen, "duplicate tensor name '%s'",
                 show(buf, order[i]->name, strlen(order[i]->name)));
            goto done;
        }
    }
    if (build_header(&h, order, n, err, errlen) < 0) goto done;

    int in_place = ndlrt_out_in_place(path);
    if (in_place && (fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)) < 0) goto write_error;
    size_t plen = strlen(path);
    if (in_place) {
        /* written where it is, no temporary */
    } else if (!(tmp = malloc(plen + 64))) {
        errf(err, errlen, "out of memory");
        goto done;
    }
    for (int attempt = 0; !in_place && fd < 0; attempt++) {
        snprintf(tmp, plen + 64, "%s.tmp%ld.%d", path, (long)getpid(), attempt);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && (errno != EEXIST || attempt >= 100)) {
            errf(err, errlen, "cannot create a temporary file next to it: %s", strerror(errno));
            goto done;
        }
    }
    created = !in_place;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)h.n >> (8 * i));
    if (write_all(fd, len8, 8) < 0 || write_all(fd, h.p, h.n) < 0) goto write_error;
    for (size_t i = 0; i < n; i++) {
        uint64_t bytes = 0;
        check_out(order[i], i, &bytes, NULL, 0);
        if (bytes && write_all(fd, order[i]->data, (size_t)bytes) < 0) goto write_error;
    }
    /* a device or FIFO may not support fsync (EINVAL): that is no failure */
    if (fsync(fd) != 0 && !(in_place && (errno == EINVAL || errno == ENOTSUP || errno == EROFS)))
        goto write_error;
    e = close(fd);
    fd = -1;
    if (e != 0) goto write_error;
    if (!in_place && rename(tmp, path) != 0) {
        errf(err, errlen, "cannot rename the temporary file into place: %s", strerror(errno));
        goto done;
    }
    created = 0;
    rc = 0;
    goto done;
write_error:
    errf(err, errlen, "cannot write: %s", strerror(errno));
done:
    if (fd >= 0) close(fd);
    if (created) unlink(tmp);
    free(tmp);
    free(h.p);
    free(order);
    return rc;
}
