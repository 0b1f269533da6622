/* SPDX-License-Identifier: MIT
 * test_safetensors.c - the safetensors reader and writer (runtime/safetensors.c).
 *
 * One test per validation rule of spec section 11: each builds a malformed file in
 * memory (8-byte length + header + data) and pins ndlrt_st_parse's exact message. Then
 * valid files (every dtype, rank 0, zero-size, __metadata__, unaligned data), exact
 * conversions to f32 and i64, the writer (round trip, exact header, failures leave
 * nothing behind) and ndlrt_st_open on real files.
 */
#define _POSIX_C_SOURCE 200809L
#include "runtime/safetensors.h"

#include <dirent.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

/* ---- helpers ------------------------------------------------------------------------- */

typedef struct Bytes {
    unsigned char *p;
    size_t n;
} Bytes;

/* A file whose length field says `declared`, then hlen header bytes, then dlen data bytes
 * (zeros when data is NULL). One spare byte so that p + 1 can be used for misalignment. */
static Bytes file_raw(uint64_t declared, const char *hdr, size_t hlen, const void *data,
                      size_t dlen)
{
    Bytes b;
    b.n = 8 + hlen + dlen;
    b.p = calloc(b.n + 1, 1);
    for (int i = 0; i < 8; i++) b.p[i] = (unsigned char)(declared >> (8 * i));
    memcpy(b.p + 8, hdr, hlen);
    if (data && dlen) memcpy(b.p + 8 + hlen, data, dlen);
    return b;
}

static Bytes file_of(const char *hdr, const void *data, size_t dlen)
{
    return file_raw(strlen(hdr), hdr, strlen(hdr), data, dlen);
}

/* Parses buf and returns the error message, or "(parsed)" if it was accepted. */
static const char *parse_msg(char *e, size_t cap, const void *buf, size_t len)
{
    NdlrtSt *st = (NdlrtSt *)&st;   /* must be reset to NULL on failure */
    e[0] = '\0';
    if (ndlrt_st_parse(buf, len, &st, e, cap) == 0) {
        ndlrt_st_close(st);
        snprintf(e, cap, "(parsed)");
    } else if (st != NULL) {
        snprintf(e, cap, "(failed but *out is not NULL)");
    }
    return e;
}

/* The message for a header of strlen(hdr) bytes followed by dlen zero bytes. */
static const char *bad_n(char *e, size_t cap, const char *hdr, size_t hlen, size_t dlen)
{
    Bytes b = file_raw(hlen, hdr, hlen, NULL, dlen);
    parse_msg(e, cap, b.p, b.n);
    free(b.p);
    return e;
}

#define BAD(hdr, dlen) bad_n(e, sizeof e, hdr, strlen(hdr), dlen)
#define JSON_AT(k, what) "invalid JSON in header at byte " #k ": " what

/* Parses a file that must be valid; NULL (and a failed check) otherwise. */
static NdlrtSt *parse_ok(const void *buf, size_t len)
{
    char e[512];
    NdlrtSt *st = NULL;
    int rc = ndlrt_st_parse(buf, len, &st, e, sizeof e);
    CHECK_EQ_INT(rc, 0);
    if (rc != 0) fprintf(stderr, "  unexpected error: %s\n", e);
    return rc == 0 ? st : NULL;
}

#define W24 "{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}"

/* ---- file layout --------------------------------------------------------------------- */

static void test_short_file(void)
{
    char e[512];
    unsigned char buf[8] = {0};
    CHECK_STR(parse_msg(e, sizeof e, buf, 0),
              "file is 0 bytes long, too short for the 8-byte header length");
    CHECK_STR(parse_msg(e, sizeof e, buf, 5),
              "file is 5 bytes long, too short for the 8-byte header length");
    CHECK_STR(parse_msg(e, sizeof e, buf, 7),
              "file is 7 bytes long, too short for the 8-byte header length");
    CHECK_STR(parse_msg(e, sizeof e, buf, 8), "header is empty");
}

static void test_header_too_large(void)
{
    char e[512];
    Bytes b = file_raw(100000001, "{}", 2, NULL, 0);
    CHECK_STR(parse_msg(e, sizeof e, b.p, b.n),
              "header length 100000001 is above the limit of 100000000 bytes");
    free(b.p);
    b = file_raw(UINT64_MAX, "{}", 2, NULL, 0);
    CHECK_STR(parse_msg(e, sizeof e, b.p, b.n),
              "header length 18446744073709551615 is above the limit of 100000000 bytes");
    free(b.p);
}

static void test_header_beyond_file(void)
{
    char e[512];
    Bytes b = file_raw(4096, "{}", 2, NULL, 90);
    CHECK_EQ_INT(b.n, 100);
    CHECK_STR(parse_msg(e, sizeof e, b.p, b.n), "header length 4096 is beyond the file size 100");
    free(b.p);
    b = file_raw(3, "{}", 2, NULL, 0);   /* one byte too long */
    CHECK_STR(parse_msg(e, sizeof e, b.p, b.n), "header length 3 is beyond the file size 10");
    free(b.p);
}

static void test_header_start(void)
{
    char e[512];
    CHECK_STR(BAD(" {}", 0), "header does not start with '{'");
    CHECK_STR(BAD("[]", 0), "header does not start with '{'");
    CHECK_STR(BAD("\xef\xbb\xbf{}", 0), "header does not start with '{'");   /* a BOM */
    CHECK_STR(BAD("", 0), "header is empty");
}

static void test_header_utf8(void)
{
    char e[512];
    CHECK_STR(BAD("{\"\xff\":1}", 0), "header is not valid UTF-8 at byte 2");
    /* overlong, surrogate, above U+10FFFF, truncated */
    CHECK_STR(BAD("{\"a\xc0\x80\":1}", 0), "header is not valid UTF-8 at byte 3");
    CHECK_STR(BAD("{\"\xed\xa0\x80\":1}", 0), "header is not valid UTF-8 at byte 2");
    CHECK_STR(BAD("{\"\xf4\x90\x80\x80\":1}", 0), "header is not valid UTF-8 at byte 2");
    CHECK_STR(BAD("{\"\xe2\x82\":1}", 0), "header is not valid UTF-8 at byte 2");
    CHECK_STR(BAD("{}  \xc3", 0), "header is not valid UTF-8 at byte 4");
}

static void test_padding(void)
{
    char e[512];
    CHECK_STR(BAD("{}      ", 0), "(parsed)");
    CHECK_STR(BAD("{}\n", 0), "header padding at byte 2 is 0x0a, not a space");
    CHECK_STR(BAD("{}  \t", 0), "header padding at byte 4 is 0x09, not a space");
    CHECK_STR(BAD("{} {}", 0), "header padding at byte 3 is 0x7b, not a space");
    CHECK_STR(bad_n(e, sizeof e, "{} \0", 4, 0), "header padding at byte 3 is 0x00, not a space");
}

/* ---- JSON syntax --------------------------------------------------------------------- */

