#!/bin/sh
# SPDX-License-Identifier: MIT
# run_onnx.sh - one ONNX import case against PyTorch's output.
#
#   run_onnx.sh NDLC STCMP CASE.onnx MODE
#
# MODE import: `ndlc import CASE.onnx -o TMP/CASE.ndl` must write CASE.ndl and
#      CASE.safetensors; the imported model then runs as a golden case of its own
#      (tests/harness/run_golden.sh, interp: `ndlc run`).
# MODE c: the same imported .ndl through the deployable C (run_golden.sh c).
# MODE exe: `ndlc CASE.onnx -o TMP/net` (imported in memory), then
#      `TMP/net CASE.in.safetensors TMP/out.safetensors`, compared with stcmp.
# The inputs and PyTorch's outputs are CASE.in.safetensors / CASE.out.safetensors
# (tests/reference/onnx_cases.py). Exit status: 0 pass, 1 fail, 2 usage.
set -u
if [ $# -ne 4 ]; then
    echo "usage: run_onnx.sh NDLC STCMP CASE.onnx import|c|exe" >&2
    exit 2
fi
ndlc=$1
stcmp=$2
onnx=$3
mode=$4
here=$(cd "$(dirname "$0")" && pwd)
stem=$(basename "$onnx" .onnx)
dir=$(cd "$(dirname "$onnx")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/onnx.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT HUP INT TERM

fail() {
    echo "FAIL ($mode): $1" >&2
    exit 1
}

case $mode in
import|c)
    "$ndlc" import "$onnx" -o "$tmp/$stem.ndl" || fail "ndlc import exited with status $?"
    [ -f "$tmp/$stem.safetensors" ] || fail "no $stem.safetensors beside $stem.ndl"
    cp "$dir/$stem.in.safetensors" "$dir/$stem.out.safetensors" "$tmp/"
    golden_mode=interp
    [ "$mode" = c ] && golden_mode=c
    sh "$here/../harness/run_golden.sh" "$ndlc" "$stcmp" "$tmp/$stem.ndl" $golden_mode ||
        { cat "$tmp/$stem.ndl" >&2; fail "the imported model differs from PyTorch"; }
    ;;
exe)
    "$ndlc" "$onnx" -o "$tmp/net" || fail "ndlc $onnx exited with status $?"
    "$tmp/net" "$dir/$stem.in.safetensors" "$tmp/out.safetensors" || fail "the executable exited with status $?"
    "$stcmp" "$tmp/out.safetensors" "$dir/$stem.out.safetensors" || fail "output differs from PyTorch"
    ;;
*)
    echo "run_onnx.sh: unknown mode '$mode'" >&2
    exit 2
    ;;
esac
exit 0
