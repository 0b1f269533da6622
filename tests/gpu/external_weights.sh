#!/bin/sh
# SPDX-License-Identifier: MIT
# external_weights.sh - `--target cuda --external-weights`: the CUDA C has no weight arrays,
# NET.weights.safetensors beside it holds exactly the arrays the embedded build has (same
# names, dtypes and element counts), and create's table (<prefix>_weight_specs, which
# ndlrt_st_check compares with the file: shape [count]) names exactly those. With nvcc: the
# .cu compiles (host warnings are errors) and the executable links runtime/safetensors.c;
# without a GPU it fails cleanly (exit 3, the CUDA device named, no output), with one it
# reproduces the golden (run_golden.sh cuda-exe-ext, which also has the executable refuse a
# reshaped and a missing tensor, naming it).
#
#   external_weights.sh NDLC STCMP CASE.ndl
#
# Exit status: 0 pass, 1 fail (the nvcc part is skipped, with the reason, when nvcc is absent).
set -u
ndlc=$1
stcmp=$2
case_ndl=$3
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/external_weights.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
stem=${case_ndl%.ndl}

"$ndlc" "$case_ndl" --target cuda --emit cuda -o "$tmp/e.cu" || fail "ndlc --emit cuda exited with $?"
"$ndlc" "$case_ndl" --target cuda --emit cuda --external-weights -o "$tmp/x.cu" ||
    fail "ndlc --emit cuda --external-weights exited with $?"
[ -f "$tmp/x.weights.safetensors" ] || fail "no x.weights.safetensors beside x.cu"
grep -q '^static const [a-z0-9_]* W_[A-Za-z0-9_]*\[' "$tmp/x.cu" && fail "x.cu still embeds weight arrays"

# "NAME CTYPE COUNT" of the embedded arrays, of the file's header, of create's table
sed -n 's/^static const \([a-z0-9_]*\) \(W_[A-Za-z0-9_]*\)\[\([0-9]*\)\] = {$/\2 \1 \3/p' "$tmp/e.cu" | sort > "$tmp/embedded"
[ -s "$tmp/embedded" ] || fail "the embedded build has no weight arrays (the case must have weights)"
len=$(od -An -tu8 -N8 "$tmp/x.weights.safetensors" | tr -d ' ')
dd if="$tmp/x.weights.safetensors" bs=1 skip=8 count="$len" 2> /dev/null | tr '}' '\n' |
    sed -n 's/.*"\(W_[A-Za-z0-9_]*\)":{"dtype":"\([A-Z0-9]*\)","shape":\[\([0-9]*\)\].*/\1 \2 \3/p' |
    sed 's/ F32 / float /; s/ I64 / int64_t /; s/ I32 / int32_t /; s/ BOOL / uint8_t /' | sort > "$tmp/file"
sed -n 's/^    {"\(W_[A-Za-z0-9_]*\)", [0-9]*, 1, {\([0-9]*\)}},$/\1 \2/p' "$tmp/x.cu" | sort > "$tmp/table"
if ! cmp -s "$tmp/embedded" "$tmp/file"; then
    echo "embedded arrays vs weight file:" >&2
    diff "$tmp/embedded" "$tmp/file" >&2
    fail "the weight file does not hold exactly the embedded arrays"
fi
awk '{ print $1, $3 }' "$tmp/embedded" > "$tmp/embedded_counts"
cmp -s "$tmp/embedded_counts" "$tmp/table" || { diff "$tmp/embedded_counts" "$tmp/table" >&2; fail "create's table differs"; }
echo "$(wc -l < "$tmp/file") tensors in x.weights.safetensors, the embedded build's arrays exactly"

# a failed compilation leaves no weight file behind
echo stale > "$tmp/bad.weights.safetensors"
"$ndlc" "$here/wide_attention.ndl" --target cuda --emit cuda --external-weights -o "$tmp/bad.cu" 2> /dev/null &&
    fail "wide_attention.ndl compiled"
[ -e "$tmp/bad.weights.safetensors" ] && fail "a refused model left a weight file"

if ! (. "$here/find_nvcc.sh") > /dev/null 2>&1; then
    echo "skipped the nvcc part: $(. "$here/find_nvcc.sh" 2>&1 | tail -n 1)"
    exit 0
fi
. "$here/find_nvcc.sh"
export NVCC="$nvcc"
"$nvcc" -arch=sm_80 -c -O0 -o "$tmp/x.o" -Xcompiler -Wall,-Wextra -Werror all-warnings "$tmp/x.cu" > "$tmp/nvcc.log" 2>&1 ||
    { head -n 40 "$tmp/nvcc.log" >&2; fail "nvcc -c of the --external-weights .cu"; }
if nvidia-smi -L > /dev/null 2>&1; then
    echo "a GPU is present: running $case_ndl on it"
    exec sh "$here/../harness/run_golden.sh" "$ndlc" "$stcmp" "$case_ndl" cuda-exe-ext
fi
export NDLC_CUDA_ARCH=${NDLC_CUDA_ARCH:-sm_80}
"$ndlc" "$case_ndl" --target cuda --external-weights -o "$tmp/net" || fail "ndlc --target cuda --external-weights -o exited with $?"
[ -x "$tmp/net" ] && [ -f "$tmp/net.weights.safetensors" ] || fail "no executable and weight file"
"$tmp/net" "$stem.in.safetensors" "$tmp/out.safetensors" > "$tmp/stdout" 2> "$tmp/stderr"
rc=$?
cat "$tmp/stderr"
[ $rc -eq 3 ] || fail "without a GPU the executable exited with $rc, expected 3"
grep -q "CUDA device failed" "$tmp/stderr" || fail "no message naming the CUDA device"
[ -e "$tmp/out.safetensors" ] && fail "an output file was written"
echo "no GPU here: the executable (weights beside it) builds and reports the missing device"
exit 0
