/* SPDX-License-Identifier: MIT
 * ast.c - storage for the NDL syntax tree, the builders the parser calls, and the
 * --dump-ast printer.
 *
 * Nodes live in Ast.nodes (AstId = index, 0 = none); child lists and strings live in the
 * arena, so ast_free releases everything at once. A pointer from ast_node() is valid
 * only until the next ast_new (the node array may move).
 */
#include "ast.h"

#include <stdlib.h>
#include <string.h>

#include "../ir/ir.h"

void ast_init(Ast *ast)
{
    memset(ast, 0, sizeof *ast);
    ast->arena = arena_new();
    AstNode none = {0};
    vec_push(ast->nodes, none);             /* slot 0: "no node" */
}

void ast_free(Ast *ast)
{
    arena_free(ast->arena);
    vec_free(ast->nodes);
    ast->arena = NULL;
    ast->root = 0;
}

AstId ast_new(Ast *ast, AstKind kind, Span span)
{
    AstNode n = {.kind = kind, .span = span};
    if (ast->nodes.n == UINT32_MAX) NDLC_ICE("too many AST nodes");
    vec_push(ast->nodes, n);
    return ast->nodes.n - 1;
}

void ast_list_push(Ast *ast, AstList *l, AstId id)
{
    if (l->n == l->cap) {
        /* Arrays come from the arena: the old one is simply abandoned. */
        uint32_t cap = l->cap ? l->cap * 2 : 4;
        if (cap < l->cap) NDLC_ICE("AST list overflow");
        AstId *v = arena_alloc(ast->arena, (size_t)cap * sizeof *v);
        if (l->n) memcpy(v, l->v, (size_t)l->n * sizeof *v);
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = id;
}

static const char *const kind_names[] = {
    [AST_NONE_] = "<none>",
    [AST_FILE] = "file",
    [AST_MODULE] = "module",
    [AST_MODEL] = "model",
    [AST_ARG_DECL] = "arg_decl",
    [AST_CT_TYPE] = "ct_type",
    [AST_TENSOR_TYPE] = "tensor_type",
    [AST_DIM_BOUND] = "dim_bound",
    [AST_INSTANCE] = "instance",
    [AST_PARAM] = "param",
    [AST_TIE] = "tie",
    [AST_PRUNE] = "prune",
    [AST_ELASTIC] = "elastic",
    [AST_INPUT] = "input",
    [AST_OUTPUT] = "output",
    [AST_WEIGHTS] = "weights",
    [AST_FORWARD] = "forward",
    [AST_BLOCK] = "block",
    [AST_LET] = "let",
    [AST_LET_TUPLE] = "let_tuple",
    [AST_ASSIGN] = "assign",
    [AST_RETURN] = "return",
    [AST_FOR] = "for",
    [AST_IF] = "if",
    [AST_NAME] = "name",
    [AST_INT] = "int",
    [AST_REAL] = "real",
    [AST_STRING] = "string",
    [AST_BOOL] = "bool",
    [AST_NONE] = "none",
    [AST_UNARY] = "unary",
    [AST_BINARY] = "binary",
    [AST_TERNARY] = "ternary",
    [AST_CALL] = "call",
    [AST_KWARG] = "kwarg",
    [AST_INDEX] = "index",
    [AST_SLICE] = "slice",
    [AST_MEMBER] = "member",
    [AST_LIST] = "list",
    [AST_SET] = "set",
    [AST_TUPLE] = "tuple",
    [AST_COMP] = "comp",
    [AST_RANGE] = "range",
};
_Static_assert(sizeof kind_names / sizeof *kind_names == AST_KIND_COUNT,
               "kind_names must name every AstKind");

const char *ast_kind_name(AstKind k)
{
    return (unsigned)k < AST_KIND_COUNT && kind_names[k] ? kind_names[k] : "<bad kind>";
}

/* ---- dump ------------------------------------------------------------------------
 * One node per line, two spaces of indent per level:
 *     [role: ]kind [detail] [@line:col]
 * The role labels the fields whose meaning the kind alone does not tell (an omitted
 * slice part, a default value); the location is printed when a SourceMgr is given. */

static const char *const bin_names[] = {
    [BIN_ADD] = "+", [BIN_SUB] = "-", [BIN_MUL] = "*", [BIN_DIV] = "/", [BIN_MOD] = "%",
    [BIN_EQ] = "==", [BIN_NE] = "!=", [BIN_LT] = "<", [BIN_LE] = "<=", [BIN_GT] = ">",
    [BIN_GE] = ">=", [BIN_AND] = "&&", [BIN_OR] = "||",
};
_Static_assert(sizeof bin_names / sizeof *bin_names == BIN_OR + 1, "bin_names");

static const char *const dtype_names[DT_COUNT] = {
#define DT(E, name, size, ctype, stname) [DT_##E] = #name,
#include "../ir/dtypes.def"
#undef DT
};

static const char *const ct_names[] = {
    [CT_INT] = "int", [CT_REAL] = "real", [CT_BOOL] = "bool", [CT_INT_LIST] = "int[]",
};

/* Roles of a, b, c, list and list2 per kind; NULL prints no label. */
typedef struct Roles {
    const char *a, *b, *c, *list, *list2;
} Roles;

static Roles roles_of(AstKind k)
{
    switch (k) {
    case AST_MODULE: return (Roles){.list = "arg"};
    case AST_ARG_DECL: return (Roles){.a = "type", .b = "default"};
    case AST_CT_TYPE: return (Roles){.a = "len"};
    case AST_DIM_BOUND: return (Roles){.a = "bound"};
    case AST_INSTANCE: return (Roles){.b = "from"};
    case AST_PARAM: return (Roles){.a = "type", .b = "init", .c = "from"};
    case AST_ELASTIC: return (Roles){.a = "type", .b = "default", .list = "choice"};
    case AST_FORWARD: return (Roles){.list = "param"};
    case AST_LET_TUPLE: return (Roles){.list = "target"};
    case AST_FOR: return (Roles){.a = "in"};
    case AST_IF: return (Roles){.a = "cond", .c = "else"};
    case AST_TERNARY: return (Roles){.a = "cond", .b = "then", .c = "else"};
    case AST_CALL: return (Roles){.a = "callee"};
    case AST_SLICE: return (Roles){.a = "start", .b = "stop", .c = "step"};
    case AST_COMP: return (Roles){.b = "in"};
    default: return (Roles){0};
    }
}

/* Shortest "%.*g" form that reads back as the same double. */
static void print_real(FILE *out, double v)
{
    char buf[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    fputs(buf, out);
}

static void print_string(FILE *out, const char *s, size_t n)
{
    fputc('"', out);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') fprintf(out, "\\%c", c);
        else if (c == '\n') fputs("\\n", out);
        else if (c < 0x20 || c == 0x7F) fprintf(out, "\\x%02X", c);
        else fputc(c, out);
    }
    fputc('"', out);
}

static void dump_node(const Ast *ast, const SourceMgr *sm, FILE *out, AstId id, int depth,
                      const char *role)
{
    if (!id) return;
    const AstNode *n = ast_node(ast, id);
    fprintf(out, "%*s", depth * 2, "");
    if (role) fprintf(out, "%s: ", role);
    fputs(ast_kind_name(n->kind), out);
    switch (n->kind) {
    case AST_CT_TYPE:
        if ((unsigned)n->op < sizeof ct_names / sizeof *ct_names) fprintf(out, " %s", ct_names[n->op]);
        break;
    case AST_TENSOR_TYPE:
        if ((unsigned)n->op < DT_COUNT) fprintf(out, " %s", dtype_names[n->op]);
        break;
    case AST_INT: fprintf(out, " %lld", (long long)n->ival); break;
    case AST_REAL: fputc(' ', out); print_real(out, n->rval); break;
    case AST_BOOL: fputs(n->ival ? " true" : " false", out); break;
    case AST_STRING: fputc(' ', out); print_string(out, n->str, n->slen); break;
    case AST_UNARY: fprintf(out, " %c", (char)n->op); break;
    case AST_BINARY:
        if ((unsigned)n->op <= BIN_OR) fprintf(out, " %s", bin_names[n->op]);
        break;
    case AST_FORWARD: if (n->ival) fputs(" bare", out); break;
    default:
        if (n->str) fprintf(out, " %s", n->str);
        break;
    }
    if (sm) {
        unsigned line, col;
        src_line_col(sm, n->span, &line, &col);
        fprintf(out, " @%u:%u", line, col);
    }
    fputc('\n', out);
    Roles r = roles_of(n->kind);
    /* Children: the parameter/choice lists read better before the body they govern. */
    if (n->kind == AST_FORWARD || n->kind == AST_MODULE || n->kind == AST_LET_TUPLE)
        for (uint32_t i = 0; i < n->list.n; i++)
            dump_node(ast, sm, out, n->list.v[i], depth + 1, r.list);
    dump_node(ast, sm, out, n->a, depth + 1, r.a);
    if (n->kind == AST_ELASTIC)
        for (uint32_t i = 0; i < n->list.n; i++)
            dump_node(ast, sm, out, n->list.v[i], depth + 1, r.list);
    dump_node(ast, sm, out, n->b, depth + 1, r.b);
    dump_node(ast, sm, out, n->c, depth + 1, r.c);
    if (n->kind != AST_FORWARD && n->kind != AST_MODULE && n->kind != AST_LET_TUPLE &&
        n->kind != AST_ELASTIC)
        for (uint32_t i = 0; i < n->list.n; i++)
            dump_node(ast, sm, out, n->list.v[i], depth + 1, r.list);
    for (uint32_t i = 0; i < n->list2.n; i++)
        dump_node(ast, sm, out, n->list2.v[i], depth + 1, r.list2);
}

void ast_dump(const Ast *ast, const SourceMgr *sm, FILE *out)
{
    dump_node(ast, sm, out, ast->root, 0, NULL);
}
