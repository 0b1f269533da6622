#!/bin/sh
# SPDX-License-Identifier: MIT
# check_load.sh NDLC MODE CASE - the executable's per-expert load statistics (issue 8,
# item 4): CASE.ndl compiled as MODE (exe: the C backend; llvm-exe: the LLVM backend) and
# run on CASE.in.safetensors with --repeat 1 prints, after its timing line, one line per
# moe layer that must equal CASE.load, the counts tests/reference/moe_cases.py took from
# PyTorch's routing of the same input.
set -u
ndlc=$1
mode=$2
case_=$3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/moeload.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
case $mode in
exe) backend= ;;
llvm-exe) backend="--backend llvm" ;;
*) echo "check_load.sh: unknown mode '$mode'" >&2; exit 2 ;;
esac
# shellcheck disable=SC2086
"$ndlc" "$case_.ndl" $backend -o "$tmp/net" || exit 1
"$tmp/net" "$case_.in.safetensors" "$tmp/out.safetensors" --repeat 1 >"$tmp/stdout" || exit 1
if ! head -n 1 "$tmp/stdout" | grep -q '^runs=1 '; then
    echo "check_load.sh: the timing line does not come first:" >&2
    cat "$tmp/stdout" >&2
    exit 1
fi
tail -n +2 "$tmp/stdout" >"$tmp/load"
diff -u "$case_.load" "$tmp/load"
