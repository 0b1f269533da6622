#!/bin/sh
# SPDX-License-Identifier: MIT
# check_sharing.sh - parameter sharing through the LLVM backend (spec 8.3, issue 7).
#
#   check_sharing.sh NDLC CASE.ndl
#
# CASE.ndl is a tests/sharing or tests/recurse golden; `# ARGS:` adds options as in
# run_golden.sh. Checks what applies:
#   - `# C-ARRAY-BYTES: N` (hashed weights): the weight constants of `--emit llvm` (@W_*,
#     @P_*) hold exactly N bytes, the pools and biases: with `--share compressed` the
#     linears read the pool (program.py: no layer in create, none packed), with
#     `--share materialize` create expands each hashed weight once and packs it;
#   - `elastic depth` (one shared layer applied k times): the object (`--emit obj`) for
#     depth 12 is less than 5% larger than for depth 2;
#   - `recurse(..., max)`: the object for max 12 is less than 5% larger than for the
#     case's max (the steps are records of the program over the same kernels: code does
#     not grow with the recursion count).
# Exit status: 0 pass, 1 fail, 2 usage.
set -u
[ $# -eq 2 ] || { echo "usage: check_sharing.sh NDLC CASE.ndl" >&2; exit 2; }
ndlc=$1 case_ndl=$2
here=$(cd "$(dirname "$0")" && pwd)
stem=${case_ndl%.ndl}
args=$(sed -n 's/^# ARGS: //p' "$case_ndl" | head -n 1)
want_bytes=$(sed -n 's/^# C-ARRAY-BYTES: //p' "$case_ndl")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/llvm-sharing.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "FAIL: $1" >&2
    exit 1
}
field() { sed -n "s/^$1 *//p" "$2"; }
objsize() { size "$1" | awk 'NR == 2 { print $4 }'; }
# at most 5% more bytes: SMALL LARGE WHAT
within5() {
    awk -v a="$1" -v b="$2" 'BEGIN { exit !(b < a * 1.05) }' ||
        fail "object size grows with $3: $1 bytes, then $2 (5% allowed)"
    echo "object size ($3): $1 bytes, then $2"
}

if [ -n "$want_bytes" ]; then
    "$ndlc" "$case_ndl" $args --emit llvm -o "$tmp/m.ll" || fail "ndlc --emit llvm exited with $?"
    got=$(sed -n 's/^@[WP]_[A-Za-z0-9_]* = private [a-z_ ]*constant \[\([0-9]*\) x i8\].*/\1/p' "$tmp/m.ll" |
          awk '{ s += $1 } END { print s + 0 }')
    [ "$got" = "$want_bytes" ] || fail "the object's weight constants hold $got bytes, expected $want_bytes (pools and biases)"
    python3 "$here/program.py" "$tmp/m.ll" >"$tmp/prog" || fail "cannot read the program"
    case " $args " in
    *" --share compressed "*)
        [ -z "$(field init "$tmp/prog")" ] || fail "--share compressed: create expands a hashed weight"
        field packed "$tmp/prog" | grep -q 3 || fail "--share compressed: no linear reads its pool" ;;
    *)
        [ -n "$(field init "$tmp/prog")" ] || fail "no hashed weight is expanded by create"
        [ "$(field packs "$tmp/prog")" -gt 0 ] || fail "create packs no expanded hashed weight" ;;
    esac
    echo "weight constants: $got bytes"
fi
if grep -q '^[[:space:]]*elastic depth' "$case_ndl"; then
    for k in 2 12; do
        "$ndlc" "$case_ndl" $args -D depth=$k --emit obj -o "$tmp/d$k.o" || fail "ndlc -D depth=$k --emit obj exited with $?"
    done
    within5 "$(objsize "$tmp/d2.o")" "$(objsize "$tmp/d12.o")" "the depth, 2 to 12"
fi
if grep -q 'recurse(' "$case_ndl"; then
    sed 's/\(recurse(.*, \)[0-9][0-9]*)/\112)/' "$case_ndl" >"$tmp/max12.ndl"
    grep -q 'recurse(.*, 12)' "$tmp/max12.ndl" || fail "cannot raise max in $case_ndl"
    "$ndlc" "$case_ndl" $args --emit obj -o "$tmp/m.o" || fail "ndlc --emit obj exited with $?"
    "$ndlc" "$tmp/max12.ndl" $args --weights "$stem.w.safetensors" --emit obj -o "$tmp/m12.o" ||
        fail "ndlc with max 12 --emit obj exited with $?"
    within5 "$(objsize "$tmp/m.o")" "$(objsize "$tmp/m12.o")" "recurse's max, $(sed -n 's/.*recurse(.*, \([0-9]*\)).*/\1/p' "$case_ndl" | head -n 1) to 12"
fi
exit 0
