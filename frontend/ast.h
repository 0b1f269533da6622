/* SPDX-License-Identifier: MIT
 * ast.h - the syntax tree of an NDL file, built by grammar/ndl.y through ast_* calls.
 *
 * Nodes live in one array (AstId = index, 0 = none) and child lists in arena memory, so
 * the whole tree is freed by ast_free. The AST carries syntax only: names are not
 * resolved and nothing is evaluated (that is frontend/lower.c). Every node has the span
 * of the source text it came from. The field use of each kind is listed below.
 */
#ifndef NDLC_AST_H
#define NDLC_AST_H

#include <stdio.h>
#include "diag.h"

typedef uint32_t AstId;

typedef enum AstKind {
    AST_NONE_,          /* slot 0 */
    /* ---- top level ---------------------------------------------------------------- */
    AST_FILE,           /* list: AST_MODULE / AST_MODEL */
    AST_MODULE,         /* str: name; list: AST_ARG_DECL; list2: body items */
    AST_MODEL,          /* str: name; list2: body items */
    AST_ARG_DECL,       /* str: name; a: AST_CT_TYPE; b: default expr or 0 */
    AST_CT_TYPE,        /* op: CT_INT/CT_REAL/CT_BOOL/CT_INT_LIST; a: list length expr
                           (`int[4]` in elastic) or 0 */
    AST_TENSOR_TYPE,    /* op: DType (ir.h) of the dtype keyword; list: dims (exprs or
                           AST_DIM_BOUND) */
    AST_DIM_BOUND,      /* `N <= 64` in an input type: str: symbol; a: bound expr */
    /* ---- body items (module and model) -------------------------------------------- */
    AST_INSTANCE,       /* `name = expr [from "p"];` str: name; a: expr; b: AST_STRING or 0 */
    AST_PARAM,          /* `param name[: T] [= expr] [from "k"];` str; a: AST_TENSOR_TYPE or
                           0; b: init expr or 0; c: AST_STRING or 0 */
    AST_TIE,            /* `tie lhs = rhs;` a, b: exprs (member/index paths) */
    AST_PRUNE,          /* `prune "pattern" spec;` a: AST_STRING; b: spec expr (a call) */
    AST_ELASTIC,        /* `elastic name: T in {..} [= e];` str; a: AST_CT_TYPE; list:
                           choice exprs; b: default expr or 0 */
    AST_INPUT,          /* `input name: T;` str; a: AST_TENSOR_TYPE */
    AST_OUTPUT,         /* `output name[: T];` str; a: AST_TENSOR_TYPE or 0 */
    AST_WEIGHTS,        /* `weights "file";` a: AST_STRING */
    AST_FORWARD,        /* list: parameter names (AST_NAME); a: AST_BLOCK;
                           ival: 1 when written without parentheses (`forward { }`) */
    /* ---- statements ---------------------------------------------------------------- */
    AST_BLOCK,          /* list: statements */
    AST_LET,            /* `let name = e;` str; a: expr */
    AST_LET_TUPLE,      /* `let (a, b) = e;` list: AST_NAME targets; a: expr */
    AST_ASSIGN,         /* `name = e;` str; a: expr */
    AST_RETURN,         /* `return e;` or `return a, b;` a: expr (AST_TUPLE for several) */
    AST_FOR,            /* `for v in it { }` str: v; a: AST_RANGE or iterable expr;
                           b: AST_BLOCK */
    AST_IF,             /* a: condition; b: AST_BLOCK; c: else AST_BLOCK / AST_IF or 0 */
    /* ---- expressions ---------------------------------------------------------------- */
    AST_NAME,           /* str */
    AST_INT,            /* ival */
    AST_REAL,           /* rval */
    AST_STRING,         /* str (unescaped), slen */
    AST_BOOL,           /* ival 0/1 */
    AST_NONE,           /* `None` */
    AST_UNARY,          /* op: '-' or '!'; a */
    AST_BINARY,         /* op: BinOp; a, b */
    AST_TERNARY,        /* a ? b : c */
    AST_CALL,           /* a: callee expr; list: args (exprs, then AST_KWARG) */
    AST_KWARG,          /* str: keyword; a: value */
    AST_INDEX,          /* a: base; list: indices (expr, AST_SLICE or AST_NONE) */
    AST_SLICE,          /* `start:stop:step`, each part 0 when omitted: a, b, c */
    AST_MEMBER,         /* `base.name` or `base.0`: a: base; str: member */
    AST_LIST,           /* `[e, ...]` list */
    AST_SET,            /* `{e, ...}` (elastic choices) list */
    AST_TUPLE,          /* `(a, b)` list */
    AST_COMP,           /* `[e for v in it]` a: element; str: v; b: AST_RANGE or iterable */
    AST_RANGE,          /* `A..B` a, b */
    AST_KIND_COUNT
} AstKind;

typedef enum CtTypeKind { CT_INT, CT_REAL, CT_BOOL, CT_INT_LIST } CtTypeKind;

typedef enum BinOp {
    BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV, BIN_MOD,
    BIN_EQ, BIN_NE, BIN_LT, BIN_LE, BIN_GT, BIN_GE,
    BIN_AND, BIN_OR,
} BinOp;

typedef struct AstList {
    AstId *v;
    uint32_t n, cap;
} AstList;

typedef struct AstNode {
    AstKind kind;
    int op;               /* operator / dtype / CtTypeKind, per kind */
    Span span;
    const char *str;      /* identifier, keyword argument name or string contents */
    size_t slen;          /* length of str (NUL-terminated as well) */
    int64_t ival;
    double rval;
    AstId a, b, c;
    AstList list, list2;
} AstNode;

typedef struct Ast {
    Arena *arena;
    VEC(AstNode) nodes;   /* nodes.v[0] unused */
    AstId root;           /* AST_FILE */
} Ast;

void ast_init(Ast *ast);
void ast_free(Ast *ast);
static inline AstNode *ast_node(const Ast *ast, AstId id) { return &ast->nodes.v[id]; }

/* Builders used by the parser actions. */
AstId ast_new(Ast *ast, AstKind kind, Span span);
void ast_list_push(Ast *ast, AstList *l, AstId id);
const char *ast_kind_name(AstKind k);
/* Prints the tree (--dump-ast), one node per line, indented. */
void ast_dump(const Ast *ast, const SourceMgr *sm, FILE *out);

/* grammar/parse.c: parses one file into ast (ast->root set even on errors, possibly
 * partial). Syntax errors go to d as "expected X before Y" at the offending token; the
 * parser recovers at ';' and '}' to report several. Returns false if any error. */
bool parse_file(Ast *ast, const SourceMgr *sm, uint32_t file, Diag *d);

#endif