static void test_invalid_json(void)
{
    char e[512];
    CHECK_STR(BAD("{", 0), JSON_AT(1, "unexpected end of header"));
    CHECK_STR(BAD("{  ", 0), JSON_AT(3, "unexpected end of header"));
    CHECK_STR(BAD("{\"w\"}", 0), JSON_AT(4, "expected ':' after a key, found '}'"));
    CHECK_STR(BAD("{w:1}", 0), JSON_AT(1, "expected a string key, found 'w'"));
    CHECK_STR(BAD("{,}", 0), JSON_AT(1, "expected a string key, found ','"));
    CHECK_STR(BAD("{\"w\":" W24 ",}", 24), JSON_AT(57, "expected a string key, found '}'"));
    CHECK_STR(BAD("{\"w\":" W24 " \"v\"", 24), JSON_AT(57, "expected ',' or '}', found '\"'"));
    CHECK_STR(BAD("{\"w\":" W24, 24), JSON_AT(56, "unexpected end of header"));
    CHECK_STR(BAD("{\"w\":{\"dtype\":\"F32\" \"shape\":[]}}", 0),
              JSON_AT(20, "expected ',' or '}', found '\"'"));
    CHECK_STR(BAD("{\"w\":{\"dtype\":\"F32\",}}", 0),
              JSON_AT(20, "expected a string key, found '}'"));
    CHECK_STR(BAD("{\"w\":{\"shape\":[1 2]}}", 0), JSON_AT(17, "expected ',' or ']', found '2'"));
    CHECK_STR(BAD("{\"w\":{\"shape\":[1,]}}", 0), JSON_AT(17, "expected a value, found ']'"));
    CHECK_STR(BAD("{\"w\":{\"shape\":[1,", 0), JSON_AT(17, "unexpected end of header"));
    CHECK_STR(BAD("{\"w\":{\"shape\":[1", 0), JSON_AT(16, "unexpected end of header"));
    CHECK_STR(BAD("{\"w\":{\"dtype\":}}", 0), JSON_AT(14, "expected a value, found '}'"));
    CHECK_STR(BAD("{\"w\":", 0), JSON_AT(5, "unexpected end of header"));
    CHECK_STR(BAD("{\"w\": ", 0), JSON_AT(6, "unexpected end of header"));
    CHECK_STR(BAD("{\"__metadata__\":{\"a\":\"b\" \"c\"}}", 0),
              JSON_AT(25, "expected ',' or '}', found '\"'"));
    CHECK_STR(BAD("{\"__metadata__\":{\"a\" \"b\"}}", 0),
              JSON_AT(21, "expected ':' after a key, found '\"'"));
    CHECK_STR(BAD("{\"__metadata__\":{,}}", 0), JSON_AT(17, "expected a string key, found ','"));
    CHECK_STR(bad_n(e, sizeof e, "{\"w\"\0:1}", 8, 0),
              JSON_AT(4, "expected ':' after a key, found byte 0x00"));
}

static void test_invalid_strings(void)
{
    char e[512];
    CHECK_STR(BAD("{\"w", 0), JSON_AT(1, "unterminated string"));
    CHECK_STR(BAD("{\"w\\", 0), JSON_AT(1, "unterminated string"));
    CHECK_STR(BAD("{\"a\nb\":1}", 0), JSON_AT(3, "control character 0x0a in a string"));
    CHECK_STR(BAD("{\"a\tb\":1}", 0), JSON_AT(3, "control character 0x09 in a string"));
    CHECK_STR(BAD("{\"a\\qb\":1}", 0), JSON_AT(3, "invalid escape '\\q'"));
    CHECK_STR(BAD("{\"a\\\xc3\xa9\":1}", 0),
              JSON_AT(3, "invalid escape '\\' followed by byte 0xc3"));
    CHECK_STR(BAD("{\"\\u12\":1}", 0), JSON_AT(2, "invalid \\u escape"));
    CHECK_STR(BAD("{\"\\u12g4\":1}", 0), JSON_AT(2, "invalid \\u escape"));
    CHECK_STR(BAD("{\"\\ud800\":1}", 0), JSON_AT(2, "unpaired surrogate \\uD800"));
    CHECK_STR(BAD("{\"\\uDBFFx\":1}", 0), JSON_AT(2, "unpaired surrogate \\uDBFF"));
    CHECK_STR(BAD("{\"\\ud800\\u0041\":1}", 0), JSON_AT(2, "unpaired surrogate \\uD800"));
    CHECK_STR(BAD("{\"\\ud800\\ud800\":1}", 0), JSON_AT(2, "unpaired surrogate \\uD800"));
    CHECK_STR(BAD("{\"\\udc00\":1}", 0), JSON_AT(2, "unpaired surrogate \\uDC00"));
    CHECK_STR(BAD("{\"\\ud800\\u12\":1}", 0), JSON_AT(8, "invalid \\u escape"));
}

static void test_invalid_numbers_and_literals(void)
{
    char e[512];
    CHECK_STR(BAD("{\"w\":{\"shape\":[01]}}", 0), JSON_AT(15, "invalid number"));
    CHECK_STR(BAD("{\"w\":{\"shape\":[-]}}", 0), JSON_AT(15, "invalid number"));
    CHECK_STR(BAD("{\"w\":{\"shape\":[1.]}}", 0), JSON_AT(15, "invalid number"));
    CHECK_STR(BAD("{\"w\":{\"shape\":[1e]}}", 0), JSON_AT(15, "invalid number"));
    CHECK_STR(BAD("{\"w\":{\"shape\":[1e+]}}", 0), JSON_AT(15, "invalid number"));
    CHECK_STR(BAD("{\"w\":{\"shape\":[.5]}}", 0), JSON_AT(15, "expected a value, found '.'"));
    CHECK_STR(BAD("{\"w\":{\"shape\":[+1]}}", 0), JSON_AT(15, "expected a value, found '+'"));
    CHECK_STR(BAD("{\"w\":{\"shape\":tru}}", 0), JSON_AT(14, "invalid literal"));
    CHECK_STR(BAD("{\"w\":{\"shape\":nul", 0), JSON_AT(14, "invalid literal"));
    CHECK_STR(BAD("{\"w\":{\"dtype\":01}}", 0), JSON_AT(14, "invalid number"));
    CHECK_STR(BAD("{\"w\":NaN}", 0), JSON_AT(5, "expected a value, found 'N'"));
}

/* ---- keys ---------------------------------------------------------------------------- */

static void test_duplicate_tensor(void)
{
    char e[512];
    CHECK_STR(BAD("{\"w\":" W24 ",\"w\":" W24 "}", 24), "duplicate tensor name 'w'");
    /* spelled differently, equal once unescaped */
    CHECK_STR(BAD("{\"w\":" W24 ",\"\\u0077\":" W24 "}", 24), "duplicate tensor name 'w'");
    /* the one whose second occurrence comes first is reported */
    CHECK_STR(BAD("{\"z\":" W24 ",\"a\":" W24 ",\"z\":" W24 ",\"a\":" W24 "}", 24),
              "duplicate tensor name 'z'");
}

static void test_duplicate_metadata(void)
{
    char e[512];
    CHECK_STR(BAD("{\"__metadata__\":{},\"__metadata__\":{}}", 0), "duplicate key '__metadata__'");
    CHECK_STR(BAD("{\"__metadata__\":{\"k\":\"1\",\"j\":\"2\",\"k\":\"3\"}}", 0),
              "duplicate key 'k' in __metadata__");
    CHECK_STR(BAD("{\"__metadata__\":{\"a\\u0000b\":\"1\",\"a\\u0000c\":\"2\"}}", 0), "(parsed)");
    CHECK_STR(BAD("{\"__metadata__\":{\"a\\u0000b\":\"1\",\"a\\u0000b\":\"2\"}}", 0),
              "duplicate key 'a\\x00b' in __metadata__");
}

static void test_duplicate_field(void)
{
    char e[512];
    CHECK_STR(BAD("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,"
                  "4]}}", 4),
              "tensor 'w': duplicate field 'dtype'");
    CHECK_STR(BAD("{\"w\":{\"shape\":[],\"shape\":[]}}", 4), "tensor 'w': duplicate field 'shape'");
    CHECK_STR(BAD("{\"w\":{\"data_offsets\":[0,4],\"data_offsets\":[0,4]}}", 4),
              "tensor 'w': duplicate field 'data_offsets'");
}

static void test_missing_field(void)
{
    char e[512];
    CHECK_STR(BAD("{\"w\":{\"shape\":[],\"data_offsets\":[0,4]}}", 4),
              "tensor 'w': missing field 'dtype'");
    CHECK_STR(BAD("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4),
              "tensor 'w': missing field 'shape'");
    CHECK_STR(BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[]}}", 4),
              "tensor 'w': missing field 'data_offsets'");
    CHECK_STR(BAD("{\"w\":{}}", 0), "tensor 'w': missing field 'dtype'");
}

static void test_unknown_field(void)
{
    char e[512];
    CHECK_STR(BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4],\"offsets\":1}}"
                  "", 4),
              "tensor 'w': unknown field 'offsets'");
    CHECK_STR(BAD("{\"w\":{\"dtype\\u0000\":\"F32\"}}", 4),
              "tensor 'w': unknown field 'dtype\\x00'");
}

