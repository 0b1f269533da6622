/* SPDX-License-Identifier: MIT
 * ndl.y - the NDL grammar (spec sections 2-8): a pure, reentrant bison parser whose
 * actions only build AST nodes (frontend/ast.h); names are not resolved and nothing is
 * evaluated here (that is frontend/lower.c).
 *
 * Locations are byte Spans; YYLLOC_DEFAULT merges them, so every node spans its whole
 * source text. Syntax errors are reported through the Diag as "expected X before Y"
 * (yyreport_syntax_error below); `error ';'` / `error '}'` rules at statement and
 * body-item level, and a top-level `error` rule, let one run report several errors.
 */

%require "3.8"
%define api.pure full
%locations
%define api.location.type {Span}
%define api.token.prefix {TOK_}
%define api.value.type union
%define parse.error custom
%define parse.lac full
%define parse.trace
%expect 0

%parse-param {yyscan_t scanner} {Parser *p}
%lex-param {yyscan_t scanner}

%code top {
/* Tracing (%define parse.trace) is compiled in only with -DNDLC_YYDEBUG; it is then
 * switched on at run time by the environment variable NDLC_YYDEBUG=1 (grammar/parse.c,
 * which repeats this block so that both files agree on YYDEBUG). */
#ifndef YYDEBUG
#ifdef NDLC_YYDEBUG
#define YYDEBUG 1
#else
#define YYDEBUG 0
#endif
#endif
}

%code requires {
#include "frontend/ast.h"

#ifndef YY_TYPEDEF_YY_SCANNER_T
#define YY_TYPEDEF_YY_SCANNER_T
typedef void *yyscan_t;
#endif

/* A string literal's unescaped contents (may contain NUL bytes). */
typedef struct StrLit {
    const char *s;
    size_t n;
} StrLit;

/* The scanner's state (flex extra data). */
typedef struct Lexer {
    Ast *ast;               /* its arena holds identifiers and string contents */
    Diag *diag;
    uint32_t file;
    uint32_t off;           /* byte offset of the next token */
    uint32_t last_end;      /* end offset of the last token returned: where EOF is shown */
    bool after_dot;         /* the last token was '.': "a.0.1" is a member path */
} Lexer;

/* The parser's state (bison parse-param). */
typedef struct Parser {
    Ast *ast;
    Diag *diag;
    uint32_t file;
    const char *text;       /* the file's text, to quote the offending token */
    size_t len;
    VEC(uint32_t) depth;    /* height of the subtree under each AstId (see node()) */
    bool too_deep;          /* the nesting limit was reported */
} Parser;

/* Every pass over the tree (ast_dump, lower.c) recurses, so the parser refuses trees
 * higher than this: no input can exhaust the C stack later. Real programs stay < 50. */
#define NDL_MAX_DEPTH 1000

/* Span merging: a rule's span runs from its first symbol's start to its last symbol's
 * end, skipping empty symbols at either end (so the slice `:` in `x[1, :]` starts at the
 * ':'); an empty rule gets an empty span at the end of the preceding symbol. */
#define YYLLOC_DEFAULT(Cur, Rhs, N)                                                      \
    do {                                                                                 \
        if (N) {                                                                         \
            int f_ = 1, l_ = (N);                                                        \
            while (f_ < (N) && YYRHSLOC(Rhs, f_).len == 0) f_++;                         \
            while (l_ > f_ && YYRHSLOC(Rhs, l_).len == 0) l_--;                          \
            (Cur).file = YYRHSLOC(Rhs, f_).file;                                         \
            (Cur).off = YYRHSLOC(Rhs, f_).off;                                           \
            (Cur).len = YYRHSLOC(Rhs, l_).off + YYRHSLOC(Rhs, l_).len - (Cur).off;       \
        } else {                                                                         \
            (Cur).file = YYRHSLOC(Rhs, 0).file;                                          \
            (Cur).off = YYRHSLOC(Rhs, 0).off + YYRHSLOC(Rhs, 0).len;                     \
            (Cur).len = 0;                                                               \
        }                                                                                \
    } while (0)
}

%code provides {
int yylex(YYSTYPE *yylval_param, YYLTYPE *yylloc_param, yyscan_t yyscanner);
}

