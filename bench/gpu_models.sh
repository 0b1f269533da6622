#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/gpu_models.sh - the bench/ models on the GPU (issue 10): ndlc's --target cuda executable
# against PyTorch CUDA, timed the same way. Called by tests/gpu/run.sh; on its own:
#
#   bench/gpu_models.sh [--ndlc PATH] [--stcmp PATH] [--out DIR] [--cases M:B,...] [--repeat N]
#                       [--dry-run]
#
# 1. python3 with torch and CUDA (PYTHON=... picks it; bench/gpu_torch.py --probe): without one
#    the reason is printed and the section skipped (exit 0);
# 2. bench/models.py --no-onnx --only (the cases' models) writes weights, inputs and PyTorch's
#    CPU references into OUT (default bench/out/gpu; a few seconds);
# 3. `ndlc bench/models/M.ndl --weights OUT/M.safetensors --target cuda --external-weights -o
#    OUT/cuda_M` for every model at once (nvcc runs in parallel); each case's output is compared
#    with the reference by stcmp (spec tolerance, as run_golden.sh) before it is timed;
# 4. timing: the executable's --repeat N (runtime/driver.c: each run copies the inputs to the
#    device and the outputs back, and waits), and bench/gpu_torch.py, which times PyTorch the
#    same way (host tensor -> .cuda() -> model -> .cpu()) and device-only for information.
# Prints a table: model, batch, ndlc ms, torch ms (medians; minimums beside), torch/ndlc
# (> 1: ndlc is faster), torch device-only ms. --dry-run makes the files and stops before nvcc.
# Exit status 1 when a build, a run or a check fails, 2 usage.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
ndlc=${NDLC:-$root/build/ndlc}
stcmp=
out=$root/bench/out/gpu
cases=mlp:1,mlp:64,cnn:1,cnn:16,transformer:1,transformer:64,linear4096:1,linear4096:64,tiny_mlp:1,tiny_mlp:64
repeat=100
dry=0
usage() { echo "usage: bench/gpu_models.sh [--ndlc PATH] [--stcmp PATH] [--out DIR] [--cases M:B,...] [--repeat N] [--dry-run]" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case $1 in
    --ndlc) ndlc=$2; shift ;;
    --stcmp) stcmp=$2; shift ;;
    --out) out=$2; shift ;;
    --cases) cases=$2; shift ;;
    --repeat) repeat=$2; shift ;;
    --dry-run) dry=1 ;;
    *) usage ;;
    esac
    shift
done
case $repeat in '' | *[!0-9]* | 0*) usage ;; esac
fail() { echo "gpu_models.sh: $*" >&2; exit 1; }
t0=$(date +%s)

# 1. PyTorch with CUDA (a dry run needs torch only)
py=
why=
for p in ${PYTHON:-} python3 /usr/bin/python3; do
    if [ $dry = 1 ]; then
        "$p" -c 'import torch, numpy' > /dev/null 2>&1 && { py=$p; break; }
        why="no python3 with torch and numpy"
    elif why=$("$p" "$here/gpu_torch.py" --probe 2>&1); then
        py=$p
        break
    fi
done
if [ -z "$py" ]; then
    echo "bench models vs PyTorch CUDA: skipped: ${why:-no python3}"
    exit 0
fi
mkdir -p "$out" || exit 1
out=$(cd "$out" && pwd)

# 2. the files
models=$(echo "$cases" | tr , '\n' | sed 's/:.*//' | sort -u | tr '\n' , | sed 's/,$//')
"$py" "$here/models.py" --no-onnx --out "$out" --only "$models" > "$out/models.log" 2>&1 ||
    { cat "$out/models.log" >&2; fail "models.py failed"; }

