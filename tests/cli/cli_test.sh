#!/bin/sh
# SPDX-License-Identifier: MIT
# cli_test.sh - the command-line behaviour of ndlc (spec section 9), one case per call.
#
#   cli_test.sh NDLC JSONGET CASE
#
# CASE is one of the names in the `case` statement below; each is one CTest (cli/CASE).
# Cases run in this directory (net.ndl, lin.ndl and their weight files, written by
# make_files.py) with outputs in a temporary directory. A failing check prints what differs (a unified
# diff for exact texts) and the case exits 1; 0 is a pass, 2 a usage error.
set -u
if [ $# -ne 3 ]; then
    echo "usage: cli_test.sh NDLC JSONGET CASE" >&2
    exit 2
fi
ndlc=$1 jsonget=$2 name=$3
here=$(cd "$(dirname "$0")" && pwd)
cd "$here" || exit 2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cli.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
failed=0

fail() {
    echo "FAIL: $name: $*"
    failed=1
}

# run ARGS...: runs ndlc, keeping stdout, stderr and the status in $tmp and $rc.
run() {
    last="ndlc $*"
    "$ndlc" "$@" >"$tmp/stdout" 2>"$tmp/stderr"
    rc=$?
}

expect_rc() {
    [ "$rc" = "$1" ] || fail "'$last' exited with status $rc, expected $1"
}

# expect_text FILE: FILE ($tmp/stdout, ...) must equal standard input exactly.
expect_text() {
    cat >"$tmp/expected"
    if ! cmp -s "$tmp/expected" "$1"; then
        fail "'$last': $(basename "$1") differs (- expected, + actual)"
        diff -u --label expected --label actual "$tmp/expected" "$1"
    fi
}

expect_empty() {
    if [ -s "$1" ]; then
        fail "'$last': $(basename "$1") should be empty, holds:"
        cat "$1"
    fi
}

expect_grep() { # expect_grep FILE PATTERN: an extended regular expression must match
    grep -E -q -e "$2" "$1" || fail "'$last': no line of $(basename "$1") matches /$2/"
}

expect_no_grep() {
    if grep -E -q -e "$2" "$1"; then
        fail "'$last': $(basename "$1") has a line matching /$2/:"
        grep -E -e "$2" "$1"
    fi
}

json_is() { # json_is FILE PATH VALUE
    v=$("$jsonget" "$1" "$2") || { fail "'$last': $(basename "$1"): cannot read '$2'"; return; }
    [ "$v" = "$3" ] || fail "'$last': $(basename "$1"): $2 is '$v', expected '$3'"
}

# A usage error: exit status 2, "ndlc: error: MESSAGE" then the hint, nothing on stdout.
expect_usage() {
    expect_rc 2
    expect_empty "$tmp/stdout"
    printf 'ndlc: error: %s\nrun '"'"'ndlc --help'"'"' for usage\n' "$1" | expect_text "$tmp/stderr"
}

case $name in
version)
    run --version
    expect_rc 0
    expect_empty "$tmp/stderr"
    expect_grep "$tmp/stdout" '^ndlc [0-9]+\.[0-9]+\.[0-9]+$'
    [ "$(wc -l <"$tmp/stdout")" -eq 1 ] || fail "--version prints more than one line"
    ;;
help)
    run --help
    expect_rc 0
    expect_empty "$tmp/stderr"
    expect_grep "$tmp/stdout" '^usage: ndlc '
    # every option of spec section 9 is documented
    for opt in -o --emit --backend --target --cpu -O0 -O3 --weights -D --subnet --prune \
               --share --hyper --embed-weights --external-weights --model --report -MD -MF \
               --dump-after --inputs --version --list-ops; do
        grep -E -q -e "(^|[^A-Za-z0-9_-])$opt([^A-Za-z0-9_-]|\$)" "$tmp/stdout" ||
            fail "--help does not mention $opt"
    done
    for emit in exe c obj llvm ptx cuda ir json dot; do
        grep -E -q -e "--emit.*[ |]$emit([ |]|\$)" "$tmp/stdout" || fail "--help does not list --emit $emit"
    done
    ;;
