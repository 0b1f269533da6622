#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/run.sh - the benchmark in one command: ndlc vs ONNX Runtime vs PyTorch (see README.md).
#
#   bench/run.sh                  # every model at batch 1 and 64 (CNN: 16), one thread
#   bench/run.sh --threads 2      # the batch-64/16 rows with 2 threads in each runtime
#   bench/run.sh --only mlp,tiny_mlp --min-time 0.3
#
# Options: --threads N, --only M1,M2 (models of bench/models.py), --min-runs N (default 20),
# --min-time S (default 1.0 s per case and runtime), --rounds R (time each case R times in
# turn, report the median of the round medians), --ndlc PATH (use this ndlc, no build),
# --no-torch, --no-ort, --out DIR (default bench/out).
# Sets up what is missing: onnxruntime-node in bench/node_modules (npm, --ignore-scripts), the
# model files (bench/models.py: weights, ONNX, inputs, PyTorch outputs), ndlc (Release build in
# build-bench/). Prints the table and writes OUT/results.md (OUT/results-threadsN.md for N > 1).
# Exit status 1 if an output check fails.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PY=${PYTHON:-/usr/bin/python3}          # Debian's python3 has torch 1.13, numpy, onnx
OUT=$HERE/out
NDLC=
PASS=()

while [ $# -gt 0 ]; do
  case "$1" in
    --ndlc) NDLC=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --threads|--only|--min-runs|--min-time|--rounds) PASS+=("$1" "$2"); shift 2 ;;
    --no-torch|--no-ort|--no-import) PASS+=("$1"); shift ;;
    -h|--help) sed -n '2,/^set -e/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

say() { printf '== %s\n' "$*" >&2; }

# 1. Python with torch, numpy and onnx
if ! "$PY" -c 'import torch, numpy, onnx' 2>/dev/null; then
  echo "run.sh: $PY lacks torch/numpy/onnx (Debian: apt-get install python3-torch python3-onnx;" \
       "or set PYTHON=...)" >&2
  exit 1
fi

# 2. ONNX Runtime for Node. --ignore-scripts skips only the postinstall download of the
#    CUDA/TensorRT providers; the CPU binding (bin/napi-v6/linux/x64) ships in the npm tarball.
BINDING=$HERE/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node
if [ ! -f "$BINDING" ]; then
  say "npm ci --ignore-scripts (onnxruntime-node 1.30.0 into bench/node_modules)"
  (cd "$HERE" && { npm ci --ignore-scripts --no-audit --no-fund ||
                   npm install --ignore-scripts --no-audit --no-fund --save-exact \
                       onnxruntime-node@1.30.0; } >&2)
fi
if ! (cd "$HERE" && node -e "require('onnxruntime-node')") >/dev/null 2>&1; then
  echo "run.sh: node cannot load onnxruntime-node from $HERE/node_modules" >&2
  (cd "$HERE" && node -e "require('onnxruntime-node')") >&2 || true
  exit 1
fi

# 3. weights, ONNX, inputs and PyTorch outputs (only what is missing)
say "models.py: model files in $OUT"
"$PY" "$HERE/models.py" --out "$OUT" >&2

# 4. ndlc
STATUS=
if [ -z "$NDLC" ]; then
  B=$ROOT/build-bench
  say "building ndlc (Release) in $B"
  if { [ -f "$B/build.ninja" ] || cmake -S "$ROOT" -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2; } \
     && ninja -C "$B" ndlc >&2; then
    NDLC=$B/ndlc
  elif [ -x "$ROOT/build/ndlc" ]; then
    say "build-bench failed; using $ROOT/build/ndlc"
    NDLC=$ROOT/build/ndlc
  else
    STATUS="not available (build failed)"
  fi
fi
if [ -n "$NDLC" ]; then
  # does `ndlc MODEL.ndl -o EXE` (--emit exe) work in this build?
  PROBE=$OUT/.probe_exe
  if ! ERR=$("$NDLC" "$HERE/models/tiny_mlp.ndl" --weights "$OUT/tiny_mlp.safetensors" \
               -o "$PROBE" 2>&1); then
    if printf '%s' "$ERR" | grep -q -i -e 'not supported' -e 'not available' -e 'not built yet' -e 'not implemented yet' -e 'unknown option'; then
      STATUS="not available"
      echo "ndlc exe: not available ($(printf '%s' "$ERR" | head -n 1))" >&2
      NDLC=
    fi   # any other failure: let bench.py report it per model
  fi
  rm -f "$PROBE"
fi

# 5. time everything, print and write the table
say "timing (this takes a few minutes)"
ARGS=(--out "$OUT")
if [ -n "$NDLC" ]; then ARGS+=(--ndlc "$NDLC"); else ARGS+=(--ndlc-status "${STATUS:-not available}"); fi
exec "$PY" "$HERE/bench.py" "${ARGS[@]}" ${PASS[@]+"${PASS[@]}"}
