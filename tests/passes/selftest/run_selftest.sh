#!/bin/sh
# SPDX-License-Identifier: MIT
# run_selftest.sh - checks that check_ir.sh can fail: on must_fail.ndl (every directive
# false) it must exit 1 and report each of the three directives by its line; on
# must_pass.ndl it must exit 0.
# Usage: run_selftest.sh NDLC
set -u
here=$(cd "$(dirname "$0")" && pwd)
runner=$here/../check_ir.sh
status=0
out=$(sh "$runner" "$1" "$here/must_fail.ndl" 2>&1)
rc=$?
if [ $rc -ne 1 ]; then
    echo "FAIL: check_ir.sh exited $rc on must_fail.ndl, expected 1" >&2
    status=1
fi
for want in 'must_fail.ndl:12: CHECK: "= sigmoid(" not found' \
            'must_fail.ndl:13: CHECK-NOT: "= relu(" found' \
            'must_fail.ndl:14: CHECK-COUNT-2: "= relu(" found on 1 lines'; do
    case $out in
    *"$want"*) ;;
    *) echo "FAIL: check_ir.sh did not report: $want" >&2; status=1 ;;
    esac
done
if ! sh "$runner" "$1" "$here/must_pass.ndl"; then
    echo "FAIL: check_ir.sh failed on must_pass.ndl" >&2
    status=1
fi
[ $status -ne 0 ] && printf '%s\n' "--- check_ir.sh said:" "$out" >&2
exit $status
