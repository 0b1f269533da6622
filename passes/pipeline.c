/* SPDX-License-Identifier: MIT
 * pipeline.c - the pass table (from passes.def), the default pipeline, and the loop
 * that runs passes with verification and dumps between them.
 */
#include <string.h>
#include "passes.h"

const Pass pass_table[] = {
#define PASS(nm, summary) {#nm, summary, pass_##nm},
#include "passes.def"
#undef PASS
};
const unsigned pass_count = sizeof pass_table / sizeof pass_table[0];

/* Read top to bottom: the order in which the compiler transforms a model. */
const char *const pipeline_default[] = {
    "hyper",  /* the init part (parameter expressions): shared once, or kept for create */
    "fold",   /* parameter expressions become plain weights (not --hyper init's) */
    "bnfold", /* needs fold: BatchNorm parameters may be expressions */
    "dce",    /* before prune: every remaining reader of a channel is real */
    "prune",  /* needs bnfold: a pruned conv's BatchNorm shift is then its bias */
    "fuse",   /* last: groups must survive no further rewriting */
};
const unsigned pipeline_default_len = sizeof pipeline_default / sizeof pipeline_default[0];

const Pass *pass_lookup(const char *name)
{
    for (unsigned i = 0; i < pass_count; i++)
        if (strcmp(pass_table[i].name, name) == 0) return &pass_table[i];
    return NULL;
}

bool pipeline_run(PassContext *cx, const char *const *names, unsigned n, bool verify,
                  const char *dump_after, FILE *dump_out, IrSpanFormatter *fmt, void *fmt_ud,
                  PassObserver *observe, void *observe_ud)
{
    char err[512];
    for (unsigned i = 0; i < n; i++) {
        const Pass *p = pass_lookup(names[i]);
        if (!p) NDLC_ICE("unknown pass '%s' in a pipeline", names[i]);
        if (!p->run(cx)) return false;
        if (verify && !ir_verify(cx->m, err, sizeof err)) {
            ir_print(cx->m, stderr, fmt, fmt_ud);
            NDLC_ICE("IR invalid after pass '%s': %s", p->name, err);
        }
        if (dump_after && strcmp(dump_after, p->name) == 0) ir_print(cx->m, dump_out, fmt, fmt_ud);
        if (observe) observe(cx->m, p->name, observe_ud);
    }
    return true;
}
