#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/moe/run.sh - issue 8's MoE targets, in one run, one thread everywhere:
#   moe8 (8 experts 512 -> 2048 -> 512 GELU, top-2, 64 tokens) against the same layer computed
#   densely by ndlc (-D k=8: every expert on every token) and against ONNX Runtime on the
#   PyTorch-exported model (dense, masked: how exported graphs run a MoE); moe32 (E = 32,
#   top-2) against moe8. Targets: dense / moe8 >= 3, ORT / moe8 >= 2, moe32 / moe8 <= 1.3.
#
#   bench/moe/run.sh [--ndlc PATH] [--repeat N] [--rounds R] [--out DIR] [--tokens T]
#
# --tokens T (default 64) runs the same layers on T tokens: the models are moe8.ndl and
# moe32.ndl with their token count replaced, the files live in OUT/t<T> (README.md: at 64
# tokens E = 32 reads all its experts' weights, a bandwidth floor; at 1024 the time is the
# multiply-adds, which grow with k).
#
# Files come from make.py (PyTorch, only when missing); each ndlc executable's output is
# checked against PyTorch's (tests' stcmp tolerance) before it is timed. ndlc times are the
# executable's --repeat median; ORT's the median of N session.run calls (bench/node_modules,
# as bench/run.sh installs it). Each round times every case once in turn; the table shows the
# median over rounds, and the best single run over all rounds (on a shared machine the
# medians take the other jobs' share; the minimum is the run that had a core). Below the table:
# moe32's floor, the bytes of its active experts over what one core reads (stream.c). Exit
# status 1 if a check fails.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=${PYTHON:-/usr/bin/python3}
OUT=$HERE/out
NDLC=$ROOT/build/ndlc
STCMP=$ROOT/build/tests/harness/stcmp
REPEAT=50
ROUNDS=3
TOKENS=64
while [ $# -gt 0 ]; do
  case "$1" in
    --tokens) TOKENS=$2; shift 2 ;;
    --ndlc) NDLC=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    *) echo "run.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
case "$TOKENS" in ''|*[!0-9]*|0*) echo "run.sh: --tokens needs a positive integer" >&2; exit 2 ;; esac
[ "$TOKENS" = 64 ] || OUT=$OUT/t$TOKENS
mkdir -p "$OUT"
[ -f "$OUT/moe32.onnx" ] || "$PY" "$HERE/make.py" "$OUT" "$TOKENS"
for e in 8 32; do   # the models at this token count
  sed "s/f32\[64, 512\]/f32[$TOKENS, 512]/" "$HERE/moe$e.ndl" >"$OUT/moe$e.ndl"
done

# build NAME NDL [OPTION]: the executable OUT/NAME of NDL.ndl, run once on the input
build() {
  # external weights: cc need not compile 270 MB of float literals (E = 32)
  "$NDLC" "$OUT/$2.ndl" --weights "$OUT/$2.safetensors" --external-weights --threads 1 -o "$OUT/$1" ${3:+$3}
  "$OUT/$1" "$OUT/$2.in.safetensors" "$OUT/$1.ndlc.safetensors"
}
build moe8 moe8
build moe32 moe32
build dense8 moe8 "-D k=8"   # another function (all 8 weights): timed, not compared
for e in 8 32; do
  "$STCMP" "$OUT/moe$e.ndlc.safetensors" "$OUT/moe$e.out.safetensors" >&2
done

# ndlc_ms EXE MODEL: "MEDIAN MIN" of --repeat runs
ndlc_ms() { "$OUT/$1" "$OUT/$2.in.safetensors" "$OUT/$1.ndlc.safetensors" --repeat "$REPEAT" |
            sed -n 's/.*min_ms=\([0-9.]*\) median_ms=\([0-9.]*\).*/\2 \1/p'; }
