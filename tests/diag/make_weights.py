#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make_weights.py - writes the small weight files of the tests/diag cases.

Each <case>.w.safetensors belongs to <case>.ndl, which names it in its `weights`
statement. Plain python3 (struct + json, no numpy), deterministic; rerun it after
editing a case:
    python3 tests/diag/make_weights.py
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
from st import save  # noqa: E402  (the team's safetensors writer)
FMT = {"F32": "f", "F64": "d", "I32": "i", "I64": "q", "U8": "B"}


def tensor(dtype, shape, values=None):
    n = 1
    for d in shape:
        n *= d
    if values is None:
        values = [0.25 * (i % 7) - 0.5 for i in range(n)] if dtype == "F32" else [i % 3 for i in range(n)]
    return dtype, shape, struct.pack("<%d%s" % (n, FMT[dtype]), *values)


CASES = {
    # fc = Linear(3, 4): the file lacks fc.weight.
    "weight_missing": {"fc.bias": tensor("F32", [4])},
    # fc = Linear(3, 4): fc.weight is [4,2] instead of [4,3].
    "weight_shape": {"fc.weight": tensor("F32", [4, 2]), "fc.bias": tensor("F32", [4])},
    # fc = Linear(3, 4) stored as I32 with 2^24 + 1 (no f32 holds it); param idx: i64[3]
    # stored as F32.
    "weight_dtype": {"fc.weight": tensor("I32", [4, 3], [i % 3 for i in range(11)] + [16777217]),
                     "fc.bias": tensor("F32", [4]), "idx": tensor("F32", [3])},
    # param p: f32[4] stored as F64 with 1e300, beyond f32's range (0.1 and 1e-50 round).
    "weight_f64_range": {"p": tensor("F64", [4], [0.1, 1.0 / 3.0, 1e-50, 1e300])},
    # tie b.weight = a.weight with both keys in the file, of different shapes.
    "tie_differ": {"a.weight": tensor("F32", [2, 3]), "b.weight": tensor("F32", [3, 2])},
    # fc = Linear(6, 4) and conv = Conv2d(4, 8, 3), applied to inputs of the wrong size.
    "shape_modules": {"fc.weight": tensor("F32", [4, 6]), "fc.bias": tensor("F32", [4]),
                      "conv.weight": tensor("F32", [8, 4, 3, 3]), "conv.bias": tensor("F32", [8])},
}


def main():
    for case, tensors in sorted(CASES.items()):
        save(os.path.join(HERE, case + ".w.safetensors"), tensors)
    print("wrote %d weight files to %s" % (len(CASES), HERE))


if __name__ == "__main__":
    main()
