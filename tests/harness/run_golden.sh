#!/bin/sh
# SPDX-License-Identifier: MIT
# run_golden.sh - runs one golden case and compares its output with PyTorch's.
#
#   run_golden.sh NDLC STCMP CASE.ndl [MODE]
#
# MODE interp (default): `NDLC run CASE.ndl --inputs CASE.in.safetensors -o TMP/out`
#      (the .ndl names its own weight file).
# MODE exe: `NDLC CASE.ndl -o TMP/net` (the C backend, cc -O3 -march=native), then
#      `TMP/net CASE.in.safetensors TMP/out`.
# MODE c: `NDLC CASE.ndl --emit c -o TMP/model.c`, compiled as a user would with
#      `cc -std=c11 -Wall -Wextra -Werror -O2` (portable kernels, warnings are errors)
#      together with the runtime's driver, then run like exe.
# MODE exe-ext, c-ext: the same with --external-weights (the weights are loaded from
#      the file written beside the artefact, which the executable finds by its own name).
# MODE llvm-exe, llvm-exe-ext: exe and exe-ext through `--backend llvm` (no C compiler;
#      cc only links the object).
# MODE cuda-exe, cuda-exe-ext: `NDLC CASE.ndl --target cuda -o TMP/net` (nvcc; needs a GPU
#      to run, see tests/gpu/run.sh), then run like exe; -ext with --external-weights.
# MODE ptx-exe: `NDLC CASE.ndl --emit exe --backend llvm --target cuda -o TMP/net` (the PTX
#      of the LLVM backend and its driver-API host runtime; needs a GPU to run), then as exe.
# Then `STCMP TMP/out.safetensors CASE.out.safetensors`.
# The -ext modes then check that the executable refuses a weight file that does not match
# the model (exit 1, no output, one message naming the tensor): its first tensor reshaped
# to the same element count, and its last tensor missing (st_mutate.py; needs python3).
# A line `# TOL: ATOL RTOL` in CASE.ndl passes --atol/--rtol to stcmp (default 1e-4 1e-4).
# A line `# ARGS: OPTIONS` in CASE.ndl adds OPTIONS to every ndlc command (split on blanks);
# `{dir}` in it stands for the case's directory (e.g. --subnet {dir}/cfg.json).
# On failure it prints the commands it ran, so they can be pasted into a shell, and keeps
# the temporary directory holding the actual output.
# Exit status: 0 pass, 1 fail, 2 usage.
set -u

