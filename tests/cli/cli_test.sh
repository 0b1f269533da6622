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

# A refused command: exit status 2 and just "ndlc: error: MESSAGE", nothing on stdout.
expect_usage_only() {
    expect_rc 2
    expect_empty "$tmp/stdout"
    printf 'ndlc: error: %s\n' "$1" | expect_text "$tmp/stderr"
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
bad_combinations)
    # option pairs that cannot produce anything are usage errors, before any file is read
    run net.ndl --emit c --backend llvm -o "$tmp/o.c"
    expect_usage "--emit c is the C backend's output (--backend llvm writes exe, obj or llvm)"
    run net.ndl --emit obj --target cuda -o "$tmp/o.o"
    expect_usage "--emit obj is for --target cpu (--target cuda writes cuda, ptx or exe)"
    run net.ndl --emit cuda --backend llvm -o "$tmp/o.cu"
    expect_usage "--emit cuda is CUDA C from --backend c (--backend llvm writes PTX: --emit ptx)"
    run net.ndl --backend llvm --target cuda --cpu sm_70 -o "$tmp/o"
    expect_usage "invalid --cpu 'sm_70' for PTX (expected sm_80 or sm_90)"
    run run net.ndl --inputs net.w.safetensors --emit ir
    expect_usage "'ndlc run' executes the model with the interpreter; --emit is for compiling"
    run no_such_file.ndl --emit c --target cuda
    expect_usage "--emit c is for --target cpu (--target cuda writes cuda, ptx or exe)"
    ;;
opt_levels)
    # -O0 reaches the C compiler as such; the default -O2 (and -O3) build at cc -O3
    printf '#!/bin/sh\necho "$*" >>"%s/cc.log"\nexec cc "$@"\n' "$tmp" >"$tmp/cc"
    chmod +x "$tmp/cc"
    CC="$tmp/cc"
    export CC
    for lv in 0 2; do
        : >"$tmp/cc.log"
        run ../../examples/tinynet.ndl -O$lv -o "$tmp/tiny$lv"
        expect_rc 0
        want=$([ $lv -ge 2 ] && echo 3 || echo $lv)
        expect_grep "$tmp/cc.log" "^-std=c11 -O$want "
        "$tmp/tiny$lv" ../../examples/tinynet.in.safetensors "$tmp/out$lv.safetensors" ||
            fail "the -O$lv executable failed"
    done
    ;;
import_outputs)
    # ndlc import goes through the same output rules: refused when -o (or its .safetensors)
    # is the input, and a failure removes a stale OUT.ndl
    printf 'not protobuf' >"$tmp/bad.onnx"
    run import "$tmp/bad.onnx" -o "$tmp/bad.onnx"
    expect_usage_only "output file '$tmp/bad.onnx' is the input file '$tmp/bad.onnx'"
    [ "$(cat "$tmp/bad.onnx")" = "not protobuf" ] || fail "'$last' changed its input"
    echo stale >"$tmp/out.ndl"
    echo stale >"$tmp/out.safetensors"
    run import "$tmp/bad.onnx" -o "$tmp/out.ndl"
    expect_rc 1
    [ ! -e "$tmp/out.ndl" ] || fail "'$last' left a stale out.ndl"
    [ ! -e "$tmp/out.safetensors" ] || fail "'$last' left a stale out.safetensors"
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
report_passes)
    # spec 9: the report's sizes per pass. net.ndl: elaboration makes 6 ops with 266
    # parameters; bnfold folds BatchNorm into the conv (5 ops, 242), dce drops the dead
    # sigmoid (4 ops), prune removes the conv's all-zero output channels (212)
    run net.ndl --emit json -o "$tmp/net.json"
    expect_rc 0
    json_is "$tmp/net.json" 'passes.#' 7
    json_is "$tmp/net.json" passes.0.pass elaborate
    json_is "$tmp/net.json" passes.0.ops 6
    json_is "$tmp/net.json" passes.0.parameters 266
    json_is "$tmp/net.json" passes.3.pass bnfold
    json_is "$tmp/net.json" passes.3.ops 5
    json_is "$tmp/net.json" passes.3.parameters 242
    json_is "$tmp/net.json" passes.4.pass dce
    json_is "$tmp/net.json" passes.4.ops 4
    json_is "$tmp/net.json" passes.6.parameters "$("$jsonget" "$tmp/net.json" total.parameters)"
    json_is "$tmp/net.json" passes.6.flops "$("$jsonget" "$tmp/net.json" total.flops)"
    ;;