static void test_wrong_types(void)
{
    char e[512];
    CHECK_STR(BAD("{\"w\":[1]}", 0), "tensor 'w': entry must be an object, not an array");
    CHECK_STR(BAD("{\"w\":\"x\"}", 0), "tensor 'w': entry must be an object, not a string");
    CHECK_STR(BAD("{\"w\":null}", 0), "tensor 'w': entry must be an object, not null");
    CHECK_STR(BAD("{\"w\":{\"dtype\":32}}", 0), "tensor 'w': dtype must be a string, not a number");
    CHECK_STR(BAD("{\"w\":{\"dtype\":[\"F32\"]}}", 0),
              "tensor 'w': dtype must be a string, not an array");
    CHECK_STR(BAD("{\"w\":{\"shape\":\"2,3\"}}", 0),
              "tensor 'w': shape must be an array, not a string");
    CHECK_STR(BAD("{\"w\":{\"shape\":{}}}", 0),
              "tensor 'w': shape must be an array, not an object");
    CHECK_STR(BAD("{\"w\":{\"shape\":2}}", 0), "tensor 'w': shape must be an array, not a number");
    CHECK_STR(BAD("{\"w\":{\"shape\":[2,\"3\"]}}", 0),
              "tensor 'w': shape entry must be an integer, not a string");
    CHECK_STR(BAD("{\"w\":{\"shape\":[true]}}", 0),
              "tensor 'w': shape entry must be an integer, not a boolean");
    CHECK_STR(BAD("{\"w\":{\"shape\":[[2]]}}", 0),
              "tensor 'w': shape entry must be an integer, not an array");
    CHECK_STR(BAD("{\"w\":{\"data_offsets\":false}}", 0),
              "tensor 'w': data_offsets must be an array, not a boolean");
    CHECK_STR(BAD("{\"w\":{\"data_offsets\":[0,null]}}", 0),
              "tensor 'w': data_offsets entry must be an integer, not null");
    CHECK_STR(BAD("{\"__metadata__\":[]}", 0), "__metadata__ must be an object, not an array");
    CHECK_STR(BAD("{\"__metadata__\":\"pt\"}", 0), "__metadata__ must be an object, not a string");
    CHECK_STR(BAD("{\"__metadata__\":{\"format\":1}}", 0),
              "__metadata__ value for key 'format' must be a string, not a number");
    CHECK_STR(BAD("{\"__metadata__\":{\"format\":{\"a\":\"b\"}}}", 0),
              "__metadata__ value for key 'format' must be a string, not an object");
}

static void test_unknown_dtype(void)
{
    char e[512];
    CHECK_STR(BAD("{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[],\"data_offsets\":[0,1]}}", 1),
              "tensor 'w': unknown dtype 'F8_E4M3'");
    CHECK_STR(BAD("{\"w\":{\"dtype\":\"f32\"}}", 0), "tensor 'w': unknown dtype 'f32'");
    CHECK_STR(BAD("{\"w\":{\"dtype\":\"F32 \"}}", 0), "tensor 'w': unknown dtype 'F32 '");
    CHECK_STR(BAD("{\"w\":{\"dtype\":\"\"}}", 0), "tensor 'w': unknown dtype ''");
    CHECK_STR(BAD("{\"w\":{\"dtype\":\"U64\"}}", 0), "tensor 'w': unknown dtype 'U64'");
    CHECK_STR(BAD("{\"w\":{\"dtype\":\"F32\\u0000\"}}", 0), "tensor 'w': unknown dtype 'F32\\x00'");
}

/* ---- numbers ------------------------------------------------------------------------- */

static void test_negative(void)
{
    char e[512];
    CHECK_STR(BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-3],\"data_offsets\":[0,24]}}", 24),
              "tensor 'w': shape entry -3 is negative");
    CHECK_STR(BAD("{\"w\":{\"shape\":[-0]}}", 0), "tensor 'w': shape entry -0 is negative");
    CHECK_STR(BAD("{\"w\":{\"shape\":[-1.5]}}", 0), "tensor 'w': shape entry -1.5 is negative");
    CHECK_STR(BAD("{\"w\":{\"data_offsets\":[-4,0]}}", 0),
              "tensor 'w': data_offsets entry -4 is negative");
}

static void test_fractional(void)
{
    char e[512];
    CHECK_STR(BAD("{\"w\":{\"shape\":[1.5]}}", 0),
              "tensor 'w': shape entry 1.5 is not written as a plain integer");
    CHECK_STR(BAD("{\"w\":{\"shape\":[2.0]}}", 0),
              "tensor 'w': shape entry 2.0 is not written as a plain integer");
    CHECK_STR(BAD("{\"w\":{\"shape\":[1e3]}}", 0),
              "tensor 'w': shape entry 1e3 is not written as a plain integer");
    CHECK_STR(BAD("{\"w\":{\"shape\":[2E+0]}}", 0),
              "tensor 'w': shape entry 2E+0 is not written as a plain integer");
    CHECK_STR(BAD("{\"w\":{\"data_offsets\":[0,2.4e1]}}", 0),
              "tensor 'w': data_offsets entry 2.4e1 is not written as a plain integer");
}

static void test_above_2_48(void)
{
    char e[512];
    CHECK_STR(BAD("{\"w\":{\"shape\":[281474976710657]}}", 0),
              "tensor 'w': shape entry 281474976710657 is above 2^48");
    CHECK_STR(BAD("{\"w\":{\"shape\":[99999999999999999999999999999999999999999999999999]}}", 0),
              "tensor 'w': shape entry 9999999999999999999999999999999999999999... is above 2^48");
    CHECK_STR(BAD("{\"w\":{\"data_offsets\":[0,281474976710657]}}", 0),
              "tensor 'w': data_offsets entry 281474976710657 is above 2^48");
    /* exactly 2^48 is allowed */
    CHECK_STR(BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[281474976710656,0],\"data_offsets\":[0,0]}"
                  "}", 0),
              "(parsed)");
}

static void test_rank(void)
{
    char e[512];
    CHECK_STR(BAD("{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}"
                  "", 1),
              "(parsed)");
    CHECK_STR(BAD("{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,"
                  "1]}}", 1),
              "tensor 'w': shape has 9 dimensions, more than the supported 8");
}

static void test_offsets_count(void)
{
    char e[512];
    CHECK_STR(BAD("{\"w\":{\"data_offsets\":[0]}}", 0),
              "tensor 'w': data_offsets has 1 entry, expected 2");
    CHECK_STR(BAD("{\"w\":{\"data_offsets\":[]}}", 0),
              "tensor 'w': data_offsets has 0 entries, expected 2");
    CHECK_STR(BAD("{\"w\":{\"data_offsets\":[0,4,8]}}", 0),
              "tensor 'w': data_offsets has 3 entries, expected 2");
}

static void test_end_before_begin(void)
{
    char e[512];
    CHECK_STR(BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[20,10]}}", 20),
              "tensor 'w': data_offsets [20, 10] end before they begin");
}

static void test_size_mismatch(void)
{
    char e[512];
    CHECK_STR(BAD("{\"fc.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}"
                  "", 20),
              "tensor 'fc.weight': data_offsets [0, 20] hold 20 bytes but shape [2,3] of F32 "
              "needs 24");
    CHECK_STR(BAD("{\"s\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,4]}}", 4),
              "tensor 's': data_offsets [0, 4] hold 4 bytes but shape [] of F64 needs 8");
    CHECK_STR(BAD("{\"z\":{\"dtype\":\"BF16\",\"shape\":[4,0],\"data_offsets\":[0,2]}}", 2),
              "tensor 'z': data_offsets [0, 2] hold 2 bytes but shape [4,0] of BF16 needs 0");
    /* 2^48 * 2^48 overflows; so does 2^40 * 2^22 * 8 bytes */
    CHECK_STR(BAD("{\"o\":{\"dtype\":\"U8\",\"shape\":[281474976710656,281474976710656],"
                  "\"data_offsets\":[0,0]}}", 0),
              "tensor 'o': data_offsets [0, 0] hold 0 bytes but shape [281474976710656,"
              "281474976710656] of U8 needs more than 2^64");
    CHECK_STR(BAD("{\"o\":{\"dtype\":\"I64\",\"shape\":[1099511627776,4194304],"
                  "\"data_offsets\":[0,8]}}", 8),
              "tensor 'o': data_offsets [0, 8] hold 8 bytes but shape [1099511627776,4194304] of "
              "I64 needs more than 2^64");
    /* 2^32 * 2^32 wraps to 0 in 64 bits without the overflow check */
    CHECK_STR(BAD("{\"o\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,"
                  "0]}}", 0),
              "tensor 'o': data_offsets [0, 0] hold 0 bytes but shape [4294967296,4294967296] of "
              "U8 needs more than 2^64");
}

/* ---- layout -------------------------------------------------------------------------- */

