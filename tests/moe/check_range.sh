#!/bin/sh
# SPDX-License-Identifier: MIT
# check_range.sh NDLC MODE - an assign index outside 0..E-1 at run time (spec 8.4, issue 8)
# is a clean error: exit 1, one message naming the input file, no output file. MODE is
# interp (`ndlc run`), exe (the C backend's executable), llvm-exe (--backend llvm) or
# ptx-host (--backend llvm --target cuda, the PTX plan run on the host by tests/ptx/host_rt.c
# through NDLC_PTXRT, which the caller sets). The model is tests/ops/moe_assign
# (3 experts); range/bad_idx.in.safetensors routes token 2 to expert 3.
set -u
ndlc=$1
mode=$2
here=$(cd "$(dirname "$0")" && pwd)
model=$here/../ops/moe_assign.ndl
bad=$here/range/bad_idx.in.safetensors
tmp=$(mktemp -d "${TMPDIR:-/tmp}/moerange.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "check_range.sh ($mode): $*" >&2; cat "$tmp/err" >&2; exit 1; }

case $mode in
interp)
    "$ndlc" run "$model" --inputs "$bad" -o "$tmp/out.safetensors" 2>"$tmp/err"
    rc=$?
    want="$bad: error: moe: expert index 3 of token 2 is outside 0..2" ;;
exe|llvm-exe|ptx-host)
    set -- --backend c
    [ "$mode" = llvm-exe ] && set -- --backend llvm
    [ "$mode" = ptx-host ] && set -- --backend llvm --target cuda
    "$ndlc" "$model" "$@" -o "$tmp/net" 2>"$tmp/err" || fail "compiling failed"
    "$tmp/net" "$bad" "$tmp/out.safetensors" 2>"$tmp/err"
    rc=$?
    want="$bad: error: an index is out of range" ;;
*) echo "usage: check_range.sh NDLC interp|exe|llvm-exe|ptx-host" >&2; exit 2 ;;
esac
[ "$rc" -eq 1 ] || fail "exit status $rc, expected 1"
[ ! -e "$tmp/out.safetensors" ] || fail "an output file was left"
[ "$(cat "$tmp/err")" = "$want" ] || fail "expected exactly: $want"
exit 0
