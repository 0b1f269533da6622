#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make_cases.py - writes the weight and input files of tests/weights.

Plain python3 (struct + json, no numpy), deterministic; rerun it after editing a case:
    python3 tests/weights/make_cases.py
It writes, next to itself:
  bad_<rule>.safetensors + .expect   one malformed file per validation rule of spec
                                     section 11; the .expect holds the exact diagnostic
                                     (messages: the comment table of runtime/safetensors.c)
  in_<case>.safetensors + .expect    well-formed input files that do not fit the model
                                     (missing tensor, dtype, rank, dims, symbols, bound)
  valid_<case>.safetensors           valid edge cases: weights of tiny.ndl (valid_w_*) or
                                     inputs (valid_in_*), with the expected outputs
  tiny.{w,in,out}.safetensors        the model's weights, inputs and expected output
A .expect file holds `expect-error: FILE: MESSAGE` lines for diagrun (tests/diag/diagrun.c)
and may name the model with a `# model: NAME.ndl` line (default tiny.ndl).
The values are small dyadic fractions, exact in f32, f16 and bf16, so every valid
variant of the weights gives exactly tiny.out.safetensors.
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
SIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
        "U8": 1, "BOOL": 1}


def f16_bits(v):
    return struct.unpack("<H", struct.pack("<e", v))[0]


def bf16_bits(v):
    u = struct.unpack("<I", struct.pack("<f", v))[0]
    assert u & 0xFFFF == 0, "value not exact in bf16: %r" % v
    return u >> 16


