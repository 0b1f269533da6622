#!/bin/sh
# SPDX-License-Identifier: MIT
# llvm_test.sh - the LLVM backend's command-line cases: one CTest per case (llvm/<case>).
#   llvm_test.sh NDLC STCMP CASE
# Cases: emit_llvm (textual IR with the API and the weights as aligned byte constants),
# cpu_generic / cpu_avx2 (the baseline and AVX2 runtime bitcode give the golden result),
# bad_output (an unwritable output is an error, exit 1, no file left), unavailable (a
# build without LLVM refuses --backend llvm with a clear message).
set -u
ndlc=$1
stcmp=$2
case_name=$3
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/llvmtest.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL ($case_name): $1" >&2; exit 1; }
mlp=$root/tests/models/mlp

golden_with_cpu() {
    "$ndlc" "$mlp.ndl" --backend llvm --cpu "$1" -o "$tmp/net" || fail "ndlc --cpu $1 exited with status $?"
    "$tmp/net" "$mlp.in.safetensors" "$tmp/out.safetensors" || fail "the executable exited with status $?"
    "$stcmp" "$tmp/out.safetensors" "$mlp.out.safetensors" || fail "output differs from the golden"
}

# expect_error MESSAGE ARGS...: ndlc ARGS exits 1 with MESSAGE on stderr
expect_error() {
    msg=$1
    shift
    "$ndlc" "$@" 2> "$tmp/err"
    rc=$?
    [ $rc -eq 1 ] || fail "exit status $rc, expected 1"
    grep -q "$msg" "$tmp/err" || fail "expected '$msg', got: $(cat "$tmp/err")"
}

case $case_name in
emit_llvm)
    "$ndlc" "$mlp.ndl" --emit llvm -o "$tmp/m.ll" 2> "$tmp/err" || fail "ndlc --emit llvm exited with status $?"
    [ -s "$tmp/err" ] && fail "unexpected messages: $(cat "$tmp/err")"
    grep -q '^target triple = "x86_64' "$tmp/m.ll" || fail "no x86-64 target triple"
    grep -q '^define.* i32 @MLP_run(ptr .*, i64 .*, ptr .*, ptr .*, ptr .*, ptr .*)' "$tmp/m.ll" || fail "no MLP_run(model, N, x, y, p, cls)"
    for f in create reserve y_dims p_dims cls_dims workspace_bytes destroy strerror info; do
        grep -q "^define.* @MLP_$f(" "$tmp/m.ll" || fail "no MLP_$f"
    done
    # fc1.weight (64x96 floats) packed at compile time: one byte constant, 64-aligned
    grep -q '^@P_fc1_[0-9]* = private unnamed_addr constant \[[0-9]* x i8\] c".*", align 64$' "$tmp/m.ll" ||
        fail "the packed fc1 weight is not an aligned byte constant"
    # everything else is internal: no other external definition
    other=$(grep '^define ' "$tmp/m.ll" | grep -v 'internal\|private' | grep -v '@MLP_')
    [ -z "$other" ] || fail "definitions outside the API are external: $other"
    ;;
cpu_generic) golden_with_cpu x86-64 ;;
cpu_avx2) golden_with_cpu x86-64-v3 ;;
bad_output)
    expect_error "m.o: error: " "$mlp.ndl" --emit obj -o "$tmp/no/such/dir/m.o"
    [ -e "$tmp/no" ] && fail "a file was left"
    ;;
unavailable)
    expect_error "error: this ndlc was built without LLVM" "$mlp.ndl" --backend llvm -o "$tmp/net"
    [ -e "$tmp/net" ] && fail "an output was written"
    ;;
*) echo "llvm_test.sh: unknown case '$case_name'" >&2; exit 2 ;;
esac
exit 0
