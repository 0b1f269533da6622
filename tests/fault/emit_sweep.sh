#!/bin/sh
# emit_sweep.sh NDLC NDL - fault injection for a compile that writes files: makes the
# N-th allocation of `ndlc NDL --emit c -o out.c` fail, for every N until the run no
# longer reaches a failing allocation, with a stale out.c and out.h present before each
# run. Each run must end normally (exit 0, out.c and out.h rewritten) or in a clean
# internal error (exit 3) that leaves nothing named out* behind: neither the stale
# outputs nor a temporary (out.c.tmp<pid>.*), spec section 9.
set -u
ndlc=$1 model=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=1
while :; do
  echo stale >"$tmp/out.c"
  echo stale >"$tmp/out.h"
  NDLC_FAIL_ALLOC=$n "$ndlc" "$model" --emit c -o "$tmp/out.c" >/dev/null 2>"$tmp/err"
  rc=$?
  if [ $rc -eq 0 ]; then
    if grep -q '^stale$' "$tmp/out.c" "$tmp/out.h"; then
      echo "emit_sweep: the successful run left a stale output" >&2
      exit 1
    fi
    echo "emit_sweep: $((n - 1)) allocation failures injected, none left an output or a temporary"
    exit 0
  fi
  if [ $rc -ne 3 ] || ! grep -q "^ndlc: internal error .*out of memory" "$tmp/err"; then
    echo "emit_sweep: NDLC_FAIL_ALLOC=$n gave exit status $rc:" >&2
    cat "$tmp/err" >&2
    exit 1
  fi
  if ls "$tmp" | grep -q '^out'; then
    echo "emit_sweep: NDLC_FAIL_ALLOC=$n left behind:" $(ls "$tmp" | grep '^out') >&2
    exit 1
  fi
  n=$((n + 1))
  if [ $n -gt 100000 ]; then echo "emit_sweep: no end in sight" >&2; exit 1; fi
done