def encode(dtype, values):
    if dtype == "F32":
        return struct.pack("<%df" % len(values), *values)
    if dtype == "F64":
        return struct.pack("<%dd" % len(values), *values)
    if dtype == "F16":
        return struct.pack("<%dH" % len(values), *[f16_bits(v) for v in values])
    if dtype == "BF16":
        return struct.pack("<%dH" % len(values), *[bf16_bits(v) for v in values])
    if dtype == "I32":
        return struct.pack("<%di" % len(values), *[int(v) for v in values])
    if dtype == "I64":
        return struct.pack("<%dq" % len(values), *[int(v) for v in values])
    if dtype in ("U8", "BOOL"):
        return bytes(int(v) for v in values)
    raise ValueError(dtype)


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def layout(tensors, metadata=None, order=None):
    """tensors: list of (name, dtype, shape, values). Data laid out in list order (or in
    `order`, a list of names), header keys in list order. Returns (header dict, data)."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    by_name = {t[0]: t for t in tensors}
    offs, blobs, off = {}, [], 0
    for name in (order or [t[0] for t in tensors]):
        _, dtype, shape, values = by_name[name]
        data = encode(dtype, values)
        assert len(data) == numel(shape) * SIZE[dtype]
        offs[name] = [off, off + len(data)]
        blobs.append(data)
        off += len(data)
    for name, dtype, shape, _ in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": offs[name]}
    return header, b"".join(blobs)


def pack(header, data=b"", pad=True, declared=None, indent=None):
    """header: a dict (dumped compactly) or raw text/bytes."""
    if isinstance(header, dict):
        text = json.dumps(header, separators=(",", ":") if indent is None else None, indent=indent)
    else:
        text = header
    hb = text.encode("utf-8") if isinstance(text, str) else text
    if pad:
        hb += b" " * (-len(hb) % 8)
    n = len(hb) if declared is None else declared
    return struct.pack("<Q", n) + hb + data


# ---- the model's data --------------------------------------------------------------------

W = [0.5, -1.0, 0.25, 1.5, 0.0, -0.75]      # fc.weight [2, 3]
B = [0.25, -0.5]                             # fc.bias [2]
S = [2.0]                                    # s, rank 0
X = [1.0, 2.0, -1.0, 0.5, -0.25, 4.0]        # x [2, 3]


def tiny_forward(x, rows):
    y = []
    for r in range(rows):
        for o in range(2):
            acc = B[o]
            for i in range(3):
                acc += x[3 * r + i] * W[3 * o + i]
            y.append(acc * S[0])
    return y


def weights(dtype="F32", extra=(), **kw):
    ts = [("fc.bias", dtype, [2], B), ("fc.weight", dtype, [2, 3], W), ("s", dtype, [], S)]
    return layout(ts + list(extra), **kw)


def st_file(tensors, **kw):
    return pack(*layout(tensors), **kw)


def one(name="w", dtype="U8", shape=None, offsets=None):
    """A header entry with any field values, for the malformed cases."""
    return {name: {"dtype": dtype, "shape": [4] if shape is None else shape,
                   "data_offsets": [0, 4] if offsets is None else offsets}}


BIG = 2 ** 48 + 1

# name -> (file bytes, expected message)
BAD = {
    # file layout
    "bad_empty": (b"", "file is 0 bytes long, too short for the 8-byte header length"),
    "bad_short": (b"\x02\x00\x00\x00\x00", "file is 5 bytes long, too short for the 8-byte header length"),
    "bad_header_beyond_file": (pack("{}", declared=4096),
                               "header length 4096 is beyond the file size 16"),
    "bad_header_limit": (pack("{}", declared=100000001),
                         "header length 100000001 is above the limit of 100000000 bytes"),
    "bad_header_at_limit": (pack("{}", declared=100000000),
                            "header length 100000000 is beyond the file size 16"),
    "bad_header_empty": (pack(b"", declared=0), "header is empty"),
    "bad_header_not_brace": (pack("[]"), "header does not start with '{'"),
    "bad_header_leading_space": (pack(b' {"w":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}'),
                                 "header does not start with '{'"),
    "bad_padding_nul": (pack(b"{}\0\0\0\0\0\0", pad=False), "header padding at byte 2 is 0x00, not a space"),
    "bad_padding_newline": (pack(b"{}     \n", pad=False), "header padding at byte 7 is 0x0a, not a space"),
    "bad_utf8": (pack(b'{"\xff":{}}'), "header is not valid UTF-8 at byte 2"),
    # invalid JSON
    "bad_json_truncated": (pack(b'{"w":{"dtype":"F32","shape":[1', pad=False),
                           "invalid JSON in header at byte 30: unexpected end of header"),
    "bad_json_value": (pack('{"w":}'), "invalid JSON in header at byte 5: expected a value, found '}'"),
    "bad_json_comma": (pack('{"w":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},}'),
                       "invalid JSON in header at byte 53: expected a string key, found '}'"),
    "bad_json_string": (pack(b'{"w'), "invalid JSON in header at byte 1: unterminated string"),
    "bad_json_escape": (pack(r'{"w\q":{}}'), "invalid JSON in header at byte 3: invalid escape '\\q'"),
    "bad_json_literal": (pack('{"w":nul}'), "invalid JSON in header at byte 5: invalid literal"),
    # keys
    "bad_duplicate_tensor": (pack('{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
                                  '"w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', b"\0\0"),
                             "duplicate tensor name 'w'"),
    "bad_duplicate_field": (pack('{"w":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"\0"),
                            "tensor 'w': duplicate field 'dtype'"),
    "bad_duplicate_metadata": (pack('{"__metadata__":{"a":"1"},"__metadata__":{"a":"2"}}'),
                               "duplicate key '__metadata__'"),
    "bad_metadata_not_object": (pack({"__metadata__": "pt"}), "__metadata__ must be an object, not a string"),
    "bad_metadata_value": (pack({"__metadata__": {"format": 1}}),
                           "__metadata__ value for key 'format' must be a string, not a number"),
    "bad_missing_field": (pack({"w": {"dtype": "U8", "shape": [1]}}, b"\0"),
                          "tensor 'w': missing field 'data_offsets'"),
    "bad_unknown_field": (pack({"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1], "stride": [1]}}, b"\0"),
                          "tensor 'w': unknown field 'stride'"),
    # dtype
    "bad_unknown_dtype": (pack(one(dtype="F8_E4M3", shape=[1], offsets=[0, 1]), b"\0"),
                          "tensor 'w': unknown dtype 'F8_E4M3'"),
    "bad_dtype_lowercase": (pack(one(dtype="f32", shape=[1], offsets=[0, 4]), bytes(4)),
                            "tensor 'w': unknown dtype 'f32'"),
    "bad_dtype_not_string": (pack(one(dtype=4, shape=[1], offsets=[0, 4]), bytes(4)),
                             "tensor 'w': dtype must be a string, not a number"),
    # shape entries
    "bad_shape_negative": (pack(one(shape=[-1]), bytes(4)), "tensor 'w': shape entry -1 is negative"),
    "bad_shape_fractional": (pack(one(shape=[2.5]), bytes(4)),
                             "tensor 'w': shape entry 2.5 is not written as a plain integer"),
    "bad_shape_float_integer": (pack('{"w":{"dtype":"U8","shape":[4.0],"data_offsets":[0,4]}}', bytes(4)),
                                "tensor 'w': shape entry 4.0 is not written as a plain integer"),
    "bad_shape_exponent": (pack('{"w":{"dtype":"U8","shape":[4e0],"data_offsets":[0,4]}}', bytes(4)),
                           "tensor 'w': shape entry 4e0 is not written as a plain integer"),
    "bad_shape_huge": (pack(one(shape=[BIG]), bytes(4)), "tensor 'w': shape entry %d is above 2^48" % BIG),
    "bad_shape_not_integer": (pack(one(shape=["4"]), bytes(4)),
                              "tensor 'w': shape entry must be an integer, not a string"),
    "bad_shape_rank9": (pack(one(shape=[1] * 9, offsets=[0, 1]), b"\0"),
                        "tensor 'w': shape has 9 dimensions, more than the supported 8"),
    # offsets
    "bad_offset_negative": (pack(one(offsets=[-4, 0]), bytes(4)), "tensor 'w': data_offsets entry -4 is negative"),
    "bad_offset_fractional": (pack(one(offsets=[0, 4.5]), bytes(4)),
                              "tensor 'w': data_offsets entry 4.5 is not written as a plain integer"),
    "bad_offset_huge": (pack(one(offsets=[0, BIG]), bytes(4)),
                        "tensor 'w': data_offsets entry %d is above 2^48" % BIG),
    "bad_offsets_count": (pack(one(offsets=[0, 4, 8]), bytes(4)), "tensor 'w': data_offsets has 3 entries, expected 2"),
    "bad_end_before_begin": (pack(one(shape=[0], offsets=[4, 0]), bytes(4)),
                             "tensor 'w': data_offsets [4, 0] end before they begin"),
    # byte sizes
    "bad_size_mismatch": (pack(one(dtype="F32", shape=[2, 3], offsets=[0, 20]), bytes(20)),
                          "tensor 'w': data_offsets [0, 20] hold 20 bytes but shape [2,3] of F32 needs 24"),
    "bad_size_overflow": (pack(one(dtype="F32", shape=[2 ** 40, 2 ** 40], offsets=[0, 4]), bytes(4)),
                          "tensor 'w': data_offsets [0, 4] hold 4 bytes but shape [1099511627776,1099511627776] "
                          "of F32 needs more than 2^64"),
    "bad_size_overflow_dtype": (pack(one(dtype="I64", shape=[2 ** 31, 2 ** 31, 4], offsets=[0, 8]), bytes(8)),
                                "tensor 'w': data_offsets [0, 8] hold 8 bytes but shape [2147483648,2147483648,4] "
                                "of I64 needs more than 2^64"),
    # layout of the data section
    "bad_gap_start": (pack(one(offsets=[8, 12]), bytes(12)),
                      "tensor 'w': data_offsets [8, 12] leave a gap of 8 bytes at the start of the data section"),
    "bad_gap_between": (pack({"a": {"dtype": "U8", "shape": [24], "data_offsets": [0, 24]},
                              "b": {"dtype": "U8", "shape": [10], "data_offsets": [30, 40]}}, bytes(40)),
                        "tensor 'b': data_offsets [30, 40] leave a gap of 6 bytes after tensor 'a' [0, 24]"),
    "bad_overlap": (pack({"a": {"dtype": "U8", "shape": [24], "data_offsets": [0, 24]},
                          "b": {"dtype": "U8", "shape": [24], "data_offsets": [16, 40]}}, bytes(40)),
                    "tensor 'b': data_offsets [16, 40] overlap tensor 'a' [0, 24]"),
    "bad_same_offsets": (pack({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                               "b": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}}, bytes(4)),
                         "tensor 'b': data_offsets [0, 4] overlap tensor 'a' [0, 4]"),
    "bad_trailing_bytes": (pack(*weights()) + b"\0\0\0", "3 bytes after the last tensor"),
    "bad_trailing_byte": (pack(*weights()) + b"\0", "1 byte after the last tensor"),
    "bad_data_beyond_file": (pack(one(offsets=[0, 4]), bytes(3)),
                             "tensor 'w': data_offsets [0, 4] end beyond the file: the data section has 3 bytes"),
    "bad_truncated_data": (pack(*weights())[:-2],
                           "tensor 's': data_offsets [32, 36] end beyond the file: the data section has 34 bytes"),
}

# Input files that are well formed but do not fit the model: name -> (file, model,
# expected messages). Each names the tensor.
IN = {
    "in_missing": (st_file([("z", "F32", [2, 3], X)]), "tiny.ndl",
                   ["missing input tensor 'x' (f32[N,3])"]),
    "in_dtype": (st_file([("x", "I32", [2, 3], [1, 2, -1, 0, 0, 4])]), "tiny.ndl",
                 ["input 'x' is I32[2,3] but the model declares f32[N,3]"]),
    "in_rank": (st_file([("x", "F32", [6], X)]), "tiny.ndl",
                ["input 'x' is F32[6] but the model declares f32[N,3]"]),
    "in_dims": (st_file([("x", "F32", [2, 4], X + [0.0, 1.0])]), "tiny.ndl",
                ["input 'x' has shape [2,4] but the model declares f32[N,3]"]),
    "in_bound": (st_file([("x", "F32", [5, 3], (X * 3)[:15])]), "tiny.ndl",
                 ["input 'x' has N = 5 but the model declares N <= 4"]),
    "in_symbol": (st_file([("a", "F32", [2, 3], X), ("b", "F32", [3, 3], X + X[:3])]), "pair.ndl",
                  ["input 'b' has shape [3,3] but the model declares f32[N,3] with N = 2"]),
    "in_bool": (st_file([("x", "BOOL", [2, 3], [1, 0, 1, 0, 1, 0])]), "tiny.ndl",
                ["input 'x' is BOOL[2,3] but the model declares f32[N,3]"]),
}


def main():
    written = []

    def write(name, blob):
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(blob)
        written.append(name)

    def expect(stem, msgs, model=None):
        text = "# expected diagnostics of %s.safetensors (written by make_cases.py)\n" % stem
        if model:
            text += "# model: %s\n" % model
        text += "".join("expect-error: %s.safetensors: %s\n" % (stem, m) for m in msgs)
        write(stem + ".expect", text.encode())

    # the model's own files
    write("tiny.w.safetensors", pack(*weights()))
    write("tiny.in.safetensors", st_file([("x", "F32", [2, 3], X)]))
    write("tiny.out.safetensors", st_file([("y", "F32", [2, 2], tiny_forward(X, 2))]))
    write("pair.in.safetensors", st_file([("a", "F32", [2, 3], X), ("b", "F32", [2, 3], X)]))

    # valid weights of tiny.ndl: each gives tiny.out.safetensors
    write("valid_w_f16.safetensors", pack(*weights("F16")))
    write("valid_w_bf16.safetensors", pack(*weights("BF16")))
    write("valid_w_f64.safetensors", pack(*weights("F64")))
    write("valid_w_metadata.safetensors",
          pack(*weights(metadata={"format": "pt", "note": "caf\u00e9"})))
    # header of odd length, unpadded: every tensor's data starts at an odd address
    h, d = weights()
    text = json.dumps(h, separators=(",", ":"))
    text += " " * ((1 - len(text)) % 8)
    write("valid_w_unaligned.safetensors", pack(text, d, pad=False))
    # zero-size tensors (one at the start of the data, one between two others), an
    # unused extra tensor, data in an order other than the header's, a header with
    # newlines and indentation inside the JSON
    write("valid_w_zero_size.safetensors",
          pack(*weights(extra=[("empty.a", "F32", [0, 3], []), ("empty.b", "F16", [4, 0], [])],
                        order=["empty.a", "s", "fc.weight", "empty.b", "fc.bias"])))
    write("valid_w_pretty.safetensors", pack(*weights(), indent=2))

    # valid inputs of tiny.ndl
    write("valid_in_f16.safetensors", st_file([("x", "F16", [2, 3], X)]))
    write("valid_in_extra.safetensors", st_file([("other", "I64", [2], [7, 8]), ("x", "F32", [2, 3], X)]))
    write("valid_in_zero.safetensors", st_file([("x", "F32", [0, 3], [])]))
    write("valid_in_zero.out.safetensors", st_file([("y", "F32", [0, 2], [])]))
    write("valid_in_bound.safetensors", st_file([("x", "F32", [4, 3], X + X)]))
    write("valid_in_bound.out.safetensors", st_file([("y", "F32", [4, 2], tiny_forward(X + X, 4))]))

    for stem, (blob, msg) in sorted(BAD.items()):
        write(stem + ".safetensors", blob)
        expect(stem, [msg])
    for stem, (blob, model, msgs) in sorted(IN.items()):
        write(stem + ".safetensors", blob)
        expect(stem, msgs, model)
    total = sum(os.path.getsize(os.path.join(HERE, n)) for n in written)
    print("wrote %d files (%d bytes) to %s" % (len(written), total, HERE))


if __name__ == "__main__":
    main()
