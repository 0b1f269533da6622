/* SPDX-License-Identifier: MIT
 * run.c - runs the system tools a backend needs (the C compiler, the linker driver),
 * waiting for them; their own messages go to our stderr.
 */
#define _POSIX_C_SOURCE 200809L /* fork */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "backend.h"

bool backend_run(char *const *argv, const char *who, const char *what, char *err, size_t errlen)
{
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "cannot start '%s': %s", argv[0], strerror(errno));
        return false;
    }
    if (pid == 0) {
        execvp(argv[0], argv);
        fprintf(stderr, "ndlc: error: cannot run '%s': %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            snprintf(err, errlen, "waiting for '%s': %s", argv[0], strerror(errno));
            return false;
        }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(err, errlen, "%s '%s' failed %s", who, argv[0], what);
        return false;
    }
    return true;
}
