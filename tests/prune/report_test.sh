#!/bin/sh
# SPDX-License-Identifier: MIT
# report_test.sh - checks the sparsity section of ndlc's report against PyTorch.
#
#   report_test.sh NDLC JSONGET CASE.ndl CASE.sparsity
#
# Runs `NDLC CASE.ndl [the case's # ARGS:] --report TMP/r.json --emit ir -o TMP/ir`, then
# compares "key elements nonzeros" of every sparsity.parameters entry and of
# sparsity.total (sorted, total last) with CASE.sparsity, the counts of the model pruned
# by torch.nn.utils.prune (tests/reference/prune_cases.py), and checks that each density
# is nonzeros / elements. Exit status: 0 pass, 1 fail, 2 usage.
set -u
if [ $# -ne 4 ]; then
    echo "usage: report_test.sh NDLC JSONGET CASE.ndl CASE.sparsity" >&2
    exit 2
fi
ndlc=$1 jsonget=$2 case_ndl=$3 expect=$4
tmp=$(mktemp -d "${TMPDIR:-/tmp}/prune_report.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $1" >&2; exit 1; }

set -f  # --prune patterns hold '*'
args=$(sed -n 's/^[[:space:]]*#[[:space:]]*ARGS:[[:space:]]*//p' "$case_ndl" | head -n 1)
"$ndlc" "$case_ndl" $args --report "$tmp/r.json" --emit ir -o "$tmp/ir" || fail "ndlc exited with status $?"

# density must be nonzeros / elements (1 for an empty tensor)
check_density() { # PATH-PREFIX
    e=$("$jsonget" "$tmp/r.json" "$1.elements") && z=$("$jsonget" "$tmp/r.json" "$1.nonzeros") &&
        d=$("$jsonget" "$tmp/r.json" "$1.density") || fail "no $1 in the report"
    awk -v e="$e" -v z="$z" -v d="$d" 'BEGIN { w = e > 0 ? z / e : 1; exit !(d - w < 1e-12 && w - d < 1e-12) }' ||
        fail "$1: density $d is not $z / $e"
    echo "$e $z"
}
n=$("$jsonget" "$tmp/r.json" 'sparsity.parameters.#') || fail "the report has no sparsity.parameters"
i=0
while [ "$i" -lt "$n" ]; do
    key=$("$jsonget" "$tmp/r.json" "sparsity.parameters.$i.key") || fail "no key in entry $i"
    counts=$(check_density "sparsity.parameters.$i") || exit 1
    echo "$key $counts"
    i=$((i + 1))
done | LC_ALL=C sort > "$tmp/got" || exit 1
counts=$(check_density sparsity.total) || exit 1
echo "total $counts" >> "$tmp/got"
grep -v '^#' "$expect" > "$tmp/want"
diff -u "$tmp/want" "$tmp/got" >&2 || fail "sparsity differs from PyTorch's (want: $expect)"
exit 0
