#!/bin/sh
# demo.sh - sets up, builds, and runs the example model: compiles examples/tinynet.ndl
# with its PyTorch weights and runs it on examples/tinynet.in.safetensors with the
# reference interpreter, printing the output tensor.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
cmake -S . -B build -G Ninja >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)"
./build/ndlc run examples/tinynet.ndl --inputs examples/tinynet.in.safetensors
