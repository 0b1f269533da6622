/* SPDX-License-Identifier: MIT
 * test_diag.c - diagnostics rendering (style.md 2.5): the GNU first line, the quoted
 * source line with gutter and ^~~~ underline, notes, warnings and -Werror, plain mode,
 * file errors, the error cap; and the SourceMgr's line/column mapping.
 */
#include "check.h"

#include <stdlib.h>
#include <string.h>

#include "frontend/diag.h"

typedef struct Capture {
    char text[8192];
    int calls, errors, warnings, notes;
} Capture;

static void sink(void *ud, DiagLevel level, const char *text)
{
    Capture *c = ud;
    size_t n = strlen(c->text);
    snprintf(c->text + n, sizeof c->text - n, "%s", text);
    c->calls++;
    c->errors += level == DIAG_ERROR;
    c->warnings += level == DIAG_WARNING;
    c->notes += level == DIAG_NOTE;
}

/* The span of the first occurrence of needle in file f's text. */
static Span find(const SourceMgr *sm, uint32_t f, const char *needle)
{
    const char *text = src_text(sm, f, NULL);
    const char *p = strstr(text, needle);
    return (Span){f, p ? (uint32_t)(p - text) : 0, (uint32_t)strlen(needle)};
}

static const char resnet[] =
    "model R {\n"
    "  input x: f32[8, 64, 56, 56];\n"
    "  forward {\n"
    "    let skip = conv(x);\n"
    "    y = add(x, skip);\n"
    "  }\n"
    "}\n";

static void test_caret(void)
{
    SourceMgr *sm = src_new();
    uint32_t f = src_add(sm, "resnet.ndl", resnet, strlen(resnet));
    Capture c = {.calls = 0};
    Diag *d = diag_new(sm, sink, &c);
    diag_error(d, find(sm, f, "add(x, skip)"), "cannot broadcast [%d,%d] with [%d,%d] in '%s'",
               8, 64, 8, 32, "add");
    diag_note(d, find(sm, f, "skip = conv(x)"), "'skip' defined here with shape [8,32,56,56]");
    CHECK_STR(c.text,
              "resnet.ndl:5:9: error: cannot broadcast [8,64] with [8,32] in 'add'\n"
              "    5 |     y = add(x, skip);\n"
              "      |         ^~~~~~~~~~~~\n"
              "resnet.ndl:4:9: note: 'skip' defined here with shape [8,32,56,56]\n"
              "    4 |     let skip = conv(x);\n"
              "      |         ^~~~~~~~~~~~~~\n");
    CHECK_EQ_INT(c.calls, 2);
    CHECK_EQ_INT(c.errors, 1);
    CHECK_EQ_INT(c.notes, 1);
    CHECK_EQ_INT(diag_errors(d), 1);
    CHECK(!diag_full(d));

    /* A one-byte span is a lone caret; a warning stays a warning. */
    c = (Capture){.calls = 0};
    diag_warn(d, find(sm, f, "y"), "output '%s' is never read", "y");
    CHECK_STR(c.text,
              "resnet.ndl:5:5: warning: output 'y' is never read\n"
              "    5 |     y = add(x, skip);\n"
              "      |     ^\n");
    CHECK_EQ_INT(c.warnings, 1);
    CHECK_EQ_INT(diag_errors(d), 1);

    /* A span running over several lines is underlined to the end of its first line. */
    c = (Capture){.calls = 0};
    diag_error(d, find(sm, f, "forward {\n    let"), "bad forward");
    CHECK_STR(c.text,
              "resnet.ndl:3:3: error: bad forward\n"
              "    3 |   forward {\n"
              "      |   ^~~~~~~~~\n");
    diag_free(d);
    src_free(sm);
}

