#!/bin/sh
# SPDX-License-Identifier: MIT
# run_diff.sh - one differential case: a random NDL program (tests/diff/gen.py SEED) run
# by the reference interpreter and by the compiled code, compared with stcmp.
#
#   run_diff.sh NDLC STCMP SEED
#   run_diff.sh NDLC STCMP CASE.ndl     (a kept or reduced case, e.g. tests/diff/found/*.ndl,
#                                        with its CASE.in.safetensors; no gen, no twin)
#
# Steps, all in a temporary directory (TMP):
#   gen    python3 gen.py SEED TMP      -> case.ndl, case.{w,in}.safetensors, twin.*
#   interp NDLC run case.ndl --inputs case.in.safetensors -o ref.safetensors   (reference)
#   twin   NDLC run twin.ndl (every parameter a model input, every module call expanded,
#          so fold/bnfold cannot apply) -> compared with ref: catches constant-pass bugs,
#          which the interpreter (run after the pass pipeline) cannot see
#   exe    NDLC case.ndl -o net [FLAGS] && net case.in.safetensors exe.safetensors
#   c      NDLC case.ndl --emit c -o model.c [FLAGS], compiled like run_golden.sh's c mode
#          (cc -std=c11 -Wall -Wextra -Werror -O2, with the runtime's driver), then run
#   llvm   NDLC case.ndl --backend llvm -o lnet [FLAGS] && lnet case.in.safetensors ...
# Each result is compared with ref by stcmp, tolerance atol 1e-4 rtol 1e-4 unless
# case.ndl has a `# TOL: ATOL RTOL` line; `# FLAGS: ...` adds ndlc options to exe and c.
# Every step runs even when an earlier comparison failed, so one report lists them all.
# DIFF_MODES (default "twin exe c"; CTest adds llvm where ndlc has LLVM) picks the checks after interp; DIFF_KEEP=1 keeps TMP.
# On failure: prints the seed, the failing steps and the commands to reproduce them, and
# keeps TMP. Exit status: 0 pass, 1 fail, 2 usage.
set -u

if [ $# -ne 3 ]; then
    echo "usage: run_diff.sh NDLC STCMP SEED|CASE.ndl" >&2
    exit 2
fi
ndlc=$1
stcmp=$2
seed=$3
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
modes=${DIFF_MODES:-twin exe c}
given=
case $seed in
    *.ndl)
        [ -f "$seed" ] || { echo "run_diff.sh: $seed: no such file" >&2; exit 2; }
        given=$(cd "$(dirname "$seed")" && pwd)/$(basename "$seed")
        seed=$(basename "$seed" .ndl)
        modes=${DIFF_MODES:-exe c}
        ;;
    ''|*[!0-9]*) echo "run_diff.sh: SEED must be a non-negative integer or a .ndl file, got '$seed'" >&2; exit 2 ;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/diff.$seed.XXXXXX") || exit 1
trap 'rm -rf "$tmp"; exit 1' HUP INT TERM

failed=
log=$tmp/log.txt
: > "$log"

# note STEP MESSAGE COMMAND...: records a failure and how to reproduce it
note() {
    failed="$failed $1"
    {
        echo "FAIL ($1): $2"
        echo "  $3"
    } >> "$log"
}

# run CMD...: runs a command with its output in the log
run() {
    echo "\$ $*" >> "$log"
    "$@" >> "$log" 2>&1
}

c_ndl=$tmp/case.ndl
c_in=$tmp/case.in.safetensors
if [ -n "$given" ]; then
    c_ndl=$given
    c_in=${given%.ndl}.in.safetensors
elif ! ${PYTHON:-python3} "$here/gen.py" "$seed" "$tmp" 2>> "$log"; then
    echo "FAIL (gen): seed $seed: gen.py failed" >&2
    cat "$log" >&2
    echo "(kept $tmp)" >&2
    exit 1
fi

tol=$(sed -n 's/^[[:space:]]*#[[:space:]]*TOL:[[:space:]]*//p' "$c_ndl" | head -n 1)
tolargs=
if [ -n "$tol" ]; then
    set -- $tol
    tolargs="--atol $1 --rtol $2"
fi
flags=$(sed -n 's/^[[:space:]]*#[[:space:]]*FLAGS:[[:space:]]*//p' "$c_ndl" | head -n 1)

# compare STEP OUT: stcmp OUT against the reference
compare() {
    # $tolargs is deliberately unquoted: it is empty or four words.
    if ! run "$stcmp" "$2" "$tmp/ref.safetensors" $tolargs; then
        note "$1" "output differs from the interpreter's" "$stcmp $2 $tmp/ref.safetensors $tolargs"
    fi
}

