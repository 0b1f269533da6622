#!/bin/sh
# SPDX-License-Identifier: MIT
# nvcc_check.sh - the CUDA C of many golden cases compiles with nvcc, without a GPU.
#
#   nvcc_check.sh NDLC ARCH CASE.ndl...
#
# Each case is compiled with `NDLC CASE.ndl [# ARGS:] --target cuda --emit cuda`; a case the
# CUDA backend refuses with "not supported on --target cuda yet" is listed (any other
# ndlc failure fails the test). The .cu files are then compiled by nvcc -arch=ARCH -c as
# few translation units: the first file of a unit as is, the others each in a namespace
# (the generated runtime is guarded, so its kernels are compiled once per unit); files
# whose model names clash go to another unit. Host warnings (-Wall -Wextra) are errors.
# nvcc is $NVCC, else /usr/local/cuda/bin/nvcc, else nvcc on PATH; without it the test is
# skipped (exit 77, the reason printed). NVCC_CHECK_FLAGS: more nvcc flags (e.g. the
# opt-in kernels' -D options); NVCC_CHECK_NO_SPILLS=REGEX: ptxas -v, and a kernel whose
# mangled name matches REGEX (awk) and that spills registers to local memory fails the test. Exit status: 0 pass, 1 fail, 77 skipped.
set -u
if [ $# -lt 3 ]; then
    echo "usage: nvcc_check.sh NDLC ARCH CASE.ndl..." >&2
    exit 2
fi
ndlc=$1
arch=$2
shift 2
. "$(cd "$(dirname "$0")" && pwd)/find_nvcc.sh"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nvcc_check.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
status=0
n=0
unsupported=0
nunits=0
set -f
for case_ndl in "$@"; do
    n=$((n + 1))
    case_dir=$(cd "$(dirname "$case_ndl")" && pwd)
    args=$(sed -n 's/^[[:space:]]*#[[:space:]]*ARGS:[[:space:]]*//p' "$case_ndl" | head -n 1 | sed "s|{dir}|$case_dir|g")
    if ! "$ndlc" "$case_ndl" $args --target cuda --emit cuda -o "$tmp/c$n.cu" 2> "$tmp/err"; then
        if grep -q "not supported on --target cuda yet" "$tmp/err"; then
            echo "unsupported: $(head -n 1 "$tmp/err")"
            unsupported=$((unsupported + 1))
        else
            echo "FAIL: ndlc --target cuda --emit cuda on $case_ndl:" >&2
            cat "$tmp/err" >&2
            status=1
        fi
        continue
    fi
    prefix=$(sed -n 's/^#ifndef \(.*\)_CUDA_H$/\1/p' "$tmp/c$n.h")
    # the first unit whose models do not include this name
    u=1
    while [ $u -le $nunits ] && grep -qx "$prefix" "$tmp/names$u"; do u=$((u + 1)); done
    if [ $u -gt $nunits ]; then
        nunits=$u
        : > "$tmp/names$u"
        echo "/* batch $u of nvcc_check.sh */" > "$tmp/unit$u.cu"
    fi
    echo "$prefix" >> "$tmp/names$u"
    if [ "$(wc -l < "$tmp/names$u")" -eq 1 ]; then
        echo "#include \"c$n.cu\" /* $case_ndl */" >> "$tmp/unit$u.cu"
    else
        printf 'namespace case%d {\n#include "c%d.cu" /* %s */\n}\n' "$n" "$n" "$case_ndl" >> "$tmp/unit$u.cu"
    fi
done
set +f
u=1
while [ $u -le $nunits ]; do
    models=$(wc -l < "$tmp/names$u")
    # host code at -O0: this checks that the code compiles, and the weight arrays are large
    verbose=
    [ -n "${NVCC_CHECK_NO_SPILLS:-}" ] && verbose="-Xptxas -v"
    # shellcheck disable=SC2086
    if "$nvcc" -arch="$arch" ${NVCC_CHECK_FLAGS:-} $verbose -c -O0 -o "$tmp/unit$u.o" -Xcompiler -Wall,-Wextra \
        -Werror all-warnings "$tmp/unit$u.cu" > "$tmp/nvcc.log" 2>&1; then
        # "Function properties for NAME", then "... N bytes spill stores, M bytes spill loads"
        spills=$(awk -v re="${NVCC_CHECK_NO_SPILLS:-}" '/Function properties for/ { name = $NF }
            re != "" && name ~ re && /bytes spill stores/ && ($5 + $9) > 0 { print name ": " $0 }' "$tmp/nvcc.log")
        if [ -n "$spills" ]; then
            echo "FAIL: nvcc -arch=$arch on unit $u: kernels matching $NVCC_CHECK_NO_SPILLS spill registers:" >&2
            echo "$spills" >&2
            status=1
        elif [ -n "$verbose" ]; then
            echo "no register spills in the kernels matching $NVCC_CHECK_NO_SPILLS:"
            awk -v re="$NVCC_CHECK_NO_SPILLS" '/Function properties for/ { name = $NF }
                name ~ re && /Used [0-9]+ registers/ { print "  " name ": " $5 " registers" }' "$tmp/nvcc.log"
        fi
        echo "nvcc -arch=$arch ${NVCC_CHECK_FLAGS:-}: unit $u ($models models) compiles"
    else
        echo "FAIL: nvcc -arch=$arch on unit $u ($models models):" >&2
        head -n 60 "$tmp/nvcc.log" >&2
        status=1
    fi
    u=$((u + 1))
done
echo "$n cases: $((n - unsupported)) emitted, $unsupported not supported on --target cuda yet, $nunits nvcc units"
exit $status