static void test_layout(void)
{
    /* Tabs expand to 8 columns in both lines; a UTF-8 character is one column; the
     * column number counts bytes. Line 10 widens nothing: the gutter is 5 wide. */
    const char *text = "\tx = 1;\n# caf\xc3\xa9 = y;\n\n\n\n\n\n\n\n  z = q;\r\nlast";
    SourceMgr *sm = src_new();
    uint32_t f = src_add(sm, "t.ndl", text, strlen(text));
    Capture c = {.calls = 0};
    Diag *d = diag_new(sm, sink, &c);
    diag_error(d, find(sm, f, "1"), "tab");
    diag_error(d, find(sm, f, "y;"), "utf8");
    diag_error(d, find(sm, f, "q"), "crlf");
    /* End of file: an empty span just after the last byte. */
    diag_error(d, (Span){f, (uint32_t)strlen(text), 0}, "eof");
    CHECK_STR(c.text,
              "t.ndl:1:6: error: tab\n"
              "    1 |         x = 1;\n"
              "      |             ^\n"
              "t.ndl:2:11: error: utf8\n"
              "    2 | # caf\xc3\xa9 = y;\n"
              "      |          ^~\n"
              "t.ndl:10:7: error: crlf\n"
              "   10 |   z = q;\n"
              "      |       ^\n"
              "t.ndl:11:5: error: eof\n"
              "   11 | last\n"
              "      |     ^\n");
    diag_free(d);
    src_free(sm);
}

static void test_plain_and_files(void)
{
    SourceMgr *sm = src_new();
    uint32_t f = src_add(sm, "resnet.ndl", resnet, strlen(resnet));
    Capture c = {.calls = 0};
    Diag *d = diag_new(sm, sink, &c);
    diag_set_plain(d, true);
    diag_error(d, find(sm, f, "add"), "unknown function '%s'", "add");
    diag_note(d, find(sm, f, "conv"), "see here");
    diag_file_error(d, "w.safetensors", "tensor '%s' has shape [%d] in the file", "fc.weight", 3);
    diag_file_warn(d, "w.safetensors", "tensor '%s' is not used", "extra");
    diag_error(d, (Span){0, 0, 0}, "no location");
    CHECK_STR(c.text,
              "resnet.ndl:5:9: error: unknown function 'add'\n"
              "resnet.ndl:4:16: note: see here\n"
              "w.safetensors: error: tensor 'fc.weight' has shape [3] in the file\n"
              "w.safetensors: warning: tensor 'extra' is not used\n"
              "ndlc: error: no location\n");
    CHECK_EQ_INT(diag_errors(d), 3);

    /* -Werror: warnings are reported and counted as errors. */
    c = (Capture){.calls = 0};
    diag_set_werror(d, true);
    diag_warn(d, find(sm, f, "skip"), "unused");
    diag_file_warn(d, "w.safetensors", "unused tensor");
    CHECK_STR(c.text,
              "resnet.ndl:4:9: error: unused\n"
              "w.safetensors: error: unused tensor\n");
    CHECK_EQ_INT(c.errors, 2);
    CHECK_EQ_INT(c.warnings, 0);
    CHECK_EQ_INT(diag_errors(d), 5);
    diag_free(d);

    /* No sink: diagnostics are counted and dropped. */
    d = diag_new(sm, NULL, NULL);
    diag_error(d, find(sm, f, "add"), "dropped");
    CHECK_EQ_INT(diag_errors(d), 1);
    diag_free(d);
    src_free(sm);
}

static void test_cap(void)
{
    SourceMgr *sm = src_new();
    uint32_t f = src_add(sm, "resnet.ndl", resnet, strlen(resnet));
    Capture c = {.calls = 0};
    Diag *d = diag_new(sm, sink, &c);
    diag_set_plain(d, true);
    for (int i = 0; i < DIAG_MAX_ERRORS - 1; i++) diag_error(d, find(sm, f, "x"), "e%d", i);
    CHECK(!diag_full(d));
    diag_error(d, find(sm, f, "x"), "last");
    /* The cap message closes the output: even the last error's notes are dropped. */
    diag_note(d, find(sm, f, "x"), "dropped note of the last error");
    CHECK(diag_full(d));
    CHECK_EQ_INT(diag_errors(d), DIAG_MAX_ERRORS);
    diag_error(d, find(sm, f, "x"), "dropped");
    diag_note(d, find(sm, f, "x"), "dropped note");
    diag_warn(d, find(sm, f, "x"), "dropped warning");
    diag_file_error(d, "w", "dropped");
    CHECK_EQ_INT(diag_errors(d), DIAG_MAX_ERRORS);
    CHECK_CONTAINS(c.text, "resnet.ndl:2:9: error: last\n"
                           "ndlc: error: too many errors, stopping\n");
    CHECK(strstr(c.text, "dropped") == NULL);
    CHECK_EQ_INT(c.calls, DIAG_MAX_ERRORS + 1);
    diag_free(d);

    /* Notes of an error that was dropped are dropped with it. */
    c = (Capture){.calls = 0};
    d = diag_new(sm, sink, &c);
    diag_set_plain(d, true);
    for (int i = 0; i < DIAG_MAX_ERRORS; i++) diag_error(d, find(sm, f, "x"), "e");
    diag_error(d, find(sm, f, "x"), "over");
    diag_note(d, find(sm, f, "x"), "its note");
    CHECK(strstr(c.text, "its note") == NULL);
    diag_free(d);
    src_free(sm);
}

