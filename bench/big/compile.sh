#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/big/compile.sh - compile time and peak memory of ndlc on a 51.4M-parameter model
# (big.ndl): the LLVM backend to an object (--emit obj; issue 4 asks < 15 s, < 2 GB), and
# the C backend to an executable (--emit exe: the generated C with its weights as text,
# compiled by cc) for comparison. Measured with /usr/bin/time -v; on a shared machine the
# CPU time (user + sys) is the figure to compare, wall time includes waiting for a core.
#   bench/big/compile.sh [NDLC] [--no-c]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
ndlc=${1:-$here/../../build/ndlc}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/big.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
cp "$here/big.ndl" "$tmp/"
# random weights (no numpy needed): safetensors = 8-byte header length, JSON header, data
python3 - "$tmp/big.w.safetensors" <<'PY'
import json, os, struct, sys
n = 3584
names = []
for i in range(1, 5):
    names += [(f"fc{i}.weight", [n, n]), (f"fc{i}.bias", [n])]
hdr, off = {}, 0
for k, shape in names:
    size = 4 * (shape[0] * (shape[1] if len(shape) > 1 else 1))
    hdr[k] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + size]}
    off += size
h = json.dumps(hdr).encode()
h += b" " * (-len(h) % 8)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    for k, shape in names:
        size = 4 * (shape[0] * (shape[1] if len(shape) > 1 else 1))
        # random floats of magnitude ~0.01: random low bytes, a fixed sign and exponent
        b = bytearray(os.urandom(size))
        b[3::4] = bytes([0x3c]) * (size // 4)
        f.write(b)
PY
measure() {
    label=$1
    shift
    /usr/bin/time -v "$@" 2> "$tmp/time.txt" >/dev/null || { cat "$tmp/time.txt"; exit 1; }
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$tmp/time.txt")
    user=$(sed -n 's/.*User time (seconds): //p' "$tmp/time.txt")
    sys=$(sed -n 's/.*System time (seconds): //p' "$tmp/time.txt")
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$tmp/time.txt")
    printf '%-34s wall %8s  cpu %6.2f s (user %s + sys %s)  peak RSS %5d MB\n' "$label" "$wall" \
        "$(echo "$user + $sys" | bc)" "$user" "$sys" $((rss / 1024))
}
measure "llvm: --emit obj (51.4M params)" "$ndlc" "$tmp/big.ndl" --emit obj -o "$tmp/big.o"
ls -l "$tmp/big.o" | awk '{printf "  object: %d MB\n", $5 / 1048576}'
[ "${2:-}" = "--no-c" ] || measure "c: --emit exe (51.4M params)" "$ndlc" "$tmp/big.ndl" -o "$tmp/big"