static void test_gap_at_start(void)
{
    char e[512];
    CHECK_STR(BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[8,12]}}", 12),
              "tensor 'a': data_offsets [8, 12] leave a gap of 8 bytes at the start of the data "
              "section");
}

static void test_gap_between(void)
{
    char e[512];
    CHECK_STR(BAD("{\"b\":{\"dtype\":\"U8\",\"shape\":[10],\"data_offsets\":[30,40]},"
                  "\"a\":{\"dtype\":\"U8\",\"shape\":[24],\"data_offsets\":[0,24]}}", 40),
              "tensor 'b': data_offsets [30, 40] leave a gap of 6 bytes after tensor 'a' [0, 24]");
}

static void test_overlap(void)
{
    char e[512];
    CHECK_STR(BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[24],\"data_offsets\":[0,24]},"
                  "\"b\":{\"dtype\":\"U8\",\"shape\":[24],\"data_offsets\":[16,40]}}", 40),
              "tensor 'b': data_offsets [16, 40] overlap tensor 'a' [0, 24]");
    /* the same range twice */
    CHECK_STR(BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                  "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4),
              "tensor 'b': data_offsets [0, 4] overlap tensor 'a' [0, 4]");
    /* a zero-size tensor inside another one */
    CHECK_STR(BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                  "\"z\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[2,2]}}", 4),
              "tensor 'z': data_offsets [2, 2] overlap tensor 'a' [0, 4]");
}

static void test_beyond_file(void)
{
    char e[512];
    CHECK_STR(BAD("{\"w\":{\"dtype\":\"U8\",\"shape\":[4096],\"data_offsets\":[0,4096]}}", 100),
              "tensor 'w': data_offsets [0, 4096] end beyond the file: the data section has 100 "
              "bytes");
    CHECK_STR(BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                  "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}", 7),
              "tensor 'b': data_offsets [4, 8] end beyond the file: the data section has 7 bytes");
}

static void test_bytes_after_last(void)
{
    char e[512];
    CHECK_STR(BAD("{\"w\":" W24 "}", 36), "12 bytes after the last tensor");
    CHECK_STR(BAD("{\"w\":" W24 "}", 25), "1 byte after the last tensor");
    CHECK_STR(BAD("{}", 3), "3 bytes after the last tensor");
}

/* ---- names --------------------------------------------------------------------------- */

static void test_nul_in_name(void)
{
    char e[512];
    CHECK_STR(BAD("{\"a\\u0000b\":" W24 "}", 24), "tensor name 'a\\x00b' contains a NUL character");
}

static void test_name_display(void)
{
    char e[512];
    CHECK_STR(BAD("{\"a\\nb\":{\"dtype\":\"X\"}}", 0), "tensor 'a\\x0ab': unknown dtype 'X'");
    CHECK_STR(BAD("{\"\\u00e9t\\u00e9\":{\"dtype\":\"X\"}}", 0),
              "tensor '\xc3\xa9t\xc3\xa9': unknown dtype 'X'");
    CHECK_STR(BAD("{\"0123456789012345678901234567890123456789012345678901234567890123456789\":"
                  "{\"dtype\":\"X\"}}", 0),
              "tensor '0123456789012345678901234567890123456789012345678901234567890123...': "
              "unknown dtype 'X'");
    /* a cut never splits a UTF-8 character: 63 ASCII bytes then a 2-byte character */
    CHECK_STR(BAD("{\"012345678901234567890123456789012345678901234567890123456789012\xc3\xa9xyz\":"
                  "{\"dtype\":\"X\"}}", 0),
              "tensor '012345678901234567890123456789012345678901234567890123456789012...': "
              "unknown dtype 'X'");
    /* a tiny error buffer truncates but stays terminated */
    Bytes b = file_of("{\"w\":{\"dtype\":\"X\"}}", NULL, 0);
    NdlrtSt *st = NULL;
    char small[8];
    CHECK_EQ_INT(ndlrt_st_parse(b.p, b.n, &st, small, sizeof small), -1);
    CHECK_STR(small, "tensor ");
    CHECK_EQ_INT(ndlrt_st_parse(b.p, b.n, &st, NULL, 0), -1);
    CHECK(st == NULL);
    free(b.p);
}

/* ---- valid files --------------------------------------------------------------------- */

static void test_empty_and_whitespace(void)
{
    char e[512];
    CHECK_STR(BAD("{}", 0), "(parsed)");
    CHECK_STR(BAD("{ \t\r\n}", 0), "(parsed)");
    CHECK_STR(BAD("{\n  \"w\" :\t{ \"dtype\" : \"F32\" ,\r\n \"shape\" : [ 2 , 3 ] , "
                  "\"data_offsets\" : [ 0 , 24 ] }\n}   ", 24),
              "(parsed)");
    CHECK_STR(BAD("{\"w\":{\"data_offsets\":[0,24],\"shape\":[2,3],\"dtype\":\"F32\"}}", 24),
              "(parsed)");
}

static void test_every_dtype(void)
{
    static const struct { const char *name; NdlrtStDType dt; size_t size; int fp; } dts[] = {
        {"F64", NDLRT_ST_F64, 8, 1}, {"F32", NDLRT_ST_F32, 4, 1}, {"F16", NDLRT_ST_F16, 2, 1},
        {"BF16", NDLRT_ST_BF16, 2, 1}, {"I64", NDLRT_ST_I64, 8, 0}, {"I32", NDLRT_ST_I32, 4, 0},
        {"I16", NDLRT_ST_I16, 2, 0}, {"I8", NDLRT_ST_I8, 1, 0}, {"U8", NDLRT_ST_U8, 1, 0},
        {"BOOL", NDLRT_ST_BOOL, 1, 0},
    };
    CHECK_EQ_INT(sizeof dts / sizeof dts[0], NDLRT_ST_DTYPE_COUNT);
    char hdr[2048];
    size_t o = 0, off = 0;
    o += (size_t)snprintf(hdr + o, sizeof hdr - o, "{");
    for (size_t i = 0; i < NDLRT_ST_DTYPE_COUNT; i++) {
        CHECK_STR(ndlrt_st_dtype_name(dts[i].dt), dts[i].name);
        CHECK_EQ_INT(ndlrt_st_dtype_size(dts[i].dt), dts[i].size);
        CHECK_EQ_INT(ndlrt_st_dtype_is_float(dts[i].dt), dts[i].fp);
        o += (size_t)snprintf(hdr + o, sizeof hdr - o,
                              "%s\"t_%s\":{\"dtype\":\"%s\",\"shape\":[3],\"data_offsets\":[%zu,"
                              "%zu]}",
                              i ? "," : "", dts[i].name, dts[i].name, off, off + 3 * dts[i].size);
        off += 3 * dts[i].size;
    }
    snprintf(hdr + o, sizeof hdr - o, "}");
    CHECK_STR(ndlrt_st_dtype_name(NDLRT_ST_DTYPE_COUNT), "?");
    CHECK_EQ_INT(ndlrt_st_dtype_size(NDLRT_ST_DTYPE_COUNT), 0);
    unsigned char data[256];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (unsigned char)i;
    Bytes b = file_of(hdr, data, off);
    NdlrtSt *st = parse_ok(b.p, b.n);
    CHECK_EQ_INT(ndlrt_st_count(st), NDLRT_ST_DTYPE_COUNT);
    size_t at = 0;
    for (size_t i = 0; st && i < NDLRT_ST_DTYPE_COUNT; i++) {
        char name[16];
        snprintf(name, sizeof name, "t_%s", dts[i].name);
        const NdlrtStTensor *t = ndlrt_st_tensor(st, i);
        CHECK(t && ndlrt_st_find(st, name) == t);
        if (!t) continue;
        CHECK_STR(t->name, name);
        CHECK_EQ_INT(t->dtype, dts[i].dt);
        CHECK_EQ_INT(t->rank, 1);
        CHECK_EQ_INT(t->shape[0], 3);
        CHECK_EQ_INT(t->nelem, 3);
        CHECK_EQ_INT(t->begin, at);
        CHECK_EQ_INT(t->end, at + 3 * dts[i].size);
        CHECK(t->data == b.p + 8 + strlen(hdr) + at);
        at += 3 * dts[i].size;
    }
    CHECK(ndlrt_st_tensor(st, NDLRT_ST_DTYPE_COUNT) == NULL);
    CHECK(ndlrt_st_find(st, "t_F8") == NULL);
    CHECK(ndlrt_st_find(st, "") == NULL);
    ndlrt_st_close(st);
    free(b.p);
}

