#!/bin/sh
# SPDX-License-Identifier: MIT
# run_golden.sh - runs one golden case through the reference interpreter and compares.
#
#   run_golden.sh NDLC STCMP CASE.ndl
#
# Runs `NDLC run CASE.ndl --inputs CASE.in.safetensors -o TMP/out.safetensors` (the .ndl
# names its own weight file), then `STCMP TMP/out.safetensors CASE.out.safetensors`.
# A line `# TOL: ATOL RTOL` in CASE.ndl passes --atol/--rtol to stcmp (default 1e-4 1e-4).
# On failure it prints the commands it ran, so they can be pasted into a shell, and keeps
# the temporary directory holding the actual output.
# Exit status: 0 pass, 1 fail, 2 usage.
set -u

if [ $# -ne 3 ]; then
    echo "usage: run_golden.sh NDLC STCMP CASE.ndl" >&2
    exit 2
fi
ndlc=$1
stcmp=$2
case_ndl=$3
stem=${case_ndl%.ndl}
if [ "$stem" = "$case_ndl" ] || [ ! -f "$case_ndl" ]; then
    echo "run_golden.sh: $case_ndl: not an existing .ndl file" >&2
    exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/golden.XXXXXX") || exit 1
trap 'rm -rf "$tmp"; exit 1' HUP INT TERM
out=$tmp/out.safetensors

# Optional per-case tolerance: the first "# TOL: atol rtol" line.
tol=$(sed -n 's/^[[:space:]]*#[[:space:]]*TOL:[[:space:]]*//p' "$case_ndl" | head -n 1)
tolargs=
if [ -n "$tol" ]; then
    set -- $tol
    if [ $# -ne 2 ]; then
        echo "run_golden.sh: $case_ndl: malformed '# TOL: atol rtol' line" >&2
        rm -rf "$tmp"
        exit 1
    fi
    tolargs="--atol $1 --rtol $2"
fi

run_cmd="$ndlc run $case_ndl --inputs $stem.in.safetensors -o $out"
cmp_cmd="$stcmp $out $stem.out.safetensors $tolargs"

"$ndlc" run "$case_ndl" --inputs "$stem.in.safetensors" -o "$out"
rc=$?
if [ $rc -ne 0 ]; then
    echo "FAIL: ndlc run exited with status $rc" >&2
    echo "  $run_cmd" >&2
    echo "(kept $tmp)" >&2
    exit 1
fi
# $tolargs is deliberately unquoted: it is empty or four words.
"$stcmp" "$out" "$stem.out.safetensors" $tolargs
rc=$?
if [ $rc -ne 0 ]; then
    echo "FAIL: output differs from the PyTorch golden (stcmp status $rc)" >&2
    echo "  $run_cmd" >&2
    echo "  $cmp_cmd" >&2
    echo "(kept $tmp)" >&2
    exit 1
fi
rm -rf "$tmp"
exit 0
