#!/bin/sh
# SPDX-License-Identifier: MIT
# nvcc_flags.sh - NDLC_NVCC_FLAGS reaches nvcc in `--emit exe --target cuda`, without a GPU:
#   1. -DNDLCU_GEMM_WGMMA alone stops the build at the runtime's #error (the wgmma kernels
#      are plain TF32): ndlc exits 1 with nvcc's message and writes no executable;
#   2. with -DNDLCU_TF32_PASSES=1 beside it and NDLC_CUDA_ARCH=sm_90a, the build succeeds;
#   3. more than 32 options is a clean error, no executable.
#
#   nvcc_flags.sh NDLC CASE.ndl        (CASE: a model with a linear, so the GEMM is compiled)
#
# Exit status: 0 pass, 1 fail, 77 skipped (no nvcc).
set -u
ndlc=$1
case_ndl=$2
. "$(cd "$(dirname "$0")" && pwd)/find_nvcc.sh"
export NVCC="$nvcc"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nvcc_flags.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

NDLC_CUDA_ARCH=sm_90a NDLC_NVCC_FLAGS="-DNDLCU_GEMM_WGMMA" "$ndlc" "$case_ndl" --target cuda -o "$tmp/a" 2> "$tmp/err1"
rc=$?
[ $rc -eq 1 ] || fail "with -DNDLCU_GEMM_WGMMA alone ndlc exited with $rc, expected 1"
grep -q "NDLCU_GEMM_WGMMA is plain TF32" "$tmp/err1" || { cat "$tmp/err1"; fail "nvcc's #error message is missing"; }
[ -e "$tmp/a" ] && fail "a failed build left an executable"
echo "1. -DNDLCU_GEMM_WGMMA alone: nvcc's #error, exit 1, no executable"

NDLC_CUDA_ARCH=sm_90a NDLC_NVCC_FLAGS=" -DNDLCU_GEMM_WGMMA	-DNDLCU_TF32_PASSES=1 " \
    "$ndlc" "$case_ndl" --target cuda -o "$tmp/b" 2> "$tmp/err2" || { cat "$tmp/err2"; fail "the wgmma build failed"; }
[ -x "$tmp/b" ] || fail "no executable"
echo "2. -DNDLCU_GEMM_WGMMA -DNDLCU_TF32_PASSES=1 for sm_90a: built"

many=$(i=0; while [ $i -lt 33 ]; do printf -- '-DX%d ' $i; i=$((i + 1)); done)
NDLC_NVCC_FLAGS="$many" "$ndlc" "$case_ndl" --target cuda -o "$tmp/c" 2> "$tmp/err3"
rc=$?
[ $rc -eq 1 ] || fail "33 options: ndlc exited with $rc, expected 1"
grep -q "NDLC_NVCC_FLAGS has more than 32 options" "$tmp/err3" || { cat "$tmp/err3"; fail "no message for 33 options"; }
[ -e "$tmp/c" ] && fail "an executable was written"
echo "3. 33 options: $(cat "$tmp/err3")"
exit 0