%code {
#include <string.h>
#include "ir/ir.h"

static void yyerror(const YYLTYPE *loc, yyscan_t scanner, Parser *p, const char *msg);

/* Traces show a location as its byte range. */
#define YYLOCATION_PRINT(File, Loc) \
    fprintf(File, "%u..%u", (unsigned)(Loc)->off, (unsigned)((Loc)->off + (Loc)->len))

#define NOLIST ((AstList){0})

/* The one general builder: every action is a call to it or to a thin wrapper. */
static uint32_t depth_of(const Parser *p, AstId id)
{
    return id < p->depth.n ? p->depth.v[id] : 0;
}

/* Records the height of node id's subtree; reports (once) a tree nested too deeply. */
static void check_depth(Parser *p, AstId id)
{
    const AstNode *n = ast_node(p->ast, id);
    uint32_t d = depth_of(p, n->a);
    if (depth_of(p, n->b) > d) d = depth_of(p, n->b);
    if (depth_of(p, n->c) > d) d = depth_of(p, n->c);
    for (uint32_t i = 0; i < n->list.n; i++)
        if (depth_of(p, n->list.v[i]) > d) d = depth_of(p, n->list.v[i]);
    d++;
    vec_reserve(p->depth, id + 1);
    while (p->depth.n <= id) p->depth.v[p->depth.n++] = 0;
    p->depth.v[id] = d;
    if (d > NDL_MAX_DEPTH && !p->too_deep) {
        p->too_deep = true;
        diag_error(p->diag, n->span, "%s nested too deeply (the limit is %d levels)",
                   n->kind >= AST_NAME ? "expression" : "statement", NDL_MAX_DEPTH);
    }
}

static AstId node(Parser *p, AstKind k, Span s, const char *str, AstId a, AstId b, AstId c,
                  AstList list)
{
    AstId id = ast_new(p->ast, k, s);
    AstNode *n = ast_node(p->ast, id);
    n->str = str;
    n->slen = str ? strlen(str) : 0;
    n->a = a;
    n->b = b;
    n->c = c;
    n->list = list;
    check_depth(p, id);
    return id;
}

static AstId leaf(Parser *p, AstKind k, Span s, const char *str)
{
    return node(p, k, s, str, 0, 0, 0, NOLIST);
}

static AstId op_node(Parser *p, AstKind k, int op, Span s, AstId a, AstId b)
{
    AstId id = node(p, k, s, NULL, a, b, 0, NOLIST);
    ast_node(p->ast, id)->op = op;
    return id;
}

static AstId int_node(Parser *p, AstKind k, Span s, int64_t v)
{
    AstId id = leaf(p, k, s, NULL);
    ast_node(p->ast, id)->ival = v;
    return id;
}

static AstId real_node(Parser *p, Span s, double v)
{
    AstId id = leaf(p, AST_REAL, s, NULL);
    ast_node(p->ast, id)->rval = v;
    return id;
}

static AstId string_node(Parser *p, Span s, StrLit lit)
{
    AstId id = leaf(p, AST_STRING, s, lit.s);
    ast_node(p->ast, id)->slen = lit.n;
    return id;
}

static AstList list1(Parser *p, AstId id)
{
    AstList l = {0};
    ast_list_push(p->ast, &l, id);
    return l;
}

static AstList push(Parser *p, AstList l, AstId id)
{
    ast_list_push(p->ast, &l, id);
    return l;
}

/* `a.0`: the member is the index's decimal spelling, as in a state_dict key. */
static AstId member_index(Parser *p, Span s, AstId base, int64_t i)
{
    return node(p, AST_MEMBER, s, arena_printf(p->ast->arena, "%lld", (long long)i), base, 0,
                0, NOLIST);
}

/* A tensor type; a dimension written `N <= 64` becomes AST_DIM_BOUND. */
static AstId tensor_type(Parser *p, Span s, DType dt, AstList dims)
{
    for (uint32_t i = 0; i < dims.n; i++) {
        const AstNode *d = ast_node(p->ast, dims.v[i]);
        if (d->kind != AST_BINARY || d->op != BIN_LE) continue;
        const AstNode *sym = ast_node(p->ast, d->a);
        if (sym->kind != AST_NAME) continue;
        Span ds = d->span;
        const char *name = sym->str;
        AstId bound = d->b;
        dims.v[i] = node(p, AST_DIM_BOUND, ds, name, bound, 0, 0, NOLIST);
    }
    AstId id = node(p, AST_TENSOR_TYPE, s, NULL, 0, 0, 0, dims);
    ast_node(p->ast, id)->op = (int)dt;
    return id;
}

/* `return a;` returns the expression, `return a, b;` a tuple spanning the list. */
static AstId tuple_or_single(Parser *p, Span s, AstList l)
{
    return l.n == 1 ? l.v[0] : node(p, AST_TUPLE, s, NULL, 0, 0, 0, l);
}

static AstId forward_node(Parser *p, Span s, AstList params, AstId body, int bare)
{
    AstId id = node(p, AST_FORWARD, s, NULL, body, 0, 0, params);
    ast_node(p->ast, id)->ival = bare;
    return id;
}

static AstId module_node(Parser *p, AstKind k, Span s, const char *name, AstList args,
                         AstList items)
{
    AstId id = node(p, k, s, name, 0, 0, 0, args);
    ast_node(p->ast, id)->list2 = items;
    return id;
}

/* Top-level items go straight into the AST_FILE made by parse_file, so that the tree
 * keeps every complete module even when the parse is abandoned later. */
static void add_top(Parser *p, AstId id)
{
    ast_list_push(p->ast, &ast_node(p->ast, p->ast->root)->list, id);
}
}

