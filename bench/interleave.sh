#!/bin/sh
# SPDX-License-Identifier: MIT
# interleave.sh - time ndlc executables on one input in interleaved rounds (A, B, C, A, B, C,
# ...), each round one process per executable with its own `--repeat R` statistics, so that
# a shared machine's slow phases fall on every variant alike. Prints per executable the
# minimum over all runs, the median of the rounds' medians, the range of the rounds'
# medians, and `uptime` before and after.
#   bench/interleave.sh IN.safetensors ROUNDS REPEAT EXE...
set -eu
in=$1 rounds=$2 repeat=$3
shift 3
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "start: $(uptime)"
r=0
while [ "$r" -lt "$rounds" ]; do
    i=0
    for exe in "$@"; do
        "$exe" "$in" "$out/y.safetensors" --repeat "$repeat" | sed -n 's/.*min_ms=\([0-9.]*\) median_ms=\([0-9.]*\).*/\1 \2/p' >>"$out/$i"
        i=$((i + 1))
    done
    r=$((r + 1))
done
echo "end:   $(uptime)"
i=0
for exe in "$@"; do
    sort -n -k2 "$out/$i" | awk -v exe="$exe" '{ mn = (NR == 1 || $1 < mn) ? $1 : mn; med[NR] = $2 }
        END { printf "%-40s min %.4f ms  median of medians %.4f ms  (round medians %.4f..%.4f, %d rounds)\n",
              exe, mn, med[int((NR + 1) / 2)], med[1], med[NR], NR }'
    i=$((i + 1))
done
