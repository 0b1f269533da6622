#!/bin/sh
# SPDX-License-Identifier: MIT
# check_hyper.sh - --hyper fold and --hyper init store what they should and agree (spec 8.5).
#
#   check_hyper.sh NDLC JSONGET STCMP CASE.ndl
#
# CASE.ndl carries `# FOLD-BYTES: N` and `# INIT-BYTES: N` (tests/reference/hyper_cases.py:
# the target network's state_dict, and the hypernetwork's plus the ordinary parameters).
# Checks, for both modes:
#   - `--emit json`: total.parameter_bytes (the parameters the artefact stores) equals that
#     mode's count exactly, and hyper.init_minus_fold_bytes (the --report comparison of
#     the two modes) equals INIT-BYTES - FOLD-BYTES;
#   - the executable with `--external-weights` matches the PyTorch golden (the weight file
#     itself holds linear/conv weights in their packed layout, so its size is not compared);
# then the deployable C of --hyper init (cc -Werror, embedded weights) matches the golden;
# its create computes the predicted weights (init buffers) and its run calls exactly the
# layer functions fold's run calls (the hypernetwork never runs per inference), none of
# which packs a weight where fold's do not (create packs predicted linear and conv weights
# once); and the fold and init executables' outputs agree with each other within tolerance.
# Exit status: 0 pass, 1 fail, 2 usage.
set -u
[ $# -eq 4 ] || { echo "usage: check_hyper.sh NDLC JSONGET STCMP CASE.ndl" >&2; exit 2; }
ndlc=$1 jsonget=$2 stcmp=$3 case_ndl=$4
root=$(cd "$(dirname "$0")/../.." && pwd)
stem=${case_ndl%.ndl}
want_fold=$(sed -n 's/^# FOLD-BYTES: //p' "$case_ndl")
want_init=$(sed -n 's/^# INIT-BYTES: //p' "$case_ndl")
[ -n "$want_fold" ] && [ -n "$want_init" ] || { echo "check_hyper.sh: no byte counts in $case_ndl" >&2; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hyper.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "FAIL: $1" >&2
    exit 1
}

for mode in fold init; do
    [ $mode = fold ] && want=$want_fold || want=$want_init
    "$ndlc" "$case_ndl" --hyper $mode --emit json -o "$tmp/$mode.json" || fail "ndlc --hyper $mode --emit json exited with $?"
    got=$("$jsonget" "$tmp/$mode.json" total.parameter_bytes)
    [ "$got" = "$want" ] || fail "--hyper $mode: the report counts $got parameter bytes, expected $want"
    got=$("$jsonget" "$tmp/$mode.json" hyper.init_minus_fold_bytes)
    [ "$got" = $((want_init - want_fold)) ] ||
        fail "--hyper $mode: the report says init stores $got bytes more than fold, expected $((want_init - want_fold))"
    mkdir "$tmp/$mode"
    "$ndlc" "$case_ndl" --hyper $mode --external-weights -o "$tmp/$mode/net" || fail "ndlc --hyper $mode -o exited with $?"
    "$tmp/$mode/net" "$stem.in.safetensors" "$tmp/$mode.out.safetensors" || fail "--hyper $mode: the executable exited with $?"
    "$stcmp" "$tmp/$mode.out.safetensors" "$stem.out.safetensors" >/dev/null || fail "--hyper $mode: output differs from PyTorch"
done
"$stcmp" "$tmp/fold.out.safetensors" "$tmp/init.out.safetensors" >/dev/null || fail "fold and init outputs differ"

cflags="-std=c11 -Wall -Wextra -Werror -O2"
"$ndlc" "$case_ndl" --hyper init --emit c -o "$tmp/model.c" || fail "ndlc --hyper init --emit c exited with $?"
info=$(sed -n 's/^const struct NdlrtModelInfo \*\([A-Za-z0-9_]*\)(void);$/\1/p' "$tmp/model.h")
printf '#include "ndlrt.h"\n#include "model.h"\nint main(int argc, char **argv) { return ndlrt_driver_main(%s(), argc, argv); }\n' \
    "$info" >"$tmp/main.c"
${CC:-cc} $cflags -I"$tmp" -I"$root/runtime" -o "$tmp/model" "$tmp/model.c" "$tmp/main.c" \
    "$root/runtime/driver.c" "$root/runtime/safetensors.c" -lm || fail "the --hyper init C does not compile cleanly"
"$tmp/model" "$stem.in.safetensors" "$tmp/c.out.safetensors" || fail "the --hyper init C program exited with $?"
"$stcmp" "$tmp/c.out.safetensors" "$stem.out.safetensors" >/dev/null || fail "--hyper init C: output differs from PyTorch"

# Layer calls in the generated run function, and values computed by create.
# the layer functions run calls (a set: the C backend may roll repeated calls into a loop)
run_calls() { sed -n '/^int [A-Za-z0-9_]*_run(/,/^}/p' "$1" | grep -o '[A-Za-z0-9_]*(s, ' | sort -u | tr -d '(,' | tr '\n' ' '; }
create_values() { sed -n '/^int [A-Za-z0-9_]*_create(/,/^}/p' "$1" | grep -c 'm->init[0-9]* = '; }
"$ndlc" "$case_ndl" --emit c -o "$tmp/fold.c" || fail "ndlc --emit c exited with $?"
[ "$(create_values "$tmp/fold.c")" = 0 ] || fail "--hyper fold: create computes values"
[ "$(create_values "$tmp/model.c")" -gt 0 ] || fail "--hyper init: create computes no predicted weight"
[ "$(run_calls "$tmp/model.c")" = "$(run_calls "$tmp/fold.c")" ] ||
    fail "--hyper init: run calls $(run_calls "$tmp/model.c"), fold's run $(run_calls "$tmp/fold.c")"
# layer functions that pack their weight operand (a1) on every call
run_packs() { grep -c 'ndlrt_\(linear\|conv2d\)_pack([^;]*a1, ' "$1"; }
[ "$(run_packs "$tmp/model.c")" = "$(run_packs "$tmp/fold.c")" ] ||
    fail "--hyper init: $(run_packs "$tmp/model.c") layers pack their weight per run, fold's $(run_packs "$tmp/fold.c")"
exit 0
