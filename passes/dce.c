/* SPDX-License-Identifier: MIT
 * dce.c - dead code elimination: an op whose result no output needs is removed, and so
 * are the parameters only it used (they are then neither stored nor reported).
 * Ops have no side effects, so "unused" is the whole criterion.
 */
#include <stdlib.h>
#include "passes.h"

bool pass_dce(PassContext *cx)
{
    Module *m = cx->m;
    uint32_t *uses = ir_count_uses(m);
    for (OpId o = m->ops.n; o-- > 1;) {
        Op *op = &m->ops.v[o];
        if ((op->flags & OPF_DEAD) || uses[op->out]) continue;
        op->flags |= OPF_DEAD;
        for (unsigned i = 0; i < op->nin; i++) uses[ir_operand(m, op, i)]--;
    }
    free(uses);
    ir_compact(m);
    return true;
}
