#!/bin/sh
# SPDX-License-Identifier: MIT
# check_loop.sh - recurse's steps are one loop over one body (spec 8.3, issue 7).
#
#   check_loop.sh NDLC CASE.ndl
#
# CASE.ndl carries `# LOOP: N` (its max, less one where the first step reads a model
# input). In `--emit c`: run() holds one loop of N repetitions, and each layer function is defined once (the gather, the scatter and
# every body op: none is emitted per step).
# Exit status: 0 pass, 1 fail, 2 usage.
set -u
[ $# -eq 2 ] || { echo "usage: check_loop.sh NDLC CASE.ndl" >&2; exit 2; }
ndlc=$1 case_ndl=$2
want=$(sed -n 's/^# LOOP: \([0-9]*\).*/\1/p' "$case_ndl")
[ -n "$want" ] || { echo "check_loop.sh: no '# LOOP: N' in $case_ndl" >&2; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/recurse.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "FAIL: $1" >&2
    exit 1
}
"$ndlc" "$case_ndl" --emit c -o "$tmp/m.c" || fail "ndlc --emit c exited with $?"
grep -q "calls repeated $want times" "$tmp/m.c" || fail "run() does not hold the $want steps as one loop"
n=$(grep -c '^static int [A-Za-z0-9_]*_recurse_gather(' "$tmp/m.c")
[ "$n" = 1 ] || fail "$n recurse_gather functions, expected 1"
# with max raised to 12 (every depth of the inputs stays valid) the C defines the same
# layer functions: none is emitted per step
sed 's/\(recurse(.*, \)[0-9][0-9]*)/\112)/' "$case_ndl" >"$tmp/max12.ndl"
grep -q 'recurse(.*, 12)' "$tmp/max12.ndl" || fail "cannot raise max in $case_ndl"
"$ndlc" "$tmp/max12.ndl" --weights "${case_ndl%.ndl}.w.safetensors" --emit c -o "$tmp/m12.c" ||
    fail "ndlc with max 12 exited with $?"
f=$(grep -c '^static int ' "$tmp/m.c") f12=$(grep -c '^static int ' "$tmp/m12.c")
[ "$f" = "$f12" ] || fail "$f functions with max $want, $f12 with max 12"
grep -q "calls repeated 1[12] times" "$tmp/m12.c" || fail "max 12: the steps are not one loop"
echo "check_loop: one loop of $want steps; $f functions for either max"
