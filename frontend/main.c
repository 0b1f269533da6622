/* SPDX-License-Identifier: MIT
 * main.c - the ndlc command: parse the command line, run the driver, set the exit
 * status. The only file that decides where diagnostics go (stderr).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "frontend.h"

static void to_stderr(void *ud, DiagLevel level, const char *text)
{
    (void)ud;
    (void)level;
    fputs(text, stderr);
}

/* An internal error before the driver has listed the outputs (ir/base.c) still removes
 * them; the driver then installs its own cleanup, which removes temporaries too. */
static void ice_remove_outputs(void *opt) { ndlc_remove_outputs(opt); }

int main(int argc, char **argv)
{
    Options opt;
    char err[512];
    if (!options_parse(&opt, argc, argv, err, sizeof err)) {
        fprintf(stderr, "ndlc: error: %s\n%s", err, "run 'ndlc --help' for usage\n");
        /* no stale artefact after any failure; not a device, not an input (driver.c) */
        if (opt.output) ndlc_remove_outputs(&opt);
        options_free(&opt);
        return 2;
    }
    ndlc_set_ice_cleanup(ice_remove_outputs, &opt);
    size_t len = 1;
    for (int i = 0; i < argc; i++) len += strlen(argv[i]) + 1;
    char *command = xmalloc(len), *o = command;
    for (int i = 0; i < argc; i++) o += sprintf(o, "%s%s", i ? " " : "", argv[i]);
    opt.command = command;
    SourceMgr *sm = src_new();
    Diag *d = diag_new(sm, to_stderr, NULL);
    diag_set_plain(d, opt.diag_plain);
    diag_set_werror(d, opt.werror);
    int status = ndlc_drive(&opt, sm, d);
    if (status == 0 && diag_errors(d)) status = 1; /* -Werror */
    diag_free(d);
    src_free(sm);
    options_free(&opt);
    free(command);
    return status;
}
