/* SPDX-License-Identifier: MIT
 * frontend.h - the compiler's entry points: elaborate an NDL model into IR, and run the
 * whole pipeline for one command line.
 */
#ifndef NDLC_FRONTEND_H
#define NDLC_FRONTEND_H

#include "ast.h"
#include "diag.h"
#include "options.h"
#include "../ir/ir.h"

/* Elaborates the model chosen by opt->model (or the only one) of a parsed file into IR,
 * with its weights bound. Returns NULL after reporting errors. Exit status 2 conditions
 * (several models and no --model) are reported through *usage_error. */
Module *lower_model(const Ast *ast, const SourceMgr *sm, uint32_t file, const Options *opt,
                    Diag *d, bool *usage_error);

/* Runs one command (compile, run, ...) and returns the process exit status
 * (0 ok, 1 diagnostics, 2 usage, 3 internal error). Diagnostics go to d's sink. */
int ndlc_drive(const Options *opt, SourceMgr *sm, Diag *d);
/* Removes the outputs the command line names (-o and the files derived from it, --report,
 * the depfile), regular files only and never an input: after a usage error. */
void ndlc_remove_outputs(const Options *opt);

#endif
