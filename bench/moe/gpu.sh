#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/moe/gpu.sh - issue 10's MoE target on the GPU: bench/moe/moe8.ndl (8 experts
# 512 -> 2048 -> 512 GELU, top-2) at 4096 tokens through the CUDA backend, against the same
# layer computed densely (-D k=8: every expert on every token, masked, the elastic trick of
# bench/moe/run.sh). Target: dense / sparse >= 3. Called by tests/gpu/run.sh; on its own:
#
#   bench/moe/gpu.sh [--ndlc PATH] [--out DIR] [--tokens T] [--dry-run]
#
# 1. OUT/moe8.{safetensors,in.safetensors,out.safetensors}: make.py --experts 8 --no-onnx
#    (67 MB of weights, made here by a python3 with torch, never carried; PYTHON=... picks it);
# 2. `ndlc OUT/moe8.ndl --target cuda --emit cuda --external-weights` -> OUT/sparse.cu, and
#    with -D k=8 -> OUT/dense.cu (each with its NAME.weights.safetensors);
# 3. bench/moe/gpu_bench.cu over each, built with nvcc -O3 -arch=$NDLC_CUDA_ARCH (default
#    native) in parallel, run: x uploaded once, warm-ups, 50 runs of run_stream timed with CUDA
#    events on device buffers; the sparse y is compared with PyTorch's (stcmp's tolerance).
# Prints `moe variant=... median_ms=... min_ms=...` per variant and
#   MoE 8 experts top-2, 4096 tokens: dense/sparse = X.XX (target >= 3)
# (the ratio of medians; the minimums' ratio beside it). --dry-run stops before nvcc (no GPU
# needed: checks the files and the two .cu). Exit status 1 when a step or the check fails
# (a ratio below the target is reported, not a failure), 2 usage.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
ndlc=${NDLC:-$root/build/ndlc}
out=$root/bench/moe/out/gpu
tokens=4096
dry=0
while [ $# -gt 0 ]; do
    case $1 in
    --ndlc) ndlc=$2; shift ;;
    --out) out=$2; shift ;;
    --tokens) tokens=$2; shift ;;
    --dry-run) dry=1 ;;
    *) echo "usage: bench/moe/gpu.sh [--ndlc PATH] [--out DIR] [--tokens T] [--dry-run]" >&2; exit 2 ;;
    esac
    shift
done
case $tokens in '' | *[!0-9]* | 0*) echo "gpu.sh: --tokens needs a positive integer" >&2; exit 2 ;; esac
fail() { echo "gpu.sh: $*" >&2; exit 1; }
# the first python3 that has torch and numpy (the GPU machine's python3; Debian's here)
py=
for p in ${PYTHON:-} python3 /usr/bin/python3; do
    if "$p" -c 'import torch, numpy' > /dev/null 2>&1; then py=$p; break; fi
done
[ -n "$py" ] || fail "no python3 with torch and numpy (set PYTHON)"
mkdir -p "$out" || exit 1
out=$(cd "$out" && pwd)
t0=$(date +%s)

# 1. the files (kept between runs: the same seed gives the same files)
if [ ! -f "$out/t$tokens.done" ]; then
    "$py" "$here/make.py" "$out" "$tokens" --experts 8 --no-onnx > "$out/make.log" 2>&1 ||
        { cat "$out/make.log" >&2; fail "make.py failed"; }
    touch "$out/t$tokens.done"
fi
# 2. the two .cu (the token count replaced as bench/moe/run.sh does)
sed "s/f32\[64, 512\]/f32[$tokens, 512]/" "$here/moe8.ndl" > "$out/moe8.ndl"
grep -q "f32\[$tokens, 512\]" "$out/moe8.ndl" || fail "moe8.ndl: the token count was not replaced"
for v in sparse dense; do
    opt=
    [ $v = dense ] && opt="-D k=8"
    # shellcheck disable=SC2086
    "$ndlc" "$out/moe8.ndl" --weights "$out/moe8.safetensors" --target cuda --emit cuda \
        --external-weights $opt -o "$out/$v.cu" || fail "ndlc --emit cuda ($v) failed"
done
if [ $dry = 1 ]; then
    ls -l "$out"/sparse.cu "$out"/dense.cu "$out"/*.weights.safetensors
    echo "gpu.sh: dry run: files and .cu made in $(( $(date +%s) - t0 )) s; nvcc and the GPU runs skipped"
    exit 0
fi

# 3. build both at once, then run one after the other (each alone on the GPU)
if [ -z "${NVCC:-}" ]; then
    # shellcheck source=tests/gpu/find_nvcc.sh disable=SC2154
    . "$root/tests/gpu/find_nvcc.sh"
    NVCC=$nvcc
fi
arch=${NDLC_CUDA_ARCH:-native}
pids=
for v in sparse dense; do
    rm -f "$out/bench_$v"
    "$NVCC" -O3 -arch="$arch" -I"$out" -DMODEL_CU="\"$v.cu\"" -o "$out/bench_$v" \
        "$here/gpu_bench.cu" "$root/runtime/safetensors.c" > "$out/nvcc_$v.log" 2>&1 &
    pids="$pids $!"
done
for p in $pids; do wait "$p"; done
for v in sparse dense; do
    [ -x "$out/bench_$v" ] || { tail -n 20 "$out/nvcc_$v.log" >&2; fail "nvcc ($v) failed"; }
done
"$out/bench_sparse" sparse "$out/sparse.weights.safetensors" "$out/moe8.in.safetensors" \
    "$out/moe8.out.safetensors" > "$out/sparse.txt" || { cat "$out/sparse.txt"; fail "the sparse run or its check failed"; }
"$out/bench_dense" dense "$out/dense.weights.safetensors" "$out/moe8.in.safetensors" \
    > "$out/dense.txt" || { cat "$out/dense.txt"; fail "the dense run failed"; }
cat "$out/sparse.txt" "$out/dense.txt"
# (the parentheses around the comparison: in mawk a bare > in printf's arguments redirects)
field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" "$2"; }
awk -v t="$tokens" -v sm="$(field median_ms "$out/sparse.txt")" -v dm="$(field median_ms "$out/dense.txt")" \
    -v sb="$(field min_ms "$out/sparse.txt")" -v db="$(field min_ms "$out/dense.txt")" 'BEGIN {
    if (sm <= 0 || sb <= 0) { print "gpu.sh: no times read" > "/dev/stderr"; exit 1 }
    printf "MoE 8 experts top-2, %d tokens: dense/sparse = %.2f (target >= 3)%s, minimums %.2f\n",
        t, dm / sm, (dm / sm >= 3) ? "" : " NOT MET", db / sb }' || exit 1
echo "gpu.sh: $(( $(date +%s) - t0 )) s"
