#!/bin/sh
# SPDX-License-Identifier: MIT
# api_consumer.sh - the LLVM backend's object is a drop-in for the C backend's source:
# tests/models/mlp.ndl is compiled with `--emit c` and with `--emit obj` (LLVM), the same
# consumer program (consumer.c) is built against each, and their outputs must agree:
# identical lines, except floats, which may differ by 1e-5 relative (two optimizers).
#   api_consumer.sh NDLC
set -u
ndlc=$1
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/consumer.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $1" >&2; exit 1; }
cc=${CC:-cc}
mkdir "$tmp/c" "$tmp/llvm"
"$ndlc" "$root/tests/models/mlp.ndl" --emit c -o "$tmp/c/model.c" || fail "ndlc --emit c"
"$ndlc" "$root/tests/models/mlp.ndl" --emit obj -o "$tmp/llvm/model.o" || fail "ndlc --emit obj"
[ -f "$tmp/llvm/model.h" ] || fail "--emit obj wrote no model.h beside model.o"
cmp -s "$tmp/c/model.h" "$tmp/llvm/model.h" || { diff "$tmp/c/model.h" "$tmp/llvm/model.h"; fail "the headers differ"; }
# the object exports the API and nothing else
nm -g --defined-only "$tmp/llvm/model.o" | awk '{print $3}' | sort > "$tmp/exports"
grep -v '^MLP_' "$tmp/exports" && fail "the object exports symbols outside the model's API"
for kind in c llvm; do
    src=$tmp/$kind/model.c
    [ $kind = llvm ] && src=$tmp/llvm/model.o
    $cc -std=c11 -Wall -Wextra -Werror -O2 -I"$tmp/$kind" -I"$root/runtime" -o "$tmp/$kind/consumer" \
        "$here/consumer.c" "$src" -lm || fail "building the consumer against $kind"
    "$tmp/$kind/consumer" > "$tmp/$kind/out.txt" || fail "the $kind consumer exited with status $?"
done
grep -q '^run 0$' "$tmp/llvm/out.txt" || fail "run did not succeed"
awk 'NR == FNR { a[FNR] = $0; n = FNR; next }
     { if (!(FNR in a)) { print "extra line: " $0; bad = 1; next }
       if (a[FNR] == $0) next
       split(a[FNR], x, " "); split($0, y, " ")
       if (x[1] == y[1] && (x[1] == "y" || x[1] == "p") && x[2] == y[2]) {
           d = x[3] - y[3]; if (d < 0) d = -d; s = x[3] < 0 ? -x[3] : x[3]
           if (d <= 1e-5 * s + 1e-7) next
       }
       print "c:    " a[FNR]; print "llvm: " $0; bad = 1 }
     END { if (FNR != n) { print "line counts differ"; bad = 1 } exit bad }' \
    "$tmp/c/out.txt" "$tmp/llvm/out.txt" || fail "the two builds disagree"
echo "ok: $(wc -l < "$tmp/llvm/out.txt") lines agree"
