#!/bin/sh
# SPDX-License-Identifier: MIT
# host_check.sh - the numerics of --emit ptx without a GPU: every golden case that --emit
# ptx accepts is built with `--emit exe --backend llvm --target cuda` and NDLC_PTXRT set to
# tests/ptx/host_rt.c (the launch plan run with the device functions compiled for the
# host), run on its inputs and compared with the PyTorch golden (run_golden.sh ptx-exe).
# Refused cases (a located "not supported for --emit ptx yet") are listed, not failures.
#
#   host_check.sh NDLC STCMP CASE.ndl...
set -u
ndlc=$1
stcmp=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
export NDLC_PTXRT="$here/host_rt.c"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ptx_host.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
pass=0 refused=0 failed=0
for case_ndl in "$@"; do
    # its kept directories (refused cases) go under $tmp, removed at the end
    if TMPDIR=$tmp nice sh "$here/../harness/run_golden.sh" "$ndlc" "$stcmp" "$case_ndl" ptx-exe > "$tmp/log" 2>&1; then
        pass=$((pass + 1))
    elif grep -q '^[^ ]*:[0-9]*:[0-9]*: error: .* for --emit ptx yet' "$tmp/log" &&
         grep -q 'FAIL (ptx-exe): ndlc exited with status 1' "$tmp/log"; then
        refused=$((refused + 1))
    else
        echo "FAIL $case_ndl"
        tail -n 8 "$tmp/log"
        failed=$((failed + 1))
    fi
done
echo "host-run plan vs PyTorch goldens: $pass passed, $refused refused (not supported for --emit ptx yet), $failed failed"
[ $failed -eq 0 ] && [ $pass -gt 0 ]
