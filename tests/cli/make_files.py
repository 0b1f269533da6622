#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make_files.py - writes the weight files of tests/cli (struct + json, deterministic):
    python3 tests/cli/make_files.py
  net.w.safetensors      the weights of net.ndl for c = 8, with BatchNorm's
                         num_batches_tracked (a 0-d I64, as PyTorch saves it)
  net.extra.safetensors  the same plus 'head.weight', which net.ndl does not use
  lin.w.safetensors      the weights of lin.ndl for h = 8
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def f32(shape, seed):
    n = 1
    for d in shape:
        n *= d
    vals = [0.125 * ((seed + 5 * i) % 11) - 0.5 for i in range(n)]
    return "F32", shape, struct.pack("<%df" % n, *vals)


def save(path, tensors):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        dtype, shape, data = tensors[name]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    net = {
        "conv.weight": f32([8, 3, 3, 3], 1),
        "bn.weight": f32([8], 2),
        "bn.bias": f32([8], 3),
        "bn.running_mean": f32([8], 4),
        "bn.running_var": ("F32", [8], struct.pack("<8f", *[1.0 + 0.25 * i for i in range(8)])),
        "bn.num_batches_tracked": ("I64", [], struct.pack("<q", 100)),
        "fc.weight": f32([2, 8], 5),
        "fc.bias": f32([2], 6),
    }
    save(os.path.join(HERE, "net.w.safetensors"), net)
    save(os.path.join(HERE, "net.extra.safetensors"), dict(net, **{"head.weight": f32([2, 2], 7)}))
    save(os.path.join(HERE, "lin.w.safetensors"), {
        "fc1.weight": f32([8, 4], 8), "fc1.bias": f32([8], 9),
        "fc2.weight": f32([2, 8], 10), "fc2.bias": f32([2], 11)})


if __name__ == "__main__":
    main()
