#!/bin/sh
# SPDX-License-Identifier: MIT
# soak.sh - runs the differential test (run_diff.sh) on N fresh seeds, for bug hunting.
# Not a CTest: the fixed seed list lives in CMakeLists.txt.
#
#   soak.sh N [FIRST]
#
# Seeds FIRST .. FIRST+N-1 (FIRST defaults to a clock-derived number, printed, so a run
# can be repeated). NDLC and STCMP name the tools (default: the build/ tree), JOBS the
# number of seeds run at once (default: the number of CPUs). Failing seeds keep their
# directories and their reports are collected in $TMPDIR/soak-FIRST.log (default
# /tmp); the summary lists them. Exit status 0 when every seed passed, else 1.
set -u
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: soak.sh N [FIRST]" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
n=$1
first=${2:-$(( $(date +%s) % 100000 * 1000 ))}
ndlc=${NDLC:-$root/build/ndlc}
stcmp=${STCMP:-$root/build/tests/harness/stcmp}
jobs=${JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}
for t in "$ndlc" "$stcmp"; do
    [ -x "$t" ] || { echo "soak.sh: $t: not an executable (set NDLC and STCMP)" >&2; exit 2; }
done
log=${TMPDIR:-/tmp}/soak-$first.log
: > "$log"
echo "soak: seeds $first .. $((first + n - 1)), $jobs at a time, reports in $log"
start=$(date +%s)
i=0
while [ $i -lt "$n" ]; do
    echo $((first + i))
    i=$((i + 1))
done | xargs -P "$jobs" -I{} sh -c '
    out=$(sh "$1" "$2" "$3" "$4" 2>&1)
    rc=$?
    if [ $rc -ne 0 ]; then
        printf "%s\n\n" "$out" >> "$5"
        echo "seed $4: FAIL"
    fi' sh "$here/run_diff.sh" "$ndlc" "$stcmp" {} "$log"
nfail=$(grep -c '^diff seed .* FAILED\|^FAIL (gen)' "$log")
echo "soak: $n seeds, $nfail failed, $(( $(date +%s) - start )) s"
grep '^diff seed .* FAILED\|^FAIL (gen)' "$log"
[ "$nfail" -eq 0 ]
