#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh - builds and runs the single-thread sgemm benchmark (ndlrt vs OpenBLAS).
# Needs Debian's libopenblas-dev (apt-get install libopenblas-dev), for this benchmark only.
# Usage: bench/sgemm/run.sh [--reps N] [--wall] [SHAPE-SUBSTRING]   (CC=clang to use clang)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${TMPDIR:-/tmp}/ndlrt_sgemm_bench
cc=${CC:-gcc}
if [ ! -f /usr/include/x86_64-linux-gnu/cblas.h ] && [ ! -f /usr/include/cblas.h ]; then
  echo "run.sh: cblas.h not found; install libopenblas-dev" >&2
  exit 1
fi
# The flags ndlc's exe path uses for generated code.
"$cc" -std=c11 -O3 -march=native -Wall -Wextra -I"$root" "$root/bench/sgemm/sgemm_bench.c" \
      "$root"/runtime/kernels/*.c -o "$out" -lopenblas -lm
# One thread each; OpenBLAS's default core detection picks a slow kernel on this CPU, and
# the environment may name another (BENCH_OPENBLAS_CORETYPE overrides SkylakeX).
export OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=${BENCH_OPENBLAS_CORETYPE:-SkylakeX}
echo "cc=$cc OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-unset}," \
     "load: $(cut -d' ' -f1-3 /proc/loadavg)"
if command -v taskset >/dev/null 2>&1; then
  exec taskset -c "${BENCH_CPU:-0}" "$out" "$@"
fi
exec "$out" "$@"
