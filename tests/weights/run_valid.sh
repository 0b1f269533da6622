#!/bin/sh
# SPDX-License-Identifier: MIT
# run_valid.sh - a valid edge-case file must load: `ndlc run` succeeds silently and its
# output equals the expected one exactly (the values are exact in every dtype used).
#
#   run_valid.sh NDLC STCMP DIR MODEL.ndl WEIGHTS INPUTS GOLDEN
#
# Runs, in DIR, `NDLC run MODEL.ndl [--weights WEIGHTS] --inputs INPUTS -o TMP/out`
# (WEIGHTS '-' keeps the model's own weight file), then `STCMP TMP/out GOLDEN --atol 0
# --rtol 0`. Exit status: 0 pass, 1 fail, 2 usage.
set -u
if [ $# -ne 7 ]; then
    echo "usage: run_valid.sh NDLC STCMP DIR MODEL.ndl WEIGHTS INPUTS GOLDEN" >&2
    exit 2
fi
ndlc=$1 stcmp=$2 dir=$3 model=$4 weights=$5 inputs=$6 golden=$7
tmp=$(mktemp -d "${TMPDIR:-/tmp}/valid.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
if [ "$weights" = - ]; then set --; else set -- --weights "$weights"; fi
cd "$dir" || exit 2
"$ndlc" run "$model" "$@" --inputs "$inputs" -o "$tmp/out" >"$tmp/log" 2>&1
rc=$?
if [ $rc -ne 0 ] || [ -s "$tmp/log" ]; then
    echo "FAIL: ndlc run exited with status $rc (expected 0, and no output on stdout/stderr):"
    cat "$tmp/log"
    echo "command: (cd $dir && $ndlc run $model $* --inputs $inputs -o OUT)"
    exit 1
fi
if ! "$stcmp" "$tmp/out" "$golden" --atol 0 --rtol 0; then
    echo "FAIL: the output differs from $golden"
    echo "command: (cd $dir && $ndlc run $model $* --inputs $inputs -o OUT)"
    exit 1
fi
exit 0
