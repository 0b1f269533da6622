#!/bin/sh
# SPDX-License-Identifier: MIT
# check_sharing.sh - shared parameters are stored once (spec 8.3), in the report and in C.
#
#   check_sharing.sh NDLC JSONGET CASE.ndl
#
# CASE.ndl carries `# STORED-BYTES: N` and `# LOGICAL-BYTES: N`, PyTorch's counts
# (tests/reference/sharing_cases.py). Checks:
#   - `--emit json`: sharing.stored_bytes and sharing.logical_bytes equal them exactly;
#   - `--emit c`: no two weight arrays of the C hold the same bytes (content deduplication
#     covers a shared layer's weights packed once per application);
#   - a model with `elastic depth` (applications of one shared layer): the C's weight
#     arrays are byte for byte the same for depth 1 and depth 12; the repeated layer is
#     one loop in run(); and the object file ($CC -O2 -c) for depth 12 is less than 5%
#     larger than for depth 2 (code does not grow with the recursion count);
#   - a model with `tie a = b;`: the tied tensor appears in the C as one array;
#   - `# LOOP: N`: run() in the C holds the layer as one loop of N repetitions
#     (WideNet: per-application LayerNorms selected by the repetition index);
#   - `# C-ARRAY-BYTES: N` (hashed weights): the C's weight arrays hold exactly N bytes
#     (the pools and biases; the expansions are computed by create, once, or with
#     `--share compressed` in `# ARGS:`, never: the linears read the pool in the kernel);
#   - `# COMPRESSED-BYTES: N`: the report's sharing.hashed_compressed_bytes.
# A `# ARGS: OPTIONS` line adds OPTIONS to every ndlc command, as in run_golden.sh.
# Exit status: 0 pass, 1 fail, 2 usage.
set -u
[ $# -eq 3 ] || { echo "usage: check_sharing.sh NDLC JSONGET CASE.ndl" >&2; exit 2; }
ndlc=$1 jsonget=$2 case_ndl=$3
want_stored=$(sed -n 's/^# STORED-BYTES: //p' "$case_ndl")
want_logical=$(sed -n 's/^# LOGICAL-BYTES: //p' "$case_ndl")
want_c=$(sed -n 's/^# C-ARRAY-BYTES: //p' "$case_ndl")
want_loop=$(sed -n 's/^# LOOP: //p' "$case_ndl")
args=$(sed -n 's/^# ARGS: //p' "$case_ndl" | head -n 1)
[ -n "$want_stored" ] && [ -n "$want_logical" ] || { echo "check_sharing.sh: no byte counts in $case_ndl" >&2; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sharing.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "FAIL: $1" >&2
    exit 1
}

"$ndlc" "$case_ndl" $args --emit json -o "$tmp/r.json" || fail "ndlc --emit json exited with $?"
got=$("$jsonget" "$tmp/r.json" sharing.stored_bytes)
[ "$got" = "$want_stored" ] || fail "report: $got stored bytes, PyTorch's parameters() hold $want_stored"
got=$("$jsonget" "$tmp/r.json" sharing.logical_bytes)
[ "$got" = "$want_logical" ] || fail "report: $got logical bytes, the unshared model holds $want_logical"

# The weight arrays of a generated .c, one line each: "NAME BYTES-AS-TEXT".
arrays() {
    awk '
        /^static _Alignas\(64\) const [a-z0-9_]+ [A-Za-z0-9_]+\[[0-9]+\] = \{$/ {
            name = $5; sub(/\[.*/, "", name); body = ""; inside = 1; next
        }
        inside && /^\};$/ { print name, body; inside = 0; next }
        inside { body = body $0 }
    ' "$1"
}

"$ndlc" "$case_ndl" $args --emit c -o "$tmp/m.c" || fail "ndlc --emit c exited with $?"
arrays "$tmp/m.c" >"$tmp/arrays"
[ -s "$tmp/arrays" ] || fail "no weight arrays found in the C"
dups=$(cut -d' ' -f2- "$tmp/arrays" | sort | uniq -d | wc -l)
[ "$dups" = 0 ] || fail "the C holds $dups weight arrays more than once"

if [ -n "$want_loop" ]; then
    grep -q "calls repeated $want_loop times" "$tmp/m.c" || fail "the shared layer is not one loop of $want_loop in run()"
fi
if grep -q '^[[:space:]]*elastic depth' "$case_ndl"; then
    "$ndlc" "$case_ndl" $args -D depth=1 --emit c -o "$tmp/d1.c" || fail "ndlc -D depth=1 exited with $?"
    "$ndlc" "$case_ndl" $args -D depth=12 --emit c -o "$tmp/d12.c" || fail "ndlc -D depth=12 exited with $?"
    arrays "$tmp/d1.c" | cut -d' ' -f2- | sort >"$tmp/a1"
    arrays "$tmp/d12.c" | cut -d' ' -f2- | sort >"$tmp/a12"
    cmp -s "$tmp/a1" "$tmp/a12" ||
        fail "the weight arrays differ between depth 1 ($(wc -l <"$tmp/a1") arrays) and depth 12 ($(wc -l <"$tmp/a12"))"
    grep -q 'calls repeated 11 times' "$tmp/d12.c" || fail "depth 12: the shared layer is not one loop in run()"
    "$ndlc" "$case_ndl" $args -D depth=2 --emit c -o "$tmp/d2.c" || fail "ndlc -D depth=2 exited with $?"
    for k in 2 12; do
        ${CC:-cc} -std=c11 -O2 -c "$tmp/d$k.c" -o "$tmp/d$k.o" || fail "${CC:-cc} -c of depth $k failed"
    done
    s2=$(size "$tmp/d2.o" | awk 'NR == 2 { print $4 }')
    s12=$(size "$tmp/d12.o" | awk 'NR == 2 { print $4 }')
    awk -v a="$s2" -v b="$s12" 'BEGIN { exit !(b < a * 1.05) }' ||
        fail "object size grows with the depth: $s2 bytes for depth 2, $s12 for depth 12 (5% allowed)"
    echo "object size: depth 2 $s2 bytes, depth 12 $s12 bytes"
fi
if [ -n "$want_c" ]; then
    got=$(awk '/^static _Alignas\(64\) const float [A-Za-z0-9_]+\[[0-9]+\] = \{$/ {
                   n = $5; sub(/.*\[/, "", n); sub(/\].*/, "", n); s += 4 * n } END { print s + 0 }' "$tmp/m.c")
    [ "$got" = "$want_c" ] || fail "the C's weight arrays hold $got bytes, expected $want_c (pools and biases only)"
    case " $args " in
    *" --share compressed "*)
        grep -q 'computed by create' "$tmp/m.c" && fail "--share compressed: a hashed weight is expanded by create"
        grep -q 'ndlrt_linear_hashed_f32(&p' "$tmp/m.c" || fail "--share compressed: no linear reads its pool" ;;
    *)
        grep -q 'computed by create' "$tmp/m.c" || fail "no hashed weight is computed by create" ;;
    esac
fi
want_compressed=$(sed -n 's/^# COMPRESSED-BYTES: //p' "$case_ndl")
if [ -n "$want_compressed" ]; then
    got=$("$jsonget" "$tmp/r.json" sharing.hashed_compressed_bytes)
    [ "$got" = "$want_compressed" ] || fail "report: hashed_compressed_bytes $got, expected $want_compressed"
fi
tied=$(sed -n 's/^[[:space:]]*tie [^=]*= *\([A-Za-z0-9_.]*\);.*/\1/p' "$case_ndl")
for key in $tied; do
    n=$(grep -c "^/\* $key .*\*/\$" "$tmp/m.c")
    [ "$n" = 1 ] || fail "the tied tensor '$key' is in the C $n times"
done
exit 0
