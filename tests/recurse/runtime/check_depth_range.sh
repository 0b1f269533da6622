#!/bin/sh
# SPDX-License-Identifier: MIT
# check_depth_range.sh - a recurse depth outside 0..max is a run-time error (spec 8.3).
#
#   check_depth_range.sh NDLC STCMP DIR [NDLC-OPTIONS...]
#
# DIR holds depth_range.ndl (max 2) and inputs depth_ok (every depth 0..2), depth_high
# (a 3) and depth_negative (a -1). The interpreter (`ndlc run`) and the executable both
# exit 1 on the bad ones with the error naming the input, and write no output file; on
# depth_ok both succeed and agree. NDLC-OPTIONS build the executable (e.g. --backend llvm).
# Exit status: 0 pass, 1 fail, 2 usage.
set -u
[ $# -ge 3 ] || { echo "usage: check_depth_range.sh NDLC STCMP DIR [NDLC-OPTIONS...]" >&2; exit 2; }
ndlc=$1 stcmp=$2 dir=$3
shift 3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/recurse.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "FAIL: $1" >&2
    exit 1
}

"$ndlc" "$dir/depth_range.ndl" "$@" -o "$tmp/net" || fail "ndlc exited with $?"
"$ndlc" run "$dir/depth_range.ndl" --inputs "$dir/depth_ok.in.safetensors" -o "$tmp/ref.safetensors" ||
    fail "ndlc run on depth_ok exited with $?"
"$tmp/net" "$dir/depth_ok.in.safetensors" "$tmp/exe.safetensors" || fail "the executable on depth_ok exited with $?"
"$stcmp" "$tmp/exe.safetensors" "$tmp/ref.safetensors" || fail "executable and interpreter disagree on depth_ok"

for bad in depth_high:"depth 3 of row 2 is outside 0..2" depth_negative:"depth -1 of row 1 is outside 0..2"; do
    stem=${bad%%:*} msg=${bad#*:}
    in="$dir/$stem.in.safetensors"
    "$ndlc" run "$dir/depth_range.ndl" --inputs "$in" -o "$tmp/bad.safetensors" 2>"$tmp/err"
    rc=$?
    [ $rc -eq 1 ] || fail "ndlc run on $stem exited with $rc, not 1"
    grep -qF "$in: error: recurse: $msg" "$tmp/err" || fail "ndlc run on $stem said: $(cat "$tmp/err")"
    [ ! -e "$tmp/bad.safetensors" ] || fail "ndlc run on $stem wrote an output file"
    "$tmp/net" "$in" "$tmp/bad.safetensors" 2>"$tmp/err"
    rc=$?
    [ $rc -eq 1 ] || fail "the executable on $stem exited with $rc, not 1"
    grep -qF "$in: error: an index is out of range" "$tmp/err" || fail "the executable on $stem said: $(cat "$tmp/err")"
    [ ! -e "$tmp/bad.safetensors" ] || fail "the executable on $stem wrote an output file"
done
echo "check_depth_range: ok"
