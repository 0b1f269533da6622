#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""gen.py - writes the GPT-2-small-shaped hypernetwork benchmark model (issue 9's target).

    python3 bench/hyper/gen.py OUTDIR [--rank R]

OUTDIR/gpt2_hyper.ndl: twelve 768x768 and twelve 768x3072 Linear weights (35.4M predicted
parameters), each the low-rank product U V^T of factors predicted LoGAH-style from a
per-layer embedding by one of two small hypernetworks (a 2-layer MLP per factor shape),
and OUTDIR/gpt2_hyper.safetensors (random hypernetwork, embeddings and biases; numpy only),
OUTDIR/gpt2_hyper.in.safetensors (one token's activations).
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "reference"))
import st  # noqa: E402

D, FF, LAYERS, EMB, HID = 768, 3072, 12, 32, 64

NDL = """# gpt2_hyper: a GPT-2-small-shaped set of predicted weights (bench/hyper/gen.py writes it)
module Factor(rows: int, rank: int) {            # a LoGAH-style factor predictor
  fc1 = Linear(%(emb)d, %(hid)d);
  fc2 = Linear(%(hid)d, rows * rank);
  forward(e) {
    return reshape(fc2(relu(fc1(e))), [rows, rank]);
  }
}

model Gpt2Hyper {
  input x: f32[1, %(d)d];
  output y;
  weights "gpt2_hyper.safetensors";

  param emb: f32[%(layers)d, 4, %(emb)d];         # per layer: embeddings of attn's U, V and mlp's U, V
  hd = Factor(%(d)d, %(r)d);
  hf = Factor(%(ff)d, %(r)d);
  attn = [Linear(%(d)d, %(d)d, weight = lowrank(hd(emb[i, 0]), hd(emb[i, 1]))) for i in 0..%(layers)d];
  mlp  = [Linear(%(d)d, %(ff)d, weight = lowrank(hf(emb[i, 2]), hd(emb[i, 3]))) for i in 0..%(layers)d];

  forward {
    let h = x;
    for i in 0..%(layers)d {
      h = h + tanh(attn[i](h));
      h = h + 0.1 * sum(reshape(tanh(mlp[i](h)), [1, 4, %(d)d]), dims = [1]);
    }
    y = h;
  }
}
"""


def main():
    out = sys.argv[1]
    rank = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == "--rank" else 16
    rng = np.random.default_rng(9)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "gpt2_hyper.ndl"), "w") as f:
        f.write(NDL % dict(d=D, ff=FF, layers=LAYERS, emb=EMB, hid=HID, r=rank))

    def randn(*shape, scale):
        return (rng.standard_normal(shape) * scale).astype(np.float32)
    w = {"emb": randn(LAYERS, 4, EMB, scale=1.0)}
    for name, rows in (("hd", D), ("hf", FF)):
        w[name + ".fc1.weight"] = randn(HID, EMB, scale=EMB ** -0.5)
        w[name + ".fc1.bias"] = randn(HID, scale=0.1)
        w[name + ".fc2.weight"] = randn(rows * rank, HID, scale=0.3 * HID ** -0.5)
        w[name + ".fc2.bias"] = randn(rows * rank, scale=0.01)
    for i in range(LAYERS):
        w["attn.%d.bias" % i] = randn(D, scale=0.1)
        w["mlp.%d.bias" % i] = randn(FF, scale=0.1)
    st.save(os.path.join(out, "gpt2_hyper.safetensors"), w)
    st.save(os.path.join(out, "gpt2_hyper.in.safetensors"), {"x": randn(1, D, scale=1.0)})


if __name__ == "__main__":
    main()
