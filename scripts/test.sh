#!/bin/sh
# test.sh - the whole test suite, as CI runs it (.ci/run):
#   1. gcc, warnings as errors, every CTest (unit, diagnostics, bad weights, op and
#      model goldens against PyTorch, fuzz-corpus replay);
#   2. clang with AddressSanitizer + UndefinedBehaviorSanitizer, warnings as errors,
#      the same tests plus a short libFuzzer run of each fuzz target.
# Build trees: build/ and build-asan/. Set NDLC_FUZZ_SECONDS to change the fuzz time.
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

echo "== gcc build =="
cmake -S . -B build -G Ninja -DCMAKE_C_COMPILER=gcc -DNDLC_WERROR=ON >/dev/null
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs"

echo "== clang + ASan/UBSan build, with fuzzing =="
cmake -S . -B build-asan -G Ninja -DCMAKE_C_COMPILER=clang -DNDLC_WERROR=ON -DNDLC_SANITIZE=ON \
      -DNDLC_FUZZ=ON -DNDLC_FUZZ_SECONDS="${NDLC_FUZZ_SECONDS:-20}" >/dev/null
cmake --build build-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs"
echo "== all tests passed =="