%initial-action { @$ = (Span){p->file, 0, 0}; }

/* Token order matters: it is the order of the alternatives in "expected X, Y or Z". */
%token ';' ',' ')' ']' '}' ':' '=' '{' '(' '[' '.'
%token <const char *> IDENT "identifier"
%token <int64_t> INT_LIT "integer"
%token <double> REAL_LIT "real number"
%token <StrLit> STRING "string"
%token MODULE "module" MODEL "model" FORWARD "forward" RETURN "return" PARAM "param"
       ELASTIC "elastic" FOR "for" IN "in" IF "if" ELSE "else" LET "let" TIE "tie"
       PRUNE "prune" WEIGHTS "weights" INPUT "input" OUTPUT "output" FROM "from"
       TRUE "true" FALSE "false" NONE "None"
       KW_INT "int" KW_REAL "real" KW_BOOL "bool"
       F32 "f32" F16 "f16" BF16 "bf16" I32 "i32" I64 "i64"
%token DOTDOT ".." EQ "==" NE "!=" LE "<=" GE ">=" AND "&&" OR "||"

%right '?' ':'
%left OR
%left AND
%nonassoc EQ NE '<' LE '>' GE
%left '+' '-'
%left '*' '/' '%'
%precedence UNARY

%nterm <AstId> top item stmt if_stmt block arg_decl ct_type tensor_type
%nterm <int> dtype_kw
%nterm <AstId> expr postfix primary iter index slice opt_expr arg default_opt from_opt
%nterm <AstList> arg_decls args args_opt exprs names names_opt indices items body
%nterm <AstList> stmts dims_opt
%nterm <const char *> kw_name

%printer { fprintf(yyo, "%s", $$); } <const char *>
%printer { fprintf(yyo, "%lld", (long long)$$); } <int64_t>
%printer { fprintf(yyo, "%g", $$); } <double>
%printer { fprintf(yyo, "\"%.*s\"", (int)$$.n, $$.s); } <StrLit>
%printer { fprintf(yyo, "#%u", (unsigned)$$); } <AstId>

%%

file:
    %empty
  | file top
;

top:
    MODULE IDENT '(' arg_decls ')' body { $$ = module_node(p, AST_MODULE, @$, $2, $4, $6); add_top(p, $$); }
  | MODULE IDENT '(' ')' body           { $$ = module_node(p, AST_MODULE, @$, $2, NOLIST, $5); add_top(p, $$); }
  | MODULE IDENT body                   { $$ = module_node(p, AST_MODULE, @$, $2, NOLIST, $3); add_top(p, $$); }
  | MODEL IDENT body                    { $$ = module_node(p, AST_MODEL, @$, $2, NOLIST, $3); add_top(p, $$); }
  | error                               { $$ = 0; }
;

arg_decls:
    arg_decl                     { $$ = list1(p, $1); }
  | arg_decls ',' arg_decl       { $$ = push(p, $1, $3); }
