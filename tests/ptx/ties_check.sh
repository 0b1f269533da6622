#!/bin/sh
# SPDX-License-Identifier: MIT
# ties_check.sh - moe routing ties in the PTX plan (tests/ptx/moe_ties.ndl: top-k with and
# without softmax, a threshold reached exactly, on scores full of exact ties): the plan run
# on the host (NDLC_PTXRT = tests/ptx/host_rt.c) must give the interpreter's outputs, the
# spec's routing (the lower expert index wins a tie).
#
#   ties_check.sh NDLC STCMP
set -u
ndlc=$1
stcmp=$2
here=$(cd "$(dirname "$0")" && pwd)
export NDLC_PTXRT="$here/host_rt.c"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ptx_ties.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
in=$here/moe_ties.in.safetensors
"$ndlc" run "$here/moe_ties.ndl" --inputs "$in" -o "$tmp/ref.safetensors" || fail "ndlc run exited with $?"
"$ndlc" "$here/moe_ties.ndl" --emit exe --backend llvm --target cuda -o "$tmp/net" || fail "ndlc exited with $?"
"$tmp/net" "$in" "$tmp/out.safetensors" || fail "the host-run plan exited with $?"
"$stcmp" "$tmp/out.safetensors" "$tmp/ref.safetensors" || fail "the host-run plan and the interpreter disagree"
echo "ties_check: ok"
