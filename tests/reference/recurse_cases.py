#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""recurse_cases.py - goldens of `recurse(x, body, depth, max)` (spec 8.3) for tests/recurse.

Run from anywhere (Debian's python3-torch; the python3 first on PATH may lack torch):
    /usr/bin/python3 tests/reference/recurse_cases.py
Writes tests/recurse/<stem>.ndl and its .in/.out(.w).safetensors (golden.write_case).
The reference applies the shared body the way the papers' code does: at step r the rows
whose depth exceeds r are selected with a boolean mask, run through the body and written
back (h[mask] = body(h[mask])), so it is independent of ndlc's gather/scatter lowering.
Every case's inputs are drawn until every depth 0..max occurs (asserted). `# LOOP: N`: the
generated C runs the N steps as one loop (tests/recurse/check_loop.sh).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import golden  # noqa: E402
from golden import T, state_dict_np  # noqa: E402
from sharing_cases import randomize_  # noqa: E402  (non-trivial values for every parameter)

def ref_recurse(x, body, depth, max_depth):
    """Row t of the result is body applied depth[t] times to x[t] (spec 8.3)."""
    assert int(depth.min()) >= 0 and int(depth.max()) <= max_depth
    h = x.clone()
    for r in range(max_depth):
        mask = depth > r
        if mask.any():
            h[mask] = body(h[mask])
    return h


def all_depths(depth, max_depth):
    return sorted(set(int(d) for d in np.asarray(depth).reshape(-1))) == list(range(max_depth + 1))


class MorBlock(nn.Module):
    """The shared recursion block: pre-RMSNorm SwiGLU FFN with a residual (row-wise)."""

    def __init__(self, d, hidden):
        super().__init__()
        self.norm = nn.Parameter(torch.ones(d))
        self.gate = nn.Linear(d, hidden, bias=False)
        self.up = nn.Linear(d, hidden, bias=False)
        self.down = nn.Linear(hidden, d, bias=False)

    def forward(self, x):
        h = golden.ref_rms_norm(x, self.norm)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class MorTokenChoice(nn.Module):
    """Mixture-of-Recursions, token-choice routing: a router picks each token's number of
    recursions (0..3) up front; the one shared block runs that often on the token; the
    result is scaled by the router's probability of its choice."""

    def __init__(self, d, hidden, max_depth):
        super().__init__()
        self.max_depth = max_depth
        self.router = nn.Linear(d, max_depth + 1)
        self.block = MorBlock(d, hidden)

    def depth(self, x):
        return torch.argmax(self.router(x), dim=1)

    def forward(self, x):
        p = torch.softmax(self.router(x), dim=1)
        depth = torch.argmax(p, dim=1)
        h = ref_recurse(x, self.block, depth, self.max_depth)
        return h * torch.amax(p, dim=1, keepdim=True)


MOR_NDL = """
# LOOP: 2  (the first of the 3 steps reads the model input, not the workspace, and stays out)
module MorBlock(d: int, hidden: int) {
  param norm: f32[d];
  gate = Linear(d, hidden, bias = false);
  up   = Linear(d, hidden, bias = false);
  down = Linear(hidden, d, bias = false);

  forward(x) {
    let h = rms_norm(x, norm);
    return x + down(silu(gate(h)) * up(h));
  }
}

model MorTokenChoice {
  input x: f32[12, 16];
  output y;
  weights "mor_token_choice.w.safetensors";

  router = Linear(16, 4);
  block  = MorBlock(16, 32);

  forward {
    let p = softmax(router(x), 1);
    let depth = argmax(p, 1);
    y = recurse(x, block, depth, 3) * max(p, [1], keepdim = true);
  }
}
"""


def mor_token_choice(c):
    m = randomize_(MorTokenChoice(16, 32, 3), c)
    for _ in range(1000):
        x = c.randn(12, 16)
        with torch.no_grad():
            depth = m.depth(T(x))
        if all_depths(depth, 3):
            break
    assert all_depths(depth, 3)
    with torch.no_grad():
        y = m(T(x))
    return dict(doc="Mixture-of-Recursions token-choice stack: router-chosen depth 0..3, one shared SwiGLU block",
                ndl=MOR_NDL, inputs={"x": x}, weights=state_dict_np(m), outputs={"y": y})


class DepthFFN(nn.Module):
    """One step of VersatileFFN's depth path: the shared FFN with a residual."""

    def __init__(self, d, hidden):
        super().__init__()
        self.fc1 = nn.Linear(d, hidden)
        self.fc2 = nn.Linear(hidden, d)

    def forward(self, x):
        return x + self.fc2(F.gelu(self.fc1(x)))


class VersatileDepth(nn.Module):
    """VersatileFFN-style depth path: a LayerNorm, then the shared FFN applied a per-token
    number of times (given as an i32 input, as a difficulty predictor would produce), then
    a residual from the block's input."""

    def __init__(self, d, hidden, max_depth):
        super().__init__()
        self.max_depth = max_depth
        self.ln = nn.LayerNorm(d)
        self.ffn = DepthFFN(d, hidden)

    def forward(self, x, depth):
        return x + ref_recurse(self.ln(x), self.ffn, depth.long(), self.max_depth)


VERSATILE_NDL = """
# LOOP: 4
module DepthFFN(d: int, hidden: int) {
  fc1 = Linear(d, hidden);
  fc2 = Linear(hidden, d);

  forward(x) {
    return x + fc2(gelu(fc1(x)));
  }
}

model VersatileDepth {
  input x: f32[10, 24];
  input depth: i32[10];
  output y;
  weights "versatile_depth.w.safetensors";

  ln  = LayerNorm(24);
  ffn = DepthFFN(24, 48);

  forward {
    y = x + recurse(ln(x), ffn, depth, 4);
  }
}
"""


def versatile_depth(c):
    m = randomize_(VersatileDepth(24, 48, 4), c)
    x = c.randn(10, 24)
    depth = np.array([0, 4, 1, 3, 2, 2, 4, 0, 1, 3], dtype=np.int32)  # every depth, twice, shuffled
    assert all_depths(depth, 4)
    with torch.no_grad():
        y = m(T(x), torch.from_numpy(depth))
    return dict(doc="VersatileFFN-style depth path: a shared FFN applied 0..4 times per token (i32 depths)",
                ndl=VERSATILE_NDL, inputs={"x": x, "depth": depth}, weights=state_dict_np(m),
                outputs={"y": y})


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    golden.HEADER = ("# {stem}: {doc}\n"
                     "# Generated by tests/reference/recurse_cases.py (case '{stem}'); edit it there.\n")
    for fn in (mor_token_choice, versatile_depth):
        golden.write_case(os.path.join(ROOT, "tests"), "recurse", fn.__name__, None, fn)
    print("recurse_cases: 2 cases written to tests/recurse")


if __name__ == "__main__":
    main()