unknown_option)
    run net.ndl --frobnicate
    expect_usage "unknown option '--frobnicate'"
    ;;
missing_value)
    run net.ndl --emit ir -o
    expect_usage "missing value after '-o'"
    run net.ndl --weights
    expect_usage "missing value after '--weights'"
    ;;
bad_emit)
    run net.ndl --emit exe2
    expect_usage "invalid value 'exe2' for --emit (expected exe, c, obj, llvm, ptx, cuda, ir, json or dot)"
    ;;
no_input)
    run
    expect_usage "no input file"
    run --emit ir
    expect_usage "no input file"
    ;;
two_inputs)
    run net.ndl net.ndl
    expect_usage "more than one input file: 'net.ndl' and 'net.ndl'"
    ;;
run_without_inputs)
    echo stale >"$tmp/out.safetensors"
    run run net.ndl -o "$tmp/out.safetensors"
    expect_usage "'ndlc run' needs --inputs IN.safetensors"
    ;;
emit_ir_deterministic)
    run net.ndl --emit ir
    expect_rc 0
    expect_empty "$tmp/stderr"
    cp "$tmp/stdout" "$tmp/first"
    run net.ndl --emit ir
    cmp -s "$tmp/first" "$tmp/stdout" || fail "two runs of --emit ir differ"
    run net.ndl --emit ir -o "$tmp/net.ir"
    expect_rc 0
    expect_empty "$tmp/stdout"
    cmp -s "$tmp/first" "$tmp/net.ir" || fail "--emit ir -o writes other text than to stdout"
    expect_grep "$tmp/first" '^model Net$'
    expect_grep "$tmp/first" 'conv2d\('
    [ "$(ls -A "$tmp" | grep -c -v -x -e first -e net.ir -e stdout -e stderr)" -eq 0 ] ||
        fail "files left beside the output: $(ls -A "$tmp")"
    ;;
emit_json)
    run lin.ndl --emit json -o "$tmp/lin.json"
    expect_rc 0
    expect_empty "$tmp/stderr"
    "$jsonget" "$tmp/lin.json" || fail "--emit json is not valid JSON"
    json_is "$tmp/lin.json" model Lin
    json_is "$tmp/lin.json" total.parameters 58
    json_is "$tmp/lin.json" total.parameter_bytes 232
    json_is "$tmp/lin.json" parameters.# 4
    json_is "$tmp/lin.json" parameters.0.key fc1.weight
    json_is "$tmp/lin.json" parameters.0.shape '[8,4]'
    # the subnet h = 4 (lin.subnet.json, OFA style) slices the hidden dimension
    run lin.ndl --emit json --subnet lin.subnet.json -o "$tmp/sub.json"
    expect_rc 0
    expect_empty "$tmp/stderr"
    json_is "$tmp/sub.json" total.parameters 30
    json_is "$tmp/sub.json" parameters.0.shape '[4,4]'
    json_is "$tmp/sub.json" parameters.2.shape '[2,4]'
    # -D wins over --subnet
    run lin.ndl --emit json --subnet lin.subnet.json -D h=8 -o "$tmp/d.json"
    expect_rc 0
    json_is "$tmp/d.json" total.parameters 58
    ;;
emit_dot)
    run net.ndl --emit dot -o "$tmp/net.dot"
    expect_rc 0
    expect_empty "$tmp/stderr"
    head -n 1 "$tmp/net.dot" | grep -q '^digraph' || fail "--emit dot does not start with 'digraph'"
    [ "$(tail -n 1 "$tmp/net.dot")" = "}" ] || fail "--emit dot does not end with '}'"
    ;;
