/* SPDX-License-Identifier: MIT
 * diagrun.c - runs ndlc on a bad input and checks its diagnostics, exit status and
 * output file against expectations (the runner of tests/diag and tests/weights).
 *
 *   diagrun NDLC CASE.ndl            a tests/diag case: expectations inline in CASE.ndl
 *   diagrun --show NDLC CASE.ndl     print the actual diagnostics as expectation lines
 *   diagrun [--dir D] [--exit N] [--expect LINE]... [--expect-file F] -- CMD ARG...
 *                                    any command (F: expectation lines, '#' comments); '@OUT@' in an ARG is the output path
 *                                    (checked as below only when an ARG names it)
 *
 * Annotations of a case, anywhere in the file after a '#' (Wren's `// expect:` style):
 *   # expect-error: LINE:COL: MESSAGE    a diagnostic located in the .ndl file
 *   # expect-warning: ... / # expect-note: ...
 *   # expect-error: FILE: MESSAGE        "path: error: MESSAGE" about another file, FILE
 *                                        its base name; 'ndlc' for "ndlc: error: ..."
 *   # expect-exit: N                     exit status (default 1)
 *   # args: OPTIONS...                   extra options, split on blanks
 * A case runs in its own directory as
 *   NDLC CASE.ndl --diag-plain --emit ir -o OUT OPTIONS...
 * Every line on stderr must match the expectations exactly and in order (the file part
 * of `file:line:col:` is ignored); any other line, on stderr or stdout, is a failure.
 * OUT exists (holding "stale") before the run; after a failed run it must be gone, and
 * nothing else may have appeared in its directory (spec section 9: no temporary file).
 * Failures print a unified diff (diff -u) and the command. Exit status: 0 pass, 1 fail,
 * 2 usage. POSIX only; one process per case keeps the suites fast.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct Lines {
    char **v;
    size_t n, cap;
} Lines;

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p) {
        fputs("diagrun: out of memory\n", stderr);
        exit(2);
    }
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xrealloc(NULL, n), s, n);
}

static void push(Lines *l, char *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = s;
}

/* Reads a whole file (NULL if it cannot be read); *len gets its size. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t n = 0, cap = 4096;
    char *buf = xrealloc(NULL, cap);
    size_t k;
    while ((k = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += k;
        if (cap - n < 2) buf = xrealloc(buf, cap *= 2);
    }
    fclose(f);
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

/* Splits text into lines (without '\n'), trailing blanks removed. */
static void split_lines(char *text, size_t len, Lines *out)
{
    char *p = text, *end = text + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        *e = 0;
        for (char *t = e; t > p && (t[-1] == ' ' || t[-1] == '\t' || t[-1] == '\r');) *--t = 0;
        push(out, p);
        p = e + 1;
    }
}

static int all_digits(const char *s, size_t n)
{
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

/* "f.ndl:3:7: error: msg" -> "expect-error: 3:7: msg"; "dir/w.st: error: msg" ->
 * "expect-error: w.st: msg"; anything else -> "unexpected-<what>: line". */
static char *normalize(const char *line, const char *what)
{
    static const char *const levels[] = {"error", "warning", "note"};
    const char *best = NULL;
    const char *lvl = NULL;
    for (int k = 0; k < 3; k++) {
        char pat[32];
        snprintf(pat, sizeof pat, ": %s: ", levels[k]);
        const char *at = strstr(line, pat);
        if (at && (!best || at < best)) { best = at; lvl = levels[k]; }
    }
    size_t cap = strlen(line) + 64;
    char *out = xrealloc(NULL, cap);
    if (!best || strcmp(what, "stderr") != 0) {
        snprintf(out, cap, "unexpected-%s: %s", what, line);
        return out;
    }
    const char *msg = best + strlen(lvl) + 4;
    size_t plen = (size_t)(best - line);
    /* file:LINE:COL */
    const char *c2 = NULL, *c1 = NULL;
    for (const char *p = line + plen; p > line; p--)
        if (p[-1] == ':') {
            if (!c2) c2 = p - 1;
            else { c1 = p - 1; break; }
        }
    if (c1 && all_digits(c1 + 1, (size_t)(c2 - c1 - 1)) && all_digits(c2 + 1, (size_t)(line + plen - c2 - 1))) {
        snprintf(out, cap, "expect-%s: %.*s: %s", lvl, (int)(line + plen - c1 - 1), c1 + 1, msg);
        return out;
    }
    const char *base = line;
    for (const char *p = line; p < line + plen; p++)
        if (*p == '/') base = p + 1;
    snprintf(out, cap, "expect-%s: %.*s: %s", lvl, (int)(line + plen - base), base, msg);
    return out;
}

/* Does the line hold "# KEY" (after its first '#' and blanks)? Returns where KEY starts. */
static const char *annotation(const char *line, const char *key)
{
    const char *h = strchr(line, '#');
    if (!h) return NULL;
    h++;
    while (*h == ' ' || *h == '\t') h++;
    return strncmp(h, key, strlen(key)) == 0 ? h : NULL;
}

static int write_lines(const char *path, const Lines *l)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    for (size_t i = 0; i < l->n; i++) fprintf(f, "%s\n", l->v[i]);
    return fclose(f);
}

