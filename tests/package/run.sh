#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh - the CMake package test (tests/package/CMakeLists.txt):
#
#   run.sh BUILD_DIR SOURCE_DIR CMAKE GENERATOR CC NDLC STCMP
#
# 1. installs BUILD_DIR into a temporary prefix (cmake --install);
# 2. configures tests/package/consumer with CMAKE_PREFIX_PATH=prefix (find_package(ndlc)
#    must find that prefix) on a copy of examples/, builds it, runs the consumer on
#    examples/tinynet.in.safetensors and compares its output with
#    examples/tinynet.out.safetensors (stcmp, default tolerance);
# 3. rebuilds: nothing is regenerated; after touching the weight file both models are
#    (tinynet names it with WEIGHTS, tinynet_dep only through the depfile); after touching
#    the .ndl both are again.
# Exit status: 0 pass, 1 fail, 2 usage. On failure the temporary directory is kept and
# named.
set -u

if [ $# -ne 7 ]; then
    echo "usage: run.sh BUILD_DIR SOURCE_DIR CMAKE GENERATOR CC NDLC STCMP" >&2
    exit 2
fi
build=$1 src=$2 cmake=$3 gen=$4 cc=$5 ndlc=$6 stcmp=$7

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ndlc-package.XXXXXX") || exit 1
trap 'rm -rf "$tmp"; exit 1' HUP INT TERM
fail() {
    echo "run.sh: FAIL: $*" >&2
    echo "run.sh: kept $tmp" >&2
    exit 1
}
step() {   # step LOG COMMAND...: runs it, shows the log on failure
    log=$1
    shift
    if ! "$@" >"$tmp/$log" 2>&1; then
        cat "$tmp/$log" >&2
        fail "$* (log: $tmp/$log)"
    fi
}

prefix=$tmp/prefix
step install.log "$cmake" --install "$build" --prefix "$prefix"
for f in bin/ndlc include/ndlc/runtime/ndlrt.h include/ndlc/ir/eltwise.def; do
    [ -f "$prefix/$f" ] || fail "the install has no $f"
done
[ -n "$(find "$prefix" -name ndlcConfig.cmake)" ] || fail "the install has no ndlcConfig.cmake"

mkdir -p "$tmp/examples"
cp "$src/examples/tinynet.ndl" "$src/examples/tinynet.safetensors" "$tmp/examples/" ||
    fail "cannot copy examples/"
cb=$tmp/build
step configure.log "$cmake" -S "$src/tests/package/consumer" -B "$cb" -G "$gen" \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$prefix" \
    -DNDLC_EXAMPLES="$tmp/examples" -DNDLC_RUNTIME_SRC="$src/runtime"
grep -q "^ndlc_DIR:PATH=$prefix/" "$cb/CMakeCache.txt" ||
    fail "find_package(ndlc) did not use $prefix: $(grep '^ndlc_DIR' "$cb/CMakeCache.txt")"
step build.log "$cmake" --build "$cb"

out=$tmp/out.safetensors
step consumer.log "$cb/consumer" "$src/examples/tinynet.in.safetensors" "$out"
step stcmp.log "$stcmp" "$out" "$src/examples/tinynet.out.safetensors"
cat "$tmp/consumer.log" "$tmp/stcmp.log"

gen1=$cb/tinynet/tinynet.c
gen2=$cb/tinynet_dep/tinynet_dep.c
[ -f "$gen1" ] && [ -f "$gen2" ] || fail "the generated C is not at $gen1 and $gen2"
regenerated() {   # regenerated STAMP: prints which generated files are newer than STAMP
    find "$gen1" "$gen2" -newer "$1" | sed "s|^$cb/||" | sort | tr '\n' ' '
}
touch "$tmp/stamp1"
sleep 1
step rebuild1.log "$cmake" --build "$cb"
[ -z "$(regenerated "$tmp/stamp1")" ] ||
    fail "a rebuild with no change regenerated: $(regenerated "$tmp/stamp1")"

touch "$tmp/examples/tinynet.safetensors"
step rebuild2.log "$cmake" --build "$cb"
[ "$(regenerated "$tmp/stamp1")" = "tinynet/tinynet.c tinynet_dep/tinynet_dep.c " ] ||
    fail "after touching the weights, regenerated only: $(regenerated "$tmp/stamp1")"

touch "$tmp/stamp2"
sleep 1
touch "$tmp/examples/tinynet.ndl"
step rebuild3.log "$cmake" --build "$cb"
[ "$(regenerated "$tmp/stamp2")" = "tinynet/tinynet.c tinynet_dep/tinynet_dep.c " ] ||
    fail "after touching the .ndl, regenerated only: $(regenerated "$tmp/stamp2")"

echo "package test passed"
rm -rf "$tmp"
exit 0
