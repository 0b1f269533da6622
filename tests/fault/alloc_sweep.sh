#!/bin/sh
# alloc_sweep.sh NDLC NDL [INPUTS] - fault injection (style guide 2.7): makes the N-th
# allocation of the compiler fail, for every N until the run no longer reaches a
# failing allocation, and checks each run ends either normally (exit 0) or in a clean
# internal error (exit 3, "ndlc: internal error ... out of memory") - never a crash,
# never a user-error status, and nothing named out* left after a failure (spec 9).
#   with INPUTS: `ndlc run NDL --inputs INPUTS -o out.safetensors`;
#   without:     `ndlc NDL --emit c -o out.c` with a stale out.c and out.h present before
#                each run, which an internal error must remove with its temporaries
#                (out.c.tmp<pid>.*, the driver's ndlc_set_ice_cleanup hook) and a
#                successful run must rewrite.
set -u
ndlc=$1 model=$2 inputs=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=1
while :; do
  if [ -n "$inputs" ]; then
    NDLC_FAIL_ALLOC=$n "$ndlc" run "$model" --inputs "$inputs" -o "$tmp/out.safetensors" \
        >/dev/null 2>"$tmp/err"
  else
    echo stale >"$tmp/out.c"
    echo stale >"$tmp/out.h"
    NDLC_FAIL_ALLOC=$n "$ndlc" "$model" --emit c -o "$tmp/out.c" >/dev/null 2>"$tmp/err"
  fi
  rc=$?
  if [ $rc -eq 0 ]; then
    if [ -z "$inputs" ] && grep -q '^stale$' "$tmp/out.c" "$tmp/out.h"; then
      echo "alloc_sweep: the successful run left a stale output" >&2
      exit 1
    fi
    echo "alloc_sweep: $((n - 1)) allocation failures injected, all ended cleanly"
    exit 0
  fi
  if [ $rc -ne 3 ] || ! grep -q "^ndlc: internal error .*out of memory" "$tmp/err"; then
    echo "alloc_sweep: NDLC_FAIL_ALLOC=$n gave exit status $rc:" >&2
    cat "$tmp/err" >&2
    exit 1
  fi
  if ls "$tmp" | grep -q '^out'; then
    echo "alloc_sweep: NDLC_FAIL_ALLOC=$n left behind:" $(ls "$tmp" | grep '^out') >&2
    exit 1
  fi
  n=$((n + 1))
  if [ $n -gt 100000 ]; then echo "alloc_sweep: no end in sight" >&2; exit 1; fi
done