/* Runs argv in dir with stdout/stderr to files; returns the exit status, 128+signal. */
static int run(char **argv, const char *dir, const char *out_path, const char *err_path)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) { perror("diagrun: fork"); exit(2); }
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0) _exit(126);
        close(o);
        close(e);
        if (dir && chdir(dir) != 0) _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) { perror("diagrun: waitpid"); exit(2); }
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* Removes dir and what it holds (one level of files, as made here). */
static void rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            if (unlink(p) != 0) rm_tree(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

static char *absolute(const char *p)
{
    if (p[0] == '/') return xstrdup(p);
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd)) { perror("diagrun: getcwd"); exit(2); }
    char *r = xrealloc(NULL, strlen(cwd) + strlen(p) + 2);
    sprintf(r, "%s/%s", cwd, p);
    return r;
}

/* Records p among the allocations that main frees before it returns (so that the runner
 * is clean under the project's LeakSanitizer build too). */
static void *own(Lines *owned, void *p)
{
    push(owned, p);
    return p;
}

static int usage(void)
{
    fputs("usage: diagrun [--show] NDLC CASE.ndl\n"
          "       diagrun [--dir D] [--exit N] [--expect LINE]... [--expect-file F] -- CMD ARG...\n", stderr);
    return 2;
}

int main(int argc, char **argv)
{
    Lines expected = {0}, args = {0}, owned = {0};
    int show = 0, want_rc = 1;
    const char *dir = NULL, *case_path = NULL;
    int i = 1;
    if (i < argc && !strcmp(argv[i], "--show")) { show = 1; i++; }
    char *case_text = NULL;
    if (i < argc && strcmp(argv[i], "--dir") && strcmp(argv[i], "--exit") && strcmp(argv[i], "--expect") &&
        strcmp(argv[i], "--expect-file") && strcmp(argv[i], "--")) {
        /* case mode */
        if (argc - i != 2) return usage();
        case_path = argv[i + 1];
        size_t len;
        case_text = own(&owned, slurp(case_path, &len));
        if (!case_text) {
            fprintf(stderr, "diagrun: %s: %s\n", case_path, strerror(errno));
            return 2;
        }
        Lines src = {0};
        split_lines(case_text, len, &src);
        const char *extra = NULL;
        for (size_t k = 0; k < src.n; k++) {
            const char *a;
            if ((a = annotation(src.v[k], "expect-error:")) || (a = annotation(src.v[k], "expect-warning:")) ||
                (a = annotation(src.v[k], "expect-note:")))
                push(&expected, (char *)a);
            else if ((a = annotation(src.v[k], "expect-exit:")))
                want_rc = atoi(a + strlen("expect-exit:"));
            else if ((a = annotation(src.v[k], "args:")) && !extra)
                extra = a + strlen("args:");
        }
        own(&owned, src.v);
        char *slash = strrchr(case_path, '/');
        char *d = own(&owned, xstrdup(case_path));
        if (slash) d[slash - case_path] = 0;
        else strcpy(d, ".");
        dir = d;
        push(&args, own(&owned, absolute(argv[i])));
        push(&args, own(&owned, xstrdup(slash ? slash + 1 : case_path)));
        push(&args, "--diag-plain");
        push(&args, "--emit");
        push(&args, "ir");
        push(&args, "-o");
        push(&args, "@OUT@");
        if (extra) {
            char *e = own(&owned, xstrdup(extra));
            for (char *t = strtok(e, " \t"); t; t = strtok(NULL, " \t")) push(&args, t);
        }
    } else {
        for (; i < argc; i++) {
            if (!strcmp(argv[i], "--")) { i++; break; }
            if (i + 1 >= argc) return usage();
            if (!strcmp(argv[i], "--dir")) dir = argv[++i];
            else if (!strcmp(argv[i], "--exit")) want_rc = atoi(argv[++i]);
            else if (!strcmp(argv[i], "--expect")) push(&expected, argv[++i]);
            else if (!strcmp(argv[i], "--expect-file")) {
                size_t len;
                char *t = own(&owned, slurp(argv[++i], &len));
                if (!t) {
                    fprintf(stderr, "diagrun: %s: %s\n", argv[i], strerror(errno));
                    return 2;
                }
                Lines l = {0};
                split_lines(t, len, &l);
                for (size_t k = 0; k < l.n; k++)
                    if (l.v[k][0] && l.v[k][0] != '#') push(&expected, l.v[k]);
                own(&owned, l.v);
            }
            else return usage();
        }
        if (i >= argc) return usage();
        push(&args, own(&owned, absolute(argv[i++])));
        for (; i < argc; i++) push(&args, argv[i]);
    }

    const char *tmpdir = getenv("TMPDIR");
    char *tmp = own(&owned, xrealloc(NULL, (tmpdir ? strlen(tmpdir) : 4) + 32));
    sprintf(tmp, "%s/diagrun.XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(tmp)) { perror("diagrun: mkdtemp"); return 2; }
    char odir[4200], out[4300], so[4300], se[4300];
    snprintf(odir, sizeof odir, "%s/o", tmp);
    snprintf(out, sizeof out, "%s/out", odir);
    snprintf(so, sizeof so, "%s/stdout", tmp);
    snprintf(se, sizeof se, "%s/stderr", tmp);
    if (mkdir(odir, 0755) != 0) { perror("diagrun: mkdir"); rm_tree(tmp); return 2; }
    FILE *f = fopen(out, "w");
    if (!f) { perror("diagrun: stale output"); rm_tree(tmp); return 2; }
    fputs("stale\n", f);
    fclose(f);

    /* the command line, with @OUT@ replaced */
    char **cmd = own(&owned, xrealloc(NULL, (args.n + 1) * sizeof *cmd));
    int uses_out = 0;
    for (size_t k = 0; k < args.n; k++) {
        const char *at = strstr(args.v[k], "@OUT@");
        if (at) {
            char *s = own(&owned, xrealloc(NULL, strlen(args.v[k]) + strlen(out) + 1));
            sprintf(s, "%.*s%s%s", (int)(at - args.v[k]), args.v[k], out, at + 5);
            cmd[k] = s;
            uses_out = 1;
        } else
            cmd[k] = args.v[k];
    }
    cmd[args.n] = NULL;

    int rc = run(cmd, dir, so, se);

    Lines actual = {0}, tmp_lines = {0};
    size_t len;
    char *text = own(&owned, slurp(se, &len));
    if (text) {
        split_lines(text, len, &tmp_lines);
        for (size_t k = 0; k < tmp_lines.n; k++) push(&actual, normalize(tmp_lines.v[k], "stderr"));
    }
    tmp_lines.n = 0;
    text = own(&owned, slurp(so, &len));
    if (text) {
        split_lines(text, len, &tmp_lines);
        for (size_t k = 0; k < tmp_lines.n; k++) push(&actual, normalize(tmp_lines.v[k], "stdout"));
    }
    own(&owned, tmp_lines.v);
    for (size_t k = 0; k < actual.n; k++) own(&owned, actual.v[k]);
    int fail = 0;

    if (show) {
        for (size_t k = 0; k < actual.n; k++) printf("# %s\n", actual.v[k]);
        printf("# expect-exit: %d\n", rc);
        goto done;
    }

    const char *name = case_path ? case_path : "command";
    int same = expected.n == actual.n;
    for (size_t k = 0; same && k < expected.n; k++) same = !strcmp(expected.v[k], actual.v[k]);
    if (!same) {
        char ef[4300], af[4300];
        snprintf(ef, sizeof ef, "%s/expected", tmp);
        snprintf(af, sizeof af, "%s/actual", tmp);
        write_lines(ef, &expected);
        write_lines(af, &actual);
        printf("FAIL: %s: diagnostics differ (- expected, + actual)\n", name);
        char *diff[] = {"/usr/bin/diff", "-u", "--label", "expected", "--label", "actual", ef, af, NULL};
        char df[4300];
        snprintf(df, sizeof df, "%s/diff", tmp);
        run(diff, NULL, df, "/dev/null");
        char *d = own(&owned, slurp(df, NULL));
        if (d && *d) fputs(d, stdout);
        else { /* no diff(1): print both lists */
            for (size_t k = 0; k < expected.n; k++) printf("-%s\n", expected.v[k]);
            for (size_t k = 0; k < actual.n; k++) printf("+%s\n", actual.v[k]);
        }
        fail = 1;
    }
    if (rc != want_rc) {
        printf("FAIL: %s: exit status %d, expected %d%s\n", name, rc, want_rc,
               rc > 128 ? " (killed by a signal)" : "");
        fail = 1;
    }
    struct stat sb;
    if (uses_out && rc != 0 && stat(out, &sb) == 0) {
        printf("FAIL: %s: the output file survived a failed run (spec section 9)\n", name);
        fail = 1;
    }
    DIR *dd = opendir(odir);
    if (dd) {
        struct dirent *e;
        while ((e = readdir(dd)) != NULL)
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "out")) {
                printf("FAIL: %s: '%s' was left beside the output\n", name, e->d_name);
                fail = 1;
            }
        closedir(dd);
    }
    if (fail) {
        printf("command: (cd %s &&", dir ? dir : ".");
        for (size_t k = 0; cmd[k]; k++) printf(" %s", cmd[k]);
        printf(")\n");
    }
done:
    rm_tree(tmp);
    for (size_t k = 0; k < owned.n; k++) free(owned.v[k]);
    free(owned.v);
    free(expected.v);
    free(args.v);
    free(actual.v);
    return fail;
}