;

arg_decl:
    IDENT ':' ct_type default_opt { $$ = node(p, AST_ARG_DECL, @$, $1, $3, $4, 0, NOLIST); }
;

ct_type:
    KW_INT                       { $$ = op_node(p, AST_CT_TYPE, CT_INT, @$, 0, 0); }
  | KW_REAL                      { $$ = op_node(p, AST_CT_TYPE, CT_REAL, @$, 0, 0); }
  | KW_BOOL                      { $$ = op_node(p, AST_CT_TYPE, CT_BOOL, @$, 0, 0); }
  | KW_INT '[' ']'               { $$ = op_node(p, AST_CT_TYPE, CT_INT_LIST, @$, 0, 0); }
  | KW_INT '[' expr ']'          { $$ = op_node(p, AST_CT_TYPE, CT_INT_LIST, @$, $3, 0); }
;

tensor_type:
    dtype_kw '[' dims_opt ']'    { $$ = tensor_type(p, @$, (DType)$1, $3); }
;

/* The DType is carried in the AstId-typed value (a small integer, not a node). */
dtype_kw:
    F32                          { $$ = DT_F32; }
  | F16                          { $$ = DT_F16; }
  | BF16                         { $$ = DT_BF16; }
  | I32                          { $$ = DT_I32; }
  | I64                          { $$ = DT_I64; }
  | KW_BOOL                      { $$ = DT_BOOL; }
;

dims_opt:
    %empty                       { $$ = NOLIST; }
  | exprs                        { $$ = $1; }
  | exprs ','                    { $$ = $1; }
;

body:
    '{' items '}'                { $$ = $2; }
  | '{' items error '}'          { $$ = $2; }
;

items:
    %empty                       { $$ = NOLIST; }
  | items item                   { $$ = $2 ? push(p, $1, $2) : $1; }
;

item:
    IDENT '=' expr from_opt ';'  { $$ = node(p, AST_INSTANCE, @$, $1, $3, $4, 0, NOLIST); }
  | PARAM IDENT ':' tensor_type default_opt from_opt ';'
                                 { $$ = node(p, AST_PARAM, @$, $2, $4, $5, $6, NOLIST); }
  | PARAM IDENT '=' expr from_opt ';'
                                 { $$ = node(p, AST_PARAM, @$, $2, 0, $4, $5, NOLIST); }
  | TIE postfix '=' postfix ';'  { $$ = node(p, AST_TIE, @$, NULL, $2, $4, 0, NOLIST); }
  | PRUNE STRING expr ';'        { $$ = node(p, AST_PRUNE, @$, NULL, string_node(p, @2, $2), $3, 0, NOLIST); }
  | ELASTIC IDENT ':' ct_type IN '{' exprs '}' default_opt ';'
                                 { $$ = node(p, AST_ELASTIC, @$, $2, $4, $9, 0, $7); }
  | ELASTIC IDENT ':' ct_type IN '{' exprs ',' '}' default_opt ';'
                                 { $$ = node(p, AST_ELASTIC, @$, $2, $4, $10, 0, $7); }
  | INPUT IDENT ':' tensor_type ';'
                                 { $$ = node(p, AST_INPUT, @$, $2, $4, 0, 0, NOLIST); }
  | OUTPUT IDENT ';'             { $$ = node(p, AST_OUTPUT, @$, $2, 0, 0, 0, NOLIST); }
  | OUTPUT IDENT ':' tensor_type ';'
                                 { $$ = node(p, AST_OUTPUT, @$, $2, $4, 0, 0, NOLIST); }
  | WEIGHTS STRING ';'           { $$ = node(p, AST_WEIGHTS, @$, NULL, string_node(p, @2, $2), 0, 0, NOLIST); }
  | FORWARD '(' names_opt ')' block { $$ = forward_node(p, @$, $3, $5, 0); }
  | FORWARD block                { $$ = forward_node(p, @$, NOLIST, $2, 1); }
  | error ';'                    { $$ = 0; }
;

default_opt:
    %empty                       { $$ = 0; }
  | '=' expr                     { $$ = $2; }
;

from_opt:
    %empty                       { $$ = 0; }
  | FROM STRING                  { $$ = string_node(p, @2, $2); }