run_report_depfile)
    # ndlc run writes --report and -MD as a compile does (they describe the model it ran)
    run run ../../examples/tinynet.ndl --inputs ../../examples/tinynet.in.safetensors \
        -o "$tmp/out.safetensors" --report "$tmp/run.json" -MD
    expect_rc 0
    [ -s "$tmp/out.safetensors" ] || fail "'$last' wrote no output"
    json_is "$tmp/run.json" model TinyNet
    json_is "$tmp/run.json" passes.0.pass elaborate
    expect_grep "$tmp/out.d" 'out.safetensors: .*tinynet.ndl'
    expect_grep "$tmp/out.d" 'tinynet.safetensors'
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
out_device)
    # An output path that exists and is not a regular file is written in place (as cc),
    # never replaced by a renamed temporary nor removed after a failure: a FIFO, a
    # character device (mknod, root only), and the runtime writer of `ndlc run -o`.
    mkfifo "$tmp/fifo" || { fail "mkfifo"; exit 1; }
    timeout 20 cat "$tmp/fifo" >"$tmp/fifo.out" &   # a reader, so that the writer can open it
    run net.ndl --emit ir -o "$tmp/fifo"
    wait
    expect_rc 0
    [ -p "$tmp/fifo" ] || fail "'$last' replaced the FIFO"
    grep -q 'conv2d' "$tmp/fifo.out" || fail "'$last': the IR did not go through the FIFO"
    run net.ndl --emit ir -o "$tmp/fifo" --frob
    expect_rc 2
    [ -p "$tmp/fifo" ] || fail "'$last' removed the FIFO"
    if [ "$(id -u)" = 0 ] && mknod -m 666 "$tmp/null" c 1 3 2>/dev/null; then
        for emit in ir c; do
            run net.ndl --emit $emit -o "$tmp/null"
            expect_rc 0
            [ -c "$tmp/null" ] || fail "'$last' replaced the device"
        done
        run ../../examples/tinynet.ndl --emit ir -o "$tmp/null" --nothing
        [ -c "$tmp/null" ] || fail "'$last' removed the device"
        run run ../../examples/tinynet.ndl --inputs ../../examples/tinynet.in.safetensors -o "$tmp/null"
        expect_rc 0
        [ -c "$tmp/null" ] || fail "'$last' replaced the device"
        run run ../../examples/tinynet.ndl --inputs net.w.safetensors -o "$tmp/null"
        expect_rc 1
        [ -c "$tmp/null" ] || fail "'$last' removed the device"
    else
        echo "out_device: not root (or no mknod): character device part skipped"
    fi
    ;;
out_is_input)
    # An output that is an input is refused before anything is read or written (exit 2),
    # and nothing is deleted, whether the command would succeed or fail.
    cp net.ndl net.w.safetensors net.subnet.json "$tmp/" && cd "$tmp" || exit 1
    cp net.ndl v.ndl
    echo 'bogus' >>v.ndl
    cp v.ndl v.orig
    run v.ndl -o v.ndl
    expect_usage_only "output file 'v.ndl' is the input file 'v.ndl'"
    cmp -s v.ndl v.orig || fail "'$last' changed its input"
    run net.ndl --emit ir -o ./net.ndl
    expect_usage_only "output file './net.ndl' is the input file 'net.ndl'"
    cmp -s net.ndl "$here/net.ndl" || fail "'$last' overwrote its input"
    for o in "--weights w.safetensors -o w.safetensors" "-o x.c --emit c --weights x.h" \
             "--emit ir -o y.ir --report net.subnet.json --subnet net.subnet.json"; do
        cp net.w.safetensors w.safetensors
        cp net.w.safetensors x.h
        # shellcheck disable=SC2086
        run net.ndl $o
        expect_rc 2
        expect_grep "$tmp/stderr" "^ndlc: error: output file '[^']*' is the input file '[^']*'$"
    done
    cmp -s w.safetensors net.w.safetensors || fail "--weights w.safetensors -o w.safetensors changed it"
    cmp -s x.h net.w.safetensors || fail "the header beside -o x.c replaced the --weights x.h"
    [ -s net.subnet.json ] || fail "--report net.subnet.json removed the --subnet file"
    # the weight file named inside the .ndl, known after elaboration
    run net.ndl --emit ir -o net.w.safetensors
    expect_usage_only "output file 'net.w.safetensors' is the input file 'net.w.safetensors'"
    cmp -s net.w.safetensors "$here/net.w.safetensors" || fail "'$last' changed the weights"
    run run net.ndl --inputs in.st -o in.st
    expect_usage_only "output file 'in.st' is the input file 'in.st'"
    ;;
