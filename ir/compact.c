/* SPDX-License-Identifier: MIT
 * compact.c - ir_compact(): drops OPF_DEAD ops, values nothing uses and weights no
 * value refers to, and renumbers every id densely in the old order. The only place ids
 * change; passes call it at their end, never keep ids across it.
 */
#include <stdlib.h>
#include <string.h>
#include "ir.h"

void ir_compact(Module *m)
{
    uint32_t nv = m->values.n, no = m->ops.n, nw = m->weights.n;
    bool *live = xcalloc(nv, sizeof *live);
    for (uint32_t i = 0; i < m->inputs.n; i++) live[m->inputs.v[i].value] = true;
    for (uint32_t i = 0; i < m->outputs.n; i++) live[m->outputs.v[i].value] = true;
    for (OpId o = 1; o < no; o++) {
        const Op *op = &m->ops.v[o];
        if (op->flags & OPF_DEAD) continue;
        live[op->out] = true;
        for (unsigned i = 0; i < op->nin; i++) live[ir_operand(m, op, i)] = true;
    }
    live[0] = true;

    /* weights kept: those of live values, and the masks of those */
    bool *wlive = xcalloc(nw, sizeof *wlive);
    wlive[0] = true;
    for (ValueId v = 1; v < nv; v++)
        if (live[v] && (m->values.v[v].kind == VAL_PARAM || m->values.v[v].kind == VAL_CONST))
            wlive[m->values.v[v].weight] = true;
    for (WeightId w = 1; w < nw; w++)
        if (wlive[w] && m->weights.v[w].mask) wlive[m->weights.v[w].mask] = true;
    uint32_t *wmap = xcalloc(nw, sizeof *wmap), wn = 0;
    for (WeightId w = 0; w < nw; w++)
        if (wlive[w]) {
            wmap[w] = wn;
            m->weights.v[wn++] = m->weights.v[w];
        }
    m->weights.n = wn;
    for (WeightId w = 1; w < wn; w++) m->weights.v[w].mask = wmap[m->weights.v[w].mask];

    uint32_t *vmap = xcalloc(nv, sizeof *vmap), vn = 0;
    for (ValueId v = 0; v < nv; v++)
        if (live[v]) {
            vmap[v] = vn;
            m->values.v[vn] = m->values.v[v];
            if (m->values.v[vn].kind == VAL_PARAM || m->values.v[vn].kind == VAL_CONST)
                m->values.v[vn].weight = wmap[m->values.v[vn].weight];
            vn++;
        }
    m->values.n = vn;

    uint32_t *omap = xcalloc(no, sizeof *omap), on = 0;
    for (OpId o = 0; o < no; o++) {
        if (o && (m->ops.v[o].flags & OPF_DEAD)) continue;
        omap[o] = on;
        m->ops.v[on++] = m->ops.v[o];
    }
    m->ops.n = on;
    for (OpId o = 1; o < on; o++) {
        Op *op = &m->ops.v[o];
        op->out = vmap[op->out];
        op->group = op->group < no ? omap[op->group] : 0; /* a dead head: 0 (standalone) */
        for (unsigned i = 0; i < op->nin; i++) m->operands.v[op->in + i] = vmap[m->operands.v[op->in + i]];
    }
    for (ValueId v = 1; v < vn; v++)
        if (m->values.v[v].kind == VAL_RESULT) m->values.v[v].def = omap[m->values.v[v].def];
    for (uint32_t i = 0; i < m->inputs.n; i++) m->inputs.v[i].value = vmap[m->inputs.v[i].value];
    for (uint32_t i = 0; i < m->outputs.n; i++) m->outputs.v[i].value = vmap[m->outputs.v[i].value];
    free(live);
    free(wlive);
    free(wmap);
    free(vmap);
    free(omap);
}
