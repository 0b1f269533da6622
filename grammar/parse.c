/* SPDX-License-Identifier: MIT
 * parse.c - parse_file(): runs the flex scanner and the bison parser over one source
 * file. The only file that includes the generated parser.h and lexer.h.
 */
#include "frontend/ast.h"

#include <stdlib.h>

/* Must agree with the %code top block of ndl.y. */
#ifndef YYDEBUG
#ifdef NDLC_YYDEBUG
#define YYDEBUG 1
#else
#define YYDEBUG 0
#endif
#endif

#include "parser.h"
#include "lexer.h"

bool parse_file(Ast *ast, const SourceMgr *sm, uint32_t file, Diag *d)
{
    size_t len;
    const char *text = src_text(sm, file, &len);
    unsigned errors_before = diag_errors(d);
    ast->root = ast_new(ast, AST_FILE, (Span){file, 0, (uint32_t)len});
    if (!text) NDLC_ICE("parse_file: unknown file id %u", file);

    Lexer lx = {.ast = ast, .diag = d, .file = file};
    Parser p = {.ast = ast, .diag = d, .file = file, .text = text, .len = len};
    yyscan_t scanner;
    if (yylex_init_extra(&lx, &scanner) != 0) NDLC_ICE("cannot initialise the scanner");
#if YYDEBUG
    yydebug = getenv("NDLC_YYDEBUG") != NULL;
#endif
    YY_BUFFER_STATE buf = yy_scan_bytes(text, (int)len, scanner);
    int rc = yyparse(scanner, &p);
    yy_delete_buffer(buf, scanner);
    yylex_destroy(scanner);
    vec_free(p.depth);
    return rc == 0 && diag_errors(d) == errors_before && !diag_full(d);
}