static void test_rank0_and_zero_size(void)
{
    float one = 1.5f;
    const char *hdr = "{\"empty\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]},"
                      "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                      "\"tail\":{\"dtype\":\"I64\",\"shape\":[2,0,5],\"data_offsets\":[4,4]}}";
    Bytes b = file_of(hdr, &one, 4);
    NdlrtSt *st = parse_ok(b.p, b.n);
    const NdlrtStTensor *s = ndlrt_st_find(st, "s"), *z = ndlrt_st_find(st, "empty"),
                        *tail = ndlrt_st_find(st, "tail");
    CHECK(s && z && tail);
    if (s && z && tail) {
        float f = 0, never = 7.0f;
        int64_t iv = 7;
        CHECK_EQ_INT(s->rank, 0);
        CHECK_EQ_INT(s->nelem, 1);
        ndlrt_st_read_f32(s, &f);
        CHECK(f == 1.5f);
        CHECK_EQ_INT(z->rank, 2);
        CHECK_EQ_INT(z->nelem, 0);
        ndlrt_st_read_f32(z, &never);
        CHECK(never == 7.0f);
        CHECK_EQ_INT(tail->nelem, 0);
        CHECK_EQ_INT(ndlrt_st_read_i64(tail, &iv), 0);
        CHECK_EQ_INT(iv, 7);
    }
    ndlrt_st_close(st);
    free(b.p);
    /* a file holding only zero-size tensors has an empty data section */
    char e[512];
    CHECK_STR(BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},"
                  "\"b\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0), "(parsed)");
}

static void test_metadata(void)
{
    char e[512];
    CHECK_STR(BAD("{\"__metadata__\":{\"format\":\"pt\",\"note\":\"\\u00e9 \\\"q\\\" "
                  "\\ud83d\\ude00\"},\"w\":" W24 "}", 24),
              "(parsed)");
    CHECK_STR(BAD("{\"w\":" W24 ",\"__metadata__\":{}}", 24), "(parsed)");
    Bytes b = file_of("{\"__metadata__\":{\"format\":\"pt\"},\"w\":" W24 "}", NULL, 24);
    NdlrtSt *st = parse_ok(b.p, b.n);
    CHECK_EQ_INT(ndlrt_st_count(st), 1);
    CHECK(ndlrt_st_find(st, "__metadata__") == NULL);
    ndlrt_st_close(st);
    free(b.p);
}

/* A model's weight table against a file (ndlrt_st_check): the full shape counts, not the
 * element count; the first mismatch in table order is named. */
static void test_check_specs(void)
{
    char e[512];
    Bytes b = file_of("{\"fc.weight\":" W24 ",\"fc.bias\":{\"dtype\":\"F16\",\"shape\":[2],"
                      "\"data_offsets\":[24,28]},\"s\":{\"dtype\":\"I64\",\"shape\":[],"
                      "\"data_offsets\":[28,36]}}", NULL, 36);
    NdlrtSt *st = parse_ok(b.p, b.n);
    NdlrtWeightSpec ok[3] = {{"fc.weight", NDLRT_ST_F32, 2, {2, 3}}, {"fc.bias", NDLRT_ST_F16, 1, {2}},
                             {"s", NDLRT_ST_I64, 0, {0}}};
    e[0] = '\0';
    CHECK_EQ_INT((int)ndlrt_st_check(st, ok, 3, e, sizeof e), -1);
    CHECK_STR(e, "");
    CHECK_EQ_INT((int)ndlrt_st_check(st, ok, 0, e, sizeof e), -1);

    NdlrtWeightSpec t[3] = {{"fc.weight", NDLRT_ST_F32, 2, {3, 2}}, ok[1], ok[2]};   /* same count */
    CHECK_EQ_INT((int)ndlrt_st_check(st, t, 3, e, sizeof e), 0);
    CHECK_STR(e, "tensor 'fc.weight' has shape [2,3] but the model needs [3,2]");
    t[0] = (NdlrtWeightSpec){"fc.weight", NDLRT_ST_F32, 1, {6}};
    CHECK_EQ_INT((int)ndlrt_st_check(st, t, 3, e, sizeof e), 0);
    CHECK_STR(e, "tensor 'fc.weight' has shape [2,3] but the model needs [6]");
    t[0] = ok[0];
    t[2] = (NdlrtWeightSpec){"s", NDLRT_ST_I64, 1, {1}};
    CHECK_EQ_INT((int)ndlrt_st_check(st, t, 3, e, sizeof e), 2);
    CHECK_STR(e, "tensor 's' has shape [] but the model needs [1]");
    t[2] = ok[2];
    t[1] = (NdlrtWeightSpec){"fc.bias", NDLRT_ST_F32, 1, {2}};
    CHECK_EQ_INT((int)ndlrt_st_check(st, t, 3, e, sizeof e), 1);
    CHECK_STR(e, "tensor 'fc.bias' has dtype F16 but the model needs F32");
    t[1] = (NdlrtWeightSpec){"fc.b\x01ias", NDLRT_ST_F16, 1, {2}};
    CHECK_EQ_INT((int)ndlrt_st_check(st, t, 3, e, sizeof e), 1);
    CHECK_STR(e, "tensor 'fc.b\\x01ias' is missing");
    CHECK_EQ_INT((int)ndlrt_st_check(st, t, 3, NULL, 0), 1);   /* no message buffer */
    ndlrt_st_close(st);
    free(b.p);
}

static void test_escaped_names(void)
{
    const char *hdr = "{\"a\\\"b\\\\c\\/\\u00e9\\u4E2d\\ud83d\\ude00\\b\\f\\n\\r\\t\":{\"dtype\":\"U8\","
                      "\"shape\":[],\"data_offsets\":[0,1]},"
                      "\"\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[1,2]},"
                      "\"\xe4\xb8\xad\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[2,3]}}";
    Bytes b = file_of(hdr, "xyz", 3);
    NdlrtSt *st = parse_ok(b.p, b.n);
    const NdlrtStTensor *t = ndlrt_st_tensor(st, 0);
    CHECK(t != NULL);
    if (t) CHECK_STR(t->name, "a\"b\\c/\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\b\f\n\r\t");
    CHECK(ndlrt_st_find(st, "") == ndlrt_st_tensor(st, 1));
    CHECK(ndlrt_st_find(st, "\xe4\xb8\xad") == ndlrt_st_tensor(st, 2));
    t = ndlrt_st_find(st, "\xe4\xb8\xad");
    if (t) CHECK(t->data[0] == 'z');
    ndlrt_st_close(st);
    free(b.p);
}

static void test_unaligned(void)
{
    /* a 13-byte header puts the data at file offset 21, and the buffer itself starts at an
     * odd address, so every element is misaligned */
    const char *hdr = "{\"d\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]},"
                      "\"i\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[16,20]}}";
    double d[2] = {0.5, -3.25};
    int32_t i32 = -123456;
    unsigned char data[20];
    memcpy(data, d, 16);
    memcpy(data + 16, &i32, 4);
    size_t hlen = strlen(hdr);
    unsigned char *raw = calloc(8 + hlen + 20 + 1, 1);
    unsigned char *p = raw + 1;
    for (int k = 0; k < 8; k++) p[k] = (unsigned char)((uint64_t)hlen >> (8 * k));
    memcpy(p + 8, hdr, hlen);
    memcpy(p + 8 + hlen, data, 20);
    NdlrtSt *st = parse_ok(p, 8 + hlen + 20);
    const NdlrtStTensor *td = ndlrt_st_find(st, "d"), *ti = ndlrt_st_find(st, "i");
    if (td && ti) {
        float f[2];
        int64_t v;
        CHECK((uintptr_t)td->data % 8 != 0);
        ndlrt_st_read_f32(td, f);
        CHECK(f[0] == 0.5f && f[1] == -3.25f);
        CHECK_EQ_INT(ndlrt_st_read_i64(ti, &v), 0);
        CHECK_EQ_INT(v, -123456);
    }
    ndlrt_st_close(st);
    free(raw);
}

/* ---- conversions --------------------------------------------------------------------- */

