#!/bin/sh
# SPDX-License-Identifier: MIT
# exe_check.sh - `--emit exe --target cuda` builds an executable with nvcc; on a machine
# with an NVIDIA GPU it must reproduce the PyTorch golden (run_golden.sh cuda-exe), and
# without one it must fail cleanly: exit 3, a message naming the CUDA device, no output.
#
#   exe_check.sh NDLC STCMP CASE.ndl
#
# NDLC_CUDA_ARCH defaults to sm_80 here (there may be no GPU for -arch=native to detect).
# Exit status: 0 pass, 1 fail, 77 skipped (no nvcc).
set -u
ndlc=$1
stcmp=$2
case_ndl=$3
here=$(cd "$(dirname "$0")" && pwd)
. "$(cd "$(dirname "$0")" && pwd)/find_nvcc.sh"
export NVCC="$nvcc"
if nvidia-smi -L > /dev/null 2>&1; then
    echo "a GPU is present: running $case_ndl on it"
    exec sh "$here/../harness/run_golden.sh" "$ndlc" "$stcmp" "$case_ndl" cuda-exe
fi
export NDLC_CUDA_ARCH=${NDLC_CUDA_ARCH:-sm_80}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/exe_check.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
stem=${case_ndl%.ndl}
"$ndlc" "$case_ndl" --target cuda -o "$tmp/net" || { echo "FAIL: ndlc --target cuda exited with $?" >&2; exit 1; }
[ -x "$tmp/net" ] || { echo "FAIL: no executable" >&2; exit 1; }
"$tmp/net" "$stem.in.safetensors" "$tmp/out.safetensors" > "$tmp/stdout" 2> "$tmp/stderr"
rc=$?
cat "$tmp/stderr"
if [ $rc -ne 3 ]; then echo "FAIL: without a GPU the executable exited with $rc, expected 3" >&2; exit 1; fi
grep -q "CUDA device failed" "$tmp/stderr" || { echo "FAIL: no message naming the CUDA device" >&2; exit 1; }
[ -e "$tmp/out.safetensors" ] && { echo "FAIL: an output file was written" >&2; exit 1; }
echo "no GPU here: the executable builds and reports the missing device (exit 3, no output)"
exit 0