depfile)
    run net.ndl --emit ir -o "$tmp/net.ir" -MD -MF "$tmp/deps.d"
    expect_rc 0
    expect_empty "$tmp/stderr"
    printf '%s: net.ndl \\\n  net.w.safetensors\n' "$tmp/net.ir" | expect_text "$tmp/deps.d"
    # with --subnet and --weights; -MD without -MF: the output's name with .d (as GCC)
    run net.ndl --emit ir -o "$tmp/sub.ir" -MD --subnet net.subnet.json --weights net.extra.safetensors
    expect_rc 0
    printf '%s: net.ndl \\\n  net.subnet.json \\\n  net.extra.safetensors\n' "$tmp/sub.ir" |
        expect_text "$tmp/sub.d"
    ;;
report)
    run lin.ndl --emit ir -o "$tmp/lin.ir" --report "$tmp/report.json"
    expect_rc 0
    expect_empty "$tmp/stderr"
    [ -s "$tmp/lin.ir" ] || fail "--report replaced the output"
    "$jsonget" "$tmp/report.json" || fail "--report is not valid JSON"
    json_is "$tmp/report.json" total.parameters 58
    run lin.ndl --emit json -o "$tmp/lin.json"
    cmp -s "$tmp/report.json" "$tmp/lin.json" || fail "--report differs from --emit json"
    ;;
dump_after_elaborate)
    # the dead sigmoid is still there right after elaboration
    run net.ndl --emit ir -o "$tmp/net.ir" --dump-after elaborate
    expect_rc 0
    expect_grep "$tmp/stderr" '^model Net$'
    expect_grep "$tmp/stderr" '= sigmoid\('
    expect_grep "$tmp/stderr" '= conv2d\('
    expect_no_grep "$tmp/net.ir" 'sigmoid'
    ;;
dump_after_dce)
    run net.ndl --emit ir -o "$tmp/net.ir" --dump-after dce
    expect_rc 0
    expect_grep "$tmp/stderr" '^model Net$'
    expect_grep "$tmp/stderr" '= conv2d\('
    expect_no_grep "$tmp/stderr" 'sigmoid'
    ;;
dump_after_bogus)
    echo stale >"$tmp/net.ir"
    run net.ndl --emit ir -o "$tmp/net.ir" --dump-after bogus
    expect_usage "unknown pass 'bogus' for --dump-after (see 'ndlc --help')"
    [ ! -e "$tmp/net.ir" ] || fail "the output survived a usage error"
    # a bad option is a usage error whatever the input file holds, as for other options
    run absent.ndl --dump-after bogus
    expect_usage "unknown pass 'bogus' for --dump-after (see 'ndlc --help')"
    ;;
unused_weights)
    run net.ndl --emit ir -o "$tmp/net.ir" --weights net.extra.safetensors -Wunused-weights
    expect_rc 0
    expect_empty "$tmp/stdout"
    echo "net.extra.safetensors: warning: tensor 'head.weight' is not used by the model" |
        expect_text "$tmp/stderr"
    [ -s "$tmp/net.ir" ] || fail "a warning prevented the output"
    # without the option, no warning
    run net.ndl --emit ir -o "$tmp/net.ir" --weights net.extra.safetensors
    expect_rc 0
    expect_empty "$tmp/stderr"
    ;;
unused_weights_batchnorm)
    # net.w.safetensors holds bn.num_batches_tracked, which BatchNorm2d ignores silently
    run net.ndl --emit ir -o "$tmp/net.ir" -Wunused-weights
    expect_rc 0
    expect_empty "$tmp/stderr"
    # with c = 4 the stored tensors are sliced, not unused
    run net.ndl --emit ir -o "$tmp/net.ir" -Wunused-weights -D c=4
    expect_rc 0
    expect_empty "$tmp/stderr"
    ;;
werror)
    echo stale >"$tmp/net.ir"
    run net.ndl --emit ir -o "$tmp/net.ir" --weights net.extra.safetensors -Wunused-weights -Werror
    expect_rc 1
    expect_empty "$tmp/stdout"
    echo "net.extra.safetensors: error: tensor 'head.weight' is not used by the model" |
        expect_text "$tmp/stderr"
    [ ! -e "$tmp/net.ir" ] || fail "the output survived -Werror (spec section 9)"
    [ "$(ls -A "$tmp" | grep -c -v -x -e stdout -e stderr -e expected)" -eq 0 ] ||
        fail "files left beside the output: $(ls -A "$tmp")"
    # -Werror alone changes nothing when there is no warning
    run net.ndl --emit ir -o "$tmp/net.ir" -Werror -Wunused-weights
    expect_rc 0
    expect_empty "$tmp/stderr"
    ;;
