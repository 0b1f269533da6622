#!/bin/sh
# SPDX-License-Identifier: MIT
# check_hyper.sh - --hyper init through the LLVM backend (spec 8.5, issue 9): the init part
# runs once, in create.
#
#   check_hyper.sh NDLC STCMP CASE.ndl
#
# CASE.ndl is a tests/hyper golden. Checks:
#   - `--backend llvm --hyper fold` and `--hyper init` executables match the PyTorch golden
#     and each other;
#   - in the model program of `--emit llvm` (read by program.py): fold's create runs no
#     layer; init's create runs at least one, and init's run executes exactly fold's
#     layers (the same op kinds in the same order: the hypernetwork never runs per
#     inference), each predicted weight that a run layer reads as its weight packed by
#     create (packs), as fold's are packed by the compiler.
# Exit status: 0 pass, 1 fail, 2 usage.
set -u
[ $# -eq 3 ] || { echo "usage: check_hyper.sh NDLC STCMP CASE.ndl" >&2; exit 2; }
ndlc=$1 stcmp=$2 case_ndl=$3
here=$(cd "$(dirname "$0")" && pwd)
stem=${case_ndl%.ndl}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/llvm-hyper.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "FAIL: $1" >&2
    exit 1
}
field() { sed -n "s/^$1 *//p" "$2"; }

for mode in fold init; do
    "$ndlc" "$case_ndl" --backend llvm --hyper $mode -o "$tmp/$mode" || fail "ndlc --backend llvm --hyper $mode exited with $?"
    "$tmp/$mode" "$stem.in.safetensors" "$tmp/$mode.out.safetensors" || fail "--hyper $mode: the executable exited with $?"
    "$stcmp" "$tmp/$mode.out.safetensors" "$stem.out.safetensors" >/dev/null || fail "--hyper $mode: output differs from PyTorch"
    "$ndlc" "$case_ndl" --hyper $mode --emit llvm -o "$tmp/$mode.ll" || fail "ndlc --hyper $mode --emit llvm exited with $?"
    python3 "$here/program.py" "$tmp/$mode.ll" >"$tmp/$mode.prog" || fail "cannot read the program of --hyper $mode"
done
"$stcmp" "$tmp/fold.out.safetensors" "$tmp/init.out.safetensors" >/dev/null || fail "fold and init outputs differ"

[ -z "$(field init "$tmp/fold.prog")" ] || fail "--hyper fold: create runs layers $(field init "$tmp/fold.prog")"
[ -n "$(field init "$tmp/init.prog")" ] || fail "--hyper init: create computes no predicted weight"
[ "$(field run "$tmp/init.prog")" = "$(field run "$tmp/fold.prog")" ] ||
    fail "--hyper init: run executes ops $(field run "$tmp/init.prog"), fold's run $(field run "$tmp/fold.prog")"
# run layers whose weight fold packs at compile time (packed 1): init's read it packed by create
[ "$(field packed "$tmp/init.prog")" = "$(field packed "$tmp/fold.prog")" ] ||
    fail "--hyper init: run layers' weights packed $(field packed "$tmp/init.prog"), fold's $(field packed "$tmp/fold.prog")"
[ "$(field packs "$tmp/init.prog")" -gt 0 ] || fail "--hyper init: create packs no predicted weight"
echo "check_hyper (llvm): init runs $(field init "$tmp/init.prog" | wc -w) layers in create, packs $(field packs "$tmp/init.prog"); run = fold's run"
