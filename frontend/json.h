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

/* The report of --emit json / --report: parameters, bytes and FLOPs per op and total.
 * Returns a malloc'd string. */
char *json_report(const Module *m);

#endif