;

names_opt:
    %empty                       { $$ = NOLIST; }
  | names                        { $$ = $1; }
;

names:
    IDENT                        { $$ = list1(p, leaf(p, AST_NAME, @1, $1)); }
  | names ',' IDENT              { $$ = push(p, $1, leaf(p, AST_NAME, @3, $3)); }
;

/* ---- statements ---------------------------------------------------------------- */
block:
    '{' stmts '}'                { $$ = node(p, AST_BLOCK, @$, NULL, 0, 0, 0, $2); }
  | '{' stmts error '}'          { $$ = node(p, AST_BLOCK, @$, NULL, 0, 0, 0, $2); }
;

stmts:
    %empty                       { $$ = NOLIST; }
  | stmts stmt                   { $$ = $2 ? push(p, $1, $2) : $1; }
;

stmt:
    LET IDENT '=' expr ';'       { $$ = node(p, AST_LET, @$, $2, $4, 0, 0, NOLIST); }
  | LET '(' names ')' '=' expr ';' { $$ = node(p, AST_LET_TUPLE, @$, NULL, $6, 0, 0, $3); }
  | IDENT '=' expr ';'           { $$ = node(p, AST_ASSIGN, @$, $1, $3, 0, 0, NOLIST); }
  | RETURN exprs ';'             { $$ = node(p, AST_RETURN, @$, NULL, tuple_or_single(p, @2, $2), 0, 0, NOLIST); }
  | FOR IDENT IN iter block      { $$ = node(p, AST_FOR, @$, $2, $4, $5, 0, NOLIST); }
  | if_stmt                      { $$ = $1; }
  | error ';'                    { $$ = 0; }
;

if_stmt:
    IF expr block                { $$ = node(p, AST_IF, @$, NULL, $2, $3, 0, NOLIST); }
  | IF expr block ELSE block     { $$ = node(p, AST_IF, @$, NULL, $2, $3, $5, NOLIST); }
  | IF expr block ELSE if_stmt   { $$ = node(p, AST_IF, @$, NULL, $2, $3, $5, NOLIST); }
;

iter:
    expr                         { $$ = $1; }
  | expr DOTDOT expr             { $$ = node(p, AST_RANGE, @$, NULL, $1, $3, 0, NOLIST); }
;

/* ---- expressions --------------------------------------------------------------- */
expr:
    expr '?' expr ':' expr       { $$ = node(p, AST_TERNARY, @$, NULL, $1, $3, $5, NOLIST); }
  | expr OR expr                 { $$ = op_node(p, AST_BINARY, BIN_OR, @$, $1, $3); }
  | expr AND expr                { $$ = op_node(p, AST_BINARY, BIN_AND, @$, $1, $3); }
  | expr EQ expr                 { $$ = op_node(p, AST_BINARY, BIN_EQ, @$, $1, $3); }
  | expr NE expr                 { $$ = op_node(p, AST_BINARY, BIN_NE, @$, $1, $3); }
  | expr '<' expr                { $$ = op_node(p, AST_BINARY, BIN_LT, @$, $1, $3); }
  | expr LE expr                 { $$ = op_node(p, AST_BINARY, BIN_LE, @$, $1, $3); }
  | expr '>' expr                { $$ = op_node(p, AST_BINARY, BIN_GT, @$, $1, $3); }
  | expr GE expr                 { $$ = op_node(p, AST_BINARY, BIN_GE, @$, $1, $3); }
  | expr '+' expr                { $$ = op_node(p, AST_BINARY, BIN_ADD, @$, $1, $3); }
  | expr '-' expr                { $$ = op_node(p, AST_BINARY, BIN_SUB, @$, $1, $3); }
  | expr '*' expr                { $$ = op_node(p, AST_BINARY, BIN_MUL, @$, $1, $3); }
  | expr '/' expr                { $$ = op_node(p, AST_BINARY, BIN_DIV, @$, $1, $3); }
  | expr '%' expr                { $$ = op_node(p, AST_BINARY, BIN_MOD, @$, $1, $3); }
  | '-' expr %prec UNARY         { $$ = op_node(p, AST_UNARY, '-', @$, $2, 0); }
  | '!' expr %prec UNARY         { $$ = op_node(p, AST_UNARY, '!', @$, $2, 0); }
  | postfix                      { $$ = $1; }
