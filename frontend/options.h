/* SPDX-License-Identifier: MIT
 * options.h - everything the command line can say (spec section 9), parsed by
 * options_parse() without side effects, so the driver and tests share one meaning.
 */
#ifndef NDLC_OPTIONS_H
#define NDLC_OPTIONS_H

#include "../ir/base.h"

typedef enum Command { CMD_COMPILE, CMD_RUN, CMD_IMPORT, CMD_VERSION, CMD_HELP, CMD_LIST_OPS,
                       CMD_SUBNETS } Command;

typedef enum EmitKind {
    EMIT_EXE, EMIT_C, EMIT_OBJ, EMIT_LLVM, EMIT_PTX, EMIT_CUDA, EMIT_IR, EMIT_JSON, EMIT_DOT,
    EMIT_AST, /* --dump-ast, for debugging the parser */
} EmitKind;

typedef struct Define {       /* -D NAME=VALUE */
    const char *name;
    const char *value;
} Define;

typedef struct ElasticSpace ElasticSpace;   /* subnets.h */

/* `ndlc subnets`: the search limits and what to print (subnets.c). */
typedef struct SubnetsOptions {
    double max_mmacs;         /* --max-mmacs M (required): millions of multiply-adds */
    double max_params;        /* --max-params P: stored parameters (0: no limit) */
    bool measure;             /* --measure: compile each front point and time it */
    int repeat;               /* --repeat N: timed runs per point (default 20) */
    bool json;                /* --json: JSON instead of the table */
    long budget;              /* --budget N: configurations evaluated at most (default 2000) */
    unsigned long seed;       /* --seed S: sampling and evolution (default 1) */
} SubnetsOptions;

typedef struct Options {
    Command cmd;
    const char *input;        /* the .ndl (or .onnx) file */
    const char *output;       /* -o */
    EmitKind emit;
    const char *backend;      /* c | llvm */
    const char *target;       /* cpu | cuda */
    const char *cpu;          /* --cpu */
    int opt_level;            /* -O0..3 */
    int threads;              /* --threads N: OpenMP threads in generated kernels (1: none) */
    int sparse;               /* --sparse: a SparseMode (backends/backend.h), 0 = auto */
    const char *weights;      /* --weights */
    VEC(Define) defines;      /* -D, in order */
    const char *subnet;       /* --subnet F.json */
    VEC(const char *) prunes; /* --prune P=SPEC */
    const char *share;        /* materialize | compressed */
    const char *hyper;        /* fold | init */
    bool external_weights;
    const char *model;        /* --model */
    const char *report;       /* --report F.json */
    bool depfile;             /* -MD */
    const char *depfile_path; /* -MF */
    const char *dump_after;   /* --dump-after PASS */
    const char *inputs;       /* run: --inputs */
    bool warn_unused_weights; /* -Wunused-weights */
    bool werror;              /* -Werror */
    bool diag_plain;          /* --diag-plain */
    bool verify_each;         /* --verify-each (default on) */
    const char *command;      /* the whole command line, for generated files' frontmatter */
    SubnetsOptions subnets;   /* `ndlc subnets` only */
    ElasticSpace *elastic_space; /* not an option: when set, elaboration records the model's
                                    elastic variables there (subnets.c) */
} Options;

/* Parses argv. On a usage error returns false with a message in err (exit status 2).
 * The Options must be released with options_free. */
bool options_parse(Options *o, int argc, char **argv, char *err, size_t errlen);
void options_free(Options *o);
const char *options_usage(void);

#endif
