#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/supernet/run.sh - issue 5's targets on the example supernet (examples/ofa_mbv3.ndl):
#
#   bench/supernet/run.sh [--ndlc PATH] [--repeat N] [--rounds K]
#
# 1. Specialization + code generation to C, without the C compiler: the wall time of
#    `ndlc examples/ofa_mbv3.ndl -D ... --emit c` (elaboration, weight binding and slicing,
#    kernel transformation, the passes, the emitter) for the smallest and the largest
#    subnet, best of K rounds. Target: < 1 s.
# 2. The smallest and the largest subnet as executables (C backend, cc -O3 -march=native,
#    one thread, batch 1), timed by `ndlc subnets --measure` (every elastic variable fixed
#    with -D, so the "search" is that one configuration; the executable's own --repeat N
#    timing, median), K rounds with the two subnets interleaved, each subnet's time the
#    smallest of its K medians (on a shared VM a round's median varied up to 2x, always
#    upwards; every median is printed): the ratio of their times against the ratio of their
#    MACs. Target: the time ratio within 1.5x of the MAC ratio.
# Needs only ndlc and a C compiler (ndlc's default build is build/ndlc).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
ndlc=$root/build/ndlc
repeat=200
rounds=5
while [ $# -gt 0 ]; do
    case $1 in
    --ndlc) ndlc=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "usage: bench/supernet/run.sh [--ndlc PATH] [--repeat N] [--rounds K]" >&2; exit 2 ;;
    esac
done
[ -x "$ndlc" ] || { echo "bench/supernet: no ndlc at $ndlc (build it, or pass --ndlc)" >&2; exit 2; }
net=$root/examples/ofa_mbv3.ndl
small="-D d=2 -D ks=3 -D e=3 -D r=32"
large="-D d=4 -D ks=7 -D e=6 -D r=64"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-supernet.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

now() { date +%s.%N; }

# best wall time of `ndlc NET OPTIONS --emit c` over $rounds rounds
codegen_time() {
    best=
    i=0
    while [ $i -lt "$rounds" ]; do
        t0=$(now)
        # shellcheck disable=SC2086
        "$ndlc" "$net" $1 --emit c -o "$tmp/net.c"
        t1=$(now)
        best=$(echo "$t0 $t1 ${best:-1e9}" | awk '{ d = $2 - $1; print (d < $3 ? d : $3) }')
        i=$((i + 1))
    done
    echo "$best"
}

# "MACS PARAMS MEDIAN_MS" of the one configuration OPTIONS
measure() {
    # shellcheck disable=SC2086
    "$ndlc" subnets "$net" $1 --max-mmacs 1e6 --measure --repeat "$repeat" --json > "$tmp/m.json"
    sed -n 's/.*"macs": \([0-9.e+]*\), "parameters": \([0-9.e+]*\),.*"latency_ms": \([0-9.]*\).*/\1 \2 \3/p' "$tmp/m.json"
}

cs=$(codegen_time "$small")
cl=$(codegen_time "$large")
ts= tl= all_s= all_l=
i=0
while [ $i -lt "$rounds" ]; do
    set -- $(measure "$small")
    ms=$1 ps=$2 s=${3:-}
    set -- $(measure "$large")
    ml=$1 pl=$2 l=${3:-}
    [ -n "$s" ] && [ -n "$l" ] || { echo "bench/supernet: measuring failed" >&2; cat "$tmp/m.json" >&2; exit 1; }
    all_s="$all_s $s" all_l="$all_l $l"
    ts=$(echo "$s ${ts:-1e9}" | awk '{ print ($1 < $2 ? $1 : $2) }')
    tl=$(echo "$l ${tl:-1e9}" | awk '{ print ($1 < $2 ? $1 : $2) }')
    i=$((i + 1))
done

echo "ndlc supernet bench: examples/ofa_mbv3.ndl, batch 1, one thread, best of $rounds medians of $repeat runs"
echo "medians (ms): smallest$all_s; largest$all_l"
printf '%-9s %-34s %9s %9s %11s %12s\n' subnet options MMACs params "exe ms" "to C (s)"
printf '%-9s %-34s %9.3f %9d %11.4f %12.3f\n' smallest "$small" "$(echo "$ms" | awk '{print $1/1e6}')" "$ps" "$ts" "$cs"
printf '%-9s %-34s %9.3f %9d %11.4f %12.3f\n' largest "$large" "$(echo "$ml" | awk '{print $1/1e6}')" "$pl" "$tl" "$cl"
echo "$ms $ml $ts $tl $cs $cl" | awk '{
    mac = $2 / $1; tim = $4 / $3; f = mac > tim ? mac / tim : tim / mac
    printf "MAC ratio %.2f, time ratio %.2f: within %.2fx of each other (target 1.5x): %s\n", mac, tim, f, f <= 1.5 ? "met" : "NOT met"
    c = $5 > $6 ? $5 : $6
    printf "specialization + codegen to C: %.3f s at most (target < 1 s): %s\n", c, c < 1 ? "met" : "NOT met"
}'