;

postfix:
    primary                      { $$ = $1; }
  | postfix '(' args_opt ')'     { $$ = node(p, AST_CALL, @$, NULL, $1, 0, 0, $3); }
  | postfix '[' indices ']'      { $$ = node(p, AST_INDEX, @$, NULL, $1, 0, 0, $3); }
  | postfix '.' IDENT            { $$ = node(p, AST_MEMBER, @$, $3, $1, 0, 0, NOLIST); }
  | postfix '.' INT_LIT          { $$ = member_index(p, @$, $1, $3); }
;

primary:
    IDENT                        { $$ = leaf(p, AST_NAME, @$, $1); }
  | kw_name                      { $$ = leaf(p, AST_NAME, @$, $1); }
  | INT_LIT                      { $$ = int_node(p, AST_INT, @$, $1); }
  | REAL_LIT                     { $$ = real_node(p, @$, $1); }
  | STRING                       { $$ = string_node(p, @$, $1); }
  | TRUE                         { $$ = int_node(p, AST_BOOL, @$, 1); }
  | FALSE                        { $$ = int_node(p, AST_BOOL, @$, 0); }
  | NONE                         { $$ = leaf(p, AST_NONE, @$, NULL); }
  | '[' ']'                      { $$ = node(p, AST_LIST, @$, NULL, 0, 0, 0, NOLIST); }
  | '[' exprs ']'                { $$ = node(p, AST_LIST, @$, NULL, 0, 0, 0, $2); }
  | '[' exprs ',' ']'            { $$ = node(p, AST_LIST, @$, NULL, 0, 0, 0, $2); }
  | '[' expr FOR IDENT IN iter ']' { $$ = node(p, AST_COMP, @$, $4, $2, $6, 0, NOLIST); }
  | '(' expr ')'                 { $$ = $2; }
  | '(' exprs ',' expr ')'       { $$ = node(p, AST_TUPLE, @$, NULL, 0, 0, 0, push(p, $2, $4)); }
  | '(' exprs ',' ')'            { $$ = node(p, AST_TUPLE, @$, NULL, 0, 0, 0, $2); }
;

/* Type keywords used as values: `cast(x, f16)`, `int(v)`. */
kw_name:
    F32 { $$ = "f32"; } | F16 { $$ = "f16"; } | BF16 { $$ = "bf16"; } | I32 { $$ = "i32"; }
  | I64 { $$ = "i64"; } | KW_BOOL { $$ = "bool"; } | KW_INT { $$ = "int"; }
  | KW_REAL { $$ = "real"; }
;

exprs:
    expr                         { $$ = list1(p, $1); }
  | exprs ',' expr               { $$ = push(p, $1, $3); }
;

args_opt:
    %empty                       { $$ = NOLIST; }
  | args                         { $$ = $1; }
  | args ','                     { $$ = $1; }
;

args:
    arg                          { $$ = list1(p, $1); }
  | args ',' arg                 { $$ = push(p, $1, $3); }
;

arg:
    expr                         { $$ = $1; }
  | IDENT '=' expr               { $$ = node(p, AST_KWARG, @$, $1, $3, 0, 0, NOLIST); }
    /* PyTorch's constructors name their first argument `in` (Linear(in = 8, ...)) */
  | IN '=' expr                  { $$ = node(p, AST_KWARG, @$, "in", $3, 0, 0, NOLIST); }
;

indices:
    index                        { $$ = list1(p, $1); }
  | indices ',' index            { $$ = push(p, $1, $3); }
;

index:
    expr                         { $$ = $1; }
  | slice                        { $$ = $1; }
;

slice:
    opt_expr ':' opt_expr        { $$ = node(p, AST_SLICE, @$, NULL, $1, $3, 0, NOLIST); }
  | opt_expr ':' opt_expr ':' opt_expr { $$ = node(p, AST_SLICE, @$, NULL, $1, $3, $5, NOLIST); }
;

opt_expr:
    %empty                       { $$ = 0; }
  | expr                         { $$ = $1; }
;

%%