/* Parses a one-tensor file of dtype dt holding n elements from data. */
static NdlrtSt *one_tensor(Bytes *b, const char *dt, size_t n, const void *data, size_t size)
{
    char hdr[256];
    snprintf(hdr, sizeof hdr, "{\"t\":{\"dtype\":\"%s\",\"shape\":[%zu],\"data_offsets\":[0,%zu]}}",
             dt, n, n * size);
    *b = file_of(hdr, data, n * size);
    return parse_ok(b->p, b->n);
}

static int same_float(float a, float b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

static void test_f16(void)
{
    const uint16_t h[] = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x03FF, 0x0400,
                          0x8000, 0x7C00, 0xFC00, 0x7E00, 0x3555};
    const float want[] = {1.0f, -2.0f, 65504.0f, 0x1p-24f, 0x1.ff8p-15f, 0x1p-14f, -0.0f,
                          INFINITY, -INFINITY, NAN, 0x1.554p-2f};
    enum { N = sizeof h / sizeof h[0] };
    Bytes b;
    NdlrtSt *st = one_tensor(&b, "F16", N, h, 2);
    const NdlrtStTensor *t = ndlrt_st_find(st, "t");
    float f[N];
    int64_t iv;
    if (t) {
        ndlrt_st_read_f32(t, f);
        for (int i = 0; i < N; i++) {
            if (isnan(want[i])) CHECK(isnan(f[i]));
            else CHECK(same_float(f[i], want[i]));
        }
        CHECK(signbit(f[6]));
        CHECK_EQ_INT(ndlrt_st_read_i64(t, &iv), -1);
    }
    ndlrt_st_close(st);
    free(b.p);
}

static void test_bf16(void)
{
    const uint16_t h[] = {0x3F80, 0x4049, 0xC2F7, 0x0001, 0x7F80, 0xFF80, 0x7FC0, 0x8000};
    const float want[] = {1.0f, 3.140625f, -123.5f, 0x1p-133f, INFINITY, -INFINITY, NAN, -0.0f};
    enum { N = sizeof h / sizeof h[0] };
    Bytes b;
    NdlrtSt *st = one_tensor(&b, "BF16", N, h, 2);
    const NdlrtStTensor *t = ndlrt_st_find(st, "t");
    float f[N];
    if (t) {
        ndlrt_st_read_f32(t, f);
        for (int i = 0; i < N; i++) {
            if (isnan(want[i])) CHECK(isnan(f[i]));
            else CHECK(same_float(f[i], want[i]));
        }
    }
    ndlrt_st_close(st);
    free(b.p);
}

static void test_f64(void)
{
    const double d[] = {
        0.1, 1.0 + 0x1p-24, 1.0 + 0x1.8p-23, 1.0 + 0x1p-23 + 0x1p-60, -2.5,
        1e300, -1e300, (double)FLT_MAX, 0x1.fffffefffffffp+127, 0x1.ffffffp+127,
        1e-50, -1e-50, 0x1p-149, 0x1p-150, 0x1.8p-150,
    };
    const float want[] = {
        0.1f, 1.0f, 1.0f + 0x1p-22f, 1.0f + 0x1p-23f, -2.5f,
        INFINITY, -INFINITY, FLT_MAX, FLT_MAX, INFINITY,
        0.0f, -0.0f, 0x1p-149f, 0.0f, 0x1p-149f,
    };
    enum { N = sizeof d / sizeof d[0] };
    Bytes b;
    NdlrtSt *st = one_tensor(&b, "F64", N, d, 8);
    const NdlrtStTensor *t = ndlrt_st_find(st, "t");
    float f[N];
    if (t) {
        ndlrt_st_read_f32(t, f);
        for (int i = 0; i < N; i++) {
            if (!same_float(f[i], want[i])) fprintf(stderr, "  f64 element %d: got %a want %a\n", i,
                f[i], want[i]);
            CHECK(same_float(f[i], want[i]));
        }
    }
    ndlrt_st_close(st);
    free(b.p);
    double nan_in = NAN;
    st = one_tensor(&b, "F64", 1, &nan_in, 8);
    if ((t = ndlrt_st_find(st, "t"))) {
        ndlrt_st_read_f32(t, f);
        CHECK(isnan(f[0]));
    }
    ndlrt_st_close(st);
    free(b.p);
}

static void test_ints_to_f32(void)
{
    Bytes b;
    NdlrtSt *st;
    const NdlrtStTensor *t;
    float f[4];

    const int8_t i8[] = {-128, -1, 0, 127};
    st = one_tensor(&b, "I8", 4, i8, 1);
    if ((t = ndlrt_st_find(st, "t"))) {
        ndlrt_st_read_f32(t, f);
        CHECK(f[0] == -128.0f && f[1] == -1.0f && f[2] == 0.0f && f[3] == 127.0f);
    }
    ndlrt_st_close(st), free(b.p);

    const uint8_t u8[] = {0, 1, 200, 255};
    st = one_tensor(&b, "U8", 4, u8, 1);
    if ((t = ndlrt_st_find(st, "t"))) {
        ndlrt_st_read_f32(t, f);
        CHECK(f[0] == 0.0f && f[1] == 1.0f && f[2] == 200.0f && f[3] == 255.0f);
    }
    ndlrt_st_close(st), free(b.p);

    const int16_t i16[] = {-32768, -2, 3, 32767};
    st = one_tensor(&b, "I16", 4, i16, 2);
    if ((t = ndlrt_st_find(st, "t"))) {
        ndlrt_st_read_f32(t, f);
        CHECK(f[0] == -32768.0f && f[1] == -2.0f && f[2] == 3.0f && f[3] == 32767.0f);
    }
    ndlrt_st_close(st), free(b.p);

    const int32_t i32[] = {INT32_MIN, 16777217, -7, 16777219};
    st = one_tensor(&b, "I32", 4, i32, 4);
    if ((t = ndlrt_st_find(st, "t"))) {
        ndlrt_st_read_f32(t, f);
        CHECK(f[0] == -2147483648.0f && f[1] == 16777216.0f);
        CHECK(f[2] == -7.0f && f[3] == 16777220.0f);
    }
    ndlrt_st_close(st), free(b.p);

    const int64_t i64[] = {INT64_MIN, INT64_MAX, -5, (int64_t)1 << 40};
    st = one_tensor(&b, "I64", 4, i64, 8);
    if ((t = ndlrt_st_find(st, "t"))) {
        ndlrt_st_read_f32(t, f);
        CHECK(f[0] == -0x1p63f && f[1] == 0x1p63f && f[2] == -5.0f && f[3] == 0x1p40f);
    }
    ndlrt_st_close(st), free(b.p);

    const uint8_t bl[] = {0, 1, 2, 255};
    st = one_tensor(&b, "BOOL", 4, bl, 1);
    if ((t = ndlrt_st_find(st, "t"))) {
        ndlrt_st_read_f32(t, f);
        CHECK(f[0] == 0.0f && f[1] == 1.0f && f[2] == 1.0f && f[3] == 1.0f);
    }
    ndlrt_st_close(st), free(b.p);

    const float f32[] = {1.0f, -0.0f, FLT_MIN, NAN};
    st = one_tensor(&b, "F32", 4, f32, 4);
    if ((t = ndlrt_st_find(st, "t"))) {
        ndlrt_st_read_f32(t, f);
        CHECK(memcmp(f, f32, sizeof f) == 0);
    }
    ndlrt_st_close(st), free(b.p);
}

