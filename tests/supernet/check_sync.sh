#!/bin/sh
# SPDX-License-Identifier: MIT
# check_sync.sh - the OFA subnet cases (ofa_*.ndl) are examples/ofa_mbv3.ndl under a
# three-line header, with the weights path made relative to this folder (as
# tests/reference/ofa_cases.py writes them): an edit of the example without rerunning the
# generator fails here.
#   check_sync.sh EXAMPLE.ndl CASE.ndl...
set -u
[ $# -ge 2 ] || { echo "usage: check_sync.sh EXAMPLE.ndl CASE.ndl..." >&2; exit 2; }
example=$1
shift
status=0
for c in "$@"; do
    if ! tail -n +4 "$c" | sed 's|weights "../../examples/ofa_mbv3.safetensors";|weights "ofa_mbv3.safetensors";|' |
            cmp -s - "$example"; then
        echo "FAIL: $c is not $example under its header; rerun /usr/bin/python3 tests/reference/ofa_cases.py"
        status=1
    fi
done
exit $status
