#!/bin/sh
# SPDX-License-Identifier: MIT
# isa_check.sh - builds tests/unit/test_kernels.c with runtime/kernels/*.c for each kernel
# path (plain C, GNU vectors, AVX2+FMA, AVX-512 via -march=native) under gcc and clang, warnings as
# errors, and runs each. The CMake build compiles the runtime without -march, so it tests
# only the portable path; this covers the others. Usage: bench/sgemm/isa_check.sh [cc...]
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${TMPDIR:-/tmp}/ndlrt_isa_check
mkdir -p "$out"
compilers=${*:-gcc clang}
status=0
for cc in $compilers; do
  command -v "$cc" >/dev/null 2>&1 || { echo "skip $cc (not found)"; continue; }
  for flags in "-O2 -DNDLRT_PLAIN_C" "-O2" "-O2 -mavx2 -mfma" "-O3 -march=native"; do
    name=$(echo "$cc $flags" | tr ' =' '__')
    if ! "$cc" -std=c11 -Wall -Wextra -Werror -Wno-unused-parameter $flags \
         -I"$root" -I"$root/tests/harness" "$root/tests/unit/test_kernels.c" \
         "$root"/runtime/kernels/*.c -o "$out/$name" -lm; then
      echo "FAIL build: $cc $flags"; status=1; continue
    fi
    if "$out/$name" 2>"$out/$name.log"; then
      echo "ok   $cc $flags: $(tail -1 "$out/$name.log")"
    else
      echo "FAIL $cc $flags:"; tail -20 "$out/$name.log"; status=1
    fi
  done
done
exit $status
