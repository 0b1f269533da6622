#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh - builds and runs the single-thread benchmark of the CNN's convolutions through
# ndlrt_conv2d_f32 (the kernels of this checkout, compiled as ndlc's exe path does).
# Usage: bench/convlayers/run.sh [BATCH [REPS]]   (default 16 30; CC=clang to use clang)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${TMPDIR:-/tmp}/ndlrt_conv_layers
cc=${CC:-gcc}
"$cc" -std=c11 -O3 -march=native -Wall -Wextra -I"$root" "$root/bench/convlayers/conv_layers.c" \
      "$root"/runtime/kernels/*.c -o "$out" -lm
echo "cc=$cc, load: $(cut -d' ' -f1-3 /proc/loadavg)"
exec "$out" "$@"
