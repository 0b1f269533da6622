#!/bin/sh
# SPDX-License-Identifier: MIT
# removal_test.sh - checks ndlc's structured removal (passes/prune.c, spec 8.2) in the report.
#
#   removal_test.sh NDLC JSONGET CASE.ndl CASE.removal
#
# Runs `NDLC CASE.ndl [the case's # ARGS:] --report TMP/r.json --emit ir -o TMP/ir` and
# compares, per pruning.layers entry in order, "layer units removed kept" (units: its
# channel or head count; removed ones comma-separated, kept ones as index:reason separated
# by '|', '-' for none),
# then "parameters N" (total.parameters), with CASE.removal, which
# tests/reference/prune_cases.py derives from the pruned PyTorch model.
# Exit status: 0 pass, 1 fail, 2 usage.
set -u
if [ $# -ne 4 ]; then
    echo "usage: removal_test.sh NDLC JSONGET CASE.ndl CASE.removal" >&2
    exit 2
fi
ndlc=$1 jsonget=$2 case_ndl=$3 expect=$4
tmp=$(mktemp -d "${TMPDIR:-/tmp}/prune_removal.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $1" >&2; exit 1; }
get() { "$jsonget" "$tmp/r.json" "$1" || fail "no $1 in the report"; }

set -f  # --prune patterns hold '*'
args=$(sed -n 's/^[[:space:]]*#[[:space:]]*ARGS:[[:space:]]*//p' "$case_ndl" | head -n 1)
"$ndlc" "$case_ndl" $args --report "$tmp/r.json" --emit ir -o "$tmp/ir" || fail "ndlc exited with status $?"
n=$(get 'pruning.layers.#') || exit 1
i=0
while [ "$i" -lt "$n" ]; do
    at="pruning.layers.$i"
    layer=$(get "$at.layer") && unit=$(get "$at.unit") && channels=$(get "$at.${unit}s") &&
        nr=$(get "$at.removed.#") && nk=$(get "$at.kept.#") || exit 1
    removed="" kept="" j=0
    while [ "$j" -lt "$nr" ]; do
        c=$(get "$at.removed.$j") || exit 1
        removed="$removed${removed:+,}$c"
        j=$((j + 1))
    done
    j=0
    while [ "$j" -lt "$nk" ]; do
        c=$(get "$at.kept.$j.$unit") && why=$(get "$at.kept.$j.reason") || exit 1
        kept="$kept${kept:+|}$c:$why"
        j=$((j + 1))
    done
    echo "$layer $channels ${removed:--} ${kept:--}"
    i=$((i + 1))
done > "$tmp/got" || exit 1
echo "parameters $(get total.parameters)" >> "$tmp/got" || exit 1
grep -v '^#' "$expect" > "$tmp/want"
diff -u "$tmp/want" "$tmp/got" >&2 || fail "structured removal differs from $expect"
exit 0
