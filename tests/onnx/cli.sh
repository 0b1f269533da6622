#!/bin/sh
# SPDX-License-Identifier: MIT
# cli.sh NDLC DIR - the command line of the importer (spec section 9): `ndlc import` needs
# -o (usage error, exit 2); it writes OUT.ndl naming OUT.safetensors beside it, the same
# bytes on every run; `ndlc MODEL.onnx -MD` lists only the .onnx and leaves no temporary.
set -u
ndlc=$1
dir=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/onnxcli.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT HUP INT TERM
fail() { echo "FAIL: $*" >&2; exit 1; }

"$ndlc" import "$dir/mlp.onnx" 2> "$tmp/err"
[ $? -eq 2 ] || fail "import without -o: expected exit 2"
grep -q "'ndlc import' needs -o OUT.ndl" "$tmp/err" || fail "import without -o: $(cat "$tmp/err")"

mkdir "$tmp/a" "$tmp/b"
"$ndlc" import "$dir/mlp.onnx" -o "$tmp/a/net.ndl" || fail "import exited with $?"
"$ndlc" import "$dir/mlp.onnx" -o "$tmp/b/net.ndl" || fail "second import exited with $?"
[ -f "$tmp/a/net.safetensors" ] || fail "no net.safetensors beside net.ndl"
grep -q '^  weights "net.safetensors";$' "$tmp/a/net.ndl" || fail "net.ndl does not name net.safetensors"
grep -q '^  input x: f32\[N, 16\];$' "$tmp/a/net.ndl" || fail "input x with the symbolic batch N missing"
grep -q 'from "0.weight";$' "$tmp/a/net.ndl" || fail "parameter keyed by its ONNX name missing"
cmp -s "$tmp/a/net.ndl" "$tmp/b/net.ndl" || fail "two imports differ (.ndl)"
cmp -s "$tmp/a/net.safetensors" "$tmp/b/net.safetensors" || fail "two imports differ (.safetensors)"

TMPDIR=$tmp "$ndlc" "$dir/mlp.onnx" --emit c -o "$tmp/m.c" -MD || fail "ndlc mlp.onnx --emit c exited with $?"
[ "$(cat "$tmp/m.d")" = "$tmp/m.c: $dir/mlp.onnx" ] || fail "depfile: $(cat "$tmp/m.d")"
if ls "$tmp" | grep -q '^ndlc-onnx-'; then fail "a temporary directory was left"; fi
exit 0
