#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""gen.py DIR - weights and inputs of bench/sharing's models (numpy only, seeded)."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "reference"))
import st  # noqa: E402

out = sys.argv[1]
rng = np.random.default_rng(7)


def randn(*shape, scale=0.05):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


st.save(os.path.join(out, "recurse.w.safetensors"),
        {"ffn.fc1.weight": randn(1024, 256), "ffn.fc1.bias": randn(1024),
         "ffn.fc2.weight": randn(256, 1024), "ffn.fc2.bias": randn(256)})
x = randn(256, 256, scale=1.0)
# depths spread evenly over 0..3 (a quarter each), and every row 3 steps
st.save(os.path.join(out, "spread.in.safetensors"), {"x": x, "depth": (np.arange(256) % 4).astype(np.int32)})
st.save(os.path.join(out, "all3.in.safetensors"), {"x": x, "depth": np.full(256, 3, dtype=np.int32)})
st.save(os.path.join(out, "dense.w.safetensors"), {"fc.weight": randn(1024, 1024), "fc.bias": randn(1024)})
st.save(os.path.join(out, "roast.w.safetensors"), {"pool": randn(65536), "fc.bias": randn(1024)})
st.save(os.path.join(out, "x.in.safetensors"), {"x": randn(128, 1024, scale=1.0)})