if ! run "$ndlc" run "$c_ndl" --inputs "$c_in" -o "$tmp/ref.safetensors"; then
    note interp "ndlc run failed" "$ndlc run $c_ndl --inputs $c_in -o $tmp/ref.safetensors"
else
    for m in $modes; do
        case $m in
        twin)
            if run "$ndlc" run "$tmp/twin.ndl" --inputs "$tmp/twin.in.safetensors" -o "$tmp/twin.safetensors"; then
                compare twin "$tmp/twin.safetensors"
            else
                note twin "ndlc run twin.ndl failed" \
                    "$ndlc run $tmp/twin.ndl --inputs $tmp/twin.in.safetensors -o $tmp/twin.safetensors"
            fi
            ;;
        exe)
            # $flags is deliberately unquoted: a list of options.
            cmd="$ndlc $c_ndl -o $tmp/net $flags && $tmp/net $c_in $tmp/exe.safetensors"
            if run "$ndlc" "$c_ndl" -o "$tmp/net" $flags && run "$tmp/net" "$c_in" "$tmp/exe.safetensors"; then
                compare exe "$tmp/exe.safetensors"
            else
                note exe "compiling or running the executable failed" "$cmd"
            fi
            ;;
        llvm)
            cmd="$ndlc $c_ndl --backend llvm -o $tmp/lnet $flags && $tmp/lnet $c_in $tmp/llvm.safetensors"
            if run "$ndlc" "$c_ndl" --backend llvm -o "$tmp/lnet" $flags &&
               run "$tmp/lnet" "$c_in" "$tmp/llvm.safetensors"; then
                compare llvm "$tmp/llvm.safetensors"
            else
                note llvm "compiling or running the LLVM backend's executable failed" "$cmd"
            fi
            ;;
        c)
            cflags="-std=c11 -Wall -Wextra -Werror -O2"
            case " $flags " in *" --threads "*) cflags="$cflags -fopenmp" ;; esac
            cmd="$ndlc $c_ndl --emit c -o $tmp/model.c $flags && ${CC:-cc} $cflags -I$tmp -I$root/runtime -o $tmp/cnet $tmp/model.c $tmp/main.c $root/runtime/driver.c $root/runtime/safetensors.c -lm && $tmp/cnet $c_in $tmp/c.safetensors"
            ok=0
            if run "$ndlc" "$c_ndl" --emit c -o "$tmp/model.c" $flags; then
                info=$(sed -n 's/^const struct NdlrtModelInfo \*\([A-Za-z0-9_]*\)(void);$/\1/p' "$tmp/model.h")
                printf '#include "ndlrt.h"\n#include "model.h"\nint main(int argc, char **argv) { return ndlrt_driver_main(%s(), argc, argv); }\n' \
                    "$info" > "$tmp/main.c"
                if [ -f "$tmp/model.weights.safetensors" ]; then
                    cp "$tmp/model.weights.safetensors" "$tmp/cnet.weights.safetensors"
                fi
                # $cflags is deliberately unquoted: a list of options.
                if [ -n "$info" ] && run ${CC:-cc} $cflags -I"$tmp" -I"$root/runtime" -o "$tmp/cnet" "$tmp/model.c" \
                        "$tmp/main.c" "$root/runtime/driver.c" "$root/runtime/safetensors.c" -lm &&
                   run "$tmp/cnet" "$c_in" "$tmp/c.safetensors"; then
                    ok=1
                fi
            fi
            if [ $ok = 1 ]; then
                compare c "$tmp/c.safetensors"
            else
                note c "emitting, compiling (warnings are errors) or running the C failed" "$cmd"
            fi
            ;;
        *)
            echo "run_diff.sh: unknown mode '$m' in DIFF_MODES" >&2
            rm -rf "$tmp"
            exit 2
            ;;
        esac
    done
fi

if [ -n "$failed" ]; then
    {
        echo "diff seed $seed FAILED:$failed"
        if [ -n "$given" ]; then
            echo "  case: $given"
        else
            echo "  regenerate: python3 $here/gen.py $seed DIR"
        fi
        cat "$log"
        echo "(kept $tmp)"
    } >&2
    exit 1
fi
if [ "${DIFF_KEEP:-0}" = 1 ]; then
    echo "diff seed $seed: pass (kept $tmp)"
else
    rm -rf "$tmp"
    echo "diff seed $seed: pass"
fi
exit 0
