/* SPDX-License-Identifier: MIT
 * output.c - how every compiler output reaches its path (spec section 9): written to a
 * temporary beside it, `<path>.tmp<pid>.XXXXXX` with mode 0666 & ~umask (as cc gives),
 * then renamed into place. A path that exists and is not a regular file (a device, a
 * FIFO, a symlink; ndlrt_out_in_place) is written in place instead: opened and
 * truncated, never renamed over and never removed, so `-o /dev/null` stays a device.
 * The pid in the name lets the internal-error cleanup find this process's temporaries.
 */
#define _POSIX_C_SOURCE 200809L /* mkstemp, fchmod */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "backend.h"
#include "../runtime/safetensors.h"

void backend_temp_dir(const char *path, char *dir, size_t len)
{
    if (ndlrt_out_in_place(path)) { /* /dev may not be writable: use $TMPDIR */
        const char *t = getenv("TMPDIR");
        snprintf(dir, len, "%s", t && t[0] ? t : "/tmp");
        return;
    }
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, len, ".");
    else snprintf(dir, len, "%.*s", slash == path ? 1 : (int)(slash - path), path);
}

char *backend_temp_create(const char *path, bool real, int *fd_out, char *err, size_t errlen)
{
    char *t;
    int fd;
    if (!real && ndlrt_out_in_place(path)) {
        t = xstrdup(path);
        fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    } else {
        const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
        char dir[4096];
        backend_temp_dir(path, dir, sizeof dir);
        size_t len = strlen(dir) + strlen(base) + 64;
        t = xmalloc(len);
        snprintf(t, len, "%s/%s.tmp%ld.XXXXXX", dir, base, (long)getpid());
        fd = mkstemp(t);
        mode_t mask = umask(0);
        umask(mask);
        if (fd >= 0) (void)fchmod(fd, 0666 & ~mask); /* mkstemp made it 0600 */
    }
    if (fd < 0) {
        snprintf(err, errlen, "cannot create a file next to '%s': %s", path, strerror(errno));
        free(t);
        return NULL;
    }
    if (fd_out) *fd_out = fd;
    else close(fd);
    return t;
}

/* Copies the bytes of from into the open descriptor fd. */
static bool copy_into(const char *from, int fd)
{
    FILE *in = fopen(from, "rb");
    if (!in) return false;
    char buf[65536];
    size_t n;
    bool ok = true;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0) {
        for (size_t done = 0; ok && done < n;) {
            ssize_t w = write(fd, buf + done, n - done);
            if (w < 0 && errno == EINTR) continue;
            ok = w > 0;
            if (ok) done += (size_t)w;
        }
    }
    ok = ok && !ferror(in);
    fclose(in);
    return ok;
}

bool backend_install(const char *tmp, const char *path, char *err, size_t errlen)
{
    if (strcmp(tmp, path) == 0) return true; /* written in place already */
    bool ok;
    if (ndlrt_out_in_place(path)) {
        int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        ok = fd >= 0 && copy_into(tmp, fd);
        int e = errno;
        if (fd >= 0 && close(fd) != 0 && ok) ok = false, e = errno;
        errno = e;
    } else {
        ok = rename(tmp, path) == 0;
    }
    if (!ok) snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
    unlink(tmp);
    return ok;
}
