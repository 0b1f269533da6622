#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make_found.py - writes the weight and input files of the reduced cases in this
directory (tests/diff/found/NNNN-name.ndl), deterministically, with tests/diff/gen.py's
safetensors writer. Run it after adding a case: python3 make_found.py"""
import os
import random
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(here))
import gen  # noqa: E402


def u(r, shape, a=1.0):
    n = 1
    for d in shape:
        n *= d
    return ('F32', list(shape), [r.uniform(-a, a) for _ in range(n)])


def pos(r, shape, lo, hi):
    n = 1
    for d in shape:
        n *= d
    return ('F32', list(shape), [r.uniform(lo, hi) for _ in range(n)])


# name -> (inputs, weights): each a function of a seeded random.Random
CASES = {
    '0001-attention-integer-scale': (
        lambda r: {'q': u(r, [2, 3, 1]), 'k': u(r, [2, 4, 8])},
        None),
    '0002-external-weights-no-params': (
        lambda r: {'x': u(r, [2, 3])},
        None),
    '0003-fused-two-activations': (
        lambda r: {'x': u(r, [3, 5]), 'img': u(r, [1, 2, 4, 4])},
        lambda r: {'w': u(r, [4, 5], 0.7), 'cw': u(r, [3, 2, 3, 3], 0.4)}),
    '0004-gemv-loop-warning': (
        lambda r: {'x': u(r, [2, 12])},
        lambda r: {'w': u(r, [5, 12], 0.5)}),
    '0005-reduce-loop-warning': (
        lambda r: {'x': u(r, [64])},
        None),
}


def main():
    for name, (ins, ws) in sorted(CASES.items()):
        r = random.Random(name)
        gen.st_save(os.path.join(here, name + '.in.safetensors'), ins(r))
        if ws:
            gen.st_save(os.path.join(here, name + '.w.safetensors'), ws(r))


if __name__ == '__main__':
    main()
