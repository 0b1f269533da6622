#!/bin/sh
# SPDX-License-Identifier: MIT
# llvm_sparse_test.sh - checks that the LLVM backend stores the sparse layers packed as
# backends/sparse.c decided (so its executor runs the sparse kernels on them).
#
#   llvm_sparse_test.sh NDLC JSONGET CASE.ndl CASE.layers
#
# Runs `NDLC CASE.ndl [# ARGS:] --backend llvm --emit obj --external-weights --report R`
# and checks, for every sparsity.layers entry of R whose format is not dense, that the
# weight file holds a packed tensor P_<layer>_<i> of exactly `bytes` / 4 floats (the
# dense packing of a layer has another size). Numerics are checked by the
# prune-llvm-exe/<stem> golden. CASE.layers only selects the cases. Exit: 0 pass, 1 fail.
set -u
if [ $# -ne 4 ]; then
    echo "usage: llvm_sparse_test.sh NDLC JSONGET CASE.ndl CASE.layers" >&2
    exit 2
fi
ndlc=$1 jsonget=$2 case_ndl=$3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/prune_llvm.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $1" >&2; exit 1; }

set -f  # --prune patterns hold '*'
args=$(sed -n 's/^[[:space:]]*#[[:space:]]*ARGS:[[:space:]]*//p' "$case_ndl" | head -n 1)
(cd "$(dirname "$case_ndl")" && "$ndlc" "$(basename "$case_ndl")" $args --backend llvm --emit obj \
    --external-weights -o "$tmp/net.o" --report "$tmp/r.json") || fail "ndlc exited with status $?"
st="$tmp/net.weights.safetensors"
hlen=$(od -An -t u8 -N8 "$st" | tr -d ' ') || fail "no weight file $st"
# one '"P_name_i":{"dtype":"F32","shape":[n]' per line
tail -c +9 "$st" | head -c "$hlen" | sed 's/"P_/\n"P_/g' | sed -n 's/^"\(P_[^"]*\)":{"dtype":"F32","shape":\[\([0-9]*\)\].*/\1 \2/p' \
    > "$tmp/packed"
n=$("$jsonget" "$tmp/r.json" 'sparsity.layers.#') || fail "the report has no sparsity.layers"
i=0 sparse=0
while [ "$i" -lt "$n" ]; do
    format=$("$jsonget" "$tmp/r.json" "sparsity.layers.$i.format") &&
        layer=$("$jsonget" "$tmp/r.json" "sparsity.layers.$i.layer") &&
        bytes=$("$jsonget" "$tmp/r.json" "sparsity.layers.$i.bytes") || fail "incomplete sparsity.layers.$i"
    if [ "$format" != dense ]; then
        sparse=$((sparse + 1))
        grep -q "^P_${layer}_[0-9]* $((bytes / 4))\$" "$tmp/packed" ||
            fail "layer $layer ($format, $bytes bytes): no packed tensor of $((bytes / 4)) floats in $(cat "$tmp/packed" | tr '\n' ';')"
    fi
    i=$((i + 1))
done
[ "$sparse" -gt 0 ] || fail "no sparse layer in the report: the case tests nothing"
exit 0