static void yyerror(const YYLTYPE *loc, yyscan_t scanner, Parser *p, const char *msg)
{
    (void)scanner;
    /* Bison calls this only when its stacks exceed YYMAXDEPTH. */
    if (strcmp(msg, "memory exhausted") == 0)
        diag_error(p->diag, *loc, "nesting too deep (the parser's stack is exhausted)");
    else
        diag_error(p->diag, *loc, "%s", msg);
}

/* ---- "expected X, Y or Z before T" ---------------------------------------------- */

/* How a token is named in a message: 'module', ';', '==', identifier, end of file.
 * (yysymbol_name gives string aliases without quotes and characters as ';'.) */
static const char *sym_display(yysymbol_kind_t k, char *buf, size_t len)
{
    switch (k) {
    case YYSYMBOL_YYEOF: return "end of file";
    case YYSYMBOL_IDENT: return "identifier";
    case YYSYMBOL_INT_LIT: return "integer";
    case YYSYMBOL_REAL_LIT: return "real number";
    case YYSYMBOL_STRING: return "string";
    default: break;
    }
    const char *name = yysymbol_name(k);
    if (name[0] == '\'') return name;
    snprintf(buf, len, "'%s'", name);
    return buf;
}

/* The character of a single-character token ('(' -> '('), or 0. */
static char sym_char(yysymbol_kind_t k)
{
    const char *name = yysymbol_name(k);
    return name[0] == '\'' && name[1] && name[2] == '\'' ? name[1] : 0;
}

/* Tokens that can start an expression: listed together as "expression". */
static bool starts_expr(yysymbol_kind_t k)
{
    switch (k) {
    case YYSYMBOL_IDENT: case YYSYMBOL_INT_LIT: case YYSYMBOL_REAL_LIT:
    case YYSYMBOL_STRING: case YYSYMBOL_TRUE: case YYSYMBOL_FALSE: case YYSYMBOL_NONE:
    case YYSYMBOL_KW_INT: case YYSYMBOL_KW_REAL: case YYSYMBOL_KW_BOOL:
    case YYSYMBOL_F32: case YYSYMBOL_F16: case YYSYMBOL_BF16: case YYSYMBOL_I32:
    case YYSYMBOL_I64:
        return true;
    default: {
        char c = sym_char(k);
        return c && strchr("([-!", c);
    }
    }
}

/* The dtype keywords of a tensor type, listed together as "tensor type". */
static bool is_dtype(yysymbol_kind_t k)
{
    return k == YYSYMBOL_F32 || k == YYSYMBOL_F16 || k == YYSYMBOL_BF16 || k == YYSYMBOL_I32 ||
           k == YYSYMBOL_I64 || k == YYSYMBOL_KW_BOOL;
}

/* Tokens that would only continue what stands before the error (an operator, a call,
 * an index, a member, an optional `from`): left out of a long list, so that a missing
 * ';' reads "expected ';' before 'forward'". */
static bool continues(yysymbol_kind_t k)
{
    switch (k) {
    case YYSYMBOL_EQ: case YYSYMBOL_NE: case YYSYMBOL_LE: case YYSYMBOL_GE:
    case YYSYMBOL_AND: case YYSYMBOL_OR: case YYSYMBOL_FROM:
        return true;
    default: {
        char c = sym_char(k);
        return c && strchr("([.?<>+-*/%", c);
    }
    }
}

/* The end of the token before byte `off`, skipping whitespace and comments backwards:
 * where GCC and Clang put "expected ';' before ..." (right after what is there). */
static size_t prev_token_end(const Parser *p, size_t off)
{
    const char *t = p->text;
    for (;;) {
        while (off > 0 && (t[off - 1] == ' ' || t[off - 1] == '\t' || t[off - 1] == '\n' || t[off - 1] == '\r'))
            off--;
        if (off >= 2 && t[off - 1] == '/' && t[off - 2] == '*') { /* the end of a block comment */
            size_t k = off - 2;
            while (k >= 2 && !(t[k - 2] == '/' && t[k - 1] == '*')) k--;
            if (k < 2) return off;
            off = k - 2;
            continue;
        }
        /* a line comment on this line: '#' or '//' outside a string */
        size_t bol = off;
        while (bol > 0 && t[bol - 1] != '\n') bol--;
        bool in_str = false;
        size_t cstart = off;
        for (size_t k = bol; k < off; k++) {
            if (t[k] == '"' && (k == bol || t[k - 1] != '\\')) in_str = !in_str;
            if (!in_str && (t[k] == '#' || (t[k] == '/' && k + 1 < off && t[k + 1] == '/'))) {
                cstart = k;
                break;
            }
        }
        if (cstart == off) return off;
        off = cstart;
    }
}