usage_keeps_input)
    # After a usage error the -o file is removed only when it is a regular file that is
    # not an input (main.c).
    cp net.ndl "$tmp/v.ndl"
    run "$tmp/v.ndl" -o "$tmp/v.ndl" --frob
    expect_rc 2
    [ -s "$tmp/v.ndl" ] || fail "'$last' deleted its input"
    echo stale >"$tmp/stale.ir"
    run net.ndl -o "$tmp/stale.ir" --frob
    expect_rc 2
    [ -e "$tmp/stale.ir" ] && fail "'$last' left the stale output"
    ;;
failure_removes_outputs)
    # A failure removes every output of the command, stale or fresh: the header, the
    # external weights, the report and the depfile too; the report and depfile are
    # written only after the main output.
    cp net.ndl "$tmp/bad.ndl"
    echo 'bogus' >>"$tmp/bad.ndl"
    for f in o.c o.h o.weights.safetensors rep.json o.d; do echo stale >"$tmp/$f"; done
    run "$tmp/bad.ndl" --emit c -o "$tmp/o.c" --external-weights --report "$tmp/rep.json" -MD
    expect_rc 1
    for f in o.c o.h o.weights.safetensors rep.json o.d; do
        [ -e "$tmp/$f" ] && fail "'$last' left $f"
    done
    run net.ndl --emit c -o "$tmp/nonexistent/out.c" --report "$tmp/rep.json" -MF "$tmp/dep.d" -MD
    expect_rc 1
    [ -e "$tmp/rep.json" ] && fail "'$last' wrote the report of an output that failed"
    [ -e "$tmp/dep.d" ] && fail "'$last' wrote the depfile of an output that failed"
    ls "$tmp" | grep -q 'tmp' && fail "'$last' left a temporary: $(ls "$tmp")"
    ;;
output_mode)
    # Outputs get 0666 & ~umask (as cc), not mkstemp's 0600.
    for f in ir c json dot; do
        (umask 022 && "$ndlc" net.ndl --emit $f -o "$tmp/m.$f" --report "$tmp/r.json" -MD) ||
            fail "--emit $f failed"
        [ "$(stat -c %a "$tmp/m.$f")" = 644 ] || fail "--emit $f made mode $(stat -c %a "$tmp/m.$f") under umask 022"
    done
    for f in m.h r.json m.d; do
        [ "$(stat -c %a "$tmp/$f")" = 644 ] || fail "$f has mode $(stat -c %a "$tmp/$f") under umask 022"
    done
    (umask 027 && "$ndlc" net.ndl --emit ir -o "$tmp/n.ir") || fail "--emit ir failed"
    [ "$(stat -c %a "$tmp/n.ir")" = 640 ] || fail "umask 027 gave mode $(stat -c %a "$tmp/n.ir")"
    ;;
depfile_escape)
    # -MD without -o names the default output (a.c for --emit c); Make's specials are
    # escaped as GCC does: a space as '\ ', '#' as '\#', '$' as '$$'.
    mkdir "$tmp/d" && cp net.ndl net.w.safetensors "$tmp/d/" || exit 1
    last="ndlc net.ndl --emit c -MD"
    (cd "$tmp/d" && "$ndlc" net.ndl --emit c -MD) || fail "'$last' failed"
    printf 'a.c: net.ndl \\\n  net.w.safetensors\n' | expect_text "$tmp/d/a.d"
    cp net.ndl "$tmp/d/my net.ndl"
    last="ndlc 'my net.ndl' --emit ir -o 'o \$x#1.ir' -MD"
    (cd "$tmp/d" && "$ndlc" "my net.ndl" --emit ir -o 'o $x#1.ir' -MD) || fail "'$last' failed"
    printf 'o\\ $$x\\#1.ir: my\\ net.ndl \\\n  net.w.safetensors\n' | expect_text "$tmp/d/o \$x#1.d"
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
