#!/bin/sh
# SPDX-License-Identifier: MIT
# exe_check.sh - `--emit exe --backend llvm --target cuda` builds an executable (cc only:
# the PTX host runtime opens libcuda when it runs). With an NVIDIA GPU it must reproduce
# the PyTorch golden (run_golden.sh ptx-exe); without one it must fail cleanly: exit 3, a
# message naming the CUDA device, no output file.
#
#   exe_check.sh NDLC STCMP CASE.ndl
set -u
ndlc=$1
stcmp=$2
case_ndl=$3
here=$(cd "$(dirname "$0")" && pwd)
if nvidia-smi -L > /dev/null 2>&1; then
    echo "a GPU is present: running $case_ndl on it"
    exec sh "$here/../harness/run_golden.sh" "$ndlc" "$stcmp" "$case_ndl" ptx-exe
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ptx_exe_check.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
stem=${case_ndl%.ndl}
"$ndlc" "$case_ndl" --emit exe --backend llvm --target cuda -o "$tmp/net" ||
    { echo "FAIL: ndlc --emit exe --backend llvm --target cuda exited with $?" >&2; exit 1; }
[ -x "$tmp/net" ] || { echo "FAIL: no executable" >&2; exit 1; }
ls "$tmp" | grep -q ndlc-build && { echo "FAIL: the build directory was left" >&2; exit 1; }
"$tmp/net" "$stem.in.safetensors" "$tmp/out.safetensors" > "$tmp/stdout" 2> "$tmp/stderr"
rc=$?
cat "$tmp/stderr"
if [ $rc -ne 3 ]; then echo "FAIL: without a GPU the executable exited with $rc, expected 3" >&2; exit 1; fi
grep -q "CUDA device failed" "$tmp/stderr" || { echo "FAIL: no message naming the CUDA device" >&2; exit 1; }
[ -e "$tmp/out.safetensors" ] && { echo "FAIL: an output file was written" >&2; exit 1; }
echo "no GPU here: the executable builds and reports the missing device (exit 3, no output)"
exit 0
