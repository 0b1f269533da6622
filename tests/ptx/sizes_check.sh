#!/bin/sh
# SPDX-License-Identifier: MIT
# sizes_check.sh - symbolic sizes in --emit ptx: the executable of CASE.ndl (one f32 input
# x: f32[N <= BOUND, F]) built with the host stand-in of the PTX runtime (tests/ptx/host_rt.c)
# binds N from the input at run time. For N = 1, 2 and BOUND it must match the C backend's
# executable on the same input (the plan's size expressions, grids and workspace slots
# evaluated per run); N = BOUND + 1 and a wrong F must fail cleanly: exit 1, a message
# naming the input, no output file.
#
#   sizes_check.sh NDLC STCMP CASE.ndl BOUND F
set -u
ndlc=$1
stcmp=$2
case_ndl=$3
bound=$4
feat=$5
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ptx_sizes.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
NDLC_PTXRT="$here/host_rt.c" "$ndlc" "$case_ndl" --emit exe --backend llvm --target cuda -o "$tmp/ptx" ||
    { echo "FAIL: the PTX executable did not build"; exit 1; }
"$ndlc" "$case_ndl" --emit exe -o "$tmp/cpu" || { echo "FAIL: the C executable did not build"; exit 1; }
# x: f32[n, f] of values in [-1, 1), as a safetensors file (python3 without numpy)
make_input() {
    python3 -c '
import json, struct, sys
n, f, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
vals = [((i * 7919) % 2000) / 1000.0 - 1.0 for i in range(n * f)]
data = struct.pack("<%df" % len(vals), *vals)
head = json.dumps({"x": {"dtype": "F32", "shape": [n, f], "data_offsets": [0, len(data)]}}).encode()
head += b" " * (-len(head) % 8)
open(path, "wb").write(struct.pack("<Q", len(head)) + head + data)
' "$1" "$2" "$3"
}
fail=0
for n in 1 2 "$bound"; do
    make_input "$n" "$feat" "$tmp/in$n.st"
    "$tmp/cpu" "$tmp/in$n.st" "$tmp/cpu$n.st" || { echo "FAIL: the C executable failed for N=$n"; fail=1; continue; }
    if "$tmp/ptx" "$tmp/in$n.st" "$tmp/ptx$n.st" && "$stcmp" "$tmp/ptx$n.st" "$tmp/cpu$n.st"; then
        echo "N=$n: PTX plan (host) = C backend"
    else
        echo "FAIL: N=$n: the PTX executable differs or failed"
        fail=1
    fi
done
check_refused() { # input file, what the message must name
    "$tmp/ptx" "$1" "$tmp/bad.st" 2> "$tmp/err"
    rc=$?
    cat "$tmp/err"
    [ $rc -eq 1 ] || { echo "FAIL: $1: exit status $rc, expected 1"; fail=1; }
    grep -q "$2" "$tmp/err" || { echo "FAIL: $1: the message does not name '$2'"; fail=1; }
    [ ! -e "$tmp/bad.st" ] || { echo "FAIL: $1: an output file exists"; fail=1; }
}
make_input $((bound + 1)) "$feat" "$tmp/over.st"
check_refused "$tmp/over.st" "x"
make_input 2 $((feat + 1)) "$tmp/wide.st"
check_refused "$tmp/wide.st" "x"
exit $fail
