#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make_weights.py - writes the small weight files of the tests/passes cases.

Each <case>.w.safetensors belongs to <case>.ndl, which names it in its `weights`
statement. The pass tests check the printed IR, not values, but the weights are
still valid (variances positive). Plain python3 (struct + json, no numpy),
deterministic; rerun it after editing a case:
    python3 tests/passes/make_weights.py
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
from st import save  # noqa: E402  (the team's safetensors writer)


def f32(*shape, positive=False):
    n = 1
    for d in shape:
        n *= d
    if positive:
        values = [0.5 + 0.125 * (i % 5) for i in range(n)]
    else:
        values = [0.25 * (i % 7) - 0.75 for i in range(n)]
    return "F32", list(shape), struct.pack("<%df" % n, *values)


def conv(name, o, c, k, bias=True):
    t = {name + ".weight": f32(o, c, k, k)}
    if bias:
        t[name + ".bias"] = f32(o)
    return t


def linear(name, o, i, bias=True):
    t = {name + ".weight": f32(o, i)}
    if bias:
        t[name + ".bias"] = f32(o)
    return t


def bn(name, c):
    return {name + ".weight": f32(c), name + ".bias": f32(c),
            name + ".running_mean": f32(c), name + ".running_var": f32(c, positive=True)}


def merge(*dicts):
    out = {}
    for d in dicts:
        out.update(d)
    return out


CASES = {
    "fold_mha": {"attn.in_proj_weight": f32(24, 8), "attn.in_proj_bias": f32(24),
                 "attn.out_proj.weight": f32(8, 8), "attn.out_proj.bias": f32(8)},
    "fold_param_expr": {"A": f32(2, 2, 2), "S": f32(2, 3, 4), "fb": f32(6),
                        "cw": f32(4, 2, 3, 3), "cm": f32(4, 2, 3, 3), "gamma": f32(4)},
    "fold_size": {"pool": f32(4)},
    "bnfold_cnn": merge(conv("stem", 4, 3, 3, bias=False), bn("bn1", 4), conv("conv", 4, 4, 1),
                        bn("bn2", 4), linear("fc", 3, 4),
                        {"m": f32(3), "v": f32(3, positive=True), "g": f32(3), "b": f32(3)}),
    "bnfold_keep": merge(conv("conv", 4, 3, 1), bn("bn", 4), bn("bnx", 3),
                         {"uw": f32(5, 4, 1, 1), "m": f32(5), "v": f32(5, positive=True)}),
    "fuse_resnet": merge(conv("conv1", 4, 4, 3, bias=False), bn("bn1", 4),
                         conv("conv2", 4, 4, 3, bias=False), bn("bn2", 4), linear("fc", 3, 4)),
    "fuse_keep": merge(*[conv("c%d" % i, 4, 4, 1) for i in range(1, 6)],
                       {"cb": f32(1, 4, 1, 1)}),
}


def main():
    for case, tensors in sorted(CASES.items()):
        save(os.path.join(HERE, case + ".w.safetensors"), tensors)
    print("wrote %d weight files to %s" % (len(CASES), HERE))


if __name__ == "__main__":
    main()
