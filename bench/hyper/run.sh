#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/hyper/run.sh - issue 9's targets on a GPT-2-small-shaped set of predicted weights:
#
#   bench/hyper/run.sh [--ndlc PATH] [--rounds K] [--rank R]
#
# gen.py writes the model: twelve 768x768 and twelve 768x3072 Linear weights (35.4M
# parameters), each U V^T with factors predicted LoGAH-style from per-layer embeddings by
# small MLP hypernetworks (4.0M parameters at rank 16).
# 1. Fold: `ndlc gpt2_hyper.ndl --emit json` (parse, weight load, the passes - the fold
#    evaluates every predicted weight - and the report), best of K rounds: wall time and
#    CPU time (user + sys, so a loaded machine's waiting is visible). Target: < 20 s.
#    The report must count the predicted weights and biases (35.4M parameters).
# 2. Init: `ndlc gpt2_hyper.ndl --hyper init --external-weights --emit c`, compiled with
#    cc -O3 -march=native and create_timer.c: the best wall and CPU time of
#    Gpt2Hyper_create (load the hypernetwork, predict and pack every weight) over K rounds.
#    Target: < 5 s.
# Also checks that the fold and init executables give the same output (stcmp).
# Needs ndlc, a C compiler, and numpy in /usr/bin/python3.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
ndlc=$root/build/ndlc
stcmp=$root/build/tests/harness/stcmp
rounds=3
rank=16
while [ $# -gt 0 ]; do
    case $1 in
    --ndlc) ndlc=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --rank) rank=$2; shift 2 ;;
    *) echo "usage: bench/hyper/run.sh [--ndlc PATH] [--rounds K] [--rank R]" >&2; exit 2 ;;
    esac
done
[ -x "$ndlc" ] || { echo "bench/hyper: no ndlc at $ndlc (build it, or pass --ndlc)" >&2; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-hyper.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
/usr/bin/python3 "$root/bench/hyper/gen.py" "$tmp" --rank "$rank"
cd "$tmp"

best_wall=999999 best_cpu=999999
for k in $(seq "$rounds"); do
    /usr/bin/time -f "%e %U %S" -o t.txt "$ndlc" gpt2_hyper.ndl --emit json -o r.json
    read -r wall user sys <t.txt
    cpu=$(echo "$user + $sys" | bc)
    best_wall=$(echo "if ($wall < $best_wall) $wall else $best_wall" | bc)
    best_cpu=$(echo "if ($cpu < $best_cpu) $cpu else $best_cpu" | bc)
done
params=$(python3 -c "import json; print(json.load(open('r.json'))['total']['parameters'])")
echo "fold: ndlc --emit json (35.4M predicted parameters, report counts $params): best wall $best_wall s, best cpu $best_cpu s (target < 20 s)"

"$ndlc" gpt2_hyper.ndl --hyper init --external-weights --emit c -o model.c
${CC:-cc} -O3 -march=native -std=c11 -I. -I"$root/runtime" -o create_timer model.c \
    "$root/bench/hyper/create_timer.c" "$root/runtime/safetensors.c" -lm
read -r t tcpu <<EOT
$(./create_timer model.weights.safetensors "$rounds")
EOT
echo "init: Gpt2Hyper_create (load $(wc -c <model.weights.safetensors) bytes, predict and pack every weight): best wall $t s, best cpu $tcpu s (target < 5 s)"

# the same through the LLVM backend (its create runs the init part once, like the C's)
mkdir llvm
if "$ndlc" gpt2_hyper.ndl --hyper init --external-weights --emit obj -o llvm/model.o 2>llvm/err.txt; then
    ${CC:-cc} -O2 -std=c11 -Illvm -I"$root/runtime" -o llvm/create_timer "$root/bench/hyper/create_timer.c" llvm/model.o -lm
    read -r t tcpu <<EOT
$(./llvm/create_timer llvm/model.weights.safetensors "$rounds")
EOT
    echo "init (--backend llvm): Gpt2Hyper_create: best wall $t s, best cpu $tcpu s (target < 5 s)"
    "$ndlc" gpt2_hyper.ndl --hyper init --backend llvm --external-weights -o llvm/init
else
    echo "init (--backend llvm): not measured: $(cat llvm/err.txt)"
fi

"$ndlc" gpt2_hyper.ndl --external-weights -o fold
"$ndlc" gpt2_hyper.ndl --hyper init --external-weights -o init
./fold gpt2_hyper.in.safetensors fold.out.safetensors
./init gpt2_hyper.in.safetensors init.out.safetensors
"$stcmp" init.out.safetensors fold.out.safetensors
if [ -x llvm/init ]; then
    ./llvm/init gpt2_hyper.in.safetensors llvm/init.out.safetensors
    "$stcmp" llvm/init.out.safetensors fold.out.safetensors
fi