static void test_read_i64(void)
{
    Bytes b;
    NdlrtSt *st;
    const NdlrtStTensor *t;
    int64_t v[3];

    const int64_t i64[] = {INT64_MIN, INT64_MAX, -1};
    st = one_tensor(&b, "I64", 3, i64, 8);
    if ((t = ndlrt_st_find(st, "t"))) {
        CHECK_EQ_INT(ndlrt_st_read_i64(t, v), 0);
        CHECK(v[0] == INT64_MIN && v[1] == INT64_MAX && v[2] == -1);
    }
    ndlrt_st_close(st), free(b.p);

    const int32_t i32[] = {INT32_MIN, INT32_MAX, -5};
    st = one_tensor(&b, "I32", 3, i32, 4);
    if ((t = ndlrt_st_find(st, "t"))) {
        CHECK_EQ_INT(ndlrt_st_read_i64(t, v), 0);
        CHECK(v[0] == INT32_MIN && v[1] == INT32_MAX && v[2] == -5);
    }
    ndlrt_st_close(st), free(b.p);

    const int16_t i16[] = {-32768, 32767, -3};
    st = one_tensor(&b, "I16", 3, i16, 2);
    if ((t = ndlrt_st_find(st, "t"))) {
        CHECK_EQ_INT(ndlrt_st_read_i64(t, v), 0);
        CHECK(v[0] == -32768 && v[1] == 32767 && v[2] == -3);
    }
    ndlrt_st_close(st), free(b.p);

    const int8_t i8[] = {-128, 127, -1};
    st = one_tensor(&b, "I8", 3, i8, 1);
    if ((t = ndlrt_st_find(st, "t"))) {
        CHECK_EQ_INT(ndlrt_st_read_i64(t, v), 0);
        CHECK(v[0] == -128 && v[1] == 127 && v[2] == -1);
    }
    ndlrt_st_close(st), free(b.p);

    const uint8_t u8[] = {0, 200, 255};
    st = one_tensor(&b, "U8", 3, u8, 1);
    if ((t = ndlrt_st_find(st, "t"))) {
        CHECK_EQ_INT(ndlrt_st_read_i64(t, v), 0);
        CHECK(v[0] == 0 && v[1] == 200 && v[2] == 255);
    }
    ndlrt_st_close(st), free(b.p);

    const uint8_t bl[] = {0, 1, 7};
    st = one_tensor(&b, "BOOL", 3, bl, 1);
    if ((t = ndlrt_st_find(st, "t"))) {
        CHECK_EQ_INT(ndlrt_st_read_i64(t, v), 0);
        CHECK(v[0] == 0 && v[1] == 1 && v[2] == 1);
    }
    ndlrt_st_close(st), free(b.p);

    const char *floats[] = {"F64", "F32", "F16", "BF16"};
    const size_t sizes[] = {8, 4, 2, 2};
    const double zeros[1] = {0};
    for (int i = 0; i < 4; i++) {
        st = one_tensor(&b, floats[i], 1, zeros, sizes[i]);
        v[0] = 42;
        if ((t = ndlrt_st_find(st, "t"))) CHECK_EQ_INT(ndlrt_st_read_i64(t, v), -1);
        CHECK_EQ_INT(v[0], 42);
        ndlrt_st_close(st), free(b.p);
    }
}