static int yyreport_syntax_error(const yypcontext_t *ctx, yyscan_t scanner, Parser *p)
{
    (void)scanner;
    if (diag_full(p->diag)) return 0;
    yysymbol_kind_t exp[YYNTOKENS];
    int n = yypcontext_expected_tokens(ctx, exp, YYNTOKENS);
    if (n < 0) return n;                   /* LAC ran out of memory */

    /* Expression starters collapse into one "expression" entry; a long list loses the
     * tokens that only continue the construct before the error; at the end of the file,
     * the missing closing brackets are what matters. "end of file" comes last. */
    bool has_ident = false, has_int = false, has_closer = false;
    for (int i = 0; i < n; i++) {
        has_ident |= exp[i] == YYSYMBOL_IDENT;
        has_int |= exp[i] == YYSYMBOL_INT_LIT;
        char c = sym_char(exp[i]);
        has_closer |= c && strchr(")]}", c);
    }
    bool collapse = has_ident && has_int;
    bool closers_only = n > 3 && has_closer && yypcontext_token(ctx) == YYSYMBOL_YYEOF;
    const char *names[YYNTOKENS + 1];
    char bufs[YYNTOKENS][32];
    int m = 0;
    bool expr_listed = false, type_listed = false, eof_listed = false;
    for (int i = 0; i < n; i++) {
        char c = sym_char(exp[i]);
        if (closers_only && !(c && strchr(")]}", c))) continue;
        if (collapse && starts_expr(exp[i])) {
            if (!expr_listed) names[m++] = "expression";
            expr_listed = true;
            continue;
        }
        if (is_dtype(exp[i]) && n > 3) {
            if (!type_listed) names[m++] = "tensor type";
            type_listed = true;
            continue;
        }
        /* '=' continues a keyword argument inside a call (where ')' is expected too). */
        if (n > 3 && (continues(exp[i]) || (c == '=' && has_closer))) continue;
        if (exp[i] == YYSYMBOL_YYEOF) {
            eof_listed = true;
            continue;
        }
        names[m++] = sym_display(exp[i], bufs[i], sizeof bufs[i]);
    }
    if (eof_listed) names[m++] = "end of file";

    /* The offending token, quoted from the source. */
    const YYLTYPE *loc = yypcontext_location(ctx);
    char what[64];
    if (yypcontext_token(ctx) == YYSYMBOL_YYEOF) {
        snprintf(what, sizeof what, "end of file");
    } else {
        size_t off = loc->off < p->len ? loc->off : p->len;
        size_t len = loc->len < p->len - off ? loc->len : p->len - off;
        if (len > 40) {
            len = 36;
            while (len > 0 && ((unsigned char)p->text[off + len] & 0xC0) == 0x80) len--;
            snprintf(what, sizeof what, "'%.*s...'", (int)len, p->text + off);
        } else {
            snprintf(what, sizeof what, "'%.*s'", (int)len, p->text + off);
        }
    }

    /* a missing punctuation token is reported just after the previous token, where it
     * belongs (as GCC and Clang do); "expected expression" stays at the offender */
    Span at = *loc;
    bool punct = m >= 1 && m <= 3;
    for (int i = 0; i < m && punct; i++) punct = names[i][0] == '\'' && strlen(names[i]) == 3;
    if (punct && loc->off <= p->len) {
        size_t end = prev_token_end(p, loc->off);
        if (end > 0 && end < loc->off) at = (Span){loc->file, (uint32_t)end, 1};
    }
    switch (m) {
    case 1: diag_error(p->diag, at, "expected %s before %s", names[0], what); break;
    case 2: diag_error(p->diag, at, "expected %s or %s before %s", names[0], names[1], what); break;
    case 3:
        diag_error(p->diag, at, "expected %s, %s or %s before %s", names[0], names[1],
                   names[2], what);
        break;
    default: diag_error(p->diag, *loc, "unexpected %s", what); break;
    }
    return 0;
}