static void test_source(void)
{
    SourceMgr *sm = src_new();
    const char *text = "ab\ncd\n\nef";
    uint32_t f = src_add(sm, "s.ndl", text, strlen(text));
    uint32_t g = src_add(sm, "empty.ndl", "", 0);
    CHECK_EQ_INT(f, 1);
    CHECK_EQ_INT(g, 2);
    CHECK_STR(src_path(sm, f), "s.ndl");
    CHECK(src_path(sm, 0) == NULL);
    CHECK(src_path(sm, 3) == NULL);
    size_t len;
    CHECK_STR(src_text(sm, f, &len), text);
    CHECK_EQ_INT(len, strlen(text));
    const uint32_t offs[] = {0, 1, 2, 3, 5, 6, 7, 8, 9, 100};
    const unsigned lines[] = {1, 1, 1, 2, 2, 3, 4, 4, 4, 4};
    const unsigned cols[] = {1, 2, 3, 1, 3, 1, 1, 2, 3, 3};
    for (int i = 0; i < 10; i++) {
        unsigned line, col;
        src_line_col(sm, (Span){f, offs[i], 1}, &line, &col);
        CHECK_EQ_INT(line, lines[i]);
        CHECK_EQ_INT(col, cols[i]);
    }
    unsigned line, col;
    src_line_col(sm, (Span){0, 5, 1}, &line, &col);
    CHECK_EQ_INT(line, 0);
    src_line_col(sm, (Span){g, 0, 0}, &line, &col);
    CHECK_EQ_INT(line * 10 + col, 11);
    const char *l = src_line_text(sm, f, 2, &len);
    CHECK_EQ_INT(len, 2);
    CHECK(strncmp(l, "cd", 2) == 0);
    src_line_text(sm, f, 3, &len);
    CHECK_EQ_INT(len, 0);
    l = src_line_text(sm, f, 4, &len);
    CHECK_EQ_INT(len, 2);
    CHECK(strncmp(l, "ef", 2) == 0);
    CHECK(src_line_text(sm, f, 5, &len) == NULL);
    CHECK(src_line_text(sm, f, 0, &len) == NULL);

    /* src_load: a real file, and a missing one (with strerror's text). */
    char err[256] = "";
    const char *path = "test_diag_tmp.ndl";
    FILE *out = fopen(path, "wb");
    CHECK(out != NULL);
    if (out) {
        fputs("model A {}\n", out);
        fclose(out);
        uint32_t h = src_load(sm, path, err, sizeof err);
        CHECK_EQ_INT(h, 3);
        CHECK_STR(src_text(sm, h, &len), "model A {}\n");
        CHECK_STR(src_path(sm, h), path);
        remove(path);
    }
    CHECK_EQ_INT(src_load(sm, "/nonexistent/dir/x.ndl", err, sizeof err), 0);
    CHECK_STR(err, "No such file or directory");
    CHECK_EQ_INT(src_load(sm, ".", err, sizeof err), 0);
    CHECK_STR(err, "Is a directory");
    src_free(sm);
}

int main(void)
{
    test_caret();
    test_layout();
    test_plain_and_files();
    test_cap();
    test_source();
    return check_done();
}
