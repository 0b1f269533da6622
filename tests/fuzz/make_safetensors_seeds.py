#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make_safetensors_seeds.py - writes the seed corpus of fuzz_safetensors.

Small valid files (every dtype, rank 0, zero-size tensors, __metadata__, escaped names,
an unpadded header with whitespace) and a few malformed ones, one rule each. Plain
python3 (struct + json), deterministic; run it from anywhere:
    python3 tests/fuzz/make_safetensors_seeds.py [OUTDIR]
OUTDIR defaults to tests/fuzz/corpus/safetensors next to this script.
"""
import json
import os
import struct
import sys

SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2,
         "I8": 1, "U8": 1, "BOOL": 1}


def header_of(tensors, metadata=None):
    """tensors: list of (name, dtype, shape, data bytes), laid out in list order."""
    h, off = {}, 0
    if metadata is not None:
        h["__metadata__"] = metadata
    for name, dtype, shape, data in tensors:
        n = 1
        for d in shape:
            n *= d
        assert len(data) == n * SIZES[dtype], name
        h[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(data)]}
        off += len(data)
    return h, b"".join(t[3] for t in tensors)


def pack(header, data=b"", pad=True, declared=None, **dump):
    if isinstance(header, (str, bytes)):
        text = header
    else:
        text = json.dumps(header, separators=(",", ":"), **dump)
    hb = text.encode("utf-8") if isinstance(text, str) else text
    if pad:
        hb += b" " * (-len(hb) % 8)
    n = len(hb) if declared is None else declared
    return struct.pack("<Q", n) + hb + data


def st(tensors, metadata=None, **kw):
    h, data = header_of(tensors, metadata)
    return pack(h, data, **kw)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "safetensors")
    os.makedirs(out, exist_ok=True)
    f32 = lambda *v: struct.pack("<%df" % len(v), *v)
    every = [("t_" + dt.lower(), dt, [3], bytes(range(3 * size)))
             for dt, size in SIZES.items()]
    fc = [("fc.bias", "F32", [3], f32(0.5, -1, 2)),
          ("fc.weight", "F32", [2, 3], f32(1, 2, 3, 4, 5, 6))]
    seeds = {
        "valid_f32": st(fc),
        "valid_every_dtype": st(every),
        "valid_rank0": st([("scale", "F64", [], struct.pack("<d", 0.1))]),
        "valid_zero_size": st([("empty", "F16", [0, 3], b""),
                               ("x", "I64", [2], struct.pack("<2q", -1, 1 << 40)),
                               ("tail", "U8", [4, 0], b"")]),
        "valid_metadata": st([("h", "F16", [2, 2], struct.pack("<4H", 0x3C00, 0xC000, 0x7BFF, 1))],
                             metadata={"format": "pt", "note": "caf\u00e9"}),
        "valid_escaped_names": st([("q\"uote\\", "BF16", [1], struct.pack("<H", 0x4049)),
                                   ("caf\u00e9.\U0001F600", "I32", [1], struct.pack("<i", -7)),
                                   ("", "BOOL", [2], b"\x01\x00")], ensure_ascii=True),
        "valid_raw_utf8_names": st([("\u4e2d.w", "I8", [2], b"\x80\x7f")], ensure_ascii=False),
        "valid_whitespace_unpadded": st(fc, pad=False, indent=1),
        "valid_empty": pack("{}"),
        "valid_rank8": st([("r8", "I16", [1] * 8, b"\x01\x00")]),
        "bad_short": b"\x02\x00\x00\x00\x00",
        "bad_header_beyond_file": pack("{}", declared=4096),
        "bad_size_mismatch": pack({"fc.weight": {"dtype": "F32", "shape": [2, 3],
                                                 "data_offsets": [0, 20]}}, bytes(20)),
        "bad_overlap": pack({"a": {"dtype": "U8", "shape": [24], "data_offsets": [0, 24]},
                             "b": {"dtype": "U8", "shape": [24], "data_offsets": [16, 40]}}, bytes(40)),
        "bad_trailing_bytes": st(fc)[:-1] + b"\x00\x00\x00",
        "bad_unknown_dtype": pack({"w": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}}, b"\x00"),
        "bad_truncated_json": pack(b'{"w":{"dtype":"F32","shape":[1', pad=False),
        "bad_utf8": pack(b'{"\xff":{}}'),
        "bad_duplicate": pack('{"w":{"dtype":"U8","shape":[],"data_offsets":[0,1]},'
                              '"w":{"dtype":"U8","shape":[],"data_offsets":[0,1]}}', b"\x00"),
        "bad_fractional": pack({"w": {"dtype": "U8", "shape": [1.0], "data_offsets": [0, 1]}}, b"\x00"),
    }
    for name, blob in sorted(seeds.items()):
        with open(os.path.join(out, name + ".safetensors"), "wb") as f:
            f.write(blob)
    print("wrote %d seeds to %s" % (len(seeds), out))


if __name__ == "__main__":
    main()
