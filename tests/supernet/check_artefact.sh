#!/bin/sh
# SPDX-License-Identifier: MIT
# check_artefact.sh - nothing of the unused supernet reaches the artefact (spec 8.1).
#
#   check_artefact.sh NDLC JSONGET CASE.ndl
#
# CASE.ndl is an OFA subnet case (its `# ARGS:` line picks the subnet) and CASE.expect
# holds what PyTorch computed for the extracted subnet (tests/reference/ofa_cases.py):
# `parameters N` (after folding each BatchNorm into its conv, as ndlc's bnfold does) and
# `macs M` (OFA's counting rule, batch 1). Checks:
#   - `--emit json`: total.parameters == N, total.parameter_bytes == 4 N, total.macs == M;
#   - `--emit c`: the weight arrays embedded in the C (each headed by a comment giving its
#     tensor's type) hold exactly N elements, 4 N bytes, in their logical shapes (packed
#     kernel layouts may pad: their physical size is printed, and must not be smaller);
#   - `--external-weights`: the weight file beside the C holds the same arrays;
#   - the object file (`$CC -c` of the C) and the executable (`ndlc -o`): their weight
#     symbols (`nm -S`) add up to the C's arrays, byte for byte, and all their data sections
#     (.rodata*, .data*) hold at most a few KiB more (libc-free constants, strings), so no
#     other tensor of the supernet can hide in them;
#   - no transform matrix and no weight of a block the depth skips is named in the C.
# Exit status: 0 pass, 1 fail, 2 usage.
set -u
[ $# -eq 3 ] || { echo "usage: check_artefact.sh NDLC JSONGET CASE.ndl" >&2; exit 2; }
ndlc=$1
jsonget=$2
case_ndl=$3
stem=${case_ndl%.ndl}
set -f
case_dir=$(cd "$(dirname "$case_ndl")" && pwd)
args=$(sed -n 's/^[[:space:]]*#[[:space:]]*ARGS:[[:space:]]*//p' "$case_ndl" | head -n 1 |
       sed "s|{dir}|$case_dir|g")
want_params=$(sed -n 's/^parameters //p' "$stem.expect")
want_macs=$(sed -n 's/^macs //p' "$stem.expect")
[ -n "$want_params" ] && [ -n "$want_macs" ] || { echo "check_artefact.sh: bad $stem.expect" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/artefact.XXXXXX") || exit 1
fail() {
    echo "FAIL: $1" >&2
    echo "(kept $tmp)" >&2
    exit 1
}

"$ndlc" "$case_ndl" $args --emit json -o "$tmp/report.json" || fail "ndlc --emit json exited with $?"
got=$("$jsonget" "$tmp/report.json" total.parameters)
[ "$got" = "$want_params" ] || fail "report: $got parameters, PyTorch's fused subnet has $want_params"
got=$("$jsonget" "$tmp/report.json" total.parameter_bytes)
[ "$got" = "$((4 * want_params))" ] || fail "report: $got parameter bytes, want $((4 * want_params))"
got=$("$jsonget" "$tmp/report.json" total.macs)
[ "$got" = "$want_macs" ] || fail "report: $got MACs, PyTorch (OFA's counter) says $want_macs"
"$jsonget" "$tmp/report.json" memory_plan.arena_bytes >/dev/null || fail "report: no memory_plan.arena_bytes"

# Sums the logical element counts (from "/* key f32[a,b,...] */") and the physical ones
# (the array lengths) of the weight arrays of a generated .c; prints "LOGICAL PHYSICAL".
sum_weights() {
    awk '
        /^\/\* .* f32\[[0-9,]*\] \*\/$/ {
            t = $0; sub(/.* f32\[/, "", t); sub(/\] \*\/$/, "", t)
            n = 1; k = split(t, d, ","); for (i = 1; i <= k; i++) n *= d[i]
            pending = n; next
        }
        /^static _Alignas\(64\) const float [A-Za-z0-9_]*\[[0-9]+\] = \{$/ {
            if (pending < 0) { print "unheaded array: " $0 > "/dev/stderr"; bad = 1 }
            p = $0; sub(/.*\[/, "", p); sub(/\].*/, "", p)
            logical += pending; physical += p; pending = -1; next
        }
        BEGIN { pending = -1 }
        END { if (bad) exit 1; printf "%d %d\n", logical, physical }
    ' "$1"
}

"$ndlc" "$case_ndl" $args --emit c -o "$tmp/m.c" || fail "ndlc --emit c exited with $?"
set -- $(sum_weights "$tmp/m.c") || fail "cannot read the weight arrays of the C"
[ "$1" = "$want_params" ] || fail "the C embeds $1 weight elements, PyTorch's fused subnet has $want_params"
[ "$2" -ge "$1" ] || fail "the C's arrays hold $2 floats, fewer than the $1 of their tensors"
echo "C: $((4 * $1)) weight bytes ($((4 * $2)) as packed for the kernels), PyTorch: $((4 * want_params))"
grep -q '_matrix' "$tmp/m.c" && fail "a kernel transformation matrix reached the C"
# the blocks the depth skips: block 1 + 4 s + j for j >= d[s]
d=$(printf '%s\n' "$args" | sed -n 's/.*-D d=\[\([0-9,]*\)\].*/\1/p')
if [ -z "$d" ]; then
    sub=$(printf '%s\n' "$args" | sed -n 's/.*--subnet \([^ ]*\).*/\1/p')
    d=$(sed -n 's/.*"d": \[\([0-9, ]*\)\].*/\1/p' "$sub" | tr -d ' ')
fi
[ -n "$d" ] || fail "cannot tell the depths of the case"
s=0
for ds in $(echo "$d" | tr ',' ' '); do
    j=$ds
    while [ "$j" -lt 4 ]; do
        b=$((1 + 4 * s + j))
        grep -q "blocks[._]$b[._]" "$tmp/m.c" && fail "block $b (depth $ds of stage $s) reached the C"
        j=$((j + 1))
    done
    s=$((s + 1))
done

"$ndlc" "$case_ndl" $args --emit c --external-weights -o "$tmp/x.c" || fail "ndlc --external-weights exited with $?"
set -- $(sum_weights "$tmp/m.c")
bytes=$(wc -c < "$tmp/x.weights.safetensors")
[ "$bytes" -gt "$((4 * $2))" ] && [ "$bytes" -lt "$((4 * $2 + 65536))" ] ||
    fail "x.weights.safetensors has $bytes bytes for $((4 * $2)) bytes of arrays"

# weight_symbols FILE: the bytes of its W_/P_ weight symbols; data_bytes FILE: of its
# .rodata* and .data* sections
weight_symbols() {
    nm -S --radix=d "$1" | awk '$3 ~ /^[rRdD]$/ && $4 ~ /^[WP]_/ { s += $2 } END { print s + 0 }'
}
data_bytes() {
    size -A "$1" | awk '$1 ~ /^\.(rodata|data)/ { s += $2 } END { print s + 0 }'
}
array_bytes=$((4 * $2))
# check_binary FILE WHAT SLACK
check_binary() {
    got=$(weight_symbols "$1")
    [ "$got" = "$array_bytes" ] || fail "$2: weight symbols of $got bytes, the C's arrays have $array_bytes"
    got=$(data_bytes "$1")
    [ "$got" -ge "$array_bytes" ] && [ "$got" -le "$((array_bytes + $3))" ] ||
        fail "$2: $got bytes of data sections for $array_bytes bytes of weights (at most $3 more allowed)"
    echo "$2: $got bytes of data, $array_bytes of them weights"
}
${CC:-cc} -std=c11 -O1 -c "$tmp/m.c" -o "$tmp/m.o" || fail "${CC:-cc} -c of the C failed"
check_binary "$tmp/m.o" "object file" 8192
"$ndlc" "$case_ndl" $args -o "$tmp/exe" || fail "ndlc -o (executable) exited with $?"
check_binary "$tmp/exe" "executable" 32768
rm -rf "$tmp"
exit 0
