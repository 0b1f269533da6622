# SPDX-License-Identifier: MIT
# find_nvcc.sh - sourced by the tests/gpu scripts: sets nvcc to $NVCC, else
# /usr/local/cuda/bin/nvcc, else nvcc on PATH; without one, prints why and exits 77 (skip).
nvcc=${NVCC:-}
[ -z "$nvcc" ] && [ -x /usr/local/cuda/bin/nvcc ] && nvcc=/usr/local/cuda/bin/nvcc
[ -z "$nvcc" ] && nvcc=$(command -v nvcc 2>/dev/null)
if [ -z "$nvcc" ]; then
    echo "SKIP: no nvcc (set NVCC, or install the CUDA toolkit in /usr/local/cuda)"
    exit 77
fi
