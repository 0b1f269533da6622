#!/bin/sh
# SPDX-License-Identifier: MIT
# refused.sh - ndlc refuses a --emit ptx request with exactly the expected first line,
# exit 1 (EXPECT_RC=2 for an option error), and leaves no output (or temporary) file.
#
#   refused.sh NDLC CASE.ndl 'EXPECTED FIRST LINE' [NDLC OPTIONS...]
set -u
ndlc=$1
case_ndl=$2
want=$3
shift 3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ptx_refused.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
echo stale > "$tmp/net.ptx"
"$ndlc" "$case_ndl" --emit ptx "$@" -o "$tmp/net.ptx" 2> "$tmp/err"
rc=$?
cat "$tmp/err"
want_rc=${EXPECT_RC:-1}
[ $rc -eq "$want_rc" ] || { echo "FAIL: exit status $rc, expected $want_rc" >&2; exit 1; }
got=$(head -n 1 "$tmp/err")
[ "$got" = "$want" ] || { echo "FAIL: first line '$got', expected '$want'" >&2; exit 1; }
[ ! -e "$tmp/net.ptx" ] || { echo "FAIL: an output file exists" >&2; exit 1; }
[ -z "$(ls "$tmp" | grep -v '^err$')" ] || { echo "FAIL: a temporary file was left" >&2; exit 1; }
exit 0
