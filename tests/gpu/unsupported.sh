#!/bin/sh
# SPDX-License-Identifier: MIT
# unsupported.sh - an op without a CUDA kernel yet is an error at its NDL location, exit 1,
# and neither the .cu nor the .h exists afterwards (not even an old one). Needs no nvcc.
#
#   unsupported.sh NDLC CASE.ndl 'EXPECTED FIRST LINE OF STDERR'
set -u
ndlc=$1
case_ndl=$2
want=$3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/unsupported.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
echo stale > "$tmp/net.cu"
"$ndlc" "$case_ndl" --target cuda --emit cuda -o "$tmp/net.cu" 2> "$tmp/err"
rc=$?
cat "$tmp/err"
[ $rc -eq 1 ] || { echo "FAIL: exit status $rc, expected 1" >&2; exit 1; }
got=$(head -n 1 "$tmp/err")
[ "$got" = "$want" ] || { echo "FAIL: first line '$got', expected '$want'" >&2; exit 1; }
[ ! -e "$tmp/net.cu" ] && [ ! -e "$tmp/net.h" ] || { echo "FAIL: an output file exists" >&2; exit 1; }
ls "$tmp" | grep -q tmp && { echo "FAIL: a temporary file was left" >&2; exit 1; }
exit 0