# 3. the executables, all at once
if [ $dry = 1 ]; then
    for m in $(echo "$models" | tr , ' '); do
        "$ndlc" "$root/bench/models/$m.ndl" --weights "$out/$m.safetensors" --target cuda --emit cuda \
            --external-weights -o "$out/cuda_$m.cu" || fail "ndlc --emit cuda ($m) failed"
    done
    ls -l "$out"/*.cu
    echo "gpu_models.sh: dry run: files and .cu made in $(( $(date +%s) - t0 )) s; nvcc and the GPU runs skipped"
    exit 0
fi
if [ -z "$stcmp" ]; then
    stcmp=$out/stcmp
    cc -std=c11 -O2 -I"$root" -o "$stcmp" "$root/tests/harness/stcmp.c" "$root/runtime/safetensors.c" -lm ||
        fail "cannot build stcmp"
fi
export NDLC_CUDA_ARCH="${NDLC_CUDA_ARCH:-native}"
pids=
for m in $(echo "$models" | tr , ' '); do
    rm -f "$out/cuda_$m"
    "$ndlc" "$root/bench/models/$m.ndl" --weights "$out/$m.safetensors" --target cuda \
        --external-weights -o "$out/cuda_$m" > "$out/build_$m.log" 2>&1 &
    pids="$pids $!"
done
for p in $pids; do wait "$p"; done
status=0
for m in $(echo "$models" | tr , ' '); do
    [ -x "$out/cuda_$m" ] || { tail -n 20 "$out/build_$m.log" >&2; echo "gpu_models.sh: building $m failed" >&2; status=1; }
done

# 4. check, then time: ndlc case by case, then PyTorch in one process
good=
rm -f "$out/ndlc_times.txt"
for c in $(echo "$cases" | tr , ' '); do
    m=${c%%:*} b=${c#*:}
    [ -x "$out/cuda_$m" ] || continue
    if "$out/cuda_$m" "$out/$m.b$b.in.safetensors" "$out/ndlc_$m.b$b.safetensors" > "$out/run_$m.b$b.log" 2>&1 &&
        "$stcmp" "$out/ndlc_$m.b$b.safetensors" "$out/$m.b$b.ref.safetensors" >> "$out/run_$m.b$b.log" 2>&1; then
        "$out/cuda_$m" "$out/$m.b$b.in.safetensors" "$out/ndlc_$m.b$b.safetensors" --repeat "$repeat" |
            sed -n "s/.*min_ms=\([0-9.]*\) median_ms=\([0-9.]*\).*/ndlc model=$m batch=$b median_ms=\2 min_ms=\1/p" \
            >> "$out/ndlc_times.txt"
        good="$good${good:+,}$c"
    else
        cat "$out/run_$m.b$b.log" >&2
        echo "gpu_models.sh: $m batch $b: the run or its check failed" >&2
        status=1
    fi
done < /dev/null
[ -n "$good" ] || fail "no case ran"
"$py" "$here/gpu_torch.py" --dir "$out" --cases "$good" --min-runs "$repeat" --min-time 0.25 > "$out/torch_times.txt" 2> "$out/torch.log" ||
    { cat "$out/torch.log" >&2; fail "gpu_torch.py failed"; }
head -n 1 "$out/torch_times.txt"
# the table: one row per case that has both times
awk 'function val(k,   i, kv) { for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) return kv[2] } return "" }
    $1 == "ndlc" { key = val("model") " " val("batch"); nm[key] = val("median_ms"); nb[key] = val("min_ms"); order[++n] = key }
    $1 == "torch" && val("model") != "" { key = val("model") " " val("batch"); tm[key] = val("e2e_median_ms"); tb[key] = val("e2e_min_ms"); td[key] = val("dev_median_ms") }
    END {
        printf "%-12s %5s %18s %18s %12s %16s\n", "model", "batch", "ndlc ms (min)", "torch ms (min)", "torch/ndlc", "torch dev-only"
        for (i = 1; i <= n; i++) {
            k = order[i]; split(k, mb, " ")
            if (!(k in tm)) { printf "%-12s %5s %8.4f (%7.4f) %18s\n", mb[1], mb[2], nm[k], nb[k], "no torch time"; continue }
            printf "%-12s %5s %8.4f (%7.4f) %8.4f (%7.4f) %12.2f %16.4f\n", mb[1], mb[2], nm[k], nb[k], tm[k], tb[k], tm[k] / nm[k], td[k]
        }
    }' "$out/ndlc_times.txt" "$out/torch_times.txt"
echo "gpu_models.sh: ms are medians of $repeat runs, host buffers in and out on both sides; $(( $(date +%s) - t0 )) s"
exit $status
