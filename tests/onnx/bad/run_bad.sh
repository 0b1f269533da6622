#!/bin/sh
# SPDX-License-Identifier: MIT
# run_bad.sh - one malformed or unsupported ONNX file (make_bad.py wrote CASE.onnx and
# CASE.err): `ndlc import CASE.onnx -o OUT.ndl` and `ndlc CASE.onnx -o net` must both exit
# with status 1, print exactly CASE.err, and leave no output (stale ones are removed).
#
#   run_bad.sh NDLC CASE.onnx
set -u
ndlc=$1
dir=$(cd "$(dirname "$2")" && pwd)
name=$(basename "$2")
stem=${name%.onnx}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/onnxbad.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT HUP INT TERM
cd "$dir" || exit 1
status=0
check() { # what, exit status, stderr file, leftover files...
    what=$1 rc=$2 err=$3
    shift 3
    if [ "$rc" -ne 1 ]; then echo "FAIL: $what exited with $rc, expected 1" >&2; status=1; fi
    if ! cmp -s "$err" "$stem.err"; then
        echo "FAIL: $what printed:" >&2
        cat "$err" >&2
        echo "expected:" >&2
        cat "$stem.err" >&2
        status=1
    fi
    for f in "$@"; do
        if [ -e "$f" ]; then echo "FAIL: $what left $f" >&2; status=1; fi
    done
}
echo stale > "$tmp/out.ndl"
echo stale > "$tmp/out.safetensors"
"$ndlc" import "$name" -o "$tmp/out.ndl" 2> "$tmp/err1"
check "ndlc import" $? "$tmp/err1" "$tmp/out.ndl" "$tmp/out.safetensors"
echo stale > "$tmp/net"
"$ndlc" "$name" -o "$tmp/net" 2> "$tmp/err2"
check "ndlc $name" $? "$tmp/err2" "$tmp/net"
exit $status
