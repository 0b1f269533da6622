#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""sharing_cases.py - parameter sharing goldens (spec 8.3, issue 7) for tests/sharing.

Run from anywhere (Debian's python3-torch; the python3 first on PATH may lack torch):
    /usr/bin/python3 tests/reference/sharing_cases.py
For each case <stem> it writes tests/sharing/<stem>.ndl and its .in/.out/.w.safetensors
(golden.write_case, the same framework as make_goldens.py, deterministic seeds). Each .ndl
also carries the byte counts PyTorch gives for the model, which tests/sharing/check_sharing.sh
compares with ndlc's `--report` (section "sharing"):
    # STORED-BYTES: N    4 * sum(p.numel() for p in model.parameters()): PyTorch lists a
                         shared module's and a tied tensor's parameters once
    # LOGICAL-BYTES: N   the bytes an unshared copy of the model would hold: every
                         application of the shared layer, and both ends of a tie, counted
    # C-ARRAY-BYTES: N   (hashed cases) the bytes of the weight arrays the generated C
                         embeds: the pool and the biases, never the expanded weights
    # COMPRESSED-BYTES: N (--share compressed) the report's hashed_compressed_bytes: the
                         scratch of the largest tile of 64 weight rows expanded at a time
    # LOOP: N            run() of the generated C holds the shared layer as a loop of N
                         repetitions (per-application weights selected by the index)
The hashed (ROAST) case computes the weights with the spec's hash written in Python
(golden.ref_hashed: MurmurHash3's fmix32 in uint32 arithmetic).
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
from golden import T, ref_hashed, state_dict_np  # noqa: E402

CASES = []


def case(stem):
    def deco(fn):
        CASES.append((stem, fn))
        return fn
    return deco


def randomize_(m, c):
    """Non-trivial values for every parameter (LayerNorm's ones and zeros included)."""
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(T(c.randn(*p.shape, scale=0.3)))
    return m.eval()


def nbytes(params):
    return 4 * sum(p.numel() for p in params)


class AlbertLayer(nn.Module):
    """ALBERT's transformer layer (post-LN): attention, add & norm, GELU FFN, add & norm."""

    def __init__(self, d, heads, hidden):
        super().__init__()
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ln1 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, hidden)
        self.fc2 = nn.Linear(hidden, d)
        self.ln2 = nn.LayerNorm(d)

    def forward(self, x):
        x = self.ln1(x + self.attn(x, x, x, need_weights=False)[0])
        return self.ln2(x + self.fc2(F.gelu(self.fc1(x))))


class Albert(nn.Module):
    """ALBERT-like encoder: factorized embedding (vocab x 8, then 8 -> 16), one layer
    applied `depth` times."""

    def __init__(self, depth):
        super().__init__()
        self.depth = depth
        self.tok = nn.Embedding(40, 8)
        self.pos = nn.Embedding(6, 8)
        self.emb_ln = nn.LayerNorm(8)
        self.proj = nn.Linear(8, 16)
        self.layer = AlbertLayer(16, 2, 32)

    def forward(self, ids):
        h = self.emb_ln(self.tok(ids) + self.pos.weight)
        h = self.proj(h)
        for _ in range(self.depth):
            h = self.layer(h)
        return h


ALBERT_NDL = """
module AlbertLayer(d: int, heads: int, hidden: int) {
  attn = MultiheadAttention(d, heads);
  ln1  = LayerNorm(d);
  fc1  = Linear(d, hidden);
  fc2  = Linear(hidden, d);
  ln2  = LayerNorm(d);

  forward(x) {
    let h = ln1(x + attn(x, x, x));
    return ln2(h + fc2(gelu(fc1(h))));
  }
}

model Albert {
  elastic depth: int in {1, 2, 6, 12} = 6;   # applications of the one shared layer
  input ids: i64[B, 6];
  output y;
  weights "albert.w.safetensors";

  tok    = Embedding(40, 8);
  pos    = Embedding(6, 8);
  emb_ln = LayerNorm(8);
  proj   = Linear(8, 16);
  layer  = AlbertLayer(16, 2, 32);

  forward {
    let h = proj(emb_ln(tok(ids) + pos.weight));
    for i in 0..depth {
      h = layer(h);
    }
    y = h;
  }
}
"""


@case("albert")
def _(c):
    m = randomize_(Albert(6), c)
    ids = c.ints(0, 40, 2, 6)
    with torch.no_grad():
        y = m(T(ids))
    layer = nbytes(m.layer.parameters())
    stored = nbytes(m.parameters())
    logical = stored + (m.depth - 1) * layer
    head = "# STORED-BYTES: %d\n# LOGICAL-BYTES: %d\n" % (stored, logical)
    return dict(doc="ALBERT-like encoder: factorized embedding, one post-LN layer applied 6 times",
                ndl=head + ALBERT_NDL, inputs={"ids": ids}, weights=state_dict_np(m),
                outputs={"y": y})


class TiedGPT(nn.Module):
    """GPT-style decoder whose LM head is the token embedding (GPT-2's weight tying)."""

    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(30, 16)
        self.pos = nn.Embedding(5, 16)
        self.ln1 = nn.LayerNorm(16)
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
        self.ln2 = nn.LayerNorm(16)
        self.fc1 = nn.Linear(16, 32)
        self.fc2 = nn.Linear(32, 16)
        self.lnf = nn.LayerNorm(16)
        self.head = nn.Linear(16, 30, bias=False)
        self.head.weight = self.tok.weight

    def forward(self, ids):
        t = ids.shape[1]
        mask = torch.full((t, t), float("-inf")).triu(1)
        x = self.tok(ids) + self.pos.weight
        h = self.ln1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        x = x + self.fc2(F.gelu(self.fc1(self.ln2(x))))
        return self.head(self.lnf(x))


@case("gpt_tied")
def _(c):
    m = randomize_(TiedGPT(), c)
    ids = c.ints(0, 30, 2, 5)
    with torch.no_grad():
        y = m(T(ids))
    stored = nbytes(m.parameters())
    logical = stored + nbytes([m.tok.weight])
    # safetensors.torch.save_model keeps one name of a shared tensor: drop the head's
    weights = {k: v for k, v in state_dict_np(m).items() if k != "head.weight"}
    ndl = "# STORED-BYTES: %d\n# LOGICAL-BYTES: %d\n" % (stored, logical) + """
model GptTied {
  input ids: i64[B, 5];
  output logits;
  weights "gpt_tied.w.safetensors";

  tok  = Embedding(30, 16);
  pos  = Embedding(5, 16);
  ln1  = LayerNorm(16);
  attn = MultiheadAttention(16, 2);
  ln2  = LayerNorm(16);
  fc1  = Linear(16, 32);
  fc2  = Linear(32, 16);
  lnf  = LayerNorm(16);
  head = Linear(16, 30, bias = false);
  tie head.weight = tok.weight;

  forward {
    let x = tok(ids) + pos.weight;
    let h = ln1(x);
    x = x + attn(h, h, h, causal = true);
    x = x + fc2(gelu(fc1(ln2(x))));
    logits = head(lnf(x));
  }
}
"""
    return dict(doc="GPT-style decoder block whose LM head is tied to the token embedding",
                ndl=ndl, inputs={"ids": ids}, weights=weights, outputs={"logits": y})


class WideNet(nn.Module):
    """WideNet (Xue et al. 2022) without its MoE: one attention and one FFN shared by every
    layer, each layer with its own two LayerNorms (pre-LN)."""

    def __init__(self, d, heads, hidden, layers):
        super().__init__()
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.fc1 = nn.Linear(d, hidden)
        self.fc2 = nn.Linear(hidden, d)
        self.ln1 = nn.ModuleList(nn.LayerNorm(d) for _ in range(layers))
        self.ln2 = nn.ModuleList(nn.LayerNorm(d) for _ in range(layers))

    def forward(self, x):
        for ln1, ln2 in zip(self.ln1, self.ln2):
            a = ln1(x)
            x = x + self.attn(a, a, a, need_weights=False)[0]
            x = x + self.fc2(F.gelu(self.fc1(ln2(x))))
        return x


@case("widenet")
def _(c):
    m = randomize_(WideNet(16, 2, 32, 6), c)
    x = c.randn(2, 5, 16)
    with torch.no_grad():
        y = m(T(x))
    shared = nbytes(m.attn.parameters()) + nbytes(m.fc1.parameters()) + nbytes(m.fc2.parameters())
    stored = nbytes(m.parameters())
    logical = stored + 5 * shared
    # the 6 layers are one loop; the first reads the model input, so 5 repetitions match
    head = "# STORED-BYTES: %d\n# LOGICAL-BYTES: %d\n# LOOP: 5\n" % (stored, logical)
    ndl = head + """
model WideNet {
  input x: f32[B, 5, 16];
  output y;
  weights "widenet.w.safetensors";

  attn = MultiheadAttention(16, 2);          # shared by all 6 layers
  fc1  = Linear(16, 32);
  fc2  = Linear(32, 16);
  ln1  = [LayerNorm(16) for i in 0..6];      # one pair of LayerNorms per layer
  ln2  = [LayerNorm(16) for i in 0..6];

  forward {
    let h = x;
    for i in 0..6 {
      let a = ln1[i](h);
      h = h + attn(a, a, a);
      h = h + fc2(gelu(fc1(ln2[i](h))));
    }
    y = h;
  }
}
"""
    return dict(doc="WideNet-style encoder: shared attention and FFN, per-layer LayerNorms, kept as a loop",
                ndl=ndl, inputs={"x": x}, weights=state_dict_np(m), outputs={"y": y})


@case("roast_linear")
def _(c):
    # ROAST / random parameter sharing: two Linear layers whose weights are hashed views of
    # one pool of 1/16 of the first weight's size (48 x 64 / 16 = 192 floats)
    pool = c.randn(192, scale=0.3)
    b1, b2 = c.randn(48, scale=0.1), c.randn(16, scale=0.1)
    w1 = ref_hashed(pool, (48, 64), 3141592653)
    w2 = ref_hashed(pool, (16, 48), 7)
    x = c.randn(3, 64)
    with torch.no_grad():
        y = F.linear(F.relu(F.linear(T(x), T(w1), T(b1))), T(w2), T(b2))
    stored = 4 * (pool.size + b1.size + b2.size)
    logical = stored + 4 * pool.size  # the pool is read by both expansions
    head = ("# STORED-BYTES: %d\n# LOGICAL-BYTES: %d\n# C-ARRAY-BYTES: %d\n# ARGS: --share materialize\n"
            % (stored, logical, stored))
    ndl = head + """
model RoastLinear {
  input x: f32[B, 64];
  output y;
  weights "roast_linear.w.safetensors";

  param pool: f32[192];                 # 1/16 of fc1's 48 x 64 weight
  fc1 = Linear(64, 48, weight = hashed(pool, [48, 64], 3141592653));
  fc2 = Linear(48, 16, weight = hashed(pool, [16, 48], 7));

  forward {
    y = fc2(relu(fc1(x)));
  }
}
"""
    return dict(doc="ROAST-style linear layers: weights hashed from one shared pool (spec 8.3 hash)",
                ndl=ndl, inputs={"x": x}, outputs={"y": y},
                weights={"pool": pool, "fc1.bias": b1, "fc2.bias": b2})


@case("roast_compressed")
def _(c):
    # the same construct under --share compressed: the linears read the pool in the kernel,
    # 64 weight rows at a time (fc1's 150 rows: tiles of 64, 64 and 22), with the ReLU, the
    # bias and the residual in the GEMM epilogue
    pool = c.randn(375, scale=0.3)  # 1/16 of fc1's 150 x 40 weight
    b1, b2 = c.randn(150, scale=0.1), c.randn(40, scale=0.1)
    w1 = ref_hashed(pool, (150, 40), 2718281828)
    w2 = ref_hashed(pool, (40, 150), 99)
    x = c.randn(5, 40)
    with torch.no_grad():
        y = T(x) + F.linear(F.relu(F.linear(T(x), T(w1), T(b1))), T(w2), T(b2))
    stored = 4 * (pool.size + b1.size + b2.size)
    logical = stored + 4 * pool.size
    tile = max(min(150, 64) * 40, min(40, 64) * 150) * 4  # scratch for the largest tile
    head = ("# STORED-BYTES: %d\n# LOGICAL-BYTES: %d\n# C-ARRAY-BYTES: %d\n# COMPRESSED-BYTES: %d\n"
            "# ARGS: --share compressed\n" % (stored, logical, stored, tile))
    ndl = head + """
model RoastCompressed {
  input x: f32[B, 40];
  output y;
  weights "roast_compressed.w.safetensors";

  param pool: f32[375];
  fc1 = Linear(40, 150, weight = hashed(pool, [150, 40], 2718281828));
  fc2 = Linear(150, 40, weight = hashed(pool, [40, 150], 99));

  forward {
    y = x + fc2(relu(fc1(x)));
  }
}
"""
    return dict(doc="ROAST-style layers under --share compressed: hashed weights read from the pool in the GEMM",
                ndl=ndl, inputs={"x": x}, outputs={"y": y},
                weights={"pool": pool, "fc1.bias": b1, "fc2.bias": b2})


@case("fakeroast")
def _(c):
    # FakeRoast (the ROAST authors' PyTorch layer): the checkpoint stores the pool together
    # with the index table IDX and the sign table G; the weight is pool[IDX] * G * scale
    pool = c.randn(200, scale=0.3)
    idx = c.ints(0, 200, 24, 32)
    g = np.where(c.rng.random((24, 32)) < 0.5, -1.0, 1.0).astype(np.float32)
    b = c.randn(24, scale=0.1)
    scale = 0.75
    x = c.randn(3, 32)
    with torch.no_grad():
        w = torch.take(T(pool), T(idx)) * T(g) * scale
        y = F.gelu(F.linear(T(x), w, T(b)))
    # the expression depends on weights only: fold computes it once at compile time, and the
    # artefact stores the 24 x 32 weight, smaller than the tables it came from (i64 IDX)
    stored = 4 * w.numel() + 4 * b.size
    assert stored < 4 * pool.size + 8 * idx.size + 4 * g.size + 4 * b.size
    head = "# STORED-BYTES: %d\n# LOGICAL-BYTES: %d\n" % (stored, stored)
    ndl = head + """
model Fakeroast {
  input x: f32[B, 32];
  output y;
  weights "fakeroast.w.safetensors";

  param pool: f32[200];
  param idx: i64[24, 32];              # FakeRoast's IDX
  param g: f32[24, 32];                # FakeRoast's G (signs)
  fc = Linear(32, 24, weight = take(pool, idx) * g * 0.75);

  forward {
    y = gelu(fc(x));
  }
}
"""
    return dict(doc="FakeRoast-style layer: weight = take(pool, idx) * g * scale from stored tables",
                ndl=ndl, inputs={"x": x}, outputs={"y": y},
                weights={"pool": pool, "idx": idx, "g": g, "fc.bias": b})


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    golden.HEADER = ("# {stem}: {doc}\n"
                     "# Generated by tests/reference/sharing_cases.py (case '{stem}'); edit it there.\n")
    for stem, fn in CASES:
        golden.write_case(os.path.join(ROOT, "tests"), "sharing", stem, None, fn)
    print("sharing_cases: %d cases written to tests/sharing" % len(CASES))


if __name__ == "__main__":
    main()