ORT_JS='
const ort = require(process.argv[1] + "/node_modules/onnxruntime-node");
(async () => {
  const s = await ort.InferenceSession.create(process.argv[2], {intraOpNumThreads: 1,
    interOpNumThreads: 1, executionMode: "sequential", graphOptimizationLevel: "all"});
  const T = parseInt(process.argv[4], 10);
  const x = new ort.Tensor("float32", new Float32Array(T * 512).fill(0.1), [T, 512]);
  const n = parseInt(process.argv[3], 10), t = [];
  for (let i = 0; i < 3; i++) await s.run({x});
  for (let i = 0; i < n; i++) {
    const a = process.hrtime.bigint();
    await s.run({x});
    t.push(Number(process.hrtime.bigint() - a) / 1e6);
  }
  t.sort((p, q) => p - q);
  console.log(t[Math.floor(n / 2)].toFixed(3) + " " + t[0].toFixed(3));
})();'
have_ort=1
node -e "require('$ROOT/bench/node_modules/onnxruntime-node')" >/dev/null 2>&1 || have_ort=0
ort_ms() { node -e "$ORT_JS" "$ROOT/bench" "$OUT/$1.onnx" "$REPEAT" "$TOKENS"; }

declare -A T B   # per case: the rounds' medians, and their best runs
add() { local v; read -r -a v <<<"$2"; T[$1]+="${v[0]} "; B[$1]+="${v[1]} "; }
for r in $(seq "$ROUNDS"); do
  add moe8 "$(ndlc_ms moe8 moe8)"
  add moe32 "$(ndlc_ms moe32 moe32)"
  add dense8 "$(ndlc_ms dense8 moe8)"
  [ $have_ort = 0 ] || add ort8 "$(ort_ms moe8)"
done
med() { printf '%s\n' $1 | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
best() { printf '%s\n' $1 | sort -g | head -1; }
# row LABEL CASE RATIO-WORD TARGET: median and best of CASE, each against moe8's
row() {
  local m b
  m=$(med "${T[$2]}"); b=$(best "${B[$2]}")
  printf '| %s | %s | %.2fx%s | %s | %.2fx%s | %s |\n' "$1" "$m" "$(echo "$m / $m8" | bc -l)" "$3" \
    "$b" "$(echo "$b / $b8" | bc -l)" "$3" "$4"
}
m8=$(med "${T[moe8]}"); b8=$(best "${B[moe8]}")
printf '| case | median ms | vs ndlc moe8 | best ms | vs ndlc moe8 | target |\n|---|---|---|---|---|---|\n'
printf '| ndlc moe8 (top-2 of 8, %s tokens) | %s | 1 | %s | 1 | |\n' "$TOKENS" "$m8" "$b8"
row 'ndlc dense8 (every expert on every token)' dense8 ' slower' '>= 3x'
if [ $have_ort = 1 ]; then
  row 'ONNX Runtime, exported moe8 (dense, masked)' ort8 ' slower' '>= 2x'
else
  printf '| ONNX Runtime | not run: no bench/node_modules/onnxruntime-node (bench/run.sh installs it) | | | | |\n'
fi
row 'ndlc moe32 (top-2 of 32)' moe32 '' '<= 1.3x'

# The floor under moe32: it must read the weights of every expert that received a token (its
# --repeat statistics print the per-expert load) and one core reads memory at read_gbps.
CC=${CC:-cc}
if "$CC" -O3 -march=native -o "$OUT/stream" "$HERE/stream.c" 2>/dev/null; then
  gbps=$("$OUT/stream" 512 5 | sed -n 's/^read_gbps=\([0-9.]*\).*/\1/p')
  active=$("$OUT/moe32" "$OUT/moe32.in.safetensors" "$OUT/moe32.ndlc.safetensors" --repeat 1 |
           sed -n 's/.* load=//p' | tr , '\n' | grep -c -v '^0$')
  mb=$(echo "$active * (2 * 2048 * 512 + 2048 + 512) * 4 / 1000000" | bc -l)
  floor=$(echo "$mb / $gbps" | bc -l)
  printf '\nmoe32 reads the weights of its %d active experts (%.0f MB); one core reads %s GB/s (stream.c), so moe32 takes >= %.2f ms = %.2fx moe8'"'"'s median\n' \
    "$active" "$mb" "$gbps" "$floor" "$(echo "$floor / $m8" | bc -l)"
fi
