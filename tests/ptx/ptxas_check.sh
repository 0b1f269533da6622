#!/bin/sh
# SPDX-License-Identifier: MIT
# ptxas_check.sh - `--emit ptx --cpu ARCH` of every golden case assembles with ptxas.
#
#   ptxas_check.sh NDLC ARCH CASE.ndl...
#
# A case --emit ptx refuses must say so at an NDL location ("FILE:L:C: error: ... is not
# supported for --emit ptx yet", exit 1, no output file): it is listed and counted, not a
# failure. Anything else (a crash, another error, output left behind, ptxas rejecting the
# PTX, a kernel of the plan missing from the PTX) fails. Exit 0 pass, 1 fail, 77 skipped
# (no ptxas in $PTXAS, /usr/local/cuda/bin or PATH).
set -u
ndlc=$1
arch=$2
shift 2
ptxas=${PTXAS:-}
[ -z "$ptxas" ] && [ -x /usr/local/cuda/bin/ptxas ] && ptxas=/usr/local/cuda/bin/ptxas
[ -z "$ptxas" ] && ptxas=$(command -v ptxas 2>/dev/null)
if [ -z "$ptxas" ]; then
    echo "SKIP: no ptxas (set PTXAS, or install the CUDA toolkit in /usr/local/cuda)"
    exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ptxas_check.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
pass=0 refused=0 failed=0
for case_ndl in "$@"; do
    args=$(sed -n 's/^# ARGS: //p' "$case_ndl" | head -n 1 | sed "s|{dir}|$(dirname "$case_ndl")|g")
    rm -f "$tmp/net.ptx"
    # shellcheck disable=SC2086
    "$ndlc" "$case_ndl" $args --emit ptx --cpu "$arch" -o "$tmp/net.ptx" 2> "$tmp/err"
    rc=$?
    if [ $rc -eq 1 ] && grep -q '^[^ ]*:[0-9]*:[0-9]*: error: .* for --emit ptx yet' "$tmp/err"; then
        [ -e "$tmp/net.ptx" ] && { echo "FAIL $case_ndl: refused but wrote net.ptx"; failed=$((failed + 1)); continue; }
        echo "refused $case_ndl: $(head -n 1 "$tmp/err" | sed 's/^[^ ]*: error: //')"
        refused=$((refused + 1))
        continue
    fi
    if [ $rc -ne 0 ]; then
        echo "FAIL $case_ndl: ndlc --emit ptx exited with $rc"
        cat "$tmp/err"
        failed=$((failed + 1))
        continue
    fi
    missing=$(sed -n 's|^// ndlc-plan kernel \([^ ]*\) .*|\1|p' "$tmp/net.ptx" | while read -r k; do
        grep -q "^.visible .entry $k(" "$tmp/net.ptx" || echo "$k"; done)
    if [ -n "$missing" ]; then
        echo "FAIL $case_ndl: plan kernels without an .entry: $missing"
        failed=$((failed + 1))
    elif "$ptxas" -arch="$arch" "$tmp/net.ptx" -o "$tmp/net.cubin" 2> "$tmp/perr"; then
        pass=$((pass + 1))
    else
        echo "FAIL $case_ndl: ptxas -arch=$arch rejected the PTX"
        head -n 5 "$tmp/perr"
        failed=$((failed + 1))
    fi
done
echo "ptxas -arch=$arch: $pass assembled, $refused refused (not supported for --emit ptx yet), $failed failed"
[ $failed -eq 0 ] && [ $pass -gt 0 ]
