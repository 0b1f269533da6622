/* SPDX-License-Identifier: MIT
 * subnets.h - `ndlc subnets` (subnets.c): search the configurations of a model's elastic
 * variables for the Pareto front of MACs vs parameters, and the description of those
 * variables that elaboration records for it (elastic.c). Private to frontend/.
 */
#ifndef NDLC_SUBNETS_H
#define NDLC_SUBNETS_H

#include "diag.h"
#include "options.h"

#define ELASTIC_MAX_CHOICES 64   /* values in one elastic set (elastic.c checks it) */

typedef struct ElasticVar {
    char *name;
    int64_t set[ELASTIC_MAX_CHOICES];   /* the declared choices, in declaration order */
    uint32_t nset;
    uint32_t len;            /* 0: `int`; n: `int[n]` */
    bool fixed;              /* given by -D or --subnet: not searched */
} ElasticVar;

/* Filled by elaborate_elastic when Options.elastic_space points to one: every elastic
 * variable of the model whose declaration is valid, in declaration order. */
struct ElasticSpace {
    VEC(ElasticVar) vars;
};

void elastic_space_free(ElasticSpace *s);

/* Runs `ndlc subnets FILE.ndl --max-mmacs M ...` and returns the exit status. */
int subnets_run(const Options *opt, SourceMgr *sm, Diag *d);

#endif
