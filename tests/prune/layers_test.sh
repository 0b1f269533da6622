#!/bin/sh
# SPDX-License-Identifier: MIT
# layers_test.sh - checks the per-layer sparse decisions in ndlc's report (spec 8.2).
#
#   layers_test.sh NDLC JSONGET CASE.ndl CASE.layers
#
# Runs `NDLC CASE.ndl [the case's # ARGS:] --report TMP/r.json --emit ir -o TMP/ir` and
# compares "layer op format density bytes macs" of every sparsity.layers entry (in op
# order) with CASE.layers (lines starting with # are comments). The densities there are
# PyTorch's (the pruned model's nonzeros / elements); formats, packed bytes and executed
# multiply-adds are ndlc's cost model and packing (runtime/kernels/sparse.c).
# Exit status: 0 pass, 1 fail, 2 usage.
set -u
if [ $# -ne 4 ]; then
    echo "usage: layers_test.sh NDLC JSONGET CASE.ndl CASE.layers" >&2
    exit 2
fi
ndlc=$1 jsonget=$2 case_ndl=$3 expect=$4
tmp=$(mktemp -d "${TMPDIR:-/tmp}/prune_layers.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $1" >&2; exit 1; }

set -f  # --prune patterns hold '*'
args=$(sed -n 's/^[[:space:]]*#[[:space:]]*ARGS:[[:space:]]*//p' "$case_ndl" | head -n 1)
"$ndlc" "$case_ndl" $args --report "$tmp/r.json" --emit ir -o "$tmp/ir" || fail "ndlc exited with status $?"
n=$("$jsonget" "$tmp/r.json" 'sparsity.layers.#') || fail "the report has no sparsity.layers"
i=0
while [ "$i" -lt "$n" ]; do
    line=""
    for f in layer op format density bytes macs; do
        v=$("$jsonget" "$tmp/r.json" "sparsity.layers.$i.$f") || fail "no $f in sparsity.layers.$i"
        line="$line${line:+ }$v"
    done
    echo "$line"
    i=$((i + 1))
done > "$tmp/got" || exit 1
grep -v '^#' "$expect" > "$tmp/want"
diff -u "$tmp/want" "$tmp/got" >&2 || fail "sparsity.layers differs from $expect"
exit 0
