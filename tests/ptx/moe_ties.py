# SPDX-License-Identifier: MIT
"""moe_ties.py - writes moe_ties.in.safetensors and moe_ties.w.safetensors beside this
file (numpy only): scores full of exact ties for tests/ptx/ties_check.sh.

    /usr/bin/python3 tests/ptx/moe_ties.py
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import st  # noqa: E402

rng = np.random.default_rng(7)
scores = np.array([
    [1, 1, 1, 1],        # all equal: experts 0 and 1; the threshold is reached exactly at 2
    [2, 1, 2, 1],        # a tie for first
    [0, 3, 3, 0],        # a tie for first, later indices
    [1, 2, 2, 2],        # a three-way tie for first
    [3, 2, 2, 1],        # a tie for second
    [0.5, 0.5, 0, 0.5],  # a tie across the cut
    [-1, 4, 0, 4],       # ties at the top, far apart
    [0, 0, 0, 5],        # one clear winner, a tie behind it
], dtype=np.float32)
x = rng.standard_normal((scores.shape[0], 4)).astype(np.float32)
st.save(os.path.join(HERE, "moe_ties.in.safetensors"), {"x": x, "s": scores})
weights = {}
for e in range(4):
    weights["experts.%d.weight" % e] = rng.standard_normal((3, 4)).astype(np.float32)
    weights["experts.%d.bias" % e] = rng.standard_normal(3).astype(np.float32)
st.save(os.path.join(HERE, "moe_ties.w.safetensors"), weights)