render)
    run render.ndl --emit ir -o "$tmp/out.ir"
    expect_rc 1
    expect_text "$tmp/stderr" <<'EOF'
render.ndl:10:5: error: redefinition of 'h'
   10 |     let h = sigmoid(a);
      |     ^~~~~~~~~~~~~~~~~~~
render.ndl:9:5: note: previous definition of 'h' is here
    9 |     let h = a;
      |     ^~~~~~~~~~
render.ndl:11:9: error: cannot broadcast [8,64] with [8,32] in 'add'
   11 |     y = h + b;
      |         ^~~~~
EOF
    ;;
list_ops)
    # Every op of `ndlc --list-ops` has a golden in tests/ops: some tests/ops/*.ndl uses
    # its NDL spelling (style guide 2.4). The table gives the spellings that are not
    # `OPNAME(`, as extended regular expressions over the code lines of the .ndl files.
    run --list-ops
    expect_rc 0
    expect_empty "$tmp/stderr"
    [ -s "$tmp/stdout" ] || fail "--list-ops printed nothing"
    cat >"$tmp/spellings" <<'EOF'
add          [^[:space:]][[:space:]]\+[[:space:]][^[:space:]]
sub          [^[:space:]][[:space:]]-[[:space:]][^[:space:]]
mul          [^[:space:]][[:space:]]\*[[:space:]][^[:space:]]
div          [^[:space:]][[:space:]]/[[:space:]][^[:space:]]
reduce_sum   (^|[^A-Za-z0-9_])sum\(
reduce_mean  (^|[^A-Za-z0-9_])mean\(
reduce_max   (^|[^A-Za-z0-9_])max\(
reduce_min   (^|[^A-Za-z0-9_])min\(
slice        [A-Za-z_][A-Za-z0-9_]*\[[^]]*:
recurse_gather  (^|[^A-Za-z0-9_])recurse\(
recurse_scatter (^|[^A-Za-z0-9_])recurse\(
moe_route    (^|[^A-Za-z0-9_])(topk|threshold)\(
moe_assign   (^|[^A-Za-z0-9_])assign\(
moe_gather   (^|[^A-Za-z0-9_])moe\(
moe_scatter  (^|[^A-Za-z0-9_])moe\(
round_f16    (^|[^A-Za-z0-9_])cast\([^,]*, *f16\)
round_bf16   (^|[^A-Za-z0-9_])cast\([^,]*, *bf16\)
EOF
    # the code lines of the goldens, comments dropped (recurse and moe ops: tests/recurse, tests/moe)
    sed -e 's/#.*//' -e 's|//.*||' ../ops/*.ndl ../recurse/*.ndl ../moe/*.ndl >"$tmp/code"
    awk -v ops="$tmp/stdout" -v code="$tmp/code" '
        FILENAME == ARGV[1] { spell[$1] = $2; next }   # the table: op, then its regex
        END {
            n = 0
            while ((getline line < code) > 0) text[++n] = line
            while ((getline op < ops) > 0) {
                listed[op] = 1
                re = (op in spell) ? spell[op] : "(^|[^A-Za-z0-9_])" op "\\("
                found = 0
                for (i = 1; i <= n && !found; i++) found = text[i] ~ re
                if (!found) printf "op %s has no golden: no tests/ops/*.ndl matches /%s/\n", op, re
            }
            for (op in spell)
                if (!(op in listed)) printf "the spelling table names %s, which --list-ops does not list\n", op
        }' "$tmp/spellings" >"$tmp/missing"
    if [ -s "$tmp/missing" ]; then
        fail "ops without a golden in tests/ops:"
        cat "$tmp/missing"
    fi
    ;;
*)
    echo "cli_test.sh: unknown case '$name'" >&2
    exit 2
    ;;
esac
exit $failed
