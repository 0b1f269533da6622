#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# st_mutate.py - writes a safetensors file that a model's --external-weights check must
# refuse (tests/harness/run_golden.sh, the -ext modes):
#
#   st_mutate.py IN OUT reshape   the first tensor (by name) with a leading 1 added: the
#                                 same element count, another shape
#   st_mutate.py IN OUT drop      the last tensor (by name) left out
#
# OUT is a valid file (sorted names, data contiguous, header padded to 8 bytes). Prints
# one line: the tensor's name, then for reshape its new and its old shape, tab-separated
# ("fc.weight\t[1,4,8]\t[4,8]"). Exit status 3 when IN holds no tensor, 2 on misuse.
# Standard library only.
import json
import struct
import sys


def shape_text(shape):
    return "[" + ",".join(str(d) for d in shape) + "]"


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in ("reshape", "drop"):
        print("usage: st_mutate.py IN OUT reshape|drop", file=sys.stderr)
        return 2
    src, dst, op = sys.argv[1:]
    with open(src, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    header.pop("__metadata__", None)
    data = b[8 + n:]
    keys = sorted(header)
    if not keys:
        return 3
    name = keys[0] if op == "reshape" else keys[-1]
    out, blob = {}, b""
    for k in keys:
        t = header[k]
        lo, hi = t["data_offsets"]
        if k == name and op == "drop":
            continue
        shape = [1] + t["shape"] if k == name else t["shape"]
        out[k] = {"dtype": t["dtype"], "shape": shape, "data_offsets": [len(blob), len(blob) + hi - lo]}
        blob += data[lo:hi]
    text = json.dumps(out, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + blob)
    if op == "reshape":
        print("%s\t%s\t%s" % (name, shape_text([1] + header[name]["shape"]), shape_text(header[name]["shape"])))
    else:
        print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