if [ $# -ne 3 ] && [ $# -ne 4 ]; then
    echo "usage: run_golden.sh NDLC STCMP CASE.ndl [interp|exe|c|exe-ext|c-ext|llvm-exe|llvm-exe-ext|cuda-exe|cuda-exe-ext|ptx-exe]" >&2
    exit 2
fi
ndlc=$1
stcmp=$2
case_ndl=$3
mode=${4:-interp}
root=$(cd "$(dirname "$0")/../.." && pwd)
stem=${case_ndl%.ndl}
if [ "$stem" = "$case_ndl" ] || [ ! -f "$case_ndl" ]; then
    echo "run_golden.sh: $case_ndl: not an existing .ndl file" >&2
    exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/golden.XXXXXX") || exit 1
trap 'rm -rf "$tmp"; exit 1' HUP INT TERM
out=$tmp/out.safetensors

# Optional per-case tolerance: the first "# TOL: atol rtol" line.
tol=$(sed -n 's/^[[:space:]]*#[[:space:]]*TOL:[[:space:]]*//p' "$case_ndl" | head -n 1)
tolargs=
if [ -n "$tol" ]; then
    set -- $tol
    if [ $# -ne 2 ]; then
        echo "run_golden.sh: $case_ndl: malformed '# TOL: atol rtol' line" >&2
        rm -rf "$tmp"
        exit 1
    fi
    tolargs="--atol $1 --rtol $2"
fi

# Optional extra ndlc options (e.g. --prune), for every mode: the first "# ARGS: ..." line,
# split on blanks, no quoting and no globbing (set -f: patterns like fc*.weight stay as written).
set -f
case_dir=$(cd "$(dirname "$case_ndl")" && pwd)
args=$(sed -n 's/^[[:space:]]*#[[:space:]]*ARGS:[[:space:]]*//p' "$case_ndl" | head -n 1 |
       sed "s|{dir}|$case_dir|g")

fail() {
    echo "FAIL ($mode): $1" >&2
    echo "  $run_cmd" >&2
    echo "(kept $tmp)" >&2
    exit 1
}

# refuse_weights EXE WEIGHTS: EXE must refuse WEIGHTS with one tensor reshaped, then with
# one missing, naming it; WEIGHTS is restored afterwards.
refuse_weights() {
    rw_exe=$1
    rw_w=$2
    rw_cmd=$run_cmd
    cp "$rw_w" "$tmp/good.weights" || fail "cannot copy $rw_w"
    for rw_op in reshape drop; do
        rw_line=$(python3 "$root/tests/harness/st_mutate.py" "$tmp/good.weights" "$rw_w" $rw_op)
        rw_rc=$?
        [ $rw_rc -eq 3 ] && break  # no tensor to change
        [ $rw_rc -eq 0 ] || fail "st_mutate.py $rw_op exited with status $rw_rc"
        rw_name=$(printf '%s\n' "$rw_line" | cut -f1)
        if [ $rw_op = reshape ]; then
            rw_want="$rw_w: error: tensor '$rw_name' has shape $(printf '%s\n' "$rw_line" | cut -f2) but the model needs $(printf '%s\n' "$rw_line" | cut -f3)"
        else
            rw_want="$rw_w: error: tensor '$rw_name' is missing"
        fi
        run_cmd="python3 $root/tests/harness/st_mutate.py $tmp/good.weights $rw_w $rw_op && $rw_exe $stem.in.safetensors $tmp/refused.safetensors"
        echo stale > "$tmp/refused.safetensors"
        "$rw_exe" "$stem.in.safetensors" "$tmp/refused.safetensors" 2> "$tmp/refused.err"
        rw_rc=$?
        [ $rw_rc -eq 1 ] || fail "with the $rw_op weight file the executable exited with status $rw_rc, expected 1"
        [ "$(cat "$tmp/refused.err")" = "$rw_want" ] ||
            fail "with the $rw_op weight file the executable said '$(cat "$tmp/refused.err")', expected '$rw_want'"
        [ -e "$tmp/refused.safetensors" ] && fail "a refused weight file left an output"
    done
    cp "$tmp/good.weights" "$rw_w"
    run_cmd=$rw_cmd
}

case $mode in
interp)
    run_cmd="$ndlc run $case_ndl $args --inputs $stem.in.safetensors -o $out"
    "$ndlc" run "$case_ndl" $args --inputs "$stem.in.safetensors" -o "$out" || fail "ndlc run exited with status $?"
    ;;
exe|exe-ext|llvm-exe|llvm-exe-ext|cuda-exe|cuda-exe-ext|ptx-exe)
    ext=
    backend=
    case $mode in *-ext) ext=--external-weights ;; esac
    case $mode in llvm-*) backend="--backend llvm" ;; cuda-*) backend="--target cuda" ;;
                  ptx-*) backend="--backend llvm --target cuda" ;; esac
    run_cmd="$ndlc $case_ndl $args $backend $ext -o $tmp/net && $tmp/net $stem.in.safetensors $out"
    "$ndlc" "$case_ndl" $args $backend $ext -o "$tmp/net" || fail "ndlc exited with status $?"
    if [ -n "$ext" ] && [ ! -f "$tmp/net.weights.safetensors" ]; then fail "no net.weights.safetensors"; fi
    "$tmp/net" "$stem.in.safetensors" "$out" || fail "the executable exited with status $?"
    [ -n "$ext" ] && refuse_weights "$tmp/net" "$tmp/net.weights.safetensors"
    ;;
c|c-ext)
    ext=
    [ "$mode" = c-ext ] && ext=--external-weights
    cflags="-std=c11 -Wall -Wextra -Werror -O2"
    run_cmd="$ndlc $case_ndl $args --emit c $ext -o $tmp/model.c && cc $cflags -I$tmp -I$root/runtime ..."
    "$ndlc" "$case_ndl" $args --emit c $ext -o "$tmp/model.c" || fail "ndlc --emit c exited with status $?"
    info=$(sed -n 's/^const struct NdlrtModelInfo \*\([A-Za-z0-9_]*\)(void);$/\1/p' "$tmp/model.h")
    [ -n "$info" ] || fail "model.h declares no *_info function"
    printf '#include "ndlrt.h"\n#include "model.h"\nint main(int argc, char **argv) { return ndlrt_driver_main(%s(), argc, argv); }\n' \
        "$info" > "$tmp/main.c"
    # named `model` so that the driver finds model.weights.safetensors beside it
    ${CC:-cc} $cflags -I"$tmp" -I"$root/runtime" -o "$tmp/model" "$tmp/model.c" "$tmp/main.c" \
        "$root/runtime/driver.c" "$root/runtime/safetensors.c" -lm || fail "the generated C does not compile cleanly"
    if [ -n "$ext" ] && [ ! -f "$tmp/model.weights.safetensors" ]; then fail "no model.weights.safetensors"; fi
    "$tmp/model" "$stem.in.safetensors" "$out" || fail "the program exited with status $?"
    [ -n "$ext" ] && refuse_weights "$tmp/model" "$tmp/model.weights.safetensors"
    ;;
*)
    echo "run_golden.sh: unknown mode '$mode'" >&2
    exit 2
    ;;
esac
cmp_cmd="$stcmp $out $stem.out.safetensors $tolargs"
# $tolargs is deliberately unquoted: it is empty or four words.
"$stcmp" "$out" "$stem.out.safetensors" $tolargs
rc=$?
if [ $rc -ne 0 ]; then
    echo "FAIL ($mode): output differs from the PyTorch golden (stcmp status $rc)" >&2
    echo "  $run_cmd" >&2
    echo "  $cmp_cmd" >&2
    echo "(kept $tmp)" >&2
    exit 1
fi
rm -rf "$tmp"
exit 0
