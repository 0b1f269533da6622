/* SPDX-License-Identifier: MIT
 * op.c - the tables derived from ops.def, attrs.def and dtypes.def, and name lookup.
 * Nothing here is written by hand per op: adding a row to a .def file is enough.
 */
#include <string.h>
#include "ir.h"

const OpInfo op_info[OP_COUNT] = {
#define A(k) ATTR_##k,
#define NOATTR
#define OP(E, nm, n, fl, ...)                                                            \
    [OP_##E] = {.name = #nm,                                                             \
                .nin = n,                                                                \
                .flags = fl,                                                             \
                .nattr = sizeof((AttrKey[]){__VA_ARGS__ ATTR_NONE}) / sizeof(AttrKey) - 1, \
                .attrs = {__VA_ARGS__}},
#include "ops.def"
#undef OP
#undef NOATTR
#undef A
};

const AttrInfo attr_info[ATTR_COUNT] = {
    [ATTR_NONE] = {"none", AK_INT},
#define ATTR(E, nm, kind) [ATTR_##E] = {#nm, kind},
#include "attrs.def"
#undef ATTR
};

const DTypeInfo dtype_info[DT_COUNT] = {
#define DT(E, nm, size, ctype, stname) [DT_##E] = {#nm, stname, size},
#include "dtypes.def"
#undef DT
};

int ir_op_lookup(const char *name)
{
    for (int k = 0; k < OP_COUNT; k++)
        if (strcmp(op_info[k].name, name) == 0) return k;
    return -1;
}

int ir_dtype_lookup(const char *name)
{
    for (int k = 0; k < DT_COUNT; k++)
        if (strcmp(dtype_info[k].name, name) == 0) return k;
    return -1;
}