/* ---- files: writer and ndlrt_st_open ------------------------------------------------- */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* The number of entries in dir other than . and .. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *ent;
    if (!d) return -1;
    while ((ent = readdir(d)))
        if (strcmp(ent->d_name, ".") != 0 && strcmp(ent->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

static void test_write_exact_header(const char *dir)
{
    char path[512], e[512];
    snprintf(path, sizeof path, "%s/exact.safetensors", dir);
    const int64_t s2[] = {2}, s3[] = {3};
    const float fb[2] = {1.0f, 2.0f};
    const uint8_t ua[3] = {7, 8, 9};
    NdlrtStOut out[] = {
        {"b", NDLRT_ST_F32, 1, s2, fb},
        {"a", NDLRT_ST_U8, 1, s3, ua},
    };
    CHECK_EQ_INT(ndlrt_st_write(path, out, 2, e, sizeof e), 0);
    size_t len = 0;
    char *buf = read_file(path, &len);
    const char *want = "{\"a\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[3,11]}}";
    size_t wl = strlen(want), hl = (wl + 7) / 8 * 8;
    CHECK(buf != NULL);
    if (!buf) return;
    CHECK_EQ_INT(len, 8 + hl + 11);
    uint64_t declared = 0;
    for (int i = 7; i >= 0; i--) declared = declared << 8 | (unsigned char)buf[i];
    CHECK_EQ_INT(declared, hl);
    CHECK_EQ_INT(declared % 8, 0);
    CHECK(len >= 8 + wl && memcmp(buf + 8, want, wl) == 0);
    for (size_t i = wl; i < hl && 8 + i < len; i++) CHECK(buf[8 + i] == ' ');
    CHECK(len == 8 + hl + 11 && memcmp(buf + 8 + hl, ua, 3) == 0 &&
          memcmp(buf + 8 + hl + 3, fb, 8) == 0);
    free(buf);
    CHECK_EQ_INT(count_entries(dir), 1);   /* no temporary left behind */
    unlink(path);
}

static void test_write_round_trip(const char *dir)
{
    char path[512], e[512];
    snprintf(path, sizeof path, "%s/rt.safetensors", dir);
    const char *names[] = {"q\"uote", "back\\slash", "caf\xc3\xa9", "\xf0\x9f\x98\x80",
                           "ctl\x01\n\t", "a.b.c", ""};
    enum { N = sizeof names / sizeof names[0] };
    const int64_t shape[] = {2, 3}, zero_shape[] = {4, 0};
    const double d6[6] = {1, 2, 3, 4, 5.5, -6};
    const uint16_t h1 = 0x3C00;
    const int64_t i64 = -9;
    const uint8_t bl[2] = {1, 0};
    NdlrtStOut out[N] = {
        {names[0], NDLRT_ST_F64, 2, shape, d6},
        {names[1], NDLRT_ST_F16, 0, NULL, &h1},
        {names[2], NDLRT_ST_I64, 0, NULL, &i64},
        {names[3], NDLRT_ST_F32, 2, zero_shape, NULL},
        {names[4], NDLRT_ST_BOOL, 1, shape + 0, bl},
        {names[5], NDLRT_ST_U8, 1, zero_shape + 1, NULL},   /* shape [0] */
        {names[6], NDLRT_ST_I8, 1, shape + 0, "\x80\x7f"},
    };
    CHECK_EQ_INT(ndlrt_st_write(path, out, N, e, sizeof e), 0);
    NdlrtSt *st = NULL;
    int rc = ndlrt_st_open(path, &st, e, sizeof e);
    CHECK_EQ_INT(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "  open: %s\n", e);
        return;
    }
    CHECK_EQ_INT(ndlrt_st_count(st), N);
    /* header order is name order */
    for (size_t i = 1; i < ndlrt_st_count(st); i++)
        CHECK(strcmp(ndlrt_st_tensor(st, i - 1)->name, ndlrt_st_tensor(st, i)->name) < 0);
    for (int i = 0; i < N; i++) {
        const NdlrtStTensor *t = ndlrt_st_find(st, names[i]);
        CHECK(t != NULL);
        if (!t) continue;
        CHECK_EQ_INT(t->dtype, out[i].dtype);
        CHECK_EQ_INT(t->rank, out[i].rank);
        for (int d = 0; d < t->rank; d++) CHECK_EQ_INT(t->shape[d], out[i].shape[d]);
        size_t bytes = (size_t)(t->end - t->begin);
        CHECK_EQ_INT(bytes, t->nelem * ndlrt_st_dtype_size(t->dtype));
        if (bytes) CHECK(memcmp(t->data, out[i].data, bytes) == 0);
    }
    float f[6];
    const NdlrtStTensor *t = ndlrt_st_find(st, names[0]);
    if (t) {
        ndlrt_st_read_f32(t, f);
        CHECK(f[4] == 5.5f && f[5] == -6.0f);
    }
    ndlrt_st_close(st);
    /* overwriting an existing file works and leaves one file */
    CHECK_EQ_INT(ndlrt_st_write(path, out, 1, e, sizeof e), 0);
    CHECK_EQ_INT(ndlrt_st_open(path, &st, e, sizeof e), 0);
    CHECK_EQ_INT(ndlrt_st_count(st), 1);
    ndlrt_st_close(st);
    CHECK_EQ_INT(count_entries(dir), 1);
    unlink(path);
    /* no tensors at all */
    CHECK_EQ_INT(ndlrt_st_write(path, NULL, 0, e, sizeof e), 0);
    CHECK_EQ_INT(ndlrt_st_open(path, &st, e, sizeof e), 0);
    CHECK_EQ_INT(ndlrt_st_count(st), 0);
    ndlrt_st_close(st);
    unlink(path);
}

/* Writes out[0..n) to a fresh path and expects failure with msg, and nothing left. */
static void write_fails(const char *dir, const NdlrtStOut *out, size_t n, const char *msg)
{
    char path[512], e[512];
    snprintf(path, sizeof path, "%s/fail.safetensors", dir);
    e[0] = '\0';
    CHECK_EQ_INT(ndlrt_st_write(path, out, n, e, sizeof e), -1);
    CHECK_STR(e, msg);
    CHECK_EQ_INT(count_entries(dir), 0);
}

static void test_write_errors(const char *dir)
{
    const int64_t s2[] = {2}, neg[] = {-1}, big[] = {(int64_t)1 << 49};
    const int64_t huge[] = {(int64_t)1 << 48, (int64_t)1 << 48};
    const uint8_t u[2] = {1, 2};
    NdlrtStOut dup[] = {
        {"w", NDLRT_ST_U8, 1, s2, u}, {"v", NDLRT_ST_U8, 1, s2, u}, {"w", NDLRT_ST_U8, 1, s2, u}};
    write_fails(dir, dup, 3, "duplicate tensor name 'w'");
    NdlrtStOut one = {"w", NDLRT_ST_U8, 1, s2, u};
    NdlrtStOut t;
    t = one, t.name = NULL;
    write_fails(dir, &t, 1, "tensor #0 has no name");
    t = one, t.name = "bad\xff";
    write_fails(dir, &t, 1, "tensor 'bad\\xff': name is not valid UTF-8");
    t = one, t.name = "__metadata__";
    write_fails(dir, &t, 1, "tensor '__metadata__': the name is reserved");
    t = one, t.dtype = NDLRT_ST_DTYPE_COUNT;
    write_fails(dir, &t, 1, "tensor 'w': invalid dtype 10");
    t = one, t.rank = 9;
    write_fails(dir, &t, 1, "tensor 'w': rank 9 is outside 0..8");
    t = one, t.shape = neg;
    write_fails(dir, &t, 1, "tensor 'w': shape entry -1 is negative");
    t = one, t.shape = big;
    write_fails(dir, &t, 1, "tensor 'w': shape entry 562949953421312 is above 2^48");
    t = one, t.rank = 2, t.shape = huge;
    write_fails(dir, &t, 1, "tensor 'w': byte size overflows 64 bits");
    t = one, t.data = NULL;
    write_fails(dir, &t, 1, "tensor 'w': no data for 2 bytes");

    const int64_t half[] = {(int64_t)1 << 47};
    t = one, t.dtype = NDLRT_ST_I32, t.shape = half;   /* 2^49 bytes; data is never read */
    write_fails(dir, &t, 1, "data section is larger than 2^48 bytes");

    char path[512], e[512];
    /* a directory is not a regular file, so it is opened in place (ndlrt_out_in_place),
     * which fails: no temporary is made */
    snprintf(path, sizeof path, "%s/sub", dir);
    CHECK_EQ_INT(mkdir(path, 0777), 0);
    CHECK_EQ_INT(ndlrt_st_write(path, &one, 1, e, sizeof e), -1);
    CHECK_STR(e, "cannot write: Is a directory");
    CHECK_EQ_INT(count_entries(dir), 1);
    rmdir(path);
    snprintf(path, sizeof path, "%s/no/such/dir/x.safetensors", dir);
    CHECK_EQ_INT(ndlrt_st_write(path, &one, 1, e, sizeof e), -1);
    CHECK_STR(e, "cannot create a temporary file next to it: No such file or directory");
    /* a failed write keeps the old file untouched */
    snprintf(path, sizeof path, "%s/keep.safetensors", dir);
    CHECK_EQ_INT(ndlrt_st_write(path, &one, 1, e, sizeof e), 0);
    CHECK_EQ_INT(ndlrt_st_write(path, dup, 3, e, sizeof e), -1);
    NdlrtSt *st = NULL;
    CHECK_EQ_INT(ndlrt_st_open(path, &st, e, sizeof e), 0);
    CHECK_EQ_INT(ndlrt_st_count(st), 1);
    ndlrt_st_close(st);
    CHECK_EQ_INT(count_entries(dir), 1);
    unlink(path);
}

static void test_open(const char *dir)
{
    char path[512], e[512];
    NdlrtSt *st = (NdlrtSt *)&st;
    snprintf(path, sizeof path, "%s/missing.safetensors", dir);
    CHECK_EQ_INT(ndlrt_st_open(path, &st, e, sizeof e), -1);
    CHECK_STR(e, "cannot open: No such file or directory");
    CHECK(st == NULL);
    CHECK_EQ_INT(ndlrt_st_open(dir, &st, e, sizeof e), -1);
    CHECK_STR(e, "is a directory");

    /* a FIFO cannot be mapped either: a 100 KB file is read through the fallback */
    snprintf(path, sizeof path, "%s/fifo", dir);
    CHECK_EQ_INT(mkfifo(path, 0600), 0);
    enum { BIG = 100000 };
    char hdr[128];
    snprintf(hdr, sizeof hdr, "{\"big\":{\"dtype\":\"U8\",\"shape\":[%d],\"data_offsets\":[0,%d]}}",
             BIG, BIG);
    Bytes big = file_of(hdr, NULL, BIG);
    big.p[big.n - 1] = 0x5a;
    pid_t pid = fork();
    if (pid == 0) {
        FILE *w = fopen(path, "wb");
        if (w) fwrite(big.p, 1, big.n, w), fclose(w);
        _exit(0);
    }
    CHECK_EQ_INT(ndlrt_st_open(path, &st, e, sizeof e), 0);
    waitpid(pid, NULL, 0);
    const NdlrtStTensor *tb = ndlrt_st_find(st, "big");
    CHECK(tb != NULL);
    if (tb) CHECK(tb->nelem == BIG && tb->data[BIG - 1] == 0x5a);
    ndlrt_st_close(st);
    free(big.p);
    unlink(path);

    /* an empty regular file, and a malformed one, report parse errors */
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    FILE *f = fopen(path, "wb");
    fclose(f);
    CHECK_EQ_INT(ndlrt_st_open(path, &st, e, sizeof e), -1);
    CHECK_STR(e, "file is 0 bytes long, too short for the 8-byte header length");
    Bytes b = file_raw(4096, "{}", 2, NULL, 90);
    f = fopen(path, "wb");
    fwrite(b.p, 1, b.n, f);
    fclose(f);
    free(b.p);
    CHECK_EQ_INT(ndlrt_st_open(path, &st, e, sizeof e), -1);
    CHECK_STR(e, "header length 4096 is beyond the file size 100");

    /* a valid file written by hand */
    const float w[6] = {1, 2, 3, 4, 5, 6};
    b = file_of("{\"w\":" W24 "}", w, 24);
    f = fopen(path, "wb");
    fwrite(b.p, 1, b.n, f);
    fclose(f);
    free(b.p);
    CHECK_EQ_INT(ndlrt_st_open(path, &st, e, sizeof e), 0);
    const NdlrtStTensor *t = ndlrt_st_find(st, "w");
    CHECK(t != NULL);
    if (t) {
        float got[6];
        ndlrt_st_read_f32(t, got);
        CHECK(memcmp(got, w, sizeof w) == 0);
    }
    ndlrt_st_close(st);
    ndlrt_st_close(NULL);
    CHECK_EQ_INT(ndlrt_st_count(NULL), 0);
    CHECK(ndlrt_st_find(NULL, "w") == NULL);
    unlink(path);
}

int main(void)
{
    test_short_file();
    test_header_too_large();
    test_header_beyond_file();
    test_header_start();
    test_header_utf8();
    test_padding();
    test_invalid_json();
    test_invalid_strings();
    test_invalid_numbers_and_literals();
    test_duplicate_tensor();
    test_duplicate_metadata();
    test_duplicate_field();
    test_missing_field();
    test_unknown_field();
    test_wrong_types();
    test_unknown_dtype();
    test_negative();
    test_fractional();
    test_above_2_48();
    test_rank();
    test_offsets_count();
    test_end_before_begin();
    test_size_mismatch();
    test_gap_at_start();
    test_gap_between();
    test_overlap();
    test_beyond_file();
    test_bytes_after_last();
    test_nul_in_name();
    test_name_display();

    test_empty_and_whitespace();
    test_every_dtype();
    test_rank0_and_zero_size();
    test_metadata();
    test_check_specs();
    test_escaped_names();
    test_unaligned();
    test_f16();
    test_bf16();
    test_f64();
    test_ints_to_f32();
    test_read_i64();

    const char *tmp = getenv("TMPDIR");
    char dir[256];
    snprintf(dir, sizeof dir, "%s/ndlc_st_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(dir)) {
        test_write_exact_header(dir);
        test_write_round_trip(dir);
        test_write_errors(dir);
        test_open(dir);
        rmdir(dir);
    } else {
        CHECK(!"mkdtemp failed");
    }
    return check_done();
}
