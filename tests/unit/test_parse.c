/* SPDX-License-Identifier: MIT
 * test_parse.c - the NDL scanner and parser: tree shapes of the spec's example programs
 * (TinyNet, an OFA-style supernet, MoE, a hypernetwork, pruning), spans, lexical corner
 * cases, and the exact position and wording of syntax and lexical errors.
 */
#include "check.h"

#include <stdlib.h>
#include <string.h>

#include "frontend/ast.h"
#include "ir/ir.h"

/* ---- harness ----------------------------------------------------------------------- */
typedef struct Run {
    SourceMgr *sm;
    Diag *d;
    Ast ast;
    uint32_t file;
    bool ok;
    char errs[16384];       /* the diagnostics, plain mode, one per line */
    char *dump;             /* ast_dump without locations */
} Run;

static void sink(void *ud, DiagLevel level, const char *text)
{
    Run *r = ud;
    (void)level;
    size_t n = strlen(r->errs);
    snprintf(r->errs + n, sizeof r->errs - n, "%s", text);
}

static char *dump_to_string(const Ast *ast, const SourceMgr *sm)
{
    FILE *f = tmpfile();
    if (!f) return xstrdup("<tmpfile failed>");
    ast_dump(ast, sm, f);
    long n = ftell(f);
    rewind(f);
    char *s = xmalloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

static Run *run(const char *src)
{
    Run *r = xcalloc(1, sizeof *r);
    r->sm = src_new();
    r->file = src_add(r->sm, "t.ndl", src, strlen(src));
    r->d = diag_new(r->sm, sink, r);
    diag_set_plain(r->d, true);
    ast_init(&r->ast);
    r->ok = parse_file(&r->ast, r->sm, r->file, r->d);
    r->dump = dump_to_string(&r->ast, NULL);
    return r;
}

static void done(Run *r)
{
    free(r->dump);
    ast_free(&r->ast);
    diag_free(r->d);
    src_free(r->sm);
    free(r);
}

static const AstNode *N(const Run *r, AstId id) { return ast_node(&r->ast, id); }
/* The i-th module/model of the file and the j-th item of its body. */
static AstId top(const Run *r, uint32_t i) { return N(r, r->ast.root)->list.v[i]; }
static AstId item(const Run *r, uint32_t i, uint32_t j) { return N(r, top(r, i))->list2.v[j]; }

/* The source text a node spans. */
static const char *span_text(const Run *r, AstId id)
{
    static char buf[512];
    size_t len;
    const char *text = src_text(r->sm, r->file, &len);
    Span s = N(r, id)->span;
    snprintf(buf, sizeof buf, "%.*s", (int)s.len, text + s.off);
    return buf;
}

/* Parses src, expects failure, and compares the plain diagnostics. */
static void expect_errors(const char *src, const char *want)
{
    Run *r = run(src);
    CHECK(!r->ok);
    CHECK_STR(r->errs, want);
    done(r);
}

/* ---- the spec's programs ------------------------------------------------------------ */
static const char tinynet[] =
    "module Block(c: int, expand: int = 4) {          # a reusable module with compile-time args\n"
    "  conv1 = Conv2d(c, c * expand, 1, bias = false); # sub-module instance -> params \"conv1.weight\"\n"
    "  bn1   = BatchNorm2d(c * expand);\n"
    "  conv2 = Conv2d(c * expand, c, 1, bias = false);\n"
    "  param gamma: f32[c];                            # a raw parameter -> \"gamma\"\n"
    "\n"
    "  forward(x) {\n"
    "    let h = relu(bn1(conv1(x)));\n"
    "    return x + gamma[None, :, None, None] * conv2(h);\n"
    "  }\n"
    "}\n"
    "\n"
    "model TinyNet {\n"
    "  input  x: f32[N, 3, 32, 32];        # N is a symbolic (run-time) dimension\n"
    "  output y;                           # output types are inferred; may be declared: output y: f32[N, 10];\n"
    "  weights \"tiny.safetensors\";         # default weight file, relative to the .ndl file; --weights overrides\n"
    "\n"
    "  stem   = Conv2d(3, 16, 3, pad = 1);\n"
    "  blocks = [Block(16) for i in 0..3];          # ModuleList: \"blocks.0.conv1.weight\", ...\n"
    "  fc     = Linear(16, 10);\n"
    "\n"
    "  forward {\n"
    "    let h = relu(stem(x));\n"
    "    for b in blocks { h = b(h); }              # loops unroll at compile time\n"
    "    y = fc(mean(h, dims = [2, 3]));\n"
    "  }\n"
    "}\n";

static void test_tinynet(void)
{
    Run *r = run(tinynet);
    CHECK(r->ok);
    CHECK_STR(r->errs, "");
    CHECK_STR(r->dump,
    "file\n"
    "  module Block\n"
    "    arg: arg_decl c\n"
    "      type: ct_type int\n"
    "    arg: arg_decl expand\n"
    "      type: ct_type int\n"
    "      default: int 4\n"
    "    instance conv1\n"
    "      call\n"
    "        callee: name Conv2d\n"
    "        name c\n"
    "        binary *\n"
    "          name c\n"
    "          name expand\n"
    "        int 1\n"
    "        kwarg bias\n"
    "          bool false\n"
    "    instance bn1\n"
    "      call\n"
    "        callee: name BatchNorm2d\n"
    "        binary *\n"
    "          name c\n"
    "          name expand\n"
    "    instance conv2\n"
    "      call\n"
    "        callee: name Conv2d\n"
    "        binary *\n"
    "          name c\n"
    "          name expand\n"
    "        name c\n"
    "        int 1\n"
    "        kwarg bias\n"
    "          bool false\n"
    "    param gamma\n"
    "      type: tensor_type f32\n"
    "        name c\n"
    "    forward\n"
    "      param: name x\n"
    "      block\n"
    "        let h\n"
    "          call\n"
    "            callee: name relu\n"
    "            call\n"
    "              callee: name bn1\n"
    "              call\n"
    "                callee: name conv1\n"
    "                name x\n"
    "        return\n"
    "          binary +\n"
    "            name x\n"
    "            binary *\n"
    "              index\n"
    "                name gamma\n"
    "                none\n"
    "                slice\n"
    "                none\n"
    "                none\n"
    "              call\n"
    "                callee: name conv2\n"
    "                name h\n"
    "  model TinyNet\n"
    "    input x\n"
    "      tensor_type f32\n"
    "        name N\n"
    "        int 3\n"
    "        int 32\n"
    "        int 32\n"
    "    output y\n"
    "    weights\n"
    "      string \"tiny.safetensors\"\n"
    "    instance stem\n"
    "      call\n"
    "        callee: name Conv2d\n"
    "        int 3\n"
    "        int 16\n"
    "        int 3\n"
    "        kwarg pad\n"
    "          int 1\n"
    "    instance blocks\n"
    "      comp i\n"
    "        call\n"
    "          callee: name Block\n"
    "          int 16\n"
    "        in: range\n"
    "          int 0\n"
    "          int 3\n"
    "    instance fc\n"
    "      call\n"
    "        callee: name Linear\n"
    "        int 16\n"
    "        int 10\n"
    "    forward bare\n"
    "      block\n"
    "        let h\n"
    "          call\n"
    "            callee: name relu\n"
    "            call\n"
    "              callee: name stem\n"
    "              name x\n"
    "        for b\n"
    "          in: name blocks\n"
    "          block\n"
    "            assign h\n"
    "              call\n"
    "                callee: name b\n"
    "                name h\n"
    "        assign y\n"
    "          call\n"
    "            callee: name fc\n"
    "            call\n"
    "              callee: name mean\n"
    "              name h\n"
    "              kwarg dims\n"
    "                list\n"
    "                  int 2\n"
    "                  int 3\n");
    /* Spans: whole constructs, from the first to the last byte. */
    CHECK_EQ_INT(N(r, top(r, 0))->span.off, 0);
    CHECK_EQ_INT(N(r, top(r, 1))->span.off + N(r, top(r, 1))->span.len, strlen(tinynet) - 1);
    AstId conv1 = item(r, 0, 0);
    CHECK_STR(span_text(r, conv1), "conv1 = Conv2d(c, c * expand, 1, bias = false);");
    CHECK_STR(span_text(r, N(r, conv1)->a), "Conv2d(c, c * expand, 1, bias = false)");
    AstId mul = N(r, N(r, conv1)->a)->list.v[1];
    CHECK_STR(span_text(r, mul), "c * expand");
    AstId kw = N(r, N(r, conv1)->a)->list.v[3];
    CHECK_EQ_INT(N(r, kw)->kind, AST_KWARG);
    CHECK_STR(span_text(r, kw), "bias = false");
    AstId fwd = item(r, 0, 4);
    CHECK_EQ_INT(N(r, fwd)->kind, AST_FORWARD);
    CHECK_EQ_INT(N(r, fwd)->ival, 0);
    CHECK_EQ_INT(N(r, fwd)->list.n, 1);
    AstId ret = N(r, N(r, fwd)->a)->list.v[1];
    CHECK_STR(span_text(r, ret), "return x + gamma[None, :, None, None] * conv2(h);");
    CHECK_STR(span_text(r, N(r, ret)->a), "x + gamma[None, :, None, None] * conv2(h)");
    AstId idx = N(r, N(r, N(r, ret)->a)->b)->a;
    CHECK_STR(span_text(r, idx), "gamma[None, :, None, None]");
    AstId slice = N(r, idx)->list.v[1];
    CHECK_EQ_INT(N(r, slice)->kind, AST_SLICE);
    CHECK_EQ_INT(N(r, slice)->a + N(r, slice)->b + N(r, slice)->c, 0);
    CHECK_STR(span_text(r, slice), ":");
    /* The model: input type, comprehension, bare forward. */
    AstId in = item(r, 1, 0);
    CHECK_EQ_INT(N(r, in)->kind, AST_INPUT);
    CHECK_EQ_INT(N(r, N(r, in)->a)->op, DT_F32);
    CHECK_STR(span_text(r, N(r, in)->a), "f32[N, 3, 32, 32]");
    CHECK_EQ_INT(N(r, N(r, in)->a)->list.n, 4);
    AstId blocks = item(r, 1, 4);
    CHECK_STR(span_text(r, N(r, blocks)->a), "[Block(16) for i in 0..3]");
    CHECK_STR(span_text(r, N(r, N(r, blocks)->a)->b), "0..3");
    AstId fwd2 = item(r, 1, 6);
    CHECK_EQ_INT(N(r, fwd2)->ival, 1);
    CHECK_EQ_INT(N(r, fwd2)->list.n, 0);
    /* The dump with locations. */
    char *loc = dump_to_string(&r->ast, r->sm);
    CHECK_CONTAINS(loc, "file @1:1\n  module Block @1:1\n    arg: arg_decl c @1:14\n");
    CHECK_CONTAINS(loc, "\n    instance blocks @19:3\n      comp i @19:12\n");
    free(loc);
    done(r);
}

static void test_ofa_elastic(void)
{
    Run *r = run(
        "model OFAish {\n"
        "  elastic r:  int in {128, 160, 192, 224} = 224;          # input resolution\n"
        "  elastic d:  int[4]  in {2, 3, 4} = 4;                    # per-stage depth\n"
        "  elastic ks: int[16] in {3, 5, 7};\n"
        "  elastic e:  int[16] in {3, 4, 6,} = 6;\n"
        "  input x: f32[N, 3, r, r];\n"
        "  output y;\n"
        "  stage0 = [MBBlock(16, 24, ks[i], e[i]) for i in 0..d[0]];\n"
        "  dw = ElasticConv2d(24, 24, 7, ks[0], groups = 24) from \"blocks.1.depth_conv.conv\";\n"
        "  forward {\n"
        "    let h = x;\n"
        "    for b in stage0 { h = b(h); }\n"
        "    y = mean(h, dims = [2, 3]);\n"
        "  }\n"
        "}\n");
    CHECK(r->ok);
    CHECK_STR(r->errs, "");
    AstId er = item(r, 0, 0);
    CHECK_EQ_INT(N(r, er)->kind, AST_ELASTIC);
    CHECK_STR(N(r, er)->str, "r");
    CHECK_EQ_INT(N(r, N(r, er)->a)->kind, AST_CT_TYPE);
    CHECK_EQ_INT(N(r, N(r, er)->a)->op, CT_INT);
    CHECK_EQ_INT(N(r, N(r, er)->a)->a, 0);
    CHECK_EQ_INT(N(r, er)->list.n, 4);
    CHECK_EQ_INT(N(r, N(r, er)->list.v[3])->ival, 224);
    CHECK_EQ_INT(N(r, N(r, er)->b)->ival, 224);
    AstId ed = item(r, 0, 1);
    CHECK_EQ_INT(N(r, N(r, ed)->a)->op, CT_INT_LIST);
    CHECK_EQ_INT(N(r, N(r, N(r, ed)->a)->a)->ival, 4);
    CHECK_STR(span_text(r, N(r, ed)->a), "int[4]");
    CHECK_EQ_INT(N(r, ed)->list.n, 3);
    AstId eks = item(r, 0, 2);
    CHECK_EQ_INT(N(r, eks)->b, 0);                 /* no default */
    CHECK_EQ_INT(N(r, item(r, 0, 3))->list.n, 3);  /* trailing comma */
    CHECK_CONTAINS(r->dump,
                   "    elastic d\n"
                   "      type: ct_type int[]\n"
                   "        len: int 4\n"
                   "      choice: int 2\n"
                   "      choice: int 3\n"
                   "      choice: int 4\n"
                   "      default: int 4\n");
    CHECK_CONTAINS(r->dump,
                   "    input x\n"
                   "      tensor_type f32\n"
                   "        name N\n"
                   "        int 3\n"
                   "        name r\n"
                   "        name r\n");
    CHECK_CONTAINS(r->dump,
                   "    instance stage0\n"
                   "      comp i\n"
                   "        call\n"
                   "          callee: name MBBlock\n"
                   "          int 16\n"
                   "          int 24\n"
                   "          index\n"
                   "            name ks\n"
                   "            name i\n"
                   "          index\n"
                   "            name e\n"
                   "            name i\n"
                   "        in: range\n"
                   "          int 0\n"
                   "          index\n"
                   "            name d\n"
                   "            int 0\n");
    AstId dw = item(r, 0, 7);
    CHECK_EQ_INT(N(r, dw)->kind, AST_INSTANCE);
    CHECK_EQ_INT(N(r, N(r, dw)->b)->kind, AST_STRING);
    CHECK_STR(N(r, N(r, dw)->b)->str, "blocks.1.depth_conv.conv");
    CHECK_EQ_INT(N(r, N(r, dw)->b)->slen, 24);
    CHECK_STR(span_text(r, N(r, dw)->b), "\"blocks.1.depth_conv.conv\"");
    done(r);
}

static void test_moe(void)
{
    Run *r = run(
        "module FFN(d: int, h: int) {\n"
        "  fc1 = Linear(d, h);\n"
        "  fc2 = Linear(h, d);\n"
        "  forward(x) { return fc2(gelu(fc1(x))); }\n"
        "}\n"
        "model MoE {\n"
        "  input ids: i64[T];\n"
        "  input x: f32[T, 512];\n"
        "  output y;\n"
        "  experts = [FFN(512, 2048) for i in 0..8];\n"
        "  gate    = Linear(512, 8, bias = false);\n"
        "  shared0 = FFN(512, 1024);\n"
        "  forward {\n"
        "    let a = moe(x, gate(x), experts, topk(2, renorm = true), shared = [shared0]);\n"
        "    let b = moe(x, None, experts, assign(hash_route(ids, 8, 42)));\n"
        "    y = a + b;\n"
        "  }\n"
        "}\n");
    CHECK(r->ok);
    CHECK_EQ_INT(N(r, r->ast.root)->list.n, 2);
    CHECK_EQ_INT(N(r, top(r, 0))->kind, AST_MODULE);
    CHECK_EQ_INT(N(r, top(r, 0))->list.n, 2);
    CHECK_EQ_INT(N(r, top(r, 1))->kind, AST_MODEL);
    CHECK_EQ_INT(N(r, N(r, item(r, 1, 0))->a)->op, DT_I64);
    CHECK_CONTAINS(r->dump,
                   "        let a\n"
                   "          call\n"
                   "            callee: name moe\n"
                   "            name x\n"
                   "            call\n"
                   "              callee: name gate\n"
                   "              name x\n"
                   "            name experts\n"
                   "            call\n"
                   "              callee: name topk\n"
                   "              int 2\n"
                   "              kwarg renorm\n"
                   "                bool true\n"
                   "            kwarg shared\n"
                   "              list\n"
                   "                name shared0\n");
    CHECK_CONTAINS(r->dump,
                   "        let b\n"
                   "          call\n"
                   "            callee: name moe\n"
                   "            name x\n"
                   "            none\n");
    done(r);
}

static void test_hypernet(void)
{
    Run *r = run(
        "model Hyper {\n"
        "  input x: f32[B, 512];\n"
        "  output y;\n"
        "  hyper  = Sequential(Linear(64, 256), ReLU(), Linear(256, 2 * 16 * 512));\n"
        "  param  emb: f32[6, 64];                                   # one embedding per target layer\n"
        "  layers = [Linear(512, 512, weight = lowrank(\n"
        "              reshape(hyper(emb[i])[0:8192], [512, 16]),\n"
        "              reshape(hyper(emb[i])[8192:16384], [512, 16]))) for i in 0..6];\n"
        "  param  A: f32[2, 4, 4];\n"
        "  param  S: f32[2, 128, 128];\n"
        "  phm = Linear(512, 512, weight = kron(A[0], S[0]) + kron(A[1], S[1]));\n"
        "  forward { let h = x; for l in layers { h = relu(l(h)); } y = phm(h); }\n"
        "}\n");
    CHECK(r->ok);
    CHECK_CONTAINS(r->dump,
                   "    instance layers\n"
                   "      comp i\n"
                   "        call\n"
                   "          callee: name Linear\n"
                   "          int 512\n"
                   "          int 512\n"
                   "          kwarg weight\n"
                   "            call\n"
                   "              callee: name lowrank\n"
                   "              call\n"
                   "                callee: name reshape\n"
                   "                index\n"
                   "                  call\n"
                   "                    callee: name hyper\n"
                   "                    index\n"
                   "                      name emb\n"
                   "                      name i\n"
                   "                  slice\n"
                   "                    start: int 0\n"
                   "                    stop: int 8192\n"
                   "                list\n"
                   "                  int 512\n"
                   "                  int 16\n");
    AstId emb = item(r, 0, 3);
    CHECK_EQ_INT(N(r, emb)->kind, AST_PARAM);
    CHECK_STR(N(r, emb)->str, "emb");
    CHECK_EQ_INT(N(r, N(r, emb)->a)->kind, AST_TENSOR_TYPE);
    CHECK_EQ_INT(N(r, emb)->b, 0);
    CHECK_EQ_INT(N(r, emb)->c, 0);
    AstId layers = item(r, 0, 4);
    const char *comp = span_text(r, N(r, layers)->a);
    CHECK(strncmp(comp, "[Linear(512, 512, weight = lowrank(\n", 36) == 0);
    CHECK_STR(comp + strlen(comp) - 14, "for i in 0..6]");
    done(r);
}

static void test_prune_tie_param(void)
{
    Run *r = run(
        "model Pruned {\n"
        "  input x: f32[N <= 64, 784];\n"
        "  output y: f32[N, 10];\n"
        "  weights \"mlp.safetensors\";\n"
        "  fc1 = Linear(784, 300);\n"
        "  fc2 = Linear(300, 10);\n"
        "  prune \"blocks.*.fc1.weight\" magnitude(0.9);     # unstructured\n"
        "  prune \"*.conv*.weight\"      channels(0.5);\n"
        "  prune \"*.weight\"            nm(2, 4);\n"
        "  prune \"fc2.weight\"          mask(\"fc2.mask\");\n"
        "  tie fc1.weight = blocks.0.fc[1].weight;\n"
        "  param p: f32[300] = q * 2 from \"extra.p\";\n"
        "  param q: f32[300] from \"extra.q\";\n"
        "  param w = take(pool, idx) * g * 0.5;\n"
        "  forward { y = fc2(relu(fc1(x))); }\n"
        "}\n");
    CHECK(r->ok);
    AstId in = item(r, 0, 0);
    AstId tt = N(r, in)->a;
    AstId bound = N(r, tt)->list.v[0];
    CHECK_EQ_INT(N(r, bound)->kind, AST_DIM_BOUND);
    CHECK_STR(N(r, bound)->str, "N");
    CHECK_EQ_INT(N(r, N(r, bound)->a)->ival, 64);
    CHECK_STR(span_text(r, bound), "N <= 64");
    AstId out = item(r, 0, 1);
    CHECK_EQ_INT(N(r, out)->kind, AST_OUTPUT);
    CHECK_EQ_INT(N(r, N(r, N(r, out)->a)->list.v[0])->kind, AST_NAME);
    CHECK_EQ_INT(N(r, item(r, 0, 2))->kind, AST_WEIGHTS);
    CHECK_STR(N(r, N(r, item(r, 0, 2))->a)->str, "mlp.safetensors");
    const char *pats[] = {"blocks.*.fc1.weight", "*.conv*.weight", "*.weight", "fc2.weight"};
    const char *specs[] = {"magnitude", "channels", "nm", "mask"};
    for (int i = 0; i < 4; i++) {
        AstId pr = item(r, 0, 5 + (uint32_t)i);
        CHECK_EQ_INT(N(r, pr)->kind, AST_PRUNE);
        CHECK_EQ_INT(N(r, N(r, pr)->a)->kind, AST_STRING);
        CHECK_STR(N(r, N(r, pr)->a)->str, pats[i]);
        CHECK_EQ_INT(N(r, N(r, pr)->b)->kind, AST_CALL);
        CHECK_STR(N(r, N(r, N(r, pr)->b)->a)->str, specs[i]);
    }
    CHECK_EQ_INT(N(r, N(r, N(r, item(r, 0, 5))->b)->list.v[0])->kind, AST_REAL);
    CHECK(N(r, N(r, N(r, item(r, 0, 5))->b)->list.v[0])->rval == 0.9);
    CHECK_CONTAINS(r->dump,
                   "    tie\n"
                   "      member weight\n"
                   "        name fc1\n"
                   "      member weight\n"
                   "        index\n"
                   "          member fc\n"
                   "            member 0\n"
                   "              name blocks\n"
                   "          int 1\n");
    CHECK_CONTAINS(r->dump,
                   "    param p\n"
                   "      type: tensor_type f32\n"
                   "        int 300\n"
                   "      init: binary *\n"
                   "        name q\n"
                   "        int 2\n"
                   "      from: string \"extra.p\"\n"
                   "    param q\n"
                   "      type: tensor_type f32\n"
                   "        int 300\n"
                   "      from: string \"extra.q\"\n"
                   "    param w\n"
                   "      init: binary *\n");
    done(r);
}

/* ---- statements, expressions, lexical details ---------------------------------------- */
static void test_statements(void)
{
    Run *r = run(
        "module M() {\n"
        "  forward(x, y) {\n"
        "    let (a, b) = split(x, [3, 5], dim = 1);\n"
        "    for i in 0..n-1 { a = a + i; }\n"
        "    if n > 2 { a = -a; } else if n == 2 { a = !a; } else { }\n"
        "    return a, b;\n"
        "  }\n"
        "}\n"
        "module E { forward() { return []; } }\n");
    CHECK(r->ok);
    CHECK_STR(r->dump,
              "file\n"
              "  module M\n"
              "    forward\n"
              "      param: name x\n"
              "      param: name y\n"
              "      block\n"
              "        let_tuple\n"
              "          target: name a\n"
              "          target: name b\n"
              "          call\n"
              "            callee: name split\n"
              "            name x\n"
              "            list\n"
              "              int 3\n"
              "              int 5\n"
              "            kwarg dim\n"
              "              int 1\n"
              "        for i\n"
              "          in: range\n"
              "            int 0\n"
              "            binary -\n"
              "              name n\n"
              "              int 1\n"
              "          block\n"
              "            assign a\n"
              "              binary +\n"
              "                name a\n"
              "                name i\n"
              "        if\n"
              "          cond: binary >\n"
              "            name n\n"
              "            int 2\n"
              "          block\n"
              "            assign a\n"
              "              unary -\n"
              "                name a\n"
              "          else: if\n"
              "            cond: binary ==\n"
              "              name n\n"
              "              int 2\n"
              "            block\n"
              "              assign a\n"
              "                unary !\n"
              "                  name a\n"
              "            else: block\n"
              "        return\n"
              "          tuple\n"
              "            name a\n"
              "            name b\n"
              "  module E\n"
              "    forward\n"
              "      block\n"
              "        return\n"
              "          list\n");
    AstId fwd = item(r, 0, 0);
    AstId ret = N(r, N(r, fwd)->a)->list.v[3];
    CHECK_STR(span_text(r, N(r, ret)->a), "a, b");
    AstId forstmt = N(r, N(r, fwd)->a)->list.v[1];
    CHECK_STR(span_text(r, N(r, forstmt)->a), "0..n-1");
    CHECK_STR(span_text(r, forstmt), "for i in 0..n-1 { a = a + i; }");
    AstId ifs = N(r, N(r, fwd)->a)->list.v[2];
    CHECK_STR(span_text(r, ifs), "if n > 2 { a = -a; } else if n == 2 { a = !a; } else { }");
    CHECK_STR(span_text(r, N(r, ifs)->c), "if n == 2 { a = !a; } else { }");
    CHECK_EQ_INT(N(r, top(r, 1))->list.n, 0);
    CHECK_EQ_INT(N(r, item(r, 1, 0))->ival, 0);     /* forward() has parentheses */
    done(r);
}

static void test_expressions(void)
{
    Run *r = run(
        "model P {\n"
        "  v = a || b && c == d + e * -f % g ? 1 : !h;\n"
        "  w = (a + b) * c;\n"
        "  t = (a, b,);\n"
        "  u = p ? q : r ? s : t;\n"
        "  s = x[::2, 1:, -1, :b, 1:2:3, None];\n"
        "  k = f(a = 1, b, c = [], [x for v in list]);\n"
        "  z = cast(x, f16) + int(2.5) + real(1) * bool(0);\n"
        "}\n");
    CHECK(r->ok);
    CHECK_CONTAINS(r->dump,
                   "    instance v\n"
                   "      ternary\n"
                   "        cond: binary ||\n"
                   "          name a\n"
                   "          binary &&\n"
                   "            name b\n"
                   "            binary ==\n"
                   "              name c\n"
                   "              binary +\n"
                   "                name d\n"
                   "                binary %\n"
                   "                  binary *\n"
                   "                    name e\n"
                   "                    unary -\n"
                   "                      name f\n"
                   "                  name g\n"
                   "        then: int 1\n"
                   "        else: unary !\n"
                   "          name h\n"
                   "    instance w\n"
                   "      binary *\n"
                   "        binary +\n"
                   "          name a\n"
                   "          name b\n"
                   "        name c\n"
                   "    instance t\n"
                   "      tuple\n"
                   "        name a\n"
                   "        name b\n"
                   "    instance u\n"
                   "      ternary\n"
                   "        cond: name p\n"
                   "        then: name q\n"
                   "        else: ternary\n");
    CHECK_CONTAINS(r->dump,
                   "    instance s\n"
                   "      index\n"
                   "        name x\n"
                   "        slice\n"
                   "          step: int 2\n"
                   "        slice\n"
                   "          start: int 1\n"
                   "        unary -\n"
                   "          int 1\n"
                   "        slice\n"
                   "          stop: name b\n"
                   "        slice\n"
                   "          start: int 1\n"
                   "          stop: int 2\n"
                   "          step: int 3\n"
                   "        none\n"
                   "    instance k\n"
                   "      call\n"
                   "        callee: name f\n"
                   "        kwarg a\n"
                   "          int 1\n"
                   "        name b\n"
                   "        kwarg c\n"
                   "          list\n"
                   "        comp v\n"
                   "          name x\n"
                   "          in: name list\n"
                   "    instance z\n"
                   "      binary +\n"
                   "        binary +\n"
                   "          call\n"
                   "            callee: name cast\n"
                   "            name x\n"
                   "            name f16\n");
    /* (a + b) * c: the product spans the parentheses; the sum does not. */
    AstId w = N(r, item(r, 0, 1))->a;
    CHECK_STR(span_text(r, w), "(a + b) * c");
    CHECK_STR(span_text(r, N(r, w)->a), "a + b");
    CHECK_STR(span_text(r, N(r, item(r, 0, 2))->a), "(a, b,)");
    AstId s = N(r, item(r, 0, 4))->a;
    CHECK_STR(span_text(r, N(r, s)->list.v[0]), "::2");
    CHECK_STR(span_text(r, N(r, s)->list.v[4]), "1:2:3");
    done(r);
}

static void test_lexical(void)
{
    Run *r = run(
        "# hash comment\n"
        "// slash comment\n"
        "/* block\n   comment * / ** */ model L { /**/\n"
        "  a = 0..3;\n"
        "  b = blocks.0.conv;\n"
        "  c = l.0.1.weight;\n"
        "  d = [1e-5, 0.75, 2.5E+3, 007];\n"
        "  e = \"q\\\"b\\\\s\\nn\";\n"
        "  f = 9223372036854775807;\n"
        "  g = true && false || None == None;\n"
        "  input_x = modulex;\r\n"
        "}\n");
    /* Comments are skipped (lines still count); `0..3` is INT '..' INT, which is no
     * expression outside `for` and comprehensions. */
    CHECK(!r->ok);
    CHECK_STR(r->errs, "t.ndl:5:8: error: expected ';' before '..'\n");
    done(r);

    r = run("model L {\n"
            "  b = blocks.0.conv;\n"
            "  c = l.0.1.weight;\n"
            "  d = [1e-5, 0.75, 2.5E+3, 007];\n"
            "  e = \"q\\\"b\\\\s\\nn\";\n"
            "  f = 9223372036854775807;\n"
            "  g = true && false;\n"
            "  input_x = modulex;\r\n"
            "  r = [x for x in 0..3];\n"
            "}\n");
    CHECK(r->ok);
    CHECK_CONTAINS(r->dump,
                   "    instance b\n"
                   "      member conv\n"
                   "        member 0\n"
                   "          name blocks\n"
                   "    instance c\n"
                   "      member weight\n"
                   "        member 1\n"
                   "          member 0\n"
                   "            name l\n"
                   "    instance d\n"
                   "      list\n"
                   "        real 1e-05\n"
                   "        real 0.75\n"
                   "        real 2.5e+03\n"
                   "        int 7\n"
                   "    instance e\n"
                   "      string \"q\\\"b\\\\s\\nn\"\n"
                   "    instance f\n"
                   "      int 9223372036854775807\n"
                   "    instance g\n"
                   "      binary &&\n"
                   "        bool true\n"
                   "        bool false\n"
                   "    instance input_x\n"
                   "      name modulex\n"
                   "    instance r\n"
                   "      comp x\n"
                   "        name x\n"
                   "        in: range\n"
                   "          int 0\n"
                   "          int 3\n");
    AstId e = N(r, item(r, 0, 3))->a;
    CHECK_EQ_INT(N(r, e)->slen, 7);
    CHECK(memcmp(N(r, e)->str, "q\"b\\s\nn", 8) == 0);
    CHECK(N(r, N(r, N(r, item(r, 0, 2))->a)->list.v[0])->rval == 1e-5);
    /* Member spans cover the path so far. */
    AstId c = N(r, item(r, 0, 1))->a;
    CHECK_STR(span_text(r, c), "l.0.1.weight");
    CHECK_STR(span_text(r, N(r, c)->a), "l.0.1");
    done(r);
}

/* ---- errors --------------------------------------------------------------------------- */
static void test_syntax_errors(void)
{
    expect_errors("model A {\n"
                  "  fc = Linear(16, 10)\n"
                  "  forward { y = fc(x); }\n"
                  "}\n",
                  "t.ndl:2:22: error: expected ';' before 'forward'\n");
    /* Several errors in one run, each recovered at ';' or '}'. */
    expect_errors("model A {\n"
                  "  x = Conv2d(3 16);\n"
                  "  y = ;\n"
                  "  forward { let h = relu(x; return h }\n"
                  "  tie a.weight b.weight;\n"
                  "  param w: f32[4] foo;\n"
                  "}\n",
                  "t.ndl:2:15: error: expected ',' or ')' before '16'\n"
                  "t.ndl:3:7: error: expected expression before ';'\n"
                  "t.ndl:4:27: error: expected ',' or ')' before ';'\n"
                  "t.ndl:4:37: error: expected ';' or ',' before '}'\n"
                  "t.ndl:5:15: error: expected '=' before 'b'\n"
                  "t.ndl:6:19: error: expected ';', '=' or 'from' before 'foo'\n");
    expect_errors("model A {", "t.ndl:1:10: error: expected '}' before end of file\n");
    expect_errors("model A {\n  forward { x = f(a, b\n\n# trailing comment\n",
                  "t.ndl:2:23: error: expected ')' before end of file\n");
    expect_errors("modle A { }\n",
                  "t.ndl:1:1: error: expected 'module', 'model' or end of file before 'modle'\n");
    expect_errors("module M(c int) { }\n", "t.ndl:1:11: error: expected ':' before 'int'\n");
    expect_errors("model A { forward { if a < b < c { } } }\n",
                  "t.ndl:1:29: error: expected '{' before '<'\n");
    expect_errors("model A { forward { tie a = b; } }\n", "t.ndl:1:21: error: unexpected 'tie'\n");
    expect_errors("model A { let x = 1; }\n", "t.ndl:1:11: error: unexpected 'let'\n");
    /* The offending token is quoted from the source, long ones shortened. */
    expect_errors("model A { x = y \"a very long string literal that goes on and on\"; }\n",
                  "t.ndl:1:16: error: expected ';' before "
                  "'\"a very long string literal that goe...'\n");
    expect_errors("model A { x = [1, 2; }\n", "t.ndl:1:20: error: expected ',' or ']' before ';'\n");
    expect_errors("model A { elastic d: int in {1, 2 = 2; }\n",
                  "t.ndl:1:34: error: expected ',' or '}' before '='\n");
    expect_errors("model A { forward(x { } }\n",
                  "t.ndl:1:20: error: expected ',' or ')' before '{'\n");
    expect_errors("model A { forward { for i 0..3 { } } }\n",
                  "t.ndl:1:27: error: expected 'in' before '0'\n");
    expect_errors("model A { forward { let = 3; } }\n",
                  "t.ndl:1:25: error: expected '(' or identifier before '='\n");
    expect_errors("model A { x = a ? b c; }\n", "t.ndl:1:20: error: expected ':' before 'c'\n");
    expect_errors("model A { input x: f33[3]; }\n",
                  "t.ndl:1:20: error: expected tensor type before 'f33'\n");
    expect_errors("module M(c: f32) { }\n",
                  "t.ndl:1:13: error: expected 'int', 'real' or 'bool' before 'f32'\n");
}

static void test_lexical_errors(void)
{
    expect_errors("model A {\n  x = 1 @ 2;\n}\n", "t.ndl:2:9: error: unexpected character '@'\n");
    expect_errors("model A { x = $; y = `; }\n",
                  "t.ndl:1:15: error: unexpected character '$'\n"
                  "t.ndl:1:22: error: unexpected character '`'\n");
    expect_errors("model A {\n  \xc3\xa9 = 1;\n}\n",
                  "t.ndl:2:3: error: unexpected character '\xc3\xa9'\n");
    expect_errors("model A { x = \x01; }\n", "t.ndl:1:15: error: unexpected byte 0x01\n");
    expect_errors("model A { s = \"ab\\q\"; }\n",
                  "t.ndl:1:18: error: unknown escape sequence '\\q'\n");
    expect_errors("model A { s = \"ab\\tc\\0\"; }\n",
                  "t.ndl:1:18: error: unknown escape sequence '\\t'\n"
                  "t.ndl:1:21: error: unknown escape sequence '\\0'\n");
    expect_errors("model A {\n  t = \"abc\n}\n",
                  "t.ndl:2:7: error: missing terminating '\"' character\n");
    expect_errors("model A { t = \"abc\\",
                  "t.ndl:1:15: error: missing terminating '\"' character\n");
    expect_errors("model A {\n  x = 99999999999999999999;\n}\n",
                  "t.ndl:2:7: error: integer literal '99999999999999999999' is too large for int64\n");
    expect_errors("model A { x = 9223372036854775808; }\n",
                  "t.ndl:1:15: error: integer literal '9223372036854775808' is too large for int64\n");
    expect_errors("model A { x = 1e999; }\n", "t.ndl:1:15: error: real literal '1e999' is out of range\n");
    expect_errors("model A { }\n/* never\nclosed\n",
                  "t.ndl:2:1: error: unterminated comment\n");
    /* A lexical error is reported once; the parser recovers silently after it. */
    expect_errors("model A { x = f(@); y = 2; }\n", "t.ndl:1:17: error: unexpected character '@'\n");
}

static void test_error_limit(void)
{
    /* 30 bad items: 20 errors, the cap message, then silence. */
    char src[2048] = "model A {\n";
    for (int i = 0; i < 30; i++) strcat(src, "  x = ;\n");
    strcat(src, "}\n");
    Run *r = run(src);
    CHECK(!r->ok);
    CHECK(diag_full(r->d));
    CHECK_EQ_INT(diag_errors(r->d), DIAG_MAX_ERRORS);
    CHECK_CONTAINS(r->errs, "t.ndl:21:7: error: expected expression before ';'\n"
                            "ndlc: error: too many errors, stopping\n");
    CHECK(strstr(r->errs, "t.ndl:22:") == NULL);
    done(r);

    /* Recovery keeps the rest of the file: the second model is complete. */
    r = run("module M(c int) { x = 1; }\nmodel B { y = 2 }\nmodel C { z = 3; }\n");
    CHECK(!r->ok);
    CHECK_STR(r->errs, "t.ndl:1:11: error: expected ':' before 'int'\n"
                       "t.ndl:2:16: error: expected ';' before '}'\n");
    CHECK_EQ_INT(N(r, r->ast.root)->list.n, 2);
    CHECK_STR(N(r, top(r, 1))->str, "C");
    CHECK_EQ_INT(N(r, top(r, 1))->list2.n, 1);
    done(r);

    /* Deep nesting ends in a diagnostic, not a crash. */
    static char deep[40000];
    strcpy(deep, "model A { x = ");
    for (int i = 0; i < 15000; i++) strcat(deep + 14 + i, "(");
    strcat(deep, "1; }\n");
    r = run(deep);
    CHECK(!r->ok);
    CHECK_CONTAINS(r->errs, "error: nesting too deep (the parser's stack is exhausted)\n");
    done(r);

    /* A long chain makes a deep tree without a deep parser stack: refused as well, so
     * that recursive passes over the tree cannot exhaust the C stack. */
    strcpy(deep, "model A {\n  x = a");
    for (int i = 0; i < 3000; i++) strcat(deep + 16 + 2 * i, "+a");
    strcat(deep, ";\n}\n");
    r = run(deep);
    CHECK(!r->ok);
    CHECK_STR(r->errs, "t.ndl:2:7: error: expression nested too deeply (the limit is 1000 levels)\n");
    done(r);
    strcpy(deep, "model A {\n  x = a");
    for (int i = 0; i < 998; i++) strcat(deep + 16 + 2 * i, "+a");
    strcat(deep, ";\n}\n");
    r = run(deep);
    CHECK(r->ok);
    done(r);
    strcpy(deep, "model A {\n  forward {\n");
    for (int i = 0; i < 600; i++) strcat(deep, "if a {");
    for (int i = 0; i < 600; i++) strcat(deep, "}");
    strcat(deep, "\n}\n}\n");
    r = run(deep);
    CHECK(!r->ok);
    CHECK_CONTAINS(r->errs, "error: statement nested too deeply (the limit is 1000 levels)\n");
    done(r);
}

static void test_empty(void)
{
    Run *r = run("");
    CHECK(r->ok);
    CHECK_EQ_INT(N(r, r->ast.root)->kind, AST_FILE);
    CHECK_EQ_INT(N(r, r->ast.root)->list.n, 0);
    CHECK_STR(r->dump, "file\n");
    done(r);
    r = run("  # only a comment\n");
    CHECK(r->ok);
    done(r);
}

int main(void)
{
    test_tinynet();
    test_ofa_elastic();
    test_moe();
    test_hypernet();
    test_prune_tie_param();
    test_statements();
    test_expressions();
    test_lexical();
    test_syntax_errors();
    test_lexical_errors();
    test_error_limit();
    test_empty();
    return check_done();
}
