/* SPDX-License-Identifier: MIT
 * json.h - the frontend's JSON: --subnet configurations in, --report / --emit json out.
 * Only json.c includes cJSON.
 */
#ifndef NDLC_JSON_H
#define NDLC_JSON_H

#include "../ir/ir.h"

typedef struct SubnetEntry {
    const char *name;
    bool is_null;        /* "wid": null - ignored (OFA writes it) */
    bool is_list;
    bool not_int;        /* some value is not an integer */
    int64_t *v;
    uint32_t n;
} SubnetEntry;

/* Reads {"name": int | [int, ...] | null, ...}. On a malformed file returns false with
 * a message in err. Entries and their arrays live in arena a. */
bool json_read_subnet(const char *path, Arena *a, SubnetEntry **out, uint32_t *n, char *err,
                      size_t errlen);

/* The model's size after elaboration and after each pass: the report's "passes" list. */
typedef struct PassRecord {
    const char *pass;    /* "elaborate", then the pipeline's passes in order */
    double ops, params, param_bytes, flops, macs;
} PassRecord;
void json_pass_record(const Module *m, const char *pass, PassRecord *r);

/* The report of --emit json / --report: parameters, bytes, FLOPs and MACs per op and
 * total, sparsity (per tensor, and per layer the format chosen under --sparse mode
 * `sparse`, a SparseMode), the memory plan, the npasses records of `passes` (none when
 * 0), and with --emit ptx its launch plan as "ptx_launch_plan" (kernels, grids, buffers;
 * ptx NULL otherwise). Returns a malloc'd string. */
struct PtxPlan;
char *json_report(const Module *m, int sparse, const struct PtxPlan *ptx, const PassRecord *passes,
                  unsigned npasses);

/* Multiply-adds of one op, OFA's counting rule (ofa/utils/flops_counter.py): conv2d
 * out_numel * in/groups * kh * kw, linear out_numel * in, matmul out_numel * K, attention
 * its two products; bias adds, normalization and elementwise ops count 0. Symbolic sizes
 * count as 1 (batch 1). */
int64_t json_op_macs(const Module *m, const Op *op);

/* The totals of the report (what `ndlc subnets` ranks): stored parameters (elements and
 * bytes, every stored tensor once), MACs, FLOPs and the intermediates' arena in bytes at
 * each symbol's bound (1 when unbounded). */
typedef struct ModelStats {
    double params, param_bytes, macs, flops;
    double arena_bytes;
} ModelStats;
void json_model_stats(const Module *m, ModelStats *s);

#endif
