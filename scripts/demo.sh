#!/bin/sh
# demo.sh - sets up, builds, and runs the example model: runs examples/tinynet.ndl with
# its PyTorch weights on examples/tinynet.in.safetensors with the reference interpreter,
# printing the output tensor; then compiles it to a native executable, runs that (timing
# 1000 runs) and checks its output against PyTorch's (examples/tinynet.out.safetensors).
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
cmake -S . -B build -G Ninja >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)"
./build/ndlc run examples/tinynet.ndl --inputs examples/tinynet.in.safetensors
./build/ndlc examples/tinynet.ndl -o build/tinynet
./build/tinynet examples/tinynet.in.safetensors build/tinynet.out.safetensors --repeat 1000
./build/tests/harness/stcmp build/tinynet.out.safetensors examples/tinynet.out.safetensors &&
  echo "build/tinynet: output matches PyTorch's (examples/tinynet.out.safetensors)"
